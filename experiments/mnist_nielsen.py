"""Nielsen's networks on the real MNIST against the numbers his book publishes; the notes' "Best practices"
recipe against Nielsen's on Fashion-MNIST.

Each recipe is the book's (M. Nielsen, *Neural Networks and Deep Learning*, 2015), trained with ``fnn`` on
the book's split (the first 50,000 MNIST training images; the last 10,000 as validation; the 10,000 test
images), mini-batch 10, 30 epochs, over the registered seeds as one population
(:mod:`experiments._population`):

==============  =======================================================  ==================================
recipe          network and training                                     the book's number
==============  =======================================================  ==================================
ch1, 30 hidden  784-30-10 sigmoid, quadratic cost, N(0,1) weights and     95.42% (peak test, best of three)
                biases, SGD eta = 3.0
ch1, 100 hidden the same with 100 hidden units                            96.59% (same statistic)
ch3, x-entropy  784-30-10, cross-entropy, N(0,1) init, eta = 0.5          95.49% (same statistic)
ch3, L2, 100    784-100-10, cross-entropy, L2 lambda = 5.0, eta = 0.5     97.92% (final validation)
ch3, init       784-30-10, cross-entropy, lambda = 5.0, eta = 0.1, with  no number: the 1/sqrt(n_in) network
                w ~ N(0, 1/n_in) vs N(0, 1)                              is ahead after epoch 1
==============  =======================================================  ==================================

How each claim (``experiments/claims/mnist_nielsen.py``) is decided:

* a book number against the statistic the book reports, estimated from the seeds: for chapter 1 ("I've
  taken best-of-three runs", each at its peak epoch) the mean over all 3-subsets of the seeds of their
  largest peak test accuracy (:func:`best_of_k_estimate`, an unbiased estimate of the expected best of
  three); for chapter 3's L2 network the mean final-epoch validation accuracy. The interval is a percentile
  bootstrap over seeds; the rule an equivalence band of 1 percentage point around the book's number;
* the chapter-1 footnote ("some training runs give results quite a bit worse"): the fraction of 100-hidden
  runs peaking more than 2 points below the book, with its Clopper-Pearson interval, at least 1 in 20;
* initialization: the paired (same seed) difference of validation accuracy after epoch 1, t-interval, > 0;
* Fashion-MNIST (no number in the book): Nielsen's chapter-1 recipe against the notes' recipe (softmax +
  log-likelihood, ReLU + He, batch norm, Adam 1e-3, same 784-30-10 size). Nielsen's recipe has a bimodal
  outcome (runs stuck with one class never predicted, recorded per seed as ``dead_classes``), so the
  comparison is rank-based: the Hodges-Lehmann shift of final test accuracy with its distribution-free
  interval from the exact Mann-Whitney null (:func:`rank_sum_test`), at least 1 point. The Welch interval
  of the difference of means is recorded beside it, not decided.

MNIST is read from disk only: with its files absent every MNIST claim is *skipped* with the reason
(``FNN_DATA_DIR`` names the folder). Quick mode: 5,000 training images, 2,000 validation and test images,
2 epochs, the registered quick seed count, every recipe; the book claims then only check that each network
learns (far above chance), the footnote claim is not decided, and the Fashion-MNIST comparison asks for the
direction only.
"""

from __future__ import annotations

import itertools
import math
import time

import jax
import numpy as np
from matplotlib.ticker import MaxNLocator

from experiments import _population
from experiments._common import (bootstrap_interval, clopper_pearson_interval, decide, figure, save, seeds,
                                 t_interval, t_quantile)
from fnn import data, initializers, nn, optim

N_TRAIN = 50_000
STUCK_BELOW = 0.02  # a 100-hidden run is "stuck" when its peak is this far below the book's 96.59%
BOOTSTRAP = {"resamples": 2000, "seed": 0}
CLAIM = {"ch1_30": "mnist_nielsen/ch1-30-book", "ch1_100": "mnist_nielsen/ch1-100-book",
         "ch3_ce_30": "mnist_nielsen/ch3-xent-book", "ch3_l2_100": "mnist_nielsen/ch3-l2-book"}
