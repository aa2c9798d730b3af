"""Initialization on the gradient side: back-propagated variance per layer, and Glorot's histograms.

Notes, "He initialization" ("for ReLU activation units the He initialization
should make the gradient approximately equal to 1") and "Xavier
initialization" (the notes' ``U[-1/sqrt(M), 1/sqrt(M)]``, Glorot's normalized
rule, and the notes' printed ``6/sqrt(N+M)``). Glorot and Bengio (2010) argued
from the backward pass as well as the forward one; this experiment measures it.

Networks of ``L`` hidden layers of width ``M`` and a linear output of width
``M`` (quadratic cost, random targets of standard deviation 100, so that
``delta^(L+1) = z - y ~ -y`` is independent of the weights, as the analysis
assumes: with targets of the output's own scale ``delta^(L+1)`` contains ``z``,
which is correlated with ``W^(L+1)``, and ReLU + He then gives ~1.24 per layer
instead of 1 — measured in numpy at widths 128 and 512), ``R`` independent
draws. Per layer, the second moment of the error
``delta^l = dC/da^l`` (per example, from fnn's :func:`~fnn.backprop.per_example_grads`:
``dC/db^l``) follows BP2 in mean field (independent weights):

    E[(delta^l)^2] = M Var[w] E[sigma'(a^l)^2] E[(delta^(l+1))^2],   a^l ~ N(0, q_l),

with ``q_l`` the forward recursion of :mod:`experiments.init_variance` and
``E[sigma'^2] = 1/2`` for ReLU. The weight gradient ``dC/dW^l = delta^l (z^(l-1))^T``
then has second moment ``E[delta_l^2] E[z_(l-1)^2]``: in a square network's
linear regime the forward and backward factors cancel and it is the same in
every layer, whatever ``Var[w]`` (Glorot and Bengio's observation), while
``delta`` itself shrinks or grows by ``M Var[w]`` per layer.

How it decides (``experiments/claims/init_gradients.py``): per initialization,
the back-propagated factor per layer divided by its mean-field value must have
its 95% t-interval over ``R`` networks (16; 4 in quick mode) inside
[0.95, 1.05], and the log weight-gradient ratio minus its mean-field value
inside [-0.15, 0.15].
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import decide, figure, save, seeds, t_interval
from fnn import backprop, initializers, nn

NAME = "init_gradients"
SLUGS = ("relu-he", "xavier-notes", "glorot", "literal")  # the claims' names of the cases of _cases, in order
TARGET_SCALE = 100.0


def _cases(M: int) -> dict:
    """name -> (activation, M Var[w], initializer); square layers, N = M."""
    return {
        "ReLU, He eps²=2/M": ("relu", 2.0, initializers.he()),
        "tanh, Xavier (notes) U[±1/√M]": ("tanh", 1.0 / 3.0, initializers.xavier()),
        "tanh, normalized Xavier (Glorot) U[±√6/√(N+M)]": ("tanh", 1.0, initializers.xavier_normalized()),
        "tanh, notes' literal U[±6/√(N+M)]": ("tanh", 6.0, initializers.uniform(6.0 / math.sqrt(2.0 * M))),
    }


def mean_field(act: str, m_var: float, q_in: float, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward ``q_l = E[(a^l)^2]``, ``m_l = E[(z^l)^2]`` (l = 1..depth) and the backward factors
    ``chi_l = M Var[w] E[sigma'(a^l)^2]`` (Gauss-Hermite quadrature, 121 nodes)."""
    u, w = np.polynomial.hermite_e.hermegauss(121)
    w = w / w.sum()
    qs, ms, chis = [], [], []
    m_prev = q_in
    for _ in range(depth):
        q = m_var * m_prev
        a = math.sqrt(q) * u
        if act == "relu":
            m, sp2 = q / 2.0, 0.5
        else:
            m, sp2 = float(np.sum(w * np.tanh(a) ** 2)), float(np.sum(w * (1.0 - np.tanh(a) ** 2) ** 2))
        qs.append(q)
        ms.append(m)
        chis.append(m_var * sp2)
        m_prev = m
    return np.asarray(qs), np.asarray(ms), np.asarray(chis)


