"""Training: jit-compiled steps, epochs as one ``lax.scan``, fit/evaluate, data parallel.

Notes, "Gradient descent", "Stochastic gradient descent" and "Algorithm:
Gradient descent + Backpropagation". One training step on a mini-batch
``(x_1..x_m, y_1..y_m)`` is

    C, grad C   = backprop (BP1-BP4) or jax.grad of C = (1/m) sum_j C_{x_j}
    Delta w     = optimizer(grad C)          e.g. -eta grad C for plain SGD
    w'          = w + Delta w

and an epoch is one pass over the shuffled training set in ``n // m``
mini-batches (the remainder is dropped). Here the whole epoch is one compiled
``lax.scan`` over the mini-batches with the data already on the device, so the
per-step cost is the arithmetic, not Python: even ``m = 1`` (the notes'
pattern-by-pattern updates) runs at compiled speed.

Everything the loop carries is one pytree, :class:`TrainState`
``(params, opt_state, net_state, step, key)``; it is what
:func:`fnn.checkpoint.save` writes. The shuffle of each epoch is drawn from
``fold_in(state.key, state.step)``, a pure function of the state, so resuming
from a checkpoint taken between epochs continues exactly the trajectory of the
uninterrupted run.

Example::

    from fnn import nn, optim, train, data
    x, y = data.load("fashion_mnist", "train")
    net = nn.MLP((784, 256, 256, 10), hidden="relu", output="softmax")
    state, history = train.fit(net, "log_likelihood", optim.adam(1e-3), (x, y),
                               epochs=10, batch_size=128, key=jax.random.key(0))
    test_cost, test_acc = train.evaluate(net, state, *data.load("fashion_mnist", "test"),
                                         "log_likelihood")

Data parallel
-------------
``fit(..., devices=jax.devices())`` (or :func:`make_epoch` / :func:`make_step`
with ``devices=``) builds a 1-D :class:`jax.sharding.Mesh` with axis ``"data"``.
The training set and the :class:`TrainState` are replicated on every device
(``PartitionSpec()``); inside the compiled epoch each mini-batch is split
along its example axis (``PartitionSpec("data")``), so each device computes
the forward and backward pass of ``m / n_devices`` examples and the compiler
inserts the all-reduce that averages the gradients. The batches, the shuffle
and the arithmetic are those of a single device: the trajectory is the same up
to float32 rounding of the reduction order. ``batch_size`` must be a multiple
of the number of devices.

Multi-host: fnn adds no launcher; it runs on JAX's own multi-controller
runtime. Start one Python process per host (SLURM, ``mpirun``, a Kubernetes
job, or by hand) and call :func:`fnn.distributed.initialize` (which wraps
``jax.distributed.initialize``: coordinator ``HOST:PORT``, ``num_processes``,
``process_id``, detected on SLURM/Open MPI/TPU; gloo collectives for CPU
devices) before anything else touches JAX. ``jax.devices()`` then lists the
devices of every process; every process calls :func:`fit` (or
:func:`fit_population`) with ``devices=jax.devices()``, the same arguments and
the same seed, and either the *same* training set or, with
``process_local=True``, its own rows of it (the training set is then the
concatenation of the processes' rows in process order). The state comes back
replicated on every process; only :func:`fnn.distributed.is_writer` (process
0) should write files and checkpoints, and a checkpoint loaded on every
process restores the same replicated state. Before the first collective the
processes all-gather fingerprints of their arguments (data checksums or row
counts, the initial state, epochs, batch size, network), so a process given
another seed or data file raises a ``ValueError`` naming it instead of
hanging; a process that dies makes the others abort after the runtime's
heartbeat timeout. Tested for real (tests/test_multiprocess.py: 2 processes x
2 CPU devices over loopback, with and without ``process_local``): the
trajectory equals one process on 4 devices to float32 round-off (the
all-reduce order differs: 6e-8 on the parameters after 16 steps), both
processes hold bit-identical parameters, only process 0 writes, a two-process
checkpoint loads bit for bit on every process and on one process and continues
the run exactly (two processes) or to round-off (one process), populations
over the 4 global devices equal one process bit for bit, and killing a
process makes the other exit with an error within seconds.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import time
import warnings
import zlib
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.typing import ArrayLike, DTypeLike

from fnn import backprop as _backprop
from fnn import costs as _costs
from fnn import data as _data
from fnn import distributed as _distributed
from fnn import optim as _optim
from fnn import parallel as _parallel
from fnn._validate import check_int
from fnn.nn import MLP, Params

Array = jax.Array

__all__ = [
    "TrainState",
    "Metrics",
    "init_state",
    "make_step",
    "make_epoch",
    "fit",
    "evaluate",
    "fit_population",
    "init_population",
    "member",
    "stack_members",
    "GRAD_METHODS",
]

GRAD_METHODS = ("backprop", "autodiff")
#: Precision policies: ``"float32"`` computes in the parameters' dtype;
#: ``"bfloat16"`` keeps parameters, optimizer state and batch-norm statistics
#: in their dtype (float32) and runs the forward and backward passes — matrix
#: products, activations, BP1-BP4 or jax.grad — in bfloat16.
PRECISIONS = ("float32", "bfloat16")


class TrainState(NamedTuple):
    """Everything a training loop carries, as one pytree.

    Attributes:
      params: the network's parameters (tuple of ``{"W", "b", ...}`` per layer).
      opt_state: the optimizer's state (``optimizer.init(params)``).
      net_state: the network's non-trainable state (batch-norm running
        statistics; ``()`` without batch norm).
      step: int32 scalar, the number of updates done so far.
      key: the run's PRNG key; never consumed: each epoch's shuffle uses
        ``fold_in(key, step)``.
    """

    params: Params
    opt_state: Any
    net_state: Any
    step: Array
    key: Array


class Metrics(NamedTuple):
    """Per-step metrics (scalars for a step, ``(n_batches,)`` arrays for an epoch).

    ``cost``: the mini-batch cost before the update; ``accuracy``: the
    mini-batch accuracy before the update (training mode); ``rate``: the
    learning rate the update used (NaN when the optimizer has no single
    ``scale`` to read it from).
    """

    cost: Array
    accuracy: Array
    rate: Array


# --------------------------------------------------------------------------
# validation (public boundary, outside jit)


def _check_net(net: Any) -> MLP:
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an fnn.nn.MLP, got {type(net).__name__}")
    return net


def _check_optimizer(optimizer: Any) -> Any:
    """An ``fnn.optim.Transform`` or any object with the same protocol (an optax
    ``GradientTransformation`` included): callable ``init(params) -> state`` and
    ``update(grads, state, params) -> (updates, state)``, the updates being
    added to the parameters (they carry the sign)."""
    if isinstance(optimizer, _optim.Transform):
        return optimizer
    if callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None)):
        return optimizer
    raise TypeError(
        "optimizer must be an fnn.optim.Transform (e.g. optim.adam(1e-3)) or an object with "
        f"init(params) and update(grads, state, params) methods, got {type(optimizer).__name__}"
    )


def _check_precision(precision: Any) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    return precision


def _check_grad(grad: Any) -> str:
    if grad not in GRAD_METHODS:
        raise ValueError(f"grad must be one of {list(GRAD_METHODS)}, got {grad!r}")
    return grad


def _check_key(key: Any) -> Array:
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.ndim == 0:
        return key
    if isinstance(key, jax.Array) and key.dtype == jnp.uint32 and key.shape == (2,):
        return jax.random.wrap_key_data(key)
    raise TypeError(
        f"key must be a jax.random key (jax.random.key(seed)), got "
        f"{getattr(key, 'dtype', type(key).__name__)} of shape {getattr(key, 'shape', ())}"
    )


def _check_state(state: Any) -> TrainState:
    if not isinstance(state, TrainState):
        raise TypeError(f"state must be an fnn.train.TrainState (train.init_state(...)), got {type(state).__name__}")
    return state


def _check_data(net: MLP, x: Any, y: Any, name: str = "train") -> tuple[Array, Array]:
    """Place ``(x, y)`` on the device and check them against the network (host-side, once)."""
    if isinstance(x, jax.Array):
        pass
    else:
        x = np.asarray(x)
    if isinstance(y, jax.Array):
        pass
    else:
        y = np.asarray(y)
    if x.ndim != 2 or x.shape[1] != net.sizes[0]:
        raise ValueError(
            f"{name} x must have shape (n, {net.sizes[0]}) (net.sizes[0] = {net.sizes[0]} inputs), got shape {x.shape}"
        )
    if not jnp.issubdtype(x.dtype, jnp.floating) and not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{name} x must hold numbers, got dtype {x.dtype}")
    if y.ndim < 1 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{name} x and y must hold the same number of examples, got {x.shape[0]} (x: {x.shape}) "
            f"and {y.shape[0] if y.ndim else 'none'} (y: {y.shape})"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} data must hold at least one example, got x of shape {x.shape}")
    _check_finite(x, f"{name} x")
    if jnp.issubdtype(y.dtype, jnp.floating):
        _check_finite(y, f"{name} y")
    n_out = net.sizes[-1]
    if jnp.issubdtype(y.dtype, jnp.integer) and y.ndim == 1:
        lo, hi = int(jnp.min(y)), int(jnp.max(y))
        if lo < 0 or hi >= n_out:
            hint = " (for a single output unit pass 0/1 targets of shape (n, 1))" if n_out == 1 else ""
            raise ValueError(
                f"{name} y must hold class labels in [0, {n_out - 1}] for an output layer of "
                f"net.sizes[-1] = {n_out} units, got labels in [{lo}, {hi}]{hint}"
            )
    elif y.ndim == 2 and y.shape[1] == n_out:
        pass
    else:
        raise ValueError(
            f"{name} y must be integer labels of shape ({x.shape[0]},) or targets of shape "
            f"({x.shape[0]}, {n_out}) (net.sizes[-1] = {n_out}), got shape {y.shape} and dtype {y.dtype}"
        )
    return x, y


def _check_finite(a: Any, name: str) -> None:
    """Raise ``ValueError`` naming the first row of ``a`` that holds a NaN or an inf (host-side)."""
    if not jnp.issubdtype(a.dtype, jnp.floating):
        return
    finite = np.asarray(jnp.isfinite(a).reshape(a.shape[0], -1).all(axis=1))
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        bad = np.asarray(a[row]).ravel()
        value = bad[~np.isfinite(bad)][0]
        raise ValueError(
            f"{name} must hold finite numbers, got {value} in row {row} "
            f"({int((~finite).sum())} of {a.shape[0]} rows hold NaN or inf)"
        )


# --------------------------------------------------------------------------
# state


def init_state(net: MLP, optimizer: _optim.Transform, key: Array, dtype: DTypeLike = jnp.float32) -> TrainState:
    """A fresh :class:`TrainState`: ``params = net.init(k1, dtype)``, ``opt_state =
    optimizer.init(params)``, ``net_state = net.init_state(dtype)``, ``step = 0``.

    ``key`` is split in two: one half initializes the parameters, the other is
    kept as the state's key for the shuffles.
    """
    net = _check_net(net)
    optimizer = _check_optimizer(optimizer)
    key = _check_key(key)
    k_init, k_run = jax.random.split(key)
    params = net.init(k_init, dtype)
    if net.stateful:  # batch norm: init returns (params, running statistics)
        params, net_state = params
    else:
        net_state = net.init_state(dtype)
    return TrainState(
        params=params,
        opt_state=optimizer.init(params),
        net_state=net_state,
        step=jnp.zeros((), jnp.int32),
        key=k_run,
    )


# --------------------------------------------------------------------------
# the step


def _rate(opt_state: Any) -> Array:
    """The rate the next update uses, or NaN for an optimizer without a single ``scale``."""
    try:
        return jnp.asarray(_optim.current_rate(opt_state)).astype(jnp.float32)
    except ValueError:  # structural, so decided once at trace time
        return jnp.full((), jnp.nan, jnp.float32)


def _cast_floats(tree: Any, dtype: Any) -> Any:
    return jax.tree_util.tree_map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def _step_fn(net: MLP, cost: _costs.Cost, optimizer: _optim.Transform, grad: str, precision: str = "float32") -> Callable:
    """The pure (unjitted) step ``(state, x, y) -> (state, Metrics)``.

    ``precision="bfloat16"`` (mixed precision): the parameters, the batch-norm
    statistics and the batch are cast to bfloat16 for the forward and backward
    pass, and the gradient and the new statistics back to the parameters'
    dtype, so the update and the optimizer's state stay in float32.

    With ``live`` (a boolean scalar, for populations) it returns ``(state,
    Metrics, ok)``: the update is applied only if ``ok = live & isfinite(C)``
    (and, with ``check_params``, the updated parameters are all finite), else
    the state is returned unchanged. The cost-only test is nearly free (XLA
    fuses the selection into the update's loops); checking the parameters is a
    reduction over all of them per step (~40% of a 784-30-10 step at m = 10).
    """

    def step(state: TrainState, x: Array, y: Array, live: Array | None = None, check_params: bool = False):
        dtype = jax.tree_util.tree_leaves(state.params)[0].dtype
        compute = jnp.bfloat16 if precision == "bfloat16" else dtype
        w, net_state = _cast_floats(state.params, compute), _cast_floats(state.net_state, compute)
        x = x.astype(compute)
        y = y.astype(compute) if jnp.issubdtype(y.dtype, jnp.floating) else y
        value, grads, net_state = _backprop.value_grad_and_state(net, cost, w, net_state, x, y, method=grad)
        grads, net_state = _cast_floats(grads, dtype), _cast_floats(net_state, dtype)  # no-ops at float32
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = _optim.apply_updates(state.params, updates)
        # The same forward pass the gradient computed (XLA merges the duplicate):
        # the batch accuracy costs an argmax, not a second forward pass.
        out = net.forward(w, x, _cast_floats(state.net_state, compute), train=True).z[-1]
        metrics = Metrics(
            cost=value.astype(jnp.float32),
            accuracy=_costs.accuracy(out, y),
            rate=_rate(state.opt_state),
        )
        new = TrainState(params, opt_state, net_state, state.step + 1, state.key)
        if live is None:
            return new, metrics
        ok = live & jnp.isfinite(value)
        if check_params:
            ok = ok & _all_finite(params)
        return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, state), metrics, ok

    return step


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
    net = _check_net(net)
    cost = _costs.get(cost)
    optimizer = _check_optimizer(optimizer)
    grad = _check_grad(grad)
    precision = _check_precision(precision)
    mesh = _parallel.mesh(devices)

    def step(state, x, y):
        return _step_fn(net, cost, optimizer, grad, precision)(state, x, y)

    if mesh is None:
        jitted = jax.jit(step)
    else:
        jitted = jax.jit(
            step,
            in_shardings=(mesh.replicated, mesh.batch, mesh.batch),
            out_shardings=(mesh.replicated, mesh.replicated),
        )

    @functools.wraps(step)
    def run(state: TrainState, x: ArrayLike, y: ArrayLike) -> tuple[TrainState, Metrics]:
        state = _check_state(state)
        if mesh is not None and jnp.shape(x)[0] % _parallel.n_devices(mesh):
            raise ValueError(
                f"x must hold a multiple of the {_parallel.n_devices(mesh)} devices' count of examples, got {jnp.shape(x)[0]}"
            )
        return jitted(state, x, y)

    run.jitted = jitted  # for inspection (e.g. jitted._cache_size())
    return run


# --------------------------------------------------------------------------
# the epoch


def _epoch_fn(step: Callable, batch_size: int, mesh: _parallel.DeviceMesh | None) -> Callable:
    """The pure epoch ``(state, x, y) -> (state, Metrics of (n_batches,) arrays)``."""

    def epoch(state: TrainState, x: Array, y: Array) -> tuple[TrainState, Metrics]:
        key = jax.random.fold_in(state.key, state.step)
        index = _data.batch_indices(x.shape[0], batch_size, key=key)  # (n_batches, m), shuffled

        def body(s: TrainState, idx: Array) -> tuple[TrainState, Metrics]:
            # Gather this mini-batch only: no shuffled copy of the whole set per epoch
            # (that copy cost as much as the arithmetic of a small network).
            xb, yb = jnp.take(x, idx, axis=0), jnp.take(y, idx, axis=0)
            if mesh is not None:
                xb = jax.lax.with_sharding_constraint(xb, mesh.batch)
                yb = jax.lax.with_sharding_constraint(yb, mesh.batch)
            return step(s, xb, yb)

        return jax.lax.scan(body, state, index)

    return epoch


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
    (the state passed in is then invalid); :func:`fit` does so.
    ``devices``: data parallel, as in :func:`make_step`; ``precision``: see
    :data:`PRECISIONS`.
    """
    net = _check_net(net)
    cost = _costs.get(cost)
    optimizer = _check_optimizer(optimizer)
    grad = _check_grad(grad)
    precision = _check_precision(precision)
    batch_size = check_int(batch_size, "batch_size", 1)
    if not isinstance(donate, bool):
        raise TypeError(f"donate must be a bool, got {donate!r}")
    mesh = _parallel.mesh(devices)
    if batch_size % _parallel.n_devices(mesh):
        raise ValueError(
            f"batch_size must be a multiple of the number of devices ({_parallel.n_devices(mesh)}), got {batch_size}"
        )

    def epoch(state, x, y):
        step = _step_fn(net, cost, optimizer, grad, precision)
        return _run_epoch(step, batch_size, mesh, state, x, y)

    kwargs: dict[str, Any] = {"donate_argnums": (0,)} if donate else {}
    if mesh is not None:
        kwargs.update(
            in_shardings=(mesh.replicated, mesh.replicated, mesh.replicated),
            out_shardings=(mesh.replicated, mesh.replicated),
        )
    jitted = jax.jit(epoch, **kwargs)

    def run(state: TrainState, x: Array, y: Array) -> tuple[TrainState, Metrics]:
        state = _check_state(state)
        n = jnp.shape(x)[0]
        check_int(batch_size, "batch_size", 1, n, " (the number of examples)")
        if donate:
            state = _unalias(state)
        return jitted(state, x, y)

    run.jitted = jitted
    run.batch_size = batch_size
    run.mesh = mesh
    return run


def _unalias(tree: Any) -> Any:
    """Copy leaves that appear more than once (e.g. Adam's ``m`` and ``v`` start as one zeros
    array): a buffer cannot be donated twice."""
    seen: set[int] = set()

    def fresh(a):
        if id(a) in seen:
            return jnp.array(a, copy=True)
        seen.add(id(a))
        return a

    return jax.tree_util.tree_map(fresh, tree)


def _run_epoch(step, batch_size, mesh, state, x, y):
    # A module-level function so tests can wrap it with chex.assert_max_traces.
    return _epoch_fn(step, batch_size, mesh)(state, x, y)


# --------------------------------------------------------------------------
# evaluation


def _eval_sums(net: MLP, cost: _costs.Cost) -> Callable:
    """The pure ``(params, net_state, xb, yb, x_rest, y_rest) -> (sum of costs, sum of hits)``."""

    def batch_sums(params, net_state, x, y):
        x = x.astype(jax.tree_util.tree_leaves(params)[0].dtype)
        a = net.forward(params, x, net_state, train=False).a[-1]
        m = jnp.float32(x.shape[0])
        value = cost.value(a, y, net.output).astype(jnp.float32)
        acc = _costs.accuracy(net.output(a), y)
        return value * m, acc * m

    def run(params, net_state, xb, yb, x_rest, y_rest):
        def body(carry, b):
            c, a = batch_sums(params, net_state, *b)
            return (carry[0] + c, carry[1] + a), None

        zero = jnp.zeros((), jnp.float32)
        (c, a), _ = jax.lax.scan(body, (zero, zero), (xb, yb))
        if x_rest.shape[0]:
            c_r, a_r = batch_sums(params, net_state, x_rest, y_rest)
            c, a = c + c_r, a + a_r
        return c, a

    return run


@functools.lru_cache(maxsize=64)
def _eval_fn(net: MLP, cost: _costs.Cost) -> Callable:
    return jax.jit(_eval_sums(net, cost))


@functools.lru_cache(maxsize=64)
def _population_eval_fn(net: MLP, cost: _costs.Cost) -> Callable:
    """:func:`_eval_fn` vmapped over members' ``(params, net_state)``; the data is shared."""
    return jax.jit(jax.vmap(_eval_sums(net, cost), in_axes=(0, 0, None, None, None, None)))


def evaluate(
    net: MLP,
    state: TrainState | Params,
    x: ArrayLike,
    y: ArrayLike,
    cost: str | _costs.Cost,
    batch_size: int = 1000,
) -> tuple[float, float]:
    """Mean cost and accuracy of the network on ``(x, y)``, in inference mode.

    ``C = (1/n) sum_x C_x`` and the fraction of examples whose largest output
    is the label (``fnn.costs.accuracy``), computed in chunks of
    ``batch_size`` examples (memory only: the result does not depend on it)
    with ``train=False`` (batch norm uses its running statistics).
    ``state`` is a :class:`TrainState`, or bare parameters for a network
    without batch norm (with batch norm the running statistics are needed:
    pass the state).
    Returns Python floats ``(cost, accuracy)``.
    """
    net = _check_net(net)
    cost = _costs.get(cost)
    if isinstance(state, TrainState):
        params, net_state = state.params, state.net_state
    elif net.stateful:
        raise TypeError(
            "state must be the TrainState for a network with batch norm (inference uses its running "
            f"statistics, state.net_state), got bare parameters of type {type(state).__name__}; "
            "pass the TrainState (or train.TrainState(params, (), net_state, 0, key))"
        )
    else:
        params, net_state = state, net.init_state()
    net.check_params(params)
    x, y = _check_data(net, x, y, name="evaluate")
    n = x.shape[0]
    batch_size = check_int(batch_size, "batch_size", 1)
    m = min(batch_size, n)
    nb = n // m
    xb = x[: nb * m].reshape((nb, m) + x.shape[1:])
    yb = y[: nb * m].reshape((nb, m) + y.shape[1:])
    c, a = _eval_fn(net, cost)(params, net_state, xb, yb, x[nb * m :], y[nb * m :])
    return float(c) / n, float(a) / n


# --------------------------------------------------------------------------
# fit: validate -> place -> compile -> run epochs -> record
# (fit_population, in fnn/population.py, reuses each step)


class _Args(NamedTuple):
    """The checked arguments shared by :func:`fit` and :func:`fit_population`."""

    net: MLP
    cost: _costs.Cost
    optimizer: Any
    grad: str
    x: Any
    y: Any
    validation: tuple[Any, Any] | None
    epochs: int
    batch_size: int
    mesh: _parallel.DeviceMesh | None
    precision: str = "float32"


def _check_args(net, cost, optimizer, train, epochs, batch_size, validation, grad, progress, devices, callback,
                precision: str = "float32") -> _Args:
    """Validate everything :func:`fit` and :func:`fit_population` share (public boundary)."""
    net = _check_net(net)
    cost = _costs.get(cost)
    optimizer = _check_optimizer(optimizer)
    grad = _check_grad(grad)
    if not isinstance(train, (tuple, list)) or len(train) != 2:
        raise TypeError(f"train must be a pair (x, y), got {type(train).__name__}")
    x, y = _check_data(net, *train, name="train")
    epochs = check_int(epochs, "epochs", 1)
    batch_size = check_int(batch_size, "batch_size", 1, x.shape[0], " (the number of training examples)")
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise TypeError(f"validation must be a pair (x, y) or None, got {type(validation).__name__}")
        validation = _check_data(net, *validation, name="validation")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool, got {progress!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    return _Args(net, cost, optimizer, grad, x, y, validation, epochs, batch_size, _parallel.mesh(devices),
                 _check_precision(precision))


def _place_data(args: _Args, dtype: Any, process_local: bool = False) -> tuple[Array, Array, tuple[Array, Array] | None]:
    """The training (and validation) set on the device(s), once: replicated over a mesh,
    ``x`` cast to the parameters' dtype, integer labels to int32.

    Over a mesh spanning several processes every process first checks that all
    were given the same arguments (:func:`_agree_on_args`). ``process_local``:
    each process holds its own rows of the training set, which is their
    concatenation in the mesh's process order (assembled with
    ``jax.make_array_from_process_local_data``, then replicated)."""
    mesh = args.mesh
    sharding = mesh.replicated if mesh is not None else None
    if _parallel.spans_processes(mesh):
        _agree_on_args(args, process_local)

    def cast(x, y):
        x = jnp.asarray(x, dtype) if not isinstance(x, jax.Array) else x.astype(dtype)
        y = y.astype(jnp.int32) if jnp.issubdtype(y.dtype, jnp.integer) else jnp.asarray(y, dtype)
        return x, y

    x, y = cast(args.x, args.y)
    if process_local:
        x, y = _parallel.put_process_local(x, mesh), _parallel.put_process_local(y, mesh)
    else:
        x, y = _parallel.put(x, sharding), _parallel.put(y, sharding)
    val = _parallel.put(cast(*args.validation), sharding) if args.validation is not None else None
    return x, y, val


def _check_process_local(process_local: Any, mesh: _parallel.DeviceMesh | None, n_rows: int) -> bool:
    """``process_local`` is a bool; when True a mesh is given and this process's rows split evenly over its devices."""
    if not isinstance(process_local, bool):
        raise TypeError(f"process_local must be a bool, got {process_local!r}")
    if process_local and mesh is None:
        raise ValueError("process_local=True needs devices= (the mesh over which the processes' rows are assembled), got None")
    if process_local:
        k = len(mesh.mesh.local_devices)
        if n_rows % k:
            raise ValueError(
                f"with process_local=True this process's train x must hold a multiple of its {k} devices in the "
                f"mesh of rows, got {n_rows}"
            )
    return process_local


def _describe(obj: Any) -> str:
    """``repr`` without memory addresses (the same object prints the same in every process)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))


def _agree_on_args(args: _Args, process_local: bool) -> None:
    """Every process of the mesh was given the same data (or data sizes, ``process_local``),
    network, cost and loop arguments (one all-gather of fingerprints; see :mod:`fnn.distributed`)."""
    fp = _distributed.fingerprint
    text = lambda s: zlib.crc32(_describe(s).encode())  # noqa: E731
    values = {
        "train x rows" + (" per process" if process_local else ""): args.x.shape[0],
        "train x columns": args.x.shape[1],
        "train y shape": text(tuple(args.y.shape[1:])),
        "process_local": int(process_local),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "grad": text(args.grad),
        "cost": text(args.cost),
        "net": text(args.net),
        "validation data (checksum)": 0 if args.validation is None else fp(args.validation[0]) ^ fp(args.validation[1]),
    }
    if not process_local:
        values["train x (checksum)"], values["train y (checksum)"] = fp(args.x), fp(args.y)
    _distributed.check_agree("arguments (data, network, cost, epochs, batch_size)", values)


def _own_copy(state: Any, sharding: Any = None) -> Any:
    """A copy of ``state`` the compiled epoch may donate (the caller's buffers stay intact).

    Over several processes every process first checks that all hold the same
    state (same seed, or the same checkpoint resumed)."""
    if sharding is not None and not sharding.is_fully_addressable:
        host = _parallel.to_host(state)
        _distributed.check_agree(
            "initial state (the same key, or the same state to resume)",
            {f"state.{k} (checksum)": _tree_fingerprint(getattr(host, k)) for k in TrainState._fields},
        )
    state = jax.tree_util.tree_map(lambda a: jnp.array(a, copy=True), state)
    state = state._replace(step=jnp.asarray(state.step, jnp.int32))
    return state if sharding is None else _parallel.put(state, sharding)


def _tree_fingerprint(tree: Any) -> int:
    crc = zlib.crc32(str(jax.tree_util.tree_structure(tree)).encode())
    for leaf in jax.tree_util.tree_leaves(tree):
        crc = zlib.crc32(_distributed.fingerprint(leaf).to_bytes(4, "little"), crc)
    return crc


def _compile(jitted: Any, *args: Any) -> tuple[Any, float]:
    """``jitted`` lowered and compiled for ``args``; and the seconds it took."""
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    return compiled, time.perf_counter() - t0


def _empty_history(compile_s: float) -> dict[str, Any]:
    keys = ("epoch", "step", "cost", "accuracy", "val_cost", "val_accuracy", "rate", "examples_per_s", "epoch_s")
    history: dict[str, Any] = {k: [] for k in keys}
    history["compile_s"] = compile_s
    return history


def _run_epochs(epochs: int, progress: bool, one_epoch: Callable, callback: Callable | None, history: dict) -> None:
    """The outer loop: ``one_epoch(e) -> (record, line, state)`` for ``e = 1..epochs``; the
    record is appended to ``history``, the line shown on the progress bar, and
    ``callback(e, state, record) is True`` stops early."""
    bar = _progress(epochs, progress)
    try:
        for e in range(1, epochs + 1):
            record, line, state = one_epoch(e)
            for k, v in record.items():
                history[k].append(v)
            if bar is not None:
                bar.set_postfix_str(line, refresh=False)
                bar.update(1)
            elif progress:
                print(f"epoch {e}/{epochs}: {line}", file=sys.stderr, flush=True)
            if callback is not None and callback(e, state, record) is True:
                break
    finally:
        if bar is not None:
            bar.close()


def _progress(epochs: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # plain lines instead of a bar
        return None
    return tqdm(total=epochs, desc="train", unit="epoch", file=sys.stderr, dynamic_ncols=True)


def _first_bad(costs: np.ndarray) -> int | None:
    bad = np.flatnonzero(~np.isfinite(costs))
    return int(bad[0]) if bad.size else None


def _all_finite(tree: Any) -> Array:
    """One boolean: every floating leaf of ``tree`` is finite (traceable)."""
    leaves = [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(a.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _resume_opt_state(optimizer: Any, state: TrainState) -> TrainState:
    """``state`` with ``optimizer``'s hyperparameters: the structure must match; values that
    differ (a new constant rate, mu, ...) are applied, with a warning naming old and new.

    So a resumed run uses the optimizer it is given, its constant hyperparameters
    as well as its schedule (which is part of the transform, not of the state).
    """
    fresh = optimizer.init(state.params)
    if jax.tree_util.tree_structure(fresh) != jax.tree_util.tree_structure(state.opt_state):
        raise ValueError(
            "optimizer must be of the kind state.opt_state was made by: expected a state of structure "
            f"{jax.tree_util.tree_structure(state.opt_state)}, the given optimizer makes "
            f"{jax.tree_util.tree_structure(fresh)}"
        )
    changed = {}
    for new, old in zip(_optim._substates(fresh), _optim._substates(state.opt_state)):
        for name in getattr(new, "HYPERPARAMS", ()):
            a, b = np.asarray(getattr(new, name)), np.asarray(getattr(old, name))
            if not np.array_equal(a, b, equal_nan=True):
                changed[name] = (b.tolist(), a.tolist())
    if not changed:
        return state
    warnings.warn(
        "fit(state=...) applies the given optimizer's hyperparameters: "
        + ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items())
        + " (the state held the old values)",
        stacklevel=3,
    )
    opt_state = _optim.set_hyperparams(state.opt_state, **{k: new for k, (_, new) in changed.items()})
    return state._replace(opt_state=opt_state)


def fit(
    net: MLP,
    cost: str | _costs.Cost,
    optimizer: _optim.Transform,
    train: tuple[ArrayLike, ArrayLike],
    epochs: int,
    batch_size: int,
    key: Array | None = None,
    validation: tuple[ArrayLike, ArrayLike] | None = None,
    grad: str = "backprop",
    progress: bool = True,
    devices: Sequence[Any] | Mesh | None = None,
    callback: Callable[[int, TrainState, dict], Any] | None = None,
    state: TrainState | None = None,
    dtype: DTypeLike = jnp.float32,
    process_local: bool = False,
    precision: str = "float32",
) -> tuple[TrainState, dict[str, list]]:
    """Train ``net`` by mini-batch gradient descent for ``epochs`` epochs.

    Notes, "Algorithm: Gradient descent + Backpropagation": an outer loop over
    epochs, an inner loop over shuffled mini-batches — here each epoch is one
    compiled ``lax.scan`` (:func:`make_epoch`).

    Args:
      net, cost, optimizer: the network, a cost name or object, an
        ``fnn.optim`` transform.
      train: ``(x, y)``, ``x`` of shape ``(n, net.sizes[0])``, ``y`` integer
        labels ``(n,)`` in ``[0, net.sizes[-1])`` or targets ``(n, net.sizes[-1])``.
        Placed on the device(s) once with ``jax.device_put``.
      epochs: epochs to run now (>= 1).
      batch_size: ``m``, in ``[1, n]``; a multiple of the number of devices.
      key: ``jax.random.key(seed)``: initializes the parameters and seeds the
        shuffles (:func:`init_state`). Exactly one of ``key`` and ``state``.
      validation: optional ``(x, y)`` evaluated (inference mode) after each epoch.
      grad: ``"backprop"`` (BP1-BP4) or ``"autodiff"`` (``jax.grad``).
      progress: show a tqdm bar (one line per epoch if tqdm is missing).
      devices: data parallel over these devices (see the module docstring).
      callback: ``callback(epoch, state, record)`` after each epoch (``epoch``
        counts from 1 within this call, ``record`` is that epoch's history
        entry); returning ``True`` stops training.
      state: resume from this :class:`TrainState` (e.g. ``checkpoint.load``);
        the shuffles continue where they stopped, so ``fit`` for ``a`` epochs,
        then ``fit(..., state=s)`` for ``b`` more equals one fit of ``a + b``.
        Its buffers are left intact. ``optimizer`` must be of the state's kind
        (same state structure); its hyperparameters are applied (a new
        constant rate, like a new schedule, takes effect, with a warning
        naming the old and new values), and a schedule is evaluated at the
        state's step count.
      dtype: parameter dtype for a fresh state (float32).
      precision: ``"float32"`` or ``"bfloat16"`` (mixed precision: parameters
        and optimizer state in ``dtype``, forward and backward passes in
        bfloat16; see :data:`PRECISIONS`). Evaluation runs in ``dtype``.
      process_local: several processes (see "Multi-host" in the module
        docstring): ``train`` holds only this process's rows (the same number
        in every process, a multiple of its devices in ``devices``); the
        training set is the concatenation of all processes' rows in process
        order, assembled with ``jax.make_array_from_process_local_data`` and
        then replicated on every device (one all-gather; the epoch runs as
        without it; ``batch_size`` is checked against this process's rows).
        ``False``: every process passes the whole training set.
        ``validation`` is always the whole set. Needs ``devices``.

    Returns:
      ``(state, history)``; ``history`` maps ``"epoch"``, ``"step"`` (updates
      done at the epoch's end), ``"cost"`` and ``"accuracy"`` (means over the
      epoch's mini-batches, measured before each update), ``"val_cost"``,
      ``"val_accuracy"`` (None without validation), ``"rate"`` (rate of the
      epoch's last update), ``"examples_per_s"``, ``"epoch_s"`` to per-epoch
      lists, and ``"compile_s"`` to the compilation time in seconds.

    Raises:
      ValueError / TypeError: bad arguments (named in the message).
      FloatingPointError: the cost became NaN or inf, the parameters at the end
        of an epoch hold NaN or inf (an epoch's last update diverged), or the
        validation cost is NaN; the message names the step (counting from 1
        over the whole run) and the epoch.
    """
    args = _check_args(net, cost, optimizer, train, epochs, batch_size, validation, grad, progress, devices, callback,
                       precision)
    net, mesh = args.net, args.mesh
    _parallel.check_divisible(args.batch_size, mesh, "batch_size", "")
    process_local = _check_process_local(process_local, mesh, args.x.shape[0])
    if state is None:
        if key is None:
            raise ValueError("key must be a jax.random key when no state is given, got None")
        state = init_state(net, args.optimizer, key, dtype)
    else:
        if key is not None:
            raise ValueError("key must be None when state is given (the state carries its own key), got a key")
        state = _check_state(state)
        net.check_params(state.params)
        state = _resume_opt_state(args.optimizer, state)
    x, y, val = _place_data(args, jax.tree_util.tree_leaves(state.params)[0].dtype, process_local)
    state = _own_copy(state, mesh.replicated if mesh is not None else None)

    epoch_fn = make_epoch(net, args.cost, args.optimizer, args.batch_size, grad=args.grad,
                          devices=mesh.mesh if mesh else None, donate=True, precision=args.precision)
    compiled, compile_s = _compile(epoch_fn.jitted, state, x, y)
    history = _empty_history(compile_s)
    nb, start_step = x.shape[0] // args.batch_size, int(state.step)
    current = [state]

    def one_epoch(e: int):
        t0 = time.perf_counter()
        new, metrics = compiled(current[0], x, y)
        costs_np = np.asarray(metrics.cost)  # one transfer per epoch
        dt = time.perf_counter() - t0
        current[0] = new
        _raise_if_diverged(costs_np, new, start_step, e, nb)
        _raise_if_negative_rate(np.asarray(metrics.rate), start_step, e, nb)
        record = {
            "epoch": e,
            "step": start_step + e * nb,
            "cost": float(costs_np.mean()),
            "accuracy": float(np.asarray(metrics.accuracy).mean()),
            "rate": float(np.asarray(metrics.rate)[-1]),
            "examples_per_s": nb * args.batch_size / dt,
            "epoch_s": dt,
            "val_cost": None,
            "val_accuracy": None,
        }
        line = f"cost {record['cost']:.4f} acc {record['accuracy']:.4f}"
        if val is not None:
            record["val_cost"], record["val_accuracy"] = evaluate(net, new, *val, args.cost)
            if not math.isfinite(record["val_cost"]):
                raise FloatingPointError(
                    f"validation cost became {record['val_cost']} after step {start_step + e * nb} (epoch {e} of "
                    "this run) while the training cost stayed finite; check the validation data and the network"
                )
            line += f" val_acc {record['val_accuracy']:.4f}"
        line += f" {record['examples_per_s']:.0f} ex/s"
        return record, line, new

    _run_epochs(args.epochs, progress, one_epoch, callback, history)
    return current[0], history


def _raise_if_negative_rate(rates: np.ndarray, start_step: int, e: int, nb: int) -> None:
    """``ValueError`` naming the first step of the epoch whose learning rate was negative (a user's
    schedule; NaN means the optimizer has no single rate and is not checked)."""
    bad = np.flatnonzero(rates < 0)
    if bad.size:
        step_no = start_step + (e - 1) * nb + int(bad[0]) + 1
        raise ValueError(
            f"the learning rate must be >= 0, got {float(rates[bad[0]]):.6g} at step {step_no} (epoch {e} of this run); "
            "check the schedule with fnn.schedules.check(schedule, n_steps)"
        )


def _raise_if_diverged(costs_np: np.ndarray, state: TrainState, start_step: int, e: int, nb: int) -> None:
    """``FloatingPointError`` naming the step if a cost of the epoch, or its final parameters, are not finite."""
    bad = _first_bad(costs_np)
    if bad is not None:
        step_no = start_step + (e - 1) * nb + bad + 1
        raise FloatingPointError(
            f"cost became {costs_np[bad]} at step {step_no} (epoch {e} of this run, "
            f"mini-batch {bad + 1} of {nb}); lower the learning rate or check the data"
        )
    if not bool(_all_finite(state.params)):
        raise FloatingPointError(
            f"parameters became NaN or inf at step {start_step + e * nb} (the last update of epoch {e} of this "
            "run; every cost of the epoch was finite); lower the learning rate"
        )


# Populations (vmap over whole runs) live in fnn/population.py, which builds on this module;
# train re-exports them on first use (PEP 562), so either module may be imported first.
_POPULATION_NAMES = ("fit_population", "init_population", "member", "stack_members")


def __getattr__(name: str) -> Any:
    if name in _POPULATION_NAMES:
        from fnn import population

        return getattr(population, name)
    raise AttributeError(f"module 'fnn.train' has no attribute {name!r}")
