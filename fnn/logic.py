"""NAND perceptrons, circuits of them, and the step networks they translate to.

Notes, "Multilayer neural networks" (the NAND paragraph) and "Multilayer
networks" ("with enough hidden units, the network can discriminate a convex
zone"). Uses :mod:`fnn.perceptron` and nothing else of fnn.

* :func:`nand` is the perceptron with weights ``(-2, -2)`` and bias ``3`` on
  inputs in {0, 1}. Its output is read in {0, 1} (``1`` where the net input
  is ``> 0``), so that NANDs compose.
* :func:`not_`, :func:`and_`, :func:`or_`, :func:`xor`, :func:`half_adder`,
  :func:`full_adder` and :func:`add` are written with ``nand`` calls only.
  Each takes the NAND to use as its last argument: the default evaluates on
  arrays; :func:`trace` passes a recording NAND and gets a :class:`Circuit`.
* A :class:`Circuit` has named inputs, NAND gates that read earlier wires,
  and named outputs; :func:`evaluate` runs it gate by gate, and
  :func:`to_network` turns it into a layered network of step perceptrons
  (``params`` as in ``fnn.nn``: a tuple of ``{"W": (n_out, n_in), "b": (n_out,)}``)
  that :func:`apply` evaluates on a whole batch at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fnn import perceptron

Array = jax.Array
Params = tuple[dict[str, Array], ...]

__all__ = [
    "Circuit",
    "NAND_WEIGHTS",
    "add",
    "and_",
    "apply",
    "convex_polygon_network",
    "convex_zone_network",
    "evaluate",
    "from_bits",
    "full_adder",
    "half_adder",
    "nand",
    "not_",
    "or_",
    "ripple_carry_adder",
    "to_bits",
    "to_network",
    "trace",
    "xor",
    "xor_network",
]

#: The NAND perceptron in the augmented form of :mod:`fnn.perceptron`:
#: ``w0 = b = 3``, ``w1 = w2 = -2``.
NAND_WEIGHTS = (3.0, -2.0, -2.0)


# --------------------------------------------------------------------------
# gates on arrays, from NAND alone


def nand(a: ArrayLike, b: ArrayLike) -> Array:
    """NAND of bits: the perceptron ``(-2, -2) . (a, b) + 3 > 0``.

    Notes, "Multilayer neural networks". ``a``, ``b``: arrays of 0/1 (any
    numeric or bool dtype, same shape). Returns float32 0/1: the perceptron's
    {-1, +1} output (:func:`fnn.perceptron.predict`) mapped to {0, 1}.
    """
    a = jnp.asarray(a)
    b = jnp.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    x = jnp.stack([a.astype(jnp.float32).ravel(), b.astype(jnp.float32).ravel()], axis=1)
    bad = (x != 0) & (x != 1)
    if bool(jnp.any(bad)):
        raise ValueError(f"a and b must hold bits 0/1, got {np.unique(np.asarray(x[bad]))[:5].tolist()}")
    out = perceptron.predict(jnp.asarray(NAND_WEIGHTS, jnp.float32), x)
    return ((out + 1.0) / 2.0).reshape(a.shape)


def _nand(a: Array, b: Array) -> Array:
    # the same perceptron on validated float 0/1 arrays, without host syncs
    w0, w1, w2 = NAND_WEIGHTS
    z = w0 + w1 * a + w2 * b
    return jnp.where(z > 0, jnp.ones_like(z), jnp.zeros_like(z))


#: A wire: an array of 0/1 bits when evaluating, a wire name when :func:`trace` records a circuit.
Wire = Any
Nand = Callable[[Wire, Wire], Wire]


def not_(a: Wire, nand: Nand = nand) -> Wire:
    """NOT a = NAND(a, a)."""
    return nand(a, a)


def and_(a: Wire, b: Wire, nand: Nand = nand) -> Wire:
    """a AND b = NOT NAND(a, b)  (2 NANDs)."""
    return not_(nand(a, b), nand)


def or_(a: Wire, b: Wire, nand: Nand = nand) -> Wire:
    """a OR b = NAND(NOT a, NOT b)  (3 NANDs, De Morgan)."""
    return nand(not_(a, nand), not_(b, nand))


def xor(a: Wire, b: Wire, nand: Nand = nand) -> Wire:
    """a XOR b with 4 NANDs: t = NAND(a, b); NAND(NAND(a, t), NAND(b, t))."""
    t = nand(a, b)
    return nand(nand(a, t), nand(b, t))


def half_adder(a: Wire, b: Wire, nand: Nand = nand) -> tuple[Wire, Wire]:
    """``(sum, carry) = (a XOR b, a AND b)`` with 5 NANDs (the XOR's first NAND is shared)."""
    t = nand(a, b)
    return nand(nand(a, t), nand(b, t)), nand(t, t)


def full_adder(a: Wire, b: Wire, c: Wire, nand: Nand = nand) -> tuple[Wire, Wire]:
    """``(sum, carry)`` of ``a + b + c`` with the classic 9 NANDs.

    ``s1 = a XOR b`` (4 NANDs around ``t1 = NAND(a, b)``), ``sum = s1 XOR c``
    (4 NANDs around ``t4 = NAND(s1, c)``), ``carry = NAND(t1, t4)``
    ``= (a AND b) OR (s1 AND c)``.
    """
    t1 = nand(a, b)
    s1 = nand(nand(a, t1), nand(b, t1))
    t4 = nand(s1, c)
    s = nand(nand(s1, t4), nand(c, t4))
    return s, nand(t1, t4)


def add(a_bits: Sequence[Wire], b_bits: Sequence[Wire], carry_in: Wire | None = None, nand: Nand = nand) -> list[Wire]:
    """Ripple-carry addition of two little-endian bit vectors (bit 0 first).

    A half adder on bit 0 (or a full adder with ``carry_in``), then a full
    adder per bit passing its carry on. Returns ``n + 1`` bits: the ``n`` sum
    bits, then the carry out.
    """
    if len(a_bits) != len(b_bits) or len(a_bits) < 1:
        raise ValueError(
            f"a_bits and b_bits must have the same length >= 1, got {len(a_bits)} and {len(b_bits)}"
        )
    if carry_in is None:
        s, c = half_adder(a_bits[0], b_bits[0], nand)
    else:
        s, c = full_adder(a_bits[0], b_bits[0], carry_in, nand)
    out = [s]
    for a, b in zip(a_bits[1:], b_bits[1:]):
        s, c = full_adder(a, b, c, nand)
        out.append(s)
    return out + [c]


# --------------------------------------------------------------------------
# circuits


@dataclass(frozen=True)
class Circuit:
    """A NAND circuit.

    inputs:  names of the input wires, in the order of the input columns.
    gates:   ``(out, a, b)`` triples: wire ``out = NAND(a, b)``; ``a`` and
             ``b`` name an input or the output of an earlier gate.
    outputs: names of the wires read out, in the order of the output columns.

    Construction checks it: unique wire names, every gate input defined (no
    dangling wire), no cycle (a gate may only read earlier wires; a
    reference to a later one is reported as a cycle when it closes one),
    every output defined. Violations raise ``ValueError`` naming the wire.
    """

    inputs: tuple[str, ...]
    gates: tuple[tuple[str, str, str], ...]
    outputs: tuple[str, ...]

    def __post_init__(self):
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "gates", tuple(tuple(g) for g in self.gates))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        _check_circuit(self)

    def depth(self) -> dict[str, int]:
        """Depth of every wire: 0 for inputs, 1 + max(depth of its inputs) for a gate."""
        d = {name: 0 for name in self.inputs}
        for out, a, b in self.gates:
            d[out] = 1 + max(d[a], d[b])
        return d


