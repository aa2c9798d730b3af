"""Hessian outliers as the papers measure them: at interpolation, by every detector, with and without batch norm.

What it tests: Sagun et al. (2017), Papyan (2019, 2020), Gur-Ari, Roberts,
Dyer (2018) and Ghorbani, Krishnan, Xiao (ICML 2019): the Hessian ``H`` of a
classifier trained to zero training error has a bulk near 0 and about ``C``
outliers (``C - 1`` for a softmax), made by its Gauss-Newton part ``G`` and
tied to the ``C`` class-mean gradients; the gradient lies mostly in the
top-``C`` eigenspace; batch norm suppresses the outliers and that concentration.

On what: a class-balanced MNIST subset (2,000 examples; 500 quick), images
2x2-mean-pooled to 14x14; MLP 196-24-24-10 (196-16-16-10 quick), tanh,
softmax + log-likelihood, and the same network with batch norm on its hidden
layers; SGD (m = 50, eta = 0.05, momentum 0.9) until 100% training accuracy.
``H`` and ``G`` are those of the mean cost over the whole subset (batch norm in
training mode over the whole subset, so the examples are coupled through its
statistics); top ``K = 30`` eigenpairs by Lanczos.

Definitions (Papyan's decomposition, in our names). For example ``i`` (class
``y_i``) with logits ``z_i``, ``p_i = softmax(z_i)`` and ``J_i = dz_i/dw``
(``C x P``), ``d^2 C_i/dz^2 = diag p_i - p_i p_i^T = sum_k p_ik (e_k - p_i)(e_k - p_i)^T``, so

    G = (1/n) sum_i J_i^T (diag p_i - p_i p_i^T) J_i = (1/n) sum_i sum_k g_ik g_ik^T,
    g_ik = sqrt(p_ik) J_i^T (e_k - p_i)

(``-J_i^T (e_k - p_i)`` is example ``i``'s gradient had its label been ``k``).
The cell means ``m_ck = (1/n_c) sum_(i: y_i = c) g_ik`` (true class ``c``,
logit ``k``; :func:`cell_means`) split ``G`` exactly into positive
semi-definite levels, ``pi_c = n_c / n``:

    G = G_class + G_cross + G_within,   G_class = sum_c pi_c m_cc m_cc^T,
    G_cross = sum_(c != k) pi_c m_ck m_ck^T,   G_within = sum_(c,k) pi_c Cov_(i in c)(g_ik).

``m_cc`` is the class-mean gradient: the mean over class ``c`` of its
own-label gradient (sign flipped, weighted by ``sqrt(p_ic)``). The class-mean
Gram matrix is ``Gamma_cc' = pi^(1/2)_c pi^(1/2)_c' m_cc . m_c'c'`` (``C x C``),
its eigenvalues those of ``G_class``; the cross-class level is the same for
the ``C(C - 1)`` cells ``c != k``; ``G_means = G_class + G_cross``.

Detectors (:func:`detectors`), on the top ``K`` eigenpairs of ``M = H`` or ``G``:
the gap rule (deciding: the ``i < K`` of the largest ``lambda_i/lambda_(i+1)``),
the Weyl edge (the number of ``lambda_i(M) > lambda_max(M - G_means)``; by Weyl
at most ``rank G_means <= C^2``), and the subspace overlap (the number of
eigenvectors with ``||Q^T u_i||^2 >= 1/2``, ``Q`` an orthonormal basis of the
span of the ``m_cc``). The gradient fraction is ``||U^T g||^2 / ||g||^2``,
``U`` the top-``C`` eigenvectors of ``H`` and ``g`` the full-batch gradient.

How it decides: by ``experiments/claims/hessian_outliers.py``: gap-rule counts
of ``H`` and ``G`` at interpolation and after one epoch (bootstrap interval of
the mean over seeds), the top-``C`` overlap with the class-mean span and the
gradient fraction (t-interval), and batch norm's paired effect on both; the
other detectors' counts at every checkpoint are in the verdicts' detail.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments import _registry
from experiments._common import bootstrap_interval, decide, figure, save, seeds, t_interval
from fnn import curvature, data, optim, train
from fnn.nn import MLP

C = 10
K = 30
NAME = "hessian_outliers"
DETECTORS = ("gap", "weyl", "overlap")
STAGES = ("init", "early", "interpolation")
EDGE_ITERS = 60  # Lanczos steps for the one eigenvalue lambda_max(M - G_means) of a Weyl edge


def _settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"n": 500, "hidden": 16, "max_epochs": 300, "iters": 90, "base": 2}
    return {"n": 2000, "hidden": 24, "max_epochs": 300, "iters": 90, "base": 2}


def load_pooled(n: int) -> tuple[Any, Any] | tuple[None, str]:
    """``(x, y)``: the first ``n // C`` MNIST training examples of each class, 2x2-mean-pooled to 14x14 = 196."""
    try:
        x, y = data.load("mnist", "train", download=False, progress=False)
    except (FileNotFoundError, ValueError) as err:
        return None, f"MNIST absent: {str(err).splitlines()[0]}"
    yn = np.asarray(y)
    idx = np.stack([np.flatnonzero(yn == c)[: n // C] for c in range(C)], axis=1).reshape(-1)
    xs = np.asarray(x)[idx].reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(-1, 196)
    return jnp.asarray(xs, jnp.float32), jnp.asarray(yn[idx])


def _accuracy(net: MLP, params, net_state, x, y) -> float:
    out = net.apply(params, x, net_state, train=False) if net.stateful else net.apply(params, x)
    out = out[0] if net.stateful else out
    return float(jnp.mean(jnp.argmax(out, axis=1) == y))


def train_to_interpolation(net: MLP, x, y, seed: int, max_epochs: int, base: int = 2
                           ) -> tuple[dict[int, Any], int | None]:
    """SGD (m = 50, eta = 0.05, momentum 0.9) until 100% training accuracy (inference mode), at most ``max_epochs``.

    Returns the parameters at epochs 0 and ``base^j`` (1, 2, 4, 8, ... for
    ``base = 2``) and at the last epoch, and the first epoch at 100% (``None``
    if never reached).
    """
    opt = optim.sgd(0.05, momentum=0.9)
    state = train.init_state(net, opt, jax.random.key(seed))
    keep: dict[int, Any] = {0: state.params}
    reached: list[int] = []

    def cb(e, st, record):
        if base ** round(np.log(e) / np.log(base)) == e:
            keep[e] = st.params
        if _accuracy(net, st.params, st.net_state, x, y) == 1.0:
            keep[e] = st.params
            reached.append(e)
            return True
        if e == max_epochs:
            keep[e] = st.params
        return None

    train.fit(net, "log_likelihood", opt, (x, y), epochs=max_epochs, batch_size=50, state=state, progress=False,
              callback=cb)
    return keep, (reached[0] if reached else None)


def _logits_fn(net: MLP, unravel, x):
    """``w -> z`` ``(n, C)``: the logits of the whole subset (batch norm: training mode over the whole subset)."""
    if net.stateful:
        bn_state = net.init_state(x.dtype)
        return lambda w: net.forward(unravel(w), x, bn_state, train=True).a[-1]
    return lambda w: net.forward(unravel(w), x).a[-1]


def _loss(z, y):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=1))


def cell_means(logits, w, y) -> jax.Array:
    """The ``C^2`` cell means scaled by ``sqrt(pi_c)``: rows ``b_(c,k) = sqrt(pi_c) m_ck``, shape ``(C*C, P)``, row ``c*C + k``.

    ``m_ck = (1/n_c) sum_(i in c) sqrt(p_ik) J_i^T (e_k - p_i)``: one VJP of the
    logits per cell, with the cotangent ``sqrt(pi_c) [y_i = c] sqrt(p_ik)(e_k - p_i) / n_c``.
    ``G_means = B^T B``.
    """
    z, vjp = jax.vjp(logits, w)
    p = jax.nn.softmax(z)
    onehot = jax.nn.one_hot(y, C, dtype=z.dtype)  # (n, C): [y_i = c]
    n_c = onehot.sum(0)
    scale = jnp.sqrt(n_c / z.shape[0]) / n_c  # sqrt(pi_c) / n_c
    dev = jnp.sqrt(p)[:, :, None] * (jnp.eye(C, dtype=z.dtype)[None] - p[:, None, :])  # (n, k, C): sqrt(p_ik)(e_k - p_i)
    U = onehot.T[:, None, :, None] * scale[:, None, None, None] * jnp.transpose(dev, (1, 0, 2))[None]  # (c, k, n, C)
    return jax.vmap(lambda u: vjp(u)[0])(U.reshape(C * C, *z.shape))


def _top(matvec, P: int, iters: int, key, k: int):
    t = curvature.lanczos_tridiagonal(matvec, jax.random.normal(key, (P,)), iters, jax.random.fold_in(key, 1))
    return curvature.ritz_pairs(t, k)[:2]


@partial(jax.jit, static_argnames=("net", "iters"))
def analyze(net: MLP, w, x, y, key, iters: int) -> dict[str, jax.Array]:
    """At raveled parameters ``w``: top ``K`` eigenpairs of ``H`` and ``G``, the scaled cell means ``B``, the Weyl
    edges ``lambda_max(M - B^T B)`` and the full-batch gradient ``g``."""
    unravel = ravel_pytree(net.init(jax.random.key(0))[0] if net.stateful else net.init(jax.random.key(0)))[1]
    logits = _logits_fn(net, unravel, x)
    loss = lambda v: _loss(logits(v), y)
    g, hvp_lin = jax.linearize(jax.grad(loss), w)
    z, jvp_lin = jax.linearize(logits, w)
    vjp = jax.linear_transpose(jvp_lin, w)
    p = jax.nn.softmax(z)

    def gvp(v):
        u = jvp_lin(v)
        return vjp((p * u - p * jnp.sum(p * u, axis=1, keepdims=True)) / z.shape[0])[0]

    B = cell_means(logits, w, y)
    low = lambda mv: (lambda v: mv(v) - B.T @ (B @ v))
    P = w.shape[0]
    lam_h, u_h = _top(hvp_lin, P, iters, key, K)
    lam_g, u_g = _top(gvp, P, iters, jax.random.fold_in(key, 2), K)
    edge_h = _top(low(hvp_lin), P, EDGE_ITERS, jax.random.fold_in(key, 3), 1)[0][0]
    edge_g = _top(low(gvp), P, EDGE_ITERS, jax.random.fold_in(key, 4), 1)[0][0]
    return {"lam_h": lam_h, "u_h": u_h, "lam_g": lam_g, "u_g": u_g, "B": B, "edge_h": edge_h, "edge_g": edge_g,
            "g": g}


def _basis(rows: np.ndarray) -> np.ndarray:
    """An orthonormal basis ``(P, r)`` of the span of ``rows`` (``r`` the numerical rank)."""
    u, s, _ = np.linalg.svd(np.asarray(rows, np.float64).T, full_matrices=False)
    return u[:, s > 1e-6 * s[0]] if s[0] > 0 else u[:, :0]


def gap_count(lam: np.ndarray) -> int:
    """The gap rule: the ``i < K`` of the largest ``lambda_i / lambda_(i+1)`` over the positive top eigenvalues."""
    pos = np.asarray(lam, np.float64)
    pos = pos[pos > 0]
    if pos.size < 2:
        raise ValueError(f"lam must hold at least 2 positive eigenvalues, got {pos.size}")
    return int(np.argmax(pos[:-1] / pos[1:]) + 1)


def detectors(lam, vecs, edge: float, Q: np.ndarray) -> tuple[dict[str, int], np.ndarray]:
    """The three outlier counts of one matrix and the squared projections ``||Q^T u_i||^2`` of its eigenvectors."""
    proj = np.sum((np.asarray(vecs, np.float64) @ Q) ** 2, axis=1)
    counts = {"gap": gap_count(lam), "weyl": int(np.sum(np.asarray(lam) > edge)), "overlap": int(np.sum(proj >= 0.5))}
    return counts, proj


def summarize_point(r: dict[str, Any]) -> dict[str, Any]:
    """Host-side numbers of one checkpoint from :func:`analyze`'s output."""
    B = np.asarray(r["B"], np.float64)
    cls = B[np.arange(C) * (C + 1)]  # rows c*C + c: sqrt(pi_c) m_cc
    cross = np.delete(B, np.arange(C) * (C + 1), axis=0)
    Q_cls, Q_all = _basis(cls), _basis(B)
    out: dict[str, Any] = {}
    for m in ("h", "g"):
        counts, proj = detectors(r[f"lam_{m}"], r[f"u_{m}"], float(r[f"edge_{m}"]), Q_cls)
        out[m] = {"lam": np.asarray(r[f"lam_{m}"], np.float64), "edge": float(r[f"edge_{m}"]), "counts": counts,
                  "proj_class": proj}
    U = np.asarray(r["u_h"], np.float64)[:C]
    g = np.asarray(r["g"], np.float64)
    out["overlap_class"] = float(np.sum((U @ Q_cls) ** 2) / C)
    out["overlap_means"] = float(np.sum((U @ Q_all) ** 2) / C)
    out["grad_fraction"] = float(np.sum((U @ g) ** 2) / np.sum(g ** 2))
    out["gram_class"] = cls @ cls.T
    out["eig_class"] = np.sort(np.linalg.eigvalsh(out["gram_class"]))[::-1]
    out["eig_cross"] = np.sort(np.linalg.eigvalsh(cross @ cross.T))[::-1]
    out["eig_means"] = np.sort(np.linalg.eigvalsh(B @ B.T))[::-1]
    out["prominence"] = float(np.log10(out["h"]["lam"][0] / out["h"]["lam"][C]))
    return out


def measure_run(net: MLP, x, y, seed: int, s: dict[str, Any]) -> dict[str, Any]:
    """Train one network and analyse every kept checkpoint: ``{"interp": epoch or None, "points": {epoch: ...}}``."""
    kept, interp = train_to_interpolation(net, x, y, seed, s["max_epochs"], s["base"])
    points = {}
    for e, params in sorted(kept.items()):
        w = ravel_pytree(params)[0]
        r = analyze(net, w, x, y, jax.random.key(1000 + seed), s["iters"])
        points[e] = summarize_point(jax.device_get(r))
    return {"interp": interp, "last": max(kept), "points": points}


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    s = _settings(quick)
    n_seeds = seeds(f"{NAME}/outliers-H-interpolation", quick)
    seed_list = [seed + i for i in range(n_seeds)]
    x, y = load_pooled(s["n"])
    fig, axes = figure(ncols=3, nrows=2, width=4.6, height=4.4)
    if x is None:
        v = [decide(cid, None, quick=quick, skipped=y) for cid in _registry.claims(NAME)]
        return save(NAME, seed=seed, quick=quick, verdicts=v, data={}, fig=fig, out_dir=out_dir)
    nets = {"plain": MLP((196, s["hidden"], s["hidden"], C), hidden="tanh", output="softmax", w_init="xavier"),
            "bn": MLP((196, s["hidden"], s["hidden"], C), hidden="tanh", output="softmax", w_init="xavier",
                      norm="batch")}
    runs = {k: [measure_run(net, x, y, sd, s) for sd in seed_list] for k, net in nets.items()}
    verdicts, table = _verdicts(runs, quick)
    _plot(axes, runs, table)
    fig.suptitle(f"Hessian outliers of 196-{s['hidden']}-{s['hidden']}-10 (tanh, softmax) on {s['n']} MNIST "
                 f"examples (14x14), {n_seeds} seeds", y=1.01)
    return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data=_data(runs, table, s, seed_list), fig=fig,
                out_dir=out_dir, title="Hessian outliers by every detector, with and without batch norm")


