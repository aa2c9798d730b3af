"""Universal approximation, the binary worst case: how many hidden units a random Boolean function needs.

Notes, "Universal Approximation Theorem": there are ``2^(2^n)`` Boolean functions
of ``n`` bits; selecting one takes ``2^n`` bits, "which will in general require
``O(2^n)`` degrees of freedom", possibly "one hidden unit for each input
configuration". Networks ``n -> H -> 1`` (sigmoid hidden, sigmoid output read at
0.5, i.e. a linear output thresholded at 0) have ``P = H (n + 2) + 1``
parameters.

* *Constructions* (checks): one sigmoid unit with gain ``k`` per configuration
  ``v`` with ``f(v) = 1`` represents every Boolean function with at most ``2^n``
  units; parity, which is not a worst case, needs only ``n`` units ("unit ``k``
  fires when at least ``k`` bits are on", output ``sum_k (-1)^(k+1) h_k``).
* *Measured minimum*: for random functions (typical, hence close to the worst
  case by the counting argument) and ``n = 2..8``, the smallest width in a grid
  at which some restart of Adam classifies all ``2^n`` inputs (one compiled
  population per ``n``: every function x width x restart at once). A trained
  width is an upper bound on the true minimum.
* *Theory bracket* (predictions): counting (a network with ``P`` parameters has VC dimension
  ``O(P log P)`` with threshold units) gives ``P >~ 2^n / n``; the lookup
  construction and Baum's memorization bound give ``P <~ 2^n``. Over a finite
  range of ``n``, ``2^n / n`` and ``n^2`` have similar log-log slopes, so a
  slope alone cannot tell them apart: the two-parameter exponential model
  ``log2 P = a + b n`` is compared with the polynomial one
  ``log2 P = a + k log2 n`` by their residual sums of squares on the
  median per ``n``, with a bootstrap over functions for the interval; and the
  OLS slope ``b`` of ``log2 P = a + b n`` (95% t-interval) must lie inside the
  bracket of the two bounds' slopes. The rules are registered in
  ``experiments/claims/uat_boolean.py``. In quick mode (``n <= 7``, 5 functions
  per ``n``) the model comparison is skipped: it cannot separate the two
  models there.
"""

from __future__ import annotations

import itertools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _host_random
from experiments._common import decide, figure, save, seeds, t_quantile
from fnn import backprop, nn, optim

NAME = "uat_boolean"
SECTION = "Universal Approximation Theorem"
GAIN = 20.0  # slope of the constructed sigmoid units (sigma(10) ~ 1 - 4.5e-5)
# Width grid searched for the smallest network that represents a Boolean function.
WIDTHS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64)


