"""Saturation and low activations slow learning down (consequences of BP1-BP4).

Notes, "Consequences of the four equations of BP":

* BP4, ``dC/dw_jk^l = z_k^{l-1} delta_j^l``: "whenever ``z_in`` is small, the
  gradient will also tend to be small" — weights out of low-activation units
  learn slowly;
* BP1, ``delta_j^L = dC/dz_j^L sigma'(a_j^L)``: an output neuron whose
  ``sigma'`` is ~0 (saturated, activation ~0 or ~1) learns slowly — even when
  its error ``z - y`` is as large as it can be;
* BP2, ``delta^l = ((W^{l+1})^T delta^{l+1}) (.) sigma'(a^l)``: the same for
  hidden units.

Measured with fnn's hand-written backprop in float64 (the sigmoid's tails go
below float32's resolution of ``1 - sigma``):

1. one example through ``6 -> 5 -> 3``: every first-layer weight gradient
   against its input's activation ``z_k`` (spanning 4 decades): the gradient is
   ``z_k`` times the bias gradient ``dC/db_j = delta_j`` (BP3), slope 1;
2. full-batch GD on tasks whose 8 input features have scales ``s_k`` from
   ``1e-3`` to 1: how far each input's weights move — proportional to ``s_k``
   (geometric mean over independent random tasks: in one task, how strongly
   each feature correlates with the error is itself random);
3. one sigmoid output unit, quadratic cost, target 0, its weighted input
   swept over ``[-15, 15]``: ``dC/db / (z - y) = sigma'(a)``, so a saturated,
   wrong unit (``a = 10``, ``z - y ~ 1``) gets ~4e-4 of the gradient of an
   unsaturated one;
4. a hidden unit of ``4 -> 6 -> 2`` whose bias is swept: its incoming weights'
   gradient is ``sigma'(a_j)`` times ``|(W^T delta)_j| ||z_in||``.

How it decides (``experiments/claims/saturation.py``): 1, 3 and 4 are checks
of identities (relative errors below float64 thresholds); 2 is a prediction,
the mean over 32 tasks (8 in quick mode) of each task's log-log slope, whose
95% t-interval must lie inside [0.9, 1.1].
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _host_random
from experiments._common import decide, figure, save, seeds, t_interval
from fnn import backprop, nn, optim

NAME = "saturation"


def _sigma_prime(a: np.ndarray) -> np.ndarray:
    """``sigma'(a) = e^{-|a|} / (1 + e^{-|a|})^2`` in numpy float64 (symmetric, no cancellation)."""
    e = np.exp(-np.abs(a))
    return e / (1.0 + e) ** 2


def _slope(x, y) -> float:
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def _bp4_one_example(rng: np.random.Generator, quick: bool):
    """BP4 on one example through ``6 -> 5 -> 3``: dC/dw_jk = z_k delta_j."""
    verdicts, data = [], {}
    # 1. BP4 on one example ------------------------------------------------
    net = nn.MLP((6, 5, 3), hidden="sigmoid", output="sigmoid")
    params = _host_random.params(net, rng, jnp.float64)
    z_in = np.geomspace(1e-4, 1.0, 6)
    x = jnp.asarray(z_in[None, :], jnp.float64)
    y = jnp.asarray([[0.0, 1.0, 0.0]], jnp.float64)
    g = jax.jit(lambda p: backprop.grad(net, "quadratic", p, x, y))(params)
    gW = np.asarray(g[0]["W"])  # (5, 6): dC/dw_jk
    delta = np.asarray(g[0]["b"])  # (5,): BP3, dC/db_j = delta_j
    pred = delta[:, None] * z_in[None, :]
    rel_bp4 = float(np.max(np.abs(gW - pred) / np.abs(pred)))
    slopes = [_slope(z_in, np.abs(row)) for row in gW]
    worst = max(abs(s - 1.0) for s in slopes)
    verdicts.append(decide("saturation/bp4-one-example", rel_bp4, quick=quick))
    verdicts.append(decide("saturation/bp4-slope-one-example", worst, quick=quick, detail={"slopes": slopes}))
    data["bp4_one_example"] = {"z_k": z_in, "dC_dW": gW, "delta": delta, "slopes": slopes}
    return verdicts, data, {"z_in": z_in, "gW": gW, "delta": delta}


