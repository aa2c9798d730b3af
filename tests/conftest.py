"""Shared pytest configuration.

Every test runs with strict dtype promotion and rank promotion set to raise,
so a silent up-cast or an accidental broadcast fails the suite (as equinox's
tests do). ``x64`` is a fixture that enables float64 for one test and restores
the previous flag afterwards; never flip it at module level.

The suite compiles cheaply: most of its time is XLA compiling many small
programs, and the tests check values, not speed. Only the LLVM backend's
optimization is lowered (XLA's HLO passes still run, and without fast-math
LLVM does not reassociate floating point), and the default suite passes with
and without it (both run; CI runs the slow set with full optimization). ``FNN_TEST_FULL_OPT=1`` compiles as users do; the README blocks
(``tests/test_readme.py``) always do, and the benchmarks never use this file.
"""

from __future__ import annotations

import os

CHEAP_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
if os.environ.get("FNN_TEST_FULL_OPT") != "1":  # before jax starts a backend; subprocesses inherit it
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + CHEAP_COMPILE).strip()

import jax  # noqa: E402
import pytest  # noqa: E402

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
