"""A grid of hyperparameters x seeds, laid out as one population of runs.

(Notes, "Gradient descent" and its refinements: the rate ``eta``, the momentum
``mu``, ... decide whether and how fast training converges; a grid over them,
with several seeds per point for an interval, measures that.)

A grid with axes ``{name_1: values_1, ..., name_k: values_k}`` and ``S`` seeds
has ``P = |values_1| * ... * |values_k| * S`` members, in row-major order with
the seed last: member ``j`` is the point ``(i_1, ..., i_k)`` and seed
``seed + s`` of ``j = ((i_1 * |values_2| + i_2) ... ) * S + s``. So
:meth:`Grid.reshape` turns a ``(P, ...)`` result of
:func:`fnn.train.fit_population` or :func:`fnn.train.evaluate_members` into
``(|values_1|, ..., |values_k|, S, ...)``.

Example::

    import jax
    from fnn import grid, nn, optim, train
    g = grid.Grid({"rate": [0.1, 1.0], "mu": [0.0, 0.9]}, seeds=3)
    states, history = train.fit_population(net, "log_likelihood", optim.sgd(1.0), (x, y), 5, 50,
                                           g.keys(), hyperparams=g.hyperparams)
    _, acc = train.evaluate_members(net, states, x_test, y_test, "log_likelihood")
    g.reshape(acc).mean(axis=-1)   # (2, 2): mean over the seeds at each (rate, mu)

The member of seed ``seed + s`` starts from ``jax.random.key(seed + s)``, as
the single run ``fit(..., key=jax.random.key(seed + s))`` does, so each member
is the single run with its hyperparameters.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["Grid"]

MAX_SEED = 2**63 - 1


class Grid:
    """Axes ``{name: values}`` (optimizer hyperparameters, see ``fnn.optim.hyperparams``) x ``seeds`` seeds.

    Attributes:
      axes: ``{name: tuple of floats}``, in the order given.
      seeds, seed: ``S`` seeds ``seed, seed + 1, ..., seed + S - 1``.
      shape: ``(|values_1|, ..., |values_k|, S)``; size: ``P``, their product.
    """

    def __init__(self, axes: Mapping[str, Sequence[float]], seeds: int = 1, seed: int = 0) -> None:
        if not isinstance(axes, Mapping) or not axes:
            raise ValueError(f"axes must be a non-empty mapping {{name: values}}, got {axes!r}")
        checked = {}
        for name, values in axes.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"axes: each name must be a hyperparameter name, got {name!r}")
            vals = tuple(values) if isinstance(values, (list, tuple, np.ndarray)) else None
            if not vals or not all(_finite(v) for v in vals):
                raise ValueError(f"axes[{name!r}] must be a non-empty list of finite numbers, got {values!r}")
            if len(set(vals)) != len(vals):
                raise ValueError(f"axes[{name!r}] must not repeat a value, got {list(vals)}")
            checked[name] = tuple(float(v) for v in vals)
        for what, v, lo, hi in (("seeds", seeds, 1, None), ("seed", seed, 0, MAX_SEED)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo or (hi is not None and v > hi):
                raise ValueError(f"{what} must be an integer >= {lo}" + (f" and <= {hi}" if hi else "") + f", got {v!r}")
        if seed + seeds - 1 > MAX_SEED:
            raise ValueError(f"seed + seeds - 1 must be <= 2^63 - 1, got seed={seed}, seeds={seeds}")
        self.axes: dict[str, tuple[float, ...]] = checked
        self.seeds, self.seed = int(seeds), int(seed)
        self.shape: tuple[int, ...] = tuple(len(v) for v in checked.values()) + (self.seeds,)
        self.size: int = math.prod(self.shape)

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}={list(v)}" for k, v in self.axes.items())
        return f"Grid({axes}; seeds {self.seed}..{self.seed + self.seeds - 1}; {self.size} members)"

    @property
    def points(self) -> list[dict[str, float]]:
        """The grid's points ``{name: value}`` (without seeds), in member order."""
        return [dict(zip(self.axes, p)) for p in itertools.product(*self.axes.values())]

    @property
    def labels(self) -> list[dict[str, Any]]:
        """Member ``j``'s hyperparameters and seed: ``{name: value, ..., "seed": seed + s}``, ``P`` of them."""
        return [{**p, "seed": self.seed + s} for p in self.points for s in range(self.seeds)]

    @property
    def hyperparams(self) -> dict[str, np.ndarray]:
        """``{name: (P,) float32}``: the ``hyperparams=`` of :func:`fnn.train.fit_population`."""
        return {name: np.asarray([lab[name] for lab in self.labels], np.float32) for name in self.axes}

    def member_seeds(self) -> list[int]:
        """Member ``j``'s seed ``seed + j % S``."""
        return [self.seed + j % self.seeds for j in range(self.size)]

    def keys(self) -> Any:
        """``(P,)`` keys: member ``j`` gets ``jax.random.key(seed + j % S)``, the key of its single run."""
        import jax
        import jax.numpy as jnp

        return jnp.stack([jax.random.key(s) for s in self.member_seeds()])

    def reshape(self, values: Any) -> np.ndarray:
        """A ``(P, ...)`` per-member result as ``(|values_1|, ..., |values_k|, S, ...)``."""
        a = np.asarray(values)
        if a.ndim == 0 or a.shape[0] != self.size:
            raise ValueError(f"values must have a leading axis of the {self.size} members, got shape {a.shape}")
        return a.reshape(self.shape + a.shape[1:])

    def index(self, seed: int | None = None, **point: float) -> int:
        """The member of a point (``rate=0.3, mu=0.9``) and ``seed`` (default: the first)."""
        if set(point) != set(self.axes):
            raise ValueError(f"give a value for each axis {', '.join(self.axes)}, got {', '.join(point) or 'none'}")
        idx = []
        for name, values in self.axes.items():
            if float(point[name]) not in values:
                raise ValueError(f"{name} must be one of {list(values)}, got {point[name]!r}")
            idx.append(values.index(float(point[name])))
        s = self.seed if seed is None else seed
        if not self.seed <= s < self.seed + self.seeds:
            raise ValueError(f"seed must be in [{self.seed}, {self.seed + self.seeds - 1}], got {s}")
        return int(np.ravel_multi_index((*idx, s - self.seed), self.shape))


def _finite(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v)
