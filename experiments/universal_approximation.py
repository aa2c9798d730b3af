"""Universal approximation: one hidden sigmoid layer and a linear output, error vs width.

Notes, "Universal Approximation Theorem": enough hidden units approximate any
continuous function on a closed bounded set. Networks ``d -> H -> 1`` (sigmoid
hidden layer, linear output, quadratic cost) are fitted by Adam to six targets
on ``[-1, 1]^d`` — a sine, a bump and a step, in 1-D and 2-D — for growing
``H``, from independent initializations (the registered restarts); the RMS
error on a denser test grid is measured per restart.

What each measurement is set against (``experiments/claims/universal_approximation.py``):

* *The construction* behind the theorem (1-D, a check): ``H`` steep sigmoids
  make a staircase with ``H + 1`` steps of width ``Delta = 2/(H+1)``, heights
  read at the step centres; its RMS error is ``rms(f') Delta / sqrt(12)``
  (midpoint rule), rate ``H^-1``, measured up to ``H = 256``.
* *Trained vs construction* (1-D sine and bump, predictions): at the widest
  net the trained RMS error is at most half the construction's (mean over
  restarts, 95% t-interval), i.e. training does better than the first-order
  staircase.
* *A step* (1-D, a check) is represented by a single sigmoid up to its gain
  ``g``: ``sigma(g (x - c))`` has ``RMS = sqrt((ln 2 - 1/2) / g)`` on
  ``[-1, 1]``; ``g`` is read off the fitted ``H = 1`` curve as
  ``4 max f_hat' / amplitude``, so the step's error measures how far the
  optimizer sharpened the transition, not an approximation rate.
* *2-D targets*: for the smooth sine and bump, the error falls from ``H = 1``
  to the widest net at least at Barron's rate ``H^-1/2`` (predictions; his
  bound ``2 r C_f / sqrt(H)`` itself is above 1, vacuous, at every measured
  width); for the disc's indicator (``C_f`` infinite) only that it falls (a
  check).

Each rule decides on the 95% t-interval over restarts, against the margin
registered with the claim. The hidden layer starts with its sigmoid
transitions spread over the domain (``W_j = g_j u_j``, ``b_j = -W_j . c_j``,
random direction ``u_j``, centre ``c_j``, gain ``g_j ~ U(2, 2 + 2H)``), the
output layer at zero. The binary worst case (``2^n`` units) is
:mod:`experiments.uat_boolean`; the derivative clause is
:mod:`experiments.uat_derivatives`.
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import decide, figure, save, seeds, t_interval
from fnn import backprop, nn, optim, schedules

NAME = "universal_approximation"
SECTION = "Universal Approximation Theorem"
TARGETS = ("sine", "bump", "step")
STEP_C0 = math.log(2.0) - 0.5  # int_0^inf (1 - sigma(v))^2 dv
CONSTRUCTION_WIDTHS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


# --- continuous targets ---------------------------------------------------------


def _grid(d: int, n: int, offset: bool = False) -> jax.Array:
    """``n^d`` points on ``[-1, 1]^d`` (cell centres when ``offset``)."""
    if offset:
        t = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    else:
        t = np.linspace(-1.0, 1.0, n)
    pts = np.stack(np.meshgrid(*([t] * d), indexing="ij"), axis=-1).reshape(-1, d)
    return jnp.asarray(pts, jnp.float32)


def _targets(x: jax.Array) -> jax.Array:
    """The three targets at ``x`` (n, d): shape (3, n, 1) — sine, bump, step."""
    d = x.shape[1]
    r2 = jnp.sum(x * x, axis=1)
    if d == 1:
        sine = jnp.sin(2.0 * jnp.pi * x[:, 0])  # two periods on [-1, 1]
        bump = jnp.exp(-r2 / (2 * 0.15**2))
        step = (x[:, 0] > 0.1).astype(x.dtype)
    else:
        sine = jnp.sin(jnp.pi * x[:, 0]) * jnp.sin(jnp.pi * x[:, 1])
        bump = jnp.exp(-r2 / (2 * 0.3**2))
        step = (r2 < 0.6**2).astype(x.dtype)  # indicator of a disc
    return jnp.stack([sine, bump, step])[:, :, None]


def _mask(h: jax.Array, h_max: int, d: int) -> nn.Params:
    """0/1 pytree that keeps the first ``h`` of ``h_max`` hidden units of a ``d -> h_max -> 1`` net.

    A masked unit has zero output weight and zero gradients, so the masked
    network computes exactly what a width-``h`` network computes; one
    compilation then serves every width (``h`` is traced).
    """
    m = (jnp.arange(h_max) < h).astype(jnp.float32)
    return ({"W": jnp.broadcast_to(m[:, None], (h_max, d)), "b": m}, {"W": m[None, :], "b": jnp.ones((1,))})


def _times(tree: nn.Params, mask: nn.Params) -> nn.Params:
    return jax.tree_util.tree_map(lambda a, b: a * b, tree, mask)


def _spread_init(net: nn.MLP, noise: tuple, h: jax.Array) -> nn.Params:
    """Hidden sigmoid transitions at random places and directions in ``[-1, 1]^d``; output zero.

    Unit ``j``: ``W_j = g_j u_j``, ``b_j = -W_j . c_j`` (transition through
    ``c_j``), gain ``g_j ~ U(2, 2 + 2h)`` so that wider networks start with
    sharper units, as finer features need. ``noise = (n, r, c)``: standard
    normal ``(h_max, d)`` (for the direction ``u = n/|n|``), uniform ``[0, 1)``
    ``(h_max, 1)`` (for the gain) and uniform ``[-1, 1)`` ``(h_max, d)`` (centres).
    """
    n, r, c = noise
    h_max = net.sizes[1]
    u = n / jnp.linalg.norm(n, axis=1, keepdims=True)
    g = 2.0 + 2.0 * h.astype(jnp.float32) * r
    w = g * u
    return (
        {"W": w, "b": -jnp.sum(w * c, axis=1)},
        {"W": jnp.zeros((1, h_max)), "b": jnp.zeros((1,))},
    )


def _fit_widths(d, widths, x, ys, x_test, ys_test, noise, steps, rate):
    """Fit every target ``ys`` (T, n, 1) at every width from every initial draw (one compilation).

    ``noise``: the :func:`_spread_init` arrays with a leading seed axis.

    Returns RMS test errors ``(W, T, S)`` and test outputs ``(W, T, S, n_test)``.
    """
    h_max = max(widths)
    net = nn.MLP((d, h_max, 1), hidden="sigmoid", output="linear")
    opt = optim.adam(schedules.cosine_decay(rate, steps, rate * 0.01))

    def one(h, y, y_test, nz):
        mask = _mask(h, h_max, d)
        params = _times(_spread_init(net, nz, h), mask)

        def step(carry, _):
            p, s = carry
            g = _times(backprop.grad(net, "quadratic", p, x, y), mask)
            u, s = opt.update(g, s, p)
            return (optim.apply_updates(p, u), s), None

        (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
        out = net.apply(params, x_test)
        return jnp.sqrt(jnp.mean((out - y_test) ** 2)), out[:, 0]

    f = jax.vmap(one, in_axes=(None, None, None, 0))  # seeds
    f = jax.vmap(f, in_axes=(None, 0, 0, None))  # targets
    f = jax.vmap(f, in_axes=(0, None, None, None))  # widths
    rms, out = jax.jit(f)(jnp.asarray(widths, jnp.int32), ys, ys_test, noise)
    return np.asarray(rms), np.asarray(out)


def _power_law(hs, err) -> tuple[float, float]:
    """Least-squares fit ``log err = log c + s log H``: return ``(s, c)``."""
    s, logc = np.polyfit(np.log(np.asarray(hs, float)), np.log(np.asarray(err, float)), 1)
    return float(s), float(np.exp(logc))


def staircase(f, h: int, gain_per_cell: float = 200.0) -> tuple[nn.MLP, nn.Params]:
    """The theorem's construction in 1-D: ``h`` steep sigmoids make a staircase of ``h + 1`` steps.

    Cells of width ``Delta = 2/(h+1)`` on ``[-1, 1]``, centres ``m_i``; unit ``i``
    is ``sigma(G (x - t_i))`` at the boundary ``t_i`` between cells ``i-1`` and
    ``i``, with output weight ``f(m_i) - f(m_(i-1))``; the output bias is
    ``f(m_0)``. ``G = gain_per_cell / Delta``.
    """
    delta = 2.0 / (h + 1)
    m = -1.0 + (np.arange(h + 1) + 0.5) * delta
    fm = np.asarray(f(jnp.asarray(m[:, None], jnp.float32)), np.float64).ravel()
    t = -1.0 + np.arange(1, h + 1) * delta
    g = gain_per_cell / delta
    net = nn.MLP((1, h, 1), hidden="sigmoid", output="linear")
    params = (
        {"W": jnp.full((h, 1), g, jnp.float32), "b": jnp.asarray(-g * t, jnp.float32)},
        {"W": jnp.asarray(np.diff(fm)[None, :], jnp.float32), "b": jnp.asarray([fm[0]], jnp.float32)},
    )
    return net, params


def _construction(target: int, x_test: jax.Array) -> dict:
    """Measured RMS of :func:`staircase` at :data:`CONSTRUCTION_WIDTHS` and ``rms(f') Delta / sqrt(12)``."""
    f = lambda x: _targets(x)[target]
    y = np.asarray(f(x_test), np.float64).ravel()
    xt = np.asarray(x_test, np.float64).ravel()
    fprime = np.gradient(y, xt)
    rms_fprime = float(np.sqrt(np.mean(fprime**2)))
    meas, pred = [], []
    for h in CONSTRUCTION_WIDTHS:
        net, p = staircase(f, h)
        out = np.asarray(net.apply(p, x_test), np.float64).ravel()
        meas.append(float(np.sqrt(np.mean((out - y) ** 2))))
        pred.append(rms_fprime * (2.0 / (h + 1)) / math.sqrt(12.0))
    return {"widths": list(CONSTRUCTION_WIDTHS), "rms": np.asarray(meas), "predicted": np.asarray(pred),
            "rms_fprime": rms_fprime}


def _gain(out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Transition gain of fitted step curves ``out`` (..., n): ``4 max f_hat' / (max - min)``
    (a sigmoid ``A sigma(g x)`` has maximal slope ``A g / 4``)."""
    slope = np.gradient(out, x, axis=-1)
    return 4.0 * slope.max(axis=-1) / (out.max(axis=-1) - out.min(axis=-1))


def _verdicts_1d(widths, rms, out, x_test, quick: bool) -> tuple[list[dict], dict]:
    """Construction vs its formula, trained vs construction (sine, bump); the step's error vs its gain."""
    verdicts, data = [], {}
    n_seeds = rms.shape[2]
    for t, name in enumerate(TARGETS[:2]):
        con = _construction(t, x_test)
        big = np.asarray(con["widths"]) >= 32
        dev = float(np.max(np.abs(con["rms"][big] / con["predicted"][big] - 1.0)))
        verdicts.append(decide(f"{NAME}/construction-{name}", dev, quick=quick,
                               detail={"rms": con["rms"][big], "predicted": con["predicted"][big]}))
        con_at = np.array([con["rms"][con["widths"].index(h)] for h in widths])
        ratio = rms[-1, t] / con_at[-1]  # per restart, widest net
        m, lo, hi = t_interval(ratio)
        verdicts.append(decide(f"{NAME}/trained-beats-construction-{name}", m, quick=quick, interval=(lo, hi),
                               n=n_seeds, detail={"ratio_per_restart": ratio, "widest_H": widths[-1],
                                                  "best_of_restarts_over_construction_per_H": rms[:, t].min(axis=1)
                                                  / con_at}))
        stats = np.array([t_interval(rms[i, t]) for i in range(len(widths))])  # (W, 3)
        data[f"1-D {name}"] = {"widths": list(widths), "rms_per_seed": rms[:, t], "mean": stats[:, 0],
                               "interval": stats[:, 1:], "construction": con}
    xt = np.asarray(x_test, np.float64).ravel()
    gains = _gain(out[:, 2], xt)  # (W, S)
    from_gain = np.sqrt(STEP_C0 / gains)
    ratio = rms[0, 2] / from_gain[0]  # H = 1, per seed
    m, lo, hi = t_interval(ratio)
    verdicts.append(decide(f"{NAME}/step-error-from-gain", m, quick=quick, interval=(lo, hi), n=n_seeds,
                           detail={"ratio_per_restart": ratio, "gain_per_restart": gains[0]}))
    s_step = np.array([_power_law(widths, rms[:, 2, k])[0] for k in range(n_seeds)])
    s_gain = np.array([_power_law(widths, gains[:, k])[0] for k in range(n_seeds)])
    data["1-D step"] = {"widths": list(widths), "rms_per_seed": rms[:, 2], "gain_per_seed": gains,
                        "rms_predicted_from_gain": from_gain, "slope_rms_vs_H": s_step, "slope_gain_vs_H": s_gain,
                        "note": "the step's error falls with H because wider nets reach larger gains in the same "
                                "number of Adam steps: slope of RMS vs H ~ -1/2 x slope of gain vs H"}
    return verdicts, data


def _verdicts_2d(widths, rms, quick: bool) -> tuple[list[dict], dict]:
    """2-D: log(RMS at the widest H / RMS at H = 1) per restart, against Barron's rate (sine, bump) or 0 (step)."""
    verdicts, data = [], {}
    n_seeds = rms.shape[2]
    for t, name in enumerate(TARGETS):
        drop = np.log(rms[-1, t] / rms[0, t])  # per seed
        m, lo, hi = t_interval(drop)
        verdicts.append(decide(f"{NAME}/error-falls-2d-{name}", m, quick=quick, interval=(lo, hi), n=n_seeds,
                               detail={"log_drop_per_restart": drop, "barron_rate_log_drop":
                                       -0.5 * math.log(widths[-1] / widths[0])}))
        data[f"2-D {name}"] = {"widths": list(widths), "rms_per_seed": rms[:, t], "log_drop_per_seed": drop}
    data["barron_bound_sine"] = [4.0 * math.pi / math.sqrt(h) for h in widths]
    return verdicts, data


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Error vs hidden units in 1-D and 2-D, against the construction, the step's gain and Barron's rate."""
    t_start = time.perf_counter()
    rng = np.random.default_rng(seed)
    if quick:
        widths = {1: (1, 2, 4, 8, 16), 2: (1, 2, 4, 8, 16)}
        steps, n_grid = {1: 1500, 2: 1000}, {1: (256, 1024), 2: (16, 32)}
    else:
        widths = {1: (1, 2, 4, 8, 16, 32, 64), 2: (1, 2, 4, 8, 16, 32, 64)}
        steps, n_grid = {1: 4000, 2: 3000}, {1: (512, 2001), 2: (24, 64)}
    n_seeds = seeds(f"{NAME}/step-error-from-gain", quick)  # every fit claim registers the same restarts
    results = {}
    for d in (1, 2):
        x, x_test = _grid(d, n_grid[d][0]), _grid(d, n_grid[d][1], offset=(d == 2))
        h_max = max(widths[d])
        noise = (
            jnp.asarray(rng.normal(size=(n_seeds, h_max, d)), jnp.float32),
            jnp.asarray(rng.uniform(size=(n_seeds, h_max, 1)), jnp.float32),
            jnp.asarray(rng.uniform(-1.0, 1.0, size=(n_seeds, h_max, d)), jnp.float32),
        )
        results[d] = _fit_widths(d, widths[d], x, _targets(x), x_test, _targets(x_test), noise, steps[d], 0.02)
    x1 = _grid(1, n_grid[1][1])
    v1, d1 = _verdicts_1d(widths[1], *results[1], x1, quick)
    v2, d2 = _verdicts_2d(widths[2], results[2][0], quick)
    data = {"seeds": n_seeds, "adam_steps": steps, "one_d": d1, "two_d": d2}
    fig = _figure(widths, results, d1, d2, np.asarray(x1)[:, 0])
    data["runtime_s"] = time.perf_counter() - t_start
    return save(NAME, seed=seed, quick=quick, verdicts=v1 + v2, data=data, fig=fig, out_dir=out_dir,
                title="Universal approximation: error vs hidden units against the construction and Barron's rate")


def _band(ax, hs, per_seed, color, label):
    """Geometric mean over seeds with its 95% t-interval (of the log) as a shaded band (log-log axes)."""
    st = np.exp(np.array([t_interval(np.log(r)) for r in per_seed]))
    ax.fill_between(hs, st[:, 1], st[:, 2], color=color, alpha=0.25)
    ax.loglog(hs, st[:, 0], "o-", color=color, ms=4, label=label)


def _figure(widths, results, d1, d2, xt):
    fig, axes = figure(ncols=2, nrows=2, width=5.6, height=6.0)
    ax = axes[0, 0]
    for t, (name, col) in enumerate((("sine", "C0"), ("bump", "C1"))):
        r = d1[f"1-D {name}"]
        _band(ax, widths[1], r["rms_per_seed"], col, f"{name}: trained (geometric mean, 95% band)")
        con = r["construction"]
        ax.loglog(con["widths"], con["rms"], "s--", color=col, ms=3, lw=1, mfc="none",
                  label=f"{name}: staircase construction (measured)")
        ax.loglog(con["widths"], con["predicted"], ":", color="k", lw=1)
    ax.plot([], [], "k:", lw=1, label=r"theory: rms$(f')\,\Delta/\sqrt{12}$ ($H^{-1}$)")
    ax.set_xlabel("hidden sigmoid units H")
    ax.set_ylabel("RMS error on the test grid (target units)")
    ax.set_title("(a) 1-D smooth targets: trained vs the construction", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1)
    ax = axes[0, 1]
    for t, (name, col) in enumerate((("sine", "C0"), ("bump", "C1"), ("step", "C2"))):
        r = d2[f"2-D {name}"]
        _band(ax, widths[2], r["rms_per_seed"], col, f"{name}: trained (geometric mean, 95% band)")
    ax.loglog(widths[2], d2["barron_bound_sine"], "k--", lw=1, label=r"Barron's bound $2rC_f/\sqrt{H}$, sine (vacuous)")
    ax.set_xlabel("hidden sigmoid units H")
    ax.set_ylabel("RMS error on the test grid (target units)")
    ax.set_title("(b) 2-D targets (band: 95% t-interval over seeds)", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1)
    ax = axes[1, 0]
    rms, out = results[1]
    yt = np.asarray(_targets(jnp.asarray(xt[:, None], jnp.float32)))[:, :, 0]
    shown = [i for i, h in enumerate(widths[1]) if h in (2, 8, max(widths[1]))]
    for t, name in enumerate(TARGETS):
        off = 2.5 * t
        ax.plot(xt, yt[t] + off, "k-", lw=3, alpha=0.25, label="target" if t == 0 else None)
        for j, i in enumerate(shown):
            ax.plot(xt, out[i, t, 0] + off, lw=1, color=("tab:red", "tab:purple", "tab:olive")[j],
                    label=f"trained, H = {widths[1][i]} (seed 0)" if t == 0 else None)
        ax.text(-1.0, off + 1.25, f"{name} (+{off:g})", fontsize=9)
    ax.set_xlabel("input x (dimensionless)")
    ax.set_ylabel("network output (target units, + offset)")
    ax.set_title("(c) 1-D fits: sine, bump, step", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1)
    ax = axes[1, 1]
    r = d1["1-D step"]
    g, e = np.asarray(r["gain_per_seed"]), np.asarray(r["rms_per_seed"])
    for i, h in enumerate(widths[1]):
        ax.loglog(g[i], e[i], "o", ms=4, color=f"C{i}", label=f"trained, H = {h}")
    gg = np.geomspace(g.min() / 1.5, g.max() * 1.5, 50)
    ax.loglog(gg, np.sqrt(STEP_C0 / gg), "k-", lw=1.2, label=r"theory: one sigmoid, $\sqrt{(\ln 2 - 1/2)/g}$")
    ax.set_xlabel("transition gain g of the fitted curve (1 / input units)")
    ax.set_ylabel("RMS error on the test grid (target units)")
    ax.set_title("(d) 1-D step: the error is set by the gain, not by H", fontsize=9)
    import matplotlib as mpl

    ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1)
    fig.tight_layout()
    return fig