def _check_circuit(c: Circuit) -> None:
    for name in c.inputs + tuple(w for g in c.gates for w in g) + c.outputs:
        if not isinstance(name, str) or not name:
            raise ValueError(f"circuit wire names must be non-empty strings, got {name!r}")
    for g in c.gates:
        if len(g) != 3:
            raise ValueError(f"circuit gates must be (out, a, b) triples, got {g!r}")
    if len(set(c.inputs)) != len(c.inputs):
        dup = sorted({n for n in c.inputs if c.inputs.count(n) > 1})
        raise ValueError(f"circuit inputs must have unique names, got duplicates {dup}")
    driver: dict[str, tuple[str, str]] = {}
    for out, a, b in c.gates:
        if out in c.inputs or out in driver:
            raise ValueError(f"circuit wire {out!r} is driven twice (input or earlier gate)")
        driver[out] = (a, b)
    known = set(c.inputs) | set(driver)
    for out, a, b in c.gates:
        for w in (a, b):
            if w not in known:
                raise ValueError(
                    f"circuit gate {out!r} reads the dangling wire {w!r}: it is neither an "
                    f"input nor a gate output"
                )
    for w in c.outputs:
        if w not in known:
            raise ValueError(f"circuit output {w!r} is neither an input nor a gate output")
    # a gate must read earlier wires; find a cycle among those that do not
    seen = set(c.inputs)
    for out, a, b in c.gates:
        for w in (a, b):
            if w not in seen:
                cycle = _find_cycle(driver, out)
                if cycle:
                    raise ValueError(f"circuit has a cycle: {' -> '.join(cycle)}")
                raise ValueError(
                    f"circuit gate {out!r} reads wire {w!r} before the gate that drives it; "
                    f"list gates in order"
                )
        seen.add(out)


