"""The ``fnn`` command line: train an MLP on a dataset, sweep rates, evaluate a saved run.

(Notes, "Algorithm: Gradient descent + Backpropagation" and "Stochastic
gradient descent", run from a shell: ``C = (1/n) sum_x C_x`` minimized by
mini-batch updates ``w <- w - (eta/m) sum_x dC_x/dw``.)

::

    fnn train                                   # the default recipe on Fashion-MNIST
    fnn train --dataset fashion_mnist --sizes 784,256,256,10 --hidden relu \\
              --output softmax --cost log_likelihood --optimizer adam --rate 1e-3 \\
              --schedule cosine --batch-size 128 --epochs 20 --norm batch --seed 0 \\
              --out runs/NAME
    fnn train --resume runs/NAME                # continue an interrupted run (or --epochs N more)
    fnn sweep --grid rate=0.1,0.3,1 momentum=0,0.9 --seeds 5 ...  # a grid x seeds as one population
    fnn evaluate runs/NAME                      # test accuracy of the saved run (a sweep: --member I, --best)

**Validation and test.** ``fnn train`` holds out the last ``--validation``
training examples (default 5,000; 200 of the 2,000 for ``--dataset synthetic``),
trains on the rest, reports the held-out *validation* cost and accuracy after
each epoch (``val_acc`` in the progress bar, ``val_cost``/``val_accuracy`` in
``history.json``) and evaluates the *test* set once, at the end.
``--validation 0`` trains on every training example and monitors nothing.

**The run folder** (:mod:`fnn.runs`): ``config.json`` (the checked config;
under ``"data"`` the path and SHA-256 of every data file read, which a
resumed run must read again, by content, wherever the files now are; under
``"provenance"`` the command line, git commit, versions, device and host),
``metrics.jsonl`` (a line per epoch), ``checkpoint.npz`` (the
:class:`fnn.train.TrainState`, :mod:`fnn.checkpoint`; both saved after every
epoch), ``history.json`` (per-epoch cost, accuracy, rate, examples/s, the
final test result; strict JSON, a NaN written as ``null``), ``curves.png``,
``tensorboard/`` (``--tensorboard``) and the marker ``fnn-run.json`` (which
command wrote it, whether it is complete). Without ``--out`` the folder is a
new unique ``runs/<dataset>-<date-time>-<6 hex>``. It is assembled under a
hidden name and renamed into place at the end or on SIGINT/SIGTERM (exit
130/143; ``--resume`` continues it); ``--overwrite`` replaces only a run of
the same command (with a marker) and never a file fnn did not write.

**Errors.** A mistake on the command line (a bad value, an unusable
``--out``, missing or corrupt data files, a damaged run) exits with status 2
and one line ``fnn CMD: error: argument ARG: what was expected, what was
given`` (then a line pointing to ``fnn CMD --help``), never a traceback;
``--debug`` shows the traceback. A run that diverges exits with status 1.

**The package.** :mod:`fnn.cli._config` checks a run's config once, from a
plain dict (the parsed flags, or a saved ``config.json``); ``_common`` holds
what the subcommands share (processes, devices, the run folder, the data);
``_train``, ``_sweep`` and ``_evaluate`` are the subcommands. This face holds
the parser and :func:`main`; ``fnn --help`` and ``fnn --version`` import no jax.

The defaults of ``fnn train`` (``DEFAULTS``) are the recipe measured best for
Fashion-MNIST within a couple of minutes on 2 CPU cores. ``--dataset
synthetic`` is a generated task of the same shape (10 Gaussian blobs in 784
dimensions) that needs no files. Also runnable as ``python -m fnn``.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, NoReturn, Sequence

from fnn import __version__
from fnn.cli import _evaluate, _sweep, _train
from fnn.cli._common import Datasets, load_dataset, load_datasets
from fnn.cli._config import (
    DATASETS, DEFAULTS, MAX_SEED, NORMS, OPTIMIZERS, SCHEDULES, SPLITS, SWEEP_DEFAULT_GRID, SWEEP_DEFAULT_SEEDS,
    SYNTHETIC_SEED, SYNTHETIC_SIZES,
    TRAIN_SIZES, UsageError, build_network, build_optimizer, check_config, check_sweep_config, config_from_args,
    config_from_dict, sweep_config_from_dict,
)
from fnn.cli._signals import Interrupted, handled
from fnn.cli._sweep import grid_table, rate_table

__all__ = [
    "main", "build_parser", "DEFAULTS", "DATASETS", "OPTIMIZERS", "SCHEDULES", "NORMS", "SPLITS",
    "SYNTHETIC_SEED", "SYNTHETIC_SIZES", "TRAIN_SIZES", "UsageError", "config_from_dict", "config_from_args",
    "sweep_config_from_dict", "check_config", "check_sweep_config", "build_network", "build_optimizer",
    "load_dataset", "load_datasets", "Datasets", "rate_table", "grid_table",
]

_COMMANDS = {"train": _train.run, "sweep": _sweep.run, "evaluate": lambda args, argv: _evaluate.run(args)}


# --------------------------------------------------------------------------
# errors: one line, then where the usage is


def _usage_error(prog: str, message: str) -> NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    what = "{" + ",".join(_COMMANDS) + "} ..." if prog == "fnn" else "[options]"
    print(f"usage: {prog} {what} ({prog} --help lists them)", file=sys.stderr)
    raise SystemExit(2)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line and a pointer to ``--help``, not the usage block."""

    def error(self, message: str) -> NoReturn:
        _usage_error(self.prog, message)


