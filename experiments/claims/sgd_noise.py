"""Claims of the sgd_noise experiment (notes: "Stochastic gradient descent").

Every claim is a check: the mean of per-example gradients is the batch gradient
(linearity), and the RMS error of a mini-batch drawn without replacement is
exactly sigma/sqrt(m) times the finite-population correction (sampling theory,
an identity in expectation); the measurement only adds Monte Carlo noise."""

from experiments._registry import Claim, Seeds, band, below

SOURCE = "Stochastic gradient descent"
_SEEDS = Seeds(full=5, quick=3, which="data sets and initializations drawn in turn from numpy default_rng(seed)")
_SETUP = ("10 -> 32 -> 3 network (sigmoid hidden, softmax output, log-likelihood) at a random initialization, "
          "3 Gaussian blobs in 10-D, N = 4096 examples (512 quick); per-example gradients by one vmap of BP; "
          "2000 random mini-batches per m (400 quick), m = 1, 2, 4, ..., N")

CLAIMS = (
    Claim(
        id="sgd_noise/mean-of-per-example-grads",
        kind="check",
        source=SOURCE + " (grad C = (1/n) sum_x grad C_x)",
        quantity="max |mean of the per-example gradients - batch gradient| / max |batch gradient|, worst seed",
        predicted="0 (linearity of the gradient)",
        rule=below(1e-5, "exact", "float32 round-off over N examples"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="sgd_noise/runs",
    ),
    Claim(
        id="sgd_noise/slope",
        kind="check",
        source=SOURCE,
        quantity="log-log slope of the RMS mini-batch error vs m over m <= N/16 minus the slope of "
                 "sigma/sqrt(m) sqrt((N-m)/(N-1)) over the same m, mean over seeds",
        predicted="0 (sampling without replacement: the formula is exact in expectation)",
        rule=band(-0.02, 0.02, "t95", "Monte Carlo error of the slope at the registered batch counts is a few "
                                      "1e-3; 0.02 catches a wrong scaling (e.g. -0.45 instead of -0.5)", point=0.0),
        setup=_SETUP,
        seeds=_SEEDS,
        group="sgd_noise/runs",
    ),
    Claim(
        id="sgd_noise/finite-population-correction",
        kind="check",
        source=SOURCE,
        quantity="mean over m < N of log(measured RMS / (sigma/sqrt(m) sqrt((N-m)/(N-1)))), mean over seeds",
        predicted="0 (without the correction: -0.052 at N = 4096, -0.069 at N = 512)",
        rule=band(-0.02, 0.02, "t95", "Monte Carlo error of a mean log ratio over 2000 batches per m is ~0.005; "
                                      "the band excludes the no-correction value -0.052", point=0.0),
        quick=band(-0.035, 0.035, "t95", "400 batches per m and 3 seeds: Monte Carlo error ~0.01; the band "
                                         "excludes the no-correction value -0.069", point=0.0),
        setup=_SETUP,
        seeds=_SEEDS,
        group="sgd_noise/runs",
    ),
    Claim(
        id="sgd_noise/full-batch",
        kind="check",
        source=SOURCE,
        quantity="RMS error of a mini-batch of all N examples (without replacement) / sigma, worst seed",
        predicted="0 (it is the full gradient)",
        rule=below(1e-5, "exact", "float32 round-off"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="sgd_noise/runs",
    ),
)
