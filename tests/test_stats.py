"""Student-t quantiles and intervals (fnn.stats) against tabulated values."""

from __future__ import annotations

import numpy as np
import pytest

from fnn.stats import t_interval, t_quantile


@pytest.mark.parametrize(
    "df, q",  # t_{0.975, df} from standard tables (4 decimals)
    [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (29, 2.0452), (120, 1.9799)],
)
def test_t_quantile_matches_the_tables(df, q):
    assert t_quantile(0.975, df) == pytest.approx(q, abs=1e-4)


def test_t_quantile_tends_to_the_normal_quantile():
    assert t_quantile(0.975, 100_000) == pytest.approx(1.959964, abs=1e-4)
    assert t_quantile(0.95, 3) == pytest.approx(2.3534, abs=1e-4)


def test_t_interval_covers_the_mean_at_about_its_level():
    rng = np.random.default_rng(0)
    samples = rng.normal(1.0, 2.0, size=(4000, 5))
    hits = 0
    for s in samples:
        _, lo, hi = t_interval(s)
        hits += lo <= 1.0 <= hi
    assert abs(hits / 4000 - 0.95) < 0.012  # 3.5 binomial standard errors


@pytest.mark.parametrize("bad, match", [([1.0], "at least 2"), ([1.0, np.nan], "finite")])
def test_t_interval_rejects_bad_samples(bad, match):
    with pytest.raises(ValueError, match=match):
        t_interval(bad)


def test_wilson_and_clopper_pearson_match_published_values():
    # Clopper-Pearson 0/10 -> [0, 0.3085], 5/10 -> [0.1871, 0.8129]; Wilson 5/10 -> [0.2366, 0.7634]
    from fnn import stats

    assert stats.clopper_pearson_interval(0, 10)[1:] == pytest.approx((0.0, 0.30850), abs=1e-5)
    assert stats.clopper_pearson_interval(5, 10)[1:] == pytest.approx((0.18709, 0.81291), abs=1e-5)
    assert stats.wilson_interval(5, 10)[1:] == pytest.approx((0.23659, 0.76341), abs=1e-5)
    p, lo, hi = stats.wilson_interval(10, 10)
    assert p == 1.0 and hi == 1.0 and lo < 1.0  # not degenerate at k = n


def test_clopper_pearson_covers_at_least_its_level():
    from fnn import stats

    rng = np.random.default_rng(0)
    for p_true in (0.05, 0.5, 0.9):
        ks = rng.binomial(20, p_true, size=400)
        cover = np.mean([lo <= p_true <= hi for _, lo, hi in (stats.clopper_pearson_interval(int(k), 20) for k in ks)])
        assert cover >= 0.93, (p_true, cover)


def test_interval_functions_refuse_bad_input_instead_of_falling_back():
    from fnn import stats

    with pytest.raises(ValueError, match="k must be"):
        stats.wilson_interval(11, 10)
    with pytest.raises(ValueError, match="n must be"):
        stats.clopper_pearson_interval(0, 0)
    with pytest.raises(ValueError, match="at least 2"):
        stats.bootstrap_interval([1.0])
    assert stats.bootstrap_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)  # no spread: zero width, said so
    a = stats.bootstrap_interval([1.0, 2.0, 4.0, 8.0], seed=3)
    assert a == stats.bootstrap_interval([1.0, 2.0, 4.0, 8.0], seed=3) and a[1] < a[0] < a[2]
