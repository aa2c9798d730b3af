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

import importlib
import itertools
import json
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


def test_best_of_k_estimate_is_the_mean_of_subset_maxima_and_z_max3_are_its_normal_quantiles():
    x = np.array([0.3, 0.1, 0.5, 0.2, 0.4])
    brute = np.mean([max(c) for c in itertools.combinations(x, 3)])
    assert mnist_nielsen.best_of_k_estimate(x, 3) == pytest.approx(brute)
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    assert phi(mnist_nielsen.Z_MAX3[0]) ** 3 == pytest.approx(0.025, abs=1e-9)
    assert phi(mnist_nielsen.Z_MAX3[1]) ** 3 == pytest.approx(0.975, abs=1e-9)
    # against a Monte Carlo of the max of three normals
    draws = np.random.default_rng(0).normal(size=(200_000, 3)).max(axis=1)
    assert np.quantile(draws, [0.025, 0.975]) == pytest.approx(mnist_nielsen.Z_MAX3, abs=0.03)
    with pytest.raises(ValueError, match="at least k"):
        mnist_nielsen.best_of_k_estimate(x[:2], 3)


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
