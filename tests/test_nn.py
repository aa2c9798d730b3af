"""The MLP description, its parameters and its forward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import activations, initializers
from fnn.nn import MLP


def test_params_are_one_w_b_dict_per_layer_with_w_of_shape_out_by_in():
    net = MLP((4, 6, 3))
    params = net.init(jax.random.key(0))
    assert len(params) == 2
    assert params[0]["W"].shape == (6, 4) and params[0]["b"].shape == (6,)
    assert params[1]["W"].shape == (3, 6) and params[1]["b"].shape == (3,)
    assert params[0]["W"].dtype == jnp.float32
    assert net.num_params() == 6 * 4 + 6 + 3 * 6 + 3


def test_apply_computes_sigma_of_w_z_plus_b_layer_by_layer():
    net = MLP((3, 4, 2), hidden="tanh", output="sigmoid")
    params = net.init(jax.random.key(1))
    x = jax.random.normal(jax.random.key(2), (5, 3))
    h = np.tanh(np.asarray(x) @ np.asarray(params[0]["W"]).T + np.asarray(params[0]["b"]))
    out = 1 / (1 + np.exp(-(h @ np.asarray(params[1]["W"]).T + np.asarray(params[1]["b"]))))
    np.testing.assert_allclose(net.apply(params, x), out, rtol=1e-5)


def test_forward_trace_holds_every_weighted_input_and_activation():
    net = MLP((3, 5, 4, 2), hidden="relu", output="softmax")
    params = net.init(jax.random.key(3))
    x = jax.random.normal(jax.random.key(4), (6, 3))
    trace = net.forward(params, x)
    assert len(trace.a) == 3 and len(trace.z) == 4
    np.testing.assert_array_equal(trace.z[0], x)
    for l in range(3):
        np.testing.assert_allclose(trace.a[l], trace.z[l] @ params[l]["W"].T + params[l]["b"][None, :], rtol=1e-6)
        np.testing.assert_allclose(trace.z[l + 1], net.activation(l)(trace.a[l]), rtol=1e-6)
    np.testing.assert_allclose(net.apply(params, x), trace.z[-1])


def test_a_single_example_gives_an_unbatched_output():
    net = MLP((3, 4, 2))
    params = net.init(jax.random.key(0))
    x = jnp.array([0.1, -0.2, 0.3])
    out = net.apply(params, x)
    assert out.shape == (2,)
    np.testing.assert_allclose(out, net.apply(params, x[None])[0])


def test_default_weight_rule_follows_the_hidden_activation():
    assert MLP((2, 3), hidden="relu").w_init == initializers.he()
    assert MLP((2, 3), hidden="tanh").w_init == initializers.xavier()


def test_networks_are_hashable_and_equal_by_value_so_jit_reuses_them():
    a = MLP((4, 8, 2), hidden="relu", output="softmax", w_init="he")
    b = MLP([4, 8, 2], hidden=activations.relu, output="softmax", w_init=initializers.he())
    assert a == b and hash(a) == hash(b)
    traces = []

    def f(net, params, x):
        traces.append(1)
        return net.apply(params, x)

    g = jax.jit(f, static_argnums=0)
    params = a.init(jax.random.key(0))
    g(a, params, jnp.ones((2, 4)))
    g(b, params, jnp.ones((2, 4)))
    assert len(traces) == 1


def test_init_is_deterministic_given_the_key():
    net = MLP((3, 4, 2))
    p1, p2 = net.init(jax.random.key(7)), net.init(jax.random.key(7))
    jax.tree.map(np.testing.assert_array_equal, p1, p2)
    p3 = net.init(jax.random.key(8))
    assert not np.allclose(p1[0]["W"], p3[0]["W"])


@pytest.mark.parametrize(
    "sizes, message",
    [
        ((5,), r"sizes must list at least two layers"),
        ((), r"sizes must list at least two layers"),
        ((3, 0, 2), r"sizes\[1\] must be a positive integer, got 0"),
        ((3, -4), r"sizes\[1\] must be a positive integer, got -4"),
        ((3, 2.5), r"sizes\[1\] must be a positive integer, got 2.5"),
    ],
)
def test_bad_sizes_are_rejected_with_the_offending_value(sizes, message):
    with pytest.raises(ValueError, match=message):
        MLP(sizes)


def test_unknown_activation_is_rejected_at_construction():
    with pytest.raises(ValueError, match=r"activation must be one of"):
        MLP((2, 3), hidden="swish")


def test_input_of_the_wrong_width_is_rejected_before_tracing():
    net = MLP((4, 3, 2))
    params = net.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 4\) or \(4,\), got shape \(5, 3\)"):
        net.apply(params, jnp.ones((5, 3)))
    with pytest.raises(ValueError, match=r"x must have shape"):
        jax.jit(net.apply)(params, jnp.ones((5, 3)))


def test_params_of_another_architecture_are_rejected():
    params = MLP((4, 5, 2)).init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"params\[0\] must have W of shape \(3, 4\)"):
        MLP((4, 3, 2)).apply(params, jnp.ones((1, 4)))
    with pytest.raises(ValueError, match="params must be a tuple of 3 layer dicts"):
        MLP((4, 5, 5, 2)).apply(params, jnp.ones((1, 4)))
