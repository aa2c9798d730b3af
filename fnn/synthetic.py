"""Synthetic data sets: linearly separable points, XOR, Gaussian blobs, regression targets.

Notes, "Perceptron Learning" (separable sets and XOR, which no perceptron
separates) and "Universal Approximation Theorem" (regression targets
``y = f(x) + noise * N(0, 1)`` a one-hidden-layer network approximates). Every
set is drawn from an explicit ``jax.random`` key, so it is reproducible.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fnn._validate import check_int, check_key

Array = jax.Array

__all__ = ["linearly_separable", "xor", "blobs", "regression", "TARGETS"]


def _check_nonneg(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a finite number >= 0, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def linearly_separable(
    key: Array, n: int, dim: int = 2, margin: float = 0.1
) -> tuple[Array, Array]:
    """``n`` points in ``dim`` dimensions, linearly separable with margin >= ``margin``.

    Notes, "Perceptron Learning": the decision boundary is ``x . w = 0``. A unit
    normal ``w`` is drawn at random; points ``x0 ~ U[-1, 1]^dim`` are pushed
    away from the hyperplane by ``margin`` along ``w``:
    ``x = x0 + margin * s * w`` with ``s = sign(x0 . w)`` (``+1`` at 0), so every
    point lies at distance ``|x0 . w| + margin >= margin`` from the boundary.
    Labels ``y = 1`` where ``s > 0`` else ``0`` (int32). ``x`` is float32
    ``(n, dim)``.

    The true normal is ``w = jax.random.normal(jax.random.split(key)[0], (dim,))``
    normalised, should a test need it.
    """
    key = check_key(key)
    n = check_int(n, "n")
    dim = check_int(dim, "dim")
    margin = _check_nonneg(margin, "margin")
    return _linearly_separable(key, n, dim, jnp.float32(margin))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _linearly_separable(key: Array, n: int, dim: int, margin: Array) -> tuple[Array, Array]:
    k_w, k_x = jax.random.split(key)
    w = jax.random.normal(k_w, (dim,), jnp.float32)
    w = w / jnp.linalg.norm(w)
    x0 = jax.random.uniform(k_x, (n, dim), jnp.float32, -1.0, 1.0)
    s = jnp.where(x0 @ w >= 0, jnp.float32(1.0), jnp.float32(-1.0))
    x = x0 + margin * s[:, None] * w[None, :]
    y = (s > 0).astype(jnp.int32)
    return x, y


def xor(key: Array, n: int = 4, noise: float = 0.0) -> tuple[Array, Array]:
    """The XOR problem: ``n`` points at the corners of the unit square plus noise.

    Notes, "Perceptron Learning": XOR is not linearly separable (Minsky & Papert).
    Point ``i`` sits at corner ``i mod 4`` of ``(0,0), (0,1), (1,0), (1,1)`` with
    label ``0, 1, 1, 0``, plus Gaussian noise of standard deviation ``noise``
    drawn with ``key``. ``n=4, noise=0`` is the truth table. ``x`` float32
    ``(n, 2)``, ``y`` int32 ``(n,)``.
    """
    key = check_key(key)
    n = check_int(n, "n")
    noise = _check_nonneg(noise, "noise")
    return _xor(key, n, jnp.float32(noise))


@functools.partial(jax.jit, static_argnums=1)
def _xor(key: Array, n: int, noise: Array) -> tuple[Array, Array]:
    corners = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], jnp.float32)
    idx = jnp.arange(n) % 4
    x = corners[idx] + noise * jax.random.normal(key, (n, 2), jnp.float32)
    y = jnp.array([0, 1, 1, 0], jnp.int32)[idx]
    return x, y


def blobs(
    key: Array,
    n: int,
    centers: int | ArrayLike = 3,
    dim: int = 2,
    std: float = 1.0,
    spread: float = 5.0,
) -> tuple[Array, Array]:
    """Gaussian blobs: ``n`` points around ``k`` centers, label = index of the center.

    ``centers``: an int ``k`` (centers drawn ``U[-spread, spread]^dim``) or a
    ``(k, dim)`` array. Labels are balanced (``i mod k``) in random order; point
    ``i`` is ``centers[y_i] + std * N(0, I)``. ``x`` float32 ``(n, dim)``,
    ``y`` int32 ``(n,)``.
    """
    key = check_key(key)
    n = check_int(n, "n")
    std = _check_nonneg(std, "std")
    spread = _check_nonneg(spread, "spread")
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        k = check_int(centers, "centers")
        dim = check_int(dim, "dim")
        c = None
    else:
        c = jnp.asarray(centers, jnp.float32)
        if c.ndim != 2 or c.shape[0] < 1:
            raise ValueError(f"centers must be an int >= 1 or a (k, dim) array, got shape {c.shape}")
        k, dim = c.shape
    return _blobs(key, n, k, dim, c, jnp.float32(std), jnp.float32(spread))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _blobs(key, n, k, dim, c, std, spread) -> tuple[Array, Array]:
    k_c, k_p, k_x = jax.random.split(key, 3)
    if c is None:
        c = jax.random.uniform(k_c, (k, dim), jnp.float32, -spread, spread)
    y = jax.random.permutation(k_p, jnp.arange(n, dtype=jnp.int32) % k)
    x = c[y] + std * jax.random.normal(k_x, (n, dim), jnp.float32)
    return x, y


def _sine(x: Array) -> Array:
    return jnp.prod(jnp.sin(jnp.pi * x), axis=1, keepdims=True)


def _bump(x: Array) -> Array:
    return jnp.all(jnp.abs(x) < 0.5, axis=1, keepdims=True).astype(x.dtype)


def _step(x: Array) -> Array:
    return (x[:, :1] >= 0).astype(x.dtype)


#: Regression targets ``f(x)`` for ``x`` of shape ``(n, dim)``, returning ``(n, 1)``:
#: ``"sine"``: ``prod_i sin(pi x_i)``; ``"bump"``: 1 inside ``[-1/2, 1/2]^dim``, else 0
#: (Nielsen's bump / tower, made of steps); ``"step"``: ``1[x_1 >= 0]``.
TARGETS: dict[str, Callable[[Array], Array]] = {"sine": _sine, "bump": _bump, "step": _step}


def regression(
    key: Array, n: int, target: str = "sine", dim: int = 1, noise: float = 0.0
) -> tuple[Array, Array]:
    """A regression set ``y = f(x) + noise * N(0, 1)`` with ``x ~ U[-1, 1]^dim``.

    Notes, "Universal Approximation Theorem": a network with one hidden layer
    and a linear output approximates such targets. ``target`` is a name in
    :data:`TARGETS` (``"sine"``, ``"bump"``, ``"step"``) or a function
    ``(n, dim) -> (n, 1)``. ``x`` float32 ``(n, dim)``, ``y`` float32 ``(n, 1)``.
    """
    key = check_key(key)
    n = check_int(n, "n")
    dim = check_int(dim, "dim")
    noise = _check_nonneg(noise, "noise")
    if isinstance(target, str):
        if target not in TARGETS:
            raise ValueError(f"target must be one of {sorted(TARGETS)} or a function, got {target!r}")
        f = TARGETS[target]
    elif callable(target):
        f = target
    else:
        raise TypeError(f"target must be a name in {sorted(TARGETS)} or a function, got {target!r}")
    out = jax.eval_shape(f, jax.ShapeDtypeStruct((n, dim), jnp.float32))
    if getattr(out, "shape", None) != (n, 1):
        raise ValueError(f"target must return shape {(n, 1)}, got {getattr(out, 'shape', out)}")
    return _regression(key, n, dim, f, jnp.float32(noise))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _regression(key, n, dim, f, noise) -> tuple[Array, Array]:
    k_x, k_n = jax.random.split(key)
    x = jax.random.uniform(k_x, (n, dim), jnp.float32, -1.0, 1.0)
    y = jnp.asarray(f(x), jnp.float32)
    return x, y + noise * jax.random.normal(k_n, (n, 1), jnp.float32)
