"""Part (a) of ``experiments.normalization``: data normalization of a linear model's inputs.

Notes, "Normalization" / "Data normalization" (and "Convergence"). A linear model ``y = w.x + b`` with the
quadratic cost ``E = (1/2N) sum_n (w.x_n + b - t_n)^2`` on ``d = 4`` features of very different ranges; ``E``
is exactly quadratic with Hessian ``H = (1/N) sum_n x~_n x~_n^T``, ``x~ = (x, 1)``. Raw inputs: ``kappa(H)`` is
that of the population second-moment matrix ``diag(s^2) + m~ m~^T`` (``m~ = (m, 1)``); standardized inputs:
``H = [[R, 0], [0, 1]]``, ``R`` the sample correlation matrix, eigenvalues within the Marchenko-Pastur edges
``(1 +- sqrt(d/N))^2``. GD at each one's best stable rate follows the exact
``E_t - E* = 1/2 sum_i lambda_i (1 - eta lambda_i)^(2t) alpha_i(0)^2``. See ``experiments.normalization``'s
docstring, (a), for the full statement; this module holds the computation, its verdicts, the JSON thinning and
the figure's first row, so that the experiment's name and outputs are unchanged.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments._common import decide
from fnn import analysis, backprop, costs, nn, norm, optim

# --------------------------------------------------------------------------------------------
# (a) data normalization: condition number and GD speed of a linear model


FEATURES = (
    # name, mean, standard deviation
    ("z-score", 0.0, 1.0),
    ("age (years)", 20.0, 5.0),
    ("price (dollars)", 1000.0, 200.0),
    ("rate (fraction)", 0.1, 0.02),
)


def _gd_costs(loss, p0, rates: np.ndarray, steps: int) -> np.ndarray:
    """Cost ``E(w_t)``, ``t = 0..steps``, of ``optim.gd`` at each rate, shape (len(rates), steps + 1).

    Vmapped over the rate, which lives in the optimizer state (``optim.minimize`` sets it).
    """
    run = jax.jit(jax.vmap(lambda rate: optim.minimize(loss, p0, optim.gd(1.0), steps, rate=rate)[1]))
    out = np.asarray(run(jnp.asarray(rates, jnp.float64)))
    return np.where(np.isfinite(out), out, np.inf)


def _first_below(curve: np.ndarray, tol: float) -> int | None:
    idx = np.flatnonzero(curve <= tol)
    return int(idx[0]) if idx.size else None


def _linear_problem(x: np.ndarray, t: np.ndarray, rate_grid: np.ndarray, steps: int, tol: float) -> dict:
    """Hessian spectrum, exact GD theory and a GD rate sweep for the linear model on inputs ``x``."""
    net = nn.MLP((x.shape[1], 1), output="linear", w_init="zeros")
    p0 = net.init(jax.random.key(0), jnp.float64)  # w = b = 0: f = 0 whatever the input scaling
    xs, ts = jnp.asarray(x, jnp.float64), jnp.asarray(t[:, None], jnp.float64)

    def loss(p):
        return backprop.loss(net, costs.quadratic, p, xs, ts)

    H = np.asarray(analysis.hessian(loss, p0))
    lam, U = np.linalg.eigh(H)
    kappa = float(analysis.condition_number(jnp.asarray(lam)))
    g0 = np.asarray(ravel_pytree(jax.grad(loss)(p0))[0])
    # E is exactly quadratic: w0 - w* = H^{-1} grad E(w0); its eigen-components alpha_i(0).
    alpha0 = (U.T @ g0) / lam
    e0 = float(loss(p0))
    excess0 = 0.5 * float(np.sum(lam * alpha0**2))
    e_star = e0 - excess0
    rates = rate_grid * 2.0 / lam[-1]
    curves = _gd_costs(loss, p0, rates, steps)
    final = curves[:, -1]
    rel = (curves - e_star) / excess0
    # best stable rate: fewest steps to a relative excess <= tol; if no rate gets there, lowest final cost
    reach = np.array([_first_below(c, tol) if _first_below(c, tol) is not None else steps + 1 for c in rel])
    order = np.lexsort((np.where(np.isfinite(final), final, np.inf), reach))
    best = int(order[0])
    eta = float(rates[best])
    tt = np.arange(steps + 1)[:, None]
    rho = 1.0 - eta * lam
    pred_excess = 0.5 * np.sum(lam[None, :] * (rho[None, :] ** (2 * tt)) * alpha0[None, :] ** 2, axis=1)
    return {
        "eigenvalues": lam,
        "kappa": kappa,
        "alpha0": alpha0,
        "cost0": e0,
        "excess0": excess0,
        "min_cost": e_star,
        "rates": rates,
        "rate_over_stable": rate_grid,
        "final_rel_excess_by_rate": (final - e_star) / excess0,
        "best_rate": eta,
        "best_rate_over_stable": float(rate_grid[best]),
        "minimax_rate_over_stable": float(analysis.optimal_rate(jnp.asarray(lam), "minimax")) * lam[-1] / 2.0,
        "rel_excess": rel[best],
        "steps_to_tol_by_rate": reach,
        "pred_rel_excess": pred_excess / excess0,
    }


def part_a(quick: bool, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = 500 if quick else 2000
    steps = 200 if quick else 1000
    m = np.array([f[1] for f in FEATURES])
    s = np.array([f[2] for f in FEATURES])
    d = m.size
    x = m + s * rng.normal(size=(n, d))  # independent Gaussian features
    w_true = rng.normal(size=d)
    t = ((x - m) / s) @ w_true + 0.5 + 0.1 * rng.normal(size=n)
    with jax.enable_x64(True):
        stats = norm.standardize.fit(jnp.asarray(x, jnp.float64))
        x_std = np.asarray(norm.standardize.apply(stats, jnp.asarray(x, jnp.float64)))
        grid = np.geomspace(1e-3, 1.1, 61 if quick else 121)  # eta in units of 2/lambda_max
        tol = 1e-8
        raw = _linear_problem(x, t, grid, steps, tol)
        std = _linear_problem(x_std, t, grid, steps, tol)
        # population second-moment matrix of x~ = (x, 1) for the raw features
        mt = np.append(m, 1.0)
        M = np.outer(mt, mt) + np.diag(np.append(s**2, 0.0))
        kappa_pop = float(analysis.condition_number(jnp.asarray(np.linalg.eigvalsh(M))))
        # predicted iterations for the raw problem at its best rate: every component's share of the
        # relative excess below tol (analysis.iterations_to_tolerance on sqrt of the shares)
        shares = np.sqrt(raw["eigenvalues"] * raw["alpha0"] ** 2 / (2 * raw["excess0"]))
        iters_raw_pred = float(
            analysis.iterations_to_tolerance(
                jnp.asarray(raw["eigenvalues"]), raw["best_rate"], math.sqrt(tol / d), jnp.asarray(shares)
            )
        )
    q = d / n
    mp = ((1 + math.sqrt(q)) / (1 - math.sqrt(q))) ** 2
    mp2 = ((1 + 2 * math.sqrt(q)) / (1 - 2 * math.sqrt(q))) ** 2
    return {
        "n": n,
        "steps": steps,
        "features": [{"name": f[0], "mean": f[1], "std": f[2]} for f in FEATURES],
        "raw": raw,
        "standardized": std,
        "kappa_population_raw": kappa_pop,
        "marchenko_pastur_kappa": mp,
        "marchenko_pastur_kappa_2x": mp2,
        "tol": tol,
        "iters_to_tol_std": _first_below(std["rel_excess"], tol),
        "iters_to_tol_std_pred": _first_below(std["pred_rel_excess"], tol),
        "iters_to_tol_raw": _first_below(raw["rel_excess"], tol),
        "iters_to_tol_raw_pred": iters_raw_pred,
    }


def verdicts(a: dict, quick: bool) -> list[dict]:
    """The data-normalization claims decided on ``part_a``'s record ``a`` (two predictions, two exact checks)."""
    raw, std = a["raw"], a["standardized"]
    T = a["steps"]
    r_raw, p_raw = float(raw["rel_excess"][-1]), float(raw["pred_rel_excess"][-1])
    it_std, it_std_pred = a["iters_to_tol_std"], a["iters_to_tol_std_pred"]
    steps_ok = (it_std is not None and it_std_pred is not None and a["iters_to_tol_raw"] is None
                and a["iters_to_tol_raw_pred"] > T)
    return [
        decide("normalization/raw-kappa", raw["kappa"] / a["kappa_population_raw"], quick=quick,
               detail={"kappa": raw["kappa"], "population kappa": a["kappa_population_raw"], "N": a["n"]}),
        decide("normalization/standardized-kappa", std["kappa"], quick=quick,
               detail={"Marchenko-Pastur edge ratio": a["marchenko_pastur_kappa"]}),
        decide("normalization/raw-gd-exact", abs(r_raw / p_raw - 1) if r_raw > 1e-2 else math.inf, quick=quick,
               detail={"relative excess": r_raw, "theory": p_raw, "steps": T,
                       "rate / (2/lambda_max)": raw["best_rate_over_stable"]}),
        decide("normalization/gd-steps", abs(it_std - it_std_pred) if steps_ok else math.inf, quick=quick,
               detail={"standardized": it_std, "standardized, theory": it_std_pred,
                       "raw": a["iters_to_tol_raw"] if a["iters_to_tol_raw"] is not None else f"> {T}",
                       "raw, theory": a["iters_to_tol_raw_pred"], "tolerance": a["tol"]}),
    ]


