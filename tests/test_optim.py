"""Tests for fnn.optim (notes: "Gradient descent", "Stochastic gradient descent",
"Convergence", "Momentum", "Learning rate scheduling")."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import optim, schedules

# ---------------------------------------------------------------- a 2-parameter problem
# params = ({"W": [[w]], "b": [b]},), the layout of an MLP with one weight and one bias;
# E(w, b) = w^4/4 + b^2/2 + w b, a non-quadratic cost so that gradients change between steps.

P0 = (0.8, -0.5)


def _params(dtype):
    return ({"W": jnp.asarray([[P0[0]]], dtype), "b": jnp.asarray([P0[1]], dtype)},)


def _energy(params):
    w, b = params[0]["W"][0, 0], params[0]["b"][0]
    return 0.25 * w**4 + 0.5 * b**2 + w * b


def _flat(params) -> np.ndarray:
    return np.array([float(params[0]["W"][0, 0]), float(params[0]["b"][0])])


def _np_grad(p: np.ndarray) -> np.ndarray:
    w, b = p
    return np.array([w**3 + b, b + w])


def _run_fnn(opt, steps=3, dtype=jnp.float64):
    params = _params(dtype)
    state = opt.init(params)
    out = []
    for _ in range(steps):
        grads = jax.grad(_energy)(params)
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
        out.append(_flat(params))
    return np.array(out)


def _run_numpy(rule, steps=3):
    """rule(p, g, memory, t) -> (new p, memory), t = 1, 2, 3, ..."""
    p, memory, out = np.array(P0), {}, []
    for t in range(1, steps + 1):
        p, memory = rule(p, _np_grad(p), memory, t)
        out.append(p.copy())
    return np.array(out)


def _gd_rule(eta):
    def rule(p, g, m, t):
        return p - eta * g, m

    return rule


def _sgd_rule(eta, mu, nesterov):
    def rule(p, g, m, t):
        v = g + mu * m.get("v", 0.0)
        step = g + mu * v if nesterov else v
        return p - eta * step, {"v": v}

    return rule


def _notes_momentum_rule(eta, mu):
    """The notes' dw(t) = -eta grad E(w(t)) + mu dw(t-1)."""

    def rule(p, g, m, t):
        dw = -eta * g + mu * m.get("dw", 0.0)
        return p + dw, {"dw": dw}

    return rule


def _adagrad_rule(eta, eps, G0):
    def rule(p, g, m, t):
        G = m.get("G", np.full(2, G0)) + g**2
        return p - eta * g / (np.sqrt(G) + eps), {"G": G}

    return rule


def _rmsprop_rule(eta, decay, eps):
    def rule(p, g, m, t):
        nu = decay * m.get("nu", 0.0) + (1 - decay) * g**2
        return p - eta * g / (np.sqrt(nu) + eps), {"nu": nu}

    return rule


def _adam_rule(eta, b1, b2, eps, wd=0.0):
    def rule(p, g, m, t):
        m1 = b1 * m.get("m", 0.0) + (1 - b1) * g
        m2 = b2 * m.get("v", 0.0) + (1 - b2) * g**2
        direction = (m1 / (1 - b1**t)) / (np.sqrt(m2 / (1 - b2**t)) + eps)
        decay = wd * p * np.array([1.0, 0.0])  # decoupled decay on W only, not b
        return p - eta * (direction + decay), {"m": m1, "v": m2}

    return rule


READY_MADE = {
    "gd": (lambda: optim.gd(0.1), _gd_rule(0.1)),
    "sgd": (lambda: optim.sgd(0.1), _gd_rule(0.1)),
    "sgd_momentum": (lambda: optim.sgd(0.1, momentum=0.6), _sgd_rule(0.1, 0.6, False)),
    "sgd_nesterov": (lambda: optim.sgd(0.1, momentum=0.6, nesterov=True), _sgd_rule(0.1, 0.6, True)),
    "momentum": (lambda: optim.momentum(0.1), _notes_momentum_rule(0.1, 0.9)),
    "adagrad": (lambda: optim.adagrad(0.3), _adagrad_rule(0.3, 1e-7, 0.0)),
    "adagrad_eps_G0": (
        lambda: optim.adagrad(0.3, eps=0.05, initial_accumulator=0.2),
        _adagrad_rule(0.3, 0.05, 0.2),
    ),
    "rmsprop": (lambda: optim.rmsprop(0.05), _rmsprop_rule(0.05, 0.9, 1e-8)),
    "rmsprop_custom": (lambda: optim.rmsprop(0.05, decay=0.5, eps=0.1), _rmsprop_rule(0.05, 0.5, 0.1)),
    "adam": (lambda: optim.adam(0.1), _adam_rule(0.1, 0.9, 0.999, 1e-8)),
    "adam_custom": (lambda: optim.adam(0.1, b1=0.5, b2=0.9, eps=0.1), _adam_rule(0.1, 0.5, 0.9, 0.1)),
    "adamw": (lambda: optim.adamw(0.1, weight_decay=0.3), _adam_rule(0.1, 0.9, 0.999, 1e-8, wd=0.3)),
}


