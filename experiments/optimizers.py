"""GD, momentum, AdaGrad, RMSProp and Adam on a quadratic, the Rosenbrock function and an MLP.

Notes, "Momentum" and "Learning rate scheduling" (AdaGrad, RMSProp, Adam), with ``fnn.optim``:

(a) an ill-conditioned quadratic ``1/2 w^T H w`` (``d = 10``, ``kappa = 100``, randomly rotated) and (b) the
    Rosenbrock function from ``(-1.2, 1)``: each optimizer at its best rate of a log grid (vmapped over the
    rate). GD follows the exact ``1/2 sum_i lambda_i (1 - eta lambda_i)^(2T) alpha_i(0)^2`` and momentum
    ``mu = 0.9`` contracts by ``sqrt(mu)`` per step against GD's ``(kappa-1)/(kappa+1)`` (checks); on
    Rosenbrock's curved flat valley momentum's ``1/(1 - mu)`` gain should put it ahead of GD (a prediction).
(c) a 784-100-10 ReLU MLP on Fashion-MNIST: each optimizer at its best rate of a 5-point grid (chosen on
    validation cost over 3 seeds sharing initialisations), then the registered seeds at that rate. AdaGrad's
    per-parameter effective rate ``eta / (sqrt(G) + eps)`` (``G`` the *sum* of squared gradients) only
    shrinks (a check), with an exponent strictly between the stationary-gradient ``1/2`` and ``0``
    (a prediction); RMSProp's (``nu`` an exponential *average*) keeps more of its size: the notes' "Fixes a
    problem with AdaGrad where the weight updates tend to become too small" (a prediction).
(d) that statement in its pure form, on a constant gradient: AdaGrad's step ``eta |g| / (sqrt(t) |g| + eps)``,
    RMSProp's ``eta |g| / (sqrt(1 - 0.9^t) |g| + eps)`` (:func:`constant_gradient_steps`; a float64 check).

The notes give no sign for the difference of the two optimizers' training costs at rates tuned for a fixed
budget (AdaGrad's decay is then the notes' own power-law schedule, ``c = -1/2``); it is recorded, with the
horizon its ``t^(-1/2)`` bound implies, in ``data["mlp"]["finding_adagrad_vs_rmsprop"]``, not decided.
Claims, bands and seeds: ``experiments/claims/optimizers.py``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _population
from experiments._common import decide, figure, save, seeds, t_interval, t_quantile
from fnn import analysis, data, nn, optim

OPTIMIZERS = {
    "GD": lambda: optim.gd(1.0),
    "momentum μ=0.9": lambda: optim.momentum(1.0, 0.9),
    "AdaGrad": lambda: optim.adagrad(1.0),
    "RMSProp": lambda: optim.rmsprop(1.0),
    "Adam": lambda: optim.adam(1.0),
}


def _sweep(f, w0: jax.Array, make_opt, rates: np.ndarray, steps: int) -> np.ndarray:
    """Cost after each step for each rate, shape (len(rates), steps + 1) (vmapped over the rate)."""
    opt = make_opt()
    run = jax.jit(jax.vmap(lambda rate: optim.minimize(f, w0, opt, steps, rate=rate)[1]))
    out = np.asarray(run(jnp.asarray(rates, w0.dtype)), np.float64)
    return np.where(np.isfinite(out), out, np.inf)


def _best(curves: np.ndarray, rates: np.ndarray) -> tuple[int, float]:
    """Index and value of the rate with the lowest final cost (diverged runs count as inf)."""
    final = curves[:, -1]
    i = int(np.argmin(np.where(np.isfinite(final), final, np.inf)))
    return i, float(rates[i])


def _rosenbrock(w: jax.Array) -> jax.Array:
    return (1.0 - w[0]) ** 2 + 100.0 * (w[1] - w[0] ** 2) ** 2


def _part_ab(quick: bool, seed: int):
    with jax.enable_x64(True):
        rng = np.random.default_rng(seed)
        d, kappa = 10, 100.0
        lam = np.geomspace(1.0 / kappa, 1.0, d)
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        E = analysis.quadratic(jnp.asarray((q * lam) @ q.T))
        w0 = jnp.asarray(q @ np.ones(d))
        rates = np.geomspace(1e-4, 3.0, 16 if quick else 31)
        T_q = 300 if quick else 600
        quad = {}
        for name, make in OPTIMIZERS.items():
            c = _sweep(E, w0, make, rates, T_q)
            i, r = _best(c, rates)
            quad[name] = {"rate": r, "curve": c[i], "final_by_rate": c[:, -1]}
        T_r = 1500 if quick else 5000
        start = jnp.asarray([-1.2, 1.0])
        rates_r = np.geomspace(1e-5, 1.0, 11 if quick else 26)
        rosen = {}
        for name, make in OPTIMIZERS.items():
            c = _sweep(_rosenbrock, start, make, rates_r, T_r)
            i, r = _best(c, rates_r)
            rosen[name] = {"rate": r, "curve": c[i], "final_by_rate": c[:, -1]}
        return lam, quad, rates, rosen, rates_r


def constant_gradient_steps(name: str, rate: float, g: float, steps: int, eps: float, decay: float = 0.9) -> np.ndarray:
    """Closed-form step sizes ``|Delta w_t|``, t = 1..steps, of AdaGrad or RMSProp on a constant gradient ``g``.

    Notes, "Learning rate scheduling": AdaGrad divides by the root of the accumulated *sum* of squares,
    RMSProp by the root of an exponentially weighted *average*. On ``f(w) = g w`` every derivative is ``g``:

    - AdaGrad (Duchi et al. 2011; Goodfellow et al. 2016, Alg. 8.4): ``G_t = t g^2``, so
      ``|Delta w_t| = eta |g| / (sqrt(t) |g| + eps)``, i.e. ``~ eta t^(-1/2)``: the updates become too small;
    - RMSProp (Tieleman & Hinton 2012; Goodfellow et al. 2016, Alg. 8.5) with ``nu_0 = 0``:
      ``nu_t = (1 - decay^t) g^2``, so ``|Delta w_t| = eta |g| / (sqrt(1 - decay^t) |g| + eps)`` -> ``eta``.

    This is the pure form of the notes' "Fixes a problem with AdaGrad where the weight updates tend to become
    too small" (stationary gradients, no noise, no curvature).
    """
    if name not in ("AdaGrad", "RMSProp"):
        raise ValueError(f"name must be 'AdaGrad' or 'RMSProp', got {name!r}")
    if not rate > 0 or not eps > 0 or not 0.0 <= decay < 1.0 or not math.isfinite(g):
        raise ValueError(f"need rate > 0, eps > 0, 0 <= decay < 1, finite g; got rate = {rate!r}, eps = {eps!r}, "
                         f"decay = {decay!r}, g = {g!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    t = np.arange(1, steps + 1, dtype=np.float64)
    root = np.sqrt(t) * abs(g) if name == "AdaGrad" else np.sqrt(1.0 - decay**t) * abs(g)
    return rate * abs(g) / (root + eps)


def _constant_gradient(quick: bool) -> dict:
    """Measured (``optim.trajectory``, float64) and closed-form step sizes on ``f(w) = g . w``, 4 coordinates."""
    steps = 2000 if quick else 20_000
    g = np.array([1e-3, 0.1, 1.0, 30.0])  # AdaGrad/RMSProp are per-coordinate scale invariant (up to eps)
    out = {"steps": steps, "g": g}
    with jax.enable_x64(True):
        for name, opt, eps in (("AdaGrad", optim.adagrad(0.01), 1e-7), ("RMSProp", optim.rmsprop(0.01), 1e-8)):
            ws = np.asarray(optim.trajectory(lambda w: jnp.dot(jnp.asarray(g), w), jnp.zeros(4), opt, steps))
            meas = np.abs(np.diff(ws, axis=0))  # (steps, 4)
            theory = np.stack([constant_gradient_steps(name, 0.01, float(gi), steps, eps) for gi in g], axis=1)
            out[name] = {"measured": meas, "theory": theory}
    return out


def _effective_rate_median(opt_state, rate) -> jax.Array:
    """Median over parameters of eta / (sqrt(acc) + eps) for an AdaGrad (sum) or RMSProp (average) state."""
    for s in opt_state:
        if isinstance(s, optim.AdagradState):
            acc, eps = s.sum_of_squares, s.eps
            break
        if isinstance(s, optim.RmsState):
            acc, eps = s.nu, s.eps
            break
    else:
        return jnp.full((), jnp.nan, jnp.float32)
    flat = jnp.concatenate([jnp.ravel(a) for a in jax.tree_util.tree_leaves(acc)])
    return jnp.median(rate / (jnp.sqrt(flat) + eps))


RATE_GRID = {"GD": (0.01, 0.03, 0.1, 0.3, 1.0), "momentum μ=0.9": (0.001, 0.003, 0.01, 0.03, 0.1),
             "AdaGrad": (0.001, 0.003, 0.01, 0.03, 0.1), "RMSProp": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
             "Adam": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)}


def _eff_callback(rates):
    """Per-epoch median effective rate of every member (population of AdaGrad or RMSProp states)."""
    med = jax.jit(jax.vmap(_effective_rate_median))

    def cb(_epoch, states):
        return {"effective_rate_median": med(states.opt_state, jnp.asarray(rates, jnp.float32))}

    return cb


def _part_c(quick: bool, seed: int):
    """Each optimizer: a rate sweep (``sweep_seeds`` seeds per rate, best by mean final validation cost), then ``n_seeds``
    seeds at the best rate; one population per phase (``experiments._population``)."""
    if quick:
        x_all, y_all = data.load("fashion_mnist", "test", download=False, progress=False)
        train_set, val, test = (x_all[:2000], y_all[:2000]), (x_all[2000:3000], y_all[2000:3000]), \
            (x_all[8000:], y_all[8000:])
        epochs, grid_take = 6, (2, 3)
    else:
        x_all, y_all = data.load("fashion_mnist", "train", download=False, progress=False)
        train_set, val = (x_all[:10_000], y_all[:10_000]), (x_all[50_000:55_000], y_all[50_000:55_000])
        test = data.load("fashion_mnist", "test", download=False, progress=False)
        epochs, grid_take = 8, (0, 1, 2, 3, 4)
    batch = 20 if quick else 50
    n_seeds = seeds("optimizers/rmsprop-keeps-rate", quick)
    net = nn.MLP((784, 100, 10), hidden="relu", output="softmax")
    key = jax.random.key(seed)
    sweep_seeds = 2 if quick else 3
    out = {}
    for name, make in OPTIMIZERS.items():
        grid = [RATE_GRID[name][i] for i in grid_take]
        # Member (rate i, seed j): the same sweep_seeds initialisations / batch orders for every rate (common
        # random numbers), so the rates are compared on equal footing; best = lowest mean final validation cost.
        seed_keys = [jax.random.fold_in(jax.random.fold_in(key, 1), j) for j in range(sweep_seeds)]
        sweep_keys = jnp.stack([k for _ in grid for k in seed_keys])
        sweep_rates = np.repeat(np.asarray(grid), sweep_seeds)
        _, hs = _population.fit_seeds(net, "log_likelihood", make(), train_set, epochs, batch, sweep_keys,
                                      hyperparams={"rate": sweep_rates}, evals={"val": val})
        final_val = np.where(np.isfinite(hs["val_cost"][-1]), hs["val_cost"][-1], np.inf).reshape(len(grid),
                                                                                                    sweep_seeds)
        final_val_mean = final_val.mean(axis=1)
        best = float(grid[int(np.argmin(final_val_mean))])
        keys = jax.random.split(jax.random.fold_in(key, 2), n_seeds)
        rates = np.full(n_seeds, best)
        cb = _eff_callback(rates) if name in ("AdaGrad", "RMSProp") else None
        _, h = _population.fit_seeds(net, "log_likelihood", make(), train_set, epochs, batch, keys,
                                     hyperparams={"rate": rates}, evals={"test": test}, callback=cb)
        out[name] = {"label": f"{name} (best η = {best:g})", "rate": best, "grid": grid,
                     "sweep_final_val_cost": final_val, "train_cost_epoch": h["cost"],
                     "test_accuracy_epoch": h["test_accuracy"], "test_cost_epoch": h["test_cost"],
                     "diverged": h["diverged"], "effective_rate_median": h.get("effective_rate_median")}
    setup = {"train": int(train_set[0].shape[0]), "validation": int(val[0].shape[0]), "test": int(test[0].shape[0]),
             "epochs": epochs, "batch": batch, "seeds": n_seeds, "sweep_seeds": sweep_seeds,
             "updates_per_epoch": int(train_set[0].shape[0]) // batch,
             "source": "fashion_mnist test split (quick)" if quick else
             "fashion_mnist train[:10000] (training), train[50000:55000] (validation for the rate), test"}
    return out, setup


def measure(quick: bool, seed: int) -> dict:
    """Every number the claims are decided on: parts (a)-(d)."""
    lam, quad, rates_q, rosen, rates_r = _part_ab(quick, seed)
    mlp, setup_c = _part_c(quick, seed)
    T_q = len(quad["GD"]["curve"]) - 1
    gd_exact = _gd_cost(lam, quad["GD"]["rate"], T_q)
    best_possible = min(_gd_cost(lam, float(e), T_q) for e in np.linspace(0.5, 2.0 / lam.max(), 3001))
    return {"lam": lam, "quad": quad, "rates_q": rates_q, "rosen": rosen, "rates_r": rates_r, "mlp": mlp,
            "setup_c": setup_c, "T_q": T_q, "gd_exact": gd_exact, "best_possible_gd_cost": best_possible,
            "cg": _constant_gradient(quick)}


def _gd_cost(lam: np.ndarray, eta: float, T: int) -> float:
    """Exact GD cost after T steps: 1/2 sum_i lambda_i ((1 - eta lambda_i)^T alpha_i(0))^2, alpha(0) = 1."""
    with jax.enable_x64(True):
        alpha_T = np.asarray(analysis.predicted_components(lam, eta, 1.0, T))[-1]
    return float(0.5 * np.sum(lam * alpha_T**2))


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean difference a - b and its 95% Welch half-width with df = n - 1 (conservative)."""
    n = a.size
    return float(a.mean() - b.mean()), float(t_quantile(0.975, n - 1) * math.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / n))


