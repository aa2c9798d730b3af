"""Hand-written backpropagation (BP1-BP4) equals jax.grad and finite differences."""

import chex
import jax
import jax.numpy as jnp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fnn import backprop
from fnn.nn import MLP

HIDDEN = ["sigmoid", "tanh", "relu", "linear"]
HEADS = [("sigmoid", "quadratic"), ("sigmoid", "cross_entropy"), ("softmax", "log_likelihood"), ("linear", "quadratic")]


def _problem(sizes, hidden, output, seed, batch, dtype):
    net = MLP(tuple(sizes), hidden=hidden, output=output)
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    params = net.init(k1, dtype)
    x = jax.random.normal(k2, (batch, sizes[0]), dtype)
    if output == "softmax":
        y = jax.random.randint(k3, (batch,), 0, sizes[-1])
    elif output == "sigmoid":
        y = jax.random.bernoulli(k3, 0.5, (batch, sizes[-1])).astype(dtype)
    else:
        y = jax.random.normal(k3, (batch, sizes[-1]), dtype)
    return net, params, x, y


architectures = st.fixed_dictionaries(
    {
        "sizes": st.lists(st.integers(1, 7), min_size=2, max_size=5),  # depth 1..4
        "hidden": st.sampled_from(HIDDEN),
        "head": st.sampled_from(HEADS),
        "seed": st.integers(0, 2**16),
        "batch": st.integers(1, 9),
    }
)


def _check_float64(arch) -> None:
    output, cost = arch["head"]
    sizes = list(arch["sizes"])
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)
    with jax.enable_x64(True):
        net, params, x, y = _problem(sizes, arch["hidden"], output, arch["seed"], arch["batch"], jnp.float64)
        result = backprop.check(net, cost, params, x, y)
    assert result.max_rel <= 1e-10, (arch, result)


# Each example compiles a new network (~4 s on 2 cores): 4 random architectures by default (every hidden x head
# pairing is also checked in float32 below), 30 in the slow set.
@settings(max_examples=4, deadline=None)
@given(arch=architectures)
def test_backprop_equals_jax_grad_in_float64(arch):
    _check_float64(arch)


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(arch=architectures)
def test_backprop_equals_jax_grad_in_float64_thorough(arch):
    _check_float64(arch)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, cost", HEADS)
def test_every_pairing_agrees_with_jax_grad_in_float32(hidden, output, cost):
    net, params, x, y = _problem((6, 8, 5, 4), hidden, output, 3, 16, jnp.float32)
    result = backprop.check(net, cost, params, x, y)
    assert result.max_rel <= 1e-4, result


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, cost", HEADS)
def test_central_finite_differences_agree_with_backprop_and_autodiff(hidden, output, cost, x64):
    net, params, x, y = _problem((3, 4, 3), hidden, output, 5, 6, jnp.float64)
    fd = backprop.numerical_grad(lambda p: backprop.loss(net, cost, p, x, y), params, method="central")
    bp = backprop.grad(net, cost, params, x, y)
    ad = backprop.autodiff_value_and_grad(net, cost, params, x, y)[1]
    assert backprop.compare(fd, bp).max_rel <= 1e-6
    assert backprop.compare(fd, ad).max_rel <= 1e-6


def test_forward_differences_are_first_order_accurate(x64):
    net, params, x, y = _problem((3, 4, 2), "tanh", "sigmoid", 0, 5, jnp.float64)
    f = lambda p: backprop.loss(net, "cross_entropy", p, x, y)
    bp = backprop.grad(net, "cross_entropy", params, x, y)
    err = [backprop.compare(backprop.numerical_grad(f, params, eps, "forward"), bp).max_abs for eps in (1e-3, 1e-4)]
    # error ~ eps: ten times smaller step, about ten times smaller error
    assert 5 < err[0] / err[1] < 20


def test_value_is_the_mean_cost_and_matches_autodiff(x64):
    net, params, x, y = _problem((4, 5, 3), "relu", "softmax", 2, 7, jnp.float64)
    v_bp, _ = backprop.value_and_grad(net, "log_likelihood", params, x, y)
    v_ad, _ = backprop.autodiff_value_and_grad(net, "log_likelihood", params, x, y)
    assert float(v_bp) == pytest.approx(float(v_ad), rel=1e-14)


def test_per_example_grads_average_to_the_batch_gradient(x64):
    net, params, x, y = _problem((4, 5, 3), "sigmoid", "sigmoid", 4, 8, jnp.float64)
    per = backprop.per_example_grads(net, "quadratic", params, x, y)
    assert per[0]["W"].shape == (8, 5, 4)
    mean = jax.tree.map(lambda g: jnp.mean(g, axis=0), per)
    assert backprop.compare(mean, backprop.grad(net, "quadratic", params, x, y)).max_rel <= 1e-12


def test_gradient_structure_equals_params_structure():
    net, params, x, y = _problem((4, 5, 5, 3), "tanh", "softmax", 0, 4, jnp.float32)
    g = backprop.grad(net, "log_likelihood", params, x, y)
    chex.assert_trees_all_equal_shapes_and_dtypes(g, params)


def test_jitted_grad_compiles_once_for_repeated_calls_with_the_same_shapes():
    net, params, x, y = _problem((4, 5, 3), "relu", "softmax", 0, 8, jnp.float32)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def g(p, xb, yb):
        return backprop.grad(net, "log_likelihood", p, xb, yb)

    for seed in range(4):
        xb = jax.random.normal(jax.random.key(seed), x.shape)
        g(params, xb, y)
    jitted = jax.jit(backprop.grad, static_argnums=(0, 1))
    jitted(net, "log_likelihood", params, x, y)
    jitted(net, "log_likelihood", params, x + 1, y)
    assert jitted._cache_size() == 1


def test_labels_that_do_not_fit_the_output_are_rejected_before_tracing():
    net, params, x, _ = _problem((4, 5, 3), "relu", "softmax", 0, 8, jnp.float32)
    with pytest.raises(ValueError, match=r"y must be integer labels of shape \(8,\) or targets of shape \(8, 3\)"):
        backprop.grad(net, "log_likelihood", params, x, jnp.zeros((8, 2)))


def test_unknown_cost_name_is_rejected():
    net, params, x, y = _problem((4, 3), "relu", "softmax", 0, 2, jnp.float32)
    with pytest.raises(ValueError, match="cost must be one of"):
        backprop.grad(net, "hinge", params, x, y)


@pytest.mark.parametrize("eps", [0.0, -1e-3, float("nan")])
def test_non_positive_eps_is_rejected(eps):
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        backprop.numerical_grad(lambda p: jnp.sum(p["w"] ** 2), {"w": jnp.ones(3)}, eps=eps)


def test_unknown_finite_difference_method_is_rejected():
    with pytest.raises(ValueError, match="method must be 'central' or 'forward', got 'backward'"):
        backprop.numerical_grad(lambda p: jnp.sum(p), jnp.ones(3), method="backward")
