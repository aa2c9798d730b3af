"""``fnn sweep``: a grid of hyperparameters x seeds trained as one population.

(Notes, "Gradient descent": the rate ``eta`` — and the momentum ``mu``, ... —
decide whether and how fast ``w <- w - eta grad C`` converges; a sweep
measures that, with seeds for an interval.)

::

    fnn sweep --grid rate=0.1,0.3,1 momentum=0,0.9 --seeds 5 --optimizer sgd --schedule constant \\
              --sizes 784,30,10 --hidden sigmoid --output sigmoid --cost quadratic \\
              --batch-size 10 --epochs 10 --out runs/sweep

trains the whole grid (``P = |rates| * |momenta| * S`` networks) with
:func:`fnn.train.fit_population`, in one compiled epoch. A grid axis is any
hyperparameter the optimizer's state holds (``fnn.optim.hyperparams``;
``rate`` scales the learning rate, through the schedule's
``rate_multiplier`` when there is one; ``momentum`` is ``mu``); ``--rate
A,B`` is ``--grid rate=A,B``. The members are laid out by
:class:`fnn.grid.Grid` (row-major, the seed last); member ``(point, s)`` is
the run ``fnn train`` with those hyperparameters and ``--seed SEED+s`` (same
initialization, shuffles and validation split). On one CPU device the members
run in ``--threads`` equal parts at once, one host thread each (default: the
largest divisor of ``P`` up to the cores this process may use; ``--resume
--threads N`` changes them); the parts each start and resumption ran with are
in the provenance of ``config.json``. It prints one row per grid
point: the mean validation and test accuracy over the seeds that did not
diverge, each with its 95% Student-t interval (:func:`fnn.stats.t_interval`),
and how many diverged. Into ``--out`` (default ``runs/sweep-<date-time>-<6
hex>``) it writes ``config.json``, ``checkpoint.npz`` (every member's state,
stacked; saved after every epoch, so ``--resume`` continues an interrupted
sweep), ``metrics.jsonl`` (a line per member per epoch), ``sweep.json`` (the
config, every member's history, the table) and ``sweep.png``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
import warnings
from typing import Any

import numpy as np

from fnn import runs
from fnn.cli._common import Datasets, check_resumed_data, start, whole_copy
from fnn.cli._config import (
    GRID_ALIASES, SWEEP_DEFAULT_GRID, SWEEP_DEFAULT_SEEDS, UsageError, build_network, build_optimizer,
    check_flags, check_sweep_config, sweep_config_from_dict,
)
from fnn.cli._record import Log, member_lines, provenance
from fnn.cli._session import Session
from fnn.cli._signals import Interrupted, acknowledge, check, deferred
from fnn.cli._train import check_steps, more_epochs, read_run


def make_grid(cfg: dict) -> Any:
    """The :class:`fnn.grid.Grid` of a checked sweep config."""
    from fnn.grid import Grid

    return Grid(cfg["grid"], cfg["seeds"], cfg["seed"])


def state_names(cfg: dict) -> dict[str, str]:
    """Each grid axis and the name of the hyperparameter it sets in the optimizer's state.

    ``rate``: ``rate`` (constant schedule) or ``rate_multiplier``; ``momentum``: ``mu``. A
    :class:`UsageError` of ``--grid`` for a name the optimizer's state does not hold."""
    import jax

    from fnn import optim, train

    net, optimizer = build_network(cfg), build_optimizer(cfg, rate=1.0)
    opt_state = jax.eval_shape(lambda: train.init_state(net, optimizer, jax.random.key(0))).opt_state
    held = [n for d in optim.hyperparams(opt_state) for n in d]
    names = {}
    for axis in cfg["grid"]:
        name = GRID_ALIASES.get(axis, axis)
        if axis == "rate":
            name = "rate" if "rate" in held else "rate_multiplier"
        if name not in held:
            raise UsageError("--grid", f"{axis} is not a hyperparameter of --optimizer {cfg['optimizer']} "
                             f"(its state holds {', '.join(held)}; rate scales the learning rate), got {axis}")
        names[axis] = name
    return names