def decide_all(res: dict, quick: bool) -> tuple[list[dict], dict]:
    """Every registered claim decided on ``measure``'s numbers; and the recorded (undecided) finding."""
    quad, rosen, mlp, st = res["quad"], res["rosen"], res["mlp"], res["setup_c"]
    gd_final, mom_final = float(quad["GD"]["curve"][-1]), float(quad["momentum μ=0.9"]["curve"][-1])
    vs = [decide("optimizers/quadratic-gd-exact", abs(gd_final / res["gd_exact"] - 1), quick=quick,
                 detail={"measured": gd_final, "theory": res["gd_exact"], "rate": quad["GD"]["rate"]}),
          decide("optimizers/quadratic-momentum-ahead", mom_final / res["best_possible_gd_cost"], quick=quick,
                 detail={"momentum / GD at its best grid rate": mom_final / gd_final})]
    r_gd, r_mom = float(rosen["GD"]["curve"][-1]), float(rosen["momentum μ=0.9"]["curve"][-1])
    vs.append(decide("optimizers/rosenbrock-momentum-ahead", r_mom / r_gd, quick=quick,
                     detail={"GD": r_gd, "momentum": r_mom}))
    t0, t1 = st["updates_per_epoch"], st["updates_per_epoch"] * st["epochs"]
    eff = {k: np.asarray(mlp[k]["effective_rate_median"]) for k in ("AdaGrad", "RMSProp")}
    ad_r, rm_r = eff["AdaGrad"][-1] / eff["AdaGrad"][0], eff["RMSProp"][-1] / eff["RMSProp"][0]
    n_s = ad_r.size
    m, lo, hi = t_interval(ad_r)
    vs.append(decide("optimizers/adagrad-rate-shrinks", m, quick=quick, interval=(lo, hi), n=n_s,
                     detail={"t0": t0, "t1": t1, "by seed": ad_r.tolist()}))
    q = -np.log(ad_r) / math.log(t1 / t0)
    m, lo, hi = t_interval(q)
    vs.append(decide("optimizers/adagrad-decay-exponent", m, quick=quick, interval=(lo, hi), n=n_s,
                     detail={"t0": t0, "t1": t1, "ratio (mean)": float(ad_r.mean()),
                             "stationary-gradient ratio sqrt(t0/t1)": math.sqrt(t0 / t1)}))
    d, h = _welch(rm_r, ad_r)
    vs.append(decide("optimizers/rmsprop-keeps-rate", d, quick=quick, interval=(d - h, d + h), n=n_s,
                     detail={"RMSProp ratio": t_interval(rm_r), "AdaGrad ratio": t_interval(ad_r)}))
    cg = res["cg"]
    rel = max(float(np.max(np.abs(cg[k]["measured"] / cg[k]["theory"] - 1))) for k in ("AdaGrad", "RMSProp"))
    ratio_T = cg["AdaGrad"]["measured"][-1] / cg["RMSProp"]["measured"][-1]
    vs.append(decide("optimizers/constant-gradient-closed-form", rel, quick=quick,
                     detail={"step ratio at T (per coordinate)": ratio_T.tolist(),
                             "1/sqrt(T)": 1.0 / math.sqrt(cg["steps"])}))
    # Recorded, not decided (module docstring): AdaGrad's minus RMSProp's final training cost at tuned rates.
    diff, half = _welch(np.asarray(mlp["AdaGrad"]["train_cost_epoch"][-1]), np.asarray(mlp["RMSProp"]["train_cost_epoch"][-1]))
    er_m, er_lo, er_hi = t_interval(eff["AdaGrad"][-1] / eff["RMSProp"][-1])
    finding = {
        "adagrad_minus_rmsprop_final_train_cost": diff, "interval_welch_df_n_minus_1": [diff - half, diff + half],
        "n_seeds": n_s,
        "adagrad_over_rmsprop_median_effective_rate_at_last_update": {"mean": er_m, "interval": [er_lo, er_hi]},
        "earliest_update_adagrad_rate_could_fall_below_rmsprops_stationary_bound": t1 * er_m**2 if er_m > 1 else t1,
        "note": "recorded, not predicted: at rates tuned for a fixed budget the notes give no sign for this difference",
    }
    return vs, finding


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    res = measure(quick, seed)
    verdicts, finding = decide_all(res, quick)
    fig = _figure(res)
    return save("optimizers", seed=seed, quick=quick, verdicts=verdicts, data=_record(res, finding), fig=fig,
                out_dir=out_dir, title="GD, momentum, AdaGrad, RMSProp, Adam (notes, Momentum and Learning rate scheduling)")


