"""Gradient descent on quadratic errors: eigen-components, stable and optimal rates, condition number.

Notes, "Convergence". Near a minimum ``E(w) ~ 1/2 (w - w*)^T H (w - w*)``;
with ``w - w* = sum_i alpha_i u_i`` (``H u_i = lambda_i u_i``) GD gives
``alpha_i^(T) = (1 - eta lambda_i)^T alpha_i^(0)``. Uses :mod:`fnn.analysis`
(Hessian spectrum by ``jax.hessian``, Lanczos on Hessian-vector products,
stable/optimal rates, iteration counts) and :func:`fnn.optim.gd`.

(a) A rotated quadratic with chosen eigenvalues: the spectrum recovered by
    ``analysis.hessian_spectrum``; each measured eigen-component of the GD
    iterates against ``(1 - eta lambda_i)^T alpha_i^(0)``.
(b) A sweep of ``eta``: the top component diverges past ``2/lambda_max``; its
    per-step factor ``|1 - eta lambda_max|`` is smallest (0: one step) at
    ``eta = 1/lambda_max``; the overall linear rate at ``eta = 1/lambda_max``
    is ``1 - lambda_min/lambda_max`` and at ``2/(lambda_min + lambda_max)`` it
    is ``(kappa - 1)/(kappa + 1) ~ 1 - 2 lambda_min/lambda_max``.
(c) Iterations to shrink every component below ``tol`` vs the condition
    number ``kappa`` at ``eta = 1/lambda_max``: measured counts equal
    ``analysis.iterations_to_tolerance`` and grow like ``kappa`` (log-log slope 1).
(d) A small tanh MLP trained to a minimum: ``lambda_max`` of its loss Hessian
    by ``jax.hessian`` and by Lanczos; GD started next to the minimum stays
    there for ``eta < 2/lambda_max`` and leaves it beyond.

Everything runs in float64 (inside ``jax.enable_x64``), so the comparisons
are limited by the theory, not by float32 round-off.

How it decides (``experiments/claims/gd_convergence.py``): every claim is a
check, an identity of ``(1 - eta lambda_i)^T`` or linear stability at a
minimum, decided on one deterministic number against a bound (relative errors
of 1e-10..1e-3, counts, positions in grid steps).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import decide, figure, save
from fnn import analysis, backprop, data, nn, optim


def _gd_run(E, w0: jax.Array, eta: float, steps: int) -> jax.Array:
    """Iterates ``w_0..w_steps`` of ``fnn.optim.gd(eta)`` on ``E`` (one compiled scan)."""
    return jax.jit(lambda w: optim.trajectory(E, w, optim.gd(eta), steps))(w0)


def _gd_sweep(E, w0: jax.Array, etas: np.ndarray, steps: int, observe=None):
    """``w_steps`` for each rate (vmapped over ``eta``: the rate lives in the optimizer state).

    With ``observe`` (``w -> scalar``) also return its maximum over steps ``1..steps``.
    """
    opt = optim.gd(1.0)
    g = jax.grad(E)
    obs = observe if observe is not None else (lambda w: jnp.zeros((), w.dtype))

    @jax.jit
    def final(eta):
        s = optim.set_hyperparams(opt.init(w0), rate=eta)

        def body(carry, _):
            w, s, m = carry
            u, s = opt.update(g(w), s, w)
            w = optim.apply_updates(w, u)
            return (w, s, jnp.maximum(m, obs(w))), None

        (w, _, m), _ = jax.lax.scan(body, (w0, s, jnp.full((), -jnp.inf, w0.dtype)), None, length=steps)
        return w, m

    w, m = jax.vmap(final)(jnp.asarray(etas))
    return w if observe is None else (w, m)


def _steps_to_tol(E, Q: jax.Array, w_star: jax.Array, w0: jax.Array, eta: float, tol: float, cap: int) -> int:
    """GD steps until ``max_i |u_i^T (w - w*)| <= tol`` (a compiled while loop), ``cap`` if never."""
    opt = optim.gd(eta)
    g = jax.grad(E)

    @jax.jit
    def run(w0):
        def err(w):
            return jnp.max(jnp.abs(Q.T @ (w - w_star)))

        def cond(c):
            w, _, t = c
            return (err(w) > tol) & (t < cap)

        def body(c):
            w, s, t = c
            u, s = opt.update(g(w), s, w)
            return optim.apply_updates(w, u), s, t + 1

        return jax.lax.while_loop(cond, body, (w0, opt.init(w0), jnp.asarray(0, jnp.int32)))[2]

    return int(run(w0))


def _rotated_quadratic(lam: np.ndarray, rng: np.random.Generator):
    n = lam.size
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    H = (q * lam) @ q.T
    w_star = rng.normal(size=n)
    return jnp.asarray((H + H.T) / 2), jnp.asarray(w_star)


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    with jax.enable_x64(True):
        rng = np.random.default_rng(seed)
        m = {"a": _measure_components(rng, quick)}  # in this order: (a), (b) and (c) share rng's stream
        m["b"] = _measure_sweep(m["a"], quick)
        m["c"] = _measure_counts(rng, quick)
        m["d"] = _measure_mlp(seed, quick)
        verdicts = _decide(m, quick)
        fig = _figure(m)
    data_out = {
        "a": {k: m["a"][k] for k in ("eigenvalues", "eta", "alpha", "predicted", "max_error")},
        "b": {k: m["b"][k] for k in ("x_grid", "top_factor_first_step", "top_factor_T", "predicted_factor",
                                     "x_grid_offset", "top_ratio_offset", "stable_rate", "bracket", "rates")},
        "c": {k: m["c"][k] for k in ("kappa", "measured", "predicted", "minimax_predicted", "tol", "slope")},
        "d": {k: m["d"][k] for k in ("lambda_min", "lambda_max", "lambda_max_lanczos", "lambda_min_lanczos",
                                     "grad_norm_at_min", "eta_over_stable", "max_top_offset_ratio", "num_params")},
    }
    return save("gd_convergence", seed=seed, quick=quick, verdicts=verdicts, data=data_out, fig=fig, out_dir=out_dir,
                title="Convergence of gradient descent on quadratic errors (notes, Convergence)")


def _measure_components(rng: np.random.Generator, quick: bool) -> dict:
    """(a) A rotated quadratic: its spectrum by jax.hessian, GD's eigen-components against (1 - eta lambda_i)^T."""
    lam = np.array([0.1, 0.4, 1.0, 2.5, 4.0])
    H, w_star = _rotated_quadratic(lam, rng)
    E = analysis.quadratic(H, w_star)
    w0 = w_star + jnp.asarray(rng.normal(size=lam.size))
    spec = np.asarray(analysis.hessian_spectrum(E, w0))
    _, U = np.linalg.eigh(np.asarray(analysis.hessian(E, w0)))
    U = jnp.asarray(U)
    eta_a = 0.4  # eta * lambda_max = 1.6: the top component oscillates, |1 - 1.6| = 0.6
    T_a = 40 if quick else 80
    ws = _gd_run(E, w0, eta_a, T_a)
    alpha = np.asarray((ws - w_star[None, :]) @ U)  # (T+1, n): alpha_i(t) = u_i^T (w_t - w*)
    pred = np.asarray(analysis.predicted_components(spec, eta_a, alpha[0], T_a))
    return {"eigenvalues": lam, "spectrum": spec, "spec_err": float(np.max(np.abs(spec - lam) / lam)),
            "E": E, "w0": w0, "w_star": w_star, "U": U, "eta": eta_a, "T": T_a, "alpha": alpha, "predicted": pred,
            "max_error": float(np.max(np.abs(alpha - pred) / np.abs(alpha[0])[None, :]))}


