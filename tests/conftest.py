"""Shared pytest configuration.

Every test runs with strict dtype promotion and rank promotion set to raise,
so a silent up-cast or an accidental broadcast fails the suite (as equinox's
tests do). ``x64`` is a fixture that enables float64 for one test and restores
the previous flag afterwards; never flip it at module level.
"""

from __future__ import annotations

import os

import jax
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _strict_promotion():
    with jax.numpy_dtype_promotion("strict"), jax.numpy_rank_promotion("raise"):
        yield


@pytest.fixture
def x64():
    """Run the test body with float64 enabled; restore the flag after."""
    with jax.enable_x64(True):
        yield
