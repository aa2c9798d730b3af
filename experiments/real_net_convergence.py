"""The notes' convergence theory on a trained network: eigen-components, the 2/lambda_max threshold, kappa.

Notes, "Convergence": near a minimum ``w*`` GD acts on each eigen-component of
``w - w*`` separately, ``alpha_i(t+1) = (1 - eta lambda_i) alpha_i(t)``; it is
stable iff ``eta < 2/lambda_max``; with ``eta = 1/lambda_max`` the iterations
to shrink every component by ``tol`` grow like ``kappa ln(1/tol)``. Here on a
real network (Fashion-MNIST, else MNIST; a fixed class-balanced subset; an MLP
784-32-10, tanh, quadratic cost with a linear output; float64), five seeds:

1. train to near a minimum (Adam, then GD polish at ``eta = 1/lambda_max``);
   top ``K = 20`` eigenpairs (8 in quick mode) there (``fnn.curvature.eigenpairs``, Lanczos);
2. run GD from ``w*`` and from ``w* + delta`` and follow the difference of the two
   runs along ``u_i``: it contracts by ``1 - eta lambda_i`` per step (the
   reference run cancels the small gradient left at ``w*``);
3. ``eta`` 5% below ``2/lambda_max``: a perturbation along ``u_1`` dies out;
   5% above: it grows by ``|1 - eta lambda_1| = 1.1`` per step and GD leaves
   the minimum (what happens next is the edge of stability: it does not blow up);
4. in the span of the top ``k`` directions, where the quadratic model holds, the
   iterations to ``tol`` equal ``analysis.iterations_to_tolerance`` for
   ``lambda_1..lambda_k`` and grow with ``kappa_k = lambda_1 / lambda_k``;
5. over all parameters the Hessian is degenerate (``lambda_min ~ 0`` or below,
   Sagun et al. 2017), so the notes' ``kappa = lambda_max / lambda_min`` is not
   finite and says nothing about training: the model holds in the top directions.

Measured (full mode, seed 0, 500 Fashion-MNIST examples, 784-32-10, five seeds;
paper_figures/real_net_convergence.json): every claim as expected. The top 20
per-step factors equal 1 - eta lambda_i to 5e-5 (worst over i and seeds); at
0.95 x 2/lambda_max the u_1 component falls to 5e-9 of its start in 200 steps,
at 1.05 x it grows by 1.1000 +- 1e-4 per step until, ~2,000x larger, the
network leaves the quadratic region and settles elsewhere with a finite cost
(at most 450x the minimum's), as at the edge of stability. In the top-k span
(kappa_k from 1.2 to 14) the measured step counts equal
analysis.iterations_to_tolerance exactly (e.g. 93 steps at kappa_20 = 13.9);
over all 25,450 parameters lambda_min / lambda_max = 2e-8: the notes' kappa
would be ~5e7, and predicts nothing about how training goes.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments._common import figure, save, t_interval, verdict
from experiments.edge_of_stability import load_subset
from fnn import analysis, backprop, curvature, optim
from fnn.nn import MLP

SECTION = "Convergence"
EPS = 1e-5  # size of the perturbation in each eigen-direction (the weights are O(0.1))


def _settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"n": 200, "hidden": 16, "adam_steps": 800, "polish": 200, "T_a": 10, "T_b": 80, "T_c": 200, "K": 8, "ks": (2, 4, 8)}
    return {"n": 500, "hidden": 32, "adam_steps": 4000, "polish": 500, "T_a": 10, "T_b": 200, "T_c": 400, "K": 20, "ks": (2, 4, 8, 14, 20)}


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    with jax.enable_x64(True):
        return _run(quick, seed, out_dir)


def _gd_pair(f, w0, delta, eta, U, steps):
    """GD from ``w0`` and ``w0 + delta``: ``U (w_t^delta - w_t)`` for ``t = 0..steps`` and the cost of the perturbed run."""
    g = jax.grad(f)

    def step(carry, _):
        w, wd = carry
        w, wd = w - eta * g(w), wd - eta * g(wd)
        return (w, wd), (U @ (wd - w), f(wd))

    _, (alpha, costs) = jax.lax.scan(step, (w0, w0 + delta), None, length=steps)
    return jnp.concatenate([(U @ delta)[None], alpha]), costs


def _steps_to_tol(alpha: np.ndarray, tol: float) -> int:
    """First ``t`` with ``max_i |alpha_i(t)| / |alpha_i(0)| <= tol`` (the run's length if never)."""
    rel = np.max(np.abs(alpha) / np.abs(alpha[0])[None, :], axis=1)
    hit = np.flatnonzero(rel <= tol)
    return int(hit[0]) if hit.size else alpha.shape[0]


def _train(net, x, y, seeds, s):
    unravel = ravel_pytree(net.init(jax.random.key(0), jnp.float64))[1]

    def f(w):
        return backprop.loss(net, "quadratic", unravel(w), x, y)

    w0 = jnp.stack([ravel_pytree(net.init(jax.random.key(int(k)), jnp.float64))[0] for k in seeds])
    ws = jax.jit(jax.vmap(lambda w: optim.minimize(f, w, optim.adam(1e-3), s["adam_steps"])[0]))(w0)
    return f, unravel, ws


def _seed_measurements(net, f, unravel, w, x, y, s) -> dict[str, Any]:
    """Everything measured around one trained network ``w`` (raveled)."""
    gd = jax.jit(_gd_pair, static_argnums=(0, 5))
    mv_eig = lambda w: curvature.eigenpairs(net, "quadratic", unravel(w), x, y, s["K"], num_iters=150)  # noqa: E731
    # polish with GD at eta = 1/lambda_max: the top directions converge in a few steps
    e = mv_eig(w)
    w = jax.jit(lambda w: optim.minimize(f, w, optim.gd(1.0), s["polish"], rate=1.0 / e.values[0])[0])(w)
    e = mv_eig(w)
    lam, U = np.asarray(e.values), jnp.asarray(e.vectors)
    low = curvature.eigenpairs(net, "quadratic", unravel(w), x, y, 1, num_iters=120, which="smallest")
    # the true residuals ||H u_i - lambda_i u_i|| (one more HVP each), not Lanczos's own estimate
    mv = curvature.make_matvec(net, "quadratic", unravel(w), x, y)
    true_res = np.asarray([float(jnp.linalg.norm(mv(U[i]) - lam[i] * U[i])) for i in range(lam.size)])
    out: dict[str, Any] = {"lam": lam, "residuals": true_res, "lanczos_residuals": np.asarray(e.residuals),
                           "lam_min": float(low.values[0]),
                           "grad_norm": float(jnp.linalg.norm(jax.grad(f)(w))), "cost": float(f(w))}
    # (a) contraction per component at eta = 1.5 / lambda_1 (factors from -0.5 up to near 1)
    eta = 1.5 / lam[0]
    alpha, _ = gd(f, w, EPS * jnp.sum(U, axis=0), eta, U, s["T_a"])
    alpha = np.asarray(alpha)
    # least-squares factor of the recursion alpha(t+1) = rho alpha(t), dominated by the early (large) steps
    measured = np.sum(alpha[1:] * alpha[:-1], axis=0) / np.sum(alpha[:-1] ** 2, axis=0)
    out["a"] = {"eta": eta, "measured": measured, "predicted": 1 - eta * lam, "alpha": alpha}
    # (b) just below / just above 2 / lambda_1, perturbation along u_1
    out["b"] = {}
    for name, fac in (("below", 0.95), ("above", 1.05)):
        eta = fac * 2.0 / lam[0]
        alpha, costs = gd(f, w, EPS * U[0], eta, U, s["T_b"])
        a1 = np.abs(np.asarray(alpha)[:, 0]) / EPS
        costs = np.asarray(costs)
        early = (a1[20] / a1[0]) ** (1 / 20)
        out["b"][name] = {"eta": eta, "a1": a1, "cost": costs, "early_factor": early,
                          "predicted_factor": abs(1 - eta * lam[0])}
    # (c) iterations to tol in the span of the top k directions at eta = 1/lambda_1
    out["c"] = []
    tol = 1e-3
    for k in s["ks"]:
        eta = 1.0 / lam[0]
        pred = float(analysis.iterations_to_tolerance(lam[:k], eta, tol))
        alpha, _ = gd(f, w, EPS * jnp.sum(U[:k], axis=0), eta, U[:k], s["T_c"])
        out["c"].append({"k": k, "kappa": float(lam[0] / lam[k - 1]), "predicted": pred,
                         "measured": _steps_to_tol(np.asarray(alpha), tol)})
    return out


def _run(quick: bool, seed: int, out_dir) -> dict:
    s = _settings(quick)
    seeds = [seed + i for i in range(5)]
    name, x, y = load_subset(s["n"])
    fig, axes = figure(ncols=3, nrows=1, width=4.6, height=3.6)
    if name is None:
        v = [verdict("the notes' convergence theory on a trained network", float("nan"), "(1 - eta lambda_i)", False,
                     "data set absent", SECTION, kind="prediction", skipped=x)]
        return save("real_net_convergence", seed=seed, quick=quick, verdicts=v, data={}, fig=fig, out_dir=out_dir)
    x, y = jnp.asarray(x, jnp.float64), jnp.asarray(y)
    net = MLP((784, s["hidden"], 10), hidden="tanh", output="linear", w_init="xavier")
    f, unravel, ws = _train(net, x, y, seeds, s)
    per = [_seed_measurements(net, f, unravel, ws[i], x, y, s) for i in range(len(seeds))]
    verdicts = _verdicts(per, s)
    _plot(axes[0], per, s["K"])
    for ax in axes[0]:
        ax.title.set_fontsize(9)
    fig.suptitle(f"784-{s['hidden']}-10 tanh, quadratic cost, {s['n']} {name} examples, near a minimum (float64)", y=1.03)
    data_out = {"dataset": name, "settings": s, "seeds": seeds, "per_seed": per}
    return save("real_net_convergence", seed=seed, quick=quick, verdicts=verdicts, data=data_out, fig=fig,
                out_dir=out_dir, title="The notes' convergence theory on a trained network")


def _ci(v):
    v = np.asarray(v, np.float64)
    return t_interval(v) if np.ptp(v) > 0 else (float(v.mean()), float(v.min()), float(v.max()))


def _verdicts(per, s) -> list[dict]:
    S = len(per)
    out = []
    err = [float(np.max(np.abs(p["a"]["measured"] - p["a"]["predicted"]))) for p in per]
    m, lo, hi = _ci(err)
    out.append(verdict(
        f"each of the top {s['K']} eigen-components of a perturbation contracts by 1 - eta lambda_i per step "
        f"(eta = 1.5/lambda_1; max_i |measured factor - (1 - eta lambda_i)| over {s['T_a']} steps)",
        m, 0.0, hi <= 0.01, "upper end of the 95% t-interval over seeds <= 0.01", SECTION,
        kind="prediction", interval=(lo, hi), n_seeds=S))
    below = [p["b"]["below"]["a1"][-1] for p in per]
    pred_below = max(p["b"]["below"]["predicted_factor"] ** s["T_b"] for p in per)
    out.append(verdict(
        f"eta = 0.95 * 2/lambda_max: the component along u_1 dies out (|alpha_1(T)| / |alpha_1(0)|, T = {s['T_b']}, "
        "largest over seeds)", float(np.max(below)), f"0.9^T = {pred_below:.2g}", float(np.max(below)) <= 1e-3,
        "<= 1e-3 for every seed", SECTION, kind="prediction", n_seeds=S))
    f_err = [abs(p["b"]["above"]["early_factor"] - p["b"]["above"]["predicted_factor"]) for p in per]
    m, lo, hi = _ci(f_err)
    out.append(verdict(
        "eta = 1.05 * 2/lambda_max: the component along u_1 grows by |1 - eta lambda_1| = 1.1 per step "
        "(|measured factor over the first 20 steps - 1.1|)", m, 0.0, hi <= 0.01,
        "upper end of the 95% t-interval over seeds <= 0.01", SECTION, kind="prediction", interval=(lo, hi), n_seeds=S))
    grow = [float(np.max(p["b"]["above"]["a1"])) for p in per]
    out.append(verdict(
        "...so GD leaves the minimum: max_t |alpha_1(t)| / |alpha_1(0)| (smallest over seeds)",
        float(np.min(grow)), ">= 100", float(np.min(grow)) >= 100, "every seed >= 100", SECTION,
        kind="prediction", n_seeds=S))
    finite = all(np.all(np.isfinite(p["b"]["above"]["cost"])) for p in per)
    rise = [float(np.max(p["b"]["above"]["cost"]) / p["cost"]) for p in per]
    out.append(verdict(
        "...but it does not diverge to infinity (Cohen et al.; the quadratic model would): the cost stays finite; "
        "largest cost over the run / cost at the minimum, largest over seeds",
        float(np.max(rise)), "finite", finite, "every cost finite", SECTION, kind="prediction", n_seeds=S))
    rel = [max(abs(c["measured"] - c["predicted"]) / c["predicted"] for c in p["c"]) for p in per]
    short = max(c["predicted"] for p in per for c in p["c"]) >= s["T_c"]
    m, lo, hi = _ci(rel)
    out.append(verdict(
        f"in the span of the top k eigenvectors (k in {list(s['ks'])}) GD at eta = 1/lambda_1 needs the iterations "
        "analysis.iterations_to_tolerance(lambda_1..lambda_k) predicts (~ kappa_k ln(1/tol), tol = 1e-3): "
        "max relative error over k", m, 0.0, hi <= 0.05, "upper end of the 95% t-interval over seeds <= 5%",
        SECTION, kind="prediction", interval=(lo, hi), n_seeds=S))
    ratio = [p["lam_min"] / p["lam"][0] for p in per]
    m, lo, hi = _ci(ratio)
    out.append(verdict(
        "over all parameters the Hessian at the trained point is degenerate (Sagun et al. 2017): "
        "lambda_min / lambda_max is ~0 or negative, so the notes' kappa = lambda_max / lambda_min is not a "
        "finite, meaningful number (it would predict no convergence at all)",
        m, "<= 1e-3", hi <= 1e-3, "upper end of the 95% t-interval <= 1e-3", SECTION,
        kind="prediction", interval=(lo, hi), n_seeds=S))
    res = max(float(np.max(p["residuals"] / p["lam"][0])) for p in per)
    out.append(verdict(f"the top {s['K']} Lanczos eigenpairs are converged: max true residual ||H u - lambda u|| / lambda_1 "
                       "(one extra HVP per pair)",
                       res, 0.0, res <= 1e-6, "<= 1e-6 (float64)", SECTION, kind="check"))
    return out


def _plot(axes, per, K) -> None:
    ax = axes
    for p in per:
        ax[0].plot(p["a"]["predicted"], p["a"]["measured"], "o", ms=4, alpha=0.7)
    lim = [-0.6, 1.0]
    ax[0].plot(lim, lim, "k--", lw=1, label="measured = 1 - eta lambda_i")
    ax[0].set(xlabel="1 - eta lambda_i (eta = 1.5/lambda_1)", ylabel="measured factor per step",
              title=f"(a) top {K} eigen-components, 5 seeds")
    ax[0].legend(fontsize=8)
    p = per[0]
    for name, c in (("below", "tab:blue"), ("above", "tab:red")):
        b = p["b"][name]
        t = np.arange(b["a1"].size)
        ax[1].semilogy(t, b["a1"], color=c, label=f"eta = {'0.95' if name == 'below' else '1.05'} * 2/lambda_1")
        ax[1].semilogy(t, b["predicted_factor"] ** t, color=c, ls=":", lw=1)
    ax[1].set(xlabel="step", ylabel="|alpha_1(t)| / |alpha_1(0)|", title="(b) threshold (dotted: |1 - eta lambda_1|^t)")
    ax[1].legend(fontsize=8)
    for p in per:
        k = [c["kappa"] for c in p["c"]]
        ax[2].loglog(k, [c["measured"] for c in p["c"]], "o", color="tab:blue", ms=4)
        ax[2].loglog(k, [c["predicted"] for c in p["c"]], "x", color="k", ms=5)
    kk = np.geomspace(1.01, max(c["kappa"] for p in per for c in p["c"]) * 1.2, 50)
    ax[2].loglog(kk, np.log(1e3) / -np.log(1 - 1 / kk), "k:", lw=1, label="ln(1/tol) / -ln(1 - 1/kappa_k)")
    ax[2].set(xlabel="kappa_k = lambda_1 / lambda_k", ylabel="GD steps to tol = 1e-3",
              title="(c) steps vs kappa_k (o measured, x predicted)")
    ax[2].legend(fontsize=8)
