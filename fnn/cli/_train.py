"""``fnn train``: train one MLP by mini-batch gradient descent and save the run, epoch by epoch.

(Notes, "Stochastic gradient descent": ``C = (1/n) sum_x C_x`` minimized by
mini-batch updates ``w <- w - (eta/m) sum_x dC_x/dw``.) The last
``validation`` training examples are held out and monitored after each
epoch; the test set is evaluated once, at the end.

The checkpoint is saved after every epoch (:mod:`fnn.cli._session`); on
SIGINT/SIGTERM the run is saved as it stood after its last epoch, and
``fnn train --resume RUN`` continues it to its configured epochs (or
``--epochs N`` more): the state carries the shuffles' key and the step, so
the resumed run is, bit for bit, the run that was not interrupted.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Any

from fnn import runs
from fnn.cli._common import Datasets, check_resumed_data, start, whole_copy
from fnn.cli._config import UsageError, build_network, build_optimizer, check_config, check_flags, \
    config_from_dict
from fnn.cli._record import EPOCH_KEYS, Log, epoch_line, provenance, train_text
from fnn.cli._session import Session
from fnn.cli._signals import Interrupted, acknowledge, check, deferred

MAX_STEPS = 2**31 - 1  # the step counter is an int32


def check_steps(cfg: dict, nb: int) -> None:
    """``--epochs`` x mini-batches per epoch fits the int32 step counter."""
    if cfg["epochs"] * nb > MAX_STEPS:
        raise UsageError("--epochs", f"{cfg['epochs']} epochs x {nb} mini-batches per epoch = "
                         f"{cfg['epochs'] * nb} updates; the step counter holds at most {MAX_STEPS}")


def _fit(cfg: dict, ds: Datasets, devices: list, sess: Session | None, state: Any, done: int, log: Log) -> tuple:
    """Train from epoch ``done`` to ``cfg["epochs"]``, saving each epoch into ``sess``; (state, compile s, train s)."""
    from fnn import train

    net, optimizer = build_network(cfg), build_optimizer(cfg)

    def saved(e: int, st: Any, record: dict) -> None:
        line = epoch_line(record, done + e)
        st = whole_copy(st)  # on every process (a state replicated over processes: a local copy)
        if sess is not None:
            sess.save_epoch(done + e, [line], st)
        log.epoch(done + e, cfg["epochs"], train_text(line))

    t0 = time.perf_counter()
    state, history = train.fit(
        net, cfg["cost"], optimizer, ds.train, epochs=cfg["epochs"] - done, batch_size=cfg["batch_size"],
        state=state, validation=ds.validation, grad=cfg["grad"], precision=cfg["precision"], progress=log.bar,
        devices=devices if len(devices) > 1 else None, callback=saved,
    )
    return state, history["compile_s"], time.perf_counter() - t0


def _history(cfg: dict, lines: list[dict], extra: dict) -> dict:
    history = {k: [line[k] for line in lines] for k in EPOCH_KEYS}
    history.update(monitor="validation" if cfg["validation"] else None, validation_examples=cfg["validation"],
                   **extra)
    return history


def _finish(sess: Session, cfg: dict, ds: Datasets, state: Any, times: dict) -> tuple[pathlib.Path, dict]:
    """Evaluate the test set once, write history.json and curves.png, commit; (where, history)."""
    from fnn import train

    test_cost, test_acc = train.evaluate(build_network(cfg), state, *ds.test, cfg["cost"])
    history = _history(cfg, sess.lines, {**times, "test_cost": test_cost, "test_accuracy": test_acc,
                                         "final_step": int(state.step)})
    try:
        with deferred():
            sess.write_json("history.json", history)
            title = (f"{cfg['dataset']}: {'-'.join(map(str, cfg['sizes']))} {cfg['hidden']}/{cfg['output']}, "
                     f"{cfg['optimizer']} {cfg['rate']:g} {cfg['schedule']}, m={cfg['batch_size']}")
            monitor = f"validation ({cfg['validation']:,} held out)" if cfg["validation"] else None
            runs.plot_history(history, sess.folder / "curves.png", title, monitor)
            where = sess.finish(complete=True)
    except Interrupted as sig:
        sig.saved = f"the finished run was saved to {sess.out}"
        raise
    return where, history


def _interrupted(sess: Session, cfg: dict, sig: Interrupted) -> None:
    """Save a run stopped by a signal after its last finished epoch (or drop one that finished none)."""
    if sess.saved_epoch is None:
        sess.abandon()
        sig.saved = "no epoch had finished; nothing was saved"
        return
    with deferred():
        sess.write_json("history.json", _history(cfg, sess.lines, {}))
        where = sess.finish(complete=False)
    sig.saved = (f"saved after epoch {sess.saved_epoch} of {cfg['epochs']} to {where}; continue with "
                 f"fnn train --resume {where}")


def train_run(cfg: dict, ds: Datasets, devices: list, sess: Session, state: Any, done: int, log: Log) -> int:
    """Train, save and report a run whose folder is ``sess`` (new or resumed); the exit status."""
    try:
        sess.write_json("config.json", cfg)
        if done == 0 and sess.saved_epoch is None:
            sess.save_epoch(0, [], state)  # a run interrupted while compiling can be resumed
        state, compile_s, train_s = _fit(cfg, ds, devices, sess, state, done, log)
        where, history = _finish(sess, cfg, ds, state, {"compile_s": compile_s, "train_s": train_s})
    except Interrupted as sig:
        acknowledge()
        if not sig.saved:
            _interrupted(sess, cfg, sig)
        raise
    except FloatingPointError as err:
        sess.abandon()
        print(f"fnn train: error: {err}", file=sys.stderr)
        return 1
    except BaseException:
        sess.abandon()
        raise
    print(_summary(cfg, history, where, done))
    return 0


def _summary(cfg: dict, history: dict, out: pathlib.Path, done: int) -> str:
    """The final line: test accuracy, epochs, time, validation accuracy, where the run is."""
    val = history["val_accuracy"][-1] if history["val_accuracy"] else None
    held = (f" (validation accuracy {100 * val:.2f}% on {cfg['validation']:,} held-out examples)"
            if val is not None else "")
    epochs = f"{cfg['epochs']} epoch{'' if cfg['epochs'] == 1 else 's'}"
    resumed = f" (resumed at epoch {done})" if done else ""
    return (f"test accuracy {100 * history['test_accuracy']:.2f}% (cost {history['test_cost']:.4f}) after "
            f"{epochs}{resumed} in {history['train_s']:.1f} s{held}; run saved to {out}")


def _new(args: argparse.Namespace, argv: list[str]) -> int:
    import jax

    from fnn import train

    flags = vars(args)
    check_flags(flags)
    cfg = config_from_dict(flags)
    begun = start(cfg, args, "train")
    check()
    nb = begun.data.train[0].shape[0] // cfg["batch_size"]
    check_steps(cfg, nb)
    cfg["schedule_steps"] = cfg["epochs"] * nb
    cfg["provenance"] = provenance(argv, begun.devices)
    state = train.init_state(build_network(cfg), build_optimizer(cfg), jax.random.key(cfg["seed"]))
    log = Log("train", args.quiet or not begun.writer)
    if not begun.writer:  # another process of a multi-process run: trains, writes nothing
        _fit(cfg, begun.data, begun.devices, None, state, 0, log)
        return 0
    sess = Session.new(begun.out, cfg["dataset"], args.overwrite, "train", args.tensorboard)
    return train_run(cfg, begun.data, begun.devices, sess, state, 0, log)


def read_run(folder: pathlib.Path, command: str, args: argparse.Namespace) -> tuple[dict, dict]:
    """The marker and the raw config of a run of ``fnn COMMAND`` to resume (a :class:`UsageError` of ``--resume``)."""
    for flag, given in (("--out", args.out is not None), ("--overwrite", args.overwrite),
                        ("--config", args.config is not None)):
        if given:
            raise UsageError(flag, f"does not apply with --resume, which continues {folder} in place with its "
                             "own recipe")
    marker = runs.read_marker(folder) if folder.is_dir() else None
    if marker is None or not (folder / "checkpoint.npz").is_file():
        raise UsageError("--resume", f"must be a run folder of fnn {command} (with {runs.MARKER} and "
                         f"checkpoint.npz), got {str(folder)!r}")
    if runs.run_command(marker) != command:
        raise UsageError("--resume", f"{folder} is a run of fnn {runs.run_command(marker)}; resume it with "
                         f"fnn {runs.run_command(marker)} --resume {folder}")
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise UsageError("--resume", f"{folder / 'config.json'} cannot be read ({err})") from err
    return marker, cfg


def more_epochs(cfg: dict, done: int, extra: int | None, complete: bool, command: str, folder: pathlib.Path) -> int:
    """The epoch a resumed run trains to: its configured epochs, or ``done + --epochs``."""
    if extra is not None:
        if extra < 1:
            raise UsageError("--epochs", f"with --resume: the number of epochs to train on, >= 1, got {extra}")
        return done + extra
    if done >= cfg["epochs"] and complete:
        raise UsageError("--resume", f"{folder} has finished its {cfg['epochs']} epochs; pass --epochs N to "
                         f"train N more")
    return cfg["epochs"]


def _resume(args: argparse.Namespace, argv: list[str]) -> int:
    import jax

    from fnn import checkpoint, train

    folder = pathlib.Path(args.resume)
    marker, raw = read_run(folder, "train", args)
    try:
        cfg = {**raw, **check_config(raw)}
    except UsageError as err:
        raise UsageError("--resume", f"{folder / 'config.json'}: {err.message}") from err
    recorded = cfg.get("data")
    begun = start(cfg, argparse.Namespace(**{**vars(args), "out": None}), "train")
    check_resumed_data(recorded, cfg["data"], folder)
    nb = begun.data.train[0].shape[0] // cfg["batch_size"]
    cfg["schedule_steps"] = runs.schedule_steps(cfg, begun.data.train[0].shape[0])
    net, optimizer = build_network(cfg), build_optimizer(cfg)
    like = jax.eval_shape(lambda: train.init_state(net, optimizer, jax.random.key(0)))
    try:
        state = checkpoint.load(folder / "checkpoint.npz", like=like)
    except ValueError as err:
        raise UsageError("--resume", str(err)) from err
    done = int(state.step) // nb
    cfg["epochs"] = more_epochs(cfg, done, args.epochs, marker.get("complete", True), "train", folder)
    check_steps(cfg, nb)
    cfg.setdefault("resumed", []).append({**provenance(argv, begun.devices), "from_epoch": done})
    lines = [line for line in runs.read_metrics(folder) if line.get("epoch", 0) <= done]
    log = Log("train", args.quiet or not begun.writer)
    if not begun.writer:
        _fit(cfg, begun.data, begun.devices, None, state, done, log)
        return 0
    sess = Session(folder, folder, "train", False, False, False, args.tensorboard, lines)
    sess.saved_epoch = done
    return train_run(cfg, begun.data, begun.devices, sess, state, done, log)


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """``fnn train`` of parsed flags; the exit status (1: the run diverged)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return _resume(args, argv) if args.resume else _new(args, argv)
