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

Normalization (notes, "Normalization"; :mod:`fnn.norm`). With
``norm="batch"`` or ``norm="layer"`` every *hidden* layer normalizes its
weighted input before the activation (the notes' pre-activation form; the
output layer is never normalized):

    a^l = W^l z^{l-1} (+ b^l),   a_hat^l = (a^l - mu) / sqrt(sigma^2 + delta),
    a_tilde^l = gamma^l a_hat^l + beta^l,   z^l = sigma(a_tilde^l).

A normalized layer's params dict is ``{"W", "b", "gamma", "beta"}`` for layer
norm and ``{"W", "gamma", "beta"}`` for batch norm: batch norm subtracts each
unit's mean, so a bias would cancel exactly (its gradient is 0 and ``beta``
takes its role); it is dropped. Batch norm's running statistics live in a
separate ``state`` pytree, a tuple with one ``{"mean", "var"}`` dict per hidden
layer; ``net.init(key)`` then returns ``(params, state)`` and
``net.apply(params, x, state, train=...)`` returns ``(output, new_state)``.

Example::

    net = MLP((784, 30, 10), hidden="sigmoid", output="sigmoid")
    params = net.init(jax.random.key(0))
    probs = net.apply(params, x)          # x: (batch, 784) -> (batch, 10)

    bn = MLP((784, 30, 10), norm="batch")
    params, state = bn.init(jax.random.key(0))
    probs, state = bn.apply(params, x, state, train=True)    # batch statistics; state updated
    probs, _ = bn.apply(params, x, state, train=False)       # running statistics (inference)
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from fnn import activations as _act
from fnn import initializers as _init
from fnn import norm as _norm

Array = jax.Array
Params = tuple[dict[str, Array], ...]

__all__ = ["MLP", "Trace", "Params", "NORMS"]

NORMS = (None, "batch", "layer")


