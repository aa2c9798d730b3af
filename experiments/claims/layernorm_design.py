"""Claims of the layernorm_design experiment (notes, "Layer normalization"): a 784-64x10-10 MLP with layer
norm on every hidden layer, activation (sigmoid, tanh) x initial gamma (1, 8) x optimizer (SGD, Adam).

Per cell, the mean-field factor ``f = gamma sqrt(E[phi'(gamma u)^2] / E[phi(gamma u)^2])``, ``u ~ N(0, 1)``,
predicts the per-layer change of the example-to-example spread at initialization (``min(f, 1)``: a bounded
activation caps growth), and an ad hoc threshold on it (``f^9 >= 0.01``) which cells SGD trains. Adam is
predicted to escape where SGD stays at chance. Training is not run in quick mode (those claims are skipped
there).
"""

from experiments._registry import Claim, Seeds, above, below, band

CHANCE_MARGIN = 1.8026  # ln 10 - 0.5
_TRAIN_SEEDS = Seeds(full=5, quick=2, which="jax.random.split(jax.random.key(0), 5): the same 5 keys (init and "
                                            "shuffling) at every SGD rate and for Adam; quick mode trains nothing")
_GRID = ("SGD at the best rate (lowest mean last-epoch cost over the seeds) of {0.003, 0.01, 0.03, 0.1, 0.3, 1}; "
         "5,000 standardized Fashion-MNIST training images, mini-batch 64, 10 epochs, softmax + log-likelihood")
_SIDE = ("0.5 nats from chance (ln 10) separates a network that learned beyond the class frequencies from one "
         "that did not; the interval must lie wholly on the predicted side")
_FACTOR_SETUP = ("one initialization (key fold_in(keys[0], 7)), float64, 1,000 standardized Fashion-MNIST images; "
                 "factor = geometric mean over layers 2-10 of the ratio of successive spreads (rms over units of "
                 "the standard deviation over examples)")
_FACTOR_REASON = ("15%: mean field at width 64 with one initialization; the f < 1 cell's alternative (no "
                  "shrinkage, 1) and the f > 1 cells' (growth by f, up to 2.17) lie outside")


def _factor(cell: str, f: float, point: float) -> Claim:
    return Claim(
        id=f"layernorm_design/factor-{cell}",
        kind="prediction",
        source="notes, 'Layer normalization'; mean-field signal propagation (derivation in the module docstring)",
        quantity="measured per-layer factor of the example-to-example spread at initialization",
        predicted=f"min(f, 1) = {point:g} (f = {f:g}; f > 1: growth capped by the bounded activation at a fixed "
                  "point, ratio 1)",
        rule=band(round(0.85 * point, 4), round(1.15 * point, 4), "exact", _FACTOR_REASON, point=point),
        setup=f"cell {cell}; " + _FACTOR_SETUP,
    )


def _sgd(cell: str, f9: str, trains: bool) -> Claim:
    return Claim(
        id=f"layernorm_design/sgd-{cell}",
        kind="prediction",
        source="notes, 'Layer normalization'; the f^9 >= 0.01 threshold is ad hoc (1% of the signal reaches the "
               "last hidden layer), not derived",
        quantity="mean over seeds of the last-epoch training cost (nats per example), SGD at its best rate",
        predicted=(f"trains: below ln 10 - 0.5 = {CHANCE_MARGIN} (f^9 = {f9} >= 0.01)" if trains else
                   f"stays at chance: above ln 10 - 0.5 = {CHANCE_MARGIN} (f^9 = {f9} < 0.01)"),
        rule=(below if trains else above)(CHANCE_MARGIN, "t95", _SIDE),
        setup=f"cell {cell}; " + _GRID,
        seeds=_TRAIN_SEEDS,
    )


CLAIMS = (
    _factor("sigmoid-g1", 0.3909, 0.3909),
    _sgd("sigmoid-g1", "0.00021", trains=False),
    Claim(
        id="layernorm_design/adam-sigmoid-g1",
        kind="prediction",
        source="notes, 'Layer normalization' and 'Adam' (the per-parameter step eta m / sqrt(v) does not shrink "
               "with the gradient); experiment normalization",
        quantity="mean over seeds of the paired difference of last-epoch training cost, SGD at its best rate "
                 "minus Adam (1e-3), in the cell where SGD is predicted to stay at chance",
        predicted=">= 0.5 nats: Adam escapes the vanishing signal that holds SGD at chance at every rate",
        rule=above(0.5, "t95", "the alternative, Adam stuck as SGD is, gives a difference near 0; 0.5 nats is "
                               "the margin that separates trained from untrained in the SGD claims"),
        setup="cell sigmoid-g1; Adam 1e-3 and " + _GRID + "; seeds paired (the same key per seed)",
        seeds=_TRAIN_SEEDS,
    ),
    _factor("sigmoid-g8", 1.080, 1.0),
    _sgd("sigmoid-g8", "2.0", trains=True),
    _factor("tanh-g1", 1.085, 1.0),
    _sgd("tanh-g1", "2.1", trains=True),
    _factor("tanh-g8", 2.171, 1.0),
    _sgd("tanh-g8", "1.1e3", trains=True),
)
