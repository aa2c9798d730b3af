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

Checks (:func:`targets`, run by every cost and by :mod:`fnn.backprop`): class
labels must lie in ``[0, n_out)``; cross-entropy and log-likelihood targets in
``[0, 1]``; and each cost accepts only outputs it is defined for
(cross-entropy: ``ln z`` and ``ln(1 - z)`` need ``z`` in ``(0, 1)``, so a
sigmoid or softmax output, or an activation of your own; log-likelihood: a
softmax). Values can be checked only when they are concrete: called with
concrete arrays (outside ``jax.jit``) a bad label or target raises
``ValueError`` naming the first bad example. Inside your own ``jit`` (traced
values, which cannot be inspected) a bad label or target makes its one-hot row
or target NaN, so the cost and its gradient come out NaN rather than a
plausible number; wrap the function with ``jax.experimental.checkify`` if you
need an error there. (``fnn.train.fit`` checks its data before it compiles.)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fnn import activations as _act

Array = jax.Array

__all__ = [
    "Cost",
    "check_labels",
    "value_of_targets",
    "delta_of_targets",
    "quadratic",
    "cross_entropy",
    "log_likelihood",
    "get",
    "names",
    "targets",
    "accuracy",
]


def _concrete(v: Any) -> bool:
    return not isinstance(v, jax.core.Tracer)


def check_labels(y: ArrayLike, n_out: int, name: str = "y") -> None:
    """Raise ``ValueError`` naming the first example whose class label is outside ``[0, n_out)``.

    ``y``: integer labels ``(batch,)``, concrete (a traced ``y`` is not checked:
    see the module docstring). ``name`` names the argument in the message.
    """
    if not _concrete(y):
        return
    y = np.asarray(y)
    bad = np.flatnonzero((y < 0) | (y >= n_out))
    if bad.size:
        i = int(bad[0])
        hint = " (for a single output unit pass 0/1 targets of shape (n, 1))" if n_out == 1 else ""
        raise ValueError(
            f"{name} must hold class labels in [0, {n_out}) for an output layer of {n_out} units, "
            f"got {int(y[i])} at index {i} ({bad.size} labels out of range){hint}"
        )


def _check_unit_targets(y: ArrayLike, cost: str, name: str = "y") -> None:
    if not _concrete(y):
        return
    y = np.asarray(y)
    bad = np.argwhere(~((y >= 0) & (y <= 1)))  # NaN fails both comparisons
    if bad.size:
        i = tuple(int(k) for k in bad[0])
        raise ValueError(
            f"{name} must hold targets in [0, 1] for the {cost} cost (probabilities), got {y[i]} "
            f"at index {i[0] if len(i) == 1 else i} (row {i[0]})"
        )


