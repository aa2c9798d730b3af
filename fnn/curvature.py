"""Curvature of a network on a data set: Hessian-vector products, top eigenpairs, spectral density, trace.

Notes, "Convergence": near a minimum the mean cost ``C(w) = (1/n) sum_x C_x(w)``
is ``~ 1/2 (w - w*)^T H (w - w*)`` and GD contracts the eigen-component along
``H u_i = lambda_i u_i`` by ``1 - eta lambda_i`` per step, so ``eta < 2/lambda_max``.
For a real network ``H`` has ``P`` rows (``P`` ~ 10^4..10^6), so everything
here is matrix-free: it only uses Hessian-vector products over the data set,

    H v = d/dt grad C(w + t v) |_{t=0} = sum_chunks (m_c / n) H_c v,

forward-over-reverse (``jax.jvp``) of the gradient of each chunk of ``m``
examples, either the hand-written one (``fnn.backprop``, ``grad="backprop"``)
or ``jax.grad`` of the cost (``grad="autodiff"``); the two are the same matrix.
One HVP costs about two gradients of the whole data set and ``O(P)`` memory
beyond one chunk's activations.

The Gauss-Newton part (split at the output's weighted input ``a^L``, per example)

    H = J^T (d^2 C / da^2) J  +  sum_k (dC/da^L_k) d^2 a^L_k / dw^2,    J = da^L / dw,

is the first term, ``G``; ``G v`` is one forward JVP, one output Hessian product
and one VJP (``matrix="gauss_newton"``). For the matched pairs
(quadratic + linear, cross-entropy + sigmoid, log-likelihood + softmax)
``d^2 C/da^2`` is positive semi-definite, so ``G`` is.

On top of ``v -> H v``:

* :func:`eigenpairs` -- the top (or bottom) ``k`` eigenpairs by the Lanczos
  iteration with full re-orthogonalization (``num_iters`` HVPs);
* :func:`spectral_density` -- the eigenvalue density by stochastic Lanczos
  quadrature (Ghorbani, Krishnan, Xiao, ICML 2019): for random unit ``v``,
  ``v^T g(H) v ~ sum_j tau_j g(theta_j)`` with ``theta_j`` the Ritz values and
  ``tau_j`` the squared first components of the eigenvectors of the Lanczos
  tridiagonal ``T``; ``g`` a Gaussian of width ``sigma`` (``num_probes * num_iters`` HVPs);
* :func:`hessian_trace` -- Hutchinson's ``tr H = E[v^T H v]``, ``v`` Rademacher
  (``num_probes`` HVPs);
* :class:`SharpnessTracker` -- a ``train.fit`` callback recording ``lambda_max``
  (Cohen et al.'s "sharpness") every ``every`` epochs, warm-started.

The functions on a matrix-vector product alone (:func:`lanczos_tridiagonal`,
:func:`ritz_pairs`, :func:`slq_nodes`) are pure and jit-able, for use inside a
scanned training loop. Batch norm in training mode couples the examples of a
batch, so its Hessian over chunks is not the data set's: networks with
``norm="batch"`` are refused.

Every public function checks its inputs once, before any compiled code, with
the rules training applies (:func:`fnn._validate.check_data`): shapes, no
NaN/inf row in ``x`` or ``y``, labels in ``[0, n_out - 1]``, finite parameters;
a NaN eigenvalue, density or trace from bad inputs is an error instead.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

from fnn import backprop as _backprop
from fnn import costs as _costs
from fnn._validate import check_data, check_finite_tree, check_int, check_key
from fnn.nn import MLP, Params

Array = jax.Array

__all__ = [
    "MATRICES",
    "dataset_hvp",
    "make_matvec",
    "lanczos_tridiagonal",
    "ritz_pairs",
    "eigenpairs",
    "Eigenpairs",
    "slq_nodes",
    "gaussian_density",
    "spectral_density",
    "Density",
    "hessian_trace",
    "SharpnessTracker",
]

MATRICES = ("hessian", "gauss_newton")


# --------------------------------------------------------------------------
# the door: every public function checks its inputs here, once, outside jit


class _Setup(NamedTuple):
    """The checked, static part of a problem (hashable: one compiled program per setup and shape)."""

    net: MLP
    cost: _costs.Cost
    grad: str
    matrix: str
    chunk: int


def _check_net(net: Any) -> MLP:
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an fnn.nn.MLP, got {type(net).__name__}")
    if net.norm == "batch":
        raise ValueError(
            "net.norm must be None or 'layer': batch norm couples the examples of a batch, so the Hessian "
            "over chunks is not the data set's; got norm='batch'"
        )
    return net


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _check_params(net: MLP, params: Params, name: str = "params") -> Params:
    """``params`` fitted to ``net``, finite, in the compute dtype: float32 at least (bfloat16/float16 are
    promoted: Lanczos' orthogonalization and ``eigh`` need more than 8 bits of mantissa)."""
    net.check_params(params)
    leaves = jax.tree_util.tree_leaves(params)
    dtype = max((jnp.dtype(leaf.dtype) for leaf in leaves), key=lambda d: jnp.finfo(d).bits)
    dtype = dtype if jnp.finfo(dtype).bits >= 32 else jnp.dtype(jnp.float32)
    if any(leaf.dtype != dtype for leaf in leaves):
        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), params)
    check_finite_tree(params, name)
    return params