def _bp4_training(rng: np.random.Generator, n_tasks: int, gd_steps: int, quick: bool):
    """BP4 in training: how far each input's weights move under GD vs the input's scale, per random task."""
    verdicts, data = [], {}
    # 2. BP4 in training: low-activation inputs learn slowly -------------------
    # One task draw is noisy (how strongly each feature correlates with the
    # error delta is random), so the claim is measured on average over
    # n_tasks independent tasks: data, random teacher hyperplane, student init.
    scales = np.geomspace(1e-3, 1.0, 8)
    u = rng.uniform(size=(n_tasks, 256, 8))
    xs = jnp.asarray(u * scales[None, None, :], jnp.float64)
    w_teacher = rng.normal(size=(n_tasks, 8))
    # labels depend on every feature (a random hyperplane through the centre of the cube)
    ys = jnp.asarray((np.einsum("tnk,tk->tn", u - 0.5, w_teacher) > 0)[:, :, None], jnp.float64)
    student = nn.MLP((8, 4, 1), hidden="sigmoid", output="sigmoid")
    p0 = _host_random.stacked_params(student, rng, n_tasks, jnp.float64)
    opt = optim.gd(0.5)

    def train(p, x_t, y_t):
        def step(carry, _):
            p, s = carry
            gr = backprop.grad(student, "cross_entropy", p, x_t, y_t)
            upd, s = opt.update(gr, s, p)
            return (optim.apply_updates(p, upd), s), None

        return jax.lax.scan(step, (p, opt.init(p)), None, length=gd_steps)[0][0]

    p1 = jax.jit(jax.vmap(train))(p0, xs, ys)
    moved_all = np.linalg.norm(np.asarray(p1[0]["W"] - p0[0]["W"]), axis=1)  # (tasks, inputs k)
    moved = np.exp(np.mean(np.log(moved_all), axis=0))  # geometric mean over tasks
    s_train = _slope(scales, moved)
    per_task = np.array([_slope(scales, m) for m in moved_all])
    t_mean, t_lo, t_hi = t_interval(per_task)
    verdicts.append(decide("saturation/bp4-in-training", t_mean, quick=quick, interval=(t_lo, t_hi), n=n_tasks,
                           detail={"slope_of_geometric_mean": s_train}))
    data["bp4_training"] = {
        "input_scale": scales,
        "weight_change_norm_geometric_mean": moved,
        "slope": s_train,
        "slope_of_geometric_mean": s_train,
        "slope_per_task": per_task,
        "slope_per_task_mean": float(per_task.mean()),
        "slope_per_task_sd": float(per_task.std(ddof=1)),
        "n_tasks": n_tasks,
    }
    return verdicts, data, {"scales": scales, "moved": moved, "moved_all": moved_all, "t": (t_mean, t_lo, t_hi)}


def _bp1_output(n_sweep: int, quick: bool):
    """BP1: a saturated sigmoid output unit, its bias gradient over a in [-15, 15]."""
    verdicts, data = [], {}
    # 3. BP1: a saturated output unit ----------------------------------------
    a_sweep = np.linspace(-15.0, 15.0, n_sweep)
    out_net = nn.MLP((1, 1), output="sigmoid")
    x1 = jnp.ones((1, 1), jnp.float64)
    y0 = jnp.zeros((1, 1), jnp.float64)

    def grads_at(a):
        p = ({"W": jnp.zeros((1, 1), jnp.float64), "b": jnp.reshape(a, (1,))},)
        gr = backprop.grad(out_net, "quadratic", p, x1, y0)
        return gr[0]["b"][0], out_net.apply(p, x1)[0, 0]

    gb, z = (np.asarray(v) for v in jax.jit(jax.vmap(grads_at))(jnp.asarray(a_sweep, jnp.float64)))
    ratio = gb / (z - 0.0)
    sp = _sigma_prime(a_sweep)
    rel_bp1 = float(np.max(np.abs(ratio - sp) / sp))
    verdicts.append(decide("saturation/bp1-sigma-prime", rel_bp1, quick=quick))
    g10, _ = (float(v) for v in jax.jit(grads_at)(jnp.asarray(10.0, jnp.float64)))
    g0, _ = (float(v) for v in jax.jit(grads_at)(jnp.asarray(0.0, jnp.float64)))
    s10 = 1.0 / (1.0 + np.exp(-10.0))
    pred_ratio = _sigma_prime(np.array(10.0)) * s10 / (0.25 * 0.5)
    verdicts.append(decide("saturation/bp1-saturated-ratio", abs(g10 / g0 - pred_ratio) / pred_ratio, quick=quick,
                           detail={"ratio": g10 / g0, "predicted": float(pred_ratio)}))
    data["bp1_output"] = {
        "a": a_sweep[::5],
        "dC_db": gb[::5],
        "z": z[::5],
        "sigma_prime": sp[::5],
        "ratio_a10_to_a0": g10 / g0,
        "note": "curves stored at every 5th point of the sweep",
    }
    return verdicts, data, {"a_sweep": a_sweep, "gb": gb, "z": z, "sp": sp}


