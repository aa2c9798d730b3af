"""Why SGD: progress per epoch (equal compute) and per update, mini-batch SGD against full-batch GD.

Notes, "Stochastic gradient descent": ``grad C = (1/n) sum_x grad C_x`` needs every training example, which
"becomes too slow"; a mini-batch of ``m`` examples estimates it, ``sum_j grad C_{x_j} / m ~ grad C``, with
"statistical fluctuations", and "the point is to move in a general direction that will help decrease C".

Compute is counted in example gradients (one ``grad C_x`` costs 1): a GD update costs ``n``, an SGD update
``m``, an epoch ``n`` for both; evaluations made to measure are not counted. A 784-30-10 sigmoid network
(softmax + log-likelihood) is trained on n MNIST images by

* GD: ``w <- w - eta grad C`` on all n images, T updates (T epochs);
* SGD: ``w <- w - eta (1/m) sum_j grad C_{x_j}``, m = 10 drawn without replacement, reshuffled every epoch,
  E epochs (E n / m updates),

every rate of one grid and every registered seed as one vmapped ``lax.scan`` per method (the seed fixes the
initialization, shared by both methods and every rate, and SGD's order). The training cost
``C = (1/n) sum_x C_x`` is recorded after every GD update and after chosen SGD updates. Decided
(``experiments/claims/why_sgd.py``), each method at its best rate for the compared point, paired by seed, on
95% t-intervals over seeds: the log cost ratio after E epochs, the test accuracy difference after E epochs,
the log10 compute GD needs to reach SGD's one-epoch cost, and the log cost ratio after K updates.
MNIST is read from disk only; with its files absent every claim is skipped with the reason.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import decide, figure, save, seeds, t_interval
from fnn import backprop, data, nn

NAME = "why_sgd"
COST = "log_likelihood"
NET = nn.MLP((784, 30, 10), hidden="sigmoid", output="softmax", w_init="xavier")


def sizes(quick: bool) -> dict:
    """The registered sizes (the claims' setup)."""
    if quick:
        return {"n": 1000, "n_test": 2000, "m": 10, "gd_updates": 20, "epochs": 2, "k": 10, "rates": (0.3, 3.0)}
    return {"n": 5000, "n_test": 10_000, "m": 10, "gd_updates": 100, "epochs": 5, "k": 50,
            "rates": (0.1, 0.3, 1.0, 3.0, 10.0)}


def _accuracy(params, x, y) -> jax.Array:
    return jnp.mean(jnp.argmax(NET.apply(params, x), axis=-1) == y)


@functools.partial(jax.jit, static_argnames=("steps",))
def _gd(params, rates, x, y, steps: int):
    """``steps`` GD updates of every member; returns (params, the cost before each update (P, steps))."""

    def member(p, eta):
        def body(p, _):
            c, g = backprop.value_and_grad(NET, COST, p, x, y)
            return jax.tree_util.tree_map(lambda w, d: w - eta * d, p, g), c

        return jax.lax.scan(body, p, None, length=steps)

    return jax.vmap(member)(params, rates)


@functools.partial(jax.jit, static_argnames=("m",))
def _sgd(params, rates, perms, x, y, record, m: int):
    """SGD of every member over its ``perms`` (P, epochs, n); the full training cost after the updates whose
    ``record`` flag is set (NaN elsewhere): returns (params, costs (P, updates))."""
    nb = x.shape[0] // m
    t = jnp.arange(record.shape[0])

    def member(p, eta, perm):
        def body(p, step):
            i, rec = step
            idx = jax.lax.dynamic_slice(perm[i // nb], ((i % nb) * m,), (m,))
            _, g = backprop.value_and_grad(NET, COST, p, x[idx], y[idx])
            p = jax.tree_util.tree_map(lambda w, d: w - eta * d, p, g)
            c = jax.lax.cond(rec, lambda q: backprop.loss(NET, COST, q, x, y), lambda q: jnp.float32(jnp.nan), p)
            return p, c

        return jax.lax.scan(body, p, (t, record))

    return jax.vmap(member)(params, rates, perms)


def _members(sz: dict, keys: jax.Array):
    """Member (rate r, seed s) = index r * S + s: the seed's initialization and SGD order, the rate."""
    n_r, n_s = len(sz["rates"]), keys.shape[0]
    init = jax.vmap(lambda k: NET.init(jax.random.fold_in(k, 0)))(keys)
    params = jax.tree_util.tree_map(lambda a: jnp.concatenate([a] * n_r), init)
    rates = jnp.asarray(np.repeat(sz["rates"], n_s), jnp.float32)
    perms = jax.vmap(lambda k: jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(k, e), sz["n"]))(
        jnp.arange(sz["epochs"])))(jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys))
    return params, rates, jnp.concatenate([perms] * n_r)