def _stage(run: dict[str, Any], stage: str) -> dict[str, Any]:
    """The checkpoint of a stage: initialization, epoch 1, or the interpolation (else last) epoch."""
    return run["points"][{"init": 0, "early": 1, "interpolation": run["last"]}[stage]]


def _fraction_over_training(run: dict[str, Any]) -> float:
    """The mean gradient fraction over the checkpoints from epoch 1 to interpolation."""
    return float(np.mean([p["grad_fraction"] for e, p in run["points"].items() if e >= 1]))


def _boot(values, key: int) -> dict[str, Any]:
    m, lo, hi = bootstrap_interval(np.asarray(values, np.float64), seed=key)
    return {"mean": float(m), "interval": [float(lo), float(hi)], "per_seed": [float(v) for v in values]}


def _t(values) -> dict[str, Any]:
    v = np.asarray(values, np.float64)
    m, lo, hi = t_interval(v)
    return {"mean": float(m), "interval": [float(lo), float(hi)], "per_seed": v.tolist()}


def count_table(runs: dict[str, list]) -> dict[str, Any]:
    """Mean counts with bootstrap intervals: ``[net][stage][matrix][detector]``, and the overlaps and fractions."""
    table: dict[str, Any] = {}
    for k, rs in runs.items():
        table[k] = {}
        for j, st in enumerate(STAGES):
            pts = [_stage(r, st) for r in rs]
            table[k][st] = {m: {d: _boot([p[m]["counts"][d] for p in pts], 17 * j + i)
                                for i, d in enumerate(DETECTORS)} for m in ("h", "g")}
            table[k][st]["overlap_class"] = _t([p["overlap_class"] for p in pts])
            table[k][st]["overlap_means"] = _t([p["overlap_means"] for p in pts])
            table[k][st]["grad_fraction"] = _t([p["grad_fraction"] for p in pts])
        table[k]["grad_fraction_training"] = _t([_fraction_over_training(r) for r in rs])
    return table


