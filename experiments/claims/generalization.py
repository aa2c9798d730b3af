"""Claims of the generalization experiment (notes, "Universal Approximation Theorem": "with enough data, any
problem of overfitting can be overcome"; "Architecture of Neural networks": "using a large number of hidden
units is powerful but it's prone to overfitting or require more data").

The generalization gap of a network is its test error minus its training error (errors = 1 - accuracy, the
training error on the n images it was trained on). Every run gets the same number of updates, so a larger
training set is not trained longer. All four claims are predictions: the notes state the directions, learning
theory the rate; the data could contradict each.
"""

from experiments._registry import Claim, Seeds, above, band, below

SOURCE_DATA = "notes, 'Universal Approximation Theorem': 'with enough data, any problem of overfitting can be overcome'"
SOURCE_WIDTH = ("notes, 'Architecture of Neural networks': 'using a large number of hidden units is powerful but "
                "it's prone to overfitting or require more data'")
_SEEDS = Seeds(full=5, quick=3, which="jax.random.split(jax.random.key(seed), n): one key per run (initialization "
                                      "and mini-batch order), the same n keys for every width and training-set size")
_SETUP = ("MNIST: the first n training images (nested subsets), the 10,000 test images (2,000 quick); 784-w-10, "
          "sigmoid hidden units, softmax + log-likelihood, Xavier weights; SGD eta = 0.5, mini-batch 20, 5,000 "
          "updates for every (w, n) (100,000 example gradients: 200 epochs at n = 500, 5 at n = 20,000); "
          "w in {8, 16, 32, 64, 128, 256}, n in {500, 1,000, 2,000, 5,000, 10,000, 20,000}; quick: w in {16, 128}, "
          "n in {500, 2,000}, 1,000 updates")
_GAP_N = ("least-squares slope of log(max(gap, 0.001)) against log n at width 64 (quick: 128), per seed, mean over "
          "seeds; the floor of 0.1 percentage points (10 test images) only flattens the slope")
_GAP_W = "least-squares slope of the gap (error units) against log2 w, per seed"

CLAIMS = (
    Claim(
        id="generalization/gap-shrinks-with-n",
        kind="prediction",
        source=SOURCE_DATA,
        quantity=_GAP_N,
        predicted="< 0: more data, smaller gap",
        rule=below(0.0, "t95", "the notes give the direction, not a rate: any decrease is what they say"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="generalization/grid",
    ),
    Claim(
        id="generalization/gap-exponent",
        kind="prediction",
        source=SOURCE_DATA + "; uniform-convergence bounds (Vapnik; Bartlett & Mendelson 2002): gap = O(n^-1/2) in "
                             "general, O(n^-1) when the training error is ~0",
        quantity=_GAP_N,
        predicted="between -1 and -1/2",
        rule=band(-1.25, -0.25, "t95", "the bounds bound the gap, they do not predict its exponent: a margin of "
                                       "1/4 on either side of the range [-1, -1/2] they give",
                  point=-0.5),
        quick=band(-1.5, -0.1, "t95", "quick sizes (1,000 updates, two n): the gap at n = 2,000 is measured on "
                                      "an undertrained network; a wider band"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="generalization/grid",
    ),
    Claim(
        id="generalization/gap-grows-with-width-small-n",
        kind="prediction",
        source=SOURCE_WIDTH,
        quantity=_GAP_W + " at n = 500, mean over seeds",
        predicted="> 0: at small n a wider network overfits more (the alternative from over-parameterized "
                  "networks: a gap that stays or shrinks with width once every width fits its training set)",
        rule=above(0.0, "t95", "the notes give the direction only"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="generalization/grid",
    ),
    Claim(
        id="generalization/width-effect-shrinks-with-n",
        kind="prediction",
        source=SOURCE_WIDTH + "; " + SOURCE_DATA,
        quantity=_GAP_W + ": its value at n = 500 minus its value at n = 20,000 (quick: 2,000), paired by seed, "
                          "mean over seeds",
        predicted="> 0: with more data, width adds less to the gap ('or require more data')",
        rule=above(0.0, "t95", "the notes give the direction only"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="generalization/grid",
    ),
)
