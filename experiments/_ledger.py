"""The ledger: every change to a claim after it had produced a result.

One file per experiment, ``paper_figures/ledger/<name>.json``::

    {"entries": [{"date": "2026-12-06", "commit": "abc1234", "claim": "<experiment>/<slug>",
                  "change": "relabel" | "restate" | "revise" | "retire" | "reseed" | "history",
                  "old": "the old claim, rule and seeds in words", "old_outcome": "as expected",
                  "old_hash": "..." | null, "new": "the new claim in words" | null,
                  "new_hash": "..." | null, "reason": "why"}]}

``commit`` is the commit the change was made on top of (for ``history``
entries, the commit that made the change); ``history`` entries reconstruct
revisions made before the registry existed (``old_hash`` null: those claims
had no hash), and so do ``relabel``/``restate`` entries for claims whose last
result predates the registry. The **ledger rule**: a
registered claim whose hash differs from the hash recorded with its last
result (the committed ``paper_figures/<name>.json``) must have an entry from
that recorded hash to its current one; a claim that was recorded and is no
longer registered must have a ``retire`` entry. :func:`violations` lists the
breaches; the runner refuses to run an experiment that has one, and a test
fails on any.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from experiments import _registry

CHANGES = ("relabel", "restate", "revise", "retire", "reseed", "history")
FIELDS = ("date", "commit", "claim", "change", "old", "old_outcome", "old_hash", "new", "new_hash", "reason")


def ledger_dir(figures: Path) -> Path:
    return Path(figures) / "ledger"


def entries(figures: Path, name: str) -> list[dict[str, Any]]:
    """The ledger entries of experiment ``name`` (checked: known fields and change kinds)."""
    path = ledger_dir(figures) / f"{name}.json"
    if not path.exists():
        return []
    found = json.loads(path.read_text())["entries"]
    for i, e in enumerate(found):
        missing = [f for f in FIELDS if f not in e]
        if missing:
            raise ValueError(f"{path}: entry {i} lacks {missing}")
        if e["change"] not in CHANGES:
            raise ValueError(f"{path}: entry {i} has change {e['change']!r}, expected one of {CHANGES}")
        if not str(e["claim"]).startswith(f"{name}/"):
            raise ValueError(f"{path}: entry {i} is about {e['claim']!r}, not a claim of {name}")
    return found


def add(figures: Path, name: str, **entry: Any) -> None:
    """Append one entry (every field of :data:`FIELDS`) to ``paper_figures/ledger/<name>.json``."""
    missing = [f for f in FIELDS if f not in entry]
    extra = [f for f in entry if f not in FIELDS]
    if missing or extra:
        raise ValueError(f"ledger entry: missing fields {missing}, unknown fields {extra}")
    if entry["change"] not in CHANGES:
        raise ValueError(f"ledger entry: change must be one of {CHANGES}, got {entry['change']!r}")
    path = ledger_dir(figures) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    log = json.loads(path.read_text())["entries"] if path.exists() else []
    log.append({f: entry[f] for f in FIELDS})
    path.write_text(json.dumps({"entries": log}, indent=1) + "\n")


def recorded_hashes(figures: Path, name: str) -> dict[str, str]:
    """``{claim id: hash}`` recorded with the committed full result of ``name`` (empty before the registry)."""
    path = Path(figures) / f"{name}.json"
    if not path.exists():
        return {}
    record = json.loads(path.read_text())
    return {v["id"]: v["claim_hash"] for v in record.get("verdicts", []) if v.get("id") and v.get("claim_hash")}


def violations(figures: Path, name: str) -> list[str]:
    """Breaches of the ledger rule for ``name``: changed or dropped claims with no covering entry."""
    recorded = recorded_hashes(figures, name)
    registered = _registry.claims(name)
    log = entries(figures, name)
    covered = {(e["claim"], e["old_hash"], e["new_hash"]) for e in log}
    problems = []
    for cid, old in recorded.items():
        if cid not in registered:
            if not any(e["claim"] == cid and e["change"] == "retire" and e["old_hash"] == old for e in log):
                problems.append(f"{cid}: recorded with hash {old} but no longer registered, and no 'retire' entry")
            continue
        new = registered[cid].hash
        if new != old and (cid, old, new) not in covered:
            problems.append(f"{cid}: hash {old} (last result) -> {new} (registry) without a ledger entry "
                            f"in paper_figures/ledger/{name}.json")
    return problems


def revised(figures: Path, name: str) -> dict[str, list[dict[str, Any]]]:
    """``{claim id: its ledger entries, oldest first}`` for every claim of ``name`` that has one."""
    out: dict[str, list[dict[str, Any]]] = {}
    for e in entries(figures, name):
        out.setdefault(e["claim"], []).append(e)
    return out


def render(figures: Path, names: list[str]) -> Path:
    """Write ``LEDGER.md``: every entry of every experiment, oldest first within each."""
    lines = [
        "# Ledger of claim revisions",
        "",
        "Generated from `paper_figures/ledger/*.json` by `python -m experiments` — do not edit by hand.",
        "Every change to a registered claim after it had produced a result is an entry: the old claim",
        "and its outcome are kept. `history` entries reconstruct revisions made before claims were",
        "registered, from the git history of the experiments.",
        "",
    ]
    for name in names:
        log = entries(figures, name)
        if not log:
            continue
        lines += [f"## {name}", "", "| date | commit | claim | change | old claim | old outcome | new claim | reason |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for e in log:
            cells = [e["date"], e["commit"], e["claim"], e["change"], e["old"], e["old_outcome"], e["new"] or "(retired)",
                     e["reason"]]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
        lines.append("")
    path = Path(figures) / "LEDGER.md"
    path.write_text("\n".join(lines) + "\n")
    return path
