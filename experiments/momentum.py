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

Runs in float64. On an exact quadratic every number follows from the
recurrence, so every claim (``experiments/claims/momentum.py``) is a check of
``fnn.optim.momentum`` and ``fnn.analysis``, decided against its registered
bound.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import decide, figure, save
from fnn import analysis, optim



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
        m = _measure(quick, seed)
        verdicts = _decide(m, quick)
        fig = _draw(m)
    return save("momentum", seed=seed, quick=quick, verdicts=verdicts, data=m["data"], fig=fig, out_dir=out_dir,
                title="Momentum: effective rate eta/(1-mu) at low curvature, no amplification at high curvature "
                      "(notes, Momentum)")


# ---- measure --------------------------------------------------------------------------------


def _measure(quick: bool, seed: int) -> dict:
    """Every number the claims and the figure use; ``data`` is what the record keeps."""
    rng = np.random.default_rng(seed)
    m = {"a": _measure_trajectories(rng), "b": _measure_rates(quick), "mech": _measure_mechanism(quick)}
    m["fit_gain"] = _measure_fitted_gain(m["b"])
    m["c"] = _measure_steps(quick)
    b = m["b"]
    m["data"] = {
        "a": {k: m["a"][k] for k in ("eigenvalues", "theta", "trajectories")},
        "b": {"eta": b["eta"], "lambda_low": b["lam_lo"], "lambda_high": b["lam_hi"], "mu": b["mus"],
              "low_effective_rate": b["low_eff"], "low_predicted": b["low_pred"], "low_exact_root": b["low_exact"],
              "high_gain_run_average": b["high_gain"], "high_predicted": b["high_pred"],
              "high_gain_fitted_root": m["fit_gain"], "steady_gradient_gain": m["mech"]["const_gain"],
              "oscillating_gradient_gain": m["mech"]["alt_gain"]},
        "c": {k: v for k, v in m["c"].items() if k != "lam"},
    }
    return m