def _check_xy(net: MLP, x: Any, y: Any, dtype: Any) -> tuple[Array, Array]:
    return _cast_xy(*check_data(x, y, net.sizes[0], net.sizes[-1]), dtype)


def _cast_xy(x: Any, y: Any, dtype: Any) -> tuple[Array, Array]:
    x = x if x.dtype == dtype and isinstance(x, jax.Array) else jnp.asarray(x, dtype)
    ydt = jnp.int32 if jnp.issubdtype(y.dtype, jnp.integer) else dtype
    y = y if y.dtype == ydt and isinstance(y, jax.Array) else jnp.asarray(y, ydt)
    return x, y


def _door(
    net: Any, cost: Any, params: Params, x: Any, y: Any, chunk_size: Any, grad: Any, matrix: Any
) -> tuple[_Setup, Params, Array, Array]:
    """The checks every public function shares: ``(setup, params, x, y)`` ready for the compiled code."""
    net = _check_net(net)
    cost = _costs.get(cost)
    _check_choice(grad, "grad", ("backprop", "autodiff"))
    _check_choice(matrix, "matrix", MATRICES)
    params = _check_params(net, params)
    x, y = _check_xy(net, x, y, jax.tree_util.tree_leaves(params)[0].dtype)
    return _Setup(net, cost, grad, matrix, _check_chunk(chunk_size, x.shape[0])), params, x, y


def _check_chunk(chunk_size: Any, n: int) -> int:
    if chunk_size is None:
        return n
    return min(check_int(chunk_size, "chunk_size"), n)


def _check_vector(v: Any, n: int, dtype: Any, name: str = "v0") -> Array:
    v = jnp.asarray(v)
    if v.shape != (n,):
        raise ValueError(f"{name} must be a vector of shape ({n},) (the raveled parameters), got {v.shape}")
    norm = float(jnp.linalg.norm(v))
    if not math.isfinite(norm) or norm == 0.0:
        raise ValueError(f"{name} must be finite and nonzero, got norm {norm}")
    return v.astype(dtype)


def _check_like_params(v: Any, params: Params, name: str = "v") -> Params:
    """``v`` with the structure and leaf shapes of ``params``, cast to their dtype."""
    if jax.tree_util.tree_structure(v) != jax.tree_util.tree_structure(params):
        raise ValueError(
            f"{name} must have the tree structure of params: expected {jax.tree_util.tree_structure(params)}, "
            f"got {jax.tree_util.tree_structure(v)}"
        )
    leaves, ps = jax.tree_util.tree_leaves(v), jax.tree_util.tree_leaves(params)
    bad = [i for i, (a, p) in enumerate(zip(leaves, ps)) if jnp.shape(a) != p.shape]
    if bad:
        key = jax.tree_util.keystr(jax.tree_util.tree_flatten_with_path(v)[0][bad[0]][0])
        got, want = jnp.shape(leaves[bad[0]]), ps[bad[0]].shape
        raise ValueError(f"{name}{key} must have the shape of params{key}, {want}, got {got}")
    if all(isinstance(a, jax.Array) and a.dtype == p.dtype for a, p in zip(leaves, ps)):
        return v
    return jax.tree_util.tree_map(lambda a, p: jnp.asarray(a, p.dtype), v, params)


