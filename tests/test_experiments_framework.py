"""The experiment framework: registered claims decided by registered rules (with an
"inconclusive" outcome), claim hashes and the ledger rule, provenance, the runner's
exit status and counts, and quick runs kept out of ``paper_figures/``."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import types

import pytest

from experiments import __main__ as runner
from experiments import _common, _ledger, _registry
from experiments._registry import Claim, Seeds, above, band, below

_SEEDS = Seeds(full=5, quick=3, which="seed + i")
FAKE_CLAIMS = {
    "fake_ok": (
        Claim(id="fake_ok/theory", kind="prediction", source="s", quantity="q", predicted="1",
              rule=band(0.9, 1.1, "t95", "why", point=1.0), setup="x", seeds=_SEEDS),
        Claim(id="fake_ok/slip", kind="erratum", source="s", quantity="ratio", predicted="> 2",
              rule=above(2.0, "exact", "why"), setup="x"),
        Claim(id="fake_ok/absent", kind="prediction", source="s", quantity="acc", predicted="0.95",
              rule=above(0.9, "wilson95", "why"), setup="x", seeds=_SEEDS),
        Claim(id="fake_ok/bp", kind="check", source="s", quantity="err", predicted="0",
              rule=below(1e-9, "exact", "why"), setup="x"),
    ),
    "fake_bad": (
        Claim(id="fake_bad/fails", kind="prediction", source="s", quantity="q", predicted="1",
              rule=band(0.95, 1.05, "exact", "why"), setup="x"),
    ),
}


def _verdicts(name: str, quick: bool) -> list[dict]:
    if name == "fake_bad":
        return [_registry.decide("fake_bad/fails", 2.0, quick=quick)]
    return [
        _registry.decide("fake_ok/theory", 1.0, quick=quick, interval=(0.95, 1.05)),
        _registry.decide("fake_ok/slip", 3.0, quick=quick),
        _registry.decide("fake_ok/absent", 0.0, quick=quick, skipped="MNIST not found"),
        _registry.decide("fake_ok/bp", 0.0, quick=quick),
    ]


def _fake_module(name: str) -> types.ModuleType:
    module = types.ModuleType(f"experiments.{name}")

    def run(quick: bool = False, seed: int = 0, out_dir=None):
        fig, _ = _common.figure()
        return _common.save(name, seed=seed, quick=quick, verdicts=_verdicts(name, quick), data={}, fig=fig,
                            out_dir=out_dir)

    module.run = run
    return module


def _registry_module(name: str, claims: tuple) -> types.ModuleType:
    module = types.ModuleType(f"experiments.claims.{name}")
    module.CLAIMS = claims
    return module


@pytest.fixture
def fake_experiments(monkeypatch, tmp_path):
    """Fake experiments ``fake_ok`` and ``fake_bad`` with registries; ``paper_figures`` is a temporary folder."""
    for name, claims in FAKE_CLAIMS.items():
        monkeypatch.setitem(sys.modules, f"experiments.{name}", _fake_module(name))
        monkeypatch.setitem(sys.modules, f"experiments.claims.{name}", _registry_module(name, claims))
    monkeypatch.setattr(runner, "EXPERIMENTS", ("fake_ok", "fake_bad"))
    monkeypatch.setattr(runner, "available", lambda: ["fake_ok", "fake_bad"])
    figures = tmp_path / "figures"
    figures.mkdir()
    monkeypatch.setattr(runner, "PAPER_FIGURES", figures)
    return figures


def _rule_outcome(rule, lo, hi):
    return _registry.outcome(rule, (lo, hi))


def test_a_band_is_as_expected_inside_unexpected_outside_and_inconclusive_across_an_edge():
    rule = band(0.9, 1.1, "t95", "why")
    assert _rule_outcome(rule, 0.95, 1.05) == "as expected"
    assert _rule_outcome(rule, 1.2, 1.3) == "unexpected" and _rule_outcome(rule, 0.5, 0.8) == "unexpected"
    assert _rule_outcome(rule, 0.85, 1.0) == "inconclusive" and _rule_outcome(rule, 0.5, 1.5) == "inconclusive"


def test_one_sided_bounds_decide_on_the_whole_interval():
    assert _rule_outcome(above(0.0, "t95", "w"), 0.1, 0.3) == "as expected"
    assert _rule_outcome(above(0.0, "t95", "w"), -0.3, -0.1) == "unexpected"
    assert _rule_outcome(above(0.0, "t95", "w"), -0.1, 0.3) == "inconclusive"
    assert _rule_outcome(below(1.0, "t95", "w"), 0.1, 0.9) == "as expected"
    assert _rule_outcome(below(1.0, "t95", "w"), 1.1, 1.2) == "unexpected"
    assert _rule_outcome(below(1.0, "t95", "w"), 0.9, 1.2) == "inconclusive"


def test_fewer_seeds_cannot_make_a_claim_pass():
    # the old rule ("the prediction inside the interval") rewarded wide intervals; a band does not
    rule = band(0.95, 1.05, "t95", "why", point=1.0)
    narrow_wrong, wide = (1.2, 1.3), (0.5, 1.5)
    assert _rule_outcome(rule, *narrow_wrong) == "unexpected"
    assert _rule_outcome(rule, *wide) == "inconclusive"


def test_decide_uses_the_registered_rule_and_flags_an_excluded_point(fake_experiments):
    v = _registry.decide("fake_ok/theory", 1.04, quick=False, interval=(1.01, 1.08))
    assert v["outcome"] == "as expected" and v["excludes_point"] is True
    assert v["claim_hash"] == _registry.get("fake_ok/theory").hash and v["n_seeds"] == 5
    assert _registry.decide("fake_ok/theory", 1.0, quick=True, interval=(0.99, 1.01))["n_seeds"] == 3


def test_decide_refuses_a_missing_or_superfluous_interval_and_a_wrong_seed_count(fake_experiments):
    with pytest.raises(ValueError, match="needs a t95 interval"):
        _registry.decide("fake_ok/theory", 1.0, quick=False)
    with pytest.raises(ValueError, match="exact; an interval was given"):
        _registry.decide("fake_ok/slip", 3.0, quick=False, interval=(2.0, 4.0))
    with pytest.raises(ValueError, match="registers 5 seeds"):
        _registry.decide("fake_ok/theory", 1.0, quick=False, interval=(0.9, 1.1), n=4)
    with pytest.raises(ValueError, match="NaN"):
        _registry.decide("fake_ok/slip", float("nan"), quick=False)
    with pytest.raises(LookupError, match="not registered"):
        _registry.decide("fake_ok/invented", 1.0, quick=False)


def test_a_claim_s_hash_changes_with_any_field():
    claim = FAKE_CLAIMS["fake_ok"][0]
    edited = [dataclasses.replace(claim, predicted="1.01"),
              dataclasses.replace(claim, rule=band(0.9, 1.2, "t95", "why", point=1.0)),
              dataclasses.replace(claim, seeds=Seeds(full=6, quick=3, which="seed + i")),
              dataclasses.replace(claim, kind="check")]
    assert len({claim.hash, *(c.hash for c in edited)}) == 5


def test_rules_and_claims_refuse_malformed_declarations():
    with pytest.raises(ValueError, match="lo <= hi"):
        band(2.0, 1.0, "exact", "why")
    with pytest.raises(ValueError, match="reason"):
        above(0.0, "exact", " ")
    with pytest.raises(ValueError, match="interval must be one of"):
        above(0.0, "guess", "why")
    with pytest.raises(ValueError, match="kind"):
        Claim(id="a/b", kind="guess", source="s", quantity="q", predicted="p", rule=above(0, "exact", "w"),
              setup="x")
    with pytest.raises(ValueError, match="needs seeds"):
        Claim(id="a/b", kind="check", source="s", quantity="q", predicted="p", rule=above(0, "t95", "w"),
              setup="x")


def test_save_refuses_unregistered_and_undecided_claims(fake_experiments, tmp_path):
    fig, _ = _common.figure()
    ok = _verdicts("fake_ok", False)
    with pytest.raises(ValueError, match="missing"):
        _common.save("fake_ok", seed=0, quick=False, verdicts=ok[:2], data={}, fig=fig, out_dir=tmp_path)
    stray = dict(ok[0], id="fake_ok/stray")
    with pytest.raises(ValueError, match="unregistered"):
        _common.save("fake_ok", seed=0, quick=False, verdicts=ok + [stray], data={}, fig=fig, out_dir=tmp_path)


def test_records_carry_provenance_and_claim_hashes(fake_experiments, tmp_path):
    record = sys.modules["experiments.fake_ok"].run(quick=True, out_dir=tmp_path)
    prov = record["provenance"]
    assert set(prov) >= {"commit", "dirty", "fnn", "jax", "jaxlib", "device", "mode"} and prov["mode"] == "quick"
    assert all(v["claim_hash"] == _registry.get(v["id"]).hash for v in record["verdicts"])


def test_runner_exits_zero_whatever_the_outcomes_and_prints_counts(fake_experiments, tmp_path, capsys):
    assert runner.main(["all", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "prediction 1 as expected, 1 unexpected, 0 inconclusive, 1 skipped" in out
    assert "erratum    1 as expected" in out and "check      1 as expected" in out


def test_runner_exits_one_when_an_experiment_raises(fake_experiments, tmp_path, monkeypatch, capsys):
    def boom(quick=False, seed=0, out_dir=None):
        raise RuntimeError("broken experiment")

    monkeypatch.setattr(sys.modules["experiments.fake_bad"], "run", boom)
    assert runner.main(["all", "--out", str(tmp_path)]) == 1
    assert "fake_bad" in capsys.readouterr().out.splitlines()[-1]


def _record_then_edit(figures, tmp_path, monkeypatch):
    """A full result of fake_ok in ``figures``, then its 'theory' claim's band widened after the fact."""
    sys.modules["experiments.fake_ok"].run(quick=False, out_dir=figures)
    old = FAKE_CLAIMS["fake_ok"][0]
    new = dataclasses.replace(old, rule=band(0.5, 1.5, "t95", "widened after seeing the data", point=1.0))
    monkeypatch.setitem(sys.modules, "experiments.claims.fake_ok",
                        _registry_module("fake_ok", (new, *FAKE_CLAIMS["fake_ok"][1:])))
    return old, new


