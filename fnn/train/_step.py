"""One training step and one epoch: the compiled update and the scanned pass over the data.

Notes, "Gradient descent", "Stochastic gradient descent" and "Algorithm:
Gradient descent + Backpropagation". One step on a mini-batch
``(x_1..x_m, y_1..y_m)`` is

    C, grad C   = backprop (BP1-BP4) or jax.grad of C = (1/m) sum_j C_{x_j}
    Delta w     = optimizer(grad C)          e.g. -eta grad C for plain SGD
    w'          = w + Delta w

and an epoch is one pass over the training set shuffled with
``fold_in(state.key, state.step)``, in ``n // m`` mini-batches (the remainder
is dropped), compiled as one ``lax.scan`` with the data on the device.

The guard (a population's, :func:`guard`) applies an update only if
``C`` and ``w'`` are finite: ``w <- ok ? w' : w``; the guarded epoch is the
same epoch with the guarded step.

Data parallel: with a mesh (a 1-D :class:`jax.sharding.Mesh` with axis
``"data"``) the data and the state are replicated and each mini-batch is
split along its example axis; the compiler inserts the all-reduce of the
gradients. ``m`` must be a multiple of the number of devices.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.typing import ArrayLike

from fnn import backprop as _backprop
from fnn import batching as _batching
from fnn import costs as _costs
from fnn import optim as _optim
from fnn import parallel as _parallel
from fnn._validate import check_int
from fnn.nn import MLP
from fnn.train import _setup
from fnn.train._setup import Setup
from fnn.train._state import Metrics, TrainState, check_state

Array = jax.Array


def rate(opt_state: Any) -> Array:
    """The rate the next update uses, or NaN for an optimizer without a single ``scale``."""
    try:
        return jnp.asarray(_optim.current_rate(opt_state)).astype(jnp.float32)
    except ValueError:  # structural, so decided once at trace time
        return jnp.full((), jnp.nan, jnp.float32)


def cast_floats(tree: Any, dtype: Any) -> Any:
    return jax.tree_util.tree_map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def all_finite(tree: Any) -> Array:
    """One boolean: every floating leaf of ``tree`` is finite (traceable)."""
    leaves = [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(a.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def update_fn(s: Setup) -> Callable:
    """The pure update ``(state, x, y) -> (state, Metrics, C)``, ``C`` the cost in its compute dtype.

    ``precision="bfloat16"`` (mixed precision): the parameters, the batch-norm
    statistics and the batch are cast to bfloat16 for the forward and backward
    pass, and the gradient and the new statistics back to the parameters'
    dtype, so the update and the optimizer's state stay in float32.
    """
    net, cost, optimizer = s.net, s.cost, s.optimizer

    def update(state: TrainState, x: Array, y: Array):
        dtype = jax.tree_util.tree_leaves(state.params)[0].dtype
        compute = jnp.bfloat16 if s.precision == "bfloat16" else dtype
        w, net_state = cast_floats(state.params, compute), cast_floats(state.net_state, compute)
        x = x.astype(compute)
        y = y.astype(compute) if jnp.issubdtype(y.dtype, jnp.floating) else y
        value, grads, net_state = _backprop.value_grad_and_state(net, cost, w, net_state, x, y, method=s.grad)
        grads, net_state = cast_floats(grads, dtype), cast_floats(net_state, dtype)  # no-ops at float32
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = _optim.apply_updates(state.params, updates)
        # The same forward pass the gradient computed (XLA merges the duplicate):
        # the batch accuracy costs an argmax, not a second forward pass.
        out = net.forward(w, x, cast_floats(state.net_state, compute), train=True).z[-1]
        metrics = Metrics(cost=value.astype(jnp.float32), accuracy=_costs.accuracy(out, y), rate=rate(state.opt_state))
        return TrainState(params, opt_state, net_state, state.step + 1, state.key), metrics, value

    return update


def step_fn(s: Setup) -> Callable:
    """The pure step ``(state, x, y) -> (state, Metrics)``."""
    update = update_fn(s)

    def step(state: TrainState, x: Array, y: Array) -> tuple[TrainState, Metrics]:
        new, metrics, _ = update(state, x, y)
        return new, metrics

    return step


def guard(update: Callable) -> Callable:
    """The guarded step ``(state, x, y, live) -> (state, Metrics, ok)`` of an :func:`update_fn`:
    ``ok = live & isfinite(C) & isfinite(w')``; where not ``ok`` the state is returned unchanged."""

    def step(state: TrainState, x: Array, y: Array, live: Array):
        new, metrics, value = update(state, x, y)
        ok = live & jnp.isfinite(value) & all_finite(new.params)
        return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, state), metrics, ok

    return step


