"""Populations: ``P`` whole training runs (seeds x hyperparameters) in one compiled call.

Notes, "Stochastic gradient descent" and "Algorithm: Gradient descent +
Backpropagation": one run is the loop

    for each epoch: shuffle with fold_in(key_i, step_i); for each mini-batch:
        C_i, g_i = grad C(w_i);  Delta w_i, s_i = optimizer_{h_i}(g_i, s_i);  w_i += Delta w_i

for a member ``i`` with its own key ``key_i`` and hyperparameters ``h_i``
(rate, mu, ...). The members share nothing but the data, so ``jax.vmap`` lifts
the epoch of :func:`fnn.train.fit` to all of them at once: the matrix products
of ``P`` networks become one batched product, which keeps the device busy at
the notes' small sizes (784-30-10, ``m = 10``) where a single run is mostly
loop overhead. The data set is placed on the device once; each member gathers
its own shuffled mini-batches from it inside the scanned epoch (never ``P``
copies of the data).

Member ``i`` of :func:`fit_population` equals :func:`fnn.train.fit` run alone
with ``key=keys[i]`` and that member's hyperparameters: same initial
parameters, same shuffles, same parameters after every epoch, to the rounding
of a batched matrix product.

A diverging member (a learning-rate sweep always has some) does not stop the
population: the first update whose cost, or whose resulting parameters, hold
a NaN or inf is not applied; the member stays frozen at its last finite state,
and ``history["diverged"]`` records the number of that update (counted from 1
over the member's run, as in the error of :func:`fnn.train.fit`). The others
are unaffected: members never mix. A per-step guard costs 10-40% of a small
step (a selection over every member's state, or a reduction over its
parameters), so each epoch first runs unguarded — the plain vmapped epoch —
and reports each member's costs and whether its final parameters are finite;
only in an epoch where a member diverges is that epoch run again from its
start with the guard, and the diverging members take that result (the others
keep theirs). A member frozen in an earlier epoch keeps its state.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.typing import ArrayLike, DTypeLike

from fnn import batching as _batching
from fnn import optim as _optim
from fnn import parallel as _parallel
from fnn import train as _train
from fnn.nn import MLP

Array = jax.Array
TrainState = _train.TrainState

__all__ = ["fit_population", "init_population", "member", "stack_members", "population_size"]


# --------------------------------------------------------------------------
# members <-> population


def population_size(states: TrainState) -> int:
    """``P``, the length of the leading axis of every leaf of ``states``."""
    states = _train._check_state(states)
    step = jnp.asarray(states.step)
    if step.ndim != 1:
        raise ValueError(
            f"states must be a population (every leaf with a leading axis P: step of shape (P,)), "
            f"got step of shape {step.shape}"
        )
    return int(step.shape[0])


def member(states: TrainState, i: int) -> TrainState:
    """Member ``i`` of a population as an ordinary :class:`~fnn.train.TrainState`
    (``leaf[i]`` of every leaf): usable by ``evaluate``, ``checkpoint.save`` and
    ``fit(state=...)``."""
    p = population_size(states)
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
        raise TypeError(f"i must be an int in [-{p}, {p - 1}], got {i!r}")
    if not -p <= i < p:
        raise IndexError(f"i must be in [-{p}, {p - 1}] for a population of {p} members, got {i}")
    return jax.tree_util.tree_map(lambda a: a[i], states)


def stack_members(members: Sequence[TrainState]) -> TrainState:
    """The population whose member ``i`` is ``members[i]`` (the inverse of :func:`member`).

    Every member must have the same tree structure and leaf shapes and dtypes."""
    members = list(members)
    if not members:
        raise ValueError("members must be a non-empty sequence of TrainState, got an empty one")
    for j, s in enumerate(members):
        if not isinstance(s, TrainState):
            raise TypeError(f"members[{j}] must be an fnn.train.TrainState, got {type(s).__name__}")
    ref = jax.tree_util.tree_structure(members[0])
    ref_shapes = [(a.shape, a.dtype) for a in jax.tree_util.tree_leaves(members[0])]
    for j, s in enumerate(members[1:], 1):
        shapes = [(a.shape, a.dtype) for a in jax.tree_util.tree_leaves(s)]
        if jax.tree_util.tree_structure(s) != ref or shapes != ref_shapes:
            raise ValueError(
                f"members must all have the structure, shapes and dtypes of members[0]; members[{j}] differs "
                "(a different network, optimizer or dtype)"
            )
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *members)


def _check_keys(keys: Any) -> Array:
    if isinstance(keys, jax.Array) and jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key):
        if keys.ndim == 1 and keys.shape[0] >= 1:
            return keys
    elif isinstance(keys, jax.Array) and keys.dtype == jnp.uint32 and keys.ndim == 2 and keys.shape[1] == 2:
        if keys.shape[0] >= 1:
            return jax.random.wrap_key_data(keys)
    raise TypeError(
        "keys must be a (P,) array of jax.random keys (jax.random.split(jax.random.key(seed), P)), got "
        f"{getattr(keys, 'dtype', type(keys).__name__)} of shape {getattr(keys, 'shape', ())}"
    )


def _check_hyperparams(hyperparams: Any, p: int, opt_state: Any) -> dict[str, np.ndarray]:
    """``{name: (P,) array}``; each name held by the optimizer's state, each value in its range."""
    if hyperparams is None:
        return {}
    if not isinstance(hyperparams, Mapping):
        raise TypeError(f"hyperparams must be a mapping name -> (P,) array or None, got {type(hyperparams).__name__}")
    out = {}
    for name, values in hyperparams.items():
        v = np.asarray(values)
        if v.shape != (p,):
            raise ValueError(f"hyperparams[{name!r}] must have shape ({p},) (one value per member), got shape {v.shape}")
        if not np.issubdtype(v.dtype, np.number) or np.issubdtype(v.dtype, np.complexfloating):
            raise TypeError(f"hyperparams[{name!r}] must hold real numbers, got dtype {v.dtype}")
        for extreme in (v.min(), v.max()):  # ranges are intervals: checking both ends checks all
            _optim.set_hyperparams(opt_state, **{name: extreme})
        if not np.all(np.isfinite(v)):
            raise ValueError(f"hyperparams[{name!r}] must be finite, got {v[~np.isfinite(v)][0]}")
        out[name] = v
    return out