# --------------------------------------------------------------------------
# Hessian- and Gauss-Newton-vector products over a data set


def _chunk_hvp(s: _Setup) -> Callable:
    """``(params, v, xc, yc) -> M_c v`` for the mean cost of one chunk (pytrees)."""
    net, cost = s.net, s.cost
    if s.matrix == "gauss_newton":

        def gnvp(params, v, xc, yc):
            def out(p):
                return net.forward(p, xc).a[-1]  # a^L, the output's weighted input

            a, Jv = jax.jvp(out, (params,), (v,))
            HJv = jax.jvp(jax.grad(lambda s: cost.value(s, yc, net.output)), (a,), (Jv,))[1]
            return jax.vjp(out, params)[1](HJv)[0]

        return gnvp
    g = _chunk_grad(s)

    def hv(params, v, xc, yc):
        return jax.jvp(lambda p: g(p, xc, yc), (params,), (v,))[1]

    return hv


def _chunk_grad(s: _Setup) -> Callable:
    """``(params, xc, yc) -> grad C_c``: the hand-written gradient (BP1-BP4) or ``jax.grad`` of the cost."""
    net, cost = s.net, s.cost
    if s.grad == "backprop":
        return lambda p, xc, yc: _backprop.value_and_grad(net, cost, p, xc, yc)[1]
    return lambda p, xc, yc: jax.grad(lambda q: _backprop.loss(net, cost, q, xc, yc))(p)


def _chunked(fn: Callable, params: Params, v: Params, x: Array, y: Array, chunk: int) -> Params:
    """``sum_c (m_c/n) fn(params, v, x_c, y_c)``: the data set's mean from chunks of ``chunk`` rows."""
    n = x.shape[0]
    k, r = divmod(n, chunk)
    if k == 1 and r == 0:
        return fn(params, v, x, y)

    def piece(i):
        xc = jax.lax.dynamic_slice_in_dim(x, i * chunk, chunk)
        yc = jax.lax.dynamic_slice_in_dim(y, i * chunk, chunk)
        return fn(params, v, xc, yc)

    def body(i, acc):
        return jax.tree_util.tree_map(jnp.add, acc, piece(i))

    acc = jax.lax.fori_loop(1, k, body, piece(0))
    acc = jax.tree_util.tree_map(lambda a: a * (chunk / n), acc)
    if r:
        tail = fn(params, v, x[k * chunk :], y[k * chunk :])
        acc = jax.tree_util.tree_map(lambda a, t: a + t * (r / n), acc, tail)
    return acc


def dataset_hvp(
    net: MLP,
    cost: str | _costs.Cost,
    params: Params,
    v: Params,
    x: ArrayLike,
    y: ArrayLike,
    *,
    chunk_size: int | None = None,
    grad: str = "backprop",
    matrix: str = "hessian",
) -> Params:
    """``H v`` (or ``G v``) for the mean cost ``C = (1/n) sum_x C_x`` over the whole data set ``(x, y)``.

    ``H v = sum_c (m_c/n) d/dt grad C_c(params + t v)`` over chunks of
    ``chunk_size`` rows (all at once when ``None``): forward-over-reverse of the
    hand-written gradient (``grad="backprop"``, BP1-BP4) or of ``jax.grad``
    (``grad="autodiff"``). ``matrix="gauss_newton"`` gives ``G v = J^T (d^2C/da^2) J v``
    (module docstring). ``v`` and the result have the structure of ``params``.
    Cost: about two gradients over the data set (one HVP). Compiled per call
    shape; inside your own ``jax.jit`` it traces like any function.
    """
    setup, params, x, y = _door(net, cost, params, x, y, chunk_size, grad, matrix)
    return _hvp_jit(setup, params, _check_like_params(v, params), x, y)


@partial(jax.jit, static_argnums=0)
def _hvp_jit(s: _Setup, params: Params, v: Params, x: Array, y: Array) -> Params:
    return _chunked(_chunk_hvp(s), params, v, x, y, s.chunk)