@pytest.mark.parametrize("name", sorted(READY_MADE))
def test_ready_made_optimizer_matches_numpy_rederivation_for_three_steps(name, x64):
    make, rule = READY_MADE[name]
    got = _run_fnn(make())
    want = _run_numpy(rule)
    assert not np.allclose(want[0], P0)  # the steps do move
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["gd", "momentum", "adam", "adamw"])
def test_ready_made_optimizer_in_float32_matches_rederivation(name):
    make, rule = READY_MADE[name]
    got = _run_fnn(make(), dtype=jnp.float32)
    np.testing.assert_allclose(got, _run_numpy(rule), rtol=2e-5, atol=1e-6)


def test_trace_then_scale_is_the_notes_momentum_update_exactly(x64):
    eta, mu = 0.05, 0.8
    opt = optim.chain(optim.trace(mu), optim.scale(eta))
    params = jnp.zeros(4, jnp.float64)
    state = opt.init(params)
    dw_prev = np.zeros(4)
    rng = np.random.default_rng(0)
    for _ in range(10):
        g = rng.normal(size=4)
        dw, state = opt.update(jnp.asarray(g), state)
        dw_notes = -eta * g + mu * dw_prev  # dw(t) = -eta grad E(w(t)) + mu dw(t-1)
        np.testing.assert_allclose(np.asarray(dw), dw_notes, rtol=1e-13, atol=1e-15)
        dw_prev = dw_notes


def test_adam_first_step_has_magnitude_rate_in_every_coordinate():
    rate = 0.01
    grads = jnp.asarray([1e-3, -0.5, 3.0, -2e3], jnp.float32)
    opt = optim.adam(rate)
    updates, _ = opt.update(grads, opt.init(jnp.zeros(4, jnp.float32)))
    np.testing.assert_allclose(np.abs(np.asarray(updates)), rate, rtol=1e-4)
    np.testing.assert_array_equal(np.sign(np.asarray(updates)), -np.sign(np.asarray(grads)))


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("mu", [0.5, 0.9])
def test_momentum_step_on_constant_gradient_tends_to_eta_over_one_minus_mu(mu, nesterov):
    eta = 0.1
    opt = optim.sgd(eta, momentum=mu, nesterov=nesterov)
    g = jnp.ones(3, jnp.float32)
    state = opt.init(g)
    sizes = []
    for _ in range(300):
        u, state = opt.update(g, state)
        sizes.append(float(-u[0]))
    sizes = np.array(sizes)
    assert sizes[0] == pytest.approx(eta * (1 + mu) if nesterov else eta, rel=1e-6)
    assert np.all(np.diff(sizes) >= 0)  # the step grows ...
    assert sizes[-1] == pytest.approx(eta / (1 - mu), rel=1e-5)  # ... to eta / (1 - mu)


def _effective_rates(opt, grads_seq):
    """Per-parameter effective rate eta_eff(t) = -update(t) / grad(t)."""
    state = opt.init(grads_seq[0])
    out = []
    for g in grads_seq:
        u, state = opt.update(g, state)
        out.append(np.asarray(-u / g))
    return np.array(out)


def test_adagrad_effective_rate_decreases_monotonically():
    eta = 0.1
    rng = np.random.default_rng(1)
    signs = rng.choice([-1.0, 1.0], size=(60, 3))
    grads = [jnp.asarray(s * rng.uniform(0.1, 2.0, size=3), jnp.float32) for s in signs]
    rates = _effective_rates(optim.adagrad(eta), grads)
    assert np.all(rates > 0)
    assert np.all(np.diff(rates, axis=0) < 0)
    assert np.all(rates[-1] < 0.5 * rates[0])


