"""Activations: each derivative equals jax.grad of its function."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import activations

GRID = jnp.linspace(-6.0, 6.0, 241)


@pytest.mark.parametrize("name", ["linear", "sigmoid", "tanh", "relu", "step", "sign"])
def test_derivative_equals_jax_grad_on_a_grid(name, x64):
    act = activations.get(name)
    a = jnp.linspace(-6.0, 6.0, 241, dtype=jnp.float64)
    if name in ("relu", "step", "sign"):
        a = a[jnp.abs(a) > 1e-3]  # away from the kink / jump
    expected = jax.vmap(jax.grad(lambda t: act(t)))(a)
    np.testing.assert_allclose(act.deriv(a), expected, rtol=1e-12, atol=1e-14)


def test_sigmoid_derivative_is_sigma_times_one_minus_sigma(x64):
    a = jnp.linspace(-6.0, 6.0, 241, dtype=jnp.float64)
    s = activations.sigmoid(a)
    np.testing.assert_allclose(activations.sigmoid.deriv(a), s * (1 - s), rtol=1e-13)


def test_step_and_sign_follow_the_perceptron_threshold():
    a = jnp.array([-2.0, 0.0, 1e-7, 3.0])
    np.testing.assert_array_equal(activations.step(a), [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(activations.sign(a), [-1.0, -1.0, 1.0, 1.0])


def test_softmax_rows_sum_to_one_and_lie_strictly_inside_unit_interval():
    a = jax.random.normal(jax.random.key(0), (50, 7)) * 3
    z = activations.softmax(a)
    np.testing.assert_allclose(jnp.sum(z, axis=-1), 1.0, rtol=1e-6)
    assert bool(jnp.all((z > 0) & (z < 1)))


def test_softmax_is_finite_at_logits_of_plus_minus_1000():
    z = activations.softmax(jnp.array([[1000.0, -1000.0, 0.0], [1000.0, 1000.0, -1000.0]]))
    assert bool(jnp.all(jnp.isfinite(z)))
    np.testing.assert_allclose(z, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], atol=1e-7)


def test_softmax_jacobian_and_vjp_equal_jax_jacobian(x64):
    a = jax.random.normal(jax.random.key(1), (4, 5), jnp.float64)
    g = jax.random.normal(jax.random.key(2), (4, 5), jnp.float64)
    jac = jax.vmap(jax.jacobian(activations.softmax.fn))(a)
    np.testing.assert_allclose(activations.softmax.deriv(a), jac, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        activations.softmax.vjp(a, g), jnp.einsum("bij,bi->bj", jac, g), rtol=1e-12, atol=1e-15
    )


def test_unknown_activation_name_is_a_value_error_listing_the_choices():
    with pytest.raises(ValueError, match=r"activation must be one of .*'sigmoid'.*got 'sigmod'"):
        activations.get("sigmod")
    with pytest.raises(TypeError, match="activation must be a name"):
        activations.get(3)


def test_activations_are_hashable_for_static_jit_arguments():
    assert hash(activations.get("relu")) == hash(activations.relu)
    assert activations.get("tanh") is activations.tanh


def test_sigmoid_derivative_keeps_relative_precision_when_saturated():
    # float32: sigma(30) rounds to 1, yet sigma'(30) = e^-30 / (1 + e^-30)^2 is a normal number.
    a = jnp.array([-30.0, 30.0, 60.0], jnp.float32)
    expected = np.exp(-np.abs(np.array([-30.0, 30.0, 60.0]))) / (1 + np.exp(-np.abs(np.array([-30.0, 30.0, 60.0])))) ** 2
    np.testing.assert_allclose(activations.sigmoid.deriv(a), expected, rtol=1e-5)


def test_sigmoid_derivative_given_the_output_equals_the_derivative_from_saturation_to_saturation():
    # The backward pass reads sigma'(a) from the forward pass's z = sigma(a); it must keep the
    # relative precision of sigma(a) sigma(-a) where 1 - z rounds to 0 (float32, a > ~17).
    a = jnp.concatenate([jnp.linspace(-80.0, 80.0, 1601), jnp.array([-30.0, 30.0, 60.0])]).astype(jnp.float32)
    got = activations.sigmoid.deriv_given_output(a, activations.sigmoid(a))
    ref = np.exp(-np.abs(np.float64(a))) / (1 + np.exp(-np.abs(np.float64(a)))) ** 2
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=0)


def test_vjp_given_the_output_equals_vjp_without_it():
    a = jnp.linspace(-20.0, 20.0, 81, dtype=jnp.float32).reshape(9, 9)
    g = jnp.cos(a)
    for act in (activations.sigmoid, activations.tanh, activations.relu, activations.softmax):
        np.testing.assert_allclose(act.vjp(a, g, act(a)), act.vjp(a, g), rtol=2e-6, atol=1e-30, err_msg=act.name)
    with pytest.raises(ValueError, match=r"z must be sigma\(a\), of a's shape \(9, 9\), got shape \(9,\)"):
        activations.sigmoid.vjp(a, g, a[0])


def test_sigmoid_derivative_given_the_output_differentiates_to_the_second_derivative(x64):
    # Forward-over-reverse curvature differentiates the hand-written backward pass, and so this
    # derivative: d/da sigma'(a) = sigma'(a) (1 - 2 sigma(a)), finite far into saturation (where
    # e^-a overflows, a product inf * 0 would make it NaN).
    f = lambda t: activations.sigmoid.deriv_given_output(t, activations.sigmoid(t))  # noqa: E731
    a = jnp.linspace(-8.0, 8.0, 161, dtype=jnp.float64)
    s = activations.sigmoid(a)
    np.testing.assert_allclose(jax.vmap(jax.grad(f))(a), s * (1 - s) * (1 - 2 * s), rtol=1e-12, atol=1e-15)
    far = jnp.array([-800.0, -100.0, 100.0, 800.0], jnp.float32)
    for grad in (jax.vmap(jax.grad(f))(far), jax.jvp(f, (far,), (jnp.ones_like(far),))[1]):
        assert np.isfinite(np.asarray(grad)).all()