def _record(res: dict, finding: dict) -> dict:
    """The JSON record: curves at ~200 log-spaced steps keep it small."""
    def thin(r: dict, n: int) -> dict:
        idx = np.unique(np.concatenate([[0], np.geomspace(1, n, 200).astype(int)]))
        return {"rate": r["rate"], "step": idx, "cost": r["curve"][idx], "final_by_rate": r["final_by_rate"]}

    cg, T_q, T_r = res["cg"], res["T_q"], len(res["rosen"]["GD"]["curve"]) - 1
    return {
        "quadratic": {"eigenvalues": res["lam"], "rates": res["rates_q"], "best_possible_gd_cost": res["best_possible_gd_cost"],
                      **{k: thin(v, T_q) for k, v in res["quad"].items()}},
        "rosenbrock": {"rates": res["rates_r"], **{k: thin(v, T_r) for k, v in res["rosen"].items()}},
        "mlp": {"setup": res["setup_c"], **res["mlp"], "finding_adagrad_vs_rmsprop": finding},
        "constant_gradient": {"steps": cg["steps"], "g": cg["g"], "rate": 0.01,
                              **{n: {"step_at": {int(t): cg[n]["measured"][t - 1].tolist() for t in (1, 10, 100, cg["steps"])}}
                                 for n in ("AdaGrad", "RMSProp")}},
    }