def test_rmsprop_effective_rate_does_not_vanish_on_a_stationary_gradient_while_adagrad_does():
    eta, steps = 0.01, 1000
    g = jnp.asarray([0.5, -2.0], jnp.float32)
    rms = _effective_rates(optim.rmsprop(eta), [g] * steps)[-1]
    ada = _effective_rates(optim.adagrad(eta), [g] * steps)[-1]
    limit = eta / np.abs(np.asarray(g))  # RMSProp: nu -> g^2, eta_eff -> eta / |g|
    np.testing.assert_allclose(rms, limit, rtol=1e-3)
    np.testing.assert_allclose(ada, limit / np.sqrt(steps), rtol=1e-3)  # AdaGrad: eta / (|g| sqrt(t))


# ---------------------------------------------------------------- convergence (notes, "Convergence")


def _rotated_quadratic(kappa: float):
    """Hessian H = Q diag(1, kappa) Q^T, not aligned with the axes."""
    c, s = np.cos(0.5), np.sin(0.5)
    Q = np.array([[c, -s], [s, c]])
    return jnp.asarray(Q @ np.diag([1.0, kappa]) @ Q.T, jnp.float32)


def _iterations_to_reach(opt, H, tol=1e-3, max_steps=3000, rate=None):
    """Steps until ||w - w*|| < tol from w0 = (1, 1) on E = w^T H w / 2 (max_steps + 1 if never)."""
    w0 = jnp.ones(2, jnp.float32)
    state = opt.init(w0)
    if rate is not None:
        state = optim.set_hyperparams(state, rate=rate)

    def body(carry, _):
        w, s = carry
        u, s = opt.update(H @ w, s, w)
        w = optim.apply_updates(w, u)
        return (w, s), jnp.sqrt(jnp.sum(w * w))

    _, errors = jax.lax.scan(body, (w0, state), None, length=max_steps)
    reached = errors < tol
    return jnp.where(jnp.any(reached), jnp.argmax(reached) + 1, max_steps + 1)


def test_momentum_and_adam_need_fewer_iterations_than_gd_at_its_best_rate_at_condition_number_100():
    H = _rotated_quadratic(100.0)
    # GD at its best stable rate: scan eta over (0, 2/lambda_max) — all runs at once with vmap
    etas = jnp.linspace(0.0002, 0.02, 100, endpoint=False, dtype=jnp.float32)
    gd_counts = jax.jit(jax.vmap(lambda eta: _iterations_to_reach(optim.gd(0.0), H, rate=eta)))(etas)
    gd_best = int(jnp.min(gd_counts))
    best_eta = float(etas[jnp.argmin(gd_counts)])
    # theory: best eta = 2/(lambda_min + lambda_max), rate (kappa-1)/(kappa+1) -> ~345 steps
    assert best_eta == pytest.approx(2 / 101, rel=0.02)
    assert 300 < gd_best < 400
    n_momentum = int(_iterations_to_reach(optim.momentum(0.01, mu=0.9), H))
    n_adam = int(_iterations_to_reach(optim.adam(0.1), H))
    assert n_momentum < gd_best / 2, (n_momentum, gd_best)
    assert n_adam < gd_best, (n_adam, gd_best)


def test_vmap_over_learning_rates_equals_separate_runs():
    rates = jnp.asarray([0.3, 0.1, 0.03], jnp.float32)
    H = _rotated_quadratic(10.0)
    w0 = jnp.asarray([1.0, -2.0], jnp.float32)

    def train(rate):
        opt = optim.momentum(rate, mu=0.5)  # a traced rate goes straight into the state
        state = opt.init(w0)

        def body(carry, _):
            w, s = carry
            u, s = opt.update(H @ w, s, w)
            return (optim.apply_updates(w, u), s), None

        (w, s), _ = jax.lax.scan(body, (w0, state), None, length=20)
        return w, optim.current_rate(s)

    together, rates_read = jax.vmap(train)(rates)
    separate = np.stack([np.asarray(jax.jit(train)(r)[0]) for r in rates])
    np.testing.assert_allclose(np.asarray(rates_read), np.asarray(rates))
    np.testing.assert_allclose(np.asarray(together), separate, rtol=1e-5, atol=1e-7)
    assert not np.allclose(separate[0], separate[1])  # different rates, different models


