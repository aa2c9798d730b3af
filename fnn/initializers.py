"""Parameter initializers.

Notes, "Parameter initialization" (symmetry breaking, He, Xavier). An
initializer is called as ``init(key, shape, dtype) -> array``. For a weight
matrix ``W`` of shape ``(n_out, n_in)`` the fan-in is ``M = n_in = shape[1]``
(the number of inputs of the neuron being initialized) and the fan-out is
``N = n_out = shape[0]``.

All the scaled rules are one :func:`variance_scaling`:
``Var[w] = scale / fan`` with ``fan`` one of fan-in, fan-out or their mean:

* ``he()``                = ``variance_scaling(2, "fan_in", "normal")``: ``N(0, eps^2)``, ``eps = sqrt(2/M)``
* ``xavier()``            = ``variance_scaling(1/3, "fan_in", "uniform")``: ``U[-1/sqrt(M), 1/sqrt(M)]``
* ``xavier_normalized()`` = ``variance_scaling(1, "fan_avg", "uniform")``:
  ``U[-eps, eps]``, ``eps = sqrt(6)/sqrt(N + M)``. The notes print
  ``6/sqrt(N+M)``; that is a slip — Glorot & Bengio (2010) give ``sqrt(6)``.

``normal(eps)`` and ``he()`` are true Gaussians. (jax's own
``jax.nn.initializers.he_normal`` draws from a *truncated* normal; use
``distribution="truncated_normal"`` here for that.)

Initializers are small frozen dataclasses, so networks holding them stay
hashable and equal by value (usable as static ``jax.jit`` arguments).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

Array = jax.Array
Initializer = Callable[[Array, Sequence[int], DTypeLike], Array]

__all__ = [
    "Constant",
    "Uniform",
    "Normal",
    "VarianceScaling",
    "constant",
    "zeros",
    "uniform",
    "normal",
    "variance_scaling",
    "he",
    "xavier",
    "xavier_normalized",
    "get",
    "fans",
]

# Standard deviation of a standard normal truncated to [-2, 2]; dividing by it
# restores the requested variance after truncation.
_TRUNC_STD = 0.87962566103423978


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _shape(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must have non-negative entries, got {shape}")
    return shape


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a parameter of this shape.

    ``(n_out, n_in)`` gives ``(n_in, n_out)``; a vector ``(n,)`` gives ``(n, n)``.
    """
    shape = _shape(shape)
    if len(shape) == 2:
        return shape[1], shape[0]
    if len(shape) == 1:
        return shape[0], shape[0]
    raise ValueError(f"shape must be (n_out, n_in) or (n,), got {shape}")


@dataclasses.dataclass(frozen=True)
class Constant:
    """Every entry equal to ``c``. With ``c`` the same for all weights every
    hidden unit computes the same function and symmetry is never broken
    (notes, "Symmetry breaking")."""

    c: float = 0.0

    def __call__(self, key: Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> Array:
        return jnp.full(_shape(shape), self.c, dtype=dtype)


@dataclasses.dataclass(frozen=True)
class Uniform:
    """``w ~ U[-eps, eps]`` (notes, "Symmetry breaking")."""

    eps: float

    def __call__(self, key: Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> Array:
        return jax.random.uniform(key, _shape(shape), dtype, minval=-self.eps, maxval=self.eps)


@dataclasses.dataclass(frozen=True)
class Normal:
    """``w ~ N(0, eps^2)``, an untruncated Gaussian (notes, "Symmetry breaking")."""

    eps: float

    def __call__(self, key: Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> Array:
        return self.eps * jax.random.normal(key, _shape(shape), dtype)


@dataclasses.dataclass(frozen=True)
class VarianceScaling:
    """``Var[w] = scale / fan``; see :func:`variance_scaling`."""

    scale: float
    mode: str
    distribution: str

    def __call__(self, key: Array, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> Array:
        fan_in, fan_out = fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(fan, 1)
        shape = _shape(shape)
        if self.distribution == "normal":
            return math.sqrt(variance) * jax.random.normal(key, shape, dtype)
        if self.distribution == "truncated_normal":
            std = math.sqrt(variance) / _TRUNC_STD
            return std * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)
        # U[-eps, eps] has variance eps^2 / 3.
        eps = math.sqrt(3.0 * variance)
        return jax.random.uniform(key, shape, dtype, minval=-eps, maxval=eps)


def constant(c: float = 0.0) -> Constant:
    """All entries equal to ``c``."""
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c):
        raise ValueError(f"c must be a finite number, got {c!r}")
    return Constant(float(c))


def zeros() -> Constant:
    """All entries zero (the usual bias initializer)."""
    return Constant(0.0)


def uniform(eps: float) -> Uniform:
    """``U[-eps, eps]``, ``eps > 0``."""
    return Uniform(_check_positive("eps", eps))


def normal(eps: float) -> Normal:
    """``N(0, eps^2)`` (a true Gaussian, not truncated), ``eps > 0``."""
    return Normal(_check_positive("eps", eps))


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("normal", "uniform", "truncated_normal")


def variance_scaling(
    scale: float, mode: str = "fan_in", distribution: str = "normal"
) -> VarianceScaling:
    """Draw with ``Var[w] = scale / fan``.

    Args:
      scale: ``> 0``.
      mode: ``"fan_in"`` (``M``), ``"fan_out"`` (``N``) or ``"fan_avg"`` (``(N+M)/2``).
      distribution: ``"normal"`` (``N(0, scale/fan)``), ``"uniform"``
        (``U[-eps, eps]`` with ``eps = sqrt(3 scale/fan)``) or
        ``"truncated_normal"`` (a normal cut at two standard deviations,
        rescaled so the variance is still ``scale/fan``).
    """
    scale = _check_positive("scale", scale)
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}")
    return VarianceScaling(scale, mode, distribution)


def he() -> VarianceScaling:
    """He: ``N(0, eps^2)`` with ``eps = sqrt(2/M)`` (notes, "He initialization").

    Keeps ``Var[z^l] = (M/2) eps^2 lambda^2`` equal to ``lambda^2`` through ReLU layers.
    """
    return variance_scaling(2.0, "fan_in", "normal")


def xavier() -> VarianceScaling:
    """Xavier: ``U[-1/sqrt(M), 1/sqrt(M)]`` (notes, "Xavier initialization")."""
    return variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def xavier_normalized() -> VarianceScaling:
    """Normalized Xavier: ``U[-eps, eps]``, ``eps = sqrt(6)/sqrt(N + M)``.

    The notes print ``6/sqrt(N+M)``, a slip for ``sqrt(6)/sqrt(N+M)``
    (Glorot & Bengio, 2010), which gives ``Var[w] = 2/(N+M)``.
    """
    return variance_scaling(1.0, "fan_avg", "uniform")


_NAMED: dict[str, Callable[[], Any]] = {
    "zeros": zeros,
    "he": he,
    "xavier": xavier,
    "xavier_normalized": xavier_normalized,
}


def get(init: str | Initializer) -> Initializer:
    """An initializer by name (``zeros``, ``he``, ``xavier``, ``xavier_normalized``) or a callable passed through."""
    if isinstance(init, str):
        try:
            return _NAMED[init]()
        except KeyError:
            raise ValueError(f"initializer must be one of {sorted(_NAMED)} or a callable, got {init!r}") from None
    if callable(init):
        return init
    raise TypeError(f"initializer must be a name or a callable (key, shape, dtype) -> array, got {type(init).__name__}")
