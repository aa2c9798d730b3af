"""Quick runs of the second half's experiments (convergence, momentum, schedules, optimizers,
normalization, Nielsen/MNIST): every verdict says what it is and none comes out unexpected.

A verdict's ``outcome`` is computed by the experiment from its own measurement and tolerance
(``experiments._common.verdict``); these tests only check that the quick run's outcomes are
"as expected" (or "skipped" exactly when a data set is absent), that each carries a ``kind``,
and that stochastic predictions state their interval over seeds. Plus the closed forms the
experiments rely on (``experiments.mnist_nielsen``'s statistics; ``experiments._sgd_floor``'s are in test_exp_schedules.py),
each against an independent computation.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from experiments import batchnorm_capacity, layernorm_design, mnist_nielsen


def _mnist_present() -> bool:
    from fnn import data

    try:
        data.load("mnist", "test", download=False, progress=False)
    except FileNotFoundError:
        return False
    return True


def test_best_of_k_estimate_is_the_mean_of_subset_maxima():
    x = np.array([0.3, 0.1, 0.5, 0.2, 0.4])
    brute = np.mean([max(c) for c in itertools.combinations(x, 3)])
    assert mnist_nielsen.best_of_k_estimate(x, 3) == pytest.approx(brute)
    # unbiased for E[max of 3]: against a Monte Carlo of the max of three normals
    rng = np.random.default_rng(0)
    est = np.mean([mnist_nielsen.best_of_k_estimate(rng.normal(size=5), 3) for _ in range(20_000)])
    assert est == pytest.approx(3 / (2 * math.sqrt(math.pi)), abs=0.01)  # E[max of 3 N(0,1)] = 0.8463
    with pytest.raises(ValueError, match="at least k"):
        mnist_nielsen.best_of_k_estimate(x[:2], 3)


def test_book_statistic_uses_the_books_statistic_with_a_bootstrap_interval():
    res = {"peak_test": np.array([0.95, 0.951, 0.949, 0.80, 0.952]), "final_val": np.array([0.97, 0.975, 0.972])}
    v, lo, hi, per_seed = mnist_nielsen.book_statistic(res, "best3_peak_test")
    assert v == pytest.approx(mnist_nielsen.best_of_k_estimate(res["peak_test"])) and lo <= v <= hi
    assert per_seed.tolist() == res["peak_test"].tolist()
    v, lo, hi, _ = mnist_nielsen.book_statistic(res, "mean_final_val")
    assert v == pytest.approx(np.mean(res["final_val"])) and min(res["final_val"]) <= lo <= v <= hi <= 0.975
    with pytest.raises(ValueError, match="stat"):
        mnist_nielsen.book_statistic(res, "median")


def _fake_nielsen(rng, n: int = 5, stuck: int = 0) -> dict:
    results = {}
    for name, r in mnist_nielsen.recipes().items():
        base = r["book"] or 0.95
        peaks = rng.normal(base - 0.002, 0.002, n)
        peaks[:stuck] = 0.8
        results[name] = {"peak_test": peaks, "final_val": rng.normal(base - 0.004, 0.002, n),
                         "validation_accuracy": rng.normal(0.93 if name.endswith("small") else 0.88, 0.01, (3, n)),
                         "dead_classes": np.zeros(n, int)}
    fashion = {"nielsen": {"final_test": rng.normal(0.84, 0.01, n), "dead_classes": np.zeros(n, int)},
               "improved": {"final_test": rng.normal(0.87, 0.002, n), "dead_classes": np.zeros(n, int)},
               "welch_mean_difference_recorded": {"difference": 0.03, "interval": [0.02, 0.04]}}
    return {"mnist": {"status": "measured", "results": results}, "fashion_mnist": fashion}


def test_mnist_nielsen_full_mode_decides_every_claim_by_its_registered_rule():
    from experiments import _registry

    vs = mnist_nielsen.decide_all(_fake_nielsen(np.random.default_rng(0)), quick=False)
    _registry.check_complete("mnist_nielsen", vs)
    out = {v["id"].split("/")[1]: v["outcome"] for v in vs}
    assert out.pop("ch1-100-stuck-runs") == "inconclusive"  # 0 of 5 stuck: cannot refute 'not rare'
    assert set(out.values()) == {"as expected"}, out
    # stuck runs count against the book's number (the old prediction interval excused them)
    vs = mnist_nielsen.decide_all(_fake_nielsen(np.random.default_rng(0), stuck=4), quick=False)
    out = {v["id"].split("/")[1]: v["outcome"] for v in vs}
    assert out["ch1-100-stuck-runs"] == "as expected" and out["ch1-100-book"] in ("unexpected", "inconclusive")
    skipped = mnist_nielsen.decide_all({**_fake_nielsen(np.random.default_rng(0)),
                                        "mnist": {"status": "skipped", "reason": "MNIST files not found"}}, quick=False)
    _registry.check_complete("mnist_nielsen", skipped)
    assert [v["outcome"] for v in skipped].count("skipped") == 6


def test_rank_sum_test_against_scipy_and_the_tabled_interval():
    from scipy import stats

    rng = np.random.default_rng(0)
    for n, m in ((5, 5), (4, 4), (3, 6)):
        a, b = rng.normal(0.5, 1, n), rng.normal(0, 1, m)
        r = mnist_nielsen.rank_sum_test(a, b)
        ref = stats.mannwhitneyu(a, b, alternative="greater", method="exact")
        assert r["U"] == pytest.approx(ref.statistic) and r["p_one_sided"] == pytest.approx(ref.pvalue)
        assert r["p_min_possible"] == pytest.approx(1 / math.comb(n + m, n))
    # n = m = 5: the two-sided 5% critical value of U is 2 (P(U <= 2) = 4/252), so [D_(3), D_(23)], 96.8%
    a, b = np.arange(5.0) * 10, np.arange(5.0) * 3 + 0.5
    r = mnist_nielsen.rank_sum_test(a, b)
    d = np.sort((a[:, None] - b[None, :]).ravel())
    assert r["interval"] == (d[2], d[22]) and r["coverage"] == pytest.approx(1 - 8 / 252)
    assert r["hodges_lehmann"] == pytest.approx(np.median(d))
    # a bimodal sample (one stuck run) does not hide a consistent ordering
    r = mnist_nielsen.rank_sum_test([0.87, 0.871, 0.872, 0.873, 0.874], [0.6, 0.85, 0.851, 0.852, 0.853])
    assert r["prob_superiority"] == 1.0 and r["p_one_sided"] == pytest.approx(1 / 252)
    with pytest.raises(ValueError, match="finite"):
        mnist_nielsen.rank_sum_test([1.0], [2.0, 3.0])


def test_best_monotone_accuracy_against_brute_force():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 60)
    y = (np.abs(x) < 0.5).astype(int)
    cuts = np.concatenate([[-2.0], np.sort(x), [2.0]])
    brute = max(max(np.mean((x > t) == y), np.mean((x <= t) == y)) for t in cuts)
    assert batchnorm_capacity.best_monotone_accuracy(x, y) == pytest.approx(brute)
    with pytest.raises(ValueError, match="same length"):
        batchnorm_capacity.best_monotone_accuracy(x, y[:-1])


def test_freeze_affine_zeroes_only_gamma_and_beta():
    import jax.numpy as jnp

    grads = ({"W": jnp.ones((2, 1)), "gamma": jnp.ones(2), "beta": jnp.ones(2)}, {"W": jnp.ones((1, 2)), "b": jnp.ones(1)})
    out, _ = batchnorm_capacity.freeze_affine().update(grads, (), grads)
    assert float(out[0]["gamma"].sum()) == 0 and float(out[0]["beta"].sum()) == 0
    assert float(out[0]["W"].sum()) == 2 and float(out[1]["b"].sum()) == 1


def test_layer_norm_factor_against_monte_carlo_and_its_known_values():
    rng = np.random.default_rng(0)
    u = rng.normal(size=400_000)
    for act, gamma in (("sigmoid", 1.0), ("tanh", 1.0), ("sigmoid", 8.0)):
        phi, dphi = layernorm_design.PHI[act]
        mc = gamma * math.sqrt(np.mean(dphi(gamma * u) ** 2) / np.mean(phi(gamma * u) ** 2))
        assert layernorm_design.predicted_factor(act, gamma) == pytest.approx(mc, rel=5e-3)
    # the normalization experiment's layer-norm factor for sigmoid (its own formula, gamma = 1)
    assert layernorm_design.predicted_factor("sigmoid", 1.0) == pytest.approx(0.391, abs=1e-3)
    with pytest.raises(ValueError, match="activation"):
        layernorm_design.predicted_factor("relu", 1.0)
    with pytest.raises(ValueError, match="gamma"):
        layernorm_design.predicted_factor("tanh", 0.0)
