"""Initializers: 10^6 draws match the stated distribution within sampling error."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import initializers as init

N_OUT, N_IN = 1000, 1000  # 10^6 draws; M = fan-in = 1000, N = fan-out = 1000


def _moments(initializer, shape=(N_OUT, N_IN)):
    w = np.asarray(initializer(jax.random.key(0), shape, jnp.float32), np.float64)
    return w, w.mean(), w.var()


def _assert_moments(w, mean, var, expected_var):
    n = w.size
    # 5-sigma bands: SE(mean) = sqrt(var/n); SE(var) = sqrt((m4 - var^2)/n).
    assert abs(mean) < 5 * math.sqrt(expected_var / n)
    m4 = np.mean((w - mean) ** 4)
    assert abs(var - expected_var) < 5 * math.sqrt((m4 - var**2) / n)


@pytest.mark.parametrize(
    "name, make, expected_var, kind",
    [
        ("uniform(0.3)", lambda: init.uniform(0.3), 0.3**2 / 3, "uniform"),
        ("normal(0.2)", lambda: init.normal(0.2), 0.2**2, "normal"),
        ("he", init.he, 2.0 / N_IN, "normal"),
        ("xavier", init.xavier, (1 / math.sqrt(N_IN)) ** 2 / 3, "uniform"),
        ("xavier_normalized", init.xavier_normalized, (math.sqrt(6) / math.sqrt(N_IN + N_OUT)) ** 2 / 3, "uniform"),
        ("truncated", lambda: init.variance_scaling(2.0, "fan_in", "truncated_normal"), 2.0 / N_IN, "truncated"),
    ],
)
def test_sample_mean_and_variance_match_the_stated_distribution(name, make, expected_var, kind):
    w, mean, var = _moments(make())
    _assert_moments(w, mean, var, expected_var)
    sd = math.sqrt(expected_var)
    if kind == "uniform":
        eps = math.sqrt(3 * expected_var)
        assert w.max() <= eps and w.min() >= -eps and w.max() > 0.999 * eps
    elif kind == "normal":
        # A true Gaussian: about 0.27% of draws beyond 3 sd (a truncated one has none past 2 sd).
        tail = np.mean(np.abs(w) > 3 * sd)
        assert 0.0020 < tail < 0.0034
    else:
        assert np.abs(w).max() <= 2 * sd / 0.87962566103423978 + 1e-6


def test_fan_in_is_the_second_axis_of_w():
    w = init.he()(jax.random.key(1), (10, 4000), jnp.float32)  # M = 4000
    assert float(jnp.var(w)) == pytest.approx(2 / 4000, rel=0.1)
    w = init.variance_scaling(1.0, "fan_out", "normal")(jax.random.key(1), (4000, 10), jnp.float32)
    assert float(jnp.var(w)) == pytest.approx(1 / 4000, rel=0.1)


def test_constant_gives_identical_rows():
    w = init.constant(0.5)(jax.random.key(0), (7, 3), jnp.float32)
    np.testing.assert_array_equal(w, np.full((7, 3), 0.5, np.float32))
    assert bool(jnp.all(w == w[:1]))


def test_initializers_respect_dtype(x64):
    assert init.he()(jax.random.key(0), (3, 2), jnp.float64).dtype == jnp.float64


def test_initializers_compare_by_value_for_hashable_networks():
    assert init.he() == init.variance_scaling(2.0, "fan_in", "normal")
    assert hash(init.xavier()) == hash(init.xavier())


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_non_positive_eps_is_rejected_with_its_value(bad):
    with pytest.raises(ValueError, match="eps must be a finite number > 0, got"):
        init.uniform(bad)
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        init.normal(bad)


def test_bad_variance_scaling_arguments_are_rejected():
    with pytest.raises(ValueError, match="mode must be one of"):
        init.variance_scaling(1.0, "fan_middle")
    with pytest.raises(ValueError, match="distribution must be one of"):
        init.variance_scaling(1.0, "fan_in", "cauchy")
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        init.variance_scaling(-2.0)
    with pytest.raises(ValueError, match="initializer must be one of"):
        init.get("glorot")
