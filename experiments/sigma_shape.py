"""Not the exact shape of sigma but its smoothness: smooth squashing functions against the step, by backprop.

Notes, "Sigmoid neurons": "It is not the exact shape of sigma to be crucial, but rather its smoothness", and the
step function "has derivatives = 0". Five 784-30-10 networks differ only in their hidden activation:

* three smooth squashing functions of different shapes: the logistic sigmoid ``1/(1 + e^-a)`` (range (0, 1),
  slope 1/4 at 0), ``tanh a`` (range (-1, 1), slope 1) and softsign ``a/(1 + |a|)`` (slope 1, tails
  ``1 - 1/|a|`` instead of exponential; defined here with its derivative ``1/(1 + |a|)^2``, not in fnn);
* the step ``1[a > 0]``, trained by the same backpropagation: its derivative is 0, so BP2 gives
  ``delta^1 = (W^2T delta^2) (.) sigma'(a^1) = 0`` and the hidden layer never moves; only the output layer
  learns, on 30 random binary features;
* the step's forward pass with the sigmoid's derivative in the backward pass (a straight-through surrogate).

Each trains on MNIST with softmax + log-likelihood and SGD (mini-batch 10) at every rate of one grid and every
registered seed, as one population per activation (:mod:`experiments._population`); the best rate of each
activation is chosen on validation images, and the claims (``experiments/claims/sigma_shape.py``) are decided
on paired (same seed) differences of test accuracy with 95% t-intervals: two equivalence bands for the smooth
pairs, one-sided bounds for the step, and an exact check that the step network's hidden layer stayed put.
MNIST is read from disk only; with its files absent the MNIST claims are skipped with the reason.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.ticker import MaxNLocator

from experiments import _population
from experiments._common import decide, figure, save, seeds, t_interval
from fnn import activations, data, nn, optim, train

NAME = "sigma_shape"


def _softsign(a: jax.Array) -> jax.Array:
    """softsign(a) = a / (1 + |a|)."""
    return a / (1.0 + jnp.abs(a))


def _softsign_deriv(a: jax.Array) -> jax.Array:
    """softsign'(a) = 1 / (1 + |a|)^2."""
    return 1.0 / jnp.square(1.0 + jnp.abs(a))


SOFTSIGN = activations.Activation("softsign", _softsign, _softsign_deriv)
# The step forward, the sigmoid's derivative backward: a straight-through surrogate gradient.
STEP_SURROGATE = activations.Activation("step_sigmoid_surrogate", activations.step.fn, activations.sigmoid.deriv)
HIDDEN = {"sigmoid": activations.sigmoid, "tanh": activations.tanh, "softsign": SOFTSIGN,
          "step": activations.step, "step_surrogate": STEP_SURROGATE}
LABELS = {"sigmoid": "sigmoid", "tanh": "tanh", "softsign": "softsign a/(1+|a|)", "step": "step (backprop)",
          "step_surrogate": "step, sigmoid' surrogate"}
COLORS = {"sigmoid": "tab:blue", "tanh": "tab:orange", "softsign": "tab:green", "step": "tab:red",
          "step_surrogate": "tab:purple"}


def sizes(quick: bool) -> dict:
    """The registered sizes (the claims' setup)."""
    if quick:
        return {"n_train": 2000, "n_val": 2000, "n_test": 2000, "epochs": 1, "rates": (0.1, 1.0), "batch": 10}
    return {"n_train": 20_000, "n_val": 10_000, "n_test": 10_000, "epochs": 10, "rates": (0.03, 0.1, 0.3, 1.0, 3.0),
            "batch": 10}


def _softsign_check() -> dict:
    a = jnp.linspace(-20.0, 20.0, 2001, dtype=jnp.float32)
    ref = jax.vmap(jax.grad(_softsign))(a)
    return {"max_abs_diff": float(jnp.max(jnp.abs(_softsign_deriv(a) - ref)))}


def _load(sz: dict):
    x, y = data.load("mnist", "train", download=False, progress=False)
    xt, yt = data.load("mnist", "test", download=False, progress=False)
    return ((x[:sz["n_train"]], y[:sz["n_train"]]), (x[50_000:50_000 + sz["n_val"]], y[50_000:50_000 + sz["n_val"]]),
            (xt[:sz["n_test"]], yt[:sz["n_test"]]))


def _train_one(act, sets, sz: dict, keys: jax.Array) -> dict:
    """Every rate x seed of one activation as one population; member (rate i, seed j) = index i * S + j."""
    (x, y), val, test = sets
    rates = np.repeat(np.asarray(sz["rates"], np.float32), keys.shape[0])
    member_keys = jnp.concatenate([keys] * len(sz["rates"]))
    net = nn.MLP((784, 30, 10), hidden=act, output="softmax", w_init="xavier")
    opt = optim.sgd(1.0)
    init = train.init_population(net, opt, member_keys, hyperparams={"rate": rates})
    states, h = _population.fit_seeds(net, "log_likelihood", opt, (x, y), sz["epochs"], sz["batch"], None,
                                      evals={"val": val, "test": test}, states=init)
    moved = max(float(jnp.max(jnp.abs(states.params[0][k] - init.params[0][k]))) for k in ("W", "b"))
    shape = (len(sz["rates"]), keys.shape[0])
    return {"val_accuracy": h["val_accuracy"].reshape(-1, *shape),
            "test_accuracy": h["test_accuracy"].reshape(-1, *shape),
            "train_cost": h["cost"].reshape(-1, *shape), "diverged": h["diverged"].reshape(shape),
            "hidden_layer_max_change": moved}