def threads_used(cfg: dict, members: int, devices: list) -> int:
    """The concurrent parts the sweep runs in (``fit_population``'s ``threads``), recorded in its provenance.

    ``--threads`` runs parts of the population on one device: a :class:`UsageError` of ``--threads``
    above 1 when the sweep uses several devices (``--devices``, or several processes)."""
    from fnn.train._population import default_threads

    if cfg["threads"] is None:
        return 1 if len(devices) > 1 else default_threads(members, None)
    if cfg["threads"] > 1 and len(devices) > 1:
        raise UsageError("--threads", f"runs parts of the networks on one device; with {len(devices)} devices it "
                         f"must be 1 or left out, got {cfg['threads']}")
    return cfg["threads"]


def _population(cfg: dict, grid: Any) -> Any:
    """The fresh population: member ``j`` is ``fnn train``'s state for its seed, with its hyperparameters."""
    from fnn import train

    return train.init_population(build_network(cfg), build_optimizer(cfg, rate=1.0), grid.keys(),
                                 _hyperparams(cfg, grid))


def _hyperparams(cfg: dict, grid: Any) -> dict:
    """The members' grid values under the names the optimizer's state holds (the base optimizer has rate 1)."""
    names = state_names(cfg)
    return {names[k]: v for k, v in grid.hyperparams.items()}


def _diverged(before: np.ndarray, steps: Any, expected: int) -> np.ndarray:
    """Each member's first update not applied (-1: none): a member frozen this run stopped at ``steps + 1``."""
    steps = np.asarray(steps)
    return np.where(before >= 0, before, np.where(steps < expected, steps + 1, -1)).astype(np.int32)


def _fit(cfg: dict, ds: Datasets, devices: list, sess: Session | None, states: Any, diverged: np.ndarray,
         done: int, log: Log, labels: list[dict]) -> tuple:
    """Train the population from epoch ``done`` to ``cfg["epochs"]``, saving each epoch into ``sess``."""
    from fnn import train

    nb = ds.train[0].shape[0] // cfg["batch_size"]
    d = [diverged]

    def saved(e: int, st: Any, record: dict) -> None:
        d[0] = _diverged(d[0], record["step"], (done + e) * nb)
        lines = member_lines(record, done + e, labels, d[0])
        st = whole_copy(st)  # on every process: members split over processes are gathered (a collective)
        if sess is not None:
            sess.save_epoch(done + e, lines, {"states": st, "diverged": d[0], "epoch": np.int32(done + e)})
        live = [ln["val_accuracy"] if ln["val_accuracy"] is not None else ln["accuracy"] for ln in lines
                if not ln["diverged"]]
        best = max((v for v in live if v is not None), default=float("nan"))
        log.epoch(done + e, cfg["epochs"], f"best {'val_' if ds.validation else ''}accuracy {best:.4f}, "
                  f"diverged {int((d[0] >= 0).sum())}/{len(labels)}")

    t0 = time.perf_counter()
    states, history = train.fit_population(
        build_network(cfg), cfg["cost"], build_optimizer(cfg, rate=1.0), ds.train, cfg["epochs"] - done,
        cfg["batch_size"], states=states, diverged=diverged, validation=ds.validation, grad=cfg["grad"],
        progress=log.bar, devices=devices if len(devices) > 1 else None, precision=cfg["precision"], callback=saved,
        data_order=cfg["data_order"], hyperparams=_hyperparams(cfg, make_grid(cfg)),  # the grid's, not rate 1
        threads=cfg["threads"],
    )
    return states, np.asarray(history["diverged"]), history["compile_s"], time.perf_counter() - t0


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


def grid_table(grid: Any, val_acc: np.ndarray | None, test_acc: np.ndarray,
               diverged: np.ndarray) -> list[dict[str, Any]]:
    """One row per grid point (its hyperparameters as keys): mean and 95% t-interval of validation and
    test accuracy over the seeds that did not diverge (``None`` when fewer than two; clipped to
    ``[0, 1]``), and the number that diverged.

    ``val_acc``, ``test_acc``, ``diverged``: ``(P,)`` in the grid's member
    order; ``diverged[j] < 0`` for a member that did not diverge.
    """
    rows = []
    for i, point in enumerate(grid.points):
        sl = slice(i * grid.seeds, (i + 1) * grid.seeds)
        ok = diverged[sl] < 0
        row = {**point, "diverged": int((~ok).sum()),
               "test_accuracy": _summary(np.where(ok, test_acc[sl], np.nan))}
        if val_acc is not None:
            row["val_accuracy"] = _summary(np.where(ok, val_acc[sl], np.nan))
        rows.append(row)
    return rows


