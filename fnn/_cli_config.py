"""The flags of ``fnn train`` as reusable pieces: argument groups, a checked config, builders.

(Notes, "Algorithm: Gradient descent + Backpropagation": the network, the cost,
the optimizer ``w <- w - eta * update`` with its schedule ``eta(t)``, the
mini-batch size ``m`` and the number of epochs of one run.)

A *config* is the dict ``fnn train`` writes to ``config.json``: the keys of
:data:`DEFAULTS` plus ``validation``, ``momentum``, ``weight_decay``,
``grad`` and ``devices``. :func:`config_from_args` builds one from parsed
flags, :func:`check_config` checks one (from flags or from a file);
:func:`build_network` and :func:`build_optimizer` turn it into the objects
``fnn.train.fit`` takes. Every check raises :class:`UsageError` naming the
flag (``--batch-size``), what it must be and what it was.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, Mapping

DATASETS = ("fashion_mnist", "mnist", "synthetic")
SPLITS = ("train", "validation", "test")
OPTIMIZERS = ("gd", "sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "linear", "exponential")
NORMS = ("none", "batch", "layer")
GRADS = ("backprop", "autodiff")
PRECISIONS = ("float32", "bfloat16")

#: The default recipe (``fnn train`` with no arguments).
DEFAULTS: dict[str, Any] = {
    "dataset": "fashion_mnist",
    "sizes": "784,512,512,10",
    "hidden": "relu",
    "output": "softmax",
    "cost": "log_likelihood",
    "optimizer": "adam",
    "rate": 1e-3,
    "schedule": "cosine",
    "batch_size": 128,
    "epochs": 15,
    "norm": "batch",
    "seed": 0,
}

SYNTHETIC_SEED = 20240601
SYNTHETIC_SIZES = {"train": 2000, "test": 500}
#: Training examples of each data set (before a validation split) and the default held out.
TRAIN_SIZES = {"fashion_mnist": 60_000, "mnist": 60_000, "synthetic": SYNTHETIC_SIZES["train"]}
DEFAULT_VALIDATION = {"fashion_mnist": 5_000, "mnist": 5_000, "synthetic": 200}
MAX_SEED = 2**63 - 1

#: Keys a config must hold (``fnn evaluate`` reads them from ``config.json``) and optional ones.
REQUIRED = ("dataset", "sizes", "hidden", "output", "cost", "optimizer", "rate", "schedule",
            "batch_size", "epochs", "norm")
OPTIONAL = {"validation": 0, "momentum": None, "weight_decay": 1e-2, "grad": "backprop", "devices": 1, "seed": 0,
            "precision": "float32"}


class UsageError(Exception):
    """A user's mistake: ``argument`` (e.g. ``"--rate"``) and a message saying expected and given."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"argument {argument}: {message}")
        self.argument, self.message = argument, message


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


# --------------------------------------------------------------------------
# argparse types and groups


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except a ``None`` default (its help says what None means)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        return action.help if action.default is None else super()._get_help_string(action)


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


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """``--dataset``, ``--data-dir``, ``--validation``."""
    p.add_argument("--dataset", default=DEFAULTS["dataset"], help=f"one of {', '.join(DATASETS)}")
    p.add_argument("--data-dir", default=None,
                   help="folder holding the IDX files, used or an error (default: fnn.data's search path)")
    p.add_argument("--validation", type=_int_type, default=None,
                   help="hold out the last N training examples as the validation set monitored each epoch "
                   "(default 5000; 200 for synthetic; 0: train on all, monitor nothing); the test set is "
                   "evaluated once, at the end")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """``--sizes``, ``--hidden``, ``--output``, ``--cost``, ``--norm``."""
    from fnn import activations, costs

    p.add_argument("--sizes", default=DEFAULTS["sizes"], help="layer widths, input first, comma-separated")
    p.add_argument("--hidden", default=DEFAULTS["hidden"], help=f"hidden activation: {', '.join(activations.names())}")
    p.add_argument("--output", default=DEFAULTS["output"], help=f"output activation: {', '.join(activations.names())}")
    p.add_argument("--cost", default=DEFAULTS["cost"], help=f"one of {', '.join(costs.names())}")
    p.add_argument("--norm", default=DEFAULTS["norm"], help=f"hidden-layer normalization: {', '.join(NORMS)}")


