"""Claims of the universal_approximation experiment (notes: "Universal Approximation Theorem").

The staircase construction's error and the step's error-vs-gain are calculations
(checks); the predictions are that trained networks beat the construction by a
stated factor on smooth 1-D targets and that the 2-D smooth targets' error falls
at least at Barron's rate ``H^-1/2`` from ``H = 1`` to the widest net."""

import math

from experiments._registry import Claim, Seeds, band, below

SOURCE = "Universal Approximation Theorem"
_RESTARTS = Seeds(full=5, quick=3, which="initial weights from numpy default_rng(seed), one draw per restart, "
                                         "shared by every width and target of a dimension")
_FITS_1D = ("networks 1 -> H -> 1 (sigmoid hidden, linear output), quadratic cost, Adam with cosine decay from "
            "0.02, 4000 steps (1500 quick) on 512 grid points (256 quick) of [-1, 1], tested on 2001 (1024); "
            "H = 1..64 (1..16 quick), doubling")
_FITS_2D = ("networks 2 -> H -> 1 (sigmoid hidden, linear output), quadratic cost, Adam with cosine decay from "
            "0.02, 3000 steps (1000 quick) on a 24 x 24 grid (16 x 16 quick) of [-1, 1]^2, tested on 64 x 64 "
            "cell centres (32 x 32); H = 1..64 (1..16 quick), doubling")


def _construction(name: str, target: str) -> Claim:
    return Claim(
        id=f"universal_approximation/construction-{name}",
        kind="check",
        source=SOURCE + " (the construction behind the theorem)",
        quantity=f"largest relative deviation |RMS / (rms(f') Delta / sqrt 12) - 1| of the staircase construction "
                 f"over H = 32, 64, 128, 256, Delta = 2/(H+1), 1-D {target}",
        predicted="0 (midpoint-rule error of a piecewise-constant interpolant; a calculation, not a theory "
                  "that could fail)",
        rule=below(0.05, "exact", "the midpoint formula is asymptotic in Delta; 5% at H >= 32 catches a wrong "
                                  "construction (a misplaced step gives an O(1) deviation)"),
        setup=f"fnn MLP 1 -> H -> 1 with steep sigmoids (gain 200 / Delta) at the cell boundaries, output weights "
              f"the jumps of f at the cell centres; 1-D {target}, test grid 2001 points (1024 quick)",
    )


def _trained_vs_construction(name: str, target: str) -> Claim:
    return Claim(
        id=f"universal_approximation/trained-beats-construction-{name}",
        kind="prediction",
        source=SOURCE,
        quantity=f"RMS error of the trained network at the widest H / RMS error of the staircase construction at "
                 f"the same H, mean over restarts, 1-D {target}",
        predicted="<= 0.5: a smooth sigmoid fit of a smooth target is more accurate than the first-order "
                  "staircase (rate H^-1), by more than a factor 2 at the widest net",
        rule=below(0.5, "t95", "excludes the alternative that training only reaches the staircase's accuracy "
                               "(ratio ~1) or worse; a factor 2 leaves room for the optimizer's floor"),
        setup=_FITS_1D,
        seeds=_RESTARTS,
        group="universal_approximation/fits-1d",
    )


def _falls_2d(name: str, target: str, smooth: bool) -> Claim:
    slug = f"universal_approximation/error-falls-2d-{name}"
    what = (f"log(RMS at the widest H / RMS at H = 1) per restart, mean over restarts, 2-D {target}")
    if smooth:
        return Claim(
            id=slug,
            kind="prediction",
            source=SOURCE + "; Barron (1993), rate H^-1/2 for targets with a finite C_f",
            quantity=what,
            predicted="<= -ln(H_max)/2 (at least Barron's rate H^-1/2 from H = 1): -2.079 (H_max = 64), "
                      "-1.386 in quick mode (H_max = 16)",
            rule=below(-0.5 * math.log(64), "t95", "excludes a rate slower than H^-1/2 (an optimizer floor "
                                                   "reached at small H, or no benefit from width)"),
            quick=below(-0.5 * math.log(16), "t95", "Barron's rate over the quick grid H = 1..16: excludes a rate "
                                                    "slower than H^-1/2"),
            setup=_FITS_2D,
            seeds=_RESTARTS,
            group="universal_approximation/fits-2d",
        )
    return Claim(
        id=slug,
        kind="check",
        source=SOURCE,
        quantity=what,
        predicted="< 0 (a wider net contains the narrower one; C_f is infinite for a discontinuous target, so no "
                  "rate is predicted)",
        rule=below(0.0, "t95", "only the sign: the width grid is nested, so a rise would point to a training bug"),
        setup=_FITS_2D,
        seeds=_RESTARTS,
        group="universal_approximation/fits-2d",
    )


CLAIMS = (
    _construction("sine", "sine sin(2 pi x)"),
    _trained_vs_construction("sine", "sine sin(2 pi x)"),
    _construction("bump", "bump exp(-x^2 / (2 0.15^2))"),
    _trained_vs_construction("bump", "bump exp(-x^2 / (2 0.15^2))"),
    Claim(
        id="universal_approximation/step-error-from-gain",
        kind="check",
        source=SOURCE,
        quantity="RMS error of the trained H = 1 network on the 1-D step / sqrt((ln 2 - 1/2) / g), g = 4 max "
                 "f_hat' / (max f_hat - min f_hat) read off the fitted curve, mean over restarts",
        predicted="1 (a single sigmoid of gain g has exactly this error; g is read off the same curve)",
        rule=band(0.95, 1.05, "t95", "the output amplitude and offset are fitted too and the transition is at 0.1, "
                                     "not 0: 5% covers both", point=1.0),
        setup=_FITS_1D + "; step target [x > 0.1]",
        seeds=_RESTARTS,
        group="universal_approximation/fits-1d",
    ),
    _falls_2d("sine", "sine sin(pi x) sin(pi y)", True),
    _falls_2d("bump", "bump exp(-r^2 / (2 0.3^2))", True),
    _falls_2d("step", "disc indicator [r < 0.6]", False),
)
