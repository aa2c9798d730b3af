"""Claims of the gd_descent experiment (notes: "Gradient descent").

Checks: Taylor's theorem read back on a real network (the residual of the first-order law is
second order with coefficient g^T H g / 2); the first eta where the cost increases lies beyond
the Taylor series' radius of convergence bound by sigmoid's poles, and the exact terms grow there;
SGD's mean decrease equals the second-order expansion (unbiased mini-batch gradients). One
prediction: the quadratic model's best step decreases the cost by the model's amount (cubic and
higher terms could change it: the series already diverges at eta_opt)."""

from experiments._registry import Claim, Seeds, above, band, below

SOURCE = "Gradient descent"
_SEEDS = Seeds(full=5, quick=3, which="initializations fold_in(key(seed), s), s = 0..n-1 (normalized Xavier); "
                                      "mini-batches from fold_in(that key, 1)")
_SETUP = ("784-30-10 sigmoid net, sigmoid output, cross-entropy, the first 2000 Fashion-MNIST training images "
          "(500 quick), at initialization, float64")

CLAIMS = (
    Claim(
        id="gd_descent/residual-slope",
        kind="check",
        source=SOURCE + " (Delta C = -eta ||grad C||^2 + O(eta^2))",
        quantity="largest over seeds of |log-log slope of |Delta C + eta ||g||^2|| in eta on 1e-4..1e-2 - 2|",
        predicted="0 (the residual is second order)",
        rule=below(0.05, "exact", "Taylor's theorem; the slope bends only by the cubic term"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="gd_descent/first-order-law",
    ),
    Claim(
        id="gd_descent/residual-coefficient",
        kind="check",
        source=SOURCE,
        quantity="largest over seeds of the relative error of (Delta C + eta ||g||^2) / eta^2 at eta = 1e-4 "
                 "against g^T H g / 2 (Hessian-vector product)",
        predicted="0",
        rule=below(0.01, "exact", "Taylor's theorem; the cubic term at eta = 1e-4 is far below 1%"),
        setup=_SETUP,
        seeds=_SEEDS,
        group="gd_descent/first-order-law",
    ),
    Claim(
        id="gd_descent/best-step-decrease",
        kind="prediction",
        source=SOURCE + " (how small is 'small enough')",
        quantity="Delta C(eta_opt) / (-||g||^4 / (2 g^T H g)), eta_opt = ||g||^2 / g^T H g, mean over seeds",
        predicted="1 (the quadratic model's best step and decrease)",
        rule=band(0.95, 1.05, "t95", "5% for the cubic and higher terms, stated before the runs", point=1.0),
        setup=_SETUP,
        seeds=_SEEDS,
    ),
    Claim(
        id="gd_descent/crossing-beyond-pole-radius",
        kind="check",
        source=SOURCE + " (where GD starts to increase C)",
        quantity="smallest over seeds of eta_zero / R_poles: eta_zero the first eta with Delta C >= 0 "
                 "(bisection), R_poles = min sqrt(A^2 + pi^2) / |B| over examples and hidden units "
                 "(hidden z = A - eta B)",
        predicted="> 1: the crossing lies outside the disc where any Taylor model of C(w - eta g) converges",
        rule=above(1.0, "exact", "sigma's poles at z = +-i pi bound the radius of convergence; measured on "
                                 "every seed"),
        setup=_SETUP + "; exact Taylor coefficients to order 14 by Taylor-mode arithmetic",
        seeds=_SEEDS,
        group="gd_descent/crossing",
    ),
    Claim(
        id="gd_descent/taylor-terms-grow",
        kind="check",
        source=SOURCE + " (where GD starts to increase C)",
        quantity="smallest over seeds of the slope in k of log |c_k eta_zero^k|, k = 8..14",
        predicted="> 0 (the series diverges at eta_zero)",
        rule=above(0.0, "exact", "beyond the radius the terms grow; were the poles' contributions to cancel in "
                                 "the sum over examples, they would decay"),
        setup=_SETUP + "; exact Taylor coefficients to order 14",
        seeds=_SEEDS,
        group="gd_descent/crossing",
    ),
    Claim(
        id="gd_descent/sgd-mean-decrease",
        kind="check",
        source=SOURCE + " (stochastic gradient descent)",
        quantity="mean over seeds of E_B[Delta C_B] / (-eta ||g||^2) minus its second-order value "
                 "1 - eta E_B[g_B^T H g_B] / (2 ||g||^2), eta = 1e-3, m = 10",
        predicted="0 (E_B[g_B] = g and Taylor's theorem)",
        rule=band(-0.01, 0.01, "t95", "1% of the first-order decrease: mini-batch means over 400 batches (100 "
                                      "quick) resolve about that, not the 0.2% second-order term", point=0.0),
        setup=_SETUP + "; 400 mini-batches of 10 drawn with replacement per seed (100 quick)",
        seeds=_SEEDS,
    ),
)
