"""Shared assertions for the quick runs of the experiments (imported by tests/test_experiments_*.py).

Issue 12: quick mode checks the same claims as full mode, on smaller sizes; the
committed full-run record in ``paper_figures/<name>.json`` is the reference.
"""

from __future__ import annotations

import json
from pathlib import Path

from experiments._common import KINDS, PAPER_FIGURES


def assert_no_unexpected(record: dict) -> None:
    """Every verdict has a kind and none came out unexpected."""
    bad = [(v["claim"], v["measured"], v["predicted"], v["tolerance"]) for v in record["verdicts"]
           if v["outcome"] == "unexpected"]
    assert not bad, bad
    assert all(v["kind"] in KINDS for v in record["verdicts"])


def assert_same_claims_as_full_run(name: str, record: dict) -> None:
    """The quick record has the verdicts of the committed full run: the same number, kinds and sections,
    in the same order (sizes in the claim texts may differ). Skipped when no full record is committed."""
    path = Path(PAPER_FIGURES) / f"{name}.json"
    if not path.exists():
        return
    full = json.loads(path.read_text())
    if full.get("quick") or any(v.get("kind") is None for v in full["verdicts"]):
        return  # not a full run of the current experiment yet
    key = lambda vs: [(v["kind"], v.get("section", "")) for v in vs]
    assert key(record["verdicts"]) == key(full["verdicts"]), (key(record["verdicts"]), key(full["verdicts"]))