def init_population(
    net: MLP,
    optimizer: Any,
    keys: Array,
    hyperparams: Mapping[str, ArrayLike] | None = None,
    dtype: DTypeLike = jnp.float32,
) -> TrainState:
    """``P`` fresh states: member ``i`` is ``train.init_state(net, optimizer, keys[i], dtype)``
    with its hyperparameters set (``optim.set_hyperparams(opt_state, name=hyperparams[name][i])``)."""
    net = _train._check_net(net)
    optimizer = _train._check_optimizer(optimizer)
    keys = _check_keys(keys)
    states = jax.vmap(lambda k: _train.init_state(net, optimizer, k, dtype))(keys)
    return _with_hyperparams(states, hyperparams)


def _with_hyperparams(states: TrainState, hyperparams: Mapping[str, ArrayLike] | None) -> TrainState:
    p = population_size(states)
    first = member(states, 0)
    values = _check_hyperparams(hyperparams, p, first.opt_state)
    if not values:
        return states
    opt_state = jax.vmap(lambda s, v: _optim.set_hyperparams(s, **v))(states.opt_state, values)
    return states._replace(opt_state=opt_state)


# --------------------------------------------------------------------------
# the population's epoch


def _member_epoch_fn(step: Callable, batch_size: int, guarded: bool) -> Callable:
    """One member's epoch ``(state, diverged, x, y) -> (state, diverged, Metrics, finite)``.

    ``guarded=False`` (the fast path): the plain epoch; ``diverged`` comes back
    unchanged and ``finite`` says whether the final parameters are finite.
    ``guarded=True``: an update is applied only if its cost and the parameters
    it makes are finite; ``diverged`` becomes the number of the first update
    that was not applied, and the costs of updates not applied are NaN.
    """

    def epoch(state: TrainState, diverged: Array, x: Array, y: Array):
        key = jax.random.fold_in(state.key, state.step)
        index = _batching.batch_indices(x.shape[0], batch_size, key=key)
        take = lambda idx: (jnp.take(x, idx, axis=0), jnp.take(y, idx, axis=0))  # noqa: E731

        if not guarded:
            state, metrics = jax.lax.scan(lambda s, idx: step(s, *take(idx)), state, index)
            return state, diverged, metrics, _train._all_finite(state.params)

        def body(carry, idx):
            s, d = carry
            s, metrics, ok = step(s, *take(idx), d < 0)
            d = jnp.where((d < 0) & ~ok, s.step + 1, d)  # s is the unchanged state where not ok
            return (s, d), metrics._replace(cost=jnp.where(ok, metrics.cost, jnp.nan))

        (state, diverged), metrics = jax.lax.scan(body, (state, diverged), index)
        return state, diverged, metrics, _train._all_finite(state.params)

    return epoch


