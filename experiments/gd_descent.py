"""Does a gradient step decrease the cost? ``Delta C = -eta ||grad C||^2 + O(eta^2)`` on a real network.

Notes, "Gradient descent": with ``Delta w = -eta grad C``,
``Delta C ~ grad C . Delta w = -eta ||grad C||^2 <= 0``, so "C will always
decrease, never increase" for a small enough ``eta``. Taylor to second order
along the step,

    Delta C(eta) = C(w - eta g) - C(w) = -eta ||g||^2 + (eta^2 / 2) g^T H g + O(eta^3),

with ``g = grad C`` and ``H`` the Hessian. Measured here on a 784-30-10 sigmoid
network with the cross-entropy cost on 2,000 Fashion-MNIST training images, at
initialization, for 5 seeds, in float64, with ``g^T H g`` from a
Hessian-vector product (``jax.jvp`` of ``jax.grad``: independent of the finite
differences ``Delta C``):

(a) the first-order law (a check of the notes' derivation): ``-Delta C / eta``
    tends to ``||g||^2``; the residual ``Delta C + eta ||g||^2`` grows as
    ``eta^2`` (log-log slope 2) with coefficient ``g^T H g / 2``.
(b) how small is "small enough" (a prediction): the quadratic model predicts
    the best step ``eta_opt = ||g||^2 / g^T H g`` with decrease
    ``-||g||^4 / (2 g^T H g)``, and a cost *increase* beyond ``2 eta_opt``.
    Measured: ``Delta C(eta_opt)`` against the model, and the first ``eta``
    with ``Delta C >= 0`` against ``2 eta_opt`` (the cubic terms decide how far
    the model holds: the tolerance is the seeds' 95% interval, not a factor).
(c) stochastic gradient descent (a prediction): for a mini-batch gradient
    ``g_B`` (``m = 10``), ``E_B[C(w - eta g_B)] - C(w) = -eta ||g||^2 +
    (eta^2/2) E_B[g_B^T H g_B] + O(eta^3)``: on average over mini-batches SGD
    decreases the full cost at the first-order rate, with a second-order term
    that carries the mini-batch noise (``E[g_B^T H g_B] = g^T H g + tr(H Cov g_B)``).
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import figure, save, t_interval, verdict
from fnn import backprop, data, nn

SECTION = "Gradient descent"


def _setup(quick: bool):
    x, y = data.load("fashion_mnist", "train", download=False, progress=False)
    n = 500 if quick else 2000
    return np.asarray(x[:n], np.float64), np.asarray(y[:n], np.int32)


def _measure(net, params, x, y, etas, key, n_batches: int, batch: int, eta_sgd: float) -> dict:
    """All the quantities of the module docstring at ``params`` (float64)."""
    def cost(p, xb, yb):
        return backprop.loss(net, "cross_entropy", p, xb, yb)

    # data and parameters are arguments, not closed-over constants (XLA would constant-fold them)
    grad_fn = jax.grad(cost)
    hvp_fn = jax.jit(lambda p, v, xb, yb: jax.jvp(lambda q: grad_fn(q, xb, yb), (p,), (v,))[1])
    step_fn = jax.jit(lambda p, eta, v, xb, yb: cost(jax.tree_util.tree_map(lambda a, d: a - eta * d, p, v), xb, yb)
                      - cost(p, xb, yb))
    x, y = jnp.asarray(x), jnp.asarray(y)
    g = jax.jit(grad_fn)(params, x, y)
    gg = float(sum(jnp.vdot(a, a) for a in jax.tree_util.tree_leaves(g)))

    def quad(v):
        hv = hvp_fn(params, v, x, y)
        return float(sum(jnp.vdot(a, b) for a, b in zip(jax.tree_util.tree_leaves(v), jax.tree_util.tree_leaves(hv))))

    def step(eta, v):
        return step_fn(params, eta, v, x, y)

    ghg = quad(g)
    c0 = float(jax.jit(cost)(params, x, y))
    dc = np.array([float(step(e, g)) for e in etas])
    eta_opt = gg / ghg
    dc_opt = float(step(eta_opt, g))
    # first eta with Delta C >= 0 (bisection between the grid points around the sign change)
    lo, hi = eta_opt, 64 * eta_opt
    if float(step(hi, g)) < 0:
        eta_zero = math.inf
    else:
        for _ in range(60):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if float(step(mid, g)) < 0 else (lo, mid)
        eta_zero = math.sqrt(lo * hi)
    # SGD: mini-batch gradients at the same point
    gradb = jax.jit(grad_fn)
    idx = np.asarray(jax.random.randint(key, (n_batches, batch), 0, x.shape[0]))
    dcb, qb = [], []
    for i in idx:
        gb = gradb(params, x[i], y[i])
        dcb.append(float(step(eta_sgd, gb)))
        qb.append(quad(gb))
    return {"cost": c0, "grad_sq": gg, "gHg": ghg, "delta_c": dc, "eta_opt": eta_opt, "delta_c_opt": dc_opt,
            "eta_zero": eta_zero, "sgd_delta_c": np.asarray(dcb), "sgd_gHg": np.asarray(qb)}


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    t0 = time.perf_counter()
    n_seeds, n_batches = (3, 100) if quick else (5, 400)
    etas = np.geomspace(1e-6, 30.0, 30 if quick else 50)
    eta_sgd = 1e-3
    with jax.enable_x64(True):
        x, y = _setup(quick)
        net = nn.MLP((784, 30, 10), hidden="sigmoid", output="sigmoid", w_init="xavier_normalized")
        runs = []
        for s in range(n_seeds):
            k = jax.random.fold_in(jax.random.key(seed), s)
            params = net.init(k, jnp.float64)
            runs.append(_measure(net, params, x, y, etas, jax.random.fold_in(k, 1), n_batches, 10, eta_sgd))
    verdicts = _verdicts(runs, etas, eta_sgd, n_batches)
    out = {"setup": {"network": "784-30-10 sigmoid, cross-entropy, normalized Xavier init", "examples": int(x.shape[0]),
                     "seeds": n_seeds, "dtype": "float64", "sgd_batch": 10, "sgd_batches": n_batches,
                     "eta_sgd": eta_sgd}, "etas": etas, "runs": runs, "runtime_s": time.perf_counter() - t0}
    return save("gd_descent", seed=seed, quick=quick, verdicts=verdicts, data=out, fig=_figure(runs, etas, eta_sgd),
                out_dir=out_dir, title="Gradient descent decreases C: Delta C = -eta ||grad C||^2 + O(eta^2) (notes, "
                "Gradient descent)")


def _verdicts(runs, etas, eta_sgd, n_batches) -> list[dict]:
    vs = []
    # (a) residual slope on the small-eta range where it is far above float64 rounding of C
    small = (etas >= 1e-4) & (etas <= 1e-2)
    slopes, coef_err = [], []
    for r in runs:
        res = r["delta_c"] + etas * r["grad_sq"]
        slopes.append(np.polyfit(np.log(etas[small]), np.log(np.abs(res[small])), 1)[0])
        i = int(np.flatnonzero(small)[0])
        coef_err.append(abs(res[i] / etas[i] ** 2 / (0.5 * r["gHg"]) - 1))
    vs.append(verdict(
        "notes, 'Gradient descent': Delta C = -eta ||grad C||^2 + O(eta^2) on a real network (784-30-10 sigmoid, "
        "cross-entropy, Fashion-MNIST, float64): the residual Delta C + eta ||g||^2 has log-log slope 2 in eta "
        "(1e-4..1e-2) and coefficient g^T H g / 2 (Hessian-vector product)",
        {"slopes": slopes, "max relative error of the coefficient at eta = 1e-4": max(coef_err)},
        {"slope": 2.0, "coefficient": "g^T H g / 2"},
        all(abs(s - 2) <= 0.05 for s in slopes) and max(coef_err) <= 0.01,
        "every seed: |slope - 2| <= 0.05 and coefficient within 1% (Taylor: an identity check)",
        SECTION, kind="check", n_seeds=len(runs)))
    # (b) the quadratic model's optimal step and zero crossing
    ratio_opt = np.array([r["delta_c_opt"] / (-r["grad_sq"] ** 2 / (2 * r["gHg"])) for r in runs])
    m, lo, hi = t_interval(ratio_opt)
    vs.append(verdict(
        "GD decreases C at the quadratic model's best step eta_opt = ||g||^2 / g^T H g, by the model's "
        "||g||^4 / (2 g^T H g): measured Delta C(eta_opt) / model",
        m, 1.0, lo <= 1.0 <= hi or abs(m - 1) <= 0.05,
        "1 inside the 95% t-interval over seeds, or within 5% (cubic terms)", SECTION, kind="prediction",
        interval=(lo, hi), n_seeds=len(runs)))
    zero = np.array([r["eta_zero"] / (2 * r["eta_opt"]) for r in runs])
    finite = np.isfinite(zero)
    if finite.sum() >= 2:
        m, lo, hi = t_interval(np.log(zero[finite]))
        vs.append(verdict(
            "beyond eta = 2 eta_opt the quadratic model predicts a cost increase: first eta with Delta C >= 0 "
            "(bisection) / (2 eta_opt), geometric mean over seeds (a test of how far the local quadratic model "
            "reaches along the gradient; the notes only claim 'small enough eta')",
            math.exp(m), 1.0, lo <= 0.0 <= hi or abs(m) <= math.log(1.1),
            "1 inside the 95% t-interval of the geometric mean, or within 10% (cubic terms)", SECTION,
            kind="prediction", interval=(math.exp(lo), math.exp(hi)), n_seeds=int(finite.sum())))
    # (c) SGD in expectation
    ratios, preds, los, his = [], [], [], []
    for r in runs:
        q = r["sgd_delta_c"] / (-eta_sgd * r["grad_sq"])
        m, lo, hi = t_interval(q)
        ratios.append(m), los.append(lo), his.append(hi)
        preds.append(1.0 - eta_sgd * float(np.mean(r["sgd_gHg"])) / (2 * r["grad_sq"]))
    ok = all(lo <= p <= hi for lo, p, hi in zip(los, preds, his))
    vs.append(verdict(
        f"SGD (m = 10) decreases the full cost on average: E_B[Delta C_B] / (-eta ||grad C||^2) at eta = {eta_sgd} "
        "equals 1 - eta E_B[g_B^T H g_B] / (2 ||g||^2) (second order, mini-batch noise included); per seed, over "
        f"{n_batches} random mini-batches",
        {"measured": ratios, "predicted": preds}, "second-order prediction inside each seed's interval", ok,
        "each seed's prediction inside its 95% t-interval over mini-batches", SECTION, kind="prediction",
        n_seeds=len(runs)))
    return vs


def _figure(runs, etas, eta_sgd):
    fig, axes = figure(3, 1, width=5.2, height=4.2)
    a, b, c = axes[0]
    colors = [f"C{i}" for i in range(len(runs))]
    for i, r in enumerate(runs):
        rate = -r["delta_c"] / etas / r["grad_sq"]
        a.semilogx(etas, rate, "o-", ms=2.5, lw=0.8, color=colors[i], label=f"seed {i}")
        a.semilogx(etas, 1 - etas * r["gHg"] / (2 * r["grad_sq"]), ":", color=colors[i], lw=1)
        a.axvline(r["eta_opt"], color=colors[i], lw=0.5, alpha=0.6)
    a.plot([], [], "k:", label="theory, 2nd order: 1 − η gᵀHg/(2‖g‖²)")
    a.axhline(1.0, color="k", lw=1, label="theory, 1st order: −ΔC/η = ‖g‖²")
    a.axhline(0.0, color="gray", lw=0.5)
    a.set(xlabel="learning rate η", ylabel="−ΔC / (η ‖∇C‖²) (dimensionless)", ylim=(-1.5, 1.3),
          title="(a) one GD step from initialization (thin: η_opt)")
    a.legend(fontsize=7, loc="lower left")
    for i, r in enumerate(runs):
        res = np.abs(r["delta_c"] + etas * r["grad_sq"])
        b.loglog(etas, res, "o", ms=2.5, color=colors[i])
        b.loglog(etas, 0.5 * r["gHg"] * etas**2, "-", lw=0.8, color=colors[i])
    b.plot([], [], "ko", ms=2.5, label="measured |ΔC + η‖g‖²|")
    b.plot([], [], "k-", lw=0.8, label="theory ½ gᵀHg η²")
    b.set(xlabel="learning rate η", ylabel="|residual| (nats)", title="(b) the O(η²) term (float64)")
    b.legend(fontsize=7)
    for i, r in enumerate(runs):
        q = r["sgd_delta_c"] / (-eta_sgd * r["grad_sq"])
        c.hist(q, bins=30, histtype="step", color=colors[i], label=f"seed {i}: mean {q.mean():.3f}")
    c.axvline(1.0, color="k", lw=1, label="theory, 1st order: 1")
    c.set(xlabel=f"ΔC_B / (−η‖∇C‖²), one SGD step (m = 10, η = {eta_sgd})", ylabel="mini-batches (count)",
          title="(c) one SGD step vs the first-order GD decrease")
    c.legend(fontsize=7)
    fig.tight_layout()
    return fig
