"""The recipe of a run, checked once: a plain dict in, a checked config out.

(Notes, "Algorithm: Gradient descent + Backpropagation": the network, the cost,
the optimizer ``w <- w - eta * update`` with its schedule ``eta(t)``, the
mini-batch size ``m`` and the number of epochs of one run.)

A *config* is the dict ``fnn train`` writes to ``config.json``: the keys of
:data:`DEFAULTS` plus ``validation``, ``momentum``, ``weight_decay``,
``grad``, ``precision`` and ``devices``. A sweep's config has ``rates`` and
``seeds`` in place of ``rate``. :func:`config_from_dict` and
:func:`sweep_config_from_dict` build one from flags (``vars`` of the parsed
arguments) or from a saved ``config.json``; :func:`check_config` checks a
complete one. Every check raises :class:`UsageError` naming the flag
(``--batch-size``), what it must be and what it was. :func:`build_network` and
:func:`build_optimizer` turn a checked config into the objects
``fnn.train.fit`` takes.

Nothing here imports jax until a config is checked: ``fnn --help`` stays fast.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from fnn.runs import TRAIN_SIZES, build_network, build_optimizer  # noqa: F401 - the builders of a config

DATASETS = ("fashion_mnist", "mnist", "synthetic")
SPLITS = ("train", "validation", "test")
OPTIMIZERS = ("gd", "sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "linear", "exponential")
NORMS = ("none", "batch", "layer")

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
#: The default held out of each data set (``TRAIN_SIZES``: its training examples before the split).
DEFAULT_VALIDATION = {"fashion_mnist": 5_000, "mnist": 5_000, "synthetic": 200}
MAX_SEED = 2**63 - 1
MAX_SEEDS = 10_000
MAX_EPOCHS = 10**9
#: The largest float32: a hyperparameter above it would overflow the optimizer state.
MAX_FLOAT32 = 3.4028234663852886e38
#: The default grid of ``fnn sweep``: rates around the default recipe's (Adam, 1e-3), 3 seeds each.
SWEEP_DEFAULT_GRID = {"rate": [3e-4, 1e-3, 3e-3]}
SWEEP_DEFAULT_SEEDS = 3
#: Names ``--grid`` accepts for hyperparameters the state holds under another name.
GRID_ALIASES = {"momentum": "mu"}

#: Keys a config must hold (``fnn evaluate`` reads them from ``config.json``) and optional ones.
REQUIRED = ("dataset", "sizes", "hidden", "output", "cost", "optimizer", "rate", "schedule",
            "batch_size", "epochs", "norm")
OPTIONAL = {"validation": 0, "momentum": None, "weight_decay": None, "grad": "backprop", "devices": 1, "seed": 0,
            "precision": "float32", "schedule_steps": None}
#: A sweep's config: ``grid`` (``{hyperparameter: values}``) and ``seeds`` (how many per point) in place of ``rate``.
SWEEP_REQUIRED = tuple(k for k in REQUIRED if k != "rate") + ("grid", "seeds")
#: A sweep's optional keys beside :data:`OPTIONAL`: ``data_order`` and ``threads`` of
#: ``fnn.train.fit_population`` (``threads`` None: its default, from the host's cores).
SWEEP_OPTIONAL = {"data_order": "member", "threads": None}

_RECIPE = REQUIRED + tuple(OPTIONAL)


class UsageError(Exception):
    """A user's mistake: ``argument`` (e.g. ``"--rate"``) and a message saying expected and given."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"argument {argument}: {message}")
        self.argument, self.message = argument, message


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


# --------------------------------------------------------------------------
# from flags (or a saved config) to a checked config


