"""Universal approximation experiments (issue 12): the staircase construction,
the derivative clause and the binary worst case, in quick mode."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from experiment_checks import assert_no_unexpected, assert_same_claims_as_full_run
from experiments import uat_boolean, uat_derivatives, universal_approximation


def test_staircase_construction_error_follows_the_midpoint_formula():
    f = lambda x: jnp.sin(2.0 * jnp.pi * x)
    x = jnp.asarray(np.linspace(-1, 1, 4001)[:, None], jnp.float32)
    y = np.sin(2 * np.pi * np.asarray(x, np.float64)[:, 0])
    for h in (64, 128):
        net, p = universal_approximation.staircase(f, h)
        rms = np.sqrt(np.mean((np.asarray(net.apply(p, x), np.float64)[:, 0] - y) ** 2))
        predicted = (2 * np.pi / math.sqrt(2)) * (2.0 / (h + 1)) / math.sqrt(12)
        assert abs(rms / predicted - 1) < 0.05


@pytest.mark.slow  # 10 s on 2 cores
def test_uat_derivatives_quick_run(tmp_path):
    record = uat_derivatives.run(quick=True, seed=0, out_dir=tmp_path)
    assert_no_unexpected(record)
    assert_same_claims_as_full_run("uat_derivatives", record)
    assert (tmp_path / "uat_derivatives.png").stat().st_size > 10_000


@pytest.mark.slow
def test_uat_boolean_quick_run(tmp_path):
    record = uat_boolean.run(quick=True, seed=0, out_dir=tmp_path)
    assert_no_unexpected(record)
    assert_same_claims_as_full_run("uat_boolean", record)
    # the exponential-vs-polynomial comparison needs n up to 9: skipped, with its reason, in quick mode
    skipped = [v for v in record["verdicts"] if v["outcome"] == "skipped"]
    assert len(skipped) == 1 and "full mode only" in skipped[0]["skipped_reason"]


def test_boolean_model_comparison_prefers_the_true_model():
    rng = np.random.default_rng(0)
    ns = np.repeat(np.arange(2.0, 10.0), 6)
    exp_data = 0.8 * ns + 1.0 + 0.1 * rng.normal(size=ns.size)
    poly_data = 2.5 * np.log2(ns) + 1.0 + 0.1 * rng.normal(size=ns.size)
    assert uat_boolean._model_comparison(ns, exp_data, rng, 200)["log_rss_ratio_interval"][0] > 0
    assert uat_boolean._model_comparison(ns, poly_data, rng, 200)["log_rss_ratio_interval"][1] < 0
