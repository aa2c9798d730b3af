"""Claims of the batchnorm_capacity experiment (notes, "Batch normalization": gamma and beta are there "so
that the network does not lose representational power"). A 1-32-1 sigmoid network with batch norm and
gamma = 1, beta = 0 fixed is monotone in its input (a consequence of the architecture: a check); with
gamma and beta learned it fits a non-monotone band (the notes' statement: a prediction); the same network
without normalization fits it too (a control of the task and budget: a check)."""

from experiments._registry import Claim, Seeds, above, below

_SEEDS = Seeds(full=5, quick=3, which="jax.random.split(key(seed), n): initialisations and batch orders; "
                                      "one data sample x ~ U[-1, 1] from numpy default_rng(seed)")
_SETUP = ("x ~ U[-1, 1], n = 512, y = 1[|x| < 1/2]; 1-32-1 sigmoid network, cross-entropy, Adam 0.01, mini-batch 64, "
          "400 epochs (60 quick); accuracy in inference mode on the training set; the best one-threshold "
          "classifier's accuracy on the same sample computed exactly")
_SOURCE = "Normalization / Batch normalization"
_N = 512

CLAIMS = (
    Claim(
        id="batchnorm_capacity/fixed-affine-monotone",
        kind="check",
        source=_SOURCE,
        quantity="largest over seeds of (final accuracy - best one-threshold accuracy on the sample), "
                 "gamma = 1 and beta = 0 fixed",
        predicted="<= 1/n: every hidden unit is sigma(+-s (x - mu)) with nearly the same s and mu, so the output "
                  "is monotone in x and cannot beat the best monotone classifier (1/n for the moving averages' "
                  "unit-to-unit offsets)",
        rule=below(1 / _N, "exact", "a consequence of the architecture: a seed above it is a bug (gamma or beta "
                                    "not frozen, or a bias left in)"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="batchnorm_capacity/runs",
    ),
    Claim(
        id="batchnorm_capacity/learned-affine-fits",
        kind="prediction",
        source=_SOURCE,
        quantity="mean over seeds of (final accuracy - best one-threshold accuracy on the sample), gamma and beta "
                 "learned",
        predicted="> 1/n: with gamma and beta each unit places its step anywhere, so the network is not limited "
                  "to monotone functions",
        rule=above(1 / _N, "t95", "the alternative (the network stays monotone) reaches at most the best "
                                  "monotone classifier + 1/n; the lower end of the interval must clear it"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="batchnorm_capacity/runs",
    ),
    Claim(
        id="batchnorm_capacity/control-fits",
        kind="check",
        source=_SOURCE,
        quantity="mean over seeds of (final accuracy - best one-threshold accuracy on the sample), no normalization",
        predicted="> 1/n: a sigmoid network with free biases fits the band in this budget",
        rule=above(1 / _N, "t95", "a control of the task, optimizer and budget, not of the notes: it fails only "
                                  "if the setup cannot fit the band at all"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="batchnorm_capacity/runs",
    ),
)