def _measure(net: nn.MLP, params, x, y, chunk: int):
    """Per network: E[(delta^l)^2] for l = 1..L+1, E[(z^l)^2] for l = 0..L, E[(dC/dW^l)^2] (batch gradient),
    and the per-layer samples of z and delta of network 0 (for the histograms)."""

    def one(p):
        tr = net.forward(p, x)
        pe = jax.lax.map(lambda xy: [g["b"] for g in backprop.per_example_grads(net, "quadratic", p, xy[0], xy[1])],
                         (x.reshape(-1, chunk, x.shape[1]), y.reshape(-1, chunk, y.shape[1])))
        deltas = [d.reshape(x.shape[0], -1) for d in pe]
        g = backprop.grad(net, "quadratic", p, x, y)
        return (jnp.stack([jnp.mean(d * d) for d in deltas]),
                jnp.stack([jnp.mean(x * x)] + [jnp.mean(z * z) for z in tr.z[1:-1]]),
                jnp.stack([jnp.mean(layer["W"] ** 2) for layer in g]),
                [z[:, :32] for z in tr.z[1:-1]], [d[:, :32] for d in deltas[:-1]])

    d2, z2, gw2, zs, ds = jax.jit(jax.vmap(one))(params)
    return (np.asarray(d2, np.float64), np.asarray(z2, np.float64), np.asarray(gw2, np.float64),
            [np.asarray(z[0]) for z in zs], [np.asarray(d[0]) for d in ds])


