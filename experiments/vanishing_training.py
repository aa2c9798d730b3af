"""Vanishing gradients during training: per-layer gradient norms of a deep sigmoid MLP, epoch by epoch.

Notes, "Normalization" ("having to deal with vanishing and exploding
gradients"); Nielsen, ch. 5, "The vanishing gradient problem". By BP2 the error
of hidden layer ``l`` is ``delta^l = sigma'(a^l) (.) (W^(l+1))^T delta^(l+1)``,
so with sigmoid units (``sigma' <= 1/4``) and weights of order ``1/sqrt(n_in)``
each layer shrinks it: ``||dC/db^l|| = ||delta^l||`` (Nielsen's "speed of
learning" of layer ``l``) falls from the last hidden layer to the first. The
experiments init_gradients and slow_learning measure this at initialization;
here it is followed through training.

On what: a 784-30-30-30-30-10 sigmoid MLP (Nielsen's network2 initialization,
weights ``N(0, 1/n_in)``, biases ``N(0, 1)``), cross-entropy, SGD ``eta = 0.1``,
mini-batch 10, on the first 1000 MNIST training images for 500 epochs (quick:
300 images, 20 epochs), one population over the registered seeds. At
initialization and after every epoch, the full-batch gradient of the mean cost
over those images gives ``||dC/db^l||`` and ``||dC/dW^l||`` for each hidden layer.

How it decides (``experiments/claims/vanishing_training.py``): ``r =
log10(||dC/db^1|| / ||dC/db^4||)`` at initialization against Nielsen's
``log10(0.003/0.285)`` (band of half a decade), its maximum over the epochs
below -1, its change over training within a decade, the fraction of epochs
with the four layers in order above 0.9, and the final training accuracy (the
network learns): each a 95% t-interval over seeds. Skipped without MNIST.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _population
from experiments._common import decide, figure, save, seeds, t_interval
from fnn import backprop, data, initializers, nn, optim, train

NAME = "vanishing_training"
SIZES = (784, 30, 30, 30, 30, 10)
ETA, BATCH = 0.1, 10
CLAIM_IDS = ("init-ratio-nielsen", "first-slower-throughout", "ratio-drift", "layer-order-throughout",
             "network-learns")


def network() -> nn.MLP:
    """Nielsen's network2: weights ``N(0, 1/n_in)``, biases ``N(0, 1)``, sigmoid units."""
    return nn.MLP(SIZES, hidden="sigmoid", output="sigmoid",
                  w_init=initializers.variance_scaling(1.0, "fan_in", "normal"), b_init=initializers.normal(1.0))


def gradient_norms(net: nn.MLP, x, y):
    """``params -> (||dC/db^l||, ||dC/dW^l||)`` for every layer (full-batch gradient of the mean cost), vmapped
    over a population's leading axis."""

    def one(params):
        g = backprop.grad(net, "cross_entropy", params, x, y)
        return (jnp.stack([jnp.linalg.norm(layer["b"]) for layer in g]),
                jnp.stack([jnp.linalg.norm(layer["W"]) for layer in g]))

    return jax.jit(jax.vmap(one))


def measure(quick: bool, seed: int) -> dict:
    """Train the population; gradient norms per layer at initialization and after every epoch."""
    n, epochs = (300, 20) if quick else (1000, 500)
    P = seeds(f"{NAME}/init-ratio-nielsen", quick)
    x, y = data.load("mnist", "train", download=False, progress=False)
    x, y = x[:n], y[:n]
    net, opt = network(), optim.sgd(ETA)
    norms = gradient_norms(net, x, y)
    states = train.init_population(net, opt, jax.random.split(jax.random.key(seed), P))
    b0, w0 = (np.asarray(v) for v in norms(states.params))

    def callback(epoch, st):
        b, w = norms(st.params)
        return {"grad_b": np.asarray(b), "grad_W": np.asarray(w)}

    states, hist = _population.fit_seeds(net, "cross_entropy", opt, (x, y), epochs, BATCH, None,
                                         evals={"train": (x, y)}, callback=callback, states=states)
    # (epochs + 1, P, layers): row 0 at initialization
    grad_b = np.concatenate([b0[None], hist["grad_b"]]).astype(np.float64)
    grad_w = np.concatenate([w0[None], hist["grad_W"]]).astype(np.float64)
    return {"setup": {"sizes": SIZES, "images": n, "epochs": epochs, "eta": ETA, "batch": BATCH, "seeds": P},
            "grad_b": grad_b, "grad_W": grad_w, "train_accuracy": hist["train_accuracy"],
            "train_cost": hist["train_cost"], "diverged": hist["diverged"]}


