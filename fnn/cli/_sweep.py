"""``fnn sweep``: a learning-rate x seed grid trained as one population.

(Notes, "Gradient descent": the rate ``eta`` decides whether and how fast
``w <- w - eta grad C`` converges; a sweep measures that, with seeds for an
interval.)

::

    fnn sweep --rate 0.1,0.3,1,3,10 --seeds 5 --sizes 784,30,10 --hidden sigmoid \\
              --output sigmoid --cost quadratic --optimizer sgd --schedule constant \\
              --batch-size 10 --epochs 10 --out runs/sweep

trains the whole grid (rates x seeds, ``P = R * S`` networks) with
:func:`fnn.train.fit_population`, in one compiled call. Member ``(r, s)`` is
the run ``fnn train --rate r --seed SEED+s`` (same initialization, shuffles
and validation split; a schedule is scaled by the rate through its
``rate_multiplier``, equal to rounding). It prints one row per rate: the mean
validation and test accuracy over the seeds that did not diverge, each with
its 95% Student-t interval (:func:`fnn.stats.t_interval`), and how many
diverged. Into ``--out`` (default ``runs/sweep-<date-time>-<6 hex>``) it
writes ``sweep.json`` (the config, every member's history, the table) and
``sweep.png`` (test accuracy vs rate on a log axis with the intervals as
error bars; the training cost per epoch, median over seeds, per rate) plus
the run marker of :mod:`fnn.runs`.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from typing import Any

import numpy as np

from fnn import runs
from fnn.cli._common import Datasets, staged_run, start
from fnn.cli._config import build_network, build_optimizer, sweep_config_from_dict


def _population(cfg: dict, n_train: int) -> tuple[Any, Any, Any, dict]:
    """The network, the base optimizer (rate 1: each member's rate is its hyperparameter), keys and hyperparams."""
    import jax

    net = build_network(cfg)
    steps = cfg["epochs"] * (n_train // cfg["batch_size"])
    optimizer = build_optimizer(cfg, steps, rate=1.0)
    rates = np.repeat(np.asarray(cfg["rates"], np.float32), cfg["seeds"])  # member j: rate j // S, seed j % S
    name = "rate" if cfg["schedule"] == "constant" else "rate_multiplier"
    # jax.random.key(seed) per member, as fnn train --seed does (Python ints: seeds up to 2^63 - 1)
    keys = jax.numpy.stack([jax.random.key(cfg["seed"] + j % cfg["seeds"]) for j in range(rates.size)])
    return net, optimizer, keys, {name: rates}


def _fit(cfg: dict, ds: Datasets, devices: list, progress: bool) -> tuple[Any, dict, np.ndarray, np.ndarray, float]:
    from fnn import train

    x, y = ds.train
    net, optimizer, keys, hyper = _population(cfg, x.shape[0])
    t0 = time.perf_counter()
    states, history = train.fit_population(
        net, cfg["cost"], optimizer, (x, y), cfg["epochs"], cfg["batch_size"], keys, hyperparams=hyper,
        validation=ds.validation, grad=cfg["grad"], progress=progress, devices=devices if len(devices) > 1 else None,
        precision=cfg["precision"], data_order=cfg.get("data_order", "member"),
    )
    train_s = time.perf_counter() - t0
    test_cost, test_acc = train.evaluate_members(net, states, *ds.test, cfg["cost"])  # the test set, once
    return states, history, test_cost, test_acc, train_s


# --------------------------------------------------------------------------
# the table


def _summary(values: np.ndarray) -> dict[str, Any]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    if values.size == 1:
        return {"mean": float(values[0]), "lo": None, "hi": None, "n": 1}
    from fnn.stats import t_interval

    mean, lo, hi = t_interval(values)  # an accuracy lies in [0, 1]: the interval is clipped to it
    return {"mean": mean, "lo": max(lo, 0.0), "hi": min(hi, 1.0), "n": int(values.size)}


def rate_table(rates: list[float], seeds: int, val_acc: np.ndarray | None, test_acc: np.ndarray,
               diverged: np.ndarray) -> list[dict[str, Any]]:
    """One row per rate: mean and 95% t-interval of validation and test accuracy over the seeds
    that did not diverge (``None`` when fewer than two; clipped to ``[0, 1]``), and the number
    that diverged.

    ``val_acc``, ``test_acc``, ``diverged``: ``(R * S,)``, member ``j`` at rate
    ``j // seeds``; ``diverged[j] < 0`` for a member that did not diverge.
    """
    rows = []
    for r, rate in enumerate(rates):
        sl = slice(r * seeds, (r + 1) * seeds)
        ok = diverged[sl] < 0
        row = {"rate": rate, "diverged": int((~ok).sum()), "test_accuracy": _summary(np.where(ok, test_acc[sl], np.nan))}
        if val_acc is not None:
            row["val_accuracy"] = _summary(np.where(ok, val_acc[sl], np.nan))
        rows.append(row)
    return rows


def _fmt(s: dict[str, Any]) -> str:
    if s["mean"] is None:
        return "-"
    if s["lo"] is None:
        return f"{100 * s['mean']:.2f}%"
    return f"{100 * s['mean']:.2f}% [{100 * s['lo']:.2f}, {100 * s['hi']:.2f}]"


def _print_table(rows: list[dict[str, Any]], seeds: int) -> None:
    has_val = "val_accuracy" in rows[0]
    head = f"{'rate':>10}  " + (f"{'validation accuracy (95% CI)':>30}  " if has_val else "")
    print(head + f"{'test accuracy (95% CI)':>30}  diverged/{seeds}")
    for row in rows:
        line = f"{row['rate']:>10g}  "
        if has_val:
            line += f"{_fmt(row['val_accuracy']):>30}  "
        print(line + f"{_fmt(row['test_accuracy']):>30}  {row['diverged']:>5d}")


# --------------------------------------------------------------------------
# the record


def _plot(path: pathlib.Path, cfg: dict, rows: list[dict], history: dict) -> bool:
    try:
        import matplotlib
        import matplotlib.ticker

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("fnn sweep: matplotlib is not installed; sweep.png skipped", file=sys.stderr)
        return False
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    pts = [(r["rate"], r["test_accuracy"]) for r in rows if r["test_accuracy"]["mean"] is not None]
    if pts:
        x = np.array([p[0] for p in pts])
        m = np.array([p[1]["mean"] for p in pts])
        lo = np.array([p[1]["lo"] if p[1]["lo"] is not None else p[1]["mean"] for p in pts])
        hi = np.array([p[1]["hi"] if p[1]["hi"] is not None else p[1]["mean"] for p in pts])
        a.errorbar(x, 100 * m, yerr=[100 * (m - lo), 100 * (hi - m)], fmt="o-", capsize=3)
    a.set_xscale("log")
    a.set_xlabel("learning rate eta")
    a.set_ylabel("test accuracy (%)")
    a.set_title(f"(a) mean over {cfg['seeds']} seeds, 95% t-interval")
    cost = np.stack(history["cost"], axis=1)  # (P, epochs)
    epochs = np.arange(1, cost.shape[1] + 1)
    for r, rate in enumerate(cfg["rates"]):
        c = cost[r * cfg["seeds"] : (r + 1) * cfg["seeds"]]
        if np.isfinite(c).any(axis=0).any():
            b.plot(epochs, np.nanmedian(np.where(np.isfinite(c), c, np.nan), axis=0), label=f"eta = {rate:g}")
    b.set_yscale("log")
    b.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    b.set_xlabel("epoch")
    b.set_ylabel("training cost (median over seeds)")
    b.set_title("(b) training cost")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _members(cfg: dict, history: dict, test_cost: np.ndarray, test_acc: np.ndarray) -> list[dict]:
    """Every member's own history (one list per key), its rate, seed and final test result."""
    per_epoch = ("step", "cost", "accuracy", "rate", "val_cost", "val_accuracy")
    members = []
    for j in range(len(cfg["rates"]) * cfg["seeds"]):
        h = {k: [float(v[j]) for v in history[k]] for k in per_epoch if history[k] and history[k][0] is not None}
        members.append({
            "rate": cfg["rates"][j // cfg["seeds"]], "seed": cfg["seed"] + j % cfg["seeds"],
            "diverged": int(history["diverged"][j]), "test_cost": float(test_cost[j]),
            "test_accuracy": float(test_acc[j]), "history": h,
        })
    return members


def run(args: argparse.Namespace) -> int:
    """``fnn sweep`` of parsed flags (see the module docstring); the exit status."""
    cfg = sweep_config_from_dict(vars(args))
    p = len(cfg["rates"]) * cfg["seeds"]
    begun = start(cfg, args, "sweep", members=p)
    if not begun.writer:  # another process of a multi-process run: trains, writes nothing
        _fit(cfg, begun.data, begun.devices, False)
        return 0
    with staged_run(begun.out, "sweep", args.overwrite, "sweep") as (tmp, out):
        _, history, test_cost, test_acc, train_s = _fit(cfg, begun.data, begun.devices, not args.no_progress)
        has_val = history["val_accuracy"] and begun.data.validation
        val = np.asarray(history["val_accuracy"][-1]) if has_val else None
        rows = rate_table(cfg["rates"], cfg["seeds"], val, test_acc, history["diverged"])
        record = {"config": cfg, "table": rows, "train_s": train_s,
                  "members": _members(cfg, history, test_cost, test_acc)}
        runs.write_json(tmp / "sweep.json", record)
        _plot(tmp / "sweep.png", cfg, rows, history)
    _print_table(rows, cfg["seeds"])
    print(f"{p} networks ({len(cfg['rates'])} rates x {cfg['seeds']} seeds) trained together in {train_s:.1f} s; "
          f"saved to {out}")
    return 0
