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

Errata: the notes say the Xavier rule "keeps the variance constant"
(as written, ``Var[w] = 1/(3M)``: it shrinks by ~3 per layer, the decay Glorot and
Bengio 2010 report for this "standard" initialization) and print the normalized
rule as ``6/sqrt(N+M)`` (``Var[w] = 6/M`` for square layers: the first layer
multiplies the variance by 6). Each erratum is followed by the mean-field
prediction for the rule as written and for Glorot's ``sqrt(6)/sqrt(N+M)``.

How it decides (``experiments/claims/init_variance.py``): every quantity is a
mean over ``R`` independent networks (16; 6 in quick mode) with its 95%
t-interval. A per-layer factor, divided by its prediction, must lie in
[0.98, 1.02]; He's end-to-end ratio within a factor 2 of 1 (log10 in
[-0.301, 0.301]); eps^2 = 1/M and 4/M's log10 ratios below -4 and above 4;
Glorot's end-to-end log ratio within log 1.1 of the mean field; the errata are
confirmed when the notes' Xavier ratio is below 1/2 and the printed rule's
first-layer gain above 2.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import decide, figure, save, seeds, t_interval
from fnn import initializers, nn

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


def _factor(claim_id: str, per_net: np.ndarray, predicted: float, quick: bool) -> dict:
    """A per-layer factor per network divided by its prediction, decided on the mean's 95% t-interval."""
    mean, lo, hi = t_interval(per_net / predicted)
    return decide(claim_id, mean, quick=quick, interval=(lo, hi), n=per_net.size,
                  detail={"factor": float(per_net.mean()), "predicted_factor": predicted})


def _mean(claim_id: str, samples: np.ndarray, quick: bool, detail=None) -> dict:
    mean, lo, hi = t_interval(samples)
    return decide(claim_id, mean, quick=quick, interval=(lo, hi), n=samples.size, detail=detail)


def _relu_decide(slug: str, gain: float, mz: np.ndarray, depth: int, quick: bool) -> list[dict]:
    """The ReLU second-moment gain per layer, and what it means over ``depth`` layers."""
    end = mz[:, depth] / mz[:, 0]
    out = [_factor(f"init_variance/relu-{slug}-factor", end ** (1.0 / depth), gain, quick)]
    what = {"he": "stable", "small": "vanishes", "large": "explodes"}[slug]
    out.append(_mean(f"init_variance/relu-{slug}-{what}", np.log10(end), quick,
                     detail={"ratio_mean": float(end.mean())}))
    return out


def _tanh_decide(slug: str, qa: np.ndarray, mf: np.ndarray, depth: int, quick: bool) -> list[dict]:
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
    if slug == "xavier-notes":
        out.append(_mean("init_variance/xavier-notes-not-constant", end, quick))
    if slug == "literal":
        out.append(_mean("init_variance/literal-first-layer-gain", layer1, quick))
    out.append(_factor(f"init_variance/{slug}-mean-field", end ** (1.0 / (depth - 1)),
                       float((mf[-1] / mf[0]) ** (1 / (depth - 1))), quick))
    if slug == "glorot":
        pred = float(mf[-1] / mf[0])
        out.append(_mean("init_variance/glorot-algebraic-decay", np.log(end) - math.log(pred), quick,
                         detail={"log_ratio_mean_field": math.log(pred), "log_ratio_notes_xavier": -(depth - 1) * math.log(3)}))
    return out


RELU_CASES = {  # slug -> (name, eps^2 * M)
    "he": ("ReLU, He eps²=2/M", 2.0),
    "small": ("ReLU, eps²=1/M (too small)", 1.0),
    "large": ("ReLU, eps²=4/M (too large)", 4.0),
}
TANH_CASES = {  # slug -> (name, M Var[w]); square layers: N = M
    "xavier-notes": (NOTES_XAVIER, 1.0 / 3.0),
    "literal": (NOTES_LITERAL, 36.0 / (3.0 * 2.0)),
    "glorot": (GLOROT, 1.0),
    "tanh-large": ("tanh, eps²=4/M (too large)", 4.0),
}


def _initializer(slug: str, M: int):
    return {"he": initializers.he(), "small": initializers.normal(math.sqrt(1.0 / M)),
            "large": initializers.normal(math.sqrt(4.0 / M)), "xavier-notes": initializers.xavier(),
            "literal": initializers.uniform(6.0 / math.sqrt(2.0 * M)), "glorot": initializers.xavier_normalized(),
            "tanh-large": initializers.normal(math.sqrt(4.0 / M))}[slug]


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    depth = 20
    M, N = (256, 256) if quick else (512, 1000)
    R = seeds("init_variance/relu-he-factor", quick)
    prof = _measure(seed, depth, M, N, R)
    verdicts = []
    for slug, (name, m_eps2) in RELU_CASES.items():
        verdicts += _relu_decide(slug, m_eps2 / 2.0, prof[name]["second_moment_z"], depth, quick)
    for slug, (name, _) in TANH_CASES.items():
        verdicts += _tanh_decide(slug, prof[name]["second_moment_a"], prof[name]["mean_field"], depth, quick)
    fig = _figure(prof, depth, M, R)
    data_out = {"setup": {"depth": depth, "width": M, "examples": N, "networks": R}, "profiles": {
        name: {k: (np.exp(np.mean(np.log(v), axis=0)) if v.ndim == 2 else v) for k, v in p.items()}
        for name, p in prof.items()}}
    return save("init_variance", seed=seed, quick=quick, verdicts=verdicts, data=data_out, fig=fig, out_dir=out_dir,
                title="Activation variance through 20 layers (notes, He and Xavier initialization)")


def _measure(seed: int, depth: int, M: int, N: int, R: int) -> dict:
    """Per case: E[a^2] and E[z^2] per layer for R networks; the ReLU prediction, the tanh mean field."""
    key = jax.random.key(seed)
    x = jax.random.normal(jax.random.fold_in(key, 0), (N, M), jnp.float32)  # zero mean, variance 1
    keys = jax.random.split(jax.random.fold_in(key, 1), R)
    sizes = (M,) * (depth + 1)
    prof = {}
    for slug, (name, m_eps2) in RELU_CASES.items():
        net = nn.MLP(sizes, hidden="relu", output="relu", w_init=_initializer(slug, M))
        qa, mz = _profile(net, keys, x)
        prof[name] = {"second_moment_z": mz, "second_moment_a": qa,
                      "predicted": mz[:, :1].mean() * (m_eps2 / 2.0) ** np.arange(depth + 1)}
    for slug, (name, mvar) in TANH_CASES.items():
        net = nn.MLP(sizes, hidden="tanh", output="tanh", w_init=_initializer(slug, M))
        qa, mz = _profile(net, keys, x)
        prof[name] = {"second_moment_a": qa, "second_moment_z": mz,
                      "mean_field": _mean_field_tanh(mvar, float(qa[:, 0].mean()), depth)}  # q_1..q_20
    return prof


def _figure(prof: dict, depth: int, M: int, R: int):
    """(a) ReLU second moments per layer against theory, (b) tanh Var[a^l] against the mean field."""
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
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14))
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
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.tight_layout()
    return fig
