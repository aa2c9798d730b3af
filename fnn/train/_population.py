"""Populations: ``P`` whole training runs (seeds x hyperparameters) in one compiled call.

Notes, "Stochastic gradient descent" and "Algorithm: Gradient descent +
Backpropagation": member ``i`` runs the loop

    for each epoch: shuffle with fold_in(key_i, step_i); for each mini-batch:
        C_i, g_i = grad C(w_i);  Delta w_i, s_i = optimizer_{h_i}(g_i, s_i);  w_i += Delta w_i

with its own key ``key_i`` and hyperparameters ``h_i`` (rate, mu, ...). The
members share nothing but the data, so ``jax.vmap`` lifts the epoch of
:func:`fit` to all of them: the matrix products of ``P`` networks become one
batched product. Member ``i`` equals :func:`fit` run alone with ``key=keys[i]``
and its hyperparameters, to the rounding of a batched matrix product.

Divergence: the first update whose cost, or whose parameters, hold a NaN or
inf is not applied; the member stays frozen at its last finite state and
``history["diverged"]`` records the number of that update (from 1). Each
epoch first runs unguarded; only an epoch in which a member diverges is run
again from its start with the guarded epoch (the same epoch with the guarded
step), and the diverging members take that result.

On a CPU the members run in concurrent parts, one host thread each
(:func:`default_threads`), and within a part in groups (:func:`default_chunk`);
neither changes a member's result beyond that rounding.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.typing import ArrayLike, DTypeLike

from fnn import batching as _batching
from fnn import parallel as _parallel
from fnn._validate import check_int
from fnn.nn import MLP
from fnn.train import _cache, _evaluate, _loop, _setup, _state, _step, _wide
from fnn.train._setup import Setup
from fnn.train._state import TrainState

Array = jax.Array


DATA_ORDERS = ("member", "shared")

#: In each member's own data order the default group keeps its members' parameters and optimizer
#: states within ``GROUP_BYTES_PER_EXAMPLE * batch_size`` bytes (at most ``MAX_CHUNK`` members), and
#: is one member where a member's step does fewer than ``SMALL_STEP_MACS`` multiply-adds; in a shared
#: order it keeps them within ``SHARED_GROUP_BYTES`` (see :func:`default_chunk`).
GROUP_BYTES_PER_EXAMPLE = 64 * 2**10
SMALL_STEP_MACS = 10**6
SHARED_GROUP_BYTES = 8 * 2**20
MAX_CHUNK = 32


def default_chunk(states: TrainState, p: int, batch_size: int, data_order: str = "member",
                  threads: int = 1) -> int:
    """The group size ``chunk=None`` picks for ``p`` members run in ``threads`` concurrent parts.

    Each member's own data order: with ``threads > 1``, 1 (each member's own epoch); in one thread, 1
    where a member's step does fewer than ``SMALL_STEP_MACS`` (10^6) multiply-adds (``batch_size``
    times its weights), else the largest power of two ``<= GROUP_BYTES_PER_EXAMPLE * batch_size / b``
    (64 KiB per example of the mini-batch) and ``<= MAX_CHUNK`` (32), ``b`` the bytes of one member's
    parameters and optimizer state. A shared order: the largest power of two ``<= SHARED_GROUP_BYTES
    / b`` (8 MiB; its wide first-layer product gains from width). Always at least 1.

    Why (measured on 2 CPU cores beside a loop of ``fit``, load below 2, one run each). A step does
    about ``m`` multiply-adds per weight. In one thread, at small ``m`` the products of a vmapped group
    run slower than one member's own (per-member overhead of a batched product), at larger ``m`` wider
    groups amortize the step's fixed costs while their weights stay in cache (P = 32 and 128):
    784-30-10 with SGD (95 KB a member) at ``m = 10`` (2.4 * 10^5 multiply-adds a step) ran at
    0.98-1.01x the loop one member at a time, 0.78-0.81x in groups of 2 and 0.62-0.71x in groups of 16;
    at ``m = 100`` at 1.02x alone, 1.09x in groups of 4 and 1.32-1.36x in groups of 16 to 32; 784-100-10
    with Adam (0.95 MB a member, ``m = 64``) at 0.99x alone, 1.04x in groups of 2 and 1.16x in groups of
    4. In two threads one member at a time was as fast as the best group or faster: 784-30-10 at
    ``m = 100`` (P = 32 and 128) 2.45-2.46x the loop alone, 2.37-2.47x in groups of 8, 2.02-2.07x in
    groups of 4 or 32; Adam (P = 128) 1.85x alone, 1.76-1.82x in groups of 2 and 4. The shared order in
    two threads: 784-30-10 at ``m = 10``, P = 512 (parts of 256), ran at 2.12x and 2.15x the loop in
    groups of 64 and 128 and at 1.57x in groups of 256; Adam (P = 128) at 2.28-2.31x in groups of 8 and
    16. Powers of two divide the usual population sizes, so no partial last group is compiled.
    """
    b = sum(a.nbytes for a in jax.tree_util.tree_leaves((states.params, states.opt_state))) // max(p, 1)
    if data_order == "shared":
        fit = max(1, SHARED_GROUP_BYTES // max(b, 1))
    elif threads > 1:
        return 1
    else:
        weights = sum(layer["W"].size for layer in states.params) // max(p, 1)
        if batch_size * weights < SMALL_STEP_MACS:
            return 1
        fit = max(1, min(MAX_CHUNK, GROUP_BYTES_PER_EXAMPLE * batch_size // max(b, 1)))
    return 1 << (int(fit).bit_length() - 1)


def host_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every OS
        return max(1, os.cpu_count() or 1)


def default_threads(p: int, mesh: Any) -> int:
    """The number of parts ``threads=None`` runs concurrently: on a single CPU device (no mesh), the
    largest divisor of ``p`` that is at most :func:`host_cores`; else 1.

    Why: one member's small products use one core (XLA's CPU runtime runs one program's operations
    one after another and splits only large products over its threads), and two programs called from
    two host threads run at once. Measured on 2 CPU cores beside a loop of ``fit`` (784-30-10 SGD,
    P = 8 to 512, load below 2): each member its own order at ``m = 10`` went from 0.94-1.35x the loop
    with one thread to 1.87-2.58x with two; at ``m = 100`` from 1.35x to 2.57-2.63x; Adam at ``m = 64``
    from 1.21x to 1.76-1.85x; the shared order at ``m = 10`` from 1.64x (P = 128, groups of 128) to
    2.02-2.06x. Accelerators and meshes already spread each program over their devices."""
    if mesh is not None or jax.default_backend() != "cpu":
        return 1
    cores = min(host_cores(), p)
    return max(t for t in range(1, cores + 1) if p % t == 0)


def chunked(fn: Callable, chunk: int, n: int) -> Callable:
    """``run(tree, *shared)``: ``fn(group, *shared)`` over the groups of ``chunk`` consecutive members
    of ``tree`` (leading axis ``n``) — a ``lax.map`` over the full groups, then the last partial group —
    with the outputs concatenated along the members."""
    g, r = divmod(n, chunk)
    tmap = jax.tree_util.tree_map

    def run(tree: Any, *shared: Any) -> Any:
        if r == 0 and g == 1:
            return fn(tree, *shared)
        outs = []
        if g:
            full = tmap(lambda a: a[: g * chunk].reshape((g, chunk) + a.shape[1:]), tree)
            out = jax.lax.map(lambda t: fn(t, *shared), full)
            outs.append(tmap(lambda a: a.reshape((g * chunk,) + a.shape[2:]), out))
        if r:
            outs.append(fn(tmap(lambda a: a[g * chunk:], tree), *shared))
        return outs[0] if len(outs) == 1 else tmap(lambda u, v: jnp.concatenate([u, v]), *outs)

    return run


def population_epoch(s: Setup, guarded: bool = False, chunk: int = 1, p: int = 1,
                     data_order: str = "member") -> Callable:
    """The jitted population epoch ``(states, diverged, x, y) -> (states, diverged, Metrics, finite)``
    (nothing donated: an epoch in which a member diverges is run again from its start).

    The ``p`` members (``p / D`` per device of the mesh) run in groups of ``chunk``: a group is the epoch
    of :func:`fnn.train._step.epoch_fn` vmapped over its members (``data_order="member"``) or the
    shared-batch epoch of :mod:`fnn.train._wide` (``"shared"``, the batches drawn once from
    ``fold_in(key_0, max step)``). ``finite`` says whether each member's final parameters are finite;
    unguarded, ``diverged`` comes back unchanged."""
    n_dev = _parallel.n_devices(s.mesh) if s.mesh is not None else 1
    local = p // n_dev
    if data_order == "shared":
        group = _wide.shared_epoch_fn(s, guarded)
        run_group = lambda t, x, y, idx: group(t[0], t[1], x, y, idx)  # noqa: E731
    else:
        # each member of a group gathers its own blocks of mini-batches: the group's within the budget
        epoch = _step.epoch_fn(s, guarded=guarded, shard_batches=False,
                               gather_bytes=_step.GATHER_BYTES // max(1, min(chunk, local)))

        def member_epoch(state: TrainState, diverged: Array, x: Array, y: Array):
            if guarded:
                state, diverged, metrics = epoch(state, diverged, x, y)
            else:
                state, metrics = epoch(state, x, y)
            return state, diverged, metrics, _step.all_finite(state.params)

        vm = jax.vmap(member_epoch, in_axes=(0, 0, None, None))
        run_group = lambda t, x, y, idx: vm(t[0], t[1], x, y)  # noqa: E731
        if min(chunk, local) == 1:  # one member at a time: its own epoch as fit runs it, not a vmap of one
            def run_group(t, x, y, idx):
                one = jax.tree_util.tree_map(lambda a: a[0], t)
                return jax.tree_util.tree_map(lambda a: a[None], member_epoch(one[0], one[1], x, y))
    on_device = chunked(run_group, min(chunk, local), local)

    def run(states: TrainState, diverged: Array, x: Array, y: Array):
        idx = None
        if data_order == "shared":
            key = jax.random.fold_in(states.key[0], jnp.max(states.step))
            idx = _batching.batch_indices(x.shape[0], s.batch_size, key=key)
        if n_dev == 1:
            return on_device((states, diverged), x, y, idx)
        split = jax.tree_util.tree_map(lambda a: a.reshape((n_dev, local) + a.shape[1:]), (states, diverged))
        out = jax.vmap(on_device, in_axes=(0, None, None, None))(split, x, y, idx)
        return jax.tree_util.tree_map(lambda a: a.reshape((p,) + a.shape[2:]), out)

    kwargs: dict[str, Any] = {}
    if s.mesh is not None:
        kwargs.update(
            in_shardings=(s.mesh.batch, s.mesh.batch, s.mesh.replicated, s.mesh.replicated),
            out_shardings=(s.mesh.batch, s.mesh.batch, s.mesh.batch, s.mesh.batch),
        )
    return jax.jit(run, **kwargs)


@functools.partial(jax.jit, static_argnums=1)
def _split(tree: Any, t: int) -> tuple[Any, ...]:
    """``tree``'s leaves cut along their leading (member) axis into ``t`` equal consecutive parts."""
    n = jax.tree_util.tree_leaves(tree)[0].shape[0]
    q = n // t
    return tuple(jax.tree_util.tree_map(lambda a: a[i * q:(i + 1) * q], tree) for i in range(t))


