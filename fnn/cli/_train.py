"""``fnn train``: train one MLP by mini-batch gradient descent and save the run.

(Notes, "Stochastic gradient descent": ``C = (1/n) sum_x C_x`` minimized by
mini-batch updates ``w <- w - (eta/m) sum_x dC_x/dw``.) The last
``validation`` training examples are held out and monitored after each
epoch; the test set is evaluated once, at the end.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from typing import Any

from fnn import runs
from fnn.cli._common import Datasets, host_copy, staged_run, start
from fnn.cli._config import build_network, build_optimizer, config_from_dict


def _fit(cfg: dict, ds: Datasets, devices: list, progress: bool) -> tuple[Any, dict]:
    import jax

    from fnn import train

    x, y = ds.train
    net = build_network(cfg)
    optimizer = build_optimizer(cfg, cfg["epochs"] * (x.shape[0] // cfg["batch_size"]))
    t0 = time.perf_counter()
    state, history = train.fit(
        net, cfg["cost"], optimizer, (x, y), epochs=cfg["epochs"], batch_size=cfg["batch_size"],
        key=jax.random.key(cfg["seed"]), validation=ds.validation, grad=cfg["grad"], precision=cfg["precision"],
        progress=progress, devices=devices if len(devices) > 1 else None,
    )
    train_s = time.perf_counter() - t0
    test_cost, test_acc = train.evaluate(net, state, *ds.test, cfg["cost"])  # the test set, once
    history.update(
        monitor="validation" if ds.validation is not None else None,
        validation_examples=cfg["validation"], test_cost=test_cost, test_accuracy=test_acc,
        train_s=train_s, final_step=int(state.step),
    )
    return state, history


def _write_run(tmp: pathlib.Path, cfg: dict, state: Any, history: dict) -> None:
    from fnn import checkpoint

    runs.write_json(tmp / "config.json", cfg)
    runs.write_json(tmp / "history.json", history)
    checkpoint.save(tmp / "checkpoint.npz", host_copy(state))  # replicated over several processes: a local copy
    title = (f"{cfg['dataset']}: {'-'.join(map(str, cfg['sizes']))} {cfg['hidden']}/{cfg['output']}, "
             f"{cfg['optimizer']} {cfg['rate']:g} {cfg['schedule']}, m={cfg['batch_size']}")
    monitor = f"validation ({cfg['validation']:,} held out)" if cfg["validation"] else None
    runs.plot_history(history, tmp / "curves.png", title, monitor)


def _summary(cfg: dict, history: dict, out: pathlib.Path) -> str:
    """The final line: test accuracy, epochs, time, validation accuracy, where the run is."""
    val = history["val_accuracy"][-1] if history["val_accuracy"] else None
    held = (f" (validation accuracy {100 * val:.2f}% on {cfg['validation']:,} held-out examples)"
            if val is not None else "")
    epochs = f"{cfg['epochs']} epoch{'' if cfg['epochs'] == 1 else 's'}"
    return (f"test accuracy {100 * history['test_accuracy']:.2f}% (cost {history['test_cost']:.4f}) after "
            f"{epochs} in {history['train_s']:.1f} s{held}; run saved to {out}")


def run(args: argparse.Namespace) -> int:
    """``fnn train`` of parsed flags; the exit status (1: the run diverged)."""
    cfg = config_from_dict(vars(args))
    begun = start(cfg, args, "train")
    try:
        if not begun.writer:  # another process of a multi-process run: trains, writes nothing
            _fit(cfg, begun.data, begun.devices, False)
            return 0
        with staged_run(begun.out, cfg["dataset"], args.overwrite, "train") as (tmp, out):
            state, history = _fit(cfg, begun.data, begun.devices, not args.no_progress)
            _write_run(tmp, cfg, state, history)
    except FloatingPointError as err:
        print(f"fnn train: error: {err}", file=sys.stderr)
        return 1
    print(_summary(cfg, history, out))
    return 0
