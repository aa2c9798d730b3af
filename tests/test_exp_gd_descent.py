"""experiments.gd_descent's Taylor-series tools, each against an independent computation.

``taylor_coefficients`` against ``jax`` derivatives of ``phi(eta) = C(w - eta g)`` (float64) and against
``phi`` itself; ``_sigmoid_series`` against the pole of ``sigma`` (its root test must approach
``sqrt(A^2 + pi^2) / |B|``, the bound ``pole_radius`` uses); ``quartic_zero`` on polynomials with known roots.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import gd_descent
from fnn import backprop, nn


@pytest.fixture(scope="module")
def small():
    with jax.enable_x64(True):
        net = nn.MLP((12, 5, 3), hidden="sigmoid", output="sigmoid", w_init="xavier_normalized")
        params = net.init(jax.random.key(3), jnp.float64)
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.normal(size=(40, 12)))
        y = jnp.asarray(rng.integers(0, 3, size=40))

        def cost(p):
            return backprop.loss(net, "cross_entropy", p, x, y)

        g = jax.grad(cost)(params)

        def phi(eta):
            return cost(jax.tree_util.tree_map(lambda a, d: a - eta * d, params, g))

        derivs, f = [], phi
        for _ in range(4):
            f = jax.grad(f)
            derivs.append(float(f(0.0)))
        values = {e: float(phi(e)) for e in (0.0, 0.02, 0.05)}
        c = gd_descent.taylor_coefficients(params, g, np.asarray(x), np.asarray(y), 14)
        rp = gd_descent.pole_radius(params, g, np.asarray(x))
    return {"c": c, "derivs": derivs, "values": values, "R": rp}


@pytest.mark.slow  # the fixture takes ~20 s on 2 cores (nested jax.grad to order 4, Taylor mode to order 14)
def test_taylor_coefficients_match_nested_derivatives(small):
    c, d = small["c"], small["derivs"]
    assert c[0] == pytest.approx(small["values"][0.0], rel=1e-13)
    for k in range(1, 5):  # c_k = phi^(k)(0) / k!
        assert c[k] == pytest.approx(d[k - 1] / math.factorial(k), rel=1e-9, abs=1e-12)


@pytest.mark.slow  # shares the ~20 s fixture
def test_taylor_series_sums_to_the_cost_inside_its_radius(small):
    c = small["c"]
    for e in (0.02, 0.05):
        if e < 0.5 * small["R"]:
            assert np.polyval(c[::-1], e) == pytest.approx(small["values"][e], rel=1e-10)
    assert small["R"] > 0.04  # the fixture's point is well inside (else the test above checks nothing)


def test_sigmoid_series_radius_is_the_pole_distance():
    a, b, k = 1.3, 2.0, 80
    z = np.zeros((k + 1,))
    z[0], z[1] = a, -b
    u = gd_descent._sigmoid_series(z)
    assert u[0] == pytest.approx(1 / (1 + math.exp(-a)))
    assert u[1] == pytest.approx(-b * u[0] * (1 - u[0]))
    root = np.abs(u[k - 10:]) ** (-1.0 / np.arange(k - 10, k + 1))
    assert np.median(root) == pytest.approx(math.hypot(a, math.pi) / b, rel=0.05)


def test_quartic_zero_known_roots_and_validation():
    # -eta + eta^2 / 2: root 2 (the quadratic model's 2 eta_opt with ||g||^2 = g^T H g = 1)
    e, tol = gd_descent.quartic_zero(np.array([0.0, -1.0, 0.5, 0.0, 0.0, 0.1]))
    assert e == pytest.approx(2.0) and tol == pytest.approx(0.1 * 32 / 1.0)
    # -eta (1 - eta)(2 - eta)(3 - eta)... P_4 = -eta (1 - eta)(3 - eta)(4 - eta): smallest positive root 1
    p = np.polynomial.polynomial.polyfromroots([0.0, 1.0, 3.0, 4.0])
    assert gd_descent.quartic_zero(np.concatenate([p, [0.0]]))[0] == pytest.approx(1.0)
    assert gd_descent.quartic_zero(np.array([0.0, -1.0, 0.5, 0.0, -1.0, 0.0]))[0] == math.inf
    with pytest.raises(ValueError, match="c must"):
        gd_descent.quartic_zero(np.zeros(3))
    with pytest.raises(ValueError, match="order"):
        gd_descent.taylor_coefficients(({"W": 0, "b": 0}, {"W": 0, "b": 0}), ({"W": 0, "b": 0}, {"W": 0, "b": 0}),
                                       np.zeros((1, 1)), np.zeros(1, int), 0)
    with pytest.raises(ValueError, match="two layers"):
        gd_descent.pole_radius(({"W": 0, "b": 0},), ({"W": 0, "b": 0},), np.zeros((1, 1)))
