"""Cost functions, their output error ``delta^L`` (BP1), and accuracy.

Notes, "Gradient descent" (quadratic cost), "Cross-entropy" and
"Soft-Max and Log-Likelihood". A cost is an average over examples,
``C = (1/n) sum_x C_x``; here ``C_x`` is

* quadratic:      ``C_x = 1/2 ||y(x) - z^L||^2``  (the notes print
  ``||y(x - a)||^2``, a slip for ``||y(x) - a||^2``);
* cross-entropy:  ``C_x = -sum_j [y_j ln z_j + (1 - y_j) ln(1 - z_j)]``
  (the multi-layer form: one binary problem per output unit);
* log-likelihood: ``C_x = -ln z_y`` for a softmax output ``z``.

Every cost is computed from the output layer's weighted input ``a^L`` and the
output activation, so it stays finite when the output saturates: for a
sigmoid output ``ln z = -softplus(-a)`` and ``ln(1 - z) = -softplus(a)``;
for softmax ``ln z = a - logsumexp(a)``.

``delta`` returns BP1's ``delta^L = dC_x/da^L`` per example,
``grad_z C_x (.) sigma'(a^L)``. For the matched pairs the notes derive,
(quadratic, linear), (cross-entropy, sigmoid) and (log-likelihood, softmax),
it is exactly ``z^L - y`` with no ``sigma'`` factor: these pairs do not learn
slowly when the output saturates.

Labels ``y`` are either targets of the output's shape ``(batch, n_out)`` or
integer class labels ``(batch,)``, turned into one-hot rows.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from fnn import activations as _act

Array = jax.Array

__all__ = [
    "Cost",
    "quadratic",
    "cross_entropy",
    "log_likelihood",
    "get",
    "names",
    "targets",
    "accuracy",
]


def targets(y: ArrayLike, a: ArrayLike) -> Array:
    """Bring labels ``y`` to the shape and dtype of the output ``a`` (batch, n_out).

    Integer labels of shape ``(batch,)`` become one-hot rows; float targets must
    already have ``a``'s shape. Raises ``ValueError`` naming ``y`` when the
    shapes do not fit. Shapes are static, so this check runs before tracing.
    """
    y = jnp.asarray(y)
    a = jnp.asarray(a)
    n_out = a.shape[-1]
    if y.shape == a.shape:
        return y.astype(a.dtype)
    if y.shape == a.shape[:-1] and jnp.issubdtype(y.dtype, jnp.integer):
        return jax.nn.one_hot(y, n_out, dtype=a.dtype)
    raise ValueError(
        f"y must be integer labels of shape {a.shape[:-1]} or targets of shape "
        f"{a.shape} (the network's output), got shape {y.shape} and dtype {y.dtype}"
    )


@dataclasses.dataclass(frozen=True)
class Cost:
    """A cost: per-example value and output error, both from ``a^L``.

    Attributes:
      name: registry name.
      per_example: ``(a, y, output) -> C_x`` of shape ``(batch,)``; ``y`` already
        one-hot / float targets of ``a``'s shape.
      dz: ``(z, y) -> dC_x/dz`` (the gradient with respect to the activations),
        used for output activations without a matched shortcut.
      matched: names of output activations for which ``delta^L = z - y``.
    """

    name: str
    per_example: Callable[[Array, Array, _act.Activation], Array] = dataclasses.field(repr=False)
    dz: Callable[[Array, Array], Array] = dataclasses.field(repr=False)
    matched: tuple[str, ...] = ()

    def value(self, a: ArrayLike, y: ArrayLike, output: str | _act.Activation) -> Array:
        """Mean cost over the batch, ``C = (1/n) sum_x C_x``, from pre-activations ``a``."""
        a, y, output = _prepare(a, y, output)
        return jnp.mean(self.per_example(a, y, output))

    def delta(self, a: ArrayLike, y: ArrayLike, output: str | _act.Activation) -> Array:
        """BP1: ``delta^L = grad_z C_x (.) sigma'(a^L)`` per example, shape of ``a``.

        For the matched pairs (see module docstring) this is ``z^L - y``.
        """
        a, y, output = _prepare(a, y, output)
        z = output(a)
        if output.name in self.matched:
            return z - y
        return output.vjp(a, self.dz(z, y))


def _prepare(a: ArrayLike, y: ArrayLike, output: str | _act.Activation):
    a = jnp.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"a must be the output pre-activations of shape (batch, n_out), got shape {a.shape}")
    return a, targets(y, a), _act.get(output)


# --- quadratic ----------------------------------------------------------------


def _quadratic(a: Array, y: Array, output: _act.Activation) -> Array:
    d = y - output(a)
    return 0.5 * jnp.sum(d * d, axis=-1)


quadratic = Cost("quadratic", _quadratic, lambda z, y: z - y, matched=("linear",))


# --- cross-entropy ------------------------------------------------------------


def _log_z_and_log_1mz(a: Array, output: _act.Activation) -> tuple[Array, Array]:
    """``ln z`` and ``ln(1 - z)`` computed stably from the weighted input."""
    if output.name == "sigmoid":
        return -jax.nn.softplus(-a), -jax.nn.softplus(a)
    if output.name == "softmax":
        log_z = jax.nn.log_softmax(a, axis=-1)
        # ln(1 - z) = ln(sum_{k != j} e^{a_k}) - logsumexp(a); log1p(-z) is accurate away from z = 1.
        return log_z, jnp.log1p(-jnp.exp(log_z))
    z = output(a)
    return jnp.log(z), jnp.log1p(-z)


def _cross_entropy(a: Array, y: Array, output: _act.Activation) -> Array:
    log_z, log_1mz = _log_z_and_log_1mz(a, output)
    # y ln z with the convention 0 * ln 0 = 0, so exact 0/1 targets never make NaN.
    terms = jnp.where(y != 0, y * log_z, 0) + jnp.where(y != 1, (1 - y) * log_1mz, 0)
    return -jnp.sum(terms, axis=-1)


def _cross_entropy_dz(z: Array, y: Array) -> Array:
    # dC/dz = (z - y) / (z (1 - z))
    return (z - y) / (z * (1 - z))


cross_entropy = Cost("cross_entropy", _cross_entropy, _cross_entropy_dz, matched=("sigmoid",))


# --- log-likelihood -----------------------------------------------------------


def _log_likelihood(a: Array, y: Array, output: _act.Activation) -> Array:
    if output.name != "softmax":
        raise ValueError(
            f"output must be 'softmax' for the log-likelihood cost (C = -ln z_y needs "
            f"outputs that form a distribution), got {output.name!r}"
        )
    # -ln z_y = -sum_j y_j (a_j - logsumexp(a)); finite for logits of any size.
    return -jnp.sum(y * jax.nn.log_softmax(a, axis=-1), axis=-1)


def _log_likelihood_dz(z: Array, y: Array) -> Array:
    return -y / z


log_likelihood = Cost("log_likelihood", _log_likelihood, _log_likelihood_dz, matched=("softmax",))


_REGISTRY: dict[str, Cost] = {c.name: c for c in (quadratic, cross_entropy, log_likelihood)}


def names() -> tuple[str, ...]:
    """The registered cost names."""
    return tuple(_REGISTRY)


def get(cost: str | Cost) -> Cost:
    """Look a cost up by name (or pass a :class:`Cost` through).

    Raises ``ValueError`` for an unknown name (listing the known ones) and
    ``TypeError`` for anything else.
    """
    if isinstance(cost, Cost):
        return cost
    if isinstance(cost, str):
        try:
            return _REGISTRY[cost]
        except KeyError:
            raise ValueError(f"cost must be one of {sorted(_REGISTRY)}, got {cost!r}") from None
    raise TypeError(f"cost must be a name (str) or an fnn.costs.Cost, got {type(cost).__name__}")


def accuracy(output: ArrayLike, y: ArrayLike) -> Array:
    """Fraction of examples classified correctly.

    The predicted class is the output unit with the largest activation
    (notes, "Architecture of Neural networks"); for a single output unit it is
    ``output > 0.5`` (a sigmoid read as a probability). ``y`` is integer labels
    ``(batch,)`` or one-hot / binary targets of ``output``'s shape.
    """
    output = jnp.asarray(output)
    if output.ndim != 2:
        raise ValueError(f"output must have shape (batch, n_out), got shape {output.shape}")
    y = jnp.asarray(y)
    if output.shape[-1] == 1:
        pred = (output[:, 0] > 0.5).astype(jnp.int32)
        true = y.reshape(output.shape[0]).astype(jnp.int32) if y.size == output.shape[0] else None
    else:
        pred = jnp.argmax(output, axis=-1)
        true = y if y.ndim == 1 else None
        if y.shape == output.shape:
            true = jnp.argmax(y, axis=-1)
    if true is None or true.shape != pred.shape:
        raise ValueError(
            f"y must be integer labels of shape {(output.shape[0],)} or targets of shape "
            f"{output.shape}, got shape {y.shape}"
        )
    return jnp.mean((pred == true.astype(pred.dtype)).astype(jnp.float32))
