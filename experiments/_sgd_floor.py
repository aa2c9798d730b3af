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
The additive closed form is exact for its model (a float64 simulation of the
additive recursion agrees to its Monte Carlo error). The multiplicative term
``(x_i x_i^T - H) e`` has no closed form under reshuffling: :func:`floor_reshuffled`
carries it through a step-level second-moment recursion plus the first-order
correlations that sampling without replacement induces between a batch's
multiplicative noise and the earlier batches of its epoch (an expansion in
``eps = 2/(eta lambda_min N)``), and :func:`simulate_reshuffled` is the float64
Monte Carlo reference of the exact recursion. Random reshuffling analysed:
Gürbüzbalaban, Ozdaglar & Parrilo 2021 (Math. Program., "Why random reshuffling
beats stochastic gradient descent", Sec. 3); Mishchenko, Khaled & Richtárik 2020
(NeurIPS, "Random reshuffling: simple analysis with vast improvements", Sec. 3).
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


def _m4(x: np.ndarray) -> np.ndarray:
    """``M4`` as a ``(d*d, d*d)`` matrix on ``vec(Sigma)``: ``mean_i (x_i x_i^T) (x) (x_i x_i^T)``."""
    n, d = x.shape
    outer = (x[:, :, None] * x[:, None, :]).reshape(n, d * d)
    return outer.T @ outer / n


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
        m4 = _m4(x)
        op -= eta**2 / m * (m4 - np.kron(h, h))
    sigma = np.linalg.solve(op, (eta**2 / m * s).ravel()).reshape(d, d)
    return 0.5 * float(np.trace(h @ sigma))


def _pair_moments(xq: np.ndarray, zq: np.ndarray, lam: np.ndarray):
    """Data moments of the pair corrections, in the eigenbasis of ``H`` (``f_i = x_i x_i^T - H``, ``z_i = r_i x_i``):
    ``P3[c] = mean_i f_i[:, c] z_ic z_i^T``, ``Q3[c] = mean_i f_i[:, c] f_i[c, :]``, ``Q4[p,c,d,q] = mean_i f_pc f_dq``."""
    n = xq.shape[0]
    f = np.einsum("ip,iq->ipq", xq, xq) - np.diag(lam)
    p3 = np.einsum("ipc,ic,iq->cpq", f, zq, zq, optimize=True) / n
    q3 = np.einsum("ipr,irq->rpq", f, f, optimize=True) / n
    q4 = np.einsum("ipc,idq->pcdq", f, f, optimize=True) / n
    return p3, q3, q4


def floor_reshuffled(x, r, m: int, eta: float, multiplicative: bool = True) -> float:
    """Stationary excess cost ``tr(H Sigma)/2`` at epoch ends of SGD reshuffled each epoch (module docstring).

    ``multiplicative=False``: the additive-noise closed form (exact for that model; checked against a float64
    simulation in the tests and in the experiment). ``multiplicative=True``: the step-level second-moment
    recursion through the epoch,

        Sigma_{t+1} = A Sigma_t A + eta^2 c_m [M4(Sigma_t) - H Sigma_t H] + eta (A K_t + K_t^T A) + eta^2 c_m S
                      + (pair corrections),      K_{t+1} = A K_t - eta S/(n - 1),   K_0 = 0,

    ``c_m = (n - m)/(m (n - 1))``, whose epoch map is solved for its fixed point. ``K_t = E[e_t g_t'^T]``
    (``t' >= t``) carries the zero-sum of the additive noise exactly. The pair corrections are the
    first-order effect of sampling without replacement on the multiplicative term: the multiplicative noise
    ``D_t = H_{B_t} - H`` of a batch is correlated with every earlier batch of the same epoch
    (``E[f_i (.) h_j] = -mean(f h)/(n - 1)`` for distinct examples), which gives, with ``k = t - 1 - s``,

        E[D_t e_t g_t^T] ~ -eta/(m(n-1)) sum_k P(A^k),        P(M) = mean_i f_i M z_i z_i^T,
        E[D_t e_t e_t^T] ~ -eta^2/(m(n-1)) sum_k P(A^k) A^k
                           + eta/(n-1) sum_k [Q(A^k) Sigma_s A^(k+1) + Q(A^(k+1) Sigma_s) A^k],   Q(M) = mean_i f_i M f_i,

    entering ``Sigma_{t+1}`` as ``-eta^2 (E[D e g^T] + .^T) - eta (E[D e e^T] A + .^T)`` (``Sigma_s`` the
    zeroth-order in-epoch trajectory). The first two raise the floor, the third (the ``D``--``D`` zero sum)
    lowers it; together they are ``O((d+2)/(n lambda))`` relative, independent of ``eta`` when ``eps << 1``
    (+3.0% at eps = 0.20, +2.4% at eps = 0.07 here). Terms
    dropped are smaller by ``eps = 2 m/(n eta lambda_min) = 2/(eta lambda_min N)`` (pairs of earlier examples
    both correlated with ``D_t`` within the window ``1/(eta lambda)``): the result is an expansion for
    ``eps << 1`` and is not valid when an epoch is shorter than a few relaxation times. Against a float64
    simulation of the exact recursion (2000 runs, the schedules experiment's data, n = 1000, m = 4, d = 11,
    eps = 1.98, 0.66, 0.20, 0.066 at eta = 0.005, 0.015, 0.05, 0.15) it lies +14.8%, +2.7%, +0.57% (2.6 s.e.)
    and -0.13% (0.6 s.e.) off: usable for eps <~ 0.25, not for short epochs.

    An earlier version scaled the additive closed form by the with-replacement ratio
    ``floor_with_replacement(..., True)/(..., False)``; that equals the recursion above without the pair
    corrections to within 1% (carrying the mid-epoch second moment changes little) and lay 2.4-2.9% below the float64
    simulation at every eta, which is why fnn's measurements sat 4-8% above it.
    """
    x, r = _check_xr(x, r)
    n, d = x.shape
    _check_eta_m(eta, m, n)
    n_b = n // m
    h = x.T @ x / n
    lam, q = np.linalg.eigh(h)
    xq = x @ q
    z = xq * r[:, None]  # (n, d): q.x_i r_i per direction
    if not multiplicative:
        v = np.mean(z**2, axis=0)
        total = 0.0
        for lam_q, v_q in zip(lam, v):
            a = 1.0 - eta * lam_q
            j = np.arange(n_b)
            c_diff = -v_q / (n - 1)
            var_sum = v_q * n / (m * (n - 1)) * np.sum(a ** (2 * j)) + c_diff * np.sum(a**j) ** 2
            p = eta**2 * var_sum / (1.0 - a ** (2 * n_b))
            total += 0.5 * lam_q * p
        return float(total)
    al = 1.0 - eta * lam
    a = np.diag(al)
    s = z.T @ z / n
    cm = (n - m) / (m * (n - 1))
    m4 = _m4(xq)
    op = np.kron(a, a) + eta**2 * cm * (m4 - np.kron(np.diag(lam), np.diag(lam)))
    p3, q3, q4 = _pair_moments(xq, z, lam)
    c3 = eta**3 / (m * (n - 1))

    def epoch(sig, traj):
        k_t = np.zeros((d, d))
        z1, z2 = np.zeros((d, d, d)), np.zeros((d, d, d))
        geo, geo2 = np.zeros(d), np.zeros((d, d))
        out = []
        for t in range(n_b):
            out.append(sig)
            force = eta * (a @ k_t + k_t.T @ a) + eta**2 * cm * s
            if traj is not None:
                ps = np.tensordot(geo, p3, axes=1)
                pr = (p3 * geo2[:, None, :]).sum(axis=0)
                dd = eta / (n - 1) * (np.matmul(q3, z1).sum(axis=0) + (q4 * z2[None]).sum(axis=(1, 2)))
                force = force + c3 * (ps + ps.T) + c3 * (pr @ a + a @ pr.T) - eta * (dd @ a + a @ dd.T)
                geo = al * geo + 1.0
                geo2 = np.outer(al, al) * geo2 + 1.0
                z1 = al[:, None, None] * al[None, None, :] * z1 + (traj[t] * al[None, :])[None]
                z2 = al[:, None, None] * al[None, None, :] * z2 + (al[:, None] * traj[t])[:, :, None]
            sig = (op @ sig.ravel()).reshape(d, d) + force
            k_t = a @ k_t - eta * s / (n - 1)
        return sig, out

    op_n = np.linalg.matrix_power(op, n_b)

    def fixed(traj):
        y, _ = epoch(np.zeros((d, d)), traj)
        return np.linalg.solve(np.eye(d * d) - op_n, y.ravel()).reshape(d, d)

    _, traj0 = epoch(fixed(None), None)
    sigma = fixed(traj0)
    return 0.5 * float(np.sum(lam * np.diag(sigma)))


def pair_expansion_parameter(x, m: int, eta: float) -> float:
    """``eps = 2 m / (n eta lambda_min(H))``: the size of the terms :func:`floor_reshuffled` drops, relative to its
    pair corrections; the expansion holds for ``eps << 1`` (epochs of many relaxation times ``1/(eta lambda)``)."""
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be (n, d), got shape {x.shape}")
    n = x.shape[0]
    _check_eta_m(eta, m, n)
    return float(2 * m / (n * eta * np.linalg.eigvalsh(x.T @ x / n).min()))


def simulate_reshuffled(x, r, m: int, eta: float, runs: int, epochs: int, burn: int, seed: int = 0,
                        multiplicative: bool = True) -> np.ndarray:
    """Float64 reference: ``runs`` independent runs of reshuffled SGD on the error ``e = w - w*``,

        e <- e - (eta/m) sum_{i in B_t} x_i (x_i.e - r_i)      (multiplicative=True: SGD exactly)
        e <- e - eta (H e - (1/m) sum_{i in B_t} x_i r_i)        (multiplicative=False: additive noise only)

    over a fresh uniform random partition into ``n // m`` batches each epoch, from ``e = 0``; returns each run's
    mean epoch-end excess cost ``e^T H e / 2`` over epochs ``burn + 1 .. epochs`` (shape ``(runs,)``). No fnn:
    an independent implementation of what :func:`floor_reshuffled` describes.
    """
    x, r = _check_xr(x, r)
    n, d = x.shape
    _check_eta_m(eta, m, n)
    for name, val, lo in (("runs", runs, 2), ("epochs", epochs, 1), ("burn", burn, 0)):
        if not (isinstance(val, (int, np.integer)) and val >= lo):
            raise ValueError(f"{name} must be an integer >= {lo}, got {val!r}")
    if burn >= epochs:
        raise ValueError(f"burn must be < epochs = {epochs}, got {burn}")
    n_b = n // m
    h = x.T @ x / n
    rng = np.random.default_rng(seed)
    e = np.zeros((runs, d))
    acc = np.zeros(runs)
    for ep in range(epochs):
        idx = np.argsort(rng.random((runs, n)), axis=1)[:, : n_b * m].reshape(runs, n_b, m)
        for t in range(n_b):
            xi, ri = x[idx[:, t]], r[idx[:, t]]
            if multiplicative:
                g = np.einsum("rmd,rm->rd", xi, np.einsum("rmd,rd->rm", xi, e) - ri) / m
            else:
                g = e @ h - np.einsum("rmd,rm->rd", xi, ri) / m
            e = e - eta * g
        if ep >= burn:
            acc += 0.5 * np.einsum("rd,de,re->r", e, h, e)
    return acc / (epochs - burn)


def floor_notes(x, r, m: int, eta: float) -> float:
    """The notes-style formula ``sum_i eta sigma^2 lambda_i / (2 m (2 - eta lambda_i))``, ``sigma^2 = mean r^2``."""
    x, r = _check_xr(x, r)
    n, _ = x.shape
    _check_eta_m(eta, m, n)
    lam = np.linalg.eigvalsh(x.T @ x / n)
    return float(np.sum(eta * np.mean(r**2) * lam / (2 * m * (2 - eta * lam))))
