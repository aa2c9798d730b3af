"""Slow learning: quadratic cost stalls on a saturated sigmoid, cross-entropy does not.

Notes, "Slow learning", "Cross-entropy" and "Soft-Max and Log-Likelihood".

1. *One sigmoid neuron* (Nielsen's example): input ``x = 1``, target
   ``y = 0``, started saturated at ``w = b = 2`` (``a = 4``, output 0.98),
   trained by gradient descent (``eta = 0.15``). With the quadratic cost the
   output error is ``delta = (z - y) sigma'(a)``; with cross-entropy it is
   ``delta = z - y`` (the notes: ``dC/dw_j = (1/n) sum_x x_j (sigma(a) - y)``).
   Since ``a = w + b`` moves by ``da = -eta (x^2 + 1) delta = -2 eta delta``
   per epoch, the continuous-time limit predicts the number of epochs to bring
   the output from 0.98 down to 0.5,

       T = int_0^4 da / (2 eta delta(a)),

   with ``delta = z^2 (1 - z)`` (quadratic) or ``delta = z`` (cross-entropy):
   ~17 epochs for cross-entropy, ~230 (14 times more) for the quadratic cost.
   The very first gradients differ by exactly ``sigma'(4)``.

2. *Softmax + log-likelihood* on three Gaussian blobs (a ``2 -> 3`` softmax
   layer, full-batch GD), started saturated on the wrong answer (every example
   predicted class 0 with probability ~1): outputs sum to 1; the gradient is
   ``dC/db_j = z_j - y_j``, ``dC/dw_jk = z_k (z_j - y_j)`` (batch means); and
   learning does not stall, whereas the same softmax trained with the
   quadratic cost barely moves (its ``delta = J^T (z - y)`` carries the
   softmax Jacobian, ~0 when saturated).

How it decides (``experiments/claims/slow_learning.py``): the gradient
formulas and the softmax's sum are checks (relative errors below float32 or
float64 thresholds); the epochs to 0.5 are predictions, GD's count divided by
the ODE's within [0.9, 1.1]; the softmax's speed-up is a prediction, the
smallest ratio over 5 data sets (3 in quick mode) at least 10.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _host_random
from experiments._common import decide, figure, save, seeds
from fnn import backprop, nn, optim

NAME = "slow_learning"
ETA = 0.15
A0 = 4.0  # w = b = 2, x = 1
THIN = 5  # curves are stored in the JSON every THIN epochs (the figure has them all)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _delta(cost: str, a):
    """dC/da for target 0: quadratic z^2 (1 - z), cross-entropy z."""
    z = _sigmoid(a)
    return z * z * (1.0 - z) if cost == "quadratic" else z


def _ode(cost: str, epochs: int, substeps: int = 1000) -> np.ndarray:
    """``a(t)`` of ``da/dt = -2 eta delta(a)`` at integer epochs (RK4, ``substeps`` per epoch)."""
    h = 1.0 / substeps
    f = lambda a: -2.0 * ETA * _delta(cost, a)
    a, out = A0, [A0]
    for _ in range(epochs):
        for _ in range(substeps):
            k1 = f(a)
            k2 = f(a + 0.5 * h * k1)
            k3 = f(a + 0.5 * h * k2)
            k4 = f(a + h * k3)
            a = a + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(a)
    return np.array(out)


def _epochs_to(z: np.ndarray, level: float) -> float:
    """First epoch (linearly interpolated) at which ``z`` falls to ``level``; inf if never."""
    below = np.flatnonzero(z <= level)
    if below.size == 0:
        return float("inf")
    i = int(below[0])
    if i == 0:
        return 0.0
    return float(i - 1 + (z[i - 1] - level) / (z[i - 1] - z[i]))


def _train_neuron(cost: str, epochs: int):
    net = nn.MLP((1, 1), output="sigmoid")
    params = ({"W": jnp.full((1, 1), 2.0), "b": jnp.full((1,), 2.0)},)
    x, y = jnp.ones((1, 1)), jnp.zeros((1, 1))
    opt = optim.gd(ETA)

    def step(carry, _):
        p, s = carry
        c, g = backprop.value_and_grad(net, cost, p, x, y)
        u, s = opt.update(g, s, p)
        return (optim.apply_updates(p, u), s), (c, net.apply(p, x)[0, 0], g[0]["b"][0])

    run = jax.jit(lambda p: jax.lax.scan(step, (p, opt.init(p)), None, length=epochs + 1)[1])
    cost_t, z_t, gb_t = (np.asarray(v, float) for v in run(params))
    return cost_t, z_t, gb_t


def _blobs(rng: np.random.Generator, n: int) -> tuple[jax.Array, jax.Array]:
    """Three unit-variance Gaussian blobs in 2-D, centres 3 apart from the origin."""
    centres = np.array([[0.0, 3.0], [2.6, -1.5], [-2.6, -1.5]])
    y = rng.integers(0, 3, size=n)
    x = centres[y] + rng.normal(size=(n, 2))
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)


_SOFTMAX = nn.MLP((2, 3), output="softmax")


@functools.partial(jax.jit, static_argnames=("cost", "epochs", "eta"))
def _train_softmax(b0, x, y, *, eta: float, cost: str, epochs: int):
    """Full-batch GD on a ``2 -> 3`` softmax layer from ``W = 0, b = b0``; per-epoch records."""
    net = _SOFTMAX
    params = ({"W": jnp.zeros((3, 2)), "b": b0},)
    opt = optim.gd(eta)

    def step(carry, _):
        p, s = carry
        c, g = backprop.value_and_grad(net, cost, p, x, y)
        z = net.apply(p, x)
        ll = backprop.loss(net, "log_likelihood", p, x, y)
        acc = jnp.mean((jnp.argmax(z, axis=1) == y).astype(jnp.float32))
        sum_err = jnp.max(jnp.abs(jnp.sum(z, axis=1) - 1.0))
        u, s = opt.update(g, s, p)
        return (optim.apply_updates(p, u), s), (c, ll, acc, sum_err)

    return jax.lax.scan(step, (params, opt.init(params)), None, length=epochs + 1)[1]


def _saturated_neuron(quick: bool, epochs: int) -> tuple[list, dict, dict]:
    """One sigmoid neuron started saturated: quadratic vs cross-entropy, GD against the ODE."""
    verdicts, data = [], {}
    # 1. one saturated sigmoid neuron --------------------------------------------
    runs = {c: _train_neuron(c, epochs) for c in ("quadratic", "cross_entropy")}
    ode = {c: _ode(c, epochs, substeps=50 if quick else 500) for c in runs}
    sp4 = float(_sigmoid(A0) * (1.0 - _sigmoid(A0)))
    g_ratio = runs["quadratic"][2][0] / runs["cross_entropy"][2][0]
    verdicts.append(decide("slow_learning/first-gradient-ratio", abs(g_ratio - sp4) / sp4, quick=quick,
                           detail={"ratio": g_ratio, "sigma_prime_4": sp4}))
    t_meas, t_pred = {}, {}
    for c in runs:
        t_meas[c] = _epochs_to(runs[c][1], 0.5)
        t_pred[c] = _epochs_to(_sigmoid(ode[c]), 0.5)
        slug = "quadratic-epochs" if c == "quadratic" else "cross-entropy-epochs"
        verdicts.append(decide(f"slow_learning/{slug}", t_meas[c] / t_pred[c], quick=quick,
                               detail={"epochs": t_meas[c], "epochs_ode": t_pred[c]}))
    data["neuron"] = {
        "eta": ETA,
        "w0": 2.0,
        "b0": 2.0,
        "x": 1.0,
        "y": 0.0,
        "record_every_epochs": THIN,
        "cost": {c: runs[c][0][::THIN] for c in runs},
        "output": {c: runs[c][1][::THIN] for c in runs},
        "output_ode": {c: _sigmoid(ode[c])[::THIN] for c in runs},
        "epochs_to_half": t_meas,
        "epochs_to_half_predicted": t_pred,
        "slowdown_measured": t_meas["quadratic"] / t_meas["cross_entropy"],
        "slowdown_predicted": t_pred["quadratic"] / t_pred["cross_entropy"],
    }
    return verdicts, data, {"runs": runs, "ode": ode, "t_meas": t_meas}


def _cross_entropy_formula(rng: np.random.Generator, quick: bool) -> tuple[list, dict, dict]:
    """The notes' cross-entropy gradient (1/n) sum_x x_j (sigma(a) - y) against fnn's BP."""
    verdicts, data = [], {}
    # the notes' formula for the cross-entropy gradient, on a multi-input neuron
    with jax.enable_x64(True):
        neuron = nn.MLP((5, 1), output="sigmoid")
        p = _host_random.params(neuron, rng, jnp.float64)
        xs = rng.normal(size=(64, 5))
        ys = rng.uniform(size=(64, 1))
        g = jax.jit(lambda p: backprop.grad(neuron, "cross_entropy", p, jnp.asarray(xs), jnp.asarray(ys)))(p)
        g_w = np.asarray(g[0]["W"][0])
    a = xs @ np.asarray(p[0]["W"]).T + np.asarray(p[0]["b"])[None, :]
    formula = np.mean(xs * (1.0 / (1.0 + np.exp(-a)) - ys), axis=0)  # (1/n) sum_x x_j (sigma(a) - y)
    rel_ce = float(np.max(np.abs(g_w - formula)) / np.max(np.abs(formula)))
    verdicts.append(decide("slow_learning/cross-entropy-gradient", rel_ce, quick=quick))
    return verdicts, data, {}


def _speedups(rng, x, y, saturated, n_seeds: int, eta: float, epochs: int) -> np.ndarray:
    """Per data set (the first is ``x, y``; the others drawn from ``rng``): epochs to 90% accuracy, quadratic /
    log-likelihood; a lower bound ``epochs / LL epochs`` where the quadratic cost never gets there (censored)."""
    lowers = []
    for i in range(n_seeds):
        xs_i, ys_i = (x, y) if i == 0 else _blobs(rng, 300)
        tr = functools.partial(_train_softmax, x=xs_i, y=ys_i, eta=eta, epochs=epochs)
        t_ll = _epochs_to(1.0 - np.asarray(tr(saturated, cost="log_likelihood")[2], float), 0.1)
        t_q = _epochs_to(1.0 - np.asarray(tr(saturated, cost="quadratic")[2], float), 0.1)
        lowers.append(t_q / t_ll if np.isfinite(t_q) else (epochs / t_ll if np.isfinite(t_ll) else 0.0))
    return np.asarray(lowers)


def _saturated_softmax(rng: np.random.Generator, quick: bool) -> tuple[list, dict, dict]:
    """A 2 -> 3 softmax layer started saturated on the wrong class: log-likelihood vs quadratic."""
    verdicts, data = [], {}
    # 2. softmax + log-likelihood on three blobs -----------------------------------
    sm_epochs = 200 if quick else 500
    eta_sm = 0.5
    x, y = _blobs(rng, 300)
    saturated = jnp.asarray([12.0, 0.0, 0.0])  # every example: class 0 with probability ~ 1 - 2e-5
    train = functools.partial(_train_softmax, x=x, y=y, eta=eta_sm, epochs=sm_epochs)
    ll_run = tuple(np.asarray(v, float) for v in train(saturated, cost="log_likelihood"))
    quad_run = tuple(np.asarray(v, float) for v in train(saturated, cost="quadratic"))
    neutral_run = tuple(np.asarray(v, float) for v in train(jnp.zeros((3,)), cost="log_likelihood"))
    sum_err = float(max(ll_run[3].max(), quad_run[3].max()))
    verdicts.append(decide("slow_learning/softmax-sums-to-one", sum_err, quick=quick))
    # gradient formula for the softmax + log-likelihood layer at the saturated start
    p0 = ({"W": jnp.zeros((3, 2)), "b": saturated},)
    g0, z0 = jax.jit(
        lambda p: (backprop.grad(_SOFTMAX, "log_likelihood", p, x, y), _SOFTMAX.apply(p, x))
    )(p0)
    x_np, y_np, z0 = np.asarray(x, float), np.asarray(y), np.asarray(z0, float)
    err = z0 - np.eye(3)[y_np]
    f_b = err.mean(axis=0)  # dC/db_j = z_j - y_j
    f_w = err.T @ x_np / x_np.shape[0]  # dC/dw_jk = z_k^{L-1} (z_j - y_j)
    rel_sm = float(
        max(
            np.max(np.abs(np.asarray(g0[0]["b"]) - f_b)) / np.max(np.abs(f_b)),
            np.max(np.abs(np.asarray(g0[0]["W"]) - f_w)) / np.max(np.abs(f_w)),
        )
    )
    verdicts.append(decide("slow_learning/softmax-gradient", rel_sm, quick=quick))
    t90 = {
        name: _epochs_to(1.0 - r[2], 0.1)  # first epoch with accuracy >= 90%
        for name, r in (("log_likelihood", ll_run), ("quadratic", quad_run), ("log_likelihood_neutral", neutral_run))
    }
    n_seeds = seeds("slow_learning/softmax-no-stall", quick)
    lowers = _speedups(rng, x, y, saturated, n_seeds, eta_sm, sm_epochs)
    verdicts.append(decide("slow_learning/softmax-no-stall", float(lowers.min()), quick=quick, n=n_seeds,
                           detail={"per_data_set": lowers}))
    data["softmax"] = {
        "eta": eta_sm,
        "epochs": sm_epochs,
        "initial_bias_saturated": saturated,
        "ratio_quadratic_over_ll_lower_bound_per_seed": lowers,
        "epochs_to_90pct_accuracy": {k: (v if np.isfinite(v) else f">{sm_epochs}") for k, v in t90.items()},
        "record_every_epochs": THIN,
        "log_likelihood_cost": {
            "ll_saturated": ll_run[1][::THIN],
            "quadratic_saturated": quad_run[1][::THIN],
            "ll_neutral": neutral_run[1][::THIN],
        },
        "accuracy": {
            "ll_saturated": ll_run[2][::THIN],
            "quadratic_saturated": quad_run[2][::THIN],
            "ll_neutral": neutral_run[2][::THIN],
        },
        "max_sum_error": sum_err,
    }
    return verdicts, data, {"sm_epochs": sm_epochs, "ll_run": ll_run, "quad_run": quad_run,
                            "neutral_run": neutral_run}


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    """Quadratic vs cross-entropy from a saturated start; softmax + log-likelihood."""
    t_start = time.perf_counter()
    epochs = 300
    rng = np.random.default_rng(seed)
    verdicts, data, plot = [], {}, {"epochs": epochs}
    for section in (lambda: _saturated_neuron(quick, epochs), lambda: _cross_entropy_formula(rng, quick),
                    lambda: _saturated_softmax(rng, quick)):  # in this order: they share rng's stream
        v, d, p = section()
        verdicts += v
        data.update(d)
        plot.update(p)
    fig = _figure(plot)
    data["runtime_s"] = time.perf_counter() - t_start
    return save(
        NAME,
        seed=seed,
        quick=quick,
        verdicts=verdicts,
        data=data,
        fig=fig,
        out_dir=out_dir,
        title="Slow learning: saturated sigmoid with quadratic vs cross-entropy; softmax + log-likelihood",
    )


def _figure(plot: dict):
    """(a) costs and (b) outputs of the saturated neuron, (c) the saturated softmax's accuracy."""
    epochs, runs, ode, t_meas = plot["epochs"], plot["runs"], plot["ode"], plot["t_meas"]
    sm_epochs, ll_run, quad_run, neutral_run = (plot[k] for k in ("sm_epochs", "ll_run", "quad_run", "neutral_run"))
    fig, axes = figure(ncols=3, width=5.0, height=4.0)
    ep = np.arange(epochs + 1)
    ax = axes[0, 0]
    for c, col in (("quadratic", "C3"), ("cross_entropy", "C0")):
        ax.plot(ep, runs[c][0], col + "-", lw=2, label=f"{c.replace('_', '-')} cost")
    ax.set_xlabel("epoch (one GD step on the single example)")
    ax.set_ylabel("cost C (nats / squared output units)")
    ax.set_title(r"(a) saturated neuron: $w=b=2$, $x=1$, $y=0$, $\eta=0.15$", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.24))
    ax = axes[0, 1]
    for c, col in (("quadratic", "C3"), ("cross_entropy", "C0")):
        ax.plot(ep, runs[c][1], col + "-", lw=2, label=f"{c.replace('_', '-')}: GD")
        ax.plot(ep, _sigmoid(ode[c]), "k:", lw=1)
    ax.plot([], [], "k:", label="theory: continuous-time (ODE) prediction")
    ax.axhline(0.5, color="gray", lw=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("neuron output z (target 0)")
    ax.set_title(
        f"(b) output: 0.5 reached at {t_meas['cross_entropy']:.0f} vs {t_meas['quadratic']:.0f} epochs", fontsize=10
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.24))
    ax = axes[0, 2]
    se = np.arange(sm_epochs + 1)
    ax.plot(se, ll_run[2], "C0-", lw=2, label="log-likelihood, saturated start")
    ax.plot(se, quad_run[2], "C3-", lw=2, label="quadratic, saturated start")
    ax.plot(se, neutral_run[2], "C2--", lw=1, label="log-likelihood, neutral start")
    ax.set_xlabel("epoch (full-batch GD, eta = 0.5)")
    ax.set_ylabel("training accuracy (fraction)")
    ax.set_title("(c) softmax on 3 blobs, started saturated on class 0 (seed 0)", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.24))
    fig.suptitle("Slow learning: quadratic cost vs cross-entropy / log-likelihood", y=1.03)
    return fig