def test_a_claim_edited_after_its_result_without_a_ledger_entry_is_refused(fake_experiments, tmp_path, monkeypatch,
                                                                          capsys):
    old, new = _record_then_edit(fake_experiments, tmp_path, monkeypatch)
    problems = _ledger.violations(fake_experiments, "fake_ok")
    assert len(problems) == 1 and "fake_ok/theory" in problems[0] and old.hash in problems[0]
    assert runner.main(["fake_ok", "--out", str(tmp_path)]) == 1
    assert "without a ledger entry" in capsys.readouterr().out


def test_a_ledger_entry_from_the_recorded_hash_to_the_new_one_allows_the_change(fake_experiments, tmp_path,
                                                                                monkeypatch):
    old, new = _record_then_edit(fake_experiments, tmp_path, monkeypatch)
    _ledger.add(fake_experiments, "fake_ok", claim="fake_ok/theory", change="revise", old="band [0.9, 1.1]",
                old_outcome="as expected", old_hash=old.hash, new="band [0.5, 1.5]", new_hash=new.hash,
                reason="test", date="2026-12-06", commit="0000000")
    assert _ledger.violations(fake_experiments, "fake_ok") == []
    runner.write_readme(fake_experiments)
    text = (fake_experiments / "README.md").read_text()
    assert "revised (1x in the [ledger](LEDGER.md); originally as expected)" in text
    assert "band [0.9, 1.1]" in (fake_experiments / "LEDGER.md").read_text()