def _measure_sweep(a: dict, quick: bool) -> dict:
    """(b) A sweep of eta on the quadratic of (a): top-direction factors, the divergence bracket, linear rates."""
    E, w0, w_star, U, spec, lam = a["E"], a["w0"], a["w_star"], a["U"], a["spectrum"], a["eigenvalues"]
    lmax = float(lam.max())
    T_b = 100 if quick else 200
    a_top0 = float(a["alpha"][0, -1])
    # Grid 1 includes eta lambda_max = 1 exactly; grid 2 is offset by half a step to bracket 2.
    x1 = np.arange(1, 121) * 0.02
    x2 = np.arange(0, 120) * 0.02 + 0.01

    def top(w):
        return np.abs(np.asarray((w - w_star[None, :]) @ U[:, -1])) / abs(a_top0)

    top1, top2 = top(_gd_sweep(E, w0, x1 / lmax, T_b)), top(_gd_sweep(E, w0, x2 / lmax, T_b))
    # Per-step factor of the top component on the first step, |alpha_1 / alpha_0| (after many steps a
    # component near eta lambda_max = 1 sits at the float64 round-off floor) ...
    factor1 = top(_gd_sweep(E, w0, x1 / lmax, 1))
    pred_factor1 = np.abs(1 - x1)
    # ... and over T steps, (|alpha_T| / |alpha_0|)^(1/T), where the prediction is above the floor.
    valid = (pred_factor1**T_b > 1e-10) & (x1 < 2.0)
    with np.errstate(divide="ignore", over="ignore"):
        factorT = top1 ** (1.0 / T_b)
    diverged = (top2 > 1.0) | ~np.isfinite(top2)
    T_r = 300 if quick else 600  # overall linear rate: ||e_T|| / ||e_{T-1}|| at large T
    rates = {}
    for name, eta in (("top", float(analysis.optimal_rate(spec, "top"))),
                      ("minimax", float(analysis.optimal_rate(spec, "minimax")))):
        e = np.linalg.norm(np.asarray(_gd_run(E, w0, eta, T_r) - w_star[None, :]), axis=1)
        rates[name] = {"eta": eta, "measured": float(e[-1] / e[-2]),
                       "predicted": float(analysis.gd_convergence_rate(spec, eta)), "error_norm": e}
    return {"x_grid": x1, "top_factor_first_step": factor1, "top_factor_T": factorT, "predicted_factor": pred_factor1,
            "valid": valid, "T": T_b, "x_grid_offset": x2, "top_ratio_offset": top2,
            "stable_rate": float(analysis.stable_rate(spec)), "eta_top": float(analysis.optimal_rate(spec, "top")),
            "bracket": [float(x2[~diverged].max()) / lmax, float(x2[diverged].min()) / lmax], "rates": rates,
            "grid_step": 0.02 / lmax, "lambda_max": lmax}


