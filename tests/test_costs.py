"""Costs: hand-computed values, BP1 output errors, stability at saturation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import costs


def test_quadratic_cost_on_a_hand_computed_case():
    # C = 1/(2n) sum ||y - z||^2 with a linear output: z = a.
    a = jnp.array([[1.0, 2.0], [0.0, -1.0]])
    y = jnp.array([[0.0, 2.0], [1.0, 1.0]])
    # ||.||^2 = 1 and 1 + 4 = 5 -> (1 + 5) / (2 * 2) = 1.5
    assert float(costs.quadratic.value(a, y, "linear")) == pytest.approx(1.5)


def test_cross_entropy_on_a_hand_computed_case():
    a = jnp.array([[0.0, math.log(3.0)]])  # sigmoid -> 0.5, 0.75
    y = jnp.array([[1.0, 0.0]])
    expected = -(math.log(0.5) + math.log(0.25))
    assert float(costs.cross_entropy.value(a, y, "sigmoid")) == pytest.approx(expected, rel=1e-6)


def test_log_likelihood_is_minus_log_of_the_correct_class_probability():
    a = jnp.array([[math.log(1.0), math.log(3.0)], [math.log(2.0), math.log(2.0)]])
    y = jnp.array([1, 0])
    expected = -(math.log(0.75) + math.log(0.5)) / 2
    assert float(costs.log_likelihood.value(a, y, "softmax")) == pytest.approx(expected, rel=1e-6)
    one_hot = jax.nn.one_hot(y, 2)
    assert float(costs.log_likelihood.value(a, one_hot, "softmax")) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "cost, output",
    [("cross_entropy", "sigmoid"), ("log_likelihood", "softmax"), ("quadratic", "linear")],
)
def test_matched_pairs_have_output_error_z_minus_y(cost, output):
    a = jax.random.normal(jax.random.key(0), (6, 4)) * 3
    y = jax.nn.one_hot(jnp.arange(6) % 4, 4)
    z = jax.nn.sigmoid(a) if output == "sigmoid" else jax.nn.softmax(a) if output == "softmax" else a
    np.testing.assert_allclose(costs.get(cost).delta(a, y, output), z - y, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "cost, output",
    [
        ("quadratic", "sigmoid"),
        ("quadratic", "tanh"),
        ("quadratic", "softmax"),
        ("cross_entropy", "sigmoid"),
        ("cross_entropy", "softmax"),
        ("log_likelihood", "softmax"),
        ("quadratic", "linear"),
    ],
)
def test_output_error_is_the_gradient_of_the_per_example_cost(cost, output, x64):
    # BP1: delta^L = dC_x/da^L; the batch mean's gradient is delta / n.
    c = costs.get(cost)
    a = jax.random.normal(jax.random.key(1), (5, 3), jnp.float64)
    y = jax.nn.one_hot(jnp.array([0, 2, 1, 1, 0]), 3, dtype=jnp.float64)
    expected = jax.grad(lambda t: c.value(t, y, output))(a) * a.shape[0]
    np.testing.assert_allclose(c.delta(a, y, output), expected, rtol=1e-10, atol=1e-12)


def test_quadratic_with_sigmoid_has_the_slow_sigma_prime_factor():
    a = jnp.array([[5.0]])
    y = jnp.array([[0.0]])
    z = 1 / (1 + np.exp(-5.0))  # float64 reference
    np.testing.assert_allclose(costs.quadratic.delta(a, y, "sigmoid"), [[z * z * (1 - z)]], rtol=1e-6)


@pytest.mark.parametrize(
    "cost, output", [("cross_entropy", "sigmoid"), ("log_likelihood", "softmax"), ("quadratic", "sigmoid")]
)
def test_costs_stay_finite_at_logits_of_plus_minus_1000(cost, output):
    a = jnp.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    y = jnp.array([[0.0, 1.0], [0.0, 1.0]])  # first row maximally wrong, second right
    c = costs.get(cost)
    value = c.value(a, y, output)
    assert bool(jnp.isfinite(value))
    assert bool(jnp.all(jnp.isfinite(c.delta(a, y, output))))
    assert bool(jnp.all(jnp.isfinite(jax.grad(lambda t: c.value(t, y, output))(a))))


def test_cross_entropy_with_sigmoid_outputs_exactly_zero_or_one_is_finite_and_right():
    # float32 sigmoid(+-200) is exactly 1 / 0; the cost is still computed from a.
    a = jnp.array([[200.0, -200.0]])
    assert float(jax.nn.sigmoid(a)[0, 0]) == 1.0 and float(jax.nn.sigmoid(a)[0, 1]) == 0.0
    right = costs.cross_entropy.value(a, jnp.array([[1.0, 0.0]]), "sigmoid")
    wrong = costs.cross_entropy.value(a, jnp.array([[0.0, 1.0]]), "sigmoid")
    assert float(right) == pytest.approx(0.0, abs=1e-30)
    assert float(wrong) == pytest.approx(400.0, rel=1e-6)


def test_accuracy_counts_argmax_matches():
    out = jnp.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert float(costs.accuracy(out, jnp.array([1, 0, 0, 0]))) == pytest.approx(0.75)
    assert float(costs.accuracy(out, jax.nn.one_hot(jnp.array([1, 1, 1, 0]), 2))) == pytest.approx(0.75)
    single = jnp.array([[0.2], [0.7]])
    assert float(costs.accuracy(single, jnp.array([0, 0]))) == pytest.approx(0.5)


def test_labels_that_do_not_fit_the_output_are_rejected():
    a = jnp.zeros((4, 3))
    with pytest.raises(ValueError, match=r"y must be integer labels of shape \(4,\) or targets of shape \(4, 3\)"):
        costs.quadratic.value(a, jnp.zeros((4, 2)), "sigmoid")
    with pytest.raises(ValueError, match="y must be"):
        costs.log_likelihood.value(a, jnp.zeros((5,), jnp.int32), "softmax")


def test_unknown_cost_and_log_likelihood_without_softmax_are_rejected():
    with pytest.raises(ValueError, match=r"cost must be one of .*got 'mse'"):
        costs.get("mse")
    with pytest.raises(ValueError, match="output must be 'softmax'"):
        costs.log_likelihood.value(jnp.zeros((2, 3)), jnp.array([0, 1]), "sigmoid")
