"""Optimizers as composable, stateless transforms.

Notes: "Gradient descent", "Stochastic gradient descent", "Convergence",
"Momentum", "Learning rate scheduling".

Gradient descent moves the parameters against the gradient,
``w' <- w - eta grad C(w)``. Every optimizer here is a ``Transform(init, update)``
of two pure functions::

    state = opt.init(params)                               # a pytree of arrays
    updates, state = opt.update(grads, state, params)      # updates = Delta w
    params = apply_updates(params, updates)                # w' = w + Delta w

Building blocks turn gradients into updates step by step and ``chain`` composes
them; every ready-made optimizer is a chain that ends in ``scale(rate)``, the
multiplication by ``-eta`` that makes the update a descent step::

    momentum(eta, mu) == chain(trace(mu), scale(eta))
    adam(eta)         == chain(scale_by_adam(), scale(eta))

Hyperparameters live in the state as 0-d arrays of the params' float dtype,
or float32 for bfloat16/float16 params, and so do the per-parameter
accumulators (velocity, moments, sums of squares): in bfloat16 (8 significand
bits) ``b2 = 0.999`` rounds to ``1.0``, so Adam's ``1 - b2^t`` would be 0, and
``0.999 v`` rounds back to ``v``, so an average would never forget. The
updates come out in the gradients' dtype. As arrays, the hyperparameters can
be vmapped over in a jitted training step, and read and changed between steps
without recompiling::

    >>> import jax.numpy as jnp
    >>> from fnn import optim, schedules
    >>> opt = optim.momentum(0.1, mu=0.9)
    >>> state = opt.init({"W": jnp.zeros((2, 2))})
    >>> round(float(optim.current_rate(state)), 6)
    0.1
    >>> state = optim.set_hyperparams(state, rate=0.05, mu=0.5)  # same shapes/dtypes: no retrace
    >>> round(float(optim.current_rate(state)), 6)
    0.05

A rate is a number or a schedule ``step -> rate`` (``fnn.schedules``). With a
schedule, ``scale`` keeps the step count and the scheduled value in its state;
the rate in use is ``rate_multiplier * schedule(count)``, and ``rate_multiplier``
(1.0 at first) is what you set to rescale a schedule between steps (e.g. reduce
on plateau). ``current_rate(state)`` always returns the rate the next update uses.

States are NamedTuples of arrays; a chain's state is the tuple of its
transforms' states. Arguments are validated when a transform is built or a
hyperparameter set (outside jit): ``ValueError``/``TypeError`` naming the
argument, the expected and the given value. A traced hyperparameter (under
``vmap``/``jit``) cannot be checked and is taken as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fnn import schedules as _schedules

PyTree = Any
State = Any

__all__ = [
    "Transform",
    "apply_updates",
    "chain",
    "scale",
    "trace",
    "scale_by_adagrad",
    "scale_by_rms",
    "scale_by_adam",
    "add_decayed_weights",
    "clip_by_global_norm",
    "gd",
    "sgd",
    "momentum",
    "adagrad",
    "rmsprop",
    "adam",
    "adamw",
    "current_rate",
    "set_hyperparams",
    "hyperparams",
    "minimize",
    "trajectory",
    "ScaleState",
    "ScaleByScheduleState",
    "TraceState",
    "AdagradState",
    "RmsState",
    "AdamState",
    "DecayState",
    "ClipState",
]


class Transform(NamedTuple):
    """A gradient transformation: a pair of pure functions.

    ``init(params) -> state`` and
    ``update(grads, state, params=None) -> (updates, new_state)``.
    """

    init: Callable[[PyTree], State]
    update: Callable[..., tuple[PyTree, State]]


# --------------------------------------------------------------------------
# states: NamedTuples of arrays; HYPERPARAMS names the fields set_hyperparams may set


class ScaleState(NamedTuple):
    """``scale(rate)`` with a constant rate: the update is ``-rate * u``."""

    count: jax.Array  # int32: updates done so far
    rate: jax.Array  # eta of the next update (settable)
    HYPERPARAMS = ("rate",)


class ScaleByScheduleState(NamedTuple):
    """``scale(schedule)``: the update is ``-rate_multiplier * schedule(count) * u``."""

    count: jax.Array  # int32: updates done so far
    rate_multiplier: jax.Array  # factor on the schedule, 1.0 at first (settable)
    scheduled_rate: jax.Array  # schedule(count), kept for logging
    HYPERPARAMS = ("rate_multiplier",)


class TraceState(NamedTuple):
    trace: PyTree  # v(t), the params' structure
    mu: jax.Array
    HYPERPARAMS = ("mu",)


class AdagradState(NamedTuple):
    sum_of_squares: PyTree  # G(t) = G(0) + sum_s g(s)^2
    eps: jax.Array
    HYPERPARAMS = ("eps",)


class RmsState(NamedTuple):
    nu: PyTree  # exponentially weighted average of g^2
    decay: jax.Array
    eps: jax.Array
    HYPERPARAMS = ("decay", "eps")


class AdamState(NamedTuple):
    count: jax.Array  # int32: updates done so far
    m: PyTree  # first moment
    v: PyTree  # second moment
    b1: jax.Array
    b2: jax.Array
    eps: jax.Array
    HYPERPARAMS = ("b1", "b2", "eps")


class DecayState(NamedTuple):
    weight_decay: jax.Array
    HYPERPARAMS = ("weight_decay",)


class ClipState(NamedTuple):
    max_norm: jax.Array
    HYPERPARAMS = ("max_norm",)


# --------------------------------------------------------------------------
# validation (at the public boundary, outside jit)

# name -> (predicate on a float64 array, the expected range in words)
_RANGES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "rate": (lambda v: v >= 0, "a finite number >= 0"),
    "rate_multiplier": (lambda v: v >= 0, "a finite number >= 0"),
    "weight_decay": (lambda v: v >= 0, "a finite number >= 0"),
    "initial_accumulator": (lambda v: v >= 0, "a finite number >= 0"),
    "mu": (lambda v: (v >= 0) & (v < 1), "a number in [0, 1)"),
    "decay": (lambda v: (v >= 0) & (v < 1), "a number in [0, 1)"),
    "b1": (lambda v: (v >= 0) & (v < 1), "a number in [0, 1)"),
    "b2": (lambda v: (v >= 0) & (v < 1), "a number in [0, 1)"),
    "eps": (lambda v: v > 0, "a finite number > 0"),
    "max_norm": (lambda v: v > 0, "a finite number > 0"),
}


def _check(name: str, value: Any, shape: tuple[int, ...] = ()) -> Any:
    """Check a hyperparameter's value; traced values pass unchecked."""
    if isinstance(value, jax.core.Tracer):
        return value
    ok, expected = _RANGES[name]
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        arr = np.asarray(None)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be {expected}, got {value!r} of type {type(value).__name__}")
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must be {expected} of shape {tuple(shape)}, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not (np.all(np.isfinite(arr)) and np.all(ok(arr))):
        shown = float(arr) if arr.ndim == 0 else arr.tolist()
        raise ValueError(f"{name} must be {expected}, got {shown}")
    return value


