"""Normalization: data standardization, batch normalization, layer normalization.

Notes, "Normalization" ("Data normalization", "Batch normalization", "Layer
normalization"). All three rescale values to mean 0 and variance 1 along some
axis; they differ in *which* values are pooled:

* **standardization** (data): per input feature ``i``, over the training set,
  once: ``x_hat_ni = (x_ni - mu_i) / sigma_i``;
* **batch norm**: per unit ``i`` of a hidden layer, over the ``K`` examples of
  the mini-batch, at every step:
  ``mu_i = (1/K) sum_n a_ni``, ``sigma_i^2 = (1/K) sum_n (a_ni - mu_i)^2``,
  ``a_hat_ni = (a_ni - mu_i) / sqrt(sigma_i^2 + delta)``, then
  ``a_tilde_ni = gamma_i a_hat_ni + beta_i`` (learnable ``gamma``, ``beta``);
* **layer norm**: per example ``n``, over the ``M`` units of the layer:
  ``mu_n = (1/M) sum_i a_ni``, ``sigma_n^2 = (1/M) sum_i (a_ni - mu_n)^2``,
  ``a_hat_ni = (a_ni - mu_n) / sqrt(sigma_n^2 + delta)``, then
  ``gamma_i a_hat_ni + beta_i``. (The notes write ``mu_i``/``sigma_i`` inside
  the layer-norm formula, a slip for the per-example ``mu_n``/``sigma_n``.)

Batch norm keeps moving averages for inference, when no mini-batch is there:
``mu_bar <- alpha mu_bar + (1 - alpha) mu`` and
``var_bar <- alpha var_bar + (1 - alpha) sigma^2``. **Deviation from the
notes:** the notes average the standard deviation ``sigma``; we average the
variance ``sigma^2`` (what inference divides by, ``sqrt(var_bar + delta)``, and
what jax/flax/PyTorch do). The batch variance is the biased ``1/K`` one of the
notes, so on data of variance ``s^2`` the running variance tends to
``(K-1)/K s^2``. The running mean starts at 0 and the running variance at 1,
so an untrained network in inference mode applies the identity normalization
(up to ``delta``).

Each normalization comes as a forward function returning a :class:`NormOutput`
(the output and what the backward pass needs) and a hand-written backward
function used by :mod:`fnn.backprop`. The backward of the normalization
``a -> a_hat`` when the statistics depend on ``a`` (batch norm in training
mode over the batch axis, layer norm over the unit axis) is, with
``g_hat = gamma (.) dC/da_tilde`` and means over the pooled axis,

    dC/da = inv_std (.) (g_hat - mean(g_hat) - a_hat (.) mean(g_hat (.) a_hat)),

and ``dC/da = inv_std (.) g_hat`` when the statistics are constants (batch
norm in inference mode). ``dC/dgamma_i = sum_n dC/da_tilde_ni a_hat_ni`` and
``dC/dbeta_i = sum_n dC/da_tilde_ni``.

Example::

    stats = norm.standardize.fit(x_train)
    x_train, x_test = norm.standardize.apply(stats, x_train), norm.standardize.apply(stats, x_test)

    state = norm.batch_norm_state(16)
    out, state = norm.batch_norm(a, gamma, beta, state, train=True)   # a: (batch, 16)
    out, _ = norm.batch_norm(a, gamma, beta, state, train=False)      # running statistics
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

Array = jax.Array

__all__ = [
    "Standardization",
    "Standardizer",
    "standardize",
    "standardize_fit",
    "standardize_apply",
    "NormOutput",
    "batch_norm_state",
    "batch_norm_forward",
    "batch_norm",
    "batch_norm_backward",
    "layer_norm_forward",
    "layer_norm",
    "layer_norm_backward",
    "check_momentum",
    "check_eps",
]


# --- validation helpers -----------------------------------------------------------


def _is_real(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def check_momentum(momentum: Any, name: str = "momentum") -> float:
    """Validate the moving-average coefficient ``alpha`` (must lie in ``[0, 1]``)."""
    if not _is_real(momentum) or not 0.0 <= momentum <= 1.0:
        raise ValueError(
            f"{name} (the moving-average coefficient alpha in mu_bar <- alpha mu_bar + "
            f"(1 - alpha) mu) must be a number in [0, 1], got {momentum!r}"
        )
    return float(momentum)


def check_eps(eps: Any, name: str = "eps") -> float:
    """Validate ``delta``, the constant added to the variance (must be a finite number > 0)."""
    if not _is_real(eps) or not eps > 0:
        raise ValueError(
            f"{name} (delta in sqrt(sigma^2 + delta)) must be a finite number > 0, got {eps!r}"
        )
    return float(eps)


def _float_array(x: ArrayLike, name: str) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype}")
    return x


def _check_affine(gamma: ArrayLike, beta: ArrayLike, m: int, dtype: Any) -> tuple[Array, Array]:
    gamma = jnp.asarray(gamma)
    beta = jnp.asarray(beta)
    if gamma.shape != (m,) or beta.shape != (m,):
        raise ValueError(
            f"gamma and beta must have shape ({m},) (one per unit), got {gamma.shape} and {beta.shape}"
        )
    return gamma.astype(dtype), beta.astype(dtype)


# --- data standardization -----------------------------------------------------------


class Standardization(NamedTuple):
    """Per-feature statistics of a training set, shape ``(d,)`` each.

    ``std`` is the population standard deviation ``sigma_i`` (``1/N``, as in the
    notes), replaced by 1 for a feature that is constant (to rounding), so that
    :func:`standardize_apply` never divides by zero: a constant feature maps to 0.
    """

    mean: Array
    std: Array


def standardize_fit(x: ArrayLike) -> Standardization:
    """Per-feature mean and standard deviation of a training set ``x`` of shape ``(N, d)``.

    Notes, "Data normalization": ``mu_i = (1/N) sum_n x_ni``,
    ``sigma_i^2 = (1/N) sum_n (x_ni - mu_i)^2``. A feature whose spread is below
    rounding level (``sigma_i <= 16 u max_n |x_ni|``, ``u`` the machine epsilon)
    counts as constant and gets ``sigma_i = 1``.

    Raises ``ValueError`` naming the first row (and its feature) that holds a
    NaN or an infinity: such a feature has no mean or spread. Inside
    ``jax.jit`` (traced ``x``, not inspectable) that feature's mean and std
    come out NaN, never the constant-feature ``sigma_i = 1``.
    """
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"x must be a data matrix of shape (N, d) with N >= 1, got shape {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jax.dtypes.canonicalize_dtype(jnp.float64))
    if not isinstance(x, jax.core.Tracer):
        _check_finite_rows(x, "x")
    mean = jnp.mean(x, axis=0)
    std = jnp.sqrt(jnp.mean(jnp.square(x - mean[None, :]), axis=0))
    tiny = 16 * jnp.finfo(x.dtype).eps * jnp.max(jnp.abs(x), axis=0)
    # NaN std (a non-finite feature) fails std > tiny and would become 1: keep it NaN.
    std = jnp.where((std > tiny) | jnp.isnan(std), std, jnp.ones_like(std))
    return Standardization(mean, std)


def _check_finite_rows(x: Array, name: str) -> None:
    finite = np.asarray(jnp.all(jnp.isfinite(x), axis=1))
    if not finite.all():
        row = int(np.argmin(finite))
        col = int(np.argmin(np.isfinite(np.asarray(x[row]))))
        raise ValueError(
            f"{name} must be finite: row {row} holds {float(x[row, col])} in feature {col} "
            f"({int((~finite).sum())} rows hold NaN or inf); clean or drop those rows before fitting"
        )


def standardize_apply(stats: Standardization, x: ArrayLike) -> Array:
    """``x_hat_ni = (x_ni - mu_i) / sigma_i`` with statistics from :func:`standardize_fit`.

    ``x`` of shape ``(n, d)`` or ``(d,)``; the result has ``stats``' dtype.
    Applying it to data that is already standard (mean 0, std 1 per feature)
    changes nothing; fit on the training set and apply the same ``stats`` to
    the test set.
    """
    if not isinstance(stats, Standardization):
        raise TypeError(
            f"stats must be the Standardization returned by standardize.fit, got {type(stats).__name__}"
        )
    x = jnp.asarray(x)
    d = stats.mean.shape[0]
    if x.ndim not in (1, 2) or x.shape[-1] != d:
        raise ValueError(f"x must have shape (n, {d}) or ({d},) to match the fitted stats, got {x.shape}")
    shape = (1,) * (x.ndim - 1) + (d,)
    x = x.astype(stats.mean.dtype)
    return (x - stats.mean.reshape(shape)) / stats.std.reshape(shape)


class Standardizer(NamedTuple):
    """A pair of pure functions: ``fit(x) -> stats`` and ``apply(stats, x) -> x_hat``."""

    fit: Callable[[ArrayLike], Standardization]
    apply: Callable[[Standardization, ArrayLike], Array]


standardize = Standardizer(standardize_fit, standardize_apply)
"""Data standardization: ``standardize.fit(x_train)``, then ``standardize.apply(stats, x)``."""


# --- shared normalization arithmetic -------------------------------------------------


class NormOutput(NamedTuple):
    """What a normalization forward pass computed.

    Attributes:
      out: ``a_tilde = gamma (.) a_hat + beta``, shape of the input ``(n, m)``.
      a_hat: the normalized input ``(a - mu) * inv_std``, shape ``(n, m)``.
      inv_std: ``1 / sqrt(sigma^2 + delta)``: ``(1, m)`` for batch norm (one per
        unit), ``(n, 1)`` for layer norm (one per example).
      state: batch norm's updated running statistics ``{"mean", "var"}`` (the
        input state unchanged in inference mode); ``()`` for layer norm.
    """

    out: Array
    a_hat: Array
    inv_std: Array
    state: Any


def _mean(v: Array, axis: int, axis_name: Any = None) -> Array:
    m = jnp.mean(v, axis=axis, keepdims=True)
    return m if axis_name is None else jax.lax.pmean(m, axis_name)


def _normalize_backward(g_hat: Array, a_hat: Array, inv_std: Array, axis: int, axis_name: Any = None) -> Array:
    # d a_hat / d a with the statistics' dependence on a, pooled along `axis`:
    # dC/da = inv_std (g_hat - mean(g_hat) - a_hat mean(g_hat a_hat)).
    return inv_std * (
        g_hat - _mean(g_hat, axis, axis_name) - a_hat * _mean(g_hat * a_hat, axis, axis_name)
    )


# --- batch normalization -----------------------------------------------------------


def batch_norm_state(n_units: int, dtype: DTypeLike = jnp.float32) -> dict[str, Array]:
    """Initial running statistics of one batch-norm layer: mean 0, variance 1, shape ``(n_units,)``."""
    if isinstance(n_units, bool) or not isinstance(n_units, int) or n_units <= 0:
        raise ValueError(f"n_units must be a positive integer, got {n_units!r}")
    return {"mean": jnp.zeros((n_units,), dtype), "var": jnp.ones((n_units,), dtype)}


def _global_batch(k: int, axis_name: Any) -> int:
    return k if axis_name is None else k * int(jax.lax.axis_size(axis_name))


def batch_norm_forward(
    a: ArrayLike,
    gamma: ArrayLike,
    beta: ArrayLike,
    state: dict[str, ArrayLike],
    *,
    train: bool,
    momentum: float = 0.9,
    eps: float = 1e-5,
    axis_name: Any = None,
) -> NormOutput:
    """Batch normalization of pre-activations ``a`` of shape ``(K, m)``, keeping what backprop needs.

    Training mode (``train=True``): per unit, over the batch,
    ``mu = mean_n a``, ``sigma^2 = mean_n (a - mu)^2`` (biased, ``1/K``),
    ``a_hat = (a - mu) / sqrt(sigma^2 + delta)``, ``out = gamma a_hat + beta``;
    the running statistics move towards the batch's:
    ``mean <- alpha mean + (1 - alpha) mu``, ``var <- alpha var + (1 - alpha) sigma^2``
    (we average the variance where the notes average ``sigma``, see the module
    docstring). With ``axis_name`` (inside ``shard_map``/``pmap``) ``mu`` and
    ``sigma^2`` are means over every device of that axis (``lax.pmean``), i.e.
    over the global batch; shards must have equal size.

    Inference mode (``train=False``): ``mu``, ``sigma^2`` are the running
    ``state["mean"]``, ``state["var"]`` and the state is returned unchanged.

    Args:
      a: ``(K, m)`` pre-activations (rows are examples).
      gamma, beta: ``(m,)`` learnable scale and shift.
      state: ``{"mean": (m,), "var": (m,)}`` running statistics
        (:func:`batch_norm_state` to start).
      train: the mode, required (never inferred).
      momentum: ``alpha`` in ``[0, 1]``.
      eps: ``delta > 0``.
      axis_name: a mapped axis to pool the batch statistics over, or ``None``.

    Raises:
      ValueError: training mode on a (global) batch of one example, where the
        variance is 0 and every output is ``beta``; ``momentum``/``eps`` out of range.
    """
    if not isinstance(train, bool):
        raise TypeError(f"train must be True (batch statistics) or False (running statistics), got {train!r}")
    momentum = check_momentum(momentum)
    eps = check_eps(eps)
    a = _float_array(a, "a")
    if a.ndim != 2:
        raise ValueError(f"a must have shape (batch, units), got shape {a.shape}")
    m = a.shape[1]
    gamma, beta = _check_affine(gamma, beta, m, a.dtype)
    if not isinstance(state, dict) or set(state) != {"mean", "var"}:
        raise ValueError(
            f"state must be a dict {{'mean', 'var'}} of running statistics (norm.batch_norm_state({m})), "
            f"got {state!r:.80}"
        )
    run_mean = jnp.asarray(state["mean"])
    run_var = jnp.asarray(state["var"])
    if run_mean.shape != (m,) or run_var.shape != (m,):
        raise ValueError(
            f"state['mean'] and state['var'] must have shape ({m},), got {run_mean.shape} and {run_var.shape}"
        )
    return _batch_norm_forward(a, gamma, beta, run_mean, run_var, train, momentum, eps, axis_name)


def _batch_norm_forward(
    a: Array, gamma: Array, beta: Array, run_mean: Array, run_var: Array,
    train: bool, momentum: float, eps: float, axis_name: Any,
) -> NormOutput:
    # Private: trusts its arguments (checked by batch_norm_forward, or by fnn.nn.MLP for its layers);
    # only the batch size, which needs the mapped axis, is checked here.
    k = a.shape[0]
    gamma, beta = jnp.asarray(gamma).astype(a.dtype), jnp.asarray(beta).astype(a.dtype)
    run_mean, run_var = jnp.asarray(run_mean).astype(a.dtype), jnp.asarray(run_var).astype(a.dtype)
    if train:
        if _global_batch(k, axis_name) < 2:
            raise ValueError(
                "batch norm in training mode needs a batch of at least 2 examples to estimate each "
                f"unit's mean and variance, got a batch of {k}; use a larger batch, or train=False "
                "to normalize with the running statistics"
            )
        mu = _mean(a, 0, axis_name)  # (1, m)
        var = _mean(jnp.square(a - mu), 0, axis_name)  # (1, m), biased 1/K as in the notes
        new_state = {
            "mean": momentum * run_mean + (1 - momentum) * mu[0],
            "var": momentum * run_var + (1 - momentum) * var[0],
        }
    else:
        mu, var = run_mean[None, :], run_var[None, :]
        new_state = {"mean": run_mean, "var": run_var}
    inv_std = jax.lax.rsqrt(var + eps)
    a_hat = (a - mu) * inv_std
    return NormOutput(gamma[None, :] * a_hat + beta[None, :], a_hat, inv_std, new_state)


def batch_norm(
    a: ArrayLike,
    gamma: ArrayLike,
    beta: ArrayLike,
    state: dict[str, ArrayLike],
    *,
    train: bool,
    momentum: float = 0.9,
    eps: float = 1e-5,
    axis_name: Any = None,
) -> tuple[Array, dict[str, Array]]:
    """Batch normalization ``gamma (a - mu)/sqrt(sigma^2 + delta) + beta``: returns ``(out, new_state)``.

    See :func:`batch_norm_forward` for the formula, the modes and the arguments.
    """
    r = batch_norm_forward(
        a, gamma, beta, state, train=train, momentum=momentum, eps=eps, axis_name=axis_name
    )
    return r.out, r.state


def batch_norm_backward(
    g: ArrayLike,
    a_hat: ArrayLike,
    inv_std: ArrayLike,
    gamma: ArrayLike,
    *,
    train: bool,
    axis_name: Any = None,
) -> tuple[Array, Array, Array]:
    """Back-propagate ``g = dC/d out`` through batch norm: ``(dC/da, dC/dgamma, dC/dbeta)``.

    ``a_hat``, ``inv_std`` come from :func:`batch_norm_forward` with the same
    ``train`` and ``axis_name``. Training mode includes the dependence of the
    batch mean and variance on every example
    (``dC/da = inv_std (g_hat - mean_n g_hat - a_hat mean_n(g_hat a_hat))``,
    ``g_hat = gamma g``); inference mode is the affine map
    ``dC/da = gamma inv_std g``. ``dC/dgamma = sum_n g a_hat``,
    ``dC/dbeta = sum_n g`` (sums over this device's examples: with
    ``axis_name``, the results are this device's contributions to the gradient
    of the sum of all devices' costs, and ``lax.pmean`` of the parameter
    gradients over ``axis_name`` gives the gradient of the global-batch mean cost).
    """
    g = jnp.asarray(g)
    a_hat = jnp.asarray(a_hat)
    gamma = jnp.asarray(gamma, g.dtype)
    g_hat = g * gamma[None, :]
    if train:
        da = _normalize_backward(g_hat, a_hat, inv_std, 0, axis_name)
    else:
        da = g_hat * inv_std
    return da, jnp.sum(g * a_hat, axis=0), jnp.sum(g, axis=0)


# --- layer normalization -----------------------------------------------------------


def layer_norm_forward(a: ArrayLike, gamma: ArrayLike, beta: ArrayLike, *, eps: float = 1e-5) -> NormOutput:
    """Layer normalization of ``a`` of shape ``(n, M)`` (or one example ``(M,)``), per example.

    ``mu_n = (1/M) sum_i a_ni``, ``sigma_n^2 = (1/M) sum_i (a_ni - mu_n)^2``,
    ``a_hat = (a - mu_n) / sqrt(sigma_n^2 + delta)``, ``out = gamma a_hat + beta``
    (notes, "Layer normalization", with the per-example ``mu_n`` where the notes
    write ``mu_i``). Same computation in training and inference; no state.
    ``inv_std`` has shape ``(n, 1)``.
    """
    eps = check_eps(eps)
    a = _float_array(a, "a")
    if a.ndim not in (1, 2):
        raise ValueError(f"a must have shape (batch, units) or (units,), got shape {a.shape}")
    gamma, beta = _check_affine(gamma, beta, a.shape[-1], a.dtype)
    return _layer_norm_forward(a, gamma, beta, eps)


def _layer_norm_forward(a: Array, gamma: Array, beta: Array, eps: float) -> NormOutput:
    # Private: trusts its arguments (checked by layer_norm_forward, or by fnn.nn.MLP for its layers).
    single = a.ndim == 1
    a2 = a.reshape(-1, a.shape[-1])
    gamma, beta = jnp.asarray(gamma).astype(a.dtype), jnp.asarray(beta).astype(a.dtype)
    mu = jnp.mean(a2, axis=1, keepdims=True)  # (n, 1)
    var = jnp.mean(jnp.square(a2 - mu), axis=1, keepdims=True)
    inv_std = jax.lax.rsqrt(var + eps)
    a_hat = (a2 - mu) * inv_std
    out = gamma[None, :] * a_hat + beta[None, :]
    if single:
        return NormOutput(out[0], a_hat[0], inv_std[0], ())
    return NormOutput(out, a_hat, inv_std, ())


def layer_norm(a: ArrayLike, gamma: ArrayLike, beta: ArrayLike, *, eps: float = 1e-5) -> Array:
    """Layer normalization ``gamma (a - mu_n)/sqrt(sigma_n^2 + delta) + beta`` (see :func:`layer_norm_forward`)."""
    return layer_norm_forward(a, gamma, beta, eps=eps).out


def layer_norm_backward(
    g: ArrayLike, a_hat: ArrayLike, inv_std: ArrayLike, gamma: ArrayLike
) -> tuple[Array, Array, Array]:
    """Back-propagate ``g = dC/d out`` (shape ``(n, M)``) through layer norm.

    Per example, the Jacobian of ``a -> a_hat`` includes the example's own mean
    and variance: ``dC/da = inv_std (g_hat - mean_i g_hat - a_hat mean_i(g_hat a_hat))``
    with ``g_hat = gamma g`` and means over the units. Returns
    ``(dC/da, dC/dgamma = sum_n g a_hat, dC/dbeta = sum_n g)``.
    """
    g = jnp.asarray(g)
    a_hat = jnp.asarray(a_hat)
    gamma = jnp.asarray(gamma, g.dtype)
    g_hat = g * gamma[None, :]
    da = _normalize_backward(g_hat, a_hat, inv_std, 1)
    return da, jnp.sum(g * a_hat, axis=0), jnp.sum(g, axis=0)