def test_a_dropped_claim_needs_a_retire_entry(fake_experiments, tmp_path, monkeypatch):
    sys.modules["experiments.fake_ok"].run(quick=False, out_dir=fake_experiments)
    old = FAKE_CLAIMS["fake_ok"][3]
    monkeypatch.setitem(sys.modules, "experiments.claims.fake_ok",
                        _registry_module("fake_ok", FAKE_CLAIMS["fake_ok"][:3]))
    assert "no 'retire' entry" in _ledger.violations(fake_experiments, "fake_ok")[0]
    _ledger.add(fake_experiments, "fake_ok", claim=old.id, change="retire", old="err <= 1e-9",
                old_outcome="as expected", old_hash=old.hash, new=None, new_hash=None, reason="test",
                date="2026-12-06", commit="0000000")
    assert _ledger.violations(fake_experiments, "fake_ok") == []


def test_readme_lists_predictions_then_errata_then_checks_with_inconclusive_and_skip_reasons(fake_experiments,
                                                                                          tmp_path):
    runner.main(["all", "--out", str(tmp_path)])
    text = (tmp_path / "README.md").read_text()
    i_pred, i_err, i_check = (text.index(f"## {t}") for t in ("Predictions", "Errata", "Checks"))
    assert i_pred < i_err < i_check
    assert "1 as expected, 1 unexpected, 0 inconclusive, 1 skipped" in text
    assert "skipped: MNIST not found" in text and "**unexpected**" in text
    record = json.loads((tmp_path / "fake_ok.json").read_text())
    assert record["summary"]["skipped"] == 1