def _check_tree(name: str, tree: PyTree, like: PyTree, like_name: str, shapes: bool = True) -> None:
    """``tree`` must have ``like``'s structure (and leaf shapes): static, so fine under jit."""
    got, want = jax.tree_util.tree_structure(tree), jax.tree_util.tree_structure(like)
    if got != want:
        raise ValueError(f"{name} must have the tree structure of {like_name}: expected {want}, got {got}")
    if not shapes:
        return
    paths = jax.tree_util.tree_flatten_with_path(like)[0]
    for (path, b), a in zip(paths, jax.tree_util.tree_leaves(tree)):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(
                f"{name} must have the leaf shapes of {like_name}: at {name}{jax.tree_util.keystr(path)} "
                f"expected shape {jnp.shape(b)}, got {jnp.shape(a)}"
            )


def _check_state(state: Any, cls: type, who: str) -> None:
    if not isinstance(state, cls):
        raise ValueError(f"state must be the {cls.__name__} made by {who}.init, got {type(state).__name__}")


def _wide(dtype: Any) -> np.dtype:
    """``dtype``, or float32 for a float of fewer bits (bfloat16, float16): the dtype of state arrays."""
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32:
        return jnp.dtype(jnp.float32)
    return dtype


def _dtype_of(params: PyTree) -> np.dtype:
    """The hyperparameters' dtype: the params' first floating dtype, at least float32 (default float if none)."""
    for leaf in jax.tree_util.tree_leaves(params):
        dtype = jnp.asarray(leaf).dtype
        if jnp.issubdtype(dtype, jnp.floating):
            return _wide(dtype)
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def _accumulator(params: PyTree, value: float = 0.0) -> PyTree:
    """Per-parameter state (moments, velocity, sums of squares) filled with ``value``, at least float32."""
    return _tmap(lambda p: jnp.full(jnp.shape(p), value, _wide(jnp.result_type(p))), params)


