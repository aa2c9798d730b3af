"""Claims of real_net_convergence (notes, "Convergence", on a trained MLP near a minimum).

Near a minimum GD's linearization fixes how a 1e-5 perturbation along an
eigenvector evolves, so the per-component factors, the decay below the
threshold, the growth above it and the step counts in the top-k span are
checks of the linearization and of the eigenpairs; so is the degeneracy of the
Hessian (the Gauss-Newton part has rank <= n C < P). The one prediction is
about the network beyond its quadratic model: how far an unstable mode grows.
"""

from experiments._registry import Claim, Seeds, above, below

_SEEDS = Seeds(full=5, quick=5, which="networks initialized with jax.random.key(seed + i), i = 0..4, each trained "
                                   "by Adam then polished by GD (one minimum per seed)")
_SETUP = ("MLP 784-32-10 (784-16-10 quick), tanh, linear output, quadratic cost, float64, on a class-balanced "
          "Fashion-MNIST subset (MNIST if absent) of 500 examples (200 quick); top K = 20 (8 quick) Lanczos "
          "eigenpairs at the polished minimum; perturbation 1e-5 per direction; GD from w* and w* + delta, "
          "difference followed along u_i")
_GROUP = "real_net_convergence/minima"

CLAIMS = (
    Claim(
        id="real_net_convergence/contraction-factors",
        kind="check",
        source="Convergence (eigen-components: alpha_i(t+1) = (1 - eta lambda_i) alpha_i(t))",
        quantity="largest over seeds of max_i |least-squares factor per step - (1 - eta lambda_i)|, top K "
                 "components, eta = 1.5/lambda_1, 10 steps",
        predicted="0 (the linearization of GD at w*, to O(1e-5) perturbation and the eigenpairs' residuals)",
        rule=below(0.01, "exact", "the linearization makes it ~1e-5; 0.01 would be an eigenpair or GD bug"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="real_net_convergence/below-threshold-decays",
        kind="check",
        source="Convergence (stable iff eta < 2/lambda_max)",
        quantity="largest over seeds of |alpha_1(T)| / |alpha_1(0)| at eta = 0.95 * 2/lambda_1, T = 200 (80 quick), "
                 "perturbation along u_1",
        predicted="0.9^T (7e-10 at T = 200): the linearization at w* with |1 - eta lambda_1| = 0.9",
        rule=below(1e-3, "exact", "the linear factor 0.9 gives 7e-10 (2e-4 at T = 80); a component that does not "
                                  "decay stays near 1"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="real_net_convergence/above-threshold-factor",
        kind="check",
        source="Convergence (|1 - eta lambda_1| > 1 above 2/lambda_max)",
        quantity="largest over seeds of |growth factor per step over the first 20 steps - |1 - eta lambda_1||, "
                 "eta = 1.05 * 2/lambda_1",
        predicted="0 (the linearization: the u_1 component grows by 1.1 per step while it is small)",
        rule=below(0.01, "exact", "the linearization makes it ~1e-4 over 20 steps; 0.01 would be a bug"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="real_net_convergence/leaves-the-minimum",
        kind="prediction",
        source="Convergence (above 2/lambda_max the iteration diverges from w*)",
        quantity="smallest over seeds of max_t |alpha_1(t)| / |alpha_1(0)| at eta = 1.05 * 2/lambda_1, "
                 "T = 200 (80 quick) steps",
        predicted=">= 100: the unstable mode grows until it is at least 100 x the perturbation (1e-3 in weight "
                  "space) before the network's nonlinearity stops it",
        rule=above(100.0, "exact", "100 x the 1e-5 perturbation is a displacement of 1e-3 against weights O(0.1); "
                                   "a quadratic region smaller than that would stop the growth below 100"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="real_net_convergence/above-threshold-cost-finite",
        kind="check",
        source="Convergence; Cohen et al. 2021 (GD above 2/lambda_max does not blow up)",
        quantity="1 if every cost of every seed's perturbed run at eta = 1.05 * 2/lambda_1 is finite, else 0",
        predicted="1 (200 steps of a bounded-activation network at a rate 5% above the threshold cannot overflow)",
        rule=above(1.0, "exact", "forced by the setup: a non-finite cost would be a numerical bug"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="real_net_convergence/steps-in-top-k-span",
        kind="check",
        source="Convergence (iterations ~ kappa ln(1/tol) at eta = 1/lambda_max)",
        quantity="largest over seeds and k in (2, 4, 8, 14, 20) ((2, 4, 8) quick) of |measured steps to tol - "
                 "analysis.iterations_to_tolerance(lambda_1..lambda_k)| / predicted, tol = 1e-3",
        predicted="0 (in the span of eigenvectors the linearized GD is exactly the recursion the formula counts)",
        rule=below(0.05, "exact", "the recursion is the same: any difference beyond one step in 20 is a bug"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="real_net_convergence/hessian-degenerate",
        kind="check",
        source="Convergence (kappa = lambda_max / lambda_min); Sagun et al. 2017",
        quantity="largest over seeds of lambda_min / lambda_max of the Hessian at the trained point",
        predicted="~0 or negative: the Gauss-Newton part has rank <= n C = 5,000 (2,000 quick) < P = 25,450 "
                  "(12,730 quick) parameters, so kappa = lambda_max / lambda_min is not a finite, useful number",
        rule=below(1e-3, "exact", "forced by rank(G) < P: lambda_min is that of the small residual term"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
    Claim(
        id="real_net_convergence/lanczos-converged",
        kind="check",
        source="fnn.curvature.eigenpairs",
        quantity="largest over seeds and the top K pairs of the true residual ||H u - lambda u|| / lambda_1 "
                 "(one extra HVP per pair)",
        predicted="~1e-15 (float64)",
        rule=below(1e-6, "exact", "float64 Lanczos with 150 iterations converges the top pairs far below this"),
        setup=_SETUP,
        seeds=_SEEDS,
        group=_GROUP,
    ),
)