def _find_cycle(driver: dict[str, tuple[str, str]], start: str) -> list[str]:
    """A cycle through the gate graph reachable from ``start`` (wire names), or []."""
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(w: str) -> list[str]:
        if w in on_path:
            return path[path.index(w):] + [w]
        if w in done or w not in driver:
            return []
        path.append(w)
        on_path.add(w)
        for v in driver[w]:
            found = visit(v)
            if found:
                return found
        path.pop()
        on_path.discard(w)
        done.add(w)
        return []

    return visit(start)


def trace(fn: Callable, inputs: Sequence[str], outputs: Sequence[str] | None = None) -> Circuit:
    """Record the NAND circuit that ``fn`` builds.

    ``fn`` takes one wire per name in ``inputs`` and a ``nand`` keyword (like
    the gates above) and returns a wire or a sequence of wires, which become
    the circuit's outputs. Gates are named ``g0, g1, ...``; ``outputs``, if
    given, renames the returned gate wires (a returned input wire, or a wire
    returned twice, keeps its first name). Example::

        >>> trace(lambda a, b, nand: xor(a, b, nand), ["a", "b"]).gates[0]
        ('g0', 'a', 'b')
    """
    gates: list[tuple[str, str, str]] = []

    def record(a: str, b: str) -> str:
        name = f"g{len(gates)}"
        gates.append((name, a, b))
        return name

    result = fn(*inputs, nand=record)
    wires = [result] if isinstance(result, str) else list(result)
    if outputs is not None and len(outputs) != len(wires):
        raise ValueError(f"outputs must name {len(wires)} wires, got {len(outputs)}")
    # rename the output wires so that circuit outputs carry the given names
    if outputs is not None:
        rename = {}
        for w, o in zip(wires, outputs):
            if w in rename or w in inputs:
                continue  # an output that is an input or repeats: keep its wire name
            rename[w] = o
        gates = [(rename.get(o, o), rename.get(a, a), rename.get(b, b)) for o, a, b in gates]
        wires = [rename.get(w, w) for w in wires]
    return Circuit(tuple(inputs), tuple(gates), tuple(wires))


