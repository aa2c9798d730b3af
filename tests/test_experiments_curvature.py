"""Helpers of the curvature experiments (edge_of_stability, hessian_spectrum) on made-up inputs.

Their quick runs, against the recorded outcomes of their registered claims, are in
tests/test_experiments_quick.py.
"""

from __future__ import annotations

import numpy as np
import pytest


def test_edge_of_stability_phase_analysis_on_a_synthetic_trace():
    # A made-up sharpness trace: rises 10 -> 21 over 5 measurements, then hovers at 2/eta = 20 +- 1.
    from experiments.edge_of_stability import _phase

    lam = np.array([10, 12, 15, 18, 21, 19, 21, 20, 19, 21.0])
    cost = np.concatenate([np.linspace(1.0, 0.5, 50), 0.5 - 0.01 * np.arange(50) + 0.02 * (np.arange(50) % 2)])
    ph = _phase(lam, cost, thr=20.0, every=10, ll=False)
    assert ph["reached"] and ph["t_reach"] == 40  # first measurement >= 0.95 * 20 = 19 is index 4
    assert ph["pre_rise"] == pytest.approx(21 / 10)
    assert ph["mean_ratio"] == pytest.approx(np.mean(lam[4:]) / 20)
    assert ph["in_band"] == 1.0 and ph["above_frac"] == pytest.approx(3 / 6)
    assert ph["pre_increase_frac"] == 0.0 and ph["post_increase_frac"] > 0.3
    assert ph["cost_drop"] < 1


def test_outlier_count_is_the_position_of_the_largest_relative_gap():
    from experiments.hessian_spectrum import largest_gap_count

    lam = np.concatenate([np.geomspace(50, 20, 10), np.geomspace(4, 1, 20)])
    assert largest_gap_count(lam) == 10
    assert largest_gap_count(np.array([10.0, 1.0, 0.9, -0.5])) == 1
