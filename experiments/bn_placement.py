"""Batch norm: the role of delta at small batches, and pre- vs post-activation placement.

Notes, "Batch normalization": per unit ``i``, over the ``K`` examples of the
mini-batch, ``mu_i = (1/K) sum_n a_ni``, ``sigma_i^2 = (1/K) sum_n (a_ni - mu_i)^2``,
``a_hat_ni = (a_ni - mu_i) / sqrt(sigma_i^2 + delta)``, where "delta avoids
numerical issues when sigma_i^2 is small (eg when using small batches)", and
"one can normalize the pre or the post activations (both work well in
practice)". ``fnn`` normalizes the pre-activations (``fnn.nn.MLP(norm="batch")``:
``z = sigma(gamma a_hat + beta)``); the post-activation network
(``z = gamma BN(sigma(W z + b)) + beta``) is built here from the same primitive,
:func:`fnn.norm.batch_norm_forward`, as a pure function over the same
parameter pytrees; a check verifies that this experiment's own pre-activation
forward pass and gradient are fnn's.

**(A) delta at small batches.** Derivation. For ``K = 2`` write
``a_1 = mu + h``, ``a_2 = mu - h``: ``sigma^2 = h^2`` and

    a_hat_1 = -a_hat_2 = f(h) = h / sqrt(h^2 + delta)                       (1)

i.e. ``+-sqrt(s^2/(s^2 + delta))``: as ``delta -> 0`` the normalized values are
``+-1``, the sign of ``a_1 - a_2`` and nothing else. The Jacobian of
``a -> a_hat`` over the batch is ``J = g (I - 11^T/K - a_hat a_hat^T/K)`` with the
gain ``g = 1/sqrt(sigma^2 + delta)``. Its eigenvalues: ``0`` on ``1``;
``g delta/(sigma^2 + delta)`` on ``a_hat`` (since ``|a_hat|^2 = K sigma^2/(sigma^2 + delta)``);
``g`` on the ``K - 2`` directions orthogonal to both. So its spectral norm is

    ||J|| = delta / (sigma^2 + delta)^(3/2)   (K = 2: only the a_hat direction exists)
    ||J|| = 1 / sqrt(sigma^2 + delta)          (K >= 3)                     (2)

both bounded by ``1/sqrt(delta)``, reached as ``sigma^2 -> 0``. For ``K = 2`` the
gradient reaching the weights below a batch-norm layer is multiplied by
``f'(h) = delta/(h^2 + delta)^(3/2)``: for the typical pair (``h^2 >> delta``)
it is ``~ delta/|h|^3``, essentially zero at the default ``delta = 1e-5``; it
is carried only by near-ties ``|h| <~ sqrt(delta)``, where it is
``~ 1/sqrt(delta)``. With ``delta`` comparable to the pre-activations' variance
``v`` the output carries the size of ``h`` and the gradient is ``O(1/sqrt(delta))``
for every pair.

* check (1): ``fnn.norm.batch_norm_forward`` on random pairs, float64;
* check (2): the spectral norm of ``jax.jacobian`` of the normalization, for
  ``K = 2`` and ``K = 8``, over ``sigma^2/delta`` from ``1e-4`` to ``1e4``, and the
  maximum against ``1/sqrt(delta)``;
* prediction (training): a 784-100-100-10 sigmoid network with pre-activation
  batch norm (Xavier init) trained with mini-batch SGD at ``K = 2`` learns
  better with ``delta = 1`` (of the order of the pre-activation variance,
  ``v ~ 1/3`` for Xavier on standardized inputs) than
  with ``delta = 1e-5``: held-out accuracy (inference mode), paired over seeds,
  each ``delta`` at its best rate of a grid (chosen on the first seed's final
  training cost). ``K = 8`` with both ``delta`` is run as a reference (data,
  no verdict: (2) predicts no special role of ``delta = 1e-5`` there, since
  ``sigma^2`` is rarely below ``delta``, but no direction for ``delta = 1``).

**(B) pre- vs post-activation.** Ioffe & Szegedy (2015, sections 3.2 and 3.3)
normalize ``x = W u + b`` *before* the nonlinearity, arguing that for a
saturating nonlinearity this keeps its inputs out of the saturated regime
whatever the scale of ``W``. Derivation at initialization (``gamma = 1``,
``beta = 0``): pre-activation BN gives every sigmoid the input ``a_hat`` with mean
0 and variance ``sigma^2/(sigma^2 + delta) ~ 1`` over the batch, so (for a
Gaussian ``a``) the mean sigmoid-derivative factor of BP2 is
``E[sigma'(u)], u ~ N(0, 1)`` = 0.2066 in every layer, for any init.
Post-activation BN leaves the sigmoid's input ``a = W z + b`` free: for
``W_jk, b_j`` i.i.d. ``N(0, s_w^2)``, ``N(0, s_b^2)``, conditionally on the
example, ``a_j ~ N(0, s_w^2 |z_n|^2 + s_b^2)`` over the units. Layer 1 sees
the standardized input (``|x_n|^2`` from the data); layer ``l >= 2`` sees the
previous layer's BN output with ``(1/K) sum_n |z_n|^2 = M sigma^2/(sigma^2 + delta) ~ M``,
so (mean field, ``|z_n|^2`` replaced by its batch mean) ``v_l = s_w^2 M + s_b^2``.
With the notes' ``N(0, eps^2)`` init at ``eps = 1`` (``s_w = s_b = 1``),
``v_l = M + 1 = 101`` and ``E[sigma'] ~ 0.04``: five times smaller than
pre-activation BN's, per layer. With Xavier (``U[-1/sqrt(M), 1/sqrt(M)]``,
``s_w^2 = 1/(3M)``, ``b = 0``), ``v_l = 1/3`` and post-activation BN saturates
*less* than pre-activation BN (``E[sigma'] ~ 0.232``).

* init (prediction for post-activation, check for pre-activation, where the
  normalization forces it): the mean ``sigma'`` of the sigmoid inputs per hidden layer
  (784-100-100-100-10, a batch of 500 Fashion-MNIST examples, training mode),
  for both placements and both inits, within 10% of the formula (the formula
  assumes Gaussian pre-activations and, for post, ``|z_n|^2`` equal to its
  batch mean; ``E[sigma'(u)] ~ 1/4 - E[u^2]/16 + E[u^4]/96`` shows an excess
  kurtosis of 1 shifts it by ~0.5%); the fraction of saturated units
  (``sigma' < 0.01``, i.e. ``|a| > 4.59``) is reported with its formula
  ``P(|N(0, v)| > 4.59)``;
* prediction (training, Ioffe & Szegedy's direction): with the ``N(0, 1)``
  init, pre-activation BN reaches a lower training cost than post-activation
  BN after the same SGD budget (each at its best rate of a grid), paired over
  seeds (``cost_post - cost_pre``, 95% t-interval above 0). The
  same comparison with Xavier init is recorded as data (the notes' "both work
  well in practice"; the init factors above predict no direction).

How it decides: every claim is registered in ``experiments/claims/bn_placement.py`` with its rule; the
identities are checks on exact numbers; the training comparisons take the t-interval of paired per-seed
differences (the same seeds for both arms), one-sided at 0; the init factors the largest relative error over
the layers, with a bootstrap interval over seeds, at most 10%. The pre-activation init factors are checks
(the normalization forces them), the post-activation ones predictions. The Xavier training comparison and
``K = 8`` are recorded as data.
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.ticker import MaxNLocator

from experiments._common import bootstrap_interval, decide, figure, save, seeds, t_interval
from fnn import activations, backprop, data, initializers, nn, norm, optim

SIGMOID = activations.get("sigmoid")
SATURATED = 0.01  # sigma'(a) below this counts as saturated: |a| > 4.59


# --------------------------------------------------------------------------------------------
# formulas


def pair_normalized(h: float, delta: float) -> float:
    """``a_hat_1 = h / sqrt(h^2 + delta)`` for a batch of two ``(mu + h, mu - h)`` (eq. (1) of the module docstring)."""
    delta = norm.check_eps(delta, "delta")
    return float(h) / math.sqrt(float(h) ** 2 + delta)


def jacobian_gain(var: float, delta: float, k: int) -> float:
    """Spectral norm of ``d a_hat / d a`` over a batch of ``k`` examples with batch variance ``var`` (eq. (2)).

    ``delta/(var + delta)^(3/2)`` for ``k = 2``, ``1/sqrt(var + delta)`` for ``k >= 3``; at most ``1/sqrt(delta)``.
    """
    delta = norm.check_eps(delta, "delta")
    if not (isinstance(var, (int, float)) and var >= 0):
        raise ValueError(f"var must be a number >= 0, got {var!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an integer >= 2 (batch norm needs two examples), got {k!r}")
    return delta / (var + delta) ** 1.5 if k == 2 else 1.0 / math.sqrt(var + delta)


def mean_sigmoid_deriv(v: float | np.ndarray, mean: float = 0.0, n: int = 8001) -> float:
    """``E[sigma'(u)]`` for ``u ~ N(mean, v)``; an array ``v`` averages over its entries.

    ``int sigma'(t) phi((t - mean)/sqrt(v))/sqrt(v) dt`` on a grid of ``n`` points over ``|t - mean| <= 40`` in the
    sigmoid's own units (``sigma'`` is below ``e^-40`` beyond), so that a wide Gaussian (``v ~ 10^3``, where a
    Gauss-Hermite rule's nodes would step over ``sigma'``) and a narrow one are both resolved.
    """
    v = np.atleast_1d(np.asarray(v, np.float64))
    if np.any(v < 0) or not np.all(np.isfinite(v)):
        raise ValueError(f"v (a variance) must be finite and >= 0, got min {v.min()!r}")
    t = np.linspace(-40.0, 40.0, n)
    sd = 0.25 / np.cosh(t / 2) ** 2  # sigma'(t) without overflow
    out = []
    for vi in v:
        if vi == 0:
            out.append(0.25 / math.cosh(mean / 2) ** 2)
            continue
        s = math.sqrt(vi)
        # substitute t = mean + s u where the Gaussian is narrower than sigma', else integrate in t
        if s < 1:
            u = np.linspace(-12, 12, n)
            z = mean + s * u
            out.append(float(np.trapezoid(0.25 / np.cosh(z / 2) ** 2 * np.exp(-u**2 / 2), u) / math.sqrt(2 * math.pi)))
        else:
            dens = np.exp(-((t - mean) / s) ** 2 / 2) / (s * math.sqrt(2 * math.pi))
            out.append(float(np.trapezoid(sd * dens, t)))
    return float(np.mean(out))


def saturated_fraction(v: float | np.ndarray, threshold: float = SATURATED) -> float:
    """``P(sigma'(u) < threshold)`` for ``u ~ N(0, v)``: ``2 (1 - Phi(t/sqrt(v)))`` with ``sigma'(t) = threshold``."""
    if not 0 < threshold < 0.25:
        raise ValueError(f"threshold must be in (0, 1/4), got {threshold!r}")
    v = np.atleast_1d(np.asarray(v, np.float64))
    t = 2 * math.acosh(1 / (2 * math.sqrt(threshold)))  # sigma'(t) = 1/(4 cosh^2(t/2)) = threshold
    return float(np.mean([math.erfc(t / math.sqrt(2 * vi)) if vi > 0 else 0.0 for vi in v]))


# --------------------------------------------------------------------------------------------
# networks: pre- and post-activation batch norm over fnn's parameter pytrees


def _nets(sizes, init: str):
    """``(pre, plain)``: fnn's pre-activation BN network and the plain network whose W, b the post variant uses."""
    if init not in ("normal", "xavier"):
        raise ValueError(f"init must be 'normal' (N(0, 1) weights and biases) or 'xavier', got {init!r}")
    kw = ({"w_init": _normal1(), "b_init": _normal1()} if init == "normal" else {"w_init": "xavier", "b_init": "zeros"})
    pre = nn.MLP(sizes, hidden="sigmoid", output="softmax", norm="batch", **kw)
    plain = nn.MLP(sizes, hidden="sigmoid", output="softmax", **kw)
    return pre, plain


def _normal1():
    """The notes' ``N(0, eps^2)`` initializer with ``eps = 1`` (notes, "Symmetry breaking")."""
    return initializers.normal(1.0)


def init_params(sizes, init: str, placement: str, key) -> tuple:
    """Parameters and batch-norm state of the ``placement`` ("pre" or "post") network.

    The same ``key`` gives both placements the same ``W`` (fnn's per-layer keys); "post" hidden layers
    keep their bias ``b`` (it shifts the sigmoid's input) and get ``gamma = 1, beta = 0`` after the sigmoid.
    """
    if placement not in ("pre", "post"):
        raise ValueError(f"placement must be 'pre' or 'post', got {placement!r}")
    pre, plain = _nets(sizes, init)
    if placement == "pre":
        return pre.init(key)
    params = plain.init(key)
    params = tuple(dict(p, gamma=jnp.ones_like(p["b"]), beta=jnp.zeros_like(p["b"])) if l < len(params) - 1 else p
                   for l, p in enumerate(params))
    return params, pre.init_state()


def forward(params, state, x, placement: str, train: bool, delta: float):
    """Logits, new state, and the sigmoid inputs of each hidden layer.

    pre:  ``z = sigma(gamma BN(W z) + beta)`` (fnn's ``norm="batch"``);
    post: ``z = gamma BN(sigma(W z + b)) + beta``. Both with ``fnn.norm.batch_norm_forward``.
    """
    z, new_state, inputs = x, [], []
    for l, layer in enumerate(params[:-1]):
        a = z @ layer["W"].T
        if placement == "pre":
            r = norm.batch_norm_forward(a, layer["gamma"], layer["beta"], state[l], train=train, eps=delta)
            inputs.append(r.out)
            z = SIGMOID(r.out)
        else:
            a = a + layer["b"][None, :]
            inputs.append(a)
            r = norm.batch_norm_forward(SIGMOID(a), layer["gamma"], layer["beta"], state[l], train=train, eps=delta)
            z = r.out
        new_state.append(r.state)
    out = z @ params[-1]["W"].T + params[-1]["b"][None, :]
    return out, tuple(new_state), inputs


def loss(params, state, x, y, placement: str, delta: float, train: bool = True):
    """Mean log-likelihood cost ``-(1/K) sum_n ln softmax(a^L)_{y_n}`` and the new state."""
    logits, new_state, _ = forward(params, state, x, placement, train, delta)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1)), new_state