def _cube(n: int) -> np.ndarray:
    """All ``2^n`` points of ``{0, 1}^n`` (rows)."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)), dtype=np.float32)


def lookup_params(f: np.ndarray, n: int, gain: float = GAIN) -> tuple[nn.MLP, nn.Params]:
    """One sigmoid unit per input configuration ``v`` with ``f(v) = 1``.

    Unit ``v``: ``a = gain (sum_i (2 v_i - 1) x_i - |v| + 1/2)``, which is
    ``+gain/2`` at ``x = v`` and ``<= -gain/2`` at every other corner; the linear
    output sums them, so it is ~1 where ``f = 1`` and ~0 elsewhere.
    """
    X = _cube(n)
    on = X[np.asarray(f) > 0.5]
    if len(on) == 0:  # constant 0: one unit with zero output weight
        on = X[:1]
        v = np.zeros((1,), np.float32)
    else:
        v = np.ones((len(on),), np.float32)
    W = gain * (2.0 * on - 1.0)
    b = -gain * (on.sum(axis=1) - 0.5)
    net = nn.MLP((n, len(on), 1), hidden="sigmoid", output="linear")
    params = (
        {"W": jnp.asarray(W), "b": jnp.asarray(b)},
        {"W": jnp.asarray(v[None, :]), "b": jnp.zeros((1,))},
    )
    return net, params


def parity_params(n: int, gain: float = GAIN) -> tuple[nn.MLP, nn.Params]:
    """``n``-bit parity with ``n`` hidden units: ``h_k = [sum x >= k]``, out ``= sum_k (-1)^(k+1) h_k``."""
    k = np.arange(1, n + 1, dtype=np.float32)
    W = gain * np.ones((n, n), np.float32)
    b = -gain * (k - 0.5)
    v = np.where(k % 2 == 1, 1.0, -1.0).astype(np.float32)
    net = nn.MLP((n, n, 1), hidden="sigmoid", output="linear")
    params = (
        {"W": jnp.asarray(W), "b": jnp.asarray(b)},
        {"W": jnp.asarray(v[None, :]), "b": jnp.zeros((1,))},
    )
    return net, params


def _represent_all(nets_params, n_max: int) -> np.ndarray:
    """Whether each constructed ``(n, f, net, params)`` classifies all ``2^n`` inputs as ``f`` does.

    One compiled, vmapped forward pass for all of them: each network is padded
    to ``n_max`` inputs (zero columns: the extra inputs are 0) and to the
    largest width (extra units with zero weights and zero output weight, which
    add nothing), and its ``2^n`` inputs are tiled to ``2^n_max`` rows.
    """
    k_max = max(net.sizes[1] for _, _, net, _ in nets_params)
    rows = 2**n_max
    X, Y, W1, B1, W2, B2 = [], [], [], [], [], []
    for n, f, net, p in nets_params:
        reps = rows // 2**n
        X.append(np.pad(np.tile(_cube(n), (reps, 1)), ((0, 0), (0, n_max - n))))
        Y.append(np.tile(np.asarray(f, np.float32), reps))
        k = net.sizes[1]
        W1.append(np.pad(np.asarray(p[0]["W"]), ((0, k_max - k), (0, n_max - n))))
        B1.append(np.pad(np.asarray(p[0]["b"]), (0, k_max - k)))
        W2.append(np.pad(np.asarray(p[1]["W"]), ((0, 0), (0, k_max - k))))
        B2.append(np.asarray(p[1]["b"]))
    padded = nn.MLP((n_max, k_max, 1), hidden="sigmoid", output="linear")

    def one(x, y, w1, b1, w2, b2):
        out = padded.apply(({"W": w1, "b": b1}, {"W": w2, "b": b2}), x)[:, 0]
        return jnp.all((out > 0.5) == (y > 0.5))

    args = (jnp.asarray(np.stack(a)) for a in (X, Y, W1, B1, W2, B2))
    return np.asarray(jax.jit(jax.vmap(one))(*args))


def _mask(h: jax.Array, h_max: int, n: int) -> nn.Params:
    """0/1 pytree keeping the first ``h`` of ``h_max`` hidden units of an ``n -> h_max -> 1`` net.

    A masked unit has zero output weight and zero gradients, so the masked
    network computes exactly what a width-``h`` network computes; one
    compilation then serves every width (``h`` is traced).
    """
    m = (jnp.arange(h_max) < h).astype(jnp.float32)
    return ({"W": jnp.broadcast_to(m[:, None], (h_max, n)), "b": m}, {"W": m[None, :], "b": jnp.ones((1,))})


def _times(tree: nn.Params, mask: nn.Params) -> nn.Params:
    return jax.tree_util.tree_map(lambda a, b: a * b, tree, mask)


def _train_boolean(n: int, funcs: np.ndarray, widths, restarts: int, steps: int, rate: float, rng):
    """Train ``n -> H -> 1`` for every function x width x restart at once; accuracies ``(F, W, R)``.

    One compilation per ``n`` (widths are masks, see :func:`_mask`). Sigmoid
    output with cross-entropy on all ``2^n`` inputs, full batch, Adam; N(0, 1)
    initial weights, zero biases.
    """
    X = jnp.asarray(_cube(n))
    F, W = len(funcs), len(widths)
    h_max = max(widths)
    net = nn.MLP((n, h_max, 1), hidden="sigmoid", output="sigmoid")
    opt = optim.adam(rate)

    def one(y, h, p0):
        mask = _mask(h, h_max, n)
        params = _times(p0, mask)

        def step(carry, _):
            p, s = carry
            g = _times(backprop.grad(net, "cross_entropy", p, X, y[:, None]), mask)
            u, s = opt.update(g, s, p)
            return (optim.apply_updates(p, u), s), None

        (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
        pred = (net.apply(params, X)[:, 0] > 0.5).astype(jnp.float32)
        return jnp.mean((pred == y).astype(jnp.float32))

    Y = jnp.asarray(np.repeat(np.asarray(funcs, np.float32), W * restarts, axis=0))
    H = jnp.asarray(np.tile(np.repeat(np.asarray(widths, np.int32), restarts), F))
    p0 = _host_random.stacked_params(net, rng, F * W * restarts, std=1.0)
    acc = jax.jit(jax.vmap(one))(Y, H, p0)
    return np.asarray(acc).reshape(F, W, restarts)


def _smallest_width(acc: np.ndarray, widths) -> np.ndarray:
    """Per function, the smallest width at which some restart reaches 100% (nan: none)."""
    ok = np.any(acc >= 1.0, axis=-1)  # (F, W)
    return np.array([widths[int(np.argmax(o))] if o.any() else np.nan for o in ok], float)


# --- the experiment ---------------------------------------------------------------



def _grid_for(n: int) -> tuple[int, ...]:
    """Widths searched at ``n`` bits: every width up to ``2^(n-1)`` for ``n <= 5``; beyond, the
    window ``[0.3, 1.0] x 2^n / (n + 2)`` (``P`` between 0.3 and 1 times ``2^n``). Functions fitted at
    the window's lowest width, or at none, are counted and reported (censored)."""
    if n <= 5:
        return tuple(w for w in WIDTHS if w <= 2 ** (n - 1))
    centre = 2.0**n / (n + 2)
    return tuple(w for w in WIDTHS if 0.3 * centre <= w <= centre)


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Least squares ``y = a + b x``: ``(a, b, se_b, rss)``."""
    A = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    rss = float(resid @ resid)
    dof = max(len(x) - 2, 1)
    se_b = math.sqrt(rss / dof / float(np.sum((x - x.mean()) ** 2)))
    return float(coef[0]), float(coef[1]), se_b, rss


def _medians(ns: np.ndarray, log2p: np.ndarray, groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per ``n``: ``n`` and the median of ``log2 P`` over its functions."""
    return np.array([ns[g[0]] for g in groups]), np.array([np.median(log2p[g]) for g in groups])


