"""Intervals over seeds: the Student-t interval of a mean, intervals for a
proportion (Wilson, Clopper-Pearson) and the percentile bootstrap.

A population of ``n`` runs that differ only in their seed gives ``n``
independent samples ``x_1..x_n`` of a measurement; the 95% interval of its
mean is

    mean +- t_{0.975, n-1} * s / sqrt(n),   s^2 = (1/(n-1)) sum_i (x_i - mean)^2,

with the quantile of Student's t computed here exactly (its CDF is a finite
series for integer degrees of freedom), so fnn needs no scipy. A mean of a
bounded fraction or of a small count is not what the t-interval is for: a
proportion ``k / n`` gets :func:`wilson_interval` or the exact
:func:`clopper_pearson_interval`, and a statistic of a few samples whose
distribution is far from normal gets :func:`bootstrap_interval`. None of them
falls back silently: degenerate input raises. Used by ``fnn sweep`` and by the
experiments.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["t_cdf_two_sided", "t_quantile", "t_interval", "wilson_interval", "clopper_pearson_interval",
           "bootstrap_interval"]


def t_cdf_two_sided(t: float, df: int) -> float:
    """``A(t | df) = P(|T| <= t)`` for Student's t with integer ``df`` (exact finite
    series, Abramowitz and Stegun 26.7.3-4): with ``theta = atan(t / sqrt(df))``,
    even df: ``sin(theta) * sum_{k=0}^{df/2-1} c_k cos^{2k}(theta)``, ``c_k = prod (2i-1)/(2i)``;
    odd df: ``(2/pi) [theta + sin(theta) sum_{k=0}^{(df-3)/2} d_k cos^{2k+1}(theta)]``,
    ``d_k = prod (2i)/(2i+1)``."""
    if isinstance(df, bool) or int(df) != df or df < 1:
        raise ValueError(f"t_cdf_two_sided: df must be a positive integer, got {df!r}")
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"t_cdf_two_sided: t must be a finite number >= 0, got {t!r}")
    df = int(df)
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, df // 2):
            term *= c * c * (2 * i - 1) / (2 * i)
            total += term
        return s * total
    if df == 1:
        return 2.0 * theta / math.pi
    term, total = c, c
    for i in range(1, (df - 1) // 2):
        term *= c * c * (2 * i) / (2 * i + 1)
        total += term
    return 2.0 / math.pi * (theta + s * total)


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (``p > 1/2``) of Student's t with ``df`` degrees of freedom,
    by bisection on the exact CDF :func:`t_cdf_two_sided` (no scipy)."""
    if not 0.5 < p < 1.0:
        raise ValueError(f"t_quantile: p must lie in (0.5, 1), got {p!r}")
    if isinstance(df, bool) or int(df) != df or df < 1:
        raise ValueError(f"t_quantile: df must be a positive integer, got {df!r}")
    target = 2.0 * p - 1.0  # P(|T| <= t)
    lo, hi = 0.0, 1.0
    while t_cdf_two_sided(hi, int(df)) < target:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf_two_sided(mid, int(df)) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def _samples(samples: Any, level: float, name: str) -> np.ndarray:
    """``samples`` as a flat float64 array of at least 2 finite values, with ``level`` in (0, 1)."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size < 2:
        raise ValueError(f"{name}: samples needs at least 2 values, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: samples must be finite, got {x.tolist()}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"{name}: level must lie in (0, 1), got {level!r}")
    return x


def t_interval(samples: Any, level: float = 0.95) -> tuple[float, float, float]:
    """Student-t interval of the mean: ``(mean, lo, hi)``.

    ``mean +- t_{(1+level)/2, n-1} * s / sqrt(n)`` with ``s`` the sample standard
    deviation (``ddof=1``) of the ``n >= 2`` finite samples.
    """
    x = _samples(samples, level, "t_interval")
    n = x.size
    mean = float(x.mean())
    half = t_quantile(0.5 + level / 2.0, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def _check_count(k: Any, n: Any, level: float, name: str) -> tuple[int, int]:
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"{name}: n must be a positive integer, got {n!r}")
    if isinstance(k, bool) or int(k) != k or not 0 <= k <= n:
        raise ValueError(f"{name}: k must be an integer in [0, n={int(n)}], got {k!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"{name}: level must lie in (0, 1), got {level!r}")
    return int(k), int(n)


def _normal_quantile(p: float) -> float:
    """The ``p`` quantile of N(0, 1) by bisection on ``Phi(z) = (1 + erf(z / sqrt 2)) / 2``."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """Wilson score interval of a proportion: ``(k/n, lo, hi)``.

    With ``p = k/n`` and ``z`` the ``(1+level)/2`` normal quantile,
    ``(p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``; it stays
    inside [0, 1] and is not degenerate at ``k = 0`` or ``k = n``.
    """
    k, n = _check_count(k, n, level, "wilson_interval")
    z = _normal_quantile(0.5 + level / 2.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _binom_cdf(k: int, n: int, p: float) -> float:
    """``P(X <= k)`` for ``X ~ Binomial(n, p)``, summed exactly term by term."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1)))


def clopper_pearson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """Exact (Clopper-Pearson) interval of a proportion: ``(k/n, lo, hi)``.

    ``lo`` solves ``P(X >= k | lo) = (1-level)/2`` and ``hi`` solves
    ``P(X <= k | hi) = (1-level)/2`` for ``X ~ Binomial(n, p)`` (``lo = 0`` at
    ``k = 0``, ``hi = 1`` at ``k = n``); found by bisection on the exact
    binomial CDF. Its coverage is at least ``level`` for every ``p``.
    """
    k, n = _check_count(k, n, level, "clopper_pearson_interval")
    alpha = (1.0 - level) / 2.0

    def solve(f, target):  # f increasing in p
        lo, hi = 0.0, 1.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if f(mid) < target:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    lower = 0.0 if k == 0 else solve(lambda p: 1.0 - _binom_cdf(k - 1, n, p), alpha)
    upper = 1.0 if k == n else solve(lambda p: 1.0 - _binom_cdf(k, n, p), 1.0 - alpha)
    return k / n, lower, upper


def bootstrap_interval(
    samples: Any,
    statistic: Any = np.mean,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Percentile bootstrap interval of ``statistic(samples)``: ``(value, lo, hi)``.

    ``resamples`` draws of ``n`` samples with replacement (numpy's generator
    seeded with ``seed``, so the interval is reproducible); ``lo`` and ``hi``
    are the ``(1-level)/2`` and ``(1+level)/2`` quantiles of the statistic over
    the draws. Needs at least 2 finite samples; identical samples give the
    zero-width interval (the data have no spread), never a substitute.
    """
    x = _samples(samples, level, "bootstrap_interval")
    if isinstance(resamples, bool) or int(resamples) != resamples or resamples < 100:
        raise ValueError(f"bootstrap_interval: resamples must be an integer >= 100, got {resamples!r}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(int(resamples), x.size))
    stats = np.array([float(statistic(x[i])) for i in idx])
    lo, hi = np.quantile(stats, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(statistic(x)), float(lo), float(hi)
