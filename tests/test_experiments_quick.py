"""Every experiment's quick run, against the outcomes recorded for its claims.

Each quick run must decide exactly its registered claims (by their registered
rules) and give, claim by claim, the outcome recorded in
``tests/quick_outcomes/<name>.json``; see ``tests/experiment_checks.py``. The
heavier quick runs are in the slow set (durations on 2 CPU cores).
"""

from __future__ import annotations

import importlib
import json

import pytest

from experiment_checks import assert_matches_recorded

DEFAULT = ("sigmoid_vs_step", "backprop_paths", "saturation", "slow_learning", "init_variance", "momentum",
           "mnist_nielsen", "layernorm_design")
SLOW = ("perceptron",  # 12 s
        "universal_approximation",  # 31 s
        "uat_boolean", "uat_derivatives",  # 10 s each
        "sgd_noise",  # 23 s compiled cheaply (bound by execution)
        "backprop_cost",  # 17 s
        "symmetry", "init_gradients",  # 10-11 s
        "gd_descent", "gd_convergence",  # 10-14 s
        "real_net_convergence",  # 46 s
        "edge_of_stability",  # 24-34 s
        "hessian_spectrum",  # 73 s
        "schedules", "optimizers", "normalization",  # 30-60 s each
        "batchnorm_capacity", "bn_placement",
        "generalization",  # 15 s of CPU, 34 s at load 9 (one compile per width x training-set size)
        "why_sgd",  # 8 s of CPU, 18 s at load 9
        "sigma_shape",  # 15 s of CPU, 26-41 s at load 6-9 (five activations, one population each)
        "vanishing_training",  # 20-25 s
        "notes_errata",  # 15-25 s (float64 compiles)
        "real_net_schedules",  # 40 s (five compiled populations)
        "bn_affine",  # 30 s
        "hessian_outliers",  # 90 s of CPU (six trainings, 8 analyses each)
        "edge_of_stability_sweep",  # 25 s (50-70 s at load 9): compiles two populations and a fit
        )
ALL = DEFAULT + SLOW


def _run(name: str, tmp_path) -> dict:
    record = importlib.import_module(f"experiments.{name}").run(quick=True, seed=0, out_dir=tmp_path)
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert on_disk["quick"] is True and on_disk["seed"] == 0 and len(on_disk["verdicts"]) == len(record["verdicts"])
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    return record


@pytest.mark.parametrize("name", DEFAULT)
def test_quick_run_gives_the_recorded_outcomes(name, tmp_path):
    assert_matches_recorded(name, _run(name, tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_slow_quick_run_gives_the_recorded_outcomes(name, tmp_path):
    assert_matches_recorded(name, _run(name, tmp_path))


def test_every_experiment_has_a_quick_run_test():
    from experiments.__main__ import available

    assert sorted(ALL) == sorted(available())
