"""The experiment framework (issue 12): verdict kinds and outcomes, the Student-t
interval, the runner's exit status and counts, and quick runs kept out of
``paper_figures/``."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import types

import pytest

from experiments import __main__ as runner
from experiments import _common


def _fake_module(name: str, verdicts: list[dict]) -> types.ModuleType:
    module = types.ModuleType(f"experiments.{name}")

    def run(quick: bool = False, seed: int = 0, out_dir=None):
        fig, _ = _common.figure()
        return _common.save(name, seed=seed, quick=quick, verdicts=verdicts, data={}, fig=fig, out_dir=out_dir)

    module.run = run
    return module


@pytest.fixture
def fake_experiments(monkeypatch):
    """Install fake experiments ``fake_ok`` and ``fake_bad``; return a function to run the CLI."""
    ok = [
        _common.verdict("theory holds", 1.0, 1.0, True, "exact", kind="prediction", interval=(0.9, 1.1), n_seeds=5),
        _common.verdict("the notes' slip is false", 3.0, 1.0, True, "ratio > 2", kind="erratum"),
        _common.verdict("data absent", float("nan"), 0.95, False, "n/a", kind="prediction", skipped="MNIST not found"),
        _common.verdict("BP equals grad", 0.0, 0.0, True, "<= 1e-9", kind="check"),
    ]
    bad = [_common.verdict("a claim that fails", 2.0, 1.0, False, "relative error <= 5%", kind="prediction")]
    monkeypatch.setitem(sys.modules, "experiments.fake_ok", _fake_module("fake_ok", ok))
    monkeypatch.setitem(sys.modules, "experiments.fake_bad", _fake_module("fake_bad", bad))
    monkeypatch.setattr(runner, "EXPERIMENTS", ("fake_ok", "fake_bad"))
    monkeypatch.setattr(runner, "available", lambda: ["fake_ok", "fake_bad"])


def test_verdict_outcomes_follow_agree_and_skipped():
    assert _common.verdict("c", 1, 1, True, "t", kind="check")["outcome"] == "as expected"
    assert _common.verdict("c", 1, 2, False, "t", kind="prediction")["outcome"] == "unexpected"
    v = _common.verdict("c", 1, 2, False, "t", kind="prediction", skipped="no data")
    assert v["outcome"] == "skipped" and v["skipped_reason"] == "no data"
    assert set(v) == {"claim", "section", "kind", "measured", "predicted", "tolerance", "agree", "outcome",
                      "skipped_reason", "interval", "n_seeds"}


def test_verdict_rejects_an_unknown_kind_and_a_bad_interval():
    with pytest.raises(ValueError, match="kind"):
        _common.verdict("c", 1, 1, True, "t", kind="guess")
    with pytest.raises(ValueError, match="interval"):
        _common.verdict("c", 1, 1, True, "t", kind="check", interval=(2.0, 1.0))
    with pytest.raises(ValueError, match="n_seeds"):
        _common.verdict("c", 1, 1, True, "t", kind="check", n_seeds=0)


def test_kind_is_required_and_an_old_record_without_kind_is_flagged():
    with pytest.raises(TypeError, match="kind"):
        _common.verdict("old", 1, 1, True, "t")
    old = {"claim": "old", "measured": 1, "predicted": 1, "agree": True, "tolerance": "t"}  # a pre-kind record
    summary = _common.summarize([old])
    assert summary["counts"] == {"null": {"as expected": 1}} and len(summary["problems"]) == 1
    assert _common.outcome_of({**old, "agree": False, "skipped": True}) == "skipped"


def test_experiments_use_the_library_s_t_interval():
    # tests/test_stats.py checks the quantiles, coverage and bad samples of fnn.stats
    from fnn import stats

    assert _common.t_interval is stats.t_interval and _common.t_quantile is stats.t_quantile


def test_runner_exits_one_on_an_unexpected_outcome_and_zero_otherwise(fake_experiments, tmp_path, capsys):
    assert runner.main(["fake_ok", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "prediction 1 as expected, 0 unexpected, 1 skipped" in out
    assert "erratum    1 as expected" in out and "check      1 as expected" in out
    assert runner.main(["all", "--out", str(tmp_path)]) == 1
    assert "fake_bad" in capsys.readouterr().out.splitlines()[-1]


def test_readme_lists_predictions_then_errata_then_checks_with_skip_reasons(fake_experiments, tmp_path):
    runner.main(["all", "--out", str(tmp_path)])
    text = (tmp_path / "README.md").read_text()
    i_pred, i_err, i_check = (text.index(f"## {t}") for t in ("Predictions", "Errata", "Checks"))
    assert i_pred < i_err < i_check
    assert "3 verdicts: 1 as expected, 1 unexpected, 1 skipped" in text
    assert "skipped: MNIST not found" in text and "**unexpected**" in text
    # only the prediction with an interval over seeds counts towards the chance rate (not the skipped one,
    # not the one without an interval)
    assert "1 of these are decided on a 95% interval over seeds" in text
    record = json.loads((tmp_path / "fake_ok.json").read_text())
    assert record["summary"]["skipped"] == 1 and record["agree"] is True


def test_quick_run_writes_to_a_scratch_folder_not_paper_figures(fake_experiments, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    before = {p.name: p.stat().st_mtime_ns for p in _common.PAPER_FIGURES.glob("*")}
    assert runner.main(["fake_ok", "--quick"]) == 0
    assert (tmp_path / "fnn-experiments-quick" / "fake_ok.json").exists()
    assert not (_common.PAPER_FIGURES / "fake_ok.json").exists()
    assert {p.name: p.stat().st_mtime_ns for p in _common.PAPER_FIGURES.glob("*")} == before
    # a module's own run(quick=True) without out_dir goes to the scratch folder as well
    sys.modules["experiments.fake_ok"].run(quick=True)
    assert not (_common.PAPER_FIGURES / "fake_ok.json").exists()


def test_data_dir_is_exported_and_must_exist(fake_experiments, tmp_path, monkeypatch):
    monkeypatch.delenv("FNN_DATA_DIR", raising=False)
    assert runner.main(["fake_ok", "--out", str(tmp_path), "--data-dir", str(tmp_path)]) == 0
    assert os.environ["FNN_DATA_DIR"] == str(tmp_path.resolve())
    with pytest.raises(SystemExit):
        runner.main(["fake_ok", "--out", str(tmp_path), "--data-dir", str(tmp_path / "absent")])



def test_readme_cells_shorten_long_lists_and_escape_pipes():
    assert runner._fmt([1.23456, 2.0]) == "[1.235, 2]"
    assert runner._fmt({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": "x|y"}) == "{a: [1, 2, 3, 4, ... (5 values)], b: x\\|y}"