def targets(y: ArrayLike, a: ArrayLike, unit_interval: bool = False, cost: str = "") -> Array:
    """Bring labels ``y`` to the shape and dtype of the output ``a`` (batch, n_out).

    Integer labels of shape ``(batch,)`` become one-hot rows; float targets must
    already have ``a``'s shape. ``unit_interval``: targets must lie in
    ``[0, 1]`` (``cost`` names the cost in the message).

    Raises ``ValueError`` naming ``y`` when the shapes do not fit (shapes are
    static, so this runs before tracing) and, for concrete ``y``, for a label
    outside ``[0, n_out)`` or a target outside ``[0, 1]``. A traced bad label or
    target becomes NaN (see the module docstring).
    """
    y = jnp.asarray(y)
    a = jnp.asarray(a)
    n_out = a.shape[-1]
    if y.shape == a.shape:
        if unit_interval:
            _check_unit_targets(y, cost)
        t = y.astype(a.dtype)
        if unit_interval and not _concrete(y):  # a traced target outside [0, 1] becomes NaN
            t = jnp.where((t >= 0) & (t <= 1), t, jnp.nan)
        return t
    if y.shape == a.shape[:-1] and jnp.issubdtype(y.dtype, jnp.integer):
        check_labels(y, n_out)
        t = jax.nn.one_hot(y, n_out, dtype=a.dtype)
        if not _concrete(y):  # one_hot gives a row of zeros for a bad label: make it NaN instead
            t = jnp.where(((y >= 0) & (y < n_out))[..., None], t, jnp.nan)
        return t
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
      outputs: the registered output activations the cost is defined for
        (``None``: all); an activation of your own (a name not in
        ``fnn.activations.names()``) is accepted.
      unit_targets: whether targets must lie in ``[0, 1]``.
    """

    name: str
    per_example: Callable[[Array, Array, _act.Activation], Array] = dataclasses.field(repr=False)
    dz: Callable[[Array, Array], Array] = dataclasses.field(repr=False)
    matched: tuple[str, ...] = ()
    outputs: tuple[str, ...] | None = None
    unit_targets: bool = False

    def value(self, a: ArrayLike, y: ArrayLike, output: str | _act.Activation) -> Array:
        """Mean cost over the batch, ``C = (1/n) sum_x C_x``, from pre-activations ``a``."""
        a, t, output = self.prepare(a, y, output)
        return value_of_targets(self, a, t, output)

    def delta(self, a: ArrayLike, y: ArrayLike, output: str | _act.Activation) -> Array:
        """BP1: ``delta^L = grad_z C_x (.) sigma'(a^L)`` per example, shape of ``a``.

        For the matched pairs (see module docstring) this is ``z^L - y``.
        """
        a, t, output = self.prepare(a, y, output)
        return delta_of_targets(self, a, t, output)

    def check_output(self, output: str | _act.Activation) -> _act.Activation:
        """The output activation, if this cost is defined for it; else ``ValueError``."""
        output = _act.get(output)
        if self.outputs is not None and output.name in _act.names() and output.name not in self.outputs:
            why = {
                "cross_entropy": "ln z and ln(1 - z) need outputs in (0, 1)",
                "log_likelihood": "C = -ln z_y needs outputs that form a distribution",
            }.get(self.name, "the cost is not defined for it")
            raise ValueError(
                f"output must be {' or '.join(repr(o) for o in self.outputs)} for the {self.name} cost "
                f"({why}), got {output.name!r}; use the quadratic cost for a {output.name} output"
            )
        return output

    def prepare(
        self, a: ArrayLike, y: ArrayLike, output: str | _act.Activation
    ) -> tuple[Array, Array, _act.Activation]:
        """Validate once: ``(a, targets, output)`` for :func:`value_of_targets` / :func:`delta_of_targets`.

        ``a``: ``(batch, n_out)``; ``y`` as in :func:`targets`; ``output`` a
        name or activation this cost is defined for. Raises ``ValueError``
        naming the argument otherwise.
        """
        a = _as_output(a, "a")
        if a.ndim != 2:
            raise ValueError(
                f"a must be the output pre-activations of shape (batch, n_out), got shape {a.shape}"
            )
        output = self.check_output(output)
        return a, targets(y, a, self.unit_targets, self.name), output


def value_of_targets(cost: Cost, a: Array, t: Array, output: _act.Activation) -> Array:
    """``C = (1/n) sum_x C_x`` from prepared arguments (:meth:`Cost.prepare`); not checked again."""
    return jnp.mean(cost.per_example(a, t, output))


def delta_of_targets(cost: Cost, a: Array, t: Array, output: _act.Activation) -> Array:
    """BP1 ``delta^L`` from prepared arguments (:meth:`Cost.prepare`); not checked again."""
    z = output(a)
    if output.name in cost.matched:
        return z - t
    return output.vjp(a, cost.dz(z, t), z)


def _as_output(v: Any, name: str) -> Array:
    # The apply of a batch-norm network returns (out, state); passing that pair on is a common slip.
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], (tuple, list)):
        raise ValueError(
            f"{name} is a pair (out, state): the network has batch norm, so its apply returns "
            "(out, new_state); pass out (out, state = net.apply(params, x, state))"
        )
    return jnp.asarray(v)


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


cross_entropy = Cost(
    "cross_entropy", _cross_entropy, _cross_entropy_dz, matched=("sigmoid",),
    outputs=("sigmoid", "softmax"), unit_targets=True,
)


# --- log-likelihood -----------------------------------------------------------


def _log_likelihood(a: Array, y: Array, output: _act.Activation) -> Array:
    if output.name != "softmax":  # Cost.prepare accepts only softmax; kept for direct callers of per_example
        raise ValueError(
            f"output must be 'softmax' for the log-likelihood cost (C = -ln z_y needs "
            f"outputs that form a distribution), got {output.name!r}"
        )
    # -ln z_y = -sum_j y_j (a_j - logsumexp(a)); finite for logits of any size.
    return -jnp.sum(y * jax.nn.log_softmax(a, axis=-1), axis=-1)


def _log_likelihood_dz(z: Array, y: Array) -> Array:
    return -y / z


log_likelihood = Cost(
    "log_likelihood", _log_likelihood, _log_likelihood_dz, matched=("softmax",),
    outputs=("softmax",), unit_targets=True,
)


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
    output = _as_output(output, "output")
    if output.ndim != 2:
        raise ValueError(f"output must have shape (batch, n_out), got shape {output.shape}")
    y = jnp.asarray(y)
    if y.ndim == 1 and jnp.issubdtype(y.dtype, jnp.integer) and output.shape[-1] > 1:
        check_labels(y, output.shape[-1])
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
