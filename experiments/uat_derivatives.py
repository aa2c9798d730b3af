"""Universal approximation, second clause: the network's derivatives approximate the function's.

Notes, "Universal Approximation Theorem": "The derivatives of the feedforward
network can also approximate the derivatives of the function arbitrarily well."

Measured on the 1-D sine and bump of :mod:`experiments.universal_approximation`
(targets with closed-form ``f'``), for networks ``1 -> H -> 1`` (sigmoid hidden,
linear output) fitted to *values only*; ``f_hat'`` comes from ``jax.grad`` of
the network, on a test grid. The error is reported relative to ``rms(f')``.

* *Trained networks* (predictions): the clause is existential (an infimum
  over weights), so the best of the registered restarts is the estimate: its
  relative derivative error at the widest net is at most 10% (sine, bump), and
  for the sine (two periods, which ``H = 2`` cannot resolve) at most a fifth of
  the error at ``H = 2``. Means and 95% t-intervals over restarts are in the
  figure.
* *What the clause needs* (a check): approximating values is not enough. The staircase
  construction (``H`` sigmoids of gain ``G`` at the cell boundaries, cell width
  ``Delta``) approximates values with error ``~ rms(f') Delta / sqrt(12)``, but its
  derivative is a train of spikes ``c_i G sigma'(G (x - t_i))`` with
  ``c_i ~ f'(t_i) Delta``. Since ``int (G sigma'(G u))^2 du = G / 6``, the spikes
  carry ``rms(f_hat')^2 = (G Delta / 6) rms(f')^2`` and their mean is ``f'``, so

      rms(f_hat' - f') / rms(f') -> sqrt(G Delta / 6 - 1)      as Delta -> 0,

  which does not fall with ``H`` (``G Delta = 20`` here: 1.53). The theorem's
  derivative clause holds for the smooth fits training finds, not for every
  value-approximating network.

The rules and margins are registered in ``experiments/claims/uat_derivatives.py``.
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import decide, figure, save, seeds, t_interval
from experiments.universal_approximation import _grid, _mask, _spread_init, _targets, _times, staircase
from fnn import backprop, nn, optim, schedules

NAME = "uat_derivatives"
SECTION = "Universal Approximation Theorem"
TARGETS = ("sine", "bump")
GAIN_PER_CELL = 20.0  # G Delta of the staircase
BUMP_WIDTH = 0.15  # as in universal_approximation's 1-D bump


def fprime(x: np.ndarray) -> np.ndarray:
    """Closed-form derivatives of the 1-D sine ``sin(2 pi x)`` and bump ``exp(-x^2 / (2 s^2))``: (2, n)."""
    s2 = BUMP_WIDTH**2
    return np.stack([2.0 * np.pi * np.cos(2.0 * np.pi * x), -x / s2 * np.exp(-x * x / (2.0 * s2))])


def _fit(widths, x, ys, x_test, noise, steps, rate):
    """Fit both targets at every width from every seed; value and derivative outputs ``(W, T, S, n_test)``."""
    h_max = max(widths)
    net = nn.MLP((1, h_max, 1), hidden="sigmoid", output="linear")
    opt = optim.adam(schedules.cosine_decay(rate, steps, rate * 0.01))

    def one(h, y, nz):
        mask = _mask(h, h_max, 1)
        params = _times(_spread_init(net, nz, h), mask)

        def step(carry, _):
            p, s = carry
            g = _times(backprop.grad(net, "quadratic", p, x, y), mask)
            u, s = opt.update(g, s, p)
            return (optim.apply_updates(p, u), s), None

        (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
        f = lambda t: net.apply(params, t[None, None])[0, 0]
        return jax.vmap(f)(x_test[:, 0]), jax.vmap(jax.grad(f))(x_test[:, 0])

    g = jax.vmap(one, in_axes=(None, None, 0))  # seeds
    g = jax.vmap(g, in_axes=(None, 0, None))  # targets
    g = jax.vmap(g, in_axes=(0, None, None))  # widths
    out, dout = jax.jit(g)(jnp.asarray(widths, jnp.int32), ys, noise)
    return np.asarray(out, np.float64), np.asarray(dout, np.float64)


def _staircase_errors(widths, n_fine: int) -> dict:
    """Value and derivative RMS errors of the staircase, relative to rms(f) and rms(f'), on a fine grid."""
    x = jnp.asarray(np.linspace(-1.0, 1.0, n_fine)[:, None], jnp.float32)
    xn = np.asarray(x, np.float64)[:, 0]
    fp = fprime(xn)
    y = np.asarray(_targets(x)[:2, :, 0], np.float64)
    val, der = np.zeros((2, len(widths))), np.zeros((2, len(widths)))
    for t in range(2):
        for i, h in enumerate(widths):
            net, p = staircase(lambda z: _targets(z)[t], h, GAIN_PER_CELL)
            f = lambda s: net.apply(p, s[None, None])[0, 0]
            out = np.asarray(jax.vmap(f)(x[:, 0]), np.float64)
            d = np.asarray(jax.vmap(jax.grad(f))(x[:, 0]), np.float64)
            val[t, i] = np.sqrt(np.mean((out - y[t]) ** 2)) / np.sqrt(np.mean(y[t] ** 2))
            der[t, i] = np.sqrt(np.mean((d - fp[t]) ** 2)) / np.sqrt(np.mean(fp[t] ** 2))
    return {"widths": list(widths), "value_rel": val, "derivative_rel": der,
            "derivative_rel_predicted": math.sqrt(GAIN_PER_CELL / 6.0 - 1.0)}


def _errors(widths, n_seeds, steps, n_train, n_test, rng):
    """Relative value and derivative errors of the trained nets, ``(W, T, S)`` each, and the curves."""
    x, x_test = _grid(1, n_train), _grid(1, n_test)
    h_max = max(widths)
    noise = (jnp.asarray(rng.normal(size=(n_seeds, h_max, 1)), jnp.float32),
             jnp.asarray(rng.uniform(size=(n_seeds, h_max, 1)), jnp.float32),
             jnp.asarray(rng.uniform(-1.0, 1.0, size=(n_seeds, h_max, 1)), jnp.float32))
    out, dout = _fit(widths, x, _targets(x)[:2], x_test, noise, steps, 0.02)
    xt = np.asarray(x_test, np.float64)[:, 0]
    fp = fprime(xt)
    y = np.asarray(_targets(x_test)[:2, :, 0], np.float64)
    rms_fp = np.sqrt(np.mean(fp**2, axis=1))  # (T,)
    der = np.sqrt(np.mean((dout - fp[None, :, None, :]) ** 2, axis=-1)) / rms_fp[None, :, None]  # (W, T, S)
    val = np.sqrt(np.mean((out - y[None, :, None, :]) ** 2, axis=-1)) / np.sqrt(np.mean(y**2, axis=1))[None, :, None]
    return val, der, {"xt": xt, "out": out, "dout": dout, "fp": fp}


def _decide(widths, val, der, stair, quick) -> list[dict]:
    """Best of the restarts at the widest net (both targets), its fall from H = 2 (sine), the staircase."""
    n_seeds = der.shape[2]
    best = der.min(axis=2)  # (W, T): the clause is existential (an infimum over weights)
    verdicts = []
    for t, name in enumerate(TARGETS):
        verdicts.append(decide(f"{NAME}/derivative-{name}", float(best[-1, t]), quick=quick, n=n_seeds,
                               detail={"widest_H": widths[-1], "per_restart": der[-1, t],
                                       "value_error_best": float(val[-1, t].min())}))
    verdicts.append(decide(f"{NAME}/derivative-error-falls-sine", float(best[-1, 0] / best[0, 0]), quick=quick,
                           n=n_seeds, detail={"best_at_narrowest": float(best[0, 0]),
                                              "best_at_widest": float(best[-1, 0]),
                                              "value_error_best_at_narrowest": float(val[0, 0].min()),
                                              "bump_ratio_not_predicted": float(best[-1, 1] / best[0, 1]),
                                              "bump_value_error_best_at_narrowest": float(val[0, 1].min())}))
    pred = stair["derivative_rel_predicted"]
    big = np.asarray(stair["widths"]) >= 32
    dev = float(np.max(np.abs(stair["derivative_rel"][:, big] / pred - 1.0)))
    falls = bool(np.all(np.diff(stair["value_rel"], axis=1) < 0))
    verdicts.append(decide(f"{NAME}/staircase-derivative", dev if falls else float("inf"), quick=quick,
                           detail={"deviation": dev, "value_error_falls": falls, "predicted": pred}))
    return verdicts


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Derivative error of trained networks vs width; the staircase as the counterexample."""
    t_start = time.perf_counter()
    rng = np.random.default_rng(seed)
    if quick:
        widths, steps, n_train, n_test = (2, 4, 8, 16), 1500, 256, 1024
    else:
        widths, steps, n_train, n_test = (2, 4, 8, 16, 32, 64), 4000, 512, 2001
    n_seeds = seeds(f"{NAME}/derivative-sine", quick)  # every fit claim registers the same restarts
    val, der, c = _errors(widths, n_seeds, steps, n_train, n_test, rng)
    stair = _staircase_errors((4, 8, 16, 32, 64), 100_001)  # no training: the same in both modes
    verdicts = _decide(widths, val, der, stair, quick)
    fig = _figure(widths, val, der, stair, c["xt"], c["out"], c["dout"], c["fp"])
    data = {"widths": list(widths), "seeds": n_seeds, "adam_steps": steps,
            "value_rel_error": val, "derivative_rel_error": der, "staircase": stair,
            "runtime_s": time.perf_counter() - t_start}
    return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data=data, fig=fig, out_dir=out_dir,
                title="Universal approximation, derivative clause: |f_hat' - f'| vs width")


def _figure(widths, val, der, stair, xt, out, dout, fp):
    fig, axes = figure(ncols=2, width=5.6, height=4.8)
    fig.subplots_adjust(wspace=0.3)
    ax = axes[0, 0]
    for t, (name, col) in enumerate((("sine", "C0"), ("bump", "C1"))):
        for arr, ls, what in ((der, "o-", "derivative"), (val, "s--", "value")):
            st = np.exp(np.array([t_interval(np.log(r)) for r in arr[:, t]]))
            ax.fill_between(widths, st[:, 1], st[:, 2], color=col, alpha=0.2)
            ax.loglog(widths, st[:, 0], ls, color=col, ms=4, label=f"{name}: trained, {what} error")
        ax.loglog(stair["widths"], stair["derivative_rel"][t], "x:", color=col, ms=6,
                  label=f"{name}: staircase, derivative error")
    ax.axhline(stair["derivative_rel_predicted"], color="k", lw=1,
               label=r"theory (staircase): $\sqrt{G\Delta/6 - 1}$")
    ax.set_xlabel("hidden sigmoid units H")
    ax.set_ylabel("relative RMS error (error / rms of f or f')")
    ax.set_title("(a) value and derivative errors (band: 95% t-interval, geometric)", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    import matplotlib as mpl

    ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ticks = sorted(set(widths) | set(stair["widths"]))
    ax.set_xticks(ticks, [str(h) for h in ticks])
    ax.set_ylim(top=4.0)  # room above the staircase's theory line
    ax = axes[0, 1]
    i = len(widths) - 1
    ax.plot(xt, fp[0], "k-", lw=3, alpha=0.3, label="sine: f'(x) (closed form)")
    ax.plot(xt, dout[i, 0, 0], "C0-", lw=1, label=f"sine: trained f_hat'(x), H = {widths[i]} (seed 0)")
    ax.plot(xt, dout[0, 0, 0], "C3-", lw=1, label=f"sine: trained f_hat'(x), H = {widths[0]} (seed 0)")
    ax.set_xlabel("input x (dimensionless)")
    ax.set_ylabel("derivative df/dx (target units per input unit)")
    ax.set_title("(b) derivative of the fitted network (jax.grad)", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1)
    fig.tight_layout()
    return fig
