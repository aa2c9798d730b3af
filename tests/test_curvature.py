"""fnn.curvature against the dense ``jax.hessian`` of tiny networks (float64; notes, "Convergence")."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from fnn import analysis, backprop, curvature, optim, train
from fnn.nn import MLP

CASES = [
    ((4, 6, 3), "tanh", "softmax", "log_likelihood"),
    ((4, 5, 3), "relu", "linear", "quadratic"),
    ((3, 4, 4, 2), "sigmoid", "sigmoid", "cross_entropy"),
]
# The first case in the default suite, the others behind the slow marker (each compiles a few programs).
CASES_SLOW = [CASES[0]] + [pytest.param(c, marks=pytest.mark.slow) for c in CASES[1:]]


def _problem(sizes, hidden, output, cost, n=37, seed=0):
    net = MLP(sizes, hidden=hidden, output=output)
    params = net.init(jax.random.key(seed), jnp.float64)
    x = jax.random.normal(jax.random.key(seed + 1), (n, sizes[0]), jnp.float64)
    y = jax.random.randint(jax.random.key(seed + 2), (n,), 0, sizes[-1])
    return net, params, x, y


def _dense(net, cost, params, x, y):
    flat, unravel = ravel_pytree(params)
    H = jax.jit(jax.hessian(lambda w: backprop.loss(net, cost, unravel(w), x, y)))(flat)
    return np.asarray((H + H.T) / 2)


def _dense_gauss_newton(net, cost, params, x, y):
    flat, unravel = ravel_pytree(params)
    a = net.forward(params, x).a[-1]
    J = jax.jit(jax.jacfwd(lambda w: net.forward(unravel(w), x).a[-1].reshape(-1)))(flat)
    from fnn import costs

    c = costs.get(cost)
    Ha = jax.jit(jax.hessian(lambda s: c.value(s.reshape(a.shape), y, net.output)))(a.reshape(-1))
    return np.asarray(J.T @ Ha @ J)


@pytest.mark.parametrize("case", CASES)
def test_chunked_hvp_of_backprop_and_of_jax_grad_equal_dense_hessian_times_v(x64, case):
    net, params, x, y = _problem(*case[:3], case[3])
    H = _dense(net, case[3], params, x, y)
    flat, unravel = ravel_pytree(params)
    v = jnp.cos(jnp.arange(flat.size, dtype=jnp.float64))
    want = H @ np.asarray(v)
    # chunk 10 does not divide 37: three chunks of 10 and a remainder of 7
    for grad, chunk in (("backprop", None), ("backprop", 10), ("autodiff", 10)):
        got = ravel_pytree(curvature.dataset_hvp(net, case[3], params, unravel(v), x, y, chunk_size=chunk, grad=grad))[0]
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-13)


def test_backprop_and_autodiff_hvps_agree_on_a_layer_norm_network(x64):
    net = MLP((4, 6, 3), hidden="tanh", output="softmax", norm="layer")
    params = net.init(jax.random.key(3), jnp.float64)
    x = jax.random.normal(jax.random.key(4), (20, 4), jnp.float64)
    y = jax.random.randint(jax.random.key(5), (20,), 0, 3)
    v = jax.tree_util.tree_map(lambda a: jnp.sin(jnp.arange(a.size, dtype=a.dtype)).reshape(a.shape), params)
    a = ravel_pytree(curvature.dataset_hvp(net, "log_likelihood", params, v, x, y, chunk_size=7))[0]
    b = ravel_pytree(curvature.dataset_hvp(net, "log_likelihood", params, v, x, y, grad="autodiff"))[0]
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("case", CASES_SLOW)
def test_gauss_newton_product_equals_dense_jt_hout_j(x64, case):
    net, params, x, y = _problem(*case[:3], case[3])
    G = _dense_gauss_newton(net, case[3], params, x, y)
    mv = curvature.make_matvec(net, case[3], params, x, y, chunk_size=8, matrix="gauss_newton")
    v = jnp.cos(1.0 + jnp.arange(G.shape[0], dtype=jnp.float64))
    np.testing.assert_allclose(np.asarray(mv(v)), G @ np.asarray(v), rtol=1e-10, atol=1e-13)
    # Matched pairs: d^2 C / da^2 is positive semi-definite, so G is.
    assert np.linalg.eigvalsh(G)[0] > -1e-12


@pytest.mark.slow  # ~10 s on 2 cores; the product itself is checked against dense J^T H_out J above
def test_gauss_newton_equals_hessian_at_zero_residual(x64):
    # Quadratic cost, linear output, targets = the network's own outputs: dC/da^L = 0, so H = G exactly.
    net = MLP((3, 5, 2), hidden="tanh", output="linear")
    params = net.init(jax.random.key(0), jnp.float64)
    x = jax.random.normal(jax.random.key(1), (15, 3), jnp.float64)
    y = net.apply(params, x)
    H = _dense(net, "quadratic", params, x, y)
    G = _dense_gauss_newton(net, "quadratic", params, x, y)
    np.testing.assert_allclose(H, G, atol=1e-12)
    gv = curvature.make_matvec(net, "quadratic", params, x, y, matrix="gauss_newton")
    hv = curvature.make_matvec(net, "quadratic", params, x, y)
    v = jnp.ones(H.shape[0], jnp.float64)
    np.testing.assert_allclose(np.asarray(gv(v)), np.asarray(hv(v)), atol=1e-12)


@pytest.mark.parametrize("case", CASES_SLOW)
def test_top_and_bottom_eigenpairs_match_dense_eigh_to_1e_8(x64, case):
    net, params, x, y = _problem(*case[:3], case[3])
    lam, U = np.linalg.eigh(_dense(net, case[3], params, x, y))
    P = lam.size
    # The whole Krylov space (m = P): the top 3 exactly.
    full = curvature.eigenpairs(net, case[3], params, x, y, 3, num_iters=P)
    assert full.num_hvps == P
    np.testing.assert_allclose(np.asarray(full.values), lam[::-1][:3], rtol=1e-8)
    # Fewer steps than parameters (m = 40 < P), chunked: the extremes to 1e-8.
    top = curvature.eigenpairs(net, case[3], params, x, y, 1, num_iters=40, chunk_size=10)
    np.testing.assert_allclose(np.asarray(top.values[0]), lam[-1], rtol=1e-8)
    assert abs(float(np.asarray(top.vectors[0]) @ U[:, -1])) == pytest.approx(1.0, abs=1e-8)
    assert float(top.residuals[0]) < 1e-6
    bot = curvature.eigenpairs(net, case[3], params, x, y, 1, num_iters=40, chunk_size=10, which="smallest")
    np.testing.assert_allclose(np.asarray(bot.values[0]), lam[0], rtol=1e-8)


def test_lanczos_restarts_when_the_krylov_space_closes(x64):
    # Only 3 distinct eigenvalues: the Krylov space of a random start closes after 3 steps.
    d = jnp.asarray([1.0, 1.0, 2.0, 2.0, 5.0, 5.0, 5.0], jnp.float64)
    t = curvature.lanczos_tridiagonal(lambda v: d * v, jnp.ones(7, jnp.float64), 7, jax.random.key(1))
    assert float(t.beta[2]) == 0.0  # closed after 3 steps: restarted, T stays an exact projection
    np.testing.assert_allclose(np.asarray(t.basis @ t.basis.T), np.eye(7), atol=1e-12)
    vals, _, _ = curvature.ritz_pairs(t, 7)
    np.testing.assert_allclose(np.sort(np.asarray(vals)), np.sort(np.asarray(d)), rtol=1e-12)


def test_warm_start_from_previous_eigenvector_needs_few_hvps(x64):
    net, params, x, y = _problem((4, 6, 3), "tanh", "softmax", "log_likelihood")
    lam, U = np.linalg.eigh(_dense(net, "log_likelihood", params, x, y))
    cold = curvature.eigenpairs(net, "log_likelihood", params, x, y, num_iters=4)
    warm_v0 = U[:, -1] + 1e-3 * np.cos(np.arange(lam.size))
    warm = curvature.eigenpairs(net, "log_likelihood", params, x, y, num_iters=4, v0=jnp.asarray(warm_v0))
    err_warm = abs(float(warm.values[0]) - lam[-1]) / lam[-1]
    err_cold = abs(float(cold.values[0]) - lam[-1]) / lam[-1]
    # A start 5e-3 away from u_1: 4 HVPs reach 1e-6 (a cold start does not), at most 1e-3 of the cold error.
    assert err_warm < 1e-6 < err_cold and err_warm < 1e-3 * err_cold, (err_warm, err_cold)
    exact = curvature.eigenpairs(net, "log_likelihood", params, x, y, num_iters=4, v0=jnp.asarray(U[:, -1]))
    np.testing.assert_allclose(np.asarray(exact.values[0]), lam[-1], rtol=1e-10)


def test_slq_density_is_the_quadrature_of_v_g_of_h_v_and_matches_the_dense_density(x64):
    net, params, x, y = _problem((4, 6, 3), "tanh", "softmax", "log_likelihood")
    lam, U = np.linalg.eigh(_dense(net, "log_likelihood", params, x, y))
    P, sigma, R = lam.size, 0.02, 200
    d = curvature.spectral_density(net, "log_likelihood", params, x, y, num_probes=R, num_iters=P, sigma=sigma,
                                   key=jax.random.key(3))
    assert d.num_hvps == R * P
    grid = np.asarray(d.grid)
    dx = grid[1] - grid[0]
    assert float(np.sum(np.asarray(d.density)) * dx) == pytest.approx(1.0, abs=1e-6)
    # Identity (m = P, Gauss quadrature exact): each probe's density is v^T g(t - H) v for its unit start v.
    g = np.exp(-0.5 * ((grid[:, None] - lam[None, :]) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    keys = jax.random.split(jax.random.key(3), R)
    per_probe = []
    for r in range(3):
        v = np.asarray(jax.random.normal(keys[r], (P,), jnp.float64))
        c = (U.T @ v) ** 2 / (v @ v)
        want = g @ c
        got = np.asarray(curvature.gaussian_density(d.nodes[r], d.weights[r], d.grid, sigma))
        np.testing.assert_allclose(got, want, atol=1e-8 * want.max())
    # Statistical bound: the mean of R probes is within 5 standard errors (pointwise) of the exact
    # broadened density (1/P) sum_i g(t - lambda_i), plus 1e-8 of the peak for round-off.
    per_probe = np.stack([np.asarray(curvature.gaussian_density(d.nodes[r], d.weights[r], d.grid, sigma)) for r in range(R)])
    se = per_probe.std(axis=0, ddof=1) / math.sqrt(R)
    exact = g.mean(axis=1)
    assert np.all(np.abs(np.asarray(d.density) - exact) <= 5 * se + 1e-8 * exact.max())
    # Fewer Lanczos steps than parameters: same probes, L1 distance to the m = P quadrature <= 0.05.
    d20 = curvature.spectral_density(net, "log_likelihood", params, x, y, num_probes=R, num_iters=20, sigma=sigma,
                                     key=jax.random.key(3))
    ref = np.asarray(curvature.gaussian_density(d.nodes, d.weights, d20.grid, sigma))
    l1 = float(np.sum(np.abs(np.asarray(d20.density) - ref)) * (float(d20.grid[1] - d20.grid[0])))
    assert l1 <= 0.05, l1


def test_hutchinson_trace_within_four_standard_errors_of_the_dense_trace(x64):
    net, params, x, y = _problem((4, 5, 3), "relu", "linear", "quadratic")
    H = _dense(net, "quadratic", params, x, y)
    R = 400
    est, se = curvature.hessian_trace(net, "quadratic", params, x, y, num_probes=R, chunk_size=9)
    assert abs(float(est) - np.trace(H)) <= 4 * float(se)
    # The standard error is that of Rademacher probes: Var = 2 sum_{i != j} H_ij^2.
    se_theory = math.sqrt(2 * (np.sum(H**2) - np.sum(np.diag(H) ** 2)) / R)
    assert float(se) == pytest.approx(se_theory, rel=0.25)


def test_sharpness_tracker_in_fit_records_the_dense_lambda_max(x64):
    net, params, x, y = _problem((4, 6, 3), "tanh", "softmax", "log_likelihood", n=32)
    tracker = curvature.SharpnessTracker(net, "log_likelihood", x, y, every=2, k=2, num_iters=12)
    state, hist = train.fit(net, "log_likelihood", optim.gd(0.5), (x, y), epochs=6, batch_size=32,
                            key=jax.random.key(0), progress=False, callback=tracker, dtype=jnp.float64)
    assert tracker.epochs == [2, 4, 6] and tracker.steps == [2, 4, 6]
    # The last measurement against the dense Hessian at the final parameters.
    lam = np.linalg.eigvalsh(_dense(net, "log_likelihood", state.params, x, y))
    assert tracker.values[-1].shape == (2,)
    np.testing.assert_allclose(tracker.values[-1][0], lam[-1], rtol=1e-8)
    # The second Ritz value (12 steps) approaches lambda_2 from below.
    assert lam[-3] < tracker.values[-1][1] <= lam[-2] + 1e-12
    assert tracker.lambda_max[-1] == pytest.approx(lam[-1], rel=1e-8)


def test_analysis_does_not_re_export_curvature():
    # One home per name: network curvature is fnn.curvature's; analysis only uses its Lanczos.
    assert not set(curvature.__all__) & set(analysis.__all__)
    assert not hasattr(analysis, "eigenpairs") and not hasattr(analysis, "SharpnessTracker")


def test_arguments_are_validated():
    net = MLP((3, 4, 2), hidden="tanh", output="softmax")
    params = net.init(jax.random.key(0))
    x, y = jnp.ones((5, 3)), jnp.zeros((5,), jnp.int32)
    with pytest.raises(ValueError, match="net.norm must be None or 'layer'"):
        curvature.eigenpairs(MLP((3, 4, 2), norm="batch"), "quadratic", params, x, y)
    with pytest.raises(ValueError, match="matrix must be one of"):
        curvature.make_matvec(net, "log_likelihood", params, x, y, matrix="fisher")
    with pytest.raises(ValueError, match="x must have shape \\(n, 3\\)"):
        curvature.hessian_trace(net, "log_likelihood", params, jnp.ones((5, 4)), y)
    with pytest.raises(ValueError, match="k must be an int in \\[1, 26\\]"):
        curvature.eigenpairs(net, "log_likelihood", params, x, y, 27)
    with pytest.raises(ValueError, match="v0 must be a vector of shape \\(26,\\)"):
        curvature.eigenpairs(net, "log_likelihood", params, x, y, v0=jnp.ones(3))
    with pytest.raises(ValueError, match="v0 must be finite and nonzero"):
        curvature.eigenpairs(net, "log_likelihood", params, x, y, v0=jnp.zeros(26))
    with pytest.raises(TypeError, match="chunk_size must be an int"):
        curvature.dataset_hvp(net, "log_likelihood", params, params, x, y, chunk_size=2.5)
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        curvature.spectral_density(net, "log_likelihood", params, x, y, sigma=-1.0)
    with pytest.raises(ValueError, match="x and y must hold the same number of examples, got 5"):
        curvature.eigenpairs(net, "log_likelihood", params, x, y[:3])


def _small():
    net = MLP((3, 4, 3), hidden="tanh", output="softmax")
    params = net.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (6, 3))
    return net, params, x, jnp.asarray([0, 1, 2, 0, 1, 2], jnp.int32)


def _every_door(net, params, x, y):
    yield lambda: curvature.dataset_hvp(net, "log_likelihood", params, params, x, y)
    yield lambda: curvature.make_matvec(net, "log_likelihood", params, x, y)
    yield lambda: curvature.eigenpairs(net, "log_likelihood", params, x, y, num_iters=4)
    yield lambda: curvature.spectral_density(net, "log_likelihood", params, x, y, num_probes=1, num_iters=4)
    yield lambda: curvature.hessian_trace(net, "log_likelihood", params, x, y, num_probes=2)


def test_labels_out_of_range_raise_at_every_door_instead_of_a_nan_answer():
    net, params, x, y = _small()
    for call in _every_door(net, params, x, y.at[4].set(3)):
        with pytest.raises(ValueError, match=r"y must hold class labels in \[0, 2\] .* got labels in \[0, 3\]"):
            call()
    with pytest.raises(ValueError, match=r"got labels in \[-1, 2\]"):
        curvature.SharpnessTracker(net, "log_likelihood", x, y.at[0].set(-1))


def test_a_nan_or_inf_row_in_the_data_raises_naming_the_row():
    net, params, x, y = _small()
    for bad, shown in ((jnp.nan, "nan"), (jnp.inf, "inf")):
        for call in _every_door(net, params, x.at[3, 1].set(bad), y):
            with pytest.raises(ValueError, match=f"x must hold finite numbers, got {shown} in row 3 \\(1 of 6 rows"):
                call()


def test_nan_parameters_raise_naming_the_leaf():
    net, params, x, y = _small()
    bad = (params[0], {**params[1], "b": params[1]["b"].at[2].set(jnp.nan)})
    for call in _every_door(net, bad, x, y):
        with pytest.raises(ValueError, match=r"params\[1\]\['b'\] must hold finite numbers, got nan \(1 of 3"):
            call()


def test_sharpness_tracker_raises_at_the_epoch_whose_parameters_are_nan():
    net, params, x, y = _small()
    tracker = curvature.SharpnessTracker(net, "log_likelihood", x, y, num_iters=4)
    state = train.TrainState(params=params, opt_state=(), net_state=None, step=jnp.zeros((), jnp.int32),
                             key=jax.random.key(0))
    tracker(1, state, {"step": 1})
    nan = jax.tree_util.tree_map(lambda a: a * jnp.nan, params)
    with pytest.raises(ValueError, match=r"state.params \(epoch 2\)\[0\]\['W'\] must hold finite numbers"):
        tracker(2, state._replace(params=nan), {"step": 2})
    assert tracker.epochs == [1] and len(tracker.values) == 1


def test_dataset_hvp_names_v_when_a_leaf_has_the_wrong_shape():
    net, params, x, y = _small()
    v = (params[0], {**params[1], "W": jnp.ones((4, 3))})
    with pytest.raises(ValueError, match=r"v\[1\]\['W'\] must have the shape of params\[1\]\['W'\], \(3, 4\), got \(4, 3\)"):
        curvature.dataset_hvp(net, "log_likelihood", params, v, x, y)


def test_eigenpairs_of_bfloat16_parameters_are_computed_in_float32():
    net, params, x, y = _small()
    p16 = jax.tree_util.tree_map(lambda a: a.astype(jnp.bfloat16), params)
    p32 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), p16)  # the same numbers in float32
    got = curvature.eigenpairs(net, "log_likelihood", p16, x, y, 2, num_iters=10)
    want = curvature.eigenpairs(net, "log_likelihood", p32, x, y, 2, num_iters=10)
    assert got.values.dtype == jnp.float32 and got.vectors.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(got.values), np.asarray(want.values))


@pytest.mark.parametrize("seed", [0, 1])
def test_float32_residuals_bound_the_true_residual_and_the_error_against_a_float64_dense_hessian(seed):
    # 12-16-3 tanh (P = 259), k = 3, converged: the Lanczos bound alone is ~0, the true residual ~ eps ||H||.
    net = MLP((12, 16, 3), hidden="tanh", output="softmax")
    params = net.init(jax.random.key(seed))
    x = jax.random.normal(jax.random.key(seed + 10), (200, 12))
    y = jax.random.randint(jax.random.key(seed + 20), (200,), 0, 3)
    r = curvature.eigenpairs(net, "log_likelihood", params, x, y, 3, num_iters=60)
    with jax.enable_x64(True):
        p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
        H = _dense(net, "log_likelihood", p64, jnp.asarray(x, jnp.float64), y)
    lam = np.linalg.eigvalsh(H)[::-1][:3]
    U, theta, res = np.asarray(r.vectors, np.float64), np.asarray(r.values, np.float64), np.asarray(r.residuals)
    true_res = np.linalg.norm(H @ U.T - U.T * theta, axis=0)
    eps = float(np.finfo(np.float32).eps)
    assert np.all(true_res > 0.5 * eps * lam[0])  # the round-off is real: a bound of ~0 would be false
    assert np.all(true_res <= res) and np.all(np.abs(theta - lam) <= res)
    assert np.all(res <= 100 * eps * lam[0])  # and the bound stays tight


def test_dataset_hvp_traces_inside_the_callers_jit_and_matches_the_eager_call():
    net, params, x, y = _small()
    v = jax.tree_util.tree_map(jnp.ones_like, params)
    eager = curvature.dataset_hvp(net, "log_likelihood", params, v, x, y)
    jitted = jax.jit(lambda p, x, y: curvature.dataset_hvp(net, "log_likelihood", p, v, x, y))(params, x, y)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_the_same_arrays_are_checked_once_and_new_arrays_again():
    # jax.Arrays are immutable: a second call on the same objects skips the pass over the data; an array
    # built from them (a NaN written in) is a new object and is checked.
    net, params, x, y = _small()
    curvature.hessian_trace(net, "log_likelihood", params, x, y, num_probes=2)
    curvature.hessian_trace(net, "log_likelihood", params, x, y, num_probes=2)
    with pytest.raises(ValueError, match="x must hold finite numbers, got nan in row 0"):
        curvature.hessian_trace(net, "log_likelihood", params, x.at[0, 0].set(jnp.nan), y, num_probes=2)
