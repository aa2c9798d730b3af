"""Small weight changes: a step perceptron jumps, a sigmoid neuron moves smoothly.

Notes, "Sigmoid neurons": the desideratum is that a *small* change in any
weight causes a *small* change in the output, and calculus gives it for a
smooth activation,

    Delta output ~ sum_j (d output / d w_j) Delta w_j + (d output / d b) Delta b,

whereas the step function "is not continuous (it also has derivatives = 0)".

Measured, in float64:

* one neuron (3 inputs, ``a = w.x + b = 0.5``) with weight ``w_1`` swept by
  ``dw``: the step output stays put and then jumps by exactly 1 at
  ``dw* = -a / x_1``; the sigmoid output follows ``sigma'(a) x_1 dw`` and the
  error of that linear prediction shrinks like ``dw^2`` (Taylor: slope 2 on
  log-log axes);
* a population of random networks ``4 -> 8 -> 1`` (the same weights with step
  or sigmoid units) with one random weight perturbed by ``+-dw``: the sigmoid
  networks' changes are proportional to ``dw`` (log-log slope 1) and match
  ``grad . Delta w``; every change of a step network is either 0 or a full
  jump of 1, however small ``dw`` is (slope 0 for the changes that occur),
  and its gradient is identically 0.

Every claim is a check (``experiments/claims/sigmoid_vs_step.py``): the step's
behaviour follows from its definition and the sigmoid's from Taylor's theorem.
The population's statistics are computed on disjoint sub-populations (the
registered count), with 95% t-intervals over them.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _host_random
from experiments._common import decide, figure, save, seeds, t_interval
from fnn import nn

NAME = "sigmoid_vs_step"
SECTION = "Sigmoid neurons"


def _neuron(output: str, w: np.ndarray, b: float) -> tuple[nn.MLP, nn.Params]:
    """A single neuron ``sigma(w.x + b)`` as a one-layer fnn MLP, float64."""
    net = nn.MLP((w.size, 1), output=output)
    params = ({"W": jnp.asarray(w[None, :], jnp.float64), "b": jnp.asarray([b], jnp.float64)},)
    return net, params


def _perturb(params: nn.Params, dw: jax.Array, idx: tuple[int, int]) -> nn.Params:
    """``params`` with first-layer weight ``W[idx]`` moved by ``dw``."""
    first = dict(params[0])
    first["W"] = first["W"].at[idx].add(dw)
    return (first, *params[1:])


def _slope(x, y) -> float:
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def _one_neuron(n_sweep: int, dws: np.ndarray, quick: bool) -> tuple[list, dict, dict]:
    """One neuron with ``w_1`` swept: the step jumps at ``dw* = -a/x_1``, the sigmoid follows ``sigma'(a) x_1 dw``."""
    verdicts, data = [], {}
    with jax.enable_x64(True):
        # 1. one neuron ---------------------------------------------------------
        x = jnp.asarray([[1.0, 0.5, -0.3]], jnp.float64)
        w = np.array([0.6, -0.4, 0.8])
        a0 = 0.5
        b = a0 - float(w @ np.asarray(x[0]))
        step_net, p_step = _neuron("step", w, b)
        sig_net, p_sig = _neuron("sigmoid", w, b)
        sweep = jnp.linspace(-1.0, 1.0, n_sweep, dtype=jnp.float64)

        def out(net, p, dw):
            return net.apply(_perturb(p, dw, (0, 0)), x)[0, 0]

        def delta(net, p, dws_):
            return np.asarray(jax.jit(jax.vmap(lambda dw: out(net, p, dw) - out(net, p, 0.0)))(dws_))

        d_step = delta(step_net, p_step, sweep)
        d_sig = delta(sig_net, p_sig, sweep)
        g_sig = float(jax.grad(lambda dw: out(sig_net, p_sig, dw))(0.0))
        g_step = float(jax.grad(lambda dw: out(step_net, p_step, dw))(0.0))
        x1 = float(x[0, 0])
        sig = 1.0 / (1.0 + np.exp(-a0))
        g_pred = sig * (1 - sig) * x1  # sigma'(a) x_1

        only_jumps = np.isin(d_step, [0.0, 1.0, -1.0])
        sweep_np = np.asarray(sweep)
        jumps = np.flatnonzero(np.diff(d_step) != 0)  # the output changes between i and i+1
        jump_at = float(0.5 * (sweep_np[jumps[0]] + sweep_np[jumps[0] + 1])) if jumps.size else np.nan
        dw_star = -a0 / x1
        spacing = float(sweep_np[1] - sweep_np[0])
        one_jump = jumps.size == 1
        verdicts.append(decide(f"{NAME}/step-jumps-only", float(np.mean(only_jumps)), quick=quick))
        verdicts.append(decide(f"{NAME}/step-jump-location", abs(jump_at - dw_star) if one_jump else float("inf"),
                               quick=quick, detail={"jump_at": jump_at, "predicted": dw_star, "jumps": int(jumps.size),
                                                    "sweep_step": spacing}))
        verdicts.append(decide(f"{NAME}/sigmoid-gradient", abs(g_sig - g_pred) / abs(g_pred), quick=quick,
                               detail={"jax_grad": g_sig, "predicted": g_pred}))
        # linearization error vs dw (Taylor: second order)
        small = jnp.asarray(dws, jnp.float64)
        exact = delta(sig_net, p_sig, small)
        lin_err = np.abs(exact - g_sig * dws)
        fit = dws <= 1e-2  # well inside the quadratic regime, above round-off (~1e-16 / dw^2)
        fit &= dws >= 1e-5
        s_lin = _slope(dws[fit], lin_err[fit])
        verdicts.append(decide(f"{NAME}/taylor-remainder-slope", s_lin, quick=quick))
        # the Taylor coefficient itself: Delta output - sigma'(a) x_1 dw = sigma''(a) x_1^2 dw^2 / 2 + O(dw^3)
        coef_pred = abs(sig * (1 - sig) * (1 - 2 * sig)) * x1**2 / 2.0
        coef = lin_err[fit] / dws[fit] ** 2
        coef_dev = float(np.max(np.abs(coef / coef_pred - 1.0)))
        verdicts.append(decide(f"{NAME}/taylor-remainder-coefficient", coef_dev, quick=quick,
                               detail={"predicted_coefficient": coef_pred}))
        data["neuron"] = {
            "x": np.asarray(x[0]),
            "w": w,
            "b": b,
            "a": a0,
            "grad_sigmoid": g_sig,
            "grad_sigmoid_predicted": g_pred,
            "grad_step": g_step,
            "jump_at": jump_at,
            "jump_predicted": dw_star,
            "dw": dws,
            "linearization_error": lin_err,
            "linearization_slope": s_lin,
        }
    plot = {"sweep_np": sweep_np, "d_step": d_step, "d_sig": d_sig, "g_sig": g_sig, "dw_star": dw_star, "a0": a0,
            "lin_err": lin_err, "fit": fit, "s_lin": s_lin}
    return verdicts, data, plot


