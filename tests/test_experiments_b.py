"""Quick runs of the experiments on universal approximation, sigmoid neurons,
SGD noise, backprop cost, saturation and slow learning: no verdict's outcome
is unexpected, every verdict has a kind, and every stochastic prediction (one
with ``n_seeds``) states its 95% interval over at least 3 seeds.
"""

from __future__ import annotations

import importlib
import json

import pytest

from experiment_checks import assert_same_claims_as_full_run
from experiments._common import KINDS

# universal_approximation (31 s on 2 cores), backprop_cost (17 s) and sgd_noise (6 s, but 23 s when compiled
# cheaply as the default suite does: it is bound by execution, not compilation) run with the slow set.
EXPERIMENTS = (
    pytest.param("universal_approximation", marks=pytest.mark.slow),
    "sigmoid_vs_step",
    pytest.param("sgd_noise", marks=pytest.mark.slow),
    pytest.param("backprop_cost", marks=pytest.mark.slow),
    "backprop_paths",
    "saturation",
    "slow_learning",
)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_quick_run_has_no_unexpected_outcome(name, tmp_path):
    module = importlib.import_module(f"experiments.{name}")
    record = module.run(quick=True, seed=0, out_dir=tmp_path)
    failed = [f"{v['claim']}: measured {v['measured']}, predicted {v['predicted']} ({v['tolerance']})"
              for v in record["verdicts"] if v["outcome"] == "unexpected"]
    assert not failed, "claims that did not reproduce:\n" + "\n".join(failed)
    assert record["verdicts"], "an experiment must check at least one claim"
    assert all(v["kind"] in KINDS for v in record["verdicts"])
    seeded = [v for v in record["verdicts"] if v["n_seeds"] is not None]
    assert all(v["n_seeds"] >= 3 for v in seeded)
    # the files the runner and README rely on
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert on_disk["verdicts"] == record["verdicts"] and on_disk["quick"] is True and on_disk["seed"] == 0
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    assert_same_claims_as_full_run(name, record)


def test_path_count_by_dynamic_programming_is_the_product_of_later_widths():
    from experiments.backprop_paths import path_count

    assert path_count((3, 5, 5, 5, 1)) == 25
    assert path_count((3, 4, 6, 2)) == 12