def _verdicts(runs: dict[str, list], quick: bool) -> tuple[list[dict], dict[str, Any]]:
    """Decide the registered claims; every detector's counts go into the detail."""
    table = count_table(runs)
    plain, bn = runs["plain"], runs["bn"]
    S = len(plain)
    every = {k: {st: table[k][st] for st in STAGES} for k in table}
    out = []
    reached = [r["interp"] is not None for k in runs for r in runs[k]]
    out.append(decide(f"{NAME}/interpolation-reached", float(np.mean(reached)), quick=quick,
                      detail={k: [r["interp"] for r in runs[k]] for k in runs}))
    for cid, st, m in (("outliers-H-interpolation", "interpolation", "h"), ("outliers-G-interpolation",
                                                                           "interpolation", "g"),
                       ("outliers-H-early", "early", "h")):
        c = table["plain"][st][m]["gap"]
        out.append(decide(f"{NAME}/{cid}", c["mean"], quick=quick, interval=tuple(c["interval"]), n=S,
                          detail={"per_seed": c["per_seed"], "every_detector": every}))
    o = table["plain"]["interpolation"]["overlap_class"]
    out.append(decide(f"{NAME}/top-C-in-class-mean-span", o["mean"], quick=quick, interval=tuple(o["interval"]),
                      n=S, detail={"per_seed": o["per_seed"], "overlaps": {k: {st: {
                          "class": table[k][st]["overlap_class"], "means": table[k][st]["overlap_means"]}
                          for st in STAGES} for k in table}}))
    f = table["plain"]["grad_fraction_training"]
    out.append(decide(f"{NAME}/gradient-in-outlier-space", f["mean"], quick=quick, interval=tuple(f["interval"]),
                      n=S, detail={"over_training": {k: table[k]["grad_fraction_training"] for k in table},
                                   "by_stage": {k: {st: table[k][st]["grad_fraction"] for st in STAGES}
                                                for k in table}}))
    d = _t([_fraction_over_training(a) - _fraction_over_training(b) for a, b in zip(plain, bn)])
    out.append(decide(f"{NAME}/batchnorm-lowers-gradient-fraction", d["mean"], quick=quick,
                      interval=tuple(d["interval"]), n=S,
                      detail={"difference": d, "plain": table["plain"]["grad_fraction_training"],
                              "batch_norm": table["bn"]["grad_fraction_training"]}))
    prom = {k: [_stage(r, "interpolation")["prominence"] for r in runs[k]] for k in runs}
    d = _t(np.subtract(prom["plain"], prom["bn"]))
    out.append(decide(f"{NAME}/batchnorm-reduces-outliers", d["mean"], quick=quick, interval=tuple(d["interval"]),
                      n=S, detail={"difference": d, "plain": _t(prom["plain"]), "batch_norm": _t(prom["bn"]),
                                   "counts_interpolation_batch_norm": table["bn"]["interpolation"]}))
    worst = max(float(np.max((p["eig_means"][:C] - p["g"]["lam"][:C]) / p["g"]["lam"][0]))
                for k in runs for r in runs[k] for p in r["points"].values())
    out.append(decide(f"{NAME}/means-below-G", worst, quick=quick))
    return out, table


