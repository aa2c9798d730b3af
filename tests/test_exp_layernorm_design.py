"""experiments.layernorm_design's gradient diagnostic against the mean-field backward gain ``f``.

In mean field the layer Jacobian has rms gain ``f`` (module docstring), so ``||dC/dW^l||`` grows by ``~f`` per
layer towards the output where ``f < 1`` and shrinks by ``~1/f`` where ``f > 1`` (no saturation cap backward).
Checked on the two cells far from ``f = 1`` (sigmoid at gamma 1, tanh at gamma 8), geometric mean over layers 2..10,
within 25% (mean field at width 64, one initialization).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from experiments import layernorm_design as L
from fnn import data, norm


@pytest.mark.slow  # ~10 s per cell on 2 cores
@pytest.mark.parametrize("act,gamma", [("sigmoid", 1.0), ("tanh", 8.0)])
def test_gradient_gain_per_layer_is_f(act, gamma):
    x, y = data.load("fashion_mnist", "train", download=False, progress=False)
    stats = norm.standardize.fit(x[:200])
    x = np.asarray(norm.standardize.apply(stats, x[:200]), np.float32)
    g = L._grad_norms(act, gamma, jax.random.key(1), x, np.asarray(y[:200]))
    assert g.shape == (L.DEPTH + 1,) and np.all(np.isfinite(g)) and np.all(g > 0)
    # W^l's gradient is delta^l z^(l-1)^T; layers 2..10 (indices 1..9): both factors at their steady spread
    backward = float(np.exp(np.mean(np.log(g[1:9] / g[2:10]))))
    assert backward == pytest.approx(L.predicted_factor(act, gamma), rel=0.25)
