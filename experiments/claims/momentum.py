"""Claims of momentum (notes, "Momentum"), on exact quadratics in float64.

Every one is a check: on a quadratic the momentum recurrence has a closed-form
solution (``fnn.analysis.momentum_roots``), so the effective rates, the step
gains and the iteration counts are identities of the recurrence that catch a
bug in ``fnn.optim.momentum`` or in the analysis, not a test of a theory.
"""

from experiments._registry import Claim, below

_MUS = "mu in (0, 0.5, 0.8, 0.9, 0.95)"

CLAIMS = (
    Claim(
        id="momentum/low-curvature-rate",
        kind="check",
        source="Momentum (low curvature: the rate rises by 1/(1 - mu))",
        quantity="max over mu of |measured -Delta alpha / (lambda alpha) after T steps - eta/(1 - mu)| "
                 "/ (eta/(1 - mu))",
        predicted="~0: the slow root gives (1 - r)/lambda, within 0.7% of eta/(1 - mu) at eta lambda = 1.8e-5",
        rule=below(0.02, "exact", "2%: the exact slow root differs from eta/(1 - mu) by <= 0.7% here"),
        setup=f"E = 1/2 (1e-5 a^2 + b^2), eta = 1.8, {_MUS}, T = 600 steps (300 quick), fnn.optim.momentum",
    ),
    Claim(
        id="momentum/update-per-gradient",
        kind="check",
        source="Momentum (successive contributions of an oscillating gradient cancel)",
        quantity="max over mu of the relative error of the last update per unit eta*g against 1/(1 - mu) (steady "
                 "gradient) and 1/(1 + mu) (sign-alternating gradient)",
        predicted="0 (geometric sums of mu^k and (-mu)^k after the transient mu^T)",
        rule=below(1e-6, "exact", "the transient 0.95^400 = 1e-9 and float64 round-off are far below"),
        setup=f"gradients fed to fnn.optim.momentum(eta = 1.8, mu), {_MUS}, T = 800 steps (400 quick)",
    ),
    Claim(
        id="momentum/high-curvature-gain",
        kind="check",
        source="Momentum (high curvature: the effective rate stays close to eta)",
        quantity="max over mu > 0 of the relative error of |1 - r| / (eta lambda), r fitted to the trajectory by "
                 "least squares, against the root of r^2 - (1 + mu - eta lambda) r + mu = 0",
        predicted="0: |1 - r| / (eta lambda) = 1/sqrt(eta lambda) = 0.745 for every mu (complex roots)",
        rule=below(1e-6, "exact", "the trajectory is an exact two-term recurrence: the fit recovers r to round-off"),
        setup="E = 1/2 (1e-5 a^2 + b^2), eta = 1.8 (eta lambda = 1.8 for b), mu in (0.5, 0.8, 0.9, 0.95), 40 steps",
    ),
    Claim(
        id="momentum/steps-closed-form",
        kind="check",
        source="Momentum (the recurrence's closed form c1 r1^t + c2 r2^t)",
        quantity="max over the mu grid of |measured steps until every component stays <= 1e-6 - the count from "
                 "the closed form|",
        predicted="0 steps",
        rule=below(1.0, "exact", "one step of slack for round-off exactly at the tolerance"),
        setup="E = 1/2 (0.01 a^2 + b^2) (kappa = 100), eta = 1/lambda_max = 1, mu from 0 to 0.98 by 0.02 "
              "(0.04 quick), 4000 steps",
    ),
    Claim(
        id="momentum/best-mu-critical-damping",
        kind="check",
        source="Momentum (critical damping of the slow direction)",
        quantity="|argmin over the mu grid of the measured step count - mu*|, mu* = (1 - sqrt(eta lambda_min))^2",
        predicted="0 to within the grid (mu* = 0.81)",
        rule=below(0.05, "exact", "the grid step (0.02; 0.04 quick) plus the flat minimum of a finite-tol count"),
        setup="the runs of steps-closed-form",
    ),
)
