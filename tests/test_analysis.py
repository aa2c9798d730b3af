"""Tests for fnn.analysis against closed forms (notes, "Convergence", "Momentum")."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import analysis
from fnn.backprop import loss
from fnn.nn import MLP


def _spd(n: int, seed: int = 0, lo: float = 0.5, hi: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """A random symmetric positive definite matrix and its eigenvalues (ascending)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = np.sort(rng.uniform(lo, hi, size=n))
    return (q * lam) @ q.T, lam


def _tree_quadratic(A: np.ndarray):
    """A quadratic of a two-leaf pytree: f(p) = 1/2 w^T A w with w = ravel(p)."""
    A = jnp.asarray(A)

    def f(p):
        w = jnp.concatenate([p["u"], p["v"].reshape(-1)])
        return 0.5 * jnp.vdot(w, A @ w)

    return f


# --- the Hessian -------------------------------------------------------------


def test_hessian_of_quadratic_is_its_matrix(x64):
    A, _ = _spd(5)
    H = analysis.hessian(analysis.quadratic(jnp.asarray(A)), jnp.ones(5))
    np.testing.assert_allclose(np.asarray(H), A, rtol=1e-12, atol=1e-12)


def test_hessian_spectrum_of_random_spd_matches_numpy_eigvalsh(x64):
    A, lam = _spd(7, seed=1)
    params = {"u": jnp.zeros(3), "v": jnp.zeros((2, 2))}
    spec = analysis.hessian_spectrum(_tree_quadratic(A), params)
    np.testing.assert_allclose(np.asarray(spec), np.linalg.eigvalsh(A), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(spec), lam, rtol=1e-10)


def test_hessian_spectrum_of_diagonal_quadratic_is_its_diagonal(x64):
    d = jnp.asarray([3.0, 0.1, 7.0, 1.0])
    spec = analysis.hessian_spectrum(lambda w: 0.5 * jnp.sum(d * w * w), jnp.zeros(4))
    np.testing.assert_allclose(np.asarray(spec), np.sort(np.asarray(d)), rtol=1e-12)


def test_hvp_equals_dense_hessian_times_vector(x64):
    A, _ = _spd(7, seed=2)
    f = _tree_quadratic(A)
    params = {"u": jnp.arange(3.0), "v": jnp.ones((2, 2))}
    v = {"u": jnp.asarray([1.0, -2.0, 0.5]), "v": jnp.asarray([[0.3, 0.0], [-1.0, 2.0]])}
    hv = analysis.hvp(f, params, v)
    want = A @ np.concatenate([np.asarray(v["u"]), np.asarray(v["v"]).reshape(-1)])
    got = np.concatenate([np.asarray(hv["u"]), np.asarray(hv["v"]).reshape(-1)])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_hvp_of_nonquadratic_matches_dense_hessian_of_mlp_loss(x64):
    net = MLP((3, 4, 2), hidden="tanh", output="sigmoid")
    params = net.init(jax.random.key(0), jnp.float64)
    x = jax.random.normal(jax.random.key(1), (6, 3), jnp.float64)
    y = jnp.asarray([0, 1, 1, 0, 1, 0])
    f = lambda p: loss(net, "cross_entropy", p, x, y)  # noqa: E731
    H = analysis.hessian(f, params)
    v = jax.tree_util.tree_map(lambda a: jnp.cos(jnp.arange(a.size, dtype=a.dtype)).reshape(a.shape), params)
    flat_v = jax.flatten_util.ravel_pytree(v)[0]
    flat_hv = jax.flatten_util.ravel_pytree(analysis.hvp(f, params, v))[0]
    np.testing.assert_allclose(np.asarray(flat_hv), np.asarray(H @ flat_v), rtol=1e-9, atol=1e-12)


def test_hessian_refuses_more_than_max_params():
    with pytest.raises(ValueError, match="max_params"):
        analysis.hessian(lambda w: jnp.sum(w * w), jnp.zeros(11), max_params=10)


def test_hessian_rejects_non_scalar_function():
    with pytest.raises(ValueError, match="f must return a scalar"):
        analysis.hessian(lambda w: w * w, jnp.zeros(3))


def test_hessian_rejects_integer_params():
    with pytest.raises(TypeError, match="floating-point"):
        analysis.hessian(lambda w: jnp.sum(w), jnp.zeros(3, jnp.int32))


