"""Rosenblatt's perceptron, its convergence bound and the separability test.

Notes, "Perceptrons", "McCulloch & Pitts' model of a neuron" and
"Perceptron Learning". Self-contained: imports nothing else of fnn.

Conventions (used by every function here):

* **Augmented inputs.** The bias is an extra input ``x0 = 1`` with weight
  ``w0 = b``, so a pattern ``x`` of ``d`` features becomes
  ``(1, x_1, ..., x_d)`` (:func:`augment`) and the weights are one vector
  ``w`` of length ``d + 1`` with ``w[0] = b``. Norms, margins and the
  convergence bound are all taken in this augmented space.
* **Labels are -1 and +1** (class C2 and class C1 of the notes), the values
  the perceptron itself outputs. Nothing else is accepted, not even {0, 1}:
  convert with ``2 * y - 1``.
* **Output.** ``+1`` where ``x . w > 0`` and ``-1`` where ``x . w <= 0``.

The notes write the update as ``w +- eta (s)``; the ``s`` is a slip for the
pattern ``x(n)``, which is what is implemented (Rosenblatt's rule).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

Array = jax.Array

__all__ = [
    "FitResult",
    "MarginResult",
    "Separability",
    "augment",
    "convergence_bound",
    "fit",
    "is_linearly_separable",
    "margin",
    "max_margin",
    "net_input",
    "predict",
    "update",
]


# --------------------------------------------------------------------------
# validation (outside jit)


def _float_dtype(x: ArrayLike) -> jnp.dtype:
    dt = jnp.asarray(x).dtype
    return dt if jnp.issubdtype(dt, jnp.floating) else jnp.dtype(jnp.result_type(float))


def _check_x(x: ArrayLike, name: str = "x") -> Array:
    arr = jnp.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (patterns, features), got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one pattern, got shape {arr.shape}")
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real (float or integer) array, got dtype {arr.dtype}")
    arr = arr.astype(_float_dtype(arr))
    if not bool(jnp.all(jnp.isfinite(arr))):
        raise ValueError(f"{name} must be finite, got NaN or inf entries")
    return arr


def _check_xy(x: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
    """Validate a data set; return (x, y) with y in x's float dtype."""
    xa = _check_x(x)
    ya = jnp.asarray(y)
    if ya.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels in {{-1, +1}}, got shape {ya.shape}")
    if ya.shape[0] != xa.shape[0]:
        raise ValueError(
            f"x and y must have the same number of patterns, got x with {xa.shape[0]} "
            f"and y with {ya.shape[0]}"
        )
    if ya.dtype == jnp.bool_ or not (
        jnp.issubdtype(ya.dtype, jnp.floating) or jnp.issubdtype(ya.dtype, jnp.integer)
    ):
        raise TypeError(f"y must be a numeric array of labels in {{-1, +1}}, got dtype {ya.dtype}")
    values = np.unique(np.asarray(ya))
    bad = values[(values != 1) & (values != -1)]
    if bad.size:
        hint = " (labels {0, 1}? pass 2 * y - 1)" if set(values.tolist()) <= {0, 1} else ""
        raise ValueError(
            f"y must hold labels in {{-1, +1}}, got the value(s) {bad[:5].tolist()}{hint}"
        )
    return xa, ya.astype(xa.dtype)


def _check_w(w: ArrayLike, d1: int, name: str = "w") -> Array:
    wa = jnp.asarray(w)
    if wa.shape != (d1,):
        raise ValueError(
            f"{name} must be a vector of {d1} augmented weights (w0 = b, then one per "
            f"feature), got shape {wa.shape}"
        )
    return wa


def _check_eta(eta: float) -> None:
    if not isinstance(eta, (int, float, np.floating, np.integer)) or isinstance(eta, bool):
        raise TypeError(f"eta must be a number > 0, got {eta!r}")
    if not (math.isfinite(float(eta)) and float(eta) > 0):
        raise ValueError(f"eta must be a finite number > 0, got {eta}")