# ---------------------------------------------------------------- hyperparameters in the state


def test_current_rate_reads_the_rate_from_a_chain_state():
    params = _params(jnp.float32)
    for opt in (optim.gd(0.3), optim.momentum(0.3), optim.adamw(0.3)):
        assert float(optim.current_rate(opt.init(params))) == pytest.approx(0.3)
    nested = optim.chain(optim.clip_by_global_norm(1.0), optim.chain(optim.scale_by_adam(), optim.scale(0.3)))
    assert float(optim.current_rate(nested.init(params))) == pytest.approx(0.3)


def test_set_hyperparams_changes_rate_and_momentum_without_recompiling():
    opt = optim.sgd(0.1, momentum=0.9)
    g = jnp.ones(2, jnp.float32)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, state):
        updates, state = opt.update(g, state, params)
        return optim.apply_updates(params, updates), state, updates

    params = jnp.zeros(2, jnp.float32)
    state = opt.init(params)
    params, state, u1 = step(params, state)
    params, state, u2 = step(params, state)
    np.testing.assert_allclose(np.asarray(u2), -0.1 * (1 + 0.9), rtol=1e-6)
    state = optim.set_hyperparams(state, rate=0.01, mu=0.0)
    params, state, u3 = step(params, state)  # would raise if step were traced again
    np.testing.assert_allclose(np.asarray(u3), -0.01, rtol=1e-6)
    assert float(optim.current_rate(state)) == pytest.approx(0.01)
    state = optim.set_hyperparams(state, rate=jnp.asarray(0.2), mu=np.float64(0.5))
    params, state, u4 = step(params, state)
    np.testing.assert_allclose(np.asarray(u4), -0.2 * (1 + 0.5), rtol=1e-6)


def test_scale_with_schedule_uses_schedule_at_step_count_and_multiplier_rescales_it():
    sched = schedules.linear(0.4, 0.1, K=3)
    opt = optim.gd(sched)
    g = jnp.ones(1, jnp.float32)
    state = opt.init(g)
    step = jax.jit(chex.assert_max_traces(n=1)(lambda s: opt.update(g, s)))
    seen = []
    for t in range(5):
        assert float(optim.current_rate(state)) == pytest.approx(float(sched(t)), rel=1e-6)
        u, state = step(state)
        seen.append(-float(u[0]))
    np.testing.assert_allclose(seen, [0.4, 0.3, 0.2, 0.1, 0.1], rtol=1e-6)
    state = optim.set_hyperparams(state, rate_multiplier=0.5)
    assert float(optim.current_rate(state)) == pytest.approx(0.05, rel=1e-6)
    u, state = step(state)
    assert -float(u[0]) == pytest.approx(0.05, rel=1e-6)
    with pytest.raises(ValueError, match="set rate_multiplier"):
        optim.set_hyperparams(state, rate=0.1)


def test_state_leaves_are_arrays_of_the_params_dtype():
    params = _params(jnp.float32)
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.adamw(0.1), optim.trace(0.5))
    state = opt.init(params)
    leaves = jax.tree_util.tree_leaves(state)  # what a checkpoint would save
    assert len(leaves) == 15 and all(isinstance(x, jax.Array) for x in leaves)
    assert {x.dtype for x in leaves} == {jnp.dtype(jnp.float32), jnp.dtype(jnp.int32)}


def test_hyperparameters_take_the_params_float_dtype_under_x64(x64):
    state = optim.adam(0.1).init(_params(jnp.float64))
    assert state[0].b1.dtype == jnp.float64 and optim.current_rate(state).dtype == jnp.float64


def test_float32_params_under_x64_with_schedule_work_and_keep_float32(x64):
    params = _params(jnp.float32)
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.scale_by_adam(), optim.scale(schedules.cosine_decay(0.1, 10)))
    state = opt.init(params)
    grads = jax.grad(_energy)(params)
    updates, state = jax.jit(opt.update)(grads, state, params)
    new = optim.apply_updates(params, updates)
    assert new[0]["W"].dtype == jnp.float32 and optim.current_rate(state).dtype == jnp.float32
    assert all(x.dtype in (jnp.float32, jnp.int32) for x in jax.tree_util.tree_leaves(state))


