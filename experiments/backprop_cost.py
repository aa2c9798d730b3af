"""Backpropagation vs autodiff vs finite differences: agreement and cost.

Notes, "Backpropagation four fundamental equations" and "Algorithm efficiency".

1. *Agreement.* The hand-written BP1-BP4 gradient (:func:`fnn.backprop.grad`)
   is compared in float64 with ``jax.grad`` of the same cost
   (:func:`fnn.backprop.autodiff_value_and_grad`) and with central finite
   differences (:func:`fnn.backprop.numerical_grad`) on several architectures,
   activations and costs (including the unmatched softmax + quadratic pair,
   whose BP1 needs the softmax Jacobian). Checks: BP = jax.grad to round-off
   (``<= 1e-10`` relative), BP = finite differences to their truncation error
   (``O(eps^2)`` with ``eps = u^(1/3)``: ``<= 1e-6`` relative).

2. *Cost.* The forward-difference gradient ``(C(w + eps e_j) - C(w))/eps``
   needs ``P + 1`` evaluations of the cost, one forward pass each; BP needs one
   forward and one backward pass, whose matrix products cost about twice the
   forward ones, so about 3 forward passes whatever ``P``. Measured on
   networks ``16 -> h -> h -> 10`` (sigmoid, softmax + log-likelihood, 64
   examples) for growing ``h``: the time of one gradient divided by the time
   of one forward pass. To compare like with like, every time is a median over
   repeated calls after compilation (ratios taken within each repeat), and
   single evaluations are timed the way :func:`~fnn.backprop.numerical_grad`
   runs them: 64 parameter sets at a time, vectorized, 16 rounds, time / 1024.
   FD's cost in forward passes grows like ``P`` (log-log slope 1: a check, it
   makes ``P + 1`` evaluations); predicted: BP's is a constant (slope 0) of
   about 3. Each timing repeat (the registered count) gives one slope and one
   ratio; each claim is decided on the 95% t-interval over repeats against
   the band registered in ``experiments/claims/backprop_cost.py``. In quick
   mode the timing claims are measured but not decided (skipped): on a shared
   machine their outcome follows its load.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import decide, figure, save, seeds, t_interval
from fnn import backprop, nn

NAME = "backprop_cost"
SECTION = "Algorithm efficiency"
# Timing claims are decided in full mode only: in quick mode (fewer repeats, the test suite's load on a shared
# machine) their outcome depends on the machine's load and flips between runs; the measured values stay in the record.
QUICK_TIMING = ("quick mode: timings on a shared machine flip between outcomes with its load; decided in full mode "
                "only (the measured value and interval are in detail)")
BATCH = 64  # evaluations vectorized together (numerical_grad's default batch_size)
ROUNDS = 16  # rounds of BATCH evaluations per timed call of forward / BP / jax.grad
EXAMPLES = 64  # examples in the cost

# (label, sizes, hidden, output, cost) for the agreement table
CASES = (
    ("sigmoid / quadratic", (5, 7, 3), "sigmoid", "sigmoid", "quadratic"),
    ("sigmoid / cross-entropy", (5, 7, 3), "sigmoid", "sigmoid", "cross_entropy"),
    ("tanh / softmax + log-likelihood", (5, 8, 6, 4), "tanh", "softmax", "log_likelihood"),
    ("relu / linear + quadratic", (5, 8, 6, 2), "relu", "linear", "quadratic"),
    ("sigmoid / softmax + quadratic (unmatched)", (4, 6, 3), "sigmoid", "softmax", "quadratic"),
)


def _max_rel(g, g_ref) -> float:
    """``max`` over leaves of ``max |g - g_ref| / max |g_ref|`` (as :func:`fnn.backprop.compare`), in numpy."""
    worst = 0.0
    for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(g_ref)):
        a, b = np.asarray(a), np.asarray(b)
        scale = np.max(np.abs(b))
        d = np.max(np.abs(a - b))
        worst = max(worst, float(d / scale if scale > 0 else d))
    return worst


def _random_problem(net: nn.MLP, cost: str, n: int, rng: np.random.Generator, dtype) -> tuple:
    """Parameters (Xavier-scaled normal), inputs and targets drawn with numpy.

    numpy, not ``jax.random``: each eager or jitted random op would be one
    more XLA compilation, and this experiment compiles enough already.
    """
    params = tuple(
        {
            "W": jnp.asarray(rng.normal(size=(m, k)) * np.sqrt(2.0 / (k + m)), dtype),
            "b": jnp.asarray(0.1 * rng.normal(size=(m,)), dtype),
        }
        for k, m in zip(net.sizes[:-1], net.sizes[1:])
    )
    x = jnp.asarray(rng.normal(size=(n, net.sizes[0])), dtype)
    if cost == "log_likelihood":
        y = jnp.asarray(rng.integers(0, net.sizes[-1], size=(n,)), jnp.int32)
    else:
        y = jnp.asarray(rng.uniform(size=(n, net.sizes[-1])), dtype)
    return params, x, y


def _agreement(seed: int) -> list[dict]:
    rows = []
    rng = np.random.default_rng(seed)
    with jax.enable_x64(True):
        for label, sizes, hidden, output, cost in CASES:
            net = nn.MLP(sizes, hidden=hidden, output=output)
            params, x, y = _random_problem(net, cost, 6, rng, jnp.float64)

            def three(p, net=net, cost=cost, x=x, y=y):
                return (
                    backprop.grad(net, cost, p, x, y),
                    backprop.autodiff_value_and_grad(net, cost, p, x, y)[1],
                    backprop.numerical_grad(
                        lambda q: backprop.loss(net, cost, q, x, y), p, batch_size=net.num_params()
                    ),
                )

            g_bp, g_ad, g_fd = jax.jit(three)(params)
            rows.append(
                {
                    "case": label,
                    "sizes": list(sizes),
                    "n_params": net.num_params(),
                    "bp_vs_autodiff": _max_rel(g_bp, g_ad),
                    "bp_vs_finite_differences": _max_rel(g_bp, g_fd),
                }
            )
    return rows


def _timings(h: int, rng: np.random.Generator, repeats: int, with_jax_grad: bool = True) -> dict:
    """Median times of one forward pass, one BP / jax.grad / FD gradient for ``16 -> h -> h -> 10``.

    Forward, BP and jax.grad are timed over ``ROUNDS`` rounds of ``BATCH``
    parameter sets evaluated together (time / ``ROUNDS * BATCH``); FD is one
    call of ``numerical_grad`` (``P + 1`` evaluations, ``BATCH`` at a time).
    The four are timed back to back in each repeat and the ratios are taken per
    repeat, so that slow drifts of a shared machine's load cancel.
    """
    net = nn.MLP((16, h, h, 10), hidden="sigmoid", output="softmax")
    cost = "log_likelihood"
    params, x, y = _random_problem(net, cost, EXAMPLES, rng, jnp.float32)
    # BATCH slightly different parameter sets, so no evaluation can be reused
    stack = jax.tree_util.tree_map(
        lambda p: jnp.asarray(
            np.asarray(p)[None] + 1e-3 * rng.normal(size=(BATCH, *p.shape)), jnp.float32
        ),
        params,
    )
    zero = jnp.zeros((), jnp.float32)

    def batched(f):
        # ROUNDS rounds of BATCH vectorized evaluations; each round shifts the
        # parameters by a loop-carried zero, so nothing can be hoisted or reused.
        def body(c, _):
            out = jax.lax.map(f, jax.tree_util.tree_map(lambda p: p + c, stack), batch_size=BATCH)
            total = sum(jnp.sum(leaf) for leaf in jax.tree_util.tree_leaves(out))
            return c + 0.0 * total, None

        return jax.jit(lambda c0: jax.lax.scan(body, c0, None, length=ROUNDS)[0])

    n_eval = ROUNDS * BATCH
    fns = {
        "forward": (batched(lambda p: backprop.loss(net, cost, p, x, y)), zero, n_eval),
        "backprop": (batched(lambda p: backprop.grad(net, cost, p, x, y)), zero, n_eval),
        "finite_differences": (
            jax.jit(
                lambda p: backprop.numerical_grad(
                    lambda q: backprop.loss(net, cost, q, x, y), p, method="forward", batch_size=BATCH
                )
            ),
            params,
            1,
        ),
    }
    if with_jax_grad:
        ad = batched(lambda p: backprop.autodiff_value_and_grad(net, cost, p, x, y)[1])
        fns["jax_grad"] = (ad, zero, n_eval)
    for fn, arg, _ in fns.values():
        jax.block_until_ready(fn(arg))  # compile
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (fn, arg, count) in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(arg))
            times[name].append((time.perf_counter() - t0) / count)
    t = {name: np.asarray(v) for name, v in times.items()}
    return {
        "h": h,
        "P": net.num_params(),
        **{f"time_{name}_s": float(np.median(v)) for name, v in t.items()},
        "fd_forward_passes": float(np.median(t["finite_differences"] / t["forward"])),
        "bp_forward_passes": float(np.median(t["backprop"] / t["forward"])),
        "jax_grad_forward_passes": float(np.median(t["jax_grad"] / t["forward"])) if with_jax_grad else np.nan,
        "fd_forward_passes_per_repeat": t["finite_differences"] / t["forward"],
        "bp_forward_passes_per_repeat": t["backprop"] / t["forward"],
    }


def _measure_timing(quick: bool, seed: int) -> dict:
    """Times per width, the ratios to the forward pass per repeat and their slopes vs P per repeat."""
    hs = (16, 32, 64) if quick else (16, 32, 64, 96)
    repeats = seeds(f"{NAME}/bp-cost-constant", quick)  # every timing claim registers the same repeats
    rng = np.random.default_rng(seed + 1)
    times = [_timings(h, rng, repeats, with_jax_grad=not quick) for h in hs]
    P = np.array([t["P"] for t in times], float)
    # one slope per repeat (ratios taken within a repeat), then a t-interval over repeats
    fd_rep = np.stack([t.pop("fd_forward_passes_per_repeat") for t in times], axis=1)  # (repeats, len(hs))
    bp_rep = np.stack([t.pop("bp_forward_passes_per_repeat") for t in times], axis=1)
    return {
        "times": times, "P": P, "repeats": repeats, "fd_rep": fd_rep, "bp_rep": bp_rep,
        "fwd": np.array([t["time_forward_s"] for t in times]), "bp": np.array([t["time_backprop_s"] for t in times]),
        "ad": np.array([t.get("time_jax_grad_s", np.nan) for t in times]),
        "fd": np.array([t["time_finite_differences_s"] for t in times]),
        "s_fd_rep": np.array([np.polyfit(np.log(P), np.log(r), 1)[0] for r in fd_rep]),
        "s_bp_rep": np.array([np.polyfit(np.log(P), np.log(r), 1)[0] for r in bp_rep]),
    }


def _decide(rows: list[dict], tm: dict, quick: bool) -> list[dict]:
    n = tm["repeats"]
    s_fd, fd_lo, fd_hi = t_interval(tm["s_fd_rep"])
    s_bp, bp_lo, bp_hi = t_interval(tm["s_bp_rep"])
    med_bp, mb_lo, mb_hi = t_interval(np.median(tm["bp_rep"], axis=1))
    skip = QUICK_TIMING if quick else None
    return [
        decide(f"{NAME}/bp-equals-jax-grad", max(r["bp_vs_autodiff"] for r in rows), quick=quick),
        decide(f"{NAME}/bp-equals-finite-differences", max(r["bp_vs_finite_differences"] for r in rows),
               quick=quick),
        decide(f"{NAME}/fd-cost-linear", s_fd, quick=quick, interval=(fd_lo, fd_hi), n=n, skipped=skip,
               detail={"per_repeat": tm["s_fd_rep"], "interval": [fd_lo, fd_hi]}),
        decide(f"{NAME}/bp-cost-constant", s_bp, quick=quick, interval=(bp_lo, bp_hi), n=n, skipped=skip,
               detail={"per_repeat": tm["s_bp_rep"], "interval": [bp_lo, bp_hi]}),
        decide(f"{NAME}/bp-forward-passes", med_bp, quick=quick, interval=(mb_lo, mb_hi), n=n, skipped=skip,
               detail={"per_repeat": np.median(tm["bp_rep"], axis=1), "interval": [mb_lo, mb_hi]}),
    ]


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Gradient agreement table and time per gradient vs number of parameters."""
    t_start = time.perf_counter()
    rows = _agreement(seed)
    tm = _measure_timing(quick, seed)
    verdicts = _decide(rows, tm, quick)
    times, P = tm["times"], tm["P"]
    s_fd, fd_lo, fd_hi = t_interval(tm["s_fd_rep"])
    s_bp, bp_lo, bp_hi = t_interval(tm["s_bp_rep"])
    fig = _figure({"rows": rows, "P": P, "fd": tm["fd"], "bp": tm["bp"], "ad": tm["ad"], "fwd": tm["fwd"],
                   "fd_rep": tm["fd_rep"], "bp_rep": tm["bp_rep"], "s_fd": s_fd, "fd_lo": fd_lo, "fd_hi": fd_hi,
                   "s_bp": s_bp, "bp_lo": bp_lo, "bp_hi": bp_hi, "repeats": tm["repeats"]})
    fig.suptitle("Backpropagation vs finite differences: agreement and cost", y=1.07)
    fd_passes = np.array([t["fd_forward_passes"] for t in times])
    data = {
        "agreement": rows,
        "timing": times,
        "fd_forward_passes": fd_passes,
        "bp_forward_passes": np.array([t["bp_forward_passes"] for t in times]),
        "jax_grad_forward_passes": np.array([t["jax_grad_forward_passes"] for t in times]),
        "fd_passes_over_P_plus_1": fd_passes / (P + 1),
        "slope_fd_passes": s_fd,
        "slope_bp_passes": s_bp,
        "slope_fd_raw_time": float(np.polyfit(np.log(P), np.log(tm["fd"]), 1)[0]),
        "fd_forward_passes_per_repeat": tm["fd_rep"],
        "bp_forward_passes_per_repeat": tm["bp_rep"],
        "slopes_fd_per_repeat": tm["s_fd_rep"],
        "slopes_bp_per_repeat": tm["s_bp_rep"],
        "hardware_note": "2 shared CPU cores; times are medians after compilation",
        "runtime_s": time.perf_counter() - t_start,
    }
    return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data=data, fig=fig, out_dir=out_dir,
                title="Backprop vs jax.grad vs finite differences: agreement and cost")


