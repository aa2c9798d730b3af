"""Claims of the real_net_schedules experiment (notes, "Learning rate scheduling" and "Momentum", on a real
network rather than the linear regression and quadratics of the schedules and momentum experiments).

An MLP 784-30-10 on MNIST trained by SGD for the same number of updates with a constant rate, a step decay,
the notes' power law, a cosine decay, and momentum 0.9 at the rate matched by the notes' "the momentum is
increasing the learning rate by a factor 1/(1 - mu)". Every variant starts from the same initializations and
sees the same mini-batches (member i of every variant has key i), so the comparisons are paired by seed.

Predictions: each decaying schedule reaches a lower final training cost than the constant rate at the same
budget (the notes: "best results are obtained using a larger value at the start ... and then reducing"); the
step decay also a higher test accuracy; momentum with eta (1 - mu) matched to the constant rate reaches the
same test accuracy and training cost (the low-curvature equivalence)."""

import math

from experiments._registry import Claim, Seeds, above, band

_SCHED = "Optimization / Learning rate scheduling"
_MOM = "Optimization / Momentum ('increasing the learning rate by a factor 1/(1 - mu)')"
_SEEDS = Seeds(full=8, quick=3, which="jax.random.split(key(seed), n): initialisations and batch orders, the same "
                                      "n keys for every variant (paired comparisons)")
_SETUP = ("784-30-10 sigmoid MLP, weights N(0, 1/n_in), biases N(0, 1), cross-entropy, mini-batch 10, MNIST's first "
          "50000 training images, 10 epochs = T = 50000 updates (quick: 5000 images, 2 epochs); constant eta = 0.5; "
          "step decay 0.5 -> 0.05 at T/2 -> 0.005 at 3T/4; power law 0.5 (1 + t/5000)^-0.5; cosine 0.5 -> 0 over T; "
          "momentum mu = 0.9 with eta = 0.05. Training cost = cross-entropy on the whole training set after the last "
          "epoch; test accuracy on MNIST's 10000 test images (quick: 2000)")
_COST_GAIN = "final training cost, constant rate minus {name}, paired by seed; mean over seeds"
_COST_REASON = ("0.005 nats: below it the gain is of the size of rounding between near-identical runs, not the "
                "floor the notes' schedules lower; the alternative (no gain) gives <= 0")


def _cost_gain(slug: str, name: str, why: str) -> Claim:
    return Claim(
        id=f"real_net_schedules/{slug}-lower-train-cost",
        kind="prediction",
        source=_SCHED,
        quantity=_COST_GAIN.format(name=name),
        predicted=f"> 0.005 nats: {why}",
        rule=above(0.005, "t95", _COST_REASON),
        setup=_SETUP,
        seeds=_SEEDS,
        group="real_net_schedules/runs",
    )


CLAIMS = (
    _cost_gain("step-decay", "step decay", "the last quarter at eta/100 settles below the constant rate's SGD "
                                           "noise floor"),
    _cost_gain("cosine", "cosine decay", "the rate falls to 0, so SGD's noise floor falls with it"),
    _cost_gain("power-law", "the notes' power law", "the rate ends at 0.30 of eta_0 (1 + 10)^-0.5, lowering the "
                                                    "noise floor, while the early large steps keep the progress"),
    Claim(
        id="real_net_schedules/step-decay-test-accuracy",
        kind="prediction",
        source=_SCHED + " ('best results are obtained using a larger value ... and then reducing')",
        quantity="final test accuracy, step decay minus constant rate, paired by seed; mean over seeds",
        predicted="> 0: the decayed run generalizes at least as well as it fits",
        rule=above(0.0, "t95", "the notes' 'best results': the step decay must be better, by any amount the "
                               "interval can resolve"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="real_net_schedules/runs",
    ),
    Claim(
        id="real_net_schedules/momentum-matched-test-accuracy",
        kind="prediction",
        source=_MOM,
        quantity="final test accuracy, momentum (mu = 0.9, eta = 0.05) minus constant SGD (eta = 0.5), paired by "
                 "seed; mean over seeds",
        predicted="0: with eta/(1 - mu) equal to SGD's rate, momentum takes the same effective steps where the "
                  "curvature is low",
        rule=band(-0.005, 0.005, "t95", "half a percentage point either way: about twice the seed-to-seed spread "
                                        "of a 784-30-10 network's test accuracy (Nielsen ch. 1: ~95% +- 0.2-0.3%)",
                  point=0.0),
        quick=band(-0.02, 0.02, "t95", "for the quick sizes (2000 test images, 2 epochs, 3 seeds): two "
                                       "percentage points either way", point=0.0),
        setup=_SETUP,
        seeds=_SEEDS,
        group="real_net_schedules/runs",
    ),
    Claim(
        id="real_net_schedules/momentum-matched-train-cost",
        kind="prediction",
        source=_MOM,
        quantity="log(final training cost of momentum (mu = 0.9, eta = 0.05) / that of constant SGD (eta = 0.5)), "
                 "paired by seed; mean over seeds",
        predicted="0: the same effective rate reaches the same training cost",
        rule=band(-math.log(1.1), math.log(1.1), "t95", "within 10% of SGD's final training cost: the difference "
                                                        "of two runs at one effective rate is their noise, not a "
                                                        "factor", point=0.0),
        setup=_SETUP,
        seeds=_SEEDS,
        group="real_net_schedules/runs",
    ),
)
