"""Symmetry breaking: a constant initialization keeps every hidden unit identical.

Notes, "Symmetry breaking": "By initializing all parameters to the same value,
all neurons will compute the same function. A common approach is to initialize
the parameters randomly." With equal incoming weights, every hidden unit has the
same activation, BP2 gives every one the same error ``delta_j`` and BP4 the same
weight gradient, so GD updates them identically forever: the hidden layer acts as
a single unit.

A 2-8-1 network (tanh hidden, sigmoid output, cross-entropy) trained by full-batch
GD (``fnn.optim.gd`` on the hand-written backprop gradient) on noisy XOR, from

* a constant initialization (every weight 0.5, biases 0), and
* a random one (Xavier, the notes' rule for tanh).

Measured along training: the largest difference between two hidden units'
incoming weight rows (and outgoing weights), and the numerical rank of the
hidden activations (how many different functions the hidden layer computes).
A single hidden unit draws a straight decision boundary ``v tanh(w.x + b) + c = 0``,
which classifies at most 3 of XOR's 4 corners: the constant-initialized net is
stuck at <= 75% accuracy. Everything runs as one vmapped population of 6 seeds
(3 in quick mode), each its own noisy-XOR data set and initialization.

How it decides (``experiments/claims/symmetry.py``): four checks, outcomes
forced by the setup, each on the worst seed (spread <= 1e-6, rank 1 for the
constant initialization, rank >= 2 for the random one, the constant net's
accuracy <= 0.80); one prediction, that the random net learns XOR: the
smallest training accuracy over seeds must be >= 0.90.

The runs are in float64: the symmetric state is a saddle of the cost, so any
asymmetry between units grows along training, and float32 round-off in XLA's
CPU matrix products (units' identical dot products rounded differently) can be
amplified over the check's bound; float64 starts that from ~1e-16. The check is
of the identity (BP2/BP4 give identical units identical updates), not of
round-off.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import decide, figure, save, seeds, t_interval
from fnn import backprop, data, initializers, nn, optim

CONSTANT = "constant (w = 0.5, b = 0)"
RANDOM = "random (Xavier)"
HIDDEN = 8
ETA = 0.5


def _train(net: nn.MLP, params, x, y, eta: float, steps: int, every: int):
    """Full-batch GD of a population: ``params``, ``x``, ``y`` carry a leading seed axis.

    Returns final params and, every ``every`` steps, per seed (cost, unit spread,
    rank of hidden activations): an array ``(seeds, steps // every + 1, 3)``.
    """
    opt = optim.gd(eta)

    def spread(p):
        W1, W2 = p[0]["W"], p[1]["W"]
        rows = jnp.max(jnp.abs(W1[:, None, :] - W1[None, :, :]))
        b = jnp.max(jnp.abs(p[0]["b"][:, None] - p[0]["b"][None, :]))
        cols = jnp.max(jnp.abs(W2[:, :, None] - W2[:, None, :]))
        return jnp.maximum(jnp.maximum(rows, b), cols)

    def rank(p, x):
        z1 = net.forward(p, x).z[1]
        s = jnp.linalg.svd(z1, compute_uv=False)
        return jnp.sum(s > 1e-4 * s[0]).astype(s.dtype)

    def stats(p, x, y):
        return jnp.stack([backprop.loss(net, "cross_entropy", p, x, y), spread(p), rank(p, x)])

    def one(p, x, y):
        def chunk(c, _):
            def body(c, _):
                p, s = c
                g = backprop.grad(net, "cross_entropy", p, x, y)
                u, s = opt.update(g, s, p)
                return (optim.apply_updates(p, u), s), None

            c, _ = jax.lax.scan(body, c, None, length=every)
            return c, stats(c[0], x, y)

        (p_end, _), log = jax.lax.scan(chunk, (p, opt.init(p)), None, length=steps // every)
        return p_end, jnp.concatenate([stats(p, x, y)[None], log])

    p_end, log = jax.jit(jax.vmap(one))(params, x, y)
    return p_end, np.asarray(log, np.float64)


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    n_seeds = seeds("symmetry/random-learns-xor", quick)
    steps, every = (1500, 50) if quick else (6000, 100)
    m = _measure(seed, n_seeds, steps, every)
    verdicts = _decide(m["results"], quick, n_seeds)
    fig = _figure({"results": m["results"], "const": m["results"][CONSTANT], "every": every, "n_seeds": n_seeds,
                   "x": m["x"], "y": m["y"]})
    t = np.arange(m["results"][CONSTANT]["log"].shape[1]) * every
    data_out = {
        name: {"step": t, "cost": r["log"][:, :, 0], "unit_spread": r["log"][:, :, 1],
               "hidden_rank": r["log"][:, :, 2], "accuracy": r["accuracy"]}
        for name, r in m["results"].items()
    }
    data_out["setup"] = {"hidden": HIDDEN, "eta": ETA, "steps": steps, "n": 200, "noise": 0.15, "seeds": n_seeds}
    return save("symmetry", seed=seed, quick=quick, verdicts=verdicts, data=data_out, fig=fig, out_dir=out_dir,
                title="Symmetry breaking: constant vs random initialization (notes, Symmetry breaking)")


def _measure(seed: int, n_seeds: int, steps: int, every: int) -> dict:
    """Train both initializations on ``n_seeds`` noisy-XOR sets (float64): logs, accuracies, final params."""
    key = jax.random.key(seed)
    sets = [data.xor(jax.random.fold_in(key, 100 + i), n=200, noise=0.15) for i in range(n_seeds)]
    x = jnp.stack([s_[0] for s_ in sets])
    y = jnp.stack([s_[1] for s_ in sets])
    yy = y[:, :, None].astype(jnp.float32)
    nets = {
        CONSTANT: nn.MLP((2, HIDDEN, 1), "tanh", "sigmoid", w_init=initializers.constant(0.5)),
        RANDOM: nn.MLP((2, HIDDEN, 1), "tanh", "sigmoid", w_init="xavier"),
    }
    results = {}
    with jax.enable_x64(True):  # exact symmetry needs round-off far below the tolerance (module docstring)
        x64, yy64 = jnp.asarray(x, jnp.float64), jnp.asarray(yy, jnp.float64)
        for name, net in nets.items():
            p0 = jax.vmap(net.init)(jax.random.split(jax.random.fold_in(key, 1), n_seeds))
            p0 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), p0)
            p, log = _train(net, p0, x64, yy64, ETA, steps, every)
            acc = np.asarray(jax.vmap(lambda q, xs, ys: jnp.mean(((net.apply(q, xs)[:, 0] > 0.5) == (ys == 1))
                                                                 .astype(jnp.float64)))(p, x64, y), np.float64)
            p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32), p)  # for the figure's boundaries
            results[name] = {"log": log, "accuracy": acc, "params": p, "net": net}
    return {"results": results, "x": x, "y": y}


def _decide(results: dict, quick: bool, n_seeds: int) -> list[dict]:
    const, rand = results[CONSTANT], results[RANDOM]
    return [
        decide("symmetry/constant-units-identical", float(const["log"][:, :, 1].max()), quick=quick, n=n_seeds),
        decide("symmetry/constant-rank-one", float(const["log"][:, :, 2].max()), quick=quick, n=n_seeds),
        decide("symmetry/random-breaks-symmetry", float(rand["log"][:, :, 2].min()), quick=quick, n=n_seeds),
        decide("symmetry/constant-xor-bound", float(const["accuracy"].max()), quick=quick, n=n_seeds,
               detail={"per_seed": const["accuracy"]}),
        decide("symmetry/random-learns-xor", float(rand["accuracy"].min()), quick=quick, n=n_seeds,
               detail={"per_seed": rand["accuracy"]}),
    ]


def _figure(plot: dict):
    """(a) hidden units' weight spread, (b) training cost with its interval, (c) decision boundaries of seed 0.

    Panel (a) has a symmetric-log axis, linear below 1e-14, so that the constant
    initialization's spread, exactly 0, is drawn at 0. Legends sit below the axes.
    """
    results, const, every, n_seeds, x, y = (plot[k] for k in ("results", "const", "every", "n_seeds", "x", "y"))
    fig, axes = figure(3, 1, width=4.6, height=3.9)
    t = np.arange(const["log"].shape[1]) * every
    below = {"fontsize": 8, "loc": "upper center", "bbox_to_anchor": (0.5, -0.2)}
    ax = axes[0, 0]
    ax.set_yscale("symlog", linthresh=1e-14, linscale=0.5)
    for (name, r), col in zip(results.items(), ("C0", "C1")):
        sp = r["log"][:, :, 1]
        ax.fill_between(t, sp.min(0), sp.max(0), color=col, alpha=0.25)
        ax.plot(t, np.median(sp, 0), color=col, label=f"{name}: median over seeds (band: min to max)")
    ax.axhline(1e-6, color="gray", ls=":", lw=0.8, label="check's bound 1e-6")
    ax.set(xlabel="GD step", ylabel="max |w_j − w_k| (weight units)", ylim=(0, 30),
           title=f"(a) spread between hidden units, {n_seeds} seeds")
    ax.set_yticks([0, 1e-12, 1e-8, 1e-4, 1])
    ax.legend(**below)
    ax = axes[0, 1]
    for (name, r), col in zip(results.items(), ("C0", "C1")):
        c = r["log"][:, :, 0]
        m_lo_hi = np.array([t_interval(col_) for col_ in c.T])
        ax.fill_between(t, m_lo_hi[:, 1], m_lo_hi[:, 2], color=col, alpha=0.25)
        ax.plot(t, m_lo_hi[:, 0], color=col,
                label=f"{name}: mean (band: 95% t-interval); accuracy {r['accuracy'].mean():.2f}")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set(xlabel="GD step", ylabel="cross-entropy cost (nats per example)",
           title=f"(b) training cost on noisy XOR, {n_seeds} seeds")
    ax.legend(**below)
    ax = axes[0, 2]
    g1, g2 = np.meshgrid(np.linspace(-0.6, 1.6, 120), np.linspace(-0.6, 1.6, 120))
    grid = jnp.asarray(np.stack([g1.ravel(), g2.ravel()], 1), jnp.float32)
    for (name, r), col in zip(results.items(), ("C0", "C1")):
        p0 = jax.tree_util.tree_map(lambda a: a[0], r["params"])
        out = np.asarray(r["net"].apply(p0, grid))[:, 0].reshape(g1.shape)
        ax.contour(g1, g2, out, levels=[0.5], colors=col)
        ax.plot([], [], color=col, label=f"boundary (output 0.5), {name}")
    xn, yn = np.asarray(x[0]), np.asarray(y[0])
    for label, mark in ((0, "C3"), (1, "C2")):
        sel = yn == label
        ax.scatter(xn[sel, 0], xn[sel, 1], color=mark, s=8, label=f"training point, class {label}")
    ax.set(xlabel="x₁ (input units)", ylabel="x₂ (input units)", title="(c) decision boundaries, seed 0")
    ax.legend(**below)
    fig.tight_layout()
    return fig
