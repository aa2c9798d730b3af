"""Shared assertions for the quick runs of the experiments (imported by tests/test_exp*_*.py).

The regression harness: a quick run must decide every registered claim, and
each claim's quick outcome must equal the outcome recorded for it in
``tests/quick_outcomes/<name>.json`` (written by
``python -m experiments NAME --quick --record-quick``) under the same claim
hash. A claim whose quick outcome flips, or that changed without its outcome
being re-recorded, fails the suite. A claim skipped for want of a real data
set is tolerated only where ``FNN_DATA_DIR`` is unset (CI sets it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from experiments import _registry

QUICK_OUTCOMES = Path(__file__).resolve().parent / "quick_outcomes"


def recorded_quick(name: str) -> dict:
    """``{claim id: {"hash", "outcome"}}`` recorded for the quick run of ``name``."""
    path = QUICK_OUTCOMES / f"{name}.json"
    assert path.exists(), f"no recorded quick outcomes for {name}: run python -m experiments {name} --quick --record-quick"
    return json.loads(path.read_text())["claims"]


def assert_matches_recorded(name: str, record: dict) -> None:
    """Every registered claim decided, by a registered rule, with its recorded quick outcome and hash."""
    assert record["quick"], "the regression harness compares quick runs"
    _registry.check_complete(name, record["verdicts"])
    recorded = recorded_quick(name)
    registered = _registry.claims(name)
    assert set(recorded) == set(registered), (sorted(set(recorded) ^ set(registered)), "re-record quick outcomes")
    flipped, changed = [], []
    for v in record["verdicts"]:
        want = recorded[v["id"]]
        if v["claim_hash"] != want["hash"]:
            changed.append(v["id"])
        elif v["outcome"] == "skipped" and want["outcome"] != "skipped" and not os.environ.get("FNN_DATA_DIR"):
            continue  # a real data set absent on this machine (CI sets FNN_DATA_DIR and has both data sets)
        elif v["outcome"] != want["outcome"]:
            flipped.append((v["id"], want["outcome"], v["outcome"], v["measured"], v["interval"]))
    assert not changed, f"claims changed since their quick outcome was recorded: {changed}"
    assert not flipped, f"quick outcomes differ from the recorded ones (id, recorded, now, measured, interval): {flipped}"
