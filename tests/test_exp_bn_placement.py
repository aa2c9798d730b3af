"""experiments.bn_placement: the formulas against independent computations, and the post-activation network.

The formulas (the pair identity, the Jacobian gain, E[sigma'(u)] and the saturated fraction for Gaussian u)
are checked against jax.jacobian / Monte Carlo draws where they must hold; the post-activation forward pass
against a direct re-computation; the quick run is in tests/test_experiments_quick.py.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import bn_placement as B
from fnn import norm


def test_pair_normalized_is_fnn_batch_norm_on_two_examples():
    for h, d in ((0.3, 1e-5), (2.0, 1.0), (1e-4, 1e-2)):
        out, _ = norm.batch_norm(jnp.array([[1.0 + h], [1.0 - h]]), jnp.ones(1), jnp.zeros(1),
                                 norm.batch_norm_state(1), train=True, eps=d)
        assert abs(float(out[0, 0]) - B.pair_normalized(h, d)) < 1e-5
        assert abs(float(out[1, 0]) + B.pair_normalized(h, d)) < 1e-5
    # delta -> 0: only the sign survives
    assert abs(B.pair_normalized(-0.5, 1e-12) + 1) < 1e-10


@pytest.mark.parametrize("k", [2, 3, 8])
def test_jacobian_gain_matches_jax_jacobian_and_is_bounded(k):
    rng = np.random.default_rng(k)
    delta = 0.05
    with jax.enable_x64(True):
        for var in (1e-4, 0.05, 3.0):
            a = rng.normal(size=k)
            a = (a - a.mean()) / a.std() * math.sqrt(var)

            def f(col):
                return norm.batch_norm_forward(col[:, None], jnp.ones(1), jnp.zeros(1), norm.batch_norm_state(1),
                                               train=True, eps=delta).out[:, 0]

            J = np.asarray(jax.jacobian(f)(jnp.asarray(a, jnp.float64)))
            g = B.jacobian_gain(var, delta, k)
            assert abs(np.linalg.norm(J, 2) / g - 1) < 1e-8
            assert g <= 1 / math.sqrt(delta) + 1e-12
    with pytest.raises(ValueError, match="k must be"):
        B.jacobian_gain(1.0, 0.1, 1)
    with pytest.raises(ValueError, match="delta"):
        B.jacobian_gain(1.0, 0.0, 2)


@pytest.mark.parametrize("v", [0.05, 1.0, 101.0, 785.0])
def test_mean_sigmoid_deriv_and_saturated_fraction_match_monte_carlo(v):
    n = 400_000
    u = np.random.default_rng(0).normal(0.0, math.sqrt(v), n)
    d = 0.25 / np.cosh(u / 2) ** 2
    se = d.std() / math.sqrt(n)
    assert abs(B.mean_sigmoid_deriv(v) - d.mean()) <= 5 * se
    p = B.saturated_fraction(v)
    assert abs(p - np.mean(d < B.SATURATED)) <= 5 * math.sqrt(max(p * (1 - p), 1e-6) / n)
    with pytest.raises(ValueError, match="v"):
        B.mean_sigmoid_deriv(-1.0)


def test_post_activation_forward_is_gamma_bn_of_sigmoid_and_shares_w_with_pre():
    sizes = (6, 5, 4, 3)
    key = jax.random.key(0)
    pre, _ = B.init_params(sizes, "normal", "pre", key)
    post, state = B.init_params(sizes, "normal", "post", key)
    for l in range(3):
        assert np.array_equal(np.asarray(pre[l]["W"]), np.asarray(post[l]["W"]))
    post = tuple(dict(p, gamma=p["gamma"] * 2.0, beta=p["beta"] + 0.5) if "gamma" in p else p for p in post)
    x = jax.random.normal(jax.random.key(1), (16, 6))
    logits, _, inputs = B.forward(post, state, x, "post", True, 1e-5)
    z = x
    for l in range(2):
        a = z @ post[l]["W"].T + post[l]["b"][None, :]
        assert np.allclose(np.asarray(inputs[l]), np.asarray(a), atol=1e-5)
        s = jax.nn.sigmoid(a)
        z = 2.0 * (s - s.mean(0, keepdims=True)) / jnp.sqrt(s.var(0, keepdims=True) + 1e-5) + 0.5
    assert np.allclose(np.asarray(logits), np.asarray(z @ post[2]["W"].T + post[2]["b"][None, :]), atol=1e-4)
    with pytest.raises(ValueError, match="placement"):
        B.init_params(sizes, "normal", "middle", key)


@pytest.mark.slow  # ~12 s on 2 cores
def test_pre_activation_network_is_fnns():
    with jax.enable_x64(True):
        assert B._check_against_fnn(jax.random.key(3)) <= 1e-9


def test_init_factor_error_is_the_worst_layer_of_the_seed_mean():
    measured = np.array([[0.20, 0.04, 0.05], [0.22, 0.04, 0.03]])
    assert B.init_factor_error(measured, [0.2, 0.05, 0.04]) == pytest.approx(0.2)
    assert B.init_factor_error(measured, [0.21, 0.04, 0.04]) == pytest.approx(0.0)


def test_full_mode_decides_every_claim_by_its_registered_rule():
    from experiments import _registry

    rng = np.random.default_rng(0)
    sat = {}
    for name, pred in (("normal/pre", 0.2066), ("normal/post", 0.0391), ("xavier/pre", 0.2066),
                       ("xavier/post", 0.232)):
        sat[name] = {"measured": pred * (1 + rng.normal(0, 0.005, (5, 3))), "predicted": [pred] * 3,
                     "variance": [1.0] * 3}
    out = {"identities": {"pair_max_abs_error": 1e-15, "gain_max_rel_error": 1e-12, "gain_max": 9.9995,
                          "gain_bound": 10.0},
           "fnn_check_max_difference": 1e-16,
           "delta_training": {"K=2, delta=1e-05": {"heldout_accuracy": rng.normal(0.60, 0.01, 5), "rate": 0.01},
                              "K=2, delta=1": {"heldout_accuracy": rng.normal(0.74, 0.01, 5), "rate": 0.3}},
           "init_sigmoid_inputs": sat,
           "placement_training": {"normal/pre": {"final_cost": rng.normal(0.45, 0.01, 5), "rate": 1.0},
                                  "normal/post": {"final_cost": rng.normal(0.77, 0.01, 5), "rate": 0.1}}}
    vs = B.decide_all(out, quick=False)
    _registry.check_complete("bn_placement", vs)
    assert all(v["outcome"] == "as expected" for v in vs), [(v["id"], v["outcome"]) for v in vs]
    out["init_sigmoid_inputs"]["normal/post"]["predicted"] = [0.2066] * 3  # the pre-activation value: refuted
    vs = B.decide_all(out, quick=False)
    assert next(v for v in vs if v["id"] == "bn_placement/sigma-deriv-normal-post")["outcome"] == "unexpected"
