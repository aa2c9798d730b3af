"""``fit``: one run of mini-batch gradient descent, epoch after epoch.

Notes, "Algorithm: Gradient descent + Backpropagation": for each epoch, the
compiled epoch of :mod:`fnn.train._step` (one ``lax.scan`` of
``w' = w + optimizer(grad C)`` over the shuffled mini-batches), then the
validation cost ``C = (1/n) sum_x C_x`` and accuracy in inference mode. A
run resumed from its :class:`TrainState` continues the uninterrupted
trajectory exactly (the shuffles are drawn from the state).
"""

from __future__ import annotations

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
from fnn.nn import MLP
from fnn.train import _cache, _evaluate, _loop, _setup, _state, _step
from fnn.train._state import TrainState

Array = jax.Array


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
    data_key: Array | None = None,
) -> tuple[TrainState, dict[str, list]]:
    """Train ``net`` by mini-batch gradient descent for ``epochs`` epochs (see :mod:`fnn.train`).

    Args:
      net, cost, optimizer: the network, a cost name or object, an ``fnn.optim`` transform.
      train: ``(x, y)``: ``x`` ``(n, net.sizes[0])``, ``y`` labels ``(n,)`` or targets ``(n, net.sizes[-1])``.
      epochs: epochs to run now (>= 1).
      batch_size: ``m`` in ``[1, n]``, a multiple of the number of devices.
      key: ``jax.random.key(seed)`` for a fresh state; exactly one of ``key`` and ``state``.
      validation: optional ``(x, y)`` evaluated in inference mode after each epoch.
      grad: one of ``GRAD_METHODS`` (BP1-BP4 by hand, or ``jax.grad``).
      progress: show a progress bar (a line per epoch without tqdm).
      devices: data parallel over these devices (a list or a 1-D ``Mesh``).
      callback: ``callback(epoch, state, record)`` after each epoch; ``True`` stops. ``state`` is a
        copy the callback may keep (the loop's own state is donated to the next epoch).
      state: resume this state (its buffers are left intact; ``optimizer``'s
        hyperparameters are applied, with a warning when they differ).
      dtype: parameter dtype of a fresh state.
      process_local: ``train`` holds only this process's rows (several processes; needs ``devices``).
      precision: one of ``PRECISIONS``.
      data_key: with ``key``: the key of the shuffles (``fold_in(data_key, step)``), in place of
        the second half of ``split(key)``; ``key``'s first half still initializes the parameters.
        ``fit(key=keys[i], data_key=k)`` is member ``i`` of
        ``fit_population(keys=keys, data_order="shared", data_key=k)``.

    Returns:
      ``(state, history)``: ``history`` maps ``"epoch"``, ``"step"``,
      ``"cost"``, ``"accuracy"``, ``"val_cost"``, ``"val_accuracy"``,
      ``"rate"``, ``"examples_per_s"``, ``"epoch_s"`` to per-epoch lists and
      ``"compile_s"`` to the compilation time.

    Raises:
      ValueError / TypeError: a bad argument, named in the message.
      FloatingPointError: the cost, the parameters or the validation cost
        stopped being finite; the message names the step and the epoch.
    """
    run = _setup.check_run(net, cost, optimizer, train, epochs, batch_size, validation, grad, progress, devices,
                           callback, precision)
    s = run.setup
    _parallel.check_divisible(s.batch_size, s.mesh, "batch_size", "")
    process_local = _loop.check_process_local(process_local, s.mesh, run.train[0].shape[0])
    if state is None:
        if key is None:
            raise ValueError("key must be a jax.random key when no state is given, got None")
        state = _state.fresh_state(s.net, s.optimizer, _setup.check_keys(key), dtype)
        if data_key is not None:
            state = state._replace(key=_setup.check_keys(data_key, name="data_key"))
    else:
        if data_key is not None:
            raise ValueError("data_key must be None when state is given (the state carries its own key), got a key")
        if key is not None:
            raise ValueError("key must be None when state is given (the state carries its own key), got a key")
        state = _state.check_state(state)
        s.net.check_params(state.params)
        state = _loop.resume_opt_state(s.optimizer, state)
    x, y, val = _loop.place_data(s, run.train, run.validation, run.epochs,
                                 jax.tree_util.tree_leaves(state.params)[0].dtype, process_local)
    state = _loop.own_copy(state, s.mesh.replicated if s.mesh is not None else None)
    compiled, compile_s = _cache.compiled(("fit", _cache.setup_key(s)), lambda: _step.jit_epoch(s, donate=True),
                                          state, x, y)
    history = _loop.empty_history(compile_s)
    one_epoch = _epoch_runner(s, compiled, x, y, val, int(state.step), _loop.has_single_rate(state.opt_state))
    state = _loop.run_epochs(run.epochs, progress, one_epoch, callback, history, state)
    return state, history


def _epoch_runner(s: _setup.Setup, compiled: Callable, x: Array, y: Array, val: tuple[Array, Array] | None,
                  start_step: int, one_rate: bool) -> Callable:
    """``one_epoch(e, state) -> (record, line, state)``: the compiled epoch, its checks and its record."""
    nb = x.shape[0] // s.batch_size
    val_data = _evaluate.chunks(*val, 1000) if val is not None else None

    def one_epoch(e: int, state: TrainState):
        t0 = time.perf_counter()
        new, metrics = compiled(state, x, y)
        costs_np = np.asarray(metrics.cost)  # one transfer per epoch
        dt = time.perf_counter() - t0
        if one_rate:  # a schedule's NaN rate makes the costs NaN: name the rate first
            _loop.raise_if_bad_rate(np.asarray(metrics.rate), start_step, e, nb)
        _loop.raise_if_diverged(costs_np, new, start_step, e, nb)
        _loop.raise_if_negative_rate(np.asarray(metrics.rate), start_step, e, nb)
        record = {
            "epoch": e,
            "step": start_step + e * nb,
            "cost": float(costs_np.mean()),
            "accuracy": float(np.asarray(metrics.accuracy).mean()),
            "rate": float(np.asarray(metrics.rate)[-1]),
            "examples_per_s": nb * s.batch_size / dt,
            "epoch_s": dt,
            "val_cost": None,
            "val_accuracy": None,
        }
        line = f"cost {record['cost']:.4f} acc {record['accuracy']:.4f}"
        if val is not None:
            record["val_cost"], record["val_accuracy"] = _evaluate.one(s.net, s.cost, new.params, new.net_state,
                                                                       val_data, val[0].shape[0])
            if not math.isfinite(record["val_cost"]):
                raise FloatingPointError(
                    f"validation cost became {record['val_cost']} after step {start_step + e * nb} (epoch {e} of "
                    "this run) while the training cost stayed finite; check the validation data and the network"
                )
            line += f" val_acc {record['val_accuracy']:.4f}"
        line += f" {record['examples_per_s']:.0f} ex/s"
        return record, line, new

    return one_epoch