def rate_table(rates: list[float], seeds: int, val_acc: np.ndarray | None, test_acc: np.ndarray,
               diverged: np.ndarray) -> list[dict[str, Any]]:
    """:func:`grid_table` of a grid over ``rate`` alone (member ``j`` at rate ``j // seeds``)."""
    from fnn.grid import Grid

    return grid_table(Grid({"rate": rates}, seeds), val_acc, test_acc, diverged)


def _fmt(s: dict[str, Any]) -> str:
    if s["mean"] is None:
        return "-"
    if s["lo"] is None:
        return f"{100 * s['mean']:.2f}%"
    return f"{100 * s['mean']:.2f}% [{100 * s['lo']:.2f}, {100 * s['hi']:.2f}]"


def _print_table(rows: list[dict[str, Any]], axes: list[str], seeds: int) -> None:
    has_val = "val_accuracy" in rows[0]
    head = "".join(f"{a:>10}  " for a in axes) + (f"{'validation accuracy (95% CI)':>30}  " if has_val else "")
    print(head + f"{'test accuracy (95% CI)':>30}  diverged/{seeds}")
    for row in rows:
        line = "".join(f"{row[a]:>10g}  " for a in axes)
        if has_val:
            line += f"{_fmt(row['val_accuracy']):>30}  "
        print(line + f"{_fmt(row['test_accuracy']):>30}  {row['diverged']:>5d}")


# --------------------------------------------------------------------------
# the record


def _title(cfg: dict) -> str:
    return (f"fnn sweep on {cfg['dataset']}: {'-'.join(map(str, cfg['sizes']))} {cfg['hidden']}/{cfg['output']}, "
            f"{cfg['cost']}, {cfg['optimizer']} ({cfg['schedule']}), m={cfg['batch_size']}, {cfg['epochs']} epochs")