@jax.jit
def _join(parts: tuple[Any, ...]) -> Any:
    """The inverse of :func:`_split`: the parts' leaves concatenated along the member axis."""
    return jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *parts)


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="fnn-population")
        return _POOLS[threads]


def _blocking(program: Callable, *args: Any) -> Any:
    return jax.block_until_ready(program(*args))


def compiled_epoch(s: Setup, guarded: bool, chunk: int, p: int, data_order: str, threads: int,
                   states: TrainState, diverged: Array, x: Array, y: Array) -> tuple[Callable, float]:
    """The population epoch for these arguments, compiled once per configuration (:mod:`._cache`), and
    the seconds spent compiling (or looking it up).

    With ``threads > 1`` (a divisor of ``p``, one device) the members run as ``threads`` equal
    consecutive parts, each the epoch of :func:`population_epoch` for ``p / threads`` members, called
    concurrently from host threads; the outputs are concatenated. A member's result does not depend on
    the part it runs in: the parts run the same program on their own members (in the shared order each
    part draws the batches from the same key and step)."""
    q = p // threads
    part = (states, diverged) if threads == 1 else _split((states, diverged), threads)[0]
    key = ("population", _cache.setup_key(s), chunk, q, data_order, guarded)
    program, secs = _cache.compiled(key, lambda: population_epoch(s, guarded, chunk, q, data_order), *part, x, y)
    if threads == 1:
        return program, secs
    pool = _pool(threads)

    def run(states: TrainState, diverged: Array, x: Array, y: Array):
        futures = [pool.submit(_blocking, program, *part, x, y) for part in _split((states, diverged), threads)]
        return _join(tuple(f.result() for f in futures))

    return run, secs


