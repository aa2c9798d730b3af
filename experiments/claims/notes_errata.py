"""Claims of the notes_errata experiment: five slips of the notes' formulas and statements, each measured as
written on a small deterministic case (an erratum) and followed by its corrected statement (a check, or a
prediction where a theory of the correction's size could fail).

The slips (line numbers of /work/shared/seed/neural-networks-part-2.md):
line 176 the quadratic cost written ||y(x - a)||^2 for ||y(x) - a||^2; lines 222-223 the mini-batch SGD rule
without its sum over the m examples; line 562 batch norm's rescaling a~ = gamma a~ + beta (a~ defined by
itself, for gamma a^ + beta); lines 580-581 layer norm normalizing with mu_i, sigma_i (the per-unit batch
statistics of batch norm) for the per-example mu_n, sigma_n; line 544 "applying this [standardization] to
normally distributed examples won't change anything".
"""

from experiments._registry import Claim, above, band, below

_GD = "Gradient descent (line 176)"
_SGD = "Stochastic gradient descent (lines 222-223)"
_BN = "Normalization / Batch normalization (line 562)"
_LN = "Normalization / Layer normalization (lines 580-581)"
_DATA = "Normalization / Data normalization (line 544)"
_EXACT_F64 = "float64 rounding: a formula that holds is met to ~1e-15; 1e-12 leaves room for sums of 100 terms"

