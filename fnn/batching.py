"""Shuffling and mini-batching: one epoch of the training set as device arrays.

Notes, "Stochastic gradient descent": an epoch is one pass over the training
set in randomly drawn mini-batches of ``m`` examples,
``w -> w - (eta / m) sum_{x in batch} grad C_x``. Here an epoch's batches are
one device array of shape ``(n_batches, m, ...)`` (:func:`batches`), or the
indices ``(n_batches, m)`` of them (:func:`batch_indices`), so that training
runs the whole epoch as a single ``lax.scan`` with the data on the device.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fnn._validate import check_int, check_key

Array = jax.Array

__all__ = ["shuffle", "num_batches", "batches", "batch_indices"]


def _as_device(a: Any, name: str) -> Array:
    if isinstance(a, jax.Array):
        return a
    a = np.asarray(a)
    if a.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got dtype object")
    return jax.device_put(a)


def _check_xy(x: Any, y: Any) -> tuple[Array, Array]:
    x, y = _as_device(x, "x"), _as_device(y, "y")
    if x.ndim < 1 or y.ndim < 1:
        raise ValueError(f"x and y must have a leading example axis, got shapes {x.shape} and {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must hold the same number of examples, got {x.shape[0]} (x: {x.shape}) "
            f"and {y.shape[0]} (y: {y.shape})"
        )
    return x, y


def shuffle(key: Array, x: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
    """``(x[p], y[p])`` for one permutation ``p = jax.random.permutation(key, n)``.

    Runs on the device (no host round trip); works under ``jax.jit``.
    """
    key = check_key(key)
    x, y = _check_xy(x, y)
    p = jax.random.permutation(key, x.shape[0])
    return jnp.take(x, p, axis=0), jnp.take(y, p, axis=0)


def num_batches(n: int, batch_size: int, drop_remainder: bool = True) -> int:
    """Mini-batches per epoch: ``n // m`` (``drop_remainder``) or ``ceil(n / m)``."""
    n = check_int(n, "n")
    batch_size = check_int(batch_size, "batch_size", 1, n, " (the number of examples)")
    return n // batch_size if drop_remainder else -(-n // batch_size)


def batches(
    x: ArrayLike,
    y: ArrayLike,
    batch_size: int,
    key: Array | None = None,
    drop_remainder: bool = True,
) -> tuple[Array, Array]:
    """One epoch of mini-batches as two device arrays ``(n_batches, m, ...)``.

    Notes, "Stochastic gradient descent": the training set is cut into
    mini-batches of ``m = batch_size`` examples drawn at random; one pass over
    them is an epoch. Returns ``xb`` of shape ``(n_batches, m) + x.shape[1:]``
    and ``yb`` of shape ``(n_batches, m) + y.shape[1:]``, so an epoch is one
    ``lax.scan`` over the leading axis.

    ``key``: shuffle with ``jax.random.permutation(key, n)`` (on the device);
    ``None`` keeps the order. ``drop_remainder=True`` drops the last
    ``n mod m`` examples of the (shuffled) order; ``False`` completes the last
    batch with the first examples of the order (wrap-around), so every example
    is seen at least once and the batches keep one shape.

    Inputs that are not yet jax arrays are placed with ``jax.device_put``.
    Works under ``jax.jit`` with ``batch_size`` and ``drop_remainder`` static.
    Raises ``ValueError`` if ``batch_size <= 0`` or larger than the data, or if
    ``x`` and ``y`` hold different numbers of examples.
    """
    x, y = _check_xy(x, y)
    index = batch_indices(x.shape[0], batch_size, key, drop_remainder)
    return jnp.take(x, index, axis=0), jnp.take(y, index, axis=0)


def batch_indices(
    n: int, batch_size: int, key: Array | None = None, drop_remainder: bool = True
) -> Array:
    """The example indices of one epoch's mini-batches, ``(n_batches, m)`` int32.

    The order of :func:`batches` (``batches(x, y, ...)`` is ``x[index], y[index]``):
    ``jax.random.permutation(key, n)`` (or ``arange(n)`` without a key), cut
    into rows of ``m = batch_size``; ``drop_remainder`` as in :func:`batches`.
    A training loop that gathers each mini-batch from these indices inside its
    ``lax.scan`` never writes a shuffled copy of the data set.
    """
    n = check_int(n, "n")
    m = check_int(batch_size, "batch_size", 1, n, " (the number of examples)")
    if not isinstance(drop_remainder, bool):
        raise TypeError(f"drop_remainder must be a bool, got {drop_remainder!r}")
    if key is None:
        order = jnp.arange(n, dtype=jnp.int32)
    else:
        order = jax.random.permutation(check_key(key), n).astype(jnp.int32)
    if drop_remainder:
        nb = n // m
        order = order[: nb * m]
    else:
        nb = -(-n // m)
        order = jnp.concatenate([order, order[: nb * m - n]])
    return order.reshape(nb, m)
