"""Curvature and the convergence of gradient descent: Hessian spectrum, condition number, rates.

Notes, "Convergence". Near a minimum ``w*`` the error is the quadratic

    E(w) ~ E(w*) + 1/2 (w - w*)^T H (w - w*),     H u_i = lambda_i u_i,

and writing ``w - w* = sum_i alpha_i u_i`` one gradient-descent step
``w' = w - eta grad E`` acts on each eigen-component separately:

    alpha_i^(T) = (1 - eta lambda_i)^T alpha_i^(0).

So (for ``H`` positive definite):

* each component contracts by the factor ``1 - eta lambda_i`` per step
  (:func:`gd_contraction`); GD converges iff ``|1 - eta lambda_i| < 1`` for all
  ``i``, i.e. ``eta < 2 / lambda_max`` (:func:`stable_rate`);
* ``eta = 1 / lambda_max`` makes the top direction's factor 0 (one step); the
  slowest direction then contracts by ``1 - lambda_min / lambda_max``
  (:func:`optimal_rate` ``criterion="top"``, the notes' choice);
* the rate that minimizes the *worst* factor ``max_i |1 - eta lambda_i|`` is
  ``eta = 2 / (lambda_min + lambda_max)``, with factor
  ``(kappa - 1)/(kappa + 1) ~ 1 - 2 lambda_min/lambda_max`` — the notes'
  "rate of convergence governed by ``1 - 2 lambda_min/lambda_max``"
  (:func:`optimal_rate` ``criterion="minimax"``);
* ``kappa = lambda_max / lambda_min`` is the condition number
  (:func:`condition_number`); the iterations needed to shrink the error by
  ``tol`` grow like ``kappa ln(1/tol)`` (:func:`iterations_to_tolerance`).

With momentum (notes, "Momentum"), ``dw(t) = -eta grad E + mu dw(t-1)``, each
component follows ``alpha(t+1) = (1 + mu - eta lambda) alpha(t) - mu alpha(t-1)``,
whose roots ``r^2 - (1 + mu - eta lambda) r + mu = 0`` (:func:`momentum_roots`)
set the contraction per step (:func:`momentum_contraction`).

The spectrum of a scalar function ``f(params)`` of any pytree comes from the
dense Hessian ``jax.hessian`` of ``f`` on the raveled parameters
(:func:`hessian`, :func:`hessian_spectrum`: ``P^2`` memory, for small ``P``),
or, for large ``P``, from Hessian-vector products ``H v`` (forward-over-reverse
differentiation, :func:`hvp`) with the power iteration
(:func:`power_iteration`, the eigenvalue of largest magnitude) or the Lanczos
iteration (:func:`lanczos`, :func:`extreme_eigenvalues`, both ends of the
spectrum), never forming ``H``.

For a network on a whole data set (chunked HVPs by forward-over-reverse of the
hand-written gradient or of ``jax.grad``, top-k eigenpairs, the spectral
density by stochastic Lanczos quadrature, Hutchinson's trace, the Gauss-Newton
part, and a ``train.fit`` callback that tracks ``lambda_max``) see
:mod:`fnn.curvature`, whose Lanczos iteration (:func:`fnn.curvature.lanczos_tridiagonal`)
:func:`lanczos` here uses.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

from fnn._validate import check_int
from fnn.curvature import lanczos_tridiagonal

Array = jax.Array
PyTree = Any

__all__ = [
    "hvp",
    "hessian",
    "hessian_spectrum",
    "power_iteration",
    "lanczos",
    "extreme_eigenvalues",
    "condition_number",
    "stable_rate",
    "optimal_rate",
    "gd_contraction",
    "gd_convergence_rate",
    "predicted_components",
    "iterations_to_tolerance",
    "momentum_roots",
    "momentum_contraction",
    "quadratic",
]

#: Largest number of parameters :func:`hessian` builds densely by default.
MAX_DENSE_PARAMS = 4096


# --------------------------------------------------------------------------
# validation (public boundary, outside jit)


def _check_f(f: Any) -> Callable[[PyTree], Array]:
    if not callable(f):
        raise TypeError(f"f must be a callable params -> scalar, got {type(f).__name__}")
    return f


def _flat(params: PyTree) -> tuple[Array, Callable[[Array], PyTree]]:
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params must hold at least one array, got an empty pytree")
    for i, leaf in enumerate(leaves):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"params must hold floating-point arrays, got leaf {i} of dtype {dtype}")
    flat, unravel = ravel_pytree(params)
    return flat, unravel


def _scalar_fn(f: Callable[[PyTree], Array], params: PyTree) -> None:
    out = jax.eval_shape(f, params)
    if getattr(out, "shape", None) != ():
        raise ValueError(f"f must return a scalar, got output of shape {getattr(out, 'shape', type(out).__name__)}")


def _eigenvalues(eigenvalues: ArrayLike, name: str = "eigenvalues") -> Array:
    try:
        lam = jnp.asarray(eigenvalues)
    except TypeError as err:
        raise TypeError(f"{name} must be a number or a 1-D array of real numbers, got {eigenvalues!r}") from err
    if lam.ndim > 1 or lam.size == 0:
        raise ValueError(f"{name} must be a number or a non-empty 1-D array, got shape {lam.shape}")
    if not (jnp.issubdtype(lam.dtype, jnp.floating) or jnp.issubdtype(lam.dtype, jnp.integer)):
        raise TypeError(f"{name} must be real numbers, got dtype {lam.dtype}")
    if not jnp.issubdtype(lam.dtype, jnp.floating):
        lam = lam.astype(jnp.result_type(float))
    lam = jnp.atleast_1d(lam)
    if not bool(jnp.all(jnp.isfinite(lam))):
        raise ValueError(f"{name} must be finite, got {np.asarray(lam).tolist()}")
    return lam


def _positive_spectrum(eigenvalues: ArrayLike) -> Array:
    lam = _eigenvalues(eigenvalues)
    lmin = float(jnp.min(lam))
    if lmin <= 0:
        raise ValueError(
            "eigenvalues must all be > 0 (a positive definite Hessian, i.e. a strict minimum), "
            f"got lambda_min = {lmin:g}"
        )
    return lam


def _number(name: str, value: Any, lo: float, lo_open: bool, hi: float = math.inf, hi_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        if isinstance(value, (jax.Array, np.ndarray)) and np.ndim(value) == 0:
            value = float(value)
        else:
            raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    ok = math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo)
    ok = ok and (value < hi if hi_open else value <= hi)
    if not ok:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        raise ValueError(f"{name} must be a finite number in {left}{lo:g}, {hi:g}{right}, got {value!r}")
    return value


def _rate(rate: Any) -> float:
    return _number("rate", rate, 0.0, True)


def _mu(mu: Any) -> float:
    return _number("mu", mu, 0.0, False, 1.0, True)


# --------------------------------------------------------------------------
# the Hessian


def hvp(f: Callable[[PyTree], ArrayLike], params: PyTree, v: PyTree) -> PyTree:
    """The Hessian-vector product ``H v = d/dt grad f(params + t v) |_{t=0}``.

    Forward-over-reverse (``jax.jvp`` of ``jax.grad``): the cost of about two
    gradients, ``O(P)`` memory; ``H`` is never formed. ``v`` has the structure
    of ``params``; so does the result.
    """
    f = _check_f(f)
    _flat(params)
    if jax.tree_util.tree_structure(v) != jax.tree_util.tree_structure(params):
        raise ValueError(
            f"v must have the tree structure of params: expected {jax.tree_util.tree_structure(params)}, "
            f"got {jax.tree_util.tree_structure(v)}"
        )
    return _hvp(f, params, v)


def _hvp(f: Callable[[PyTree], ArrayLike], params: PyTree, v: PyTree) -> PyTree:
    return jax.jvp(jax.grad(f), (params,), (v,))[1]


def hessian(
    f: Callable[[PyTree], ArrayLike], params: PyTree, max_params: int = MAX_DENSE_PARAMS
) -> Array:
    """The dense Hessian ``H_jk = d^2 f / dw_j dw_k`` on the raveled parameters.

    ``w = ravel(params)`` in ``jax.flatten_util.ravel_pytree`` order; returns
    ``(P, P)`` computed by ``jax.hessian`` and symmetrized, ``(H + H^T)/2``
    (round-off only). ``P^2`` memory: refuses ``P > max_params`` (use
    :func:`lanczos` / :func:`extreme_eigenvalues` there).
    """
    f = _check_f(f)
    max_params = check_int(max_params, "max_params")
    flat, unravel = _flat(params)
    if flat.size > max_params:
        raise ValueError(
            f"params must have at most max_params = {max_params} entries for a dense Hessian, got "
            f"P = {flat.size}; use lanczos/extreme_eigenvalues (Hessian-vector products) instead"
        )
    _scalar_fn(f, params)
    H = jax.jit(jax.hessian(lambda w: f(unravel(w))))(flat)
    return (H + H.T) / 2


def hessian_spectrum(
    f: Callable[[PyTree], ArrayLike], params: PyTree, max_params: int = MAX_DENSE_PARAMS
) -> Array:
    """All eigenvalues ``lambda_1 <= ... <= lambda_P`` of the dense :func:`hessian`, ascending."""
    return jnp.linalg.eigvalsh(hessian(f, params, max_params))


def _matvec(f: Callable[[PyTree], ArrayLike], params: PyTree) -> tuple[Callable[[Array], Array], Array]:
    flat, unravel = _flat(params)

    def mv(v: Array) -> Array:
        return ravel_pytree(_hvp(f, params, unravel(v)))[0]

    return mv, flat


def _start(key: Array | None, n: int, dtype: Any) -> Array:
    if key is None:
        key = jax.random.key(0)
    if not isinstance(key, jax.Array):
        raise TypeError(f"key must be a jax.random key (jax.random.key(seed)) or None, got {type(key).__name__}")
    v = jax.random.normal(key, (n,), dtype)
    return v / jnp.linalg.norm(v)


def power_iteration(
    f: Callable[[PyTree], ArrayLike],
    params: PyTree,
    key: Array | None = None,
    num_iters: int = 100,
) -> Array:
    """The Hessian eigenvalue of largest magnitude, by the power iteration on ``H v``.

    ``v <- H v / ||H v||`` for ``num_iters`` steps from a random unit ``v``
    (``key``), then the Rayleigh quotient ``v^T H v``. At a minimum (``H``
    positive semi-definite) this is ``lambda_max``. The error in the direction
    of ``lambda_2`` shrinks like ``(lambda_2/lambda_1)^k``: give more
    iterations when the top eigenvalues are close, or use :func:`lanczos`.
    """
    f = _check_f(f)
    num_iters = check_int(num_iters, "num_iters")
    _scalar_fn(f, params)
    mv, flat = _matvec(f, params)
    v0 = _start(key, flat.size, flat.dtype)

    @jax.jit
    def run(v: Array) -> Array:
        def body(_, v):
            w = mv(v)
            return w / jnp.linalg.norm(w)

        v = jax.lax.fori_loop(0, num_iters, body, v)
        return jnp.vdot(v, mv(v))

    return run(v0)


def lanczos(
    f: Callable[[PyTree], ArrayLike],
    params: PyTree,
    key: Array | None = None,
    num_iters: int = 64,
) -> Array:
    """Ritz values of the Hessian from ``k = min(num_iters, P)`` Lanczos steps on ``H v``.

    Builds an orthonormal basis ``V = [v_1 .. v_k]`` of the Krylov space
    ``span{v, Hv, ..., H^(k-1) v}`` (full re-orthogonalization) and the
    tridiagonal ``T = V^T H V`` (diagonal ``alpha_j = v_j^T H v_j``, off-diagonal
    ``beta_j = ||H v_j - alpha_j v_j - beta_(j-1) v_(j-1)||``); returns the
    eigenvalues of ``T``, ascending. The extreme Ritz values converge to
    ``lambda_min`` and ``lambda_max`` of ``H`` first (they are always inside
    ``[lambda_min, lambda_max]``), far faster than the power iteration; with
    ``k = P`` they are the whole spectrum. If the Krylov space closes early
    (``beta ~ 0``), ``T`` is cut there.
    """
    f = _check_f(f)
    num_iters = check_int(num_iters, "num_iters")
    _scalar_fn(f, params)
    mv, flat = _matvec(f, params)
    n = flat.size
    k = min(num_iters, n)
    v0 = _start(key, n, flat.dtype)
    t = jax.jit(lambda v: lanczos_tridiagonal(mv, v, k, jax.random.key(1)))(v0)
    alphas, betas = np.asarray(t.alpha, np.float64), np.asarray(t.beta, np.float64)
    # lanczos_tridiagonal marks the closing of the Krylov space with beta_j = 0 (then restarts): cut T there.
    closed = np.flatnonzero(betas[: k - 1] == 0.0)
    m = int(closed[0]) + 1 if closed.size else k
    T = np.diag(alphas[:m]) + np.diag(betas[: m - 1], 1) + np.diag(betas[: m - 1], -1)
    return jnp.asarray(np.linalg.eigvalsh(T), flat.dtype)


def extreme_eigenvalues(
    f: Callable[[PyTree], ArrayLike],
    params: PyTree,
    key: Array | None = None,
    num_iters: int = 64,
    method: str = "auto",
) -> tuple[Array, Array]:
    """``(lambda_min, lambda_max)`` of the Hessian of ``f`` at ``params``.

    ``method``: ``"dense"`` (:func:`hessian_spectrum`, exact, ``P <= MAX_DENSE_PARAMS``),
    ``"lanczos"`` (:func:`lanczos` with ``num_iters`` steps: the extreme Ritz
    values, which approach the extremes from inside), or ``"auto"`` (dense when
    ``P <= MAX_DENSE_PARAMS``, else Lanczos).
    """
    if method not in ("auto", "dense", "lanczos"):
        raise ValueError(f"method must be 'auto', 'dense' or 'lanczos', got {method!r}")
    flat, _ = _flat(params)
    if method == "dense" or (method == "auto" and flat.size <= MAX_DENSE_PARAMS):
        lam = hessian_spectrum(f, params, max_params=max(flat.size, 1))
    else:
        lam = lanczos(f, params, key, num_iters)
    return lam[0], lam[-1]


# --------------------------------------------------------------------------
# rates of gradient descent on a quadratic (notes, "Convergence")


def condition_number(eigenvalues: ArrayLike) -> Array:
    """``kappa = lambda_max / lambda_min`` of a positive definite Hessian.

    Notes, "Convergence": the reciprocal of ``lambda_min/lambda_max``; "the
    larger this number, the slower the convergence of GD". Raises
    ``ValueError`` unless every eigenvalue is ``> 0``.
    """
    lam = _positive_spectrum(eigenvalues)
    return jnp.max(lam) / jnp.min(lam)


def stable_rate(eigenvalues: ArrayLike) -> Array:
    """``2 / lambda_max``: GD converges iff ``eta < 2 / lambda_max`` (notes, "Convergence").

    ``eigenvalues``: the spectrum, or just ``lambda_max`` (must be ``> 0``).
    """
    lam = _positive_spectrum(eigenvalues)
    return 2.0 / jnp.max(lam)


def optimal_rate(eigenvalues: ArrayLike, criterion: str = "top") -> Array:
    """The learning rate that makes GD fastest, by one of two criteria (notes, "Convergence").

    * ``"top"``: ``eta = 1 / lambda_max``, the notes' "fastest convergence":
      the top direction's factor ``1 - eta lambda_max`` is 0 (it converges in
      one step); the slowest direction then contracts by ``1 - lambda_min/lambda_max``.
    * ``"minimax"``: ``eta = 2 / (lambda_min + lambda_max)``, the rate that
      minimizes the worst factor ``max_i |1 - eta lambda_i|``; that factor is
      ``(kappa - 1)/(kappa + 1) ~ 1 - 2/kappa`` (the notes' ``1 - 2 lambda_min/lambda_max``),
      smaller than the ``1 - 1/kappa`` of ``"top"``: fewer iterations overall.
    """
    lam = _positive_spectrum(eigenvalues)
    if criterion == "top":
        return 1.0 / jnp.max(lam)
    if criterion == "minimax":
        return 2.0 / (jnp.min(lam) + jnp.max(lam))
    raise ValueError(f"criterion must be 'top' or 'minimax', got {criterion!r}")


def gd_contraction(eigenvalues: ArrayLike, rate: float) -> Array:
    """The per-step factors ``1 - eta lambda_i``: ``alpha_i^(T) = (1 - eta lambda_i)^T alpha_i^(0)``.

    Notes, "Convergence". Same shape as ``eigenvalues`` (a scalar gives shape ``(1,)``).
    """
    lam = _eigenvalues(eigenvalues)
    return 1.0 - _rate(rate) * lam


def gd_convergence_rate(eigenvalues: ArrayLike, rate: float) -> Array:
    """``max_i |1 - eta lambda_i|``: the linear rate of the slowest component (notes, "Convergence").

    GD converges from every start iff this is ``< 1``.
    """
    return jnp.max(jnp.abs(gd_contraction(eigenvalues, rate)))


def predicted_components(eigenvalues: ArrayLike, rate: float, alpha0: ArrayLike, steps: int) -> Array:
    """``alpha_i^(t) = (1 - eta lambda_i)^t alpha_i^(0)`` for ``t = 0..steps``, shape ``(steps + 1, n)``.

    Notes, "Convergence": the eigen-components of ``w - w*`` under GD on a quadratic.
    """
    lam = _eigenvalues(eigenvalues)
    steps = check_int(steps, "steps")
    a0 = jnp.asarray(alpha0, lam.dtype)
    if a0.shape not in ((), lam.shape):
        raise ValueError(f"alpha0 must be a number or have the shape of eigenvalues {lam.shape}, got {a0.shape}")
    rho = 1.0 - _rate(rate) * lam
    t = jnp.arange(steps + 1, dtype=lam.dtype)[:, None]
    return rho[None, :] ** t * jnp.broadcast_to(a0, lam.shape)[None, :]


def iterations_to_tolerance(
    eigenvalues: ArrayLike,
    rate: float,
    tol: float,
    alpha0: ArrayLike = 1.0,
    mu: float = 0.0,
) -> Array:
    """Steps ``T`` until every eigen-component satisfies ``|alpha_i^(T)| <= tol``.

    Plain GD (``mu = 0``), exactly: ``|alpha_i^(T)| = |1 - eta lambda_i|^T |alpha_i^(0)|``, so

        T = max_i ceil( ln(tol / |alpha_i^(0)|) / ln|1 - eta lambda_i| )

    over the components with ``|alpha_i^(0)| > tol`` (0 if none; a component
    with ``eta lambda_i = 1`` needs one step). With ``eta = 1/lambda_max`` and a
    unit start this is ``~ kappa ln(1/tol)``: proportional to the condition
    number (notes, "Convergence").

    With momentum (``mu > 0``) the same formula with ``|1 - eta lambda_i|``
    replaced by the spectral radius of :func:`momentum_contraction` — an
    asymptotic estimate that ignores the transient (a constant factor, and a
    factor ``~T`` at critical damping).

    Returns a 0-d float array: ``inf`` when GD does not converge, i.e. when a
    component with ``alpha_i^(0) != 0`` grows (``|1 - eta lambda_i| > 1``: a rate
    beyond ``2/lambda_i``), even one that starts inside ``tol`` (it leaves the
    tolerance and never comes back), or when one with ``|alpha_i^(0)| > tol``
    does not shrink (``|1 - eta lambda_i| = 1``). So a rate beyond
    ``2/lambda_max`` gives ``inf`` for any start with a nonzero top component,
    never a finite count.
    """
    lam = _eigenvalues(eigenvalues)
    rate = _rate(rate)
    tol = _number("tol", tol, 0.0, True)
    mu = _mu(mu)
    a0 = jnp.abs(jnp.asarray(alpha0, lam.dtype))
    if a0.shape not in ((), lam.shape):
        raise ValueError(f"alpha0 must be a number or have the shape of eigenvalues {lam.shape}, got {a0.shape}")
    a0 = jnp.broadcast_to(a0, lam.shape)
    rho = jnp.abs(1.0 - rate * lam) if mu == 0.0 else momentum_contraction(lam, rate, mu)
    need = a0 > tol
    ratio = jnp.where(need, tol / jnp.where(need, a0, jnp.ones_like(a0)), jnp.ones_like(a0))
    safe_rho = jnp.where((rho > 0) & (rho < 1), rho, 0.5 * jnp.ones_like(rho))
    steps = jnp.ceil(jnp.log(ratio) / jnp.log(safe_rho))
    steps = jnp.where(rho >= 1, jnp.inf, steps)
    steps = jnp.where(rho == 0, jnp.ones_like(steps), steps)
    steps = jnp.where(need, steps, jnp.zeros_like(steps))
    # A growing component leaves the tolerance for good, however small it starts.
    grows = (rho > 1) & (a0 > 0)
    steps = jnp.where(grows, jnp.inf, steps)
    return jnp.max(steps)


# --------------------------------------------------------------------------
# momentum (notes, "Momentum")


def momentum_roots(eigenvalues: ArrayLike, rate: float, mu: float) -> Array:
    """Roots ``r_1, r_2`` of ``r^2 - (1 + mu - eta lambda) r + mu = 0`` per eigenvalue, shape ``(n, 2)`` complex.

    GD with momentum, ``dw(t) = -eta grad E(w(t)) + mu dw(t-1)`` (notes,
    "Momentum"), on ``E = 1/2 lambda alpha^2`` gives the recurrence
    ``alpha(t+1) = (1 + mu - eta lambda) alpha(t) - mu alpha(t-1)``, so
    ``alpha(t) = c_1 r_1^t + c_2 r_2^t``. Sorted by decreasing modulus.

    * Low curvature (``eta lambda << (1 - mu)^2``): the slow root is
      ``r ~ 1 - eta lambda / (1 - mu)``: the effective rate
      ``(1 - r)/lambda`` is ``eta / (1 - mu)``.
    * Complex roots (``(1 + mu - eta lambda)^2 < 4 mu``, e.g. high curvature):
      ``|r| = sqrt(mu)`` and ``|1 - r| = sqrt(eta lambda)`` whatever ``mu``:
      the oscillation's step per unit gradient, ``|1 - r|/lambda = sqrt(eta/lambda)``,
      does not grow with ``mu`` (the contributions cancel).
    """
    lam = _eigenvalues(eigenvalues)
    rate, mu = _rate(rate), _mu(mu)
    cdtype = jnp.complex128 if lam.dtype == jnp.float64 else jnp.complex64
    b = (1.0 + mu - rate * lam).astype(cdtype)
    disc = jnp.sqrt(b * b - 4.0 * mu)
    r = jnp.stack([(b + disc) / 2, (b - disc) / 2], axis=-1)
    order = jnp.argsort(-jnp.abs(r), axis=-1)
    return jnp.take_along_axis(r, order, axis=-1)


def momentum_contraction(eigenvalues: ArrayLike, rate: float, mu: float) -> Array:
    """Per-direction asymptotic factor ``max(|r_1|, |r_2|)`` of GD with momentum (see :func:`momentum_roots`).

    ``mu = 0`` gives ``|1 - eta lambda_i|`` (plain GD, notes "Convergence").
    The iteration is stable iff every factor is ``< 1``, i.e. ``0 < eta lambda < 2 (1 + mu)``.
    """
    return jnp.abs(momentum_roots(eigenvalues, rate, mu)[..., 0])


# --------------------------------------------------------------------------
# a quadratic error with a chosen Hessian


def quadratic(hessian_matrix: ArrayLike, minimum: ArrayLike | None = None) -> Callable[[ArrayLike], Array]:
    """``E(w) = 1/2 (w - w*)^T H (w - w*)``: the notes' local model of the error near a minimum.

    ``hessian_matrix``: symmetric ``(n, n)``; ``minimum``: ``w*`` of shape ``(n,)``
    (zeros by default). Returns ``E`` as a function of a vector ``w`` of shape
    ``(n,)``; ``jax.grad(E)(w) = H (w - w*)`` and ``jax.hessian(E) = H``.
    """
    H = jnp.asarray(hessian_matrix)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] == 0:
        raise ValueError(f"hessian_matrix must be a square (n, n) matrix, got shape {H.shape}")
    if not jnp.issubdtype(H.dtype, jnp.floating):
        raise TypeError(f"hessian_matrix must be floating point, got dtype {H.dtype}")
    if not bool(jnp.allclose(H, H.T, rtol=1e-5, atol=1e-6 * float(jnp.max(jnp.abs(H))))):
        raise ValueError("hessian_matrix must be symmetric, got H != H^T")
    n = H.shape[0]
    w_star = jnp.zeros((n,), H.dtype) if minimum is None else jnp.asarray(minimum, H.dtype)
    if w_star.shape != (n,):
        raise ValueError(f"minimum must have shape ({n},), got {w_star.shape}")

    def E(w: ArrayLike) -> Array:
        d = jnp.asarray(w, H.dtype) - w_star
        return 0.5 * jnp.vdot(d, H @ d)

    return E

