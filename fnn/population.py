"""Deprecated alias of :mod:`fnn.train` (populations of runs), kept for one release.

Import these names from :mod:`fnn.train`: ``fit_population``,
``init_population``, ``member``, ``stack_members``, ``population_size``,
``evaluate_members``.
"""

from __future__ import annotations

from fnn.train import (  # noqa: F401  (TrainState: the states these functions take)
    TrainState, evaluate_members, fit_population, init_population, member, population_size, stack_members,
)

__all__ = ["fit_population", "init_population", "member", "stack_members", "population_size", "evaluate_members"]
