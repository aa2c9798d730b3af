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
    fnn sweep --rate 0.1,0.3,1,3,10 --seeds 5 ...  # a rate x seed grid as one population
    fnn evaluate runs/NAME                      # test accuracy of the saved run

**Validation and test.** ``fnn train`` holds out the last ``--validation``
training examples (default 5,000; 200 of the 2,000 for ``--dataset synthetic``),
trains on the rest, reports the held-out *validation* cost and accuracy after
each epoch (``val_acc`` in the progress bar, ``val_cost``/``val_accuracy`` in
``history.json``) and evaluates the *test* set once, at the end.
``--validation 0`` trains on every training example and monitors nothing.

**The run folder** (:mod:`fnn.runs`): ``config.json`` (the checked config,
and under ``"data"`` the path and SHA-256 of every data file read),
``history.json`` (per-epoch cost, accuracy, rate, examples/s, the final test
result; strict JSON, a NaN written as ``null``), ``checkpoint.npz`` (the
:class:`fnn.train.TrainState`, :mod:`fnn.checkpoint`), ``curves.png`` and the
marker ``fnn-run.json``. Without ``--out`` the folder is a new unique
``runs/<dataset>-<date-time>-<6 hex>``. It is assembled under a hidden name
and renamed into place at the end; ``--overwrite`` replaces only a run of
fnn's (with a marker) and never a file fnn did not write.

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
    DATASETS, DEFAULTS, MAX_SEED, NORMS, OPTIMIZERS, SCHEDULES, SPLITS, SYNTHETIC_SEED, SYNTHETIC_SIZES,
    TRAIN_SIZES, UsageError, build_network, build_optimizer, check_config, check_sweep_config, config_from_args,
    config_from_dict, sweep_config_from_dict,
)
from fnn.cli._sweep import rate_table

__all__ = [
    "main", "build_parser", "DEFAULTS", "DATASETS", "OPTIMIZERS", "SCHEDULES", "NORMS", "SPLITS",
    "SYNTHETIC_SEED", "SYNTHETIC_SIZES", "TRAIN_SIZES", "UsageError", "config_from_dict", "config_from_args",
    "sweep_config_from_dict", "check_config", "check_sweep_config", "build_network", "build_optimizer",
    "load_dataset", "load_datasets", "Datasets", "rate_table",
]

_COMMANDS = {"train": _train.run, "sweep": _sweep.run, "evaluate": _evaluate.run}


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
        _add(p, "--rate", [0.1, 0.3, 1.0, 3.0, 10.0], "learning rates eta to sweep, comma-separated "
             "(each scales the schedule)", type=_floats_type, dest="rates")
    else:
        _add(p, "--rate", DEFAULTS["rate"], "learning rate eta (initial, with a schedule)", type=_float_type)
    _add(p, "--schedule", DEFAULTS["schedule"], f"one of {', '.join(SCHEDULES)} (cosine/linear/exponential "
         "decay over the whole run to 0 / rate/100 / rate/100)")
    _add(p, "--momentum", None, "mu in [0, 1) for sgd/momentum (default 0 for sgd, 0.9 for momentum)",
         type=_float_type)
    _add(p, "--weight-decay", 1e-2, "weight decay for adamw", type=_float_type)


def _add_training_arguments(p: argparse.ArgumentParser, sweep: bool) -> None:
    _add(p, "--batch-size", DEFAULTS["batch_size"], "mini-batch size m", type=_int_type)
    _add(p, "--epochs", DEFAULTS["epochs"], "number of epochs", type=_int_type)
    _add(p, "--grad", "backprop", "backprop (BP1-BP4 by hand) or autodiff (jax.grad)")
    _add(p, "--precision", "float32", "float32, or bfloat16 (mixed precision: parameters and optimizer state in "
         "float32, forward and backward passes in bfloat16)")
    devices = ("shard the population over this many devices (0: all); rates x seeds must be a multiple" if sweep
               else "data parallel over this many devices (0: all)")
    _add(p, "--devices", 1, devices, type=_int_type)
    _add(p, "--seed", DEFAULTS["seed"], f"seed of the initialization and shuffles, in [0, {MAX_SEED}]"
         + ("; member seeds SEED, SEED+1, ..." if sweep else ""), type=_int_type)
    if sweep:
        _add(p, "--data-order", "member", "member (each member its own shuffles) or shared (every member the same "
             "mini-batches: common random numbers; faster)")
        _add(p, "--seeds", 5, "seeds per rate: SEED, SEED+1, ... (in [1, 10000]; >= 2 for intervals)",
             type=_int_type)