def add_optimizer_arguments(p: argparse.ArgumentParser) -> None:
    """``--optimizer``, ``--rate``, ``--schedule``, ``--momentum``, ``--weight-decay``."""
    p.add_argument("--optimizer", default=DEFAULTS["optimizer"], help=f"one of {', '.join(OPTIMIZERS)}")
    p.add_argument("--rate", type=_float_type, default=DEFAULTS["rate"], help="learning rate eta (initial, with a schedule)")
    p.add_argument("--schedule", default=DEFAULTS["schedule"],
                   help=f"one of {', '.join(SCHEDULES)} (cosine/linear/exponential decay over the whole run "
                   "to 0 / rate/100 / rate/100)")
    p.add_argument("--momentum", type=_float_type, default=None,
                   help="mu in [0, 1) for sgd/momentum (default 0 for sgd, 0.9 for momentum)")
    p.add_argument("--weight-decay", type=_float_type, default=OPTIONAL["weight_decay"], help="weight decay for adamw")


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """``--batch-size``, ``--epochs``, ``--grad``, ``--devices``, ``--seed``."""
    p.add_argument("--batch-size", type=_int_type, default=DEFAULTS["batch_size"], help="mini-batch size m")
    p.add_argument("--epochs", type=_int_type, default=DEFAULTS["epochs"], help="number of epochs")
    p.add_argument("--grad", default="backprop", help="backprop (BP1-BP4 by hand) or autodiff (jax.grad)")
    p.add_argument("--precision", default="float32",
                   help="float32, or bfloat16 (mixed precision: parameters and optimizer state in float32, "
                   "forward and backward passes in bfloat16)")
    p.add_argument("--devices", type=_int_type, default=1, help="data parallel over this many devices (0: all)")
    p.add_argument("--seed", type=_int_type, default=DEFAULTS["seed"],
                   help=f"seed of the initialization and shuffles, in [0, {MAX_SEED}]")


