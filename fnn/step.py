"""One training step and one epoch: the compiled update and the scanned pass over the data.

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
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.typing import ArrayLike, DTypeLike

from fnn import backprop as _backprop
from fnn import costs as _costs
from fnn import data as _data
from fnn import optim as _optim
from fnn import parallel as _parallel
from fnn._validate import check_int
from fnn.nn import MLP, Params

Array = jax.Array

__all__ = ["TrainState", "Metrics", "init_state", "make_step", "make_epoch", "GRAD_METHODS", "PRECISIONS"]

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

    With ``live`` (a boolean scalar: a population's guarded epoch) it returns
    ``(state, Metrics, ok)``: the update is applied only if ``ok = live &
    isfinite(C)`` and the updated parameters are all finite, else the state is
    returned unchanged (a selection over the state and a reduction over the
    parameters per step: fnn.population runs it only when a member diverges).
    """

    def step(state: TrainState, x: Array, y: Array, live: Array | None = None):
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
        ok = live & jnp.isfinite(value) & _all_finite(params)
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


def _all_finite(tree: Any) -> Array:
    """One boolean: every floating leaf of ``tree`` is finite (traceable)."""
    leaves = [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(a.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)
