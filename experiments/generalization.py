"""Training error and test error as the hidden layer widens and as the training set grows.

Notes, "Universal Approximation Theorem": "with enough data, any problem of overfitting can be overcome";
"Architecture of Neural networks": "using a large number of hidden units is powerful but it's prone to
overfitting or require more data". The generalization gap of a trained network is

    gap(w, n) = test error - training error,   error = 1 - accuracy,

the training error measured on the n images it was trained on, the test error on the MNIST test images.
784-w-10 sigmoid networks (softmax + log-likelihood, SGD) are trained on the first n MNIST training images
for every width w and training-set size n of a grid, with the same number of updates for every (w, n), so a
larger n is not trained longer; each (w, n) is one population over the registered seeds
(:mod:`experiments._population`), the same seeds for every cell.

Decided (``experiments/claims/generalization.py``), each on a 95% t-interval over seeds of a per-seed
least-squares slope: the slope of ``log gap`` against ``log n`` at one width (below 0, and inside a band around
learning theory's -1/2 ... -1), the slope of the gap against ``log2 w`` at the smallest n (above 0), and how
much smaller that width slope is at the largest n (above 0). MNIST is read from disk only; with its files
absent every claim is skipped with the reason.
"""

from __future__ import annotations

import time

import jax
import matplotlib
import matplotlib.ticker
import numpy as np

from experiments import _population
from experiments._common import decide, figure, save, seeds, t_interval
from fnn import data, nn, optim, train

NAME = "generalization"
GAP_FLOOR = 1e-3  # 0.1 percentage points = 10 test images: the log's floor (registered)


def sizes(quick: bool) -> dict:
    """The registered grid (the claims' setup); ``w_n`` is the width of the n-sweep claims."""
    if quick:
        return {"widths": (16, 128), "ns": (500, 2000), "updates": 1000, "batch": 20, "rate": 0.5,
                "n_test": 2000, "w_n": 128}
    return {"widths": (8, 16, 32, 64, 128, 256), "ns": (500, 1000, 2000, 5000, 10_000, 20_000), "updates": 5000,
            "batch": 20, "rate": 0.5, "n_test": 10_000, "w_n": 64}


def _cell(width: int, n: int, sz: dict, train_set, test_set, keys: jax.Array) -> dict:
    """One (w, n): train the seeds as one population for ``updates`` updates; final train and test errors."""
    x, y = train_set[0][:n], train_set[1][:n]
    epochs = sz["updates"] * sz["batch"] // n
    net = nn.MLP((784, width, 10), hidden="sigmoid", output="softmax", w_init="xavier")
    states, h = _population.fit_seeds(net, "log_likelihood", optim.sgd(sz["rate"]), (x, y), epochs, sz["batch"],
                                      keys)
    _, acc_train = train.evaluate_members(net, states, x, y, "log_likelihood")
    _, acc_test = train.evaluate_members(net, states, *test_set, "log_likelihood")
    err_train, err_test = 1.0 - np.asarray(acc_train, np.float64), 1.0 - np.asarray(acc_test, np.float64)
    return {"train_error": err_train, "test_error": err_test, "gap": err_test - err_train, "epochs": epochs,
            "final_train_cost": h["cost"][-1], "diverged": h["diverged"]}


def measure(quick: bool, seed: int) -> dict:
    """Every cell of the grid; arrays (widths, ns, seeds)."""
    t0 = time.perf_counter()
    sz = sizes(quick)
    out = {"sizes": sz}
    try:
        x, y = data.load("mnist", "train", download=False, progress=False)
        xt, yt = data.load("mnist", "test", download=False, progress=False)
    except FileNotFoundError as err:
        out["mnist"] = {"status": "skipped", "reason": "MNIST files not found: " + str(err).splitlines()[0]}
        return out
    keys = jax.random.split(jax.random.key(seed), seeds(f"{NAME}/gap-shrinks-with-n", quick))
    test_set = (xt[:sz["n_test"]], yt[:sz["n_test"]])
    cells = [[_cell(w, n, sz, (x, y), test_set, keys) for n in sz["ns"]] for w in sz["widths"]]
    grid = {k: np.array([[c[k] for c in row] for row in cells]) for k in ("train_error", "test_error", "gap",
                                                                           "diverged")}
    grid["epochs"] = [c["epochs"] for c in cells[0]]
    out["mnist"] = {"status": "measured", **grid}
    out["runtime_s"] = time.perf_counter() - t0
    return out


def _slopes(x, ys: np.ndarray) -> np.ndarray:
    """Least-squares slope of each column of ``ys`` (points, seeds) against ``x``."""
    x = np.asarray(x, np.float64)
    xc = x - x.mean()
    return (xc[:, None] * (ys - ys.mean(axis=0))).sum(axis=0) / (xc**2).sum()