# --- iterative eigensolvers --------------------------------------------------------


def test_power_iteration_finds_lambda_max_of_diagonal_quadratic(x64):
    d = jnp.asarray([1.0, 2.0, 5.0, 10.0])
    lam = analysis.power_iteration(lambda w: 0.5 * jnp.sum(d * w * w), jnp.zeros(4), num_iters=200)
    assert abs(float(lam) - 10.0) < 1e-8


def test_lanczos_with_full_krylov_space_recovers_whole_spectrum(x64):
    A, lam = _spd(9, seed=3)
    ritz = analysis.lanczos(analysis.quadratic(jnp.asarray(A)), jnp.zeros(9), num_iters=9)
    np.testing.assert_allclose(np.asarray(ritz), lam, rtol=1e-8)


def test_lanczos_cuts_t_when_krylov_space_closes(x64):
    # Two distinct eigenvalues: the Krylov space has dimension 2, no spurious zero Ritz values.
    d = jnp.asarray([1.0, 1.0, 1.0, 4.0, 4.0])
    ritz = analysis.lanczos(lambda w: 0.5 * jnp.sum(d * w * w), jnp.zeros(5), num_iters=5)
    np.testing.assert_allclose(np.asarray(ritz), [1.0, 4.0], rtol=1e-8)


def test_lanczos_extremes_of_large_spectrum_converge_in_few_steps(x64):
    # P = 3000: a bulk in [1, 2] plus isolated extremes 0.1 and 50 (no dense Hessian here).
    bulk = np.random.default_rng(4).uniform(1.0, 2.0, 2998)
    d = jnp.asarray(np.concatenate([[0.1], bulk, [50.0]]))
    f = lambda w: 0.5 * jnp.sum(d * w * w)  # noqa: E731
    lo, hi = analysis.extreme_eigenvalues(f, jnp.zeros(3000), jax.random.key(1), num_iters=40, method="lanczos")
    assert abs(float(hi) - 50.0) < 1e-6 * 50
    assert abs(float(lo) - 0.1) < 1e-6


def test_lanczos_ritz_values_lie_inside_the_spectrum(x64):
    A, lam = _spd(40, seed=5)
    ritz = np.asarray(analysis.lanczos(analysis.quadratic(jnp.asarray(A)), jnp.zeros(40), num_iters=6))
    assert ritz.shape == (6,)
    assert ritz.min() >= lam.min() - 1e-9 and ritz.max() <= lam.max() + 1e-9


def test_extreme_eigenvalues_dense_and_lanczos_agree_on_mlp_loss(x64):
    net = MLP((2, 5, 1), hidden="tanh", output="linear")
    params = net.init(jax.random.key(2), jnp.float64)
    x = jax.random.normal(jax.random.key(3), (20, 2), jnp.float64)
    y = jnp.sin(x[:, :1])
    f = lambda p: loss(net, "quadratic", p, x, y)  # noqa: E731
    dense = analysis.extreme_eigenvalues(f, params, method="dense")
    krylov = analysis.extreme_eigenvalues(f, params, method="lanczos", num_iters=net.num_params())
    np.testing.assert_allclose(np.asarray(krylov), np.asarray(dense), rtol=1e-6, atol=1e-9)


def test_extreme_eigenvalues_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        analysis.extreme_eigenvalues(lambda w: jnp.sum(w * w), jnp.zeros(2), method="qr")


# --- rates ---------------------------------------------------------------------------


def test_condition_number_is_lambda_max_over_lambda_min():
    assert float(analysis.condition_number([0.5, 2.0, 50.0])) == pytest.approx(100.0)


def test_condition_number_rejects_non_positive_definite_spectrum():
    with pytest.raises(ValueError, match="lambda_min = -1"):
        analysis.condition_number([-1.0, 2.0])


def test_stable_rate_is_the_boundary_of_convergence(x64):
    d = jnp.asarray([0.3, 1.0, 4.0])
    grad = lambda w: d * w  # noqa: E731
    eta_c = float(analysis.stable_rate(d))
    assert eta_c == pytest.approx(0.5)
    for factor, converges in ((0.99, True), (1.01, False)):
        w = jnp.ones(3)
        for _ in range(2000):
            w = w - factor * eta_c * grad(w)
        assert (float(jnp.max(jnp.abs(w))) < 1e-3) == converges, factor


