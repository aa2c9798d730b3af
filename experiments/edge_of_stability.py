"""Full-batch GD on a real network runs at the edge of stability (Cohen, Kaur, Li, Kolter, Talwalkar, ICLR 2021).

What it tests: the notes ("Convergence") say GD on the quadratic model
converges iff ``eta < 2/lambda_max``. Cohen et al. measured ``lambda_max``
(the sharpness) along full-batch GD and found that it rises to ``2/eta``,
then hovers right at, or just above, it while the cost keeps decreasing over
long horizons, though not monotonically; with cross-entropy the sharpness
drops once the loss is small.

On what: a fixed class-balanced subset of Fashion-MNIST (MNIST if absent;
1,000 examples), an MLP 784-64-64-10 with tanh or ReLU hidden units and the
quadratic cost (linear output) or the log-likelihood (softmax output), four
configurations (``NETS``), xavier initialization. Rates ``eta = 2/(c
lambda_0)``, ``lambda_0`` the mean sharpness at initialization, two factors
``c`` per configuration; every (seed, rate) pair in one vmapped, compiled
``lax.scan``, ``lambda_max`` every 20 steps by Lanczos (10 HVPs warm-started
from the previous top eigenvector). The factors, horizons and seed counts are
registered with the claims. Quick mode: tanh + quadratic only, 500 examples,
400 steps, 5 seeds; the other configurations' claims are skipped.

How it decides: by the rules registered in
``experiments/claims/edge_of_stability.py``, on per-seed values (each seed's
mean over the rates that reached ``0.95 * 2/eta``) with 95% t-intervals:
reaching ``2/eta`` in every run; the level after reaching inside ``[0.95,
1.10] x 2/eta``; the level's ratio between the two rates inside ``(1.14,
1.42)`` around ``eta_large / eta_small = 1.28`` (the record says whether the
interval excludes 1.28); the cost falling by at least 10%; more cost rises
after reaching than in the stable phase; between half and 95% of the
measurements above ``2/eta``; for tanh + log-likelihood, the late sharpness
below ``2/eta``. Revisions of these claims, with their outcomes, are in
``paper_figures/ledger/edge_of_stability.json``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments import _registry
from experiments._common import decide, figure, save, seeds, t_interval
from experiments.claims.edge_of_stability import CONFIGS as _REGISTERED, END_CLAIM, QUICK_CONFIG, REACH
from fnn import backprop, curvature, data
from fnn.nn import MLP

# slug -> (hidden, output, cost); the rate factors, steps and seed counts are registered with the claims
NETS = {
    "tanh-quadratic": ("tanh", "linear", "quadratic"),
    "tanh-loglik": ("tanh", "softmax", "log_likelihood"),
    "relu-quadratic": ("relu", "linear", "quadratic"),
    "relu-loglik": ("relu", "softmax", "log_likelihood"),
}
SEED_OFFSET = {"quadratic": 0, "log_likelihood": 100}  # full mode; quick mode starts at seed
BAND = (0.8, 1.3)  # reported only: the fraction of measurements inside it
LOW_COST = 0.1  # log-likelihood: the EoS window ends when C < LOW_COST * C(t_reach) (see _phase)
LATE = 0.1  # the late sharpness is the mean of the last 10% of the measurements (at least 3)
RISE = 1e-6  # a step "raises" the cost when C_{t+1} > C_t (1 + RISE): above float32 round-off of a mean over 1,000 terms
DIVERGED = 1e6  # C(end) / C(t_reach) recorded for a run whose cost became non-finite


# --------------------------------------------------------------------------
# data and the scanned GD loop (also used by real_net_convergence)


def load_subset(n: int) -> tuple[str | None, Any, Any]:
    """``(name, x, y)``: the first ``n // 10`` examples of each class of Fashion-MNIST (else MNIST); ``(None, reason, None)``."""
    reasons = []
    for name in ("fashion_mnist", "mnist"):
        try:
            x, y = data.load(name, "train", download=False, progress=False)
        except (FileNotFoundError, ValueError) as err:
            reasons.append(f"{name}: {str(err).splitlines()[0]}")
            continue
        yn = np.asarray(y)
        idx = np.stack([np.flatnonzero(yn == c)[: n // 10] for c in range(10)], axis=1).reshape(-1)
        return name, x[idx], y[idx]
    return None, "; ".join(reasons), None


def gd_with_sharpness(net: MLP, cost: str, x, y, w0, eta, key, steps: int, every: int, iters: int) -> dict[str, Any]:
    """One member (vmap it): full-batch GD on the raveled weights ``w``, ``lambda_max`` every ``every`` steps.

    Returns ``cost`` ``(steps,)`` (before each step), ``lam`` ``(steps // every,)``
    (at steps ``0, every, ...``), the final ``w`` and top eigenvector ``u``. A
    step with a non-finite cost leaves ``w`` unchanged and records ``inf``.
    """
    unravel = ravel_pytree(net.init(jax.random.key(0), w0.dtype))[1]

    def grad(w):
        c, g = backprop.value_and_grad(net, cost, unravel(w), x, y)
        return c, ravel_pytree(g)[0]

    def block(carry, i):
        w, u = carry
        mv = curvature.make_matvec(net, cost, unravel(w), x, y)
        lam, vec, _ = curvature.ritz_pairs(curvature.lanczos_tridiagonal(mv, u, iters, jax.random.fold_in(key, i)), 1)
        noise = jax.random.normal(jax.random.fold_in(key, i + 10**6), u.shape, u.dtype)
        u_next = vec[0] + 1e-2 * noise / jnp.linalg.norm(noise)
        u_next = jnp.where(jnp.all(jnp.isfinite(u_next)), u_next, u)

        def step(w, _):
            c, g = grad(w)
            w2 = w - eta * g
            ok = jnp.isfinite(c) & jnp.all(jnp.isfinite(w2))
            return jnp.where(ok, w2, w), jnp.where(ok, c, jnp.inf)

        w, costs = jax.lax.scan(step, w, None, length=every)
        return (w, u_next), (lam[0], costs)

    u0 = jax.random.normal(jax.random.fold_in(key, 99), w0.shape, w0.dtype)
    (w, u), (lam, costs) = jax.lax.scan(block, (w0, u0), jnp.arange(steps // every))
    return {"cost": costs.reshape(-1), "lam": lam, "w": w, "u": u}


def population(net: MLP, cost: str, x, y, seeds, etas, steps: int, every: int, iters: int, key=None) -> dict[str, np.ndarray]:
    """Every ``(seed, eta)`` pair in one vmapped, compiled run; arrays of shape ``(len(seeds), len(etas), ...)``."""
    ws = jnp.stack([ravel_pytree(net.init(jax.random.key(int(s))))[0] for s in seeds])
    S, E = len(seeds), len(etas)
    w0 = jnp.repeat(ws, E, axis=0)
    eta = jnp.tile(jnp.asarray(etas, jnp.float32), S)
    keys = jax.random.split(jax.random.key(12345) if key is None else key, S * E)

    @jax.jit
    def run(w0, eta, keys, x, y):
        return jax.vmap(lambda w, e, k: gd_with_sharpness(net, cost, x, y, w, e, k, steps, every, iters))(w0, eta, keys)

    out = run(w0, eta, keys, jnp.asarray(x, jnp.float32), jnp.asarray(y))
    return {k: np.asarray(v).reshape((S, E) + v.shape[1:]) for k, v in out.items() if k in ("cost", "lam")} | {
        "w": out["w"].reshape((S, E, -1)), "u": out["u"].reshape((S, E, -1))
    }


def initial_sharpness(net: MLP, cost: str, x, y, seeds) -> np.ndarray:
    """``lambda_max`` at initialization per seed (cold Lanczos, 40 HVPs)."""
    return np.asarray([
        float(curvature.eigenpairs(net, cost, net.init(jax.random.key(int(s))), x, y, num_iters=40).values[0])
        for s in seeds
    ])


# --------------------------------------------------------------------------
# analysis of one member


def _phase(lam: np.ndarray, cost: np.ndarray, thr: float, every: int, ll: bool) -> dict[str, Any]:
    """Where ``lambda_max`` first reaches ``REACH * 2/eta`` and what happens after.

    ``lam`` holds ``lambda_max`` at steps ``0, every, 2 every, ...``, ``cost`` the
    cost before every step and ``thr = 2/eta``. The first measurement with
    ``lam >= REACH thr`` (index ``k``) dates the reaching only to within one
    interval: the crossing lies in ``((k-1) every, k every]``. The stable phase
    used as the baseline for the cost's rises is therefore ``cost[: (k-1) every + 1]``
    (steps certainly before the crossing; empty when ``k = 1``, reported as
    ``pre_steps = 0``). A step raises the cost when ``C_{t+1} > C_t (1 + RISE)``.

    With the log-likelihood the EoS window (``mean_ratio``, ``in_band``,
    ``level``) ends when the cost falls below ``LOW_COST`` times its value at
    the reaching step: Cohen et al. (2021) report that with cross-entropy the
    sharpness drops once the cost goes to 0; that drop is measured separately
    by ``late_ratio``, the mean of ``lam / thr`` over the last ``LATE`` of the
    measurements (a single measurement is one draw from the oscillation).
    """
    if lam.ndim != 1 or cost.ndim != 1 or lam.size < 2:
        raise ValueError(f"lam and cost must be 1-d with lam.size >= 2, got shapes {lam.shape} and {cost.shape}")
    if every < 1 or cost.size < (lam.size - 1) * every + 1:
        raise ValueError(f"cost must hold >= (lam.size - 1) * every + 1 = {(lam.size - 1) * every + 1} values, "
                         f"got {cost.size} (every = {every})")
    if not thr > 0:
        raise ValueError(f"thr = 2/eta must be > 0, got {thr}")
    ratio = lam / thr
    hit = np.flatnonzero(ratio >= REACH)
    rises = lambda c: c[1:] > c[:-1] * (1 + RISE)  # noqa: E731
    out: dict[str, Any] = {"reached": bool(hit.size), "lam_first": float(lam[0]),
                           "pre_rise": float(np.max(lam[: (hit[0] + 1) if hit.size else None]) / lam[0])}
    pre = cost[: (hit[0] - 1) * every + 1] if hit.size else cost
    out["pre_steps"] = int(pre.size - 1)
    out["pre_increase_frac"] = float(np.mean(rises(pre))) if pre.size >= 2 else float("nan")
    n_late = max(3, int(round(LATE * lam.size)))
    out["late_ratio"] = float(np.mean(ratio[-n_late:]))
    if not hit.size:
        return out
    t0 = hit[0]
    c_at = cost[t0 * every]
    idx = np.arange(t0, lam.size)
    if ll:
        ok = cost[idx * every] > LOW_COST * c_at
        cut = idx[~ok][0] if (~ok).any() else lam.size
        out["low_cost_reached"] = bool((~ok).any())
        out["late_after_low"] = bool((~ok).any() and idx[~ok][0] <= lam.size - n_late)
        idx = np.arange(t0, max(cut, t0 + 1))
    r = ratio[idx]
    out |= {
        "t_reach": int(t0 * every),
        "mean_ratio": float(np.mean(r)),
        "level": float(np.mean(lam[idx])),
        "in_band": float(np.mean((r >= BAND[0]) & (r <= BAND[1]))),
        "above_frac": float(np.mean(ratio[t0:] > 1.0)),
    }
    post = cost[t0 * every:]
    out["cost_drop"] = float(post[-1] / post[0])
    out["post_increase_frac"] = float(np.mean(rises(post)))
    out["finite"] = bool(np.all(np.isfinite(cost)))
    return out


# --------------------------------------------------------------------------
# the experiment


def _settings(quick: bool) -> dict[str, Any]:
    """The configurations run: ``(slug, factors, steps)``; quick mode runs one, shorter."""
    if quick:
        cfg = next(c for c in _REGISTERED if c[0] == QUICK_CONFIG)
        return {"n": 500, "every": 20, "iters": 10, "configs": ((cfg[0], cfg[2], 400),)}
    return {"n": 1000, "every": 20, "iters": 10, "configs": tuple((c[0], c[2], c[3]) for c in _REGISTERED)}


def _ids(slug: str) -> list[str]:
    return [cid for cid in _registry.claims("edge_of_stability") if cid.endswith("-" + slug)]


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    s = _settings(quick)
    name, x, y = load_subset(s["n"])
    fig, axes = figure(ncols=len(s["configs"]), nrows=2, width=4.2, height=3.2)
    run_slugs = [c[0] for c in s["configs"]]
    verdicts = [decide(cid, None, quick=quick, skipped=f"quick mode runs {QUICK_CONFIG} only")
                for c in _REGISTERED if c[0] not in run_slugs for cid in _ids(c[0])]
    if name is None:
        verdicts += [decide(cid, None, quick=quick, skipped=x) for slug in run_slugs for cid in _ids(slug)]
        return save("edge_of_stability", seed=seed, quick=quick, verdicts=verdicts, data={}, fig=fig, out_dir=out_dir)
    out = {"dataset": name, "n": s["n"], "sizes": [784, 64, 64, 10], "settings": s, "seeds": {}}
    for col, (slug, factors, steps) in enumerate(s["configs"]):
        hidden, output, cost = NETS[slug]
        offset = 0 if quick else SEED_OFFSET[cost]
        seed_list = [seed + offset + i for i in range(seeds(f"edge_of_stability/reaches-2-over-eta-{slug}", quick))]
        net = MLP((784, 64, 64, 10), hidden=hidden, output=output, w_init="xavier")
        lam0 = initial_sharpness(net, cost, x, y, seed_list)
        etas = [2.0 / (c * float(lam0.mean())) for c in factors]
        r = population(net, cost, x, y, seed_list, etas, steps, s["every"], s["iters"])
        out["seeds"][slug] = seed_list
        ph = [[_phase(r["lam"][i, j], r["cost"][i, j], 2 / etas[j], s["every"], cost == "log_likelihood")
               for j in range(len(etas))] for i in range(len(seed_list))]
        verdicts += _verdicts(slug, ph, lam0, s["every"], quick)
        verdicts.append(_check_tracker(net, cost, x, y, r, slug, quick))
        out[slug] = {"lambda_0": lam0, "etas": etas, "factors": factors, "steps": steps, "lam": r["lam"],
                     "cost": r["cost"][:, :, :: 5], "phases": ph}
        _plot(axes[:, col], r, etas, s, slug, factors, col, len(s["configs"]))
    fig.tight_layout()
    fig.suptitle(f"Full-batch GD, {s['n']} {name} examples: sharpness rises to 2/eta and stays (Cohen et al. 2021, Fig. 1)",
                 y=1.02)
    return save("edge_of_stability", seed=seed, quick=quick, verdicts=verdicts, data=out, fig=fig, out_dir=out_dir,
                title="Edge of stability: lambda_max of full-batch GD vs 2/eta")


def _mean_t(values) -> tuple[float, tuple[float, float]]:
    """The mean of per-seed values and its 95% t-interval (zero width when they are all equal)."""
    m, lo, hi = t_interval(np.asarray(values, np.float64))
    return float(m), (float(lo), float(hi))


def _verdicts(slug: str, ph, lam0, every: int, quick: bool) -> list[dict]:
    """Decide the registered claims of one configuration on its phases ``ph[seed][rate]``."""
    S, E = len(ph), len(ph[0])
    cid = lambda name: f"edge_of_stability/{name}-{slug}"  # noqa: E731
    rise = [float(np.mean([ph[i][j]["pre_rise"] for j in range(E)]) * ph[i][0]["lam_first"] / lam0[i])
            for i in range(S)]
    reached = [ph[i][0]["reached"] for i in range(S)]
    out = [decide(cid("reaches-2-over-eta"), float(np.mean(reached)), quick=quick, n=S,
                  detail={"per_seed": reached}),
           decide(cid("sharpening"), min(rise), quick=quick, n=S, detail={"per_seed": rise})]
    got = [(i, j) for i in range(S) for j in range(E) if ph[i][j]["reached"]]
    rest = ["hovers-at-2-over-eta", "pinned-by-eta", "cost-falls", "non-monotone", "above-2-over-eta"]
    if slug in END_CLAIM:
        rest.append("late-drop")
    if not got:
        return out + [decide(cid(n), None, quick=quick, skipped="no run reached 2/eta") for n in rest]
    hit = [i for i in range(S) if any(ph[i][j]["reached"] for j in range(E))]
    per_seed = lambda key: [float(np.mean([ph[i][j][key] for j in range(E) if ph[i][j]["reached"]]))  # noqa: E731
                            for i in hit]
    m, ci = _mean_t(per_seed("mean_ratio"))
    out.append(decide(cid("hovers-at-2-over-eta"), m, quick=quick, interval=ci, n=len(hit) if len(hit) == S else None,
                      detail={"per_seed": per_seed("mean_ratio"), "seeds_reached": len(hit),
                              "smallest_fraction_in_0.8_1.3": min(ph[i][j]["in_band"] for i, j in got)}))
    both = [i for i in range(S) if ph[i][0]["reached"] and ph[i][-1]["reached"]]
    vals = [ph[i][-1]["level"] / ph[i][0]["level"] for i in both]
    if vals:
        m, ci = _mean_t(vals)
        out.append(decide(cid("pinned-by-eta"), m, quick=quick, interval=ci, n=len(vals) if len(vals) == S else None,
                          detail={"per_seed": vals, "seeds_both_reached": len(vals)}))
    else:
        out.append(decide(cid("pinned-by-eta"), None, quick=quick, skipped="no seed reached 2/eta at both rates"))
    drops = [d if np.isfinite(d) else DIVERGED for d in per_seed("cost_drop")]
    m, ci = _mean_t(drops)
    finite = all(ph[i][j]["finite"] for i, j in got)
    out.append(decide(cid("cost-falls"), m, quick=quick, interval=ci, n=len(hit) if len(hit) == S else None,
                      detail={"per_seed": drops, "all_costs_finite": finite}))
    stable = [ph[i][j]["pre_increase_frac"] for i in range(S) for j in range(E) if ph[i][j]["pre_steps"] >= every]
    base = max(stable) if stable else 0.0
    post = per_seed("post_increase_frac")
    m, ci = _mean_t([p - base for p in post])
    out.append(decide(cid("non-monotone"), m, quick=quick, interval=ci, n=len(hit) if len(hit) == S else None,
                      detail={"per_seed_fraction_after": post, "stable_phase_baseline": base,
                              "stable_phases": len(stable)}))
    m, ci = _mean_t(per_seed("above_frac"))
    out.append(decide(cid("above-2-over-eta"), m, quick=quick, interval=ci, n=len(hit) if len(hit) == S else None,
                      detail={"per_seed": per_seed("above_frac")}))
    if slug in END_CLAIM:
        late = [ph[i][j]["late_ratio"] for i, j in got if ph[i][j].get("late_after_low")]
        out.append(decide(cid("late-drop"), float(np.max(late)) if late else float("inf"), quick=quick,
                          detail={"late_ratios": late, "runs": len(late), "runs_reached": len(got)}))
    return out


def _check_tracker(net, cost, x, y, r, slug, quick: bool) -> dict:
    """The in-loop warm-started sharpness (10 HVPs) vs a cold 60-step Lanczos at the final weights of one run."""
    unravel = ravel_pytree(net.init(jax.random.key(0)))[1]
    w = r["w"][0, -1]
    mv = curvature.make_matvec(net, cost, unravel(w), x, y)
    t = curvature.lanczos_tridiagonal(mv, r["u"][0, -1], 10, jax.random.key(5))
    warm = float(curvature.ritz_pairs(t, 1)[0][0])
    cold = float(curvature.eigenpairs(net, cost, unravel(w), x, y, num_iters=60, key=jax.random.key(7)).values[0])
    return decide(f"edge_of_stability/tracker-{slug}", abs(warm - cold) / cold, quick=quick,
                  detail={"warm": warm, "cold": cold})


def _plot(ax, r, etas, s, slug, factors, col: int = 0, ncols: int = 1) -> None:
    """Column ``col``: cost of the first seed (top) and lambda_max of every seed with their range shaded (bottom).

    The sharpness axis stops at 2.5 x the larger 2/eta so that the thresholds stay readable; a catapult spike
    above it (ReLU + log-likelihood at the first steps) is clipped, and the title says so.
    """
    colors = ("tab:blue", "tab:orange", "tab:green")
    t_lam = np.arange(r["lam"].shape[-1]) * s["every"]
    for j, eta in enumerate(etas):
        c = colors[j % 3]
        ax[0].plot(np.arange(r["cost"].shape[-1]), r["cost"][0, j], color=c, lw=1,
                   label=f"eta = {eta:.3g} (c = {factors[j]:g})")
        ax[1].fill_between(t_lam, r["lam"][:, j].min(0), r["lam"][:, j].max(0), color=c, alpha=0.2, lw=0)
        for i in range(r["lam"].shape[0]):
            ax[1].plot(t_lam, r["lam"][i, j], color=c, lw=1.2 if i == 0 else 0.4, alpha=1 if i == 0 else 0.5,
                       label=f"lambda_max, eta = {eta:.3g} (range shaded)" if i == 0 else None)
        ax[1].axhline(2 / eta, color=c, ls="--", lw=1.2, label=f"2/eta = {2 / eta:.3g}")
    top = 2.5 * max(2 / e for e in etas)
    clipped = bool(np.nanmax(r["lam"]) > top)
    ax[0].set(title=f"({chr(97 + col)}) {slug}", xlabel="step", ylabel="training cost C (first seed)", yscale="log")
    ax[0].legend(fontsize=8)
    ax[1].set(title=f"({chr(97 + ncols + col)}) sharpness, {r['lam'].shape[0]} seeds (thick: first"
                    + ("; spike clipped)" if clipped else ")"),
              xlabel="step", ylabel="lambda_max of the Hessian", ylim=(0, top))
    ax[1].title.set_fontsize(10)
    ax[1].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