def _trainer(placement: str, delta: float, batch: int, epochs: int):
    """Jitted, vmapped SGD over a population: ``run(params, state, rates, keys, x, y, xh, yh)``.

    Member ``i`` trains with rate ``rates[i]`` and shuffles with ``keys[i]``; returns the final
    (params, state), the per-epoch mean mini-batch cost (P, epochs), and the held-out accuracy in
    inference mode after the last epoch (P,).
    """
    opt = optim.sgd(1.0)

    def member(params, state, rate, key, x, y, xh, yh):
        ostate = optim.set_hyperparams(opt.init(params), rate=rate)
        n = x.shape[0]
        nb = n // batch

        def epoch(carry, k):
            def step(c, idx):
                p, s, o = c
                (cost, s), g = jax.value_and_grad(loss, has_aux=True)(p, s, x[idx], y[idx], placement, delta)
                u, o = opt.update(g, o, p)
                return (optim.apply_updates(p, u), s, o), cost

            perm = jax.random.permutation(k, n)[: nb * batch].reshape(nb, batch)
            carry, costs = jax.lax.scan(step, carry, perm)
            return carry, jnp.mean(costs)

        (params, state, _), costs = jax.lax.scan(epoch, (params, state, ostate), jax.random.split(key, epochs))
        logits, _, _ = forward(params, state, xh, placement, False, delta)
        acc = jnp.mean(jnp.argmax(logits, axis=1) == yh)
        return params, state, costs, acc

    return jax.jit(jax.vmap(member, in_axes=(0, 0, 0, 0, None, None, None, None)))


def _stack(trees):
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *trees)


def _population(sizes, init, placement, keys):
    ps = [init_params(sizes, init, placement, k) for k in keys]
    return _stack([p for p, _ in ps]), _stack([s for _, s in ps])


def _fit(sizes, init, placement, delta, batch, epochs, grid, seeds, key, x, y, xh, yh):
    """Best rate of ``grid`` on the first seed (lowest final-epoch cost, diverged = inf), then every seed at it."""
    run = _trainer(placement, delta, batch, epochs)
    keys = [jax.random.fold_in(key, s) for s in seeds]
    p, s = _population(sizes, init, placement, [keys[0]] * len(grid))
    _, _, c, _ = run(p, s, jnp.asarray(grid, jnp.float32), jnp.stack([keys[0]] * len(grid)), x, y, xh, yh)
    final = np.asarray(c)[:, -1]
    final = np.where(np.isfinite(final), final, np.inf)
    best = float(grid[int(np.argmin(final))])
    p, s = _population(sizes, init, placement, keys)
    _, _, c, acc = run(p, s, jnp.full((len(seeds),), best, jnp.float32), jnp.stack(keys), x, y, xh, yh)
    return {"rate": best, "final_by_rate": {str(r): float(f) for r, f in zip(grid, final)},
            "cost": np.asarray(c), "final_cost": np.asarray(c)[:, -1], "heldout_accuracy": np.asarray(acc)}


# --------------------------------------------------------------------------------------------
# (A) delta


def _part_a_identities(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    deltas = (1e-8, 1e-5, 1e-2, 1.0)
    one = {"mean": jnp.zeros(1, jnp.float64), "var": jnp.ones(1, jnp.float64)}
    g1, b0 = jnp.ones(1, jnp.float64), jnp.zeros(1, jnp.float64)
    err = 0.0
    for d in deltas:
        a = rng.normal(size=(2000, 2)) * np.exp(rng.uniform(-6, 3, size=(2000, 1)))
        f = jax.vmap(lambda p: norm.batch_norm_forward(p[:, None], g1, b0, one, train=True, eps=d).out[:, 0])
        out = np.asarray(f(jnp.asarray(a, jnp.float64)))
        s2 = ((a[:, 0] - a[:, 1]) / 2) ** 2
        pred = np.sign(a[:, 0] - a[:, 1]) * np.sqrt(s2 / (s2 + d))
        err = max(err, float(np.max(np.abs(out[:, 0] - pred))), float(np.max(np.abs(out[:, 1] + pred))))
    # Jacobian gain over sigma^2/delta, K = 2 and K = 8
    delta = 1e-2
    ratios = np.logspace(-4, 4, 33)
    gains = {}
    for k in (2, 8):
        base = rng.normal(size=k)
        base = (base - base.mean()) / base.std()  # batch variance exactly 1
        gm, bt = jnp.ones(k, jnp.float64), jnp.zeros(k, jnp.float64)
        st = {"mean": jnp.zeros(k, jnp.float64), "var": jnp.ones(k, jnp.float64)}

        def normalized(col, k=k, gm=gm, bt=bt, st=st):
            # one unit, k examples: put the batch on axis 0 (k units' worth of state is unused beyond unit 0)
            return norm.batch_norm_forward(col[:, None], gm[:1], bt[:1], {"mean": st["mean"][:1], "var": st["var"][:1]},
                                           train=True, eps=delta).out[:, 0]

        cols = jnp.asarray(np.sqrt(ratios * delta)[:, None] * base[None, :], jnp.float64)
        Js = np.asarray(jax.jit(jax.vmap(jax.jacobian(normalized)))(cols))
        meas = [float(np.linalg.norm(J, 2)) for J in Js]
        gains[str(k)] = {"measured": meas, "theory": [jacobian_gain(float(r * delta), delta, k) for r in ratios]}
    rel = max(float(np.max(np.abs(np.array(g["measured"]) / np.array(g["theory"]) - 1))) for g in gains.values())
    gmax = max(max(g["measured"]) for g in gains.values())
    return {"deltas": deltas, "pair_max_abs_error": err, "gain_delta": delta, "gain_ratios": ratios,
            "gains": gains, "gain_max_rel_error": rel, "gain_max": gmax, "gain_bound": 1 / math.sqrt(delta)}


# --------------------------------------------------------------------------------------------
# (B) sigmoid inputs at initialization


def _init_saturation(x_std: np.ndarray, width: int, depth: int, seeds, key) -> dict:
    sizes = (784,) + (width,) * depth + (10,)
    xb = jnp.asarray(x_std, jnp.float32)
    sq = np.sum(np.asarray(x_std, np.float64) ** 2, axis=1)  # |x_n|^2
    out = {}
    for init, (sw2, sb2) in {"normal": (1.0, 1.0), "xavier": (None, 0.0)}.items():
        for placement in ("pre", "post"):
            def stats(p, st, placement=placement):
                inputs = forward(p, st, xb, placement, True, 1e-5)[2]
                return (jnp.stack([jnp.mean(SIGMOID.deriv(u)) for u in inputs]),
                        jnp.stack([jnp.mean(SIGMOID.deriv(u) < SATURATED) for u in inputs]))

            p, st = _population(sizes, init, placement, [jax.random.fold_in(key, s) for s in seeds])
            d, sat = (np.asarray(v, np.float64) for v in jax.jit(jax.vmap(stats))(p, st))
            if placement == "pre":
                v = [np.array([1.0])] * depth
            else:
                v1 = (sq / 784 / 3 if init == "xavier" else sq) + sb2  # xavier: U[-1/sqrt(784), .]: var 1/(3*784)
                vl = width / (3 * width) + sb2 if init == "xavier" else width * sw2 + sb2
                v = [v1] + [np.array([vl])] * (depth - 1)
            out[f"{init}/{placement}"] = {
                "measured": np.array(d), "saturated": np.array(sat),
                "predicted": [mean_sigmoid_deriv(vi) for vi in v],
                "predicted_saturated": [saturated_fraction(vi) for vi in v],
                "variance": [float(np.mean(vi)) for vi in v],
            }
    return out


# --------------------------------------------------------------------------------------------


def _load(n_train: int, n_held: int):
    x, y = data.load("fashion_mnist", "train", validation=10_000, download=False, progress=False)
    xh, yh = data.load("fashion_mnist", "validation", validation=10_000, download=False, progress=False)
    x, y, xh, yh = x[:n_train], y[:n_train], xh[:n_held], yh[:n_held]
    stats = norm.standardize.fit(x)
    x, xh = norm.standardize.apply(stats, x), norm.standardize.apply(stats, xh)
    return (jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32), jnp.asarray(xh, jnp.float32),
            jnp.asarray(yh, jnp.int32))


def _check_against_fnn(key) -> float:
    """Max relative difference of this experiment's pre-activation cost and gradient vs fnn's (float64)."""
    sizes = (20, 16, 12, 10)
    net = nn.MLP(sizes, hidden="sigmoid", output="softmax", norm="batch")
    params, state = net.init(key, jnp.float64)
    kx, ky = jax.random.split(jax.random.fold_in(key, 1))
    xb, yb = jax.random.normal(kx, (32, 20), jnp.float64), jax.random.randint(ky, (32,), 0, 10)
    c_ref, g_ref, s_ref = backprop.value_grad_and_state(net, "log_likelihood", params, state, xb, yb)
    (c, s), g = jax.value_and_grad(loss, has_aux=True)(params, state, xb, yb, "pre", net.norm_eps)
    fl = lambda t: np.concatenate([np.ravel(np.asarray(a)) for a in jax.tree_util.tree_leaves(t)])  # noqa: E731
    rel_g = np.linalg.norm(fl(g) - fl(g_ref)) / np.linalg.norm(fl(g_ref))
    rel_s = np.max(np.abs(fl(s) - fl(s_ref)))
    logits, _, _ = forward(params, state, xb, "pre", False, net.norm_eps)
    ref = net.forward(params, xb, state, train=False).a[-1]
    return float(max(abs(float(c) - float(c_ref)) / abs(float(c_ref)), rel_g, rel_s,
                     float(jnp.max(jnp.abs(logits - ref)))))


def measure(quick: bool, seed: int) -> dict:
    """The identities, the check against fnn, the delta and placement runs, the init factors."""
    t0 = time.perf_counter()
    n_seeds = seeds("bn_placement/delta-k2", quick)
    if quick:
        n_train, n_held, grid, ep_a, ep_b, n_sat = 400, 500, (0.03, 0.3, 3.0), 1, 2, 200
    else:
        n_train, n_held, grid, ep_a, ep_b, n_sat = 4000, 5000, (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0), 3, 8, 500
    run_seeds = [seed + i for i in range(n_seeds)]
    key = jax.random.key(seed)
    x, y, xh, yh = _load(n_train, n_held)
    with jax.enable_x64(True):
        a = _part_a_identities(seed)
        fnn_diff = _check_against_fnn(jax.random.fold_in(key, 99))
    sizes_a = (784, 100, 100, 10)  # (A) training at K = 2 and K = 8 with delta small / large
    train_a = {f"K={k}, delta={d:g}": _fit(sizes_a, "xavier", "pre", d, k, ep_a, grid, run_seeds,
                                           jax.random.fold_in(key, 1), x, y, xh, yh)
               for k in (2, 8) for d in (1e-5, 1.0)}
    sat = _init_saturation(np.asarray(xh[:n_sat]), 100, 3, run_seeds, jax.random.fold_in(key, 2))  # (B)
    sizes_b = (784, 100, 100, 100, 10)
    train_b = {f"{init}/{placement}": _fit(sizes_b, init, placement, 1e-5, 32, ep_b, grid, run_seeds,
                                           jax.random.fold_in(key, 3), x, y, xh, yh)
               for init in ("normal", "xavier") for placement in ("pre", "post")}
    return {"setup": {"n_train": n_train, "n_heldout": n_held, "seeds": run_seeds, "sgd_rate_grid": list(grid),
                      "part_a": {"network": "784-100-100-10 sigmoid, pre-activation BN, Xavier", "epochs": ep_a,
                                 "batches": [2, 8], "deltas": [1e-5, 1.0]},
                      "part_b": {"network": "784-100-100-100-10 sigmoid", "epochs": ep_b, "batch": 32,
                                 "delta": 1e-5, "saturation_batch": n_sat},
                      "data": "Fashion-MNIST train[:n_train] / validation[:n_heldout], standardized with train "
                              "statistics"},
            "identities": a, "fnn_check_max_difference": fnn_diff, "delta_training": train_a,
            "init_sigmoid_inputs": sat, "placement_training": train_b, "runtime_s": time.perf_counter() - t0}


