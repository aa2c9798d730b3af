"""Claims of the sigmoid_vs_step experiment (notes: "Sigmoid neurons").

Every claim is a check: the step's jumps and zero gradient follow from its
definition, the sigmoid's first-order change and second-order remainder from
Taylor's theorem for a smooth function; none could refute a theory."""

from experiments._registry import Claim, Seeds, above, band, below

SOURCE = "Sigmoid neurons"
_NEURON = "one neuron, 3 inputs x = (1, 0.5, -0.3), w = (0.6, -0.4, 0.8), bias set so that a = w.x + b = 0.5, float64"
_SWEEP = _NEURON + "; w_1 swept by dw over [-1, 1], 2001 points (401 quick)"
_TAYLOR = _NEURON + "; |dw| on a geometric grid 1e-6..1 (25 points, 13 quick), fitted over 1e-5 <= dw <= 1e-2"
_POP = ("random 4 -> 8 -> 1 networks (N(0, 1) weights and biases), 4000 (1000 quick), the same weights with sigmoid "
        "or step units, one random first-layer weight moved by +-dw, float64")
_SUBPOPS = Seeds(full=5, quick=5, which="5 disjoint sub-populations of the networks drawn from numpy "
                                        "default_rng(seed)")

CLAIMS = (
    Claim(
        id="sigmoid_vs_step/step-jumps-only",
        kind="check",
        source=SOURCE,
        quantity="fraction of swept dw at which the step neuron's output change is 0, -1 or +1 exactly",
        predicted="1 (the step function takes the values 0 and 1 only)",
        rule=above(1.0, "exact", "a definition: any other change is a bug"),
        setup=_SWEEP,
    ),
    Claim(
        id="sigmoid_vs_step/step-jump-location",
        kind="check",
        source=SOURCE,
        quantity="|dw at the step neuron's single jump - dw*|, dw* = -a/x_1 = -0.5 (infinite if the number of "
                 "jumps is not 1)",
        predicted="0, up to one sweep step",
        rule=below(1e-3, "exact", "one sweep step of the full grid (2/2000): the jump is located between two "
                                  "grid points"),
        quick=below(5e-3, "exact", "one sweep step of the quick grid (2/400)"),
        setup=_SWEEP,
    ),
    Claim(
        id="sigmoid_vs_step/sigmoid-gradient",
        kind="check",
        source=SOURCE,
        quantity="relative difference |d output / d w_1 (jax.grad) - sigma'(a) x_1| / |sigma'(a) x_1|",
        predicted="0 (the chain rule)",
        rule=below(1e-12, "exact", "float64 round-off"),
        setup=_NEURON,
    ),
    Claim(
        id="sigmoid_vs_step/taylor-remainder-slope",
        kind="check",
        source=SOURCE,
        quantity="log-log slope of |Delta output - sigma'(a) x_1 dw| vs dw, one neuron",
        predicted="2 (Taylor's theorem: the remainder of a first-order expansion of a smooth function)",
        rule=band(1.9, 2.1, "exact", "the third-order term at dw = 1e-2 and round-off at 1e-5 bend the slope by "
                                     "far less than 0.1", point=2.0),
        setup=_TAYLOR,
    ),
    Claim(
        id="sigmoid_vs_step/taylor-remainder-coefficient",
        kind="check",
        source=SOURCE,
        quantity="largest relative deviation of |Delta output - sigma'(a) x_1 dw| / dw^2 from |sigma''(a)| x_1^2 / "
                 "2 = 0.02878, sigma'' = sigma'(1 - 2 sigma)",
        predicted="0 (Taylor's theorem)",
        rule=below(0.05, "exact", "the third-order term at dw = 1e-2 is ~1% of the second"),
        setup=_TAYLOR,
    ),
    Claim(
        id="sigmoid_vs_step/population-proportional",
        kind="check",
        source=SOURCE,
        quantity="log-log slope of the median |Delta output| vs dw over sigmoid networks (dw <= 1e-2), mean over "
                 "sub-populations",
        predicted="1 (first-order Taylor; a step network's changes would give 0)",
        rule=band(0.99, 1.01, "t95", "the second-order term at dw = 1e-2 is ~1e-2 of the first", point=1.0),
        setup=_POP,
        seeds=_SUBPOPS,
        group="sigmoid_vs_step/population",
    ),
    Claim(
        id="sigmoid_vs_step/population-linearization",
        kind="check",
        source=SOURCE,
        quantity="median relative error |Delta output - grad . Delta w| / |grad . Delta w| at dw = 1e-3 over "
                 "sigmoid networks whose gradient along the weight is not ~0, mean over sub-populations",
        predicted="O(dw) = O(1e-3) (first-order Taylor)",
        rule=below(1e-2, "t95", "10 dw: a first-order error would be ~dw times |sigma''/sigma'| ~ 1"),
        setup=_POP,
        seeds=_SUBPOPS,
        group="sigmoid_vs_step/population",
    ),
    Claim(
        id="sigmoid_vs_step/step-network-jumps",
        kind="check",
        source=SOURCE,
        quantity="fraction of the step networks' nonzero output changes equal to 1 in size (0 if there are none)",
        predicted="1, whatever the size of dw",
        rule=above(1.0, "exact", "a definition: a step output takes the values 0 and 1 only"),
        setup=_POP,
    ),
    Claim(
        id="sigmoid_vs_step/step-network-gradient",
        kind="check",
        source=SOURCE,
        quantity="max |grad . Delta w| over the step networks",
        predicted="0 (the step's derivative is 0 wherever it exists)",
        rule=below(0.0, "exact", "a definition"),
        setup=_POP,
    ),
)
