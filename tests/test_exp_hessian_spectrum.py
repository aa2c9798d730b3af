"""experiments.hessian_spectrum: the Gauss-Newton split, the class-mean part G_1 and the outlier rule (float64, dense)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from experiments.hessian_spectrum import C, bulk_edge, class_means, count_above, largest_gap_count
from fnn import backprop, curvature
from fnn.nn import MLP


def _tiny(n=23, seed=0):
    net = MLP((4, 5, C), hidden="tanh", output="softmax")
    params = net.init(jax.random.key(seed), jnp.float64)
    x = jax.random.normal(jax.random.key(seed + 1), (n, 4), jnp.float64)
    y = jax.random.randint(jax.random.key(seed + 2), (n,), 0, C)
    return net, params, x, y


def _per_example(net, params, x, y):
    """Dense float64 ingredients: J (n, C, P), p (n, C), the logits' Hessians (n, C, P, P), H."""
    flat, unravel = ravel_pytree(params)
    logits = lambda w, xi: net.forward(unravel(w), xi[None]).a[-1][0]  # noqa: E731
    J = jax.vmap(lambda xi: jax.jacfwd(logits)(flat, xi))(x)
    p = jax.nn.softmax(net.forward(params, x).a[-1])
    d2a = jax.vmap(lambda xi: jax.hessian(logits)(flat, xi))(x)
    H = jax.hessian(lambda w: backprop.loss(net, "log_likelihood", unravel(w), x, y))(flat)
    return np.asarray(J), np.asarray(p), np.asarray(d2a), np.asarray((H + H.T) / 2)


@pytest.mark.slow  # ~25 s on 2 cores (dense per-example Hessians / a P-step Lanczos compile)
def test_gauss_newton_is_jt_diag_p_minus_ppt_j_and_h_is_g_plus_the_residual(x64):
    net, params, x, y = _tiny()
    J, p, d2a, H = _per_example(net, params, x, y)
    n = x.shape[0]
    A = np.stack([np.diag(pi) - np.outer(pi, pi) for pi in p])
    G = np.einsum("ikp,ikl,ilq->pq", J, A, J) / n
    # residual sum_k dC/da_k d^2 a_k / dw^2 with dC/da = p - onehot(y) (softmax + log-likelihood)
    R = np.einsum("ik,ikpq->pq", p - np.eye(C)[np.asarray(y)], d2a) / n
    np.testing.assert_allclose(H, G + R, atol=1e-12)
    mv = curvature.make_matvec(net, "log_likelihood", params, x, y, matrix="gauss_newton")
    V = np.asarray(jax.vmap(mv)(jnp.eye(G.shape[0], dtype=jnp.float64)))
    np.testing.assert_allclose(V, G, atol=1e-12)


@pytest.mark.slow  # ~25 s on 2 cores (class_means compiles per-example Jacobians)
def test_class_means_give_the_psd_split_g_equals_g1_plus_a_covariance(x64):
    net, params, x, y = _tiny()
    J, p, _, _ = _per_example(net, params, x, y)
    n = x.shape[0]
    # g_ic = sqrt(p_ic) J_i^T (e_c - p_i)
    g = np.einsum("ic,ikp,cik->icp", np.sqrt(p), J, np.eye(C)[:, None, :] - p[None])
    G = np.einsum("icp,icq->pq", g, g) / n
    B = np.asarray(class_means(net, params, x, y))
    np.testing.assert_allclose(B, g.mean(0), atol=1e-13)
    G1 = B.T @ B
    rest = np.linalg.eigvalsh(G - G1)
    assert rest[0] > -1e-12  # G - G_1 = sum_c Cov_i(g_ic) is positive semi-definite
    # sum_c sqrt(p_ic) g_ic = 0 for each i: rank G_1 <= C, so at most C eigenvalues can clear the remainder
    np.testing.assert_allclose(np.einsum("ic,icp->ip", np.sqrt(p), g), 0, atol=1e-13)
    assert np.linalg.matrix_rank(G1, tol=1e-10) <= C


@pytest.mark.slow  # ~25 s on 2 cores (dense per-example Hessians / a P-step Lanczos compile)
def test_bulk_edge_is_the_dense_top_eigenvalue_of_m_minus_g1_and_the_count_obeys_weyl(x64):
    net, params, x, y = _tiny(n=31)
    _, _, _, H = _per_example(net, params, x, y)
    B = class_means(net, params, x, y)
    Bn = np.asarray(B)
    want = np.linalg.eigvalsh(H - Bn.T @ Bn)[-1]
    P = H.shape[0]
    edge, res = bulk_edge(net, params, x, y, B, "hessian", P, jax.random.key(0))
    assert edge == pytest.approx(want, rel=1e-8, abs=1e-10)
    lam = np.linalg.eigvalsh(H)[::-1]
    k = count_above(lam, edge)
    assert k <= C  # lambda_(C+1)(H) <= lambda_max(H - G_1): G_1 has rank <= C
    assert k == int(np.sum(lam > want))


def test_count_above_and_the_largest_gap_rule_on_synthetic_spectra():
    lam = np.concatenate([np.geomspace(50, 20, 10), np.geomspace(4, 1, 20)])
    assert largest_gap_count(lam) == 10 and count_above(lam, 4.5) == 10
    # outliers spread over a decade: the ratio rule splits the outliers, the edge rule does not
    spread = np.concatenate([[100.0, 90.0, 30.0, 20.0, 12.0], np.linspace(5, 4, 25)])
    assert largest_gap_count(spread) == 2 and count_above(spread, 5.0) == 5
    with pytest.raises(ValueError, match="lam"):
        count_above(np.ones((2, 2)), 1.0)
    with pytest.raises(ValueError, match="edge"):
        count_above(lam, float("nan"))