def make_matvec(
    net: MLP,
    cost: str | _costs.Cost,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    *,
    chunk_size: int | None = None,
    grad: str = "backprop",
    matrix: str = "hessian",
) -> Callable[[Array], Array]:
    """``v -> M v`` on raveled vectors (``ravel_pytree(params)`` order), ``M`` = ``H`` or ``G`` at ``params``.

    Pure and traceable (the data and parameters are closed over), for
    :func:`lanczos_tridiagonal` or your own loop; one call is one HVP
    (see :func:`dataset_hvp`). Validates its arguments here, once.
    """
    return _flat_matvec(*_door(net, cost, params, x, y, chunk_size, grad, matrix))


def _flat_matvec(s: _Setup, params: Params, x: Array, y: Array) -> Callable[[Array], Array]:
    unravel = ravel_pytree(params)[1]
    if s.matrix == "hessian" and s.chunk >= x.shape[0]:
        # One chunk: linearize the gradient once (the forward/backward primal pass and its residuals are
        # kept), so each product in a Lanczos loop costs only the tangent pass.
        g = _chunk_grad(s)
        lin = jax.linearize(lambda p: g(p, x, y), params)[1]
        return lambda v: ravel_pytree(lin(unravel(v)))[0]
    fn = _chunk_hvp(s)

    def mv(v: Array) -> Array:
        return ravel_pytree(_chunked(fn, params, unravel(v), x, y, s.chunk))[0]

    return mv


# --------------------------------------------------------------------------
# Lanczos with full re-orthogonalization (pure, jit-able)


class Tridiagonal(NamedTuple):
    """``k`` Lanczos steps: ``T = V^T M V`` tridiagonal with diagonal ``alpha`` and off-diagonal ``beta[:-1]``.

    ``basis`` ``(k, P)``: orthonormal rows ``v_1..v_k``; ``beta[-1]`` is the
    norm of the residual after the last step. A ``beta_j = 0`` marks a restart
    (the Krylov space closed; ``v_(j+1)`` is a fresh random direction).
    """

    alpha: Array
    beta: Array
    basis: Array


def lanczos_tridiagonal(matvec: Callable[[Array], Array], v0: Array, num_iters: int, key: Array | None = None) -> Tridiagonal:
    """``num_iters`` Lanczos steps on ``v -> M v`` from ``v0`` with full re-orthogonalization.

    ``w = M v_j - alpha_j v_j - beta_(j-1) v_(j-1)`` is computed as
    ``M v_j`` minus its projection on all of ``v_1..v_j`` (classical
    Gram-Schmidt, twice), ``beta_j = ||w||``, ``v_(j+1) = w / beta_j``. If the
    Krylov space closes (``beta_j <= 100 eps ||T||``), it restarts from a random
    direction orthogonal to the basis (``key``) with ``beta_j = 0``, so ``T``
    stays an exact projection. Cost: ``num_iters`` products with ``M`` and
    ``O(num_iters^2 P)`` flops; memory ``(num_iters + 1) P``. (With :func:`make_matvec`
    unchunked, the gradient is linearized once, so each product after the first
    costs only the tangent pass.) Pure: usable
    inside ``jit``/``vmap``/``scan`` (``num_iters`` static, ``<= P``).
    """
    n = v0.shape[0]
    m = int(num_iters)
    dtype = v0.dtype
    key = jax.random.key(0) if key is None else key
    tol = 100 * float(jnp.finfo(dtype).eps)
    V = jnp.zeros((m + 1, n), dtype).at[0].set(v0 / jnp.linalg.norm(v0))

    def orth(V, w):
        w = w - V.T @ (V @ w)
        return w - V.T @ (V @ w)

    def body(j, carry):
        V, alpha, beta, scale = carry
        w = matvec(V[j])
        a = jnp.vdot(w, V[j])
        w = orth(V, w)  # rows > j of V are still zero
        b = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.maximum(jnp.abs(a), b))
        broke = b <= tol * scale
        r = orth(V, jax.random.normal(jax.random.fold_in(key, j), (n,), dtype))
        r = orth(V, r)
        nxt = jnp.where(broke, r / jnp.linalg.norm(r), w / jnp.where(broke, 1.0, b))
        V = V.at[j + 1].set(jnp.where(j + 1 < m, nxt, jnp.zeros_like(nxt)))
        return V, alpha.at[j].set(a), beta.at[j].set(jnp.where(broke, 0.0, b)), scale

    init = (V, jnp.zeros((m,), dtype), jnp.zeros((m,), dtype), jnp.zeros((), dtype))
    V, alpha, beta, _ = jax.lax.fori_loop(0, m, body, init)
    return Tridiagonal(alpha, beta, V[:m])


