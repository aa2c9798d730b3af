"""Claims of the bn_affine experiment (notes, "Batch normalization": after normalizing, the pre-activations are
rescaled, a~ = gamma a^ + beta; the mean and spread are then "determined by two simple independent
parameters, which turn out to be much easier to learn by GD" than through the hundreds of weights).

The same MLP with batch norm trained by SGD twice from the same initialization and mini-batches: gamma and
beta learned, or frozen at 1 and 0 (their updates masked). With them frozen every hidden unit's
pre-activation keeps mean 0 and variance 1 over the batch whatever the weights, so only gamma and beta can
set them. Predictions: learning gamma and beta lowers the training cost and raises the test accuracy at the
same budget; a check that the frozen ones stay exactly at 1 and 0."""

from experiments._registry import Claim, Seeds, above, below

_SOURCE = "Normalization / Batch normalization ('much easier to learn by GD')"
_SEEDS = Seeds(full=8, quick=3, which="jax.random.split(key(seed), n): initialisations and batch orders, the same "
                                      "n keys for both variants (paired comparisons)")
_SETUP = ("784-100-100-10 MLP, sigmoid hidden and output units, batch norm on both hidden layers' pre-activations "
          "(no bias; gamma = 1, beta = 0 at the start; moving averages alpha = 0.9), Xavier weights, cross-entropy, "
          "SGD eta = 0.1, mini-batch 32, MNIST's first 50000 training images, 10 epochs (quick: 5000 images, 2 "
          "epochs); gamma and beta learned, or frozen by zeroing their updates. Costs and accuracies in inference "
          "mode (moving averages) on the whole training set and on MNIST's 10000 test images (quick: 2000)")

CLAIMS = (
    Claim(
        id="bn_affine/learned-lower-train-cost",
        kind="prediction",
        source=_SOURCE,
        quantity="final training cost, gamma and beta frozen minus learned, paired by seed; mean over seeds",
        predicted="> 0.005 nats: with gamma and beta learned GD sets each unit's mean and spread directly",
        rule=above(0.005, "t95", "0.005 nats: below it the two variants are equal within rounding of near-identical "
                                 "runs; the alternative (gamma and beta give GD nothing) gives <= 0"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="bn_affine/runs",
    ),
    Claim(
        id="bn_affine/learned-test-accuracy",
        kind="prediction",
        source=_SOURCE,
        quantity="final test accuracy, gamma and beta learned minus frozen, paired by seed; mean over seeds",
        predicted="> 0: the easier fit carries over to held-out images",
        rule=above(0.0, "t95", "any gain the interval resolves; <= 0 would mean the extra parameters only fit "
                               "the training set"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="bn_affine/runs",
    ),
    Claim(
        id="bn_affine/frozen-stay-fixed",
        kind="check",
        source=_SOURCE,
        quantity="max over seeds, layers and units of |gamma - 1| and |beta| after training, frozen variant",
        predicted="0: the mask zeroes every update of gamma and beta",
        rule=below(0.0, "exact", "the freezing is exact (updates of exactly zero); anything else is a bug"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="bn_affine/runs",
    ),
)