def _best(res: dict, rates) -> dict:
    """The rate with the highest mean final validation accuracy (a diverged member counts as 0)."""
    val = np.nan_to_num(res["val_accuracy"][-1], nan=0.0)
    i = int(np.argmax(val.mean(axis=1)))
    return {"rate": float(rates[i]), "index": i, "test": res["test_accuracy"][-1, i],
            "curve": res["test_accuracy"][:, i]}


def measure(quick: bool, seed: int) -> dict:
    """Train every activation at every rate and seed; MNIST from disk only."""
    t0 = time.perf_counter()
    sz = sizes(quick)
    out = {"sizes": sz, "softsign_check": _softsign_check()}
    try:
        sets = _load(sz)
    except FileNotFoundError as err:
        out["mnist"] = {"status": "skipped", "reason": "MNIST files not found: " + str(err).splitlines()[0]}
        return out
    keys = jax.random.split(jax.random.key(seed), seeds(f"{NAME}/tanh-like-sigmoid", quick))
    results = {name: _train_one(act, sets, sz, keys) for name, act in HIDDEN.items()}
    best = {name: _best(r, sz["rates"]) for name, r in results.items()}
    out["mnist"] = {"status": "measured", "results": results, "best": best}
    out["runtime_s"] = time.perf_counter() - t0
    return out


def _paired(best: dict, a: str, b: str) -> tuple[float, float, float, np.ndarray]:
    """Per-seed test accuracy of ``a`` minus ``b`` (a diverged run counts as accuracy 0), its t-interval."""
    acc = {k: np.nan_to_num(np.asarray(best[k]["test"], np.float64), nan=0.0) for k in (a, b)}
    d = acc[a] - acc[b]
    m, lo, hi = t_interval(d)
    return m, lo, hi, d


def decide_all(out: dict, quick: bool) -> list[dict]:
    """Every registered claim decided on ``out`` by its registered rule."""
    verdicts = [decide(f"{NAME}/softsign-derivative", out["softsign_check"]["max_abs_diff"], quick=quick)]
    pairs = {"tanh-like-sigmoid": ("tanh", "sigmoid"), "softsign-like-sigmoid": ("softsign", "sigmoid"),
             "step-below-smooth": ("sigmoid", "step"), "surrogate-learns": ("step_surrogate", "step")}
    if out["mnist"]["status"] != "measured":
        reason = out["mnist"]["reason"]
        return verdicts + [decide(f"{NAME}/{c}", None, quick=quick, skipped=reason)
                           for c in (*pairs, "step-hidden-frozen")]
    best = out["mnist"]["best"]
    for claim, (a, b) in pairs.items():
        m, lo, hi, d = _paired(best, a, b)
        verdicts.append(decide(f"{NAME}/{claim}", m, quick=quick, interval=(lo, hi), n=d.size,
                               detail={"per_seed": d, "rates": {a: best[a]["rate"], b: best[b]["rate"]}}))
    moved = out["mnist"]["results"]["step"]["hidden_layer_max_change"]
    verdicts.append(decide(f"{NAME}/step-hidden-frozen", moved, quick=quick,
                           detail={"other_networks": {k: r["hidden_layer_max_change"]
                                                      for k, r in out["mnist"]["results"].items() if k != "step"}}))
    return verdicts


def _figure(out: dict):
    """(a) test accuracy per epoch at each one's best rate; (b) final test accuracy against the rate."""
    fig, axes = figure(2, 1, width=5.5, height=4.2)
    a, b = axes[0]
    if out["mnist"]["status"] != "measured":
        for ax in (a, b):
            ax.text(0.5, 0.5, "MNIST files not found:\nskipped", ha="center", va="center", transform=ax.transAxes)
        return fig
    res, best, rates = out["mnist"]["results"], out["mnist"]["best"], out["sizes"]["rates"]
    for name in HIDDEN:
        curve = 100 * np.asarray(best[name]["curve"], np.float64)  # (epochs, seeds)
        ep = np.arange(1, curve.shape[0] + 1)
        a.plot(ep, np.nanmean(curve, axis=1), "o-", color=COLORS[name], ms=3,
               label=f"{LABELS[name]} (η = {best[name]['rate']:g})")
        a.fill_between(ep, np.nanmin(curve, axis=1), np.nanmax(curve, axis=1), color=COLORS[name], alpha=0.2)
        final = 100 * np.nan_to_num(res[name]["test_accuracy"][-1], nan=0.0)  # (rates, seeds)
        b.errorbar(rates, final.mean(axis=1), yerr=[final.mean(axis=1) - final.min(axis=1),
                                                    final.max(axis=1) - final.mean(axis=1)],
                   fmt="o-", color=COLORS[name], ms=3, capsize=2)
    a.set(xlabel="epoch", ylabel="MNIST test accuracy (%)",
          title="(a) each at its best rate (mean; band: min-max over seeds)")
    a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    b.set_xscale("log")
    b.set(xlabel="learning rate η", ylabel="final MNIST test accuracy (%)",
          title="(b) final accuracy vs rate (bars: min-max over seeds;\ncolours as in (a); diverged = 0)")
    a.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (a, b):
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Measure, decide the registered claims, draw, save."""
    out = measure(quick, seed)
    verdicts = decide_all(out, quick)
    return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data=out, fig=_figure(out), out_dir=out_dir,
                title="Not the exact shape of sigma but its smoothness: sigmoid, tanh, softsign and the step on MNIST")