def test_optimal_rate_top_converges_the_top_direction_in_one_step(x64):
    d = jnp.asarray([0.5, 2.0, 8.0])
    eta = float(analysis.optimal_rate(d, "top"))
    w = jnp.ones(3) - eta * d * jnp.ones(3)
    assert eta == pytest.approx(1 / 8)
    assert float(w[2]) == 0.0 and float(w[0]) == pytest.approx(1 - 0.5 / 8)


def test_optimal_rate_minimax_minimizes_the_worst_contraction(x64):
    lam = jnp.asarray([0.2, 1.0, 3.0, 4.0])
    eta_star = float(analysis.optimal_rate(lam, "minimax"))
    assert eta_star == pytest.approx(2 / 4.2)
    worst = float(analysis.gd_convergence_rate(lam, eta_star))
    kappa = 20.0
    assert worst == pytest.approx((kappa - 1) / (kappa + 1))
    grid = np.linspace(0.01, 0.5, 4000)
    assert worst <= min(float(analysis.gd_convergence_rate(lam, e)) for e in grid) + 1e-12
    assert worst < float(analysis.gd_convergence_rate(lam, float(analysis.optimal_rate(lam, "top"))))


def test_optimal_rate_rejects_unknown_criterion():
    with pytest.raises(ValueError, match="criterion"):
        analysis.optimal_rate([1.0, 2.0], "fastest")


def test_gd_iterates_follow_predicted_components_on_rotated_quadratic(x64):
    A, lam = _spd(6, seed=6, lo=0.1, hi=5.0)
    _, Q = np.linalg.eigh(A)
    E = analysis.quadratic(jnp.asarray(A), jnp.ones(6))
    g = jax.jit(jax.grad(E))
    eta = 0.3
    w = jnp.zeros(6)
    alphas = [Q.T @ (np.asarray(w) - 1.0)]
    for _ in range(30):
        w = w - eta * g(w)
        alphas.append(Q.T @ (np.asarray(w) - 1.0))
    pred = analysis.predicted_components(lam, eta, alphas[0], 30)
    np.testing.assert_allclose(np.asarray(alphas), np.asarray(pred), rtol=1e-9, atol=1e-12)


def test_gd_contraction_is_one_minus_eta_lambda():
    np.testing.assert_allclose(np.asarray(analysis.gd_contraction([1.0, 4.0], 0.25)), [0.75, 0.0])


def test_iterations_to_tolerance_equals_simulated_count(x64):
    d = np.asarray([0.05, 0.5, 1.0])
    eta, tol = 0.9, 1e-6
    predicted = float(analysis.iterations_to_tolerance(d, eta, tol))
    w, t = np.ones(3), 0
    while np.max(np.abs(w)) > tol:
        w, t = w - eta * d * w, t + 1
    assert predicted == t


def test_iterations_to_tolerance_grow_in_proportion_to_condition_number(x64):
    counts = [float(analysis.iterations_to_tolerance([1.0 / k, 1.0], 1.0, 1e-6)) for k in (10, 100, 1000)]
    ratios = [counts[i + 1] / counts[i] for i in range(2)]
    np.testing.assert_allclose(ratios, [10.0, 10.0], rtol=0.06)
    assert counts[-1] == pytest.approx(1000 * math.log(1e6), rel=1e-3)


def test_iterations_to_tolerance_inf_when_unstable_and_zero_when_done():
    assert math.isinf(float(analysis.iterations_to_tolerance([1.0, 3.0], 0.7, 1e-3)))
    assert float(analysis.iterations_to_tolerance([1.0], 0.5, 1e-3, alpha0=1e-4)) == 0.0
    assert float(analysis.iterations_to_tolerance([2.0], 0.5, 1e-3)) == 1.0


