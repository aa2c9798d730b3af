"""Argument checks shared by several modules: counts (check_int) and random keys (check_key)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def check_int(value: Any, name: str, low: int = 1, high: int | None = None, what: str = "") -> int:
    """``value`` as an ``int`` in ``[low, high]`` (``high=None``: no upper bound).

    Raises ``TypeError`` for a non-integer (``bool`` included) and ``ValueError``
    for one out of range; both messages name the argument, the expected range
    (``what`` says what the upper bound is) and the given value.
    """
    expected = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]{what}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {expected}, got {value}")
    return int(value)


def check_key(key: Any, name: str = "key") -> Any:
    """``key`` if it is a ``jax.random`` key: a new-style scalar key or a raw ``uint32`` ``(2,)``-like array.

    Raises ``TypeError`` naming the argument, what was expected and the given
    dtype and shape.
    """
    if isinstance(key, jax.Array):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.ndim == 0:
            return key
        if key.dtype == jnp.uint32 and key.ndim == 1:
            return key
    raise TypeError(
        f"{name} must be a jax.random key (e.g. jax.random.key(0)), got "
        f"{getattr(key, 'dtype', type(key).__name__)} of shape {getattr(key, 'shape', ())}"
    )