def _bp2_hidden(rng: np.random.Generator, a_sweep: np.ndarray, sp: np.ndarray, quick: bool):
    """BP2: a hidden unit's weight gradient as its weighted input is swept."""
    verdicts, data = [], {}
    # 4. BP2: a saturated hidden unit ------------------------------------------
    hid = nn.MLP((4, 6, 2), hidden="sigmoid", output="sigmoid")
    hp = _host_random.params(hid, rng, jnp.float64, std=1.0)
    xh = jnp.asarray(rng.uniform(0.2, 1.0, size=(1, 4)), jnp.float64)
    yh = jnp.asarray([[1.0, 0.0]], jnp.float64)
    j = 2
    w_j = hp[0]["W"][j]

    def hidden_at(a):
        # set the bias so that unit j's weighted input is exactly a
        b = hp[0]["b"].at[j].set(a - jnp.sum(w_j * xh[0]))
        p = ({"W": hp[0]["W"], "b": b}, hp[1])
        gr = backprop.grad(hid, "quadratic", p, xh, yh)
        tr = hid.forward(p, xh)
        delta2 = tr.z[2] - yh  # dC/dz^L for the quadratic cost ...
        delta2 = delta2 * tr.z[2] * (1.0 - tr.z[2])  # ... times sigma'(a^L): BP1
        back = (delta2 @ hp[1]["W"])[0, j]  # (W^{L})^T delta^L, component j
        return jnp.linalg.norm(gr[0]["W"][j]), jnp.abs(back) * jnp.linalg.norm(xh[0])

    gn, scale = (np.asarray(v) for v in jax.jit(jax.vmap(hidden_at))(jnp.asarray(a_sweep, jnp.float64)))
    ratio2 = gn / scale
    rel_bp2 = float(np.max(np.abs(ratio2 - sp) / sp))
    verdicts.append(decide("saturation/bp2-hidden", rel_bp2, quick=quick))
    data["bp2_hidden"] = {
        "a": a_sweep[::5],
        "grad_norm": gn[::5],
        "backprop_factor": scale[::5],
        "sigma_prime": sp[::5],
    }
    return verdicts, data, {"gn": gn, "scale": scale}


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Weight-gradient size vs input activation (BP4) and vs sigma'(a) (BP1, BP2)."""
    t_start = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_sweep = 61 if quick else 301
    gd_steps = 50 if quick else 200
    n_tasks = seeds("saturation/bp4-in-training", quick)
    verdicts, data, plot = [], {}, {"n_tasks": n_tasks, "gd_steps": gd_steps}
    sections = (
        lambda: _bp4_one_example(rng, quick),
        lambda: _bp4_training(rng, n_tasks, gd_steps, quick),
        lambda: _bp1_output(n_sweep, quick),
        lambda: _bp2_hidden(rng, plot["a_sweep"], plot["sp"], quick),
    )
    with jax.enable_x64(True):  # the sigmoid's tails go below float32's resolution of 1 - sigma
        for section in sections:  # in this order: they share rng's stream
            v, d, p = section()
            verdicts += v
            data.update(d)
            plot.update(p)
    fig = _figure(plot)
    data["runtime_s"] = time.perf_counter() - t_start
    return save(
        NAME,
        seed=seed,
        quick=quick,
        verdicts=verdicts,
        data=data,
        fig=fig,
        out_dir=out_dir,
        title="Saturation: gradient size vs input activation (BP4) and sigma' (BP1, BP2)",
    )


