"""Claims of the sigma_shape experiment (notes, "Sigmoid neurons": "It is not the exact shape of sigma to be
crucial, but rather its smoothness"; "The Step function is not differentiable since it's not continuous (it also
has derivatives = 0, bad)").

Four hidden activations are trained alike by gradient descent with backpropagation: three smooth squashing
functions of different shapes (the logistic sigmoid, range (0, 1), slope 1/4 at 0; tanh, range (-1, 1), slope 1;
softsign x / (1 + |x|), range (-1, 1), slope 1, polynomial instead of exponential tails) and the step function.
The step's derivative is 0 wherever it exists, so backpropagation gives its hidden layer no gradient
(BP2: delta^1 = (W^2T delta^2) (.) sigma'(a^1) = 0): the step network keeps its random hidden layer and trains
only its output layer, a softmax classifier on 30 random binary features; it is not at chance. A fifth network
has the step's forward pass with the sigmoid's derivative in the backward pass (a straight-through surrogate,
Bengio, Leonard & Courville 2013), which says whether the step fails by its shape or by its zero derivative.
"""

from experiments._registry import Claim, Seeds, above, band, below

SOURCE = "notes, 'Sigmoid neurons'"
_SEEDS = Seeds(full=5, quick=3, which="jax.random.split(jax.random.key(seed), n): initialization and mini-batch "
                                      "order, the same n keys for every activation and rate")
_SETUP = ("MNIST: the first 20,000 training images (2,000 quick), 10,000 validation images (the last 10,000 of the "
          "training file; 2,000 quick) to choose each activation's rate, the 10,000 test images (2,000 quick); "
          "784-30-10, hidden sigma in {sigmoid, tanh, softsign, step, step with the sigmoid's derivative}, softmax "
          "+ log-likelihood, Xavier weights; SGD mini-batch 10, 10 epochs (1 quick), rates {0.03, 0.1, 0.3, 1, 3} "
          "({0.1, 1} quick), each activation at its best rate by mean final validation accuracy over seeds")
_BAND = ("1 percentage point: the seed-to-seed spread of a 784-30-10 network's test accuracy is 0.2-0.4 points, so "
         "the paired mean over 5 seeds is known to about +-0.3; a difference above 1 point after 10 epochs at "
         "each one's best rate is a difference of shape that matters")
_QUICK_BAND = band(-0.05, 0.05, "t95", "quick sizes (1 epoch on 2,000 images): a difference in the speed of the "
                                       "first epoch (tanh is faster, LeCun et al. 1998) is still large; 5 points")
_PAIRED = "test accuracy at the last epoch, paired by seed, mean over seeds"

CLAIMS = (
    Claim(
        id="sigma_shape/tanh-like-sigmoid",
        kind="prediction",
        source=SOURCE + ": 'not the exact shape of sigma ... but rather its smoothness'",
        quantity="tanh minus sigmoid, " + _PAIRED,
        predicted="0: two smooth squashing functions of different range and slope reach the same accuracy",
        rule=band(-0.01, 0.01, "t95", _BAND, point=0.0),
        quick=_QUICK_BAND,
        setup=_SETUP,
        seeds=_SEEDS,
        group="sigma_shape/runs",
    ),
    Claim(
        id="sigma_shape/softsign-like-sigmoid",
        kind="prediction",
        source=SOURCE + ": 'not the exact shape of sigma ... but rather its smoothness'",
        quantity="softsign minus sigmoid, " + _PAIRED,
        predicted="0: a smooth squashing function that is not a sigmoid reaches the same accuracy",
        rule=band(-0.01, 0.01, "t95", _BAND, point=0.0),
        quick=_QUICK_BAND,
        setup=_SETUP,
        seeds=_SEEDS,
        group="sigma_shape/runs",
    ),
    Claim(
        id="sigma_shape/step-hidden-frozen",
        kind="check",
        source=SOURCE + ": 'it also has derivatives = 0'",
        quantity="max over every step-network run of |W^1 - W^1(init)| and |b^1 - b^1(init)| after training",
        predicted="0 exactly: backpropagation multiplies by sigma' = 0, so the hidden layer never moves",
        rule=below(0.0, "exact", "forced by the step's zero derivative: a check of the implementation"),
        setup=_SETUP,
    ),
    Claim(
        id="sigma_shape/step-below-smooth",
        kind="prediction",
        source=SOURCE + ": 'A Step function doesn't provide any meaningful information about those changes'",
        quantity="sigmoid minus step, " + _PAIRED,
        predicted="> 0.05: 30 trained sigmoid features beat 30 random binary features that backpropagation "
                  "cannot change",
        rule=above(0.05, "t95", "5 points: a trained hidden layer against a random one of the same size; a smaller "
                                "difference would mean the hidden layer's learning hardly matters"),
        quick=above(0.0, "t95", "quick sizes (1 epoch on 2,000 images): the direction only"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="sigma_shape/runs",
    ),
    Claim(
        id="sigma_shape/surrogate-learns",
        kind="prediction",
        source=SOURCE + "; Bengio, Leonard & Courville 2013 (straight-through estimators)",
        quantity="step with the sigmoid's derivative minus the plain step, " + _PAIRED,
        predicted="> 0: given a nonzero (surrogate) derivative, the step network's hidden layer learns and it "
                  "beats the frozen one: the zero derivative, not the jump, is what stops learning",
        rule=above(0.0, "t95", "the surrogate gradient is biased and no theory gives the size of its gain: the "
                               "direction only"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="sigma_shape/runs",
    ),
    Claim(
        id="sigma_shape/softsign-derivative",
        kind="check",
        source=SOURCE,
        quantity="max |softsign'(a) - jax.grad(softsign)(a)| over 2001 points a in [-20, 20], float32; softsign(a) "
                 "= a / (1 + |a|), softsign'(a) = 1 / (1 + |a|)^2 (the experiment's own activation, not in fnn)",
        predicted="0 up to float32 rounding",
        rule=below(1e-6, "exact", "float32 rounding of values <= 1"),
        setup="a = linspace(-20, 20, 2001), float32",
    ),
)
