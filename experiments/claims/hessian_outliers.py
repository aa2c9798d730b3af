"""Claims of hessian_outliers (Sagun et al. 2017; Papyan 2019, 2020; Gur-Ari et al. 2018; Ghorbani et al. 2019).

The papers see in the Hessian ``H`` of a classifier trained to zero training
error a bulk near 0 and about ``C`` outliers (``C - 1`` for a softmax), made by
the Gauss-Newton part ``G``; Papyan ties them to the ``C`` class-mean gradients;
Gur-Ari et al. find the gradient inside the top-``C`` eigenspace; Ghorbani et
al. find batch norm suppresses the outliers and that concentration.

Definitions (``experiments/hessian_outliers.py`` gives the formulas). ``g_ik =
sqrt(p_ik) J_i^T (e_k - p_i)`` for example ``i`` and logit ``k``, so that
``G = (1/n) sum_i sum_k g_ik g_ik^T``; the cell means ``m_ck`` = mean of
``g_ik`` over the examples of class ``c``. Class level: the ``C`` class-mean
gradients ``m_cc`` (the mean over class ``c`` of its own-label gradient, up to
sign and the weight ``sqrt(p)``), ``G_class = sum_c pi_c m_cc m_cc^T``; cross-class
level ``G_cross = sum_(c != k) pi_c m_ck m_ck^T``; ``G_means = G_class + G_cross``,
``G_within = G - G_means`` (positive semi-definite).

Outlier detectors, each on the top ``K = 30`` eigenpairs (Lanczos) of ``M`` =
``H`` or ``G``:

- **gap rule** (THE DECIDING DETECTOR, named here before the runs): the index
  ``i < K`` of the largest ratio ``lambda_i / lambda_(i+1)`` (the visible gap
  between outliers and bulk by which Sagun et al. and Ghorbani et al. count);
- **Weyl edge**: the number of ``lambda_i(M) > lambda_max(M - G_means)``,
  what the class/cross-class means lift above everything the remainder can
  produce (at most ``C^2``);
- **subspace overlap**: the number of the top ``K`` eigenvectors with at least
  half their squared norm in the span of the ``C`` class-mean gradients.

The last two are reported beside the gap rule in the records' detail, with
intervals, at initialization, after one epoch and at interpolation, with and
without batch norm; they decide nothing. Counts are small integers over 10
seeds: their mean gets a percentile bootstrap interval.
"""

from experiments._registry import Claim, Seeds, above, band, below

C = 10
K = 30
_SEEDS = Seeds(full=10, quick=3,
               which="seed + i, i = 0..9 (0..2 quick): jax.random.key(seed + i) initializes the network and orders "
                     "its SGD batches; the batch-norm network uses the same keys (paired runs)")
_SETUP = ("MNIST, a class-balanced subset of 2,000 training examples (500 quick), images 2x2-mean-pooled to 14x14 "
          "= 196 inputs; MLP 196-24-24-10 (196-16-16-10 quick), tanh, xavier, softmax + log-likelihood; the same "
          "with batch norm on both hidden layers; SGD (m = 50, eta = 0.05, momentum 0.9) until 100% training "
          "accuracy (checked after each epoch, at most 300 epochs); H and G of the mean cost over the whole "
          "subset (batch norm in training mode over the whole subset); top 30 eigenpairs by Lanczos (90 steps, "
          "full re-orthogonalization); checkpoints: initialization, epoch 1, interpolation (the first epoch at "
          "100%), and epochs 1, 2, 4, 8, ... before it for the gradient fraction")
_GROUP = "hessian_outliers/runs"
_COUNT = ("[C - 2, C + 1] = [8, 11]: C - 1 = 9 for a softmax (the C logit directions of each example sum to 0), "
          "C when the class means are not exactly balanced, one more either side for an outlier that merges "
          "with the bulk or a bulk eigenvalue that stands off it")
_QUICK_COUNT = ("for the quick sizes (500 examples, 16 hidden units, 3 seeds): [C - 4, C + 3], a small net on "
                "few examples separates its outliers less cleanly")