def test_record_quick_writes_outcomes_with_hashes(fake_experiments, tmp_path):
    record = sys.modules["experiments.fake_ok"].run(quick=True, out_dir=tmp_path)
    path = runner.record_quick(record, tmp_path / "quick")
    claims = json.loads(path.read_text())["claims"]
    assert claims["fake_ok/theory"] == {"hash": _registry.get("fake_ok/theory").hash, "outcome": "as expected"}


def test_quick_run_writes_to_a_scratch_folder_not_paper_figures(fake_experiments, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    before = {p.name: p.stat().st_mtime_ns for p in _common.PAPER_FIGURES.glob("*")}
    assert runner.main(["fake_ok", "--quick"]) == 0
    assert (tmp_path / "fnn-experiments-quick" / "fake_ok.json").exists()
    assert not (_common.PAPER_FIGURES / "fake_ok.json").exists()
    assert {p.name: p.stat().st_mtime_ns for p in _common.PAPER_FIGURES.glob("*")} == before


def test_data_dir_is_exported_and_must_exist(fake_experiments, tmp_path, monkeypatch):
    monkeypatch.delenv("FNN_DATA_DIR", raising=False)
    assert runner.main(["fake_ok", "--out", str(tmp_path), "--data-dir", str(tmp_path)]) == 0
    assert os.environ["FNN_DATA_DIR"] == str(tmp_path.resolve())
    with pytest.raises(SystemExit):
        runner.main(["fake_ok", "--out", str(tmp_path), "--data-dir", str(tmp_path / "absent")])


def test_readme_cells_shorten_long_lists_and_escape_pipes():
    assert runner._fmt([1.23456, 2.0]) == "[1.235, 2]"
    assert runner._fmt({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": "x|y"}) == "{a: [1, 2, 3, 4, ... (5 values)], b: x\\|y}"


# ---- the real registry and the committed results


def test_every_experiment_has_a_registry_of_well_formed_claims():
    for name in runner.available():
        claims = _registry.claims(name)
        assert claims, name


def test_every_registered_claim_matches_its_last_result_or_has_a_ledger_entry():
    problems = [p for name in runner.available() for p in _ledger.violations(_common.PAPER_FIGURES, name)]
    assert not problems, problems


def test_every_experiment_has_recorded_quick_outcomes_for_exactly_its_claims():
    from experiment_checks import recorded_quick

    for name in runner.available():
        recorded = recorded_quick(name)
        registered = _registry.claims(name)
        assert set(recorded) == set(registered), name
        stale = [cid for cid, c in registered.items() if recorded[cid]["hash"] != c.hash]
        assert not stale, (name, stale)
