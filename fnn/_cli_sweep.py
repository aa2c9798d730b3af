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
import math
import pathlib
import sys
import time
from typing import Any

import numpy as np

from fnn import runs
from fnn._cli_config import (
    UsageError, add_data_arguments, add_model_arguments, add_optimizer_arguments, add_training_arguments,
    add_distributed_arguments,
    build_network, build_optimizer, config_from_args,
)

__all__ = ["add_parser", "run", "rate_table"]


def _rates(text: str) -> list[float]:
    try:
        rates = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers > 0, got {text!r}") from None
    if not rates or any(not math.isfinite(r) or r <= 0 for r in rates):
        raise argparse.ArgumentTypeError(f"must be comma-separated finite numbers > 0, got {text!r}")
    if len(set(rates)) != len(rates):
        raise argparse.ArgumentTypeError(f"must not repeat a rate, got {text!r}")
    return rates


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to the ``fnn`` subparsers ``sub``; returns its parser."""
    p = sub.add_parser(
        "sweep",
        help="train a rate x seed grid as one population",
        description="Train every (rate, seed) pair as one vmapped population (fnn.train.fit_population); print "
        "mean validation and test accuracy with 95%% t-intervals per rate; write sweep.json and sweep.png.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        conflict_handler="resolve",  # --rate becomes a list
    )
    add_data_arguments(p)
    add_model_arguments(p)
    add_optimizer_arguments(p)
    add_training_arguments(p)
    add_distributed_arguments(p)
    p.add_argument("--rate", type=_rates, default=[0.1, 0.3, 1.0, 3.0, 10.0],
                   help="learning rates eta to sweep, comma-separated (each scales the schedule)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per rate: SEED, SEED+1, ... (>= 1; >= 2 for intervals)")
    p.add_argument("--devices", type=int, default=1,
                   help="shard the population over this many devices (0: all); rates x seeds must be a multiple")
    p.add_argument("--out", default=None, help="output folder (default: a new runs/sweep-<date-time>-<6 hex>)")
    p.add_argument("--overwrite", action="store_true", help="replace the fnn sweep in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    return p


def _config(args: argparse.Namespace) -> dict[str, Any]:
    if not 1 <= args.seeds <= 10_000:
        raise UsageError("--seeds", f"must be an int in [1, 10000], got {args.seeds}")
    single = argparse.Namespace(**{**vars(args), "rate": args.rate[0]})
    cfg = config_from_args(single)
    if cfg["seed"] + args.seeds - 1 > 2**63 - 1:
        raise UsageError("--seeds", f"--seed {cfg['seed']} + --seeds {args.seeds} - 1 exceeds 2^63 - 1")
    cfg.update(rates=list(args.rate), seeds=args.seeds)
    del cfg["rate"]
    return cfg


def _population(cfg: dict, n_train: int):
    """The network, the base optimizer (rate 1: each member's rate is its hyperparameter), keys and hyperparams."""
    import jax

    net = build_network(cfg)
    steps = cfg["epochs"] * (n_train // cfg["batch_size"])
    optimizer = build_optimizer({**cfg, "rate": 1.0}, steps)
    rates = np.repeat(np.asarray(cfg["rates"], np.float32), cfg["seeds"])  # member j: rate j // S, seed j % S
    name = "rate" if cfg["schedule"] == "constant" else "rate_multiplier"
    # jax.random.key(seed) per member, as fnn train --seed does (Python ints: seeds up to 2^63 - 1)
    keys = jax.numpy.stack([jax.random.key(cfg["seed"] + j % cfg["seeds"]) for j in range(rates.size)])
    return net, optimizer, keys, {name: rates}


def rate_table(rates: list[float], seeds: int, val_acc: np.ndarray | None, test_acc: np.ndarray,
               diverged: np.ndarray) -> list[dict[str, Any]]:
    """One row per rate: mean and 95% t-interval of validation and test accuracy over the seeds
    that did not diverge (``None`` when fewer than two; clipped to ``[0, 1]``), and the number
    that diverged."""
    from fnn.stats import t_interval

    def summary(values: np.ndarray) -> dict[str, Any]:
        values = values[np.isfinite(values)]
        if values.size == 0:
            return {"mean": None, "lo": None, "hi": None, "n": 0}
        if values.size == 1:
            return {"mean": float(values[0]), "lo": None, "hi": None, "n": 1}
        mean, lo, hi = t_interval(values)  # an accuracy lies in [0, 1]: the interval is clipped to it
        return {"mean": mean, "lo": max(lo, 0.0), "hi": min(hi, 1.0), "n": int(values.size)}

    rows = []
    for r, rate in enumerate(rates):
        sl = slice(r * seeds, (r + 1) * seeds)
        ok = diverged[sl] < 0
        row = {"rate": rate, "diverged": int((~ok).sum()), "test_accuracy": summary(np.where(ok, test_acc[sl], np.nan))}
        if val_acc is not None:
            row["val_accuracy"] = summary(np.where(ok, val_acc[sl], np.nan))
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


def _fit(cfg: dict, ds: Any, devices: list, progress: bool):
    from fnn import costs, train
    from fnn.population import _evaluate_population

    x, y = ds.train
    net, optimizer, keys, hyper = _population(cfg, x.shape[0])
    t0 = time.perf_counter()
    states, history = train.fit_population(
        net, cfg["cost"], optimizer, (x, y), cfg["epochs"], cfg["batch_size"], keys, hyperparams=hyper,
        validation=ds.validation, grad=cfg["grad"], progress=progress, devices=devices if len(devices) > 1 else None,
        precision=cfg["precision"],
    )
    train_s = time.perf_counter() - t0
    import jax.numpy as jnp

    xt, yt = jnp.asarray(ds.test[0]), jnp.asarray(ds.test[1])
    test_cost, test_acc = _evaluate_population(net, costs.get(cfg["cost"]), states, xt, yt)  # the test set, once
    return states, history, test_cost, test_acc, train_s


def run(args: argparse.Namespace) -> int:
    """``fnn sweep`` (see the module docstring); the exit status."""
    from fnn import cli

    from fnn import distributed

    cfg = _config(args)
    several = cli._start_processes(args)
    out = cli._check_out(args) if distributed.is_writer() else None
    devices = cli._devices(args.devices)
    cfg["devices"] = len(devices)
    p = len(cfg["rates"]) * cfg["seeds"]
    if p % len(devices):
        raise UsageError("--devices", f"rates x seeds = {p} members must be a multiple of the {len(devices)} devices")
    ds = cli.load_datasets({**cfg, "rate": cfg["rates"][0]}, args.data_dir)
    cli._check_data({**cfg, "rate": cfg["rates"][0]}, ds, 1)
    cfg["data"] = ds.provenance
    if several:
        import jax

        cfg["processes"] = jax.process_count()
    if not distributed.is_writer():  # another process of a multi-process run: trains, writes nothing
        _fit(cfg, ds, devices, False)
        return 0
    with cli.staged_run(out, "sweep", args.overwrite, "sweep") as (tmp, out):
        states, history, test_cost, test_acc, train_s = _fit(cfg, ds, devices, not args.no_progress)
        val = np.asarray(history["val_accuracy"][-1]) if history["val_accuracy"] and ds.validation else None
        rows = rate_table(cfg["rates"], cfg["seeds"], val, test_acc, history["diverged"])
        record = {"config": cfg, "table": rows, "train_s": train_s, "members": _members(cfg, history, test_cost, test_acc)}
        runs.write_json(tmp / "sweep.json", record)
        _plot(tmp / "sweep.png", cfg, rows, history)
    _print_table(rows, cfg["seeds"])
    print(f"{p} networks ({len(cfg['rates'])} rates x {cfg['seeds']} seeds) trained together in {train_s:.1f} s; "
          f"saved to {out}")
    return 0


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