def _population_changes(seed: int, n_pop: int, dws: np.ndarray) -> tuple[np.ndarray, ...]:
    """Output changes and ``grad . Delta w`` of random ``4 -> 8 -> 1`` networks, sigmoid and step, each with one
    random first-layer weight moved by ``+-dw``: four arrays ``(len(dws), n_pop)``."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(seed)
        small = jnp.asarray(dws, jnp.float64)
        proto_sig = nn.MLP((4, 8, 1), hidden="sigmoid", output="sigmoid")
        proto_step = nn.MLP((4, 8, 1), hidden="step", output="step")
        params = _host_random.stacked_params(proto_sig, rng, n_pop, jnp.float64, std=1.0)
        params = tuple(
            {"W": layer["W"], "b": jnp.asarray(rng.normal(size=layer["b"].shape), jnp.float64)} for layer in params
        )
        xs = jnp.asarray(rng.normal(size=(n_pop, 4)), jnp.float64)
        rows = jnp.asarray(rng.integers(0, 8, size=n_pop), jnp.int32)
        cols = jnp.asarray(rng.integers(0, 4, size=n_pop), jnp.int32)
        signs = jnp.asarray(rng.choice([-1.0, 1.0], size=n_pop), jnp.float64)

        def change(net, p, xi, r, c, dw):
            first = dict(p[0])
            first["W"] = first["W"].at[r, c].add(dw)
            return net.apply((first, p[1]), xi)[0] - net.apply(p, xi)[0]

        def grad_dot(net, p, xi, r, c, dw):
            return jax.grad(lambda e: change(net, p, xi, r, c, e))(0.0) * dw

        def table(fn, net):
            per = jax.vmap(fn, in_axes=(None, 0, 0, 0, 0, 0))
            return np.asarray(
                jax.jit(jax.vmap(lambda dw: per(net, params, xs, rows, cols, signs * dw)))(small)
            )  # (n_dw, n_pop)

        return (table(change, proto_sig), table(grad_dot, proto_sig),
                table(change, proto_step), table(grad_dot, proto_step))


def _population(seed: int, n_pop: int, dws: np.ndarray, quick: bool) -> tuple[list, dict, dict]:
    """Random ``4 -> 8 -> 1`` networks, step and sigmoid, one random weight perturbed by ``+-dw``."""
    verdicts, data = [], {}
    ch_sig, lin_sig, ch_step, lin_step = _population_changes(seed, n_pop, dws)
    med_sig = np.median(np.abs(ch_sig), axis=1)
    nz = np.abs(ch_step) > 0
    flip_frac = nz.mean(axis=1)
    step_sizes = np.abs(ch_step[nz])
    med_step_nz = np.array([np.median(np.abs(r[r != 0])) if np.any(r != 0) else np.nan for r in ch_step])
    lin_range = dws <= 1e-2  # the small changes the first-order claim is about
    s_sig = _slope(dws[lin_range], med_sig[lin_range])
    rel_lin = np.abs(ch_sig - lin_sig) / np.maximum(np.abs(lin_sig), 1e-300)
    # networks whose gradient along the perturbed weight is not ~0 (a saturated unit can make it vanish)
    informative = np.abs(lin_sig[0]) > 1e-8 * dws[0]
    idx_1e3 = int(np.argmin(np.abs(np.log(dws / 1e-3))))
    rel_1e3 = float(np.median(rel_lin[idx_1e3, informative]))
    # independent sub-populations of networks (seeds): one statistic each, then a t-interval
    n_sub = seeds(f"{NAME}/population-proportional", quick)
    chunks = np.array_split(np.arange(n_pop), n_sub)
    s_sub = np.array([_slope(dws[lin_range], np.median(np.abs(ch_sig[:, c]), axis=1)[lin_range]) for c in chunks])
    rel_sub = np.array([np.median(rel_lin[idx_1e3, c][informative[c]]) for c in chunks])
    sm, slo, shi = t_interval(s_sub)
    verdicts.append(decide(f"{NAME}/population-proportional", sm, quick=quick, interval=(slo, shi), n=n_sub,
                           detail={"per_subpopulation": s_sub, "networks_per_subpopulation": n_pop // n_sub}))
    rm, rlo, rhi = t_interval(rel_sub)
    verdicts.append(decide(f"{NAME}/population-linearization", rm, quick=quick, interval=(rlo, rhi), n=n_sub,
                           detail={"per_subpopulation": rel_sub, "all_networks": rel_1e3}))
    verdicts.append(decide(f"{NAME}/step-network-jumps",
                           float(np.mean(step_sizes == 1.0)) if step_sizes.size else 0.0, quick=quick,
                           detail={"nonzero_changes": int(step_sizes.size)}))
    max_grad_step = float(np.max(np.abs(lin_step)))
    verdicts.append(decide(f"{NAME}/step-network-gradient", max_grad_step, quick=quick))
    data["population"] = {
        "n_networks": n_pop,
        "architecture": [4, 8, 1],
        "dw": dws,
        "median_abs_change_sigmoid": med_sig,
        "slope_sigmoid": s_sig,
        "median_relative_linearization_error_sigmoid": np.median(rel_lin[:, informative], axis=1),
        "step_flip_fraction": flip_frac,
        "step_median_nonzero_change": med_step_nz,
        "step_nonzero_changes": int(step_sizes.size),
    }
    plot = {"med_sig": med_sig, "med_step_nz": med_step_nz, "flip_frac": flip_frac}
    return verdicts, data, plot


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Output change vs a small weight change, step vs sigmoid."""
    t_start = time.perf_counter()
    n_pop = 1000 if quick else 4000
    n_sweep = 401 if quick else 2001
    dws = np.geomspace(1e-6, 1.0, 13 if quick else 25)
    v1, data, plot = _one_neuron(n_sweep, dws, quick)
    v2, d2, p2 = _population(seed, n_pop, dws, quick)
    data.update(d2)
    plot.update(p2, dws=dws, n_pop=n_pop)
    fig = _figure(plot)
    data["runtime_s"] = time.perf_counter() - t_start
    return save(
        NAME,
        seed=seed,
        quick=quick,
        verdicts=v1 + v2,
        data=data,
        fig=fig,
        out_dir=out_dir,
        title="Sigmoid vs step: small weight changes, small (or jumping) output changes",
    )


