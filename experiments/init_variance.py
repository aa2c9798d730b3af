"""Activation variance through 20 layers: He for ReLU, Xavier for tanh, eps too small or too large.

Notes, "He initialization" and "Xavier initialization". Layer ``l`` computes
``a^l = W^l z^(l-1)`` (weighted input, biases 0) and ``z^l = sigma(a^l)``,
with ``w ~ N(0, eps^2)`` (or uniform) and ``M`` inputs per unit.

What is measured, precisely. Because the weights have zero mean and are
independent of ``z^(l-1)``, ``E[(a^l)^2] = M Var[w] E[(z^(l-1))^2]`` exactly, whatever
the mean of ``z^(l-1)``; for ReLU, ``a^l`` is symmetric so
``E[(z^l)^2] = E[(a^l)^2] / 2``. Hence the notes' ``var[z^l] = (M/2) eps^2 lambda^2``
holds for the *second moment* ``E[(z^l)^2]`` given inputs of second moment ``lambda^2``:

    E[(z^l)^2] = (M/2) eps^2 E[(z^(l-1))^2]        (ReLU, Gaussian weights).

(The notes assume zero-mean inputs; ReLU outputs are not zero-mean, and their
centered variance is ``E[(a^l)^2] (1 - 1/pi)/2``. With He, ``eps^2 = 2/M``, the
pre-activation variance ``Var[a^l] = E[(a^l)^2]`` and ``E[(z^l)^2] = Var[a^l]/2`` are
both preserved.) We record ``m_l = E[(z^l)^2]`` averaged over units and
examples, per layer, for ``R`` independent networks of width ``M``.

For tanh the mean-field recursion (infinite width) predicts the pre-activation
second moment: ``q_(l+1) = M Var[w] E_(u~N(0,1))[tanh(sqrt(q_l) u)^2]``
(Gauss-Hermite quadrature). Xavier as the notes define it, ``U[-1/sqrt(M), 1/sqrt(M)]``,
has ``Var[w] = 1/(3M)``: a gain of 1/3 per layer even in tanh's linear regime;
Glorot's normalized rule (``Var[w] = 2/(M+N) = 1/M`` here) has gain 1 there, but
tanh is contractive, so ``q_l`` still falls, algebraically (``~ 1/(2l)``), not
exponentially.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import figure, save, verdict
from fnn import initializers, nn

SECTION = "He initialization / Xavier initialization"


_STATS = {}


def _profile(net: nn.MLP, keys: jax.Array, x: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """Per layer (0 = input), for each network: E[a^2] and E[z^2] over units and examples. Shapes (R, L+1).

    ``R`` networks ``net.init(key)``; the forward statistics are compiled once per
    activation (the initializer only changes the parameters, not the computation).
    """
    params = jax.vmap(net.init)(keys)
    plain = nn.MLP(net.sizes, hidden=net.hidden, output=net.output)  # same forward pass, one compile
    if plain not in _STATS:

        @jax.jit
        @jax.vmap
        def stats(p):
            tr = plain.forward(p, x)
            qa = jnp.stack([jnp.mean(x * x)] + [jnp.mean(a * a) for a in tr.a])
            mz = jnp.stack([jnp.mean(z * z) for z in tr.z])
            return qa, mz

        _STATS.clear()
        _STATS[plain] = stats
    qa, mz = _STATS[plain](params)
    return np.asarray(qa, np.float64), np.asarray(mz, np.float64)


def _mean_field_tanh(var_w_times_m: float, q_in: float, depth: int) -> np.ndarray:
    """q_l, l = 1..depth, for tanh layers: q_1 = M Var[w] E[x^2], q_(l+1) = M Var[w] E[tanh(sqrt(q_l) u)^2]."""
    u, w = np.polynomial.hermite_e.hermegauss(121)
    w = w / w.sum()
    q = var_w_times_m * q_in
    qs = [q]
    for _ in range(depth - 1):
        q = var_w_times_m * float(np.sum(w * np.tanh(math.sqrt(q) * u) ** 2))
        qs.append(q)
    return np.asarray(qs)


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    depth = 20
    M, N, R = (256, 256, 8) if quick else (512, 1000, 16)
    key = jax.random.key(seed)
    x = jax.random.normal(jax.random.fold_in(key, 0), (N, M), jnp.float32)  # zero mean, variance 1
    keys = jax.random.split(jax.random.fold_in(key, 1), R)
    sizes = (M,) * (depth + 1)

    relu_cases = {  # name -> (eps^2 * M, initializer)
        "ReLU, He eps²=2/M": (2.0, initializers.he()),
        "ReLU, eps²=1/M (too small)": (1.0, initializers.normal(math.sqrt(1.0 / M))),
        "ReLU, eps²=4/M (too large)": (4.0, initializers.normal(math.sqrt(4.0 / M))),
    }
    tanh_cases = {  # name -> (M Var[w], initializer)
        "tanh, Xavier (notes) U[±1/√M]": (1.0 / 3.0, initializers.xavier()),
        "tanh, normalized Xavier (Glorot)": (1.0, initializers.xavier_normalized()),
        "tanh, eps²=4/M (too large)": (4.0, initializers.normal(math.sqrt(4.0 / M))),
    }
    verdicts, data_out = [], {"setup": {"depth": depth, "width": M, "examples": N, "networks": R}}
    prof = {}

    for name, (m_eps2, init) in relu_cases.items():
        net = nn.MLP(sizes, hidden="relu", output="relu", w_init=init)
        qa, mz = _profile(net, keys, x)
        gain = m_eps2 / 2.0  # (M/2) eps^2
        per_layer = float(np.exp(np.mean(np.log(mz[:, depth] / mz[:, 0])) / depth))  # geometric mean over nets
        end = float(np.exp(np.mean(np.log(mz[:, depth] / mz[:, 0]))))
        prof[name] = {"second_moment_z": mz, "second_moment_a": qa, "predicted": mz[:, :1].mean() * gain ** np.arange(depth + 1)}
        verdicts.append(
            verdict(
                f"{name}: E[(z^l)^2] / E[(z^(l-1))^2] = (M/2) eps^2 (the notes' var[z^l] = (M/2) eps^2 lambda^2, "
                "as a second moment), geometric mean over 20 layers",
                per_layer,
                gain,
                abs(per_layer / gain - 1) <= 0.05,
                f"relative error <= 5% (finite-width noise ~ sqrt(2/M)/sqrt(20 R) = {math.sqrt(2 / M) / math.sqrt(depth * R):.1%})",
                SECTION,
            )
        )
        if gain == 1.0:
            pre = float(np.exp(np.mean(np.log(qa[:, depth] / qa[:, 1]))))
            verdicts.append(
                verdict(
                    "ReLU + He: the signal neither vanishes nor explodes: E[(z^20)^2] / E[x^2] and Var[a^20] / Var[a^1]",
                    [end, pre],
                    [1.0, 1.0],
                    0.5 <= end <= 2.0 and 0.5 <= pre <= 2.0,
                    "both within a factor 2 of 1 over 20 layers (finite-width log-noise "
                    f"~ {math.sqrt(2 / M) * math.sqrt(depth / R):.2f})",
                    SECTION,
                )
            )
        else:
            kind = "vanishes" if gain < 1 else "explodes"
            ok = end < 1e-4 if gain < 1 else end > 1e4
            verdicts.append(
                verdict(
                    f"{name}: the signal {kind} through 20 layers, E[(z^20)^2] / E[x^2] ~ ((M/2) eps^2)^20",
                    end,
                    gain**depth,
                    ok,
                    "< 1e-4" if gain < 1 else "> 1e4",
                    SECTION,
                )
            )

    for name, (mvar, init) in tanh_cases.items():
        net = nn.MLP(sizes, hidden="tanh", output="tanh", w_init=init)
        qa, mz = _profile(net, keys, x)
        q_in = float(qa[:, 0].mean())
        mf = _mean_field_tanh(mvar, q_in, depth)  # q_1..q_20
        meas = np.exp(np.mean(np.log(qa[:, 1:]), axis=0))  # geometric mean over nets, layers 1..20
        per_meas = float((meas[-1] / meas[0]) ** (1 / (depth - 1)))
        per_pred = float((mf[-1] / mf[0]) ** (1 / (depth - 1)))
        prof[name] = {"second_moment_a": qa, "second_moment_z": mz, "mean_field": mf}
        verdicts.append(
            verdict(
                f"{name}: Var[a^l] follows the mean-field recursion q_(l+1) = M Var[w] E[tanh(sqrt(q_l) u)^2] "
                "(per-layer factor (q_20/q_1)^(1/19))",
                per_meas,
                per_pred,
                abs(per_meas / per_pred - 1) <= 0.05,
                "relative error <= 5%",
                SECTION,
            )
        )
        if "notes" in name:
            end = float(meas[-1] / meas[0])
            verdicts.append(
                verdict(
                    "the notes' claim: tanh + Xavier (eps = 1/sqrt(M), U[-eps, eps]) keeps the variance constant between "
                    f"layers. It does not: Var[w] = eps^2/3 = 1/(3M), so each layer multiplies Var[a] by ~1/3; "
                    f"Var[a^20]/Var[a^1] = {end:.2g} (mean field {mf[-1] / mf[0]:.2g}). Glorot's normalized rule "
                    "(Var[w] = 1/M) keeps the linear-regime gain at 1",
                    end,
                    1.0,
                    0.5 <= end <= 2.0,
                    "within a factor 2 of 1 over 20 layers",
                    SECTION,
                )
            )
        if "Glorot" in name:
            end = float(meas[-1] / meas[0])
            verdicts.append(
                verdict(
                    "tanh + normalized Xavier: no exponential vanishing; Var[a^l] decays only algebraically "
                    "(~1/(2l), tanh's saturation), Var[a^20]/Var[a^1] as mean field predicts",
                    end,
                    float(mf[-1] / mf[0]),
                    abs(math.log(end / (mf[-1] / mf[0]))) <= math.log(1.25),
                    "within a factor 1.25",
                    SECTION,
                )
            )

    # ---- figure --------------------------------------------------------------------------------
    fig, axes = figure(2, 1, width=6.0, height=4.4)
    layers = np.arange(depth + 1)
    ax = axes[0, 0]
    for name, p in prof.items():
        if not name.startswith("ReLU"):
            continue
        mz = p["second_moment_z"]
        g = np.exp(np.mean(np.log(mz), axis=0))
        (line,) = ax.semilogy(layers, g, "o", ms=4, label=f"{name} (measured)")
        ax.semilogy(layers, p["predicted"], "-", color=line.get_color(), lw=1)
        ax.fill_between(layers, mz.min(0), mz.max(0), color=line.get_color(), alpha=0.15)
    ax.plot([], [], "k-", lw=1, label="theory E[x²]·((M/2)ε²)^l")
    ax.set(xlabel="layer l", ylabel="E[(z^l)²] (second moment of the activation)",
           title=f"(a) ReLU, width M={M}, {R} networks (band: min–max)")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    for name, p in prof.items():
        if not name.startswith("tanh"):
            continue
        qa = p["second_moment_a"][:, 1:]
        g = np.exp(np.mean(np.log(qa), axis=0))
        (line,) = ax.semilogy(layers[1:], g, "o", ms=4, label=f"{name} (measured)")
        ax.semilogy(layers[1:], p["mean_field"], "-", color=line.get_color(), lw=1)
        ax.fill_between(layers[1:], qa.min(0), qa.max(0), color=line.get_color(), alpha=0.15)
    ax.plot([], [], "k-", lw=1, label="mean-field recursion")
    ax.set(xlabel="layer l", ylabel="Var[a^l] (weighted input)", title=f"(b) tanh, width M={M}, {R} networks")
    ax.legend(fontsize=7)
    fig.tight_layout()

    data_out["profiles"] = {
        name: {k: (np.exp(np.mean(np.log(v), axis=0)) if v.ndim == 2 else v) for k, v in p.items()} for name, p in prof.items()
    }
    return save("init_variance", seed=seed, quick=quick, verdicts=verdicts, data=data_out, fig=fig, out_dir=out_dir,
                title="Activation variance through 20 layers (notes, He and Xavier initialization)")
