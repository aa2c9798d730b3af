"""Claims of the vanishing_training experiment (notes, "Normalization": "having to deal with vanishing and
exploding gradients"; Nielsen, Neural Networks and Deep Learning, ch. 5, "The vanishing gradient problem").

A deep sigmoid MLP 784-30-30-30-30-10 trained on MNIST: the per-layer gradient norms ||dC/db^l|| (Nielsen's
"speed of learning" of layer l) measured at initialization and after every epoch. Nielsen's ch. 5 reports, for
this network at initialization, 0.003, 0.017, 0.070, 0.285 (first to last hidden layer) and shows the earlier
layers learning slower throughout training. Predictions: the ratio of the first to the last hidden layer at
initialization (against Nielsen's number), that ratio's bound and drift during training, and the order of the
layers at every epoch; a check that the network does learn (else "during training" would say nothing)."""

import math

from experiments._registry import Claim, Seeds, above, band, below

_SOURCE = "Normalization ('vanishing and exploding gradients'); Nielsen ch. 5, 'The vanishing gradient problem'"
_SEEDS = Seeds(full=8, quick=3, which="jax.random.split(key(seed), n): initialisations and batch orders; the "
                                      "training images are the first n of MNIST's training set for every seed")
_SETUP = ("784-30-30-30-30-10 sigmoid MLP, weights N(0, 1/n_in), biases N(0, 1) (Nielsen's network2 "
          "initialization), cross-entropy, SGD eta = 0.1, mini-batch 10, on the first 1000 MNIST training images, "
          "500 epochs (quick: 300 images, 20 epochs); ||dC/db^l|| of the mean cost over those images (full batch, "
          "hidden layers l = 1..4) at initialization and after every epoch")
_RATIO = "log10(||dC/db^1|| / ||dC/db^4||)"
_NIELSEN = math.log10(0.003 / 0.285)

CLAIMS = (
    Claim(
        id="vanishing_training/init-ratio-nielsen",
        kind="prediction",
        source=_SOURCE + " (0.003 / 0.285 at initialization)",
        quantity=f"{_RATIO} at initialization, mean over seeds",
        predicted=f"Nielsen's {_NIELSEN:.2f} (first hidden layer ~100 times slower than the last)",
        rule=band(_NIELSEN - 0.5, _NIELSEN + 0.5, "t95", "half a decade either way: Nielsen's number is one "
                                                         "network's, and the ratio of norms varies from draw to "
                                                         "draw", point=_NIELSEN),
        setup=_SETUP,
        seeds=_SEEDS,
        group="vanishing_training/runs",
    ),
    Claim(
        id="vanishing_training/first-slower-throughout",
        kind="prediction",
        source=_SOURCE + " (the earlier layers learn slower during training, not only at the start)",
        quantity=f"max over the measured epochs (initialization and after each epoch) of {_RATIO}, per seed; "
                 "mean over seeds",
        predicted="< -1: the first hidden layer's gradient stays at least 10 times smaller than the last's at "
                  "every epoch",
        rule=below(-1.0, "t95", "one decade: Nielsen's figures keep about two decades between the first and the "
                                "last hidden layer through training; one leaves room for the weights' growth"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="vanishing_training/runs",
    ),
    Claim(
        id="vanishing_training/ratio-drift",
        kind="prediction",
        source=_SOURCE + " (the gap persists through training)",
        quantity=f"{_RATIO} after the last epoch minus at initialization, per seed; mean over seeds",
        predicted="within one decade of 0: training does not remove (nor deepen by more than 10x) the gap",
        rule=band(-1.0, 1.0, "t95", "one decade either way: a change by less than 10x keeps the gap of about two "
                                    "decades; a change beyond it would mean training cures or worsens vanishing",
                  point=0.0),
        setup=_SETUP,
        seeds=_SEEDS,
        group="vanishing_training/runs",
    ),
    Claim(
        id="vanishing_training/layer-order-throughout",
        kind="prediction",
        source=_SOURCE + " ('the earlier layers learn slower')",
        quantity="fraction of the measured epochs at which ||dC/db^1|| < ||dC/db^2|| < ||dC/db^3|| < "
                 "||dC/db^4||, per seed; mean over seeds",
        predicted="> 0.9: the order of the layers holds at (nearly) every epoch",
        rule=above(0.9, "t95", "one epoch in ten may break the order (a late layer's gradient dipping as it "
                               "fits) without contradicting the notes' picture"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="vanishing_training/runs",
    ),
    Claim(
        id="vanishing_training/network-learns",
        kind="check",
        source=_SOURCE,
        quantity="training accuracy on the training images after the last epoch, mean over seeds",
        predicted="> 0.9 (quick: > 0.5): the network is trained, so the gradients are measured during real "
                  "training",
        rule=above(0.9, "t95", "a control of the setup: a network that has not learned would make 'during "
                               "training' empty"),
        quick=above(0.5, "t95", "for the quick sizes (300 images, 20 epochs): well above chance 0.1"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="vanishing_training/runs",
    ),
)
