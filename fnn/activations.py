"""Activation functions and their derivatives.

Notes, "Sigmoid neurons", "Perceptrons" and "Soft-Max and Log-Likelihood".
A layer computes its activation ``z = sigma(a)`` from its weighted input
``a = W z_prev + b``; backpropagation needs the derivative ``sigma'(a)``
(BP1 and BP2). Each activation here is an :class:`Activation`: the function,
its derivative, and :meth:`Activation.vjp`, the product of an upstream
gradient with the derivative (``g * sigma'(a)`` for elementwise functions, the
Jacobian-transpose product for softmax).

Conventions: the last axis holds the units of a layer, any leading axes are
batch axes. Step and sign have derivative zero (almost everywhere), which is
exactly why perceptrons cannot be trained by gradient descent.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array

__all__ = [
    "Activation",
    "step",
    "sign",
    "linear",
    "sigmoid",
    "tanh",
    "relu",
    "softmax",
    "get",
    "names",
]


@dataclasses.dataclass(frozen=True)
class Activation:
    """An activation function ``sigma`` with its derivative.

    Attributes:
      name: registry name (``activations.get(name)`` returns this object).
      fn: ``a -> sigma(a)``, shape-preserving.
      deriv: for an elementwise activation ``a -> sigma'(a)`` (same shape);
        for softmax ``a -> J`` with ``J[..., i, j] = d sigma_i / d a_j``.
      elementwise: whether ``sigma`` acts on each unit separately.
      deriv_given_output: ``(a, z) -> sigma'(a)`` given also ``z = sigma(a)``, which a forward pass
        already holds; ``None`` where that saves nothing over ``deriv``. Used by :meth:`vjp`.

    Objects are frozen and hashable, so networks that hold them can be static
    arguments of ``jax.jit``.
    """

    name: str
    fn: Callable[[Array], Array] = dataclasses.field(repr=False)
    deriv: Callable[[Array], Array] = dataclasses.field(repr=False)
    elementwise: bool = True
    deriv_given_output: Callable[[Array, Array], Array] | None = dataclasses.field(default=None, repr=False)

    def __call__(self, a: ArrayLike) -> Array:
        return self.fn(jnp.asarray(a))

    def vjp(self, a: ArrayLike, g: ArrayLike, z: ArrayLike | None = None) -> Array:
        """Back-propagate ``g = dC/dz`` through ``z = sigma(a)``: return ``dC/da``.

        Elementwise: ``g * sigma'(a)`` (the Hadamard product of BP1/BP2).
        Softmax: ``J^T g = z * (g - sum_j g_j z_j)`` without forming ``J``.
        ``z``: ``sigma(a)`` when the caller holds it (a forward pass does), so that it is not
        computed again; it must equal ``sigma(a)`` (its shape is checked, its values are not).
        """
        a = jnp.asarray(a)
        g = jnp.asarray(g)
        if z is not None and jnp.shape(z) != a.shape:
            raise ValueError(f"z must be sigma(a), of a's shape {a.shape}, got shape {jnp.shape(z)}")
        if self.elementwise:
            if z is not None and self.deriv_given_output is not None:
                return g * self.deriv_given_output(a, jnp.asarray(z))
            return g * self.deriv(a)
        z = self.fn(a) if z is None else jnp.asarray(z)
        return z * (g - jnp.sum(g * z, axis=-1, keepdims=True))


def _step(a: Array) -> Array:
    # Heaviside: 1 where a > 0, else 0 (the notes' threshold unit).
    return jnp.where(a > 0, jnp.ones_like(a), jnp.zeros_like(a))


def _sign(a: Array) -> Array:
    # The perceptron's output: +1 where a > 0, -1 where a <= 0 (notes, "Perceptrons").
    return jnp.where(a > 0, jnp.ones_like(a), -jnp.ones_like(a))


def _zero(a: Array) -> Array:
    return jnp.zeros_like(a)


def _sigmoid(a: Array) -> Array:
    return jax.nn.sigmoid(a)


def _sigmoid_deriv(a: Array) -> Array:
    # sigma'(a) = sigma(a) (1 - sigma(a))  (notes, "Cross-entropy"), computed as sigma(a) sigma(-a):
    # 1 - sigma(a) rounds to 0 in float32 once a > ~17, while sigma(-a) keeps its relative precision.
    return jax.nn.sigmoid(a) * jax.nn.sigmoid(-a)


@jax.custom_jvp
def _sigmoid_deriv_given_output(a: Array, z: Array) -> Array:
    # sigma'(a) = z (1 - z), with 1 - z = e^-a z where a > 0 (1 - z would round away its relative
    # precision there). e^-a is the exponential of the forward pass's z = 1 / (1 + e^-a) (the same
    # operation, which XLA computes once), so the derivative costs no transcendental function.
    return jnp.where(a > 0, jnp.exp(-a) * (z * z), z * (1 - z))


@_sigmoid_deriv_given_output.defjvp
def _sigmoid_deriv_given_output_jvp(primals, tangents):
    # The partial derivatives of the two branches, with e^-a bounded (e^-a overflows to inf where
    # a < -88 in float32, and inf * 0 would make the unselected branch's tangents NaN).
    (a, z), (da, dz) = primals, tangents
    pos = a > 0
    e = jnp.exp(-jnp.where(pos, a, 0))
    d_a = jnp.where(pos, -e * z * z, 0)
    d_z = jnp.where(pos, 2 * e * z, 1 - 2 * z)
    return _sigmoid_deriv_given_output(a, z), d_a * da + d_z * dz


def _tanh_deriv(a: Array) -> Array:
    t = jnp.tanh(a)
    return 1 - t * t


def _relu(a: Array) -> Array:
    # jax.nn.relu's derivative at the kink is 0, matching _relu_deriv; jnp.maximum's would be 1/2.
    return jax.nn.relu(a)


def _relu_deriv(a: Array) -> Array:
    # 1 for a > 0, 0 otherwise (we take 0 at the kink, as jax.grad does).
    return jnp.where(a > 0, jnp.ones_like(a), jnp.zeros_like(a))


def _softmax(a: Array) -> Array:
    # z_j = e^{a_j} / sum_k e^{a_k}; shifted by max_k a_k so that no exponential overflows.
    return jax.nn.softmax(a, axis=-1)


def _softmax_jacobian(a: Array) -> Array:
    # d z_i / d a_j = z_i (1[i == j] - z_j).
    z = _softmax(a)
    eye = jnp.broadcast_to(jnp.eye(z.shape[-1], dtype=z.dtype), z.shape + z.shape[-1:])
    return z[..., :, None] * (eye - z[..., None, :])


step = Activation("step", _step, _zero)
sign = Activation("sign", _sign, _zero)
linear = Activation("linear", lambda a: a, jnp.ones_like)
sigmoid = Activation("sigmoid", _sigmoid, _sigmoid_deriv, deriv_given_output=_sigmoid_deriv_given_output)
tanh = Activation("tanh", jnp.tanh, _tanh_deriv)
relu = Activation("relu", _relu, _relu_deriv)
softmax = Activation("softmax", _softmax, _softmax_jacobian, elementwise=False)

_REGISTRY: dict[str, Activation] = {
    act.name: act for act in (step, sign, linear, sigmoid, tanh, relu, softmax)
}


def names() -> tuple[str, ...]:
    """The registered activation names."""
    return tuple(_REGISTRY)


def get(activation: str | Activation) -> Activation:
    """Look an activation up by name (or pass an :class:`Activation` through).

    Raises:
      ValueError: for an unknown name, listing the known ones.
      TypeError: for anything that is neither a string nor an ``Activation``.
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        try:
            return _REGISTRY[activation]
        except KeyError:
            raise ValueError(
                f"activation must be one of {sorted(_REGISTRY)}, got {activation!r}"
            ) from None
    raise TypeError(
        f"activation must be a name (str) or an fnn.activations.Activation, "
        f"got {type(activation).__name__}"
    )