def _tridiagonal_matrix(t: Tridiagonal) -> Array:
    return jnp.diag(t.alpha) + jnp.diag(t.beta[:-1], 1) + jnp.diag(t.beta[:-1], -1)


def ritz_pairs(t: Tridiagonal, k: int, which: str = "largest") -> tuple[Array, Array, Array]:
    """The ``k`` largest (or smallest) Ritz pairs of a :class:`Tridiagonal`: ``(values (k,), vectors (k, P), residuals (k,))``.

    ``T = S diag(theta) S^T``; the Ritz vector ``y_i = V^T s_i`` satisfies
    ``||M y_i - theta_i y_i|| = |beta_k s_i[-1]|`` (the residual bound, exact
    in exact arithmetic). ``"largest"``: descending; ``"smallest"``: ascending.
    Pure, jit-able.
    """
    theta, S = jnp.linalg.eigh(_tridiagonal_matrix(t))
    if which == "largest":
        theta, S = theta[::-1], S[:, ::-1]
    theta, S = theta[:k], S[:, :k]
    vectors = S.T @ t.basis
    residuals = jnp.abs(t.beta[-1] * S[-1, :])
    return theta, vectors, residuals


class Eigenpairs(NamedTuple):
    """Top (or bottom) eigenpairs from :func:`eigenpairs`.

    ``values`` ``(k,)`` (descending for ``"largest"``), ``vectors`` ``(k, P)``
    unit rows in ``ravel_pytree(params)`` order (``unravel`` turns one into a
    params pytree), ``residuals`` ``(k,)`` bounds on ``||M u - lambda u||``
    including round-off (:func:`eigenpairs`),
    ``num_hvps`` the products used.
    """

    values: Array
    vectors: Array
    residuals: Array
    num_hvps: int
    unravel: Callable[[Array], Params]


def eigenpairs(
    net: MLP,
    cost: str | _costs.Cost,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    k: int = 1,
    *,
    num_iters: int = 40,
    which: str = "largest",
    key: Array | None = None,
    v0: ArrayLike | None = None,
    chunk_size: int | None = None,
    grad: str = "backprop",
    matrix: str = "hessian",
) -> Eigenpairs:
    """The ``k`` largest (algebraic) eigenpairs of the Hessian of the mean cost over ``(x, y)``.

    ``H u_i = lambda_i u_i`` by :func:`lanczos_tridiagonal` with
    ``m = min(num_iters, P)`` steps from ``v0`` (warm start, e.g. the previous
    top eigenvector) or a random unit vector (``key``): the extreme Ritz values
    converge first and from inside ``[lambda_min, lambda_max]``; check
    ``residuals``: for each Ritz pair ``(theta, u)`` some eigenvalue satisfies
    ``|lambda - theta| <= ||H u - theta u|| <= residual``, with

        residual = |beta_m s_i[m]|  +  16 eps ||T||,     ||T|| <= max|alpha| + 2 max|beta|,

    the Lanczos bound (:func:`ritz_pairs`, exact in exact arithmetic) plus a
    rounding floor: each HVP is computed with a relative error of a few
    ``eps`` of the parameters' dtype times ``||H||`` (``||T|| <= ||H||`` is
    its computable estimate), so a converged pair's true residual does not
    fall below ``~ eps ||H||``. Measured on 12-16-3 tanh networks in float32
    (against a float64 dense Hessian) it is ``2-4 eps lambda_max``; the
    factor 16 (``ROUNDING_FACTOR``) leaves a margin of 4. The floor is an
    estimate of round-off, not a proof; in float64 it is negligible.
    Parameters in bfloat16/float16 are computed in float32 (the results are
    float32).
    ``which="smallest"`` gives the bottom ``k`` (ascending). Cost: ``m`` HVPs
    (each ~2 gradients of the data set) plus ``O(m^2 P)``. ``matrix``,
    ``grad``, ``chunk_size`` as in :func:`dataset_hvp`. One compiled program.
    """
    setup, params, x, y = _door(net, cost, params, x, y, chunk_size, grad, matrix)
    _check_choice(which, "which", ("largest", "smallest"))
    flat, unravel = ravel_pytree(params)
    P = flat.size
    k = check_int(k, "k", 1, P, " (the number of parameters)")
    m = min(check_int(num_iters, "num_iters", k), P)
    key = jax.random.key(0) if key is None else check_key(key)
    if v0 is None:
        v0 = jax.random.normal(jax.random.fold_in(key, 1), (P,), flat.dtype)
    v0 = _check_vector(v0, P, flat.dtype)
    return _eigenpairs(setup, params, x, y, k, m, which, v0, key)


