"""Learning-rate schedules: the notes' linear, power-law and exponential decay against a constant rate.

Notes, "Learning rate scheduling": "best results are obtained using a larger
value for eta at the start of training and then reducing the learning rate
over time", ``w(tau) = w(tau-1) - eta(tau-1) grad E``, with

    linear       eta(tau) = (1 - tau/K) eta_0 + (tau/K) eta_K   (tau <= K), eta_K after
    power law    eta(tau) = eta_0 (1 + tau/s)^c                  (c = -0.5)
    exponential  eta(tau) = eta_0 c^(tau/s)                      (c < 1)

(a) the three schedules of ``fnn.schedules`` against the formulas;
(b) mini-batch SGD (``fnn.optim.sgd`` with each schedule; every schedule goes
    from ``eta_0`` to ``eta_K = eta_0/100`` over the ``T`` updates) on noisy linear
    regression ``y = x.w* + sigma eps`` (a one-layer linear ``fnn.nn.MLP``),
    ``R`` seeds (vmapped), against a constant ``eta_0`` and a constant ``eta_K``.

Why decaying helps, quantitatively: with a constant rate, SGD with mini-batches
of ``m`` does not converge but fluctuates around the minimum; near it the
mini-batch gradient noise has covariance ``~ sigma^2 H / m``, and the stationary
excess cost of the iterates is (per eigenvalue of ``H``, exactly for this linear
model when the noise term dominates)

    E[C(w)] - C(w_min) = sum_i eta sigma^2 lambda_i / (2 m (2 - eta lambda_i))  ~  eta sigma^2 tr(H) / (4 m),

a floor proportional to ``eta``. Decaying the rate lowers the floor; starting
large makes the early progress (the relaxation time is ``1/(eta lambda)``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import figure, save, verdict
from fnn import backprop, data, nn, optim, schedules

SECTION = "Learning rate scheduling"


def _train(net, sched, x, y, keys, epochs: int, batch: int, x_eval, y_eval):
    """SGD with ``sched`` for each key (vmapped); full-set cost after each epoch, shape (R, epochs + 1)."""
    opt = optim.sgd(sched)

    def one(key):
        params = net.init(jax.random.fold_in(key, 0))

        def epoch(carry, e):
            p, s = carry
            xb, yb = data.batches(x, y, batch, key=jax.random.fold_in(key, e + 1))

            def step(c, b):
                p, s = c
                g = backprop.grad(net, "quadratic", p, *b)
                u, s = opt.update(g, s, p)
                return (optim.apply_updates(p, u), s), None

            (p, s), _ = jax.lax.scan(step, (p, s), (xb, yb))
            return (p, s), backprop.loss(net, "quadratic", p, x_eval, y_eval)

        c0 = backprop.loss(net, "quadratic", params, x_eval, y_eval)
        _, cs = jax.lax.scan(epoch, (params, opt.init(params)), jnp.arange(epochs))
        return jnp.concatenate([c0[None], cs])

    return np.asarray(jax.jit(jax.vmap(one))(keys), np.float64)


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    key = jax.random.key(seed)
    d, n, batch, sigma = 10, 1000, 4, 0.5
    epochs, R = (40, 2) if quick else (40, 8)  # same horizon T: the schedules depend on it
    T = epochs * (n // batch)  # total updates
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w_true = rng.normal(size=d)
    Y = X @ w_true + sigma * rng.normal(size=n)
    x, y = jnp.asarray(X, jnp.float32), jnp.asarray(Y[:, None], jnp.float32)
    # The training set's own minimum (least squares, with a bias: the model is a = W x + b).
    Xb = np.hstack([X, np.ones((n, 1))])
    w_ls, *_ = np.linalg.lstsq(Xb, Y, rcond=None)
    c_min = 0.5 * float(np.mean((Xb @ w_ls - Y) ** 2))
    H = Xb.T @ Xb / n  # Hessian of the mean cost 1/2 (y - a)^2 in (W, b)
    lam_H = np.linalg.eigvalsh(H)
    sigma2_res = 2 * c_min  # residual variance at the minimum
    x_eval, y_eval = x, y
    net = nn.MLP((d, 1), hidden="linear", output="linear")
    eta0, etaK = 0.05, 0.0005
    scheds = {
        f"constant η₀ = {eta0}": schedules.constant(eta0),
        f"linear {eta0} → {etaK} over K = T": schedules.linear(eta0, etaK, T),
        "power law c = −0.5, s = T/9999": schedules.power_law(eta0, T / 9999, -0.5),
        "power law c = −0.5, s = T/99 (to η₀/10)": schedules.power_law(eta0, T / 99, -0.5),
        "exponential c = 0.95, s = T/89.8": schedules.exponential_decay(eta0, T / 89.78, 0.95),
        f"constant η_K = {etaK}": schedules.constant(etaK),
    }
    keys = jax.random.split(jax.random.fold_in(key, 1), R)
    curves = {name: _train(net, s, x, y, keys, epochs, batch, x_eval, y_eval) - c_min for name, s in scheds.items()}

    verdicts = []
    # (a) the schedules equal the notes' formulas.
    taus = np.array([0, T // 4, T // 2, T, 2 * T])
    formulas = {
        "linear": lambda t: np.where(t <= T, (1 - t / T) * eta0 + (t / T) * etaK, etaK),
        "power": lambda t: eta0 * (1 + t / (T / 9999)) ** -0.5,
        "exponential": lambda t: eta0 * 0.95 ** (t / (T / 89.78)),
    }
    got = {
        "linear": scheds[f"linear {eta0} → {etaK} over K = T"],
        "power": scheds["power law c = −0.5, s = T/9999"],
        "exponential": scheds["exponential c = 0.95, s = T/89.8"],
    }
    form_err = max(
        float(np.max(np.abs(np.asarray([float(got[k](int(t))) for t in taus]) - formulas[k](taus)) / formulas[k](taus)))
        for k in formulas
    )
    verdicts.append(
        verdict(
            "fnn.schedules equal the notes' linear, power-law and exponential formulas (tau = 0, T/4, T/2, T, 2T)",
            form_err,
            0.0,
            form_err <= 1e-5,
            "max relative error <= 1e-5 (float32)",
            SECTION,
        )
    )
    # (b) the constant rate's noise floor: time average over the second half of training.
    const = curves[f"constant η₀ = {eta0}"]
    floor_meas = float(np.mean(const[:, epochs // 2 + 1 :]))
    floor_pred = float(np.sum(eta0 * sigma2_res * lam_H / (2 * batch * (2 - eta0 * lam_H))))
    verdicts.append(
        verdict(
            f"with a constant rate SGD stalls at a noise floor eta sigma^2 tr(H)/(4m) (excess cost, eta = {eta0}, m = {batch}, "
            "averaged over the second half of training and the seeds)",
            floor_meas,
            floor_pred,
            abs(floor_meas / floor_pred - 1) <= 0.15,
            "relative error <= 15% (the formula neglects the x x^T (w - w*) part of the gradient noise and "
            "sampling without replacement)",
            SECTION,
        )
    )
    # (c) final cost: each decaying schedule against the constant eta_0, in every seed. The
    # "relaxation budget" sum_tau eta(tau) lambda_min says how many e-folds the slowest direction
    # can shrink: a schedule that decays too early cannot finish the descent.
    c_eta0 = f"constant η₀ = {eta0}"
    final = {name: c[:, -1] for name, c in curves.items()}
    decaying = [k for k in scheds if not k.startswith("constant")]
    taus_all = np.arange(T)
    budget = {k: float(np.sum(np.asarray(jax.vmap(scheds[k])(jnp.asarray(taus_all))))) * float(lam_H.min()) for k in scheds}
    need = float(np.log(float(np.mean(curves[c_eta0][:, 0])) / floor_pred))
    ratios = {}
    for k in decaying:
        r = final[k] / final[c_eta0]
        ratios[k] = float(np.exp(np.mean(np.log(r))))
        verdicts.append(
            verdict(
                f"decaying the rate ends lower than keeping eta_0 ({k}; relaxation budget sum eta lambda_min = "
                f"{budget[k]:.1f} e-folds, {need:.1f} needed to reach eta_0's floor): final excess cost / constant eta_0's, "
                f"geometric mean over {R} seeds",
                ratios[k],
                "< 1 in every seed",
                bool(np.all(r < 1)),
                f"below constant eta_0's final cost in all {R} seeds",
                SECTION,
            )
        )
    # Start large: at 10% of training the schedules (which start at eta_0) are ahead of the small constant rate.
    e10 = max(1, epochs // 10)
    small = curves[f"constant η_K = {etaK}"]
    early = {k: float(np.exp(np.mean(np.log(curves[k][:, e10] / small[:, e10])))) for k in decaying}
    early_wins = {k: int(np.sum(curves[k][:, e10] < small[:, e10])) for k in decaying}
    verdicts.append(
        verdict(
            f"starting large pays: excess cost after {e10} of {epochs} epochs, schedule / constant eta_K = {etaK} "
            "(geometric mean over seeds)",
            early,
            "< 1 for every schedule, in every seed",
            all(w == R for w in early_wins.values()),
            f"schedule's cost below constant eta_K's in all {R} seeds",
            SECTION,
        )
    )

    # ---- figure ------------------------------------------------------------------------------------
    fig, axes = figure(2, 1, width=6.0, height=4.4)
    ax = axes[0, 0]
    t = np.unique(np.geomspace(1, 2 * T, 300).astype(int))
    for name, s in scheds.items():
        ax.loglog(t, [float(s(int(v))) for v in t], label=name)
    ax.axvline(T, color="gray", ls=":", lw=0.8, label="end of training T")
    ax.set(xlabel="update τ", ylabel="learning rate η(τ)", title="(a) the notes' schedules (fnn.schedules)")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    ep = np.arange(epochs + 1)
    for name, c in curves.items():
        g = np.exp(np.mean(np.log(c), axis=0))
        (line,) = ax.semilogy(ep, g, label=name)
        ax.fill_between(ep, c.min(0), c.max(0), color=line.get_color(), alpha=0.12)
    ax.axhline(floor_pred, color="k", ls=":", lw=1, label=f"noise floor ησ²tr(H)/(4m) at η₀")
    ax.axhline(floor_pred * etaK / eta0, color="gray", ls=":", lw=1, label="noise floor at η_K")
    ax.set(xlabel="epoch", ylabel="excess cost C(w) − C(w_min) (training set)",
           title=f"(b) SGD, batch {batch}, linear regression d={d}, σ={sigma} ({R} seeds, band min–max)")
    ax.title.set_fontsize(10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.19), ncol=2)
    fig.tight_layout()

    data_out = {
        "setup": {"n": n, "d": d, "batch": batch, "epochs": epochs, "T": T, "seeds": R, "eta0": eta0, "etaK": etaK, "sigma": sigma},
        "excess_cost": curves, "c_min": c_min, "noise_floor_measured": floor_meas, "noise_floor_predicted": floor_pred,
        "final_ratio_to_constant_eta0": ratios, "relaxation_budget": budget, "e_folds_needed": need,
        "early_ratio_to_constant_etaK": early,
    }
    return save("schedules", seed=seed, quick=quick, verdicts=verdicts, data=data_out, fig=fig, out_dir=out_dir,
                title="Learning-rate schedules vs a constant rate (notes, Learning rate scheduling)")