# ---------------------------------------------------------------- building blocks


def test_add_decayed_weights_default_decays_only_weight_matrices():
    params = ({"W": jnp.full((2, 2), 2.0), "b": jnp.full(2, 2.0), "gamma": jnp.full(2, 2.0), "beta": jnp.full(2, 2.0)},)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    opt = optim.add_decayed_weights(0.1)
    updates, _ = opt.update(zeros, opt.init(params), params)
    np.testing.assert_allclose(np.asarray(updates[0]["W"]), 0.2)
    for name in ("b", "gamma", "beta"):
        np.testing.assert_array_equal(np.asarray(updates[0][name]), 0.0)


def test_add_decayed_weights_with_mask_tree_or_function_or_bool():
    params = ({"W": jnp.ones((1, 1)), "b": jnp.ones(1)},)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    for mask, want_w, want_b in [
        (({"W": False, "b": True},), 0.0, 0.5),
        (lambda p: jax.tree_util.tree_map(lambda _: True, p), 0.5, 0.5),
        (False, 0.0, 0.0),
    ]:
        opt = optim.add_decayed_weights(0.5, mask=mask)
        u, _ = opt.update(zeros, opt.init(params), params)
        assert float(u[0]["W"][0, 0]) == want_w and float(u[0]["b"][0]) == want_b


def test_sgd_with_add_decayed_weights_is_l2_regularization(x64):
    wd, eta = 0.1, 0.5
    params = ({"W": jnp.asarray([[1.0, -2.0]]), "b": jnp.asarray([3.0])},)
    grads = jax.grad(_energy_l2(wd))(params)  # grad of E + wd/2 ||W||^2
    opt = optim.chain(optim.add_decayed_weights(wd), optim.scale(eta))
    u, _ = opt.update(jax.grad(_energy_linear)(params), opt.init(params), params)
    chex.assert_trees_all_close(u, jax.tree_util.tree_map(lambda g: -eta * g, grads), rtol=1e-12)


def _energy_linear(params):
    return jnp.sum(params[0]["W"]) * 0.3 + jnp.sum(params[0]["b"] ** 2)


def _energy_l2(wd):
    return lambda params: _energy_linear(params) + 0.5 * wd * jnp.sum(params[0]["W"] ** 2)


def test_clip_by_global_norm_rescales_large_gradients_and_keeps_small_ones():
    opt = optim.clip_by_global_norm(1.0)
    big = {"a": jnp.asarray([3.0, 0.0]), "b": jnp.asarray([[4.0]])}  # global norm 5
    u, _ = opt.update(big, opt.init(big))
    chex.assert_trees_all_close(u, jax.tree_util.tree_map(lambda g: g / 5.0, big), rtol=1e-6)
    small = jax.tree_util.tree_map(lambda g: g / 10.0, big)  # norm 0.5
    u, _ = opt.update(small, opt.init(small))
    chex.assert_trees_all_close(u, small, rtol=1e-7)
    zero = jax.tree_util.tree_map(jnp.zeros_like, big)
    u, _ = opt.update(zero, opt.init(zero))
    assert all(bool(jnp.all(x == 0)) for x in jax.tree_util.tree_leaves(u))


def test_chain_applies_transforms_in_order_and_its_state_is_the_tuple_of_states():
    g = jnp.asarray([30.0, 40.0], jnp.float32)
    clip_then_scale = optim.chain(optim.clip_by_global_norm(1.0), optim.scale(2.0))
    scale_then_clip = optim.chain(optim.scale(2.0), optim.clip_by_global_norm(1.0))
    s1, s2 = clip_then_scale.init(g), scale_then_clip.init(g)
    assert isinstance(s1, tuple) and [type(s) for s in s1] == [optim.ClipState, optim.ScaleState]
    u1, _ = clip_then_scale.update(g, s1)
    u2, _ = scale_then_clip.update(g, s2)
    np.testing.assert_allclose(np.asarray(u1), [-1.2, -1.6], rtol=1e-6)  # norm 2
    np.testing.assert_allclose(np.asarray(u2), [-0.6, -0.8], rtol=1e-6)  # norm 1


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [-0.1, float("inf"), float("nan")])
@pytest.mark.parametrize("make", [optim.scale, optim.gd, optim.sgd, optim.momentum, optim.adagrad, optim.rmsprop, optim.adam, optim.adamw])
def test_negative_or_nonfinite_rate_is_rejected(make, bad):
    with pytest.raises(ValueError, match=r"rate must be a finite number >= 0, got (-0\.1|inf|nan)"):
        make(bad)