def _add_distributed_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "several processes (jax.distributed: start one process per host with the same flags and "
        "--devices 0; only process 0 writes --out)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="where process 0 runs the coordination service (e.g. 10.0.0.1:12345)")
    g.add_argument("--num-processes", type=_int_type, default=None, help="the number of processes N")
    g.add_argument("--process-id", type=_int_type, default=None, help="this process's index in [0, N)")
    g.add_argument("--cluster", action="store_true",
                   help="let JAX detect the three above (SLURM, Open MPI, cloud TPU)")


def _add_run_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """``--out``, ``--overwrite``, ``--no-progress``, ``--debug``."""
    p.add_argument("--out", default=None,
                   help=f"output folder (default: a new runs/{what}-<date-time>-<6 hex>)")
    p.add_argument("--overwrite", action="store_true", help="replace the fnn run in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of an error")


def _add_fit_parser(sub: Any, name: str, sweep: bool, **kw: Any) -> None:
    """The parser of ``fnn train`` or ``fnn sweep`` (the same recipe flags)."""
    p = sub.add_parser(name, **kw)
    _add_data_arguments(p)
    _add_model_arguments(p)
    _add_optimizer_arguments(p, sweep)
    _add_training_arguments(p, sweep)
    _add_distributed_arguments(p)
    _add_run_arguments(p, "sweep" if sweep else "<dataset>")


def build_parser() -> argparse.ArgumentParser:
    """The ``fnn`` argument parser: ``--version`` and the subcommands ``train``, ``sweep``, ``evaluate``."""
    p = _Parser(prog="fnn", description="Train and evaluate fully connected networks (fnn).")
    p.add_argument("--version", action="version", version=f"fnn {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{train,sweep,evaluate}", required=True)
    _add_fit_parser(
        sub, "train", False, help="train an MLP and save the run",
        description="Train an MLP by mini-batch gradient descent, monitoring a held-out validation set; "
        "writes config.json, history.json, checkpoint.npz and curves.png into --out. The defaults are "
        "the best Fashion-MNIST recipe found.")
    _add_fit_parser(
        sub, "sweep", True, help="train a rate x seed grid as one population",
        description="Train every (rate, seed) pair as one vmapped population (fnn.train.fit_population); print "
        "mean validation and test accuracy with 95% t-intervals per rate; write sweep.json and sweep.png.")
    e = sub.add_parser("evaluate", help="evaluate a saved run", description="Cost and accuracy of a saved run.")
    e.add_argument("run", help="the run folder written by fnn train")
    _add(e, "--split", "test", f"one of {', '.join(SPLITS)}")
    _add(e, "--data-dir", None, "folder holding the IDX files (default: fnn.data's search path)")
    e.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    return p


# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fnn`` console script; returns the exit status.

    A :class:`UsageError` exits with status 2 and ``fnn CMD: error: argument
    ARG: MESSAGE`` (then a pointer to ``fnn CMD --help``); any other exception
    (a bug, or a mistake not foreseen) prints one line and exits with status
    1. ``--debug`` re-raises instead.
    """
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except UsageError as err:
        if args.debug:
            raise
        _usage_error(f"fnn {args.command}", str(err))
    except KeyboardInterrupt:
        print(f"fnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - one line instead of a traceback (--debug shows it)
        if args.debug:
            raise
        print(f"fnn {args.command}: error: {type(err).__name__}: {err} (--debug shows the traceback)", file=sys.stderr)
        return 1