def _figure(plot: dict):
    """(a) gradient agreement table, (b) measured times, (c) cost in forward passes with its interval over repeats."""
    rows = plot["rows"]
    P = plot["P"]
    fd = plot["fd"]
    bp = plot["bp"]
    ad = plot["ad"]
    fwd = plot["fwd"]
    fd_rep = plot["fd_rep"]
    bp_rep = plot["bp_rep"]
    s_fd = plot["s_fd"]
    fd_lo = plot["fd_lo"]
    fd_hi = plot["fd_hi"]
    s_bp = plot["s_bp"]
    bp_lo = plot["bp_lo"]
    bp_hi = plot["bp_hi"]
    repeats = plot["repeats"]
    import matplotlib as mpl

    fig, axes = figure(ncols=3, width=5.0, height=4.2)
    ax = axes[0, 0]
    names = [r["case"].replace(" / ", "\n") for r in rows]
    yy = np.arange(len(rows))
    ax.barh(yy + 0.2, [max(r["bp_vs_autodiff"], 1e-18) for r in rows], 0.4, label="BP vs jax.grad (measured)")
    ax.barh(yy - 0.2, [r["bp_vs_finite_differences"] for r in rows], 0.4, label="BP vs finite diff. (measured)")
    ax.axvline(1e-10, color="C0", ls=":", lw=1.2, label="check bound vs jax.grad")
    ax.axvline(1e-6, color="C1", ls=":", lw=1.2, label="check bound vs finite diff.")
    ax.set_xscale("log")
    ax.set_xlim(1e-18, 1e-4)
    ax.set_yticks(yy, names, fontsize=8)
    ax.set_xlabel("max relative difference (float64, dimensionless)")
    ax.set_title("(a) gradient agreement (checks)", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=1)

    def band(ax, per_repeat, color, marker, label):
        st = np.exp(np.array([t_interval(np.log(c)) for c in per_repeat.T]))
        ax.fill_between(P, st[:, 1], st[:, 2], color=color, alpha=0.25)
        ax.loglog(P, st[:, 0], marker + "-", color=color, ms=5, label=label)

    ax = axes[0, 1]
    ax.loglog(P, fd * 1e3, "C3o-", label="finite differences")
    ax.loglog(P, bp * 1e3, "C0s-", label="backprop (hand-written)")
    if np.all(np.isfinite(ad)):
        ax.loglog(P, ad * 1e3, "C2^--", label="jax.grad")
    ax.loglog(P, fwd * 1e3, "k.-", label="one forward pass")
    ax.set_xlabel("number of parameters P")
    ax.set_ylabel("time per gradient (ms; median of repeats)")
    ax.set_title("(b) measured time", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=1)
    ax = axes[0, 2]
    band(ax, fd_rep, "C3", "o", f"finite differences (slope {s_fd:.2f} [{fd_lo:.2f}, {fd_hi:.2f}])")
    ax.loglog(P, P + 1, "k:", lw=1.2, label="theory FD: P + 1")
    band(ax, bp_rep, "C0", "s", f"backprop (slope {s_bp:.2f} [{bp_lo:.2f}, {bp_hi:.2f}])")
    ax.loglog(P, np.full_like(P, 3.0), "k--", lw=1, label="theory BP: ~3")
    ax.set_xlabel("number of parameters P")
    ax.set_ylabel("time / time of one forward pass (forward passes)")
    ax.set_title(f"(c) cost in forward passes\n(band: 95% t-interval over {repeats} repeats)", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=1)
    for ax in axes[0, 1:]:
        ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    fig.tight_layout(w_pad=2.5)
    return fig