def init_factor_error(measured: np.ndarray, predicted) -> float:
    """Largest over layers of ``|mean over seeds / predicted - 1|``; ``measured`` is (seeds, layers)."""
    return float(np.max(np.abs(np.asarray(measured).mean(axis=0) / np.asarray(predicted) - 1)))


def decide_all(out: dict, quick: bool) -> list[dict]:
    """Every registered claim decided by its registered rule."""
    a = out["identities"]
    vs = [decide("bn_placement/pair-identity", a["pair_max_abs_error"], quick=quick),
          decide("bn_placement/jacobian-gain", a["gain_max_rel_error"], quick=quick),
          decide("bn_placement/jacobian-gain-bound", abs(a["gain_max"] / a["gain_bound"] - 1), quick=quick,
                 detail={"max_gain": a["gain_max"], "bound": a["gain_bound"]}),
          decide("bn_placement/matches-fnn", out["fnn_check_max_difference"], quick=quick)]
    small, large = out["delta_training"]["K=2, delta=1e-05"], out["delta_training"]["K=2, delta=1"]
    diff = np.asarray(large["heldout_accuracy"]) - np.asarray(small["heldout_accuracy"])
    m, lo, hi = t_interval(diff)
    vs.append(decide("bn_placement/delta-k2", m, quick=quick, interval=(lo, hi), n=diff.size,
                     detail={"rates": [small["rate"], large["rate"]], "per_seed": diff}))
    for init in ("normal", "xavier"):
        for placement in ("pre", "post"):
            r = out["init_sigmoid_inputs"][f"{init}/{placement}"]
            meas = np.asarray(r["measured"], np.float64)  # (seeds, layers)
            idx = np.arange(meas.shape[0])
            value, lo, hi = bootstrap_interval(idx, lambda i, meas=meas, r=r: init_factor_error(meas[i.astype(int)],
                                                                                                r["predicted"]))
            vs.append(decide(f"bn_placement/sigma-deriv-{init}-{placement}", value, quick=quick, interval=(lo, hi),
                             n=meas.shape[0], detail={"measured_per_layer": meas.mean(axis=0),
                                                      "predicted_per_layer": r["predicted"],
                                                      "variance_per_layer": r["variance"]}))
    pre, post = out["placement_training"]["normal/pre"], out["placement_training"]["normal/post"]
    diff_b = np.asarray(post["final_cost"]) - np.asarray(pre["final_cost"])
    m, lo, hi = t_interval(diff_b)
    vs.append(decide("bn_placement/placement-normal", m, quick=quick, interval=(lo, hi), n=diff_b.size,
                     detail={"rates": {"pre": pre["rate"], "post": post["rate"]}, "per_seed": diff_b}))
    return vs


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    out = measure(quick, seed)
    return save("bn_placement", seed=seed, quick=quick, verdicts=decide_all(out, quick), data=out,
                fig=_figure(out), out_dir=out_dir,
                title="Batch norm: delta at small batches, pre- vs post-activation (notes, Batch normalization)")


def _band(ax, curves, color, label, ls="-"):
    c = np.asarray(curves, np.float64)
    st = np.array([t_interval(c[:, j]) for j in range(c.shape[1])])
    e = np.arange(1, c.shape[1] + 1)
    ax.plot(e, st[:, 0], color=color, ls=ls, marker="o", ms=3, label=label)
    ax.fill_between(e, st[:, 1], st[:, 2], color=color, alpha=0.2, lw=0)