def _measure_trajectories(rng) -> dict:
    """(a) GD and momentum on a rotated 2-D quadratic (kappa = 20)."""
    lam_a = jnp.asarray([0.05, 1.0])
    theta = math.radians(30 + 10 * rng.uniform())
    Q = jnp.asarray([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    w0 = Q @ jnp.asarray([-4.0, 1.0])
    eta = 1.8  # eta lambda_max = 1.8: GD zig-zags across the valley
    runs = {f"GD (η={eta})": _trajectory(lam_a, w0, eta, 0.0, 60, Q),
            f"momentum (η={eta}, μ=0.7)": _trajectory(lam_a, w0, eta, 0.7, 60, Q),
            "momentum (η=0.5, μ=0.7)": _trajectory(lam_a, w0, 0.5, 0.7, 60, Q)}
    return {"eigenvalues": lam_a, "theta": theta, "Q": Q, "trajectories": {k: np.asarray(v) for k, v in runs.items()}}


def _measure_rates(quick: bool) -> dict:
    """(b) effective rates in a low- and a high-curvature direction of ``1/2 (1e-5 a^2 + b^2)``."""
    eta, lam_lo, lam_hi = 1.8, 1e-5, 1.0
    mus = [0.0, 0.5, 0.8, 0.9, 0.95]
    T = 300 if quick else 600
    out = {"eta": eta, "lam_lo": lam_lo, "lam_hi": lam_hi, "mus": mus, "T": T, "curves": {},
           "low_eff": [], "low_pred": [], "low_exact": [], "high_gain": [], "high_pred": []}
    for mu in mus:
        ws = np.asarray(_trajectory(jnp.asarray([lam_lo, lam_hi]), jnp.asarray([1.0, 1.0]), eta, mu, T))
        a_lo, a_hi = ws[:, 0], ws[:, 1]
        eff = -(a_lo[1:] - a_lo[:-1]) / (lam_lo * a_lo[:-1])  # eta_eff(t) in the flat direction
        out["curves"][mu] = eff
        out["low_eff"].append(float(eff[-1]))
        out["low_pred"].append(eta / (1 - mu))
        slow = complex(np.asarray(analysis.momentum_roots([lam_lo], eta, mu))[0, 0])
        out["low_exact"].append((1 - slow.real) / lam_lo)
        # high curvature: total step length per unit of eta * gradient over the run
        out["high_gain"].append(float(np.sum(np.abs(np.diff(a_hi))) / (eta * np.sum(np.abs(lam_hi * a_hi[:-1])))))
        r = np.asarray(analysis.momentum_roots([lam_hi], eta, mu))[0, 0]
        out["high_pred"].append(float(abs(1 - r) / (eta * lam_hi)))
    for k in ("low_eff", "low_pred", "high_gain"):
        out[k] = np.asarray(out[k])
    return out


def _measure_mechanism(quick: bool) -> dict:
    """Feed ``fnn.optim.momentum`` a constant gradient and a sign-alternating one (eta = 1.8).

    After the transient the update per unit eta*g is ``sum_k mu^k = 1/(1-mu)``
    and ``sum_k (-mu)^k = 1/(1+mu)`` in [1/2, 1]: the contributions cancel.
    """
    eta, mus = 1.8, [0.0, 0.5, 0.8, 0.9, 0.95]
    T = 400 if quick else 800  # transient mu^T <= 0.95^400 = 1e-9
    grads = jnp.stack([jnp.ones(T), jnp.where(jnp.arange(T) % 2 == 0, 1.0, -1.0)], axis=1)  # steady, alternating
    const_gain, alt_gain = [], []
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
    return {"T": T, "mus": mus, "const_gain": const_gain, "alt_gain": alt_gain}


def _measure_fitted_gain(b: dict) -> np.ndarray:
    """The high-curvature component's root ``r``, fitted to 40 steps of the trajectory: ``|1 - r| / (eta lambda)``.

    Least squares for ``alpha(t+1) = p alpha(t) + q alpha(t-1)``, then the roots of ``r^2 - p r - q``.
    """
    out = []
    for mu in b["mus"][1:]:
        a = np.asarray(_trajectory(jnp.asarray([b["lam_lo"], b["lam_hi"]]), jnp.asarray([1.0, 1.0]), b["eta"], mu,
                                   40))[:, 1]
        (p, q), *_ = np.linalg.lstsq(np.stack([a[1:-1], a[:-2]], axis=1), a[2:], rcond=None)
        r = np.roots([1.0, -p, -q])
        r = r[np.argmax(np.abs(r))]
        out.append(float(abs(1 - r) / (b["eta"] * b["lam_hi"])))
    return np.asarray(out)


def _measure_steps(quick: bool) -> dict:
    """(c) iterations to tolerance vs mu on ``1/2 (0.01 a^2 + b^2)`` at ``eta = 1/lambda_max``."""
    lam = np.asarray([0.01, 1.0])
    eta, tol, T = 1.0, 1e-6, 4000
    mu_grid = np.round(np.arange(0.0, 0.981, 0.04 if quick else 0.02), 4)
    measured, closed, asym = [], [], []
    for mu in mu_grid:
        ws = np.asarray(_trajectory(jnp.asarray(lam), jnp.asarray([1.0, 1.0]), eta, float(mu), T))
        measured.append(_count(np.max(np.abs(ws), axis=1), tol))
        cf = np.stack([_closed_form(float(v), eta, float(mu), T) for v in lam], axis=1)
        closed.append(_count(np.max(np.abs(cf), axis=1), tol))
        asym.append(float(analysis.iterations_to_tolerance(lam, eta, tol, mu=float(mu))))
    measured, closed, asym = map(np.asarray, (measured, closed, asym))
    mu_star = (1 - math.sqrt(eta * lam[0])) ** 2
    return {"kappa": float(lam[1] / lam[0]), "eta": eta, "tol": tol, "mu": mu_grid, "measured": measured,
            "closed_form": closed, "asymptotic": asym, "mu_best": float(mu_grid[int(np.argmin(measured))]),
            "mu_star": mu_star, "speedup_best_over_gd": float(measured[0] / measured.min()),
            "asymptotic_speedup": float(math.log(math.sqrt(mu_star)) / math.log(1 - eta * lam[0]))}


# ---- decide ---------------------------------------------------------------------------------


def _decide(m: dict, quick: bool) -> list[dict]:
    b, mech, c = m["b"], m["mech"], m["c"]
    low_err = float(np.max(np.abs(b["low_eff"] - b["low_pred"]) / b["low_pred"]))
    mus = np.asarray(mech["mus"])
    mech_err = float(max(np.max(np.abs(np.asarray(mech["const_gain"]) * (1 - mus) - 1)),
                         np.max(np.abs(np.asarray(mech["alt_gain"]) * (1 + mus) - 1))))
    pred = np.asarray(b["high_pred"][1:])
    rel_hi = float(np.max(np.abs(m["fit_gain"] - pred) / pred))
    exact_gap = float(np.max(np.abs(np.asarray(b["low_exact"]) - b["low_pred"]) / b["low_pred"]))
    return [
        decide("momentum/low-curvature-rate", low_err, quick=quick,
               detail={"measured": b["low_eff"], "eta_over_1_minus_mu": b["low_pred"], "exact_root_gap": exact_gap}),
        decide("momentum/update-per-gradient", mech_err, quick=quick,
               detail={"steady": mech["const_gain"], "oscillating": mech["alt_gain"]}),
        decide("momentum/high-curvature-gain", rel_hi, quick=quick, detail={"fitted": m["fit_gain"], "theory": pred}),
        decide("momentum/steps-closed-form", float(np.max(np.abs(c["measured"] - c["closed_form"]))), quick=quick),
        decide("momentum/best-mu-critical-damping", abs(c["mu_best"] - c["mu_star"]), quick=quick,
               detail={"mu_best": c["mu_best"], "mu_star": c["mu_star"]}),
    ]


# ---- draw -----------------------------------------------------------------------------------


def _draw(m: dict):
    fig, axes = figure(2, 2, width=6.0, height=4.4)
    _draw_trajectories(axes[0, 0], m["a"])
    _draw_rates(axes[0, 1], axes[1, 0], m)
    _draw_steps(axes[1, 1], m["c"])
    fig.tight_layout()
    return fig


def _draw_trajectories(ax, a: dict) -> None:
    g1, g2 = np.meshgrid(np.linspace(-5, 5, 200), np.linspace(-3.5, 3.5, 200))
    P = np.stack([g1, g2], -1) @ np.asarray(a["Q"])  # eigen-coordinates
    Z = 0.5 * (0.05 * P[..., 0] ** 2 + 1.0 * P[..., 1] ** 2)
    ax.contour(g1, g2, Z, levels=np.geomspace(1e-3, 10, 12), colors="0.8", linewidths=0.7)
    for (name, ws), st in zip(a["trajectories"].items(), ("o-", "s-", "^-")):
        ax.plot(ws[:30, 0], ws[:30, 1], st, ms=2.5, lw=0.8, label=name)
    ax.plot([0], [0], "k*", ms=10, label="minimum")
    ax.set(xlabel="w₁", ylabel="w₂", title="(a) first 30 steps on a quadratic, κ = 20", aspect="equal")
    ax.legend(fontsize=8, loc="lower right")


def _draw_rates(ax_b, ax_c, m: dict) -> None:
    b, mech = m["b"], m["mech"]
    eta, mus = b["eta"], b["mus"]
    for mu in mus:
        (line,) = ax_b.semilogy(np.arange(1, b["T"] + 1), b["curves"][mu], lw=1.2, label=f"μ = {mu}")
        ax_b.axhline(eta / (1 - mu), color=line.get_color(), ls=":", lw=0.8)
    ax_b.set(xlabel="step t", ylabel="effective rate −Δα/(λα) (units of w per unit gradient)",
             title=f"(b) low curvature (ηλ = {eta * b['lam_lo']:g}): η_eff → η/(1−μ) (dotted)")
    ax_b.legend(fontsize=8)
    x = np.arange(len(mus))
    mus_arr = np.asarray(mus)
    ax_c.bar(x - 0.3, b["low_eff"] / eta, 0.2, label=f"quadratic, low curvature (ηλ = {eta * b['lam_lo']:g})")
    ax_c.bar(x - 0.1, mech["const_gain"], 0.2, label="steady gradient fed to momentum")
    ax_c.bar(x + 0.1, mech["alt_gain"], 0.2, label="sign-alternating gradient")
    ax_c.bar(x[1:] + 0.3, m["fit_gain"], 0.2,
             label=f"quadratic, high curvature (ηλ = {eta * b['lam_hi']:g}), |1−r|/(ηλ)")
    ax_c.plot(x - 0.2, 1 / (1 - mus_arr), "k_", ms=14, mew=2, label="1/(1−μ)")
    ax_c.plot(x + 0.1, 1 / (1 + mus_arr), "r_", ms=8, mew=2, label="1/(1+μ)")
    ax_c.plot(x[1:] + 0.3, b["high_pred"][1:], "m_", ms=8, mew=2, label="1/√(ηλ)")
    ax_c.set_yscale("log")
    ax_c.set_xticks(x, [f"μ={v}" for v in mus])
    ax_c.set(ylabel="effective rate / η (dimensionless)", title="(c) step gain: amplified only where curvature is low")
    ax_c.legend(fontsize=8)


def _draw_steps(ax, c: dict) -> None:
    ax.semilogy(c["mu"], c["measured"], "o", ms=4, label="measured (fnn.optim.momentum)")
    ax.semilogy(c["mu"], c["closed_form"], "-", lw=1, label="closed form c₁r₁ᵗ + c₂r₂ᵗ")
    ax.semilogy(c["mu"], c["asymptotic"], "--", lw=1, label="asymptotic ln tol / ln ρ(μ)")
    ax.axvline(c["mu_star"], color="r", ls=":", label=f"critical damping μ* = {c['mu_star']:.2f}")
    ax.set(xlabel="momentum μ", ylabel=f"iterations until max|α_i| ≤ {c['tol']:g}",
           title=f"(d) iterations vs μ (κ = {c['kappa']:g}, η = 1/λ_max): best μ {c['mu_best']:.2f}, "
                 f"{c['speedup_best_over_gd']:.1f}× fewer than GD")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
