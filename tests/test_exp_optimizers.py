"""experiments.optimizers: the closed form of AdaGrad's and RMSProp's steps on a constant gradient.

The experiment's check (d) compares ``optim.trajectory`` with :func:`constant_gradient_steps`; here the closed form
is compared with a plain float64 loop of the two recursions as Goodfellow et al. (2016, Alg. 8.4 and 8.5) write
them, independent of ``fnn.optim``, and its limits (AdaGrad ~ eta t^(-1/2), RMSProp -> eta) are checked.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.optimizers import constant_gradient_steps


def _loop(name: str, rate: float, g: float, steps: int, eps: float, decay: float = 0.9) -> np.ndarray:
    acc, out = 0.0, []
    for _ in range(steps):
        acc = acc + g * g if name == "AdaGrad" else decay * acc + (1 - decay) * g * g
        out.append(abs(rate * g / (math.sqrt(acc) + eps)))
    return np.asarray(out)


@pytest.mark.parametrize("name", ["AdaGrad", "RMSProp"])
@pytest.mark.parametrize("g", [1e-4, 0.3, -2.0, 50.0])
def test_closed_form_matches_the_recursion(name, g):
    got = constant_gradient_steps(name, 0.01, g, 500, 1e-7)
    np.testing.assert_allclose(got, _loop(name, 0.01, g, 500, 1e-7), rtol=1e-12)


def test_adagrad_step_falls_as_t_to_minus_half_and_rmsprop_step_tends_to_eta():
    t = 10_000
    ada = constant_gradient_steps("AdaGrad", 0.01, 1.0, t, 1e-12)
    rms = constant_gradient_steps("RMSProp", 0.01, 1.0, t, 1e-12)
    assert ada[-1] == pytest.approx(0.01 / math.sqrt(t), rel=1e-9)
    assert ada[-1] / ada[t // 4 - 1] == pytest.approx(0.5, rel=1e-9)
    assert rms[-1] == pytest.approx(0.01, rel=1e-9)
    assert rms[0] == pytest.approx(0.01 / math.sqrt(0.1), rel=1e-9)  # nu_1 = (1 - 0.9) g^2


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="name must"):
        constant_gradient_steps("Adam", 0.01, 1.0, 10, 1e-8)
    with pytest.raises(ValueError, match="rate"):
        constant_gradient_steps("AdaGrad", -0.01, 1.0, 10, 1e-8)
    with pytest.raises(ValueError, match="steps"):
        constant_gradient_steps("RMSProp", 0.01, 1.0, 0, 1e-8)
