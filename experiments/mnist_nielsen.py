"""Nielsen's networks on the real MNIST, set against the numbers his book publishes.

The course notes follow M. Nielsen, *Neural Networks and Deep Learning*
(Determination Press, 2015). Each recipe below is the book's, trained with
``fnn`` on the book's split (the first 50,000 MNIST training images; the last
10,000 held out as validation; the 10,000 test images), mini-batch ``m = 10``,
and run over 5 seeds as one population (:mod:`experiments._population`):

==============  =======================================================  =========================================
recipe          network and training                                     the book's number
==============  =======================================================  =========================================
ch1, 30 hidden  784-30-10 sigmoid, quadratic ``1/2||y - a||^2``,          ch. 1: "about 95 percent - 95.42 percent
                N(0,1) weights and biases, SGD eta = 3.0, 30 epochs      at its peak (Epoch 28)" (test set)
ch1, 100 hidden the same with 100 hidden units                            ch. 1: "96.59 percent"
ch3, x-entropy  784-30-10, cross-entropy, N(0,1) init, eta = 0.5          ch. 3: 95.49 percent (see the caveat)
ch3, L2, 100    784-100-10, cross-entropy, L2 lambda = 5.0, eta = 0.5,    ch. 3: "97.92 percent on the validation
                N(0,1) init, 30 epochs                                    data"
ch3, init       784-30-10, cross-entropy, lambda = 5.0, eta = 0.1, with  ch. 3: no number used (see below)
                w ~ N(0, 1/n_in) vs N(0, 1)
==============  =======================================================  =========================================

Chapter 1 says "To generate results in this chapter I've taken best-of-three
runs", and its 95.42% is the peak over the 30 epochs of test accuracy
(``network.py`` evaluates the test set after each epoch). So the comparison
statistic for chapter 1 is a *best-of-three of per-run peaks*: from our 5 seeds'
peaks (mean ``mu``, sd ``s``) a 95% prediction interval for one such draw,
assuming seed-to-seed variation is normal, is ``[mu - t s/sqrt(n) + z_lo s,
mu + t s/sqrt(n) + z_hi s]`` with ``Phi(z)^3 = 0.025, 0.975`` (``z_lo =
-0.547``, ``z_hi = 2.390``: the quantiles of the maximum of three standard
normals) and ``t = t_{0.975, n-1}`` for the uncertainty of ``mu``. Chapter 3's
97.92% is "the final result" on validation data, one run or best-of-three not
stated, so its interval covers both readings: ``[mu - t s sqrt(1 + 1/n),
mu + t s/sqrt(n) + z_hi s]`` on the final-epoch validation accuracy.

Provenance of the numbers: 95.42% (with "best-of-three runs") and 96.59% were
read from a copy of chapter 1's text; 97.92% (100 hidden, lambda = 5.0, eta =
0.5, 30 epochs, validation data) from a summary of chapter 3 quoting it;
95.49% for the cross-entropy network is the number quoted in the issue brief,
which could *not* be confirmed against the book's text in this session (it is
marked so in its verdict). For the weight-initialization section no number is
used: its prediction is the mean-field one (with N(0,1) weights a hidden unit's
weighted input has variance ``sum_k x_k^2 + 1 ~ 100`` on MNIST, so the sigmoids
start saturated and learn slowly; with ``1/n_in`` it is ``~ 1``): the
``1/sqrt(n_in)`` network is ahead after the first epoch.

Fashion-MNIST (no number in the book): the notes' "Best practices" recipe
(softmax + log-likelihood, ReLU + He, batch norm, Adam 1e-3, same 784-30-10
size) against Nielsen's chapter-1 recipe, over 5 seeds. "Beats" is decided
rank-based: ``P(improved run > Nielsen run) > 1/2`` by an exact one-sided
Mann-Whitney test (:func:`rank_sum_test`, p < 0.025), with the Hodges-Lehmann
difference and its distribution-free interval. Why not the difference of means:
Nielsen's recipe (N(0,1) weights, sigmoid outputs, quadratic cost, eta = 3) has a
bimodal outcome, normal runs and runs stuck on a plateau (his ch. 1 footnote on
the 100-hidden network: "some training runs give results quite a bit worse"; here
on MNIST 3 to 4 of 5 100-hidden seeds peak below 88%). The mechanism is visible in
``dead_classes``: a stuck Fashion-MNIST run has one class it never predicts (test
recall 0; in the recorded full run seeds 0 and 2, classes "pullover" and "coat",
ending at 78.4% and 79.3% while the other three end at 83.7-85.3%). An earlier version used the
Welch t-interval of the difference of mean final test accuracies and got +0.0356
[-0.0058, 0.0770] (df = 4, conservative): unexpected, because one Nielsen seed
sat at 77.7% for all 30 epochs while the other four ended at 84.3-85.8% and every
improved seed at 86.9-87.4%; the t-interval's normal model turns one stuck run
into a 3.4-point standard deviation. (The rank statistic was chosen for this
bimodality, which we saw in those per-seed numbers and which the book documents,
not for which side of zero a result falls: in the recorded run the Welch interval
happens to exclude zero as well.) The Welch number is still recorded
(``data["fashion_mnist"]["welch_mean_difference_recorded"]``), and for each seed
the classes it never learned (test recall < 10%, ``dead_classes``). With 5 + 5
seeds the exact test's smallest p is 1/252 = 0.004; quick mode uses 4 + 4 seeds
(smallest p 1/70 = 0.014), so it can decide the same claim at 0.025.

MNIST is read from disk only: with its files absent every MNIST verdict is
*skipped* with the reason (``FNN_DATA_DIR=../shared/data`` finds them).
Quick mode: 5,000 training images, 2,000 validation and test images, 2 epochs,
4 seeds, the chapter-1 and cross-entropy networks and both Fashion recipes: each
well above chance (lower end of the 95% t-interval of test accuracy > 50%), and
the Fashion-MNIST comparison above with its own (4 + 4 seed) exact test.
"""

