"""Claims of the normalization experiment (notes, "Normalization": data normalization, batch norm, layer norm).

(a) a linear model's Hessian before and after standardizing its inputs (predictions) and GD on it (exact
float64 checks); (b) the signal factor per layer of a deep sigmoid MLP at initialization without
normalization and with layer norm (mean-field predictions; with batch norm it is 1 by construction: a check),
and the training gains of batch and layer norm (predictions; layer norm with SGD, where the notes' "it helps"
fails, an erratum); (c) batch norm's two modes after training: logit difference, accuracy gaps and moving
means (predictions), and before training (a check).
"""

import math

from experiments._registry import Claim, Seeds, above, band, below

DATA = "Normalization / Data normalization"
BN = "Normalization / Batch normalization"
LN = "Normalization / Layer normalization"
_N_FULL, _N_QUICK, _D = 2000, 500, 4


def _mp2(n: int) -> float:
    """((1 + 2 sqrt(d/N)) / (1 - 2 sqrt(d/N)))^2: twice the Marchenko-Pastur edges' distance from 1."""
    q = math.sqrt(_D / n)
    return ((1 + 2 * q) / (1 - 2 * q)) ** 2


_SEEDS = Seeds(full=5, quick=3, which="fold_in(key(seed), seed + i), i < n: initialisation and batch order; the SGD "
                                      "rate chosen on the first")
_DEEP = ("784-64x10-10 sigmoid MLP, softmax + log-likelihood, Xavier init, on standardized Fashion-MNIST "
         "(train[:10000], validation split as held-out; 2000 each quick), mini-batch 64, 20 epochs (8 quick)")
_GAIN = ("training cost no normalization - with it, mean of the last 10% of steps, paired by seed, mean over seeds "
         "({opt})")
_GAIN_REASON = "0.1 nats is a clear improvement against chance level ln 10 = 2.30; the alternative (no gain) gives 0"
_FACTOR_SETUP = ("the deep MLP at initialization (one draw, fold_in(key(seed), 7)), float64, 1000 held-out images; "
                 "spread = rms over units of the sd over examples of z^l; factor = geometric mean of the ratios of "
                 "consecutive layers 2-10")
_FACTOR_REASON = ("+-15%: the mean-field value for M = 64 units; the other normalizations' factors (0.14, 0.39, 1) "
                  "lie far outside")
_MODES = ("the SGD-trained batch-norm networks (best rate), moving averages settled over 100 more batches with the "
          "parameters frozen, held-out set (10000; 2000 quick); reference = training mode on the whole held-out set")

CLAIMS = (
    Claim(
        id="normalization/raw-kappa",
        kind="prediction",
        source=DATA,
        quantity="condition number of the raw inputs' Hessian (1/N) sum x~ x~^T / that of the population "
                 "second-moment matrix diag(s^2) + m~ m~^T",
        predicted="1",
        rule=band(1 - 5 * math.sqrt(2 / _N_FULL), 1 + 5 * math.sqrt(2 / _N_FULL), "exact",
                  "5 standard errors of a sample variance, 5 sqrt(2/N), N = 2000", point=1.0),
        quick=band(1 - 5 * math.sqrt(2 / _N_QUICK), 1 + 5 * math.sqrt(2 / _N_QUICK), "exact",
                   "5 sqrt(2/N), N = 500", point=1.0),
        setup="d = 4 independent Gaussian features, means 0, 20, 1000, 0.1, sds 1, 5, 200, 0.02, N = 2000 (500 "
              "quick), numpy default_rng(seed), float64",
    ),
    Claim(
        id="normalization/standardized-kappa",
        kind="prediction",
        source=DATA,
        quantity="condition number of the standardized inputs' Hessian [[R, 0], [0, 1]]",
        predicted="near 1: within the Marchenko-Pastur edge ratio ((1+sqrt(d/N))/(1-sqrt(d/N)))^2 = 1.196",
        rule=below(_mp2(_N_FULL), "exact", "twice the edges' distance from 1, N = 2000; the raw kappa is ~2.6e9"),
        quick=below(_mp2(_N_QUICK), "exact", "twice the edges' distance from 1, N = 500"),
        setup="the features of raw-kappa after norm.standardize",
    ),
    Claim(
        id="normalization/raw-gd-exact",
        kind="check",
        source="Data normalization / Convergence",
        quantity="relative error of GD's relative excess cost (E - E*)/(E_0 - E*) after T steps on the raw inputs, "
                 "at its best stable rate, against the exact 1/2 sum_i lambda_i (1 - eta lambda_i)^(2T) alpha_i(0)^2 "
                 "(infinite if the excess is below 1e-2: the raw problem must be far from its minimum)",
        predicted="0 (float64)",
        rule=below(1e-6, "exact", "an identity on an exactly quadratic cost"),
        setup="the raw problem of raw-kappa, 1000 steps (200 quick), rate grid in units of 2/lambda_max",
    ),
    Claim(
        id="normalization/gd-steps",
        kind="check",
        source="Data normalization / Convergence",
        quantity="|steps GD needs on the standardized inputs to reach relative excess 1e-8 - the exact theory's "
                 "count| (infinite unless the raw problem does not reach it within T steps and its theory's count "
                 "exceeds T)",
        predicted="0",
        rule=below(1.0, "exact", "the exact theory of the same recursion; one step for rounding at the threshold"),
        setup="the problems of raw-kappa and standardized-kappa",
    ),
    Claim(
        id="normalization/signal-factor-none",
        kind="prediction",
        source=LN,
        quantity="signal factor per layer without normalization / its mean-field value sqrt(M Var[w]) "
                 "sqrt(E[sigma'(a)^2])",
        predicted="1 (factor ~0.14: sigmoid' <= 1/4 and Xavier's Var[w] = 1/(3M) shrink the spread)",
        rule=band(0.85, 1.15, "exact", _FACTOR_REASON, point=1.0),
        setup=_FACTOR_SETUP,
    ),
    Claim(
        id="normalization/signal-factor-batch",
        kind="check",
        source=BN,
        quantity="signal factor per layer with batch norm",
        predicted="1: every unit's pre-activation is renormalized to mean 0, variance 1 over the examples in every "
                  "layer, so the spread of z is the same from layer to layer",
        rule=band(0.85, 1.15, "exact", "forced by the construction up to the shape of the distributions", point=1.0),
        setup=_FACTOR_SETUP,
    ),
    Claim(
        id="normalization/signal-factor-layer",
        kind="prediction",
        source=LN,
        quantity="signal factor per layer with layer norm / its mean-field value sqrt(E[sigma'(u)^2]/E[sigma(u)^2]), "
                 "u ~ N(0, 1)",
        predicted="1 (factor ~0.39: layer norm divides by the spread over units, dominated by the "
                  "example-independent W z_bar since sigmoid's z ~ 0.5)",
        rule=band(0.85, 1.15, "exact", _FACTOR_REASON, point=1.0),
        setup=_FACTOR_SETUP,
    ),
    Claim(
        id="normalization/batch-beats-none-sgd",
        kind="prediction",
        source=BN,
        quantity=_GAIN.format(opt="SGD, each at its best grid rate, batch norm"),
        predicted="> 0.1 nats: batch norm keeps the signal factor at 1, so SGD trains the deep net",
        rule=above(0.1, "t95", _GAIN_REASON),
        setup=_DEEP + "; SGD rate grid 0.03..3 (0.1, 1 quick) chosen on the first seed",
        seeds=_SEEDS,
        group="normalization/deep-runs",
    ),
    Claim(
        id="normalization/layer-beats-none-sgd",
        kind="erratum",
        source=LN,
        quantity=_GAIN.format(opt="SGD, each at its best grid rate, layer norm"),
        predicted="<= 0.1 nats, NOT the notes' 'normalization helps': layer norm's factor ~0.39 per layer leaves "
                  "SGD no signal after 10 layers",
        rule=below(0.1, "t95", "the notes' statement is refuted when the whole interval lies at or below the gain "
                               "their statement requires (0.1 nats, as for the other three)"),
        setup=_DEEP + "; SGD rate grid 0.03..3 (0.1, 1 quick) chosen on the first seed",
        seeds=_SEEDS,
        group="normalization/deep-runs",
    ),
    Claim(
        id="normalization/batch-beats-none-adam",
        kind="prediction",
        source=BN,
        quantity=_GAIN.format(opt="Adam 1e-3, batch norm"),
        predicted="> 0.1 nats",
        rule=above(0.1, "t95", _GAIN_REASON),
        setup=_DEEP + "; Adam eta = 1e-3",
        seeds=_SEEDS,
        group="normalization/deep-runs",
    ),
    Claim(
        id="normalization/layer-beats-none-adam",
        kind="prediction",
        source=LN,
        quantity=_GAIN.format(opt="Adam 1e-3, layer norm"),
        predicted="> 0.1 nats: Adam's per-parameter scaling undoes the small factor; layer norm's gamma can grow",
        rule=above(0.1, "t95", _GAIN_REASON),
        setup=_DEEP + "; Adam eta = 1e-3",
        seeds=_SEEDS,
        group="normalization/deep-runs",
    ),
    Claim(
        id="normalization/modes-logit-difference",
        kind="prediction",
        source=BN,
        quantity="largest over seeds of the relative logit difference rms(a_inf - a_train)/spread(a_train) / "
                 "(sqrt(L) x the moving mean's predicted sampling error)",
        predicted="<= 1: L = 10 layers' independent relative errors adding in quadrature",
        rule=below(1.0, "exact", "the alternative, averages not settled (still 0 and 1), gives ~10 (relative "
                                 "difference ~1); every seed must be within the bound"),
        setup=_MODES,
        seeds=_SEEDS,
        group="normalization/deep-runs",
    ),
    Claim(
        id="normalization/modes-gap-inference",
        kind="prediction",
        source=BN,
        quantity="accuracy gap (reference - inference mode) / its predicted mean_x (p_ref,k_ref - p_ref,k_other), "
                 "mean over seeds",
        predicted="1: the perturbation of the statistics is independent of the labels; if the labels follow the "
                  "reference's probabilities (calibration) the expected gap is that (our derivation)",
        rule=band(0.5, 1.5, "t95", "the derivation assumes calibration, which a log-likelihood-trained net meets "
                                   "only to tens of percent (held-out temperature ~1.2); the alternative, equal "
                                   "accuracies (McNemar), gives 0", point=1.0),
        setup=_MODES + "; inference mode uses the moving averages",
        seeds=_SEEDS,
        group="normalization/deep-runs",
    ),
    Claim(
        id="normalization/modes-gap-minibatch",
        kind="prediction",
        source=BN,
        quantity="accuracy gap (reference - training mode on held-out mini-batches of K = 64) / its predicted "
                 "mean_x (p_ref,k_ref - p_ref,k_other), mean over seeds",
        predicted="1 (as modes-gap-inference, with each batch's own sampling error, ~1/sqrt(K), as the perturbation)",
        rule=band(0.5, 1.5, "t95", "the derivation assumes calibration, which a log-likelihood-trained net meets "
                                   "only to tens of percent (held-out temperature ~1.2); the alternative, equal "
                                   "accuracies (McNemar), gives 0", point=1.0),
        setup=_MODES + "; training mode on consecutive held-out batches of 64",
        seeds=_SEEDS,
        group="normalization/deep-runs",
    ),
    Claim(
        id="normalization/modes-before-training",
        kind="check",
        source=BN,
        quantity="relative logit difference between inference and training mode before training",
        predicted=">= 0.5: the moving averages are still 0 and 1",
        rule=above(0.5, "exact", "forced by the initial averages; a value below means the modes are not switched"),
        setup="the first seed's batch-norm network at initialization, held-out set",
    ),
    Claim(
        id="normalization/moving-mean-layer1",
        kind="prediction",
        source=BN,
        quantity="in hidden layer 1, rms over units of (mu_bar - mu_held)/sigma_held / "
                 "sqrt((1-alpha)/((1+alpha)K) + 1/n_train + 1/n_held)",
        predicted="1: an exponential average over (1+alpha)/(1-alpha) batches of K = 64, plus both sets' own "
                  "sampling errors of the mean",
        rule=band(0.5, 1.5, "exact", "an rms over 64 units that share one input-mean error has a relative sd "
                                     "||R||_F/(sqrt 2 U) ~ 0.22 (R the units' correlation matrix); +-0.5 is ~2.3 "
                                     "sd; the alternative without the batch term (an average over many more "
                                     "batches) gives 0.44, one not settled gives >> 1", point=1.0),
        setup=_MODES + "; first seed; alpha = 0.9",
    ),
    Claim(
        id="normalization/moving-mean-deep",
        kind="prediction",
        source=BN,
        quantity="rms over layers 2-10 and units of (mu_bar - mu_held)/sigma_held / layer 1's formula",
        predicted="well below 1: the previous layer's batch norm removes the batch-to-batch fluctuation of its "
                  "inputs' mean, so only part of the sampling error remains",
        rule=below(0.5, "exact", "the alternative (deeper layers like layer 1) gives 1, at least 0.5 given the "
                                 "rms's sampling spread (moving-mean-layer1)"),
        setup=_MODES + "; first seed",
    ),
)
