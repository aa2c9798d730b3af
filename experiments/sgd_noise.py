"""Mini-batch gradient noise: the estimate's error falls like 1/sqrt(m).

Notes, "Stochastic gradient descent": ``grad C = (1/n) sum_x grad C_x``, and
the mean over ``m`` randomly chosen examples approximates it,
``sum_j grad C_{x_j} / m ~ grad C``, with "statistical fluctuations".

The per-example gradients ``g_i = grad C_{x_i}`` of every training example
come from one ``vmap`` of hand-written backprop
(:func:`fnn.backprop.per_example_grads`). For a mini-batch of ``m`` examples
drawn *without replacement* from the ``N``, the estimate ``g_m`` is unbiased
and sampling theory gives exactly

    E ||g_m - grad C||^2 = (sigma^2 / m) (N - m) / (N - 1),
    sigma^2 = (1/N) sum_i ||g_i - grad C||^2,

i.e. an RMS error ``sigma / sqrt(m)`` times the finite-population correction
``sqrt((N - m)/(N - 1))``: slope -1/2 on log-log axes while ``m << N``, and
zero error at ``m = N``. Measured over many random mini-batches per ``m`` at a
random initialization of a small softmax network on a synthetic 3-class task,
for independent data sets and initializations (the registered seeds): the
slope over ``m <= N/16`` is compared with the slope of the formula itself over
the same ``m`` (sigma cancels), and the mean log ratio measured / predicted
with 0 (without the correction it would be the mean log FPC), each on its 95%
t-interval over seeds against the band registered in
``experiments/claims/sgd_noise.py``. All four claims are checks: the formula
is exact in expectation, so only a bug or Monte Carlo noise could move them.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments import _host_random
from experiments._common import decide, figure, save, seeds, t_interval
from fnn import backprop, nn

NAME = "sgd_noise"
SECTION = "Stochastic gradient descent"


def _data(rng: np.random.Generator, n: int, d: int, k: int) -> tuple[jax.Array, jax.Array]:
    """``k`` Gaussian blobs in ``d`` dimensions, ``n`` points, integer labels."""
    centres = 2.0 * rng.normal(size=(k, d))
    y = rng.integers(0, k, size=n)
    x = centres[y] + rng.normal(size=(n, d))
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)


def _batch_errors(G: jax.Array, g: jax.Array, ms: jax.Array, perms: jax.Array) -> jax.Array:
    """``||g_m - g||`` for one random mini-batch per permutation and size: ``(len(perms), len(ms))``.

    A mini-batch of size ``m`` drawn without replacement is the first ``m``
    entries of a random permutation, so one permutation and one cumulative sum
    give a mini-batch of every size (the sizes share examples within one
    permutation, but each size's distribution is exactly that of its own draw).
    """

    def one(perm):
        prefix = jnp.cumsum(G[perm] - g[None, :], axis=0)[ms - 1]  # (len(ms), P)
        return jnp.linalg.norm(prefix, axis=1) / ms.astype(G.dtype)

    return jax.lax.map(one, perms, batch_size=16)


@functools.partial(jax.jit, static_argnums=0)
def _gradients(net: nn.MLP, p: nn.Params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-example BP gradients ``(N, P)`` (one vmap) and the full-batch gradient ``(P,)``, flattened."""
    per_ex = backprop.per_example_grads(net, "log_likelihood", p, x, y)
    full = backprop.grad(net, "log_likelihood", p, x, y)
    return jax.vmap(lambda t: ravel_pytree(t)[0])(per_ex), ravel_pytree(full)[0]


def _one_seed(rng: np.random.Generator, N: int, n_batches: int, net: nn.MLP, d: int, k: int) -> dict:
    """One data set and initialization: RMS mini-batch error per ``m = 1, 2, 4, ..., N``."""
    x, y = _data(rng, N, d, k)
    params = _host_random.params(net, rng)
    G, g = _gradients(net, params, x, y)  # (N, P) per-example gradients, (P,) full gradient
    G_np, g_np = np.asarray(G, float), np.asarray(g, float)
    mean_err = float(np.max(np.abs(G_np.mean(axis=0) - g_np)) / np.max(np.abs(g_np)))
    sigma2 = float(np.mean(np.sum((G_np - g_np[None, :]) ** 2, axis=1)))
    ms = [2**i for i in range(int(np.log2(N)) + 1)]
    perms = rng.permuted(np.broadcast_to(np.arange(N, dtype=np.int32), (n_batches, N)), axis=1)
    e = jax.jit(_batch_errors)(G, g, jnp.asarray(ms, jnp.int32), jnp.asarray(perms))
    e2 = np.asarray(e, float) ** 2  # (n_batches, len(ms))
    rms = np.sqrt(e2.mean(axis=0))
    sem = e2.std(axis=0) / np.sqrt(n_batches) / (2 * np.maximum(rms, 1e-300))  # delta method
    return {"ms": np.asarray(ms, float), "rms": rms, "sem": sem, "sigma2": sigma2, "mean_err": mean_err,
            "n_params": int(g.size)}


def _measure(quick: bool, seed: int) -> dict:
    """Per-seed mini-batch errors and the statistics the claims are decided on."""
    N = 512 if quick else 4096
    n_batches = 400 if quick else 2000
    n_seeds = seeds(f"{NAME}/slope", quick)  # every claim registers the same seeds
    d, k, hidden = 10, 3, 32
    rng = np.random.default_rng(seed)
    net = nn.MLP((d, hidden, k), hidden="sigmoid", output="softmax")
    runs = [_one_seed(rng, N, n_batches, net, d, k) for _ in range(n_seeds)]
    ms_a = runs[0]["ms"]
    fpc = np.sqrt((N - ms_a) / (N - 1))
    inner = ms_a < N
    small = ms_a <= N / 16  # FPC within 3% of 1
    # the slope of the exact formula over the same m (sigma cancels in a log-log slope)
    pred_slope = float(np.polyfit(np.log(ms_a[small]), np.log(fpc[small] / np.sqrt(ms_a[small])), 1)[0])
    slopes = np.array([np.polyfit(np.log(ms_a[small]), np.log(r["rms"][small]), 1)[0] for r in runs])
    # per seed: mean over m < N of log(measured / predicted)
    log_ratio = np.array([np.mean(np.log(r["rms"][inner] / (np.sqrt(r["sigma2"] / ms_a[inner]) * fpc[inner])))
                          for r in runs])
    return {"N": N, "n_batches": n_batches, "n_seeds": n_seeds, "runs": runs, "ms_a": ms_a, "fpc": fpc,
            "inner": inner, "pred_slope": pred_slope, "slopes": slopes, "log_ratio": log_ratio,
            "no_fpc": float(np.mean(np.log(fpc[inner]))),  # what the ratio would be without the FPC
            "mean_err": max(r["mean_err"] for r in runs),
            "full_batch": max(float(r["rms"][-1] / np.sqrt(r["sigma2"])) for r in runs)}


def _decide(m: dict, quick: bool) -> list[dict]:
    n = m["n_seeds"]
    d_mean, d_lo, d_hi = t_interval(m["slopes"] - m["pred_slope"])
    r_mean, r_lo, r_hi = t_interval(m["log_ratio"])
    return [
        decide(f"{NAME}/mean-of-per-example-grads", m["mean_err"], quick=quick, n=n),
        decide(f"{NAME}/slope", d_mean, quick=quick, interval=(d_lo, d_hi), n=n,
               detail={"slope_per_seed": m["slopes"], "formula_slope": m["pred_slope"]}),
        decide(f"{NAME}/finite-population-correction", r_mean, quick=quick, interval=(r_lo, r_hi), n=n,
               detail={"per_seed": m["log_ratio"], "without_fpc": m["no_fpc"]}),
        decide(f"{NAME}/full-batch", m["full_batch"], quick=quick, n=n),
    ]


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Error of the mini-batch gradient vs batch size, against sigma/sqrt(m) * FPC, over seeds."""
    t_start = time.perf_counter()
    m = _measure(quick, seed)
    verdicts = _decide(m, quick)
    runs, ms_a, inner, fpc, N = m["runs"], m["ms_a"], m["inner"], m["fpc"], m["N"]
    s_mean, s_lo, s_hi = t_interval(m["slopes"])
    rms_all = np.stack([r["rms"] for r in runs])
    sig = np.sqrt(np.array([r["sigma2"] for r in runs]))
    ratio_all = rms_all[:, inner] / (sig[:, None] / np.sqrt(ms_a[None, inner]) * fpc[None, inner])
    ratio_m, ratio_lo, ratio_hi = (np.array(v) for v in zip(*(t_interval(c) for c in ratio_all.T)))
    rms, sem, sigma2 = runs[0]["rms"], runs[0]["sem"], runs[0]["sigma2"]
    pred, pred_no_fpc = np.sqrt(sigma2 / ms_a) * fpc, np.sqrt(sigma2 / ms_a)
    fig = _figure({"runs": runs, "ms_a": ms_a, "inner": inner, "pred_no_fpc": pred_no_fpc, "pred": pred,
                   "s_mean": s_mean, "s_lo": s_lo, "s_hi": s_hi, "n_seeds": m["n_seeds"], "N": N,
                   "n_batches": m["n_batches"], "fpc": fpc, "ratio_lo": ratio_lo, "ratio_hi": ratio_hi,
                   "ratio_m": ratio_m})
    data = {
        "N": N, "n_seeds": m["n_seeds"], "n_params": runs[0]["n_params"], "n_batches_per_m": m["n_batches"],
        "m": [int(x) for x in ms_a], "rms_error_per_seed": rms_all, "sigma_per_seed": sig,
        "ratio_to_prediction_mean": ratio_m, "ratio_to_prediction_interval": [ratio_lo, ratio_hi],
        "slope_per_seed_m_le_N_over_16": m["slopes"], "slope_predicted_with_fpc": m["pred_slope"],
        "mean_log_ratio_per_seed": m["log_ratio"], "mean_log_ratio_without_fpc": m["no_fpc"],
        "seed0": {"rms_error": rms, "rms_error_standard_error": sem, "predicted_with_fpc": pred,
                  "predicted_without_fpc": pred_no_fpc, "sigma": np.sqrt(sigma2)},
        "runtime_s": time.perf_counter() - t_start,
    }
    return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data=data, fig=fig, out_dir=out_dir,
                title="SGD noise: mini-batch gradient error vs batch size")


def _figure(plot: dict):
    """(a) RMS mini-batch error vs m for every seed with the theory; (b) measured / predicted with its interval."""
    runs = plot["runs"]
    ms_a = plot["ms_a"]
    inner = plot["inner"]
    pred_no_fpc = plot["pred_no_fpc"]
    pred = plot["pred"]
    s_mean = plot["s_mean"]
    s_lo = plot["s_lo"]
    s_hi = plot["s_hi"]
    n_seeds = plot["n_seeds"]
    N = plot["N"]
    n_batches = plot["n_batches"]
    fpc = plot["fpc"]
    ratio_lo = plot["ratio_lo"]
    ratio_hi = plot["ratio_hi"]
    ratio_m = plot["ratio_m"]
    fig, axes = figure(ncols=2, width=5.4, height=4.2)
    ax = axes[0, 0]
    for i, r in enumerate(runs):
        ax.loglog(ms_a[inner], r["rms"][inner], "o", ms=3.5, color="C0", alpha=0.6,
                  label=f"measured RMS error ({n_seeds} seeds)" if i == 0 else None)
    ax.loglog(ms_a, pred_no_fpc, "k--", lw=1, label=r"theory without FPC: $\sigma/\sqrt{m}$ (seed 0)")
    ax.loglog(ms_a[inner], pred[inner], "C3-", lw=1.5, label=r"theory: $\sigma/\sqrt{m}\ \sqrt{(N-m)/(N-1)}$ (seed 0)")
    ax.set_xlabel("mini-batch size m (examples)")
    ax.set_ylabel(r"RMS $\|g_m - \nabla C\|$ (cost units per parameter)")
    ax.set_title(f"(a) N = {N}, {n_batches} batches per m; slope {s_mean:.3f} [{s_lo:.3f}, {s_hi:.3f}]",
                 fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[0, 1]
    ax.axhline(1.0, color="C3", lw=1.5, label="theory with FPC (= 1)")
    ax.plot(ms_a[inner], fpc[inner], "k--", lw=1, label="theory without FPC (ratio = FPC)")
    ax.fill_between(ms_a[inner], ratio_lo, ratio_hi, color="C0", alpha=0.25, label="95% t-interval over seeds")
    ax.plot(ms_a[inner], ratio_m, "o-", color="C0", ms=4, label="measured / predicted, mean over seeds")
    ax.set_xscale("log")
    ax.set_xlabel("mini-batch size m (examples)")
    ax.set_ylabel("measured RMS / predicted RMS (dimensionless)")
    ax.set_title("(b) ratio to the sampling-theory prediction", fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    fig.suptitle("Mini-batch gradient noise (per-example gradients by vmap of backprop)", y=1.02)
    fig.tight_layout()
    return fig
