"""Claims of the init_gradients experiment (notes: "He initialization", "Xavier initialization";
Glorot and Bengio 2010).

For four initializations, two predictions each, from the mean-field theory of the backward pass
(BP2 with weights independent of the forward pass): the back-propagated error's per-layer factor
M Var[w] E[sigma'(a)^2], and the ratio of the weight-gradient second moments of the first and
last hidden layers. Each is averaged over R independent networks with a 95% t-interval and
decided by a band around the mean-field value stated before the runs."""

from experiments._registry import Claim, Seeds, band

SOURCE = "He initialization / Xavier initialization"
_SEEDS = Seeds(full=16, quick=4, which="networks init'ed from split(fold_in(key(seed), 1), R); inputs from "
                                       "fold_in(key(seed), 0), targets from fold_in(key(seed), 2), shared by all")
_SETUP = ("8 hidden layers of width M = 256 (128 quick) and a linear output of width M, N = M examples, quadratic "
          "cost with random targets of standard deviation 100 (delta at the output independent of the weights)")
_CASES = (
    ("relu-he", "ReLU, He eps^2 = 2/M", "1 (the notes: He makes the gradient ~1)"),
    ("xavier-notes", "tanh, the notes' Xavier U[+-1/sqrt(M)]", "mean field 0.307"),
    ("glorot", "tanh, Glorot's U[+-sqrt(6)/sqrt(N+M)]", "mean field 0.720"),
    ("literal", "tanh, the notes' literal U[+-6/sqrt(N+M)]", "mean field 1.52"),
)


def _claims(slug: str, case: str, factor: str) -> tuple[Claim, Claim]:
    return (
        Claim(
            id=f"init_gradients/{slug}-backward-factor",
            kind="prediction",
            source=SOURCE + " (BP2 in mean field)",
            quantity="(E[(delta^1)^2] / E[(delta^8)^2])^(1/7) per network divided by the mean-field "
                     "M Var[w] E[sigma'(a)^2] (geometric mean over layers 1..7); mean over networks",
            predicted=f"1 (per-layer factor {factor})",
            rule=band(0.95, 1.05, "t95", "5% per layer (1.05^7 = 1.4 over the depth): finite width and the "
                                         "dependence of forward and backward weights, stated before the runs",
                      point=1.0),
            setup=f"{case}; {_SETUP}",
            seeds=_SEEDS,
            group=f"init_gradients/{slug}",
        ),
        Claim(
            id=f"init_gradients/{slug}-weight-gradient-ratio",
            kind="prediction",
            source=SOURCE + " (Glorot and Bengio 2010: weight gradients in the linear regime)",
            quantity="log(E[(dC/dW^1)^2] / E[(dC/dW^8)^2]) per network minus its mean-field value "
                     "log(E[delta_1^2] E[x^2] / (E[delta_8^2] E[z_7^2])); mean over networks",
            predicted="0",
            rule=band(-0.15, 0.15, "t95", "within 16% of the mean-field ratio (batch-mean gradients carry "
                                          "cross-example terms the mean field omits), stated before the runs",
                      point=0.0),
            setup=f"{case}; {_SETUP}",
            seeds=_SEEDS,
            group=f"init_gradients/{slug}",
        ),
    )


CLAIMS = tuple(c for slug, case, factor in _CASES for c in _claims(slug, case, factor))
