"""Batch norm's gamma and beta on MNIST: learned vs frozen at 1 and 0, same network, budget and mini-batches.

Notes, "Batch normalization": after ``a^ = (a - mu)/sqrt(sigma^2 + delta)`` the
pre-activations are rescaled, ``a~ = gamma a^ + beta``, so that their mean and
spread "are determined by two simple independent parameters, which turn out to
be much easier to learn by GD" than through the weights. With ``gamma = 1``
and ``beta = 0`` frozen, every hidden unit's pre-activation has mean 0 and
variance 1 over the mini-batch whatever the weights (batch norm undoes any
change of their scale or offset), so the sigmoid units stay in their central
range; learned, GD moves each unit's mean and spread directly.

On what: a 784-100-100-10 MLP with sigmoid units and batch norm on both hidden
layers, cross-entropy, SGD ``eta = 0.1``, mini-batch 32, MNIST's first 50000
training images, 10 epochs (quick: 5000 images, 2 epochs), over the registered
seeds. Both variants use the same keys (initialization and batch order); the
frozen one zeroes the updates of every ``gamma`` and ``beta``
(:func:`experiments.batchnorm_capacity.freeze_affine`).

How it decides (``experiments/claims/bn_affine.py``): the paired differences of
the final training cost and test accuracy (inference mode, moving averages),
each a 95% t-interval over seeds against its registered bound; and the frozen
parameters' largest change, exactly 0. Skipped without MNIST.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from experiments import _population
from experiments._common import decide, figure, save, seeds, t_interval
from experiments.batchnorm_capacity import freeze_affine
from fnn import data, nn, optim

NAME = "bn_affine"
ETA, BATCH = 0.1, 32
COLORS = {"gamma, beta learned": "tab:blue", "gamma = 1, beta = 0 frozen": "tab:red"}


def network() -> nn.MLP:
    return nn.MLP((784, 100, 100, 10), hidden="sigmoid", output="sigmoid", norm="batch")


def variants() -> dict:
    return {"gamma, beta learned": optim.sgd(ETA),
            "gamma = 1, beta = 0 frozen": optim.chain(freeze_affine(), optim.sgd(ETA))}


def _load(quick: bool):
    x, y = data.load("mnist", "train", validation=10_000, download=False, progress=False)
    xt, yt = data.load("mnist", "test", download=False, progress=False)
    if quick:
        x, y, xt, yt = x[:5000], y[:5000], xt[:2000], yt[:2000]
    return (x, y), (xt, yt)


def _affine_stats(states) -> dict:
    """Per member: the largest |gamma - 1| and |beta|, and the rms of gamma - 1 and of beta over all units."""
    hidden = states.params[:-1]
    dg = np.concatenate([np.abs(np.asarray(layer["gamma"]) - 1.0) for layer in hidden], axis=1)  # (P, units)
    db = np.concatenate([np.abs(np.asarray(layer["beta"])) for layer in hidden], axis=1)
    return {"max_change": np.maximum(dg.max(axis=1), db.max(axis=1)), "rms_gamma_minus_1": np.sqrt((dg**2).mean(1)),
            "rms_beta": np.sqrt((db**2).mean(1)), "gamma_minus_1": dg[0], "beta": db[0]}


def measure(quick: bool, seed: int) -> dict:
    """Both variants over the registered seeds, the same keys; per-epoch costs, accuracies, final gamma and beta."""
    epochs = 2 if quick else 10
    P = seeds(f"{NAME}/learned-lower-train-cost", quick)
    train_set, test_set = _load(quick)
    keys = jax.random.split(jax.random.key(seed), P)
    res = {}
    for name, opt in variants().items():
        t0 = time.perf_counter()
        states, h = _population.fit_seeds(network(), "cross_entropy", opt, train_set, epochs, BATCH, keys,
                                          evals={"train": train_set, "test": test_set})
        res[name] = {"train_cost": h["train_cost"], "test_accuracy": h["test_accuracy"], "diverged": h["diverged"],
                     **_affine_stats(states), "seconds": time.perf_counter() - t0}
    return {"setup": {"epochs": epochs, "train": int(train_set[0].shape[0]), "test": int(test_set[0].shape[0]),
                      "seeds": P, "eta": ETA, "batch": BATCH, "sizes": network().sizes}, "results": res}


def decide_all(out: dict, quick: bool) -> list[dict]:
    """Paired differences learned vs frozen; the frozen parameters' change."""
    ids = [f"{NAME}/{s}" for s in ("learned-lower-train-cost", "learned-test-accuracy", "frozen-stay-fixed")]
    if "skipped" in out:
        return [decide(i, None, quick=quick, skipped=out["skipped"]) for i in ids]
    learned, frozen = (out["results"][k] for k in COLORS)
    cost = np.asarray(frozen["train_cost"][-1], np.float64) - np.asarray(learned["train_cost"][-1], np.float64)
    acc = np.asarray(learned["test_accuracy"][-1], np.float64) - np.asarray(frozen["test_accuracy"][-1], np.float64)
    verdicts = []
    for claim_id, d in zip(ids[:2], (cost, acc)):
        m, lo, hi = t_interval(d)
        verdicts.append(decide(claim_id, m, quick=quick, interval=(lo, hi), n=d.size, detail={"per seed": d}))
    verdicts.append(decide(ids[2], float(np.max(frozen["max_change"])), quick=quick,
                           detail={"learned variant, rms(gamma - 1) by seed": learned["rms_gamma_minus_1"],
                                   "learned variant, rms(beta) by seed": learned["rms_beta"]}))
    return verdicts


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Batch norm with gamma and beta learned vs frozen on MNIST; the registered claims."""
    t0 = time.perf_counter()
    try:
        out = measure(quick, seed)
    except FileNotFoundError as err:
        out = {"skipped": "MNIST files not found: " + str(err).splitlines()[0]}
    verdicts = decide_all(out, quick)
    out["runtime_s"] = time.perf_counter() - t0
    return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data=out, fig=_figure(out), out_dir=out_dir,
                title="Batch norm's gamma and beta learned vs frozen (784-100-100-10 sigmoid, MNIST)")


def _figure(out: dict):
    fig, axes = figure(3, 1, width=4.4, height=4.0)
    a, b, c = axes[0]
    if "skipped" in out:
        for ax in axes[0]:
            ax.text(0.5, 0.5, "MNIST absent", ha="center", fontsize=9)
        return fig
    setup, res = out["setup"], out["results"]
    e = np.arange(1, setup["epochs"] + 1)
    for ax, key, label in ((a, "train_cost", "training cost (whole training set)"), (b, "test_accuracy",
                                                                                       "test accuracy")):
        for name, r in res.items():
            st = np.array([t_interval(row) for row in np.asarray(r[key], np.float64)])
            ax.plot(e, st[:, 0], "o-", ms=3, color=COLORS[name], label=name)
            ax.fill_between(e, st[:, 1], st[:, 2], color=COLORS[name], alpha=0.2, lw=0)
        ax.set(xlabel="epoch", ylabel=label + " (inference mode)")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    a.set(yscale="log")
    a.set_title(f"(a) training cost ({setup['seeds']} seeds, 95% t)", fontsize=9)
    b.set_title("(b) test accuracy (95% t)", fontsize=9)
    learned = res["gamma, beta learned"]
    c.hist(learned["gamma_minus_1"], bins=40, color="tab:blue", alpha=0.6, label="|gamma - 1|, learned (seed 0)")
    c.hist(learned["beta"], bins=40, color="tab:orange", alpha=0.6, label="|beta|, learned (seed 0)")
    c.set(xlabel="distance from the initial value (1 for gamma, 0 for beta)", ylabel="hidden units")
    c.set_title("(c) where GD took gamma and beta (frozen: all 0)", fontsize=9)
    c.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    fig.tight_layout()
    return fig
