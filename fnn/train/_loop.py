"""The host loop shared by :func:`fit` and :func:`fit_population`.

Notes, "Algorithm: Gradient descent + Backpropagation": the outer loop over
epochs around the compiled epoch — place the data on the device(s) once,
compile once, run the epochs (each takes the state and returns the next),
record the history, and stop with an error naming the step when the cost or
the parameters stop being finite. Over several processes, every process
first checks that all were given the same arguments and state.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
import warnings
import zlib
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from fnn import distributed as _distributed
from fnn import optim as _optim
from fnn import parallel as _parallel
from fnn.train._setup import Setup
from fnn.train._state import TrainState
from fnn.train._step import all_finite

Array = jax.Array


def place_data(s: Setup, train: tuple[Any, Any], validation: tuple[Any, Any] | None, epochs: int, dtype: Any,
               process_local: bool = False) -> tuple[Array, Array, tuple[Array, Array] | None]:
    """The training (and validation) set on the device(s), once: replicated over a mesh,
    ``x`` cast to the parameters' dtype, integer labels to int32.

    Over a mesh spanning several processes every process first checks that all
    were given the same arguments (:func:`agree_on_args`). ``process_local``:
    each process holds its own rows of the training set, which is their
    concatenation in the mesh's process order (assembled with
    ``jax.make_array_from_process_local_data``, then replicated)."""
    mesh = s.mesh
    sharding = mesh.replicated if mesh is not None else None
    if _parallel.spans_processes(mesh):
        agree_on_args(s, train, validation, epochs, process_local)

    def cast(x, y):
        x = jnp.asarray(x, dtype) if not isinstance(x, jax.Array) else x.astype(dtype)
        y = y.astype(jnp.int32) if jnp.issubdtype(y.dtype, jnp.integer) else jnp.asarray(y, dtype)
        return x, y

    x, y = cast(*train)
    if process_local:
        x, y = _parallel.put_process_local(x, mesh), _parallel.put_process_local(y, mesh)
    else:
        x, y = _parallel.put(x, sharding), _parallel.put(y, sharding)
    val = _parallel.put(cast(*validation), sharding) if validation is not None else None
    return x, y, val


def check_process_local(process_local: Any, mesh: _parallel.DeviceMesh | None, n_rows: int) -> bool:
    """``process_local`` is a bool; when True a mesh is given and this process's rows split evenly over its devices."""
    if not isinstance(process_local, bool):
        raise TypeError(f"process_local must be a bool, got {process_local!r}")
    if process_local and mesh is None:
        raise ValueError(
            "process_local=True needs devices= (the mesh over which the processes' rows are assembled), got None"
        )
    if process_local:
        k = len(mesh.mesh.local_devices)
        if n_rows % k:
            raise ValueError(
                f"with process_local=True this process's train x must hold a multiple of its {k} devices in the "
                f"mesh of rows, got {n_rows}"
            )
    return process_local


