"""``fnn evaluate``: the cost and accuracy of a saved run on a split of its data set.

The run's ``config.json`` is checked as ``fnn train`` checks its flags, and
its ``checkpoint.npz`` is loaded against the state that config builds; a
damaged run is a :class:`UsageError` of ``run``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

from fnn import runs
from fnn.cli._common import data_error, data_identity, load_dataset, provenance
from fnn.cli._config import SPLITS, UsageError, build_network, build_optimizer, check_config, check_sweep_config


def _check_run(run: pathlib.Path) -> None:
    if not run.exists():
        left = runs.interrupted(run)
        hint = (f"; an interrupted --overwrite left its previous run at {left[0]} (move it back with "
                f"`mv {left[0]} {run}`, or run fnn train --out {run})") if left else ""
        raise UsageError("run", f"{run} does not exist{hint}")
    if not (run / "config.json").is_file() or not (run / "checkpoint.npz").is_file():
        raise UsageError("run", f"{run} is not an fnn run (expected config.json and checkpoint.npz in it)")


def _read_config(run: pathlib.Path, sweep: bool = False) -> dict:
    path = run / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError("run", f"{path} is not valid JSON ({err})") from err
    if not isinstance(cfg, dict):
        raise UsageError("run", f"{path} must hold a JSON object, got {type(cfg).__name__}")
    try:
        return check_sweep_config(cfg) if sweep else check_config(cfg)
    except UsageError as err:
        raise UsageError("run", f"{path}: {err.message}") from err


def _load_state(run: pathlib.Path, cfg: dict) -> tuple[Any, Any]:
    import jax

    from fnn import checkpoint, train

    net = build_network(cfg)
    optimizer = build_optimizer(cfg)
    like = jax.eval_shape(lambda: train.init_state(net, optimizer, jax.random.key(0)))
    try:
        return net, checkpoint.load(run / "checkpoint.npz", like=like)
    except ValueError as err:
        if "does not fit like" in str(err):
            detail = str(err).split("does not fit like: ", 1)[1]
            raise UsageError("run", f"{run / 'checkpoint.npz'} does not match {run / 'config.json'}: {detail}") from err
        raise UsageError("run", str(err)) from err


def _pick(folder: pathlib.Path, args: argparse.Namespace) -> tuple[Any, Any, list[int]]:
    """A sweep's network, stacked states and the members to evaluate (``--member``, ``--best`` or all)."""
    try:
        loaded = runs.load(folder)
    except (ValueError, FileNotFoundError) as err:
        raise UsageError("run", str(err)) from err
    p = loaded.grid.size
    if args.member is not None:
        if not 0 <= args.member < p:
            raise UsageError("--member", f"must be in [0, {p - 1}] (the sweep's {p} members), got {args.member}")
        return loaded.net, loaded.state, [args.member]
    if args.best:
        last = max((ln["epoch"] for ln in loaded.metrics), default=0)
        final = [ln for ln in loaded.metrics if ln["epoch"] == last and not ln["diverged"]]
        key = "val_accuracy" if final and final[0]["val_accuracy"] is not None else "accuracy"
        final = [ln for ln in final if ln[key] is not None]
        if not final:
            raise UsageError("--best", f"{folder} has no member that trained without diverging")
        best = max(final, key=lambda ln: ln[key])
        print(f"best member {best['member']} by final {key.replace('_', ' ')} {100 * best[key]:.2f}%")
        return loaded.net, loaded.state, [best["member"]]
    return loaded.net, loaded.state, list(range(p))


def run(args: argparse.Namespace) -> int:
    """``fnn evaluate`` of parsed flags: prints the split's accuracy and cost; the exit status."""
    from fnn import train

    if args.split not in SPLITS:
        raise UsageError("--split", f"must be one of {', '.join(SPLITS)}, got {args.split!r}")
    folder = pathlib.Path(args.run)
    _check_run(folder)
    marker = runs.read_marker(folder)
    sweep = marker is not None and runs.run_command(marker) == "sweep"
    if not sweep and (args.member is not None or args.best):
        raise UsageError("--member" if args.member is not None else "--best", f"{folder} is a run of fnn train, "
                         "not a sweep: it has one network")
    cfg = _read_config(folder, sweep)
    if args.split == "validation" and not cfg["validation"]:
        raise UsageError("--split", "the run held out no validation set (trained with --validation 0)")
    if sweep:
        net, states, members = _pick(folder, args)
    else:
        net, state = _load_state(folder, cfg)
    try:
        x, y = load_dataset(cfg["dataset"], args.split, args.data_dir, cfg["validation"])
        now = provenance(cfg["dataset"], args.data_dir)
    except (FileNotFoundError, ValueError, OSError) as err:
        raise data_error("--data-dir", err) from err
    if "data" in cfg and data_identity(cfg["data"]) != data_identity(now):  # another version of the files
        print(f"fnn evaluate: warning: the data read now ({now}) differs from the run's ({cfg['data']})",
              file=sys.stderr)
    where = f"on {x.shape[0]} examples of {cfg['dataset']}"
    if not sweep:
        cost, acc = train.evaluate(net, state, x, y, cfg["cost"])
        print(f"{args.split} accuracy {100 * acc:.2f}% (cost {cost:.4f}) {where}")
        return 0
    from fnn.grid import Grid

    labels = Grid(cfg["grid"], cfg["seeds"], cfg["seed"]).labels
    costs, accs = train.evaluate_members(net, states, x, y, cfg["cost"])
    for j in members:
        label = ", ".join(f"{k} {v:g}" for k, v in labels[j].items())
        print(f"member {j} ({label}): {args.split} accuracy {100 * float(accs[j]):.2f}% "
              f"(cost {float(costs[j]):.4f}) {where}")
    return 0