STATISTIC = {"best3_peak_test": "best-of-three estimate of the peak test accuracy",
             "mean_final_val": "mean final-epoch validation accuracy"}


def _sigmoid_net(hidden: int, w_init) -> nn.MLP:
    return nn.MLP((784, hidden, 10), hidden="sigmoid", output="sigmoid", w_init=w_init,
                  b_init=initializers.normal(1.0))


def _l2_sgd(rate: float, lam: float) -> optim.Transform:
    """Nielsen's L2-regularized SGD: ``w <- (1 - eta lam/n) w - eta grad C_0`` (weights only), n = 50,000."""
    return optim.chain(optim.add_decayed_weights(lam / N_TRAIN), optim.scale(rate))


def recipes() -> dict[str, dict]:
    """The book's networks (module docstring), keyed by short names; ``stat`` names the book's statistic."""
    large, small = initializers.normal(1.0), initializers.variance_scaling(1.0, "fan_in", "normal")
    return {
        "ch1_30": {"net": _sigmoid_net(30, large), "cost": "quadratic", "opt": optim.sgd(3.0),
                   "label": "ch.1: 30 hidden, quadratic, η=3", "book": 0.9542, "stat": "best3_peak_test"},
        "ch1_100": {"net": _sigmoid_net(100, large), "cost": "quadratic", "opt": optim.sgd(3.0),
                    "label": "ch.1: 100 hidden, quadratic, η=3", "book": 0.9659, "stat": "best3_peak_test"},
        "ch3_ce_30": {"net": _sigmoid_net(30, large), "cost": "cross_entropy", "opt": optim.sgd(0.5),
                      "label": "ch.3: 30 hidden, cross-entropy, η=0.5", "book": 0.9549, "stat": "best3_peak_test"},
        "ch3_l2_100": {"net": _sigmoid_net(100, large), "cost": "cross_entropy", "opt": _l2_sgd(0.5, 5.0),
                       "label": "ch.3: 100 hidden, x-ent., L2 λ=5, η=0.5", "book": 0.9792, "stat": "mean_final_val"},
        "ch3_init_small": {"net": _sigmoid_net(30, small), "cost": "cross_entropy", "opt": _l2_sgd(0.1, 5.0),
                           "label": "ch.3: w~N(0,1/n_in), x-ent., λ=5, η=0.1", "book": None, "stat": None},
        "ch3_init_large": {"net": _sigmoid_net(30, large), "cost": "cross_entropy", "opt": _l2_sgd(0.1, 5.0),
                           "label": "ch.3: w~N(0,1), x-ent., λ=5, η=0.1", "book": None, "stat": None},
    }


def fashion_recipes() -> dict[str, dict]:
    """Nielsen's chapter-1 recipe and the notes' improved one, both 784-30-10."""
    improved = nn.MLP((784, 30, 10), hidden="relu", output="softmax", w_init="he", norm="batch")
    return {
        "nielsen": {"net": _sigmoid_net(30, initializers.normal(1.0)), "cost": "quadratic", "opt": optim.sgd(3.0),
                    "label": "Nielsen ch.1 recipe"},
        "improved": {"net": improved, "cost": "log_likelihood", "opt": optim.adam(1e-3),
                     "label": "improved: ReLU+He, batch norm, softmax+log-lik., Adam"},
    }


