"""Learning-rate schedules: the notes' linear, power-law and exponential decay against a constant rate.

Notes, "Learning rate scheduling": "best results are obtained using a larger
value for eta at the start of training and then reducing the learning rate
over time", ``w(tau) = w(tau-1) - eta(tau-1) grad E``, with

    linear       eta(tau) = (1 - tau/K) eta_0 + (tau/K) eta_K   (tau <= K), eta_K after
    power law    eta(tau) = eta_0 (1 + tau/s)^c                  (c = -0.5)
    exponential  eta(tau) = eta_0 c^(tau/s)                      (c < 1)

On noisy linear regression ``y = x.w* + sigma eps`` (a one-layer linear
``fnn.nn.MLP``, quadratic cost, mini-batches of ``m = 4``):

(a) ``fnn.schedules`` against the formulas (a check);
(b) the noise floor of constant-rate SGD at four rates, sampling with
    replacement (exact second-moment theory, ``experiments._sgd_floor``) and
    reshuffling each epoch as fnn trains (zero-sum additive noise per epoch plus
    the multiplicative noise's within-epoch correlations, a pair expansion valid
    where ``eps = 2/(eta lambda_min N) <= 0.25``), with float64 simulations of
    the exact recursions as references (checks); the notes' with-replacement
    family ``~ eta sigma^2 tr(H)/(4m)`` against reshuffled training at small ``eta``;
(c) each decaying schedule (``eta_0 -> eta_0/100`` or ``/10`` over the ``T``
    updates) against a constant ``eta_0`` (final cost: at most ``eta(T)/eta_0``
    of it, the floor falling at least in proportion to the rate) and a constant
    ``eta_K`` (cost after 10% of training: starting large relaxes faster).

Every claim, its band and its seeds are registered in
``experiments/claims/schedules.py``; each is decided by its registered rule on
a 95% interval (t over seeds or runs; geometric means on logs).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _sgd_floor
from experiments._common import decide, figure, save, seeds, t_interval
from experiments.claims.schedules import ETAS, RESHUFFLED_THEORY_ETAS
from fnn import backprop, data, nn, optim, schedules



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


def _floor_runs(x, y, keys, etas, epochs: int, batch: int, replace: bool):
    """Constant-rate SGD on the linear model for every (rate, seed): excess-cost-ready full-set cost after
    each epoch, shape (len(etas), R, epochs). ``replace``: each step draws its m examples uniformly with
    replacement; else the epoch is a fresh random partition (``data.batch_indices``, as ``fnn.train``)."""
    n, nb = x.shape[0], x.shape[0] // batch
    net = nn.MLP((x.shape[1], 1), hidden="linear", output="linear")
    opt = optim.sgd(1.0)

    def one(eta, key):
        params = net.init(jax.random.fold_in(key, 0))
        state = optim.set_hyperparams(opt.init(params), rate=eta)

        def epoch(carry, e):
            k = jax.random.fold_in(key, e + 1)
            idx = (jax.random.randint(k, (nb, batch), 0, n) if replace else data.batch_indices(n, batch, key=k))

            def step(c, i):
                p, s = c
                g = backprop.grad(net, "quadratic", p, x[i], y[i])
                u, s = opt.update(g, s, p)
                return (optim.apply_updates(p, u), s), None

            carry, _ = jax.lax.scan(step, carry, idx)
            return carry, backprop.loss(net, "quadratic", carry[0], x, y)

        _, cs = jax.lax.scan(epoch, (params, state), jnp.arange(epochs))
        return cs

    f = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))
    return np.asarray(f(jnp.asarray(etas, jnp.float32), keys), np.float64)


def _measure_floors(X, Y, w_ls, batch: int, keys, epochs: int, quick: bool) -> dict:
    """Measured floors (mean epoch-end excess cost over epochs 21..``epochs``, one value per seed) with and
    without replacement at :data:`ETAS`, ``_sgd_floor``'s theories, and its float64 reference simulations of
    reshuffled SGD (additive noise only, and exact)."""
    n = X.shape[0]
    xb = np.hstack([X, np.ones((n, 1))])
    r = Y - xb @ w_ls
    c_min = 0.5 * float(np.mean(r**2))
    etas = list(ETAS)
    x, y = jnp.asarray(X, jnp.float32), jnp.asarray(Y[:, None], jnp.float32)
    out = {"etas": etas}
    for mode, replace in (("with_replacement", True), ("reshuffled", False)):
        c = _floor_runs(x, y, keys, etas, epochs, batch, replace) - c_min
        out[f"{mode}_measured"] = c[:, :, 20:].mean(axis=2)  # (etas, R): epochs 21..80, after relaxing
        out[f"{mode}_curves"] = c
    out["with_replacement_theory"] = [_sgd_floor.floor_with_replacement(xb, r, batch, e) for e in etas]
    out["reshuffled_theory"] = [_sgd_floor.floor_reshuffled(xb, r, batch, e) for e in etas]
    out["reshuffled_additive_theory"] = [_sgd_floor.floor_reshuffled(xb, r, batch, e, multiplicative=False)
                                         for e in etas]
    out["pair_expansion_eps"] = [_sgd_floor.pair_expansion_parameter(xb, batch, e) for e in etas]
    out["notes_formula"] = [_sgd_floor.floor_notes(xb, r, batch, e) for e in etas]
    # float64 references (no fnn): runs x (epochs - burn) epoch ends; e starts at 0, burn >> 1/(2 eta lambda N).
    runs = seeds(f"schedules/additive-closed-form-eta{etas[0]}", quick)
    s_ep, burn = (20, 8) if quick else (30, 10)
    ref = {mult: [_sgd_floor.simulate_reshuffled(xb, r, batch, e, runs, s_ep, burn, seed=10 + i, multiplicative=mult)
                  for i, e in enumerate(etas)] for mult in (False, True)}
    out["reshuffled_reference"] = [t_interval(v) for v in ref[True]]
    out["reshuffled_additive_reference"] = [t_interval(v) for v in ref[False]]
    out["reference_setup"] = {"runs": runs, "epochs": s_ep, "burn": burn, "dtype": "float64"}
    return out


def _ratio(values, by: float):
    """Mean of ``values`` / ``by`` and its 95% t-interval."""
    m, lo, hi = t_interval(np.asarray(values, np.float64))
    return m / by, (lo / by, hi / by)


def _decide_floors(fl: dict, quick: bool) -> list[dict]:
    vs = []
    R = fl["with_replacement_measured"].shape[1]
    for i, eta in enumerate(fl["etas"]):
        p = fl["with_replacement_theory"][i]
        m, iv = _ratio(fl["with_replacement_measured"][i], p)
        vs.append(decide(f"schedules/floor-with-replacement-eta{eta}", m, quick=quick, interval=iv, n=R,
                         detail={"measured floor": m * p, "theory": p, "notes' formula": fl["notes_formula"][i]}))
    for i, eta in enumerate(fl["etas"]):
        rm, rlo, rhi = fl["reshuffled_additive_reference"][i]
        p = fl["reshuffled_additive_theory"][i]
        vs.append(decide(f"schedules/additive-closed-form-eta{eta}", rm / p, quick=quick, interval=(rlo / p, rhi / p),
                         n=fl["reference_setup"]["runs"], detail={"simulation": rm, "closed form": p}))
    for i, eta in enumerate(fl["etas"]):
        m, lo, hi = t_interval(fl["reshuffled_measured"][i])
        rm, rlo, rhi = fl["reshuffled_reference"][i]
        rel = float(np.hypot((hi - lo) / (2 * m), (rhi - rlo) / (2 * rm)))
        q = m / rm
        vs.append(decide(f"schedules/fnn-matches-reference-eta{eta}", q, quick=quick,
                         interval=(q * (1 - rel), q * (1 + rel)), n=R,
                         detail={"fnn": [m, lo, hi], "float64 reference": [rm, rlo, rhi]}))
    for eta in RESHUFFLED_THEORY_ETAS:
        i = fl["etas"].index(eta)
        p = fl["reshuffled_theory"][i]
        m, iv = _ratio(fl["reshuffled_measured"][i], p)
        vs.append(decide(f"schedules/floor-reshuffled-eta{eta}", m, quick=quick, interval=iv, n=R,
                         detail={"measured floor": m * p, "theory": p, "eps": fl["pair_expansion_eps"][i],
                                 "float64 reference": fl["reshuffled_reference"][i]}))
    m, lo, hi = t_interval(fl["reshuffled_measured"][0])
    wr = fl["with_replacement_theory"][0]
    vs.append(decide("schedules/with-replacement-not-reshuffled", wr / m, quick=quick, interval=(wr / hi, wr / lo),
                     n=R, detail={"with-replacement theory": wr, "reshuffled measured": [m, lo, hi],
                                  "reshuffled additive closed form": fl["reshuffled_additive_theory"][0]}))
    return vs


ETA0, ETAK = 0.05, 0.0005
SETUP = {"n": 1000, "d": 10, "batch": 4, "epochs": 40, "sigma": 0.5, "eta0": ETA0, "etaK": ETAK, "floor_epochs": 80}


def _schedules(T: int) -> dict:
    return {
        f"constant η₀ = {ETA0}": schedules.constant(ETA0),
        f"linear {ETA0} → {ETAK} over K = T": schedules.linear(ETA0, ETAK, T),
        "power law c = −0.5, s = T/9999": schedules.power_law(ETA0, T / 9999, -0.5),
        "power law c = −0.5, s = T/99 (to η₀/10)": schedules.power_law(ETA0, T / 99, -0.5),
        "exponential c = 0.95, s = T/89.8": schedules.exponential_decay(ETA0, T / 89.78, 0.95),
        f"constant η_K = {ETAK}": schedules.constant(ETAK),
    }


# the registered claim of each decaying schedule
DECAY_CLAIM = {f"linear {ETA0} → {ETAK} over K = T": "schedules/decay-beats-constant-linear",
               "power law c = −0.5, s = T/9999": "schedules/decay-beats-constant-power-slow",
               "power law c = −0.5, s = T/99 (to η₀/10)": "schedules/decay-beats-constant-power-fast",
               "exponential c = 0.95, s = T/89.8": "schedules/decay-beats-constant-exponential"}


def _formula_error(scheds: dict, T: int) -> float:
    """Largest relative error of the three decaying schedules against the notes' formulas."""
    taus = np.array([0, T // 4, T // 2, T, 2 * T])
    formulas = {
        f"linear {ETA0} → {ETAK} over K = T": lambda t: np.where(t <= T, (1 - t / T) * ETA0 + (t / T) * ETAK, ETAK),
        "power law c = −0.5, s = T/9999": lambda t: ETA0 * (1 + t / (T / 9999)) ** -0.5,
        "exponential c = 0.95, s = T/89.8": lambda t: ETA0 * 0.95 ** (t / (T / 89.78)),
    }
    return max(float(np.max(np.abs(np.asarray([float(scheds[k](int(t))) for t in taus]) - f(taus)) / f(taus)))
               for k, f in formulas.items())


def measure(quick: bool, seed: int) -> dict:
    """Every number the claims are decided on: the regression problem, the schedules' curves, the floors."""
    key = jax.random.key(seed)
    d, n, batch, sigma, epochs = SETUP["d"], SETUP["n"], SETUP["batch"], SETUP["sigma"], SETUP["epochs"]
    R = seeds("schedules/decay-beats-constant-linear", quick)
    R_floor = seeds("schedules/floor-reshuffled-eta0.05", quick)
    T = epochs * (n // batch)  # total updates (the same in quick mode: the schedules depend on it)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w_true = rng.normal(size=d)
    Y = X @ w_true + sigma * rng.normal(size=n)
    x, y = jnp.asarray(X, jnp.float32), jnp.asarray(Y[:, None], jnp.float32)
    Xb = np.hstack([X, np.ones((n, 1))])  # the model is a = W x + b: its own least-squares minimum
    w_ls, *_ = np.linalg.lstsq(Xb, Y, rcond=None)
    c_min = 0.5 * float(np.mean((Xb @ w_ls - Y) ** 2))
    lam_min = float(np.linalg.eigvalsh(Xb.T @ Xb / n).min())
    net = nn.MLP((d, 1), hidden="linear", output="linear")
    scheds = _schedules(T)
    keys = jax.random.split(jax.random.fold_in(key, 1), R)
    curves = {name: _train(net, s, x, y, keys, epochs, batch, x, y) - c_min for name, s in scheds.items()}
    floors = _measure_floors(X, Y, w_ls, batch, jax.random.split(jax.random.fold_in(key, 2), R_floor),
                             SETUP["floor_epochs"], quick)
    budget = {k: float(np.sum(np.asarray(jax.vmap(s)(jnp.arange(T))))) * lam_min for k, s in scheds.items()}
    floor_eta0 = float(floors["reshuffled_theory"][floors["etas"].index(ETA0)])
    r_ls = Y - Xb @ w_ls
    return {
        "setup": {**SETUP, "T": T, "seeds": R, "floor_seeds": R_floor},
        "formula_error": _formula_error(scheds, T), "excess_cost": curves, "c_min": c_min, "lambda_min": lam_min,
        "floors": floors, "noise_floor_reshuffled_theory_eta0": floor_eta0,
        "noise_floor_additive_etaK": _sgd_floor.floor_reshuffled(Xb, r_ls, batch, ETAK, multiplicative=False),
        "relaxation_budget": budget,
        "e_folds_needed": float(np.log(float(np.mean(curves[f"constant η₀ = {ETA0}"][:, 0])) / floor_eta0)),
        "theory_lines": _theory_lines(Xb, r_ls, batch, floors["etas"], quick),
    }


def _theory_lines(xb, r, batch: int, etas, quick: bool) -> dict:
    """The floors' theories on a fine grid of rates (panel (c))."""
    fine = np.geomspace(min(etas) / 1.5, max(etas) * 1.5, 8 if quick else 20)
    return {"eta": fine,
            "with_replacement": [_sgd_floor.floor_with_replacement(xb, r, batch, e) for e in fine],
            "reshuffled": [_sgd_floor.floor_reshuffled(xb, r, batch, e) for e in fine],
            "valid": [_sgd_floor.pair_expansion_parameter(xb, batch, e) <= 0.25 for e in fine],
            "additive": [_sgd_floor.floor_reshuffled(xb, r, batch, e, multiplicative=False) for e in fine],
            "notes": [_sgd_floor.floor_notes(xb, r, batch, e) for e in fine]}


def decide_all(res: dict, quick: bool) -> tuple[list[dict], dict]:
    """Every registered claim decided on ``measure``'s numbers; also the ratios shown in the record."""
    R, epochs = res["setup"]["seeds"], res["setup"]["epochs"]
    curves = res["excess_cost"]
    vs = [decide("schedules/formulas", res["formula_error"], quick=quick)]
    vs += _decide_floors(res["floors"], quick)
    const = curves[f"constant η₀ = {ETA0}"][:, -1]
    ratios = {}
    for name, cid in DECAY_CLAIM.items():
        m_log, lo_log, hi_log = t_interval(np.log(curves[name][:, -1] / const))
        ratios[name] = float(np.exp(m_log))
        vs.append(decide(cid, ratios[name], quick=quick, interval=(float(np.exp(lo_log)), float(np.exp(hi_log))),
                         n=R, detail={"relaxation budget (e-folds)": res["relaxation_budget"][name],
                                      "e-folds needed": res["e_folds_needed"]}))
    e10 = max(1, epochs // 10)
    small = curves[f"constant η_K = {ETAK}"][:, e10]
    early_iv = {k: t_interval(np.log(curves[k][:, e10] / small)) for k in DECAY_CLAIM}
    early = {k: float(np.exp(v[0])) for k, v in early_iv.items()}
    worst = max(early_iv, key=lambda k: early_iv[k][0])
    vs.append(decide("schedules/start-large-pays", early[worst], quick=quick, n=R,
                     interval=(float(np.exp(early_iv[worst][1])), float(np.exp(max(v[2] for v in early_iv.values())))),
                     detail={"by schedule": early, "epoch": e10}))
    return vs, {"final_ratio_to_constant_eta0": ratios, "early_ratio_to_constant_etaK": early}


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    res = measure(quick, seed)
    verdicts, ratios = decide_all(res, quick)
    fig = _figure(res)
    data_out = {k: v for k, v in res.items() if k != "theory_lines"}
    return save("schedules", seed=seed, quick=quick, verdicts=verdicts, data={**data_out, **ratios}, fig=fig,
                out_dir=out_dir, title="Learning-rate schedules vs a constant rate (notes, Learning rate scheduling)")


def _figure(res: dict):
    """(a) the schedules, (b) the excess cost under each, (c) the noise floor vs the rate."""
    import matplotlib.ticker as mticker

    st, curves, floors = res["setup"], res["excess_cost"], res["floors"]
    T, epochs = st["T"], st["epochs"]
    scheds = _schedules(T)
    color = dict(zip(scheds, ("k", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")))
    fig, axes = figure(3, 1, width=5.6, height=5.4)
    ax = axes[0, 0]
    t = np.unique(np.geomspace(1, 2 * T, 300).astype(int))
    for name, s in scheds.items():
        ax.loglog(t, [float(s(int(v))) for v in t], color=color[name], label=name)
    ax.axvline(T, color="gray", ls=":", lw=0.8, label="end of training T")
    ax.set(xlabel="update τ", ylabel="learning rate η(τ)", title="(a) the notes' schedules (fnn.schedules)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
    ax = axes[0, 1]
    ep = np.arange(epochs + 1)
    for name, c in curves.items():
        g, lo, hi = (np.exp(v) for v in np.array([t_interval(col) for col in np.log(c).T]).T)
        ax.semilogy(ep, g, color=color[name], label=name)
        ax.fill_between(ep, lo, hi, color=color[name], alpha=0.15, lw=0)
    ax.axhline(res["noise_floor_reshuffled_theory_eta0"], color="k", ls=":", lw=1.2,
               label="theory: stationary floor of constant η₀")
    ax.axhline(res["noise_floor_additive_etaK"], color="tab:purple", ls=":", lw=1.2,
               label="theory: stationary floor of constant η_K")
    ax.set(xlabel="epoch", ylabel="excess cost C(w) − C(w_min)",
           title=f"(b) SGD m = {st['batch']}, d = {st['d']}, σ = {st['sigma']}:\n"
                 f"geometric mean, 95% t-band, {st['seeds']} seeds")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
    ax = axes[0, 2]
    th, etas = res["theory_lines"], np.asarray(floors["etas"])
    fine, ok = np.asarray(th["eta"]), np.asarray(th["valid"])
    res_th = np.asarray(th["reshuffled"])
    ax.loglog(fine, th["with_replacement"], "-", color="tab:red", label="theory, with replacement (exact)")
    ax.loglog(fine[ok], res_th[ok], "-", color="tab:blue", label="theory, reshuffled (pair expansion, ε ≤ 0.25)")
    ext = ~ok | np.roll(ok, -1)
    ax.loglog(fine[ext], res_th[ext], "--", color="tab:blue", lw=0.9, label="same, ε > 0.25 (outside its validity)")
    ax.loglog(fine, th["additive"], ":", color="tab:cyan", lw=1.2, label="reshuffled, additive noise only (closed form)")
    ax.loglog(fine, th["notes"], "--", color="0.5", lw=0.9, label="notes: ≈ ησ²tr(H)/(4m)")
    ref = np.array(floors["reshuffled_reference"])
    ax.errorbar(etas, ref[:, 0], yerr=[ref[:, 0] - ref[:, 1], ref[:, 2] - ref[:, 0]], fmt="x", color="k", ms=5,
                capsize=2, label="float64 simulation, reshuffled (no fnn)")
    for mode, c, mk in (("with_replacement", "tab:red", "o"), ("reshuffled", "tab:blue", "s")):
        m = np.array([t_interval(row) for row in floors[f"{mode}_measured"]])
        ax.errorbar(etas, m[:, 0], yerr=[m[:, 0] - m[:, 1], m[:, 2] - m[:, 0]], fmt=mk, color=c, ms=5,
                    mfc="none", capsize=3, label=f"fnn, {mode.replace('_', ' ')} (95% t-interval)")
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set(xlabel="learning rate η", ylabel="stationary excess cost (epoch ends)",
           title=f"(c) noise floor vs η ({st['floor_seeds']} seeds):\nwith replacement vs reshuffled")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=1)
    fig.tight_layout()
    return fig
