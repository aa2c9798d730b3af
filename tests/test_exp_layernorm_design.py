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


def _fake_full(rng) -> dict:
    cells = {}
    for act, g in (("sigmoid", 1.0), ("sigmoid", 8.0), ("tanh", 1.0), ("tanh", 8.0)):
        f = L.predicted_factor(act, g)
        stuck = f ** (L.DEPTH - 1) < 0.01
        cells[f"{act}, γ₀={g:g}"] = {
            "slug": f"{act}-g{g:g}", "predicted_factor": f, "measured_factor": min(f, 1.0) * 1.02,
            "spread": np.ones(L.DEPTH),
            "SGD": {"final": rng.normal(2.30 if stuck else 0.5, 0.01, 5), "rate": 0.01, "interior": True,
                    "mean_final_per_rate": [2.3] * len(L.SGD_RATES)},
            "Adam": {"final": rng.normal(0.5, 0.01, 5), "rate": 1e-3}}
    return {"cells": cells}


def test_full_mode_decides_every_claim_by_its_registered_rule():
    from experiments import _registry

    vs = L.decide_all(_fake_full(np.random.default_rng(0)), quick=False)
    _registry.check_complete("layernorm_design", vs)
    assert all(v["outcome"] == "as expected" for v in vs), [(v["id"], v["outcome"]) for v in vs]
    adam = next(v for v in vs if v["id"] == "layernorm_design/adam-sigmoid-g1")
    assert adam["measured"] == pytest.approx(1.8, abs=0.05)  # SGD's cost minus Adam's, paired


def test_quick_mode_skips_the_training_claims():
    out = _fake_full(np.random.default_rng(1))
    for c in out["cells"].values():
        del c["SGD"], c["Adam"]
    vs = L.decide_all(out, quick=True)
    assert {v["id"].split("/")[1].split("-")[0]: v["outcome"] for v in vs if v["outcome"] == "skipped"} == {
        "sgd": "skipped", "adam": "skipped"}
    assert sum(v["outcome"] == "skipped" for v in vs) == 5