CLAIMS = (
    Claim(
        id="hessian_outliers/interpolation-reached",
        kind="check",
        source="setup (the papers measure at zero training error)",
        quantity="fraction of the runs (seeds x {without, with batch norm}) that reach 100% training accuracy "
                 "within 300 epochs",
        predicted="1: 5.6k parameters fit 2,000 examples",
        rule=above(1.0, "exact", "every run must interpolate, or its last checkpoint is not the papers' point"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="hessian_outliers/outliers-H-interpolation",
        kind="prediction",
        source="Sagun et al. 2017; Papyan 2019, 2020; Ghorbani et al. 2019",
        quantity="mean over seeds of the number of outliers of H by the gap rule at interpolation (no batch norm)",
        predicted="C - 1 = 9 (about one per class)",
        rule=band(C - 2, C + 1, "bootstrap95", _COUNT, point=C - 1),
        quick=band(C - 4, C + 3, "bootstrap95", _QUICK_COUNT, point=C - 1),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="hessian_outliers/outliers-G-interpolation",
        kind="prediction",
        source="Papyan 2019 (the outliers of H are those of G)",
        quantity="mean over seeds of the number of outliers of G by the gap rule at interpolation (no batch norm)",
        predicted="C - 1 = 9",
        rule=band(C - 2, C + 1, "bootstrap95", _COUNT, point=C - 1),
        quick=band(C - 4, C + 3, "bootstrap95", _QUICK_COUNT, point=C - 1),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="hessian_outliers/outliers-H-early",
        kind="prediction",
        source="Ghorbani et al. 2019; Gur-Ari et al. 2018 (the outliers appear early in training)",
        quantity="mean over seeds of the number of outliers of H by the gap rule after one epoch (no batch norm)",
        predicted="C - 1 = 9",
        rule=band(C - 2, C + 1, "bootstrap95", _COUNT, point=C - 1),
        quick=band(C - 4, C + 3, "bootstrap95", _QUICK_COUNT, point=C - 1),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="hessian_outliers/top-C-in-class-mean-span",
        kind="prediction",
        source="Papyan 2019 (the principal subspace from averaging), 2020 (class structure)",
        quantity="mean over seeds of the overlap ||Q^T U||_F^2 / C of H's top-C eigenvectors U (P x C) with an "
                 "orthonormal basis Q of the span of the C class-mean gradients m_cc, at interpolation (no batch "
                 "norm)",
        predicted="near 1 (a random C-dimensional subspace gives C/P ~ 0.002)",
        rule=above(0.8, "t95", "near 1 as Papyan finds; 0.2 left to the mixing of the top eigenvectors with the "
                               "cross-class directions (his mini-outliers), strong in a small net"),
        quick=above(0.5, "t95", "for the quick sizes (500 examples, 16 hidden units, 3 seeds): more than half of "
                                "the subspace"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="hessian_outliers/gradient-in-outlier-space",
        kind="prediction",
        source="Gur-Ari, Roberts, Dyer 2018; Ghorbani et al. 2019 (Sec. 4)",
        quantity="mean over seeds of the average, over the checkpoints from epoch 1 to interpolation, of "
                 "||U^T g||^2 / ||g||^2, g the full-batch gradient and U H's top-C eigenvectors (no batch norm)",
        predicted="most of it (Gur-Ari et al. report ~0.9 after the first steps)",
        rule=above(0.7, "t95", "Gur-Ari et al.'s ~0.9 with 0.2 left for a small net whose outliers are less "
                               "separated"),
        quick=above(0.5, "t95", "for the quick sizes: more than half"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="hessian_outliers/batchnorm-lowers-gradient-fraction",
        kind="prediction",
        source="Ghorbani et al. 2019 (Sec. 4: with batch norm the gradient leaves the outlier space)",
        quantity="mean over seeds of the paired difference (no batch norm - batch norm) of the gradient fraction "
                 "of the claim above",
        predicted="positive and material",
        rule=above(0.1, "t95", "a material reduction (a tenth of the gradient's squared norm), not a shift within "
                               "the seeds' noise"),
        quick=above(0.0, "t95", "for the quick sizes (3 seeds): the sign only"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="hessian_outliers/batchnorm-reduces-outliers",
        kind="prediction",
        source="Ghorbani et al. 2019 (Sec. 4: batch norm suppresses the outliers)",
        quantity="mean over seeds of the paired difference (no batch norm - batch norm) of "
                 "log10(lambda_1(H) / lambda_(C+1)(H)), the outliers' height over the top of the bulk, at "
                 "interpolation",
        predicted="positive: the outliers stand less far above the bulk with batch norm",
        rule=above(0.3, "t95", "a factor of 2 (0.3 decades) in the outliers' height over the bulk: reduced, not "
                               "only shifted by noise"),
        quick=above(0.0, "t95", "for the quick sizes (3 seeds): the sign only"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="hessian_outliers/means-below-G",
        kind="check",
        source="the decomposition G = G_means + G_within, G_within >= 0 (Weyl: lambda_i(G) >= lambda_i(G_means))",
        quantity="max over seeds, checkpoints, networks and i <= C of (lambda_i(G_means) - lambda_i(G)) / "
                 "lambda_1(G), G_means's eigenvalues from its C^2 x C^2 Gram matrix, G's by Lanczos",
        predicted="<= 0 up to the Lanczos error",
        rule=below(0.01, "exact", "1% of lambda_1 for the Lanczos error of the top C Ritz values; more is a bug in "
                                  "the cell means' weights"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
)
