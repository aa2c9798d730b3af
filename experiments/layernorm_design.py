"""When does layer norm help a deep MLP? A crossed design predicted cell by cell by mean-field theory.

Notes, "Layer normalization": ``a_hat = (a - mu_n) / sqrt(sigma_n^2 + delta)``
over the *units* of each example, then ``gamma a_hat + beta``. Per layer at
initialization: write ``z = z_bar + dz`` (``z_bar`` the example-independent
part) and ``a = W z + b`` with random ``W`` of gain ``g = sqrt(M Var w)``. The
spread of ``a`` over the units is ``g rms(z)`` — *including* ``z_bar`` — so
layer norm maps the example-to-example part to ``d a_hat = gamma W dz / (g
rms(z))`` and the next layer's spread is

    rms(dz') = f rms(dz),   f = gamma sqrt(E[phi'(gamma u)^2]) / sqrt(E[phi(gamma u)^2]),   u ~ N(0, 1)

(``a_hat ~ N(0, gamma^2)`` over the units, ``beta = 0``; ``rms(z)`` in its
steady state ``sqrt(E[phi(gamma u)^2])``). For sigmoid at ``gamma = 1``,
``f = 0.39``: its outputs are not centred (``E[sigma^2] ~ 0.29`` is mostly the
mean's ``0.25``), so the signal shrinks 0.39x per layer and after 9 layers the
output sees ``~2e-4`` of it. For tanh (centred) ``f = 1.08``; for sigmoid with
a large initial ``gamma`` the steps sharpen and ``f`` rises (``f(8) ~ 1.1``).
By the same argument ``f`` is the backward gain of the gradient per layer
(the data record ``||dC/dW^l||`` per layer at initialization, ``grad_norms``).

The design: activation (sigmoid, tanh) x initial gamma (1, 8) x optimizer
(SGD at its best rate of a grid, Adam 1e-3), a 784-64x10-10 network with layer
norm on every hidden layer, softmax + log-likelihood, 5,000 standardized
Fashion-MNIST images, mini-batch 64, 10 epochs, the registered seeds per cell.
The claims (``experiments/claims/layernorm_design.py``), decided by their
registered rules:

* per cell, the measured per-layer factor (geometric mean over layers 2-10 of
  the spread ratio, float64, at initialization) equals ``min(f, 1)`` within
  15% (for ``f > 1`` the bounded activation caps the growth at a fixed point,
  where the ratio is 1);
* per cell, SGD trains (last-epoch training cost, t-interval over seeds, below
  ``ln 10 - 0.5``) exactly where ``f^9 >= 0.01``, an ad hoc threshold (1% of
  the signal reaches the last hidden layer), not derived; sigmoid at
  ``gamma = 1`` is predicted to stay at chance;
* Adam escapes where SGD stays at chance: in the sigmoid ``gamma = 1`` cell,
  SGD's last-epoch cost minus Adam's (paired seeds) is at least 0.5 nats. In
  the other cells Adam is trained and recorded, not decided.

Quick mode measures the factors only (1,000 images); the training claims are
recorded as skipped there.
"""

from __future__ import annotations

import itertools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _population
from experiments._common import decide, figure, save, seeds, t_interval
from fnn import backprop, data, norm, optim, train
from fnn import nn

DEPTH, WIDTH, BATCH = 10, 64, 64
SGD_RATES = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
PHI = {"sigmoid": (lambda u: 1 / (1 + np.exp(-u)), lambda u: np.exp(-u) / (1 + np.exp(-u)) ** 2),
       "tanh": (np.tanh, lambda u: 1 - np.tanh(u) ** 2)}


def predicted_factor(activation: str, gamma: float) -> float:
    """``f = gamma sqrt(E[phi'(gamma u)^2] / E[phi(gamma u)^2])``, ``u ~ N(0, 1)``.

    Trapezoid rule on ``u in [-12, 12]`` with 48,001 points (``phi'(gamma u)^2`` is sharply peaked for large
    ``gamma``, where a 120-node Gauss-Hermite rule is off by 2.5% at ``gamma = 8``).
    """
    if activation not in PHI:
        raise ValueError(f"activation must be one of {sorted(PHI)}, got {activation!r}")
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    u = np.linspace(-12.0, 12.0, 48_001)
    w = np.exp(-0.5 * u**2) / math.sqrt(2 * math.pi) * (u[1] - u[0])
    phi, dphi = PHI[activation]
    return float(gamma * math.sqrt(np.sum(w * dphi(gamma * u) ** 2) / np.sum(w * phi(gamma * u) ** 2)))


def _net(activation: str) -> nn.MLP:
    return nn.MLP((784,) + (WIDTH,) * DEPTH + (10,), hidden=activation, output="softmax", norm="layer")


