"""The training state and populations of states.

:class:`TrainState` ``(params, opt_state, net_state, step, key)`` is all a
run carries (what :func:`fnn.checkpoint.save` writes); :class:`Metrics` the
per-step numbers. A population of ``P`` runs is one :class:`TrainState` whose
every leaf has a leading axis ``P``: member ``i`` is ``leaf[i]`` of every leaf
(:func:`member`, :func:`stack_members`); member ``i`` of
:func:`init_population` is ``init_state(net, optimizer, keys[i])`` with its
hyperparameters set (``optim.set_hyperparams``).
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from fnn import optim as _optim
from fnn.nn import MLP, Params
from fnn.train import _setup

Array = jax.Array


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


def check_state(state: Any) -> TrainState:
    if not isinstance(state, TrainState):
        raise TypeError(f"state must be an fnn.train.TrainState (train.init_state(...)), got {type(state).__name__}")
    return state


def init_state(net: MLP, optimizer: _optim.Transform, key: Array, dtype: DTypeLike = jnp.float32) -> TrainState:
    """A fresh :class:`TrainState`: ``params = net.init(k1, dtype)``, ``opt_state =
    optimizer.init(params)``, ``net_state = net.init_state(dtype)``, ``step = 0``.

    ``key`` is split in two: one half initializes the parameters, the other is
    kept as the state's key for the shuffles.
    """
    return fresh_state(_setup.check_net(net), _setup.check_optimizer(optimizer), _setup.check_keys(key), dtype)


def fresh_state(net: MLP, optimizer: Any, key: Array, dtype: DTypeLike) -> TrainState:
    """:func:`init_state` of checked arguments."""
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
# members <-> population


def population_size(states: TrainState) -> int:
    """``P``, the length of the leading axis of every leaf of ``states``."""
    states = check_state(states)
    step = jnp.asarray(states.step)
    if step.ndim != 1:
        raise ValueError(
            f"states must be a population (every leaf with a leading axis P: step of shape (P,)), "
            f"got step of shape {step.shape}"
        )
    return int(step.shape[0])


def member(states: TrainState, i: int) -> TrainState:
    """Member ``i`` of a population as an ordinary :class:`TrainState`
    (``leaf[i]`` of every leaf): usable by ``evaluate``, ``checkpoint.save`` and
    ``fit(state=...)``."""
    p = population_size(states)
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
        raise TypeError(f"i must be an int in [-{p}, {p - 1}], got {i!r}")
    if not -p <= i < p:
        raise IndexError(f"i must be in [-{p}, {p - 1}] for a population of {p} members, got {i}")
    return take_member(states, i)


def take_member(states: TrainState, i: int) -> TrainState:
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


def init_population(
    net: MLP,
    optimizer: Any,
    keys: Array,
    hyperparams: Mapping[str, ArrayLike] | None = None,
    dtype: DTypeLike = jnp.float32,
) -> TrainState:
    """``P`` fresh states: member ``i`` is ``init_state(net, optimizer, keys[i], dtype)``
    with its hyperparameters set (``optim.set_hyperparams(opt_state, name=hyperparams[name][i])``)."""
    net = _setup.check_net(net)
    optimizer = _setup.check_optimizer(optimizer)
    keys = _setup.check_keys(keys, population=True)
    return fresh_population(net, optimizer, keys, hyperparams, dtype)


def fresh_population(net: MLP, optimizer: Any, keys: Array, hyperparams: Any, dtype: DTypeLike) -> TrainState:
    """:func:`init_population` of checked ``net``, ``optimizer`` and ``keys`` (``hyperparams`` is checked here)."""
    states = jax.vmap(lambda k: fresh_state(net, optimizer, k, dtype))(keys)
    return with_hyperparams(states, hyperparams)


def with_hyperparams(states: TrainState, hyperparams: Mapping[str, ArrayLike] | None) -> TrainState:
    """``states`` with member ``i``'s hyperparameters set to ``hyperparams[name][i]`` (checked here)."""
    p = int(jnp.shape(states.step)[0])
    values = check_hyperparams(hyperparams, p, take_member(states, 0).opt_state)
    if not values:
        return states
    opt_state = jax.vmap(lambda s, v: set_hyperparams(s, **v))(states.opt_state, values)
    return states._replace(opt_state=opt_state)


def check_hyperparams(hyperparams: Any, p: int, opt_state: Any) -> dict[str, np.ndarray]:
    """``{name: (P,) array}``; each name held by the optimizer's state, each value in its range."""
    if hyperparams is None:
        return {}
    if not isinstance(hyperparams, Mapping):
        raise TypeError(
            f"hyperparams must be a mapping name -> (P,) array or None, got {type(hyperparams).__name__}"
        )
    out = {}
    for name, values in hyperparams.items():
        v = np.asarray(values)
        if v.shape != (p,):
            raise ValueError(f"hyperparams[{name!r}] must have shape ({p},) (one value per member), got shape {v.shape}")
        if not np.issubdtype(v.dtype, np.number) or np.issubdtype(v.dtype, np.complexfloating):
            raise TypeError(f"hyperparams[{name!r}] must hold real numbers, got dtype {v.dtype}")
        for extreme in (v.min(), v.max()):  # ranges are intervals: checking both ends checks all
            set_hyperparams(opt_state, **{name: extreme})
        if not np.all(np.isfinite(v)):
            raise ValueError(f"hyperparams[{name!r}] must be finite, got {v[~np.isfinite(v)][0]}")
        out[name] = v
    return out


def set_hyperparams(opt_state: Any, **values: Any) -> Any:
    """``optim.set_hyperparams``, and for a state that keeps its hyperparameters in a ``hyperparams``
    dict (optax's ``inject_hyperparams``: a NamedTuple ``(count, hyperparams, inner_state)``) the
    entries of that dict, each value cast to the dtype and shape of the one it replaces."""
    held = getattr(opt_state, "hyperparams", None)
    if isinstance(held, Mapping) and hasattr(opt_state, "_replace") and all(k in held for k in values):
        new = {k: jnp.asarray(v, jnp.result_type(held[k])).reshape(jnp.shape(held[k])) for k, v in values.items()}
        return opt_state._replace(hyperparams={**held, **new})
    if isinstance(held, Mapping) and not all(k in held for k in values):
        bad = next(k for k in values if k not in held)
        raise ValueError(f"{bad} is not a hyperparameter of this state: expected one of {sorted(held)}")
    return _optim.set_hyperparams(opt_state, **values)