def _population_epoch(net, cost, optimizer, grad, batch_size, mesh, guarded: bool = False,
                      precision: str = "float32"):
    """The jitted population epoch ``(states, diverged, x, y) -> (states, diverged, Metrics, finite)``
    (nothing donated: an epoch in which a member diverges is run again from its start)."""
    member_epoch = _member_epoch_fn(_train._step_fn(net, cost, optimizer, grad, precision), batch_size, guarded)
    run = jax.vmap(member_epoch, in_axes=(0, 0, None, None))
    kwargs: dict[str, Any] = {}
    if mesh is not None:
        kwargs.update(
            in_shardings=(mesh.batch, mesh.batch, mesh.replicated, mesh.replicated),
            out_shardings=(mesh.batch, mesh.batch, mesh.batch, mesh.batch),
        )
    return jax.jit(run, **kwargs)


def _evaluate_population(net, cost, states: TrainState, x: Array, y: Array, batch_size: int = 1000):
    """Mean cost and accuracy of every member on ``(x, y)`` in inference mode: two ``(P,)`` arrays."""
    n = x.shape[0]
    m = min(batch_size, n)
    nb = n // m
    xb = x[: nb * m].reshape((nb, m) + x.shape[1:])
    yb = y[: nb * m].reshape((nb, m) + y.shape[1:])
    c, a = _train._population_eval_fn(net, cost)(states.params, states.net_state, xb, yb, x[nb * m :], y[nb * m :])
    c, a = _parallel.to_host((c, a))  # (P,) sharded over the members' devices
    return c / n, a / n