def _figure(res: dict):
    """Two figures' worth of panels on a 3 x 3 grid: (a)-(c) test functions, (d)-(h) the MLP."""
    fig, axes = figure(3, 3, width=5.6, height=4.4)
    _draw_test_functions(axes[0], res)
    _draw_mlp(axes[1], axes[2], res)
    fig.tight_layout(h_pad=2.0)
    return fig


def _draw_test_functions(row, res: dict) -> None:
    lam, quad, rosen, T_q = res["lam"], res["quad"], res["rosen"], res["T_q"]
    kappa = float(lam.max() / lam.min())
    ax = row[0]
    for name, r in quad.items():
        ax.semilogy(np.maximum(r["curve"], 1e-30), label=f"{name} (η={r['rate']:.3g})")
    with jax.enable_x64(True):
        alpha_t = np.asarray(analysis.predicted_components(lam, quad["GD"]["rate"], 1.0, T_q))
    ax.semilogy(0.5 * (alpha_t**2) @ lam, "k:", lw=1.6, label="theory, GD: ½ Σᵢ λᵢ (1−ηλᵢ)²ᵗ αᵢ(0)²")
    ax.set(xlabel="step", ylabel="cost ½wᵀHw", title=f"(a) quadratic, d = 10, κ = {kappa:g}, best rate each",
           ylim=(1e-30, 1e2))
    ax.legend(fontsize=8, loc="lower left")
    ax = row[1]
    for name, r in quad.items():
        ax.loglog(res["rates_q"], np.minimum(r["final_by_rate"], 1e12), "o-", ms=2, lw=0.8, label=name)
    ax.set(xlabel="learning rate η", ylabel=f"cost after {T_q} steps",
           title="(b) quadratic: rate grid (diverged: clipped at top)")
    ax.legend(fontsize=8, loc="lower left")
    ax = row[2]
    for name, r in rosen.items():
        ax.loglog(np.arange(1, len(r["curve"])), np.maximum(r["curve"][1:], 1e-30), label=f"{name} (η={r['rate']:.3g})")
    ax.set(xlabel="step", ylabel="f(x, y)", title="(c) Rosenbrock from (−1.2, 1), best rate each")
    ax.legend(fontsize=8, loc="lower left")