def _measure_counts(rng: np.random.Generator, quick: bool) -> dict:
    """(c) Iterations to tolerance against the condition number at eta = 1/lambda_max."""
    kappas = np.logspace(1, 3, 5 if quick else 9)
    tol = 1e-6
    measured_T, predicted_T, minimax_T = [], [], []
    for k in kappas:
        lam_c = np.geomspace(1.0 / k, 1.0, 4)
        Hc, ws_c = _rotated_quadratic(lam_c, rng)
        Ec = analysis.quadratic(Hc, ws_c)
        _, Uc = np.linalg.eigh(np.asarray(Hc))
        Uc = jnp.asarray(Uc)
        w0c = ws_c + Uc @ jnp.ones(4)  # every eigen-component starts at 1
        eta = float(analysis.optimal_rate(lam_c, "top"))
        measured_T.append(_steps_to_tol(Ec, Uc, ws_c, w0c, eta, tol, cap=10**6))
        predicted_T.append(float(analysis.iterations_to_tolerance(lam_c, eta, tol)))
        minimax_T.append(float(analysis.iterations_to_tolerance(lam_c, float(analysis.optimal_rate(lam_c, "minimax")),
                                                                tol)))
    measured_T = np.asarray(measured_T, float)
    return {"kappa": kappas, "measured": measured_T, "predicted": np.asarray(predicted_T),
            "minimax_predicted": minimax_T, "tol": tol,
            "slope": float(np.polyfit(np.log(kappas), np.log(measured_T), 1)[0])}


