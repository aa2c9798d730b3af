"""Claims of the uat_derivatives experiment (notes: "Universal Approximation Theorem", the derivative clause).

The predictions are on trained networks: their derivative approximates ``f'``
at the widest net, and (sine) far better than at the narrowest. The staircase's
derivative error, a calculation on a construction, is a check."""

from experiments._registry import Claim, Seeds, below

SOURCE = ("Universal Approximation Theorem (\"the derivatives of the feedforward network can also approximate "
          "the derivatives of the function arbitrarily well\")")
_RESTARTS = Seeds(full=5, quick=3, which="initial weights from numpy default_rng(seed), one draw per restart, "
                                         "shared by every width and both targets")
_FITS = ("networks 1 -> H -> 1 (sigmoid hidden, linear output) fitted to values only (quadratic cost, Adam with "
         "cosine decay from 0.02, 4000 steps, 1500 quick) on 512 grid points of [-1, 1] (256 quick); f_hat' by "
         "jax.grad on 2001 test points (1024 quick); H = 2, 4, ..., 64 (2..16 quick)")
_BEST = ("the clause is existential (an infimum over weights): the best of the registered restarts is the "
         "estimate, one number per run")


def _wide(name: str, target: str) -> Claim:
    return Claim(
        id=f"uat_derivatives/derivative-{name}",
        kind="prediction",
        source=SOURCE,
        quantity=f"rms(f_hat' - f') / rms(f') at the widest H, best of the restarts, 1-D {target}",
        predicted="<= 0.1",
        rule=below(0.1, "exact", "10% of rms(f'): a net whose derivative is not resolved (e.g. the staircase, "
                                 "1.53) fails; " + _BEST),
        setup=_FITS,
        seeds=_RESTARTS,
        group="uat_derivatives/fits",
    )


CLAIMS = (
    _wide("sine", "sine sin(2 pi x)"),
    _wide("bump", "bump exp(-x^2 / (2 0.15^2))"),
    Claim(
        id="uat_derivatives/derivative-error-falls-sine",
        kind="prediction",
        source=SOURCE,
        quantity="rms(f_hat' - f') / rms(f') at the widest H over the same at H = 2, best of the restarts at "
                 "each, 1-D sine (two periods: H = 2 cannot resolve it)",
        predicted="<= 0.2: the derivative error falls at least five-fold once the target is resolved",
        rule=below(0.2, "exact", "excludes a derivative error that does not fall materially with width (ratio "
                                 "~1, as for the staircase, whose derivative error stays at 1.53); " + _BEST),
        setup=_FITS,
        seeds=_RESTARTS,
        group="uat_derivatives/fits",
    ),
    Claim(
        id="uat_derivatives/staircase-derivative",
        kind="check",
        source=SOURCE + "; the staircase construction",
        quantity="largest relative deviation of the staircase's rms(f_hat' - f') / rms(f') from sqrt(G Delta / 6 "
                 "- 1) = 1.528 (G Delta = 20) at H = 32, 64, both targets; infinite if its value error does not "
                 "fall at every H = 4..64",
        predicted="0 (a calculation: the derivative is a train of spikes carrying (G Delta / 6) rms(f')^2)",
        rule=below(0.05, "exact", "the formula is asymptotic in Delta (c_i ~ f' Delta); 5% at H >= 32 catches a "
                                  "wrong construction or derivative"),
        setup="staircase of H steep sigmoids of gain G = 20 / Delta at the cell boundaries, H = 4..64, no "
              "training (the same in both modes), 100001-point grid",
    ),
)