def ripple_carry_adder(n: int, carry_in: bool = False) -> Circuit:
    """The ``n``-bit ripple-carry adder as a NAND circuit.

    Inputs ``a0..a{n-1}, b0..b{n-1}`` (little-endian, bit 0 first), then
    ``cin`` if ``carry_in``; outputs ``s0..s{n-1}, cout``, so that
    ``from_bits(outputs) = a + b (+ cin)``. 5 + 9 (n - 1) NANDs (9 n with
    ``carry_in``).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an integer >= 1 (bits per operand), got {n!r}")
    if n < 1:
        raise ValueError(f"n must be an integer >= 1 (bits per operand), got {n}")
    n = int(n)
    names = [f"a{i}" for i in range(n)] + [f"b{i}" for i in range(n)]
    names += ["cin"] if carry_in else []
    outs = [f"s{i}" for i in range(n)] + ["cout"]

    def fn(*wires, nand):
        cin = wires[2 * n] if carry_in else None
        return add(wires[:n], wires[n:2 * n], cin, nand)

    return trace(fn, names, outs)


def _check_bits(x: ArrayLike, width: int, name: str) -> Array:
    xa = jnp.asarray(x)
    if xa.ndim != 2 or xa.shape[1] != width:
        raise ValueError(f"{name} must be (batch, {width}) bits, got shape {xa.shape}")
    xa = xa.astype(jnp.float32)
    if not bool(jnp.all((xa == 0) | (xa == 1))):
        raise ValueError(f"{name} must hold bits 0/1")
    return xa


def evaluate(circuit: Circuit, x: ArrayLike) -> Array:
    """Run ``circuit`` gate by gate with :func:`nand`: ``(batch, n_inputs) -> (batch, n_outputs)``.

    (The bits are checked once; each gate then applies the NAND perceptron's
    weights directly.)

    The reference against which :func:`to_network` is tested.
    """
    xa = _check_bits(x, len(circuit.inputs), "x")
    wire = {name: xa[:, i] for i, name in enumerate(circuit.inputs)}
    for out, a, b in circuit.gates:
        wire[out] = _nand(wire[a], wire[b])
    return jnp.stack([wire[o] for o in circuit.outputs], axis=1)


# --------------------------------------------------------------------------
# step networks


def to_network(circuit: Circuit) -> Params:
    """Translate a NAND circuit into a layered network of step perceptrons.

    Notes: "any NAND-only complex circuit can be translated into a perceptron
    NN". Layer ``l`` (``1..L``, ``L`` the depth of the deepest output) holds
    one unit per gate of depth ``l`` still needed, with weight ``-2`` from
    each of its inputs (``-4`` for ``NAND(a, a)``) and bias ``3``; a wire
    needed later than the layer after it is carried through identity units
    (weight ``2``, bias ``-1``: 0 -> 0, 1 -> 1). The last layer's units are
    the circuit's outputs in order. Every unit's net input is ``+-1`` or
    ``+-3``, never 0.

    Returns ``params``: a tuple of ``{"W": (n_out, n_in), "b": (n_out,)}``
    float32, the layout of ``fnn.nn``, evaluated by :func:`apply` (or an
    ``fnn.nn.MLP`` with step activations).
    """
    if not isinstance(circuit, Circuit):
        raise TypeError(f"circuit must be a Circuit, got {type(circuit).__name__}")
    depth = circuit.depth()
    gate = {out: (a, b) for out, a, b in circuit.gates}
    n_layers = max([depth[o] for o in circuit.outputs] + [1])
    # last layer that reads each wire (a gate of depth l reads at layer l)
    last_use: dict[str, int] = {}
    for out, a, b in circuit.gates:
        for w in (a, b):
            last_use[w] = max(last_use.get(w, 0), depth[out])
    for o in circuit.outputs:
        last_use[o] = n_layers + 1
    prev = list(circuit.inputs)
    params = []
    for l in range(1, n_layers + 1):
        if l == n_layers:
            units = list(circuit.outputs)
        else:
            units = [w for w in sorted(last_use, key=_order(circuit))
                     if depth[w] <= l < last_use[w]]
        index = {w: i for i, w in enumerate(prev)}
        W = np.zeros((len(units), len(prev)), np.float32)
        b = np.zeros((len(units),), np.float32)
        for j, w in enumerate(units):
            if depth[w] == l:  # the gate itself
                a_, b_ = gate[w]
                W[j, index[a_]] += -2.0
                W[j, index[b_]] += -2.0
                b[j] = 3.0
            else:  # carried through
                W[j, index[w]] = 2.0
                b[j] = -1.0
        params.append({"W": jnp.asarray(W), "b": jnp.asarray(b)})
        prev = units
    return tuple(params)


def _order(circuit: Circuit) -> Callable[[str], int]:
    pos = {name: i for i, name in enumerate(circuit.inputs)}
    pos.update({out: len(pos) + i for i, (out, _, _) in enumerate(circuit.gates)})
    return pos.__getitem__


def apply(params: Params, x: ArrayLike) -> Array:
    """Evaluate a network of step perceptrons: ``z^l = step(z^{l-1} W^l.T + b^l)``.

    ``step(a) = 1`` where ``a > 0``, else 0. ``x``: ``(batch, n_in)``;
    returns ``(batch, n_out)`` float32 0/1. One vectorized call for the batch.
    """
    if not isinstance(params, tuple) or not params:
        raise ValueError(f"params must be a non-empty tuple of layers, got {type(params).__name__}")
    z = jnp.asarray(x)
    if z.ndim != 2 or z.shape[1] != params[0]["W"].shape[1]:
        raise ValueError(
            f"x must be (batch, {params[0]['W'].shape[1]}), got shape {z.shape}"
        )
    return _apply(params, z.astype(jnp.float32))


@jax.jit
def _apply(params: Params, z: Array) -> Array:
    for layer in params:
        a = z @ layer["W"].T + layer["b"][None, :]
        z = jnp.where(a > 0, jnp.ones_like(a), jnp.zeros_like(a))
    return z


def to_bits(values: ArrayLike, n: int) -> Array:
    """Little-endian bits of non-negative integers: ``(batch,) -> (batch, n)`` int32."""
    v = jnp.asarray(values)
    if v.ndim != 1 or not jnp.issubdtype(v.dtype, jnp.integer):
        raise ValueError(f"values must be a 1-D integer array, got shape {v.shape} dtype {v.dtype}")
    if bool(jnp.any(v < 0)) or bool(jnp.any(v >= 2**n)):
        raise ValueError(f"values must lie in [0, 2^{n}), got range [{int(v.min())}, {int(v.max())}]")
    shifts = jnp.arange(n, dtype=v.dtype)
    return ((v[:, None] >> shifts[None, :]) & 1).astype(jnp.int32)


def from_bits(bits: ArrayLike) -> Array:
    """Integers from little-endian bits: ``(batch, n) -> (batch,)`` int32."""
    b = jnp.asarray(bits)
    if b.ndim != 2:
        raise ValueError(f"bits must be (batch, n), got shape {b.shape}")
    weights = (2 ** jnp.arange(b.shape[1], dtype=jnp.int32))
    return jnp.sum(b.astype(jnp.int32) * weights[None, :], axis=1)


def xor_network() -> Params:
    """A two-layer network of step units computing XOR on {0, 1}^2.

    Hidden: ``OR = step(2 x1 + 2 x2 - 1)`` and ``NAND = step(-2 x1 - 2 x2 + 3)``;
    output: ``AND = step(2 h1 + 2 h2 - 3)``. XOR = OR AND NAND: two half-planes
    whose intersection is the band between the lines, what one perceptron
    cannot do (notes, "Multilayer networks").
    """
    return (
        {"W": jnp.array([[2.0, 2.0], [-2.0, -2.0]]), "b": jnp.array([-1.0, 3.0])},
        {"W": jnp.array([[2.0, 2.0]]), "b": jnp.array([-3.0])},
    )


def convex_zone_network(w: ArrayLike, b: ArrayLike) -> Params:
    """Step network for the convex zone ``{x : w_i . x + b_i > 0 for all i}``.

    Notes, "Multilayer networks": "with enough hidden units, the network can
    discriminate a convex zone". One hidden step unit per half-space
    (``w``: ``(m, d)``, ``b``: ``(m,)``) and an output unit that is their AND:
    ``step(sum_i h_i - m + 1/2)``. Output 1 inside, 0 outside.
    """
    wa = jnp.asarray(w, jnp.float32)
    ba = jnp.asarray(b, jnp.float32)
    if wa.ndim != 2 or wa.shape[0] < 1:
        raise ValueError(f"w must be (m, d) half-space normals with m >= 1, got shape {wa.shape}")
    if ba.shape != (wa.shape[0],):
        raise ValueError(f"b must be ({wa.shape[0]},) offsets, got shape {ba.shape}")
    m = wa.shape[0]
    return (
        {"W": wa, "b": ba},
        {"W": jnp.ones((1, m), jnp.float32), "b": jnp.array([0.5 - m], jnp.float32)},
    )


def convex_polygon_network(vertices: ArrayLike) -> Params:
    """Step network classifying the inside of a convex polygon (1 inside, 0 outside).

    ``vertices``: ``(m, 2)``, ``m >= 3``, the corners in order (either
    orientation) of a strictly convex polygon. Edge ``v_i -> v_{i+1}`` gives
    the hidden unit ``step(cross(v_{i+1} - v_i, x - v_i))`` (sign flipped for
    clockwise order): "x is on the inner side of edge i". See
    :func:`convex_zone_network`.
    """
    v = np.asarray(vertices, np.float64)
    if v.ndim != 2 or v.shape[1] != 2 or v.shape[0] < 3:
        raise ValueError(f"vertices must be (m, 2) with m >= 3, got shape {v.shape}")
    e = np.roll(v, -1, axis=0) - v
    turn = e[:, 0] * np.roll(e, -1, axis=0)[:, 1] - e[:, 1] * np.roll(e, -1, axis=0)[:, 0]
    dot = np.sum(e * np.roll(e, -1, axis=0), axis=1)
    winding = np.sum(np.arctan2(turn, dot)) / (2 * np.pi)  # +-1 for a simple convex polygon
    if not (np.all(turn > 0) or np.all(turn < 0)) or not np.isclose(abs(winding), 1.0):
        raise ValueError(
            "vertices must list the corners of a strictly convex polygon in order "
            f"(all turns one way, winding once), got turns {np.sign(turn).astype(int).tolist()} "
            f"and winding number {winding:.2f}"
        )
    sign = 1.0 if turn[0] > 0 else -1.0
    # cross(e, x - v) = e_x (x_y - v_y) - e_y (x_x - v_x)
    w = sign * np.stack([-e[:, 1], e[:, 0]], axis=1)
    b = sign * (e[:, 1] * v[:, 0] - e[:, 0] * v[:, 1])
    return convex_zone_network(w.astype(np.float32), b.astype(np.float32))
