"""Claims of the perceptron experiment (notes: "Perceptron Learning", "Multilayer networks",
"Multilayer neural networks"). Every one is a check: a theorem (Novikoff's bound and the
convergence it implies) or a construction verified exhaustively; none could refute a theory."""

from experiments._registry import Claim, Seeds, above, below

_SETS = Seeds(full=72, quick=6, which="margin sets drawn from numpy default_rng(seed), 8 per margin (2 in quick)")

CLAIMS = (
    Claim(
        id="perceptron/novikoff-bound",
        kind="check",
        source="Perceptron Learning (convergence theorem)",
        quantity="largest over runs of updates k / (beta ||w*||^2 / alpha^2), w* the best separator known",
        predicted="<= 1 (Novikoff's theorem: a bound, it holds for every separable set)",
        rule=below(1.0, "exact", "a theorem: any run above 1 is a bug in fit or in the bound"),
        setup="d = 5, n = 500 points (100 quick), planted margins 0.3..0.003 (9; 3 in quick), max 20000 epochs",
        seeds=_SETS,
        group="perceptron/margin-sweep",
    ),
    Claim(
        id="perceptron/converges-on-separable",
        kind="check",
        source="Perceptron Learning (convergence theorem)",
        quantity="fraction of runs that reach an error-free epoch",
        predicted="1 (implied by the finite bound)",
        rule=above(1.0, "exact", "a theorem: every separable set converges within the epoch budget"),
        setup="the margin sets of novikoff-bound",
        seeds=_SETS,
        group="perceptron/margin-sweep",
    ),
    Claim(
        id="perceptron/xor-not-separable",
        kind="check",
        source="Perceptron Learning (separability test)",
        quantity="1 if XOR fails the notes' test (no error-free epoch within floor(beta/0.05^2)+1 epochs), else 0",
        predicted="1",
        rule=above(1.0, "exact", "XOR is not linearly separable: the test must say so"),
        setup="the 4 XOR points, margin 0.05",
    ),
    Claim(
        id="perceptron/xor-two-layer",
        kind="check",
        source="Multilayer networks",
        quantity="accuracy of the two-layer step network on the 4 XOR inputs",
        predicted="1",
        rule=above(1.0, "exact", "a construction: it computes XOR or it is wrong"),
        setup="fnn.logic.xor_network",
    ),
    Claim(
        id="perceptron/nand-adder",
        kind="check",
        source="Multilayer neural networks (NAND, the binary adder)",
        quantity="number of wrong sums among all pairs of n-bit numbers",
        predicted="0",
        rule=below(0.0, "exact", "a construction verified exhaustively"),
        setup="ripple-carry adder of 8 bits (4 in quick) translated into a step network",
    ),
    Claim(
        id="perceptron/convex-zone",
        kind="check",
        source="Multilayer networks (a convex zone)",
        quantity="agreement of the AND-of-half-planes network with ray casting",
        predicted="1",
        rule=above(1.0, "exact", "a construction: both compute the same set exactly"),
        setup="a random convex 7-gon, 40000 points (2000 quick) uniform on [-2, 2]^2",
    ),
    Claim(
        id="perceptron/fit-speed",
        kind="check",
        source="Perceptron Learning",
        quantity="wall time in seconds of a compiled fit that converges on 10^5 patterns (10^4 quick), d = 10",
        predicted="< 30 s (compiled scan over patterns)",
        rule=below(30.0, "exact", "an engineering bound: a Python loop over patterns takes minutes; "
                                  "a run that did not converge counts as infinite"),
        setup="planted margin 0.05, max 200 epochs, one timing after a compile",
    ),
)