def decide_all(out: dict, quick: bool) -> list[dict]:
    """The registered claims from the per-layer norms (hidden layers 1..4 are columns 0..3)."""
    ids = [f"{NAME}/{c}" for c in CLAIM_IDS]
    if "skipped" in out:
        return [decide(i, None, quick=quick, skipped=out["skipped"]) for i in ids]
    gb = out["grad_b"][:, :, :4]  # (epochs + 1, P, 4)
    r = np.log10(gb[:, :, 0] / gb[:, :, 3])  # (epochs + 1, P)
    ordered = np.all(np.diff(gb, axis=2) > 0, axis=2).mean(axis=0)  # (P,)
    per_claim = {
        "init-ratio-nielsen": r[0],
        "first-slower-throughout": r.max(axis=0),
        "ratio-drift": r[-1] - r[0],
        "layer-order-throughout": ordered,
        "network-learns": out["train_accuracy"][-1],
    }
    verdicts = []
    for slug, claim_id in zip(CLAIM_IDS, ids):
        v = np.asarray(per_claim[slug], np.float64)
        m, lo, hi = t_interval(v)
        verdicts.append(decide(claim_id, m, quick=quick, interval=(lo, hi), n=v.size,
                               detail={"per seed": v.tolist()}))
    return verdicts


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Per-layer gradient norms of a deep sigmoid MLP through training on MNIST; the registered claims."""
    t0 = time.perf_counter()
    try:
        out = measure(quick, seed)
    except FileNotFoundError as err:
        out = {"skipped": "MNIST files not found: " + str(err).splitlines()[0]}
    verdicts = decide_all(out, quick)
    out["runtime_s"] = time.perf_counter() - t0
    return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data=out, fig=_figure(out), out_dir=out_dir,
                title="Vanishing gradients during training: per-layer ||dC/db^l|| of a 784-30x4-10 sigmoid MLP")


def _band(ax, e, values, color, label, ls="-"):
    """Geometric mean over seeds with its 95% t-band (on logs)."""
    st = np.array([t_interval(np.log10(row)) for row in values])
    ax.plot(e, 10 ** st[:, 0], color=color, ls=ls, label=label)
    ax.fill_between(e, 10 ** st[:, 1], 10 ** st[:, 2], color=color, alpha=0.2, lw=0)


def _figure(out: dict):
    fig, axes = figure(3, 1, width=4.6, height=4.0)
    a, b, c = axes[0]
    if "skipped" in out:
        for ax in axes[0]:
            ax.text(0.5, 0.5, "MNIST absent: " + out["skipped"][:60], ha="center", fontsize=8, wrap=True)
        return fig
    gb, gw = out["grad_b"], out["grad_W"]
    e = np.arange(gb.shape[0])
    colors = ("tab:purple", "tab:blue", "tab:green", "tab:orange")
    for l in range(4):
        _band(a, e, gb[:, :, l], colors[l], f"hidden layer {l + 1}")
        _band(b, e, gw[:, :, l], colors[l], f"hidden layer {l + 1}")
    for ax, what in ((a, "||dC/db^l||"), (b, "||dC/dW^l||")):
        ax.set(xscale="symlog", yscale="log", xlabel="epoch (0 = initialization; linear below 1)", ylabel=what)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    a.set_title(f"(a) speed of learning per layer ({out['setup']['seeds']} seeds, 95% t)", fontsize=9)
    b.set_title("(b) weight-gradient norm per layer", fontsize=9)
    r = np.log10(gb[:, :, 0] / gb[:, :, 3])
    st = np.array([t_interval(row) for row in r])
    c.plot(e, st[:, 0], color="k", label="log10(||dC/db^1|| / ||dC/db^4||)")
    c.fill_between(e, st[:, 1], st[:, 2], color="k", alpha=0.2, lw=0)
    c.axhline(np.log10(0.003 / 0.285), color="tab:red", ls="--", label="Nielsen ch. 5 at init (0.003/0.285)")
    c.axhline(-1.0, color="tab:gray", ls=":", label="claim: stays below -1")
    c.set(xscale="symlog", xlabel="epoch (0 = initialization; linear below 1)", ylabel="log10 ratio")
    c.set_title("(c) first / last hidden layer", fontsize=9)
    c.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    fig.tight_layout()
    return fig