def config_from_dict(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The checked config of ``fnn train`` flags (``vars(args)``) or of a saved ``config.json``.

    ``sizes`` may be the text of ``--sizes`` (``"784,30,10"``) or a list; a
    missing or ``None`` ``validation`` becomes the data set's default
    (:data:`DEFAULT_VALIDATION`); ``devices`` may be 0 (all). Keys that are
    not part of a recipe (``out``, ``debug``, ``data``, ...) are left out.
    """
    return check_config(_recipe(flags, _RECIPE), devices_may_be_zero=True)


def config_from_args(args: Any) -> dict[str, Any]:
    """:func:`config_from_dict` of an ``argparse.Namespace`` of ``fnn train`` flags."""
    return config_from_dict(vars(args))


def sweep_config_from_dict(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The checked config of ``fnn sweep`` flags or of a saved sweep's ``config.json``.

    As :func:`config_from_dict`, with ``grid`` (``{hyperparameter: distinct
    finite numbers}``; an older ``rates`` list is ``{"rate": rates}``) and
    ``seeds`` (in ``[1, 10000]``; member seeds ``seed .. seed + seeds - 1``) in
    place of ``rate``.
    """
    keys = tuple(k for k in _RECIPE if k != "rate") + ("grid", "seeds") + tuple(SWEEP_OPTIONAL)
    flags = dict(flags)
    if flags.get("grid") is None and flags.get("rates") is not None:
        flags["grid"] = {"rate": flags["rates"]}
    return check_sweep_config(_recipe(flags, keys), devices_may_be_zero=True)


def check_flags(flags: Mapping[str, Any]) -> None:
    """What only the command line can get wrong: ``--weight-decay`` given for an optimizer without it."""
    if flags.get("weight_decay") is not None and flags.get("optimizer") != "adamw":
        raise UsageError("--weight-decay", f"applies to --optimizer adamw only (the one with decoupled weight "
                         f"decay), got --optimizer {flags.get('optimizer')}")


def _recipe(flags: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    cfg = {k: flags[k] for k in keys if k in flags}
    if cfg.get("devices", 1) is None:  # --devices not given: fnn.cli._common.pick_devices decides
        del cfg["devices"]
    if isinstance(cfg.get("sizes"), str):
        cfg["sizes"] = _parse_sizes(cfg["sizes"])
    if cfg.get("epochs", 0) is None:
        cfg["epochs"] = DEFAULTS["epochs"]
    if cfg.get("validation") is None and cfg.get("dataset") in DEFAULT_VALIDATION:
        cfg["validation"] = DEFAULT_VALIDATION[cfg["dataset"]]
    return cfg


def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        sizes = []
    if len(sizes) < 2 or any(n <= 0 for n in sizes):
        raise UsageError("--sizes", f"must be at least two positive integers separated by commas, got {text!r}")
    return sizes


# --------------------------------------------------------------------------
# the checks


def _choice(cfg: Mapping, key: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(cfg[key], str) or cfg[key] not in allowed:
        raise UsageError(_flag(key), f"must be one of {', '.join(allowed)}, got {cfg[key]!r}")


def _int(cfg: Mapping, key: str, lo: int, hi: int | None = None) -> None:
    v = cfg[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        want = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
        raise UsageError(_flag(key), f"must be {want}, got {v!r}")


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _number(cfg: Mapping, key: str) -> None:
    if not _is_number(cfg[key]) or cfg[key] < 0:
        raise UsageError(_flag(key), f"must be a finite number >= 0, got {cfg[key]!r}")


def _require(cfg: Mapping, keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in cfg]
    if missing:
        raise UsageError(_flag(missing[0]), f"missing: the config must have the keys {', '.join(missing)}")


def check_config(cfg: Mapping[str, Any], devices_may_be_zero: bool = False) -> dict[str, Any]:
    """Check a config (every key of :data:`REQUIRED`; :data:`OPTIONAL` keys get their defaults).

    Checks the names (data set, activations, cost, optimizer, schedule, norm,
    gradient, precision), the ranges (rate, weight decay >= 0; momentum ``mu``
    in ``[0, 1)`` and only for sgd/momentum; epochs, batch size >= 1; seed in
    ``[0, 2^63 - 1]``; validation in ``[0, n_train)``) and the pairings the
    library would reject later (log-likelihood needs a softmax output; layer
    norm needs hidden layers of >= 2 units, batch norm mini-batches of >= 2
    examples: for one unit or one example the normalized value is the
    constant ``beta``). Returns a new dict; raises :class:`UsageError`.
    """
    _require(cfg, REQUIRED)
    cfg = {**OPTIONAL, **cfg}
    _check_recipe(cfg, devices_may_be_zero)
    _number(cfg, "rate")
    if cfg["rate"] > MAX_FLOAT32:
        raise UsageError("--rate", f"must be at most the largest float32 {MAX_FLOAT32:.4g}, got {cfg['rate']!r}")
    return cfg


def check_sweep_config(cfg: Mapping[str, Any], devices_may_be_zero: bool = False) -> dict[str, Any]:
    """Check a sweep's config: :func:`check_config` with ``grid`` and ``seeds`` in place of ``rate``.

    Each grid axis names a hyperparameter (``rate``, or a name of
    ``fnn.optim.hyperparams`` of the optimizer's state, ``momentum`` for
    ``mu``) and lists distinct finite numbers (a rate > 0, others >= 0); ``threads``, when given,
    divides the number of networks ``P`` (grid points x seeds)."""
    from fnn import train

    _require(cfg, SWEEP_REQUIRED)
    cfg = {**OPTIONAL, **SWEEP_OPTIONAL, **cfg}
    _int(cfg, "seeds", 1, MAX_SEEDS)
    _choice(cfg, "data_order", train.DATA_ORDERS)
    _check_recipe(cfg, devices_may_be_zero)
    grid = cfg["grid"]
    if not isinstance(grid, dict) or not grid:
        raise UsageError("--grid", f"must be NAME=V1,V2,... for at least one hyperparameter, got {grid!r}")
    for name, values in grid.items():
        low = 0 if name != "rate" else None
        ok = isinstance(values, list) and values and all(
            _is_number(v) and (v > 0 if low is None else v >= 0) and v <= MAX_FLOAT32 for v in values)
        if not ok:
            want = "> 0" if low is None else ">= 0"
            raise UsageError("--grid", f"{name} must be comma-separated finite float32 numbers {want}, got {values!r}")
        if len(set(values)) != len(values):
            raise UsageError("--grid", f"{name} must not repeat a value, got {values!r}")
    if cfg["seed"] + cfg["seeds"] - 1 > MAX_SEED:
        raise UsageError("--seeds", f"--seed {cfg['seed']} + --seeds {cfg['seeds']} - 1 exceeds 2^63 - 1")
    if cfg["threads"] is not None:
        members = math.prod(len(v) for v in grid.values()) * cfg["seeds"]
        _int(cfg, "threads", 1, members)
        if members % cfg["threads"]:
            raise UsageError("--threads", f"must divide the {members} networks into equal parts, "
                             f"got {cfg['threads']}")
    return cfg


def _check_recipe(cfg: dict, devices_may_be_zero: bool) -> None:
    """Every check of :func:`check_config` but the rate's."""
    from fnn import activations, costs, train

    _choice(cfg, "dataset", DATASETS)
    sizes = cfg["sizes"]
    if (not isinstance(sizes, list) or len(sizes) < 2
            or any(isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in sizes)):
        raise UsageError("--sizes", f"must be a list of at least two positive integers, got {sizes!r}")
    for key, allowed in (("hidden", activations.names()), ("output", activations.names()),
                         ("cost", costs.names()), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                         ("norm", NORMS), ("grad", train.GRAD_METHODS), ("precision", train.PRECISIONS)):
        _choice(cfg, key, tuple(allowed))
    if cfg["weight_decay"] is not None:
        _number(cfg, "weight_decay")
        if cfg["weight_decay"] > MAX_FLOAT32:
            raise UsageError("--weight-decay", f"must be at most the largest float32 {MAX_FLOAT32:.4g}, "
                             f"got {cfg['weight_decay']!r}")
    _int(cfg, "epochs", 1)
    if cfg["epochs"] > MAX_EPOCHS:
        raise UsageError("--epochs", f"must be at most {MAX_EPOCHS:,}, got {cfg['epochs']}")
    _int(cfg, "batch_size", 1)
    _int(cfg, "devices", 0 if devices_may_be_zero else 1)
    _int(cfg, "seed", 0, MAX_SEED)
    _int(cfg, "validation", 0, TRAIN_SIZES[cfg["dataset"]] - 1)
    _check_pairings(cfg)


def _check_pairings(cfg: dict) -> None:
    mu, opt, sizes, norm = cfg["momentum"], cfg["optimizer"], cfg["sizes"], cfg["norm"]
    if opt != "adamw":  # weight decay applies to adamw only; older configs recorded 0.01 for every optimizer
        cfg["weight_decay"] = None
    elif cfg["weight_decay"] is None:
        cfg["weight_decay"] = 1e-2
    if mu is not None:
        if opt not in ("sgd", "momentum"):
            raise UsageError("--momentum", f"applies to --optimizer sgd or momentum, got --optimizer {opt}")
        if not _is_number(mu) or not 0 <= mu < 1:
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
# builders (of a checked config): fnn.runs.build_network, fnn.runs.build_optimizer