from __future__ import annotations

import itertools
import math
import time

import jax
import numpy as np
from matplotlib.ticker import MaxNLocator

from experiments import _population
from experiments._common import figure, save, t_interval, t_quantile, verdict
from fnn import data, initializers, nn, optim

SECTION = "Stochastic gradient descent / Algorithm: Gradient descent + Backpropagation (Nielsen 2015)"
N_TRAIN = 50_000
CHANCE = 0.1


def max_of_k_normal_quantile(p: float, k: int = 3) -> float:
    """The ``p`` quantile of the maximum of ``k`` independent standard normals: ``Phi(z)^k = p`` (bisection)."""
    if not 0.0 < p < 1.0 or k < 1:
        raise ValueError(f"p must lie in (0, 1) and k >= 1, got p = {p!r}, k = {k!r}")
    lo, hi = -10.0, 10.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if (0.5 * (1.0 + math.erf(mid / math.sqrt(2.0)))) ** k < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


Z_MAX3 = (max_of_k_normal_quantile(0.025), max_of_k_normal_quantile(0.975))  # (-0.547, 2.390)
SOURCE_CH1 = "Nielsen (2015), ch. 1, 'Implementing our network to classify digits'"
SOURCE_CH3 = "Nielsen (2015), ch. 3, 'Improving the way neural networks learn'"


def _sigmoid_net(hidden: int, w_init) -> nn.MLP:
    return nn.MLP((784, hidden, 10), hidden="sigmoid", output="sigmoid", w_init=w_init,
                  b_init=initializers.normal(1.0))


def _l2_sgd(rate: float, lam: float) -> optim.Transform:
    """Nielsen's L2-regularized SGD: ``w <- (1 - eta lam/n) w - eta grad C_0`` (weights only), n = 50,000."""
    return optim.chain(optim.add_decayed_weights(lam / N_TRAIN), optim.scale(rate))