def _plot(path: pathlib.Path, cfg: dict, grid: Any, rows: list[dict], lines: list[dict]) -> bool:
    """(a) test accuracy against the first axis, a curve per point of the others; (b) median training cost."""
    try:
        import matplotlib
        import matplotlib.ticker

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("fnn sweep: matplotlib is not installed; sweep.png skipped", file=sys.stderr)
        return False
    first, *others = list(grid.axes)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in others), []).append(row)
    for key, group in groups.items():
        pts = [r for r in group if r["test_accuracy"]["mean"] is not None]
        if not pts:
            continue
        x = np.array([r[first] for r in pts])
        m = np.array([r["test_accuracy"]["mean"] for r in pts])
        lo = np.array([r["test_accuracy"]["lo"] if r["test_accuracy"]["lo"] is not None else mm for r, mm in zip(pts, m)])
        hi = np.array([r["test_accuracy"]["hi"] if r["test_accuracy"]["hi"] is not None else mm for r, mm in zip(pts, m)])
        label = ", ".join(f"{k} = {v:g}" for k, v in zip(others, key)) or None
        a.errorbar(x, 100 * m, yerr=[100 * (m - lo), 100 * (hi - m)], fmt="o-", capsize=3, label=label)
    if all(v > 0 for v in grid.axes[first]):
        a.set_xscale("log")
    a.set_xlabel(first)
    a.set_ylabel("test accuracy (%)")
    a.set_title(f"(a) mean over {grid.seeds} seeds, 95% t-interval")
    if others:
        a.legend(fontsize=8)
    cost = np.full((grid.size, cfg["epochs"]), np.nan)
    for line in lines:
        if line["cost"] is not None and not line["diverged"]:
            cost[line["member"], line["epoch"] - 1] = line["cost"]
    epochs = np.arange(1, cfg["epochs"] + 1)
    for i, point in enumerate(grid.points):
        c = cost[i * grid.seeds : (i + 1) * grid.seeds]
        if np.isfinite(c).any():
            with warnings.catch_warnings():  # an epoch where every seed diverged has no median
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(c, axis=0)
            b.plot(epochs, med, label=", ".join(f"{k} = {v:g}" for k, v in point.items()))
    b.set_yscale("log")
    b.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    b.set_xlabel("epoch")
    b.set_ylabel("training cost (median over seeds)")
    b.set_title("(b) training cost")
    b.legend(fontsize=7)
    fig.suptitle(_title(cfg), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _members(grid: Any, lines: list[dict], diverged: np.ndarray, test_cost: np.ndarray,
             test_acc: np.ndarray) -> list[dict]:
    """Every member's hyperparameters, seed, own history (one list per key) and final test result."""
    per_epoch = ("step", "cost", "accuracy", "rate", "val_cost", "val_accuracy")
    members = []
    for j, label in enumerate(grid.labels):
        mine = sorted((ln for ln in lines if ln["member"] == j), key=lambda ln: ln["epoch"])
        h = {k: [ln[k] for ln in mine] for k in per_epoch if mine and mine[0][k] is not None}
        members.append({**label, "diverged": int(diverged[j]), "test_cost": float(test_cost[j]),
                        "test_accuracy": float(test_acc[j]), "history": h})
    return members


def _finish(sess: Session, cfg: dict, grid: Any, ds: Datasets, states: Any, diverged: np.ndarray,
            train_s: float) -> tuple[pathlib.Path, list[dict]]:
    """Evaluate the test set once, write sweep.json and sweep.png, commit; (where, table)."""
    from fnn import train

    test_cost, test_acc = train.evaluate_members(build_network(cfg), states, *ds.test, cfg["cost"])
    last = [ln for ln in sess.lines if ln["epoch"] == cfg["epochs"]]
    val = (np.array([ln["val_accuracy"] if ln["val_accuracy"] is not None else np.nan
                     for ln in sorted(last, key=lambda ln: ln["member"])]) if ds.validation and last else None)
    rows = grid_table(grid, val, np.asarray(test_acc), diverged)
    record = {"config": cfg, "table": rows, "train_s": train_s,
              "members": _members(grid, sess.lines, diverged, np.asarray(test_cost), np.asarray(test_acc))}
    try:
        with deferred():
            sess.write_json("sweep.json", record)
            _plot(sess.folder / "sweep.png", cfg, grid, rows, sess.lines)
            where = sess.finish(complete=True)
    except Interrupted as sig:
        sig.saved = f"the finished sweep was saved to {sess.out}"
        raise
    return where, rows


def sweep_run(cfg: dict, ds: Datasets, devices: list, sess: Session, states: Any, diverged: np.ndarray,
              done: int, log: Log) -> int:
    """Train, save and report a sweep whose folder is ``sess`` (new or resumed); the exit status."""
    grid = make_grid(cfg)
    try:
        sess.write_json("config.json", cfg)
        if done == 0 and sess.saved_epoch is None:
            sess.save_epoch(0, [], {"states": states, "diverged": diverged, "epoch": np.int32(0)})
        states, diverged, _, train_s = _fit(cfg, ds, devices, sess, states, diverged, done, log, grid.labels)
        where, rows = _finish(sess, cfg, grid, ds, states, diverged, train_s)
    except Interrupted as sig:
        acknowledge()
        if not sig.saved:
            if sess.saved_epoch is None:
                sess.abandon()
                sig.saved = "no epoch had finished; nothing was saved"
            else:
                where = sess.finish(complete=False)
                sig.saved = (f"saved after epoch {sess.saved_epoch} of {cfg['epochs']} to {where}; continue with "
                             f"fnn sweep --resume {where}")
        raise
    except BaseException:
        sess.abandon()
        raise
    _print_table(rows, list(grid.axes), grid.seeds)
    shape = " x ".join(f"{len(v)} rates" if k == "rate" else f"{len(v)} values of {k}" for k, v in grid.axes.items())
    print(f"{grid.size} networks ({shape} x {grid.seeds} seeds) trained together in {train_s:.1f} s; "
          f"saved to {where}")
    return 0


def _grid_flags(args: argparse.Namespace) -> dict:
    if args.grid and args.rates:
        raise UsageError("--rate", "is --grid rate=...; give one of --rate and --grid")
    if args.rates:
        return {"rate": args.rates}
    if args.grid:
        grid = {}
        for name, values in args.grid:
            if name in grid:
                raise UsageError("--grid", f"names {name} twice")
            grid[name] = values
        return grid
    return dict(SWEEP_DEFAULT_GRID)


def _new(args: argparse.Namespace, argv: list[str]) -> int:
    flags = vars(args)
    check_flags(flags)
    try:
        cfg = sweep_config_from_dict({**flags, "grid": _grid_flags(args),
                                      "seeds": SWEEP_DEFAULT_SEEDS if args.seeds is None else args.seeds})
    except UsageError as err:
        if args.rates and err.argument == "--grid":  # the grid came from --rate
            raise UsageError("--rate", err.message.replace("rate must be", "must be")) from None
        raise
    grid = make_grid(cfg)
    state_names(cfg)  # before any data is read
    begun = start(cfg, args, "sweep", members=grid.size)
    check()
    nb = begun.data.train[0].shape[0] // cfg["batch_size"]
    check_steps(cfg, nb)
    cfg["schedule_steps"] = cfg["epochs"] * nb
    cfg["provenance"] = {**provenance(argv, begun.devices), "threads": threads_used(cfg, grid.size, begun.devices)}
    states = _population(cfg, grid)
    diverged = np.full(grid.size, -1, np.int32)
    log = Log("sweep", args.quiet or not begun.writer)
    if not begun.writer:  # another process of a multi-process run: trains, writes nothing
        _fit(cfg, begun.data, begun.devices, None, states, diverged, 0, log, grid.labels)
        return 0
    sess = Session.new(begun.out, "sweep", args.overwrite, "sweep", args.tensorboard)
    return sweep_run(cfg, begun.data, begun.devices, sess, states, diverged, 0, log)


def _resume(args: argparse.Namespace, argv: list[str]) -> int:
    import jax

    from fnn import checkpoint

    folder = pathlib.Path(args.resume)
    marker, raw = read_run(folder, "sweep", args)
    try:
        cfg = {**raw, **check_sweep_config(raw)}
    except UsageError as err:
        raise UsageError("--resume", f"{folder / 'config.json'}: {err.message}") from err
    if args.threads is not None:  # the parts suit the machine, not the recipe: a resumption may change them
        cfg = {**cfg, **check_sweep_config({**raw, "threads": args.threads})}
    grid = make_grid(cfg)
    recorded = cfg.get("data")
    begun = start(cfg, argparse.Namespace(**{**vars(args), "out": None}), "sweep", members=grid.size)
    check_resumed_data(recorded, cfg["data"], folder)
    nb = begun.data.train[0].shape[0] // cfg["batch_size"]
    cfg["schedule_steps"] = runs.schedule_steps(cfg, begun.data.train[0].shape[0])
    pop = jax.eval_shape(lambda: _population(cfg, grid))
    like = {"states": pop, "diverged": jax.ShapeDtypeStruct((grid.size,), np.int32),
            "epoch": jax.ShapeDtypeStruct((), np.int32)}
    try:
        saved = checkpoint.load(folder / "checkpoint.npz", like=like)
    except ValueError as err:
        raise UsageError("--resume", str(err)) from err
    done = int(saved["epoch"])
    cfg["epochs"] = more_epochs(cfg, done, args.epochs, marker.get("complete", True), "sweep", folder)
    check_steps(cfg, nb)
    cfg.setdefault("resumed", []).append({**provenance(argv, begun.devices), "from_epoch": done,
                                          "threads": threads_used(cfg, grid.size, begun.devices)})
    lines = [ln for ln in runs.read_metrics(folder) if ln.get("epoch", 0) <= done]
    log = Log("sweep", args.quiet or not begun.writer)
    diverged = np.asarray(saved["diverged"], np.int32)
    if not begun.writer:
        _fit(cfg, begun.data, begun.devices, None, saved["states"], diverged, done, log, grid.labels)
        return 0
    sess = Session(folder, folder, "sweep", False, False, False, args.tensorboard, lines)
    sess.saved_epoch = done
    return sweep_run(cfg, begun.data, begun.devices, sess, saved["states"], diverged, done, log)


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """``fnn sweep`` of parsed flags (see the module docstring); the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return _resume(args, argv) if args.resume else _new(args, argv)
