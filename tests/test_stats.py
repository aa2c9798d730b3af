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
