"""Backpropagation written by hand: the four fundamental equations.

Notes, "Backpropagation four fundamental equations". With ``delta^l = dC/da^l``
the error of layer ``l``:

    BP1   delta^L = grad_z C (.) sigma'(a^L)                (output error)
    BP2   delta^l = ((W^{l+1})^T delta^{l+1}) (.) sigma'(a^l)
    BP3   dC/db^l_j    = delta^l_j
    BP4   dC/dw^l_jk   = z^{l-1}_k delta^l_j

Over a mini-batch of ``n`` examples (rows) the cost is the mean of the
per-example costs, so the gradient is the mean of the per-example gradients;
in matrix form, with ``Delta^l`` the ``(n, n_l)`` matrix of errors and ``Z^{l-1}``
the ``(n, n_{l-1})`` matrix of activations,

    dC/dW^l = (1/n) (Delta^l)^T Z^{l-1},     dC/db^l = (1/n) sum_rows Delta^l.

BP1 comes from the cost (``fnn.costs``): for the matched pairs
(cross-entropy + sigmoid, log-likelihood + softmax, quadratic + linear) it is
``z^L - y`` with no ``sigma'`` factor.

:func:`numerical_grad` is the finite-difference gradient of "Algorithm
efficiency" (one evaluation of the cost per parameter), and :func:`check`
compares the hand-written gradient with ``jax.grad``, per layer — the
gradient-equivalence test users can run on their own models.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

from fnn import costs as _costs
from fnn.nn import MLP, Params

Array = jax.Array

__all__ = [
    "grad",
    "value_and_grad",
    "value_grad_and_state",
    "per_example_grads",
    "autodiff_value_and_grad",
    "loss",
    "numerical_grad",
    "check",
    "GradCheck",
]


def _check_net(net: Any) -> MLP:
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an fnn.nn.MLP, got {type(net).__name__}")
    return net


def loss(net: MLP, cost: str | _costs.Cost, params: Params, x: ArrayLike, y: ArrayLike) -> Array:
    """The mean cost ``C = (1/n) sum_x C_x`` of the network on a batch."""
    net = _check_net(net)
    cost = _costs.get(cost)
    return cost.value(net.forward(params, x).a[-1], y, net.output)


def value_and_grad(
    net: MLP, cost: str | _costs.Cost, params: Params, x: ArrayLike, y: ArrayLike
) -> tuple[Array, Params]:
    """The mean cost over the batch and its gradient, by BP1-BP4.

    Args:
      net: the network description.
      cost: a cost name or :class:`fnn.costs.Cost`.
      params: the network's parameters (tuple of ``{"W", "b"}``).
      x: inputs ``(n, n_0)``.
      y: integer labels ``(n,)`` or targets ``(n, n_L)``.

    Returns:
      ``(C, grads)`` with ``grads`` in the structure of ``params``.
    """
    net = _check_net(net)
    cost = _costs.get(cost)
    trace = net.forward(params, x)
    a_out = trace.a[-1]
    value = cost.value(a_out, y, net.output)
    n = a_out.shape[0]
    # BP1, divided by n once so that BP3/BP4 below give batch means.
    delta = cost.delta(a_out, y, net.output) / n
    grads: list[dict[str, Array]] = []
    for l in reversed(range(net.n_layers)):
        grads.append(
            {
                "W": delta.T @ trace.z[l],  # BP4: dC/dw_jk = z_k^{l-1} delta_j^l (summed over the batch)
                "b": jnp.sum(delta, axis=0),  # BP3: dC/db_j = delta_j^l
            }
        )
        if l > 0:
            # BP2: delta^{l-1} = ((W^l)^T delta^l) (.) sigma'(a^{l-1})
            delta = net.hidden.vjp(trace.a[l - 1], delta @ params[l]["W"])
    return value, tuple(reversed(grads))


def value_grad_and_state(
    net: MLP,
    cost: str | _costs.Cost,
    params: Params,
    state: Any,
    x: ArrayLike,
    y: ArrayLike,
    method: str = "backprop",
) -> tuple[Array, Params, Any]:
    """Uniform entry point for training loops: ``(C, grads, new_state)``.

    Works for every network: ``state`` is ``net.init_state()`` (``()`` without
    batch norm) and is returned updated (training mode). ``method`` is
    ``"backprop"`` (BP1-BP4 by hand) or ``"autodiff"`` (``jax.grad``).
    """
    if method == "backprop":
        value, grads = value_and_grad(net, cost, params, x, y)
    elif method == "autodiff":
        value, grads = autodiff_value_and_grad(net, cost, params, x, y)
    else:
        raise ValueError(f"method must be 'backprop' or 'autodiff', got {method!r}")
    return value, grads, state


def grad(net: MLP, cost: str | _costs.Cost, params: Params, x: ArrayLike, y: ArrayLike) -> Params:
    """The gradient ``dC/dparams`` of the mean batch cost, by BP1-BP4 (see :func:`value_and_grad`)."""
    return value_and_grad(net, cost, params, x, y)[1]


def autodiff_value_and_grad(
    net: MLP, cost: str | _costs.Cost, params: Params, x: ArrayLike, y: ArrayLike
) -> tuple[Array, Params]:
    """The same quantity as :func:`value_and_grad`, by ``jax.value_and_grad`` of :func:`loss`."""
    net = _check_net(net)
    cost = _costs.get(cost)
    return jax.value_and_grad(lambda p: loss(net, cost, p, x, y))(params)


def per_example_grads(
    net: MLP, cost: str | _costs.Cost, params: Params, x: ArrayLike, y: ArrayLike
) -> Params:
    """``grad C_x`` for every example separately (``vmap`` of BP over the batch).

    Each leaf gets a leading batch axis: ``W`` becomes ``(n, n_out, n_in)``. The
    mean over that axis is :func:`grad` (notes, "Stochastic gradient descent":
    ``grad C = (1/n) sum_x grad C_x``).
    """
    net = _check_net(net)
    cost = _costs.get(cost)
    x = jnp.asarray(x)
    y = jnp.asarray(y)
    if x.ndim != 2 or y.shape[:1] != x.shape[:1]:
        raise ValueError(
            f"x must be (n, n_0) and y must have the same number of rows, got shapes {x.shape} and {y.shape}"
        )
    one = lambda xi, yi: grad(net, cost, params, xi[None], yi[None])
    return jax.vmap(one)(x, y)


def _default_eps(dtype: Any, method: str) -> float:
    # Balance truncation error (O(eps^2) central, O(eps) forward) against round-off (O(u/eps)).
    u = float(jnp.finfo(dtype).eps)
    return u ** (1 / 3) if method == "central" else math.sqrt(u)


def numerical_grad(
    f: Callable[[Any], ArrayLike],
    params: Any,
    eps: float | None = None,
    method: str = "central",
    batch_size: int = 64,
) -> Any:
    """Finite-difference gradient of a scalar function of a pytree.

    ``forward``:  ``dC/dw_j ~ (C(w + eps e_j) - C(w)) / eps`` — one evaluation
    of ``f`` per parameter (plus one), as in the notes' "Algorithm efficiency";
    ``central``: ``(C(w + eps e_j) - C(w - eps e_j)) / (2 eps)`` — two per
    parameter, error ``O(eps^2)`` instead of ``O(eps)``.

    The cost is linear in the number of parameters ``P``: the evaluations run
    compiled, ``batch_size`` of them vectorized at a time. Use float64 for
    meaningful comparisons.

    Args:
      f: ``params -> scalar``.
      params: the point, any pytree of float arrays.
      eps: step; by default ``u^(1/3)`` (central) or ``u^(1/2)`` (forward) with
        ``u`` the machine epsilon of the parameters' dtype.
      method: ``"central"`` or ``"forward"``.
      batch_size: evaluations vectorized together (memory vs speed).
    """
    if method not in ("central", "forward"):
        raise ValueError(f"method must be 'central' or 'forward', got {method!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    flat, unravel = ravel_pytree(params)
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        raise TypeError(f"params must hold floating-point arrays, got dtype {flat.dtype}")
    if eps is None:
        eps = _default_eps(flat.dtype, method)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    h = jnp.asarray(eps, flat.dtype)

    def at(i: Array, sign: float) -> Array:
        return jnp.asarray(f(unravel(flat.at[i].add(sign * h))), flat.dtype)

    @jax.jit
    def all_partials(flat_: Array) -> Array:
        idx = jnp.arange(flat_.size)
        if method == "central":
            diff = lambda i: (at(i, 1.0) - at(i, -1.0)) / (2 * h)
        else:
            base = jnp.asarray(f(unravel(flat_)), flat_.dtype)
            diff = lambda i: (at(i, 1.0) - base) / h
        return jax.lax.map(diff, idx, batch_size=min(batch_size, flat_.size))

    return unravel(all_partials(flat))


class GradCheck(NamedTuple):
    """Per-leaf comparison of two gradients (same structure as ``params``).

    ``abs_diff`` leaf = ``max |g - g_ref|``; ``rel_diff`` leaf =
    ``max |g - g_ref| / max |g_ref|`` (relative to the leaf's largest
    reference entry, so entries near zero do not inflate it).
    """

    abs_diff: Any
    rel_diff: Any

    @property
    def max_abs(self) -> float:
        return float(max(jax.tree_util.tree_leaves(self.abs_diff)))

    @property
    def max_rel(self) -> float:
        return float(max(jax.tree_util.tree_leaves(self.rel_diff)))


def compare(g: Any, g_ref: Any) -> GradCheck:
    """Compare two gradient pytrees leaf by leaf (see :class:`GradCheck`)."""
    if jax.tree_util.tree_structure(g) != jax.tree_util.tree_structure(g_ref):
        raise ValueError(
            f"g and g_ref must have the same tree structure, got {jax.tree_util.tree_structure(g)} "
            f"and {jax.tree_util.tree_structure(g_ref)}"
        )

    def abs_d(a: Array, b: Array) -> float:
        return float(jnp.max(jnp.abs(a - b)))

    def rel_d(a: Array, b: Array) -> float:
        scale = float(jnp.max(jnp.abs(b)))
        d = abs_d(a, b)
        return d / scale if scale > 0 else d

    return GradCheck(jax.tree_util.tree_map(abs_d, g, g_ref), jax.tree_util.tree_map(rel_d, g, g_ref))


def check(
    net: MLP, cost: str | _costs.Cost, params: Params, x: ArrayLike, y: ArrayLike
) -> GradCheck:
    """Hand-written BP gradient vs ``jax.grad`` of the same cost, per layer.

    Run it in float64 (``with jax.enable_x64(True):`` and ``net.init(key,
    jnp.float64)``) to test your own models: agreement to ~1e-12 relative means
    the two compute the same derivative.
    """
    g_bp = grad(net, cost, params, x, y)
    g_ad = autodiff_value_and_grad(net, cost, params, x, y)[1]
    return compare(g_bp, g_ad)