def _figure(plot: dict):
    """(a) one neuron's sweep, (b) the population's changes vs dw, (c) the Taylor remainder."""
    sweep_np, d_step, d_sig, g_sig, dw_star, a0 = (plot[k] for k in ("sweep_np", "d_step", "d_sig", "g_sig", "dw_star", "a0"))
    lin_err, fit, s_lin, dws, n_pop = (plot[k] for k in ("lin_err", "fit", "s_lin", "dws", "n_pop"))
    med_sig, med_step_nz, flip_frac = plot["med_sig"], plot["med_step_nz"], plot["flip_frac"]
    fig, axes = figure(ncols=3, width=5.0, height=4.0)
    ax = axes[0, 0]
    ax.plot(sweep_np, d_step, "C3-", lw=2, label="step perceptron")
    ax.plot(sweep_np, d_sig, "C0-", lw=2, label="sigmoid neuron")
    ax.plot(sweep_np, g_sig * sweep_np, "k--", lw=1, label=r"$\sigma'(a)\,x_1\,\Delta w$")
    ax.axvline(dw_star, color="C3", ls=":", lw=1, label=r"$\Delta w^* = -a/x_1$")
    ax.set_xlabel(r"weight change $\Delta w_1$ (weight units)")
    ax.set_ylabel(r"output change $\Delta$output (output units)")
    ax.set_title(f"(a) one neuron (a = {a0})", fontsize=10)
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    ax.loglog(dws, med_sig, "C0o-", label="sigmoid nets: median |Δout|")
    ax.loglog(dws, dws * med_sig[0] / dws[0], "k--", lw=1, label=r"$\propto \Delta w$")
    ok = np.isfinite(med_step_nz)
    ax.loglog(dws[ok], med_step_nz[ok], "C3s-", label="step nets: median nonzero |Δout|")
    ax.loglog(dws[flip_frac > 0], flip_frac[flip_frac > 0], "C3^:", label="step nets: fraction that changed")
    ax.set_xlabel(r"|$\Delta w$| (one random first-layer weight)")
    ax.set_ylabel("|Δ output| (output units) / fraction")
    ax.set_title(f"(b) {n_pop} random 4-8-1 networks", fontsize=10)
    ax.set_ylim(1e-13, 5.0)  # room for the legend below the curves
    ax.legend(fontsize=8, loc="lower right")

    ax = axes[0, 2]
    ax.loglog(dws, lin_err, "C0o", mfc="none", label="one neuron: |Δout - grad·Δw| (measured)")
    ax.loglog(dws[fit], lin_err[fit][0] * (dws[fit] / dws[fit][0]) ** 2, "k--", lw=1,
              label=r"theory: $\propto \Delta w^2$ (fit range)")
    ax.set_xlabel(r"|$\Delta w$| (weight units)")
    ax.set_ylabel("linearization error (output units)")
    ax.set_title(f"(c) Taylor: second order (slope {s_lin:.2f})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Step perceptron vs sigmoid neuron: output change for a small weight change", y=1.0)
    fig.tight_layout(w_pad=2.0)
    return fig