def best_of_k_estimate(samples, k: int = 3) -> float:
    """Unbiased estimate of ``E[max of k runs]`` from ``n >= k`` runs: the mean over all k-subsets of their max."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1 or x.size < k:
        raise ValueError(f"samples must be 1-D with at least k = {k} values, got shape {x.shape}")
    return float(np.mean([max(c) for c in itertools.combinations(x, k)]))


def book_statistic(res: dict, stat: str) -> tuple[float, float, float, np.ndarray]:
    """The book's statistic from a recipe's runs, its 95% bootstrap interval over seeds, and the per-seed values."""
    if stat == "best3_peak_test":
        per_seed, fn = np.asarray(res["peak_test"], np.float64), best_of_k_estimate
    elif stat == "mean_final_val":
        per_seed, fn = np.asarray(res["final_val"], np.float64), np.mean
    else:
        raise ValueError(f"stat must be one of {sorted(STATISTIC)}, got {stat!r}")
    value, lo, hi = bootstrap_interval(per_seed, fn, **BOOTSTRAP)
    return value, lo, hi, per_seed


def rank_sum_test(a, b, level: float = 0.95) -> dict:
    """Exact two-sample Mann-Whitney (Wilcoxon rank-sum) comparison of ``a`` against ``b``; no normality assumed.

    ``U = #{(i, j): a_i > b_j} + 1/2 #{(i, j): a_i = b_j}``; ``p`` (one-sided, H1: ``a`` stochastically larger) is
    the fraction of the ``C(n + m, n)`` ways of splitting the pooled values into groups of sizes ``n`` and ``m``
    whose ``U`` is at least the observed one (exact permutation null, Mann & Whitney 1947; ties handled by the
    enumeration itself). ``prob_superiority = U / (n m)`` estimates ``P(A > B)``. ``hodges_lehmann`` is the
    median of the ``n m`` differences ``a_i - b_j`` and ``interval`` their order statistics
    ``[D_(k+1), D_(nm-k)]`` with ``k`` the largest integer such that ``P(U <= k) <= (1 - level)/2`` under the
    continuous null (Hollander & Wolfe 1999, sec. 4.3; a shift-model interval), ``coverage`` its exact level.
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    n, m = a.size, b.size
    if n < 2 or m < 2 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(f"a and b need >= 2 finite values each, got sizes {n}, {m}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if math.comb(n + m, n) > 2_000_000:
        raise ValueError(f"exact enumeration of C({n + m}, {n}) splits is too large; got n = {n}, m = {m}")

    def u_stat(x, y):
        return float(np.sum(x[:, None] > y[None, :]) + 0.5 * np.sum(x[:, None] == y[None, :]))

    u_obs, pooled = u_stat(a, b), np.concatenate([a, b])
    ranks = np.arange(n + m, dtype=np.float64)  # the continuous null: distinct values
    us, u_null = [], []
    for idx in itertools.combinations(range(n + m), n):
        mask = np.zeros(n + m, bool)
        mask[list(idx)] = True
        us.append(u_stat(pooled[mask], pooled[~mask]))
        u_null.append(u_stat(ranks[mask], ranks[~mask]))
    us, u_null = np.asarray(us), np.asarray(u_null)
    alpha2, k = (1.0 - level) / 2.0, -1
    while np.mean(u_null <= k + 1) <= alpha2:
        k += 1
    d = np.sort((a[:, None] - b[None, :]).ravel())
    lo, hi = (d[k], d[n * m - 1 - k]) if k >= 0 else (-math.inf, math.inf)
    return {"U": u_obs, "prob_superiority": u_obs / (n * m), "p_one_sided": float(np.mean(us >= u_obs - 1e-12)),
            "p_min_possible": 1.0 / math.comb(n + m, n), "hodges_lehmann": float(np.median(d)),
            "interval": (float(lo), float(hi)), "coverage": 1.0 - 2.0 * float(np.mean(u_null <= k)) if k >= 0 else 1.0}


def _load(name: str, quick: bool):
    x, y = data.load(name, "train", validation=10_000, download=False, progress=False)
    xv, yv = data.load(name, "validation", validation=10_000, download=False, progress=False)
    xt, yt = data.load(name, "test", download=False, progress=False)
    if quick:
        x, y, xv, yv, xt, yt = x[:5000], y[:5000], xv[:2000], yv[:2000], xt[:2000], yt[:2000]
    return (x, y), {"validation": (xv, yv), "test": (xt, yt)}


def _run(r: dict, sets, epochs: int, keys) -> dict:
    t0 = time.perf_counter()
    train_set, evals = sets
    states, hist = _population.fit_seeds(r["net"], r["cost"], r["opt"], train_set, epochs, 10, keys, evals=evals)
    test, val = hist["test_accuracy"], hist["validation_accuracy"]  # (epochs, P)
    recall = _class_recall(r["net"], states, *evals["test"])
    return {"label": r["label"], "test_accuracy": test, "validation_accuracy": val, "train_cost": hist["cost"],
            "diverged": hist["diverged"], "final_test": test[-1], "peak_test": test.max(axis=0),
            "final_val": val[-1], "test_recall_per_class": recall,
            "dead_classes": np.sum(recall < 0.1, axis=1), "seconds": time.perf_counter() - t0}


def _class_recall(net, states, x, y) -> np.ndarray:
    """Final test recall of each class for each member, shape (P, 10): a class no run predicts has recall ~0."""
    predict = jax.jit(jax.vmap(lambda p, s: jax.numpy.argmax(net.forward(p, x, s, train=False).a[-1], axis=-1)))
    pred, y = np.asarray(predict(states.params, states.net_state)), np.asarray(y)
    y = y.argmax(axis=-1) if y.ndim == 2 else y
    return np.stack([[np.mean(pr[y == c] == c) for c in range(10)] for pr in pred])


def _welch(a, b) -> dict:
    """Difference of means with its 95% Welch interval (df = min(n) - 1, conservative): recorded, not decided."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff, se = a.mean() - b.mean(), math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    half = t_quantile(0.975, max(1, min(a.size, b.size) - 1)) * se
    return {"difference": float(diff), "interval": [float(diff - half), float(diff + half)]}


def measure(quick: bool, seed: int) -> dict:
    """Train every recipe on the registered seeds; MNIST recipes only where its files are present."""
    t0 = time.perf_counter()
    epochs, n_seeds = (2 if quick else 30), seeds("mnist_nielsen/ch1-30-book", quick)
    keys = jax.random.split(jax.random.key(seed), n_seeds)
    out: dict = {"epochs": epochs, "seeds": n_seeds, "batch_size": 10, "split": "first 50,000 training images / "
                 "last 10,000 as validation; 10,000 test" + (" (quick: 5,000 / 2,000 / 2,000)" if quick else "")}
    try:
        mnist = _load("mnist", quick)
    except FileNotFoundError as err:
        out["mnist"] = {"status": "skipped", "reason": "MNIST files not found: " + str(err).splitlines()[0]}
    else:
        out["mnist"] = {"status": "measured", "results": {n: _run(r, mnist, epochs, keys) for n, r in recipes().items()},
                        "book": {n: {"value": r["book"], "statistic": r["stat"]} for n, r in recipes().items()
                                 if r["book"] is not None}}
    fashion = _load("fashion_mnist", quick)
    out["fashion_mnist"] = {n: _run(r, fashion, epochs, keys) for n, r in fashion_recipes().items()}
    out["fashion_mnist"]["welch_mean_difference_recorded"] = _welch(out["fashion_mnist"]["improved"]["final_test"],
                                                                    out["fashion_mnist"]["nielsen"]["final_test"])
    out["runtime_s"] = time.perf_counter() - t0
    return out


def decide_all(out: dict, quick: bool) -> list[dict]:
    """Every registered claim decided on ``out`` by its registered rule."""
    return _mnist_decisions(out, quick) + [_fashion_decision(out, quick)]


def _mnist_decisions(out: dict, quick: bool) -> list[dict]:
    ids = list(CLAIM.values()) + ["mnist_nielsen/ch1-100-stuck-runs", "mnist_nielsen/init-ahead"]
    if out["mnist"]["status"] != "measured":
        return [decide(i, None, quick=quick, skipped=out["mnist"]["reason"]) for i in ids]
    res, vs = out["mnist"]["results"], []
    for name, claim_id in CLAIM.items():
        r = recipes()[name]
        value, lo, hi, per_seed = book_statistic(res[name], r["stat"])
        vs.append(decide(claim_id, value, quick=quick, interval=(lo, hi), n=per_seed.size,
                         detail={"statistic": STATISTIC[r["stat"]], "book": r["book"], "per_seed": per_seed,
                                 "mean_over_seeds": float(per_seed.mean()),
                                 "dead_classes_per_seed": res[name]["dead_classes"]}))
    peaks = np.asarray(res["ch1_100"]["peak_test"])
    stuck = int(np.sum(peaks < recipes()["ch1_100"]["book"] - STUCK_BELOW))
    if quick:
        vs.append(decide("mnist_nielsen/ch1-100-stuck-runs", None, quick=quick,
                         skipped="not decided in quick mode: after 2 epochs every run is below 94.59%, stuck or not"))
    else:
        frac, lo, hi = clopper_pearson_interval(stuck, peaks.size)
        vs.append(decide("mnist_nielsen/ch1-100-stuck-runs", frac, quick=quick, interval=(lo, hi), n=peaks.size,
                         detail={"stuck": stuck, "runs": peaks.size, "peaks": peaks}))
    small, large = res["ch3_init_small"], res["ch3_init_large"]
    d1 = np.asarray(small["validation_accuracy"][0]) - np.asarray(large["validation_accuracy"][0])
    m, lo, hi = t_interval(d1)
    vs.append(decide("mnist_nielsen/init-ahead", m, quick=quick, interval=(lo, hi), n=d1.size,
                     detail={"per_seed": d1}))
    return vs


def _fashion_decision(out: dict, quick: bool) -> dict:
    nie, imp = out["fashion_mnist"]["nielsen"], out["fashion_mnist"]["improved"]
    a, b = np.asarray(imp["final_test"]), np.asarray(nie["final_test"])
    rs = rank_sum_test(a, b)
    return decide("mnist_nielsen/fashion-improved-beats", rs["hodges_lehmann"], quick=quick, interval=rs["interval"],
                  n=a.size, detail={"P(improved > Nielsen)": rs["prob_superiority"], "p_one_sided": rs["p_one_sided"],
                                    "interval_coverage": rs["coverage"], "improved_per_seed": a, "nielsen_per_seed": b,
                                    "nielsen_dead_classes_per_seed": nie["dead_classes"],
                                    "welch_mean_difference": out["fashion_mnist"]["welch_mean_difference_recorded"]})


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    out = measure(quick, seed)
    verdicts = decide_all(out, quick)
    return save("mnist_nielsen", seed=seed, quick=quick, verdicts=verdicts, data=out, fig=_figure(out),
                out_dir=out_dir, title="Nielsen's networks on MNIST against the book's numbers; Fashion-MNIST: "
                "Nielsen's recipe vs the notes' improved one" + (" (MNIST skipped)" if "results" not in out["mnist"]
                                                                 else ""))


def _band(ax, curves, color, label, ls="-"):
    """Mean over seeds with its 95% t-band; ``curves`` (epochs, P) in [0, 1]."""
    c = 100 * np.asarray(curves)
    e = np.arange(1, c.shape[0] + 1)
    stats = np.array([t_interval(row) for row in c]) if c.shape[1] > 1 else np.stack([c[:, 0]] * 3, axis=1)
    ax.plot(e, stats[:, 0], ls, color=color, lw=1.4, label=label)
    ax.fill_between(e, stats[:, 1], stats[:, 2], color=color, alpha=0.25, lw=0)


COLORS = {"ch1_30": "tab:red", "ch1_100": "tab:orange", "ch3_ce_30": "tab:blue", "ch3_l2_100": "tab:green",
          "ch3_init_small": "tab:purple", "ch3_init_large": "tab:brown"}


def _book_panel(b, res: dict, short: bool) -> None:
    """Panel (b): each book number against the measured statistic, its bootstrap interval and the band."""
    rs = recipes()
    rows = [k for k in CLAIM if k in res]
    left = -40.0 if short else -15.0
    b.axvspan(-100 * 0.01, 100 * 0.01, color="0.85", lw=0, label="registered band: book ± 1 point")
    for i, name in enumerate(rows):
        r = rs[name]
        value, lo, hi, smp = book_statistic(res[name], r["stat"])
        dev = 100 * (smp - r["book"])
        on = dev >= left
        b.plot(dev[on], np.full(on.sum(), i - 0.15), "o", color=COLORS[name], ms=4, alpha=0.6,
               label="one seed (peak test, or final validation)" if i == 0 else None)
        b.errorbar(100 * (value - r["book"]), i + 0.15, xerr=[[100 * (value - lo)], [100 * (hi - value)]],
                   fmt="D", color=COLORS[name], ms=5, capsize=3,
                   label="book's statistic, 95% bootstrap interval" if i == 0 else None)
        if (~on).any():
            b.plot(left + 0.3, i - 0.15, "<", color=COLORS[name], ms=7)
            b.text(left + 0.8, i - 0.42, f"{(~on).sum()} seed(s) off scale: " +
                   ", ".join(f"{100 * v:.1f}%" for v in smp[~on]), fontsize=8, color=COLORS[name])
    b.axvline(0.0, color="k", lw=1.0)
    b.set_yticks(range(len(rows)), [rs[k]["label"].replace(", ", "\n", 1) + f"\nbook {100 * rs[k]['book']:.2f}%"
                                    for k in rows], fontsize=8)
    b.set(xlabel="measured − book (percentage points)", title="(b) measured vs the book's numbers",
          xlim=(left, 3.0), ylim=(-0.6, len(rows) + 0.9))
    b.legend(fontsize=8, loc="upper left")


def _figure(out: dict):
    fig, axes = figure(2, 2, width=6.0, height=5.0)
    (a, b), (c, d) = axes
    n = out["seeds"]
    short = out["epochs"] < 10  # quick mode: accuracies far below the book's; widen the axes instead of clipping
    if "results" in out["mnist"]:
        res, rs = out["mnist"]["results"], recipes()
        for name, r in res.items():
            if name.startswith("ch3_init"):
                continue
            if name == "ch1_100":  # bimodal over seeds (stuck runs): one thin line per seed, not a mean band
                acc = 100 * np.asarray(r["test_accuracy"])
                for j in range(acc.shape[1]):
                    a.plot(np.arange(1, acc.shape[0] + 1), acc[:, j], "-", color=COLORS[name], lw=0.8,
                           label=rs[name]["label"] + " (each seed)" if j == 0 else None)
                continue
            _band(a, r["test_accuracy"], COLORS[name], rs[name]["label"])
        a.set(xlabel="epoch", ylabel="MNIST test accuracy (%)", ylim=(None, None) if short else (90, 99),
              title=f"(a) MNIST test accuracy per epoch (mean, 95% t-band, {n} seeds)")
        a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
        _book_panel(b, res, short)
        for name in ("ch3_init_small", "ch3_init_large"):
            _band(c, res[name]["validation_accuracy"], COLORS[name], rs[name]["label"])
        c.set(xlabel="epoch", ylabel="MNIST validation accuracy (%)", ylim=(None, None) if short else (85, 98),
              title="(c) weight initialization: N(0,1/n_in) vs N(0,1)")
        c.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1)
    else:
        for ax, t in ((a, "(a) MNIST test accuracy"), (b, "(b) measured vs the book"), (c, "(c) weight init.")):
            ax.text(0.5, 0.5, "MNIST files not found:\nskipped (not agreement)", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set(xticks=[], yticks=[], title=t)
    nie = 100 * np.asarray(out["fashion_mnist"]["nielsen"]["test_accuracy"])  # bimodal: one line per seed
    for j in range(nie.shape[1]):
        d.plot(np.arange(1, nie.shape[0] + 1), nie[:, j], "-", color="tab:red", lw=0.9,
               label=out["fashion_mnist"]["nielsen"]["label"] + " (each seed)" if j == 0 else None)
    _band(d, out["fashion_mnist"]["improved"]["test_accuracy"], "tab:blue",
          out["fashion_mnist"]["improved"]["label"] + " (mean, 95% t-band)")
    d.set(xlabel="epoch", ylabel="Fashion-MNIST test accuracy (%)",
          title=f"(d) Fashion-MNIST, 784-30-10 ({n} seeds)")
    d.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1)
    for ax in ((a, c, d) if "results" in out["mnist"] else (d,)):  # whole epochs (a FixedLocator, set by a short quick-mode axis, has no integer option)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig
