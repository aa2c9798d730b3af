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

Errata (issue 12): the notes say the Xavier rule "keeps the variance constant"
(as written, ``Var[w] = 1/(3M)``: it shrinks by ~3 per layer, the decay Glorot and
Bengio 2010 report for this "standard" initialization) and print the normalized
rule as ``6/sqrt(N+M)`` (``Var[w] = 6/M`` for square layers: the first layer
multiplies the variance by 6). Each erratum is followed by the mean-field
prediction for the rule as written and for Glorot's ``sqrt(6)/sqrt(N+M)``. Every
prediction is a 95% t-interval over the ``R`` networks (16; 6 in quick mode).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import figure, save, t_interval, verdict
from fnn import initializers, nn

SECTION = "He initialization / Xavier initialization"
NOTES_XAVIER = "tanh, Xavier (notes) U[±1/√M]"
NOTES_LITERAL = "tanh, notes' literal normalized U[±6/√(N+M)]"
GLOROT = "tanh, normalized Xavier (Glorot) U[±√6/√(N+M)]"


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


def _per_net(ratios: np.ndarray, power: float) -> np.ndarray:
    """Per network: ``ratios ** power`` (a per-layer factor from an end-to-end ratio)."""
    return np.asarray(ratios, np.float64) ** power


def _factor_verdict(claim: str, samples: np.ndarray, predicted: float, slack: float, why: str) -> dict:
    """Prediction on the mean of ``samples`` (one per network): the 95% t-interval, widened by
    ``slack * predicted`` on each side (a stated modelling error), must contain ``predicted``."""
    mean, lo, hi = t_interval(samples)
    ok = lo - slack * predicted <= predicted <= hi + slack * predicted
    return verdict(claim, mean, predicted, ok,
                   f"predicted inside the 95% t-interval over networks, +- {slack:.0%} ({why})",
                   SECTION, kind="prediction", interval=(lo, hi), n_seeds=samples.size)


def _relu_verdicts(name: str, gain: float, qa: np.ndarray, mz: np.ndarray, depth: int, M: int) -> list[dict]:
    """The ReLU second-moment gain per layer, and what it means over ``depth`` layers."""
    out = [_factor_verdict(
        f"{name}: E[(z^l)^2] / E[(z^(l-1))^2] = (M/2) eps^2 (the notes' var[z^l] = (M/2) eps^2 lambda^2, "
        f"as a second moment), per-layer factor (E[(z^{depth})^2]/E[x^2])^(1/{depth}) per network",
        _per_net(mz[:, depth] / mz[:, 0], 1.0 / depth), gain, 1.0 / M, "finite-width bias O(1/M)")]
    end = mz[:, depth] / mz[:, 0]
    if gain == 1.0:
        pre = qa[:, depth] / qa[:, 1]
        (m1, lo1, hi1), (m2, lo2, hi2) = t_interval(end), t_interval(pre)
        out.append(verdict(
            f"ReLU + He: the signal neither vanishes nor explodes: E[(z^{depth})^2] / E[x^2] and "
            f"Var[a^{depth}] / Var[a^1]", [m1, m2], [1.0, 1.0],
            lo1 <= 1.0 <= hi1 and lo2 <= 1.0 <= hi2,
            f"1 (exact in expectation) inside both 95% t-intervals over networks (the alternatives eps^2 = 1/M, "
            f"4/M give 2^-{depth}, 2^{depth})",
            SECTION, kind="prediction", interval=(lo1, hi1), n_seeds=end.size))
    else:
        m, lo, hi = t_interval(np.log10(end))
        word = "vanishes" if gain < 1 else "explodes"
        out.append(verdict(
            f"{name}: the signal {word} through {depth} layers, log10 E[(z^{depth})^2] / E[x^2] = "
            f"{depth} log10((M/2) eps^2)", m, depth * math.log10(gain),
            (hi < -4.0) if gain < 1 else (lo > 4.0),
            "95% t-interval of the log10 ratio " + ("< -4" if gain < 1 else "> 4"),
            SECTION, kind="prediction", interval=(lo, hi), n_seeds=end.size))
    return out


