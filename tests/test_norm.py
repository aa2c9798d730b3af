"""Normalization (notes, "Normalization"): standardization, batch norm, layer norm, in and out of the MLP."""

import functools
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.flatten_util import ravel_pytree

from fnn import backprop, norm
from fnn.nn import MLP

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _perturbed(params, key, scale=0.3):
    """Parameters moved away from init (gamma != 1, beta != 0), so every gradient term matters."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        tree, [p + scale * jax.random.normal(k, p.shape, p.dtype) for p, k in zip(leaves, keys)]
    )


# --- data standardization ----------------------------------------------------------


def test_standardize_gives_each_feature_mean_zero_and_std_one():
    x = jnp.array([1.0, -3.0, 200.0])[None, :] + jnp.array([0.5, 2.0, 90.0])[None, :] * jax.random.normal(
        jax.random.key(0), (500, 3)
    )
    stats = norm.standardize.fit(x)
    z = norm.standardize.apply(stats, x)
    np.testing.assert_allclose(jnp.mean(z, axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(jnp.std(z, axis=0), 1.0, rtol=1e-5)
    np.testing.assert_allclose(stats.mean, jnp.mean(x, axis=0), rtol=1e-6)
    # a single example is standardized with the same statistics as the batch
    np.testing.assert_allclose(norm.standardize.apply(stats, x[3]), z[3], rtol=1e-6)


def test_standardize_leaves_already_standard_data_unchanged():
    x = 5.0 + 3.0 * jax.random.normal(jax.random.key(1), (300, 4))
    z = norm.standardize.apply(norm.standardize.fit(x), x)
    zz = norm.standardize.apply(norm.standardize.fit(z), z)
    np.testing.assert_allclose(zz, z, atol=1e-5)


def test_standardize_constant_feature_gives_zeros_not_nan():
    x = jnp.stack([jnp.full((50,), 0.1), jnp.linspace(0.0, 1.0, 50), jnp.zeros((50,))], axis=1)
    stats = norm.standardize.fit(x)
    z = norm.standardize.apply(stats, x)
    assert bool(jnp.all(jnp.isfinite(z)))
    np.testing.assert_allclose(z[:, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(z[:, 2], 0.0, atol=0)
    np.testing.assert_allclose(jnp.std(z[:, 1]), 1.0, rtol=1e-5)


def test_standardize_rejects_bad_input():
    with pytest.raises(ValueError, match=r"x must be a data matrix of shape \(N, d\)"):
        norm.standardize.fit(jnp.ones((3,)))
    stats = norm.standardize.fit(jnp.ones((4, 2)))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        norm.standardize.apply(stats, jnp.ones((4, 3)))
    with pytest.raises(TypeError, match="stats must be the Standardization"):
        norm.standardize.apply((jnp.zeros(2), jnp.ones(2)), jnp.ones((4, 2)))


def _hessian_condition_number(x, y):
    net = MLP((x.shape[1], 1), output="linear")
    params = net.init(jax.random.key(0), jnp.float64)
    flat, unravel = ravel_pytree(params)
    h = jax.hessian(lambda f: backprop.loss(net, "quadratic", unravel(f), x, y))(flat)
    eig = jnp.linalg.eigvalsh(h)
    return float(eig[-1] / eig[0])


def test_standardizing_features_lowers_hessian_condition_number_of_linear_quadratic_cost(x64):
    # Notes, "Data normalization": features of very different ranges make the quadratic cost's
    # Hessian (here E[[x, 1][x, 1]^T]) badly conditioned, so GD zig-zags; standardizing fixes it.
    k1, k2 = jax.random.split(jax.random.key(0))
    raw = jax.random.uniform(k1, (400, 3), jnp.float64) * jnp.array([1.0, 100.0, 1000.0])[None, :]
    raw = raw + jnp.array([0.0, 50.0, 3000.0])[None, :]
    y = raw @ jnp.array([[1.0], [0.02], [-0.001]]) + 0.1 * jax.random.normal(k2, (400, 1), jnp.float64)
    before = _hessian_condition_number(raw, y)
    after = _hessian_condition_number(norm.standardize.apply(norm.standardize.fit(raw), raw), y)
    assert before > 1e6, before
    assert after < 2.0, after  # mean 0, unit variance, nearly uncorrelated features: H ~ I


# --- batch norm and layer norm as functions ---------------------------------------------


def test_batch_norm_train_output_has_per_unit_mean_zero_variance_one_then_beta_and_gamma():
    a = jnp.array([2.0, -1.0, 30.0, 0.0])[None, :] + jnp.array([3.0, 0.1, 10.0, 1.0])[None, :] * (
        jax.random.normal(jax.random.key(0), (64, 4))
    )
    state = norm.batch_norm_state(4)
    plain, _ = norm.batch_norm(a, jnp.ones(4), jnp.zeros(4), state, train=True)
    np.testing.assert_allclose(jnp.mean(plain, axis=0), 0.0, atol=1e-5)
    # variance sigma^2 / (sigma^2 + delta): 1 up to delta / sigma^2 (sigma >= ~0.1 here)
    np.testing.assert_allclose(jnp.var(plain, axis=0), 1.0, rtol=2e-3)
    gamma, beta = jnp.array([2.0, -0.5, 1.0, 3.0]), jnp.array([1.0, 2.0, -3.0, 0.0])
    out, _ = norm.batch_norm(a, gamma, beta, state, train=True)
    np.testing.assert_allclose(jnp.mean(out, axis=0), beta, atol=1e-5)
    np.testing.assert_allclose(jnp.std(out, axis=0), jnp.abs(gamma), rtol=2e-3)


def test_layer_norm_output_has_per_example_mean_zero_variance_one_then_beta_and_gamma():
    a = jnp.array([[1.0, 5.0, -2.0, 8.0, 0.5], [100.0, 130.0, 90.0, 70.0, 110.0], [-1.0, -1.1, -0.9, -1.2, -1.0]])
    m = a.shape[1]
    plain = norm.layer_norm(a, jnp.ones(m), jnp.zeros(m))
    np.testing.assert_allclose(jnp.mean(plain, axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(jnp.var(plain, axis=1), 1.0, rtol=2e-3)
    # per example, not per unit: batch statistics of the units are not standardized
    assert float(jnp.max(jnp.abs(jnp.mean(plain, axis=0)))) > 0.1
    gamma = jnp.full((m,), -2.0)
    beta = jnp.full((m,), 0.5)
    out = norm.layer_norm(a, gamma, beta)
    np.testing.assert_allclose(jnp.mean(out, axis=1), 0.5, atol=1e-5)
    np.testing.assert_allclose(jnp.std(out, axis=1), 2.0, rtol=2e-3)
    # one example alone gives the same result as in the batch
    np.testing.assert_allclose(norm.layer_norm(a[1], gamma, beta), out[1], rtol=1e-6)


def test_batch_norm_inference_uses_running_statistics_and_keeps_state():
    a = jax.random.normal(jax.random.key(2), (5, 3))
    state = {"mean": jnp.array([1.0, -2.0, 0.5]), "var": jnp.array([4.0, 0.25, 1.0])}
    gamma, beta = jnp.array([1.5, 2.0, -1.0]), jnp.array([0.1, 0.2, 0.3])
    out, new_state = norm.batch_norm(a, gamma, beta, state, train=False, eps=1e-3)
    scaled = gamma[None, :] * (a - state["mean"][None, :]) / jnp.sqrt(state["var"][None, :] + 1e-3)
    expected = scaled + beta[None, :]
    # float32 round-off is relative to the summands, not to their sum (which can cancel to near 0): a few ulps of
    # max(|scaled|, |beta|) per element, whatever order XLA fuses the operations in
    ulp = float(jnp.finfo(jnp.float32).eps) * np.maximum(np.abs(scaled), np.abs(beta[None, :]))
    assert np.all(np.abs(np.asarray(out) - np.asarray(expected)) <= 4 * ulp)
    np.testing.assert_array_equal(new_state["mean"], state["mean"])
    np.testing.assert_array_equal(new_state["var"], state["var"])


def test_batch_norm_train_updates_running_statistics_by_the_moving_average_rule():
    a = jax.random.normal(jax.random.key(3), (8, 2)) * 3.0 + 1.0
    state = {"mean": jnp.array([0.5, -0.5]), "var": jnp.array([2.0, 3.0])}
    _, new = norm.batch_norm(a, jnp.ones(2), jnp.zeros(2), state, train=True, momentum=0.8)
    mu, var = jnp.mean(a, axis=0), jnp.var(a, axis=0)  # biased variance, 1/K as in the notes
    np.testing.assert_allclose(new["mean"], 0.8 * state["mean"] + 0.2 * mu, rtol=1e-6)
    np.testing.assert_allclose(new["var"], 0.8 * state["var"] + 0.2 * var, rtol=1e-6)


def test_running_averages_approach_mean_and_variance_of_a_fixed_distribution():
    mean = jnp.array([3.0, -1.0, 0.0])
    std = jnp.array([2.0, 0.5, 1.0])
    k = 256

    @jax.jit
    def run(key):
        def step(state, key):
            a = mean[None, :] + std[None, :] * jax.random.normal(key, (k, 3))
            return norm.batch_norm(a, jnp.ones(3), jnp.zeros(3), state, train=True, momentum=0.99)[1], None

        return jax.lax.scan(step, norm.batch_norm_state(3), jax.random.split(key, 1500))[0]

    state = run(jax.random.key(4))
    np.testing.assert_allclose(state["mean"], mean, atol=0.05)
    # the batch variance is biased: E[sigma_K^2] = (K - 1)/K s^2
    np.testing.assert_allclose(state["var"], (k - 1) / k * std**2, rtol=0.05)


def test_hand_written_norm_backward_equals_jax_vjp(x64):
    a = jax.random.normal(jax.random.key(5), (6, 4), jnp.float64) * 2.0 + 1.0
    g = jax.random.normal(jax.random.key(6), (6, 4), jnp.float64)
    gamma = jnp.array([1.5, -0.5, 2.0, 0.7])
    beta = jnp.array([0.1, 0.2, -0.3, 0.0])
    state = {"mean": jnp.array([1.0, 0.0, 2.0, -1.0]), "var": jnp.array([2.0, 1.0, 0.5, 3.0])}
    for train in (True, False):
        f = lambda a, gm, bt: norm.batch_norm(a, gm, bt, state, train=train)[0]
        _, vjp = jax.vjp(f, a, gamma, beta)
        r = norm.batch_norm_forward(a, gamma, beta, state, train=train)
        for mine, ref in zip(norm.batch_norm_backward(g, r.a_hat, r.inv_std, gamma, train=train), vjp(g)):
            np.testing.assert_allclose(mine, ref, rtol=1e-11, atol=1e-13)
    _, vjp = jax.vjp(lambda a, gm, bt: norm.layer_norm(a, gm, bt), a, gamma, beta)
    r = norm.layer_norm_forward(a, gamma, beta)
    for mine, ref in zip(norm.layer_norm_backward(g, r.a_hat, r.inv_std, gamma), vjp(g)):
        np.testing.assert_allclose(mine, ref, rtol=1e-11, atol=1e-13)


# --- inside the MLP -----------------------------------------------------------------------


def test_plain_mlp_keeps_its_simple_interface():
    net = MLP((3, 4, 2))
    params = net.init(jax.random.key(0))
    assert not net.stateful and net.init_state() == ()
    assert isinstance(params, tuple) and all(set(p) == {"W", "b"} for p in params)
    assert net.num_params() == 3 * 4 + 4 + 4 * 2 + 2
    out = net.apply(params, jnp.ones((5, 3)))
    assert isinstance(out, jax.Array) and out.shape == (5, 2)
    assert net.forward(params, jnp.ones((5, 3))).state == ()


def test_norm_layers_params_and_state_structure():
    bn = MLP((3, 4, 5, 2), norm="batch")
    params, state = bn.init(jax.random.key(0))
    assert bn.stateful
    assert [sorted(p) for p in params] == [["W", "beta", "gamma"], ["W", "beta", "gamma"], ["W", "b"]]
    assert [jax.tree.map(jnp.shape, s) for s in state] == [{"mean": (4,), "var": (4,)}, {"mean": (5,), "var": (5,)}]
    assert bn.num_params() == sum(x.size for x in jax.tree.leaves(params))
    np.testing.assert_array_equal(params[0]["gamma"], 1.0)
    np.testing.assert_array_equal(params[0]["beta"], 0.0)
    np.testing.assert_array_equal(state[1]["mean"], 0.0)
    np.testing.assert_array_equal(state[1]["var"], 1.0)
    ln = MLP((3, 4, 5, 2), norm="layer")
    lparams = ln.init(jax.random.key(0))
    assert not ln.stateful
    assert [sorted(p) for p in lparams] == [["W", "b", "beta", "gamma"], ["W", "b", "beta", "gamma"], ["W", "b"]]
    assert ln.num_params() == sum(x.size for x in jax.tree.leaves(lparams))


def test_mlp_batch_norm_train_normalizes_every_hidden_layer_per_unit():
    net = MLP((4, 6, 5, 3), hidden="tanh", norm="batch")
    params, state = net.init(jax.random.key(1))
    params = _perturbed(params, jax.random.key(2))
    x = 3.0 + 2.0 * jax.random.normal(jax.random.key(3), (32, 4))
    trace = net.forward(params, x, state, train=True)
    for l, (a, a_hat, a_norm) in enumerate(zip(trace.a, trace.a_hat, trace.a_norm)):
        np.testing.assert_allclose(jnp.mean(a_hat, axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(jnp.var(a_hat, axis=0), 1.0, rtol=1e-3)
        np.testing.assert_allclose(jnp.mean(a_norm, axis=0), params[l]["beta"], atol=1e-5)
        np.testing.assert_allclose(jnp.std(a_norm, axis=0), jnp.abs(params[l]["gamma"]), rtol=1e-3)
        np.testing.assert_allclose(trace.state[l]["mean"], 0.1 * jnp.mean(a, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trace.z[2], jnp.tanh(trace.a_norm[1]), rtol=1e-6)
    assert len(trace.a_hat) == 2 and len(trace.a) == 3  # the output layer is not normalized


def test_mlp_layer_norm_normalizes_every_hidden_layer_per_example():
    net = MLP((4, 6, 5, 3), hidden="relu", norm="layer")
    params = _perturbed(net.init(jax.random.key(1)), jax.random.key(2))
    trace = net.forward(params, jax.random.normal(jax.random.key(3), (7, 4)))
    for a_hat in trace.a_hat:
        np.testing.assert_allclose(jnp.mean(a_hat, axis=1), 0.0, atol=1e-5)
        np.testing.assert_allclose(jnp.var(a_hat, axis=1), 1.0, rtol=1e-3)
    assert trace.state == ()
    # same per-example result alone or in a batch, train flag irrelevant
    np.testing.assert_allclose(net.apply(params, jnp.ones(4)), net.apply(params, jnp.ones((3, 4)), train=True)[0], rtol=1e-6)


def test_mlp_batch_norm_inference_equals_the_formula_with_moving_averages():
    net = MLP((3, 4, 2), hidden="sigmoid", output="linear", norm="batch", norm_eps=1e-3)
    params, state = net.init(jax.random.key(0))
    params = _perturbed(params, jax.random.key(1))
    for i in range(3):  # a few training-mode passes move the averages away from (0, 1)
        _, state = net.apply(params, jax.random.normal(jax.random.key(10 + i), (16, 3)) + 2.0, state, train=True)
    x = jax.random.normal(jax.random.key(5), (6, 3))
    out, new_state = net.apply(params, x, state, train=False)
    (l1, l2), s = params, state[0]
    a = x @ l1["W"].T
    h = jax.nn.sigmoid(l1["gamma"][None, :] * (a - s["mean"][None, :]) / jnp.sqrt(s["var"][None, :] + 1e-3) + l1["beta"][None, :])
    np.testing.assert_allclose(out, h @ l2["W"].T + l2["b"][None, :], rtol=1e-5)
    assert jax.tree.all(jax.tree.map(lambda u, v: bool(jnp.all(u == v)), new_state, state))
    # inference depends on the running statistics, not on the rest of the batch
    np.testing.assert_allclose(net.apply(params, x[:1], state)[0], out[:1], rtol=1e-6)
    assert float(jnp.max(jnp.abs(s["mean"]))) > 0.1  # the averages did move


def test_untrained_batch_norm_net_in_inference_is_the_identity_normalization():
    net = MLP((3, 4, 2), output="linear", norm="batch", norm_eps=1e-5)
    params, state = net.init(jax.random.key(0))
    plain = MLP((3, 4, 2), output="linear")
    plain_params = ({"W": params[0]["W"], "b": jnp.zeros(4)}, params[1])
    x = jax.random.normal(jax.random.key(1), (5, 3))
    out, _ = net.apply(params, x, state)
    np.testing.assert_allclose(out, plain.apply(plain_params, x), rtol=1e-4)


_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


@st.composite
def _norm_problems(draw):
    # At least one hidden layer, hidden widths and batch >= 3: with 2 units (layer norm) or 2
    # examples (batch norm) a_hat is +-1 whatever the input, the true gradient of the layers
    # below is O(delta) and a relative comparison would measure rounding only. Likewise >= 2
    # inputs: batch norm is invariant to scaling a row of W, so with one input dC/dW^1 = 0.
    depth = draw(st.integers(2, 4))  # weighted layers
    sizes = [draw(st.integers(2, 5))] + [draw(st.integers(3, 6)) for _ in range(depth - 1)] + [draw(st.integers(2, 4))]
    head = draw(st.sampled_from([("sigmoid", "quadratic"), ("sigmoid", "cross_entropy"), ("softmax", "log_likelihood"), ("linear", "quadratic")]))
    return dict(
        sizes=tuple(sizes),
        hidden=draw(st.sampled_from(["sigmoid", "tanh", "relu", "linear"])),
        head=head,
        norm=draw(st.sampled_from(["batch", "layer"])),
        train=draw(st.booleans()),
        batch=draw(st.integers(3, 8)),
        seed=draw(st.integers(0, 2**16)),
    )


# Each example compiles a new network (~4 s on 2 cores): 4 random problems by default, 15 in the slow set.
@settings(max_examples=4, deadline=None)
@given(problem=_norm_problems())
def test_hand_written_gradients_through_both_norms_equal_jax_grad_in_float64(problem):
    _check_norm_gradients(problem)


@pytest.mark.slow
@settings(max_examples=15, deadline=None)
@given(problem=_norm_problems())
def test_hand_written_gradients_through_both_norms_equal_jax_grad_in_float64_thorough(problem):
    _check_norm_gradients(problem)


def _check_norm_gradients(problem) -> None:
    (output, cost), sizes, batch = problem["head"], problem["sizes"], problem["batch"]
    net = MLP(sizes, hidden=problem["hidden"], output=output, norm=problem["norm"])

    # Setup and both gradients in one compilation (op-by-op would compile dozens of kernels), with
    # XLA's cheap pipeline: compiling dominates this test and optimizing would not change the math.
    @functools.partial(jax.jit, compiler_options=_FAST_COMPILE)
    def run(key):
        k = jax.random.split(key, 5)
        params = net.init(k[0], jnp.float64)
        state = ()
        if net.stateful:
            params, state = params
            state = tuple({"mean": jax.random.normal(kk, s["mean"].shape, jnp.float64),
                           "var": jax.random.uniform(kk, s["var"].shape, jnp.float64, 0.5, 2.0)}
                          for s, kk in zip(state, jax.random.split(k[4], len(state))))
        params = _perturbed(params, k[1])
        x = 1.0 + 2.0 * jax.random.normal(k[2], (batch, sizes[0]), jnp.float64)
        if output == "softmax":
            y = jax.random.randint(k[3], (batch,), 0, sizes[-1])
        elif output == "sigmoid":
            y = jax.random.bernoulli(k[3], 0.5, (batch, sizes[-1])).astype(jnp.float64)
        else:
            y = jax.random.normal(k[3], (batch, sizes[-1]), jnp.float64)
        return params, tuple(
            backprop.value_grad_and_state(net, cost, params, state, x, y, method=m, train=problem["train"])
            for m in ("backprop", "autodiff")
        )

    with jax.enable_x64(True):
        params, ((v, g, s), (v_ad, g_ad, s_ad)) = jax.tree.map(np.asarray, run(jax.random.key(problem["seed"])))
    # Relative error per leaf, as backprop.check; a leaf whose true gradient is structurally zero
    # (beta^l before a linear activation and the next batch norm, which removes constants) is
    # measured against 1e-3 of the largest gradient entry instead of its own rounding noise.
    overall = max(np.max(np.abs(w)) for w in jax.tree.leaves(g_ad))
    rel = [np.max(np.abs(u - w)) / max(np.max(np.abs(w)), 1e-3 * overall)
           for u, w in zip(jax.tree.leaves(g), jax.tree.leaves(g_ad))]
    assert jax.tree.structure(g) == jax.tree.structure(params)
    assert max(rel) <= 1e-9, (problem, rel)
    assert abs(v - v_ad) <= 1e-12 * max(1.0, abs(v_ad))
    assert jax.tree.structure(s) == jax.tree.structure(s_ad)
    assert all(np.array_equal(u, w) for u, w in zip(jax.tree.leaves(s), jax.tree.leaves(s_ad)))


def test_value_grad_and_state_steps_the_running_statistics_in_training_mode():
    net = MLP((3, 4, 2), norm="batch", norm_momentum=0.5)
    params, state = net.init(jax.random.key(0))
    x = 4.0 + jax.random.normal(jax.random.key(1), (10, 3))
    y = jnp.zeros((10, 2))
    _, _, new = backprop.value_grad_and_state(net, "cross_entropy", params, state, x, y)
    a = x @ params[0]["W"].T
    np.testing.assert_allclose(new[0]["mean"], 0.5 * jnp.mean(a, axis=0), rtol=1e-5)
    np.testing.assert_allclose(new[0]["var"], 0.5 + 0.5 * jnp.var(a, axis=0), rtol=1e-5)
    # in inference mode the state is returned unchanged
    _, _, same = backprop.value_grad_and_state(net, "cross_entropy", params, new, x, y, train=False)
    np.testing.assert_array_equal(same[0]["mean"], new[0]["mean"])


def test_layer_norm_per_example_gradients_average_to_the_batch_gradient(x64):
    net = MLP((3, 4, 3), hidden="tanh", output="softmax", norm="layer")
    params = _perturbed(net.init(jax.random.key(0), jnp.float64), jax.random.key(1))
    x = jax.random.normal(jax.random.key(2), (5, 3), jnp.float64)
    y = jnp.array([0, 1, 2, 1, 0])
    per, batch = jax.jit(
        lambda p: (backprop.per_example_grads(net, "log_likelihood", p, x, y), backprop.grad(net, "log_likelihood", p, x, y))
    )(params)
    mean = jax.tree.map(lambda g: jnp.mean(g, axis=0), per)
    assert backprop.compare(mean, batch).max_rel <= 1e-12


_DATA_PARALLEL_SCRIPT = textwrap.dedent(
    """
    import json
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, PartitionSpec as P
    from fnn import backprop
    from fnn.nn import MLP

    jax.config.update("jax_enable_x64", True)  # a fresh process of its own: float64 for exact comparisons
    assert jax.device_count() == 4, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("data",))
    single = MLP((5, 6, 4, 3), hidden="tanh", output="softmax", norm="batch")
    multi = MLP((5, 6, 4, 3), hidden="tanh", output="softmax", norm="batch", axis_name="data")
    params, state = single.init(jax.random.key(0), jnp.float64)
    x = 2.0 + 3.0 * jax.random.normal(jax.random.key(1), (16, 5), jnp.float64)
    y = jax.random.randint(jax.random.key(2), (16,), 0, 3)

    def err(a, b):
        return max(float(jnp.max(jnp.abs(u - w))) for u, w in zip(jax.tree.leaves(a), jax.tree.leaves(b)))

    ref_out, ref_state = single.apply(params, x, state, train=True)
    ref_v, ref_g, _ = backprop.value_grad_and_state(single, "log_likelihood", params, state, x, y)
    res = {}
    for method in ("backprop", "autodiff"):
        def f(params, state, x, y):
            out, new_state = multi.apply(params, x, state, train=True)
            v, g, _ = backprop.value_grad_and_state(multi, "log_likelihood", params, state, x, y, method=method)
            return out, new_state, v, g
        sharded = jax.jit(jax.shard_map(f, mesh=mesh, in_specs=(P(), P(), P("data"), P("data")),
                                        out_specs=(P("data"), P(), P(), P())))
        out, new_state, v, g = sharded(params, state, x, y)
        res[method] = {"out": err(out, ref_out), "state": err(new_state, ref_state),
                       "value": abs(float(v - ref_v)), "grads": err(g, ref_g)}
    local = jax.jit(jax.shard_map(lambda p, s, x: single.apply(p, x, s, train=True)[0], mesh=mesh,
                                  in_specs=(P(), P(), P("data")), out_specs=P("data")))(params, state, x)
    res["local_statistics_out"] = err(local, ref_out)
    print(json.dumps(res))
    """
)


def test_data_parallel_batch_norm_over_4_devices_equals_single_device_on_the_whole_batch():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", _DATA_PARALLEL_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    for method in ("backprop", "autodiff"):
        for what, d in res[method].items():
            assert d <= 1e-12, (method, what, res)
    # the comparison can fail: per-device statistics (no axis_name) give a different output
    assert res["local_statistics_out"] > 1e-2, res


def test_batch_norm_trains_a_deep_sigmoid_mlp_faster_than_no_norm():
    # 10 hidden sigmoid layers: without normalization the gradient vanishes on the way down
    # (notes, "Normalization"); with batch norm full-batch gradient descent fits the data.
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(k1, (256, 8))
    y = (x @ jax.random.normal(k2, (8,)) > 0).astype(jnp.int32)
    eta, steps = 0.5, 150

    def final_cost(norm_kind):
        net = MLP((8,) + (16,) * 10 + (2,), hidden="sigmoid", output="softmax", norm=norm_kind)
        params = net.init(k3)
        params, state = params if net.stateful else (params, ())

        @jax.jit
        def train(params, state):
            def step(carry, _):
                p, s = carry
                c, g, s = backprop.value_grad_and_state(net, "log_likelihood", p, s, x, y)
                return (jax.tree.map(lambda w, dw: w - eta * dw, p, g), s), c

            return jax.lax.scan(step, (params, state), None, length=steps)

        (params, state), costs = train(params, state)
        return float(costs[0]), float(backprop.loss(net, "log_likelihood", params, x, y, state, train=False))

    start_plain, plain = final_cost(None)
    start_bn, bn = final_cost("batch")
    assert abs(start_plain - start_bn) < 0.1  # same starting point (~ln 2)
    assert plain > 0.6, plain  # barely moved from ln 2 = 0.693
    assert bn < 0.1, bn  # evaluated in inference mode, with the running statistics


# --- bad input -----------------------------------------------------------------------------


def test_batch_norm_training_mode_on_a_batch_of_one_raises():
    with pytest.raises(ValueError, match="batch of at least 2 examples.*use a larger batch, or train=False"):
        norm.batch_norm(jnp.ones((1, 3)), jnp.ones(3), jnp.zeros(3), norm.batch_norm_state(3), train=True)
    net = MLP((2, 3, 1), norm="batch")
    params, state = net.init(jax.random.key(0))
    with pytest.raises(ValueError, match="got a batch of 1; use a larger batch, or train=False"):
        net.apply(params, jnp.ones((2,)), state, train=True)
    out, _ = net.apply(params, jnp.ones((2,)), state, train=False)  # inference on one example is fine
    assert out.shape == (1,)
    with pytest.raises(ValueError, match="per-example gradients are not defined"):
        backprop.per_example_grads(net, "quadratic", params, jnp.ones((4, 2)), jnp.ones((4, 1)))


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), True, "0.9"])
def test_momentum_outside_zero_one_raises(alpha):
    with pytest.raises(ValueError, match=r"norm_momentum .* must be a number in \[0, 1\], got"):
        MLP((2, 3, 1), norm="batch", norm_momentum=alpha)
    with pytest.raises(ValueError, match=r"momentum .* must be a number in \[0, 1\]"):
        norm.batch_norm(jnp.ones((4, 3)), jnp.ones(3), jnp.zeros(3), norm.batch_norm_state(3), train=True, momentum=alpha)


@pytest.mark.parametrize("delta", [0.0, -1e-5, float("inf")])
def test_nonpositive_delta_raises(delta):
    with pytest.raises(ValueError, match=r"norm_eps \(delta in sqrt\(sigma\^2 \+ delta\)\) must be a finite number > 0"):
        MLP((2, 3, 1), norm="layer", norm_eps=delta)
    with pytest.raises(ValueError, match=r"eps .* must be a finite number > 0"):
        norm.layer_norm(jnp.ones((4, 3)), jnp.ones(3), jnp.zeros(3), eps=delta)


def test_inference_without_state_raises_with_what_to_do():
    net = MLP((2, 3, 1), norm="batch")
    params, _ = net.init(jax.random.key(0))
    for call in (
        lambda: net.apply(params, jnp.ones((4, 2))),
        lambda: net.forward(params, jnp.ones((4, 2))),
        lambda: backprop.loss(net, "quadratic", params, jnp.ones((4, 2)), jnp.ones((4, 1)), train=False),
    ):
        with pytest.raises(ValueError, match=r"state must be the batch-norm running statistics .*pass the state returned by net.init"):
            call()
    # training mode does not read the running statistics, so the gradient functions supply them
    assert backprop.grad(net, "quadratic", params, jnp.ones((4, 2)), jnp.ones((4, 1)))[0]["W"].shape == (3, 2)


def test_bad_norm_configuration_raises():
    with pytest.raises(ValueError, match=r"norm must be one of None, 'batch', 'layer', got 'group'"):
        MLP((2, 3, 1), norm="group")
    with pytest.raises(ValueError, match="normalizes the hidden layers, but sizes"):
        MLP((2, 1), norm="batch")
    with pytest.raises(ValueError, match="layer norm of one unit"):
        MLP((2, 1, 1), norm="layer")
    net = MLP((2, 3, 1), norm="batch")
    params, state = net.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"state\[0\] must have mean and var of shape \(3,\)"):
        net.apply(params, jnp.ones((4, 2)), ({"mean": jnp.zeros(2), "var": jnp.ones(2)},))
    with pytest.raises(ValueError, match=r"params\[0\] must be a dict with keys \['W', 'gamma', 'beta'\]"):
        net.apply(MLP((2, 3, 1)).init(jax.random.key(0)), jnp.ones((4, 2)), state)
    with pytest.raises(TypeError, match="train must be True"):
        norm.batch_norm(jnp.ones((4, 3)), jnp.ones(3), jnp.zeros(3), norm.batch_norm_state(3), train=None)
    with pytest.raises(ValueError, match=r"gamma and beta must have shape \(3,\)"):
        norm.layer_norm(jnp.ones((4, 3)), jnp.ones(2), jnp.zeros(3))
