"""The perceptron experiment runs in quick mode with its recorded outcomes."""

from __future__ import annotations


import jax.numpy as jnp
import numpy as np

from experiments import perceptron as experiment


def test_planted_sets_have_exactly_the_requested_margin():
    rng = np.random.default_rng(0)
    for gamma in (0.2, 0.01):
        x, y, w = experiment.planted(rng, 200, 3, gamma)
        z = np.asarray(y) * (np.asarray(x, np.float64) @ np.asarray(w[1:], np.float64) + float(w[0]))
        assert abs(z.min() - gamma) < 1e-5
        assert set(np.unique(np.asarray(y)).tolist()) == {-1.0, 1.0}
        assert x.dtype == jnp.float32