def test_non_number_rate_is_a_type_error():
    with pytest.raises(TypeError, match="rate must be a finite number >= 0, got 'fast'"):
        optim.gd("fast")
    with pytest.raises(ValueError, match=r"rate must be a finite number >= 0 of shape \(\), got shape \(2,\)"):
        optim.gd(np.array([0.1, 0.2]))


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_mu_outside_zero_one_is_rejected(bad):
    for make in (lambda: optim.trace(bad), lambda: optim.momentum(0.1, mu=bad)):
        with pytest.raises(ValueError, match=r"mu must be a number in \[0, 1\), got"):
            make()
    with pytest.raises(ValueError, match=r"mu must be a number in \[0, 1\), got"):
        optim.sgd(0.1, momentum=bad)


def test_sgd_without_momentum_is_gd_and_keeps_no_velocity():
    params = _params(jnp.float32)
    state = optim.sgd(0.1).init(params)
    assert jax.tree_util.tree_structure(state) == jax.tree_util.tree_structure(optim.gd(0.1).init(params))
    assert "mu" not in str(state)


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_decay_outside_zero_one_is_rejected(bad):
    with pytest.raises(ValueError, match=rf"decay must be a number in \[0, 1\), got {bad}"):
        optim.rmsprop(0.1, decay=bad)
    with pytest.raises(ValueError, match=rf"decay must be a number in \[0, 1\), got {bad}"):
        optim.scale_by_rms(decay=bad)


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_b1_b2_outside_zero_one_are_rejected(bad):
    with pytest.raises(ValueError, match=rf"b1 must be a number in \[0, 1\), got {bad}"):
        optim.adam(0.1, b1=bad)
    with pytest.raises(ValueError, match=rf"b2 must be a number in \[0, 1\), got {bad}"):
        optim.scale_by_adam(b2=bad)
    with pytest.raises(ValueError, match=rf"b2 must be a number in \[0, 1\), got {bad}"):
        optim.adamw(0.1, b2=bad)


@pytest.mark.parametrize("bad", [0.0, -1e-8])
def test_eps_not_positive_is_rejected(bad):
    for make in (
        lambda: optim.adagrad(0.1, eps=bad),
        lambda: optim.rmsprop(0.1, eps=bad),
        lambda: optim.adam(0.1, eps=bad),
        lambda: optim.scale_by_adam(eps=bad),
    ):
        with pytest.raises(ValueError, match=r"eps must be a finite number > 0, got"):
            make()


def test_other_bad_hyperparameters_are_rejected():
    with pytest.raises(ValueError, match=r"weight_decay must be a finite number >= 0, got -0\.1"):
        optim.adamw(0.1, weight_decay=-0.1)
    with pytest.raises(ValueError, match=r"max_norm must be a finite number > 0, got 0\.0"):
        optim.clip_by_global_norm(0.0)
    with pytest.raises(ValueError, match=r"initial_accumulator must be a finite number >= 0, got -1\.0"):
        optim.adagrad(0.1, initial_accumulator=-1.0)
    with pytest.raises(TypeError, match="nesterov must be a bool"):
        optim.trace(0.9, nesterov="yes")
    with pytest.raises(TypeError, match=r"transforms\[1\] must be an optim.Transform, got float"):
        optim.chain(optim.scale(0.1), 0.1)


@pytest.mark.parametrize(
    "make",
    [optim.gd, optim.sgd, optim.momentum, optim.adagrad, optim.rmsprop, optim.adam, optim.adamw],
    ids=["gd", "sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw"],
)
def test_grads_with_another_structure_than_the_state_are_rejected(make):
    params = _params(jnp.float32)
    opt = make(0.1)
    state = opt.init(params)
    wrong = ({"W": params[0]["W"]},)  # the bias is missing
    with pytest.raises(ValueError, match=r"grads must have the tree structure of .*: expected PyTreeDef.*got PyTreeDef"):
        opt.update(wrong, state, params)
    with pytest.raises(ValueError, match=r"grads must have the tree structure"):
        jax.jit(opt.update)(wrong, state, params)  # the check is static: works while tracing
    wrong_shape = ({"W": jnp.zeros((2, 1)), "b": params[0]["b"]},)
    with pytest.raises(ValueError, match=r"at grads\[0\]\['W'\] expected shape \(1, 1\), got \(2, 1\)"):
        opt.update(wrong_shape, state, params)


