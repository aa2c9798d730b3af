"""Claims of the saturation experiment (notes: "Consequences of the four equations of BP").

Five checks read BP1, BP2 and BP4 back from fnn's backprop in float64 (identities: they catch a
bug, they confirm no theory); one prediction, that weights out of low-activation inputs move
less in training in proportion to the input's scale, can come out otherwise (training could
equalize the displacements, slope 0)."""

from experiments._registry import Claim, Seeds, band, below

SOURCE = "Consequences of the four equations of BP"

CLAIMS = (
    Claim(
        id="saturation/bp4-one-example",
        kind="check",
        source=SOURCE + " (BP4)",
        quantity="max relative error of dC/dw_jk against z_k dC/db_j over all first-layer weights, one example",
        predicted="0 (BP4 with BP3, an identity)",
        rule=below(1e-12, "exact", "an identity in float64: only round-off separates the two sides"),
        setup="one example through a 6-5-3 sigmoid net, inputs z_k = 1e-4..1 (6, log-spaced), quadratic cost, float64",
    ),
    Claim(
        id="saturation/bp4-slope-one-example",
        kind="check",
        source=SOURCE + " (BP4)",
        quantity="largest over hidden units j of |log-log slope of |dC/dw_jk| against z_k - 1|",
        predicted="0 (the gradient is z_k times a factor independent of k)",
        rule=below(1e-6, "exact", "an identity: a slope off by more than round-off is a bug"),
        setup="the example of bp4-one-example",
    ),
    Claim(
        id="saturation/bp4-in-training",
        kind="prediction",
        source=SOURCE + " (BP4: 'whenever z_in is small, the gradient will also tend to be small')",
        quantity="mean over tasks of the log-log slope of how far input k's weights moved in training against "
                 "input k's scale s_k",
        predicted="1 (displacement proportional to the input's scale, as the first step's gradient is)",
        rule=band(0.9, 1.1, "t95", "a slope within 0.1 of 1 keeps the displacement proportional to the scale "
                                   "within a factor 2 over the 3 decades of scale; no dependence gives 0",
                  point=1.0),
        setup="8 inputs with scales 1e-3..1 (log-spaced), random teacher hyperplane, 256 examples, 8-4-1 sigmoid "
              "student, cross-entropy, full-batch GD eta = 0.5 for 200 steps (50 quick), float64",
        seeds=Seeds(full=32, quick=8, which="independent tasks (data, teacher, student init) from numpy "
                                            "default_rng(seed), drawn in order"),
    ),
    Claim(
        id="saturation/bp1-sigma-prime",
        kind="check",
        source=SOURCE + " (BP1)",
        quantity="max relative error of dC/db^L / (z - y) against sigma'(a^L) over a in [-15, 15]",
        predicted="0 (BP1 for the quadratic cost)",
        rule=below(1e-6, "exact", "an identity in float64 (sigma' from e^-|a|/(1+e^-|a|)^2, no cancellation)"),
        setup="one sigmoid output unit, quadratic cost, target 0, bias swept over 301 points (61 quick)",
    ),
    Claim(
        id="saturation/bp1-saturated-ratio",
        kind="check",
        source=SOURCE + " (BP1: a saturated output learns slowly even when wrong)",
        quantity="relative error of the bias-gradient ratio (a = 10) / (a = 0) against "
                 "sigma'(10) sigma(10) / (sigma'(0) sigma(0)) (~3.6e-4)",
        predicted="0",
        rule=below(1e-6, "exact", "BP1 evaluated at two points: an identity"),
        setup="the output unit of bp1-sigma-prime",
    ),
    Claim(
        id="saturation/bp2-hidden",
        kind="check",
        source=SOURCE + " (BP2)",
        quantity="max relative error of a hidden unit's weight-gradient norm against "
                 "sigma'(a_j) |(W^T delta)_j| ||z_in|| over a_j in [-15, 15]",
        predicted="0 (BP2 with BP4)",
        rule=below(1e-6, "exact", "an identity in float64"),
        setup="hidden unit 2 of a 4-6-2 sigmoid net, its bias set so that a_j sweeps [-15, 15], quadratic cost",
    ),
)
