"""Edge of stability as Cohen, Kaur, Li, Kolter, Talwalkar (ICLR 2021) run it: a sweep of step sizes to 99%.

What it tests: the notes ("Convergence") say GD on the quadratic model
converges iff ``eta < 2/lambda_max``. Cohen et al. train networks by
full-batch GD until the training accuracy reaches 99% and track the
sharpness ``lambda_max`` of the Hessian of the training cost: (a) it rises
during training (progressive sharpening) until it reaches ``2/eta``; (b)
then it stays at a level set by the step size, ``~ 2/eta``; (c) "right at,
or just above" it (with cross-entropy it drops late in training); (d)
gradient flow, which has no ``2/eta``, keeps sharpening past it; (e) the
cost keeps falling over long horizons, though not monotonically.

On what: a class-balanced subset of MNIST (Fashion-MNIST if MNIST is
absent) of 2,000 training examples, each image averaged over 2 x 2 pixel
blocks to 14 x 14 = 196 inputs (the paper uses full inputs; the pooling cuts
the first layer's cost by 4 so that the sweep fits 2 CPU cores), an MLP
196-32-32-10 with xavier initialization, tanh or ReLU hidden units, the
quadratic cost (MSE, linear output) or the log-likelihood (cross-entropy,
softmax output): four configurations. Each has five absolute step sizes,
geometric over a range of 1.75x to 2.5x, with ``2/eta`` from 1.9x the
initial sharpness up (``CONFIGS`` in the claims): short small-step pilots,
from initializations outside the registered ones, showed where the
sharpness rises, and the rates put ``2/eta`` on that rise, so that each run
starts stable and crosses later. With cross-entropy and with ReLU the rise
is fast (a crossing within 6 to 60 steps), hence the dense measurements at
the start. One gradient-flow proxy per seed: GD at ``eta_max / 10`` for as
many steps as the rates, so over a tenth of the largest rate's horizon in
time ``eta x step`` (it does not stop at 99%). Every ``(seed, rate)``
member of a configuration, the flow proxy included, runs in one vmapped,
compiled ``lax.scan`` over the same data: full-batch GD for the
configuration's registered step cap, with ``lambda_max`` by warm-started
Lanczos at every step for the first 60 steps (6 HVPs) and every 20 steps
after (10 HVPs), the training accuracy and cost with it. A run stops (its
analysis window ends) at the first measurement with training accuracy >=
99%, or at the cap. Eight seeds (registered). ``curvature.SharpnessTracker``
on a ``train.fit`` run of the first member checks the in-loop sharpness;
``fit_population`` is not used: its epochs have no place for a Lanczos run
inside the compiled loop. Quick mode: relu-mse and tanh-ce only, rates 1, 3
and 5, 500 examples, 300 steps, 3 seeds.

How it decides: by the rules registered in
``experiments/claims/edge_of_stability_sweep.py``. A run "crosses" at its
first measurement with ``lambda_max >= 0.95 * 2/eta``; it is a catapult if
that is the first measurement (step 0), progressive sharpening if at least
``SEVERAL`` measurements come before it, else an early crossing. The level
is the mean sharpness over the every-20-steps measurements from the
crossing to the stop. (a) the fraction of sharpening runs among those that
crossed (Wilson interval; catapults counted with a Clopper-Pearson interval in the
detail); (b) the OLS slope of ``log level`` against ``log eta`` with one
intercept per activation (ols95), per cost; (c) the level over ``2/eta``
(t-interval over seeds); (d) the flow proxy's largest sharpness over its
horizon divided by the largest rate's ``2/eta`` (t-interval over seeds),
with a check that the proxy stayed stable (``eta lambda <= 1``); (e) the
cost's fall and its rises after the crossing (t-intervals over seeds).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments import _registry
from experiments._common import (
    clopper_pearson_interval,
    decide,
    figure,
    save,
    seeds,
    t_interval,
    t_quantile,
    wilson_interval,
)
from experiments.claims.edge_of_stability_sweep import (
    CONFIGS,
    FLOW_DIVISOR,
    JUST_ABOVE,
    NAME,
    QUICK_CONFIGS,
    REACH,
    SEVERAL,
)
from fnn import backprop, curvature, data, optim, train
from fnn.nn import MLP

DENSE, DENSE_ITERS = 60, 6  # the first DENSE steps: lambda_max at every step, by DENSE_ITERS warm HVPs
EVERY, ITERS = 20, 10  # then every EVERY steps, by ITERS warm HVPs
STOP_ACCURACY = 0.99
RISE = 1e-6  # a step raises the cost when C_{t+1} > C_t (1 + RISE): above float32 round-off of a mean of 2,000 terms
DIVERGED = 1e6  # C(stop) / C(crossing) recorded for a run whose cost became non-finite


# --------------------------------------------------------------------------
# data


def load_pooled(n: int, pool: int = 2) -> tuple[str | None, Any, Any]:
    """``(name, x, y)``: the first ``n // 10`` examples of each class of MNIST (else Fashion-MNIST), each
    28 x 28 image averaged over ``pool x pool`` blocks: ``x`` ``(n, (28 / pool)^2)``; ``(None, reason, None)``."""
    reasons = []
    for name in ("mnist", "fashion_mnist"):
        try:
            x, y = data.load(name, "train", download=False, progress=False)
        except (FileNotFoundError, ValueError) as err:
            reasons.append(f"{name}: {str(err).splitlines()[0]}")
            continue
        yn = np.asarray(y)
        idx = np.stack([np.flatnonzero(yn == c)[: n // 10] for c in range(10)], axis=1).reshape(-1)
        side = 28 // pool
        xs = np.asarray(x, np.float32)[idx].reshape(-1, side, pool, side, pool).mean(axis=(2, 4))
        return name, xs.reshape(len(idx), side * side), yn[idx]
    return None, "; ".join(reasons), None


# --------------------------------------------------------------------------
# one member: full-batch GD with the sharpness, the accuracy and the cost


def _blocks(net: MLP, cost: str, x, y, eta, key, w, u, n_blocks: int, every: int, iters: int, salt: int):
    """``n_blocks`` blocks of: measure ``(lambda_max, accuracy, cost)`` at ``w``, then ``every`` GD steps.

    ``u`` warm-starts Lanczos (the previous top eigenvector plus 1% noise).
    A step whose cost or new weights are not finite leaves ``w`` unchanged and
    records the cost as ``inf``. Returns ``(w, u), (lam, acc, c_meas, costs)``.
    """
    unravel = ravel_pytree(net.init(jax.random.key(0), w.dtype))[1]

    def block(carry, i):
        w, u = carry
        k = jax.random.fold_in(key, salt + i)
        p = unravel(w)
        mv = curvature.make_matvec(net, cost, p, x, y)
        lam, vec, _ = curvature.ritz_pairs(curvature.lanczos_tridiagonal(mv, u, iters, k), 1)
        noise = jax.random.normal(jax.random.fold_in(k, 1), u.shape, u.dtype)
        u_next = vec[0] + 1e-2 * noise / jnp.linalg.norm(noise)
        u_next = jnp.where(jnp.all(jnp.isfinite(u_next)), u_next, u)
        out = net.apply(p, x)
        acc = jnp.mean(jnp.argmax(out, axis=-1) == y)

        def step(w, _):
            c, g = backprop.value_and_grad(net, cost, unravel(w), x, y)
            w2 = w - eta * ravel_pytree(g)[0]
            ok = jnp.isfinite(c) & jnp.all(jnp.isfinite(w2))
            return jnp.where(ok, w2, w), jnp.where(ok, c, jnp.inf)

        w, costs = jax.lax.scan(step, w, None, length=every)
        return (w, u_next), (lam[0], acc, costs[0], costs)

    return jax.lax.scan(block, (w, u), jnp.arange(n_blocks))


def gd_member(net: MLP, cost: str, x, y, w0, eta, key, steps: int) -> dict[str, Any]:
    """One member (vmap it): ``steps`` GD steps from ``w0`` (raveled) at rate ``eta``.

    ``lambda_max`` (with the accuracy and the cost) is measured before steps
    ``0, 1, ..., DENSE - 1`` and then ``DENSE, DENSE + EVERY, ...``
    (:func:`measured_steps`); ``cost`` ``(steps,)`` is the cost before every step.
    """
    u0 = jax.random.normal(jax.random.fold_in(key, 99), w0.shape, w0.dtype)
    (w, u), a = _blocks(net, cost, x, y, eta, key, w0, u0, DENSE, 1, DENSE_ITERS, 0)
    (w, u), b = _blocks(net, cost, x, y, eta, key, w, u, (steps - DENSE) // EVERY, EVERY, ITERS, 10**5)
    cat = lambda i: jnp.concatenate([a[i], b[i]])
    return {"lam": cat(0), "acc": cat(1), "cost": jnp.concatenate([a[3].reshape(-1), b[3].reshape(-1)]),
            "w": w, "u": u}


def measured_steps(steps: int) -> np.ndarray:
    """The steps before which :func:`gd_member` measures: ``0..DENSE-1``, then every ``EVERY``."""
    return np.concatenate([np.arange(DENSE), DENSE + EVERY * np.arange((steps - DENSE) // EVERY)])


def initial_params(net: MLP, seed: int):
    """The weights ``train.fit(key=jax.random.key(seed))`` starts from (the first half of the key's split)."""
    return net.init(jax.random.split(jax.random.key(int(seed)))[0])


def population(net: MLP, cost: str, x, y, seeds, etas, steps: int) -> dict[str, np.ndarray]:
    """Every ``(seed, eta)`` member in one vmapped, compiled run; arrays ``(len(seeds), len(etas), ...)``.

    Member ``(i, j)`` starts from :func:`initial_params` of ``seeds[i]``: every rate of a seed starts
    from the same weights.
    """
    ws = jnp.stack([ravel_pytree(initial_params(net, s))[0] for s in seeds])
    S, E = len(seeds), len(etas)
    w0 = jnp.repeat(ws, E, axis=0)
    eta = jnp.tile(jnp.asarray(etas, jnp.float32), S)
    keys = jax.random.split(jax.random.key(2021), S * E)

    @jax.jit
    def run(w0, eta, keys, x, y):
        return jax.vmap(lambda w, e, k: gd_member(net, cost, x, y, w, e, k, steps))(w0, eta, keys)

    out = run(w0, eta, keys, jnp.asarray(x, jnp.float32), jnp.asarray(y))
    return {k: np.asarray(v).reshape((S, E) + v.shape[1:]) for k, v in out.items()}


# --------------------------------------------------------------------------
# analysis of one run


def phase(lam: np.ndarray, acc: np.ndarray, cost: np.ndarray, thr: float, steps_at: np.ndarray) -> dict[str, Any]:
    """The crossing of ``REACH * thr`` (``thr = 2/eta``) by one run and what follows, up to its stop.

    ``lam``, ``acc`` are measured before the steps ``steps_at``; ``cost`` is the
    cost before every step. The stop is the first measurement with accuracy
    ``>= STOP_ACCURACY`` (else the last step). The crossing is the first
    measurement ``k`` (at or before the stop) with ``lam >= REACH thr``: a
    ``"catapult"`` if ``k = 0``, ``"sharpening"`` if ``k >= SEVERAL``, else
    ``"early"``; ``"never"`` without one. The level is the mean of ``lam`` over
    the every-``EVERY``-steps measurements from ``k`` to the stop (``None`` if
    fewer than 3). A step raises the cost when ``C_{t+1} > C_t (1 + RISE)``.
    """
    hit = np.flatnonzero(acc >= STOP_ACCURACY)
    m_stop = int(hit[0]) if hit.size else lam.size - 1
    t_stop = int(steps_at[hit[0]]) if hit.size else cost.size - 1
    out: dict[str, Any] = {"thr": float(thr), "lam_first": float(lam[0]), "stop_step": t_stop, "reached_99": bool(hit.size)}
    cross = np.flatnonzero(lam[: m_stop + 1] >= REACH * thr)
    if not cross.size:
        return out | {"kind": "never"}
    k = int(cross[0])
    t0 = int(steps_at[k])
    out |= {"kind": "catapult" if k == 0 else "sharpening" if k >= SEVERAL else "early", "cross_step": t0,
            "cross_index": k}
    window = np.arange(k, m_stop + 1)
    sparse = window[steps_at[window] >= DENSE]
    if sparse.size >= 3:
        out["level"] = float(np.mean(lam[sparse]))
        out["ratio"] = out["level"] / thr
        out["above_frac"] = float(np.mean(lam[sparse] > thr))
    c = cost[t0: t_stop + 1]
    drop = c[-1] / c[0]
    out["cost_drop"] = float(drop) if np.isfinite(drop) else DIVERGED
    rises = lambda v: float(np.mean(v[1:] > v[:-1] * (1 + RISE))) if v.size >= 2 else 0.0
    out["rise_after"], out["rise_before"] = rises(c), rises(cost[: t0 + 1])
    return out

# --------------------------------------------------------------------------
# the experiment: measure, decide, draw


def _settings(quick: bool) -> dict[str, Any]:
    """The configurations run, ``(slug, hidden, output, cost, thresholds, steps)``; quick mode: two, smaller."""
    if quick:
        configs = tuple((c[0], c[1], c[2], c[3], c[4][::2], 300) for c in CONFIGS if c[0] in QUICK_CONFIGS)
        return {"n": 500, "configs": configs}
    return {"n": 2000, "configs": CONFIGS}


def measure(quick: bool, seed: int, x, y) -> dict[str, Any]:
    """Run every configuration's population (five rates and the flow proxy per seed) and analyse each run."""
    s = _settings(quick)
    seed_list = [seed + i for i in range(seeds(f"{NAME}/sharpening-mse", quick))]
    out: dict[str, Any] = {"n": s["n"], "sizes": [x.shape[1], 32, 32, 10], "seeds": seed_list, "configs": {}}
    for slug, hidden, output, cost, thresholds, steps in s["configs"]:
        net = MLP((x.shape[1], 32, 32, 10), hidden=hidden, output=output, w_init="xavier")
        etas = [2.0 / t for t in thresholds]
        eta_flow = etas[0] / FLOW_DIVISOR
        r = population(net, cost, x, y, seed_list, etas + [eta_flow], steps)
        at = measured_steps(steps)
        runs = [[phase(r["lam"][i, j], r["acc"][i, j], r["cost"][i, j], thresholds[j], at)
                 for j in range(len(etas))] for i in range(len(seed_list))]
        flow = r["lam"][:, -1]
        out["configs"][slug] = {
            "cost": cost, "hidden": hidden, "etas": etas, "thresholds": list(thresholds), "steps": steps,
            "eta_flow": eta_flow, "steps_at": at, "lam": r["lam"], "runs": runs,
            "cost_every_20": r["cost"][:, :, ::EVERY],
            "flow_past": flow.max(axis=1) / thresholds[0], "flow_eta_lam": eta_flow * flow.max(axis=1)}
    first = s["configs"][0]
    out["tracker"] = _tracker(first, x, y, seed_list[0], out["configs"][first[0]]["lam"][0, 0])
    return out


def _tracker(cfg, x, y, seed: int, lam_loop: np.ndarray) -> dict[str, Any]:
    """``SharpnessTracker`` on ``train.fit`` (full-batch GD at the largest rate) at steps 20 and 40."""
    _, hidden, output, cost, thresholds, _ = cfg
    net = MLP((x.shape[1], 32, 32, 10), hidden=hidden, output=output, w_init="xavier")
    tracker = curvature.SharpnessTracker(net, cost, x, y, every=20, num_iters=30)
    train.fit(net, cost, optim.gd(2.0 / thresholds[0]), (x, y), epochs=40, batch_size=x.shape[0],
              key=jax.random.key(int(seed)), progress=False, callback=tracker)
    loop = [float(lam_loop[s]) for s in tracker.steps]
    diff = [abs(a - b) / b for a, b in zip(loop, tracker.lambda_max)]
    return {"steps": tracker.steps, "tracker": tracker.lambda_max, "loop": loop, "max_rel_diff": max(diff)}


def _pooled(m: dict[str, Any], cost: str) -> list[tuple[str, int, int, dict]]:
    """``(slug, seed index, rate index, run)`` of every run of the configurations with this cost."""
    return [(slug, i, j, run) for slug, c in m["configs"].items() if c["cost"] == cost
            for i, per in enumerate(c["runs"]) for j, run in enumerate(per)]


def _per_seed(runs, key: str, n_seeds: int, keep=lambda r: True) -> list[float]:
    """Per seed: the mean of ``run[key]`` over its runs that have it and pass ``keep`` (seeds without any left out)."""
    vals = [[r[key] for _, i, _, r in runs if i == s and key in r and keep(r)] for s in range(n_seeds)]
    return [float(np.mean(v)) for v in vals if v]


def _t_decide(cid: str, values: list[float], n_seeds: int, quick: bool, detail: dict) -> dict:
    """Decide ``cid`` on the t-interval of per-seed ``values`` (skipped when fewer than two seeds have one)."""
    if len(values) < 2:
        return decide(cid, None, quick=quick, skipped=f"{len(values)} seed(s) had a value; a t-interval needs 2")
    m, lo, hi = t_interval(np.asarray(values, np.float64))
    return decide(cid, float(m), quick=quick, interval=(float(lo), float(hi)),
                  n=len(values) if len(values) == n_seeds else None,
                  detail={"per_seed": values, "seeds_with_value": len(values)} | detail)


def exponent_fit(runs, alone: bool = True) -> dict[str, Any]:
    """OLS of ``log level = b log eta + a_activation`` over runs with a level: slope, 95% t-interval, n;
    with ``alone``, also each activation's own fit (``per_activation``)."""
    pts = [(np.log(2.0 / r["thr"]), np.log(r["level"]), slug.split("-")[0])
           for slug, _, _, r in runs if "level" in r and r["kind"] != "catapult"]
    acts = sorted({a for _, _, a in pts})
    if len(pts) < len(acts) + 2 or len({round(p[0], 6) for p in pts}) < 2:
        return {"n": len(pts)}
    X = np.array([[p[0]] + [float(p[2] == a) for a in acts] for p in pts])
    yv = np.array([p[1] for p in pts])
    coef, *_ = np.linalg.lstsq(X, yv, rcond=None)
    df = len(pts) - X.shape[1]
    rss = float(np.sum((yv - X @ coef) ** 2))
    se = float(np.sqrt(rss / df * np.linalg.inv(X.T @ X)[0, 0]))
    half = t_quantile(0.975, df) * se
    out = {"n": len(pts), "slope": float(coef[0]), "interval": (float(coef[0] - half), float(coef[0] + half)),
           "se": se, "intercepts": dict(zip(acts, map(float, coef[1:])))}
    if alone and len(acts) > 1:
        out["per_activation"] = {a: exponent_fit([r for r in runs if r[0].startswith(a)], False) for a in acts}
    return out


def _classes(runs) -> dict[str, Any]:
    """Counts of run kinds, and the catapult fraction of the crossing runs with its Clopper-Pearson interval."""
    kinds = [r["kind"] for *_, r in runs]
    counts = {k: kinds.count(k) for k in ("sharpening", "early", "catapult", "never")}
    crossed = len(kinds) - counts["never"]
    out = {"counts": counts, "runs": len(kinds), "crossed": crossed}
    if crossed:
        p, lo, hi = clopper_pearson_interval(counts["catapult"], crossed)
        out["catapult_fraction"] = {"value": p, "clopper_pearson95": [lo, hi]}
    return out


def _cost_verdicts(m: dict[str, Any], cost: str, quick: bool) -> list[dict]:
    """The claims of one cost (``"mse"`` or ``"ce"``), in the registry's order."""
    name = {"mse": "quadratic", "ce": "log_likelihood"}[cost]
    runs = _pooled(m, name)
    S = len(m["seeds"])
    cid = lambda n: f"{NAME}/{n}-{cost}"
    if not runs:
        return [decide(c, None, quick=quick, skipped=f"quick mode runs {', '.join(QUICK_CONFIGS)} only")
                for c in _registry.claims(NAME) if c.endswith(f"-{cost}")]
    cls = _classes(runs) | {"per_configuration": {k: _classes([r for r in runs if r[0] == k])["counts"]
                                                   for k in dict.fromkeys(r[0] for r in runs)}}
    out = []
    if cls["crossed"]:
        p, lo, hi = wilson_interval(cls["counts"]["sharpening"], cls["crossed"])
        out.append(decide(cid("sharpening"), p, quick=quick, interval=(lo, hi), detail=cls))
    else:
        out.append(decide(cid("sharpening"), None, quick=quick, skipped="no run crossed 0.95 * 2/eta"))
    fit = exponent_fit(runs)
    if "slope" in fit:
        out.append(decide(cid("level-exponent"), fit["slope"], quick=quick, interval=fit["interval"], detail=fit))
    else:
        out.append(decide(cid("level-exponent"), None, quick=quick,
                          skipped=f"{fit['n']} runs with a level: too few for the fit"))
    no_cat = lambda r: r["kind"] != "catapult"
    ratios = [round(r["ratio"], 4) for *_, r in runs if "ratio" in r and no_cat(r)]
    by_rate = {k: [float(np.mean([r["ratio"] for slug, _, j, r in runs if slug == k and j == jj and "ratio" in r
                                  and no_cat(r)] or [np.nan])) for jj in range(len(c["etas"]))]
               for k, c in m["configs"].items() if c["cost"] == name}
    out.append(_t_decide(cid("just-above" if cost == "mse" else "level"), _per_seed(runs, "ratio", S, no_cat), S,
                         quick, {"runs": len(ratios), "mean_ratio_by_rate": by_rate, "run_ratios": ratios}))
    window = [r["stop_step"] - r["cross_step"] for *_, r in runs if "cross_step" in r]
    out.append(_t_decide(cid("cost-falls"), _per_seed(runs, "cost_drop", S), S, quick,
                         {"window_steps": {"min": min(window, default=0), "median": float(np.median(window or [0])),
                                           "max": max(window, default=0)}}))
    excess = [[r["rise_after"] - r["rise_before"] for _, i, _, r in runs if i == s and "rise_after" in r]
              for s in range(S)]
    out.append(_t_decide(cid("non-monotone"), [float(np.mean(v)) for v in excess if v], S, quick,
                         {"rise_after": _per_seed(runs, "rise_after", S),
                          "rise_before": _per_seed(runs, "rise_before", S)}))
    past = [c["flow_past"] for c in m["configs"].values() if c["cost"] == name]
    out.append(_t_decide(cid("flow-past"), [float(v) for v in np.mean(past, axis=0)], S, quick,
                         {"per_configuration": {k: c["flow_past"] for k, c in m["configs"].items()
                                                if c["cost"] == name}}))
    return out


def decide_all(m: dict[str, Any], quick: bool) -> list[dict]:
    """Every registered claim, decided on the measurements ``m``."""
    verdicts = _cost_verdicts(m, "mse", quick) + _cost_verdicts(m, "ce", quick)
    stable = {k: c["flow_eta_lam"] for k, c in m["configs"].items()}
    verdicts.append(decide(f"{NAME}/flow-is-stable", float(max(np.max(v) for v in stable.values())), quick=quick,
                           detail={"per_configuration": stable}))
    t = m["tracker"]
    verdicts.append(decide(f"{NAME}/tracker", t["max_rel_diff"], quick=quick, detail=t))
    return verdicts


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Measure, decide every registered claim, draw; return the saved record."""
    s = _settings(quick)
    name, x, y = load_pooled(s["n"])
    if name is None:
        verdicts = [decide(cid, None, quick=quick, skipped=x) for cid in _registry.claims(NAME)]
        fig, _ = figure()
        return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data={}, fig=fig, out_dir=out_dir)
    m = measure(quick, seed, x, y)
    m["dataset"] = name
    verdicts = decide_all(m, quick)
    fig = draw(m, verdicts)
    return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data=m, fig=fig, out_dir=out_dir,
                title="Edge of stability, a sweep of step sizes to 99% accuracy (Cohen et al. 2021)")


COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def draw(m: dict[str, Any], verdicts: list[dict]):
    """Top: per configuration, lambda_max / (2/eta) of every run against the time eta * step (the five rates in
    colour, the flow proxy over the largest rate's 2/eta in black). Bottom: the level against eta (log-log) per
    cost with the fitted exponent; the first seed's cost per rate (tanh-mse, or the first configuration run)."""
    slugs = list(m["configs"])
    fig, axes = figure(ncols=len(slugs), nrows=2, width=4.2, height=4.6)
    for col, slug in enumerate(slugs):
        _draw_config(axes[0, col], m["configs"][slug], slug, col)
    by_id = {v["id"]: v for v in verdicts}
    for col, cost in enumerate(("mse", "ce")):
        if col < len(slugs):
            _draw_levels(axes[1, col], m, cost, by_id.get(f"{NAME}/level-exponent-{cost}"), len(slugs) + col)
    if len(slugs) > 2:
        _draw_cost(axes[1, 2], m["configs"][slugs[0]], slugs[0], len(slugs) + 2)
    if len(slugs) > 3:
        _draw_counts(axes[1, 3], m, len(slugs) + 3)
    fig.tight_layout()
    return fig


def _draw_config(ax, c: dict, slug: str, col: int) -> None:
    at = np.asarray(c["steps_at"])
    for j, eta in enumerate(c["etas"]):
        for i in range(c["lam"].shape[0]):
            ax.plot(eta * at, c["lam"][i, j] / c["thresholds"][j], color=COLORS[j], lw=1.0 if i == 0 else 0.3,
                    alpha=1.0 if i == 0 else 0.5, label=f"2/eta = {c['thresholds'][j]:g}" if i == 0 else None)
    for i in range(c["lam"].shape[0]):
        ax.plot(c["eta_flow"] * at, c["lam"][i, -1] / c["thresholds"][0], color="black", lw=1.0 if i == 0 else 0.3,
                label="flow proxy / (2/eta_max)" if i == 0 else None)
    ax.axhspan(*JUST_ABOVE, color="0.85", zorder=0, label="'just above' band")
    ax.axhline(REACH, color="0.4", ls=":", lw=1, label=f"crossing ({REACH})")
    horizon = max(e * at[-1] for e in c["etas"])
    ax.set(xscale="log", xlim=(c["etas"][-1], horizon), ylim=(0, 3), xlabel="time eta x step (log)",
           ylabel="lambda_max / (2/eta) (clipped at 3)")
    ax.set_title(f"({chr(97 + col)}) {slug}: every seed (thick: first)", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)


def _draw_levels(ax, m: dict, cost: str, verdict: dict | None, panel: int) -> None:
    name = {"mse": "quadratic", "ce": "log_likelihood"}[cost]
    runs = _pooled(m, name)
    for marker, act in (("o", "tanh"), ("s", "relu")):
        pts = [(2 / r["thr"], r["level"]) for slug, _, _, r in runs
               if slug.startswith(act) and "level" in r and r["kind"] != "catapult"]
        if pts:
            ax.scatter(*zip(*pts), s=12, marker=marker, facecolors="none", edgecolors="tab:blue" if act == "tanh"
                       else "tab:red", label=f"{act}: level of a run")
            e = np.array(sorted({p[0] for p in pts}))
            ax.plot(e, 2 / e, color="tab:blue" if act == "tanh" else "tab:red", ls="--", lw=1, label=f"{act}: 2/eta")
    ax.set(xscale="log", yscale="log", xlabel="eta", ylabel="sharpness level after the crossing")
    fit = (verdict or {}).get("detail") or {}
    text = (f"exponent {fit['slope']:.3f} [{fit['interval'][0]:.3f}, {fit['interval'][1]:.3f}] "
            f"(band -1 +- 0.15)" if "slope" in fit else "no fit")
    ax.set_title(f"({chr(97 + panel)}) {cost.upper()}: {text}", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)


def _draw_cost(ax, c: dict, slug: str, panel: int) -> None:
    steps = np.arange(c["cost_every_20"].shape[-1]) * EVERY
    for j, thr in enumerate(c["thresholds"]):
        ax.plot(steps, c["cost_every_20"][0, j], color=COLORS[j], lw=0.8, label=f"2/eta = {thr:g}")
        cross = c["runs"][0][j].get("cross_step")
        if cross is not None:
            ax.axvline(cross, color=COLORS[j], ls=":", lw=0.8)
    ax.set(yscale="log", xlabel="step", ylabel="training cost (first seed, every 20 steps)")
    ax.set_title(f"({chr(97 + panel)}) {slug}: cost (dotted: crossings)", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)


def _draw_counts(ax, m: dict, panel: int) -> None:
    kinds = ("sharpening", "early", "catapult", "never")
    for k, (cost, name) in enumerate((("MSE", "quadratic"), ("CE", "log_likelihood"))):
        counts = _classes(_pooled(m, name))["counts"]
        ax.bar(np.arange(4) + 0.4 * k - 0.2, [counts[x] for x in kinds], width=0.4,
               color=("tab:blue", "tab:orange")[k], label=f"{cost} runs")
    ax.set_xticks(np.arange(4), kinds, fontsize=8)
    ax.set(ylabel="runs")
    ax.set_title(f"({chr(97 + panel)}) how each run reached 0.95 x 2/eta", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