def test_apply_updates_and_decay_reject_mismatched_trees():
    params = _params(jnp.float32)
    with pytest.raises(ValueError, match=r"updates must have the tree structure of params: expected"):
        optim.apply_updates(params, ({"W": params[0]["W"]},))
    opt = optim.add_decayed_weights(0.1)
    with pytest.raises(ValueError, match="params must be given to add_decayed_weights' update"):
        opt.update(params, opt.init(params))
    bad_mask = optim.add_decayed_weights(0.1, mask=({"W": True},))
    with pytest.raises(ValueError, match="mask must have the tree structure of params"):
        bad_mask.update(params, bad_mask.init(params), params)


def test_wrong_state_is_rejected():
    params = _params(jnp.float32)
    with pytest.raises(ValueError, match="state must be the AdamState made by scale_by_adam.init, got TraceState"):
        optim.scale_by_adam().update(params, optim.trace(0.5).init(params))
    with pytest.raises(ValueError, match="state must be a tuple of 2 sub-states"):
        optim.adam(0.1).update(params, optim.gd(0.1).init(params))


def test_set_hyperparams_rejects_bad_values_names_and_shapes():
    state = optim.sgd(0.1, momentum=0.9).init(_params(jnp.float32))
    with pytest.raises(ValueError, match=r"rate must be a finite number >= 0, got -1\.0"):
        optim.set_hyperparams(state, rate=-1.0)
    with pytest.raises(ValueError, match=r"mu must be a number in \[0, 1\), got 1\.0"):
        optim.set_hyperparams(state, mu=1.0)
    with pytest.raises(ValueError, match=r"b1 is not a hyperparameter of this state: expected one of \['mu', 'rate'\], got 'b1'"):
        optim.set_hyperparams(state, b1=0.5)
    with pytest.raises(ValueError, match=r"of shape \(\), got shape \(3,\)"):
        optim.set_hyperparams(state, rate=np.ones(3))
    two = optim.chain(optim.scale(0.1), optim.scale(0.2)).init(_params(jnp.float32))
    with pytest.raises(ValueError, match="rate is ambiguous"):
        optim.set_hyperparams(two, rate=0.3)
    with pytest.raises(ValueError, match="exactly one scale"):
        optim.current_rate(two)


# ---------------------------------------------------------------- a full training step


def test_jitted_mlp_train_step_reduces_cost_and_compiles_once():
    from fnn import backprop, nn

    net = nn.MLP((2, 8, 1), hidden="tanh", output="sigmoid")
    key_x, key_p = jax.random.split(jax.random.key(0))
    x = jax.random.normal(key_x, (64, 2), jnp.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(jnp.float32)[:, None]  # XOR of the signs
    opt = optim.chain(
        optim.clip_by_global_norm(1.0), optim.scale_by_adam(), optim.scale(schedules.cosine_decay(0.05, 300, 0.005))
    )

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, state, x, y):
        cost, grads = backprop.value_and_grad(net, "cross_entropy", params, x, y)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state, cost

    params = net.init(key_p)
    state = opt.init(params)
    costs = []
    for t in range(300):
        if t == 150:
            state = optim.set_hyperparams(state, rate_multiplier=0.5)  # no recompilation
        params, state, cost = step(params, state, x, y)
        costs.append(float(cost))
    assert np.all(np.isfinite(costs))
    assert costs[-1] < 0.5 * costs[0], (costs[0], costs[-1])
    assert int(state[-1].count) == 300