def recipes() -> dict[str, dict]:
    """The book's networks (see the module docstring), keyed by short names."""
    large, small = initializers.normal(1.0), initializers.variance_scaling(1.0, "fan_in", "normal")
    return {
        "ch1_30": {"net": _sigmoid_net(30, large), "cost": "quadratic", "opt": optim.sgd(3.0),
                   "label": "ch.1: 30 hidden, quadratic, η=3", "book": 0.9542, "stat": "best3_peak_test",
                   "source": f"{SOURCE_CH1}: 'about 95 percent - 95.42 percent at its peak (Epoch 28)'; "
                             "'I've taken best-of-three runs'"},
        "ch1_100": {"net": _sigmoid_net(100, large), "cost": "quadratic", "opt": optim.sgd(3.0),
                    "label": "ch.1: 100 hidden, quadratic, η=3", "book": 0.9659, "stat": "best3_peak_test",
                    "source": f"{SOURCE_CH1}: 'this improves the results to 96.59 percent'"},
        "ch3_ce_30": {"net": _sigmoid_net(30, large), "cost": "cross_entropy", "opt": optim.sgd(0.5),
                      "label": "ch.3: 30 hidden, cross-entropy, η=0.5", "book": 0.9549, "stat": "best3_peak_test",
                      "source": f"{SOURCE_CH3}: 95.49% as quoted in the issue brief; NOT confirmed against the "
                                "book's text in this session"},
        "ch3_l2_100": {"net": _sigmoid_net(100, large), "cost": "cross_entropy", "opt": _l2_sgd(0.5, 5.0),
                       "label": "ch.3: 100 hidden, x-ent., L2 λ=5, η=0.5", "book": 0.9792, "stat": "final_val",
                       "source": f"{SOURCE_CH3} (as quoted by a summary of the chapter): 'a classification "
                                 "accuracy of 97.92 percent on the validation data'"},
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


def book_interval(samples, stat: str) -> tuple[float, float]:
    """95% prediction interval for the book's one reported number (module docstring)."""
    x = np.asarray(samples, dtype=np.float64)
    n, mu, s = x.size, float(x.mean()), float(x.std(ddof=1))
    t = t_quantile(0.975, n - 1)
    if stat == "best3_peak_test":
        lo, hi = mu - t * s / math.sqrt(n) + Z_MAX3[0] * s, mu + t * s / math.sqrt(n) + Z_MAX3[1] * s
    elif stat == "final_val":
        lo, hi = mu - t * s * math.sqrt(1 + 1 / n), mu + t * s / math.sqrt(n) + Z_MAX3[1] * s
    else:
        raise ValueError(f"stat must be 'best3_peak_test' or 'final_val', got {stat!r}")
    return max(lo, 0.0), min(hi, 1.0)  # accuracies


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


def _book_verdict(name: str, r: dict, res: dict) -> dict:
    samples = res["peak_test"] if r["stat"] == "best3_peak_test" else res["final_val"]
    mean, lo, hi = t_interval(samples)
    p_lo, p_hi = book_interval(samples, r["stat"])
    what = ("peak-epoch test accuracy (the book: best of three runs)" if r["stat"] == "best3_peak_test"
            else "final-epoch validation accuracy")
    caveat = " [book number not confirmed in this session]" if "NOT confirmed" in r["source"] else ""
    if p_hi - p_lo > 0.05:
        caveat += (f" [interval uninformative: {int(np.sum(samples < r['book'] - 0.02))} of {len(samples)} runs stuck "
                   "more than 2 points below the book, as its ch. 1 footnote warns]")
    return verdict(
        f"{r['label']} (Nielsen's {name.split('_')[0]}): {what} matches the book's {100 * r['book']:.2f}%{caveat}; "
        f"source: {r['source']}",
        mean, r["book"], p_lo <= r["book"] <= p_hi,
        f"book's number inside the 95% prediction interval [{100 * p_lo:.2f}%, {100 * p_hi:.2f}%] for its statistic "
        f"(seeds' mean {100 * mean:.2f}%; best-of-3 estimate {100 * best_of_k_estimate(samples):.2f}%)",
        SECTION, kind="prediction", interval=(lo, hi), n_seeds=len(samples))


def _mnist_verdicts(out: dict, quick: bool) -> list[dict]:
    res, rs = out["mnist"]["results"], recipes()
    if quick:
        vs = []
        for name, r in res.items():
            m, lo, hi = t_interval(r["final_test"])
            vs.append(verdict(f"quick ({out['epochs']} epochs on 5,000 images): {r['label']} learns MNIST, test "
                              "accuracy well above chance (10%)", m, "> 0.5", lo > 0.5,
                              "lower end of the 95% t-interval > 0.5", SECTION, kind="prediction",
                              interval=(lo, hi), n_seeds=len(r["final_test"])))
        return vs
    vs = [_book_verdict(n, rs[n], res[n]) for n in ("ch1_30", "ch1_100", "ch3_ce_30", "ch3_l2_100")]
    peaks = np.asarray(res["ch1_100"]["peak_test"])
    worse = int(np.sum(peaks < rs["ch1_100"]["book"] - 0.02))
    vs.append(verdict(
        "Nielsen, ch. 1 footnote on the 100-hidden network: 'Reader feedback indicates quite some variation in results "
        "for this experiment, and some training runs give results quite a bit worse' (N(0,1) init: saturated units): "
        "at least one of our seeds peaks more than 2 points below the book's 96.59%",
        worse, ">= 1", worse >= 1, f"number of seeds (of {peaks.size}) whose peak test accuracy < 94.59%", SECTION,
        kind="prediction", n_seeds=peaks.size))
    small, large = res["ch3_init_small"], res["ch3_init_large"]
    d1 = small["validation_accuracy"][0] - large["validation_accuracy"][0]
    m, lo, hi = t_interval(d1)
    vs.append(verdict(
        "weight initialization (ch. 3; notes 'Initialization'): with w ~ N(0,1) a hidden sigmoid's weighted input "
        "has variance sum_k x_k^2 + 1 (~100 on MNIST) and saturates; with N(0, 1/n_in) it is ~1, so after epoch 1 "
        "the 1/sqrt(n_in) network is ahead (paired difference of validation accuracy)",
        m, "> 0", lo > 0, "lower end of the 95% t-interval of the paired difference > 0", SECTION,
        kind="prediction", interval=(lo, hi), n_seeds=len(d1)))
    return vs


def _fashion_verdicts(out: dict, quick: bool) -> list[dict]:
    nie, imp = out["fashion_mnist"]["nielsen"], out["fashion_mnist"]["improved"]
    if quick:
        vs = []
        for r in (nie, imp):
            m, lo, hi = t_interval(r["final_test"])
            vs.append(verdict(f"quick ({out['epochs']} epochs on 5,000 images): {r['label']} learns Fashion-MNIST, "
                              "test accuracy well above chance (10%)", m, "> 0.5", lo > 0.5,
                              "lower end of the 95% t-interval > 0.5", SECTION, kind="prediction",
                              interval=(lo, hi), n_seeds=len(r["final_test"])))
    else:
        vs = []
    a, b = np.asarray(imp["final_test"]), np.asarray(nie["final_test"])
    rs = rank_sum_test(a, b)
    return vs + [verdict(
        "notes, 'Best practices': the improved recipe (softmax + log-likelihood, ReLU + He, batch norm, Adam) beats "
        "Nielsen's chapter-1 recipe on Fashion-MNIST at the same 784-30-10 size: a run of the improved recipe ends "
        "with the higher test accuracy, P(improved > Nielsen) > 1/2 (rank-based, because Nielsen's N(0,1)-sigmoid "
        "recipe has a bimodal outcome, some runs stuck: his ch. 1 footnote; module docstring)",
        {"P(improved > Nielsen)": rs["prob_superiority"], "p (one-sided, exact)": rs["p_one_sided"],
         "Hodges-Lehmann difference": rs["hodges_lehmann"], "improved per seed": a.tolist(),
         "Nielsen per seed": b.tolist(), "Nielsen dead classes per seed": np.asarray(nie["dead_classes"]).tolist()},
        "> 1/2", rs["p_one_sided"] < 0.025,
        f"exact one-sided Mann-Whitney p < 0.025 (smallest possible with {a.size} + {b.size} seeds: "
        f"{rs['p_min_possible']:.4f}); interval: distribution-free {100 * rs['coverage']:.1f}% interval of the "
        "Hodges-Lehmann shift", SECTION, kind="prediction", interval=rs["interval"], n_seeds=int(a.size))]


def _welch(a, b) -> dict:
    """Difference of means with its 95% Welch interval (df = min(n) - 1, conservative): recorded, not decided."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff, se = a.mean() - b.mean(), math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    half = t_quantile(0.975, max(1, min(a.size, b.size) - 1)) * se
    return {"difference": float(diff), "interval": [float(diff - half), float(diff + half)]}


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    t0 = time.perf_counter()
    epochs, n_seeds = (2, 4) if quick else (30, 5)
    keys = jax.random.split(jax.random.key(seed), n_seeds)
    out: dict = {"epochs": epochs, "seeds": n_seeds, "batch_size": 10, "split": "first 50,000 training images / "
                 "last 10,000 as validation; 10,000 test" + (" (quick: 5,000 / 2,000 / 2,000)" if quick else "")}
    verdicts = []
    try:
        mnist = _load("mnist", quick)
    except FileNotFoundError as err:
        reason = "MNIST files not found: " + str(err).splitlines()[0]
        out["mnist"] = {"status": "skipped", "reason": reason}
        verdicts.append(verdict("Nielsen's networks reach the book's MNIST accuracies (95.42%, 96.59%, 95.49%, "
                                "97.92%)", "not measured", "book's numbers", False, "skipped", SECTION,
                                kind="prediction", skipped=reason))
    else:
        names = ("ch1_30", "ch3_ce_30") if quick else tuple(recipes())
        res = {n: _run(recipes()[n], mnist, epochs, keys) for n in names}
        out["mnist"] = {"status": "measured", "results": res,
                        "book": {n: {"value": recipes()[n]["book"], "statistic": recipes()[n]["stat"],
                                     "source": recipes()[n].get("source")} for n in names}}
        verdicts += _mnist_verdicts(out, quick)
    fashion = _load("fashion_mnist", quick)
    out["fashion_mnist"] = {n: _run(r, fashion, epochs, keys) for n, r in fashion_recipes().items()}
    verdicts += _fashion_verdicts(out, quick)
    out["fashion_mnist"]["welch_mean_difference_recorded"] = _welch(out["fashion_mnist"]["improved"]["final_test"],
                                                                    out["fashion_mnist"]["nielsen"]["final_test"])
    out["runtime_s"] = time.perf_counter() - t0
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


def _figure(out: dict):
    fig, axes = figure(2, 2, width=6.0, height=4.4)
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
        a.legend(fontsize=7, loc="lower right")
        rows = [k for k in ("ch1_30", "ch1_100", "ch3_ce_30", "ch3_l2_100") if k in res]
        left = -40.0 if short else -3.0
        for i, name in enumerate(rows):
            r, smp = rs[name], np.asarray(res[name]["peak_test" if rs[name]["stat"] == "best3_peak_test" else "final_val"])
            lo, hi = book_interval(smp, r["stat"])
            dev = 100 * (smp - r["book"])
            b.plot([max(100 * (lo - r["book"]), left), 100 * (hi - r["book"])], [i, i], "-", color=COLORS[name], lw=7,
                   alpha=0.35, label="95% prediction interval for the book's statistic" if i == 0 else None)
            on = dev >= left
            b.plot(dev[on], np.full(on.sum(), i), "o", color=COLORS[name], ms=5,
                   label="measured, one point per seed" if i == 0 else None)
            if (~on).any():
                b.plot(left + 0.05, i, "<", color=COLORS[name], ms=7)
                b.text(left + 0.2, i + 0.18, f"{(~on).sum()} seed(s) off scale: " +
                       ", ".join(f"{100 * v:.1f}%" for v in smp[~on]), fontsize=6.5, color=COLORS[name])
        b.axvline(0.0, color="k", lw=1.2, label="the book's number (0)")
        b.set_yticks(range(len(rows)), [rs[k]["label"].replace(", ", "\n", 1) + f"\nbook {100 * rs[k]['book']:.2f}%"
                                        for k in rows], fontsize=7)
        b.set(xlabel="measured − book (percentage points)\npeak test accuracy (ch.1, ch.3 x-ent.), final validation (ch.3 L2)",
              title="(b) measured vs the book's numbers", xlim=(left, 2.0), ylim=(-0.6, len(rows) - 0.4 + 0.6))
        b.xaxis.label.set_fontsize(8)
        b.legend(fontsize=7, loc="upper right")
        if "ch3_init_small" in res:
            for name in ("ch3_init_small", "ch3_init_large"):
                _band(c, res[name]["validation_accuracy"], COLORS[name], rs[name]["label"])
            c.set(xlabel="epoch", ylabel="MNIST validation accuracy (%)", ylim=(85, 98),
                  title="(c) weight initialization: N(0,1/n_in) vs N(0,1)")
            c.legend(fontsize=7, loc="lower right")
        else:  # quick mode: no initialization runs; show the Fashion-MNIST verdict's per-seed statistic instead
            for i, (name, color) in enumerate((("nielsen", "tab:red"), ("improved", "tab:blue"))):
                acc = 100 * np.asarray(out["fashion_mnist"][name]["final_test"])
                c.plot(acc, np.full(acc.size, i), "o", color=color, ms=6, alpha=0.7)
            c.set_yticks([0, 1], ["Nielsen ch.1", "improved"], fontsize=8)
            c.set(xlabel="Fashion-MNIST final test accuracy (%)", ylim=(-0.6, 1.6),
                  title="(c) Fashion-MNIST, one point per seed (the verdict's statistic)")
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
    d.legend(fontsize=7, loc="lower right")
    for ax in (a, d):  # whole epochs (a FixedLocator, set by a short quick-mode axis, has no integer option)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig
