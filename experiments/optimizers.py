"""GD, momentum, AdaGrad, RMSProp and Adam on a quadratic, the Rosenbrock function and an MLP.

Notes, "Momentum" and "Learning rate scheduling" (AdaGrad, RMSProp, Adam), with
``fnn.optim``:

(a) an ill-conditioned quadratic ``1/2 w^T H w`` (``d = 10``, ``kappa = 100``,
    randomly rotated), and (b) the Rosenbrock function
    ``f(x, y) = (1 - x)^2 + 100 (y - x^2)^2`` from ``(-1.2, 1)``: each
    optimizer at its best rate of a log grid (vmapped over the rate, which
    lives in the optimizer state), cost vs step. Theory (notes, "Momentum";
    ``fnn.analysis``): GD at its best rate contracts the quadratic's error by
    ``(kappa - 1)/(kappa + 1)`` per step; momentum ``mu = 0.9`` by
    ``sqrt(mu)`` once the rate puts every direction in the oscillatory regime,
    so it is far ahead after the same number of steps; on Rosenbrock's curved,
    flat valley momentum's ``1/(1 - mu)`` gain along the valley should likewise
    put it ahead of GD.
(c) an MLP (784-100-10, ReLU, softmax + log-likelihood) on 10,000 Fashion-MNIST
    images, mini-batch 50, 8 epochs: each optimizer at its best rate of a
    5-point grid (3 seeds per rate, sharing initialisations and batch orders
    across rates; best = lowest mean validation cost on 5,000 held-out training
    images), then 5 fresh seeds at that rate (one population), 95% t-intervals
    over seeds. The per-parameter effective rates: AdaGrad's
    ``eta / (sqrt(G) + eps)`` with ``G`` the *sum* of squared gradients can only
    shrink (a check), and, as the gradients' mean square falls during training,
    more slowly than the ``t^(-1/2)`` of stationary gradients (a prediction);
    RMSProp's ``eta / (sqrt(nu) + eps)`` with ``nu`` an exponential *average*
    keeps more of its size (a prediction: the notes' "Fixes a problem with
    AdaGrad where the weight updates tend to become too small").
(d) that statement in its pure form, where it must hold exactly: on a constant
    gradient ``f(w) = g . w`` AdaGrad's step is ``eta |g| / (sqrt(t) |g| + eps)``
    (``~ eta t^(-1/2)``) and RMSProp's ``eta |g| / (sqrt(1 - 0.9^t) |g| + eps)``
    (``-> eta``), :func:`constant_gradient_steps`; measured with
    ``optim.trajectory`` in float64 (a check).

What the notes do and do not say (section "Learning rate scheduling"), quoted:
"**RMSProp** (*Root Mean Square Propagation*): Replace the sum of squared
gradients of AdaGrad with an exponentially weighted average. Fixes a problem
with AdaGrad where the weight updates tend to become too small." They do not say
that RMSProp reaches a lower training cost than AdaGrad when each runs at its
own best rate for a fixed budget. An earlier version of this experiment
predicted exactly that ("RMSProp trains the Fashion-MNIST MLP further: AdaGrad's
minus RMSProp's mean training cost of the last epoch > 0", one seed per rate in
the sweep) and measured -0.060 nats [-0.072, -0.048] (5 seeds): unexpected. That
prediction was our own extrapolation, and it does not follow from the mechanism:

- the rate is tuned *for the budget*, so AdaGrad's larger ``eta`` compensates
  the decay of ``1/sqrt(G_t)`` over the horizon (in that run, at the end of
  the 8 epochs its median effective rate was still ~14x RMSProp's);
- a decaying rate within a fixed budget is what the notes themselves recommend
  (same section: "best results are obtained using a larger value for eta at the
  start of training. And then reducing the learning rate over time", with the
  power law ``eta_0 (1 + tau/s)^c``, "usually c = -0.5"): with stationary
  gradients AdaGrad's ``eta / sqrt(G_t)`` *is* that schedule with ``c = -1/2``.

So no sign of that difference is predicted. The "too small" mechanism is tested
where the notes put it: the effective rates of (c) and the exact case (d). The
training-cost difference is kept as a recorded finding
(``data["mlp"]["finding_adagrad_vs_rmsprop"]``, with its Welch interval), with
the horizon the ``t^(-1/2)`` bound gives for AdaGrad's rate to fall to RMSProp's
at all: ``T* = t_end (r_end)^2``, ``r_end`` the ratio of their median effective
rates at the last update (an RMSProp rate held constant, AdaGrad's decaying at the
stationary worst case from there). From this version on the sweep uses 3 seeds
per rate (2 in quick mode) because one seed's ranking was within the seed-to-seed spread
(RMSProp's one-seed sweep was non-monotone: 0.506, 0.515, 0.686 nats at
3e-4, 1e-3, 3e-3), and so that the figure can show an interval over seeds.
With 3 seeds RMSProp's best rate moved from 3e-4 to 1e-3 (mean validation cost
0.475 vs 0.433 nats), the others stayed, and the recorded finding changed sign:
AdaGrad's minus RMSProp's final training cost +0.016 [0.005, 0.027] nats (5
seeds), AdaGrad's median effective rate at the last update 3.5x [2.3, 4.7]
RMSProp's, ``T* ~ 2 x 10^4`` updates (~100 epochs). That a one-seed change in
the rate selection flips it is one more reason not to read this difference as
a consequence of the notes; it stays a record, not a verdict.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _population
from experiments._common import figure, save, t_interval, t_quantile, verdict
from fnn import analysis, data, nn, optim

SECTION = "Learning rate scheduling (AdaGrad, RMSProp, Adam) / Momentum"

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
        epochs, n_seeds, grid_take = 6, 5, (2, 3)
    else:
        x_all, y_all = data.load("fashion_mnist", "train", download=False, progress=False)
        train_set, val = (x_all[:10_000], y_all[:10_000]), (x_all[50_000:55_000], y_all[50_000:55_000])
        test = data.load("fashion_mnist", "test", download=False, progress=False)
        epochs, n_seeds, grid_take = 8, 5, (0, 1, 2, 3, 4)
    batch = 20 if quick else 50
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


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    lam, quad, rates_q, rosen, rates_r = _part_ab(quick, seed)
    mlp, setup_c = _part_c(quick, seed)
    verdicts = []

    # (a) quadratic: momentum vs GD at their best rates.
    kappa = float(lam.max() / lam.min())
    T_q = len(quad["GD"]["curve"]) - 1
    gd_final, mom_final = float(quad["GD"]["curve"][-1]), float(quad["momentum μ=0.9"]["curve"][-1])
    rho_gd = (kappa - 1) / (kappa + 1)

    def gd_cost(eta: float) -> float:
        """Exact GD cost after T steps: 1/2 sum_i lambda_i ((1 - eta lambda_i)^T alpha_i(0))^2, alpha(0) = 1."""
        with jax.enable_x64(True):
            alpha_T = np.asarray(analysis.predicted_components(lam, eta, 1.0, T_q))[-1]
        return float(0.5 * np.sum(lam * alpha_T**2))

    eta_gd = quad["GD"]["rate"]
    exact = gd_cost(eta_gd)
    verdicts.append(
        verdict(
            f"ill-conditioned quadratic (kappa = {kappa:g}): GD's cost after {T_q} steps at its best grid rate "
            f"(eta = {eta_gd:.3g}) is the theory's 1/2 sum_i lambda_i (1 - eta lambda_i)^(2T) alpha_i(0)^2",
            gd_final,
            exact,
            abs(gd_final / exact - 1) <= 1e-6,
            "relative error <= 1e-6 (float64)",
            SECTION, kind="check",
        )
    )
    fine = np.linspace(0.5, 2.0 / lam.max(), 3001)
    best_possible = min(gd_cost(float(e)) for e in fine)
    data_gd_bound = {"best_possible_gd_cost": best_possible}
    verdicts.append(
        verdict(
            f"ill-conditioned quadratic: momentum (mu = 0.9) ends far below GD after {T_q} steps (contraction "
            f"sqrt(mu) = {math.sqrt(0.9):.3f} vs {rho_gd:.3f} per step)",
            {"momentum / GD": mom_final / gd_final, "momentum / best possible GD": mom_final / best_possible},
            float((math.sqrt(0.9) / rho_gd) ** (2 * T_q)),
            mom_final < 1e-3 * best_possible,
            "momentum's final cost < 1e-3 x the best cost any GD rate reaches in as many steps "
            "(min over 3001 rates of the exact GD cost)",
            SECTION, kind="check",
        )
    )
    # (b) Rosenbrock: momentum vs GD.
    T_r = len(rosen["GD"]["curve"]) - 1
    r_gd, r_mom = float(rosen["GD"]["curve"][-1]), float(rosen["momentum μ=0.9"]["curve"][-1])
    verdicts.append(
        verdict(
            f"Rosenbrock from (-1.2, 1): momentum's 1/(1-mu) gain along the flat curved valley puts it ahead of GD "
            f"(final f after {T_r} steps, each at its best rate)",
            {"GD": r_gd, "momentum": r_mom},
            "momentum < GD",
            r_mom < r_gd,
            "momentum's final f < GD's",
            SECTION, kind="prediction",
        )
    )
    # (c) MLP at each optimizer's best rate, over seeds.
    n_up = setup_c["updates_per_epoch"]
    t0, t1 = n_up, n_up * setup_c["epochs"]
    ad_r = mlp["AdaGrad"]["effective_rate_median"][-1] / mlp["AdaGrad"]["effective_rate_median"][0]
    rm_r = mlp["RMSProp"]["effective_rate_median"][-1] / mlp["RMSProp"]["effective_rate_median"][0]
    n_s = setup_c["seeds"]
    (ad_m, ad_lo, ad_hi), (rm_m, rm_lo, rm_hi) = t_interval(ad_r), t_interval(rm_r)
    verdicts.append(verdict(
        f"AdaGrad's effective rate eta/(sqrt(G)+eps) shrinks: median over parameters after update {t1} / after {t0}",
        ad_m, "< 1", ad_hi < 1, "upper end of the 95% t-interval < 1 (G only grows: an implementation check)",
        SECTION, kind="check", interval=(ad_lo, ad_hi), n_seeds=n_s))
    verdicts.append(verdict(
        f"AdaGrad's effective rate falls more slowly than the sqrt({t0}/{t1}) = {math.sqrt(t0 / t1):.3f} of stationary "
        "gradients, because the gradients' mean square falls as training proceeds (G grows sublinearly)",
        ad_m, math.sqrt(t0 / t1), ad_lo > math.sqrt(t0 / t1), "lower end of the 95% t-interval > sqrt(t0/t1)",
        SECTION, kind="prediction", interval=(ad_lo, ad_hi), n_seeds=n_s))
    d_eff = float(rm_r.mean() - ad_r.mean())
    h_eff = t_quantile(0.975, n_s - 1) * math.sqrt(rm_r.var(ddof=1) / n_s + ad_r.var(ddof=1) / n_s)
    verdicts.append(verdict(
        "notes: RMSProp 'fixes a problem with AdaGrad where the weight updates tend to become too small': over the "
        f"same updates ({t0} to {t1}) RMSProp's effective rate eta/(sqrt(nu)+eps) keeps more of its size than "
        "AdaGrad's (nu averages recent gradients only): RMSProp's ratio minus AdaGrad's",
        {"difference": d_eff, "RMSProp ratio": rm_m, "RMSProp interval": [rm_lo, rm_hi]}, "> 0", d_eff - h_eff > 0,
        f"lower end of the 95% Welch t-interval (df = {n_s - 1}, conservative) > 0", SECTION, kind="prediction",
        interval=(d_eff - h_eff, d_eff + h_eff), n_seeds=n_s))
    # The notes' statement in its pure form (constant gradient): AdaGrad's step falls as t^(-1/2), RMSProp's not.
    cg = _constant_gradient(quick)
    T_c = cg["steps"]
    rel = max(float(np.max(np.abs(cg[n]["measured"] / cg[n]["theory"] - 1))) for n in ("AdaGrad", "RMSProp"))
    ratio_T = cg["AdaGrad"]["measured"][-1] / cg["RMSProp"]["measured"][-1]  # per coordinate
    verdicts.append(verdict(
        "notes: RMSProp 'fixes a problem with AdaGrad where the weight updates tend to become too small', in its "
        f"pure form (constant gradient g, 4 coordinates |g| = 1e-3..30, eta = 0.01, {T_c} steps): AdaGrad's step is "
        "eta|g|/(sqrt(t)|g|+eps), RMSProp's eta|g|/(sqrt(1-0.9^t)|g|+eps): largest relative error over all steps; "
        "AdaGrad/RMSProp step ratio at the last step",
        {"max relative error": rel, "step ratio at T (per coordinate)": ratio_T.tolist()},
        {"max relative error": 0.0, "step ratio at T": 1.0 / math.sqrt(T_c)},
        rel <= 1e-9, "relative error <= 1e-9 at every step and coordinate (float64)", SECTION, kind="check"))
    # The training-cost comparison at tuned rates is recorded, not predicted (module docstring, "(c)").
    a_c, r_c = mlp["AdaGrad"]["train_cost_epoch"][-1], mlp["RMSProp"]["train_cost_epoch"][-1]
    diff = float(a_c.mean() - r_c.mean())
    half = t_quantile(0.975, n_s - 1) * math.sqrt(a_c.var(ddof=1) / n_s + r_c.var(ddof=1) / n_s)
    eff_ratio = np.asarray(mlp["AdaGrad"]["effective_rate_median"][-1]) / np.asarray(
        mlp["RMSProp"]["effective_rate_median"][-1])
    er_m, er_lo, er_hi = t_interval(eff_ratio)
    finding = {
        "adagrad_minus_rmsprop_final_train_cost": diff,
        "interval_welch_df_n_minus_1": [diff - half, diff + half],
        "n_seeds": n_s,
        "adagrad_over_rmsprop_median_effective_rate_at_last_update": {"mean": er_m, "interval": [er_lo, er_hi]},
        "earliest_update_adagrad_rate_could_fall_below_rmsprops_stationary_bound": t1 * er_m**2 if er_m > 1 else t1,
        "note": "recorded, not predicted: at rates tuned for a fixed budget the notes give no sign for this "
                "difference (module docstring, part (c))",
    }

    # ---- figure -------------------------------------------------------------------------------------
    fig, axes = figure(4, 2, width=5.0, height=4.0)
    ax = axes[0, 0]
    for name, r in quad.items():
        ax.semilogy(np.maximum(r["curve"], 1e-30), label=f"{name} (η={r['rate']:.3g})")
    with jax.enable_x64(True):
        alpha_t = np.asarray(analysis.predicted_components(lam, eta_gd, 1.0, T_q))
    ax.semilogy(0.5 * (alpha_t**2) @ lam, "k:", lw=1.6, label="theory, GD: ½ Σᵢ λᵢ (1−ηλᵢ)²ᵗ αᵢ(0)²")
    ax.set(xlabel="step", ylabel="cost ½wᵀHw", title=f"(a) quadratic, d=10, κ={kappa:g}, best rate each", ylim=(1e-30, 1e2))
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    for name, r in quad.items():
        ax.loglog(rates_q, np.minimum(r["final_by_rate"], 1e12), "o-", ms=2, lw=0.8, label=name)
    ax.set(xlabel="learning rate η", ylabel=f"quadratic cost after {T_q} steps",
           title="(b) quadratic: rate grid (diverged: clipped at top)")
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    for name, r in rosen.items():
        ax.loglog(np.arange(1, len(r["curve"])), np.maximum(r["curve"][1:], 1e-30), label=f"{name} (η={r['rate']:.3g})")
    ax.set(xlabel="step", ylabel="f(x, y)", title="(c) Rosenbrock from (−1.2, 1), best rate each")
    ax.legend(fontsize=7)
    ax = axes[0, 3]
    n_sw = setup_c["sweep_seeds"]
    for name, r in mlp.items():
        v = np.asarray(r["sweep_final_val_cost"])  # (rates, sweep seeds)
        ok = np.all(np.isfinite(v), axis=1)
        st = np.array([t_interval(row) if f else (np.nan,) * 3 for row, f in zip(v, ok)])
        (line,) = ax.semilogx(r["grid"], st[:, 0], "o-", ms=3, label=name)
        ax.fill_between(r["grid"], st[:, 1], st[:, 2], color=line.get_color(), alpha=0.2, lw=0)
        ax.plot(r["rate"], st[r["grid"].index(r["rate"]), 0], "*", color=line.get_color(), mec="k", ms=11)
    ax.set(xlabel="learning rate η", ylabel="validation cost, last epoch (nats)",
           title=f"(d) MLP rate sweep (mean, 95% t-band, {n_sw} seeds; ★ best)", yscale="log")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    ep = np.arange(1, setup_c["epochs"] + 1)
    for ax, key, ylabel, title in ((axes[1, 0], "train_cost_epoch", "training cost, epoch mean (nats per example)",
                                    "(e) MLP 784-100-10, best rate each"),
                                   (axes[1, 1], "test_accuracy_epoch", "test accuracy (fraction)",
                                    "(f) test accuracy, best rate each")):
        for name, r in mlp.items():
            st = np.array([t_interval(row) for row in r[key]])
            (line,) = ax.plot(ep, st[:, 0], "o-", ms=3, label=r["label"])
            ax.fill_between(ep, st[:, 1], st[:, 2], color=line.get_color(), alpha=0.25, lw=0)
        ax.set(xlabel="epoch", ylabel=ylabel, title=f"{title} (mean, 95% t-band, {n_s} seeds)")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    axes[1, 0].set_yscale("log")
    ax = axes[1, 2]
    steps = ep * n_up
    for name in ("AdaGrad", "RMSProp"):
        st = np.array([t_interval(row) for row in mlp[name]["effective_rate_median"]])
        (line,) = ax.loglog(steps, st[:, 0], "o-", ms=3, label=f"{mlp[name]['label']}: median η/(√acc+ε)")
        ax.fill_between(steps, st[:, 1], st[:, 2], color=line.get_color(), alpha=0.25, lw=0)
    e0 = np.mean(mlp["AdaGrad"]["effective_rate_median"][0])
    ax.loglog(steps, e0 * np.sqrt(steps[0] / steps), "k:", lw=1.2, label="theory, stationary gradients: ∝ t^(−1/2)")
    import matplotlib.ticker as mticker

    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set(xlabel="update t", ylabel="effective rate per parameter (median)",
           title=f"(g) MLP effective rates: AdaGrad's shrinks, RMSProp's does not (mean, 95% t-band, {n_s} seeds)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    ax = axes[1, 3]
    for i, (name, r) in enumerate(mlp.items()):
        acc = np.asarray(r["test_accuracy_epoch"][-1])
        m, lo, hi = t_interval(acc)
        ax.plot(acc, np.full(acc.size, i), "o", ms=4, alpha=0.6)
        ax.errorbar(m, i, xerr=[[m - lo], [hi - m]], fmt="k|", ms=12, capsize=4)
    ax.set_yticks(range(len(mlp)), [f"{n.split(' ')[0]}\nη = {r['rate']:g}" for n, r in mlp.items()], fontsize=7)
    ax.set(xlabel="final test accuracy (fraction)", title="(h) per seed (dots), mean and 95% t-interval (bars)")
    ax.title.set_fontsize(9)
    fig.tight_layout()

    # Curves at ~200 log-spaced steps keep the record small.
    def thin(r: dict, n: int) -> dict:
        idx = np.unique(np.concatenate([[0], np.geomspace(1, n, 200).astype(int)]))
        return {"rate": r["rate"], "step": idx, "cost": r["curve"][idx], "final_by_rate": r["final_by_rate"]}

    data_out = {
        "quadratic": {"eigenvalues": lam, "rates": rates_q, **data_gd_bound, **{k: thin(v, T_q) for k, v in quad.items()}},
        "rosenbrock": {"rates": rates_r, **{k: thin(v, T_r) for k, v in rosen.items()}},
        "mlp": {"setup": setup_c, **mlp, "finding_adagrad_vs_rmsprop": finding},
        "constant_gradient": {"steps": T_c, "g": cg["g"], "rate": 0.01,
                              **{n: {"step_at": {int(t): cg[n]["measured"][t - 1].tolist() for t in (1, 10, 100, T_c)}}
                                 for n in ("AdaGrad", "RMSProp")}},
    }
    return save("optimizers", seed=seed, quick=quick, verdicts=verdicts, data=data_out, fig=fig, out_dir=out_dir,
                title="GD, momentum, AdaGrad, RMSProp, Adam (notes, Momentum and Learning rate scheduling)")
