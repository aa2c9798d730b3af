"""Fully connected feedforward networks (multilayer perceptrons) as pure functions.

Notes, "Architecture of Neural networks" and "Mathematical preamble to
backpropagation". Layer ``l = 1..L`` computes the weighted input and the
activation

    a^l = W^l z^{l-1} + b^l,        z^l = sigma(a^l),        z^0 = x,

with ``W^l`` of shape ``(n_l, n_{l-1})``: row ``j`` holds the weights ``w_jk^l``
into neuron ``j``. Hidden layers share one activation, the output layer has
its own. A batch is a matrix whose rows are examples, so in code
``a = z_prev @ W.T + b``.

:class:`MLP` is only a *description* (sizes, activations, initializers): frozen
and hashable, it can be a static argument of ``jax.jit``. Parameters are a
plain pytree — a tuple with one ``{"W", "b"}`` dict per layer — created by
``net.init(key)`` and passed explicitly to ``net.apply`` / ``net.forward``.

Example::

    net = MLP((784, 30, 10), hidden="sigmoid", output="sigmoid")
    params = net.init(jax.random.key(0))
    probs = net.apply(params, x)          # x: (batch, 784) -> (batch, 10)
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from fnn import activations as _act
from fnn import initializers as _init

Array = jax.Array
Params = tuple[dict[str, Array], ...]

__all__ = ["MLP", "Trace", "Params"]


class Trace(NamedTuple):
    """Everything the forward pass computed, what backprop needs.

    ``a[l-1]`` is the weighted input ``a^l`` of layer ``l = 1..L`` and ``z[l]``
    its activation ``z^l``; ``z[0]`` is the input ``x``. Shapes ``(batch, n_l)``.
    """

    a: tuple[Array, ...]
    z: tuple[Array, ...]
    state: Any = ()


@dataclasses.dataclass(frozen=True)
class MLP:
    """A multilayer perceptron ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    Args:
      sizes: units per layer, input first; at least two positive integers.
      hidden: activation of the hidden layers (name or ``Activation``).
      output: activation of the output layer.
      w_init: weight initializer (name or callable ``(key, shape, dtype)``).
        ``None`` picks the notes' rule for the hidden activation: He for ReLU,
        Xavier otherwise.
      b_init: bias initializer, zeros by default.
    """

    sizes: tuple[int, ...]
    hidden: _act.Activation | str = "sigmoid"
    output: _act.Activation | str = "sigmoid"
    w_init: Any = None
    b_init: Any = "zeros"

    def __post_init__(self) -> None:
        sizes = self.sizes
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
            raise TypeError(f"sizes must be a sequence of layer widths, got {sizes!r}")
        if len(sizes) < 2:
            raise ValueError(
                f"sizes must list at least two layers (input and output), got {tuple(sizes)}"
            )
        for i, n in enumerate(sizes):
            if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
                raise ValueError(f"sizes[{i}] must be a positive integer, got {n!r}")
        object.__setattr__(self, "sizes", tuple(int(n) for n in sizes))
        object.__setattr__(self, "hidden", _act.get(self.hidden))
        object.__setattr__(self, "output", _act.get(self.output))
        w_init = self.w_init
        if w_init is None:
            w_init = "he" if self.hidden.name == "relu" else "xavier"
        object.__setattr__(self, "w_init", _init.get(w_init))
        object.__setattr__(self, "b_init", _init.get(self.b_init))

    # --- description ---------------------------------------------------------

    @property
    def n_layers(self) -> int:
        """``L``, the number of layers with weights (the input is not a layer)."""
        return len(self.sizes) - 1

    def activation(self, l: int) -> _act.Activation:
        """Activation of layer ``l`` (0-based over weighted layers)."""
        return self.output if l == self.n_layers - 1 else self.hidden

    def num_params(self) -> int:
        """Total number of weights and biases."""
        return sum(m * n + m for n, m in zip(self.sizes[:-1], self.sizes[1:]))

    # --- parameters ----------------------------------------------------------

    def init(self, key: Array, dtype: DTypeLike = jnp.float32) -> Params:
        """Fresh parameters: ``W^l = w_init(key, (n_l, n_{l-1}))``, ``b^l = b_init(key, (n_l,))``."""
        if not isinstance(key, jax.Array):
            raise TypeError(
                f"key must be a jax.random key (jax.random.key(seed)), got {type(key).__name__}"
            )
        keys = jax.random.split(key, 2 * self.n_layers)
        params = []
        for l, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            params.append(
                {
                    "W": jnp.asarray(self.w_init(keys[2 * l], (n_out, n_in), dtype), dtype),
                    "b": jnp.asarray(self.b_init(keys[2 * l + 1], (n_out,), dtype), dtype),
                }
            )
        return tuple(params)

    @property
    def stateful(self) -> bool:
        """Whether the network carries state besides its parameters (batch norm's running statistics)."""
        return False

    def init_state(self, dtype: DTypeLike = jnp.float32) -> Any:
        """The initial non-trainable state; ``()`` for a network without batch norm."""
        return ()

    def check_params(self, params: Params) -> None:
        """Raise ``ValueError`` unless ``params`` fits this architecture."""
        if not isinstance(params, (tuple, list)) or len(params) != self.n_layers:
            got = len(params) if isinstance(params, (tuple, list)) else type(params).__name__
            raise ValueError(
                f"params must be a tuple of {self.n_layers} layer dicts for sizes {self.sizes}, got {got}"
            )
        for l, (layer, n_in, n_out) in enumerate(zip(params, self.sizes[:-1], self.sizes[1:])):
            if not isinstance(layer, dict) or "W" not in layer or "b" not in layer:
                raise ValueError(f"params[{l}] must be a dict with 'W' and 'b', got {layer!r:.80}")
            if tuple(layer["W"].shape) != (n_out, n_in) or tuple(layer["b"].shape) != (n_out,):
                raise ValueError(
                    f"params[{l}] must have W of shape {(n_out, n_in)} and b of shape {(n_out,)}, "
                    f"got {tuple(layer['W'].shape)} and {tuple(layer['b'].shape)}"
                )

    def _check_input(self, x: ArrayLike) -> Array:
        x = jnp.asarray(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.sizes[0]:
            raise ValueError(
                f"x must have shape (batch, {self.sizes[0]}) or ({self.sizes[0]},), got shape {x.shape}"
            )
        return x

    # --- forward pass ----------------------------------------------------------

    def forward(self, params: Params, x: ArrayLike, state: Any = (), train: bool = False) -> Trace:
        """The forward pass, keeping every ``a^l`` and ``z^l``.

        ``x`` of shape ``(batch, n_0)`` (a single example ``(n_0,)`` is a batch of
        one); it is cast to the parameters' dtype. ``state`` and ``train`` matter
        only for networks with batch norm; the returned ``Trace.state`` is the
        updated state (``()`` here).
        """
        self.check_params(params)
        x = self._check_input(x)
        z = x.reshape(-1, self.sizes[0]).astype(params[0]["W"].dtype)
        a_list, z_list = [], [z]
        for l, layer in enumerate(params):
            a = z @ layer["W"].T + layer["b"][None, :]  # a^l = W^l z^{l-1} + b^l, one row per example
            z = self.activation(l)(a)  # z^l = sigma(a^l)
            a_list.append(a)
            z_list.append(z)
        return Trace(tuple(a_list), tuple(z_list))

    def apply(self, params: Params, x: ArrayLike) -> Array:
        """The network's output ``z^L`` for ``x`` of shape ``(batch, n_0)`` or ``(n_0,)``."""
        x = self._check_input(x)
        out = self.forward(params, x).z[-1]
        return out[0] if x.ndim == 1 else out

    def logits(self, params: Params, x: ArrayLike) -> Array:
        """The output layer's weighted input ``a^L`` (what the costs consume)."""
        x = self._check_input(x)
        out = self.forward(params, x).a[-1]
        return out[0] if x.ndim == 1 else out
