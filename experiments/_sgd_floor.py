"""The noise floor of constant-rate SGD on least squares: sampling with replacement vs reshuffling.

Notes, "Learning rate scheduling" / "Stochastic gradient descent". For the
mean cost ``C(w) = (1/n) sum_i 1/2 (x_i.w - y_i)^2`` with minimum ``w*``,
residuals ``r_i = y_i - x_i.w*`` (``sum_i x_i r_i = 0``), Hessian
``H = (1/n) sum_i x_i x_i^T`` and error ``e = w - w*``, the mini-batch gradient is

    g_B = H e + (1/m) sum_{i in B} [(x_i x_i^T - H) e - x_i r_i].

**With replacement** (each batch ``m`` independent uniform draws) the second
moment ``Sigma = E[e e^T]`` obeys, at stationarity (``E e = 0``, so the cross
terms vanish),

    Sigma = (I - eta H) Sigma (I - eta H) + (eta^2/m) [M4(Sigma) - H Sigma H + S],
    M4(Sigma) = (1/n) sum_i x_i x_i^T Sigma x_i x_i^T,   S = (1/n) sum_i r_i^2 x_i x_i^T,

a linear system solved exactly here; the excess cost is ``tr(H Sigma)/2``.
Dropping the multiplicative term ``M4 - H Sigma H`` and taking ``S ~ sigma^2 H``
gives the notes-style ``sum_i eta sigma^2 lambda_i / (2m(2 - eta lambda_i)) ~
eta sigma^2 tr(H)/(4m)``.

**Reshuffling each epoch** (what ``fnn.data.batches`` and ``fnn.train`` do: a
random partition into ``N = n/m`` batches) makes the additive noises
``xi_t = (1/m) sum_{i in B_t} q.x_i r_i`` of one epoch *sum to zero*: with
``v = (1/n) sum_i (q.x_i r_i)^2`` along an eigenvector ``q`` of ``H``,
``Var xi_t = (v/m)(n - m)/(n - 1)`` and ``Cov(xi_s, xi_t) = -v/(n - 1)``
(``s != t``, same epoch), independent across epochs. For ``u = q.e`` with
``a = 1 - eta lambda``, measured at the end of each epoch (as the experiment
does), the stationary ``P = E u^2`` is

    P (1 - a^{2N}) = eta^2 [(c_s - c_d) sum_{j<N} a^{2j} + c_d (sum_{j<N} a^j)^2],
    c_s - c_d = v n / (m (n - 1)),   c_d = -v/(n - 1),

(additive noise only) and the excess cost ``sum_q lambda_q P_q / 2``. When
``eta lambda N >> 1`` (many relaxation times per epoch) it tends to the
with-replacement value; when ``eta lambda N`` is small the epoch's zero sum
cancels most of the noise and the floor drops well below ``eta``-proportional.
The multiplicative term of reshuffled training is included approximately
(:func:`floor_reshuffled`).
"""

from __future__ import annotations

import numpy as np


def _check_xr(x, r) -> tuple[np.ndarray, np.ndarray]:
    x, r = np.asarray(x, np.float64), np.asarray(r, np.float64)
    if x.ndim != 2 or r.shape != (x.shape[0],):
        raise ValueError(f"x must be (n, d) and r (n,), got shapes {x.shape} and {r.shape}")
    return x, r


def _check_eta_m(eta: float, m: int, n: int) -> None:
    if not (isinstance(eta, (int, float, np.floating)) and eta > 0):
        raise ValueError(f"eta must be a positive number, got {eta!r}")
    if not (isinstance(m, (int, np.integer)) and 1 <= m <= n):
        raise ValueError(f"m must be an integer in [1, {n}], got {m!r}")


def floor_with_replacement(x, r, m: int, eta: float, multiplicative: bool = True) -> float:
    """Exact stationary excess cost ``tr(H Sigma)/2`` of SGD with replacement (module docstring)."""
    x, r = _check_xr(x, r)
    n, d = x.shape
    _check_eta_m(eta, m, n)
    h = x.T @ x / n
    s = (x * (r**2)[:, None]).T @ x / n
    a = np.eye(d) - eta * h
    # L(Sigma) = Sigma - A Sigma A - (eta^2/m)(M4(Sigma) - H Sigma H), as a (d*d, d*d) matrix on vec(Sigma).
    op = np.eye(d * d) - np.kron(a, a)
    if multiplicative:
        m4 = np.einsum("ip,iq,ia,ib->pqab", x, x, x, x, optimize=True).reshape(d * d, d * d) / n
        op -= eta**2 / m * (m4 - np.kron(h, h))
    sigma = np.linalg.solve(op, (eta**2 / m * s).ravel()).reshape(d, d)
    return 0.5 * float(np.trace(h @ sigma))


def floor_reshuffled(x, r, m: int, eta: float, multiplicative: bool = True) -> float:
    """Stationary excess cost at epoch ends of SGD reshuffled each epoch (module docstring).

    The closed form is for the additive noise. ``multiplicative=True`` scales it by the with-replacement
    ratio ``floor_with_replacement(..., True) / (..., False)``: exact in the limit ``eta lambda N >> 1``
    (epochs long against the relaxation time: reshuffling then acts like replacement) and harmless where
    ``eta lambda N`` is small, since the multiplicative term is then O(eta) smaller (1.007 at eta = 0.005
    in the experiment) — an approximation, stated as such.
    """
    x, r = _check_xr(x, r)
    n, _ = x.shape
    _check_eta_m(eta, m, n)
    n_b = n // m
    h = x.T @ x / n
    lam, q = np.linalg.eigh(h)
    z = (x @ q) * r[:, None]  # (n, d): q.x_i r_i per direction
    v = np.mean(z**2, axis=0)
    total = 0.0
    for lam_q, v_q in zip(lam, v):
        a = 1.0 - eta * lam_q
        j = np.arange(n_b)
        c_diff = -v_q / (n - 1)
        var_sum = v_q * n / (m * (n - 1)) * np.sum(a ** (2 * j)) + c_diff * np.sum(a**j) ** 2
        p = eta**2 * var_sum / (1.0 - a ** (2 * n_b))
        total += 0.5 * lam_q * p
    if multiplicative:
        total *= floor_with_replacement(x, r, m, eta, True) / floor_with_replacement(x, r, m, eta, False)
    return float(total)


def floor_notes(x, r, m: int, eta: float) -> float:
    """The notes-style formula ``sum_i eta sigma^2 lambda_i / (2 m (2 - eta lambda_i))``, ``sigma^2 = mean r^2``."""
    x, r = _check_xr(x, r)
    n, _ = x.shape
    _check_eta_m(eta, m, n)
    lam = np.linalg.eigvalsh(x.T @ x / n)
    return float(np.sum(eta * np.mean(r**2) * lam / (2 * m * (2 - eta * lam))))
