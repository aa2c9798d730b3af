"""Experiments on initialization and optimization run in quick mode and their verdicts hold.

Each experiment writes its JSON and PNG into a temporary folder; every verdict
must agree, except the claims of the notes that the experiment shows *not* to
reproduce (listed in ``EXPECTED_DISAGREEMENTS`` with the reason): for those the
test checks that they still do not, so a change in the measurement is noticed.
"""

from __future__ import annotations

import importlib
import json

import pytest

EXPERIMENTS = ("symmetry", "init_variance", "gd_convergence", "momentum", "schedules", "optimizers")

# experiment -> substrings of the claims that honestly do not reproduce.
EXPECTED_DISAGREEMENTS = {
    # Xavier as the notes define it, U[-1/sqrt(M), 1/sqrt(M)], has Var[w] = 1/(3M): the variance of
    # tanh's weighted input shrinks ~3x per layer (4.6e-10 after 20 layers), it is not kept constant.
    "init_variance": ("the notes' claim: tanh + Xavier",),
}


def _expected_to_fail(name: str, claim: str) -> bool:
    return any(s in claim for s in EXPECTED_DISAGREEMENTS.get(name, ()))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_quick_run_agrees_with_theory(name, tmp_path):
    try:
        module = importlib.import_module(f"experiments.{name}")
    except ModuleNotFoundError:
        pytest.skip(f"experiments/{name}.py not written yet")
    record = module.run(quick=True, seed=0, out_dir=tmp_path)
    assert record["quick"] and record["seed"] == 0 and record["verdicts"]
    wrong = [
        (v["claim"], v["measured"], v["predicted"])
        for v in record["verdicts"]
        if v["agree"] == _expected_to_fail(name, v["claim"])
    ]
    assert not wrong, wrong
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert on_disk["verdicts"] == record["verdicts"]