CLAIMS = (
    Claim(
        id="notes_errata/cost-as-written",
        kind="erratum",
        source=_GD + ": C = 1/(2n) sum_x ||y(x - a)||^2",
        quantity="the cost as written, 1/(2n) sum_x ||y(x - a)||^2, of a network whose outputs equal the targets "
                 "(a = y(x)), divided by the corrected cost of the zero output 1/(2n) sum_x ||y(x)||^2",
        predicted="0 by the notes' intent (a network that outputs the targets has zero cost); as written "
                  "||y(x - y(x))||^2 = ||(M - M^2) x||^2 > 0 for a linear target y(x) = M x with M != M^2 (and on "
                  "MNIST x - a is not even defined: 784 inputs, 10 outputs)",
        rule=above(0.01, "exact", "the formula as written is refuted when the perfect network's cost is at least "
                                  "1% of the zero network's; the intended cost gives exactly 0"),
        setup="linear target y(x) = M x, M a 4x4 standard-normal matrix, x ~ N(0, I_4), n = 100; float64; "
              "numpy default_rng(seed)",
    ),
    Claim(
        id="notes_errata/cost-corrected",
        kind="check",
        source=_GD + ", corrected: C = 1/(2n) sum_x ||y(x) - a||^2",
        quantity="max of |C_fnn - C_formula| / C_formula for random outputs a (fnn.costs quadratic, mean over the "
                  "batch) and C_fnn of the perfect outputs a = y(x)",
        predicted="0: fnn's quadratic cost is the corrected formula and vanishes at the targets",
        rule=below(1e-12, "exact", _EXACT_F64),
        setup="as cost-as-written; random outputs a ~ N(0, I_4)",
    ),
    Claim(
        id="notes_errata/sgd-without-sum",
        kind="erratum",
        source=_SGD + ": w_k' = w_k - (eta/m) dC_(x_j)/dw_k",
        quantity="min over j = 1..m of ||dw_literal(j) - dw|| / ||dw||, dw_literal(j) = -(eta/m) grad C_(x_j) "
                  "(one example's gradient, as written), dw = -(eta/m) sum_j grad C_(x_j) (the mini-batch rule)",
        predicted="0 by the notes' intent (the update of mini-batch SGD); as written it is one example's gradient "
                  "shrunk by 1/m, off by about the whole update whatever j",
        rule=above(0.5, "exact", "the rule as written is refuted when every choice of j misses the mini-batch "
                                 "update by at least half its size"),
        setup="4-8-3 sigmoid MLP (Xavier init), quadratic cost, one mini-batch of m = 10 examples x ~ N(0, I_4), "
              "targets U[0, 1]; all weights and biases; eta = 0.1; float64; seed-derived keys",
    ),
    Claim(
        id="notes_errata/sgd-with-sum",
        kind="check",
        source=_SGD + ", corrected: w_k' = w_k - (eta/m) sum_j dC_(x_j)/dw_k",
        quantity="||dw_fnn - dw|| / ||dw||, dw_fnn one step of fnn.optim.sgd(eta) on the mini-batch's mean cost, "
                  "dw = -(eta/m) sum_j of fnn's per-example gradients",
        predicted="0: fnn's SGD step is the corrected rule",
        rule=below(1e-12, "exact", _EXACT_F64),
        setup="as sgd-without-sum",
    ),
    Claim(
        id="notes_errata/bn-rescale-self-defined",
        kind="erratum",
        source=_BN + ": a~_ni = gamma_i a~_ni + beta_i",
        quantity="per unit, the standard deviation over the batch of a~ solving a~ = gamma a~ + beta (the formula "
                  "read as an equation: a~ = beta / (1 - gamma)), divided by gamma; max over units",
        predicted="1 by the notes' intent (the rescaled values have sigma = gamma_i); as written the solution "
                  "beta/(1 - gamma) does not depend on the example: 0",
        rule=below(0.01, "exact", "the formula as written is refuted when the rescaled values keep less than 1% of "
                                  "the spread gamma the notes give them"),
        setup="K = 64 pre-activations of M = 16 units, a ~ N(2, 3^2); gamma ~ U[0.5, 1.5] (away from 1), "
              "beta ~ N(0, 1); float64",
    ),
    Claim(
        id="notes_errata/bn-rescale-corrected",
        kind="check",
        source=_BN + ", corrected: a~_ni = gamma_i a^_ni + beta_i",
        quantity="max over units of |batch mean of a~ - beta| / gamma and |batch sd of a~ / (gamma "
                  "sqrt(sigma^2 / (sigma^2 + delta))) - 1|, a~ from fnn.norm.batch_norm in training mode",
        predicted="0: mean beta_i and standard deviation gamma_i (up to delta, accounted for)",
        rule=below(1e-12, "exact", _EXACT_F64),
        setup="as bn-rescale-self-defined; delta = 1e-5",
    ),
    Claim(
        id="notes_errata/ln-batch-statistics",
        kind="erratum",
        source=_LN + ": a^_ni = (a_ni - mu_i) / sqrt(sigma_i^2 + delta)",
        quantity="max over units of |change of example 0's normalized values| when the other K - 1 examples of the "
                  "batch are redrawn, divided by the sd of example 0's normalized values; the formula as written, "
                  "mu_i and sigma_i being the per-unit batch statistics (the only mu_i, sigma_i the notes define)",
        predicted="0 by the notes' intent (layer norm normalizes 'each data point separately'); as written it is "
                  "batch norm, and example 0's values move with the rest of the batch",
        rule=above(0.1, "exact", "the formula as written is refuted when one example's output moves by at least "
                                 "a tenth of its spread with the rest of the batch"),
        setup="K = 8 examples of M = 32 units, a ~ N(0, I) plus a per-example offset N(0, 2^2); the other 7 "
              "redrawn once; delta = 1e-5; float64",
    ),
    Claim(
        id="notes_errata/ln-example-statistics",
        kind="check",
        source=_LN + ", corrected: a^_ni = (a_ni - mu_n) / sqrt(sigma_n^2 + delta)",
        quantity="max of example 0's change under the redraw (as in ln-batch-statistics) and of |mean over units| "
                  "of each example's normalized values, fnn.norm.layer_norm (gamma = 1, beta = 0)",
        predicted="0: each example normalized by its own mean and variance, independently of the batch",
        rule=below(1e-12, "exact", _EXACT_F64),
        setup="as ln-batch-statistics",
    ),
    Claim(
        id="notes_errata/standardize-normal-changes",
        kind="erratum",
        source=_DATA + ": 'applying this to normally distributed examples won't change anything'",
        quantity="rms(x^ - x) / rms(x) over all entries, x^ = (x - mu_i) / sigma_i (fnn.norm.standardize), "
                  "examples normally distributed with mean 3 and standard deviation 2 in every feature",
        predicted="0 by the notes as written; (x - 3)/2 - x is of the order of x itself for a normal that is "
                  "not standard (x = 3 + 2u gives x^ - x = -3 - u: sqrt(10/13) = 0.88 here)",
        rule=above(0.1, "exact", "the statement is refuted when standardizing normal data changes it by at least "
                                 "10% of its size"),
        setup="N = 1000 examples, D = 100 features, x ~ N(3, 2^2) iid; float64; numpy default_rng(seed)",
    ),
    Claim(
        id="notes_errata/standardize-standard-normal",
        kind="prediction",
        source=_DATA + ", corrected: standardization leaves standard-normal data unchanged up to the sampling "
                       "error of mu_i and sigma_i",
        quantity="mean over features of mean_n (x^_ni - x_ni)^2, divided by 3/(2N); bootstrap over features",
        predicted="1: to first order x^ - x = -m - (s - 1) x with the sample mean m ~ N(0, 1/N) and the sample "
                  "sd s - 1 ~ N(0, 1/(2N)), so E[(x^ - x)^2] = 1/N + 1/(2N)",
        rule=band(0.9, 1.1, "bootstrap95", "10%: the first-order theory's neglected terms are O(1/N) = 0.1%; the "
                                           "band catches a wrong factor (1/N alone gives 0.67, 2/N gives 1.33)",
                  point=1.0),
        setup="N = 1000 examples, D = 2000 features, x ~ N(0, 1) iid; float64; numpy default_rng(seed)",
    ),
)