def _hyper(value: ArrayLike, dtype) -> jax.Array:
    return jnp.asarray(value).astype(dtype)


def _like(x: jax.Array, leaf: jax.Array) -> jax.Array:
    """Cast a hyperparameter to a leaf's dtype (explicit: strict promotion)."""
    return x.astype(jnp.result_type(leaf))


_tmap = jax.tree_util.tree_map


# --------------------------------------------------------------------------
# combining


def apply_updates(params: PyTree, updates: PyTree) -> PyTree:
    """``w' = w + Delta w`` leaf by leaf (the update already carries ``-eta``).

    Updates are cast to each parameter's dtype.
    """
    _check_tree("updates", updates, params, "params")
    return _tmap(lambda p, u: p + jnp.asarray(u).astype(jnp.result_type(p)), params, updates)


def chain(*transforms: Transform) -> Transform:
    """Apply ``transforms`` in order; the state is the tuple of their states.

    ``chain(a, b).update(g, (sa, sb), w)`` computes ``u, sa' = a.update(g, sa, w)``
    then ``u, sb' = b.update(u, sb, w)`` and returns ``u, (sa', sb')``.
    """
    for i, t in enumerate(transforms):
        if not isinstance(t, Transform):
            raise TypeError(f"transforms[{i}] must be an optim.Transform, got {type(t).__name__}")

    def init(params: PyTree) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def update(grads: PyTree, state: tuple, params: PyTree = None) -> tuple[PyTree, tuple]:
        if not _is_chain_state(state) or len(state) != len(transforms):
            raise ValueError(
                f"state must be a tuple of {len(transforms)} sub-states (one per chained "
                f"transform), got {type(state).__name__} of length {len(state) if isinstance(state, tuple) else '-'}"
            )
        new_state = []
        for t, s in zip(transforms, state):
            grads, s = t.update(grads, s, params)
            new_state.append(s)
        return grads, tuple(new_state)

    return Transform(init, update)


def _scheduled(schedule: Callable, step: Any) -> Any:
    """``schedule(step)``, checked to be finite and >= 0 when it is concrete (outside jit)."""
    rate = schedule(step)
    if isinstance(rate, jax.core.Tracer) or isinstance(step, jax.core.Tracer):
        return rate
    value = np.asarray(rate)
    if value.dtype.kind not in "iuf" or value.shape != () or not (np.isfinite(value) and value >= 0):
        raise ValueError(
            f"rate schedule must return a finite rate >= 0 (a scalar), got {rate!r} at step {int(step)}; "
            "fnn.schedules.check(schedule, n_steps) checks a schedule over a whole run"
        )
    return rate


def _is_chain_state(state: Any) -> bool:
    return isinstance(state, tuple) and not hasattr(state, "_fields")


# --------------------------------------------------------------------------
# building blocks


