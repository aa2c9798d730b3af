"""NAND perceptrons, NAND circuits, and their translation into step networks."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from fnn import logic as L
from fnn import perceptron as P

A = jnp.array([0, 0, 1, 1])
B = jnp.array([0, 1, 0, 1])


def all_bits(width: int) -> jnp.ndarray:
    return jnp.asarray(list(itertools.product([0, 1], repeat=width)), jnp.int32)


# --- gates -------------------------------------------------------------------


def test_nand_truth_table_is_the_perceptron_minus_two_minus_two_bias_three():
    assert L.nand(A, B).tolist() == [1.0, 1.0, 1.0, 0.0]
    # the same numbers straight from the perceptron's net input
    x = jnp.stack([A, B], axis=1).astype(jnp.float32)
    assert P.net_input(jnp.asarray(L.NAND_WEIGHTS), x).tolist() == [3.0, 1.0, 1.0, -1.0]


def test_gates_built_from_nand_alone_equal_their_truth_tables():
    a, b = np.asarray(A), np.asarray(B)
    assert L.not_(A).tolist() == (1 - a).tolist()
    assert L.and_(A, B).tolist() == (a & b).tolist()
    assert L.or_(A, B).tolist() == (a | b).tolist()
    assert L.xor(A, B).tolist() == (a ^ b).tolist()


def test_gates_use_only_nand():
    counts = {}
    for name, fn, arity in [("not", L.not_, 1), ("and", L.and_, 2), ("or", L.or_, 2),
                            ("xor", L.xor, 2)]:
        calls = []

        def counting(a, b, calls=calls):
            calls.append((a, b))
            return L.nand(a, b)

        out = fn(*([A, B][:arity]), nand=counting)
        assert out.shape == (4,)
        counts[name] = len(calls)
    assert counts == {"not": 1, "and": 2, "or": 3, "xor": 4}


def test_half_and_full_adders_add_their_input_bits():
    x3 = all_bits(3)
    a, b, c = x3[:, 0], x3[:, 1], x3[:, 2]
    s, carry = L.half_adder(a, b)
    assert (np.asarray(s) + 2 * np.asarray(carry)).tolist() == (a + b).tolist()
    s, carry = L.full_adder(a, b, c)
    assert (np.asarray(s) + 2 * np.asarray(carry)).tolist() == (a + b + c).tolist()


def test_a_perceptron_learns_nand_from_its_truth_table():
    x = jnp.stack([A, B], axis=1).astype(jnp.float32)
    y = 2.0 * L.nand(A, B) - 1.0
    r = P.fit(x, y)
    assert bool(r.converged)
    assert P.predict(r.weights, x).tolist() == y.tolist()


# --- circuits ----------------------------------------------------------------


def test_ripple_carry_adder_has_five_plus_nine_per_bit_nands():
    for n in (1, 2, 8):
        assert len(L.ripple_carry_adder(n).gates) == 5 + 9 * (n - 1)
    assert len(L.ripple_carry_adder(3, carry_in=True).gates) == 27


@pytest.mark.parametrize("n", range(1, 9))
def test_adder_network_equals_integer_addition_on_every_input(n):
    circuit = L.ripple_carry_adder(n)
    net = L.to_network(circuit)
    a, b = np.meshgrid(np.arange(2**n), np.arange(2**n), indexing="ij")
    a, b = jnp.asarray(a.ravel(), jnp.int32), jnp.asarray(b.ravel(), jnp.int32)
    x = jnp.concatenate([L.to_bits(a, n), L.to_bits(b, n)], axis=1)
    assert x.shape == (4**n, 2 * n)  # all 2^(2n) inputs, 65,536 at n = 8
    out = L.apply(net, x)  # one vectorized call
    assert out.shape == (4**n, n + 1)
    np.testing.assert_array_equal(np.asarray(L.from_bits(out)), np.asarray(a + b))


def test_adder_with_carry_in_adds_the_carry():
    n = 3
    circuit = L.ripple_carry_adder(n, carry_in=True)
    x = all_bits(2 * n + 1)  # every (a0 a1 a2, b0 b1 b2, cin)
    a = L.from_bits(x[:, :n])
    b = L.from_bits(x[:, n:2 * n])
    expect = a + b + x[:, 2 * n]
    for out in (L.evaluate(circuit, x), L.apply(L.to_network(circuit), x)):
        np.testing.assert_array_equal(np.asarray(L.from_bits(out)), np.asarray(expect))


def test_to_network_agrees_with_gate_by_gate_evaluation_on_random_circuits():
    rng = np.random.default_rng(0)
    for _ in range(12):
        n_in = int(rng.integers(1, 5))
        inputs = [f"x{i}" for i in range(n_in)]
        wires = list(inputs)
        gates = []
        for g in range(int(rng.integers(1, 25))):
            a, b = rng.choice(wires, size=2)
            gates.append((f"w{g}", str(a), str(b)))
            wires.append(f"w{g}")
        outputs = [str(w) for w in rng.choice(wires, size=int(rng.integers(1, 4)))]
        c = L.Circuit(inputs, gates, outputs)
        x = all_bits(n_in)
        np.testing.assert_array_equal(np.asarray(L.apply(L.to_network(c), x)),
                                      np.asarray(L.evaluate(c, x)))


def test_to_network_has_one_layer_per_depth_and_passes_skipping_wires_through():
    # out = NAND(NOT a, a): a must skip layer 1 through an identity unit
    c = L.Circuit(["a"], [("na", "a", "a"), ("out", "na", "a")], ["out"])
    net = L.to_network(c)
    assert len(net) == 2
    assert net[0]["W"].tolist() == [[2.0], [-4.0]] and net[0]["b"].tolist() == [-1.0, 3.0]
    assert net[1]["W"].tolist() == [[-2.0, -2.0]] and net[1]["b"].tolist() == [3.0]
    assert L.apply(net, jnp.array([[0], [1]])).tolist() == [[1.0], [1.0]]


def test_to_network_params_run_in_fnn_mlp_with_step_activations():
    nn = pytest.importorskip("fnn.nn")
    c = L.ripple_carry_adder(3)
    net = L.to_network(c)
    sizes = (net[0]["W"].shape[1],) + tuple(layer["W"].shape[0] for layer in net)
    mlp = nn.MLP(sizes, hidden="step", output="step")
    x = all_bits(6).astype(jnp.float32)
    np.testing.assert_array_equal(np.asarray(mlp.apply(net, x)), np.asarray(L.evaluate(c, x)))


# --- step networks for non-separable sets ------------------------------------


def test_two_layer_step_network_computes_xor_which_no_perceptron_can():
    x = jnp.stack([A, B], axis=1)
    assert L.apply(L.xor_network(), x)[:, 0].tolist() == [0.0, 1.0, 1.0, 0.0]
    s = P.is_linearly_separable(x.astype(jnp.float32), jnp.array([-1.0, 1.0, 1.0, -1.0]),
                                max_epochs=200)
    assert not bool(s.separable)


def convex_polygon(rng, m):
    """m points on an ellipse at sorted random angles: a strictly convex polygon."""
    t = np.sort(rng.uniform(0, 2 * np.pi, size=m))
    c, r = rng.uniform(-1, 1, size=2), rng.uniform(0.5, 2.0, size=2)
    return np.stack([c[0] + r[0] * np.cos(t), c[1] + r[1] * np.sin(t)], axis=1)


def inside_by_ray_casting(poly, pts):
    """Even-odd rule, an independent point-in-polygon reference."""
    inside = np.zeros(len(pts), bool)
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0)):
        crosses = (y1 > pts[:, 1]) != (y2 > pts[:, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = x1 + (pts[:, 1] - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (pts[:, 0] < xi)
    return inside


@pytest.mark.parametrize("seed", range(5))
def test_convex_zone_network_classifies_inside_and_outside_a_random_polygon(seed):
    rng = np.random.default_rng(seed)
    poly = convex_polygon(rng, int(rng.integers(3, 12)))
    if seed % 2:
        poly = poly[::-1]  # clockwise order works too
    pts = rng.uniform(-3, 3, size=(4000, 2))
    want = inside_by_ray_casting(poly, pts)
    assert 0 < want.sum() < len(pts)
    got = np.asarray(L.apply(L.convex_polygon_network(poly), jnp.asarray(pts, jnp.float32)))
    np.testing.assert_array_equal(got[:, 0].astype(bool), want)


# --- bad input ---------------------------------------------------------------


def test_adder_of_zero_bits_is_rejected():
    with pytest.raises(ValueError, match="n must be an integer >= 1.*got 0"):
        L.ripple_carry_adder(0)


def test_circuit_with_a_cycle_is_rejected():
    with pytest.raises(ValueError, match="circuit has a cycle: .*u -> v -> u|v -> u -> v"):
        L.Circuit(["a"], [("u", "a", "v"), ("v", "u", "a")], ["v"])
    with pytest.raises(ValueError, match="circuit has a cycle: s -> s"):
        L.Circuit(["a"], [("s", "s", "a")], ["s"])


def test_circuit_with_a_dangling_input_is_rejected():
    with pytest.raises(ValueError, match="reads the dangling wire 'ghost'"):
        L.Circuit(["a", "b"], [("g", "a", "ghost")], ["g"])
    with pytest.raises(ValueError, match="output 'h' is neither an input nor a gate output"):
        L.Circuit(["a", "b"], [("g", "a", "b")], ["h"])


def test_circuit_driving_a_wire_twice_is_rejected():
    with pytest.raises(ValueError, match="wire 'a' is driven twice"):
        L.Circuit(["a", "b"], [("a", "a", "b")], ["a"])


def test_non_bit_inputs_and_non_convex_polygons_are_rejected():
    with pytest.raises(ValueError, match="a and b must hold bits 0/1"):
        L.nand(jnp.array([0, 2]), jnp.array([1, 1]))
    with pytest.raises(ValueError, match=r"x must be \(batch, 2\) bits"):
        L.evaluate(L.ripple_carry_adder(1), jnp.zeros((3, 3)))
    star = np.array([[np.cos(t), np.sin(t)] for t in 4 * np.pi / 5 * np.arange(5)])
    with pytest.raises(ValueError, match="strictly convex polygon.*winding number 2"):
        L.convex_polygon_network(star)
    with pytest.raises(ValueError, match="strictly convex"):
        L.convex_polygon_network(np.array([[0, 0], [2, 0], [1, 0.2], [2, 2], [0, 2]]))
