"""The notes' convergence theory on a trained network: eigen-components, the 2/lambda_max threshold, kappa.

Notes, "Convergence": near a minimum ``w*`` GD acts on each eigen-component of
``w - w*`` separately, ``alpha_i(t+1) = (1 - eta lambda_i) alpha_i(t)``; it is
stable iff ``eta < 2/lambda_max``; at ``eta = 1/lambda_max`` the iterations to
shrink every component by ``tol`` grow like ``kappa ln(1/tol)``.

On what: an MLP 784-32-10 (tanh, linear output, quadratic cost, float64) on a
fixed class-balanced subset of Fashion-MNIST (else MNIST), 500 examples,
trained to near a minimum (Adam, then GD at ``eta = 1/lambda_max``), one
minimum per registered seed; the top ``K = 20`` eigenpairs there by Lanczos.
Quick mode: 784-16-10, 200 examples, ``K = 8``.

What is measured: GD from ``w*`` and from ``w* + delta`` (``delta`` 1e-5 along
eigenvectors) and the difference of the two runs along each ``u_i`` (the
reference run cancels the gradient left at ``w*``): (a) its factor per step at
``eta = 1.5/lambda_1``; (b) along ``u_1`` at ``eta`` 5% below and 5% above
``2/lambda_1``; (c) the steps to ``tol = 1e-3`` in the span of the top ``k``
eigenvectors against ``analysis.iterations_to_tolerance``; and
``lambda_min / lambda_max`` over all parameters.

How it decides: by the rules registered in
``experiments/claims/real_net_convergence.py``. Everything the linearization
at ``w*`` fixes (the factors, the decay below the threshold, the growth factor
above it, the step counts, the degenerate Hessian, forced by rank) is a check;
the prediction is that the unstable mode above ``2/lambda_max`` grows to at
least 100 x the perturbation before the network's nonlinearity stops it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments._common import decide, figure, save, seeds
from experiments import _registry
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
    seed_list = [seed + i for i in range(seeds("real_net_convergence/leaves-the-minimum", quick))]
    name, x, y = load_subset(s["n"])
    fig, axes = figure(ncols=3, nrows=1, width=4.6, height=3.6)
    if name is None:
        v = [decide(cid, None, quick=quick, skipped=x) for cid in _registry.claims("real_net_convergence")]
        return save("real_net_convergence", seed=seed, quick=quick, verdicts=v, data={}, fig=fig, out_dir=out_dir)
    x, y = jnp.asarray(x, jnp.float64), jnp.asarray(y)
    net = MLP((784, s["hidden"], 10), hidden="tanh", output="linear", w_init="xavier")
    f, unravel, ws = _train(net, x, y, seed_list, s)
    per = [_seed_measurements(net, f, unravel, ws[i], x, y, s) for i in range(len(seed_list))]
    verdicts = _verdicts(per, s, quick)
    _plot(axes[0], per, s["K"])
    for ax in axes[0]:
        ax.title.set_fontsize(9)
    fig.tight_layout(w_pad=2.0)
    fig.suptitle(f"784-{s['hidden']}-10 tanh, quadratic cost, {s['n']} {name} examples, near a minimum (float64)", y=1.03)
    data_out = {"dataset": name, "settings": s, "seeds": seed_list, "per_seed": per}
    return save("real_net_convergence", seed=seed, quick=quick, verdicts=verdicts, data=data_out, fig=fig,
                out_dir=out_dir, title="The notes' convergence theory on a trained network")


def _verdicts(per, s, quick: bool) -> list[dict]:
    """Decide the registered claims on the per-seed measurements ``per``."""
    S = len(per)
    err = [float(np.max(np.abs(p["a"]["measured"] - p["a"]["predicted"]))) for p in per]
    below = [float(p["b"]["below"]["a1"][-1]) for p in per]
    f_err = [abs(p["b"]["above"]["early_factor"] - p["b"]["above"]["predicted_factor"]) for p in per]
    grow = [float(np.max(p["b"]["above"]["a1"])) for p in per]
    finite = all(bool(np.all(np.isfinite(p["b"]["above"]["cost"]))) for p in per)
    rise = [float(np.max(p["b"]["above"]["cost"]) / p["cost"]) for p in per]
    rel = [max(abs(c["measured"] - c["predicted"]) / c["predicted"] for c in p["c"]) for p in per]
    ratio = [p["lam_min"] / p["lam"][0] for p in per]
    res = [float(np.max(p["residuals"] / p["lam"][0])) for p in per]
    d = "real_net_convergence/"
    return [
        decide(d + "contraction-factors", max(err), quick=quick, n=S, detail={"per_seed": err}),
        decide(d + "below-threshold-decays", max(below), quick=quick, n=S,
               detail={"per_seed": below, "linear_prediction": max(p["b"]["below"]["predicted_factor"] ** s["T_b"]
                                                                   for p in per)}),
        decide(d + "above-threshold-factor", max(f_err), quick=quick, n=S, detail={"per_seed": f_err}),
        decide(d + "leaves-the-minimum", min(grow), quick=quick, n=S, detail={"per_seed": grow}),
        decide(d + "above-threshold-cost-finite", float(finite), quick=quick, n=S,
               detail={"max_cost_over_cost_at_minimum_per_seed": rise}),
        decide(d + "steps-in-top-k-span", max(rel), quick=quick, n=S,
               detail={"per_seed": rel, "steps": [[(c["k"], c["measured"], c["predicted"]) for c in p["c"]]
                                                  for p in per]}),
        decide(d + "hessian-degenerate", max(ratio), quick=quick, n=S, detail={"per_seed": ratio}),
        decide(d + "lanczos-converged", max(res), quick=quick, n=S, detail={"per_seed": res}),
    ]


def _plot(axes, per, K) -> None:
    ax = axes
    for i, p in enumerate(per):
        ax[0].plot(p["a"]["predicted"], p["a"]["measured"], "o", ms=4, alpha=0.6, color="tab:blue",
                   label=f"measured ({len(per)} seeds x {K} components)" if i == 0 else None)
    lim = [-0.6, 1.0]
    ax[0].plot(lim, lim, "k--", lw=1, label="measured = 1 - eta lambda_i")
    ax[0].set(xlabel="1 - eta lambda_i (eta = 1.5/lambda_1)", ylabel="measured factor per step",
              title=f"(a) top {K} eigen-components")
    ax[0].legend(fontsize=8, loc="upper left")
    p = per[0]
    for name, c in (("below", "tab:blue"), ("above", "tab:red")):
        b = p["b"][name]
        t = np.arange(b["a1"].size)
        ax[1].semilogy(t, np.maximum(b["a1"], 1e-12), color=c, lw=2, alpha=0.6,
                       label=f"eta = {'0.95' if name == 'below' else '1.05'} x 2/lambda_1, measured")
        ax[1].semilogy(t, b["predicted_factor"] ** t, color="k", ls=":", lw=1,
                       label="|1 - eta lambda_1|^t (linear model)" if name == "below" else None)
    ax[1].axhline(100, color="0.5", ls="--", lw=1, label="100 (leaves-the-minimum bound)")
    ax[1].set(xlabel="step", ylabel="|alpha_1(t)| / |alpha_1(0)|", ylim=(1e-11, 1e10),
              title="(b) the 2/lambda_1 threshold, first seed")
    ax[1].legend(fontsize=8, loc="upper left")
    for i, p in enumerate(per):
        k = [c["kappa"] for c in p["c"]]
        ax[2].loglog(k, [c["measured"] for c in p["c"]], "o", color="tab:blue", ms=4,
                     label="measured (all seeds)" if i == 0 else None)
        ax[2].loglog(k, [c["predicted"] for c in p["c"]], "x", color="k", ms=5,
                     label="analysis.iterations_to_tolerance" if i == 0 else None)
    kk = np.geomspace(1.01, max(c["kappa"] for p in per for c in p["c"]) * 1.2, 50)
    ax[2].loglog(kk, np.log(1e3) / -np.log(1 - 1 / kk), "k:", lw=1, label="ln(1/tol) / -ln(1 - 1/kappa_k)")
    ax[2].set(xlabel="kappa_k = lambda_1 / lambda_k", ylabel="GD steps to tol = 1e-3",
              title="(c) steps vs kappa_k in the top-k span")
    ax[2].legend(fontsize=8, loc="upper left")
