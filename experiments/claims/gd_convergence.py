"""Claims of the gd_convergence experiment (notes: "Convergence").

Every claim is a check: on an exact quadratic, GD's iterates follow (1 - eta lambda_i)^T
algebraically, so the stability limit 2/lambda_max, the one-step contraction at 1/lambda_max, the
linear rates and the iteration counts are identities of that formula (they catch bugs in fnn's
analysis and optimizer code). The MLP started next to a minimum is linear stability of a fixed
point (perturbation 1e-4 along the top eigenvector: the nonlinear terms are far below the grid
step), a theorem as well."""

from experiments._registry import Claim, band, below

SOURCE = "Convergence"
_QUAD = "a rotated quadratic with eigenvalues 0.1, 0.4, 1, 2.5, 4 (numpy default_rng(seed)), float64"

CLAIMS = (
    Claim(
        id="gd_convergence/hessian-spectrum",
        kind="check",
        source=SOURCE,
        quantity="max relative error of analysis.hessian_spectrum (jax.hessian) against the chosen eigenvalues",
        predicted="0",
        rule=below(1e-10, "exact", "a read-back in float64"),
        setup=_QUAD,
    ),
    Claim(
        id="gd_convergence/eigen-components",
        kind="check",
        source=SOURCE,
        quantity="max over steps and components of |alpha_i(T) - (1 - eta lambda_i)^T alpha_i(0)| / |alpha_i(0)|",
        predicted="0",
        rule=below(1e-9, "exact", "an identity of GD on a quadratic, float64"),
        setup=_QUAD + "; eta = 0.4, 80 steps (40 quick)",
    ),
    Claim(
        id="gd_convergence/divergence-boundary",
        kind="check",
        source=SOURCE,
        quantity="position of 2/lambda_max in the measured bracket (0: largest converging rate of the sweep, "
                 "1: smallest diverging one)",
        predicted="inside [0, 1]",
        rule=band(0.0, 1.0, "exact", "|1 - eta lambda_max| > 1 past 2/lambda_max: an identity"),
        setup=_QUAD + "; eta lambda_max = 0.01 + 0.02 k (2 is not on the grid), 200 steps (100 quick)",
    ),
    Claim(
        id="gd_convergence/fastest-at-inverse-lambda-max",
        kind="check",
        source=SOURCE,
        quantity="|argmin of the measured one-step top factor |alpha_1/alpha_0| - 1/lambda_max| in grid steps",
        predicted="0",
        rule=below(0.5, "exact", "|1 - eta lambda_max| is 0 at 1/lambda_max, on the grid"),
        setup=_QUAD + "; eta lambda_max = 0.02 k, k = 1..120",
        group="gd_convergence/one-step",
    ),
    Claim(
        id="gd_convergence/one-step-factor-zero",
        kind="check",
        source=SOURCE,
        quantity="smallest measured one-step top factor |alpha_1/alpha_0| over the sweep",
        predicted="0 (one step at 1/lambda_max)",
        rule=below(1e-6, "exact", "an identity; round-off only"),
        setup=_QUAD + "; eta lambda_max = 0.02 k, k = 1..120",
        group="gd_convergence/one-step",
    ),
    Claim(
        id="gd_convergence/top-factor-over-sweep",
        kind="check",
        source=SOURCE,
        quantity="max over converging rates with |1 - eta lambda_max|^T > 1e-10 of |(|alpha_T|/|alpha_0|)^(1/T) "
                 "- |1 - eta lambda_max||",
        predicted="0",
        rule=below(1e-6, "exact", "an identity above the round-off floor"),
        setup=_QUAD + "; T = 200 (100 quick)",
    ),
    Claim(
        id="gd_convergence/rate-at-inverse-lambda-max",
        kind="check",
        source=SOURCE,
        quantity="relative error of ||e_T|| / ||e_(T-1)|| at eta = 1/lambda_max against 1 - lambda_min/lambda_max",
        predicted="0 (rate 0.975, kappa = 40)",
        rule=below(1e-3, "exact", "the slowest component dominates at large T: an identity"),
        setup=_QUAD + "; T = 600 (300 quick)",
    ),
    Claim(
        id="gd_convergence/rate-at-minimax",
        kind="check",
        source=SOURCE,
        quantity="relative error of ||e_T|| / ||e_(T-1)|| at eta = 2/(lambda_min + lambda_max) against "
                 "(kappa - 1)/(kappa + 1)",
        predicted="0 (rate 0.951, kappa = 40)",
        rule=below(1e-3, "exact", "an identity at large T"),
        setup=_QUAD + "; T = 600 (300 quick)",
    ),
    Claim(
        id="gd_convergence/iterations-to-tolerance",
        kind="check",
        source=SOURCE,
        quantity="max over kappa of |measured GD steps - analysis.iterations_to_tolerance| (tol 1e-6, "
                 "eta = 1/lambda_max)",
        predicted="0",
        rule=below(1.0, "exact", "the formula counts the same steps; one step for the boundary case"),
        setup="rotated 4-d quadratics, kappa = 10..1000 (9 log-spaced, 5 quick), every component starting at 1",
    ),
    Claim(
        id="gd_convergence/iterations-slope",
        kind="check",
        source=SOURCE,
        quantity="|log-log slope of the measured iteration counts against kappa - 1|",
        predicted="0 (iterations grow like kappa)",
        rule=below(0.05, "exact", "the exact counts ceil(ln tol / ln(1 - 1/kappa)) bend by ~1% at kappa = 10"),
        setup="the quadratics of iterations-to-tolerance",
    ),
    Claim(
        id="gd_convergence/lanczos-lambda-max",
        kind="check",
        source=SOURCE,
        quantity="relative error of lambda_max by Lanczos (20 Hessian-vector products) against jax.hessian",
        predicted="0",
        rule=below(1e-6, "exact", "Lanczos converges on the extreme eigenvalue of a 25x25 matrix in 20 steps"),
        setup="1-8-1 tanh MLP, quadratic cost on 64 noisy sine points, trained to a minimum (Adam then GD), float64",
    ),
    Claim(
        id="gd_convergence/mlp-stability-boundary",
        kind="check",
        source=SOURCE,
        quantity="number of rates of the sweep on the wrong side: eta < 2/lambda_max whose top-direction offset "
                 "|u_max^T (w_t - w*)| ever exceeded its start, plus eta > 2/lambda_max where it never did",
        predicted="0",
        rule=below(0.0, "exact", "linear stability of GD's fixed point: |1 - eta lambda_max| < 1 iff "
                                 "eta < 2/lambda_max"),
        setup="the MLP of lanczos-lambda-max, started 1e-4 along u_max; eta / (2/lambda_max) = 0.9025..1.0975 "
              "step 0.005 (0.905..1.095 step 0.01 quick), 2000 steps (1000 quick)",
    ),
)
