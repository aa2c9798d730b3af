"""The checked setup of a training run, and the checks at the public door.

A run is fixed by its network, cost, optimizer, gradient mode (BP1-BP4 by
hand or ``jax.grad``), precision policy, mini-batch size ``m`` and device
mesh. :func:`make_setup` (a step or an epoch) and :func:`check_run` (``fit``,
``fit_population``: also the data, epochs and loop options) check them once
and return a frozen :class:`Setup` that every private function below the
door trusts. The other checkers here
(data, keys, choices) are the one copy of each rule the public functions share.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnn import backprop as _backprop
from fnn import costs as _costs
from fnn import optim as _optim
from fnn import parallel as _parallel
from fnn import _validate
from fnn._validate import check_int
from fnn.nn import MLP

Array = jax.Array

#: Gradient modes (``fnn.backprop.GRAD_METHODS``): ``"backprop"`` (BP1-BP4 by hand), ``"autodiff"`` (``jax.grad``).
GRAD_METHODS = _backprop.GRAD_METHODS
#: Precision policies: ``"float32"`` computes in the parameters' dtype;
#: ``"bfloat16"`` keeps parameters, optimizer state and batch-norm statistics
#: in their dtype (float32) and runs the forward and backward passes — matrix
#: products, activations, BP1-BP4 or jax.grad — in bfloat16.
PRECISIONS = ("float32", "bfloat16")


@dataclasses.dataclass(frozen=True, eq=False)
class Setup:
    """A checked run: build it with :func:`make_setup`; its fields are trusted below the door.

    ``batch_size`` is None for a lone step; ``mesh`` is None on one device.
    """

    net: MLP
    cost: _costs.Cost
    optimizer: Any
    grad: str = "backprop"
    precision: str = "float32"
    batch_size: int | None = None
    mesh: _parallel.DeviceMesh | None = None


def make_setup(net: Any, cost: Any, optimizer: Any, grad: Any = "backprop", precision: Any = "float32",
               batch_size: Any = None, devices: Any = None) -> Setup:
    """Check each part once and freeze them (the door of :func:`make_step` and :func:`make_epoch`)."""
    net = check_net(net)
    cost = _costs.get(cost)
    optimizer = check_optimizer(optimizer)
    grad = check_choice(grad, "grad", GRAD_METHODS)
    precision = check_choice(precision, "precision", PRECISIONS)
    check_trainable(net, cost)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", 1)
    return Setup(net, cost, optimizer, grad, precision, batch_size, _parallel.mesh(devices))


def check_net(net: Any) -> MLP:
    """``net`` if it is an ``fnn.nn.MLP`` (already checked by its own ``__post_init__``)."""
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an fnn.nn.MLP, got {type(net).__name__}")
    return net


def check_optimizer(optimizer: Any) -> Any:
    """An ``fnn.optim.Transform`` or any object with the same protocol (an optax
    ``GradientTransformation`` included): callable ``init(params) -> state`` and
    ``update(grads, state, params) -> (updates, state)``, the updates being
    added to the parameters (they carry the sign)."""
    if isinstance(optimizer, _optim.Transform):
        return optimizer
    if callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None)):
        return optimizer
    raise TypeError(
        "optimizer must be an fnn.optim.Transform (e.g. optim.adam(1e-3)) or an object with "
        f"init(params) and update(grads, state, params) methods, got {type(optimizer).__name__}"
    )


def check_trainable(net: MLP, cost: _costs.Cost) -> None:
    """Refuse an output activation whose derivative is zero everywhere (``step``, ``sign``) with a
    cost that does not cancel it (the quadratic cost: BP1's ``delta^L = (a - y) sigma'(z^L)`` is
    then 0 and nothing trains)."""
    if net.output.name in cost.matched:
        return
    z = jnp.linspace(-4.0, 4.0, 81).reshape(27, 3)  # rows of 3 units: softmax's derivative is not elementwise
    g = jnp.cos(jnp.arange(81.0)).reshape(27, 3)
    if not bool(jnp.any(net.output.vjp(z, g) != 0)):
        raise ValueError(
            f"cost {cost.name!r} with output activation {net.output.name!r}, whose derivative is 0 everywhere, "
            "gives zero gradients: nothing would train; use an output activation with a nonzero derivative "
            "(sigmoid, linear, ...)"
        )


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def check_keys(keys: Any, population: bool = False, name: str = "key") -> Array:
    """The one key rule: a typed ``jax.random`` key array, or raw ``uint32`` key data
    (trailing axis 2, wrapped); a scalar ``key``, or a ``(P,)`` array of ``keys`` (P >= 1)."""
    ndim = 1 if population else 0
    if isinstance(keys, jax.Array) and keys.ndim == ndim + 1 and keys.dtype == jnp.uint32 and keys.shape[-1] == 2:
        keys = jax.random.wrap_key_data(keys)
    if isinstance(keys, jax.Array) and jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key) and keys.ndim == ndim:
        if not population or keys.shape[0] >= 1:
            return keys
    if population:
        raise TypeError(
            "keys must be a (P,) array of jax.random keys (jax.random.split(jax.random.key(seed), P)), got "
            f"{getattr(keys, 'dtype', type(keys).__name__)} of shape {getattr(keys, 'shape', ())}"
        )
    raise TypeError(
        f"{name} must be a jax.random key (jax.random.key(seed)), got "
        f"{getattr(keys, 'dtype', type(keys).__name__)} of shape {getattr(keys, 'shape', ())}"
    )


def check_pair(pair: Any, name: str, optional: bool = False) -> tuple[Any, Any]:
    """``pair`` is a tuple or list ``(x, y)`` (or None when ``optional``)."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        what = "a pair (x, y) or None" if optional else "a pair (x, y)"
        raise TypeError(f"{name} must be {what}, got {type(pair).__name__}")
    return pair


def check_data(net: MLP, x: Any, y: Any, name: str = "train") -> tuple[Array, Array]:
    """``(x, y)`` checked against the network (host-side, once; :func:`fnn._validate.check_data`):
    ``x`` ``(n, n_0)`` finite numbers, ``y`` labels in ``[0, n_L)`` ``(n,)`` or targets ``(n, n_L)``."""
    return _validate.check_data(x, y, net.sizes[0], net.sizes[-1], name)


class Run(NamedTuple):
    """The checked arguments of :func:`fit` and :func:`fit_population` beside the setup."""

    setup: Setup
    train: tuple[Any, Any]
    validation: tuple[Any, Any] | None
    epochs: int


def check_run(net: Any, cost: Any, optimizer: Any, train: Any, epochs: Any, batch_size: Any, validation: Any,
              grad: Any, progress: Any, devices: Any, callback: Any, precision: Any) -> Run:
    """Validate everything :func:`fit` and :func:`fit_population` share, once (the public door)."""
    net = check_net(net)
    cost = _costs.get(cost)
    optimizer = check_optimizer(optimizer)
    grad = check_choice(grad, "grad", GRAD_METHODS)
    x, y = check_data(net, *check_pair(train, "train"), name="train")
    epochs = check_int(epochs, "epochs", 1)
    batch_size = check_int(batch_size, "batch_size", 1, x.shape[0], " (the number of training examples)")
    if validation is not None:
        validation = check_data(net, *check_pair(validation, "validation", optional=True), name="validation")
    check_bool(progress, "progress")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    precision = check_choice(precision, "precision", PRECISIONS)
    check_trainable(net, cost)
    setup = Setup(net, cost, optimizer, grad, precision, batch_size, _parallel.mesh(devices))
    return Run(setup, (x, y), validation, epochs)