def _model_comparison(ns: np.ndarray, log2p: np.ndarray, rng: np.random.Generator, n_boot: int) -> dict:
    """Exponential ``log2 P = a + b n`` vs polynomial ``log2 P = a + k log2 n`` (two parameters each),
    fitted to the median ``log2 P`` per ``n`` (``P`` is an integer width times ``n + 2``: single functions
    at small ``n`` are noisy by factors of 2): ``log(RSS_poly / RSS_exp)``, with a percentile bootstrap
    over functions within each ``n``."""
    groups = [np.flatnonzero(ns == n) for n in np.unique(ns)]

    def ratio(idx_groups):
        n_m, l_m = _medians(ns, log2p, idx_groups)
        rss_e, rss_p = _ols(n_m, l_m)[3], _ols(np.log2(n_m), l_m)[3]
        return rss_e, rss_p, math.log(rss_p / max(rss_e, 1e-300))

    rss_exp, rss_poly, log_ratio = ratio(groups)
    boot = [ratio([rng.choice(g, size=g.size) for g in groups])[2] for _ in range(n_boot)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    _, b, se_b, _ = _ols(ns, log2p)
    _, k, _, _ = _ols(np.log2(ns), log2p)
    return {"b": b, "se_b": se_b, "k": k, "rss_exp": rss_exp, "rss_poly": rss_poly,
            "log_rss_ratio": log_ratio, "log_rss_ratio_interval": [float(lo), float(hi)]}


def _constructions(ns, n_funcs, rng) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Lookup construction on random functions and the parity construction, for every ``n``."""
    built, lookup_units = [], []
    for n in ns:
        X = _cube(n)
        units = []
        for f in rng.integers(0, 2, size=(n_funcs, 2**n)).astype(np.float32):
            net, p = lookup_params(f, n)
            built.append((n, f, net, p))
            units.append(net.sizes[1])
        lookup_units.append(float(np.mean(units)))
        built.append((n, (X.sum(axis=1) % 2).astype(np.float32), *parity_params(n)))
    ok = _represent_all(built, max(ns)).reshape(len(ns), n_funcs + 1)
    return ok[:, :-1].ravel(), ok[:, -1], lookup_units


def _measure(ns, n_funcs, restarts, steps, rng) -> dict:
    """Smallest trained width per random function (and parity) for every ``n``."""
    out = {}
    for n in ns:
        X = _cube(n)
        funcs = np.concatenate([rng.integers(0, 2, size=(n_funcs, 2**n)).astype(np.float32),
                                (X.sum(axis=1) % 2).astype(np.float32)[None]])
        ws = _grid_for(n)
        acc = _train_boolean(n, funcs, ws, restarts, steps, 0.05, rng)
        hmin = _smallest_width(acc, ws)
        above = np.isnan(hmin[:-1])
        nxt = next((w for w in WIDTHS if w > ws[-1]), 2 * ws[-1])
        rand = np.where(above, float(nxt), hmin[:-1])  # not found in the window: the next width (pessimistic)
        out[n] = {"widths_searched": list(ws), "smallest_width": rand, "parity_trained": float(hmin[-1]),
                  "not_found_in_window": int(above.sum()),
                  "at_lowest_width": int(np.sum(hmin[:-1] == ws[0])) if n > 5 else 0}
    return out


def _decide(ns, lookup_ok, parity_ok, n_all, cmp_, quick) -> list[dict]:
    """Decide the registered claims on the constructions and the trained widths."""
    half = t_quantile(0.975, len(n_all) - 2) * cmp_["se_b"]
    rss = {"rss_exp": cmp_["rss_exp"], "rss_poly": cmp_["rss_poly"]}
    return [
        decide(f"{NAME}/lookup-construction", float(np.mean(lookup_ok)), quick=quick,
               detail={"functions": len(lookup_ok)}),
        decide(f"{NAME}/parity-construction", float(np.mean(parity_ok)), quick=quick, detail={"ns": list(ns)}),
        decide(f"{NAME}/exponential-not-polynomial", cmp_["log_rss_ratio"], quick=quick,
               interval=None if quick else tuple(cmp_["log_rss_ratio_interval"]), n=len(n_all), detail=rss,
               skipped=("quick mode: n <= 7 with 5 functions per n cannot separate the two models; "
                        "full mode only") if quick else None),
        decide(f"{NAME}/growth-rate", cmp_["b"], quick=quick, interval=(cmp_["b"] - half, cmp_["b"] + half),
               n=len(n_all), detail={"se_b": cmp_["se_b"], "dof": len(n_all) - 2}),
    ]


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Constructions, then the smallest trained width of random n-bit functions against 2^n and n^k."""
    t_start = time.perf_counter()
    rng = np.random.default_rng(seed)
    if quick:
        ns, restarts, steps, n_boot = (2, 3, 4, 5, 6, 7), 2, 2000, 400
    else:
        ns, restarts, steps, n_boot = (2, 3, 4, 5, 6, 7, 8, 9), 2, 3000, 2000
    n_funcs = seeds(f"{NAME}/growth-rate", quick) // len(ns)  # random functions per n
    lookup_ok, parity_ok, lookup_units = _constructions(ns, n_funcs, rng)
    meas = _measure(ns, n_funcs, restarts, steps, rng)
    n_all = np.concatenate([np.full(n_funcs, n, float) for n in ns])
    h_all = np.concatenate([meas[n]["smallest_width"] for n in ns])
    log2p = np.log2(h_all * (n_all + 2) + 1)  # P = H (n + 2) + 1
    cmp_ = _model_comparison(n_all, log2p, rng, n_boot)
    ns_a = np.asarray(ns, float)
    s_low = _ols(ns_a, ns_a - np.log2(ns_a))[1]  # slope of log2(2^n / n) over the same n
    verdicts = _decide(ns, lookup_ok, parity_ok, n_all, cmp_, quick)
    data = {
        "ns": list(ns), "functions_per_n": n_funcs, "restarts": restarts, "adam_steps": steps,
        "per_n": {f"n={n}": meas[n] for n in ns}, "lookup_units_mean": lookup_units,
        "model_comparison": cmp_, "slope_bracket": [s_low, 1.0],
        "note": "trained widths are upper bounds on the minimum (training may fail at a width that suffices); "
                "a function not fitted in its window is counted at the next width",
    }
    fig = _figure(ns, meas, lookup_units, n_all, log2p, cmp_, n_funcs)
    data["runtime_s"] = time.perf_counter() - t_start
    return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data=data, fig=fig, out_dir=out_dir,
                title="Universal approximation, binary worst case: hidden units for random Boolean functions")