def fit_population(
    net: MLP,
    cost: Any,
    optimizer: Any,
    train: tuple[ArrayLike, ArrayLike],
    epochs: int,
    batch_size: int,
    keys: Array | None = None,
    hyperparams: Mapping[str, ArrayLike] | None = None,
    validation: tuple[ArrayLike, ArrayLike] | None = None,
    grad: str = "backprop",
    progress: bool = True,
    devices: Sequence[Any] | Mesh | None = None,
    callback: Callable[[int, TrainState, dict], Any] | None = None,
    states: TrainState | None = None,
    dtype: DTypeLike = jnp.float32,
    diverged: ArrayLike | None = None,
    process_local: bool = False,
    precision: str = "float32",
    chunk: int | None = None,
    data_order: str = "member",
    data_key: Array | None = None,
    threads: int | None = None,
) -> tuple[TrainState, dict[str, Any]]:
    """Train ``P`` networks at once — seeds x hyperparameters — as one compiled, vmapped epoch.

    Args:
      net, cost, optimizer, train, epochs, batch_size, validation, grad,
        progress, dtype, precision, process_local: as for :func:`fit`, shared by all members.
      keys: ``(P,)`` keys (``jax.random.split(jax.random.key(seed), P)``); exactly one of ``keys`` and ``states``.
      hyperparams: ``{name: (P,) array}`` of ``optim.set_hyperparams`` names the optimizer's state holds.
      devices: shard the population axis over these devices; ``P`` must be a multiple of their number.
      callback: ``callback(epoch, states, record)`` after each epoch; ``True`` stops.
      states: resume this population (leaves with a leading axis ``P``). The optimizer's
        hyperparameters are applied as in :func:`fit` (with a warning where they change), except
        those the members hold at different values (a sweep) or that ``hyperparams`` sets.
      diverged: with ``states``, the previous ``history["diverged"]`` (diverged members stay frozen).
      chunk: run the members in groups of ``chunk`` (a vmap inside a group, a ``lax.map`` over the
        groups, a last partial group when ``chunk`` does not divide ``P / D``), so that a group's
        parameters and optimizer state stay in cache; ``None`` picks :func:`default_chunk` (one
        member at a time in each member's own order when ``threads > 1``). The result does not
        depend on it.
      data_order: ``"member"``: member ``i`` shuffles with its own key (``fold_in(key_i, step)``);
        ``"shared"``: every member sees the same mini-batch at each step (common random numbers: the
        better design to compare hyperparameters), shuffled with ``fold_in(data_key, step)``, and the
        first layer runs as one wide product over each group (:mod:`fnn.train._wide`). Member ``i``
        then equals ``fit(key=keys[i], data_key=data_key)``.
      data_key: with ``data_order="shared"`` and ``keys``: the shuffles' key; default member 0's own
        (the second half of ``split(keys[0])``), so member 0 equals ``fit(key=keys[0])``. Resumed
        states carry it (every member must hold the same key and the live ones the same step).
      threads: run the population as ``threads`` equal parts of consecutive members, each compiled once
        and called from its own host thread, so that the parts run at once on the host's cores; it must
        divide ``P``. ``None`` picks :func:`default_threads`: on one CPU device the largest divisor of
        ``P`` up to the cores this process may use, else 1 (devices spread a population themselves). The
        result does not depend on it.

    Returns:
      ``(states, history)``: :func:`fit`'s keys, with ``(P,)`` arrays per epoch
      for ``"step"``, ``"cost"``, ``"accuracy"``, ``"rate"``, ``"val_cost"``,
      ``"val_accuracy"`` (NaN for a member frozen all epoch), and
      ``"diverged"``, a ``(P,)`` int array: each member's first update not
      applied, or -1; ``"threads"`` and ``"chunk"``, the parts and the group size it ran with.
    """
    run = _setup.check_run(net, cost, optimizer, train, epochs, batch_size, validation, grad, progress, devices,
                           callback, precision)
    s = run.setup
    if type(callback).__name__ == "SharpnessTracker" and type(callback).__module__ == "fnn.curvature":
        raise TypeError("callback: a curvature.SharpnessTracker follows one run (fit); fit_population does not "
                        "support it: track a member with fit(state=train.member(states, i), callback=tracker)")
    if (keys is None) == (states is None):
        raise ValueError(
            "pass exactly one of keys (a fresh population) and states (resume one), got "
            + ("both" if keys is not None else "neither")
        )
    data_order = _setup.check_choice(data_order, "data_order", DATA_ORDERS)
    if data_key is not None and (data_order != "shared" or states is not None):
        raise ValueError("data_key is for a fresh population with data_order='shared' (resumed states carry "
                         f"their key), got data_key with data_order={data_order!r}"
                         + (" and states" if states is not None else ""))
    if states is None:
        keys = _setup.check_keys(keys, population=True)
        states = _state.fresh_population(s.net, s.optimizer, keys, hyperparams, dtype)
        if data_order == "shared":
            k = states.key[0] if data_key is None else _setup.check_keys(data_key)
            states = states._replace(key=jnp.stack([k] * int(states.step.shape[0])))
    else:
        _state.population_size(states)
        s.net.check_params(_state.take_member(states, 0).params)
        states = _loop.resume_opt_state(s.optimizer, states, population=True, keep=tuple(hyperparams or ()))
        states = _state.with_hyperparams(states, hyperparams)
    p = int(jnp.shape(states.step)[0])
    _parallel.check_divisible(p, s.mesh, "the population size P", "(len(keys) or the states' leading axis)")
    frozen = _check_diverged(diverged, p)
    if data_order == "shared":
        _check_shared(states, frozen)
    threads = _check_threads(threads, p, s.mesh)
    chunk = (default_chunk(states, p, s.batch_size, data_order, threads) if chunk is None
             else check_int(chunk, "chunk", 1))
    process_local = _loop.check_process_local(process_local, s.mesh, run.train[0].shape[0])
    x, y, val = _loop.place_data(s, run.train, run.validation, run.epochs,
                                 jax.tree_util.tree_leaves(states.params)[0].dtype, process_local)
    sharding = s.mesh.batch if s.mesh is not None else None
    states = _loop.own_copy(states, sharding)
    d = _parallel.put(jnp.asarray(frozen, jnp.int32), sharding)
    compiled, compile_s = compiled_epoch(s, False, chunk, p, data_order, threads, states, d, x, y)
    guarded = functools.cache(lambda: compiled_epoch(s, True, chunk, p, data_order, threads, states, d, x, y)[0])
    history = _loop.empty_history(compile_s)
    one_epoch = _epoch_runner(s, compiled, guarded, x, y, val, p)
    carry = _loop.run_epochs(run.epochs, progress, one_epoch, callback, history, (states, d, frozen),
                             view=lambda c: c[0])
    history["diverged"] = _parallel.to_host(carry[1])
    history["threads"], history["chunk"] = threads, chunk
    return carry[0], history


