"""The evaluator: mean cost and accuracy in inference mode, of one run or of every member.

``C = (1/n) sum_x C_x`` and the fraction of examples whose largest output is
the label (``fnn.costs.accuracy``), with ``train=False`` (batch norm uses
its running statistics). The sums run in chunks of ``batch_size`` examples,
one ``lax.scan`` plus the remainder, so memory stays bounded; the result
does not depend on the chunking but for float32 rounding. A population's
members are evaluated at once, ``vmap``-ed over ``(params, net_state)``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fnn import costs as _costs
from fnn import parallel as _parallel
from fnn._validate import check_int
from fnn.nn import MLP, Params
from fnn.train import _setup
from fnn.train._state import TrainState, population_size

Array = jax.Array


def _sums(net: MLP, cost: _costs.Cost) -> Callable:
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
def _one_fn(net: MLP, cost: _costs.Cost) -> Callable:
    return jax.jit(_sums(net, cost))


@functools.lru_cache(maxsize=64)
def _members_fn(net: MLP, cost: _costs.Cost) -> Callable:
    """:func:`_one_fn` vmapped over members' ``(params, net_state)``; the data is shared."""
    return jax.jit(jax.vmap(_sums(net, cost), in_axes=(0, 0, None, None, None, None)))


def chunks(x: Any, y: Any, batch_size: int) -> tuple[Any, ...]:
    """``(xb, yb, x_rest, y_rest)``: ``n // m`` chunks of ``m = min(batch_size, n)`` rows and the rest."""
    n = x.shape[0]
    m = min(batch_size, n)
    nb = n // m
    xb = x[: nb * m].reshape((nb, m) + x.shape[1:])
    yb = y[: nb * m].reshape((nb, m) + y.shape[1:])
    return xb, yb, x[nb * m :], y[nb * m :]


def one(net: MLP, cost: _costs.Cost, params: Params, net_state: Any, data: tuple[Any, ...],
        n: int) -> tuple[float, float]:
    """Mean cost and accuracy of one run on checked data cut by :func:`chunks` (``n`` rows)."""
    c, a = _one_fn(net, cost)(params, net_state, *data)
    return float(c) / n, float(a) / n


def members(net: MLP, cost: _costs.Cost, states: TrainState, data: tuple[Any, ...],
            n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two ``(P,)`` numpy arrays, mean cost and accuracy of every member, on checked data cut by :func:`chunks`."""
    c, a = _members_fn(net, cost)(states.params, states.net_state, *data)
    c, a = _parallel.to_host((c, a))  # (P,) sharded over the members' devices
    return c / n, a / n


def evaluate(
    net: MLP,
    state: TrainState | Params,
    x: ArrayLike,
    y: ArrayLike,
    cost: str | _costs.Cost,
    batch_size: int = 1000,
) -> tuple[float, float]:
    """Mean cost and accuracy of the network on ``(x, y)``, in inference mode.

    Args:
      net: the network.
      state: a :class:`TrainState`, or bare parameters for a network without
        batch norm (with batch norm the running statistics are needed: pass
        the state).
      x, y: ``(n, net.sizes[0])`` inputs; ``(n,)`` labels or ``(n, net.sizes[-1])`` targets.
      cost: a cost name or object.
      batch_size: examples per chunk (memory only).

    Returns:
      Python floats ``(cost, accuracy)``: ``C = (1/n) sum_x C_x`` and the
      fraction of examples whose largest output is the label.
    """
    net = _setup.check_net(net)
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
    x, y = _setup.check_data(net, x, y, name="evaluate")
    batch_size = check_int(batch_size, "batch_size", 1)
    return one(net, cost, params, net_state, chunks(x, y, batch_size), x.shape[0])


def evaluate_members(
    net: MLP,
    states: TrainState,
    x: ArrayLike,
    y: ArrayLike,
    cost: str | _costs.Cost,
    batch_size: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean cost and accuracy of every member of a population on ``(x, y)``, in inference mode.

    Args:
      net: the members' network.
      states: a population (:class:`TrainState` whose leaves have a leading
        axis ``P``: ``fit_population``, ``init_population``, ``stack_members``).
      x, y: ``(n, net.sizes[0])`` inputs; ``(n,)`` labels or ``(n, net.sizes[-1])`` targets.
      cost: a cost name or object.
      batch_size: examples per chunk (memory only).

    Returns:
      ``(costs, accuracies)``: two numpy ``(P,)`` arrays, member ``i``'s values
      being those of :func:`evaluate` on ``member(states, i)``.
    """
    net = _setup.check_net(net)
    cost = _costs.get(cost)
    population_size(states)
    net.check_params(jax.tree_util.tree_map(lambda a: a[0], states.params))
    x, y = _setup.check_data(net, x, y, name="evaluate_members")
    batch_size = check_int(batch_size, "batch_size", 1)
    if not isinstance(x, jax.Array):
        x, y = jnp.asarray(x), jnp.asarray(y)
    return members(net, cost, states, chunks(x, y, batch_size), x.shape[0])
