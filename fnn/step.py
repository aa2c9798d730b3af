"""Deprecated alias of :mod:`fnn.train` (the step and the epoch), kept for one release.

Import these names from :mod:`fnn.train`: ``TrainState``, ``Metrics``,
``init_state``, ``make_step``, ``make_epoch``, ``GRAD_METHODS``, ``PRECISIONS``.
"""

from __future__ import annotations

from fnn.train import GRAD_METHODS, PRECISIONS, Metrics, TrainState, init_state, make_epoch, make_step

__all__ = ["TrainState", "Metrics", "init_state", "make_step", "make_epoch", "GRAD_METHODS", "PRECISIONS"]
