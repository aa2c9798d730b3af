"""Momentum on an ill-conditioned quadratic: effective rates and iterations to tolerance.

Notes, "Momentum": ``dw(t) = -eta grad E(w(t)) + mu dw(t-1)`` (``fnn.optim.momentum``).
"In regions of low curvature momentum increases the learning rate by a factor
1/(1 - mu); in regions of high curvature the effective rate stays close to eta:
the successive contributions of the oscillating gradient cancel."

On ``E = 1/2 sum_i lambda_i alpha_i^2`` each component follows
``alpha(t+1) = (1 + mu - eta lambda) alpha(t) - mu alpha(t-1)`` with roots
``r^2 - (1 + mu - eta lambda) r + mu = 0`` (``fnn.analysis.momentum_roots``).
We measure, per direction, the *effective rate* ``eta_eff = -Delta alpha / g``
(the step taken per unit of gradient ``g = lambda alpha``):

(a) trajectories of GD and momentum on a rotated 2-D quadratic (kappa = 20);
(b) low curvature (``eta lambda = 1.8e-5``): ``eta_eff -> eta/(1 - mu)`` for
    ``mu`` = 0..0.95; high curvature (``eta lambda = 1.8``, where GD oscillates):
    the step gain ``sum |Delta alpha| / (eta sum |g|)`` is not amplified by
    ``mu`` (theory for the complex roots: ``|1 - r| = sqrt(eta lambda)``, so
    ``eta_eff = sqrt(eta/lambda) = 0.75 eta`` whatever ``mu``, vs ``eta`` for GD);
(c) iterations until every component stays below ``tol`` vs ``mu`` (kappa = 100,
    ``eta = 1/lambda_max``): measured counts against the closed-form solution of
    the recurrence, and the best ``mu`` against critical damping of the slow
    direction, ``mu* = (1 - sqrt(eta lambda_min))^2``.

Runs in float64.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import figure, save, verdict
from fnn import analysis, optim

SECTION = "Momentum"


def _trajectory(lam: jax.Array, w0: jax.Array, eta: float, mu: float, steps: int, Q=None) -> jax.Array:
    """Iterates of ``fnn.optim.momentum(eta, mu)`` on ``1/2 (Q^T w)^T diag(lam) (Q^T w)``, shape (steps+1, n)."""
    n = lam.shape[0]
    Q = jnp.eye(n, dtype=lam.dtype) if Q is None else Q
    E = analysis.quadratic((Q * lam[None, :]) @ Q.T)
    return jax.jit(lambda w: optim.trajectory(E, w, optim.momentum(eta, mu), steps))(w0)


def _closed_form(lam: float, eta: float, mu: float, steps: int) -> np.ndarray:
    """``alpha(t) = c1 r1^t + c2 r2^t`` with ``alpha(0) = 1``, ``alpha(1) = 1 - eta lambda`` (zero initial velocity)."""
    t = np.arange(steps + 1)
    if mu == 0.0:  # plain GD: alpha(t) = (1 - eta lambda)^t
        return (1.0 - eta * lam) ** t
    r1, r2 = (complex(r) for r in np.asarray(analysis.momentum_roots([lam], eta, mu))[0])
    a0, a1 = 1.0, 1.0 - eta * lam
    if abs(r1 - r2) < 1e-9:  # repeated root: alpha(t) = (c1 + c2 t) r^t
        c1, c2 = a0, a1 / r1 - a0
        t = np.arange(steps + 1)
        return np.real((c1 + c2 * t) * r1**t)
    c2 = (a1 - a0 * r1) / (r2 - r1)
    c1 = a0 - c2
    t = np.arange(steps + 1)
    return np.real(c1 * r1**t + c2 * r2**t)


def _count(alpha_abs_max: np.ndarray, tol: float) -> int:
    """Steps until the sequence stays <= tol: 1 + the last index where it exceeds tol."""
    above = np.nonzero(alpha_abs_max > tol)[0]
    return 0 if above.size == 0 else int(above[-1]) + 1


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    with jax.enable_x64(True):
        return _run(quick, seed, out_dir)


def _run(quick: bool, seed: int, out_dir) -> dict:
    rng = np.random.default_rng(seed)
    verdicts, data_out = [], {}

    # ---- (a) trajectories on a rotated 2-D quadratic -----------------------------------
    lam_a = jnp.asarray([0.05, 1.0])
    theta = math.radians(30 + 10 * rng.uniform())
    Q = jnp.asarray([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    w0_a = Q @ jnp.asarray([-4.0, 1.0])
    T_a = 60
    eta_a = 1.8  # eta lambda_max = 1.8: GD zig-zags across the valley
    runs_a = {f"GD (η={eta_a})": _trajectory(lam_a, w0_a, eta_a, 0.0, T_a, Q),
              f"momentum (η={eta_a}, μ=0.7)": _trajectory(lam_a, w0_a, eta_a, 0.7, T_a, Q),
              "momentum (η=0.5, μ=0.7)": _trajectory(lam_a, w0_a, 0.5, 0.7, T_a, Q)}
    data_out["a"] = {"eigenvalues": lam_a, "theta": theta, "trajectories": {k: np.asarray(v) for k, v in runs_a.items()}}

    # ---- (b) effective rates in a low- and a high-curvature direction ------------------
    eta = 1.8
    lam_lo, lam_hi = 1e-5, 1.0
    lam_b = jnp.asarray([lam_lo, lam_hi])
    mus = [0.0, 0.5, 0.8, 0.9, 0.95]
    T_b = 300 if quick else 600
    low_eff, low_pred, low_exact, high_gain, high_pred, eff_curves = [], [], [], [], [], {}
    for mu in mus:
        ws = np.asarray(_trajectory(lam_b, jnp.asarray([1.0, 1.0]), eta, mu, T_b))
        a_lo, a_hi = ws[:, 0], ws[:, 1]
        eff = -(a_lo[1:] - a_lo[:-1]) / (lam_lo * a_lo[:-1])  # eta_eff(t) in the flat direction
        eff_curves[mu] = eff
        low_eff.append(float(eff[-1]))
        low_pred.append(eta / (1 - mu))
        slow = complex(np.asarray(analysis.momentum_roots([lam_lo], eta, mu))[0, 0])
        low_exact.append((1 - slow.real) / lam_lo)
        # High curvature: total step length per unit of eta * gradient over the run.
        da = np.abs(np.diff(a_hi))
        gsum = eta * np.sum(np.abs(lam_hi * a_hi[:-1]))
        high_gain.append(float(np.sum(da) / gsum))
        r = np.asarray(analysis.momentum_roots([lam_hi], eta, mu))[0, 0]
        high_pred.append(float(abs(1 - r) / (eta * lam_hi)))
    low_eff, low_pred = np.asarray(low_eff), np.asarray(low_pred)
    low_err = float(np.max(np.abs(low_eff - low_pred) / low_pred))
    verdicts.append(
        verdict(
            "low curvature: momentum raises the effective rate to eta/(1-mu) "
            f"(measured -Delta alpha/(lambda alpha) after {T_b} steps, eta lambda = {eta * lam_lo:g}, mu = {mus})",
            low_eff,
            low_pred,
            low_err <= 0.02,
            "max relative error <= 2% over mu (exact slow root differs from eta/(1-mu) by "
            f"<= {float(np.max(np.abs(np.asarray(low_exact) - low_pred) / low_pred)):.2%})",
            SECTION, kind="check"
        )
    )
    high_gain = np.asarray(high_gain)
    # The mechanism, exactly: feed fnn.optim.momentum a constant gradient (low curvature: the
    # gradient barely changes between steps) and a sign-alternating one (high curvature: GD
    # oscillates); after the transient the update per unit eta*g is sum_k mu^k = 1/(1-mu)
    # and sum_k (-mu)^k = 1/(1+mu) in [1/2, 1]: the successive contributions cancel.
    T_m = 400 if quick else 800  # transient mu^T <= 0.95^400 = 1e-9
    const_gain, alt_gain = [], []
    alternating = jnp.where(jnp.arange(T_m) % 2 == 0, 1.0, -1.0)
    grads = jnp.stack([jnp.ones(T_m), alternating], axis=1)  # (T, 2): steady, alternating
    for mu in mus:
        opt = optim.momentum(eta, mu)

        @jax.jit
        def last_update(gs, opt=opt):
            def body(s, g):
                u, s = opt.update(g, s)
                return s, u

            return jax.lax.scan(body, opt.init(gs[0]), gs)[1][-1]

        u = last_update(grads)
        const_gain.append(float(-u[0] / eta))
        alt_gain.append(float(abs(u[1]) / eta))
    mus_arr = np.asarray(mus)
    mech_err = float(max(np.max(np.abs(np.asarray(const_gain) * (1 - mus_arr) - 1)),
                         np.max(np.abs(np.asarray(alt_gain) * (1 + mus_arr) - 1))))
    verdicts.append(
        verdict(
            "the momentum update per unit eta*g: 1/(1-mu) for a steady gradient, 1/(1+mu) (between 1/2 and 1: "
            f"'close to eta') for an oscillating one (after {T_m} steps; mu = {mus})",
            {"steady": const_gain, "oscillating": alt_gain},
            {"steady": list(1 / (1 - mus_arr)), "oscillating": list(1 / (1 + mus_arr))},
            mech_err <= 1e-6,
            "max relative error <= 1e-6",
            SECTION, kind="check"
        )
    )
    # On the quadratic itself, the high-curvature component is a decaying oscillation
    # alpha(t) = Re(c r^t). Identify r from the trajectory (least squares fit of
    # alpha(t+1) = p alpha(t) + q alpha(t-1), roots of r^2 - p r - q) and compare the
    # mode's step per unit eta*g, |1 - r| / (eta lambda), with the theory.
    fit_gain = []
    for mu in mus[1:]:
        ws = np.asarray(_trajectory(lam_b, jnp.asarray([1.0, 1.0]), eta, mu, 40))
        a = ws[:, 1]
        A = np.stack([a[1:-1], a[:-2]], axis=1)
        (p, q), *_ = np.linalg.lstsq(A, a[2:], rcond=None)
        r = np.roots([1.0, -p, -q])
        r = r[np.argmax(np.abs(r))]
        fit_gain.append(float(abs(1 - r) / (eta * lam_hi)))
    fit_gain = np.asarray(fit_gain)
    rel_hi = float(np.max(np.abs(fit_gain - np.asarray(high_pred[1:])) / np.asarray(high_pred[1:])))
    verdicts.append(
        verdict(
            f"high curvature (eta lambda = {eta * lam_hi:g}, GD oscillates): the step per unit eta*g of the measured "
            f"oscillation, |1-r|/(eta lambda), is 1/sqrt(eta lambda) = {1 / math.sqrt(eta * lam_hi):.3f} for every "
            "mu > 0: below 1, not amplified by mu (r identified from the trajectory by least squares)",
            fit_gain,
            np.asarray(high_pred[1:]),
            rel_hi <= 1e-6,
            "max relative error <= 1e-6",
            SECTION, kind="check"
        )
    )
    data_out["b"] = {
        "eta": eta, "lambda_low": lam_lo, "lambda_high": lam_hi, "mu": mus,
        "low_effective_rate": low_eff, "low_predicted": low_pred, "low_exact_root": low_exact,
        "high_gain_run_average": high_gain, "high_predicted": high_pred, "high_gain_fitted_root": fit_gain,
        "steady_gradient_gain": const_gain, "oscillating_gradient_gain": alt_gain,
    }

    # ---- (c) iterations to tolerance vs mu ------------------------------------------------
    kappa = 100.0
    lam_c = np.asarray([1.0 / kappa, 1.0])
    eta_c = 1.0  # 1/lambda_max
    tol = 1e-6
    mu_grid = np.round(np.arange(0.0, 0.981, 0.04 if quick else 0.02), 4)
    T_c = 4000
    measured_T, closed_T, asym_T = [], [], []
    for mu in mu_grid:
        ws = np.asarray(_trajectory(jnp.asarray(lam_c), jnp.asarray([1.0, 1.0]), eta_c, float(mu), T_c))
        measured_T.append(_count(np.max(np.abs(ws), axis=1), tol))
        cf = np.stack([_closed_form(float(l), eta_c, float(mu), T_c) for l in lam_c], axis=1)
        closed_T.append(_count(np.max(np.abs(cf), axis=1), tol))
        asym_T.append(float(analysis.iterations_to_tolerance(lam_c, eta_c, tol, mu=float(mu))))
    measured_T, closed_T, asym_T = map(np.asarray, (measured_T, closed_T, asym_T))
    cf_err = int(np.max(np.abs(measured_T - closed_T)))
    verdicts.append(
        verdict(
            "iterations to tolerance vs mu equal the closed-form solution c1 r1^t + c2 r2^t of the momentum recurrence",
            cf_err,
            0,
            cf_err <= 1,
            "max |measured - closed form| <= 1 step over the mu grid",
            SECTION, kind="check"
        )
    )
    mu_best = float(mu_grid[int(np.argmin(measured_T))])
    mu_star = (1 - math.sqrt(eta_c * lam_c[0])) ** 2
    verdicts.append(
        verdict(
            "the best mu is the critical damping of the slow direction, mu* = (1 - sqrt(eta lambda_min))^2 "
            f"(kappa = {kappa:g}, eta = 1/lambda_max)",
            mu_best,
            mu_star,
            abs(mu_best - mu_star) <= 0.05,
            "|argmin of measured counts - mu*| <= 0.05",
            SECTION, kind="check"
        )
    )
    speedup = float(measured_T[0] / measured_T.min())
    pred_speedup = float(math.log(math.sqrt(mu_star)) / math.log(1 - eta_c * lam_c[0]))
    data_out["c"] = {
        "kappa": kappa, "eta": eta_c, "tol": tol, "mu": mu_grid, "measured": measured_T,
        "closed_form": closed_T, "asymptotic": asym_T, "mu_best": mu_best, "mu_star": mu_star,
        "speedup_best_over_gd": speedup, "asymptotic_speedup": pred_speedup,
    }

    # ---- figure ------------------------------------------------------------------------------
    fig, axes = figure(2, 2, width=6.0, height=4.4)
    ax = axes[0, 0]
    g1, g2 = np.meshgrid(np.linspace(-5, 5, 200), np.linspace(-3.5, 3.5, 200))
    P = np.stack([g1, g2], -1) @ np.asarray(Q)  # eigen-coordinates
    Z = 0.5 * (0.05 * P[..., 0] ** 2 + 1.0 * P[..., 1] ** 2)
    ax.contour(g1, g2, Z, levels=np.geomspace(1e-3, 10, 12), colors="0.8", linewidths=0.7)
    for (name, ws), st in zip(runs_a.items(), ("o-", "s-", "^-")):
        ws = np.asarray(ws)
        ax.plot(ws[:30, 0], ws[:30, 1], st, ms=2.5, lw=0.8, label=name)
    ax.plot([0], [0], "k*", ms=10, label="minimum")
    ax.set(xlabel="w₁", ylabel="w₂", title="(a) first 30 steps on a quadratic, κ = 20", aspect="equal")
    ax.legend(fontsize=7, loc="lower right")

    ax = axes[0, 1]
    for mu in mus:
        (line,) = ax.semilogy(np.arange(1, T_b + 1), eff_curves[mu], lw=1.2, label=f"μ = {mu}")
        ax.axhline(eta / (1 - mu), color=line.get_color(), ls=":", lw=0.8)
    ax.set(xlabel="step t", ylabel="effective rate −Δα/(λα) (units of w per unit gradient)",
           title=f"(b) low curvature (ηλ = {eta * lam_lo:g}): η_eff → η/(1−μ) (dotted)")
    ax.legend(fontsize=7)

    ax = axes[1, 0]
    x = np.arange(len(mus))
    ax.bar(x - 0.3, low_eff / eta, 0.2, label=f"quadratic, low curvature (ηλ = {eta * lam_lo:g})")
    ax.bar(x - 0.1, const_gain, 0.2, label="steady gradient fed to momentum")
    ax.bar(x + 0.1, alt_gain, 0.2, label="sign-alternating gradient")
    ax.bar(x[1:] + 0.3, fit_gain, 0.2, label=f"quadratic, high curvature (ηλ = {eta * lam_hi:g}), |1−r|/(ηλ)")
    ax.plot(x - 0.2, 1 / (1 - mus_arr), "k_", ms=14, mew=2, label="1/(1−μ)")
    ax.plot(x + 0.1, 1 / (1 + mus_arr), "r_", ms=8, mew=2, label="1/(1+μ)")
    ax.plot(x[1:] + 0.3, high_pred[1:], "m_", ms=8, mew=2, label="1/√(ηλ)")
    ax.set_yscale("log")
    ax.set_xticks(x, [f"μ={m}" for m in mus])
    ax.set(ylabel="effective rate / η (dimensionless)", title="(c) step gain: amplified only where curvature is low")
    ax.legend(fontsize=7)

    ax = axes[1, 1]
    ax.semilogy(mu_grid, measured_T, "o", ms=4, label="measured (fnn.optim.momentum)")
    ax.semilogy(mu_grid, closed_T, "-", lw=1, label="closed form c₁r₁ᵗ + c₂r₂ᵗ")
    ax.semilogy(mu_grid, asym_T, "--", lw=1, label="asymptotic ln tol / ln ρ(μ)")
    ax.axvline(mu_star, color="r", ls=":", label=f"critical damping μ* = {mu_star:.2f}")
    ax.set(xlabel="momentum μ", ylabel=f"iterations until max|α_i| ≤ {tol:g}",
           title=f"(d) iterations vs μ (κ = {kappa:g}, η = 1/λ_max): best μ {mu_best:.2f}, {speedup:.1f}× fewer than GD")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    fig.tight_layout()

    return save(
        "momentum",
        seed=seed,
        quick=quick,
        verdicts=verdicts,
        data=data_out,
        fig=fig,
        out_dir=out_dir,
        title="Momentum: effective rate eta/(1-mu) at low curvature, no amplification at high curvature (notes, Momentum)",
    )