def test_minimize_records_the_cost_of_every_iterate_and_vmaps_over_rates(x64):
    # f(w) = 1/2 lambda w^2 under GD: w_t = (1 - eta lambda)^t w_0, f(w_t) = f(w_0) (1 - eta lambda)^(2t).
    lam, w0 = 2.0, jnp.array(1.5, jnp.float64)
    f = lambda w: 0.5 * lam * w**2
    w, costs = optim.minimize(f, w0, optim.gd(0.1), 5)
    expected = 0.5 * lam * 1.5**2 * (1 - 0.1 * lam) ** (2 * np.arange(6))
    np.testing.assert_allclose(costs, expected, rtol=1e-12)
    assert float(w) == pytest.approx(1.5 * 0.8**5, rel=1e-12)
    rates = jnp.array([0.1, 0.25, 0.5], jnp.float64)
    final = jax.vmap(lambda r: optim.minimize(f, w0, optim.gd(1.0), 5, rate=r)[1][-1])(rates)
    np.testing.assert_allclose(final, 0.5 * lam * 1.5**2 * (1 - np.asarray(rates) * lam) ** 10, rtol=1e-12)
    with pytest.raises(ValueError, match="steps must be an integer >= 0, got -1"):
        optim.minimize(f, w0, optim.gd(0.1), -1)


def test_trajectory_stacks_the_iterates_that_minimize_walks(x64):
    f = lambda w: 0.5 * jnp.sum(jnp.array([1.0, 4.0], jnp.float64) * w["v"] ** 2)
    w0 = {"v": jnp.array([1.0, -2.0], jnp.float64)}
    ws = optim.trajectory(f, w0, optim.momentum(0.1, mu=0.5), 6)
    assert ws["v"].shape == (7, 2)
    np.testing.assert_array_equal(ws["v"][0], w0["v"])
    w_end, costs = optim.minimize(f, w0, optim.momentum(0.1, mu=0.5), 6)
    np.testing.assert_allclose(ws["v"][-1], w_end["v"], rtol=1e-14)
    np.testing.assert_allclose(jax.vmap(lambda v: f({"v": v}))(ws["v"]), costs, rtol=1e-14)
    # GD on a diagonal quadratic: each coordinate follows (1 - eta lambda)^t
    gd = optim.trajectory(f, w0, optim.gd(0.1), 6)["v"]
    t = np.arange(7)[:, None]
    np.testing.assert_allclose(gd, np.array([1.0, -2.0]) * (1 - 0.1 * np.array([1.0, 4.0])) ** t, rtol=1e-12)


def test_adam_on_bfloat16_params_makes_finite_progress_with_float32_state():
    # In bfloat16, b2 = 0.999 rounds to 1.0 and 1 - b2^t = 0: the state must not be kept in the params' dtype.
    target = jnp.linspace(-1.0, 1.0, 8)
    loss = lambda p: jnp.sum(jnp.square(p["w"].astype(jnp.float32) - target))  # noqa: E731
    params = {"w": jnp.zeros((8,), jnp.bfloat16)}
    opt = optim.adam(0.05)
    state = opt.init(params)
    assert state[0].m["w"].dtype == jnp.float32 and state[0].v["w"].dtype == jnp.float32
    assert state[0].b2.dtype == jnp.float32 and float(state[0].b2) == np.float32(0.999) != 1.0  # reads back 0.999
    assert float(state[0].b1) == np.float32(0.9) and float(state[0].eps) == np.float32(1e-8)
    assert optim.current_rate(state).dtype == jnp.float32 and float(optim.current_rate(state)) == np.float32(0.05)

    @jax.jit
    def step(params, state):
        grads = jax.grad(lambda p: loss(p).astype(jnp.bfloat16))(params)
        updates, state = opt.update(grads, state, params)
        assert updates["w"].dtype == jnp.bfloat16
        return optim.apply_updates(params, updates), state

    start = float(loss(params))
    for _ in range(100):
        params, state = step(params, state)
    assert params["w"].dtype == jnp.bfloat16
    assert bool(jnp.all(jnp.isfinite(params["w"])))
    assert float(loss(params)) < 0.01 * start  # 5.7 -> well under 1%


@pytest.mark.parametrize("make", [lambda: optim.rmsprop(0.01), lambda: optim.momentum(0.05, 0.9),
                                  lambda: optim.adagrad(0.1)])
def test_accumulators_of_bfloat16_params_are_float32_and_updates_bfloat16(make):
    params = {"w": jnp.ones((3,), jnp.bfloat16)}
    opt = make()
    state = opt.init(params)
    assert all(leaf.dtype in (jnp.float32, jnp.int32) for leaf in jax.tree_util.tree_leaves(state))
    updates, state = opt.update({"w": jnp.full((3,), 0.5, jnp.bfloat16)}, state, params)
    assert updates["w"].dtype == jnp.bfloat16 and bool(jnp.all(updates["w"] < 0))