def _eigenpairs(
    s: _Setup, params: Params, x: Array, y: Array, k: int, m: int, which: str, v0: Array, key: Array
) -> Eigenpairs:
    values, vectors, res = _eig_jit(s, m, k, which, params, x, y, v0, key)
    return Eigenpairs(values, vectors, res, m, ravel_pytree(params)[1])


#: The rounding floor of a reported residual, in units of ``eps(dtype) * ||T||`` (see :func:`eigenpairs`).
ROUNDING_FACTOR = 16.0


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _eig_jit(s: _Setup, m: int, k: int, which: str, params: Params, x: Array, y: Array, v0: Array, key: Array):
    t = lanczos_tridiagonal(_flat_matvec(s, params, x, y), v0, m, key)
    values, vectors, res = ritz_pairs(t, k, which)
    # ||T||_2 <= max|alpha| + 2 max|beta| (Gershgorin), and ||T|| <= ||M||: the scale of the round-off.
    norm_t = jnp.max(jnp.abs(t.alpha)) + 2 * jnp.max(t.beta)
    return values, vectors, res + ROUNDING_FACTOR * jnp.finfo(v0.dtype).eps * norm_t


# --------------------------------------------------------------------------
# spectral density by stochastic Lanczos quadrature


def slq_nodes(t: Tridiagonal) -> tuple[Array, Array]:
    """Gauss quadrature nodes and weights of one Lanczos run: ``(theta (m,), tau (m,))``.

    ``T = S diag(theta) S^T``, ``tau_j = S[0, j]^2`` (they sum to 1). For the unit
    start ``v``, ``v^T f(M) v ~ sum_j tau_j f(theta_j)``, exact for polynomials
    of degree ``<= 2m - 1`` (and for every ``f`` when ``m = P``). Pure, jit-able.
    """
    theta, S = jnp.linalg.eigh(_tridiagonal_matrix(t))
    return theta, S[0, :] ** 2


