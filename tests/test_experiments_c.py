"""Quick runs of the second half's experiments (convergence, momentum, schedules, optimizers,
normalization, Nielsen/MNIST): every verdict says what it is and none comes out unexpected.

A verdict's ``outcome`` is computed by the experiment from its own measurement and tolerance
(``experiments._common.verdict``); these tests only check that the quick run's outcomes are
"as expected" (or "skipped" exactly when a data set is absent), that each carries a ``kind``,
and that stochastic predictions state their interval over seeds. Plus the closed forms the
experiments rely on (``experiments._sgd_floor``, ``experiments.mnist_nielsen``'s statistics),
each against an independent computation.
"""

from __future__ import annotations

import importlib
import itertools
import json
import math

import numpy as np
import pytest

from experiments import _sgd_floor, batchnorm_capacity, layernorm_design, mnist_nielsen

FAST = ("gd_convergence", "momentum", "mnist_nielsen", "gd_descent", "batchnorm_capacity", "layernorm_design")
SLOW = ("schedules", "optimizers", "normalization")  # ~30-60 s each on 2 free cores


# experiment -> substrings of claims whose honest outcome is "unexpected" (the prediction did not hold), with the
# reason; the test checks that they still come out so, so that a change in the measurement is noticed.
KNOWN_UNEXPECTED = {
    # The local quadratic model gives the best step to ~3% but not how far the cost keeps falling: along the
    # gradient the cost flattens (saturating sigmoids), the first increase comes ~4.5x beyond 2 eta_opt.
    "gd_descent": ("beyond eta = 2 eta_opt",),
    # At their best rates AdaGrad trains this MLP further than RMSProp (full: -0.060 [-0.072, -0.048] nats) although
    # its effective rate shrinks (0.75 over 1600 updates): the notes' "too small" does not bite within this budget.
    "optimizers": ("RMSProp trains the Fashion-MNIST MLP",),
}


def _known_unexpected(name: str, claim: str) -> bool:
    return any(s in claim for s in KNOWN_UNEXPECTED.get(name, ()))


def _mnist_present() -> bool:
    from fnn import data

    try:
        data.load("mnist", "test", download=False, progress=False)
    except FileNotFoundError:
        return False
    return True


def _check_record(name: str, record: dict, tmp_path) -> None:
    assert record["quick"] is True and record["seed"] == 0 and record["verdicts"]
    for v in record["verdicts"]:
        assert v["kind"] in ("prediction", "check", "erratum"), v["claim"]
        expected = ("unexpected",) if _known_unexpected(name, v["claim"]) else ("as expected", "skipped")
        assert v["outcome"] in expected, (v["claim"], v["measured"], v["predicted"], v["tolerance"])
        assert (v["outcome"] == "skipped") == (v["skipped_reason"] is not None)
        if v["interval"] is not None:
            assert v["interval"][0] <= v["interval"][1] and v["n_seeds"] >= 2
    skipped = [v for v in record["verdicts"] if v["outcome"] == "skipped"]
    if name == "mnist_nielsen":
        present = _mnist_present()
        assert record["data"]["mnist"]["status"] == ("measured" if present else "skipped")
        assert len(skipped) == (0 if present else 1)
    else:
        assert not skipped
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert on_disk["verdicts"] == record["verdicts"] and on_disk["quick"] is True
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000


@pytest.mark.parametrize("name", FAST)
def test_experiment_quick_run_outcomes_as_expected(name, tmp_path):
    record = importlib.import_module(f"experiments.{name}").run(quick=True, seed=0, out_dir=tmp_path)
    _check_record(name, record, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_slow_experiment_quick_run_outcomes_as_expected(name, tmp_path):
    record = importlib.import_module(f"experiments.{name}").run(quick=True, seed=0, out_dir=tmp_path)
    _check_record(name, record, tmp_path)


def _least_squares(seed: int, n: int = 400, d: int = 3):
    rng = np.random.default_rng(seed)
    x = np.hstack([rng.normal(size=(n, d)), np.ones((n, 1))])
    y = x @ rng.normal(size=d + 1) + 0.5 * rng.normal(size=n)
    w, *_ = np.linalg.lstsq(x, y, rcond=None)
    return x, y - x @ w


def test_floor_with_replacement_matches_a_float64_simulation():
    x, r = _least_squares(0)
    eta, m = 0.1, 4
    rng = np.random.default_rng(1)
    h = x.T @ x / x.shape[0]
    e, acc = np.zeros(x.shape[1]), []
    for t in range(60_000):
        i = rng.integers(0, x.shape[0], m)
        e = e - eta * x[i].T @ (x[i] @ e - r[i]) / m
        if t > 2000 and t % 10 == 0:
            acc.append(0.5 * e @ h @ e)
    blocks = np.asarray(acc[: len(acc) // 50 * 50]).reshape(50, -1).mean(axis=1)
    mean, se = blocks.mean(), blocks.std(ddof=1) / math.sqrt(blocks.size)
    assert abs(_sgd_floor.floor_with_replacement(x, r, m, eta) - mean) <= 4 * se


def test_floor_reshuffled_additive_matches_a_float64_simulation():
    # Additive noise only (the closed form's model): e <- (1 - eta H) e + eta xi with xi from a random partition.
    x, r = _least_squares(2)
    n, m, eta = x.shape[0], 4, 0.01
    h = x.T @ x / n
    rng = np.random.default_rng(3)
    e, acc = np.zeros(x.shape[1]), []
    for epoch in range(3000):
        order = rng.permutation(n).reshape(n // m, m)
        for idx in order:
            e = e - eta * (h @ e - x[idx].T @ r[idx] / m)
        if epoch > 100:
            acc.append(0.5 * e @ h @ e)
    blocks = np.asarray(acc[: len(acc) // 40 * 40]).reshape(40, -1).mean(axis=1)
    mean, se = blocks.mean(), blocks.std(ddof=1) / math.sqrt(blocks.size)
    pred = _sgd_floor.floor_reshuffled(x, r, m, eta, multiplicative=False)
    assert abs(pred - mean) <= 4 * se
    assert pred < 0.5 * _sgd_floor.floor_with_replacement(x, r, m, eta, multiplicative=False)


def test_floor_functions_reject_bad_arguments():
    x, r = _least_squares(0)
    with pytest.raises(ValueError, match="eta"):
        _sgd_floor.floor_reshuffled(x, r, 4, -0.1)
    with pytest.raises(ValueError, match="m must"):
        _sgd_floor.floor_with_replacement(x, r, 0, 0.1)
    with pytest.raises(ValueError, match="shapes"):
        _sgd_floor.floor_notes(x, r[:-1], 4, 0.1)


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
