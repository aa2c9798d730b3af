"""The analysis of experiments/edge_of_stability on made-up sharpness and cost traces (no training, < 1 s).

The quick run of the whole experiment lives in tests/test_experiments_curvature.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from experiments.edge_of_stability import REACH, _phase, _verdicts


def _trace(thr: float, level: float, n: int = 12, every: int = 10):
    """Sharpness rising 0.3 thr -> level over 4 measurements, then flat; cost falling, with a rise every 2nd step after."""
    lam = np.concatenate([np.linspace(0.3 * thr, 0.9 * thr, 3), np.full(n - 3, level)])
    steps = (n - 1) * every + 1
    cost = np.linspace(1.0, 0.5, steps)
    cost[3 * every:] += 0.02 * (np.arange(steps - 3 * every) % 2)
    return lam, cost


def test_the_stable_phase_stops_one_interval_before_the_first_measurement_at_the_edge():
    # reached at index 3 (step 30): the crossing lies in (20, 30], so only steps 0..20 are certainly stable.
    lam, cost = _trace(thr=10.0, level=10.5)
    cost[21:30] += 0.05 * (np.arange(9) % 2)  # rises inside the crossing interval must not count as "stable"
    ph = _phase(lam, cost, thr=10.0, every=10, ll=False)
    assert ph["t_reach"] == 30 and ph["pre_steps"] == 20
    assert ph["pre_increase_frac"] == 0.0
    assert ph["post_increase_frac"] == pytest.approx(0.5, abs=0.02)
    assert ph["mean_ratio"] == pytest.approx(1.05) and ph["level"] == pytest.approx(10.5)


def test_reaching_at_the_first_measurement_leaves_no_stable_phase():
    lam = np.array([1.0, 11.0, 10.0, 10.2])
    ph = _phase(lam, np.linspace(1, 0.5, 31), thr=10.0, every=10, ll=False)
    assert ph["pre_steps"] == 0 and np.isnan(ph["pre_increase_frac"])


def test_round_off_sized_rises_are_not_counted():
    lam = np.array([1.0, 2.0, 3.0, 10.0, 10.0])
    cost = np.linspace(1, 0.5, 41)
    cost[1::2] *= 1 + 1e-8
    assert _phase(lam, cost, thr=10.0, every=10, ll=False)["pre_increase_frac"] == 0.0


def test_log_likelihood_window_ends_at_low_cost_and_the_late_ratio_averages_the_last_measurements():
    lam = np.array([1.0, 6.0, 6.0, 6.0, 6.0, 5.0, 4.0, 3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 4.0])
    every = 10
    cost = np.geomspace(2.0, 1e-3, (lam.size - 1) * every + 1)
    ph = _phase(lam, cost, thr=5.0, every=every, ll=True)
    # C(t_reach = 10) / 10 is crossed between measurements 5 and 6 -> window = measurements 1..5
    cut = np.flatnonzero(cost[np.arange(1, lam.size) * every] <= 0.1 * cost[every])[0] + 1
    assert ph["mean_ratio"] == pytest.approx(np.mean(lam[1:cut]) / 5.0)
    assert ph["low_cost_reached"] and ph["late_after_low"]
    assert ph["late_ratio"] == pytest.approx(np.mean(lam[-3:]) / 5.0)  # 10% of 20 -> at least 3


@pytest.mark.parametrize("bad", [dict(thr=0.0), dict(every=0), dict(lam=np.ones(1))])
def test_phase_rejects_bad_arguments(bad):
    args = dict(lam=np.ones(4), cost=np.ones(31), thr=1.0, every=10, ll=False) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        _phase(**args)


def _phases(levels: tuple[float, float], etas, seeds: int = 5):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(seeds):
        row = []
        for lev, eta in zip(levels, etas):
            lam, cost = _trace(thr=2 / eta, level=lev * (1 + 0.01 * rng.standard_normal()))
            row.append(_phase(lam, cost, 2 / eta, 10, False))
        out.append(row)
    return out


def _by(verdicts, name):
    return next(v for v in verdicts if v["id"] == f"edge_of_stability/{name}-tanh-quadratic")


def _pinned(verdicts):
    return _by(verdicts, "pinned-by-eta")


def test_the_pinned_by_eta_verdict_separates_a_level_at_2_over_eta_from_continued_sharpening():
    factors, lam0 = (1.25, 1.6), np.full(5, 10.0)
    etas = [2 / (c * 10.0) for c in factors]
    pinned = _verdicts("tanh-quadratic", _phases((1.05 * 2 / etas[0], 1.05 * 2 / etas[1]), etas), lam0, 10, False)
    v = _pinned(pinned)
    assert v["outcome"] == "as expected" and v["measured"] == pytest.approx(1.28, rel=0.02)
    assert v["excludes_point"] is not None  # the registered point 1.28 is compared with the interval
    # a level that ignores eta (both rates at 1.3 x the larger 2/eta) is what sharpening that goes on would give
    same = 1.3 * 2 / etas[1]
    v = _pinned(_verdicts("tanh-quadratic", _phases((same, same), etas), lam0, 10, False))
    assert v["outcome"] == "unexpected" and v["measured"] == pytest.approx(1.0, rel=0.02)
    at = _by(pinned, "hovers-at-2-over-eta")
    assert at["outcome"] == "as expected" and at["interval"][0] >= REACH


def test_a_level_below_2_over_eta_fails_the_at_or_above_verdict():
    factors, lam0 = (1.25, 1.6), np.full(5, 10.0)
    etas = [2 / (c * 10.0) for c in factors]
    # reached (>= 0.95 thr) but then settles at 0.9 thr
    ph = _phases((0.9 * 2 / etas[0], 0.9 * 2 / etas[1]), etas)
    for row in ph:
        for p in row:
            assert p["reached"] is False  # 0.9 < REACH: never counted as reached
    lam, cost = _trace(thr=10.0, level=0.93 * 10.0)
    lam[3] = 0.96 * 10.0
    p = _phase(lam, cost, 10.0, 10, False)
    v = _verdicts("tanh-quadratic", [[p, p]] * 5, lam0, 10, False)
    at = _by(v, "hovers-at-2-over-eta")
    assert at["outcome"] == "unexpected"


def test_a_level_that_keeps_rising_past_2_over_eta_fails_the_hover_band():
    factors, lam0 = (1.25, 1.6), np.full(5, 10.0)
    etas = [2 / (c * 10.0) for c in factors]
    v = _verdicts("tanh-quadratic", _phases((1.4 * 2 / etas[0], 1.4 * 2 / etas[1]), etas), lam0, 10, False)
    assert _by(v, "hovers-at-2-over-eta")["outcome"] == "unexpected"
    assert _by(v, "above-2-over-eta")["outcome"] == "unexpected"  # every measurement above 2/eta


def test_every_decided_claim_of_a_configuration_is_registered_and_seed_counts_come_from_the_registry():
    from experiments import _registry

    factors, lam0 = (1.25, 1.6), np.full(5, 10.0)
    etas = [2 / (c * 10.0) for c in factors]
    v = _verdicts("tanh-quadratic", _phases((1.05 * 2 / etas[0], 1.05 * 2 / etas[1]), etas), lam0, 10, False)
    ids = {x["id"] for x in v}
    registered = {c for c in _registry.claims("edge_of_stability") if c.endswith("-tanh-quadratic")}
    assert ids == registered - {"edge_of_stability/tracker-tanh-quadratic"}
    with pytest.raises(ValueError, match="registers 5 seeds"):
        _verdicts("tanh-quadratic", _phases((10.5, 13.4), etas, seeds=4), np.full(4, 10.0), 10, False)