def _epoch_runner(s: Setup, compiled: Callable, guarded: Callable, x: Array, y: Array,
                  val: tuple[Array, Array] | None, p: int) -> Callable:
    """``one_epoch(e, (states, diverged, diverged on the host)) -> (record, line, carry)``."""
    nb = x.shape[0] // s.batch_size
    val_data = _evaluate.chunks(*val, 1000) if val is not None else None

    def one_epoch(e: int, carry: tuple[TrainState, Array, np.ndarray]):
        states, d_in, d_before = carry
        t0 = time.perf_counter()
        st, d, metrics, finite = compiled(states, d_in, x, y)
        metrics, finite = _parallel.to_host((metrics, finite))  # all members, every process
        live = d_before < 0
        new = live & ~(np.isfinite(np.asarray(metrics.cost)).all(axis=1) & np.asarray(finite))
        if new.any():  # rerun this epoch guarded; the members that diverged in it take that result
            st, d, metrics, _ = _select(new, guarded()(states, d_in, x, y), (st, d, metrics, finite))
            metrics = _parallel.to_host(metrics)
        if not live.all():  # members frozen in an earlier epoch keep their state; nothing was applied
            st = _select(~live, states, st)
            metrics = metrics._replace(cost=np.where(live[:, None], np.asarray(metrics.cost), np.nan))
        step_host, d_host = _parallel.to_host((st.step, d))
        d_host = np.asarray(d_host)
        dt = time.perf_counter() - t0
        record = _record(e, step_host, metrics, p * nb * s.batch_size / dt, dt)
        live = d_host < 0
        line = f"cost {np.nanmedian(record['cost']) if live.any() else float('nan'):.4f} (median)"
        if val is not None:
            record["val_cost"], record["val_accuracy"] = _evaluate.members(s.net, s.cost, st, val_data, val[0].shape[0])
            best = np.max(record["val_accuracy"][live]) if live.any() else float("nan")
            line += f" best val_acc {best:.4f}"
        line += f" diverged {int((~live).sum())}/{p} {record['examples_per_s']:.0f} ex/s"
        return record, line, (st, d, d_host)

    return one_epoch


