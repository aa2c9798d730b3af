"""Claims of the backprop_paths experiment (notes: "Algorithm efficiency").

The path count, the path sum's equality with BP and the enumeration's factor
~n per layer are checks (the enumeration's work is D n^D by construction); the
prediction is that BP's time grows linearly with depth."""

from experiments._registry import Claim, Seeds, band, below

SECTION = "Algorithm efficiency"
_REPEATS = Seeds(full=7, quick=5, which="timing repeats after compilation and a discarded warm-up pass, depths "
                                        "interleaved within each repeat")

CLAIMS = (
    Claim(
        id="backprop_paths/path-count",
        kind="check",
        source=SECTION,
        quantity="number of (width, depth) pairs, n = 4, 64 and D = 1..16, at which the dynamic-programming path "
                 "count from a first-layer weight to the output differs from n^(D-1)",
        predicted="0 (exact integers)",
        rule=below(0.0, "exact", "a count: any difference is a bug"),
        setup="fully connected 3 -> n x D -> 1, Python integers (n = 64, D = 16: 1.24e27 paths)",
    ),
    Claim(
        id="backprop_paths/path-sum-equals-bp",
        kind="check",
        source=SECTION,
        quantity="max relative difference between dC/dW^1 summed over every path (one term per path) and fnn's "
                 "BP, float64 (infinite if the number of terms summed differs from the path count)",
        predicted="0 (the chain rule)",
        rule=below(1e-10, "exact", "float64 round-off"),
        setup="3 -> 4 x D -> 1 sigmoid networks, D = 1, 2, 3, 5, quadratic cost, one example",
    ),
    Claim(
        id="backprop_paths/enumeration-factor",
        kind="check",
        source=SECTION,
        quantity="exp of the slope of log(enumeration time) vs D (per-layer factor), width n = 4, mean over repeats",
        predicted="the factor of the work D n^D over the same depths: 4.43 (D = 8..12), 4.47 (D = 8..10, quick)",
        rule=band(4.4258 / 1.2, 4.4258 * 1.2, "t95", "within a factor 1.2 of the work's factor (numpy's per-call "
                                                     "and cache costs); BP's alternative, ~1 per layer, fails",
                  point=4.4258),
        quick=band(4.4721 / 1.2, 4.4721 * 1.2, "t95", "within a factor 1.2 of the work's factor over D = 8..10",
                   point=4.4721),
        setup="3 -> 4 x D -> 1, D = 8..12 (8..10 quick), numpy float64, paths in blocks of 16384; each timing the "
              "fastest of 3 calls",
        seeds=_REPEATS,
        group="backprop_paths/timing",
    ),
    Claim(
        id="backprop_paths/bp-linear-in-depth",
        kind="prediction",
        source=SECTION,
        quantity="log-log slope of fnn's jitted BP time vs D, width 64, batch 256, mean over repeats",
        predicted="1 (work O(D n^2)); per-call overhead makes it less",
        rule=band(0.6, 1.15, "t95", "linear up to 15% timing error, down to 0.6 for the fixed per-call overhead "
                                    "at small D; summing over paths (1 + D ln n ~ 44) fails", point=1.0),
        setup="64 -> 64 x D -> 1 sigmoid, batch 256, float32, D = 2..24 (7 depths; 2, 4, 8, 16 quick); each timing "
              "the fastest of 9 calls",
        seeds=_REPEATS,
        group="backprop_paths/timing",
    ),
)
