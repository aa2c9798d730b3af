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

With normalization (``MLP(norm="batch" | "layer")``, notes "Normalization")
BP2 gets one more step per hidden layer: the product
``((W^{l+1})^T delta^{l+1}) (.) sigma'(a_tilde^l)`` is the error of the
normalized input ``a_tilde^l = gamma a_hat^l + beta``; it gives ``dC/dgamma``,
``dC/dbeta`` and is carried back through the normalization's Jacobian
(:func:`fnn.norm.batch_norm_backward`, :func:`fnn.norm.layer_norm_backward`)
to ``delta^l = dC/da^l``, which BP3/BP4 use as before. Batch norm's running
statistics are threaded by :func:`value_grad_and_state`.

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
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

from fnn import costs as _costs
from fnn import norm as _norm
from fnn.nn import MLP, Params

Array = jax.Array

#: The two ways of computing ``grad C``: ``"backprop"`` (BP1-BP4 by hand) and
#: ``"autodiff"`` (``jax.grad``); the same gradient to rounding.
GRAD_METHODS = ("backprop", "autodiff")

__all__ = [
    "GRAD_METHODS",
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


def _checked(
    net: Any, cost: Any, params: Params, x: ArrayLike, state: Any, train: bool
) -> tuple[MLP, _costs.Cost, Array, Any]:
    """Validate a public function's arguments once: ``(net, cost, x, state)`` as the pass uses them.

    ``y`` is checked by ``cost.prepare`` in the pass itself (its shape is that
    of the output); everything below this trusts its arguments.
    """
    net = _check_net(net)
    cost = _costs.get(cost)
    cost.check_output(net.output)
    if not isinstance(train, bool):
        raise TypeError(f"train must be True or False, got {train!r}")
    net.check_params(params)
    state = net.check_state(_state_for(net, params, state, train), train)
    return net, cost, net.check_input(x), state


def _state_for(net: MLP, params: Params, state: Any, train: bool) -> Any:
    # Batch norm in training mode normalizes with the batch's statistics, so the cost and its
    # gradient do not depend on the running statistics: a missing state may be filled in.
    if net.stateful and state is None and train:
        return net.init_state(params[0]["W"].dtype)
    return () if not net.stateful and state is None else state


def loss(
    net: MLP,
    cost: str | _costs.Cost,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    state: Any = None,
    train: bool = True,
) -> Array:
    """The mean cost ``C = (1/n) sum_x C_x`` of the network on a batch.

    ``state``/``train`` matter only with batch norm: ``train=True`` (default,
    the cost that training minimizes) uses the batch's statistics and needs no
    state; ``train=False`` (evaluation) uses the running statistics in ``state``.
    With ``net.axis_name`` set (inside ``shard_map``/``pmap``) it is the mean
    over the global batch (equal shards), the same on every device.

    Labels/targets are checked when concrete (see :func:`value_and_grad`).
    """
    net, cost, x, state = _checked(net, cost, params, x, state, train)
    return _loss_and_state(net, cost, params, x, y, state, train)[0]


def _global_mean(net: MLP, tree: Any) -> Any:
    # Data parallel (net.axis_name set, inside shard_map/pmap): each device holds its shard's mean
    # cost and its contribution to the gradient; their mean over the axis is the global batch's.
    return tree if net.axis_name is None else jax.lax.pmean(tree, net.axis_name)


def _loss_and_state(net, cost, params, x, y, state, train, first_product=False):
    # Private: trusts net, cost, params, x, state (checked by _checked); y is checked by cost.prepare.
    # first_product: x is the first layer's product W^1 x (see MLP._forward).
    trace = net._forward(params, x, state, train, first_product)
    a, t, output = cost.prepare(trace.a[-1], y, net.output)
    return _global_mean(net, _costs.value_of_targets(cost, a, t, output)), trace.state


def _backprop(
    net: MLP, cost: _costs.Cost, params: Params, x: ArrayLike, y: ArrayLike, state: Any, train: bool,
    input_delta: bool = False, first_product: bool = False,
) -> tuple[Array, Params, Any]:
    """BP1-BP4 with the normalization step; returns ``(C, grads, new_state)``, and with
    ``input_delta`` also ``delta^1 = dC/da^1`` of the first layer ``(n, n_1)``. With
    ``first_product``, ``x`` is the first layer's product ``W^1 x`` formed by the caller, who also
    forms ``dC/dW^1 = (delta^1)^T x`` (``grads[0]`` holds no ``"W"``)."""
    # Private: trusts net, cost, params, x, state (checked by _checked); y is checked by cost.prepare.
    trace = net._forward(params, x, state, train, first_product)
    a_out, t, output = cost.prepare(trace.a[-1], y, net.output)
    value = _costs.value_of_targets(cost, a_out, t, output)
    n = a_out.shape[0]
    # BP1, divided by n once so that BP3/BP4 below give batch means.
    delta = _costs.delta_of_targets(cost, a_out, t, output) / n
    grads: list[dict[str, Array]] = []
    for l in reversed(range(net.n_layers)):
        g: dict[str, Array] = {}
        if net.normalized(l):
            # delta is dC/d(gamma a_hat + beta); carry it back through the normalization to dC/da^l.
            gamma = params[l]["gamma"]
            if net.norm == "batch":
                delta, g["gamma"], g["beta"] = _norm.batch_norm_backward(
                    delta, trace.a_hat[l], trace.inv_std[l], gamma, train=train, axis_name=net.axis_name
                )
            else:
                delta, g["gamma"], g["beta"] = _norm.layer_norm_backward(
                    delta, trace.a_hat[l], trace.inv_std[l], gamma
                )
        if l > 0 or not first_product:
            g["W"] = delta.T @ trace.z[l]  # BP4: dC/dw_jk = z_k^{l-1} delta_j^l (summed over the batch)
        if "b" in params[l]:
            g["b"] = jnp.sum(delta, axis=0)  # BP3: dC/db_j = delta_j^l
        grads.append(g)
        if l > 0:
            # BP2: delta^{l-1} = ((W^l)^T delta^l) (.) sigma'(input of sigma in layer l-1), where that
            # input is a^{l-1}, or gamma a_hat^{l-1} + beta when layer l-1 is normalized.
            pre = trace.a_norm[l - 1] if net.normalized(l - 1) else trace.a[l - 1]
            delta = net.hidden.vjp(pre, delta @ params[l]["W"], trace.z[l])  # trace.z[l] = sigma(pre)
    # With net.axis_name the gradients above are this device's contributions (batch norm's
    # backward already pooled its means over the axis); average them for the global batch.
    out = _global_mean(net, value), _global_mean(net, tuple(reversed(grads))), trace.state
    return out + (delta,) if input_delta else out


def value_and_grad(
    net: MLP,
    cost: str | _costs.Cost,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    state: Any = None,
    train: bool = True,
) -> tuple[Array, Params]:
    """The mean cost over the batch and its gradient, by BP1-BP4.

    With normalization (``net.norm``), BP2 gets a step through each hidden
    layer's normalization (notes, "Normalization"; formulas in :mod:`fnn.norm`):
    with ``delta~ = dC/d(gamma a_hat + beta)`` = BP2's usual product,

        dC/dgamma = sum_n delta~ (.) a_hat,     dC/dbeta = sum_n delta~,
        delta^l   = inv_std (.) (g - mean(g) - a_hat (.) mean(g (.) a_hat)),   g = gamma (.) delta~,

    the means over the batch (batch norm, training mode: the batch mean and
    variance depend on every example) or over the layer's units (layer norm);
    batch norm in inference mode is affine, ``delta^l = inv_std (.) g``.

    Args:
      net: the network description.
      cost: a cost name or :class:`fnn.costs.Cost`.
      params: the network's parameters (tuple of layer dicts).
      x: inputs ``(n, n_0)``.
      y: integer labels ``(n,)`` or targets ``(n, n_L)``.
      state: batch norm's running statistics; needed only with ``train=False``
        (training mode does not read them). Ignored without batch norm.
      train: batch norm's mode (default training). Use
        :func:`value_grad_and_state` to also get the updated running statistics.

    Returns:
      ``(C, grads)`` with ``grads`` in the structure of ``params``. With
      ``net.axis_name`` set (data parallel inside ``shard_map``/``pmap``, each
      device holding an equal shard of the batch), the global batch's mean cost
      and its gradient, the same on every device.

    Raises:
      ValueError: for concrete ``y`` (called outside ``jax.jit``), a class label
        outside ``[0, net.sizes[-1])`` or a target outside ``[0, 1]`` for
        cross-entropy/log-likelihood, naming the first bad example; a cost not
        defined for the output (e.g. cross-entropy with a ReLU output).
        Inside your own ``jit`` the labels are tracers and cannot be checked:
        a bad label or target makes the cost and every gradient entry it
        reaches NaN (never a plausible number); use
        ``jax.experimental.checkify`` for an error there.
    """
    net, cost, x, state = _checked(net, cost, params, x, state, train)
    value, grads, _ = _backprop(net, cost, params, x, y, state, train)
    return value, grads


def value_grad_and_state(
    net: MLP,
    cost: str | _costs.Cost,
    params: Params,
    state: Any,
    x: ArrayLike,
    y: ArrayLike,
    method: str = "backprop",
    train: bool = True,
) -> tuple[Array, Params, Any]:
    """Uniform entry point for training loops: ``(C, grads, new_state)``.

    Works for every network: ``state`` is ``net.init_state()`` (``()`` without
    batch norm) and is returned updated (training mode: the batch-norm moving
    averages take one step). ``method`` is ``"backprop"`` (BP1-BP4 by hand) or
    ``"autodiff"`` (``jax.grad``). Inside ``shard_map``/``pmap`` with
    ``net.axis_name`` set, cost and gradient are the global batch's (see
    :func:`value_and_grad`) for both methods. (Data parallelism by sharding a
    jitted step, as ``fnn.train`` does, needs no ``axis_name``: the compiler
    already computes batch statistics over the global batch.)
    Labels and targets are checked as in :func:`value_and_grad`.
    """
    if method not in GRAD_METHODS:
        raise ValueError(f"method must be 'backprop' or 'autodiff', got {method!r}")
    net, cost, x, state = _checked(net, cost, params, x, state, train)
    if method == "backprop":
        return _backprop(net, cost, params, x, y, state, train)
    (value, new_state), grads = jax.value_and_grad(
        lambda p: _loss_and_state(net, cost, p, x, y, state, train), has_aux=True
    )(params)
    return value, _global_mean(net, grads), new_state


def grad(
    net: MLP,
    cost: str | _costs.Cost,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    state: Any = None,
    train: bool = True,
) -> Params:
    """The gradient ``dC/dparams`` of the mean batch cost, by BP1-BP4 (see :func:`value_and_grad`)."""
    return value_and_grad(net, cost, params, x, y, state, train)[1]


def autodiff_value_and_grad(
    net: MLP,
    cost: str | _costs.Cost,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    state: Any = None,
    train: bool = True,
) -> tuple[Array, Params]:
    """The same quantity as :func:`value_and_grad`, by ``jax.value_and_grad`` of :func:`loss`."""
    net, cost, x, state = _checked(net, cost, params, x, state, train)
    value, grads = jax.value_and_grad(lambda p: _loss_and_state(net, cost, p, x, y, state, train)[0])(params)
    # Under shard_map's replication checking jax.grad already reduces over the axis, under pmap
    # it does not; differentiating the pmean'd cost and averaging again is right in both.
    return value, _global_mean(net, grads)


def per_example_grads(
    net: MLP, cost: str | _costs.Cost, params: Params, x: ArrayLike, y: ArrayLike
) -> Params:
    """``grad C_x`` for every example separately (``vmap`` of BP over the batch).

    Each leaf gets a leading batch axis: ``W`` becomes ``(n, n_out, n_in)``. The
    mean over that axis is :func:`grad` (notes, "Stochastic gradient descent":
    ``grad C = (1/n) sum_x grad C_x``). Not defined for batch norm, where each
    example's cost depends on the whole batch.
    """
    net, cost, x, _ = _checked(net, cost, params, x, None, True)
    if net.norm == "batch":
        raise ValueError(
            "net must not use norm='batch' for per_example_grads: under batch norm each example's cost "
            "depends on the whole batch, so per-example gradients are not defined; use norm='layer' or None"
        )
    y = jnp.asarray(y)
    if x.ndim != 2 or y.shape[:1] != x.shape[:1]:
        raise ValueError(
            f"x must be (n, n_0) and y must have the same number of rows, got shapes {x.shape} and {y.shape}"
        )
    # Checked here, concretely: under vmap each example's label is a tracer.
    cost.prepare(jnp.zeros((y.shape[0], net.sizes[-1]), x.dtype), y, net.output)
    one = lambda xi, yi: _backprop(net, cost, params, xi[None], yi[None], (), True)[1]
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
    return _numerical_grad(f, params, jnp.asarray(eps, flat.dtype), method, min(batch_size, flat.size))


@partial(jax.jit, static_argnums=(0, 3, 4))
def _numerical_grad(f: Callable[[Any], ArrayLike], params: Any, h: Array, method: str, batch_size: int) -> Any:
    # Compiled once per (f, shapes, method, batch_size): repeated calls with the same f do not retrace.
    flat, unravel = ravel_pytree(params)

    def at(i: Array, sign: float) -> Array:
        return jnp.asarray(f(unravel(flat.at[i].add(sign * h))), flat.dtype)

    if method == "central":
        diff = lambda i: (at(i, 1.0) - at(i, -1.0)) / (2 * h)
    else:
        base = jnp.asarray(f(params), flat.dtype)
        diff = lambda i: (at(i, 1.0) - base) / h
    return unravel(jax.lax.map(diff, jnp.arange(flat.size), batch_size=batch_size))


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
        """The largest absolute difference over all leaves."""
        return float(max(jax.tree_util.tree_leaves(self.abs_diff)))

    @property
    def max_rel(self) -> float:
        """The largest per-leaf relative difference."""
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
    net: MLP,
    cost: str | _costs.Cost,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    state: Any = None,
    train: bool = True,
) -> GradCheck:
    """Hand-written BP gradient vs ``jax.grad`` of the same cost, per layer.

    Run it in float64 (``with jax.enable_x64(True):`` and ``net.init(key,
    jnp.float64)``) to test your own models: agreement to ~1e-12 relative means
    the two compute the same derivative. ``state``/``train`` as in
    :func:`value_and_grad` (batch norm only).
    """
    g_bp = grad(net, cost, params, x, y, state, train)
    g_ad = autodiff_value_and_grad(net, cost, params, x, y, state, train)[1]
    return compare(g_bp, g_ad)
