"""A group of members that share their mini-batches: the first layer as one wide product.

With a shared data order every member of a group of ``c`` sees the same
mini-batch ``x`` ``(m, n_0)``. The first layer's ``c`` products
``x (W^1_i)^T`` are then one product with the stacked weights seen as one
``(c n_1, n_0)`` matrix, and the ``c`` weight gradients (BP4)
``(delta^1_i)^T x`` one product too:

    A   = x [W^1_1; ...; W^1_c]^T                 (m, c n_1)   a^1_i = A[:, i] + b^1_i
    G   = [delta^1_1, ..., delta^1_c]^T x         (c n_1, n_0) dC_i/dW^1_i = G[i]

The rest of each member's network (the first layer's bias, normalization and
activation, then layers 2..L) runs per member as usual, by BP1-BP4 or
``jax.grad``, entered at the first layer's product ``A[:, i]`` in place of
``W^1_i x`` (``MLP._forward(..., first_product=True)``): the same operations
in the same order as the member's own pass, which also return ``delta^1_i``.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from fnn import backprop as _backprop
from fnn import costs as _costs
from fnn import optim as _optim
from fnn.train._setup import Setup
from fnn.train._state import Metrics, TrainState
from fnn.train._step import all_finite, cast_floats, gather_block, rate, row_bytes, scan_batches

Array = jax.Array


def _value_grad_delta(s: Setup, params: Any, net_state: Any, a: Array, y: Array):
    """``(C, grads, new net_state, delta^1)`` of the network entered at its first layer's product
    ``a`` (``params[0]`` without ``"W"``; BP1-BP4 or ``jax.grad``)."""
    if s.grad == "backprop":
        return _backprop._backprop(s.net, s.cost, params, a, y, net_state, True, input_delta=True, first_product=True)
    (value, new_state), (grads, product_grad) = jax.value_and_grad(
        lambda p, u: _backprop._loss_and_state(s.net, s.cost, p, u, y, net_state, True, first_product=True),
        argnums=(0, 1), has_aux=True,
    )(params, a)
    return value, grads, new_state, product_grad  # dC/d(W^1 x) = dC/da^1 = delta^1


def shared_update_fn(s: Setup) -> Callable:
    """The group's update ``(states, x, y) -> (states, Metrics of (c,), C of (c,))`` with one shared
    mini-batch: the members' updates of :func:`fnn.train._step.update_fn`, the first layer wide."""
    net, optimizer = s.net, s.optimizer

    def member(params, net_state, a, y):
        q = ({k: v for k, v in params[0].items() if k != "W"},) + tuple(params[1:])
        value, grads, new_state, delta = _value_grad_delta(s, q, net_state, a, y)
        out = net._forward(q, a, net_state, True, first_product=True).z[-1]  # the same pass (XLA merges it)
        return value, grads, new_state, delta, _costs.accuracy(out, y)

    def update(states: TrainState, x: Array, y: Array):
        dtype = jax.tree_util.tree_leaves(states.params)[0].dtype
        compute = jnp.bfloat16 if s.precision == "bfloat16" else dtype
        w, net_state = cast_floats(states.params, compute), cast_floats(states.net_state, compute)
        x = x.astype(compute)
        y = y.astype(compute) if jnp.issubdtype(y.dtype, jnp.floating) else y
        w1 = w[0]["W"]
        c, n1, n0 = w1.shape
        m = x.shape[0]
        a = (x @ w1.reshape(c * n1, n0).T).reshape(m, c, n1)  # one (m, n0) @ (n0, c n1) product
        value, grads, net_state, delta, acc = jax.vmap(member, in_axes=(0, 0, 1, None), out_axes=(0, 0, 0, 1, 0))(
            w, net_state, a, y)
        g1 = (delta.reshape(m, c * n1).T @ x).reshape(c, n1, n0)  # BP4 of every member: one product
        grads = (dict(grads[0], W=g1),) + tuple(grads[1:])
        grads, net_state = cast_floats(grads, dtype), cast_floats(net_state, dtype)
        updates, opt_state = jax.vmap(optimizer.update)(grads, states.opt_state, states.params)
        params = _optim.apply_updates(states.params, updates)
        metrics = Metrics(cost=value.astype(jnp.float32), accuracy=acc, rate=jax.vmap(rate)(states.opt_state))
        return TrainState(params, opt_state, net_state, states.step + 1, states.key), metrics, value

    return update


def shared_epoch_fn(s: Setup, guarded: bool) -> Callable:
    """A group's epoch over the shared mini-batches ``idx`` ``(n_batches, m)``:
    ``(states, diverged, x, y, idx) -> (states, diverged, Metrics of (c, n_batches), finite (c,))``,
    guarded as :func:`fnn.train._step.epoch_fn` (member by member)."""
    update = shared_update_fn(s)

    def body(carry, batch):
        st, d = carry
        new, metrics, value = update(st, *batch)
        if not guarded:
            return (new, d), metrics
        ok = (d < 0) & jnp.isfinite(value) & jax.vmap(all_finite)(new.params)
        new = jax.tree_util.tree_map(lambda u, v: jnp.where(ok.reshape(ok.shape + (1,) * (u.ndim - 1)), u, v), new, st)
        d = jnp.where((d < 0) & ~ok, new.step + 1, d)
        return (new, d), metrics._replace(cost=jnp.where(ok, metrics.cost, jnp.nan))

    def epoch(states: TrainState, diverged: Array, x: Array, y: Array, idx: Array):
        block = gather_block(idx.shape[0], idx.shape[1] * row_bytes(x))  # one gather for all members
        (states, diverged), metrics = scan_batches(body, (states, diverged), x, y, idx, block)
        metrics = jax.tree_util.tree_map(lambda a: a.T, metrics)  # (n_batches, c) -> (c, n_batches)
        return states, diverged, metrics, jax.vmap(all_finite)(states.params)

    return epoch