def add_distributed_arguments(p: argparse.ArgumentParser) -> None:
    """``--coordinator``, ``--num-processes``, ``--process-id``, ``--cluster``: one process of several
    (``fnn.distributed.maybe_initialize``); only process 0 writes the run folder."""
    g = p.add_argument_group(
        "several processes (jax.distributed: start one process per host with the same flags and "
        "--devices 0; only process 0 writes --out)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="where process 0 runs the coordination service (e.g. 10.0.0.1:12345)")
    g.add_argument("--num-processes", type=_int_type, default=None, help="the number of processes N")
    g.add_argument("--process-id", type=_int_type, default=None, help="this process's index in [0, N)")
    g.add_argument("--cluster", action="store_true",
                   help="let JAX detect the three above (SLURM, Open MPI, cloud TPU)")


# --------------------------------------------------------------------------
# the config


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The checked config of parsed ``fnn train`` flags (see :func:`check_config`).

    ``--sizes`` text becomes a list of ints, a default ``--validation`` the
    data set's default (:data:`DEFAULT_VALIDATION`), ``devices`` the count asked.
    """
    sizes = _parse_sizes(args.sizes)
    validation = args.validation
    if validation is None:
        validation = DEFAULT_VALIDATION.get(args.dataset, 0)
    cfg = {
        "dataset": args.dataset, "validation": validation, "sizes": sizes, "hidden": args.hidden,
        "output": args.output, "cost": args.cost, "optimizer": args.optimizer, "rate": args.rate,
        "schedule": args.schedule, "momentum": args.momentum, "weight_decay": args.weight_decay,
        "batch_size": args.batch_size, "epochs": args.epochs, "norm": args.norm, "grad": args.grad,
        "precision": args.precision,
        "devices": args.devices, "seed": args.seed,
    }
    return check_config(cfg, devices_may_be_zero=True)


def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        sizes = []
    if len(sizes) < 2 or any(n <= 0 for n in sizes):
        raise UsageError("--sizes", f"must be at least two positive integers separated by commas, got {text!r}")
    return sizes


def _choice(cfg: Mapping, key: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(cfg[key], str) or cfg[key] not in allowed:
        raise UsageError(_flag(key), f"must be one of {', '.join(allowed)}, got {cfg[key]!r}")


def _int(cfg: Mapping, key: str, lo: int, hi: int | None = None) -> None:
    v = cfg[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        want = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
        raise UsageError(_flag(key), f"must be {want}, got {v!r}")


def _number(cfg: Mapping, key: str) -> None:
    v = cfg[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise UsageError(_flag(key), f"must be a finite number >= 0, got {v!r}")


def check_config(cfg: Mapping[str, Any], devices_may_be_zero: bool = False) -> dict[str, Any]:
    """Check a config (every key of :data:`REQUIRED`; :data:`OPTIONAL` keys get their defaults).

    Checks the names (data set, activations, cost, optimizer, schedule, norm,
    gradient), the ranges (rate, weight decay >= 0; momentum ``mu`` in
    ``[0, 1)`` and only for sgd/momentum; epochs, batch size >= 1; seed in
    ``[0, 2^63 - 1]``; validation in ``[0, n_train)``) and the pairings the
    library would reject later (log-likelihood needs a softmax output; layer
    norm needs hidden layers of >= 2 units, batch norm mini-batches of >= 2
    examples: for one unit or one example the normalized value is the
    constant ``beta``). Returns a new dict; raises :class:`UsageError`.
    """
    from fnn import activations, costs

    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        raise UsageError(_flag(missing[0]), f"missing: the config must have the keys {', '.join(missing)}")
    cfg = {**OPTIONAL, **cfg}
    _choice(cfg, "dataset", DATASETS)
    sizes = cfg["sizes"]
    if (not isinstance(sizes, list) or len(sizes) < 2
            or any(isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in sizes)):
        raise UsageError("--sizes", f"must be a list of at least two positive integers, got {sizes!r}")
    for key, allowed in (("hidden", activations.names()), ("output", activations.names()),
                         ("cost", costs.names()), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                         ("norm", NORMS), ("grad", GRADS), ("precision", PRECISIONS)):
        _choice(cfg, key, tuple(allowed))
    _number(cfg, "rate")
    _number(cfg, "weight_decay")
    _int(cfg, "epochs", 1)
    _int(cfg, "batch_size", 1)
    _int(cfg, "devices", 0 if devices_may_be_zero else 1)
    _int(cfg, "seed", 0, MAX_SEED)
    _int(cfg, "validation", 0, TRAIN_SIZES[cfg["dataset"]] - 1)
    _check_pairings(cfg)
    return cfg


def _check_pairings(cfg: dict) -> None:
    mu, opt, sizes, norm = cfg["momentum"], cfg["optimizer"], cfg["sizes"], cfg["norm"]
    if mu is not None:
        if opt not in ("sgd", "momentum"):
            raise UsageError("--momentum", f"applies to --optimizer sgd or momentum, got --optimizer {opt}")
        if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not 0 <= mu < 1:
            raise UsageError("--momentum", f"must be a number in [0, 1), got {mu!r}")
    if cfg["cost"] == "log_likelihood" and cfg["output"] != "softmax":
        raise UsageError("--cost", f"log_likelihood needs --output softmax, got --output {cfg['output']}")
    text = ",".join(map(str, sizes))
    if norm != "none" and len(sizes) < 3:
        raise UsageError("--norm", f"{norm} normalizes hidden layers, but --sizes {text} has none")
    if norm == "layer" and min(sizes[1:-1]) < 2:
        raise UsageError("--sizes", f"--norm layer needs hidden layers of >= 2 units (layer norm of one "
                         f"unit is the constant beta), got {text}")
    if norm == "batch" and cfg["batch_size"] < 2:
        raise UsageError("--batch-size", f"--norm batch needs mini-batches of >= 2 examples (batch norm of "
                         f"one example is the constant beta), got {cfg['batch_size']}")


# --------------------------------------------------------------------------
# builders


def _as_config(cfg: Mapping[str, Any] | argparse.Namespace) -> Mapping[str, Any]:
    return config_from_args(cfg) if isinstance(cfg, argparse.Namespace) else cfg


def build_network(cfg: Mapping[str, Any] | argparse.Namespace):
    """The ``fnn.nn.MLP`` of a config (or of parsed flags): sizes, activations, norm."""
    from fnn import nn

    cfg = _as_config(cfg)
    norm = None if cfg["norm"] == "none" else cfg["norm"]
    return nn.MLP(tuple(cfg["sizes"]), hidden=cfg["hidden"], output=cfg["output"], norm=norm)


def build_optimizer(cfg: Mapping[str, Any] | argparse.Namespace, steps: int):
    """The ``fnn.optim`` transform of a config, its schedule spread over ``steps`` updates.

    ``eta(t)``: constant ``rate``; cosine ``rate (1 + cos(pi t / steps)) / 2``;
    linear from ``rate`` to ``rate/100``; exponential ``rate * 0.01^(t/steps)``.
    """
    from fnn import optim, schedules

    cfg = _as_config(cfg)
    rate, sched = cfg["rate"], cfg["schedule"]
    if sched == "constant":
        eta = rate
    elif sched == "cosine":
        eta = schedules.cosine_decay(rate, steps)
    elif sched == "linear":
        eta = schedules.linear(rate, rate / 100, steps)
    else:
        eta = schedules.exponential_decay(rate, steps, 0.01)
    name, mu = cfg["optimizer"], cfg.get("momentum")
    if name == "gd":
        return optim.gd(eta)
    if name == "sgd":
        return optim.sgd(eta, momentum=0.0 if mu is None else mu)
    if name == "momentum":
        return optim.momentum(eta, mu=0.9 if mu is None else mu)
    if name == "adamw":
        return optim.adamw(eta, weight_decay=cfg["weight_decay"])
    return getattr(optim, name)(eta)