def _data(runs, table, s, seed_list) -> dict[str, Any]:
    def point(p):
        return {"lam_h": p["h"]["lam"], "lam_g": p["g"]["lam"], "edge_h": p["h"]["edge"], "edge_g": p["g"]["edge"],
                "counts_h": p["h"]["counts"], "counts_g": p["g"]["counts"], "proj_class_h": p["h"]["proj_class"],
                "overlap_class": p["overlap_class"], "overlap_means": p["overlap_means"],
                "grad_fraction": p["grad_fraction"], "eig_class_gram": p["eig_class"],
                "eig_cross_gram": p["eig_cross"], "eig_means_gram": p["eig_means"], "prominence": p["prominence"]}

    return {"settings": s, "seeds": seed_list, "K": K, "C": C, "table": table,
            "runs": {k: [{"interpolation_epoch": r["interp"], "points": {e: point(p) for e, p in r["points"].items()}}
                         for r in rs] for k, rs in runs.items()},
            "class_gram_seed0": {k: {st: _stage(runs[k][0], st)["gram_class"] for st in STAGES} for k in runs}}


_COLORS = {"init": "tab:gray", "early": "tab:blue", "interpolation": "tab:red"}
_NETS = {"plain": "no batch norm", "bn": "batch norm"}


def _plot(axes, runs, table) -> None:
    idx = np.arange(1, K + 1)
    for col, k in enumerate(("plain", "bn")):
        ax = axes[0][col]
        for st in STAGES:
            p = _stage(runs[k][0], st)
            ax.semilogy(idx, np.maximum(p["h"]["lam"], 1e-12), "o-", ms=3, lw=0.8, color=_COLORS[st])
            ax.semilogy(idx, np.maximum(p["g"]["lam"], 1e-12), "x", ms=4, color=_COLORS[st])
            ax.axvline(p["h"]["counts"]["gap"] + 0.5, color=_COLORS[st], ls=":", lw=1)
        ax.set(xlabel="index i", ylabel="lambda_i (seed 0)",
               title=f"({'ab'[col]}) {_NETS[k]}: H (o-), G (x); gap rule (:)")
    for col in (0, 1):
        for st in STAGES:
            axes[0][col].plot([], [], color=_COLORS[st], label={"early": "epoch 1"}.get(st, st))
        _legend_below(axes[0][col], 3)
    _plot_counts(axes[0][2], table)
    _plot_levels(axes[1][0], runs)
    _plot_projections(axes[1][1], runs)
    _plot_fraction(axes[1][2], runs)
    for row in axes:
        for ax in row:
            ax.title.set_fontsize(9)
    axes[0][0].figure.subplots_adjust(hspace=0.75, wspace=0.32)


