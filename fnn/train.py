"""Training: fit and evaluate a network (the loop around :mod:`fnn.step`), on one or many devices or processes.

Notes, "Algorithm: Gradient descent + Backpropagation": an outer loop over
epochs around the compiled epoch of :mod:`fnn.step` (one ``lax.scan`` of
``w' = w + optimizer(grad C)`` over the shuffled mini-batches), then the
cost ``C = (1/n) sum_x C_x`` and the accuracy in inference mode
(:func:`evaluate`). A run resumed from its :class:`TrainState` continues the
uninterrupted trajectory exactly (the shuffles are drawn from the state).

Example::

    from fnn import nn, optim, train, data
    x, y = data.load("fashion_mnist", "train")
    net = nn.MLP((784, 256, 256, 10), hidden="relu", output="softmax")
    state, history = train.fit(net, "log_likelihood", optim.adam(1e-3), (x, y),
                               epochs=10, batch_size=128, key=jax.random.key(0))
    test_cost, test_acc = train.evaluate(net, state, *data.load("fashion_mnist", "test"),
                                         "log_likelihood")

The step and the epoch themselves (:class:`TrainState`, :func:`make_step`,
:func:`make_epoch`, data parallel over a mesh) are in :mod:`fnn.step`, the
pieces :func:`fit` shares with :func:`fnn.population.fit_population` in
:mod:`fnn._loop`; this module re-exports the public names of both.

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
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.typing import ArrayLike, DTypeLike

from fnn import costs as _costs
from fnn import optim as _optim
from fnn import parallel as _parallel
from fnn._loop import (  # noqa: F401  (the shared loop; fnn.population uses these through train)
    _Args, _check_args, _check_process_local, _compile, _empty_history, _own_copy, _place_data,
    _raise_if_diverged, _raise_if_negative_rate, _resume_opt_state, _run_epochs,
)
from fnn._validate import check_int
from fnn.nn import MLP, Params
from fnn.step import (  # noqa: F401  (re-exported: fnn.train is the public face of both)
    GRAD_METHODS, PRECISIONS, Metrics, TrainState, _all_finite, _check_data, _check_net, _check_optimizer,
    _check_state, _step_fn, init_state, make_epoch, make_step,
)

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
    "PRECISIONS",
]


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


# Populations (vmap over whole runs) live in fnn/population.py, which builds on this module;
# train re-exports them on first use (PEP 562), so either module may be imported first.
_POPULATION_NAMES = ("fit_population", "init_population", "member", "stack_members")


def __getattr__(name: str) -> Any:
    if name in _POPULATION_NAMES:
        from fnn import population

        return getattr(population, name)
    raise AttributeError(f"module 'fnn.train' has no attribute {name!r}")