def _placement_panels(d, e, f, out: dict) -> None:
    """Panels (d)-(f): the init factors against their formula, and the placement training curves."""
    sat = out["init_sigmoid_inputs"]
    style = {"normal/pre": ("tab:blue", "-"), "normal/post": ("tab:red", "-"),
             "xavier/pre": ("tab:blue", "--"), "xavier/post": ("tab:red", "--")}
    for name, res in sat.items():
        col, ls = style[name]
        meas = np.asarray(res["measured"])
        layers = np.arange(1, meas.shape[1] + 1)
        st = np.array([t_interval(meas[:, l]) for l in range(meas.shape[1])])
        lab = name.replace("normal", "N(0,1)").replace("xavier", "Xavier").replace("/", ", ") + "-act."
        d.errorbar(layers + (0.06 if "post" in name else -0.06), st[:, 0], yerr=[st[:, 0] - st[:, 1], st[:, 2] - st[:, 0]],
                   color=col, ls=ls, marker="o", ms=4, capsize=3, label=f"measured {lab}")
        d.plot(layers, res["predicted"], color=col, ls="none", marker="x", ms=8, mew=2)
    d.plot([], [], "kx", ms=8, mew=2, label="theory E[σ'(u)], u ~ N(0, v_l)")
    d.set(xlabel="hidden layer l", ylabel="mean σ'(sigmoid input) at init", xticks=[1, 2, 3], ylim=(0, 0.27),
          title="(d) sigmoid-derivative factor at initialization")
    d.legend(fontsize=8, loc="center right", title="pre-act.: both inits coincide", title_fontsize=8)
    for ax, init in ((e, "normal"), (f, "xavier")):
        for placement, col in (("pre", "tab:blue"), ("post", "tab:red")):
            res = out["placement_training"][f"{init}/{placement}"]
            _band(ax, res["cost"], col, f"{placement}-activation BN (η = {res['rate']:g})")
        ax.set_yscale("log")
        ax.set(xlabel="epoch", ylabel="mean mini-batch training cost",
               title=f"({'e' if init == 'normal' else 'f'}) init {'N(0, 1)' if init == 'normal' else 'Xavier'}: "
                     f"mean, 95% t-band, {len(out['setup']['seeds'])} seeds")
        ax.legend(fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _figure(out: dict):
    fig, axes = figure(3, 2, width=5.0, height=3.9)
    (a, b, c), (d, e, f) = axes
    idn = out["identities"]
    r = np.asarray(idn["gain_ratios"])
    dl = idn["gain_delta"]
    a.semilogx(r, np.sqrt(r / (r + 1)), "k-", label="theory: sqrt(s²/(s²+δ))")
    hs = np.sqrt(r * dl)
    meas = [float(norm.batch_norm_forward(jnp.array([[h], [-h]]), jnp.ones(1), jnp.zeros(1),
                                          norm.batch_norm_state(1), train=True, eps=dl).out[0, 0]) for h in hs]
    a.semilogx(r, meas, "o", color="tab:blue", mfc="none", label="measured: fnn batch norm")
    a.set(xlabel="batch variance / δ  (s²/δ)", ylabel="|â| for a batch of two",
          title="(a) K = 2: â = ±sqrt(s²/(s²+δ))")
    a.legend(fontsize=8)
    for k, col in (("2", "tab:red"), ("8", "tab:blue")):
        g = idn["gains"][k]
        b.loglog(r, np.asarray(g["theory"]) * math.sqrt(dl), "-", color=col, label=f"theory K = {k}")
        b.loglog(r, np.asarray(g["measured"]) * math.sqrt(dl), "o", color=col, mfc="none", ms=4,
                 label=f"measured K = {k} (jax.jacobian)")
    b.axhline(1.0, color="k", ls=":", lw=1, label="bound 1/sqrt(δ)")
    b.set(xlabel="batch variance / δ  (s²/δ)", ylabel="||dâ/da|| · sqrt(δ)",
          title="(b) gain of batch norm's Jacobian")
    b.legend(fontsize=8)
    colors = {"K=2, delta=1e-05": "tab:red", "K=2, delta=1": "tab:orange", "K=8, delta=1e-05": "tab:blue",
              "K=8, delta=1": "tab:cyan"}
    names = list(out["delta_training"])
    for i, (name, res) in enumerate(out["delta_training"].items()):
        acc = np.asarray(res["heldout_accuracy"], np.float64)
        m, lo, hi = t_interval(acc)
        c.bar(i, m, color=colors[name], alpha=0.6)
        c.errorbar(i, m, yerr=[[m - lo], [hi - m]], color="k", capsize=4)
        c.plot(np.full(acc.size, i), acc, "k.", ms=4)
    c.set_xticks(range(len(names)), [n.replace(", ", "\n").replace("delta", "δ") + f"\nη={out['delta_training'][n]['rate']:g}"
                                     for n in names], fontsize=8)
    c.set(ylabel="held-out accuracy (inference mode)",
          title=f"(c) SGD, K = 2 and 8, epochs: {out['setup']['part_a']['epochs']}; mean, 95% t-interval, seeds")
    lo_ = min(float(np.min(r_["heldout_accuracy"])) for r_ in out["delta_training"].values())
    c.set_ylim(max(0.0, lo_ - 0.05), 1.0)
    _placement_panels(d, e, f, out)
    fig.tight_layout()
    return fig