# --------------------------------------------------------------------------
# fit_population


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
) -> tuple[TrainState, dict[str, Any]]:
    """Train ``P`` networks at once — seeds x hyperparameters — as one compiled, vmapped epoch.

    Member ``i`` runs exactly :func:`fnn.train.fit` with ``key=keys[i]`` and
    ``optim.set_hyperparams(opt_state, name=hyperparams[name][i])`` (see the
    module docstring for the math and the divergence rule).

    Args:
      net, cost, optimizer, train, epochs, batch_size, validation, grad,
        progress, dtype: as for :func:`fnn.train.fit`, shared by all members.
      keys: ``(P,)`` keys, ``jax.random.split(jax.random.key(seed), P)``; member
        ``i`` initializes its parameters and draws its shuffles from
        ``keys[i]``. Exactly one of ``keys`` and ``states``.
      hyperparams: ``{name: (P,) array}``, names of ``optim.set_hyperparams``
        (``rate``, ``rate_multiplier``, ``mu``, ``decay``, ``b1``, ``b2``,
        ``eps``, ``weight_decay``, ``max_norm``) that the optimizer's state
        holds. With ``states`` they replace the states' values.
      devices: shard the population axis over these devices (members are
        independent: no communication); ``P`` must be a multiple of their number.
      callback: ``callback(epoch, states, record)`` after each epoch; ``True`` stops.
      states: resume this population (leaves with a leading axis ``P``, e.g.
        :func:`stack_members` or an earlier result): ``a`` epochs, then ``b``
        more from the result, equal one run of ``a + b`` bit for bit when
        ``diverged`` is passed along too.
      diverged: with ``states``, the previous ``history["diverged"]``: members
        that diverged stay frozen (without it they would be tried again).
      precision: ``"float32"`` or ``"bfloat16"``, as for :func:`fnn.train.fit`.
      process_local: as for :func:`fnn.train.fit` (several processes, each
        passing its own rows of ``train``). Over several processes the
        population axis is sharded over every process's devices; the
        returned states are global arrays (``parallel.to_host`` gathers them),
        the history is complete on every process.

    Returns:
      ``(states, history)``: ``history`` has :func:`fnn.train.fit`'s keys;
      ``"step"``, ``"cost"``, ``"accuracy"``, ``"rate"``, ``"val_cost"``,
      ``"val_accuracy"`` hold one ``(P,)`` array per epoch (a member's cost
      and accuracy average the steps it applied; NaN for a member frozen all
      epoch), ``"examples_per_s"`` (all members together) and ``"epoch_s"``
      one number per epoch, and ``"diverged"`` is a ``(P,)`` int array: the
      number of each member's first update that was not applied, or -1.
    """
    args = _train._check_args(net, cost, optimizer, train, epochs, batch_size, validation, grad, progress, devices,
                              callback, precision)
    net, mesh = args.net, args.mesh
    if (keys is None) == (states is None):
        raise ValueError(
            "pass exactly one of keys (a fresh population) and states (resume one), got "
            + ("both" if keys is not None else "neither")
        )
    if states is None:
        states = init_population(net, args.optimizer, keys, hyperparams, dtype)
    else:
        p = population_size(states)
        net.check_params(member(states, 0).params)
        states = _with_hyperparams(states, hyperparams)
    p = population_size(states)
    _parallel.check_divisible(p, mesh, "the population size P", "(len(keys) or the states' leading axis)")
    frozen = _check_diverged(diverged, p)
    process_local = _train._check_process_local(process_local, mesh, args.x.shape[0])
    x, y, val = _train._place_data(args, jax.tree_util.tree_leaves(states.params)[0].dtype, process_local)
    sharding = mesh.batch if mesh is not None else None
    states = _train._own_copy(states, sharding)
    frozen = _parallel.put(jnp.asarray(frozen, jnp.int32), sharding)

    make = lambda check: _population_epoch(  # noqa: E731
        net, args.cost, args.optimizer, args.grad, args.batch_size, mesh, check, args.precision)
    compiled, compile_s = _train._compile(make(False), states, frozen, x, y)
    exact: list[Any] = []  # the guarded epoch, compiled when first needed
    history = _train._empty_history(compile_s)
    nb = x.shape[0] // args.batch_size
    current = [states, frozen]
    d_before = [np.asarray(_parallel.to_host(frozen))]

    def one_epoch(e: int):
        t0 = time.perf_counter()
        s, d, metrics, finite = compiled(current[0], current[1], x, y)
        metrics, finite = _parallel.to_host((metrics, finite))  # all members, every process
        live = d_before[0] < 0
        new = live & ~(np.isfinite(np.asarray(metrics.cost)).all(axis=1) & np.asarray(finite))
        if new.any():  # rerun this epoch guarded; the members that diverged in it take that result
            if not exact:
                exact.append(make(True).lower(states, frozen, x, y).compile())
            s, d, metrics, _ = _select(new, exact[0](current[0], current[1], x, y), (s, d, metrics, finite))
            metrics = _parallel.to_host(metrics)
        if not live.all():  # members frozen in an earlier epoch keep their state; nothing was applied
            s = _select(~live, current[0], s)
            metrics = metrics._replace(cost=np.where(live[:, None], np.asarray(metrics.cost), np.nan))
        step_host, d_host = _parallel.to_host((s.step, d))
        d_before[0] = np.asarray(d_host)
        costs = np.asarray(metrics.cost)  # (P, n_batches), NaN where an update was not applied
        dt = time.perf_counter() - t0
        current[0], current[1] = s, d
        applied = np.isfinite(costs)
        n_applied = applied.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            record = {
                "epoch": e,
                "step": step_host,
                "cost": np.where(n_applied > 0, np.where(applied, costs, 0.0).sum(axis=1) / n_applied, np.nan),
                "accuracy": np.where(
                    n_applied > 0, np.where(applied, np.asarray(metrics.accuracy), 0.0).sum(axis=1) / n_applied, np.nan
                ),
                "rate": np.asarray(metrics.rate)[:, -1],
                "examples_per_s": p * nb * args.batch_size / dt,
                "epoch_s": dt,
                "val_cost": None,
                "val_accuracy": None,
            }
        n_div = int((d_host >= 0).sum())
        live = d_host < 0
        line = f"cost {np.nanmedian(record['cost']) if live.any() else float('nan'):.4f} (median)"
        if val is not None:
            record["val_cost"], record["val_accuracy"] = _evaluate_population(net, args.cost, s, *val)
            best = np.max(record["val_accuracy"][live]) if live.any() else float("nan")
            line += f" best val_acc {best:.4f}"
        line += f" diverged {n_div}/{p} {record['examples_per_s']:.0f} ex/s"
        return record, line, s

    _train._run_epochs(args.epochs, progress, one_epoch, callback, history)
    history["diverged"] = _parallel.to_host(current[1])
    return current[0], history


def _select(members: np.ndarray, a: Any, b: Any) -> Any:
    """Leaf by leaf, ``a`` for the members marked in ``members`` ``(P,)`` and ``b`` for the others."""

    def pick(u, v):
        if jax.dtypes.issubdtype(u.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(pick(jax.random.key_data(u), jax.random.key_data(v)))
        mask = jnp.asarray(members).reshape(members.shape + (1,) * (u.ndim - 1))
        return jnp.where(mask, u, v)

    return jax.tree_util.tree_map(pick, a, b)


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