def describe(obj: Any) -> str:
    """``repr`` without memory addresses (the same object prints the same in every process)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))


def agree_on_args(s: Setup, train: tuple[Any, Any], validation: tuple[Any, Any] | None, epochs: int,
                  process_local: bool) -> None:
    """Every process of the mesh was given the same run: every field of the :class:`Setup` (network,
    cost, optimizer with its schedule, gradient mode, precision, batch size: whatever shapes the
    trajectory, field by field, so a new field is compared too), the data (or data sizes,
    ``process_local``) and the loop arguments (one all-gather of fingerprints; see :mod:`fnn.distributed`)."""
    fp = _distributed.fingerprint
    x, y = train
    values = {
        "train x rows" + (" per process" if process_local else ""): x.shape[0],
        "train x columns": x.shape[1],
        "train y shape": zlib.crc32(describe(tuple(y.shape[1:])).encode()),
        "process_local": int(process_local),
        "epochs": epochs,
        "validation data (checksum)": 0 if validation is None else fp(validation[0]) ^ fp(validation[1]),
    }
    for field in dataclasses.fields(s):
        if field.name != "mesh":  # the mesh is the same global one by construction
            value = getattr(s, field.name)
            values[field.name] = value if isinstance(value, int) else _distributed.fingerprint_object(value)
    if not process_local:
        values["train x (checksum)"], values["train y (checksum)"] = fp(x), fp(y)
    fields = ", ".join(f.name for f in dataclasses.fields(s) if f.name != "mesh")
    _distributed.check_agree(f"arguments (data, epochs, {fields})", values)


def own_copy(state: Any, sharding: Any = None) -> Any:
    """A copy of ``state`` the compiled epoch may donate (the caller's buffers stay intact).

    Over several processes every process first checks that all hold the same
    state (same seed, or the same checkpoint resumed)."""
    if sharding is not None and not sharding.is_fully_addressable:
        host = _parallel.to_host(state)
        values = {f"state.{k} (checksum)": tree_fingerprint(getattr(host, k)) for k in TrainState._fields}
        for i, sub in enumerate(_optim.hyperparams(host.opt_state)):  # named apart: a rate, a rate_multiplier
            values.update({f"optimizer hyperparameter {name}{f' (transform {i})' if i else ''} (checksum)":
                           _distributed.fingerprint(v) for name, v in sub.items()})
        _distributed.check_agree("initial state (the same key and hyperparameters, or the same state to resume)",
                                 values)
    state = jax.tree_util.tree_map(lambda a: jnp.array(a, copy=True), state)
    state = state._replace(step=jnp.asarray(state.step, jnp.int32))
    return state if sharding is None else _parallel.put(state, sharding)


def tree_fingerprint(tree: Any) -> int:
    crc = zlib.crc32(str(jax.tree_util.tree_structure(tree)).encode())
    for leaf in jax.tree_util.tree_leaves(tree):
        crc = zlib.crc32(_distributed.fingerprint(leaf).to_bytes(4, "little"), crc)
    return crc


def compile_epoch(jitted: Any, *args: Any) -> tuple[Any, float]:
    """``jitted`` lowered and compiled for ``args``; and the seconds it took."""
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    return compiled, time.perf_counter() - t0


def empty_history(compile_s: float) -> dict[str, Any]:
    keys = ("epoch", "step", "cost", "accuracy", "val_cost", "val_accuracy", "rate", "examples_per_s", "epoch_s")
    history: dict[str, Any] = {k: [] for k in keys}
    history["compile_s"] = compile_s
    return history


def run_epochs(epochs: int, progress: bool, one_epoch: Callable, callback: Callable | None, history: dict,
               state: Any, view: Callable[[Any], Any] = lambda state: state) -> Any:
    """The outer loop: ``one_epoch(e, state) -> (record, line, state)`` for ``e = 1..epochs``;
    the record is appended to ``history``, the line shown on the progress bar, and
    ``callback(e, view(state), record) is True`` stops early. Returns the last state.

    The callback gets a copy of the state (the next epoch donates the loop's own
    buffers): it may keep what it is given."""
    bar = progress_bar(epochs, progress)
    try:
        for e in range(1, epochs + 1):
            record, line, state = one_epoch(e, state)
            for k, v in record.items():
                history[k].append(v)
            if bar is not None:
                bar.set_postfix_str(line, refresh=False)
                bar.update(1)
            elif progress:
                print(f"epoch {e}/{epochs}: {line}", file=sys.stderr, flush=True)
            if callback is not None and callback(e, keepable(view(state)), record) is True:
                break
    finally:
        if bar is not None:
            bar.close()
    return state


def keepable(state: Any) -> Any:
    """A copy of ``state`` on the same devices, not donated by the next epoch."""
    return jax.tree_util.tree_map(lambda a: jnp.array(a, copy=True) if isinstance(a, jax.Array) else a, state)


def progress_bar(epochs: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # plain lines instead of a bar
        return None
    return tqdm(total=epochs, desc="train", unit="epoch", file=sys.stderr, dynamic_ncols=True)


def first_bad(costs: np.ndarray) -> int | None:
    bad = np.flatnonzero(~np.isfinite(costs))
    return int(bad[0]) if bad.size else None


def _describe_state(opt_state: Any) -> str:
    """An optimizer state in words: its transforms' state types in chain order (e.g. ``TraceState + ScaleState``),
    or, for a state of another kind, its tree structure."""
    parts = opt_state if isinstance(opt_state, tuple) and not hasattr(opt_state, "_fields") else (opt_state,)
    names = [type(p).__name__ for p in parts]
    if all(hasattr(p, "_fields") for p in parts):
        return " + ".join(names)
    return str(jax.tree_util.tree_structure(opt_state))


def resume_opt_state(optimizer: Any, state: TrainState, population: bool = False,
                     keep: tuple[str, ...] = ()) -> TrainState:
    """``state`` with ``optimizer``'s hyperparameters: the structure must match; values that
    differ (a new constant rate, mu, ...) are applied, with a warning naming old and new.

    So a resumed run uses the optimizer it is given, its constant hyperparameters
    as well as its schedule (which is part of the transform, not of the state).
    The one rule holds for a population (``population=True``, leaves with a leading
    member axis) for every hyperparameter its members share; one the members hold at
    different values (a sweep) keeps them, as do the names in ``keep`` (set by the caller).
    """
    one = jax.tree_util.tree_map(lambda a: a[0], state) if population else state
    fresh = optimizer.init(one.params)
    if jax.tree_util.tree_structure(fresh) != jax.tree_util.tree_structure(one.opt_state):
        raise ValueError(
            "optimizer must be of the kind state.opt_state was made by (resume with the optimizer the run was "
            f"trained with): the state holds {_describe_state(one.opt_state)}, the given optimizer makes "
            f"{_describe_state(fresh)}"
        )
    changed = {}
    for new, old in zip(_optim.hyperparams(fresh), _optim.hyperparams(state.opt_state)):
        for name in new:
            a, b = np.asarray(new[name]), np.asarray(old[name])
            if name in keep or (population and not (b == b[:1]).all()):
                continue  # set by the caller, or swept over the members
            b = b[0] if population else b
            if not np.array_equal(a, b, equal_nan=True):
                changed[name] = (b.tolist(), a.tolist())
    if not changed:
        return state
    who = "fit_population(states=...)" if population else "fit(state=...)"
    warnings.warn(
        f"{who} applies the given optimizer's hyperparameters: "
        + ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items())
        + " (the state held the old values)",
        stacklevel=3,
    )
    values = {k: new for k, (_, new) in changed.items()}
    set_all = lambda s: _optim.set_hyperparams(s, **values)  # noqa: E731
    return state._replace(opt_state=jax.vmap(set_all)(state.opt_state) if population else set_all(state.opt_state))


def has_single_rate(opt_state: Any) -> bool:
    """Whether the optimizer has one learning rate to read (``optim.current_rate``)."""
    try:
        _optim.current_rate(opt_state)
    except ValueError:
        return False
    return True


def raise_if_bad_rate(rates: np.ndarray, start_step: int, e: int, nb: int) -> None:
    """``ValueError`` naming the first step of the epoch whose learning rate (of an optimizer with
    one rate: a user's schedule) was not finite."""
    bad = np.flatnonzero(~np.isfinite(rates))
    if bad.size:
        step_no = start_step + (e - 1) * nb + int(bad[0]) + 1
        raise ValueError(
            f"the schedule gave a non-finite learning rate {float(rates[bad[0]])} at step {step_no} (epoch {e} "
            "of this run); check the schedule with fnn.schedules.check(schedule, n_steps)"
        )


def raise_if_negative_rate(rates: np.ndarray, start_step: int, e: int, nb: int) -> None:
    """``ValueError`` naming the first step of the epoch whose learning rate was negative (a user's
    schedule; NaN means the optimizer has no single rate and is not checked)."""
    bad = np.flatnonzero(rates < 0)
    if bad.size:
        step_no = start_step + (e - 1) * nb + int(bad[0]) + 1
        raise ValueError(
            f"the learning rate must be >= 0, got {float(rates[bad[0]]):.6g} at step {step_no} (epoch {e} of this run); "
            "check the schedule with fnn.schedules.check(schedule, n_steps)"
        )


def raise_if_diverged(costs_np: np.ndarray, state: TrainState, start_step: int, e: int, nb: int) -> None:
    """``FloatingPointError`` naming the step if a cost of the epoch, or its final parameters, are not finite."""
    bad = first_bad(costs_np)
    if bad is not None:
        step_no = start_step + (e - 1) * nb + bad + 1
        raise FloatingPointError(
            f"cost became {costs_np[bad]} at step {step_no} (epoch {e} of this run, "
            f"mini-batch {bad + 1} of {nb}); lower the learning rate or check the data"
        )
    if not bool(all_finite(state.params)):
        raise FloatingPointError(
            f"parameters became NaN or inf at step {start_step + e * nb} (the last update of epoch {e} of this "
            "run; every cost of the epoch was finite); lower the learning rate"
        )
