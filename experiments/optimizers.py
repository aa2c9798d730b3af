"""GD, momentum, AdaGrad, RMSProp and Adam on a quadratic, the Rosenbrock function and an MLP.

Notes, "Momentum" and "Learning rate scheduling" (AdaGrad, RMSProp, Adam), with
``fnn.optim``:

(a) an ill-conditioned quadratic ``1/2 w^T H w`` (``d = 10``, ``kappa = 100``,
    randomly rotated), and (b) the Rosenbrock function
    ``f(x, y) = (1 - x)^2 + 100 (y - x^2)^2`` from ``(-1.2, 1)``: each
    optimizer at its best rate of a log grid (vmapped over the rate, which
    lives in the optimizer state), cost vs step. Theory (notes, "Momentum";
    ``fnn.analysis``): GD at its best rate contracts the quadratic's error by
    ``(kappa - 1)/(kappa + 1)`` per step; momentum ``mu = 0.9`` by
    ``sqrt(mu)`` once the rate puts every direction in the oscillatory regime,
    so it is far ahead after the same number of steps; on Rosenbrock's curved,
    flat valley momentum's ``1/(1 - mu)`` gain along the valley should likewise
    put it ahead of GD.
(c) an MLP (784-100-10, ReLU, softmax + log-likelihood) on a Fashion-MNIST
    subset, mini-batch 50, each optimizer at its customary rate (SGD 0.1,
    momentum 0.01 with mu = 0.9, AdaGrad 0.01, RMSProp 0.001, Adam 0.001):
    training cost and test accuracy per epoch, and the per-parameter effective
    rates: AdaGrad's ``eta / (sqrt(G) + eps)`` with ``G`` the *sum* of squared
    gradients keeps shrinking (``~ t^(-1/2)`` for stationary gradients);
    RMSProp's ``eta / (sqrt(nu) + eps)`` with ``nu`` an exponential *average*
    does not (the notes: RMSProp "fixes a problem with AdaGrad where the weight
    updates tend to become too small").
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import figure, save, verdict
from fnn import analysis, backprop, costs, data, nn, optim

SECTION = "Learning rate scheduling (AdaGrad, RMSProp, Adam) / Momentum"

OPTIMIZERS = {
    "GD": lambda: optim.gd(1.0),
    "momentum μ=0.9": lambda: optim.momentum(1.0, 0.9),
    "AdaGrad": lambda: optim.adagrad(1.0),
    "RMSProp": lambda: optim.rmsprop(1.0),
    "Adam": lambda: optim.adam(1.0),
}


def _sweep(f, w0: jax.Array, make_opt, rates: np.ndarray, steps: int) -> np.ndarray:
    """Cost after each step for each rate, shape (len(rates), steps + 1) (vmapped over the rate)."""
    opt = make_opt()
    run = jax.jit(jax.vmap(lambda rate: optim.minimize(f, w0, opt, steps, rate=rate)[1]))
    out = np.asarray(run(jnp.asarray(rates, w0.dtype)), np.float64)
    return np.where(np.isfinite(out), out, np.inf)


def _best(curves: np.ndarray, rates: np.ndarray) -> tuple[int, float]:
    """Index and value of the rate with the lowest final cost (diverged runs count as inf)."""
    final = curves[:, -1]
    i = int(np.argmin(np.where(np.isfinite(final), final, np.inf)))
    return i, float(rates[i])


def _rosenbrock(w: jax.Array) -> jax.Array:
    return (1.0 - w[0]) ** 2 + 100.0 * (w[1] - w[0] ** 2) ** 2


def _part_ab(quick: bool, seed: int):
    with jax.enable_x64(True):
        rng = np.random.default_rng(seed)
        d, kappa = 10, 100.0
        lam = np.geomspace(1.0 / kappa, 1.0, d)
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        E = analysis.quadratic(jnp.asarray((q * lam) @ q.T))
        w0 = jnp.asarray(q @ np.ones(d))
        rates = np.geomspace(1e-4, 3.0, 16 if quick else 31)
        T_q = 300 if quick else 600
        quad = {}
        for name, make in OPTIMIZERS.items():
            c = _sweep(E, w0, make, rates, T_q)
            i, r = _best(c, rates)
            quad[name] = {"rate": r, "curve": c[i], "final_by_rate": c[:, -1]}
        T_r = 1500 if quick else 5000
        start = jnp.asarray([-1.2, 1.0])
        rates_r = np.geomspace(1e-5, 1.0, 11 if quick else 26)
        rosen = {}
        for name, make in OPTIMIZERS.items():
            c = _sweep(_rosenbrock, start, make, rates_r, T_r)
            i, r = _best(c, rates_r)
            rosen[name] = {"rate": r, "curve": c[i], "final_by_rate": c[:, -1]}
        return lam, quad, rates, rosen, rates_r


def _effective_rate_median(opt_state, rate: float) -> tuple[jax.Array, jax.Array]:
    """Median over parameters of eta / (sqrt(acc) + eps) for AdaGrad (sum) or RMSProp (average) states."""
    for s in opt_state:
        if isinstance(s, optim.AdagradState):
            acc, eps = s.sum_of_squares, s.eps
            break
        if isinstance(s, optim.RmsState):
            acc, eps = s.nu, s.eps
            break
    else:
        return jnp.full((), jnp.nan, jnp.float32), jnp.full((), jnp.nan, jnp.float32)
    flat = jnp.concatenate([jnp.ravel(a) for a in jax.tree_util.tree_leaves(acc)])
    eff = rate / (jnp.sqrt(flat) + eps)
    return jnp.median(eff), jnp.median(flat)


def _part_c(quick: bool, seed: int):
    key = jax.random.key(seed)
    if quick:
        x_all, y_all = data.load("fashion_mnist", "test", download=False, progress=False)
        x, y, xt, yt = x_all[:2000], y_all[:2000], x_all[8000:], y_all[8000:]
        epochs = 3
    else:
        x_all, y_all = data.load("fashion_mnist", "train", download=False, progress=False)
        xt, yt = data.load("fashion_mnist", "test", download=False, progress=False)
        x, y = x_all[:10_000], y_all[:10_000]
        epochs = 8
    batch, every = 50, 10
    net = nn.MLP((784, 100, 10), hidden="relu", output="softmax")
    rates = {"GD": 0.1, "momentum μ=0.9": 0.01, "AdaGrad": 0.01, "RMSProp": 0.001, "Adam": 0.001}
    labels = {"GD": "SGD η=0.1", "momentum μ=0.9": "momentum η=0.01, μ=0.9", "AdaGrad": "AdaGrad η=0.01",
              "RMSProp": "RMSProp η=0.001", "Adam": "Adam η=0.001"}
    nb = x.shape[0] // batch
    out = {}
    for name, make in OPTIMIZERS.items():
        tx = make()
        params = net.init(jax.random.fold_in(key, 1))
        state = optim.set_hyperparams(tx.init(params), rate=rates[name])

        @jax.jit
        def chunk(p, s, xb, yb, tx=tx, rate=rates[name]):
            def step(c, b):
                p, s = c
                cost, g = backprop.value_and_grad(net, "log_likelihood", p, *b)
                u, s = tx.update(g, s, p)
                return (optim.apply_updates(p, u), s), cost

            (p, s), cs = jax.lax.scan(step, (p, s), (xb, yb))
            med, acc = _effective_rate_median(s, rate)
            return p, s, jnp.mean(cs), med, acc

        @jax.jit
        def test_acc(p):
            return costs.accuracy(net.apply(p, xt), yt)

        log_step, log_cost, log_eff, log_acc_sq, acc_epoch, cost_epoch = [], [], [], [], [], []
        t = 0
        for e in range(epochs):
            xb, yb = data.batches(x, y, batch, key=jax.random.fold_in(key, 100 + e))
            ep_costs = []
            for k in range(0, nb, every):
                params, state, c, med, acc_sq = chunk(params, state, xb[k : k + every], yb[k : k + every])
                t += min(every, nb - k)
                log_step.append(t)
                log_cost.append(float(c))
                log_eff.append(float(med))
                log_acc_sq.append(float(acc_sq))
                ep_costs.append(float(c))
            cost_epoch.append(float(np.mean(ep_costs)))
            acc_epoch.append(float(test_acc(params)))
        if not np.all(np.isfinite(log_cost)):
            raise FloatingPointError(f"{name} diverged on Fashion-MNIST")
        out[name] = {
            "label": labels[name], "rate": rates[name], "step": np.asarray(log_step), "cost": np.asarray(log_cost),
            "effective_rate_median": np.asarray(log_eff), "accumulator_median": np.asarray(log_acc_sq),
            "train_cost_epoch": cost_epoch, "test_accuracy_epoch": acc_epoch,
        }
    setup = {"train": int(x.shape[0]), "test": int(xt.shape[0]), "epochs": epochs, "batch": batch,
             "source": "fashion_mnist test split (quick)" if quick else "fashion_mnist train[:10000], test"}
    return out, setup


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    lam, quad, rates_q, rosen, rates_r = _part_ab(quick, seed)
    mlp, setup_c = _part_c(quick, seed)
    verdicts = []

    # (a) quadratic: momentum vs GD at their best rates.
    kappa = float(lam.max() / lam.min())
    T_q = len(quad["GD"]["curve"]) - 1
    gd_final, mom_final = float(quad["GD"]["curve"][-1]), float(quad["momentum μ=0.9"]["curve"][-1])
    rho_gd = (kappa - 1) / (kappa + 1)

    def gd_cost(eta: float) -> float:
        """Exact GD cost after T steps: 1/2 sum_i lambda_i ((1 - eta lambda_i)^T alpha_i(0))^2, alpha(0) = 1."""
        with jax.enable_x64(True):
            alpha_T = np.asarray(analysis.predicted_components(lam, eta, 1.0, T_q))[-1]
        return float(0.5 * np.sum(lam * alpha_T**2))

    eta_gd = quad["GD"]["rate"]
    exact = gd_cost(eta_gd)
    verdicts.append(
        verdict(
            f"ill-conditioned quadratic (kappa = {kappa:g}): GD's cost after {T_q} steps at its best grid rate "
            f"(eta = {eta_gd:.3g}) is the theory's 1/2 sum_i lambda_i (1 - eta lambda_i)^(2T) alpha_i(0)^2",
            gd_final,
            exact,
            abs(gd_final / exact - 1) <= 1e-6,
            "relative error <= 1e-6 (float64)",
            SECTION,
        )
    )
    fine = np.linspace(0.5, 2.0 / lam.max(), 3001)
    best_possible = min(gd_cost(float(e)) for e in fine)
    data_gd_bound = {"best_possible_gd_cost": best_possible}
    verdicts.append(
        verdict(
            f"ill-conditioned quadratic: momentum (mu = 0.9) ends far below GD after {T_q} steps (contraction "
            f"sqrt(mu) = {math.sqrt(0.9):.3f} vs {rho_gd:.3f} per step)",
            {"momentum / GD": mom_final / gd_final, "momentum / best possible GD": mom_final / best_possible},
            float((math.sqrt(0.9) / rho_gd) ** (2 * T_q)),
            mom_final < 1e-3 * best_possible,
            "momentum's final cost < 1e-3 x the best cost any GD rate reaches in as many steps "
            "(min over 3001 rates of the exact GD cost)",
            SECTION,
        )
    )
    # (b) Rosenbrock: momentum vs GD.
    T_r = len(rosen["GD"]["curve"]) - 1
    r_gd, r_mom = float(rosen["GD"]["curve"][-1]), float(rosen["momentum μ=0.9"]["curve"][-1])
    verdicts.append(
        verdict(
            f"Rosenbrock from (-1.2, 1): momentum's 1/(1-mu) gain along the flat curved valley puts it ahead of GD "
            f"(final f after {T_r} steps, each at its best rate)",
            {"GD": r_gd, "momentum": r_mom},
            "momentum < GD",
            r_mom < r_gd,
            "momentum's final f < GD's",
            SECTION,
        )
    )
    # (c) MLP: AdaGrad's effective rate shrinks, RMSProp's does not.
    ad, rm = mlp["AdaGrad"], mlp["RMSProp"]
    i0 = int(np.searchsorted(ad["step"], ad["step"][-1] / 10))  # a decade of steps before the end
    t0, t1 = float(ad["step"][i0]), float(ad["step"][-1])
    ad_ratio = float(ad["effective_rate_median"][-1] / ad["effective_rate_median"][i0])
    rm_ratio = float(rm["effective_rate_median"][-1] / rm["effective_rate_median"][i0])
    verdicts.append(
        verdict(
            f"AdaGrad's effective rate eta/(sqrt(G)+eps) keeps shrinking: median over parameters at step {t1:g} / at "
            f"step {t0:g} (sqrt({t0:g}/{t1:g}) = {math.sqrt(t0 / t1):.3f} if the gradients' statistics were stationary)",
            ad_ratio,
            math.sqrt(t0 / t1),
            ad_ratio < 1.0,
            "ratio < 1 (shrinks over the last decade of steps)",
            SECTION,
        )
    )
    verdicts.append(
        verdict(
            "RMSProp's effective rate eta/(sqrt(nu)+eps) does not shrink over the same steps (nu averages recent "
            "gradients only; it rises as the gradients fall)",
            rm_ratio,
            ">= 1",
            rm_ratio >= 1.0,
            "ratio >= 1",
            SECTION,
        )
    )
    acc = {k: v["test_accuracy_epoch"][-1] for k, v in mlp.items()}
    first = {k: v["train_cost_epoch"][0] for k, v in mlp.items()}
    last = {k: v["train_cost_epoch"][-1] for k, v in mlp.items()}
    verdicts.append(
        verdict(
            "every optimizer trains the Fashion-MNIST MLP: mean training cost of the last epoch below the first's, "
            "test accuracy above chance",
            {k: [first[k], last[k], acc[k]] for k in mlp},
            "last < first, accuracy > 0.1",
            all(last[k] < first[k] and acc[k] > 0.1 for k in mlp),
            "for every optimizer",
            SECTION,
        )
    )

    # ---- figure -------------------------------------------------------------------------------------
    fig, axes = figure(3, 2, width=5.2, height=4.0)
    ax = axes[0, 0]
    for name, r in quad.items():
        ax.semilogy(np.maximum(r["curve"], 1e-30), label=f"{name} (η={r['rate']:.3g})")
    with jax.enable_x64(True):
        alpha_t = np.asarray(analysis.predicted_components(lam, eta_gd, 1.0, T_q))
    ax.semilogy(0.5 * (alpha_t**2) @ lam, "k:", lw=1.2, label="GD theory ½Σλᵢ(1−ηλᵢ)^{2t}")
    ax.set(xlabel="step", ylabel="cost ½wᵀHw", title=f"(a) quadratic, d=10, κ={kappa:g}, best rate each", ylim=(1e-30, 1e2))
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    for name, r in rosen.items():
        ax.loglog(np.arange(1, len(r["curve"])), np.maximum(r["curve"][1:], 1e-30), label=f"{name} (η={r['rate']:.3g})")
    ax.set(xlabel="step", ylabel="f(x, y)", title="(b) Rosenbrock from (−1.2, 1), best rate each")
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    for name, r in quad.items():
        ax.loglog(rates_q, np.minimum(r["final_by_rate"], 1e12), "o-", ms=2, lw=0.8, label=name)
    ax.set(xlabel="learning rate η", ylabel=f"quadratic cost after {T_q} steps", title="(a) rate grid (diverged: top)")
    ax.legend(fontsize=7)
    ax = axes[1, 0]
    for name, r in mlp.items():
        ax.semilogy(r["step"], r["cost"], lw=0.8, label=r["label"])
    ax.set(xlabel="update", ylabel="training cost (nats per example, 10-step mean)",
           title=f"(c) MLP 784-100-10 on Fashion-MNIST ({setup_c['train']} ex.)")
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    for name in ("AdaGrad", "RMSProp"):
        r = mlp[name]
        ax.loglog(r["step"], r["effective_rate_median"], label=f"{r['label']}: median η/(√acc+ε)")
    s = ad["step"].astype(float)
    ax.loglog(s, ad["effective_rate_median"][0] * np.sqrt(s[0] / s), "k:", lw=1, label="∝ t^(−1/2)")
    ax.axvline(t0, color="gray", lw=0.5)
    ax.set(xlabel="update t", ylabel="effective rate per parameter (median)", title="(c) AdaGrad shrinks, RMSProp does not")
    ax.legend(fontsize=7)
    ax = axes[1, 2]
    for name, r in mlp.items():
        ax.plot(np.arange(1, len(r["test_accuracy_epoch"]) + 1), r["test_accuracy_epoch"], "o-", ms=3, label=r["label"])
    ax.set(xlabel="epoch", ylabel="test accuracy (fraction)", title=f"(c) test accuracy ({setup_c['test']} images)")
    ax.legend(fontsize=7)
    fig.tight_layout()

    # Curves at ~200 log-spaced steps keep the record small.
    def thin(r: dict, n: int) -> dict:
        idx = np.unique(np.concatenate([[0], np.geomspace(1, n, 200).astype(int)]))
        return {"rate": r["rate"], "step": idx, "cost": r["curve"][idx], "final_by_rate": r["final_by_rate"]}

    data_out = {
        "quadratic": {"eigenvalues": lam, "rates": rates_q, **data_gd_bound, **{k: thin(v, T_q) for k, v in quad.items()}},
        "rosenbrock": {"rates": rates_r, **{k: thin(v, T_r) for k, v in rosen.items()}},
        "mlp": {"setup": setup_c, **mlp},
    }
    return save("optimizers", seed=seed, quick=quick, verdicts=verdicts, data=data_out, fig=fig, out_dir=out_dir,
                title="GD, momentum, AdaGrad, RMSProp, Adam (notes, Momentum and Learning rate scheduling)")
