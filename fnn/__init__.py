"""fnn: a pure-JAX framework for research on fully connected neural networks.

``import fnn`` is cheap: the submodules load on first use (PEP 562), so
``fnn.nn.MLP``, ``fnn.optim.adam`` or ``fnn.train.fit`` work without importing
each submodule first, and ``from fnn import nn, optim`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: The public submodules, in the order of the notes.
__all__ = [
    "activations",
    "costs",
    "initializers",
    "nn",
    "backprop",
    "norm",
    "optim",
    "schedules",
    "step",
    "train",
    "population",
    "parallel",
    "data",
    "checkpoint",
    "perceptron",
    "logic",
    "analysis",
    "curvature",
    "distributed",
    "stats",
    "cli",
    "grid",
    "runs",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'fnn' has no attribute {name!r} (fnn.{name} is not installed)") from None
        globals()[name] = module
        return module
    raise AttributeError(f"module 'fnn' has no attribute {name!r}; submodules: {', '.join(__all__)}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