def thin(a: dict) -> dict:
    """``part_a``'s record with its curves at ~200 log-spaced steps (the figure uses every step)."""
    idx = np.unique(np.concatenate([[0], np.geomspace(1, a["steps"], 200).astype(int)]))
    out = dict(a, curve_steps=idx)
    for k in ("raw", "standardized"):
        out[k] = dict(a[k], rel_excess=a[k]["rel_excess"][idx], pred_rel_excess=a[k]["pred_rel_excess"][idx])
    return out


def plot(axes, a: dict) -> None:
    """Panels (a)-(c) on ``axes[0..2]``: Hessian spectra, GD curves at the best rates, the rate sweep."""
    raw, std = a["raw"], a["standardized"]
    cases = (("raw", raw, "tab:red"), ("standardized", std, "tab:green"))
    # (a1) spectra
    ax = axes[0]
    for i, (name, r, c) in enumerate(cases):
        lam = r["eigenvalues"]
        ax.semilogy(np.full(lam.size, i), lam, "o", color=c, ms=7, label=f"{name}: κ = {r['kappa']:.3g}")
    ax.set_xticks([0, 1], ["raw", "standardized"])
    ax.set_xlim(-0.6, 1.6)
    ax.set(ylabel="Hessian eigenvalue λᵢ (cost / parameter²)", title=f"(a) linear model, d = 4, N = {a['n']}: Hessian spectrum")
    ax.legend(fontsize=8)
    # (a2) GD curves at best rates
    ax = axes[1]
    t = np.arange(a["steps"] + 1)
    for name, r, c in cases:
        ax.loglog(t + 1, np.maximum(r["rel_excess"], 1e-16), color=c, lw=1.5,
                    label=f"{name}, η = {r['best_rate_over_stable']:.2g}·2/λmax")
        ax.loglog(t + 1, np.maximum(r["pred_rel_excess"], 1e-16), "k:", lw=1)
    ax.plot([], [], "k:", label="theory ½Σλᵢ(1−ηλᵢ)^{2t}αᵢ²")
    ax.axhline(a["tol"], color="gray", lw=0.5)
    ax.set(xlabel="GD step t + 1", ylabel="relative excess cost (E−E*)/(E₀−E*)", ylim=(1e-16, 3),
           title="(b) GD at each one's best stable rate")
    ax.legend(fontsize=8)
    # (a3) rate sweep
    ax = axes[2]
    for name, r, c in cases:
        ax.loglog(r["rate_over_stable"], np.clip(r["final_rel_excess_by_rate"], 1e-16, 1e3), "o-", ms=2, color=c,
                  label=name)
    ax.axvline(1.0, color="gray", lw=0.5)
    ax.set(xlabel="rate η / (2/λmax)", ylabel=f"relative excess cost after {a['steps']} steps",
           title="(c) GD rate sweep (diverged: clipped at 1e3)")
    ax.legend(fontsize=8)