def _figure(plot: dict):
    """Four panels: BP4 on one example, BP4 in training, BP1, BP2."""
    z_in, gW, delta, scales, moved, moved_all = (plot[k] for k in ("z_in", "gW", "delta", "scales", "moved", "moved_all"))
    (t_mean, t_lo, t_hi), n_tasks, gd_steps = plot["t"], plot["n_tasks"], plot["gd_steps"]
    a_sweep, gb, z, sp, gn, scale = (plot[k] for k in ("a_sweep", "gb", "z", "sp", "gn", "scale"))
    fig, axes = figure(ncols=2, nrows=2, width=5.2, height=4.0)
    ax = axes[0, 0]
    for r, row in enumerate(gW):
        ax.loglog(z_in, np.abs(row), "o", ms=5, color=f"C{r}", label=f"unit j={r}: measured (fnn BP)")
        ax.loglog(z_in, np.abs(delta[r]) * z_in, "-", lw=0.8, color=f"C{r}")
    ax.plot([], [], "k-", lw=0.8, label=r"BP4: $z_k\,\delta_j$")
    ax.set_xlabel(r"input activation $z_k$ (dimensionless)")
    ax.set_ylabel(r"$|\partial C/\partial w_{jk}|$ (cost per weight unit)")
    ax.set_title("(a) BP4 on one example: gradient vs input activation", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.24))
    ax = axes[0, 1]
    q = np.log(moved_all)
    lo_b, hi_b = (np.exp(np.array(v)) for v in zip(*(t_interval(c)[1:] for c in q.T)))
    ax.fill_between(scales, lo_b, hi_b, color="C0", alpha=0.25, label="95% t-interval over tasks (geometric)")
    ax.loglog(scales, moved, "o-", color="C0", ms=4, label=f"measured, geometric mean of {n_tasks} tasks")
    ax.loglog(scales, moved[-1] * scales / scales[-1], "k--", lw=1, label="theory: proportional to s_k (slope 1)")
    ax.set_xlabel(r"input scale $s_k$ (input units)")
    ax.set_ylabel(r"$\|\Delta W_{:,k}\|$ after GD (weight units)")
    ax.set_title(f"(b) BP4 in training: {gd_steps} GD steps; slope {t_mean:.2f} [{t_lo:.2f}, {t_hi:.2f}]",
                 fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.24))
    ax = axes[1, 0]
    ax.semilogy(a_sweep, np.abs(gb), "C0-", lw=2.5, alpha=0.6, label=r"$|\partial C/\partial b^L|$ measured (fnn BP)")
    ax.semilogy(a_sweep, sp * np.abs(z), "k:", lw=1.5, label=r"BP1: $\sigma'(a)\,|z - y|$")
    ax.semilogy(a_sweep, np.abs(z), "C3--", lw=1, label=r"error $|z - y|$ alone")
    ax.set_xlabel(r"output weighted input $a^L$ (dimensionless)")
    ax.set_ylabel("gradient, error (cost units)")
    ax.set_title("(c) BP1: saturated output unit (target y = 0)", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.24))
    ax = axes[1, 1]
    ax.semilogy(a_sweep, gn, "C0-", lw=2.5, alpha=0.6, label=r"$\|\partial C/\partial W_{j,:}\|$ measured (fnn BP)")
    ax.semilogy(a_sweep, sp * scale, "k:", lw=1.5, label=r"BP2: $\sigma'(a_j)\,|(W^T\delta)_j|\,\|z_{in}\|$")
    ax.set_xlabel(r"hidden unit weighted input $a_j$ (dimensionless)")
    ax.set_ylabel("gradient norm (cost per weight unit)")
    ax.set_title("(d) BP2: saturated hidden unit", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.24))
    fig.tight_layout()
    fig.suptitle("Why saturated and low-activation units learn slowly", y=1.03)
    return fig