def _figure(ns, meas, lookup_units, n_all, log2p, cmp_, n_funcs):
    fig, axes = figure(ncols=2, width=5.6, height=4.4)
    ns_a = np.asarray(ns, float)
    ax = axes[0, 0]
    jitter = np.tile(np.linspace(-0.15, 0.15, n_funcs), len(ns))
    h_all = np.concatenate([meas[n]["smallest_width"] for n in ns])
    ax.semilogy(n_all + jitter, h_all, "o", ms=3, color="C1", alpha=0.6, label="trained, each random function")
    ax.semilogy(ns_a, [np.median(meas[n]["smallest_width"]) for n in ns], "o-", color="C1", label="median")
    ax.semilogy(ns_a, 2.0**ns_a / (ns_a + 2), "k-", lw=1, label=r"theory P = $2^n$ (lookup / memorization)")
    ax.semilogy(ns_a, 2.0**ns_a / (ns_a * (ns_a + 2)), "k--", lw=1, label=r"theory P = $2^n/n$ (counting bound)")
    ax.semilogy(ns_a, lookup_units, "s:", color="C0", ms=4, label="lookup construction (units, mean)")
    ax.semilogy(ns_a, [meas[n]["parity_trained"] for n in ns], "^-", color="C2", ms=4, label="trained, parity")
    ax.semilogy(ns_a, ns_a, "v:", color="C2", ms=4, label="parity construction (n units)")
    ax.set_xlabel("number of input bits n")
    ax.set_ylabel("hidden sigmoid units H (log scale)")
    ax.set_title("(a) smallest width that classifies all 2^n inputs", fontsize=9)
    ax.set_xticks(list(ns))
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax = axes[0, 1]
    ax.plot(n_all + jitter, log2p, "o", ms=3, color="C1", alpha=0.6, label="measured, each function")
    grid = np.linspace(ns_a[0], ns_a[-1], 100)
    groups = [np.flatnonzero(n_all == n) for n in np.unique(n_all)]
    n_m, l_m = _medians(n_all, log2p, groups)
    ax.plot(n_m, l_m, "ks", ms=5, label="median per n (fitted)")
    a_e, b_e, _, _ = _ols(n_m, l_m)
    a_p, k_p, _, _ = _ols(np.log2(n_m), l_m)
    ax.plot(grid, a_e + b_e * grid, "C3-", label=f"fit $2^{{bn}}$: b = {b_e:.2f}, RSS {cmp_['rss_exp']:.2f}")
    ax.plot(grid, a_p + k_p * np.log2(grid), "C0--", label=f"fit $n^k$: k = {k_p:.2f}, RSS {cmp_['rss_poly']:.2f}")
    ax.set_xlabel("number of input bits n")
    ax.set_ylabel(r"$\log_2 P$, P = H(n+2)+1 parameters")
    lo, hi = cmp_["log_rss_ratio_interval"]
    ax.set_title(f"(b) exponential vs polynomial: log RSS ratio {cmp_['log_rss_ratio']:.2f} [{lo:.2f}, {hi:.2f}]",
                 fontsize=9)
    ax.set_xticks(list(ns))
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.tight_layout()
    return fig
