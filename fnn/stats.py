"""Intervals over seeds: the Student-t confidence interval of a mean.

A population of ``n`` runs that differ only in their seed gives ``n``
independent samples ``x_1..x_n`` of a measurement; the 95% interval of its
mean is

    mean +- t_{0.975, n-1} * s / sqrt(n),   s^2 = (1/(n-1)) sum_i (x_i - mean)^2,

with the quantile of Student's t computed here exactly (its CDF is a finite
series for integer degrees of freedom), so fnn needs no scipy. Used by
``fnn sweep`` and by the experiments.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["t_quantile", "t_interval"]


def _t_cdf_two_sided(t: float, df: int) -> float:
    """``A(t | df) = P(|T| <= t)`` for Student's t with integer ``df`` (exact finite
    series, Abramowitz and Stegun 26.7.3-4): with ``theta = atan(t / sqrt(df))``,
    even df: ``sin(theta) * sum_{k=0}^{df/2-1} c_k cos^{2k}(theta)``, ``c_k = prod (2i-1)/(2i)``;
    odd df: ``(2/pi) [theta + sin(theta) sum_{k=0}^{(df-3)/2} d_k cos^{2k+1}(theta)]``,
    ``d_k = prod (2i)/(2i+1)``."""
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
    by bisection on the exact CDF :func:`_t_cdf_two_sided` (no scipy)."""
    if not 0.5 < p < 1.0:
        raise ValueError(f"t_quantile: p must lie in (0.5, 1), got {p!r}")
    if isinstance(df, bool) or int(df) != df or df < 1:
        raise ValueError(f"t_quantile: df must be a positive integer, got {df!r}")
    target = 2.0 * p - 1.0  # P(|T| <= t)
    lo, hi = 0.0, 1.0
    while _t_cdf_two_sided(hi, int(df)) < target:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _t_cdf_two_sided(mid, int(df)) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def t_interval(samples: Any, level: float = 0.95) -> tuple[float, float, float]:
    """Student-t interval of the mean: ``(mean, lo, hi)``.

    ``mean +- t_{(1+level)/2, n-1} * s / sqrt(n)`` with ``s`` the sample standard
    deviation (``ddof=1``) of the ``n >= 2`` finite samples.
    """
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size < 2:
        raise ValueError(f"t_interval: samples needs at least 2 values, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"t_interval: samples must be finite, got {x.tolist()}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"t_interval: level must lie in (0, 1), got {level!r}")
    n = x.size
    mean = float(x.mean())
    half = t_quantile(0.5 + level / 2.0, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half