def _measure_mlp(seed: int, quick: bool) -> dict:
    """(d) A 1-8-1 tanh MLP trained to a minimum: lambda_max two ways; GD's stability around the minimum."""
    net = nn.MLP((1, 8, 1), hidden="tanh", output="linear")
    key = jax.random.key(seed)
    x, y = data.regression(jax.random.fold_in(key, 1), 64, "sine", noise=0.05)
    x, y = x.astype(jnp.float64), y.astype(jnp.float64)
    flat0, unravel = jax.flatten_util.ravel_pytree(net.init(jax.random.fold_in(key, 2), jnp.float64))
    f = lambda w: backprop.loss(net, "quadratic", unravel(w), x, y)  # noqa: E731
    g = jax.jit(jax.grad(f))
    w_min = _minimize(f, g, flat0, quick)
    lo, hi = analysis.extreme_eigenvalues(f, w_min, method="dense")
    lo_l, hi_l = analysis.extreme_eigenvalues(f, w_min, jax.random.fold_in(key, 3), num_iters=20, method="lanczos")
    # Perturb along the top eigenvector u_max of the loss Hessian, run GD; the largest component
    # u_max^T (w_t - w*) over the run vs at the start (1e-4). (The flat directions of an
    # over-parameterized net neither contract nor grow, so the full distance says little.)
    _, U_net = np.linalg.eigh(np.asarray(analysis.hessian(f, w_min)))
    u_max = jnp.asarray(U_net[:, -1])
    h = 0.01 if quick else 0.005
    xs = np.round(np.arange(0.9 + h / 2, 1.1, h), 5)  # offset: eta = 2/lambda_max itself is not on the grid
    offset = lambda w: jnp.abs(jnp.vdot(w - w_min, u_max))  # noqa: E731
    _, max_off = _gd_sweep(f, w_min + 1e-4 * u_max, xs * 2.0 / float(hi), 1000 if quick else 2000, observe=offset)
    dist = np.asarray(max_off) / 1e-4
    return {"lambda_min": float(lo), "lambda_max": float(hi), "lambda_max_lanczos": float(hi_l),
            "lambda_min_lanczos": float(lo_l), "grad_norm_at_min": float(jnp.linalg.norm(g(w_min))),
            "eta_over_stable": xs, "max_top_offset_ratio": np.where(np.isfinite(dist), dist, np.inf),
            "num_params": net.num_params()}


def _minimize(f, g, w, quick: bool):
    """Adam to a minimum, then GD at 1/lambda_max to polish it to high accuracy."""
    opt = optim.adam(0.01)

    @jax.jit
    def adam(w):
        def body(c, _):
            w, s = c
            u, s = opt.update(g(w), s, w)
            return (optim.apply_updates(w, u), s), None

        return jax.lax.scan(body, (w, opt.init(w)), None, length=3000 if quick else 6000)[0][0]

    w = adam(w)
    gd_pol = optim.gd(float(1.0 / analysis.extreme_eigenvalues(f, w, method="dense")[1]))

    @jax.jit
    def polish(w):
        def body(c, _):
            w, s = c
            u, s = gd_pol.update(g(w), s, w)
            return (optim.apply_updates(w, u), s), None

        return jax.lax.scan(body, (w, gd_pol.init(w)), None, length=20000 if quick else 50000)[0][0]

    return polish(w)


def _decide(m: dict, quick: bool) -> list[dict]:
    a, b, c, d = m["a"], m["b"], m["c"], m["d"]
    (last_ok, first_bad), factor1 = b["bracket"], b["top_factor_first_step"]
    eta_best = float(b["x_grid"][int(np.argmin(factor1))]) / b["lambda_max"]
    valid = b["valid"]
    rates = b["rates"]
    xs, dist = d["eta_over_stable"], d["max_top_offset_ratio"]
    left = dist > 1.0
    wrong = int(np.sum(left[xs < 1.0])) + int(np.sum(~left[xs > 1.0]))
    return [
        decide("gd_convergence/hessian-spectrum", a["spec_err"], quick=quick),
        decide("gd_convergence/eigen-components", a["max_error"], quick=quick),
        decide("gd_convergence/divergence-boundary", (b["stable_rate"] - last_ok) / (first_bad - last_ok),
               quick=quick, detail={"bracket": b["bracket"], "stable_rate": b["stable_rate"]}),
        decide("gd_convergence/fastest-at-inverse-lambda-max", abs(eta_best - b["eta_top"]) / b["grid_step"],
               quick=quick, detail={"argmin": eta_best, "one_over_lambda_max": b["eta_top"]}),
        decide("gd_convergence/one-step-factor-zero", float(factor1.min()), quick=quick),
        decide("gd_convergence/top-factor-over-sweep",
               float(np.max(np.abs(b["top_factor_T"][valid] - b["predicted_factor"][valid]))), quick=quick),
        *(decide(f"gd_convergence/rate-at-{slug}", abs(rates[k]["measured"] - rates[k]["predicted"])
                 / rates[k]["predicted"], quick=quick,
                 detail={"measured": rates[k]["measured"], "predicted": rates[k]["predicted"]})
          for slug, k in (("inverse-lambda-max", "top"), ("minimax", "minimax"))),
        decide("gd_convergence/iterations-to-tolerance", float(np.max(np.abs(c["measured"] - c["predicted"]))),
               quick=quick),
        decide("gd_convergence/iterations-slope", abs(c["slope"] - 1.0), quick=quick, detail={"slope": c["slope"]}),
        decide("gd_convergence/lanczos-lambda-max", abs(d["lambda_max_lanczos"] - d["lambda_max"]) / d["lambda_max"],
               quick=quick, detail={"lanczos": d["lambda_max_lanczos"], "dense": d["lambda_max"]}),
        decide("gd_convergence/mlp-stability-boundary", float(wrong), quick=quick,
               detail={"first_rate_that_left": float(xs[left].min()) if left.any() else None}),
    ]


