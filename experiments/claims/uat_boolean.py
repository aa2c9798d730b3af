"""Claims of the uat_boolean experiment (notes: "Universal Approximation Theorem", the binary case).

The lookup and parity constructions are checks; the predictions are that the
parameters a random ``n``-bit function needs grow exponentially in ``n`` (the
exponential model fits better than the polynomial one) and that the growth rate
lies between the counting bound's and the lookup bound's."""

from experiments._registry import Claim, Seeds, above, band

SOURCE = "Universal Approximation Theorem (Boolean functions need O(2^n) degrees of freedom)"
_FUNCS = Seeds(full=64, quick=30, which="random Boolean functions from numpy default_rng(seed): 8 per n for "
                                        "n = 2..9 (5 per n for n = 2..7 in quick mode)")
_TRAINED = ("n -> H -> 1 (sigmoid hidden and output, cross-entropy, all 2^n inputs, Adam 0.05, 3000 steps, "
            "2000 quick), 2 restarts per width, N(0, 1) weights; smallest width of a grid (every width up to "
            "2^(n-1) for n <= 5, the window [0.3, 1] x 2^n/(n+2) beyond) at which a restart classifies all 2^n "
            "inputs; P = H (n + 2) + 1")

CLAIMS = (
    Claim(
        id="uat_boolean/lookup-construction",
        kind="check",
        source=SOURCE,
        quantity="fraction of random Boolean functions the lookup construction (one sigmoid unit of gain 20 per "
                 "input configuration with f = 1) classifies exactly",
        predicted="1 (a construction)",
        rule=above(1.0, "exact", "a construction verified on every input: any miss is a bug"),
        setup="8 random functions per n = 2..9 (5 per n = 2..7 quick), all 2^n inputs",
    ),
    Claim(
        id="uat_boolean/parity-construction",
        kind="check",
        source=SOURCE,
        quantity="fraction of n for which the n-unit parity construction (unit k fires when at least k bits are "
                 "on, output sum_k (-1)^(k+1) h_k) computes n-bit parity",
        predicted="1 (a construction: parity is not the worst case)",
        rule=above(1.0, "exact", "a construction verified on every input: any miss is a bug"),
        setup="n = 2..9 (2..7 quick), all 2^n inputs",
    ),
    Claim(
        id="uat_boolean/exponential-not-polynomial",
        kind="prediction",
        source=SOURCE,
        quantity="log(RSS of log2 P = a + k log2 n / RSS of log2 P = a + b n), fitted to the median log2 P per n",
        predicted="> 0 (the exponential model fits better)",
        rule=above(0.0, "bootstrap95", "the sign separates the two models: a polynomial growth n^k gives a "
                                       "ratio below 0; percentile bootstrap over functions within each n, 2000 "
                                       "resamples (400 quick)"),
        setup=_TRAINED,
        seeds=_FUNCS,
        group="uat_boolean/trained-widths",
    ),
    Claim(
        id="uat_boolean/growth-rate",
        kind="prediction",
        source=SOURCE + "; counting (VC) bound P >~ 2^n/n, lookup / memorization bound P <~ 2^n",
        quantity="OLS slope b of log2 P = a + b n over every function",
        predicted="between the slope of log2(2^n/n) over the same n (0.703 for n = 2..9, 0.647 for n = 2..7) "
                  "and 1 (the slope of log2 2^n)",
        rule=band(0.703, 1.0, "ols95", "the bracket of the two bounds' slopes over n = 2..9; a polynomial "
                                       "growth gives a slope that falls below it as n grows"),
        quick=band(0.647, 1.0, "ols95", "the bracket of the two bounds' slopes over the quick range n = 2..7"),
        setup=_TRAINED,
        seeds=_FUNCS,
        group="uat_boolean/trained-widths",
    ),
)