def _check_positive_int(v: int, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= 1, got {v!r}")
    if v < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {v}")
    return int(v)


# --------------------------------------------------------------------------
# the neuron


def augment(x: ArrayLike) -> Array:
    """Prepend the bias input ``x0 = 1``: ``(N, d) -> (N, d + 1)``.

    Notes, "McCulloch & Pitts' model": the bias is an extra input ``x0 = 1``
    whose weight is ``w0 = b``. A single pattern ``(d,)`` becomes ``(d + 1,)``.
    """
    xa = jnp.asarray(x)
    if xa.ndim not in (1, 2):
        raise ValueError(f"x must be a pattern (d,) or patterns (N, d), got shape {xa.shape}")
    xa = xa.astype(_float_dtype(xa))
    ones = jnp.ones(xa.shape[:-1] + (1,), xa.dtype)
    return jnp.concatenate([ones, xa], axis=-1)


def net_input(w: ArrayLike, x: ArrayLike) -> Array:
    """The net input ``x . w = sum_{i=0}^{d} w_i x_i`` with ``x0 = 1``.

    ``w``: ``(d + 1,)`` with ``w[0] = b``; ``x``: ``(N, d)`` raw patterns.
    Returns ``(N,)``.
    """
    xa = _check_x(x)
    wa = _check_w(w, xa.shape[1] + 1).astype(xa.dtype)
    return augment(xa) @ wa


def predict(w: ArrayLike, x: ArrayLike) -> Array:
    """The perceptron's output: ``+1`` where ``x . w > 0``, ``-1`` where ``x . w <= 0``.

    Notes, "McCulloch & Pitts' model" (perceptron activation function).
    ``w``: ``(d + 1,)`` with ``w[0] = b``; ``x``: ``(N, d)``. Returns ``(N,)``
    of -1.0 / +1.0 in ``x``'s float dtype.
    """
    a = net_input(w, x)
    return jnp.where(a > 0, jnp.ones_like(a), -jnp.ones_like(a))


def _update(w: Array, x: Array, y: Array, eta: Array) -> tuple[Array, Array]:
    out = jnp.where(x @ w > 0, jnp.ones_like(y), -jnp.ones_like(y))
    wrong = out != y
    # too low (y = +1, out = -1): w + eta x; too high (y = -1, out = +1): w - eta x
    return w + jnp.where(wrong, eta * y, jnp.zeros_like(y)) * x, wrong


def update(w: ArrayLike, x: ArrayLike, y: ArrayLike, eta: float = 1.0) -> tuple[Array, Array]:
    """One step of the perceptron learning rule on one augmented pattern.

    Notes, "Algorithm: Perceptron Learning"::

        w(n+1) = w(n)               if the output is correct
        w(n+1) = w(n) - eta x(n)    if x(n) . w(n) >  0 and x(n) in C2 (y = -1)
        w(n+1) = w(n) + eta x(n)    if x(n) . w(n) <= 0 and x(n) in C1 (y = +1)

    ``w``: ``(d + 1,)``; ``x``: one *augmented* pattern ``(d + 1,)`` (see
    :func:`augment`); ``y``: its label, -1 or +1. Returns ``(w(n+1), wrong)``
    where ``wrong`` says whether the pattern was misclassified (and ``w``
    changed). :func:`fit` is this rule scanned over the patterns.
    """
    _check_eta(eta)
    xa = jnp.asarray(x)
    if xa.ndim != 1:
        raise ValueError(f"x must be one augmented pattern (d + 1,), got shape {xa.shape}")
    xa = xa.astype(_float_dtype(xa))
    wa = _check_w(w, xa.shape[0]).astype(xa.dtype)
    ya = jnp.asarray(y)
    if ya.shape != () or float(ya) not in (-1.0, 1.0):
        raise ValueError(f"y must be one label in {{-1, +1}}, got {np.asarray(ya).tolist()}")
    return _update_jit(wa, xa, ya.astype(xa.dtype), jnp.asarray(eta, xa.dtype))


_update_jit = jax.jit(_update)


# --------------------------------------------------------------------------
# learning


class FitResult(NamedTuple):
    """What :func:`fit` returns.

    weights:      ``(d + 1,)`` final weights, ``weights[0] = b``.
    updates:      int32 scalar, the number ``k`` of weight changes (misclassified
                  patterns met), the quantity the convergence theorem bounds.
    epochs:       int32 scalar, epochs run, counting the final error-free one.
    converged:    bool scalar, whether an epoch ended with no error.
    errors:       ``(max_epochs,)`` int32, misclassified patterns met in each
                  epoch (= updates made in it); ``-1`` for epochs not run.
                  ``errors.sum()`` over the run epochs equals ``updates``.
    accuracy:     ``(max_epochs,)`` training accuracy of the weights at the
                  end of each epoch; NaN for epochs not run.
    best_weights: the end-of-epoch weights with the highest training accuracy
                  (Gallant's "pocket"; equal to ``weights`` when converged).
    """

    weights: Array
    updates: Array
    epochs: Array
    converged: Array
    errors: Array
    accuracy: Array
    best_weights: Array


def _fit(xa, y, w0, eta, key, max_epochs, shuffle):
    n = xa.shape[0]

    def scan_step(w, xy):
        return _update(w, xy[0], xy[1], eta)

    def accuracy(w):
        out = jnp.where(xa @ w > 0, jnp.ones_like(y), -jnp.ones_like(y))
        return jnp.mean((out == y).astype(xa.dtype))

    def epoch(carry):
        w, k, e, errors, accs, best_w, best_acc, _ = carry
        if shuffle:
            perm = jax.random.permutation(jax.random.fold_in(key, e), n)
            xs, ys = xa[perm], y[perm]
        else:
            xs, ys = xa, y
        w, wrong = lax.scan(scan_step, w, (xs, ys))
        n_err = jnp.sum(wrong, dtype=jnp.int32)
        acc = accuracy(w)
        better = acc > best_acc
        return (
            w,
            k + n_err,
            e + 1,
            errors.at[e].set(n_err),
            accs.at[e].set(acc),
            jnp.where(better, w, best_w),
            jnp.where(better, acc, best_acc),
            n_err == 0,
        )

    def more(carry):
        e, done = carry[2], carry[7]
        return jnp.logical_and(jnp.logical_not(done), e < max_epochs)

    zero = jnp.zeros((), jnp.int32)
    init = (
        w0,
        zero,
        zero,
        jnp.full((max_epochs,), -1, jnp.int32),
        jnp.full((max_epochs,), jnp.nan, xa.dtype),
        w0,
        accuracy(w0),
        jnp.zeros((), jnp.bool_),
    )
    w, k, e, errors, accs, best_w, _, done = lax.while_loop(more, epoch, init)
    return FitResult(w, k, e, done, errors, accs, best_w)


_fit_jit = jax.jit(_fit, static_argnames=("max_epochs", "shuffle"))


def fit(
    x: ArrayLike,
    y: ArrayLike,
    eta: float = 1.0,
    max_epochs: int = 1000,
    key: Array | None = None,
) -> FitResult:
    """Train a perceptron with Rosenblatt's rule, pattern by pattern.

    Notes, "Algorithm: Perceptron Learning". Start from ``w(0) = 0``; in each
    epoch present every pattern once and apply :func:`update` (change ``w``
    only on a misclassified pattern); stop after the first epoch with no error
    (converged) or after ``max_epochs`` epochs.

    ``x``: ``(N, d)`` raw patterns (the bias input is added here);
    ``y``: ``(N,)`` labels in {-1, +1}; ``eta > 0``: the learning rate.
    From ``w(0) = 0`` the rate only scales ``w``, so the outputs, the number
    of updates and the bound of :func:`convergence_bound` do not depend on it.
    ``key``: ``None`` presents the patterns in the given order every epoch;
    a ``jax.random`` key presents them in a fresh random order each epoch
    (the convergence theorem holds for any order).

    Compiled: a ``lax.scan`` over the patterns inside a ``lax.while_loop``
    over epochs; recompiles per distinct ``(N, d, max_epochs)``.

    Example::

        >>> x = jnp.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
        >>> r = fit(x, jnp.array([-1., -1., -1., 1.]))      # AND
        >>> bool(r.converged), predict(r.weights, x).tolist()
        (True, [-1.0, -1.0, -1.0, 1.0])
    """
    xa, ya = _check_xy(x, y)
    _check_eta(eta)
    max_epochs = _check_positive_int(max_epochs, "max_epochs")
    if key is None:
        k = jax.random.key(0)
    else:
        k = key
        if not (isinstance(k, jax.Array) and (
            jnp.issubdtype(k.dtype, jax.dtypes.prng_key) or k.shape == (2,)
        )):
            raise TypeError(f"key must be a jax.random key or None, got {key!r}")
    xa = augment(xa)
    w0 = jnp.zeros((xa.shape[1],), xa.dtype)
    return _fit_jit(xa, ya, w0, jnp.asarray(eta, xa.dtype), k, max_epochs, key is not None)


# --------------------------------------------------------------------------
# the convergence theorem


def margin(x: ArrayLike, y: ArrayLike, w: ArrayLike) -> Array:
    """The (augmented) margin of ``w`` on ``(x, y)``: ``min_n y_n w . x_n / ||w||``.

    ``x_n`` includes ``x0 = 1`` and ``||w||`` includes ``w0 = b``. Positive
    exactly when ``w`` separates the data. It is ``alpha / ||w||`` of the
    convergence theorem and is invariant to scaling ``w``.
    """
    xa, ya = _check_xy(x, y)
    wa = _check_w(w, xa.shape[1] + 1).astype(xa.dtype)
    return jnp.min(ya * (augment(xa) @ wa)) / jnp.linalg.norm(wa)


def convergence_bound(x: ArrayLike, y: ArrayLike, w_star: ArrayLike) -> Array:
    """Rosenblatt/Novikoff bound on the number of updates: ``k <= beta ||w*||^2 / alpha^2``.

    Notes, "Perceptron Learning", convergence theorem: with
    ``alpha = min_n y_n w* . x_n`` and ``beta = max_n ||x_n||^2``, the lower
    bound ``||w(k+1)||^2 >= k^2 alpha^2 / ||w*||^2`` and the upper bound
    ``||w(k+1)||^2 <= k beta`` meet only while ``k <= beta ||w*||^2 / alpha^2``.
    (Both are stated for ``eta = 1``; from ``w(0) = 0`` any ``eta > 0`` gives
    the same ``k``.)

    All quantities use augmented patterns (``x_n`` with ``x0 = 1``, so
    ``beta >= 1``) and augmented weights (``w*[0]`` is the bias), the space in
    which :func:`fit` runs. The bound holds for *any* separating ``w*``; the
    tightest is ``beta / gamma^2`` with ``gamma`` the largest margin, which
    :func:`max_margin` approaches.

    Raises ``ValueError`` if ``w_star`` does not separate the data (``alpha <= 0``).
    """
    xa, ya = _check_xy(x, y)
    wa = _check_w(w_star, xa.shape[1] + 1, "w_star").astype(xa.dtype)
    xa = augment(xa)
    alpha = jnp.min(ya * (xa @ wa))
    if not float(alpha) > 0:
        raise ValueError(
            f"w_star must separate the data (alpha = min_n y_n w_star . x_n > 0), "
            f"got alpha = {float(alpha)}"
        )
    beta = jnp.max(jnp.sum(xa * xa, axis=1))
    return beta * jnp.sum(wa * wa) / alpha**2


class MarginResult(NamedTuple):
    """What :func:`max_margin` returns.

    w:            ``(d + 1,)`` augmented weights: the sweep's iterate with the
                  largest margin.
    margin:       its margin ``min_n y_n w . x_n / ||w||`` (a lower bound on the
                  largest margin ``gamma*``; <= 0 when it does not separate).
    margin_upper: an upper bound on ``gamma*`` from weak duality
                  (``1 / sqrt(2 D(a))``); ``inf`` before it is informative.
                  For a non-separable set it tends to 0 as sweeps go on.
    separates:    bool, ``margin > 0``.
    sweeps:       int32, passes over the data made.
    """

    w: Array
    margin: Array
    margin_upper: Array
    separates: Array
    sweeps: Array


def _max_margin(xa, y, max_sweeps, tol):
    yx = y[:, None] * xa
    sq = jnp.sum(xa * xa, axis=1)

    def coord(w, inp):
        a_n, z_n, s_n = inp
        a_new = jnp.maximum(0.0, a_n + (1.0 - z_n @ w) / s_n)
        return w + (a_new - a_n) * z_n, a_new

    def bounds(w, a):
        nw = jnp.linalg.norm(w)
        low = jnp.where(nw > 0, jnp.min(yx @ w) / nw, -jnp.inf)
        dual = jnp.sum(a) - 0.5 * jnp.sum(w * w)
        up = jnp.where(dual > 0, 1.0 / jnp.sqrt(2.0 * jnp.maximum(dual, 1e-30)), jnp.inf)
        return low.astype(xa.dtype), up.astype(xa.dtype)

    def sweep(carry):
        w, a, s, best_w, best_low, _ = carry
        w, a = lax.scan(coord, w, (a, yx, sq))
        low, up = bounds(w, a)
        better = low > best_low  # the iterates' margins are not monotone: keep the best
        return (w, a, s + 1, jnp.where(better, w, best_w), jnp.maximum(low, best_low), up)

    def more(carry):
        s, low, up = carry[2], carry[4], carry[5]
        gap_open = jnp.logical_or(low <= 0, low < (1.0 - tol) * up)
        return jnp.logical_and(s < max_sweeps, gap_open)

    w0 = jnp.zeros((xa.shape[1],), xa.dtype)
    a0 = jnp.zeros((xa.shape[0],), xa.dtype)
    init = (w0, a0, jnp.zeros((), jnp.int32), w0, jnp.asarray(-jnp.inf, xa.dtype),
            jnp.asarray(jnp.inf, xa.dtype))
    _, _, s, w, low, up = lax.while_loop(more, sweep, init)
    return MarginResult(w, low, up, low > 0, s)


_max_margin_jit = jax.jit(_max_margin, static_argnames=("max_sweeps",))


def max_margin(
    x: ArrayLike, y: ArrayLike, max_sweeps: int = 2000, tol: float = 1e-3
) -> MarginResult:
    """A large-margin separating ``w*`` (hard-margin SVM in the augmented space).

    Solves ``min ||w||^2 / 2  s.t.  y_n w . x_n >= 1`` (``x_n`` augmented, so
    the bias is part of ``w`` and of its norm, as in the convergence theorem)
    through its dual ``max_a D(a) = sum_n a_n - ||sum_n a_n y_n x_n||^2 / 2``,
    ``a >= 0``, by exact coordinate ascent (Hildreth's method: one pass over
    the patterns per sweep, ``a_n <- max(0, a_n + (1 - y_n w . x_n) / ||x_n||^2)``).
    Its solution has the largest margin ``gamma*``, and the smallest bound
    ``beta / gamma*^2`` of :func:`convergence_bound`.

    What it guarantees, after any number of sweeps:

    * if ``separates``, ``w`` separates the data, so
      ``convergence_bound(x, y, w)`` is a valid bound (every separating ``w``
      gives one); and ``margin <= gamma* <= margin_upper`` (weak duality), so
      that bound is within ``(margin_upper / margin)^2`` of the best possible.
    * it stops when ``margin >= (1 - tol) margin_upper`` or after
      ``max_sweeps``; coordinate ascent converges to ``gamma*`` for a
      separable set, but a tiny margin can need many sweeps.
    * for a non-separable set ``separates`` stays False and ``margin_upper``
      (then an upper bound on the margin of any separator) shrinks towards 0.

    Cost: ``max_sweeps`` sequential passes of ``N`` steps; meant for the
    thousands of patterns of an analysis, not for 10^5.
    """
    xa, ya = _check_xy(x, y)
    max_sweeps = _check_positive_int(max_sweeps, "max_sweeps")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
    return _max_margin_jit(augment(xa), ya, max_sweeps, jnp.asarray(tol, xa.dtype))


# --------------------------------------------------------------------------
# the separability test


class Separability(NamedTuple):
    """What :func:`is_linearly_separable` returns.

    separable:    bool, an epoch with no error was reached (a proof of "yes").
    weights:      ``(d + 1,)`` separating weights if ``separable``, else the
                  best end-of-epoch weights found (pocket).
    accuracy:     training accuracy of ``weights`` (1.0 when separable).
    updates:      updates ``k`` made.
    epochs:       epochs run.
    margin_upper: when not separable, ``sqrt(beta / k)``: by the convergence
                  theorem no separating ``w`` has a margin (augmented) larger
                  than this; ``inf`` when separable.
    """

    separable: Array
    weights: Array
    accuracy: Array
    updates: Array
    epochs: Array
    margin_upper: Array


def is_linearly_separable(
    x: ArrayLike,
    y: ArrayLike,
    max_epochs: int | None = None,
    margin: float | None = None,
    key: Array | None = None,
) -> Separability:
    """The notes' separability test: train on the whole set, ask for 100% accuracy.

    Notes, "Perceptron Learning": "the model should be trained on the whole
    dataset; its training accuracy should be 100% (if not, then the dataset is
    not linearly separable)". Runs :func:`fit` and reads the verdict.

    Strength of the verdict:

    * "yes" is a proof: the returned weights classify every pattern.
    * "no" after ``max_epochs`` is only as strong as the bound allows. After
      ``k`` updates without convergence, a separating ``w`` could still exist,
      but its augmented margin is below ``margin_upper = sqrt(beta / k)``
      (else the theorem would have stopped the run). With ``margin`` given
      (a margin the data is known to have, if separable at all), ``max_epochs``
      is set to ``floor(beta / margin^2) + 1``: each non-final epoch makes at
      least one update, so a "no" then proves that no separator with that
      margin exists.

    ``max_epochs`` defaults to 1000; give ``max_epochs`` or ``margin``, not both.
    """
    xa, ya = _check_xy(x, y)
    if margin is not None:
        if max_epochs is not None:
            raise ValueError(
                f"give max_epochs or margin, not both; got max_epochs={max_epochs}, margin={margin}"
            )
        if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin > 0):
            raise ValueError(f"margin must be a finite number > 0, got {margin!r}")
        beta = float(jnp.max(jnp.sum(augment(xa) ** 2, axis=1)))
        max_epochs = int(math.floor(beta / margin**2)) + 1
    elif max_epochs is None:
        max_epochs = 1000
    r = fit(xa, ya, max_epochs=max_epochs, key=key)
    beta = jnp.max(jnp.sum(augment(xa) ** 2, axis=1))
    kf = r.updates.astype(xa.dtype)
    upper = jnp.where(r.converged, jnp.inf, jnp.sqrt(beta / jnp.maximum(kf, 1)))
    w = jnp.where(r.converged, r.weights, r.best_weights)
    out = jnp.where(augment(xa) @ w > 0, jnp.ones_like(ya), -jnp.ones_like(ya))
    acc = jnp.mean((out == ya).astype(xa.dtype))
    return Separability(r.converged, w, acc, r.updates, r.epochs, upper.astype(xa.dtype))
