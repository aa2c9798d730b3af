"""The Hessian's eigenvalue density of a trained MLP: a bulk near 0 and about one outlier per class.

What it tests: Sagun, Evci, Guney, Dauphin, Bottou (2017) and Ghorbani,
Krishnan, Xiao (ICML 2019): the spectrum of the Hessian of a classifier's
training cost is a bulk concentrated near 0 plus a few large outliers, about as
many as there are classes (``C = 10``), emerging early in training; the
outliers come from the Gauss-Newton part ``G = J^T (d^2 C/da^2) J`` (Papyan
2019). The notes ("Convergence") treat ``H`` as a generic positive definite
matrix with a condition number; this is what it looks like on a network.

On what: a fixed class-balanced subset of Fashion-MNIST (MNIST if absent;
2,000 examples, 500 in quick mode), an MLP 784-100-10 (784-30-10 quick), tanh
hidden units, softmax output with the log-likelihood, trained by SGD
(mini-batches of 50, eta = 0.1). The Hessian is that of the mean cost over the
same examples (``fnn.curvature``). At checkpoints (epochs 0, 1, 5, 30; 0, 1,
10 quick): the density by stochastic Lanczos quadrature (first seed), and for
each registered seed the top 30 eigenvalues of ``H`` (and of ``G`` at the end).

Which eigenvalues are outliers (Papyan 2019, Sec. 2-4). For softmax +
log-likelihood ``G = (1/n) sum_i sum_c g_ic g_ic^T`` with the logit-gradient
features ``g_ic = sqrt(p_ic) J_i^T (e_c - p_i)``: ``G = G_1 + G_rest``,
``G_1 = sum_c beta_c beta_c^T`` from the C means ``beta_c = mean_i g_ic``
(:func:`class_means`) and ``G_rest`` the covariances. Outliers of ``M`` (``H``
or ``G``) are the eigenvalues above ``lambda_max(M - G_1)``, above everything
the rest of ``M`` can produce (:func:`bulk_edge`). ``G_1`` has rank ``<= C``
(``C - 1`` when all ``p_i`` are equal), so by Weyl the count is ``<= C``. The
rule uses only the decomposition, not the measured eigenvalues.

How it decides: by the rules registered in
``experiments/claims/hessian_spectrum.py``: the mean outlier count over seeds
(percentile bootstrap interval) inside ``[C - 1, C + 1]`` after training, for
``G`` and after one epoch; ``G``'s top eigenvalues within 10% of ``H``'s over
``H``'s outliers; the bulk's mass near 0 (forced by rank) and the agreement
of two trace estimators are checks. Revisions of the outlier rule and of the
comparison set, with their outcomes, are in
``paper_figures/ledger/hessian_spectrum.json``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments import _registry
from experiments._common import bootstrap_interval, decide, figure, save, seeds, t_interval
from experiments.edge_of_stability import load_subset
from fnn import curvature, optim, train
from fnn.nn import MLP

SECTION = "Convergence"
C = 10
TOP = 30


def _settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"n": 500, "hidden": 30, "epochs": (0, 1, 10), "probes": 2, "iters": 40, "top_iters": 60, "edge_iters": 40}
    return {"n": 2000, "hidden": 100, "epochs": (0, 1, 5, 30), "probes": 5, "iters": 80, "top_iters": 100, "edge_iters": 60}


def _checkpoints(net, x, y, seed: int, epochs) -> dict[int, Any]:
    """Parameters after each epoch in ``epochs`` of SGD (m = 50, eta = 0.1); epoch 0 is the initialization."""
    keep: dict[int, Any] = {0: net.init(jax.random.key(seed))}

    def cb(e, state, record):
        if e in epochs:
            keep[e] = jax.tree_util.tree_map(jnp.copy, state.params)

    last = max(epochs)
    if last > 0:
        train.fit(net, "log_likelihood", optim.gd(0.1), (x, y), epochs=last, batch_size=50,
                  key=jax.random.key(seed), progress=False, callback=cb)
    return keep


def largest_gap_count(lam: np.ndarray) -> int:
    """The earlier rule: the number of eigenvalues above the largest ratio ``lambda_i / lambda_(i+1)`` (descending, positive part).

    Kept for comparison only (data["gap_count"]): the ratio gap is not tied to
    the bulk, so once the outliers themselves spread over a decade its
    largest value falls between two outliers.
    """
    lam = np.asarray(lam, np.float64)
    pos = lam[lam > 0]
    if pos.size < 2:
        raise ValueError(f"lam must have at least 2 positive eigenvalues, got {pos.size}")
    gaps = pos[:-1] / pos[1:]
    return int(np.argmax(gaps) + 1)


def count_above(lam: np.ndarray, edge: float) -> int:
    """The number of eigenvalues ``lambda_i > edge`` (the outliers above a bulk edge)."""
    lam = np.asarray(lam, np.float64)
    if lam.ndim != 1:
        raise ValueError(f"lam must be a 1-d array of eigenvalues, got shape {lam.shape}")
    if not np.isfinite(edge):
        raise ValueError(f"edge must be finite, got {edge}")
    return int(np.sum(lam > edge))


def class_means(net: MLP, params, x, y) -> jax.Array:
    """The ``C`` mean logit-gradient features ``beta_c = (1/n) sum_i sqrt(p_ic) J_i^T (e_c - p_i)``, shape ``(C, P)``.

    For softmax + log-likelihood, ``d^2 C_i / da^2 = diag p_i - p_i p_i^T =
    sum_c p_ic (e_c - p_i)(e_c - p_i)^T``, so with ``g_ic = sqrt(p_ic) J_i^T (e_c - p_i)``
    (``J_i = da^L/dw`` of example ``i``, ``P`` columns)

        G = (1/n) sum_i sum_c g_ic g_ic^T = sum_c beta_c beta_c^T + sum_c Cov_i(g_ic) = G_1 + G_rest,

    both terms positive semi-definite (Papyan 2019, Sec. 2-4: ``G`` is a second
    moment, not a covariance, and its outliers come from the means of the
    ``g``'s; ``beta_c`` is the main effect of the class index ``c`` in his
    two-way table of means ``delta_(c', c)``, averaged over the true class ``c'``).
    ``sum_c sqrt(p_ic) g_ic = J_i^T sum_c p_ic (e_c - p_i) = 0``, so ``G_1`` has
    rank ``<= C``, and ``C - 1`` when ``p_i`` is the same for all ``i`` (softmax).
    One VJP per class over the data set.
    """
    flat, unravel = ravel_pytree(params)
    x = jnp.asarray(x, flat.dtype)
    y = jnp.asarray(y)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be (n, d) with n = len(y) = {y.shape[0]}, got {x.shape}")
    a, vjp = jax.vjp(lambda w: net.forward(unravel(w), x).a[-1], flat)
    if a.shape[1] != C or getattr(net.output, "name", net.output) != "softmax":
        raise ValueError(f"net must have a softmax output of {C} units, got {a.shape[1]} units, output {net.output!r}")
    p = jax.nn.softmax(a)
    U = jnp.sqrt(p.T)[:, :, None] * (jnp.eye(C, dtype=p.dtype)[:, None, :] - p[None]) / x.shape[0]
    return jax.vmap(lambda u: vjp(u)[0])(U)


def bulk_edge(net: MLP, params, x, y, B: jax.Array, matrix: str, num_iters: int, key) -> tuple[float, float]:
    """``lambda_max(M - B^T B)`` by Lanczos (``M`` = ``H`` or ``G``, ``B`` from :func:`class_means`): ``(edge, residual)``.

    ``M = G_1 + (M - G_1)``: the eigenvalues of ``M`` above the top of the
    remainder are the outliers that only the class means can produce (Weyl:
    ``lambda_i(M) <= lambda_i(G_1) + lambda_max(M - G_1)``, and
    ``lambda_(C+1)(M) <= lambda_max(M - G_1)`` since ``G_1`` has rank ``<= C``).
    """
    mv = curvature.make_matvec(net, "log_likelihood", params, x, y, matrix=matrix)
    flat = ravel_pytree(params)[0]
    v0 = jax.random.normal(key, flat.shape, flat.dtype)
    t = curvature.lanczos_tridiagonal(jax.jit(lambda v: mv(v) - B.T @ (B @ v)), v0, num_iters, key)
    val, _, res = curvature.ritz_pairs(t, 1)
    return float(val[0]), float(res[0])


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    s = _settings(quick)
    seed_list = [seed + i for i in range(seeds("hessian_spectrum/outliers-after-training", quick))]
    name, x, y = load_subset(s["n"])
    fig, axes = figure(ncols=3, nrows=1, width=4.8, height=3.7)
    if name is None:
        v = [decide(cid, None, quick=quick, skipped=x) for cid in _registry.claims("hessian_spectrum")]
        return save("hessian_spectrum", seed=seed, quick=quick, verdicts=v, data={}, fig=fig, out_dir=out_dir)
    net = MLP((784, s["hidden"], 10), hidden="tanh", output="softmax", w_init="xavier")
    ep = s["epochs"]
    tops: dict[int, list] = {e: [] for e in ep}
    edges: dict[int, list] = {e: [] for e in ep}
    g1: dict[int, list] = {e: [] for e in ep}
    gn_top: list = []
    gn_edge: list = []
    dens: dict[int, Any] = {}
    for i, sd in enumerate(seed_list):
        ck = _checkpoints(net, x, y, sd, ep)
        for e in ep:
            r = curvature.eigenpairs(net, "log_likelihood", ck[e], x, y, TOP, num_iters=s["top_iters"],
                                     key=jax.random.key(sd))
            tops[e].append(np.asarray(r.values))
            B = class_means(net, ck[e], x, y)
            g1[e].append(np.sort(np.linalg.eigvalsh(np.asarray(B @ B.T, np.float64)))[::-1])
            edges[e].append(bulk_edge(net, ck[e], x, y, B, "hessian", s["edge_iters"], jax.random.key(100 + sd)))
        g = curvature.eigenpairs(net, "log_likelihood", ck[ep[-1]], x, y, TOP, num_iters=s["top_iters"],
                                 key=jax.random.key(sd), matrix="gauss_newton")
        gn_top.append(np.asarray(g.values))
        gn_edge.append(bulk_edge(net, ck[ep[-1]], x, y, B, "gauss_newton", s["edge_iters"], jax.random.key(100 + sd)))
        if i == 0:
            for e in ep:
                dens[e] = curvature.spectral_density(net, "log_likelihood", ck[e], x, y, key=jax.random.key(1),
                                                     num_probes=s["probes"], num_iters=s["iters"])
            tr = curvature.hessian_trace(net, "log_likelihood", ck[ep[-1]], x, y, num_probes=30, key=jax.random.key(2))
    counts = {e: [count_above(t, ed[0]) for t, ed in zip(tops[e], edges[e])] for e in ep}
    gn_counts = [count_above(t, ed[0]) for t, ed in zip(gn_top, gn_edge)]
    verdicts = _verdicts(tops, gn_top, counts, gn_counts, dens, tr, ep, s, quick)
    _plot(axes[0], dens, tops, gn_top, counts, edges, ep)
    for ax in axes[0]:
        ax.title.set_fontsize(9)
    fig.suptitle(f"Hessian of 784-{s['hidden']}-10 (tanh, log-likelihood) on {s['n']} {name} examples", y=1.03)
    data_out = {
        "dataset": name, "settings": s, "seeds": seed_list,
        "top": {e: np.stack(tops[e]) for e in ep}, "gauss_newton_top_end": np.stack(gn_top),
        "bulk_edge_hessian": {e: np.asarray(edges[e]) for e in ep}, "bulk_edge_gauss_newton_end": np.asarray(gn_edge),
        "outliers_hessian": counts, "outliers_gauss_newton_end": gn_counts,
        "class_means_gram_eigenvalues": {e: np.stack(g1[e]) for e in ep},
        "gap_count_hessian": {e: [largest_gap_count(t) for t in tops[e]] for e in ep},
        "gap_count_gauss_newton_end": [largest_gap_count(t) for t in gn_top],
        "density_seed0": {e: {"grid": dens[e].grid, "density": dens[e].density, "nodes": dens[e].nodes,
                              "weights": dens[e].weights, "sigma": dens[e].sigma} for e in ep},
        "trace_end_seed0": [float(tr[0]), float(tr[1])],
    }
    return save("hessian_spectrum", seed=seed, quick=quick, verdicts=verdicts, data=data_out, fig=fig,
                out_dir=out_dir, title="Hessian eigenvalue density of a trained MLP")


def _mean_boot(counts, key: int) -> tuple[float, tuple[float, float]]:
    """The mean of per-seed outlier counts and its 95% percentile bootstrap interval (counts are small integers)."""
    v = np.asarray(counts, np.float64)
    m, lo, hi = bootstrap_interval(v, seed=key)
    return float(m), (float(lo), float(hi))


def _verdicts(tops, gn_top, counts, gn_counts, dens, tr, ep, s, quick: bool) -> list[dict]:
    """Decide the registered claims on the per-seed counts, eigenvalues, the density and the trace estimates."""
    end, early = ep[-1], ep[1]
    S = len(tops[end])
    out = []
    for cid, vals, k in (("outliers-after-training", counts[end], 0), ("outliers-gauss-newton", gn_counts, 1),
                         ("outliers-early", counts[early], 2)):
        m, ci = _mean_boot(vals, k)
        out.append(decide(f"hessian_spectrum/{cid}", m, quick=quick, interval=ci, n=S, detail={"per_seed": vals}))
    d = dens[end]
    lam_max = float(np.max(d.nodes))
    near = np.asarray(np.sum(np.where(np.abs(d.nodes) <= 0.05 * lam_max, d.weights, 0.0), axis=1))
    out.append(decide("hessian_spectrum/bulk-near-zero", float(near.mean()), quick=quick,
                      detail={"per_probe": near}))
    # Weyl: |lambda_i(H) - lambda_i(G)| <= ||H - G||_2 for every i, so the relative difference is small only for
    # eigenvalues far above the residual's norm: the papers' claim is about the outliers (those counted above).
    rel = [float(np.max(np.abs(g[:k] - h[:k]) / h[:k])) for g, h, k in
           zip(gn_top, tops[end], [max(c, 1) for c in counts[end]])]
    m, lo, hi = t_interval(np.asarray(rel, np.float64))
    out.append(decide("hessian_spectrum/outliers-from-gauss-newton", float(m), quick=quick,
                      interval=(float(lo), float(hi)), n=S, detail={"per_seed": rel}))
    P = sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(MLP((784, s["hidden"], 10)).init(jax.random.key(0))))
    slq_tr = P * np.sum(np.asarray(d.nodes) * np.asarray(d.weights), axis=1)
    se = float(np.sqrt(float(tr[1]) ** 2 + np.var(slq_tr, ddof=1) / slq_tr.size))
    diff = abs(float(slq_tr.mean()) - float(tr[0]))
    out.append(decide("hessian_spectrum/trace-estimators-agree", diff / se, quick=quick,
                      detail={"slq": float(slq_tr.mean()), "hutchinson": float(tr[0]), "combined_se": se}))
    return out


def _plot(axes, dens, tops, gn_top, counts, edges, ep) -> None:
    colors = ("tab:gray", "tab:blue", "tab:orange", "tab:green", "tab:red")
    for k, e in enumerate(ep):
        d = dens[e]
        axes[0].semilogy(np.asarray(d.grid), np.maximum(np.asarray(d.density), 1e-12), color=colors[k % 5], lw=1,
                         label=f"epoch {e}")
    axes[0].set(xlabel="eigenvalue", ylabel="density (SLQ, seed 0)", ylim=(1e-7, None),
                title="(a) spectral density: bulk + outliers")
    axes[0].legend(fontsize=8)
    idx = np.arange(1, TOP + 1)
    for k, e in enumerate(ep):
        axes[1].semilogy(idx, tops[e][0], "o-", ms=3, lw=0.8, color=colors[k % 5], label=f"H, epoch {e}")
        axes[1].axhline(edges[e][0][0], color=colors[k % 5], ls="--", lw=0.8)
    axes[1].semilogy(idx, np.maximum(gn_top[0], 1e-12), "x", ms=5, color="k", label=f"G, epoch {ep[-1]}")
    axes[1].axvline(C + 0.5, color="k", ls=":", lw=1, label=f"i = C = {C}")
    axes[1].plot([], [], color="0.4", ls="--", lw=0.8, label="bulk edge lambda_max(H - G_1),\nin its epoch's colour")
    axes[1].set(xlabel="index i", ylabel="lambda_i (seed 0)", title="(b) top eigenvalues and bulk edges")
    axes[1].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    for k, e in enumerate(ep):
        c = counts[e]
        axes[2].plot(np.full(len(c), k) + np.linspace(-0.1, 0.1, len(c)), c, "o", color=colors[k % 5])
    axes[2].axhline(C - 1, color="k", ls="--", lw=1, label="C - 1 = 9 (softmax)")
    axes[2].set(xticks=range(len(ep)), xticklabels=[str(e) for e in ep], xlabel="epoch", ylim=(-0.5, C + 0.5),
                ylabel="outliers of H above lambda_max(H - G_1)", title=f"(c) outlier count, {len(counts[ep[0]])} seeds")
    axes[2].legend(fontsize=8)
