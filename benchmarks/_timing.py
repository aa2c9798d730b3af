"""Timing helpers shared by the benchmarks (not part of the library)."""

from __future__ import annotations

import time
from typing import Any, Callable

import jax


def block(tree: Any) -> Any:
    return jax.block_until_ready(tree)


def median_time(fn: Callable[[], Any], repeats: int = 7, min_time: float = 0.05) -> float:
    """Median wall time of one call of ``fn`` (already compiled), in seconds.

    Each sample runs ``fn`` enough times to last ``min_time``, so short calls are
    not dominated by timer resolution.
    """
    block(fn())
    t0 = time.perf_counter()
    block(fn())
    once = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(min_time / once))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            out = fn()
        block(out)
        samples.append((time.perf_counter() - t0) / inner)
    samples.sort()
    return samples[len(samples) // 2]


def interleaved(fns: dict[str, Callable[[], Any]], rounds: int = 5, repeats: int = 3) -> dict[str, float]:
    """Median times of several functions measured in alternation (fair on a noisy machine)."""
    results: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            results[k].append(median_time(fn, repeats=repeats))
    return {k: sorted(v)[len(v) // 2] for k, v in results.items()}
