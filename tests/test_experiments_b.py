"""Quick runs of the experiments on universal approximation, sigmoid neurons,
SGD noise, backprop cost, saturation and slow learning: every claim they check
must reproduce (each verdict's ``agree`` is computed from its stated tolerance).
"""

from __future__ import annotations

import importlib
import json

import pytest

EXPERIMENTS = (
    "universal_approximation",
    "sigmoid_vs_step",
    "sgd_noise",
    "backprop_cost",
    "saturation",
    "slow_learning",
)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_quick_run_reproduces_every_claim(name, tmp_path):
    module = importlib.import_module(f"experiments.{name}")
    record = module.run(quick=True, seed=0, out_dir=tmp_path)
    failed = [f"{v['claim']}: measured {v['measured']}, predicted {v['predicted']} ({v['tolerance']})"
              for v in record["verdicts"] if not v["agree"]]
    assert not failed, "claims that did not reproduce:\n" + "\n".join(failed)
    assert record["verdicts"], "an experiment must check at least one claim"
    # the files the runner and README rely on
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert on_disk["verdicts"] == record["verdicts"] and on_disk["quick"] is True and on_disk["seed"] == 0
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