# --------------------------------------------------------------------------
# argument types: text to a value (the config checks the value)


def _float_type(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return v


def _int_type(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _floats_type(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers > 0, got {text!r}") from None


def _grid_type(text: str) -> tuple[str, list[float]]:
    name, sep, values = text.partition("=")
    try:
        parsed = [float(t) for t in values.split(",") if t.strip()]
    except ValueError:
        parsed = []
    if not sep or not name.strip().isidentifier() or not parsed:
        raise argparse.ArgumentTypeError(f"must be NAME=V1,V2,... (a hyperparameter and comma-separated numbers), "
                                         f"got {text!r}")
    return name.strip(), parsed


def _add(p: Any, flag: str, default: Any, text: str, **kw: Any) -> None:
    """``p.add_argument(flag, ...)``, its help ending in its default (unless None: the help says)."""
    shown = "" if default is None else " (default: %(default)s)"
    p.add_argument(flag, default=default, help=text + shown, **kw)


# --------------------------------------------------------------------------
# the flags


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    _add(p, "--dataset", DEFAULTS["dataset"], f"one of {', '.join(DATASETS)}")
    _add(p, "--data-dir", None, "folder holding the IDX files, used or an error (default: fnn.data's search path)")
    _add(p, "--validation", None, "hold out the last N training examples as the validation set monitored each "
         "epoch (default 5000; 200 for synthetic; 0: train on all, monitor nothing); the test set is evaluated "
         "once, at the end", type=_int_type)


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    _add(p, "--sizes", DEFAULTS["sizes"], "layer widths, input first, comma-separated")
    _add(p, "--hidden", DEFAULTS["hidden"], "hidden activation, a name of fnn.activations (relu, tanh, sigmoid, ...)")
    _add(p, "--output", DEFAULTS["output"], "output activation, a name of fnn.activations (softmax, sigmoid, ...)")
    _add(p, "--cost", DEFAULTS["cost"], "a name of fnn.costs (quadratic, cross_entropy, log_likelihood)")
    _add(p, "--norm", DEFAULTS["norm"], f"hidden-layer normalization: {', '.join(NORMS)}")


def _add_optimizer_arguments(p: argparse.ArgumentParser, sweep: bool) -> None:
    _add(p, "--optimizer", DEFAULTS["optimizer"], f"one of {', '.join(OPTIMIZERS)}")
    if sweep:
        p.add_argument("--grid", nargs="+", type=_grid_type, default=None, metavar="NAME=V1,V2",
                       help="the grid: one NAME=V1,V2,... per hyperparameter of the optimizer's state (rate scales "
                       "the learning rate and its schedule; momentum; b1, b2, eps for adam; ...) "
                       f"(default: rate={','.join(f'{r:g}' for r in SWEEP_DEFAULT_GRID['rate'])})")
        _add(p, "--rate", None, "learning rates eta to sweep, comma-separated: --grid rate=...",
             type=_floats_type, dest="rates")
    else:
        _add(p, "--rate", DEFAULTS["rate"], "learning rate eta (initial, with a schedule)", type=_float_type)
    _add(p, "--schedule", DEFAULTS["schedule"], f"one of {', '.join(SCHEDULES)} (cosine/linear/exponential "
         "decay over the whole run to 0 / rate/100 / rate/100)")
    _add(p, "--momentum", None, "mu in [0, 1) for sgd/momentum (default 0 for sgd, 0.9 for momentum)",
         type=_float_type)
    _add(p, "--weight-decay", None, "weight decay of --optimizer adamw (default 0.01; no other optimizer has one)",
         type=_float_type)


def _add_training_arguments(p: argparse.ArgumentParser, sweep: bool) -> None:
    _add(p, "--batch-size", DEFAULTS["batch_size"], "mini-batch size m", type=_int_type)
    _add(p, "--epochs", None, f"number of epochs (default {DEFAULTS['epochs']}; with --resume: this many more)",
         type=_int_type)
    _add(p, "--grad", "backprop", "backprop (BP1-BP4 by hand) or autodiff (jax.grad)")
    _add(p, "--precision", "float32", "float32, or bfloat16 (mixed precision: parameters and optimizer state in "
         "float32, forward and backward passes in bfloat16)")
    devices = ("shard the population over this many devices (0: all); rates x seeds must be a multiple" if sweep
               else "data parallel over this many devices (0: all)")
    _add(p, "--devices", None, devices + " (default: 1; with several processes all devices of every process)",
         type=_int_type)
    _add(p, "--seed", DEFAULTS["seed"], f"seed of the initialization and shuffles, in [0, {MAX_SEED}]"
         + ("; member seeds SEED, SEED+1, ..." if sweep else ""), type=_int_type)
    if sweep:
        _add(p, "--data-order", "member", "member (each member its own shuffles) or shared (every member the same "
             "mini-batches: common random numbers; faster)")
        _add(p, "--threads", None, "run the networks as this many equal parts at once, one host thread each, on "
             "one CPU device (must divide them; default: the largest divisor up to the cores this process may "
             "use; 1 with several devices; with --resume: from now on)", type=_int_type)
        _add(p, "--seeds", None, f"seeds per grid point: SEED, SEED+1, ... (in [1, 10000]; >= 2 for intervals; "
             f"default {SWEEP_DEFAULT_SEEDS})", type=_int_type)


def _add_distributed_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "several processes (jax.distributed: start one process per host with the same flags; every device "
        "of every process is used; only process 0 writes --out)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="where process 0 runs the coordination service (e.g. 10.0.0.1:12345)")
    g.add_argument("--num-processes", type=_int_type, default=None, help="the number of processes N")
    g.add_argument("--process-id", type=_int_type, default=None, help="this process's index in [0, N)")
    g.add_argument("--cluster", action="store_true",
                   help="let JAX detect the three above (SLURM, Open MPI, cloud TPU)")
    g.add_argument("--join-timeout", type=_int_type, default=60, metavar="SECONDS",
                   help="how long each process waits for the others to join (default: %(default)s)")


def _add_run_arguments(p: argparse.ArgumentParser, what: str, command: str) -> None:
    """``--out``, ``--overwrite``, ``--resume``, ``--config``, ``--tensorboard``, ``--quiet``, ``--debug``."""
    p.add_argument("--out", default=None,
                   help=f"output folder (default: a new runs/{what}-<date-time>-<6 hex>)")
    p.add_argument("--overwrite", action="store_true", help=f"replace the run of fnn {command} in --out")
    p.add_argument("--resume", default=None, metavar="RUN",
                   help="continue the run in RUN (interrupted, or with --epochs N more) where its checkpoint "
                   "stands, in place; its recipe is the run's")
    p.add_argument("--config", default=None, metavar="CONFIG_JSON",
                   help=f"take the recipe from a run's config.json (flags given override it): fnn {command} "
                   "--config RUN/config.json re-runs RUN")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files into RUN/tensorboard (pip install 'fnn[tensorboard]')")
    p.add_argument("--quiet", "--no-progress", action="store_true", dest="quiet",
                   help="no progress bar and no line per epoch")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of an error")


def _add_fit_parser(sub: Any, name: str, sweep: bool, **kw: Any) -> argparse.ArgumentParser:
    """The parser of ``fnn train`` or ``fnn sweep`` (the same recipe flags)."""
    p = sub.add_parser(name, **kw)
    _add_data_arguments(p)
    _add_model_arguments(p)
    _add_optimizer_arguments(p, sweep)
    _add_training_arguments(p, sweep)
    _add_distributed_arguments(p)
    _add_run_arguments(p, "sweep" if sweep else "<dataset>", name)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The ``fnn`` argument parser: ``--version`` and the subcommands ``train``, ``sweep``, ``evaluate``."""
    p = _Parser(prog="fnn", description="Train and evaluate fully connected networks (fnn).")
    p.add_argument("--version", action="version", version=f"fnn {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{train,sweep,evaluate}", required=True)
    p.commands = {}
    p.commands["train"] = _add_fit_parser(
        sub, "train", False, help="train an MLP and save the run",
        description="Train an MLP by mini-batch gradient descent, monitoring a held-out validation set; "
        "writes config.json, metrics.jsonl and checkpoint.npz after every epoch (SIGINT/SIGTERM save and exit; "
        "--resume continues), then history.json and curves.png into --out. The defaults are the best "
        "Fashion-MNIST recipe found.")
    p.commands["sweep"] = _add_fit_parser(
        sub, "sweep", True, help="train a grid of hyperparameters x seeds as one population",
        description="Train every (grid point, seed) pair as one vmapped population (fnn.train.fit_population); "
        "print mean validation and test accuracy with 95% t-intervals per point; write config.json, "
        "checkpoint.npz (every member), metrics.jsonl, sweep.json and sweep.png.")
    e = sub.add_parser("evaluate", help="evaluate a saved run or sweep",
                       description="Cost and accuracy of a saved run (of a sweep: every member, --member I or --best).")
    p.commands["evaluate"] = e
    e.add_argument("run", help="the run folder written by fnn train or fnn sweep")
    e.add_argument("--member", type=_int_type, default=None, metavar="I",
                   help="a sweep's member I (member order: fnn.grid.Grid)")
    e.add_argument("--best", action="store_true",
                   help="a sweep's member of the best final validation accuracy (training accuracy without one)")
    _add(e, "--split", "test", f"one of {', '.join(SPLITS)}")
    _add(e, "--data-dir", None, "folder holding the IDX files (default: fnn.data's search path)")
    e.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    return p


# --------------------------------------------------------------------------


def _negatives_joined(argv: list[str]) -> list[str]:
    """``--rate -1,1`` as ``--rate=-1,1``: a value that starts with a minus sign and a digit is a value,
    not a flag (argparse would say "expected one argument"); the config then says what is allowed."""
    out: list[str] = []
    for tok in argv:
        if (out and out[-1].startswith("--") and "=" not in out[-1] and len(tok) > 1 and tok[0] == "-"
                and (tok[1].isdigit() or tok[1] == ".")):
            out[-1] = f"{out[-1]}={tok}"
        else:
            out.append(tok)
    return out


def _config_defaults(path: str, command: str, dests: set[str]) -> dict[str, Any]:
    """Parser defaults from a run's ``config.json`` (``--config``): each recipe key the command has a flag for."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError) as err:
        raise UsageError("--config", f"must be a run's readable config.json, got {path!r} ({err})") from None
    if not isinstance(cfg, dict):
        raise UsageError("--config", f"must hold a JSON object, got {type(cfg).__name__} in {path}")
    if ("grid" in cfg) != (command == "sweep"):
        other = "sweep" if "grid" in cfg else "train"
        raise UsageError("--config", f"{path} is the config of an fnn {other} run; use fnn {other} --config {path}")
    skip = {"out", "overwrite", "resume", "config", "debug", "quiet", "tensorboard", "data_dir"}
    defaults = {k: v for k, v in cfg.items() if k in dests and k not in skip}
    if isinstance(defaults.get("sizes"), list):
        defaults["sizes"] = ",".join(map(str, defaults["sizes"]))
    if isinstance(cfg.get("grid"), dict):
        defaults["grid"] = [(k, list(v)) for k, v in cfg["grid"].items()]
    return defaults


def _parse(argv: list[str]) -> argparse.Namespace:
    """The parsed flags; with ``--config``, the config's recipe as the defaults the flags override."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None) is None:
        return args
    sub = parser.commands[args.command]
    try:
        defaults = _config_defaults(args.config, args.command, {a.dest for a in sub._actions})
    except UsageError as err:
        _usage_error(f"fnn {args.command}", str(err))
    sub.set_defaults(**defaults)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fnn`` console script; returns the exit status.

    A :class:`UsageError` exits with status 2 and ``fnn CMD: error: argument
    ARG: MESSAGE`` (then a pointer to ``fnn CMD --help``); any other exception
    (a bug, or a mistake not foreseen) prints one line and exits with status
    1. ``--debug`` re-raises instead. SIGINT or SIGTERM stops the command
    with one line saying where the run was saved and status 130 or 143.
    """
    argv = _negatives_joined(list(sys.argv[1:] if argv is None else argv))
    with handled():
        try:
            args = _parse(argv)
            return _run(args, argv)
        except (Interrupted, KeyboardInterrupt) as sig:
            sig = sig if isinstance(sig, Interrupted) else Interrupted(2)
            command = " ".join(["fnn", *argv[:1]])
            print(f"{command}: interrupted by {sig}" + (f"; {sig.saved}" if sig.saved else ""), file=sys.stderr)
            return sig.status


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    try:
        return _COMMANDS[args.command](args, argv)
    except UsageError as err:
        if args.debug:
            raise
        _usage_error(f"fnn {args.command}", str(err))
    except Exception as err:  # noqa: BLE001 - one line instead of a traceback (--debug shows it)
        if args.debug:
            raise
        print(f"fnn {args.command}: error: {type(err).__name__}: {err} (--debug shows the traceback)", file=sys.stderr)
        return 1