def _record(e: int, step_host: Any, metrics: Any, examples_per_s: float, dt: float) -> dict[str, Any]:
    """An epoch's history entry; a member's cost and accuracy average the updates it applied."""
    costs = np.asarray(metrics.cost)  # (P, n_batches), NaN where an update was not applied
    applied = np.isfinite(costs)
    n_applied = applied.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "epoch": e,
            "step": step_host,
            "cost": np.where(n_applied > 0, np.where(applied, costs, 0.0).sum(axis=1) / n_applied, np.nan),
            "accuracy": np.where(
                n_applied > 0, np.where(applied, np.asarray(metrics.accuracy), 0.0).sum(axis=1) / n_applied, np.nan
            ),
            "rate": np.asarray(metrics.rate)[:, -1],
            "examples_per_s": examples_per_s,
            "epoch_s": dt,
            "val_cost": None,
            "val_accuracy": None,
        }


def _select(members: np.ndarray, a: Any, b: Any) -> Any:
    """Leaf by leaf, ``a`` for the members marked in ``members`` ``(P,)`` and ``b`` for the others."""

    def pick(u, v):
        if jax.dtypes.issubdtype(u.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(pick(jax.random.key_data(u), jax.random.key_data(v)))
        mask = jnp.asarray(members).reshape(members.shape + (1,) * (u.ndim - 1))
        return jnp.where(mask, u, v)

    return jax.tree_util.tree_map(pick, a, b)


def _check_shared(states: TrainState, frozen: np.ndarray) -> None:
    """With a shared data order every member holds the same key and the live ones the same step."""
    raw = np.asarray(jax.random.key_data(states.key))
    if not (raw == raw[:1]).all():
        raise ValueError("data_order='shared' needs every member's states.key equal (one data order), got "
                         f"{len(np.unique(raw.reshape(raw.shape[0], -1), axis=0))} different keys")
    steps = np.asarray(states.step)[frozen < 0]
    if steps.size and not (steps == steps[0]).all():
        raise ValueError("data_order='shared' needs every live member at the same step, got steps "
                         f"{sorted(set(steps.tolist()))}")


def _check_threads(threads: Any, p: int, mesh: Any) -> int:
    if threads is None:
        return default_threads(p, mesh)
    t = check_int(threads, "threads", 1)
    if p % t:
        raise ValueError(f"threads must divide the population size P = {p} (equal parts), got {t}")
    if t > 1 and mesh is not None:
        raise ValueError(f"threads runs parts of a population on one device; with devices (a mesh) it must be 1 "
                         f"or None, got {t}")
    return t


def _check_diverged(diverged: Any, p: int) -> np.ndarray:
    if diverged is None:
        return np.full((p,), -1, np.int32)
    d = np.asarray(diverged)
    if d.shape != (p,) or not np.issubdtype(d.dtype, np.integer):
        raise ValueError(
            f"diverged must be the previous history['diverged']: an int array of shape ({p},), "
            f"got {d.dtype} of shape {d.shape}"
        )
    return d.astype(np.int32)
