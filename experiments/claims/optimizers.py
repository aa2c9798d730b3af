"""Claims of the optimizers experiment (notes, "Momentum" and "Learning rate scheduling": AdaGrad, RMSProp, Adam).

Exact float64 identities (GD's cost on a quadratic, the constant-gradient step sizes) and outcomes forced by
the setup (momentum's contraction on a quadratic, AdaGrad's sum that only grows) are checks. The predictions:
momentum ahead of GD on Rosenbrock; on an MLP, AdaGrad's effective rate decaying with an exponent strictly
between the two alternatives (stationary gradients: 1/2; no growth of its sum: 0), and RMSProp's keeping more
of its size (the notes' "fixes a problem with AdaGrad where the weight updates tend to become too small").
"""

from experiments._registry import Claim, Seeds, above, band, below

QUAD = "Momentum"
LRS = "Learning rate scheduling (AdaGrad, RMSProp)"
_MLP_SEEDS = Seeds(full=5, quick=5, which="jax.random.split(fold_in(key(seed), 2), n): initialisations and batch "
                                          "orders at each optimizer's best rate (one population)")
_MLP_SETUP = ("784-100-10 ReLU MLP, softmax + log-likelihood, 10,000 Fashion-MNIST training images (2,000 quick), "
              "mini-batch 50 (20 quick), 8 epochs (6 quick); each optimizer at its best rate of a 5-point grid (2 "
              "points quick) by mean validation cost over 3 sweep seeds (2 quick); median over parameters of "
              "eta/(sqrt(acc)+eps) after the first and the last epoch (t0 = one epoch of updates, t1 = all)")

CLAIMS = (
    Claim(
        id="optimizers/quadratic-gd-exact",
        kind="check",
        source=QUAD,
        quantity="|GD's cost after T steps at its best grid rate / the exact 1/2 sum_i lambda_i (1 - eta lambda_i)^(2T) "
                 "alpha_i(0)^2 - 1|",
        predicted="0 (float64)",
        rule=below(1e-6, "exact", "an identity on an exactly quadratic cost; float64 rounding is ~1e-12"),
        setup="1/2 w^T H w, d = 10, kappa = 100, randomly rotated (numpy default_rng(seed)), w0 = Q 1; 600 steps "
              "(300 quick); rate grid 1e-4..3 (31 points, 16 quick)",
    ),
    Claim(
        id="optimizers/quadratic-momentum-ahead",
        kind="check",
        source=QUAD,
        quantity="momentum's (mu = 0.9) final cost / the lowest final cost any GD rate reaches in as many steps "
                 "(exact GD cost minimised over 3001 rates)",
        predicted="~(sqrt(mu)/((kappa-1)/(kappa+1)))^(2T), astronomically small: contraction 0.949 vs 0.980 per step",
        rule=below(1e-3, "exact", "forced by the two contraction factors on an exact quadratic: a check of the "
                                  "implementation, not of a theory that could fail"),
        setup="the quadratic of quadratic-gd-exact; momentum at its best grid rate",
    ),
    Claim(
        id="optimizers/rosenbrock-momentum-ahead",
        kind="prediction",
        source=QUAD,
        quantity="momentum's (mu = 0.9) final f / GD's final f, each at its best grid rate",
        predicted="< 1: momentum's 1/(1-mu) gain along the flat curved valley",
        rule=below(1.0, "exact", "the alternative (the valley's curvature cancels momentum's gain) gives >= 1"),
        setup="f(x, y) = (1-x)^2 + 100 (y-x^2)^2 from (-1.2, 1), float64, 5000 steps (1500 quick), rate grid "
              "1e-5..1 (26 points, 11 quick)",
    ),
    Claim(
        id="optimizers/adagrad-rate-shrinks",
        kind="check",
        source=LRS,
        quantity="AdaGrad's median effective rate after t1 updates / after t0, mean over seeds",
        predicted="< 1: its sum of squared gradients only grows",
        rule=below(1.0, "t95", "an implementation check: G is a sum of squares"),
        setup=_MLP_SETUP,
        seeds=_MLP_SEEDS,
        group="optimizers/mlp",
    ),
    Claim(
        id="optimizers/adagrad-decay-exponent",
        kind="prediction",
        source=LRS,
        quantity="AdaGrad's effective-rate decay exponent q = -ln(rate(t1)/rate(t0)) / ln(t1/t0), mean over seeds",
        predicted="strictly between 0 and 1/2: the gradients' mean square falls as training proceeds (G grows "
                  "sublinearly), but G still grows",
        rule=band(0.05, 0.45, "t95", "excludes both alternatives by 0.05 (about the 95% half-width of q over 5 "
                                     "seeds): stationary gradients give q = 1/2 (rate ~ t^(-1/2)), gradients "
                                     "that vanish early give q = 0 (G stops growing)"),
        setup=_MLP_SETUP,
        seeds=_MLP_SEEDS,
        group="optimizers/mlp",
    ),
    Claim(
        id="optimizers/rmsprop-keeps-rate",
        kind="prediction",
        source=LRS,
        quantity="RMSProp's effective-rate ratio rate(t1)/rate(t0) minus AdaGrad's, difference of the means over seeds",
        predicted="> 0: nu averages recent gradients only, so RMSProp's rate does not decay as AdaGrad's does",
        rule=above(0.0, "t95", "the alternative (RMSProp decays like AdaGrad) gives 0; Welch interval with "
                               "df = n - 1 (conservative)"),
        setup=_MLP_SETUP,
        seeds=_MLP_SEEDS,
        group="optimizers/mlp",
    ),
    Claim(
        id="optimizers/constant-gradient-closed-form",
        kind="check",
        source=LRS,
        quantity="largest relative error of AdaGrad's and RMSProp's measured step sizes against "
                 "eta|g|/(sqrt(t)|g|+eps) and eta|g|/(sqrt(1-0.9^t)|g|+eps), every step and coordinate",
        predicted="0 (float64): the notes' statement in its pure form, AdaGrad's step ~ eta t^(-1/2), RMSProp's -> eta",
        rule=below(1e-9, "exact", "a closed form of the same recursion in float64"),
        setup="f(w) = g.w, 4 coordinates |g| = 1e-3..30, eta = 0.01, 20000 steps (2000 quick), optim.trajectory",
    ),
)