def analyse(out: dict) -> dict:
    """The per-seed slopes the claims are decided on."""
    sz, g = out["sizes"], out["mnist"]
    gap = np.asarray(g["gap"], np.float64)  # (widths, ns, seeds)
    iw = sz["widths"].index(sz["w_n"])
    log_gap = np.log(np.maximum(gap[iw], GAP_FLOOR))
    width_slope = np.stack([_slopes(np.log2(sz["widths"]), gap[:, j]) for j in range(len(sz["ns"]))])  # (ns, seeds)
    return {"gap_n_slope": _slopes(np.log(sz["ns"]), log_gap), "width_slope": width_slope,
            "width_slope_drop": width_slope[0] - width_slope[-1]}


def decide_all(out: dict, quick: bool) -> list[dict]:
    """Every registered claim decided on ``out`` by its registered rule."""
    ids = ("gap-shrinks-with-n", "gap-exponent", "gap-grows-with-width-small-n", "width-effect-shrinks-with-n")
    if out["mnist"]["status"] != "measured":
        return [decide(f"{NAME}/{c}", None, quick=quick, skipped=out["mnist"]["reason"]) for c in ids]
    a = out["analysis"]
    values = {"gap-shrinks-with-n": a["gap_n_slope"], "gap-exponent": a["gap_n_slope"],
              "gap-grows-with-width-small-n": a["width_slope"][0],
              "width-effect-shrinks-with-n": a["width_slope_drop"]}
    verdicts = []
    for c in ids:
        v = np.asarray(values[c], np.float64)
        m, lo, hi = t_interval(v)
        verdicts.append(decide(f"{NAME}/{c}", m, quick=quick, interval=(lo, hi), n=v.size,
                               detail={"per_seed": v}))
    return verdicts


def _figure(out: dict):
    """(a) train and test error vs n at each width; (b) the gap vs n, log-log, with the registered band;
    (c) the gap vs width at each n."""
    fig, axes = figure(3, 1, width=4.8, height=4.2)
    a, b, c = axes[0]
    if out["mnist"]["status"] != "measured":
        for ax in (a, b, c):
            ax.text(0.5, 0.5, "MNIST files not found:\nskipped", ha="center", va="center", transform=ax.transAxes)
        return fig
    sz, g, an = out["sizes"], out["mnist"], out["analysis"]
    ns, widths = np.asarray(sz["ns"]), sz["widths"]
    colors = _colors("viridis", len(widths), 1.0)
    for i, w in enumerate(widths):
        a.plot(ns, 100 * g["test_error"][i].mean(axis=-1), "o-", color=colors[i], ms=3, label=f"w = {w}")
        a.plot(ns, 100 * g["train_error"][i].mean(axis=-1), "s--", color=colors[i], ms=3)
        b.plot(ns, 100 * np.maximum(g["gap"][i].mean(axis=-1), GAP_FLOOR), "o-", color=colors[i], ms=3,
               lw=2.5 if w == sz["w_n"] else 1.0)
    a.set(xscale="log", xlabel="training images n", ylabel="error (%)",
          title="(a) test (solid) and training (dashed) error")
    a.legend(fontsize=8, ncol=2, loc="upper right")
    iw = widths.index(sz["w_n"])
    ref = 100 * max(g["gap"][iw, 0].mean(), GAP_FLOOR)
    for p, ls in ((-0.5, ":"), (-1.0, "-.")):
        b.plot(ns, ref * (ns / ns[0]) ** p, "k", ls=ls, lw=1, label=f"n^{p:g} (theory)")
    s = an["gap_n_slope"]
    b.set(xscale="log", yscale="log", xlabel="training images n", ylabel="gap = test - train error (%)",
          title=f"(b) gap (colours as in (a));\nw = {sz['w_n']} bold: mean slope {s.mean():.2f}")
    b.legend(fontsize=8, loc="lower left")
    ncol = _colors("plasma", len(ns), 0.85)
    for j, n in enumerate(ns):
        c.plot(widths, 100 * g["gap"][:, j].mean(axis=-1), "o-", color=ncol[j], ms=3, label=f"n = {n}")
    ws = an["width_slope"].mean(axis=1)
    c.set(xscale="log", xlabel="hidden units w", ylabel="gap (%)",
          title=f"(c) gap vs width (slope per doubling:\n{ws[0] * 100:.2f} pts at n={ns[0]}, "
                f"{ws[-1] * 100:.2f} at n={ns[-1]})")
    for ax, ticks in ((a, ns), (b, ns), (c, widths)):
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=8)
    c.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    for ax in (a, b, c):
        ax.title.set_fontsize(9)
    fig.suptitle(f"MNIST, 784-w-10 sigmoid, {sz['updates']} SGD updates each; means over seeds", fontsize=10)
    fig.tight_layout()
    return fig


def _colors(name: str, k: int, top: float) -> list:
    """``k`` colours of the colour map ``name``, from its start to ``top``."""
    cmap = matplotlib.colormaps[name]
    return [cmap(top * i / max(1, k - 1)) for i in range(k)]


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Measure, decide the registered claims, draw, save."""
    out = measure(quick, seed)
    if out["mnist"]["status"] == "measured":
        out["analysis"] = analyse(out)
    verdicts = decide_all(out, quick)
    return save(NAME, seed=seed, quick=quick, verdicts=verdicts, data=out, fig=_figure(out), out_dir=out_dir,
                title="Generalization: training and test error vs hidden width and training-set size (MNIST)")
