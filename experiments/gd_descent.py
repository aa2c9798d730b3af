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
    ``-||g||^4 / (2 g^T H g)``, measured as ``Delta C(eta_opt)`` against the model.
    Where does the cost start to *increase* (the first ``eta_zero`` with
    ``Delta C >= 0``, by bisection)? The model for it would be the Taylor
    series of ``phi(eta) = C(w - eta g)``,

        phi(eta) = sum_k c_k eta^k,   c_1 = -||g||^2,   c_2 = g^T H g / 2,

    computed here exactly to order 14 by Taylor-mode arithmetic through the
    network (:func:`taylor_coefficients`: ``z^1(eta)`` is linear in ``eta``;
    ``sigma`` of a series from ``u' = u (1 - u) z'``; the cross-entropy of a
    sigmoid output is ``softplus(z) - y z`` with ``softplus' = sigma``). But a
    Taylor series only converges for ``eta < R``, the distance to ``phi``'s
    nearest complex singularity, and ``sigma(z) = 1 / (1 + e^-z)`` has poles
    at ``z = +-i pi``: a hidden unit with ``z^1(eta) = A - eta B`` reaches one
    at ``|eta| = sqrt(A^2 + pi^2) / |B|``, so ``R <= R_poles = min over
    examples and units of sqrt(A^2 + pi^2) / |B|`` (:func:`pole_radius`). Two
    checks of that analytic structure: ``eta_zero > R_poles`` on every seed,
    and the exact terms ``|c_k eta_zero^k|`` grow with ``k`` (were the poles'
    contributions to cancel in the sum over examples, the terms would decay).
    No polynomial in ``eta`` can then locate the crossing; the quadratic
    model's ``2 eta_opt`` and the order-4 model's root are kept in the detail
    of the first check (:func:`quartic_zero`). Cf. Taylor's theorem in the
    complex plane (e.g. Ahlfors, *Complex Analysis*, ch. 5, 1.2).
(c) stochastic gradient descent (a check): for a mini-batch gradient
    ``g_B`` (``m = 10``), ``E_B[C(w - eta g_B)] - C(w) = -eta ||g||^2 +
    (eta^2/2) E_B[g_B^T H g_B] + O(eta^3)`` (unbiased mini-batches and
    Taylor): on average over mini-batches SGD decreases the full cost at the
    first-order rate, with a second-order term that carries the mini-batch
    noise (``E[g_B^T H g_B] = g^T H g + tr(H Cov g_B)``).

How it decides (``experiments/claims/gd_descent.py``): checks on the worst of
5 seeds (3 in quick mode): residual slope within 0.05 of 2, coefficient within
1%, ``eta_zero / R_poles > 1``, growth slope > 0; the best-step decrease
relative to the model is a prediction, its 95% t-interval over seeds inside
[0.95, 1.05]; SGD's mean decrease minus its second-order value, t-interval
over seeds inside [-0.01, 0.01].
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import decide, figure, save, seeds, t_interval
from fnn import backprop, data, nn


def _setup(quick: bool):
    x, y = data.load("fashion_mnist", "train", download=False, progress=False)
    n = 500 if quick else 2000
    return np.asarray(x[:n], np.float64), np.asarray(y[:n], np.int32)


ORDER = 14  # Taylor coefficients computed (the prediction uses order 4, the divergence check orders 8..14)


def _check_two_layer(params, grad) -> None:
    if len(params) != 2 or len(grad) != 2 or any(set(l) != {"W", "b"} for l in (*params, *grad)):
        raise ValueError("params and grad must be two layers of {'W', 'b'} (a sigmoid-sigmoid MLP with one hidden "
                         f"layer), got {len(params)} and {len(grad)} layers")


def _sigmoid_series(z: np.ndarray) -> np.ndarray:
    """Taylor coefficients of ``u = sigma(z(eta))`` from those of ``z`` (leading axis ``k``).

    ``u' = s z'`` with ``s = u (1 - u)``: ``k u_k = sum_{j=1..k} j z_j s_{k-j}``, ``s_m = u_m - sum_i u_i u_{m-i}``.
    """
    u = [1.0 / (1.0 + np.exp(-z[0]))]
    s = []
    for k in range(1, z.shape[0]):
        m = k - 1
        s.append(u[m] - sum(u[i] * u[m - i] for i in range(m + 1)))
        u.append(sum(j * z[j] * s[k - j] for j in range(1, k + 1)) / k)
    return np.stack(u)


def taylor_coefficients(params, grad, x, y, order: int = ORDER) -> np.ndarray:
    """``c_0..c_order`` of ``phi(eta) = C(w - eta g) = sum_k c_k eta^k`` (exact Taylor-mode arithmetic, float64).

    For the one-hidden-layer sigmoid network with a sigmoid output and the cross-entropy cost (notes, "Gradient
    descent"; ``C = (1/n) sum_x sum_j [softplus(z_j) - y_j z_j]``, ``z`` the output's weighted input):
    ``z^1(eta) = x (W^1 - eta G^1)^T + b^1 - eta g_b^1`` is linear in ``eta``; ``h = sigma(z^1)`` by
    :func:`_sigmoid_series`; ``z^2 = h (W^2 - eta G^2)^T + b^2 - eta g_b^2`` by the Cauchy product; and
    ``k sp_k = sum_{j=1..k} j z_j u_{k-j}`` for ``softplus`` (``softplus' = sigma``, ``u = sigma(z^2)``).
    ``c_1 = -||g||^2`` and ``c_2 = g^T H g / 2`` (tests). ``y``: integer labels.
    """
    _check_two_layer(params, grad)
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be an integer >= 1, got {order!r}")
    x = np.asarray(x, np.float64)
    y = np.asarray(y)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (n, inputs) and y (n,) labels, got shapes {x.shape} and {y.shape}")
    (w1, b1), (w2, b2) = ((np.asarray(l["W"], np.float64), np.asarray(l["b"], np.float64)) for l in params)
    (g1, gb1), (g2, gb2) = ((np.asarray(l["W"], np.float64), np.asarray(l["b"], np.float64)) for l in grad)
    z1 = np.zeros((order + 1, x.shape[0], w1.shape[0]))
    z1[0], z1[1] = x @ w1.T + b1, -(x @ g1.T + gb1)
    h = _sigmoid_series(z1)
    z2 = np.einsum("knj,ij->kni", h, w2)
    z2[1:] -= np.einsum("knj,ij->kni", h[:-1], g2)
    z2[0] += b2
    z2[1] -= gb2
    u = _sigmoid_series(z2)
    sp = [np.logaddexp(0.0, z2[0])] + [sum(j * z2[j] * u[k - j] for j in range(1, k + 1)) / k
                                       for k in range(1, order + 1)]
    onehot = np.eye(w2.shape[0])[y]
    return (np.stack(sp) - z2 * onehot).sum(-1).mean(-1)


def pole_radius(params, grad, x) -> float:
    """``R_poles = min over examples and hidden units of sqrt(A^2 + pi^2) / |B|``, ``z^1(eta) = A - eta B``.

    ``sigma`` has poles at ``z = +-i pi``, reached at complex ``eta = (A -+ i pi) / B``: the radius of convergence
    of the Taylor series of ``C(w - eta g)`` in ``eta`` is at most this (module docstring, (b)).
    """
    _check_two_layer(params, grad)
    x = np.asarray(x, np.float64)
    a = x @ np.asarray(params[0]["W"], np.float64).T + np.asarray(params[0]["b"], np.float64)
    b = x @ np.asarray(grad[0]["W"], np.float64).T + np.asarray(grad[0]["b"], np.float64)
    with np.errstate(divide="ignore"):
        return float(np.min(np.sqrt(a**2 + np.pi**2) / np.abs(b)))


def quartic_zero(c: np.ndarray) -> tuple[float, float]:
    """Smallest positive real root ``eta_4`` of ``P_4(eta) = c_1 eta + ... + c_4 eta^4`` (``inf`` if none) and the
    tolerance ``|c_5| eta_4^5 / |P_4'(eta_4)|`` (the root shift the order-5 term causes, to first order)."""
    c = np.asarray(c, np.float64)
    if c.ndim != 1 or c.shape[0] < 6:
        raise ValueError(f"c must hold the coefficients c_0..c_5 at least, got shape {c.shape}")
    r = np.roots([c[4], c[3], c[2], c[1]])
    pos = sorted(float(v.real) for v in r if abs(v.imag) <= 1e-12 * abs(v) and v.real > 0)
    if not pos:
        return math.inf, math.inf
    e = pos[0]
    slope = c[1] + 2 * c[2] * e + 3 * c[3] * e**2 + 4 * c[4] * e**3
    return e, float(abs(c[5]) * e**5 / abs(slope))


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
    coef = taylor_coefficients(params, g, x, y, ORDER)
    eta4, tol4 = quartic_zero(coef)
    # SGD: mini-batch gradients at the same point
    gradb = jax.jit(grad_fn)
    idx = np.asarray(jax.random.randint(key, (n_batches, batch), 0, x.shape[0]))
    dcb, qb = [], []
    for i in idx:
        gb = gradb(params, x[i], y[i])
        dcb.append(float(step(eta_sgd, gb)))
        qb.append(quad(gb))
    return {"cost": c0, "grad_sq": gg, "gHg": ghg, "delta_c": dc, "eta_opt": eta_opt, "delta_c_opt": dc_opt,
            "eta_zero": eta_zero, "quadratic_zero_ratio": eta_zero / (2 * eta_opt), "taylor": coef,
            "R_poles": pole_radius(params, g, x), "eta_quartic": eta4, "quartic_tolerance": tol4, "sgd_delta_c": np.asarray(dcb), "sgd_gHg": np.asarray(qb)}


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    t0 = time.perf_counter()
    n_seeds = seeds("gd_descent/best-step-decrease", quick)
    n_batches = 100 if quick else 400
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
    verdicts = _decide(runs, etas, eta_sgd, quick)
    out = {"setup": {"network": "784-30-10 sigmoid, cross-entropy, normalized Xavier init", "examples": int(x.shape[0]),
                     "seeds": n_seeds, "dtype": "float64", "sgd_batch": 10, "sgd_batches": n_batches,
                     "eta_sgd": eta_sgd}, "etas": etas, "runs": runs, "runtime_s": time.perf_counter() - t0}
    return save("gd_descent", seed=seed, quick=quick, verdicts=verdicts, data=out, fig=_figure(runs, etas, eta_sgd),
                out_dir=out_dir, title="Gradient descent decreases C: Delta C = -eta ||grad C||^2 + O(eta^2) (notes, "
                "Gradient descent)")


def _decide(runs, etas, eta_sgd, quick) -> list[dict]:
    n = len(runs)
    # (a) residual slope on the small-eta range where it is far above float64 rounding of C
    small = (etas >= 1e-4) & (etas <= 1e-2)
    slopes, coef_err = [], []
    for r in runs:
        res = r["delta_c"] + etas * r["grad_sq"]
        slopes.append(np.polyfit(np.log(etas[small]), np.log(np.abs(res[small])), 1)[0])
        i = int(np.flatnonzero(small)[0])
        coef_err.append(abs(res[i] / etas[i] ** 2 / (0.5 * r["gHg"]) - 1))
    vs = [decide("gd_descent/residual-slope", max(abs(s - 2) for s in slopes), quick=quick, n=n,
                 detail={"slopes": slopes}),
          decide("gd_descent/residual-coefficient", max(coef_err), quick=quick, n=n, detail={"per_seed": coef_err})]
    # (b) the quadratic model's optimal step
    ratio_opt = np.array([r["delta_c_opt"] / (-r["grad_sq"] ** 2 / (2 * r["gHg"])) for r in runs])
    m, lo, hi = t_interval(ratio_opt)
    vs.append(decide("gd_descent/best-step-decrease", m, quick=quick, interval=(lo, hi), n=n,
                     detail={"per_seed": ratio_opt}))
    # (b) where the cost starts to increase: beyond the Taylor series' radius, where its terms grow. The
    # polynomial predictions of the crossing were retired (paper_figures/ledger/gd_descent.json); their
    # numbers stay in the detail.
    zero = np.array([r["quadratic_zero_ratio"] for r in runs])
    finite = np.isfinite(zero)
    quad = float(math.exp(np.mean(np.log(zero[finite])))) if finite.any() else math.inf
    meas = np.array([r["eta_zero"] for r in runs])
    grow = []
    for r in runs:
        c = np.asarray(r["taylor"])
        k = np.arange(8, c.shape[0])
        grow.append(float(np.polyfit(k, np.log(np.abs(c[k])) + k * math.log(r["eta_zero"]), 1)[0])
                    if np.isfinite(r["eta_zero"]) else -math.inf)
    rp = np.array([r["R_poles"] for r in runs])
    detail = {"R_poles": rp, "eta_zero": meas, "eta_opt": [r["eta_opt"] for r in runs],
              "retired: quadratic_zero_ratio (geometric mean)": quad,
              "retired: eta_quartic": [r["eta_quartic"] for r in runs]}
    vs.append(decide("gd_descent/crossing-beyond-pole-radius", float(np.min(meas / rp)), quick=quick, n=n,
                     detail=detail))
    vs.append(decide("gd_descent/taylor-terms-grow", min(grow), quick=quick, n=n, detail={"per_seed": grow}))
    # (c) SGD in expectation: measured mean ratio minus its second-order value, per seed
    ratios, preds = [], []
    for r in runs:
        ratios.append(float(np.mean(r["sgd_delta_c"] / (-eta_sgd * r["grad_sq"]))))
        preds.append(1.0 - eta_sgd * float(np.mean(r["sgd_gHg"])) / (2 * r["grad_sq"]))
    m, lo, hi = t_interval(np.array(ratios) - np.array(preds))
    vs.append(decide("gd_descent/sgd-mean-decrease", m, quick=quick, interval=(lo, hi), n=n,
                     detail={"measured": ratios, "predicted": preds}))
    return vs


def _figure(runs, etas, eta_sgd):
    fig, axes = figure(3, 1, width=5.2, height=4.2)
    a, b, c = axes[0]
    colors = [f"C{i}" for i in range(len(runs))]
    for i, r in enumerate(runs):
        rate = -r["delta_c"] / etas / r["grad_sq"]
        a.semilogx(etas, rate, "o-", ms=2.5, lw=0.8, color=colors[i], label=f"seed {i}")
        a.semilogx(etas, 1 - etas * r["gHg"] / (2 * r["grad_sq"]), ":", color=colors[i], lw=1)
        coef = np.asarray(r["taylor"])
        a.semilogx(etas, -np.polyval(coef[4:0:-1], etas) / r["grad_sq"], "--", color=colors[i], lw=0.8)
        a.axvline(r["eta_opt"], color=colors[i], lw=0.5, alpha=0.6)
        a.plot([r["R_poles"]], [1.2], "v", color=colors[i], ms=5)
        a.plot([r["eta_zero"]], [0.0], "x", color=colors[i], ms=6)
    a.plot([], [], "k:", label="theory, 2nd order: 1 − η gᵀHg/(2‖g‖²)")
    a.plot([], [], "k--", lw=0.8, label="theory, 4th-order Taylor model")
    a.plot([], [], "kv", ms=5, label="R_poles (series diverges beyond)")
    a.plot([], [], "kx", ms=6, label="measured first ΔC ≥ 0")
    a.axhline(1.0, color="k", lw=1, label="theory, 1st order: −ΔC/η = ‖g‖²")
    a.axhline(0.0, color="gray", lw=0.5)
    a.set(xlabel="learning rate η", ylabel="−ΔC / (η ‖∇C‖²) (dimensionless)", ylim=(-1.5, 1.3),
          title="(a) one GD step from initialization (thin: η_opt)")
    a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    for i, r in enumerate(runs):
        res = np.abs(r["delta_c"] + etas * r["grad_sq"])
        b.loglog(etas, res, "o", ms=2.5, color=colors[i])
        b.loglog(etas, 0.5 * r["gHg"] * etas**2, "-", lw=0.8, color=colors[i])
    b.plot([], [], "ko", ms=2.5, label="measured |ΔC + η‖g‖²|")
    b.plot([], [], "k-", lw=0.8, label="theory ½ gᵀHg η²")
    b.set(xlabel="learning rate η", ylabel="|residual| (nats)", title="(b) the O(η²) term (float64)")
    b.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    for i, r in enumerate(runs):
        q = r["sgd_delta_c"] / (-eta_sgd * r["grad_sq"])
        c.hist(q, bins=30, histtype="step", color=colors[i], label=f"seed {i}: mean {q.mean():.3f}")
    c.axvline(1.0, color="k", lw=1, label="theory, 1st order: 1")
    c.set(xlabel=f"ΔC_B / (−η‖∇C‖²), one SGD step (m = 10, η = {eta_sgd})", ylabel="mini-batches (count)",
          title="(c) one SGD step vs the first-order GD decrease")
    c.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    fig.tight_layout()
    return fig
