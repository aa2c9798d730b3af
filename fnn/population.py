"""Deprecated alias of :mod:`fnn.train` (populations of runs), kept for one release.

Import these names from :mod:`fnn.train`: ``fit_population``,
``init_population``, ``member``, ``stack_members``, ``population_size``,
``evaluate_members``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fnn.train import (
    TrainState, evaluate_members, fit_population, init_population, member, population_size, stack_members,
)

__all__ = ["fit_population", "init_population", "member", "stack_members", "population_size", "evaluate_members"]


def _evaluate_population(net: Any, cost: Any, states: TrainState, x: Any, y: Any,
                         batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Deprecated: :func:`fnn.train.evaluate_members` (kept while ``fnn sweep`` still calls it)."""
    return evaluate_members(net, states, x, y, cost, batch_size)