def _scale_gamma(params, gamma: float):
    return tuple({k: (v * gamma if k == "gamma" else v) for k, v in layer.items()} for layer in params)


def _measured_factor(activation: str, gamma: float, key, x) -> tuple[float, np.ndarray]:
    """Geometric mean over layers 2..DEPTH of the spread ratio at initialization (float64), and the spreads."""
    with jax.enable_x64(True):
        net = _net(activation)
        params = _scale_gamma(net.init(key, jnp.float64), gamma)
        tr = net.forward(params, jnp.asarray(x, jnp.float64), (), train=False)
        spread = np.array([float(jnp.sqrt(jnp.mean(jnp.var(z, axis=0)))) for z in tr.z[1:-1]])
    return float(np.exp(np.mean(np.log(spread[2:] / spread[1:-1])))), spread


def _grad_norms(activation: str, gamma: float, key, x, y) -> np.ndarray:
    """``||dC/dW^l||`` (Frobenius) for every layer ``l`` at initialization, float64 (a diagnostic of the
    backward gain ``f``: the gradient reaches layer ``l`` scaled by ``~f^(L - l)``)."""
    with jax.enable_x64(True):
        net = _net(activation)
        params = _scale_gamma(net.init(key, jnp.float64), gamma)
        g = jax.grad(lambda p: backprop.loss(net, "log_likelihood", p, jnp.asarray(x, jnp.float64),
                                             jnp.asarray(y)))(params)
        return np.array([float(jnp.linalg.norm(layer["W"])) for layer in g])


def _train_cell(activation, gamma, opt_name, keys, train_set, epochs, rates):
    net = _net(activation)
    opt = optim.sgd(1.0) if opt_name == "SGD" else optim.adam(1e-3)
    p = len(keys) * (len(rates) if opt_name == "SGD" else 1)
    member_keys = jnp.concatenate([keys] * (len(rates) if opt_name == "SGD" else 1))
    hyper = {"rate": np.repeat(np.asarray(rates), len(keys))} if opt_name == "SGD" else None
    states = train.init_population(net, opt, member_keys, hyper)
    states = states._replace(params=_scale_gamma(states.params, gamma))
    _, h = _population.fit_seeds(net, "log_likelihood", opt, train_set, epochs, BATCH, None, states=states)
    final = np.asarray(h["cost"][-1]).reshape(-1, len(keys))  # (rates, seeds)
    final = np.where(np.isfinite(final), final, np.inf)
    best = int(np.argmin(np.mean(final, axis=1)))
    curves = np.asarray(h["cost"]).reshape(epochs, -1, len(keys))[:, best]  # (epochs, seeds)
    return {"rate": float(rates[best]) if opt_name == "SGD" else 1e-3, "final": final[best], "curves": curves,
            "members": p, "interior": bool(0 < best < len(rates) - 1) if opt_name == "SGD" else None,
            "mean_final_per_rate": np.mean(final, axis=1).tolist() if opt_name == "SGD" else None}


def measure(quick: bool, seed: int) -> dict:
    """The factors and gradient norms at initialization of every cell; in full mode the SGD and Adam runs."""
    t0 = time.perf_counter()
    n_seeds = seeds("layernorm_design/sgd-sigmoid-g1", quick)
    n, epochs, rates = (1000, 3, ()) if quick else (5000, 10, SGD_RATES)
    x, y = data.load("fashion_mnist", "train", download=False, progress=False)
    stats = norm.standardize.fit(x[:n])
    x = np.asarray(norm.standardize.apply(stats, x[:n]), np.float32)
    y = np.asarray(y[:n])
    keys = jax.random.split(jax.random.key(seed), n_seeds)
    cells = {}
    for act, g in itertools.product(("sigmoid", "tanh"), (1.0, 8.0)):
        f_meas, spread = _measured_factor(act, g, jax.random.fold_in(keys[0], 7), x[:1000])
        cell = {"activation": act, "gamma0": g, "slug": f"{act}-g{g:g}", "predicted_factor": predicted_factor(act, g),
                "measured_factor": f_meas, "spread": spread,
                "grad_norms": _grad_norms(act, g, jax.random.fold_in(keys[0], 7), x[:1000], y[:1000])}
        if not quick:
            for opt_name in ("SGD", "Adam"):
                cell[opt_name] = _train_cell(act, g, opt_name, keys, (x, y), epochs, rates)
        cells[f"{act}, γ₀={g:g}"] = cell
    return {"setup": {"depth": DEPTH, "width": WIDTH, "batch": BATCH, "n_train": n, "epochs": epochs,
                      "seeds": n_seeds, "sgd_rates": list(rates), "adam_rate": 1e-3}, "cells": cells,
            "runtime_s": time.perf_counter() - t0}


