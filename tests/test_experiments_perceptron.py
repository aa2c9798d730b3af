"""The perceptron experiment runs in quick mode with its recorded outcomes."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from experiment_checks import assert_matches_recorded
from experiments import perceptron as experiment


@pytest.mark.slow  # 12 s on 2 cores
def test_perceptron_experiment_quick_run_has_its_recorded_outcomes(tmp_path):
    record = experiment.run(quick=True, seed=0, out_dir=tmp_path)
    assert_matches_recorded("perceptron", record)
    assert (tmp_path / "perceptron.png").stat().st_size > 10_000
    on_disk = json.loads((tmp_path / "perceptron.json").read_text())
    assert on_disk["verdicts"] == record["verdicts"]
    runs = record["data"]["runs"]
    assert all(r["updates"] <= r["bound_best"] <= r["bound_planted"] * (1 + 1e-5) for r in runs)


def test_planted_sets_have_exactly_the_requested_margin():
    rng = np.random.default_rng(0)
    for gamma in (0.2, 0.01):
        x, y, w = experiment.planted(rng, 200, 3, gamma)
        z = np.asarray(y) * (np.asarray(x, np.float64) @ np.asarray(w[1:], np.float64) + float(w[0]))
        assert abs(z.min() - gamma) < 1e-5
        assert set(np.unique(np.asarray(y)).tolist()) == {-1.0, 1.0}
        assert x.dtype == jnp.float32