def measure(quick: bool, seed: int) -> dict:
    """Both methods at every rate and seed; cost curves laid out (rates, seeds, points)."""
    t0 = time.perf_counter()
    sz = sizes(quick)
    out: dict = {"sizes": sz}
    try:
        x, y = data.load("mnist", "train", download=False, progress=False)
        xt, yt = data.load("mnist", "test", download=False, progress=False)
    except FileNotFoundError as err:
        out["mnist"] = {"status": "skipped", "reason": "MNIST files not found: " + str(err).splitlines()[0]}
        return out
    x, y, xt, yt = x[:sz["n"]], y[:sz["n"]], xt[:sz["n_test"]], yt[:sz["n_test"]]
    keys = jax.random.split(jax.random.key(seed), seeds(f"{NAME}/per-epoch-cost", quick))
    params, rates, perms = _members(sz, keys)
    shape = (len(sz["rates"]), keys.shape[0])
    e, T = sz["epochs"], sz["gd_updates"]
    p_e, c1 = _gd(params, rates, x, y, steps=e)  # GD after E updates = E epochs
    gd_test = jax.vmap(_accuracy, (0, None, None))(p_e, xt, yt)
    p_T, c2 = _gd(p_e, rates, x, y, steps=T - e)
    final = jax.vmap(lambda p: backprop.loss(NET, COST, p, x, y))(p_T)
    gd_cost = np.concatenate([np.asarray(c1), np.asarray(c2), np.asarray(final)[:, None]], axis=1)  # after k = 0..T
    nb = sz["n"] // sz["m"]
    steps = np.arange(1, e * nb + 1)
    record = (steps <= 2 * sz["k"]) | (steps % max(1, nb // 10) == 0)
    p_s, sgd_cost = _sgd(params, rates, perms, x, y, jnp.asarray(record), m=sz["m"])
    sgd_test = jax.vmap(_accuracy, (0, None, None))(p_s, xt, yt)
    sgd_cost = np.asarray(sgd_cost, np.float64)[:, record]
    out["mnist"] = {"status": "measured", "gd_cost": gd_cost.reshape(*shape, -1),
                    "gd_test_accuracy": np.asarray(gd_test).reshape(shape),
                    "sgd_updates": steps[record], "sgd_cost": sgd_cost.reshape(*shape, -1),
                    "sgd_test_accuracy": np.asarray(sgd_test).reshape(shape), "updates_per_epoch": nb}
    out["runtime_s"] = time.perf_counter() - t0
    return out


def _best(costs: np.ndarray) -> int:
    """Index of the rate with the lowest mean log cost over seeds; a rate with a non-finite member is out."""
    logs = np.log(costs)
    score = np.where(np.all(np.isfinite(logs), axis=1), logs.mean(axis=1), np.inf)
    return int(np.argmin(score))


def analyse(out: dict) -> dict:
    """The per-seed numbers the claims are decided on, and the rates chosen."""
    sz, g = out["sizes"], out["mnist"]
    gd, sgd, ups = np.asarray(g["gd_cost"]), np.asarray(g["sgd_cost"]), np.asarray(g["sgd_updates"])
    nb, e, k, T = g["updates_per_epoch"], sz["epochs"], sz["k"], sz["gd_updates"]
    at = {u: int(np.flatnonzero(ups == u)[0]) for u in (nb, e * nb, k)}
    r_gd_e, r_sgd_e = _best(gd[:, :, e]), _best(sgd[:, :, at[e * nb]])
    r_gd_k, r_sgd_k = _best(gd[:, :, k]), _best(sgd[:, :, at[k]])
    r_gd_T, r_sgd_1 = _best(gd[:, :, T]), _best(sgd[:, :, at[nb]])
    target = sgd[r_sgd_1, :, at[nb]]  # SGD's cost after one epoch, per seed
    curve = gd[r_gd_T]  # (seeds, T + 1)
    reached = curve[:, 1:] <= target[:, None]
    updates = np.where(reached.any(axis=1), reached.argmax(axis=1) + 1, T)
    rate = [float(r) for r in sz["rates"]]
    return {
        "per_epoch_log_ratio": np.log(gd[r_gd_e, :, e]) - np.log(sgd[r_sgd_e, :, at[e * nb]]),
        "per_epoch_test_diff": (np.asarray(g["sgd_test_accuracy"])[r_sgd_e]
                                - np.asarray(g["gd_test_accuracy"])[r_gd_e]),
        "compute_log10_ratio": np.log10(updates), "gd_reached": reached.any(axis=1), "sgd_one_epoch_cost": target,
        "per_update_log_ratio": np.log(sgd[r_sgd_k, :, at[k]]) - np.log(gd[r_gd_k, :, k]),
        "rates": {"gd_at_E": rate[r_gd_e], "sgd_at_E": rate[r_sgd_e], "gd_at_K": rate[r_gd_k],
                  "sgd_at_K": rate[r_sgd_k], "gd_at_T": rate[r_gd_T], "sgd_at_1_epoch": rate[r_sgd_1]},
    }


def decide_all(out: dict, quick: bool) -> list[dict]:
    """Every registered claim decided on ``out`` by its registered rule."""
    values = {"per-epoch-cost": "per_epoch_log_ratio", "per-epoch-test-accuracy": "per_epoch_test_diff",
              "compute-ratio": "compute_log10_ratio", "per-update-gd-ahead": "per_update_log_ratio"}
    if out["mnist"]["status"] != "measured":
        return [decide(f"{NAME}/{c}", None, quick=quick, skipped=out["mnist"]["reason"]) for c in values]
    a, verdicts = out["analysis"], []
    for c, key in values.items():
        v = np.asarray(a[key], np.float64)
        m, lo, hi = t_interval(v)
        detail = {"per_seed": v, "rates": a["rates"]}
        if c == "compute-ratio":
            detail["gd_reached_target"] = a["gd_reached"]
        verdicts.append(decide(f"{NAME}/{c}", m, quick=quick, interval=(lo, hi), n=v.size, detail=detail))
    return verdicts


def _figure(out: dict):
    """Training cost against (a) compute in epochs and (b) updates, each method at its best rate for the end."""
    fig, axes = figure(2, 1, width=5.2, height=4.2)
    a, b = axes[0]
    if out["mnist"]["status"] != "measured":
        for ax in (a, b):
            ax.text(0.5, 0.5, "MNIST files not found:\nskipped", ha="center", va="center", transform=ax.transAxes)
        return fig
    sz, g, an = out["sizes"], out["mnist"], out["analysis"]
    rates, nb = list(sz["rates"]), g["updates_per_epoch"]
    gd, sgd, ups = np.asarray(g["gd_cost"]), np.asarray(g["sgd_cost"]), np.asarray(g["sgd_updates"])
    k_gd = np.arange(gd.shape[-1])
    r_gd, r_sgd = rates.index(an["rates"]["gd_at_T"]), rates.index(an["rates"]["sgd_at_E"])
    gd_label, sgd_label = f"GD, η = {rates[r_gd]:g}", f"SGD m = {sz['m']}, η = {rates[r_sgd]:g}"
    for ax, x_gd, x_sgd in ((a, k_gd, ups / nb), (b, k_gd, ups)):
        ax.plot(x_gd, gd[r_gd].mean(axis=0), "-", color="tab:blue", label=gd_label)
        ax.fill_between(x_gd, gd[r_gd].min(axis=0), gd[r_gd].max(axis=0), color="tab:blue", alpha=0.2)
        ax.plot(x_sgd, sgd[r_sgd].mean(axis=0), "-", color="tab:red", label=sgd_label)
        ax.fill_between(x_sgd, sgd[r_sgd].min(axis=0), sgd[r_sgd].max(axis=0), color="tab:red", alpha=0.2)
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_yscale("log")
        ax.legend(fontsize=8, loc="lower left")
    a.axhline(np.mean(an["sgd_one_epoch_cost"]), color="k", ls=":", lw=1)
    a.set(xlabel="compute: epochs = example gradients / n", ylabel="training cost C (log-likelihood)",
          title=f"(a) per epoch (n = {sz['n']}); dotted: SGD after 1 epoch")
    b.axvline(sz["k"], color="k", ls=":", lw=1)
    b.set(xlabel="updates", ylabel="training cost C (log-likelihood)",
          title=f"(b) per update; dotted: K = {sz['k']} (claim)")
    for ax in (a, b):
        ax.title.set_fontsize(9)
    fig.suptitle("MNIST 784-30-10: mean over seeds, band min-max", fontsize=10)
    fig.tight_layout()
    return fig


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Measure, decide the registered claims, draw, save."""
    out = measure(quick, seed)
    if out["mnist"]["status"] == "measured":
        out["analysis"] = analyse(out)
    verdicts = decide_all(out, quick)
    return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data=out, fig=_figure(out), out_dir=out_dir,
                title="Why SGD: mini-batch SGD vs full-batch GD per epoch and per update (MNIST)")
