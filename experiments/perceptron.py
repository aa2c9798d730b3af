"""Perceptrons: the convergence bound against measured updates, learning in 2-D, NAND logic.

Notes, "Perceptron Learning" (algorithm, convergence theorem, separability
test), "Multilayer networks" (a convex zone) and "Multilayer neural networks"
(NAND, the binary adder). Uses :mod:`fnn.perceptron` and :mod:`fnn.logic`.

(a) For separable sets with a planted margin ``gamma`` (the planted augmented
    ``w*`` has margin exactly ``gamma``), the updates ``k`` made by
    :func:`fnn.perceptron.fit` against the bound ``beta ||w*||^2 / alpha^2``:
    the bound with the planted ``w*`` (``= beta / gamma^2``) and with the
    largest-margin separator known (the best of the planted one,
    :func:`fnn.perceptron.max_margin`'s and the perceptron's own).
(b) The decision boundary ``w . (1, x1, x2) = 0`` after each update of the
    rule on a small 2-D set, until an epoch without error.
(c) The convex-zone step network (one hidden unit per edge, AND at the
    output) on a grid around a convex polygon.

Its claims (``experiments/claims/perceptron.py``) are all checks: Novikoff's
bound and the convergence it implies, XOR's failure of the separability test
and its two-layer solution, the NAND adder and the convex zone verified
exhaustively, and ``fit``'s speed.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import decide, figure, save, seeds
from fnn import logic, perceptron

SECTION = "Perceptron Learning"


def planted(rng: np.random.Generator, n: int, d: int, gamma: float, w=None):
    """n points of [-1, 1]^d labelled by a unit augmented w with margin exactly gamma.

    ``w`` is random unless given. Points closer than gamma to the boundary are
    rejected; then the closest point on each side is moved along the normal
    onto the margin.
    """
    w = rng.normal(size=d + 1) if w is None else np.asarray(w, float)
    w = w / np.linalg.norm(w)
    chunks = []
    while sum(len(c) for c in chunks) < n:
        x = rng.uniform(-1, 1, size=(4 * n, d))
        chunks.append(x[np.abs(x @ w[1:] + w[0]) >= gamma])
    x = np.concatenate(chunks)[:n]
    z = x @ w[1:] + w[0]
    for side in (1.0, -1.0):
        idx = np.where(side * z > 0)[0]
        if idx.size:
            j = idx[np.argmin(side * z[idx])]
            x[j] += (side * gamma - z[j]) * w[1:] / np.sum(w[1:] ** 2)
    y = np.where(x @ w[1:] + w[0] > 0, 1.0, -1.0)
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), jnp.asarray(w, jnp.float32)


def margin_sweep(rng, gammas, n_sets, n, d, max_epochs, key):
    rows = []
    for gamma in gammas:
        for s in range(n_sets):
            x, y, w_true = planted(rng, n, d, float(gamma))
            key, sub = jax.random.split(key)
            r = perceptron.fit(x, y, max_epochs=max_epochs, key=sub)
            mm = perceptron.max_margin(x, y, max_sweeps=2000, tol=1e-2)
            candidates = {"planted": w_true, "perceptron": r.weights}
            if bool(mm.separates):
                candidates["max_margin"] = mm.w
            margins = {name: float(perceptron.margin(x, y, w)) for name, w in candidates.items()}
            best = max((m, name) for name, m in margins.items() if m > 0)[1]
            rows.append({
                "gamma": float(gamma),
                "set": s,
                "updates": int(r.updates),
                "epochs": int(r.epochs),
                "converged": bool(r.converged),
                "beta": float(jnp.max(jnp.sum(perceptron.augment(x) ** 2, axis=1))),
                "margin_planted": margins["planted"],
                "bound_planted": float(perceptron.convergence_bound(x, y, w_true)),
                "best_w_star": best,
                "margin_best": margins[best],
                "margin_upper": float(mm.margin_upper),
                "bound_best": float(perceptron.convergence_bound(x, y, candidates[best])),
            })
    return rows


def boundary_history(rng, n):
    """Run the rule pattern by pattern on a 2-D set; keep w after every update."""
    x, y, _ = planted(rng, n, 2, 0.03, w=[0.15, 0.6, -1.0])
    xa = perceptron.augment(x)
    w = jnp.zeros((3,), jnp.float32)
    history = []
    for _ in range(100):  # epochs
        wrong_in_epoch = 0
        for xn, yn in zip(xa, y):
            w, wrong = perceptron.update(w, xn, yn, eta=1.0)
            if bool(wrong):
                wrong_in_epoch += 1
                history.append(np.asarray(w))
        if wrong_in_epoch == 0:
            break
    return x, y, np.stack(history), wrong_in_epoch == 0


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    rng = np.random.default_rng(seed)
    key = jax.random.key(seed)
    d = 5
    if quick:
        gammas, n, adder_bits, n_points = np.array([0.2, 0.05, 0.02]), 100, 4, 2000
    else:
        gammas, n, adder_bits, n_points = np.geomspace(0.3, 0.003, 9), 500, 8, 40_000
    n_sets = seeds("perceptron/novikoff-bound", quick) // len(gammas)  # sets per margin
    max_epochs = 20_000

    # (a) updates against the bound
    rows = margin_sweep(rng, gammas, n_sets, n, d, max_epochs, key)
    k = np.array([r["updates"] for r in rows], float)
    ratio_best = k / np.array([r["bound_best"] for r in rows])
    ratio_planted = k / np.array([r["bound_planted"] for r in rows])
    converged = np.mean([r["converged"] for r in rows])
    med_k = np.array([np.median([r["updates"] for r in rows if r["gamma"] == g]) for g in gammas])
    slope = float(np.polyfit(np.log(gammas), np.log(np.maximum(med_k, 1)), 1)[0])

    # (b) decision boundary after successive updates
    x2, y2, history, hist_converged = boundary_history(rng, 24 if quick else 40)

    # XOR: the notes' test says no; a two-layer step network says yes
    xor_x = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    xor_y = jnp.array([-1.0, 1.0, 1.0, -1.0])
    sep = perceptron.is_linearly_separable(xor_x, xor_y, margin=0.05)
    xor_net = logic.apply(logic.xor_network(), xor_x)[:, 0]
    xor_net_acc = float(jnp.mean((2.0 * xor_net - 1.0 == xor_y).astype(jnp.float32)))

    # the NAND adder as a step network, on all 2^(2n) inputs at once
    circuit = logic.ripple_carry_adder(adder_bits)
    net = logic.to_network(circuit)
    a, b = np.meshgrid(np.arange(2**adder_bits), np.arange(2**adder_bits), indexing="ij")
    a, b = jnp.asarray(a.ravel(), jnp.int32), jnp.asarray(b.ravel(), jnp.int32)
    bits = jnp.concatenate([logic.to_bits(a, adder_bits), logic.to_bits(b, adder_bits)], axis=1)
    adder_wrong = int(jnp.sum(logic.from_bits(logic.apply(net, bits)) != a + b))

    # (c) convex zone
    t = 2 * np.pi * (np.arange(7) + rng.uniform(0, 0.7, size=7)) / 7  # increasing angles
    poly = np.stack([0.2 + 1.4 * np.cos(t), -0.1 + 0.9 * np.sin(t)], axis=1)
    zone = logic.convex_polygon_network(poly)
    pts = rng.uniform(-2, 2, size=(n_points, 2))
    inside_net = np.asarray(logic.apply(zone, jnp.asarray(pts, jnp.float32)))[:, 0] > 0.5
    inside_ref = _inside_ray_casting(poly, pts)
    zone_agree = float(np.mean(inside_net == inside_ref))

    verdicts = [
        decide("perceptron/novikoff-bound", float(ratio_best.max()), quick=quick, n=len(rows)),
        decide("perceptron/converges-on-separable", float(converged), quick=quick, n=len(rows)),
        decide("perceptron/xor-not-separable", float(not sep.separable and float(sep.accuracy) < 1), quick=quick),
        decide("perceptron/xor-two-layer", xor_net_acc, quick=quick),
        decide("perceptron/nand-adder", adder_wrong, quick=quick),
        decide("perceptron/convex-zone", zone_agree, quick=quick),
    ]
    data = {
        "d": d, "n": n, "gammas": gammas, "sets_per_margin": n_sets, "runs": rows,
        "max_k_over_bound_best": float(ratio_best.max()),
        "median_k_over_bound_best": float(np.median(ratio_best)),
        "max_k_over_bound_planted": float(ratio_planted.max()),
        "median_updates_per_margin": med_k,
        "loglog_slope_median_updates_vs_margin": slope,
        "boundary_updates": len(history), "boundary_converged": hist_converged,
        "xor_updates": int(sep.updates), "xor_epochs": int(sep.epochs),
        "xor_margin_upper": float(sep.margin_upper),
        "adder_bits": adder_bits, "adder_layers": len(net), "adder_gates": len(circuit.gates),
        "adder_widths": [int(layer["W"].shape[0]) for layer in net],
        "polygon": poly, "zone_agreement": zone_agree,
    }

    # the same claim in both modes: 10^5 patterns (full) or 10^4 (quick) in seconds
    big_n = 10_000 if quick else 100_000
    x5, y5, _ = planted(rng, big_n, 10, 0.05)
    r = perceptron.fit(x5, y5, max_epochs=200)
    r.weights.block_until_ready()  # compile
    t0 = time.perf_counter()
    r = perceptron.fit(x5, y5, max_epochs=200, key=jax.random.key(seed + 1))
    r.weights.block_until_ready()
    secs = time.perf_counter() - t0
    data.update(big_n=big_n, big_d=10, big_seconds=secs, big_epochs=int(r.epochs), big_updates=int(r.updates))
    verdicts.append(decide("perceptron/fit-speed", secs if bool(r.converged) else float("inf"), quick=quick))

    fig = _figure({"rows": rows, "gammas": gammas, "d": d, "x2": x2, "y2": y2, "history": history, "zone": zone,
                   "poly": poly})
    return save("perceptron", seed=seed, quick=quick, verdicts=verdicts, data=data, fig=fig,
                out_dir=out_dir,
                title="Perceptron: updates vs the convergence bound; learning in 2-D; a convex zone")


def _inside_ray_casting(poly, pts):
    inside = np.zeros(len(pts), bool)
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0)):
        crosses = (y1 > pts[:, 1]) != (y2 > pts[:, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = x1 + (pts[:, 1] - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (pts[:, 0] < xi)
    return inside


def _plot_bound(ax, rows, gammas, d):
    import matplotlib as mpl

    g = np.array([r["gamma"] for r in rows])
    jitter = np.exp(0.04 * (np.array([r["set"] for r in rows]) - np.mean([r["set"] for r in rows])))
    beta_max = max(r["beta"] for r in rows)
    grid = np.geomspace(gammas.min() * 0.8, gammas.max() * 1.25, 100)
    ax.plot(grid, beta_max / grid**2, "k-", lw=1.5,
            label=rf"bound $\beta/\gamma^2$, $\beta$ = {beta_max:.2f} (planted $w^*$)")
    ax.scatter(g * jitter, [r["bound_best"] for r in rows], s=14, marker="_", c="tab:red",
               label=r"bound with the largest-margin $w^*$ known")
    ax.scatter(g * jitter, [r["updates"] for r in rows], s=14, c="tab:blue", alpha=0.8,
               label="updates k made by fit")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"planted margin $\gamma$ (augmented space, input units)")
    ax.set_ylabel("number of weight updates k")
    ax.set_title(f"(a) updates vs the bound (d = {d})")
    ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.legend(fontsize=7, loc="lower left")


def _plot_history(ax, x, y, history):
    import matplotlib as mpl

    x, y = np.asarray(x), np.asarray(y)
    ax.scatter(*x[y > 0].T, marker="o", c="tab:blue", s=18, label="C1 (y = +1)")
    ax.scatter(*x[y < 0].T, marker="x", c="tab:red", s=18, label="C2 (y = -1)")
    cmap = mpl.colormaps["viridis"]
    xs = np.array([-1.2, 1.2])
    for i, w in enumerate(history):
        last = i == len(history) - 1
        if abs(w[2]) > 1e-9:
            ys = -(w[0] + w[1] * xs) / w[2]
            ax.plot(xs, ys, color="k" if last else cmap(i / max(len(history) - 1, 1)),
                    lw=2.0 if last else 0.9, alpha=1.0 if last else 0.7,
                    label=f"after update {i + 1} (final)" if last else None)
    sm = mpl.cm.ScalarMappable(cmap=cmap, norm=mpl.colors.Normalize(1, len(history)))
    ax.figure.colorbar(sm, ax=ax, label="update number")
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(-1.2, 1.2)
    ax.set_xlabel(r"$x_1$ (input units)")
    ax.set_ylabel(r"$x_2$ (input units)")
    ax.set_title(r"(b) boundary $w\cdot(1, x_1, x_2) = 0$ after each update")
    ax.legend(fontsize=7, loc="lower left")


def _plot_zone(ax, zone, poly):
    g = np.linspace(-2, 2, 301)
    gx, gy = np.meshgrid(g, g)
    pts = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1), jnp.float32)
    out = np.asarray(logic.apply(zone, pts))[:, 0].reshape(gx.shape)
    ax.contourf(gx, gy, out, levels=[-0.5, 0.5, 1.5], colors=["white", "tab:green"], alpha=0.5)
    closed = np.vstack([poly, poly[:1]])
    ax.plot(*closed.T, "k-", lw=1.2, label="polygon (reference)")
    W, b = np.asarray(zone[0]["W"]), np.asarray(zone[0]["b"])
    for i, (wi, bi) in enumerate(zip(W, b)):
        ys = -(bi + wi[0] * g) / wi[1] if abs(wi[1]) > 1e-9 else None
        if ys is not None:
            ax.plot(g, ys, ":", color="gray", lw=0.8, label="hidden unit boundaries" if i == 0 else None)
    ax.set_xlim(-2, 2)
    ax.set_ylim(-2, 2)
    ax.set_xlabel(r"$x_1$ (input units)")
    ax.set_ylabel(r"$x_2$ (input units)")
    ax.set_title(f"(c) convex zone: AND of {len(W)} half-planes (green = 1)")
    ax.legend(fontsize=7, loc="lower left")


def _figure(plot: dict):
    """(a) updates vs the bound, (b) the boundary after each update, (c) the convex zone."""
    rows = plot["rows"]
    gammas = plot["gammas"]
    d = plot["d"]
    x2 = plot["x2"]
    y2 = plot["y2"]
    history = plot["history"]
    zone = plot["zone"]
    poly = plot["poly"]
    fig, axes = figure(ncols=3, width=5.6, height=4.6)
    fig.subplots_adjust(wspace=0.38)
    _plot_bound(axes[0, 0], rows, gammas, d)
    _plot_history(axes[0, 1], x2, y2, history)
    _plot_zone(axes[0, 2], zone, poly)
    return fig