#: An epoch gathers the rows of several mini-batches at once, up to this many bytes (a population's
#: group of members shares them; see :func:`gather_block`).
GATHER_BYTES = 4 * 2**20


def gather_block(n_batches: int, batch_bytes: int, budget: int = GATHER_BYTES) -> int:
    """How many mini-batches an epoch gathers at once: the largest divisor of ``n_batches`` whose
    mini-batches hold at most ``budget`` bytes (at least 1).

    A gather per mini-batch costs a few microseconds of dispatch on a CPU, as much as the rest of a
    small step. Measured on 2 cores beside a plain-JAX epoch that gathers its whole shuffled epoch
    first (``benchmarks/train.py``'s): 784-30-10 at ``m = 10`` (2,000 mini-batches) ran at 0.80-0.85x
    that epoch with one gather per mini-batch, 1.00x in blocks of 5, 1.08x of 25, 1.10-1.16x of 100
    (3 MB), 1.13x of 400 (12.5 MB) and 0.95x gathering the whole epoch at once; 784-1024-1024-10 at
    ``m = 128`` ran at 1.03-1.05x whatever the block. A divisor, so that the blocks are all alike
    and the step is compiled once; a block copies at most ``budget`` bytes, not the epoch."""
    fit = max(1, min(n_batches, budget // max(batch_bytes, 1)))
    return max(d for d in range(1, fit + 1) if n_batches % d == 0)


def row_bytes(x: Array) -> int:
    """The bytes of one example of ``x`` (its rows along the first axis)."""
    return math.prod(x.shape[1:]) * jnp.dtype(x.dtype).itemsize


def scan_batches(body: Callable, carry: Any, x: Array, y: Array, idx: Array, block: int) -> tuple[Any, Any]:
    """``lax.scan`` of ``body(carry, (xb, yb))`` over the mini-batches ``idx`` ``(n_batches, m)``, their
    rows gathered ``block`` mini-batches at a time (``block`` divides ``n_batches``)."""
    nb, m = idx.shape

    def run_block(c: Any, ib: Array):
        rows = ib.reshape(-1)
        xs = jnp.take(x, rows, axis=0).reshape((block, m) + x.shape[1:])
        ys = jnp.take(y, rows, axis=0).reshape((block, m) + y.shape[1:])
        return jax.lax.scan(body, c, (xs, ys))

    carry, out = jax.lax.scan(run_block, carry, idx.reshape(nb // block, block, m))
    return carry, jax.tree_util.tree_map(lambda a: a.reshape((nb,) + a.shape[2:]), out)


def epoch_fn(s: Setup, guarded: bool = False, shard_batches: bool = True, gather_bytes: int = GATHER_BYTES) -> Callable:
    """The ONE epoch: ``(state, x, y) -> (state, Metrics of (n_batches,) arrays)``, or guarded
    ``(state, diverged, x, y) -> (state, diverged, Metrics)``.

    Guarded, ``diverged`` (-1 while every update was applied) becomes the
    number of the first update not applied, and the costs of updates not
    applied are NaN. ``shard_batches``: split each mini-batch over
    ``s.mesh`` (data parallel); a population's mesh shards members instead.
    Without a mesh the rows of :func:`gather_block` mini-batches (``gather_bytes``: its budget;
    0: one mini-batch at a time) are gathered at once; the mini-batches and their order are the same.
    """
    mesh = s.mesh if shard_batches else None
    step = guard(update_fn(s)) if guarded else step_fn(s)

    def batches(state: TrainState, x: Array):
        key = jax.random.fold_in(state.key, state.step)
        return _batching.batch_indices(x.shape[0], s.batch_size, key=key)  # (n_batches, m), shuffled

    def take(x: Array, y: Array, idx: Array) -> tuple[Array, Array]:
        # Gather this mini-batch only: no shuffled copy of the whole set per epoch.
        xb, yb = jnp.take(x, idx, axis=0), jnp.take(y, idx, axis=0)
        if mesh is not None:
            xb = jax.lax.with_sharding_constraint(xb, mesh.batch)
            yb = jax.lax.with_sharding_constraint(yb, mesh.batch)
        return xb, yb

    def block_of(x: Array, idx: Array) -> int:
        if mesh is not None or gather_bytes <= 0:
            return 1
        return gather_block(idx.shape[0], idx.shape[1] * row_bytes(x), gather_bytes)

    def over_batches(body: Callable, carry: Any, x: Array, y: Array, idx: Array):
        # lax.scan of body(carry, (xb, yb)) over the mini-batches, gathered in blocks where allowed
        block = block_of(x, idx)
        if block > 1:
            return scan_batches(body, carry, x, y, idx, block)
        return jax.lax.scan(lambda c, i: body(c, take(x, y, i)), carry, idx)

    def epoch(state: TrainState, x: Array, y: Array):
        return over_batches(lambda st, b: step(st, *b), state, x, y, batches(state, x))

    def guarded_epoch(state: TrainState, diverged: Array, x: Array, y: Array):
        def body(carry, batch):
            st, d = carry
            st, metrics, ok = step(st, *batch, d < 0)
            d = jnp.where((d < 0) & ~ok, st.step + 1, d)  # st is the unchanged state where not ok
            return (st, d), metrics._replace(cost=jnp.where(ok, metrics.cost, jnp.nan))

        (state, diverged), metrics = over_batches(body, (state, diverged), x, y, batches(state, x))
        return state, diverged, metrics

    return guarded_epoch if guarded else epoch


def run_epoch(s: Setup, state: TrainState, x: Array, y: Array) -> tuple[TrainState, Metrics]:
    # A module-level function so tests can wrap it with chex.assert_max_traces.
    return epoch_fn(s)(state, x, y)


def jit_epoch(s: Setup, donate: bool) -> Callable:
    """The jitted epoch of :func:`make_epoch` for a checked setup."""
    kwargs: dict[str, Any] = {"donate_argnums": (0,)} if donate else {}
    if s.mesh is not None:
        kwargs.update(
            in_shardings=(s.mesh.replicated, s.mesh.replicated, s.mesh.replicated),
            out_shardings=(s.mesh.replicated, s.mesh.replicated),
        )
    return jax.jit(lambda state, x, y: run_epoch(s, state, x, y), **kwargs)


# --------------------------------------------------------------------------
# the public doors


def make_step(
    net: MLP,
    cost: str | _costs.Cost,
    optimizer: _optim.Transform,
    grad: str = "backprop",
    devices: Sequence[Any] | Mesh | None = None,
    precision: str = "float32",
) -> Callable[[TrainState, ArrayLike, ArrayLike], tuple[TrainState, Metrics]]:
    """A jitted, pure training step ``step(state, x, y) -> (state, metrics)``.

    One update of "Algorithm: Gradient descent + Backpropagation" on the
    mini-batch ``x`` ``(m, n_0)``, ``y`` ``(m,)`` labels or ``(m, n_L)`` targets:
    ``C, g = grad C(w)``; ``Delta w, opt_state = optimizer(g)``; ``w' = w + Delta w``.
    ``grad="backprop"`` uses BP1-BP4 by hand, ``"autodiff"`` ``jax.grad``: same
    result to rounding, same speed. ``metrics`` is :class:`Metrics` of scalars.

    With ``devices`` (a list or a 1-D ``Mesh`` with axis ``"data"``) the batch
    is split over the devices and the state is replicated (see the module
    docstring); ``m`` must be a multiple of the number of devices.
    """
    s = _setup.make_setup(net, cost, optimizer, grad, precision, devices=devices)
    mesh = s.mesh

    def step(state, x, y):
        return step_fn(s)(state, x, y)

    if mesh is None:
        jitted = jax.jit(step)
    else:
        jitted = jax.jit(step, in_shardings=(mesh.replicated, mesh.batch, mesh.batch),
                         out_shardings=(mesh.replicated, mesh.replicated))

    @functools.wraps(step)
    def run(state: TrainState, x: ArrayLike, y: ArrayLike) -> tuple[TrainState, Metrics]:
        state = check_state(state)
        if mesh is not None and jnp.shape(x)[0] % _parallel.n_devices(mesh):
            raise ValueError(
                f"x must hold a multiple of the {_parallel.n_devices(mesh)} devices' count of examples, "
                f"got {jnp.shape(x)[0]}"
            )
        return jitted(state, x, y)

    run.jitted = jitted  # for inspection (e.g. jitted._cache_size())
    return run


def make_epoch(
    net: MLP,
    cost: str | _costs.Cost,
    optimizer: _optim.Transform,
    batch_size: int,
    grad: str = "backprop",
    devices: Sequence[Any] | Mesh | None = None,
    donate: bool = False,
    precision: str = "float32",
) -> Callable[[TrainState, Array, Array], tuple[TrainState, Metrics]]:
    """One epoch as one jitted ``lax.scan``: ``epoch(state, x, y) -> (state, metrics)``.

    Notes, "Stochastic gradient descent": the ``n`` examples are shuffled with
    ``jax.random.permutation(fold_in(state.key, state.step), n)``, cut into
    ``n // batch_size`` mini-batches (the last ``n mod batch_size`` of the
    shuffled order are dropped) and the step of :func:`make_step` is scanned
    over them. ``x`` ``(n, n_0)`` and ``y`` should already be on the device
    (``jax.device_put``); nothing returns to the host until the epoch ends.
    ``metrics`` holds ``(n_batches,)`` arrays, one entry per step.

    ``donate=True`` lets XLA reuse the input state's buffers for the output
    (the state passed in is then invalid). ``devices``: data parallel, as in
    :func:`make_step`; ``precision``: see ``PRECISIONS``.
    """
    s = _setup.make_setup(net, cost, optimizer, grad, precision, batch_size, devices)
    donate = _setup.check_bool(donate, "donate")
    _parallel.check_divisible(s.batch_size, s.mesh, "batch_size", "")
    jitted = jit_epoch(s, donate)

    def run(state: TrainState, x: Array, y: Array) -> tuple[TrainState, Metrics]:
        state = check_state(state)
        check_int(s.batch_size, "batch_size", 1, jnp.shape(x)[0], " (the number of examples)")
        if donate:
            state = unalias(state)
        return jitted(state, x, y)

    run.jitted = jitted
    run.batch_size = s.batch_size
    run.mesh = s.mesh
    return run


def unalias(tree: Any) -> Any:
    """Copy leaves that appear more than once (e.g. Adam's ``m`` and ``v`` start as one zeros
    array): a buffer cannot be donated twice."""
    seen: set[int] = set()

    def fresh(a):
        if id(a) in seen:
            return jnp.array(a, copy=True)
        seen.add(id(a))
        return a

    return jax.tree_util.tree_map(fresh, tree)
