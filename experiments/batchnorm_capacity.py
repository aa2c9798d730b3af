"""Batch norm without gamma and beta loses capacity: a task it then cannot fit.

Notes, "Batch normalization": each hidden unit's weighted input is normalized
over the mini-batch, ``a_hat = (a - mu_B) / sqrt(sigma_B^2 + delta)``, and then
rescaled and shifted by learned ``gamma`` and ``beta``, "so that the network
does not lose representational power". Why they are needed, exactly: take one
input ``x`` and one hidden layer of sigmoid units with batch norm. Unit ``j``
computes ``a_j = w_j x`` (batch norm replaces the bias by ``beta``), so with
``gamma = 1, beta = 0`` fixed

    a_hat_j = sign(w_j) (x - mu_x) / sqrt(sigma_x^2 + delta / w_j^2)

(in training mode; in inference mode the moving averages stand in for
``mu_x, sigma_x``): every hidden unit is ``sigma(+-s (x - mu))`` with nearly the
same ``s`` and ``mu``, so the output ``sigma(sum_j v_j z_j + c)`` is a
*monotone* function of ``x`` (up to the moving averages' small unit-to-unit
differences). It cannot fit a target that is not monotone: on ``x ~ U[-1, 1]``
with the label ``y = 1[|x| < 1/2]`` (a band in the middle) its accuracy is at
most that of the best one-threshold classifier *on the sample itself*
(computed exactly from the data, ~0.75). With learned ``gamma`` and ``beta`` the
units can place their steps anywhere and the same network fits the band.

Claims (``experiments/claims/batchnorm_capacity.py``; seeds from the registry, one population each;
1-32-1 sigmoid network, cross-entropy, Adam 0.01, mini-batch 64, 512 examples, accuracy in inference mode
on the training set), each on the gap to the best monotone classifier's accuracy:

* without ``gamma, beta`` (a check): every seed's gap <= ``1/n`` (the moving averages' per-unit offsets);
* with ``gamma, beta`` (a prediction): the mean gap's 95% t-interval above ``1/n``;
* no normalization (a control, a check): the same.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _population
from experiments._common import decide, figure, save, seeds, t_interval
from fnn import nn, optim

SECTION = "Normalization / Batch normalization"


def freeze_affine() -> optim.Transform:
    """A transform that zeroes the gradients of every ``gamma`` and ``beta`` leaf (they keep their initial 1, 0)."""

    def zero_affine(path, g):
        key = path[-1].key if path and isinstance(path[-1], jax.tree_util.DictKey) else None
        return jnp.zeros_like(g) if key in ("gamma", "beta") else g

    def init(params):
        return ()

    def update(grads, state, params=None):
        return jax.tree_util.tree_map_with_path(zero_affine, grads), state

    return optim.Transform(init, update)


def best_monotone_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """Highest accuracy of any classifier ``1[x > t]`` or ``1[x < t]`` on the sample ``(x, y)`` (exact, O(n log n))."""
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y).ravel().astype(int)
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"x and y must be non-empty and of the same length, got {x.shape} and {y.shape}")
    order = np.argsort(x)
    ys = y[order]
    ones_left = np.concatenate([[0], np.cumsum(ys)])  # ones among the first k (predict 0 there for "x > t")
    zeros_left = np.arange(x.size + 1) - ones_left
    ones_total, zeros_total = ones_left[-1], zeros_left[-1]
    up = zeros_left + (ones_total - ones_left)  # predict 0 left of the cut, 1 right
    down = ones_left + (zeros_total - zeros_left)  # predict 1 left, 0 right
    return float(max(up.max(), down.max()) / x.size)


def _variants():
    bn = nn.MLP((1, 32, 1), hidden="sigmoid", output="sigmoid", norm="batch")
    plain = nn.MLP((1, 32, 1), hidden="sigmoid", output="sigmoid", w_init="xavier_normalized",
                   b_init=lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -1.0, 1.0))
    return {
        "batch norm, gamma and beta learned": (bn, optim.adam(0.01)),
        "batch norm, gamma = 1 and beta = 0 fixed": (bn, optim.chain(freeze_affine(), optim.adam(0.01))),
        "no normalization (control)": (plain, optim.adam(0.01)),
    }


VARIANT_CLAIM = {"batch norm, gamma and beta learned": "batchnorm_capacity/learned-affine-fits",
                 "batch norm, gamma = 1 and beta = 0 fixed": "batchnorm_capacity/fixed-affine-monotone",
                 "no normalization (control)": "batchnorm_capacity/control-fits"}


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    t0 = time.perf_counter()
    n, epochs = (512, 60) if quick else (512, 400)
    n_seeds = seeds("batchnorm_capacity/learned-affine-fits", quick)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, 1)).astype(np.float32)
    y = (np.abs(x[:, 0]) < 0.5).astype(np.int32)[:, None].astype(np.float32)
    bound = best_monotone_accuracy(x[:, 0], y[:, 0])
    keys = jax.random.split(jax.random.key(seed), n_seeds)
    grid = np.linspace(-1, 1, 401, dtype=np.float32)[:, None]
    res = {}
    for name, (net, opt) in _variants().items():
        states, h = _population.fit_seeds(net, "cross_entropy", opt, (x, y), epochs, 64, keys, evals={"train": (x, y)})
        curves = []
        for i in range(n_seeds):
            p = jax.tree_util.tree_map(lambda a, i=i: a[i], states.params)
            s = jax.tree_util.tree_map(lambda a, i=i: a[i], states.net_state)
            curves.append(np.asarray(net.forward(p, jnp.asarray(grid), s, train=False).z[-1])[:, 0])
        res[name] = {"accuracy": h["train_accuracy"], "cost": h["cost"], "final": h["train_accuracy"][-1],
                     "function": np.stack(curves)}
    vs = []
    for name, r in res.items():
        gap = np.asarray(r["final"], np.float64) - bound
        detail = {"accuracy by seed": np.asarray(r["final"]).tolist(), "best monotone accuracy": bound, "n": n}
        if VARIANT_CLAIM[name] == "batchnorm_capacity/fixed-affine-monotone":
            vs.append(decide(VARIANT_CLAIM[name], float(gap.max()), quick=quick, n=gap.size, detail=detail))
        else:
            m, lo, hi = t_interval(gap)
            vs.append(decide(VARIANT_CLAIM[name], m, quick=quick, interval=(lo, hi), n=gap.size, detail=detail))
    out = {"setup": {"n": n, "epochs": epochs, "batch": 64, "seeds": n_seeds, "network": "1-32-1 sigmoid",
                     "optimizer": "Adam 0.01", "target": "y = 1[|x| < 1/2]"},
           "best_monotone_accuracy": bound, "grid": grid[:, 0], "results": res,
           "runtime_s": time.perf_counter() - t0}
    return save("batchnorm_capacity", seed=seed, quick=quick, verdicts=vs, data=out, fig=_figure(out, x, y),
                out_dir=out_dir, title="Batch norm without gamma/beta loses capacity (notes, Batch normalization)")


def _figure(out: dict, x, y):
    fig, axes = figure(2, 1, width=5.6, height=4.2)
    a, b = axes[0]
    colors = dict(zip(out["results"], ("tab:blue", "tab:red", "tab:gray")))
    for name, r in out["results"].items():
        acc = np.asarray(r["accuracy"])
        st = np.array([t_interval(row) for row in acc])
        e = np.arange(1, acc.shape[0] + 1)
        a.plot(e, st[:, 0], color=colors[name], label=name)
        a.fill_between(e, st[:, 1], st[:, 2], color=colors[name], alpha=0.25, lw=0)
    a.axhline(out["best_monotone_accuracy"], color="k", ls="--", lw=1,
              label=f"theory: best monotone classifier on the sample ({out['best_monotone_accuracy']:.3f})")
    a.set(xlabel="epoch", ylabel="training accuracy (inference mode)", ylim=(0.4, 1.02),
          title=f"(a) accuracy, mean and 95% t-band ({out['setup']['seeds']} seeds)")
    a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
    for name, r in out["results"].items():
        for j, f in enumerate(r["function"]):
            b.plot(out["grid"], f, color=colors[name], lw=0.8, alpha=0.8, label=name if j == 0 else None)
    b.plot(x[:, 0], y[:, 0], "k.", ms=1.5, label="training data y = 1[|x| < ½]")
    b.set(xlabel="input x", ylabel="network output (inference mode)",
          title="(b) learned functions (one line per seed): without γ, β monotone")
    b.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
    fig.tight_layout()
    return fig