def scale(rate: float | _schedules.Schedule) -> Transform:
    """Multiply by ``-eta``: ``Delta w = -eta u`` (notes, "Gradient descent").

    Args:
      rate: ``eta``, a finite number >= 0, or a schedule ``step -> eta``
        (notes, "Learning rate scheduling") evaluated at the number of updates
        done so far (0 at the first update).

    State: ``ScaleState(count, rate)`` for a number (set ``rate`` to change it),
    ``ScaleByScheduleState(count, rate_multiplier, scheduled_rate)`` for a
    schedule (set ``rate_multiplier`` to rescale it).

    A schedule's rates are checked where they are concrete: at ``init``
    (step 0) and in an ``update`` run outside ``jit``; a negative or non-finite
    rate raises ``ValueError`` naming the step. Inside ``jit`` the rate is a
    tracer and is used as it is: a negative rate steps uphill, a NaN one makes
    every update NaN. ``scheduled_rate``/:func:`current_rate` show the rate in
    use, and ``fnn.schedules.check(schedule, n_steps)`` checks a schedule over
    a whole run before it starts.
    """
    if callable(rate):
        schedule = rate

        def init_s(params: PyTree) -> ScaleByScheduleState:
            dtype = _dtype_of(params)
            return ScaleByScheduleState(
                count=jnp.zeros((), jnp.int32),
                rate_multiplier=_hyper(1.0, dtype),
                scheduled_rate=_hyper(_scheduled(schedule, 0), dtype),
            )

        def update_s(grads, state, params=None):
            _check_state(state, ScaleByScheduleState, "scale(schedule)")
            if params is not None:
                _check_tree("grads", grads, params, "params")
            rate_now = _scheduled(schedule, state.count)
            eta = state.rate_multiplier * _hyper(rate_now, state.rate_multiplier.dtype)
            updates = _tmap(lambda g: -_like(eta, g) * g, grads)
            count = state.count + 1
            scheduled = _hyper(_scheduled(schedule, count), state.scheduled_rate.dtype)
            return updates, state._replace(count=count, scheduled_rate=scheduled)

        return Transform(init_s, update_s)

    rate = _check("rate", rate)

    def init(params: PyTree) -> ScaleState:
        return ScaleState(count=jnp.zeros((), jnp.int32), rate=_hyper(rate, _dtype_of(params)))

    def update(grads, state, params=None):
        _check_state(state, ScaleState, "scale(rate)")
        if params is not None:  # the state holds no per-parameter arrays to check grads against
            _check_tree("grads", grads, params, "params")
        updates = _tmap(lambda g: -_like(state.rate, g) * g, grads)
        return updates, state._replace(count=state.count + 1)

    return Transform(init, update)


def trace(mu: float, nesterov: bool = False) -> Transform:
    """Momentum's velocity (notes, "Momentum").

    ``v(t) = g(t) + mu v(t-1)``, ``v(0) = 0``; the output is ``v(t)``, or with
    ``nesterov=True`` the look-ahead ``g(t) + mu v(t)`` (Sutskever et al., 2013,
    in the form PyTorch uses). With ``chain(trace(mu), scale(eta))`` and constant
    ``eta`` the update is the notes' ``dw(t) = -eta grad E(w(t)) + mu dw(t-1)``.

    Args:
      mu: momentum parameter in [0, 1) (the notes' typical value: 0.9).
      nesterov: use Nesterov's accelerated gradient.
    """
    mu = _check("mu", mu)
    if not isinstance(nesterov, bool):
        raise TypeError(f"nesterov must be a bool, got {nesterov!r}")

    def init(params: PyTree) -> TraceState:
        return TraceState(trace=_accumulator(params), mu=_hyper(mu, _dtype_of(params)))

    def update(grads, state, params=None):
        _check_state(state, TraceState, "trace")
        _check_tree("grads", grads, state.trace, "the params given to init")
        v = _tmap(lambda g, t: g.astype(t.dtype) + _like(state.mu, t) * t, grads, state.trace)
        out = _tmap(lambda g, t: g.astype(t.dtype) + _like(state.mu, t) * t, grads, v) if nesterov else v
        return _tmap(lambda u, g: u.astype(g.dtype), out, grads), state._replace(trace=v)

    return Transform(init, update)


def _scaled(g: jax.Array, s: jax.Array, eps: jax.Array) -> jax.Array:
    """``g / (sqrt(s) + eps)`` computed in the accumulator's dtype, returned in the gradient's."""
    return (g.astype(s.dtype) / (jnp.sqrt(s) + _like(eps, s))).astype(g.dtype)


def scale_by_adagrad(eps: float = 1e-7, initial_accumulator: float = 0.0) -> Transform:
    """AdaGrad (Duchi et al., 2011; notes, "Learning rate scheduling").

    ``G(t) = G(t-1) + g(t)^2`` (elementwise, ``G(0) = initial_accumulator``),
    output ``g(t) / (sqrt(G(t)) + eps)``: each parameter's effective rate
    ``eta / (sqrt(G) + eps)`` shrinks with the squares of its past derivatives.

    Args:
      eps: > 0, added to the root (1e-7, Goodfellow et al. 2016, Alg. 8.4).
      initial_accumulator: >= 0, the starting ``G`` (0, as in that algorithm).
    """
    eps = _check("eps", eps)
    initial_accumulator = _check("initial_accumulator", initial_accumulator)

    def init(params: PyTree) -> AdagradState:
        return AdagradState(
            sum_of_squares=_accumulator(params, initial_accumulator),
            eps=_hyper(eps, _dtype_of(params)),
        )

    def update(grads, state, params=None):
        _check_state(state, AdagradState, "scale_by_adagrad")
        _check_tree("grads", grads, state.sum_of_squares, "the params given to init")
        G = _tmap(lambda g, s: s + jnp.square(g.astype(s.dtype)), grads, state.sum_of_squares)
        updates = _tmap(lambda g, s: _scaled(g, s, state.eps), grads, G)
        return updates, state._replace(sum_of_squares=G)

    return Transform(init, update)


