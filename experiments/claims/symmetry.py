"""Claims of the symmetry experiment (notes: "Symmetry breaking").

Four checks: outcomes forced by the setup (BP2/BP4 give identical units identical updates, so a
constant initialization stays symmetric and its hidden layer computes one function, whose
boundary is a line and so classifies at most 3 of XOR's 4 corners; a random initialization's
units differ). One prediction: from a random initialization, GD learns noisy XOR on every seed
(it could instead stall in a poor minimum)."""

from experiments._registry import Claim, Seeds, above, below

SOURCE = "Symmetry breaking"
_SEEDS = Seeds(full=6, quick=3, which="noisy-XOR data sets fold_in(key(seed), 100 + i) and initializations "
                                      "split(fold_in(key(seed), 1), n), one vmapped population")
_SETUP = ("2-8-1 net, tanh hidden, sigmoid output, cross-entropy, full-batch GD eta = 0.5 for 6000 steps (1500 "
          "quick), noisy XOR (200 points, noise 0.15), float64")

CLAIMS = (
    Claim(
        id="symmetry/constant-units-identical",
        kind="check",
        source=SOURCE,
        quantity="largest difference between two hidden units' weights (incoming rows, biases, outgoing "
                  "weights), over logged steps and seeds, constant initialization",
        predicted="0 (BP2/BP4 give identical units identical updates)",
        rule=below(1e-6, "exact", "an identity; float64 round-off amplified by the saddle stays far below"),
        setup=_SETUP + "; every weight 0.5, biases 0",
        seeds=_SEEDS,
        group="symmetry/constant",
    ),
    Claim(
        id="symmetry/constant-rank-one",
        kind="check",
        source=SOURCE,
        quantity="largest numerical rank (singular values > 1e-4 of the largest) of the hidden activations over "
                 "logged steps and seeds, constant initialization",
        predicted="1 (the hidden layer computes one function)",
        rule=below(1.0, "exact", "forced by identical units"),
        setup=_SETUP + "; every weight 0.5, biases 0",
        seeds=_SEEDS,
        group="symmetry/constant",
    ),
    Claim(
        id="symmetry/random-breaks-symmetry",
        kind="check",
        source=SOURCE,
        quantity="smallest numerical rank of the hidden activations over logged steps and seeds, random "
                 "(Xavier) initialization",
        predicted=">= 2 (at most 8)",
        rule=above(2.0, "exact", "forced by the setup: 8 units with independent random weights compute different "
                                 "functions of 200 points"),
        setup=_SETUP + "; Xavier initialization",
        seeds=_SEEDS,
        group="symmetry/random",
    ),
    Claim(
        id="symmetry/constant-xor-bound",
        kind="check",
        source=SOURCE,
        quantity="largest training accuracy over seeds, constant initialization",
        predicted="<= 3/4 (one unit's boundary v tanh(w.x + b) + c = 0 is a line: at most 3 of 4 corners)",
        rule=below(0.80, "exact", "forced by identical units; 3/4 plus 5 points for noisy points near the corners"),
        setup=_SETUP + "; every weight 0.5, biases 0",
        seeds=_SEEDS,
        group="symmetry/constant",
    ),
    Claim(
        id="symmetry/random-learns-xor",
        kind="prediction",
        source=SOURCE + " ('A common approach is to initialize the parameters randomly')",
        quantity="smallest training accuracy over seeds, random (Xavier) initialization",
        predicted="close to 1 on every seed",
        rule=above(0.90, "exact", "every seed learns XOR (noise 0.15 around the corners); one unit's line gives "
                                  "<= 0.75, a net stalled in a poor minimum fails"),
        setup=_SETUP + "; Xavier initialization",
        seeds=_SEEDS,
        group="symmetry/random",
    ),
)