def _figure(m: dict):
    """(a) eigen-components, (b) top-direction factor over the sweep, (c) iterations vs kappa, (d) the MLP."""
    a, b, c, d = m["a"], m["b"], m["c"], m["d"]
    fig, axes = figure(2, 2, width=6.0, height=4.4)
    ax = axes[0, 0]
    t = np.arange(a["T"] + 1)
    for i, l in enumerate(a["eigenvalues"]):
        (line,) = ax.semilogy(t, np.abs(a["predicted"][:, i]), lw=1.2, label=f"λ={l:g}: |1-ηλ|={abs(1 - a['eta'] * l):.2f}")
        ax.semilogy(t[::4], np.maximum(np.abs(a["alpha"][::4, i]), 1e-300), "o", ms=3, color=line.get_color())
    ax.set_ylim(1e-17, 10)
    ax.set(xlabel="GD step T", ylabel="|α_i(T)| (eigen-component of w − w*)",
           title=f"(a) components follow (1−ηλ_i)^T (η={a['eta']})")
    ax.plot([], [], "k-", lw=1.2, label="theory (lines)")
    ax.plot([], [], "ko", ms=3, label="GD (dots)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax = axes[0, 1]
    x1, valid = b["x_grid"], b["valid"]
    ax.plot(x1, b["top_factor_first_step"], "o", ms=4, mfc="none", label="measured |α_1/α_0|, top direction")
    ax.plot(x1[valid], b["top_factor_T"][valid], ".", ms=3, label=f"measured (|α_T|/|α_0|)^(1/T), T={b['T']}")
    ax.plot(x1, b["predicted_factor"], "-", lw=1, label="theory |1 − η λ_max|")
    ax.axvline(1.0, color="g", ls=":", label="η = 1/λ_max (one step)")
    ax.axvline(2.0, color="r", ls="--", label="η = 2/λ_max (stability limit)")
    ax.axhline(1.0, color="gray", lw=0.5, label="factor 1")
    ax.set(xlabel="η λ_max (dimensionless)", ylabel="per-step contraction factor",
           title="(b) top direction: fastest at 1/λ_max, diverges past 2/λ_max", ylim=(0, 1.5))
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax = axes[1, 0]
    ax.loglog(c["kappa"], c["measured"], "o", label="measured GD steps (η = 1/λ_max)")
    ax.loglog(c["kappa"], c["predicted"], "-", label="theory ⌈ln tol / ln(1 − 1/κ)⌉")
    ax.loglog(c["kappa"], c["minimax_predicted"], "--", label="theory at η = 2/(λ_min+λ_max)")
    ax.set(xlabel="condition number κ = λ_max/λ_min", ylabel="iterations to max|α_i| ≤ 1e-6",
           title=f"(c) iterations ∝ κ (slope {c['slope']:.3f})")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    ax = axes[1, 1]
    ax.semilogy(d["eta_over_stable"], np.minimum(d["max_top_offset_ratio"], 1e12), "o-", ms=3,
                label=f"1-8-1 tanh MLP, P={d['num_params']} (capped at 1e12)")
    ax.axvline(1.0, color="r", ls="--", label=f"η = 2/λ_max (λ_max = {d['lambda_max']:.3g})")
    ax.axhline(1.0, color="gray", lw=0.5, label="offset at the start")
    ax.set(xlabel="η / (2/λ_max)", ylabel="max_t |u_maxᵀ(w_t − w*)| / start",
           title="(d) MLP at a minimum: stable iff η < 2/λ_max")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.tight_layout()
    return fig
