"""Argument checks shared by the modules that take counts (data, train, analysis)."""

from __future__ import annotations

from typing import Any

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
