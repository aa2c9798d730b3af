"""The pieces of experiments/hessian_outliers.py against dense references on tiny networks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from experiments import hessian_outliers as ho
from fnn.nn import MLP

C = ho.C


def _problem(norm=None, n_per_class=4, seed=0):
    net = MLP((5, 8, C), hidden="tanh", output="softmax", w_init="xavier", norm=norm)
    init = net.init(jax.random.key(seed), jnp.float64)
    params = init[0] if net.stateful else init
    w, unravel = ravel_pytree(params)
    w = w + 0.3 * jax.random.normal(jax.random.key(seed + 1), w.shape, w.dtype)  # away from the symmetric start
    x = jax.random.normal(jax.random.key(seed + 2), (C * n_per_class, 5), jnp.float64)
    y = jnp.repeat(jnp.arange(C), n_per_class)
    return net, w, unravel, x, y


def _dense(net, w, unravel, x, y):
    """Dense H, dense G = (1/n) J^T blockdiag(diag p_i - p_i p_i^T) J, and the per-example vectors g_ik."""
    logits = ho._logits_fn(net, unravel, x)
    H = jax.hessian(lambda v: ho._loss(logits(v), y))(w)
    z = logits(w)
    J = jax.jacobian(logits)(w)  # (n, C, P), each row through the whole batch
    p = jax.nn.softmax(z)
    A = jax.vmap(lambda q: jnp.diag(q) - jnp.outer(q, q))(p)
    G = jnp.einsum("icp,icd,idq->pq", J, A, J) / x.shape[0]
    g = jnp.sqrt(p)[:, :, None] * jnp.einsum("icp,ikc->ikp", J, jnp.eye(C)[None] - p[:, None, :])
    return np.asarray(H), np.asarray(G), np.asarray(g)


@pytest.mark.parametrize("norm", [None, "batch"])
def test_cell_means_are_the_class_means_of_the_logit_gradients_and_split_G(norm):
    with jax.enable_x64(True):
        net, w, unravel, x, y = _problem(norm)
        _, G, g = _dense(net, w, unravel, x, y)
        B = np.asarray(ho.cell_means(ho._logits_fn(net, unravel, x), w, y))
    yn = np.asarray(y)
    pi = np.bincount(yn, minlength=C) / yn.size
    want = np.stack([np.sqrt(pi[c]) * g[yn == c, k].mean(0) for c in range(C) for k in range(C)])
    np.testing.assert_allclose(B, want, rtol=1e-9, atol=1e-12)
    assert np.allclose(G, np.einsum("ikp,ikq->pq", g, g) / yn.size, atol=1e-12)  # G = (1/n) sum g g^T
    within = G - B.T @ B
    assert np.linalg.eigvalsh(within).min() > -1e-10 * np.abs(G).max()  # G_within >= 0
    assert np.abs(within).max() > 1e-6 * np.abs(G).max()  # and not the whole of G


@pytest.mark.parametrize("norm", [None, "batch"])
def test_analyze_finds_the_dense_top_eigenvalues_edges_and_gradient(norm):
    with jax.enable_x64(True):
        net, w, unravel, x, y = _problem(norm)
        H, G, _ = _dense(net, w, unravel, x, y)
        r = jax.device_get(ho.analyze(net, w, x, y, jax.random.key(3), 90))
        grad = jax.grad(lambda v: ho._loss(ho._logits_fn(net, unravel, x)(v), y))(w)
    B = np.asarray(r["B"])
    for M, m in ((H, "h"), (G, "g")):
        lam = np.sort(np.linalg.eigvalsh(M))[::-1]
        np.testing.assert_allclose(r[f"lam_{m}"][:5], lam[:5], rtol=1e-6, atol=1e-9 * lam[0])
        edge = np.linalg.eigvalsh(M - B.T @ B).max()
        np.testing.assert_allclose(r[f"edge_{m}"], edge, rtol=1e-6, atol=1e-9 * lam[0])
    np.testing.assert_allclose(r["g"], grad, rtol=1e-9, atol=1e-12)


def test_gap_rule_counts_the_eigenvalues_above_the_largest_ratio():
    assert ho.gap_count(np.array([10.0, 8.0, 6.0, 1.0, 0.9, 0.8])) == 3
    assert ho.gap_count(np.array([100.0, 10.0, 9.0, 8.0, -1.0])) == 1  # non-positive values are left out
    with pytest.raises(ValueError, match="at least 2 positive"):
        ho.gap_count(np.array([1.0, -1.0]))


def test_detectors_count_above_the_edge_and_inside_the_span():
    Q = np.eye(6)[:, :2]  # the span of e_1, e_2
    e = np.eye(6)
    vecs = np.stack([e[0], np.sqrt(0.6) * e[1] + np.sqrt(0.4) * e[2], np.sqrt(0.4) * e[1] + np.sqrt(0.6) * e[3], e[4]])
    counts, proj = ho.detectors(np.array([5.0, 4.0, 1.0, 0.9]), vecs, 3.0, Q)
    np.testing.assert_allclose(proj, [1.0, 0.6, 0.4, 0.0])
    assert counts == {"gap": 2, "weyl": 2, "overlap": 2}
