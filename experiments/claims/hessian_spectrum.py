"""Claims of hessian_spectrum (Sagun et al. 2017; Ghorbani, Krishnan, Xiao 2019; Papyan 2019).

Outliers of ``M`` (``H`` or the Gauss-Newton part ``G``) are its eigenvalues
above ``lambda_max(M - G_1)``, ``G_1`` the part of ``G`` made by the ``C``
class-mean logit-gradient features (Papyan 2019); the papers predict about one
outlier per class, ``C - 1 = 9`` for a softmax. Counts are small integers over
5 seeds: their mean gets a bootstrap interval. The bulk's mass near 0 is forced
by rank (``rank(G) <= n (C - 1)`` is far below the number of parameters): a
check.
"""

from experiments._registry import Claim, Seeds, above, band, below

C = 10
_SEEDS = Seeds(full=5, quick=5, which="seed + i, i = 0..4: initialization and SGD order jax.random.key(seed + i)")
_SETUP = ("MLP 784-100-10 (784-30-10 quick), tanh, softmax + log-likelihood, SGD (m = 50, eta = 0.1) on a "
          "class-balanced Fashion-MNIST subset (MNIST if absent) of 2,000 examples (500 quick); Hessian of the mean "
          "cost over those examples; top 30 eigenvalues by Lanczos; bulk edge lambda_max(M - G_1) by Lanczos; "
          "checkpoints at epochs 0, 1, 5, 30 (0, 1, 10 quick)")
_COUNT_REASON = ("[C - 1, C + 1]: one outlier per class, C - 1 for a softmax (G_1 has rank <= C), one either side "
                 "for a class whose mean is not resolved; stated with the first version of the experiment")

CLAIMS = (
    Claim(
        id="hessian_spectrum/outliers-after-training",
        kind="prediction",
        source="Sagun et al. 2017; Ghorbani et al. 2019; Papyan 2019",
        quantity="mean over seeds of the number of eigenvalues of H above lambda_max(H - G_1) at the last "
                 "checkpoint (epoch 30; 10 quick)",
        predicted="C - 1 = 9 (about one outlier per class; at most C)",
        rule=band(C - 1, C + 1, "bootstrap95", _COUNT_REASON, point=C - 1),
        setup=_SETUP,
        seeds=_SEEDS,
        group="hessian_spectrum/checkpoints",
    ),
    Claim(
        id="hessian_spectrum/outliers-gauss-newton",
        kind="prediction",
        source="Papyan 2019 (the outliers come from the class means of G)",
        quantity="mean over seeds of the number of eigenvalues of G above lambda_max(G - G_1) at the last checkpoint",
        predicted="C - 1 = 9 (C - 1 or C for a softmax)",
        rule=band(C - 1, C + 1, "bootstrap95", _COUNT_REASON, point=C - 1),
        setup=_SETUP,
        seeds=_SEEDS,
        group="hessian_spectrum/checkpoints",
    ),
    Claim(
        id="hessian_spectrum/outliers-early",
        kind="prediction",
        source="Ghorbani et al. 2019 (the outliers emerge rapidly in training)",
        quantity="mean over seeds of the number of eigenvalues of H above lambda_max(H - G_1) after 1 epoch",
        predicted="C - 1 = 9",
        rule=band(C - 1, C + 1, "bootstrap95", _COUNT_REASON, point=C - 1),
        setup=_SETUP,
        seeds=_SEEDS,
        group="hessian_spectrum/checkpoints",
    ),
    Claim(
        id="hessian_spectrum/bulk-near-zero",
        kind="check",
        source="Sagun et al. 2017 (the bulk)",
        quantity="SLQ spectral mass with |lambda| <= 5% of lambda_max at the last checkpoint (first seed; mean over "
                 "5 probes, 2 quick)",
        predicted=">= 0.9: rank(G) <= n (C - 1) = 18,000 (4,500 quick) of P = 79,510 (23,860 quick) parameters, "
                  "and the residual H - G is small, so most of the mass sits at 0",
        rule=above(0.9, "exact", "forced by rank: a bulk mass below 0.9 would be an SLQ bug"),
        setup=_SETUP,
    ),
    Claim(
        id="hessian_spectrum/outliers-from-gauss-newton",
        kind="prediction",
        source="Papyan 2019; Sagun et al. 2017 (the outliers of H come from G; the residual shapes the bulk)",
        quantity="mean over seeds of max_i |lambda_i(G) - lambda_i(H)| / lambda_i(H) over the outliers of H at the "
                 "last checkpoint (at least i = 1)",
        predicted="small: <= 0.1",
        rule=below(0.1, "t95", "10%: the residual H - G is a small perturbation of the outliers if they come from G; "
                               "a bound stated with the first version of the experiment"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="hessian_spectrum/checkpoints",
    ),
    Claim(
        id="hessian_spectrum/trace-estimators-agree",
        kind="check",
        source="fnn.curvature (SLQ and Hutchinson estimate the same trace)",
        quantity="|SLQ trace (P sum_j tau_j theta_j) - Hutchinson trace (30 Rademacher probes)| / their combined "
                 "standard error, at the last checkpoint, first seed",
        predicted="O(1) (two unbiased estimators of tr H)",
        rule=below(4.0, "exact", "4 combined standard errors: a larger gap is a bug in one estimator"),
        setup=_SETUP,
    ),
)
