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
random initialization of a small softmax network on a synthetic 3-class task.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments import _host_random
from experiments._common import figure, save, verdict
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


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Error of the mini-batch gradient vs batch size, against sigma/sqrt(m) * FPC."""
    t_start = time.perf_counter()
    N = 512 if quick else 4096
    n_batches = 400 if quick else 2000
    d, k, hidden = 10, 3, 32
    rng = np.random.default_rng(seed)
    x, y = _data(rng, N, d, k)
    net = nn.MLP((d, hidden, k), hidden="sigmoid", output="softmax")
    params = _host_random.params(net, rng)

    @jax.jit
    def gradients(p):
        per_ex = backprop.per_example_grads(net, "log_likelihood", p, x, y)
        full = backprop.grad(net, "log_likelihood", p, x, y)
        return jax.vmap(lambda t: ravel_pytree(t)[0])(per_ex), ravel_pytree(full)[0]

    G, g = gradients(params)  # (N, P) per-example gradients, (P,) full gradient
    G_np, g_np = np.asarray(G, float), np.asarray(g, float)
    mean_err = float(np.max(np.abs(G_np.mean(axis=0) - g_np)) / np.max(np.abs(g_np)))
    sigma2 = float(np.mean(np.sum((G_np - g_np[None, :]) ** 2, axis=1)))

    ms = [2**i for i in range(int(np.log2(N)) + 1)]
    perms = rng.permuted(np.broadcast_to(np.arange(N, dtype=np.int32), (n_batches, N)), axis=1)
    e = jax.jit(_batch_errors)(G, g, jnp.asarray(ms, jnp.int32), jnp.asarray(perms))
    e2 = np.asarray(e, float) ** 2  # (n_batches, len(ms))
    rms = np.sqrt(e2.mean(axis=0))
    sem = e2.std(axis=0) / np.sqrt(n_batches) / (2 * np.maximum(rms, 1e-300))  # delta method
    ms_a = np.asarray(ms, float)
    fpc = np.sqrt((N - ms_a) / (N - 1))
    pred = np.sqrt(sigma2 / ms_a) * fpc
    pred_no_fpc = np.sqrt(sigma2 / ms_a)

    verdicts = []
    verdicts.append(
        verdict(
            "grad C = (1/n) sum_x grad C_x: the mean of vmapped per-example BP gradients equals the batch gradient",
            mean_err,
            0.0,
            mean_err <= 1e-5,
            "max relative difference <= 1e-5 (float32)",
            SECTION,
            kind="check",
        )
    )
    small = ms_a <= N / 16  # FPC within 3% of 1
    slope = float(np.polyfit(np.log(ms_a[small]), np.log(rms[small]), 1)[0])
    verdicts.append(
        verdict(
            "mini-batch gradient error falls like 1/sqrt(m) (log-log slope, m <= N/16)",
            slope,
            -0.5,
            abs(slope + 0.5) <= 0.05,
            "|slope + 0.5| <= 0.05",
            SECTION,
            kind="prediction",
        )
    )
    inner = ms_a < N
    rel = np.abs(rms[inner] / pred[inner] - 1.0)
    verdicts.append(
        verdict(
            "RMS error = sigma/sqrt(m) * sqrt((N-m)/(N-1)) (max relative deviation over m < N)",
            float(rel.max()),
            0.0,
            float(rel.max()) <= 0.1,
            f"<= 10% at every m (sampling error of {n_batches} batches ~ {100 / np.sqrt(2 * n_batches):.1f}%)",
            SECTION,
            kind="prediction",
        )
    )
    verdicts.append(
        verdict(
            "a mini-batch of all N examples (without replacement) is the full gradient",
            float(rms[-1] / np.sqrt(sigma2)),
            0.0,
            float(rms[-1]) <= 1e-5 * np.sqrt(sigma2),
            "RMS error / sigma <= 1e-5",
            SECTION,
            kind="check",
        )
    )

    fig, axes = figure(ncols=2, width=5.2, height=4.0)
    ax = axes[0, 0]
    ax.errorbar(ms_a[inner], rms[inner], yerr=2 * sem[inner], fmt="o", ms=4, label="measured RMS error (±2 s.e.)")
    ax.loglog(ms_a, pred_no_fpc, "k--", lw=1, label=r"$\sigma/\sqrt{m}$")
    ax.loglog(ms_a[inner], pred[inner], "C3-", lw=1.5, label=r"$\sigma/\sqrt{m}\ \sqrt{(N-m)/(N-1)}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mini-batch size m (examples)")
    ax.set_ylabel(r"RMS $\|g_m - \nabla C\|$ (cost units / param)")
    ax.set_title(f"N = {N}, {n_batches} batches per m (slope {slope:.3f})")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    ax.axhline(1.0, color="k", lw=1)
    ax.errorbar(ms_a[inner], rms[inner] / pred[inner], yerr=2 * sem[inner] / pred[inner], fmt="o", ms=4)
    ax.set_xscale("log")
    ax.set_xlabel("mini-batch size m (examples)")
    ax.set_ylabel("measured / predicted (with FPC)")
    ax.set_title("Ratio to the sampling-theory prediction")
    fig.suptitle("Mini-batch gradient noise (per-example gradients by vmap of backprop)", y=1.03)
    data = {
        "N": N,
        "n_params": int(g.size),
        "n_batches_per_m": n_batches,
        "m": ms,
        "rms_error": rms,
        "rms_error_standard_error": sem,
        "predicted_with_fpc": pred,
        "predicted_without_fpc": pred_no_fpc,
        "sigma": np.sqrt(sigma2),
        "slope_m_le_N_over_16": slope,
        "runtime_s": time.perf_counter() - t_start,
    }
    return save(
        NAME,
        seed=seed,
        quick=quick,
        verdicts=verdicts,
        data=data,
        fig=fig,
        out_dir=out_dir,
        title="SGD noise: mini-batch gradient error vs batch size",
    )