def scale_by_rms(decay: float = 0.9, eps: float = 1e-8) -> Transform:
    """RMSProp (Tieleman & Hinton, 2012; notes, "Learning rate scheduling").

    ``nu(t) = decay nu(t-1) + (1 - decay) g(t)^2``, ``nu(0) = 0``; output
    ``g(t) / (sqrt(nu(t)) + eps)``. The average forgets old gradients, so on a
    stationary gradient the effective rate tends to ``eta / (|g| + eps)``
    instead of vanishing as AdaGrad's does.

    Args:
      decay: in [0, 1) (0.9, Hinton's lecture 6e).
      eps: > 0, added to the root (1e-8).
    """
    decay, eps = _check("decay", decay), _check("eps", eps)

    def init(params: PyTree) -> RmsState:
        dtype = _dtype_of(params)
        return RmsState(nu=_accumulator(params), decay=_hyper(decay, dtype), eps=_hyper(eps, dtype))

    def update(grads, state, params=None):
        _check_state(state, RmsState, "scale_by_rms")
        _check_tree("grads", grads, state.nu, "the params given to init")

        def avg(g, n):
            d = _like(state.decay, n)
            g = g.astype(n.dtype)
            return d * n + (1 - d) * g * g  # this association: float32 trajectories stay bit for bit

        nu = _tmap(avg, grads, state.nu)
        updates = _tmap(lambda g, n: _scaled(g, n, state.eps), grads, nu)
        return updates, state._replace(nu=nu)

    return Transform(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Transform:
    """Adam's moments with bias correction (Kingma & Ba, 2015; notes: "RMSProp with momentum").

    ``m(t) = b1 m(t-1) + (1-b1) g``, ``v(t) = b2 v(t-1) + (1-b2) g^2``,
    ``m^ = m / (1 - b1^t)``, ``v^ = v / (1 - b2^t)``, output ``m^ / (sqrt(v^) + eps)``
    (t = 1 at the first update, so the first output is ``g / (|g| + eps)``).

    Args:
      b1, b2: decay rates in [0, 1) (0.9 and 0.999, as in the paper).
      eps: > 0 (1e-8, as in the paper).
    """
    b1, b2, eps = _check("b1", b1), _check("b2", b2), _check("eps", eps)

    def init(params: PyTree) -> AdamState:
        dtype = _dtype_of(params)
        zeros = _accumulator(params)
        return AdamState(
            count=jnp.zeros((), jnp.int32),
            m=zeros,
            v=zeros,
            b1=_hyper(b1, dtype),
            b2=_hyper(b2, dtype),
            eps=_hyper(eps, dtype),
        )

    def update(grads, state, params=None):
        _check_state(state, AdamState, "scale_by_adam")
        _check_tree("grads", grads, state.m, "the params given to init")
        count = state.count + 1

        def first(g, m):
            b1_ = _like(state.b1, m)
            return b1_ * m + (1 - b1_) * g.astype(m.dtype)

        def second(g, v):
            b2_ = _like(state.b2, v)
            g = g.astype(v.dtype)
            return b2_ * v + (1 - b2_) * g * g  # this association: float32 trajectories stay bit for bit

        m = _tmap(first, grads, state.m)
        v = _tmap(second, grads, state.v)

        def direction(m_, v_):
            t = count.astype(jnp.result_type(m_))
            m_hat = m_ / (1 - _like(state.b1, m_) ** t)
            v_hat = v_ / (1 - _like(state.b2, v_) ** t)
            return m_hat / (jnp.sqrt(v_hat) + _like(state.eps, v_))

        updates = _tmap(lambda g, m_, v_: direction(m_, v_).astype(g.dtype), grads, m, v)
        return updates, state._replace(count=count, m=m, v=v)

    return Transform(init, update)


def _default_mask(params: PyTree) -> PyTree:
    """True for leaves of rank >= 2 (weight matrices, whatever their key: fnn's ``"W"``, flax's ``"kernel"``).

    Biases, normalization's ``gamma``/``beta`` and scalars (rank 0 or 1) do not decay.
    """
    return _tmap(lambda leaf: jnp.ndim(leaf) >= 2, params)


def add_decayed_weights(
    weight_decay: float = 0.0, mask: PyTree | Callable[[PyTree], PyTree] | bool | None = None
) -> Transform:
    """Add ``weight_decay * w`` to the update of the masked parameters.

    Before ``scale(eta)`` in plain (S)GD this is L2 regularization
    (``grad (C + wd/2 ||w||^2)``); after an adaptive transform such as
    ``scale_by_adam`` it is decoupled weight decay (AdamW), ``-eta wd w``.

    Args:
      weight_decay: >= 0.
      mask: which leaves decay. ``None`` (default): every leaf of rank >= 2 —
        the weight matrices, whatever their key (fnn's ``"W"``, an optax/flax
        tree's ``"kernel"``), not biases nor normalization's ``"gamma"``/``"beta"``
        (rank 1); a pytree of Python bools with the params' structure; a
        function ``params -> such a pytree``; or a bool for all/none.

    ``update`` needs ``params``.
    """
    weight_decay = _check("weight_decay", weight_decay)
    if not (mask is None or callable(mask) or isinstance(mask, bool)):
        mask_given = mask
        mask = lambda _params: mask_given  # noqa: E731 - a fixed pytree of bools

    def resolve(params: PyTree) -> PyTree:
        if mask is None:
            return _default_mask(params)
        if isinstance(mask, bool):
            return _tmap(lambda _: mask, params)
        tree = mask(params)
        _check_tree("mask", tree, params, "params", shapes=False)
        for leaf in jax.tree_util.tree_leaves(tree):
            if not isinstance(leaf, (bool, np.bool_)):
                raise TypeError(f"mask leaves must be Python bools, got {leaf!r}")
        return tree

    def init(params: PyTree) -> DecayState:
        return DecayState(weight_decay=_hyper(weight_decay, _dtype_of(params)))

    def update(grads, state, params=None):
        _check_state(state, DecayState, "add_decayed_weights")
        if params is None:
            raise ValueError("params must be given to add_decayed_weights' update (it decays them), got None")
        _check_tree("grads", grads, params, "params")
        decays = resolve(params)
        updates = _tmap(
            lambda g, p, d: g + _like(state.weight_decay, p) * p if d else g, grads, params, decays
        )
        return updates, state

    return Transform(init, update)


def clip_by_global_norm(max_norm: float) -> Transform:
    """Rescale all gradients together so their global L2 norm is at most ``max_norm``.

    ``g <- g * max_norm / max(||g||, max_norm)``, ``||g||^2 = sum over leaves of sum g^2``
    (Pascanu et al., 2013) — beyond the notes; the direction is kept.

    Args:
      max_norm: > 0.
    """
    max_norm = _check("max_norm", max_norm)

    def init(params: PyTree) -> ClipState:
        return ClipState(max_norm=_hyper(max_norm, _dtype_of(params)))

    def update(grads, state, params=None):
        _check_state(state, ClipState, "clip_by_global_norm")
        dtype = state.max_norm.dtype
        sq = [jnp.sum(jnp.square(g)).astype(dtype) for g in jax.tree_util.tree_leaves(grads)]
        norm = jnp.sqrt(sum(sq, jnp.zeros((), dtype)))
        factor = state.max_norm / jnp.maximum(norm, state.max_norm)
        return _tmap(lambda g: _like(factor, g) * g, grads), state

    return Transform(init, update)


# --------------------------------------------------------------------------
# ready-made optimizers


def gd(rate: float | _schedules.Schedule) -> Transform:
    """Gradient descent ``w' = w - eta grad C`` (notes, "Gradient descent").

    Full-batch when given the full gradient, stochastic when given a
    mini-batch's. ``chain(scale(rate))``. Default rate: none (the notes: 0.1–0.001).
    """
    return chain(scale(rate))


def sgd(rate: float | _schedules.Schedule, momentum: float = 0.0, nesterov: bool = False) -> Transform:
    """Mini-batch SGD with (optional) momentum (notes, "Stochastic gradient descent", "Momentum").

    ``chain(trace(momentum, nesterov), scale(rate))``. With ``momentum=0`` (and
    no Nesterov) it is :func:`gd`: the update is ``-eta g`` and no velocity is
    kept — at small batch sizes that trace costs about a tenth of a step. To
    change ``mu`` between steps with ``set_hyperparams``, start from a
    ``momentum > 0`` (or :func:`momentum`).
    """
    _check("mu", momentum)
    if momentum == 0 and nesterov is False:
        return gd(rate)
    return chain(trace(momentum, nesterov), scale(rate))


def momentum(rate: float | _schedules.Schedule, mu: float = 0.9) -> Transform:
    """GD with momentum, ``dw(t) = -eta grad E + mu dw(t-1)`` (notes, "Momentum"; mu = 0.9 typical)."""
    return chain(trace(mu), scale(rate))


def adagrad(
    rate: float | _schedules.Schedule, eps: float = 1e-7, initial_accumulator: float = 0.0
) -> Transform:
    """AdaGrad, ``chain(scale_by_adagrad(eps, initial_accumulator), scale(rate))``.

    Defaults of Goodfellow et al. (2016), Alg. 8.4 (eps = 1e-7, G(0) = 0); rate 0.01 is common.
    """
    return chain(scale_by_adagrad(eps, initial_accumulator), scale(rate))


def rmsprop(rate: float | _schedules.Schedule, decay: float = 0.9, eps: float = 1e-8) -> Transform:
    """RMSProp, ``chain(scale_by_rms(decay, eps), scale(rate))`` (decay 0.9 and rate 0.001: Hinton)."""
    return chain(scale_by_rms(decay, eps), scale(rate))


def adam(
    rate: float | _schedules.Schedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> Transform:
    """Adam, ``chain(scale_by_adam(b1, b2, eps), scale(rate))`` (paper defaults; rate 0.001 there)."""
    return chain(scale_by_adam(b1, b2, eps), scale(rate))


def adamw(
    rate: float | _schedules.Schedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    mask: PyTree | Callable[[PyTree], PyTree] | bool | None = None,
) -> Transform:
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    ``chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, mask), scale(rate))``:
    ``Delta w = -eta (m^ / (sqrt(v^) + eps) + weight_decay w)``, decaying every
    leaf of rank >= 2 (the weight matrices, under any key) by default, not
    biases or ``gamma``/``beta``. ``weight_decay = 0.01`` as in PyTorch's AdamW.
    """
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, mask), scale(rate))


# --------------------------------------------------------------------------
# reading and setting hyperparameters


def _substates(state: State) -> list:
    if _is_chain_state(state):
        return [s for sub in state for s in _substates(sub)]
    return [state]


def current_rate(state: State) -> jax.Array:
    """The learning rate ``eta`` the next update will use (for logging).

    Works on a chain's state: it finds the one ``scale`` state in it. For a
    schedule this is ``rate_multiplier * schedule(count)``.
    """
    found = [s for s in _substates(state) if isinstance(s, (ScaleState, ScaleByScheduleState))]
    if len(found) != 1:
        raise ValueError(
            f"state must hold exactly one scale(...) state to read a rate from, got {len(found)} "
            f"among {[type(s).__name__ for s in _substates(state)]}"
        )
    (s,) = found
    return s.rate if isinstance(s, ScaleState) else s.rate_multiplier * s.scheduled_rate


def hyperparams(state: State) -> list[dict[str, jax.Array]]:
    """The hyperparameters a (chained) state holds: one ``{name: value}`` per sub-state, in chain order.

    The names are those :func:`set_hyperparams` accepts; a sub-state without
    hyperparameters gives an empty dict.
    """
    return [{name: getattr(s, name) for name in getattr(s, "HYPERPARAMS", ())} for s in _substates(state)]


def set_hyperparams(state: State, **values: ArrayLike) -> State:
    """Return ``state`` with hyperparameters replaced, e.g. ``set_hyperparams(state, rate=0.01, mu=0.5)``.

    Names: ``rate`` (constant-rate ``scale``), ``rate_multiplier`` (scheduled
    ``scale``), ``mu``, ``decay``, ``b1``, ``b2``, ``eps``, ``weight_decay``,
    ``max_norm`` — whichever the state holds. Values keep the state's dtype and
    shape, so a jitted step taking the state does not recompile. Concrete
    values are range-checked; traced ones (e.g. under ``vmap`` over rates) are not.
    """
    subs = _substates(state)
    available = sorted({name for s in subs for name in getattr(s, "HYPERPARAMS", ())})
    for name, value in values.items():
        holders = [s for s in subs if name in getattr(s, "HYPERPARAMS", ())]
        if not holders:
            hint = ""
            if name == "rate" and any(isinstance(s, ScaleByScheduleState) for s in subs):
                hint = " (the rate comes from a schedule: set rate_multiplier to rescale it)"
            raise ValueError(f"{name} is not a hyperparameter of this state: expected one of {available}, got {name!r}{hint}")
        if len(holders) > 1:
            raise ValueError(
                f"{name} is ambiguous: expected one sub-state holding it, got {len(holders)} "
                f"({[type(s).__name__ for s in holders]}); replace it in the sub-state with _replace"
            )
        _check(name, value, jnp.shape(getattr(holders[0], name)))

    def replace(s):
        fields = {n: v for n, v in values.items() if n in getattr(s, "HYPERPARAMS", ())}
        if not fields:
            return s
        return s._replace(**{n: _hyper(v, getattr(s, n).dtype) for n, v in fields.items()})

    return _map_substates(replace, state)


def _map_substates(fn: Callable[[Any], Any], state: State) -> State:
    if _is_chain_state(state):
        return tuple(_map_substates(fn, s) for s in state)
    return fn(state)



def _descend(f, params, optimizer, steps, hyperparams, record):
    # The shared loop of minimize/trajectory: `steps` updates of `optimizer` on jax.grad(f) in one scan;
    # record(w_{t+1}, f(w_t)) is stacked over the steps.
    if not isinstance(optimizer, Transform):
        raise TypeError(f"optimizer must be an fnn.optim.Transform, got {type(optimizer).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    state = optimizer.init(params)
    if hyperparams:
        state = set_hyperparams(state, **hyperparams)
    value_and_grad = jax.value_and_grad(f)

    def body(carry, _):
        w, s = carry
        cost, g = value_and_grad(w)
        updates, s = optimizer.update(g, s, w)
        w = apply_updates(w, updates)
        return (w, s), record(w, cost)

    (w, _), stacked = jax.lax.scan(body, (params, state), None, length=steps)
    return w, stacked


def minimize(
    f: Callable[[PyTree], ArrayLike],
    params: PyTree,
    optimizer: Transform,
    steps: int,
    **hyperparams: ArrayLike,
) -> tuple[PyTree, jax.Array]:
    """Run ``steps`` updates of ``optimizer`` on a differentiable ``f``; return ``(params, costs)``.

    ``w_{t+1} = w_t + Delta w_t`` with ``Delta w_t`` the optimizer's update of
    ``jax.grad(f)(w_t)`` (notes, "Gradient descent"), as one ``lax.scan``;
    ``costs`` has shape ``(steps + 1,)``: ``f(w_0), ..., f(w_steps)``. Keyword
    arguments are set in the initial state with :func:`set_hyperparams`, so
    ``jax.vmap(lambda r: minimize(f, w0, gd(1.0), 100, rate=r)[1])(rates)``
    runs one trajectory per rate in a single compiled call. For research on
    test functions (quadratics, Rosenbrock); networks train with ``fnn.train``.
    """
    w, costs = _descend(f, params, optimizer, steps, hyperparams, lambda w, cost: cost)
    return w, jnp.concatenate([costs, jnp.asarray(f(w))[None].astype(costs.dtype)])


def trajectory(
    f: Callable[[PyTree], ArrayLike],
    params: PyTree,
    optimizer: Transform,
    steps: int,
    **hyperparams: ArrayLike,
) -> PyTree:
    """The iterates ``w_0, ..., w_steps`` of :func:`minimize`, stacked on a new leading axis.

    Each leaf of the result has shape ``(steps + 1,) + leaf.shape``; use it to
    compare measured paths with theory (e.g. ``(1 - eta lambda_i)^t`` along
    the Hessian's eigenvectors, notes "Convergence").
    """
    _, ws = _descend(f, params, optimizer, steps, hyperparams, lambda w, cost: w)
    return jax.tree_util.tree_map(lambda w0, w: jnp.concatenate([jnp.asarray(w0)[None], w]), params, ws)