def _draw_mlp(row1, row2, res: dict) -> None:
    import matplotlib.ticker as mticker

    mlp, st = res["mlp"], res["setup_c"]
    n_s = len(mlp["GD"]["train_cost_epoch"][-1])
    ax = row1[0]
    for name, r in mlp.items():
        v = np.asarray(r["sweep_final_val_cost"])  # (rates, sweep seeds)
        ok = np.all(np.isfinite(v), axis=1)
        s_ = np.array([t_interval(row) if f else (np.nan,) * 3 for row, f in zip(v, ok)])
        (line,) = ax.semilogx(r["grid"], s_[:, 0], "o-", ms=3, label=name)
        ax.fill_between(r["grid"], s_[:, 1], s_[:, 2], color=line.get_color(), alpha=0.2, lw=0)
        ax.plot(r["rate"], s_[r["grid"].index(r["rate"]), 0], "*", color=line.get_color(), mec="k", ms=11)
    ax.set(xlabel="learning rate η", ylabel="validation cost, last epoch (nats)", yscale="log",
           title=f"(d) MLP rate sweep: mean, 95% t-band\n({st['sweep_seeds']} seeds; ★ best)")
    ax.legend(fontsize=8)
    ep = np.arange(1, st["epochs"] + 1)
    for ax, key, ylabel, title in ((row1[1], "train_cost_epoch", "training cost, epoch mean (nats)",
                                    "(e) MLP 784-100-10 training cost"),
                                   (row1[2], "test_accuracy_epoch", "test accuracy (fraction)", "(f) test accuracy")):
        for name, r in mlp.items():
            s_ = np.array([t_interval(row) for row in r[key]])
            (line,) = ax.plot(ep, s_[:, 0], "o-", ms=3, label=r["label"])
            ax.fill_between(ep, s_[:, 1], s_[:, 2], color=line.get_color(), alpha=0.25, lw=0)
        ax.set(xlabel="epoch", ylabel=ylabel, title=f"{title},\nbest rate each (mean, 95% t-band, {n_s} seeds)")
        ax.legend(fontsize=8)
    row1[1].set_yscale("log")
    ax = row2[0]
    steps = ep * st["updates_per_epoch"]
    for name in ("AdaGrad", "RMSProp"):
        s_ = np.array([t_interval(row) for row in mlp[name]["effective_rate_median"]])
        (line,) = ax.loglog(steps, s_[:, 0], "o-", ms=3, label=f"{mlp[name]['label']}")
        ax.fill_between(steps, s_[:, 1], s_[:, 2], color=line.get_color(), alpha=0.25, lw=0)
    e0 = np.mean(mlp["AdaGrad"]["effective_rate_median"][0])
    ax.loglog(steps, e0 * np.sqrt(steps[0] / steps), "k:", lw=1.2, label="stationary gradients: ∝ t^(−1/2)")
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set(xlabel="update t", ylabel="median η/(√acc+ε) over parameters",
           title=f"(g) MLP effective rates: AdaGrad's shrinks,\nRMSProp's does not (mean, 95% t-band, {n_s} seeds)")
    ax.legend(fontsize=8)
    ax = row2[1]
    for i, (name, r) in enumerate(mlp.items()):
        acc = np.asarray(r["test_accuracy_epoch"][-1])
        m, lo, hi = t_interval(acc)
        ax.plot(acc, np.full(acc.size, i), "o", ms=4, alpha=0.6)
        ax.errorbar(m, i, xerr=[[m - lo], [hi - m]], fmt="k|", ms=12, capsize=4)
    ax.set_yticks(range(len(mlp)), [f"{n.split(' ')[0]}\nη = {r['rate']:g}" for n, r in mlp.items()], fontsize=8)
    ax.set(xlabel="final test accuracy (fraction)", title="(h) final test accuracy: per seed (dots),\nmean and 95% t-interval (bars)")
    row2[2].axis("off")
