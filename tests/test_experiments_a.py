"""Experiments on initialization (symmetry, activation and gradient variance) run in quick mode; no verdict is unexpected.

Each experiment writes its JSON and PNG into a temporary folder. Every verdict
carries a kind (prediction, check or erratum) and an outcome; none may be
``"unexpected"``. An erratum (a statement of the notes that is false as written)
is "as expected" when the measurement confirms that it does not hold, so a
change that made the notes' slip reproduce would be noticed.
"""

from __future__ import annotations

import importlib
import json

import pytest

from experiment_checks import assert_same_claims_as_full_run
from experiments._common import KINDS

# gd_convergence, momentum, schedules and optimizers are tested in tests/test_experiments_c.py.


def _run(name, tmp_path):
    try:
        module = importlib.import_module(f"experiments.{name}")
    except ModuleNotFoundError:
        pytest.skip(f"experiments/{name}.py not written yet")
    record = module.run(quick=True, seed=0, out_dir=tmp_path)
    assert record["quick"] and record["seed"] == 0 and record["verdicts"]
    unexpected = [(v["claim"], v["measured"], v["predicted"]) for v in record["verdicts"]
                  if v["outcome"] == "unexpected"]
    assert not unexpected, unexpected
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert on_disk["verdicts"] == record["verdicts"]
    return record


def test_init_variance_states_both_xavier_errata_then_their_correction(tmp_path):
    record = _run("init_variance", tmp_path)
    claims = [v["claim"] for v in record["verdicts"]]
    errata = [i for i, v in enumerate(record["verdicts"]) if v["kind"] == "erratum"]
    assert len(errata) == 2 and all(record["verdicts"][i]["agree"] for i in errata)
    # each erratum is followed by the mean-field prediction for the rule it is about
    assert all("mean-field" in claims[i + 1] and record["verdicts"][i + 1]["kind"] == "prediction" for i in errata)
    # every stochastic prediction carries its interval over networks
    assert all(v["interval"] is not None and v["n_seeds"] >= 3 for v in record["verdicts"])