def _tanh_verdicts(name: str, mvar: float, qa: np.ndarray, mf: np.ndarray, depth: int, M: int) -> list[dict]:
    """Errata of the notes' two Xavier rules, then the mean-field prediction for each tanh case.

    The notes' Xavier rule U[-1/sqrt(M), 1/sqrt(M)] has Var[w] = 1/(3M), gain 1/3
    per layer in tanh's linear regime (the shrinking Glorot and Bengio 2010 report
    for this "standard" initialization); the literal ``6/sqrt(N+M)`` has
    Var[w] = 12/(N+M) = 6/M here, gain 6. Both are stated to keep the variance
    constant: the errata test that they do not; the corrected statement is the
    mean-field recursion (a prediction for every rule).
    """
    out = []
    layer1 = qa[:, 1] / qa[:, 0]  # Var[a^1] / E[x^2] = M Var[w] exactly in expectation
    end = qa[:, depth] / qa[:, 1]
    if name == NOTES_XAVIER:
        m, lo, hi = t_interval(end)
        out.append(verdict(
            "erratum: the notes' Xavier rule eps = 1/sqrt(M), U[-eps, eps], 'keeps the variance constant between "
            f"layers' for tanh. As written it does not: Var[w] = 1/(3M), Var[a^{depth}] / Var[a^1] (measured)",
            m, "1 (notes) vs ~3^-19 (Var[w] = 1/(3M))", hi < 0.5,
            "erratum confirmed if the 95% t-interval lies below 1/2 (not constant within a factor 2)",
            SECTION, kind="erratum", interval=(lo, hi), n_seeds=end.size))
    if name == NOTES_LITERAL:
        m, lo, hi = t_interval(layer1)
        out.append(verdict(
            "erratum: the notes' normalized Xavier eps = 6/sqrt(N+M) (printed) keeps the variance constant. As "
            "written Var[w] = 36/(3(N+M)) = 6/M: the first layer multiplies the input variance by 6 "
            "(Var[a^1] / E[x^2], measured); the standard rule is sqrt(6)/sqrt(N+M)",
            m, "1 (notes) vs 6 (as printed)", lo > 2.0,
            "erratum confirmed if the 95% t-interval lies above 2", SECTION, kind="erratum",
            interval=(lo, hi), n_seeds=layer1.size))
    out.append(_factor_verdict(
        f"{name}: Var[a^l] follows the mean-field recursion q_(l+1) = M Var[w] E[tanh(sqrt(q_l) u)^2] "
        f"(M Var[w] = {mvar:.3g}; per-layer factor (q_{depth}/q_1)^(1/{depth - 1}) per network)",
        _per_net(end, 1.0 / (depth - 1)), float((mf[-1] / mf[0]) ** (1 / (depth - 1))), 1.0 / M,
        "finite-width corrections to mean field, O(1/M)"))
    if name == GLOROT:
        m, lo, hi = t_interval(np.log(end))
        pred = float(mf[-1] / mf[0])
        out.append(verdict(
            "tanh + normalized Xavier (corrected): no exponential vanishing; Var[a^l] decays only algebraically "
            f"(~1/(2l), tanh's saturation): Var[a^{depth}]/Var[a^1] as mean field predicts (log ratio)",
            m, math.log(pred), lo - math.log(1.1) <= math.log(pred) <= hi + math.log(1.1),
            "log of the mean-field ratio inside the 95% t-interval +- log 1.1 (the notes' Xavier gives "
            f"log 3^-{depth - 1} = {-(depth - 1) * math.log(3):.1f})",
            SECTION, kind="prediction", interval=(lo, hi), n_seeds=end.size))
    return out


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    depth = 20
    M, N, R = (256, 256, 6) if quick else (512, 1000, 16)
    key = jax.random.key(seed)
    x = jax.random.normal(jax.random.fold_in(key, 0), (N, M), jnp.float32)  # zero mean, variance 1
    keys = jax.random.split(jax.random.fold_in(key, 1), R)
    sizes = (M,) * (depth + 1)

    relu_cases = {  # name -> (eps^2 * M, initializer)
        "ReLU, He eps²=2/M": (2.0, initializers.he()),
        "ReLU, eps²=1/M (too small)": (1.0, initializers.normal(math.sqrt(1.0 / M))),
        "ReLU, eps²=4/M (too large)": (4.0, initializers.normal(math.sqrt(4.0 / M))),
    }
    tanh_cases = {  # name -> (M Var[w], initializer); square layers: N = M
        NOTES_XAVIER: (1.0 / 3.0, initializers.xavier()),
        NOTES_LITERAL: (36.0 / (3.0 * 2.0), initializers.uniform(6.0 / math.sqrt(2.0 * M))),
        GLOROT: (1.0, initializers.xavier_normalized()),
        "tanh, eps²=4/M (too large)": (4.0, initializers.normal(math.sqrt(4.0 / M))),
    }
    verdicts, data_out = [], {"setup": {"depth": depth, "width": M, "examples": N, "networks": R}}
    prof = {}

    for name, (m_eps2, init) in relu_cases.items():
        net = nn.MLP(sizes, hidden="relu", output="relu", w_init=init)
        qa, mz = _profile(net, keys, x)
        gain = m_eps2 / 2.0  # (M/2) eps^2
        prof[name] = {"second_moment_z": mz, "second_moment_a": qa,
                      "predicted": mz[:, :1].mean() * gain ** np.arange(depth + 1)}
        verdicts += _relu_verdicts(name, gain, qa, mz, depth, M)

    for name, (mvar, init) in tanh_cases.items():
        net = nn.MLP(sizes, hidden="tanh", output="tanh", w_init=init)
        qa, mz = _profile(net, keys, x)
        mf = _mean_field_tanh(mvar, float(qa[:, 0].mean()), depth)  # q_1..q_20
        prof[name] = {"second_moment_a": qa, "second_moment_z": mz, "mean_field": mf}
        verdicts += _tanh_verdicts(name, mvar, qa, mf, depth, M)
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
        band = np.exp(np.array([t_interval(np.log(c))[1:] for c in mz.T]))
        ax.fill_between(layers, band[:, 0], band[:, 1], color=line.get_color(), alpha=0.25)
    ax.plot([], [], "k-", lw=1, label="theory E[x²]·((M/2)ε²)^l (lines)")
    ax.set(xlabel="layer l", ylabel="E[(z^l)²] (second moment of the activation)",
           title=f"(a) ReLU, width M={M}, {R} networks (band: 95% t-interval)")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    for name, p in prof.items():
        if not name.startswith("tanh"):
            continue
        qa = p["second_moment_a"][:, 1:]
        g = np.exp(np.mean(np.log(qa), axis=0))
        (line,) = ax.semilogy(layers[1:], g, "o", ms=4, label=f"{name} (measured)")
        ax.semilogy(layers[1:], p["mean_field"], "-", color=line.get_color(), lw=1)
        band = np.exp(np.array([t_interval(np.log(c))[1:] for c in qa.T]))
        ax.fill_between(layers[1:], band[:, 0], band[:, 1], color=line.get_color(), alpha=0.25)
    ax.plot([], [], "k-", lw=1, label="mean-field recursion (lines)")
    ax.set(xlabel="layer l", ylabel="Var[a^l] (second moment of the weighted input)",
           title=f"(b) tanh, width M={M}, {R} networks (band: 95% t-interval)")
    ax.legend(fontsize=7)
    fig.tight_layout()

    data_out["profiles"] = {
        name: {k: (np.exp(np.mean(np.log(v), axis=0)) if v.ndim == 2 else v) for k, v in p.items()} for name, p in prof.items()
    }
    return save("init_variance", seed=seed, quick=quick, verdicts=verdicts, data=data_out, fig=fig, out_dir=out_dir,
                title="Activation variance through 20 layers (notes, He and Xavier initialization)")
