"""Claims of the why_sgd experiment (notes, "Stochastic gradient descent": computing grad C = (1/n) sum_x grad C_x
over the whole data set "becomes too slow"; a mini-batch of m examples estimates it, with "statistical
fluctuations", and "the point is to move in a general direction that will help decrease C").

Compute is counted in example gradients: evaluating one grad C_x costs 1, so a full-batch gradient-descent (GD)
update costs n and a mini-batch SGD update costs m; one epoch (every training example used once) costs n for
both. Evaluations of the full cost made to measure the runs are not counted. Each method runs at its best rate of
one registered grid, chosen per compared point by the mean over seeds of the log training cost; members that
diverge are left out of that choice. The comparisons are paired by seed (the same initialization for both).
All four claims are predictions: each could come out otherwise.
"""

from experiments._registry import Claim, Seeds, above

SOURCE = "notes, 'Stochastic gradient descent'"
_SEEDS = Seeds(full=5, quick=3, which="jax.random.split(jax.random.key(seed), n): initialization (shared by GD and "
                                      "SGD and by every rate) and SGD's mini-batch order")
_SETUP = ("MNIST: the first 5,000 training images (1,000 quick), the 10,000 test images (2,000 quick); 784-30-10, "
          "sigmoid hidden units, softmax + log-likelihood, Xavier weights; training cost C = mean log-likelihood "
          "cost over the n training images; GD: 100 updates (20 quick) on all n; SGD: mini-batch m = 10 drawn "
          "without replacement, reshuffled every epoch, 5 epochs (2 quick); rates {0.1, 0.3, 1, 3, 10} for both "
          "({0.3, 3} quick)")
_LOG = "above 0: 'lower' is any amount lower"

CLAIMS = (
    Claim(
        id="why_sgd/per-epoch-cost",
        kind="prediction",
        source=SOURCE,
        quantity="log(C_GD / C_SGD) after E = 5 epochs (2 quick) = equal compute, 5n example gradients (GD: 5 "
                 "updates, SGD: 5n/m), each at its best rate for that point, paired by seed, mean over seeds",
        predicted="> 0: per epoch SGD reaches the lower training cost",
        rule=above(0.0, "t95", _LOG),
        setup=_SETUP,
        seeds=_SEEDS,
        group="why_sgd/runs",
    ),
    Claim(
        id="why_sgd/per-epoch-test-accuracy",
        kind="prediction",
        source=SOURCE,
        quantity="test accuracy of SGD minus that of GD after E = 5 epochs (2 quick), at the rates of "
                 "per-epoch-cost, paired by seed, mean over seeds",
        predicted="> 0: per epoch SGD's network also classifies unseen images better",
        rule=above(0.0, "t95", "the notes give the direction only"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="why_sgd/runs",
    ),
    Claim(
        id="why_sgd/compute-ratio",
        kind="prediction",
        source=SOURCE + "; McCandlish et al. 2018, 'An empirical model of large-batch training': examples to a "
                        "target E = E_min (1 + B / B_noise) for a batch B",
        quantity="log10 of (the example gradients GD needs to reach the training cost SGD reaches after one epoch) "
                 "/ n (SGD's one epoch), GD at its best rate after 100 updates, SGD at its best after one epoch, "
                 "per seed; a GD run that never reaches it counts as 100 updates (a lower bound), mean over seeds",
        predicted="> log10 2: GD needs at least twice the compute",
        rule=above(0.30103, "t95", "the noise-scale model gives a ratio (1 + n/B_noise) / (1 + m/B_noise), above 2 "
                                   "unless the gradient noise scale B_noise exceeds n - 2m = 4,980 examples "
                                   "(980 quick); censoring at 100 updates only lowers the mean"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="why_sgd/runs",
    ),
    Claim(
        id="why_sgd/per-update-gd-ahead",
        kind="prediction",
        source=SOURCE + " ('the estimate won't be perfect'); the descent lemma: E[C(w - eta g_m)] = "
                        "C(w) - eta |grad C|^2 + (eta^2/2) E[g_m^T H g_m] + O(eta^3), whose last term is larger by "
                        "the mini-batch noise",
        quantity="log(C_SGD / C_GD) after K = 50 updates (10 quick), each at its best rate for that point, paired "
                 "by seed, mean over seeds",
        predicted="> 0: per update, the exact gradient makes more progress than its estimate",
        rule=above(0.0, "t95", _LOG),
        setup=_SETUP,
        seeds=_SEEDS,
        group="why_sgd/runs",
    ),
)
