"""Claims of the backprop_cost experiment (notes: "Backpropagation four fundamental equations",
"Algorithm efficiency").

BP = jax.grad and BP = finite differences are checks, and so is finite
differences' cost growing like P (it makes P + 1 evaluations by construction).
The predictions are that backprop costs a constant number of forward passes,
whatever P, and about three of them."""

import math

from experiments._registry import Claim, Seeds, band, below

SECTION = "Algorithm efficiency"
_REPEATS = Seeds(full=9, quick=5, which="timing repeats after compilation, interleaved over widths on one machine")
_TIMING = ("networks 16 -> h -> h -> 10 (sigmoid, softmax + log-likelihood, 64 examples), h = 16, 32, 64, 96 "
           "(P = 714..11914; 16, 32, 64 in quick mode, P = 714..5898), float32; forward, BP and FD times taken "
           "back to back in each repeat, ratios per repeat")
# a ratio to the forward pass that drifts by a factor 2 over the P range (per-call overheads, the mix of matrix
# products and element-wise work changing with h) moves a log-log slope by ln 2 / ln(P_max / P_min)
_DRIFT_FULL = math.log(2.0) / math.log(11914 / 714)  # 0.246
_DRIFT_QUICK = math.log(2.0) / math.log(5898 / 714)  # 0.328

CLAIMS = (
    Claim(
        id="backprop_cost/bp-equals-jax-grad",
        kind="check",
        source="Backpropagation four fundamental equations",
        quantity="max relative difference between hand-written BP1-BP4 and jax.grad over the table, float64",
        predicted="0 (the same derivative)",
        rule=below(1e-10, "exact", "float64 round-off"),
        setup="five architectures / activations / costs (including softmax + quadratic), 6 examples, float64",
    ),
    Claim(
        id="backprop_cost/bp-equals-finite-differences",
        kind="check",
        source="Backpropagation four fundamental equations",
        quantity="max relative difference between hand-written BP and central finite differences, float64",
        predicted="O(eps^2), eps = u^(1/3)",
        rule=below(1e-6, "exact", "the truncation and round-off error of central differences in float64"),
        setup="the five cases of bp-equals-jax-grad",
    ),
    Claim(
        id="backprop_cost/fd-cost-linear",
        kind="check",
        source=SECTION,
        quantity="log-log slope of (forward-difference gradient time / forward-pass time) vs P, mean over repeats",
        predicted="1 (P + 1 evaluations by construction)",
        rule=band(1.0 - _DRIFT_FULL, 1.0 + _DRIFT_FULL, "t95",
                  "a factor-2 drift of the per-evaluation cost over P = 714..11914 moves the slope by ln 2 / "
                  "ln(11914/714) = 0.246", point=1.0),
        quick=band(1.0 - _DRIFT_QUICK, 1.0 + _DRIFT_QUICK, "t95",
                   "a factor-2 drift over the quick range P = 714..5898: ln 2 / ln(5898/714) = 0.328", point=1.0),
        setup=_TIMING,
        seeds=_REPEATS,
        group="backprop_cost/timing",
    ),
    Claim(
        id="backprop_cost/bp-cost-constant",
        kind="prediction",
        source=SECTION,
        quantity="log-log slope of (BP gradient time / forward-pass time) vs P, mean over repeats",
        predicted="0 (one forward and one backward pass whatever P)",
        rule=band(-_DRIFT_FULL, _DRIFT_FULL, "t95",
                  "a factor-2 drift of the ratio over P = 714..11914 (per-call overheads) moves the slope by 0.246; "
                  "an O(P)-pass method (FD: 1) or even O(sqrt P) (0.5) fails", point=0.0),
        quick=band(-_DRIFT_QUICK, _DRIFT_QUICK, "t95",
                   "a factor-2 drift over the quick range P = 714..5898: 0.328; O(sqrt P) (0.5) fails", point=0.0),
        setup=_TIMING,
        seeds=_REPEATS,
        group="backprop_cost/timing",
    ),
    Claim(
        id="backprop_cost/bp-forward-passes",
        kind="prediction",
        source=SECTION,
        quantity="BP gradient time / forward-pass time, median over P within each repeat, mean over repeats",
        predicted="3 (backward ~ 2 forward in matrix products)",
        rule=band(1.5, 6.0, "t95", "a factor 2 of 3: element-wise work and overheads are not matrix products",
                  point=3.0),
        setup=_TIMING,
        seeds=_REPEATS,
        group="backprop_cost/timing",
    ),
)
