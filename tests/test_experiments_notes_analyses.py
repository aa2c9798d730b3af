"""The analysis helpers of the generalization, why_sgd and sigma_shape experiments, each against an
independent computation (their quick runs are in test_experiments_quick.py)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import generalization, sigma_shape, why_sgd
from fnn import activations, backprop, nn


def test_generalization_slopes_equal_polyfit_per_seed():
    rng = np.random.default_rng(0)
    x, ys = rng.normal(size=6), rng.normal(size=(6, 4))
    want = [np.polyfit(x, ys[:, j], 1)[0] for j in range(4)]
    np.testing.assert_allclose(generalization._slopes(x, ys), want, rtol=1e-10)


def test_generalization_gap_exponent_of_a_power_law_and_the_floor():
    sz = generalization.sizes(False)
    ns, widths = np.asarray(sz["ns"], float), sz["widths"]
    gap = np.empty((len(widths), len(ns), 3))
    for i, w in enumerate(widths):  # gap = 0.01 log2(w) n^-1/2 * const: width slope 0.01 * const per doubling
        gap[i] = (0.5 + 0.01 * np.log2(w)) * np.sqrt(500 / ns)[:, None]
    out = {"sizes": sz, "mnist": {"gap": gap}}
    a = generalization.analyse(out)
    np.testing.assert_allclose(a["gap_n_slope"], -0.5, atol=1e-3)  # 0.5 * sqrt(500/20000) > the floor
    np.testing.assert_allclose(a["width_slope"][0], 0.01, rtol=1e-9)
    np.testing.assert_allclose(a["width_slope_drop"], 0.01 * (1 - np.sqrt(500 / 20_000)), rtol=1e-9)
    iw = widths.index(sz["w_n"])
    gap[iw, 3:] = -0.01  # non-positive gaps sit on the floor of 0.001
    want = np.polyfit(np.log(ns), np.log(np.maximum(gap[iw, :, 0], 1e-3)), 1)[0]
    np.testing.assert_allclose(generalization.analyse(out)["gap_n_slope"], want, rtol=1e-9)


def test_why_sgd_best_rate_leaves_out_a_rate_with_a_diverged_member():
    costs = np.array([[0.5, 0.5], [0.1, np.nan], [0.2, 0.3]])  # (rates, seeds)
    assert why_sgd._best(costs) == 2


def _fake_runs(T=10, e=2, k=3, nb=4, reach=(7, None)):
    """GD curves reaching SGD's one-epoch cost 0.5 after ``reach`` updates (None: never)."""
    gd = np.ones((1, len(reach), T + 1))
    for s, r in enumerate(reach):
        if r is not None:
            gd[0, s, r:] = 0.4
    ups = np.arange(1, e * nb + 1)
    sgd = np.full((1, len(reach), ups.size), 0.5)
    g = {"gd_cost": gd, "sgd_cost": sgd, "sgd_updates": ups, "updates_per_epoch": nb,
         "gd_test_accuracy": np.full((1, len(reach)), 0.5), "sgd_test_accuracy": np.full((1, len(reach)), 0.9)}
    return {"sizes": {"epochs": e, "k": k, "gd_updates": T, "rates": (1.0,), "n": 40, "m": 10}, "mnist": g}


def test_why_sgd_compute_ratio_counts_updates_and_censors_at_T():
    a = why_sgd.analyse(_fake_runs())
    np.testing.assert_allclose(a["compute_log10_ratio"], [np.log10(7), np.log10(10)])
    assert list(a["gd_reached"]) == [True, False]
    np.testing.assert_allclose(a["per_epoch_log_ratio"], np.log(1.0) - np.log(0.5))
    np.testing.assert_allclose(a["per_epoch_test_diff"], 0.4, rtol=1e-6)


def test_why_sgd_with_one_batch_per_epoch_is_gd():
    """SGD with m = n takes the full gradient each update (in any order): the two scans agree."""
    n, sz = 40, {"n": 40, "epochs": 3, "rates": (0.5, 2.0)}
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.uniform(size=(n, 784)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, size=n), jnp.int32)
    params, rates, perms = why_sgd._members(sz, jax.random.split(jax.random.key(0), 2))
    p_gd, before = why_sgd._gd(params, rates, x, y, steps=3)
    p_sgd, costs = why_sgd._sgd(params, rates, perms, x, y, jnp.asarray([True, False, True]), m=n)
    for a, b in zip(jax.tree_util.tree_leaves(p_gd), jax.tree_util.tree_leaves(p_sgd)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(costs[:, 0], before[:, 1], rtol=1e-5)  # the cost after update 1
    assert np.all(np.isnan(np.asarray(costs[:, 1])))  # not recorded


def test_softsign_and_the_surrogate_step_have_the_stated_derivatives():
    a = jnp.linspace(-5.0, 5.0, 101)
    np.testing.assert_allclose(sigma_shape.SOFTSIGN(a), a / (1 + jnp.abs(a)), rtol=1e-6)
    np.testing.assert_allclose(sigma_shape.SOFTSIGN.deriv(a), jax.vmap(jax.grad(sigma_shape._softsign))(a),
                               rtol=1e-6)
    np.testing.assert_array_equal(sigma_shape.STEP_SURROGATE(a), activations.step(a))
    np.testing.assert_allclose(sigma_shape.STEP_SURROGATE.deriv(a), activations.sigmoid.deriv(a), rtol=1e-6)


@pytest.mark.parametrize("name, moves", [("step", False), ("step_surrogate", True), ("softsign", True)])
def test_backprop_gives_the_step_s_hidden_layer_no_gradient_and_the_others_one(name, moves):
    net = nn.MLP((6, 5, 3), hidden=sigma_shape.HIDDEN[name], output="softmax")
    params = net.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (8, 6))
    _, g = backprop.value_and_grad(net, "log_likelihood", params, x, jnp.arange(8) % 3)
    hidden = float(jnp.max(jnp.abs(g[0]["W"])))
    assert (hidden > 0) == moves and float(jnp.max(jnp.abs(g[1]["W"]))) > 0
