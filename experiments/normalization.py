"""Normalization: standardized inputs, batch norm and layer norm in a deep sigmoid network.

Part (a) is computed, checked and drawn by ``experiments._normalization_data``; parts (b) and (c) here.

Notes, "Normalization" ("Data normalization", "Batch normalization", "Layer
normalization"), with ``fnn.norm``, ``fnn.nn.MLP(norm=...)``, ``fnn.analysis``
and ``fnn.train``:

(a) **Data normalization.** A linear model ``y = w.x + b`` with the quadratic
    cost ``E = (1/2N) sum_n (w.x_n + b - t_n)^2`` on ``d = 4`` features of very
    different ranges (means 0, 20, 1000, 0.1; standard deviations 1, 5, 200,
    0.02). ``E`` is exactly quadratic with Hessian ``H = (1/N) sum_n x~_n x~_n^T``,
    ``x~ = (x, 1)``. Prediction: for raw inputs ``kappa(H)`` is that of the
    population second-moment matrix ``diag(s^2) + m~ m~^T`` (``m~ = (m, 1)``),
    huge; after ``norm.standardize`` ``H = [[R, 0], [0, 1]]`` with ``R`` the
    features' sample correlation matrix, whose eigenvalues for independent
    features lie near 1 (within the Marchenko-Pastur edges
    ``(1 +- sqrt(d/N))^2``). GD (``optim.gd``, from ``w = b = 0``, the same
    function either way) at each one's best stable rate (a grid of rates in
    units of ``2/lambda_max``): the standardized problem reaches the minimum
    in a few steps, the raw one barely moves (notes, "Convergence": iterations
    grow with ``kappa``); both follow the exact
    ``E_t - E* = 1/2 sum_i lambda_i (1 - eta lambda_i)^(2t) alpha_i(0)^2``.
(b) **Batch and layer norm in a deep sigmoid MLP** (784-64x10-10, softmax +
    log-likelihood, Xavier init) on standardized Fashion-MNIST: training cost
    per step for ``norm=None, "batch", "layer"``, same data, budget and seeds,
    with mini-batch SGD (each at its best rate of a grid) and with Adam
    (``eta = 1e-3``). Why, measured at initialization: the example-to-example
    spread of each hidden layer's activations ``z^l`` (rms over units of the
    standard deviation over examples) shrinks by a factor per layer that
    mean-field arithmetic predicts with ``u ~ N(0, 1)``:
    ``sqrt(M Var[w]) sqrt(E[sigma'(a)^2])`` without normalization (~0.14);
    ``sqrt(E[sigma'(u)^2] / E[sigma(u)^2])`` with layer norm (~0.38: layer
    norm divides by the spread of ``a`` over the *units*, which for sigmoid's
    non-centred outputs ``z ~ 0.5`` is dominated by the example-independent
    part ``W z_bar``); 1 with batch norm (each unit is normalized over the
    *examples*, so its example-to-example spread is restored every layer).
(c) **Batch norm's two modes.** After training, the network in inference mode
    (moving averages ``mu_bar``, ``var_bar``, ``alpha = 0.9``) and in training
    mode on the whole held-out set as one batch (its own statistics) give
    nearly the same outputs; before training (moving averages at their initial
    0 and 1) they do not. The moving averages match the held-out batch
    statistics to the sampling error of an exponential average over
    ``(1 + alpha)/(1 - alpha)`` batches of ``K`` examples:
    ``rms (mu_bar - mu)/sigma ~ sqrt((1 - alpha)/((1 + alpha) K) + 1/n_train + 1/n_held)``
    (after letting the averages settle with the parameters frozen), to within
    the sampling error of an rms over units that share one input-mean error.

    **What the two modes' accuracies do** (our derivation; the notes say only
    that the moving averages stand in for the batch statistics at inference
    time, nothing about accuracy). Both modes are the same trained network with
    different estimates of each unit's ``mu_i``, ``sigma_i``: training mode on
    the whole held-out set uses its own statistics, exact for that set and the
    population's to ``1/sqrt(n)``; inference mode adds the moving averages'
    error (~0.03 of a unit's spread here); training mode on held-out
    mini-batches of ``K`` (the notes' ``mu_i = (1/K) sum_n a_ni``) adds each
    batch's own sampling error (~``1/sqrt(K)`` = 0.125). Take the full-batch
    mode as the reference, with probabilities ``p(x)`` and predicted class
    ``k_r(x)``, and the other mode's predicted class ``k_o(x)``. The
    perturbation does not depend on the held-out labels, so if the labels follow
    the reference's probabilities, ``P(y = k | x) = p_k(x)`` (calibration: a
    log-likelihood-trained network's outputs estimate the class probabilities),
    then ``E[acc_ref - acc_other] = (1/n) sum_x (p_{k_r}(x) - p_{k_o}(x)) >= 0``,
    with label-sampling variance ``(1/n^2) sum_{x: k_r != k_o} [p_{k_r} + p_{k_o}
    - (p_{k_r} - p_{k_o})^2]``. The gap is positive (noise in the statistics
    costs accuracy) and small: only examples near a decision boundary change
    class, and there ``p_{k_r} ~ p_{k_o}``, so it is second order in the
    perturbation while the disagreement rate is first order. Overconfidence
    (miscalibration, Guo et al. 2017, "On calibration of modern neural
    networks", Sec. 2) would make the prediction too large. Checked over seeds,
    pooled, for inference mode and for mini-batch training mode.

    Claims, bands and seeds: ``experiments/claims/normalization.py``; revisions of
    earlier claims: ``paper_figures/ledger/normalization.json``.
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _normalization_data as _data
from experiments._common import decide, figure, save, seeds, t_interval
from fnn import backprop, costs, data, nn, norm, optim, train

NORMS = (None, "batch", "layer")
LABEL = {None: "no normalization", "batch": "batch norm", "layer": "layer norm"}
COLOR = {None: "tab:gray", "batch": "tab:blue", "layer": "tab:orange"}


# --------------------------------------------------------------------------------------------
# (b) deep sigmoid MLP with none / batch / layer norm


def _deep_net(norm_kind, depth: int, width: int) -> nn.MLP:
    return nn.MLP((784,) + (width,) * depth + (10,), hidden="sigmoid", output="softmax", norm=norm_kind)


def _gauss(f, n: int = 80) -> float:
    """``E[f(u)]`` for ``u ~ N(0, 1)`` by Gauss-Hermite quadrature."""
    u, w = np.polynomial.hermite_e.hermegauss(n)
    return float(np.sum(w * f(u)) / math.sqrt(2 * math.pi))


def _sig(u):
    return 1.0 / (1.0 + np.exp(-u))


def _dsig(u):
    return _sig(u) * (1.0 - _sig(u))


def _predicted_factors(width: int) -> dict:
    """Mean-field per-layer factors of the example-to-example spread of ``z`` (see the module docstring)."""
    var_w = 1.0 / (3.0 * width)  # Xavier as in the notes, U[-1/sqrt(M), 1/sqrt(M)]
    gain = math.sqrt(width * var_w)  # rms(W dz) / rms(dz) for W independent of dz
    # no norm: z ~ 0.5 after a couple of layers, so a = W z ~ N(0, M Var[w] / 4)
    sd_a = gain * 0.5
    none = gain * math.sqrt(_gauss(lambda u: _dsig(sd_a * u) ** 2))
    # layer norm: a_hat ~ N(0, 1) over the units; d a_hat = W dz / rms_units(a), rms_units(a) = gain rms(z)
    layer = math.sqrt(_gauss(lambda u: _dsig(u) ** 2) / _gauss(lambda u: _sig(u) ** 2))
    batch_spread = math.sqrt(_gauss(lambda u: _sig(u) ** 2) - _gauss(_sig) ** 2)
    return {"none": none, "layer": layer, "batch": 1.0, "batch_spread": batch_spread}


def _signal(kind, depth: int, width: int, key, x, y) -> tuple[np.ndarray, np.ndarray]:
    """At initialization, per hidden layer: rms over units of the std over examples of ``z^l``, and ``||dC/dW^l||``.

    In float64: without normalization the spread falls below float32's resolution near ``z = 0.5``
    (6e-8) within ten layers. Batch norm in training mode (the batch's statistics, what training sees).
    """
    with jax.enable_x64(True):
        net = _deep_net(kind, depth, width)
        params = net.init(key, jnp.float64)
        state = ()
        if net.stateful:
            params, state = params
        x = jnp.asarray(x, jnp.float64)
        tr = net.forward(params, x, state, train=net.stateful)
        spread = np.array([float(jnp.sqrt(jnp.mean(jnp.var(z, axis=0)))) for z in tr.z[1:-1]])
        g = backprop.grad(net, "log_likelihood", params, x, y)
        gnorm = np.array([float(jnp.linalg.norm(layer["W"])) for layer in g])
    return spread, gnorm


def _pair_gap(p_ref, p_oth, y) -> dict:
    """Accuracy of a reference mode minus another mode's on the same examples, and its prediction.

    Prediction (derived in the module docstring, (c)): if the labels follow the reference mode's probabilities
    ``P(y = k | x) = p_ref,k(x)`` (a log-likelihood-trained network's calibration), the other mode's argmax
    ``k_o(x)`` is a label-independent perturbation and the expected gap is
    ``E[gap] = (1/n) sum_x (p_ref,k_r(x) - p_ref,k_o(x)) >= 0`` (``k_r`` the reference's argmax), with the
    label-sampling variance ``(1/n^2) sum_{x: k_r != k_o} [p_ref,k_r + p_ref,k_o - (p_ref,k_r - p_ref,k_o)^2]``.
    ``mcnemar_z``: the gap over its McNemar standard error ``sqrt(d/n)`` (test of EQUAL accuracies).
    """
    k_r, k_o = jnp.argmax(p_ref, axis=1), jnp.argmax(p_oth, axis=1)
    n = int(y.shape[0])
    q_r = jnp.take_along_axis(p_ref, k_r[:, None], axis=1)[:, 0]
    q_o = jnp.take_along_axis(p_ref, k_o[:, None], axis=1)[:, 0]
    dis = k_r != k_o
    var = jnp.where(dis, q_r + q_o - (q_r - q_o) ** 2, 0.0)
    gap = float(jnp.mean((k_r == y).astype(jnp.float32) - (k_o == y).astype(jnp.float32)))
    d = float(jnp.mean(dis))
    return {
        "n": n,
        "acc_ref": float(jnp.mean(k_r == y)),
        "acc_other": float(jnp.mean(k_o == y)),
        "gap": gap,
        "disagreement": d,
        "pred_gap": float(jnp.mean(q_r - q_o)),
        "pred_gap_var": float(jnp.sum(var)) / n**2,
        "mcnemar_z": gap / math.sqrt(max(d, 1.0 / n) / n),
        "ref_mean_confidence": float(jnp.mean(jnp.max(p_ref, axis=1))),  # vs acc_ref: calibration on average
    }


def _mode_gap(net: nn.MLP, state: train.TrainState, xh, yh, batch: int | None = None) -> dict:
    """Batch norm: inference mode (moving averages) vs training mode on the held-out set as one batch.

    ``rel_logit_diff``: rms of ``a^L_inf - a^L_train`` over examples and classes, divided by the rms over
    classes of the training-mode logits' standard deviation over examples (1 = as large as the signal).
    With ``batch``: also the accuracy comparisons of :func:`_pair_gap`, the full-batch training mode as the
    reference, against inference mode (``"inference_vs_full"``) and against training mode on consecutive
    held-out mini-batches of ``batch`` examples, the notes' ``mu_i = (1/K) sum_n a_ni`` (``"minibatch_vs_full"``,
    on the first ``batch * (n // batch)`` examples).
    """
    a_inf, _ = net.logits(state.params, xh, state.net_state, train=False)
    a_trn, _ = net.logits(state.params, xh, state.net_state, train=True)
    p_inf, p_trn = net.output(a_inf), net.output(a_trn)
    dp = jnp.max(jnp.abs(p_inf - p_trn), axis=1)
    signal = jnp.sqrt(jnp.mean(jnp.var(a_trn, axis=0)))
    out = {
        "rel_logit_diff": float(jnp.sqrt(jnp.mean(jnp.square(a_inf - a_trn))) / signal),
        "mean_max_dp": float(jnp.mean(dp)),
        "max_max_dp": float(jnp.max(dp)),
        "acc_inference": float(costs.accuracy(p_inf, yh)),
        "acc_train_mode": float(costs.accuracy(p_trn, yh)),
        "label_agreement": float(jnp.mean(jnp.argmax(p_inf, axis=1) == jnp.argmax(p_trn, axis=1))),
    }
    if batch is not None:
        m = batch * (xh.shape[0] // batch)
        xb = jnp.reshape(xh[:m], (m // batch, batch, xh.shape[1]))
        a_mb = jax.vmap(lambda xk: net.logits(state.params, xk, state.net_state, train=True)[0])(xb)
        p_mb = net.output(jnp.reshape(a_mb, (m, -1)))
        out["inference_vs_full"] = _pair_gap(p_trn, p_inf, yh)
        out["minibatch_vs_full"] = _pair_gap(p_trn[:m], p_mb, yh[:m])
        # diagnostic of the calibration the prediction assumes: the temperature T of softmax(a/T) that maximizes
        # the held-out likelihood (Guo et al. 2017, Sec. 4.2; one parameter on n examples) and the prediction
        # with those probabilities (T > 1: the network is overconfident)
        temps = np.geomspace(0.5, 4.0, 121)
        nll = [float(-jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(a_trn / t_, axis=1), yh[:, None], axis=1)))
               for t_ in temps]
        t_best = float(temps[int(np.argmin(nll))])
        p_t = jax.nn.softmax(a_trn / t_best, axis=1)
        out["temperature"] = t_best
        out["inference_vs_full"]["pred_gap_temperature_scaled"] = _pair_gap(p_t, p_inf, yh)["pred_gap"]
        out["minibatch_vs_full"]["pred_gap_temperature_scaled"] = _pair_gap(p_t[:m], p_mb, yh[:m])["pred_gap"]
    return out


def _running_vs_heldout(net: nn.MLP, state: train.TrainState, xh) -> dict:
    """Per hidden unit: ``(mu_bar - mu_held)/sigma_held`` and ``var_bar/var_held`` (held-out statistics, training mode)."""
    tr = net.forward(state.params, xh, state.net_state, train=True)
    z, r = [], []
    for l, s in enumerate(state.net_state):
        a = tr.a[l]
        mu, var = jnp.mean(a, axis=0), jnp.var(a, axis=0)
        z.append(np.asarray((s["mean"] - mu) / jnp.sqrt(var)))
        r.append(np.asarray(s["var"] / var))
    z = np.stack(z)
    corr = np.corrcoef(np.asarray(tr.a[0], np.float64).T)  # layer 1's units: their offsets share one input-mean error
    return {"mean_offset": z, "var_ratio": np.stack(r), "rms_offset_per_layer": np.sqrt(np.mean(z**2, axis=1)),
            "layer1_corr_frobenius": float(np.linalg.norm(corr))}


def _settle(net: nn.MLP, state: train.TrainState, x, y, batch: int, n_batches: int = 100) -> train.TrainState:
    """Freeze the parameters (SGD at rate 0) and let batch norm's moving averages run over ``n_batches`` more
    mini-batches: the averages then hold only their sampling error (alpha^100 ~ 3e-5 of the old value left),
    not the lag behind parameters that were still moving (the drift is reported separately)."""
    opt = optim.sgd(1.0)
    frozen = train.init_state(net, opt, jax.random.key(0))._replace(
        params=state.params, net_state=state.net_state, key=state.key, step=state.step)
    frozen = frozen._replace(opt_state=optim.set_hyperparams(frozen.opt_state, rate=0.0))
    epoch = train.make_epoch(net, "log_likelihood", opt, batch)
    for _ in range(-(-n_batches // (x.shape[0] // batch))):
        frozen, _ = epoch(frozen, x, y)
    return frozen


def _trainer(net: nn.MLP, opt, batch: int):
    """One compiled epoch per (network, optimizer), reused for every rate and seed (the rate is state)."""
    epoch = train.make_epoch(net, "log_likelihood", opt, batch)

    def fit_(rate: float | None, key, x, y, epochs: int, xh=None, yh=None):
        """Per-step training costs; with ``xh`` (batch norm) the two modes compared after each epoch."""
        state = train.init_state(net, opt, key)
        if rate is not None:
            state = state._replace(opt_state=optim.set_hyperparams(state.opt_state, rate=rate))
        cost, modes = [], []
        if xh is not None:
            modes.append(_mode_gap(net, state, xh, yh))
        for _ in range(epochs):
            state, m = epoch(state, x, y)
            cost.append(np.asarray(m.cost))
            if xh is not None:
                modes.append(_mode_gap(net, state, xh, yh))
        return state, np.concatenate(cost), modes

    return fit_


def _tail(c: np.ndarray, frac: float = 0.1) -> float:
    """Mean of the last ``frac`` of a per-step cost curve (inf if it diverged)."""
    if not np.all(np.isfinite(c)):
        return math.inf
    k = max(1, int(round(frac * c.size)))
    return float(np.mean(c[-k:]))


def _part_bc(quick: bool, seed: int) -> dict:
    depth, width, batch = 10, 64, 64
    if quick:
        n_train, n_held, epochs, grid = 2000, 2000, 8, (0.1, 1.0)
    else:
        n_train, n_held, epochs, grid = 10_000, 10_000, 20, (0.03, 0.1, 0.3, 1.0, 3.0)
    seeds_ = [seed + i for i in range(seeds("normalization/batch-beats-none-sgd", quick))]
    x, y = data.load("fashion_mnist", "train", validation=10_000, download=False, progress=False)
    xh, yh = data.load("fashion_mnist", "validation", validation=10_000, download=False, progress=False)
    x, y, xh, yh = x[:n_train], y[:n_train], xh[:n_held], yh[:n_held]
    stats = norm.standardize.fit(x)
    x, xh = norm.standardize.apply(stats, x), norm.standardize.apply(stats, xh)
    key = jax.random.key(seed)

    # signal propagation at initialization
    factors = _predicted_factors(width)
    signal = {}
    for kind in NORMS:
        spread, gnorm = _signal(kind, depth, width, jax.random.fold_in(key, 7), xh[:1000], yh[:1000])
        ratios = spread[2:] / spread[1:-1]  # layers 2..depth (layer 1 still sees the input's own spread)
        signal[str(kind)] = {
            "spread": spread,
            "grad_norm": gnorm,
            "factor": float(np.exp(np.mean(np.log(ratios)))),
            "predicted_factor": factors["none" if kind is None else kind],
        }
    signal["batch_spread_predicted"] = factors["batch_spread"]

    # SGD: best rate of the grid per normalization (first seed), then every seed at that rate; Adam at 1e-3
    sgd, adam, modes = {}, {}, {}
    for kind in NORMS:
        net = _deep_net(kind, depth, width)
        fit_ = _trainer(net, optim.sgd(1.0), batch)
        held = (xh, yh) if kind == "batch" else ()
        by_rate = {r: fit_(r, jax.random.fold_in(key, seeds_[0]), x, y, epochs, *held) for r in grid}
        finals = {r: _tail(c) for r, (_, c, _) in by_rate.items()}
        best = min(finals, key=finals.get)
        runs = [by_rate[best][:2]] + [fit_(best, jax.random.fold_in(key, sd), x, y, epochs)[:2] for sd in seeds_[1:]]
        curves = [c for _, c in runs]
        sgd[str(kind)] = {"rate": best, "final_by_rate": {str(r): v for r, v in finals.items()},
                          "curves": np.stack(curves), "final": [_tail(c) for c in curves]}
        if kind == "batch":
            # (c) batch norm's two modes, on the SGD-trained networks (best rate): every seed settled and compared
            # (accuracy gaps over seeds); per-epoch diagnostics and the moving-mean statistics on the first seed
            st, _, per_epoch = by_rate[best]
            settled = [_settle(net, s_, x, y, batch) for s_, _ in runs]
            after = [_mode_gap(net, s_, xh, yh, batch) for s_ in settled]
            modes = {"before": per_epoch[0], "after_training": per_epoch[-1], "after": after[0],
                     "after_by_seed": after,
                     "per_epoch": {k: [m[k] for m in per_epoch] for k in per_epoch[0]},
                     "stats_end_of_training": _running_vs_heldout(net, st, xh),
                     "stats": _running_vs_heldout(net, settled[0], xh)}
        fit_ = _trainer(net, optim.adam(1e-3), batch)
        curves = [fit_(None, jax.random.fold_in(key, sd), x, y, epochs)[1] for sd in seeds_]
        adam[str(kind)] = {"rate": 1e-3, "curves": np.stack(curves), "final": [_tail(c) for c in curves]}
    return {
        "setup": {"depth": depth, "width": width, "batch": batch, "n_train": n_train, "n_heldout": n_held,
                  "epochs": epochs, "steps": epochs * (n_train // batch), "seeds": seeds_, "sgd_rate_grid": list(grid),
                  "data": "Fashion-MNIST train[:n_train] / validation split, standardized with train statistics"},
        "signal": signal,
        "sgd": sgd,
        "adam": adam,
        "modes": modes,
        "alpha": _deep_net("batch", depth, width).norm_momentum,
    }


# --------------------------------------------------------------------------------------------


def run(quick: bool = False, seed: int = 0, out_dir=None) -> dict:
    t0 = time.perf_counter()
    a = _data.part_a(quick, seed)
    t_a = time.perf_counter() - t0
    bc = _part_bc(quick, seed)
    verdicts = _data.verdicts(a, quick) + _decide_signal_and_gains(bc, quick) + _decide_modes(bc, quick)
    fig = _figure(a, bc)
    data_out = {"data_normalization": _data.thin(a), **_thin_bc(bc),
                "runtime_s": {"data_normalization": t_a, "total": time.perf_counter() - t0}}
    return save("normalization", seed=seed, quick=quick, verdicts=verdicts, data=data_out, fig=fig, out_dir=out_dir,
                title="Normalization: standardized inputs, batch norm and layer norm (notes, Normalization)")


GAIN_CLAIM = {("SGD", "batch"): "normalization/batch-beats-none-sgd", ("SGD", "layer"): "normalization/layer-beats-none-sgd",
              ("Adam", "batch"): "normalization/batch-beats-none-adam", ("Adam", "layer"): "normalization/layer-beats-none-adam"}


def _decide_signal_and_gains(bc: dict, quick: bool) -> list[dict]:
    """(b): the signal factors at initialization and the paired training gains."""
    vs = []
    for kind in NORMS:
        s = bc["signal"][str(kind)]
        vs.append(decide(f"normalization/signal-factor-{'none' if kind is None else kind}",
                         s["factor"] / s["predicted_factor"], quick=quick,
                         detail={"factor": s["factor"], "mean-field": s["predicted_factor"]}))
    for opt_name, res in (("SGD", bc["sgd"]), ("Adam", bc["adam"])):
        none_final = np.asarray(res["None"]["final"])
        for kind in ("batch", "layer"):
            f = np.asarray(res[kind]["final"])
            m, lo, hi = t_interval(none_final - f)  # paired by seed
            vs.append(decide(GAIN_CLAIM[opt_name, kind], m, quick=quick, interval=(lo, hi), n=f.size,
                             detail={LABEL[kind]: f.tolist(), "none": none_final.tolist(),
                                     "rates": {LABEL[kind]: res[kind]["rate"], "none": res["None"]["rate"]}}))
    return vs


def _decide_modes(bc: dict, quick: bool) -> list[dict]:
    """(c): batch norm's two modes after (and before) training, and its moving means."""
    md, st = bc["modes"], bc["setup"]
    K, alpha, depth = st["batch"], bc["alpha"], st["depth"]
    # the moving mean's error: its exponential average over (1+alpha)/(1-alpha) batches of K, plus the training
    # set's and the held-out set's own sampling errors of the mean (both samples of one distribution)
    pred_rms = math.sqrt((1 - alpha) / ((1 + alpha) * K) + 1 / st["n_train"] + 1 / st["n_heldout"])
    bound = math.sqrt(depth) * pred_rms
    by_seed = md["after_by_seed"]
    rel = np.array([m["rel_logit_diff"] for m in by_seed])
    vs = [decide("normalization/modes-logit-difference", float(rel.max() / bound), quick=quick, n=rel.size,
                 detail={"relative logit difference by seed": rel.tolist(), "bound sqrt(L) x error": bound})]
    for key_, cid in (("inference_vs_full", "normalization/modes-gap-inference"),
                      ("minibatch_vs_full", "normalization/modes-gap-minibatch")):
        g = [m[key_] for m in by_seed]
        gaps = np.array([r["gap"] for r in g])
        pred = float(np.mean([r["pred_gap"] for r in g]))
        m_g, lo_g, hi_g = t_interval(gaps)
        se = math.sqrt(sum(r["pred_gap_var"] for r in g)) / len(g)  # label sampling, seeds independent given runs
        vs.append(decide(cid, m_g / pred, quick=quick, interval=(lo_g / pred, hi_g / pred), n=len(g), detail={
            "gap (mean over seeds)": m_g, "gap interval": [lo_g, hi_g], "predicted gap": pred,
            "label-sampling se of the mean": se, "by seed": gaps.tolist(),
            "predicted by seed": [r["pred_gap"] for r in g], "disagreement": [r["disagreement"] for r in g],
            "McNemar z (equal accuracies)": [r["mcnemar_z"] for r in g],
            "calibration: mean confidence - accuracy of the reference":
                float(np.mean([r["ref_mean_confidence"] - r["acc_ref"] for r in g])),
            "predicted with temperature-scaled probabilities (diagnostic)":
                float(np.mean([r["pred_gap_temperature_scaled"] for r in g])),
            "temperature by seed": [m["temperature"] for m in by_seed]}))
    vs.append(decide("normalization/modes-before-training", md["before"]["rel_logit_diff"], quick=quick))
    rms_l = np.asarray(md["stats"]["rms_offset_per_layer"])
    units = md["stats"]["mean_offset"].shape[1]
    fro = md["stats"]["layer1_corr_frobenius"]
    vs.append(decide("normalization/moving-mean-layer1", float(rms_l[0]) / pred_rms, quick=quick, detail={
        "rms": float(rms_l[0]), "predicted": pred_rms, "||R||_F": fro,
        "relative sd of the rms ||R||_F/(sqrt 2 U)": fro / (math.sqrt(2) * units)}))
    deep = float(np.sqrt(np.mean(md["stats"]["mean_offset"][1:] ** 2)))
    vs.append(decide("normalization/moving-mean-deep", deep / pred_rms, quick=quick,
                     detail={"rms over layers 2-10": deep, "layer 1's formula": pred_rms}))
    return vs


# --------------------------------------------------------------------------------------------
# the JSON record keeps curves at ~200 points (the figure uses every step)


def _thin_bc(bc: dict) -> dict:
    out = dict(bc)
    for opt in ("sgd", "adam"):
        out[opt] = {}
        for kind, r in bc[opt].items():
            sm = _smooth(np.mean(r["curves"], axis=0), 25)  # mean over seeds, 25-step running mean
            idx = np.unique(np.linspace(0, sm.size - 1, 200).astype(int))
            out[opt][kind] = {k: v for k, v in r.items() if k != "curves"}
            out[opt][kind].update(curve_step=idx + 25, curve_mean_of_seeds_25_step_mean=sm[idx])
    return out


def _smooth(c: np.ndarray, w: int) -> np.ndarray:
    w = max(1, min(w, c.shape[-1]))
    return np.convolve(c, np.ones(w) / w, mode="valid")


def _figure(a: dict, bc: dict):
    import matplotlib.ticker

    fig, axes = figure(3, 3, width=5.6, height=4.4)
    _data.plot(axes[0], a)
    # (b1) signal propagation
    ax = axes[1, 0]
    sig = bc["signal"]
    depth = bc["setup"]["depth"]
    layers = np.arange(1, depth + 1)
    for kind in NORMS:
        s = sig[str(kind)]
        ax.semilogy(layers, s["spread"], "o-", color=COLOR[kind], ms=3,
                    label=f"{LABEL[kind]}: ×{s['factor']:.3f}/layer (theory {s['predicted_factor']:.3f})")
        pred = s["spread"][1] * s["predicted_factor"] ** (layers - 2.0)
        ax.semilogy(layers[1:], pred[1:], ":", color=COLOR[kind], lw=1)
    ax.plot([], [], "k:", label="mean-field theory")
    ax.set(xlabel="hidden layer l", ylabel="spread of zˡ over examples (rms of std)",
           title="(d) at initialization (float64): signal vs depth")
    ax.legend(fontsize=8)
    # (b2, b3) training curves
    st = bc["setup"]
    style = {None: "-", "batch": "-", "layer": "--"}
    for j, (name, res) in enumerate((("SGD", bc["sgd"]), ("Adam", bc["adam"]))):
        ax = axes[1, 1 + j]
        for kind in NORMS:
            r = res[str(kind)]
            sm = np.stack([_smooth(c, 25) for c in r["curves"]])  # (seeds, steps): 25-step running means
            st_ = np.array([t_interval(col) for col in sm[:, ::10].T]) if sm.shape[0] > 1 else None
            steps_ = np.arange(sm.shape[1]) + 25
            ax.plot(steps_, sm.mean(axis=0), style[kind], color=COLOR[kind], lw=1.6 if kind == "layer" else 1.2,
                    label=f"{LABEL[kind]} (η = {r['rate']:g})")
            if st_ is not None:
                ax.fill_between(steps_[::10], st_[:, 1], st_[:, 2], color=COLOR[kind], alpha=0.25, lw=0)
        ax.axhline(math.log(10), color="k", lw=0.5, ls=":", label="chance, ln 10")
        top = 3.2
        if name == "SGD":
            # none and layer norm both stay within ~0.01 of ln 10: on the main scale they coincide, so an inset
            # shows their difference from ln 10 (same curves, same bands)
            top = 4.3
            ins = ax.inset_axes([0.3, 0.58, 0.67, 0.3])
            for kind in (None, "layer"):
                r = res[str(kind)]
                sm = np.stack([_smooth(c, 25) for c in r["curves"]]) - math.log(10)
                steps_ = np.arange(sm.shape[1]) + 25
                ins.plot(steps_, sm.mean(axis=0), style[kind], color=COLOR[kind], lw=1.2)
                if sm.shape[0] > 1:
                    b_ = np.array([t_interval(col) for col in sm[:, ::10].T])
                    ins.fill_between(steps_[::10], b_[:, 1], b_[:, 2], color=COLOR[kind], alpha=0.25, lw=0)
            ins.axhline(0.0, color="k", lw=0.5, ls=":")
            ins.set_ylabel("cost − ln 10 (nats)", fontsize=8)
            ins.set_title("zoom: no normalization (gray) vs layer norm (orange)", fontsize=8, pad=3)
            ins.tick_params(labelsize=8)
        ax.set(xlabel=f"update (mini-batch of {st['batch']})", ylabel="training cost (nats/example, 25-step mean)",
               title=f"({'ef'[j]}) 784-64×10-10 sigmoid, {name} ({len(st['seeds'])} seeds, 95% t-band)",
               ylim=(0, top))
        ax.title.set_fontsize(9)
        if name == "SGD":  # between the batch-norm curve (low) and the ln 10 line with the inset above it
            ax.legend(fontsize=8, loc="center right", bbox_to_anchor=(1.0, 0.36))
        else:
            ax.legend(fontsize=8)
    # (c1) the two modes per epoch
    ax = axes[2, 0]
    pe = bc["modes"]["per_epoch"]
    e = np.arange(len(pe["rel_logit_diff"]))
    ax.semilogy(e, pe["rel_logit_diff"], "o-", color="tab:blue", ms=3, label="relative logit difference")
    ax.semilogy(e, pe["mean_max_dp"], "s-", color="tab:purple", ms=3, label="mean over x of max_k |p_inf − p_train|")
    ax.semilogy(e, np.maximum(np.abs(np.subtract(pe["acc_inference"], pe["acc_train_mode"])), 1e-4), "^-",
                color="tab:green", ms=3, label="|accuracy gap| (fraction; floor 1e-4)")
    ax.set(xlabel="epoch (0 = before training)", ylabel="inference vs training mode",
           title="(g) batch norm: the two modes on held-out data")
    ax.legend(fontsize=8)
    # (c2) moving averages vs held-out batch statistics
    ax = axes[2, 1]
    mo = bc["modes"]["stats"]["mean_offset"]
    off = mo[0]
    bins = np.linspace(min(mo.min(), -0.1), max(mo.max(), 0.1), 41)
    rms = bc["modes"]["stats"]["rms_offset_per_layer"]
    ax.hist(off, bins=bins, color="tab:blue", alpha=0.7, label=f"layer 1 units, rms {rms[0]:.3f}")
    ax.hist(mo[1:].ravel(), bins=bins, histtype="step", color="tab:gray", weights=np.full(mo[1:].size, 1 / (mo.shape[0] - 1)),
            label=f"layers 2-{mo.shape[0]} (per layer), rms {np.sqrt(np.mean(mo[1:] ** 2)):.3f}")
    alpha, K, nh = bc["alpha"], st["batch"], st["n_heldout"]
    sd = math.sqrt((1 - alpha) / ((1 + alpha) * K) + 1 / st["n_train"] + 1 / nh)
    xs = np.linspace(bins[0], bins[-1], 200)
    dens = np.exp(-0.5 * (xs / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    ax.plot(xs, off.size * (bins[1] - bins[0]) * dens, "k:", lw=1.5, label=f"theory, layer 1: N(0, {sd:.3f}²)")
    ax.set(xlabel="offset of the moving mean (held-out std units)", ylabel="hidden units (count)",
           title="(h) settled moving means vs batch statistics")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
    ax.set_ylim(0, 1.45 * ax.get_ylim()[1])
    ax.legend(fontsize=8, loc="upper left")
    # (c3) accuracy gaps per seed: measured vs the calibrated prediction
    ax = axes[2, 2]
    by_seed = bc["modes"]["after_by_seed"]
    for i, (key_, name, c) in enumerate((("inference_vs_full", "inference mode", "tab:blue"),
                                         ("minibatch_vs_full", f"training mode, batches of {K}", "tab:red"))):
        g = [m[key_] for m in by_seed]
        xs_ = np.arange(len(g)) + (i - 0.5) * 0.22
        p = np.array([r["pred_gap"] for r in g])
        ax.errorbar(xs_, p, yerr=[0.5 * p, 0.5 * p], fmt="_", ms=12, color="k", lw=1, capsize=2,
                    label="theory, and the registered band 0.5-1.5 × theory" if i == 0 else None)
        ax.plot(xs_, [r["gap"] for r in g], "o", color=c, ms=5, label=f"{name}: measured")
    ax.axhline(0, color="gray", lw=0.5)
    ax.set_xticks(np.arange(len(by_seed)), [str(s_) for s_ in st["seeds"]])
    ax.set(xlabel="seed (trained network)", ylabel="accuracy(full-batch mode) − accuracy(mode)",
           title="(i) held-out accuracy lost against\nfull-batch statistics (decided on the seeds' mean)")
    ax.set_ylim(ax.get_ylim()[0], ax.get_ylim()[1] + 0.8 * (ax.get_ylim()[1] - ax.get_ylim()[0]))
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