def test_iterations_to_tolerance_is_inf_beyond_two_over_lambda_max_even_for_a_small_top_component(x64):
    # eta = 1.5 > 2/lambda_max = 1: the top component starts inside tol but grows by |1 - 3| = 2 per step.
    d, eta, tol, a0 = np.asarray([1.0, 2.0]), 1.5, 0.1, np.asarray([1.0, 0.05])
    assert math.isinf(float(analysis.iterations_to_tolerance(d, eta, tol, alpha0=a0)))
    # Simulated GD: the first component is done after 4 steps, but from step 1 on the second never is.
    w = a0.copy()
    inside = []
    for _ in range(60):
        w = w - eta * d * w
        inside.append(bool(np.max(np.abs(w)) <= tol))
    assert not any(inside)
    # A zero top component does not grow: the count is that of the other one, ceil(ln 0.1 / ln 0.5) = 4.
    assert float(analysis.iterations_to_tolerance(d, eta, tol, alpha0=[1.0, 0.0])) == 4.0
    # With momentum past its stability limit eta lambda < 2 (1 + mu), also inf.
    assert math.isinf(float(analysis.iterations_to_tolerance(d, 1.2, tol, alpha0=a0, mu=0.1)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rate": -0.1}, "rate must be a finite number in \\(0, inf\\), got -0.1"),
        ({"tol": 0.0}, "tol must be"),
        ({"mu": 1.0}, "mu must be a finite number in \\[0, 1\\)"),
    ],
)
def test_iterations_to_tolerance_validates_arguments(kwargs, match):
    args = {"eigenvalues": [1.0], "rate": 0.1, "tol": 1e-3} | kwargs
    with pytest.raises(ValueError, match=match):
        analysis.iterations_to_tolerance(**args)


def test_eigenvalue_arguments_are_validated():
    with pytest.raises(ValueError, match="eigenvalues must be finite"):
        analysis.stable_rate([1.0, float("nan")])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        analysis.gd_contraction(np.ones((2, 2)), 0.1)
    with pytest.raises(ValueError, match="rate"):
        analysis.gd_contraction([1.0], 0.0)


# --- momentum ------------------------------------------------------------------------


def test_momentum_roots_solve_the_characteristic_polynomial(x64):
    lam = np.asarray([1e-3, 0.5, 1.0, 1.8])
    eta, mu = 1.0, 0.7
    r = np.asarray(analysis.momentum_roots(lam, eta, mu))
    for i, l in enumerate(lam):
        for root in r[i]:
            assert abs(root**2 - (1 + mu - eta * l) * root + mu) < 1e-12


def test_momentum_low_curvature_effective_rate_tends_to_eta_over_one_minus_mu(x64):
    eta, mu, lam = 1.0, 0.9, 1e-6
    slow = complex(analysis.momentum_roots([lam], eta, mu)[0, 0])
    assert (1 - slow.real) / lam == pytest.approx(eta / (1 - mu), rel=1e-3)


def test_momentum_complex_roots_have_modulus_sqrt_mu_and_step_sqrt_eta_lambda(x64):
    eta, lam = 1.0, 1.8
    for mu in (0.3, 0.6, 0.9):
        r = np.asarray(analysis.momentum_roots([lam], eta, mu))[0]
        assert np.all(np.abs(r.imag) > 0)
        np.testing.assert_allclose(np.abs(r), math.sqrt(mu), rtol=1e-12)
        np.testing.assert_allclose(np.abs(1 - r), math.sqrt(eta * lam), rtol=1e-12)


def test_momentum_contraction_matches_simulated_heavy_ball(x64):
    eta, mu, lam = 0.5, 0.5, 0.05  # real roots: the ratio of successive components tends to rho
    rho = float(analysis.momentum_contraction([lam], eta, mu)[0])
    a_prev, a = 1.0, 1.0
    T = 400
    for _ in range(T):
        a_prev, a = a, (1 + mu - eta * lam) * a - mu * a_prev
    a_next = (1 + mu - eta * lam) * a - mu * a_prev
    assert abs(a_next / a - rho) < 1e-6


def test_momentum_contraction_with_mu_zero_is_gd():
    lam = [0.1, 1.0, 3.0]
    np.testing.assert_allclose(
        np.asarray(analysis.momentum_contraction(lam, 0.5, 0.0)),
        np.abs(np.asarray(analysis.gd_contraction(lam, 0.5))),
        rtol=1e-6,
    )


def test_quadratic_rejects_non_symmetric_matrix():
    with pytest.raises(ValueError, match="symmetric"):
        analysis.quadratic(jnp.asarray([[1.0, 2.0], [0.0, 1.0]]))