def _legend_below(ax, ncol: int, drop: float = -0.2) -> None:
    """The legend under the axes, off the data."""
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, drop), ncol=ncol, frameon=False)


def _plot_counts(ax, table) -> None:
    """Mean counts at interpolation by detector and matrix, with bootstrap intervals, both networks."""
    labels = [f"{d}\n{m.upper()}" for d in DETECTORS for m in ("h", "g")]
    for j, (k, color) in enumerate((("plain", "tab:blue"), ("bn", "tab:orange"))):
        for i, (d, m) in enumerate((d, m) for d in DETECTORS for m in ("h", "g")):
            c = table[k]["interpolation"][m][d]
            lo, hi = c["interval"]
            ax.errorbar(i + 0.15 * (2 * j - 1), c["mean"], yerr=[[c["mean"] - lo], [hi - c["mean"]]], fmt="o",
                        color=color, ms=4, capsize=2, label=_NETS[k] if i == 0 else None)
    ax.axhline(C - 1, color="k", ls="--", lw=0.8, label="C - 1 = 9")
    ax.set(xticks=range(len(labels)), ylabel="outliers at interpolation (mean, 95% CI)",
           title="(c) counts by detector (gap rule decides)")
    ax.set_xticklabels(labels, fontsize=8)
    _legend_below(ax, 3, drop=-0.22)