def _decide(slug, act, m_var, d2, z2, gw2, depth, quick) -> list[dict]:
    """Backward factor per layer vs mean field; weight-gradient ratio first/last hidden layer vs mean field."""
    _, ms, chis = mean_field(act, m_var, float(z2[:, 0].mean()), depth)
    # delta^1 ... delta^L (hidden) from delta^(L+1): E[delta_l^2] = chi_l E[delta_(l+1)^2]
    per_net = (d2[:, 0] / d2[:, depth - 1]) ** (1.0 / (depth - 1))  # factor per layer, hidden layers 1..L
    pred = float(np.prod(chis[: depth - 1]) ** (1.0 / (depth - 1)))
    m, lo, hi = t_interval(per_net / pred)
    out = [decide(f"init_gradients/{slug}-backward-factor", m, quick=quick, interval=(lo, hi), n=len(per_net),
                  detail={"factor": float(per_net.mean()), "mean_field": pred})]
    # weight gradients: E[(dC/dW^l)^2] ~ E[delta_l^2] E[z_(l-1)^2]; ratio layer 1 / layer L
    z_mf = np.concatenate([[z2[:, 0].mean()], ms])  # E[z^0..z^L]
    d_mf = np.cumprod(chis[::-1])[::-1]  # E[delta^l] / E[delta^(L+1)] = prod_(k=l..L) chi_k, l = 1..L
    pred_w = float(d_mf[0] * z_mf[0] / (d_mf[depth - 1] * z_mf[depth - 1]))
    lr = np.log(gw2[:, 0] / gw2[:, depth - 1]) - math.log(pred_w)
    m2, lo2, hi2 = t_interval(lr)
    out.append(decide(f"init_gradients/{slug}-weight-gradient-ratio", m2, quick=quick, interval=(lo2, hi2),
                      n=len(lr), detail={"log_ratio": float(lr.mean() + math.log(pred_w)),
                                         "log_ratio_mean_field": math.log(pred_w)}))
    return out


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Back-propagated error and weight-gradient second moments per layer, four initializations."""
    t_start = time.perf_counter()
    depth = 8
    M, N, chunk = (128, 128, 32) if quick else (256, 256, 32)
    R = seeds("init_gradients/relu-he-backward-factor", quick)
    key = jax.random.key(seed)
    x = jax.random.normal(jax.random.fold_in(key, 0), (N, M), jnp.float32)
    # targets of standard deviation TARGET_SCALE: delta^(L+1) = z - y ~ -y is independent of the weights,
    # as the mean-field analysis assumes (targets of the output's own scale put z, hence W^(L+1), into delta)
    y = TARGET_SCALE * jax.random.normal(jax.random.fold_in(key, 2), (N, M), jnp.float32)
    keys = jax.random.split(jax.random.fold_in(key, 1), R)
    verdicts, prof, hists = [], {}, {}
    for slug, (name, (act, m_var, init)) in zip(SLUGS, _cases(M).items()):
        net = nn.MLP((M,) * (depth + 2), hidden=act, output="linear", w_init=init)
        params = jax.vmap(net.init)(keys)
        d2, z2, gw2, zs, ds = _measure(net, params, x, y, chunk)
        verdicts += _decide(slug, act, m_var, d2, z2, gw2, depth, quick)
        qs, ms, chis = mean_field(act, m_var, float(z2[:, 0].mean()), depth)
        prof[name] = {"delta2": d2, "z2": z2, "grad_w2": gw2, "chi_mean_field": chis,
                      "delta2_mean_field_rel": np.cumprod(chis[::-1])[::-1]}
        hists[name] = (zs, ds)
    fig = _figure(prof, hists, depth, M, R)
    data = {"setup": {"depth": depth, "width": M, "examples": N, "networks": R},
            "profiles": prof, "runtime_s": time.perf_counter() - t_start}
    return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data=data, fig=fig, out_dir=out_dir,
                title="Initialization, gradient side: back-propagated variance per layer; Glorot's histograms")


def _hist_panel(ax, samples, title, xlabel, rng_):
    cmap = __import__("matplotlib").colormaps["viridis"]
    for l, s in enumerate(samples):
        h, edges = np.histogram(s.ravel(), bins=60, range=rng_, density=True)
        ax.plot(0.5 * (edges[1:] + edges[:-1]), h, color=cmap(l / max(len(samples) - 1, 1)), lw=1,
                label=(f"layer {l + 1}" + (" (colour: darkest = first, lighter = deeper)" if l == 0 else ""))
                if l in (0, len(samples) - 1) else None)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density (per unit of the x axis)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.24))


def _figure(prof, hists, depth, M, R):
    fig, axes = figure(ncols=3, nrows=2, width=4.6, height=3.8)
    std, norm_ = "tanh, Xavier (notes) U[±1/√M]", "tanh, normalized Xavier (Glorot) U[±√6/√(N+M)]"
    _hist_panel(axes[0, 0], hists[std][0], "(a) activations z^l, the notes' Xavier", "activation z", (-1, 1))
    _hist_panel(axes[0, 1], hists[norm_][0], "(b) activations z^l, Glorot normalized", "activation z", (-1, 1))
    ax = axes[0, 2]
    layers = np.arange(1, depth + 1)
    for (name, p), col in zip(prof.items(), ("C0", "C1", "C2", "C3")):
        rel = p["delta2"][:, :depth] / p["delta2"][:, depth:depth + 1]
        st = np.exp(np.array([t_interval(np.log(c)) for c in rel.T]))
        ax.fill_between(layers, st[:, 1], st[:, 2], color=col, alpha=0.25)
        ax.semilogy(layers, st[:, 0], "o", color=col, ms=4, label=name)
        ax.semilogy(layers, p["delta2_mean_field_rel"], "-", color=col, lw=1)
    ax.plot([], [], "k-", lw=1, label="mean field (BP2)")
    ax.set_xlabel("layer l (1 = first hidden)")
    ax.set_ylabel("E[(delta^l)²] / E[(delta^out)²]")
    ax.set_title(f"(c) back-propagated error, M = {M}, {R} nets (band: 95% t)", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.24))
    s_std = max(float(np.abs(d).max()) for d in hists[std][1])
    s_norm = max(float(np.abs(d).max()) for d in hists[norm_][1])
    _hist_panel(axes[1, 0], hists[std][1], "(d) back-propagated delta^l, the notes' Xavier",
                "delta = dC/da (cost per input unit)", (-s_std, s_std))
    _hist_panel(axes[1, 1], hists[norm_][1], "(e) back-propagated delta^l, Glorot normalized",
                "delta = dC/da (cost per input unit)", (-s_norm, s_norm))
    ax = axes[1, 2]
    for (name, p), col in zip(prof.items(), ("C0", "C1", "C2", "C3")):
        rel = p["grad_w2"][:, :depth] / p["grad_w2"][:, depth - 1:depth]
        st = np.exp(np.array([t_interval(np.log(c)) for c in rel.T]))
        ax.fill_between(layers, st[:, 1], st[:, 2], color=col, alpha=0.25)
        ax.semilogy(layers, st[:, 0], "o-", color=col, ms=4, label=name)
    ax.set_xlabel("layer l (1 = first hidden)")
    ax.set_ylabel("E[(dC/dW^l)²] / E[(dC/dW^L)²]")
    ax.set_title("(f) weight-gradient second moment (band: 95% t)", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.24))
    fig.tight_layout()
    return fig
