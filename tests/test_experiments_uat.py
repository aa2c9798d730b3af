"""Universal approximation experiments: the helpers behind the staircase
construction and the binary worst case's model comparison (the quick runs are
in tests/test_experiments_quick.py)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

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


def test_boolean_model_comparison_prefers_the_true_model():
    rng = np.random.default_rng(0)
    ns = np.repeat(np.arange(2.0, 10.0), 6)
    exp_data = 0.8 * ns + 1.0 + 0.1 * rng.normal(size=ns.size)
    poly_data = 2.5 * np.log2(ns) + 1.0 + 0.1 * rng.normal(size=ns.size)
    assert uat_boolean._model_comparison(ns, exp_data, rng, 200)["log_rss_ratio_interval"][0] > 0
    assert uat_boolean._model_comparison(ns, poly_data, rng, 200)["log_rss_ratio_interval"][1] < 0


def test_derivative_clause_closed_form_derivatives_match_autodiff():
    import jax

    x = np.linspace(-1, 1, 101)
    fp = uat_derivatives.fprime(x)
    for t in range(2):
        f = lambda z, t=t: universal_approximation._targets(z[None, None])[t, 0, 0]
        auto = np.asarray(jax.vmap(jax.grad(f))(jnp.asarray(x, jnp.float32)), np.float64)
        assert np.max(np.abs(auto - fp[t])) <= 1e-3 * np.max(np.abs(fp[t]))