def _plot_levels(ax, runs) -> None:
    """Seed 0 at interpolation, no batch norm: G's eigenvalues beside the class and cross-class Gram eigenvalues."""
    p = _stage(runs["plain"][0], "interpolation")
    ax.semilogy(np.arange(1, K + 1), np.maximum(p["g"]["lam"], 1e-12), "x", color="k", ms=4, label="G (Lanczos)")
    ax.semilogy(np.arange(1, C + 1), np.maximum(p["eig_class"], 1e-12), "s", color="tab:green", ms=4,
                label="class-mean Gram (C x C)")
    ax.semilogy(np.arange(1, C * (C - 1) + 1)[:K], np.maximum(p["eig_cross"][:K], 1e-12), "^", color="tab:purple",
                ms=4, label="cross-class Gram")
    ax.set(xlabel="index i", ylabel="eigenvalue (seed 0, interpolation)",
           title="(d) levels of G = G_class + G_cross + G_within")
    _legend_below(ax, 2)


def _plot_projections(ax, runs) -> None:
    """Seed 0 at interpolation: each top eigenvector's squared projection on the class-mean span."""
    for k, color in (("plain", "tab:blue"), ("bn", "tab:orange")):
        p = _stage(runs[k][0], "interpolation")
        ax.plot(np.arange(1, K + 1), p["h"]["proj_class"], "o-", ms=3, lw=0.8, color=color, label=_NETS[k])
    ax.axhline(0.5, color="k", ls="--", lw=0.8, label="1/2 (overlap detector)")
    ax.set(xlabel="eigenvector i of H", ylabel="||Q^T u_i||^2 (class-mean span)", ylim=(-0.02, 1.02),
           title="(e) H's eigenvectors in the class-mean span")
    _legend_below(ax, 2)


def _plot_fraction(ax, runs) -> None:
    """The gradient's squared-norm fraction in H's top-C eigenspace over training, every seed."""
    for k, color in (("plain", "tab:blue"), ("bn", "tab:orange")):
        for i, r in enumerate(runs[k]):
            ep = sorted(r["points"])
            ax.plot([e + 1 for e in ep], [r["points"][e]["grad_fraction"] for e in ep], "o-", ms=2, lw=0.7,
                    color=color, alpha=0.7, label=_NETS[k] if i == 0 else None)
    ax.set_xscale("log")
    ax.set(xlabel="epoch + 1", ylabel="||U_C^T g||^2 / ||g||^2", ylim=(-0.02, 1.02),
           title="(f) gradient in the top-C eigenspace of H")
    _legend_below(ax, 2)