def gaussian_density(nodes: ArrayLike, weights: ArrayLike, grid: ArrayLike, sigma: float) -> Array:
    """``phi(t) = (1/R) sum_r sum_j tau_rj exp(-(t - theta_rj)^2 / (2 sigma^2)) / (sigma sqrt(2 pi))`` on ``grid``.

    ``nodes``/``weights``: ``(R, m)`` from :func:`slq_nodes` for ``R`` probes
    (or ``(m,)``). Integrates to ``~1`` over a grid covering the nodes.
    """
    nodes = jnp.atleast_2d(jnp.asarray(nodes))
    weights = jnp.atleast_2d(jnp.asarray(weights)).astype(nodes.dtype)
    grid = jnp.asarray(grid, nodes.dtype)
    if nodes.shape != weights.shape:
        raise ValueError(f"weights must have the shape of nodes {nodes.shape}, got {weights.shape}")
    if not (isinstance(sigma, (int, float)) and sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    d = grid[:, None, None] - nodes[None, :, :]
    g = jnp.exp(-0.5 * (d / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return jnp.sum(g * weights[None], axis=(1, 2)) / nodes.shape[0]


class Density(NamedTuple):
    """A spectral density from :func:`spectral_density`: ``density`` on ``grid``, the raw ``nodes``/``weights`` ``(R, m)``."""

    grid: Array
    density: Array
    nodes: Array
    weights: Array
    sigma: float
    num_hvps: int


def spectral_density(
    net: MLP,
    cost: str | _costs.Cost,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    *,
    key: Array | None = None,
    num_probes: int = 10,
    num_iters: int = 80,
    sigma: float | None = None,
    num_points: int = 1000,
    chunk_size: int | None = None,
    grad: str = "backprop",
    matrix: str = "hessian",
) -> Density:
    """The eigenvalue density ``phi(t) = (1/P) sum_i delta(t - lambda_i)``, Gaussian-broadened, by SLQ.

    Ghorbani, Krishnan, Xiao (ICML 2019): for ``R = num_probes`` random unit
    ``v_r`` (Gaussian, normalized; ``E[v v^T] = I/P``),
    ``phi_sigma(t) = E_v[v^T g_sigma(t - H) v] ~ (1/R) sum_r sum_j tau_rj g_sigma(t - theta_rj)``
    (:func:`slq_nodes`, :func:`gaussian_density`). ``sigma`` defaults to 1% of
    the range of the Ritz values; the grid spans that range padded by
    ``5 sigma`` (``num_points`` points). Cost: ``R * m`` HVPs with
    ``m = min(num_iters, P)``. Outliers show as isolated peaks of mass ``~1/P``
    each (plot it on a log scale).
    """
    setup, params, x, y = _door(net, cost, params, x, y, chunk_size, grad, matrix)
    flat, _ = ravel_pytree(params)
    P = flat.size
    R = check_int(num_probes, "num_probes")
    m = min(check_int(num_iters, "num_iters"), P)
    num_points = check_int(num_points, "num_points", 2)
    key = jax.random.key(0) if key is None else check_key(key)
    if sigma is not None and not (isinstance(sigma, (int, float)) and sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be a finite number > 0 or None, got {sigma!r}")
    nodes, weights = _slq_jit(setup, m, params, x, y, jax.random.split(key, R))
    lo, hi = float(jnp.min(nodes)), float(jnp.max(nodes))
    s = float(sigma) if sigma is not None else max(0.01 * (hi - lo), float(jnp.finfo(flat.dtype).eps) * max(abs(hi), 1.0))
    grid = jnp.linspace(lo - 5 * s, hi + 5 * s, num_points, dtype=flat.dtype)
    return Density(grid, gaussian_density(nodes, weights, grid, s), nodes, weights, s, R * m)


@partial(jax.jit, static_argnums=(0, 1))
def _slq_jit(s: _Setup, m: int, params: Params, x: Array, y: Array, keys: Array) -> tuple[Array, Array]:
    mv = _flat_matvec(s, params, x, y)
    flat = ravel_pytree(params)[0]

    def one(key):
        v0 = jax.random.normal(key, flat.shape, flat.dtype)
        return slq_nodes(lanczos_tridiagonal(mv, v0, m, jax.random.fold_in(key, 7)))

    # probes one after another (lax.map): memory of one Lanczos basis at a time
    return jax.lax.map(one, keys)


# --------------------------------------------------------------------------
# Hutchinson's trace


def hessian_trace(
    net: MLP,
    cost: str | _costs.Cost,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    *,
    key: Array | None = None,
    num_probes: int = 100,
    chunk_size: int | None = None,
    grad: str = "backprop",
    matrix: str = "hessian",
) -> tuple[Array, Array]:
    """Hutchinson's estimate of ``tr H = E[v^T H v]``, ``v`` Rademacher (+-1): ``(mean, standard error)``.

    ``(1/R) sum_r v_r^T H v_r`` over ``R = num_probes`` probes (``R`` HVPs);
    the standard error is the probes' sample standard deviation over
    ``sqrt(R)``. The variance of one probe is ``2 sum_(i != j) H_ij^2``.
    """
    setup, params, x, y = _door(net, cost, params, x, y, chunk_size, grad, matrix)
    R = check_int(num_probes, "num_probes", 2)
    key = jax.random.key(0) if key is None else check_key(key)
    q = _trace_jit(setup, params, x, y, jax.random.split(key, R))
    return jnp.mean(q), jnp.std(q, ddof=1) / math.sqrt(R)


@partial(jax.jit, static_argnums=0)
def _trace_jit(s: _Setup, params: Params, x: Array, y: Array, keys: Array) -> Array:
    mv = _flat_matvec(s, params, x, y)
    flat = ravel_pytree(params)[0]

    def one(key):
        v = jax.random.rademacher(key, flat.shape, flat.dtype)
        return jnp.vdot(v, mv(v))

    return jax.lax.map(one, keys)


# --------------------------------------------------------------------------
# a training callback: lambda_max every N epochs


class SharpnessTracker:
    """A ``train.fit`` callback that records the top ``k`` Hessian eigenvalues every ``every`` epochs.

    ``fit(..., callback=tracker)`` calls ``tracker(epoch, state, record)``
    after each epoch (full-batch GD: one step per epoch); every ``every``-th
    call runs :func:`eigenpairs` on ``(x, y)`` (the training set, or a fixed
    subset) with ``num_iters`` Lanczos steps warm-started from the previous
    top eigenvector, so ``lambda_max`` (Cohen et al.'s sharpness) costs
    ``num_iters`` HVPs per measurement. After training, ``tracker.steps``
    (optimizer steps, ``record["step"]``), ``tracker.epochs`` and
    ``tracker.values`` (``(k,)`` arrays, descending) hold the record;
    :attr:`lambda_max` is the list of top values. Compare them with
    ``2 / eta`` (``analysis.stable_rate``). Never stops training (returns
    ``None``); parameters holding NaN or inf raise a ``ValueError`` naming the
    epoch and the leaf. For one network only: the stacked parameters of
    ``fit_population`` (a leading member axis) do not fit ``net``.
    """

    def __init__(
        self,
        net: MLP,
        cost: str | _costs.Cost,
        x: ArrayLike,
        y: ArrayLike,
        *,
        every: int = 1,
        k: int = 1,
        num_iters: int = 20,
        chunk_size: int | None = None,
        grad: str = "backprop",
        key: Array | None = None,
    ) -> None:
        net = _check_net(net)
        self.grad = _check_choice(grad, "grad", ("backprop", "autodiff"))
        self.net, self.cost = net, _costs.get(cost)
        self.x, self.y = check_data(x, y, net.sizes[0], net.sizes[-1])  # checked once, cast at first use
        self._setup = _Setup(net, self.cost, self.grad, "hessian", _check_chunk(chunk_size, self.x.shape[0]))
        self.every = check_int(every, "every")
        self.k = check_int(k, "k")
        self.num_iters = check_int(num_iters, "num_iters", self.k)
        self.key = jax.random.key(0) if key is None else check_key(key)
        self.epochs: list[int] = []
        self.steps: list[int] = []
        self.values: list[np.ndarray] = []
        self._v: Array | None = None

    @property
    def lambda_max(self) -> list[float]:
        """The recorded top eigenvalues, one per measurement."""
        return [float(v[0]) for v in self.values]

    def __call__(self, epoch: int, state: Any, record: dict) -> None:
        if epoch % self.every:
            return None
        net = self._setup.net
        params = _check_params(net, state.params, f"state.params (epoch {epoch})")
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        if not isinstance(self.x, jax.Array) or self.x.dtype != dtype:  # checked once; cast once to this dtype
            self.x, self.y = _cast_xy(self.x, self.y, dtype)
        x, y = self.x, self.y
        P = ravel_pytree(params)[0].size
        k, m = min(self.k, P), min(self.num_iters, P)
        key = jax.random.fold_in(self.key, len(self.values))
        v0 = jax.random.normal(jax.random.fold_in(key, 1), (P,), x.dtype) if self._v is None else self._v
        res = _eigenpairs(self._setup, params, x, y, k, m, "largest", v0, key)
        # Warm start: the previous top eigenvector plus a little noise (an exact eigenvector would close
        # the Krylov space at once; the restart handles that too, but noise keeps the others in view).
        v = res.vectors[0]
        noise = jax.random.normal(jax.random.fold_in(key, 3), v.shape, v.dtype)
        self._v = v + 1e-2 * noise / jnp.linalg.norm(noise)
        self.epochs.append(int(epoch))
        self.steps.append(int(record.get("step", epoch)) if isinstance(record, dict) else int(epoch))
        self.values.append(np.asarray(res.values))
        return None