class Trace(NamedTuple):
    """Everything the forward pass computed, what backprop needs.

    ``a[l-1]`` is the weighted input ``a^l = W^l z^{l-1} + b^l`` of layer
    ``l = 1..L`` (before any normalization) and ``z[l]`` its activation ``z^l``;
    ``z[0]`` is the input ``x``. Shapes ``(batch, n_l)``. ``state`` is the
    network's state after this pass (batch norm's running statistics, updated in
    training mode; ``()`` without batch norm).

    With ``norm`` set, for each hidden layer ``l = 1..L-1`` (index ``l-1``;
    empty tuples when ``norm`` is ``None``):

    * ``a_hat[l-1]``: the normalized weighted input ``(a^l - mu) / sqrt(sigma^2 + delta)``;
    * ``inv_std[l-1]``: ``1 / sqrt(sigma^2 + delta)``, shape ``(1, n_l)`` for batch
      norm (per unit), ``(batch, 1)`` for layer norm (per example);
    * ``a_norm[l-1]``: ``gamma^l a_hat + beta^l``, the input of the activation,
      ``z^l = sigma(a_norm[l-1])``.
    """

    a: tuple[Array, ...]
    z: tuple[Array, ...]
    state: Any = ()
    a_hat: tuple[Array, ...] = ()
    inv_std: tuple[Array, ...] = ()
    a_norm: tuple[Array, ...] = ()


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
      norm: ``None``, ``"batch"`` or ``"layer"``: normalize every hidden layer's
        weighted input (see the module docstring). ``gamma`` starts at 1 and
        ``beta`` at 0.
      norm_momentum: batch norm's moving-average coefficient ``alpha`` in
        ``[0, 1]``: ``mu_bar <- alpha mu_bar + (1 - alpha) mu`` (likewise the variance).
      norm_eps: ``delta > 0`` in ``sqrt(sigma^2 + delta)``.
      axis_name: for data-parallel training inside ``shard_map``/``pmap``: the
        mapped axis over which batch norm pools its batch statistics (global
        batch). ``None`` (default) uses the local batch.
    """

    sizes: tuple[int, ...]
    hidden: _act.Activation | str = "sigmoid"
    output: _act.Activation | str = "sigmoid"
    w_init: Any = None
    b_init: Any = "zeros"
    norm: str | None = None
    norm_momentum: float = 0.9
    norm_eps: float = 1e-5
    axis_name: Any = None

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
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of None, 'batch', 'layer', got {self.norm!r}")
        object.__setattr__(self, "norm_momentum", _norm.check_momentum(self.norm_momentum, "norm_momentum"))
        object.__setattr__(self, "norm_eps", _norm.check_eps(self.norm_eps, "norm_eps"))
        if self.norm is not None and len(self.sizes) < 3:
            raise ValueError(
                f"norm={self.norm!r} normalizes the hidden layers, but sizes {self.sizes} has none; "
                "use norm=None or add a hidden layer"
            )
        if self.norm == "layer":
            for i, n in enumerate(self.sizes[1:-1], start=1):
                if n < 2:
                    raise ValueError(
                        f"norm='layer' needs hidden layers of at least 2 units (layer norm of one unit "
                        f"is the constant beta), got sizes[{i}] = {n}"
                    )

    # --- description ---------------------------------------------------------

    @property
    def n_layers(self) -> int:
        """``L``, the number of layers with weights (the input is not a layer)."""
        return len(self.sizes) - 1

    def activation(self, l: int) -> _act.Activation:
        """Activation of layer ``l`` (0-based over weighted layers)."""
        return self.output if l == self.n_layers - 1 else self.hidden

    def normalized(self, l: int) -> bool:
        """Whether layer ``l`` (0-based over weighted layers) is normalized: the hidden ones, when ``norm`` is set."""
        return self.norm is not None and l < self.n_layers - 1

    def layer_keys(self, l: int) -> tuple[str, ...]:
        """The keys of layer ``l``'s params dict."""
        if not self.normalized(l):
            return ("W", "b")
        return ("W", "gamma", "beta") if self.norm == "batch" else ("W", "b", "gamma", "beta")

    def num_params(self) -> int:
        """Total number of trainable parameters (weights, biases, ``gamma``, ``beta``)."""
        total = 0
        for l, (n, m) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            total += m * n + m * (len(self.layer_keys(l)) - 1)
        return total

    # --- parameters ----------------------------------------------------------

    def init(self, key: Array, dtype: DTypeLike = jnp.float32) -> Params | tuple[Params, Any]:
        """Fresh parameters: ``W^l = w_init(key, (n_l, n_{l-1}))``, ``b^l = b_init(key, (n_l,))``.

        Normalized layers also get ``gamma^l = 1`` and ``beta^l = 0`` (and no
        ``b`` under batch norm). Returns ``params``, or ``(params, state)`` with
        ``state = self.init_state(dtype)`` when the network is :attr:`stateful`
        (batch norm).
        """
        if not isinstance(key, jax.Array):
            raise TypeError(
                f"key must be a jax.random key (jax.random.key(seed)), got {type(key).__name__}"
            )
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"dtype must be a floating-point dtype for the parameters, got {jnp.dtype(dtype)}"
            )
        keys = jax.random.split(key, 2 * self.n_layers)
        params = []
        for l, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            layer = {"W": _initialized(self.w_init, "w_init", keys[2 * l], (n_out, n_in), dtype, l)}
            if "b" in self.layer_keys(l):
                layer["b"] = _initialized(self.b_init, "b_init", keys[2 * l + 1], (n_out,), dtype, l)
            if self.normalized(l):
                layer["gamma"] = jnp.ones((n_out,), dtype)
                layer["beta"] = jnp.zeros((n_out,), dtype)
            params.append(layer)
        params = tuple(params)
        return (params, self.init_state(dtype)) if self.stateful else params

    @property
    def stateful(self) -> bool:
        """Whether the network carries state besides its parameters (batch norm's running statistics)."""
        return self.norm == "batch"

    def init_state(self, dtype: DTypeLike = jnp.float32) -> Any:
        """The initial non-trainable state.

        Batch norm: a tuple with one ``{"mean": 0, "var": 1}`` dict (shape
        ``(n_l,)``) per hidden layer, so that inference before any training is
        the identity normalization. ``()`` for a network without batch norm.
        """
        if not self.stateful:
            return ()
        return tuple(_norm.batch_norm_state(n, dtype) for n in self.sizes[1:-1])

    def check_state(self, state: Any, train: bool) -> Any:
        """Raise ``ValueError`` unless ``state`` fits this network; return it as a tuple."""
        if not self.stateful:
            return ()
        if state is None or (isinstance(state, tuple) and len(state) == 0):
            mode = "train=True" if train else "inference (train=False)"
            raise ValueError(
                f"state must be the batch-norm running statistics for {mode}, got {state!r}: this network "
                "has batch norm: init returned (params, state); pass both: pass the state returned by "
                "net.init(key) (or net.init_state()) and thread the new_state that apply/forward return "
                "in training mode; inference uses the state kept from training"
            )
        hidden = self.sizes[1:-1]
        if not isinstance(state, (tuple, list)) or len(state) != len(hidden):
            got = len(state) if isinstance(state, (tuple, list)) else type(state).__name__
            raise ValueError(
                f"state must be a tuple of {len(hidden)} {{'mean', 'var'}} dicts (one per hidden layer), got {got}"
            )
        for l, (s, n) in enumerate(zip(state, hidden)):
            if not isinstance(s, dict) or set(s) != {"mean", "var"}:
                raise ValueError(f"state[{l}] must be a dict with 'mean' and 'var', got {s!r:.80}")
            if tuple(jnp.shape(s["mean"])) != (n,) or tuple(jnp.shape(s["var"])) != (n,):
                raise ValueError(
                    f"state[{l}] must have mean and var of shape ({n},), got "
                    f"{tuple(jnp.shape(s['mean']))} and {tuple(jnp.shape(s['var']))}"
                )
        return tuple(state)

    def check_params(self, params: Params) -> None:
        """Raise ``ValueError`` unless ``params`` fits this architecture (``TypeError``: non-float leaves)."""
        if self.stateful and _looks_like_params_and_state(params):
            raise ValueError(
                "params is a pair (params, state): this network has batch norm: init returned "
                "(params, state); pass both: params, state = net.init(key), then "
                "net.apply(params, x, state) (which returns (out, new_state))"
            )
        if not isinstance(params, (tuple, list)) or len(params) != self.n_layers:
            got = len(params) if isinstance(params, (tuple, list)) else type(params).__name__
            raise ValueError(
                f"params must be a tuple of {self.n_layers} layer dicts for sizes {self.sizes}, got {got}"
            )
        for l, (layer, n_in, n_out) in enumerate(zip(params, self.sizes[:-1], self.sizes[1:])):
            keys = self.layer_keys(l)
            if not isinstance(layer, dict) or set(layer) != set(keys):
                got = sorted(layer) if isinstance(layer, dict) else f"{layer!r:.80}"
                raise ValueError(
                    f"params[{l}] must be a dict with keys {list(keys)} (norm={self.norm!r}), got {got}"
                )
            if tuple(jnp.shape(layer["W"])) != (n_out, n_in):
                raise ValueError(
                    f"params[{l}] must have W of shape {(n_out, n_in)}, got {tuple(jnp.shape(layer['W']))}"
                )
            for k in keys[1:]:
                if tuple(jnp.shape(layer[k])) != (n_out,):
                    raise ValueError(
                        f"params[{l}] must have {k} of shape {(n_out,)}, got {tuple(jnp.shape(layer[k]))}"
                    )
            for k in keys:
                dtype = getattr(layer[k], "dtype", None) or jnp.result_type(layer[k])
                if not jnp.issubdtype(dtype, jnp.floating):
                    raise TypeError(
                        f"params[{l}][{k!r}] must be a floating-point array (float32 or float64), got "
                        f"dtype {dtype}; integer parameters would be truncated by every update"
                    )

    def check_input(self, x: ArrayLike) -> Array:
        """``x`` as an array, if it has shape ``(batch, n_0)`` or ``(n_0,)``; else ``ValueError``."""
        x = jnp.asarray(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.sizes[0]:
            raise ValueError(
                f"x must have shape (batch, {self.sizes[0]}) or ({self.sizes[0]},), got shape {x.shape}"
            )
        return x

    # --- forward pass ----------------------------------------------------------

    def forward(self, params: Params, x: ArrayLike, state: Any = (), train: bool = False) -> Trace:
        """The forward pass, keeping every ``a^l`` and ``z^l`` (and the normalization's pieces).

        ``x`` of shape ``(batch, n_0)`` (a single example ``(n_0,)`` is a batch of
        one); it is cast to the parameters' dtype. ``state`` and ``train`` matter
        only for batch norm (``norm="batch"``): ``state`` is required (the
        running statistics), ``train=True`` normalizes with the batch's
        statistics and returns the updated state in ``Trace.state``;
        ``train=False`` (inference) uses the running statistics and returns the
        state unchanged. For other networks ``Trace.state`` is ``()``.

        Raises:
          ValueError: batch norm without a state, or in training mode on a batch of one.
        """
        x, state = self.check_call(params, x, state, train)
        return self._forward(params, x, state, train)

    def check_call(self, params: Params, x: ArrayLike, state: Any, train: bool) -> tuple[Array, Any]:
        """Validate the arguments of :meth:`forward` once; return ``(x, state)`` as the pass uses them."""
        if not isinstance(train, bool):
            raise TypeError(f"train must be True or False, got {train!r}")
        self.check_params(params)
        x = self.check_input(x)
        return x, self.check_state(state, train)

    def _forward(self, params: Params, x: Array, state: Any, train: bool, first_product: bool = False) -> Trace:
        # Private: trusts its arguments (checked once by check_call in the public callers).
        # first_product: x is the first layer's product W^1 z^0 (batch, n_1), formed by the caller
        # (one wide product over a group of members); layer 1's W is then not read (it may be absent).
        z = x.reshape(-1, self.sizes[1 if first_product else 0]).astype(params[-1]["W"].dtype)
        a_list, z_list = [], [z]
        a_hat, inv_std, a_norm, new_state = [], [], [], []
        for l, layer in enumerate(params):
            a = z if l == 0 and first_product else z @ layer["W"].T  # a^l = W^l z^{l-1} + b^l, one row per example
            if "b" in layer:
                a = a + layer["b"][None, :]
            s = a
            if self.normalized(l):
                if self.norm == "batch":
                    r = _norm._batch_norm_forward(
                        a, layer["gamma"], layer["beta"], state[l]["mean"], state[l]["var"], train,
                        self.norm_momentum, self.norm_eps, self.axis_name,
                    )
                    new_state.append(r.state)
                else:
                    r = _norm._layer_norm_forward(a, layer["gamma"], layer["beta"], self.norm_eps)
                s = r.out  # gamma a_hat + beta
                a_hat.append(r.a_hat)
                inv_std.append(r.inv_std)
                a_norm.append(s)
            z = self.activation(l)(s)  # z^l = sigma(a^l), or sigma(gamma a_hat^l + beta) when normalized
            a_list.append(a)
            z_list.append(z)
        return Trace(
            tuple(a_list), tuple(z_list), tuple(new_state), tuple(a_hat), tuple(inv_std), tuple(a_norm)
        )

    def apply(
        self, params: Params, x: ArrayLike, state: Any = None, train: bool = False
    ) -> Array | tuple[Array, Any]:
        """The network's output ``z^L`` for ``x`` of shape ``(batch, n_0)`` or ``(n_0,)``.

        Without batch norm: returns the output (``state``/``train`` are ignored).
        With batch norm: returns ``(output, new_state)``; ``state`` is required,
        ``train=False`` (default) uses the running statistics, ``train=True`` the
        batch's, and updates them.
        """
        x, state = self.check_call(params, x, state if self.stateful else (), train)
        trace = self._forward(params, x, state, train)
        out = trace.z[-1]
        out = out[0] if x.ndim == 1 else out
        return (out, trace.state) if self.stateful else out

    def logits(
        self, params: Params, x: ArrayLike, state: Any = None, train: bool = False
    ) -> Array | tuple[Array, Any]:
        """The output layer's weighted input ``a^L`` (what the costs consume); ``(a^L, new_state)`` with batch norm."""
        x, state = self.check_call(params, x, state if self.stateful else (), train)
        trace = self._forward(params, x, state, train)
        out = trace.a[-1]
        out = out[0] if x.ndim == 1 else out
        return (out, trace.state) if self.stateful else out


def _initialized(init: Any, name: str, key: Array, shape: tuple[int, ...], dtype: DTypeLike, l: int) -> Array:
    """``init(key, shape, dtype)``, checked: a wrong shape is an error, not a broadcast."""
    out = jnp.asarray(init(key, shape, dtype))
    if tuple(out.shape) != tuple(shape):
        raise ValueError(
            f"{name} must return an array of the requested shape {tuple(shape)} (layer {l}), "
            f"got shape {tuple(out.shape)} from {init!r:.80}"
        )
    return out.astype(dtype)


def _looks_like_params_and_state(params: Any) -> bool:
    """Whether ``params`` is the ``(params, state)`` pair that a batch-norm network's ``init`` returns."""
    return (
        isinstance(params, tuple)
        and len(params) == 2
        and isinstance(params[0], (tuple, list))
        and all(isinstance(layer, dict) and "W" in layer for layer in params[0])
        and isinstance(params[1], (tuple, list))
        and all(isinstance(s, dict) and set(s) == {"mean", "var"} for s in params[1])
    )