def decide_all(out: dict, quick: bool) -> list[dict]:
    """Every registered claim decided by its registered rule (training claims skipped in quick mode)."""
    vs, skip = [], "quick mode measures the factors only; the SGD and Adam runs are not made"
    for c in out["cells"].values():
        s = c["slug"]
        vs.append(decide(f"layernorm_design/factor-{s}", c["measured_factor"], quick=quick,
                         detail={"f": c["predicted_factor"], "spread_per_layer": c["spread"]}))
        if quick:
            vs.append(decide(f"layernorm_design/sgd-{s}", None, quick=quick, skipped=skip))
            if s == "sigmoid-g1":
                vs.append(decide("layernorm_design/adam-sigmoid-g1", None, quick=quick, skipped=skip))
            continue
        sgd, adam = c["SGD"], c["Adam"]
        m, lo, hi = t_interval(sgd["final"])
        vs.append(decide(f"layernorm_design/sgd-{s}", m, quick=quick, interval=(lo, hi), n=len(sgd["final"]),
                         detail={"best_rate": sgd["rate"], "rate_interior": sgd["interior"],
                                 "mean_final_per_rate": sgd["mean_final_per_rate"], "per_seed": sgd["final"],
                                 "f_to_the_9": c["predicted_factor"] ** (DEPTH - 1)}))
        if s == "sigmoid-g1":
            diff = np.asarray(sgd["final"]) - np.asarray(adam["final"])
            m, lo, hi = t_interval(diff)
            vs.append(decide("layernorm_design/adam-sigmoid-g1", m, quick=quick, interval=(lo, hi), n=diff.size,
                             detail={"sgd_per_seed": sgd["final"], "adam_per_seed": adam["final"],
                                     "sgd_rate": sgd["rate"]}))
    return vs


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    out = measure(quick, seed)
    return save("layernorm_design", seed=seed, quick=quick, verdicts=decide_all(out, quick), data=out,
                fig=_figure(out), out_dir=out_dir, title="Layer norm in a deep MLP: activation x initial gamma x "
                "optimizer, predicted by the mean-field factor per layer")


def _figure(out: dict):
    fig, axes = figure(3, 1, width=5.4, height=4.2)
    a, b, c = axes[0]
    names = list(out["cells"])
    colors = dict(zip(names, ("tab:orange", "tab:red", "tab:blue", "tab:purple")))
    layers = np.arange(1, DEPTH + 1)
    for name, cell in out["cells"].items():
        s = np.asarray(cell["spread"])
        a.semilogy(layers, s, "o-", ms=3, color=colors[name],
                   label=f"{name}: ×{cell['measured_factor']:.2f} (theory {min(cell['predicted_factor'], 1):.2f}, "
                         f"f = {cell['predicted_factor']:.2f})")
        a.semilogy(layers[1:], s[1] * min(cell["predicted_factor"], 1.0) ** (layers[1:] - 2.0), ":",
                   color=colors[name])
    a.plot([], [], "k:", label="mean-field theory min(f, 1) per layer")
    a.set(xlabel="hidden layer l", ylabel="spread of zˡ over examples (rms of std)",
          title="(a) layer norm at initialization (float64)")
    a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    for ax, opt_name, letter in ((b, "SGD", "b"), (c, "Adam", "c")):
        if not all(opt_name in cell for cell in out["cells"].values()):
            ax.text(0.5, 0.5, "quick mode: factors only,\nno training", ha="center", va="center", transform=ax.transAxes)
            ax.set(xticks=[], yticks=[], title=f"({letter}) {opt_name}: not run in quick mode")
            continue
        for name, cell in out["cells"].items():
            r = cell[opt_name]
            cur = np.asarray(r["curves"])
            st = np.array([t_interval(row) for row in cur])
            e = np.arange(1, cur.shape[0] + 1)
            ls = "--" if opt_name == "SGD" and cell["predicted_factor"] ** (DEPTH - 1) < 0.01 else "-"
            ax.plot(e, st[:, 0], ls, color=colors[name], label=f"{name} (η = {r['rate']:g})")
            ax.fill_between(e, st[:, 1], st[:, 2], color=colors[name], alpha=0.25, lw=0)
        ax.axhline(math.log(10), color="k", lw=0.6, ls=":", label="chance, ln 10")
        ax.axhline(math.log(10) - 0.5, color="0.5", lw=0.6, ls="-.", label="trained below ln 10 - 0.5 (the rule)")
        ax.set(xlabel="epoch", ylabel="training cost, epoch mean (nats/example)", ylim=(0, 2.6),
               title=f"({letter}) {opt_name}, 784-64×10-10 + layer norm ({out['setup']['seeds']} seeds, 95% t-band)")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), title_fontsize=8,
                  title="dashed: predicted to stay at chance" if opt_name == "SGD" else None)
    fig.tight_layout()
    return fig
