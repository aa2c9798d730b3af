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
from fnn.cli._common import data_error, load_dataset, provenance
from fnn.cli._config import SPLITS, UsageError, build_network, build_optimizer, check_config


def _check_run(run: pathlib.Path) -> None:
    if not run.exists():
        left = runs.interrupted(run)
        hint = (f"; an interrupted --overwrite left its previous run at {left[0]} (move it back with "
                f"`mv {left[0]} {run}`, or run fnn train --out {run})") if left else ""
        raise UsageError("run", f"{run} does not exist{hint}")
    if not (run / "config.json").is_file() or not (run / "checkpoint.npz").is_file():
        raise UsageError("run", f"{run} is not an fnn run (expected config.json and checkpoint.npz in it)")


def _read_config(run: pathlib.Path) -> dict:
    path = run / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError("run", f"{path} is not valid JSON ({err})") from err
    if not isinstance(cfg, dict):
        raise UsageError("run", f"{path} must hold a JSON object, got {type(cfg).__name__}")
    try:
        return check_config(cfg)
    except UsageError as err:
        raise UsageError("run", f"{path}: {err.message}") from err


def _load_state(run: pathlib.Path, cfg: dict) -> tuple[Any, Any]:
    import jax

    from fnn import checkpoint, train

    net = build_network(cfg)
    optimizer = build_optimizer(cfg, max(1, cfg["epochs"]))
    like = jax.eval_shape(lambda: train.init_state(net, optimizer, jax.random.key(0)))
    try:
        return net, checkpoint.load(run / "checkpoint.npz", like=like)
    except ValueError as err:
        if "does not fit like" in str(err):
            detail = str(err).split("does not fit like: ", 1)[1]
            raise UsageError("run", f"{run / 'checkpoint.npz'} does not match {run / 'config.json'}: {detail}") from err
        raise UsageError("run", str(err)) from err


def run(args: argparse.Namespace) -> int:
    """``fnn evaluate`` of parsed flags: prints the split's accuracy and cost; the exit status."""
    from fnn import train

    if args.split not in SPLITS:
        raise UsageError("--split", f"must be one of {', '.join(SPLITS)}, got {args.split!r}")
    folder = pathlib.Path(args.run)
    _check_run(folder)
    cfg = _read_config(folder)
    if args.split == "validation" and not cfg["validation"]:
        raise UsageError("--split", "the run held out no validation set (trained with --validation 0)")
    net, state = _load_state(folder, cfg)
    try:
        x, y = load_dataset(cfg["dataset"], args.split, args.data_dir, cfg["validation"])
        now = provenance(cfg["dataset"], args.data_dir)
    except (FileNotFoundError, ValueError, OSError) as err:
        raise data_error("--data-dir", err) from err
    if "data" in cfg and cfg["data"] != now:  # e.g. a version of the files other than the run's
        print(f"fnn evaluate: warning: the data read now ({now}) differs from the run's ({cfg['data']})",
              file=sys.stderr)
    cost, acc = train.evaluate(net, state, x, y, cfg["cost"])
    print(f"{args.split} accuracy {100 * acc:.2f}% (cost {cost:.4f}) on {x.shape[0]} examples of {cfg['dataset']}")
    return 0
