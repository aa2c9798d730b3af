"""Run the experiments: ``python -m experiments (all | NAME ...) [--quick] [--record-quick] [--seed S] [--out DIR] [--data-dir DIR]``.

``all`` runs every experiment in :data:`EXPERIMENTS`. Each decides the claims
registered for it (``experiments/claims/<name>.py``) by their registered
rules. A full run writes ``paper_figures/`` (or ``--out``) and regenerates its
``README.md`` (the verdicts by kind, predictions first, each section with its
counts per outcome; revised claims shown with their original outcome) and
``LEDGER.md``. ``--quick`` writes to a scratch folder (``$TMPDIR/fnn-experiments-quick``
or ``--out``), never into ``paper_figures/``; with ``--record-quick`` it also
records each quick outcome in ``tests/quick_outcomes/<name>.json``, which the
tests compare against (a claim whose quick outcome flips fails CI).

The exit status is 0 when every registered claim was run and decided by its
rule, whatever the outcomes (an unexpected or inconclusive outcome is a result,
not a failure); 1 when an experiment raised, or has a claim changed since its
last result without a ledger entry (that experiment is then not run).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

from experiments import _ledger
from experiments._common import KINDS, OUTCOMES, PAPER_FIGURES, outcome_of, quick_dir, summarize

QUICK_OUTCOMES = Path(__file__).resolve().parent.parent / "tests" / "quick_outcomes"

# In the order of the notes.
EXPERIMENTS: tuple[str, ...] = (
    "perceptron",
    "universal_approximation",
    "uat_boolean",
    "uat_derivatives",
    "sigmoid_vs_step",
    "sigma_shape",
    "generalization",
    "gd_descent",
    "sgd_noise",
    "why_sgd",
    "backprop_cost",
    "backprop_paths",
    "saturation",
    "slow_learning",
    "symmetry",
    "init_variance",
    "init_gradients",
    "vanishing_training",
    "gd_convergence",
    "real_net_convergence",
    "edge_of_stability",
    "edge_of_stability_sweep",
    "hessian_spectrum",
    "hessian_outliers",
    "momentum",
    "schedules",
    "optimizers",
    "real_net_schedules",
    "normalization",
    "batchnorm_capacity",
    "bn_affine",
    "bn_placement",
    "layernorm_design",
    "mnist_nielsen",
    "notes_errata",
)

# README sections, in this order: predictions first, then errata, then checks.
_SECTION_TITLES = {
    "prediction": "Predictions (a measurement against an independent theory or published number)",
    "erratum": "Errata (statements of the notes that are false as written; the correction follows as a prediction)",
    "check": "Checks (identities and implementation checks: valuable, but not reproductions)",
    "null": "Verdicts without a kind (to be labelled)",
}


def available() -> list[str]:
    """Experiments whose module exists, in the order of :data:`EXPERIMENTS`, then any other
    ``experiments/<name>.py`` (not ``_``-prefixed) in alphabetical order, so none is left out of ``all``."""
    here = Path(__file__).resolve().parent
    known = [name for name in EXPERIMENTS if (here / f"{name}.py").exists()]
    extra = sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_") and p.stem not in EXPERIMENTS)
    return known + extra


def run_one(name: str, quick: bool, seed: int, out_dir: Path) -> dict:
    """Import ``experiments.<name>`` and return its ``run(quick, seed, out_dir)`` record."""
    module = importlib.import_module(f"experiments.{name}")
    return module.run(quick=quick, seed=seed, out_dir=out_dir)


def _fmt(x: object) -> str:
    """A table cell: numbers to 4 significant digits, long lists shortened, ``|`` escaped."""
    return _short(x).replace("|", "\\|").replace("\n", " ")


def _short(x: object) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, (list, tuple)):
        items = [_short(v) for v in x[:4]]
        more = f", ... ({len(x)} values)" if len(x) > 4 else ""
        return "[" + ", ".join(items) + more + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in x.items()) + "}"
    return str(x)


def _records(out_dir: Path) -> list[tuple[str, dict]]:
    found = []
    for name in available():
        path = out_dir / f"{name}.json"
        if path.exists():
            found.append((name, json.loads(path.read_text())))
    return found


def _counts_line(verdicts: list[dict]) -> str:
    flat = [outcome_of(v) for v in verdicts]
    return ", ".join(f"{flat.count(o)} {o}" for o in OUTCOMES)


def _outcome_cell(v: dict, history: list[dict]) -> str:
    outcome = outcome_of(v)
    shown = {"as expected": "as expected", "unexpected": "**unexpected**", "inconclusive": "*inconclusive*"}.get(
        outcome, "")
    if outcome == "skipped":
        shown = f"skipped: {_fmt(v.get('skipped_reason') or 'no reason given')}"
    if v.get("excludes_point"):
        shown += " (interval excludes the point prediction)"
    if history:
        first = history[0]
        shown += f" — revised ({len(history)}x in the [ledger](LEDGER.md); originally {first['old_outcome']})"
    return shown


def _row(name: str, record: dict, v: dict, history: list[dict]) -> str:
    mode = " (quick)" if record.get("quick") else ""
    interval = _fmt(v["interval"]) if v.get("interval") else ""
    seeds = str(v["n_seeds"]) if v.get("n_seeds") else ""
    cid = v.get("id") or "(unregistered)"
    return (
        f"| [{name}]({name}.png){mode} | `{cid.split('/')[-1]}` | {_fmt(v['claim'])} | {_fmt(v['measured'])} | "
        f"{interval} | {seeds} | {_fmt(v['predicted'])} | {_fmt(v.get('rule', v.get('tolerance', '')))} | "
        f"{_outcome_cell(v, history)} |"
    )


def _provenance_lines(records: list[tuple[str, dict]]) -> list[str]:
    """Which commits and trees the records came from: one clean commit is what a reader can trust."""
    legacy = [name for name, record in records if not record.get("provenance")]
    if legacy:
        return [f"**{len(legacy)} of {len(records)} records predate the claim registry**: they carry no commit and "
                "no claim hashes, and their outcomes were decided by the experiments' own rules of that time, not "
                "by the registered ones (`experiments/claims/`). Their claims have since been registered and every "
                "change is in the [ledger](LEDGER.md); the records are to be regenerated at one commit from a "
                "clean tree (`python -m experiments all`). Until then, read the outcomes below as the old ones."]
    commits = {}
    for name, record in records:
        prov = record.get("provenance") or {}
        key = (prov.get("commit") or "unknown")[:12] + (" (dirty tree)" if prov.get("dirty") else "")
        commits.setdefault(key, []).append(name)
    if len(commits) == 1:
        (key,) = commits
        return [f"All records come from commit {key}."]
    lines = ["The records come from several commits:", ""] + [
        f"- {key}: {', '.join(names)}" for key, names in sorted(commits.items())]
    return lines + ["", *_code_changes(sorted({k.split()[0] for k in commits if not k.startswith("unknown")}))]


def _code_changes(commits: list[str]) -> list[str]:
    """What changed in the code (``fnn/``, ``experiments/``, ``pyproject.toml``) from each commit to the
    newest of them, so that a reader can see whether an older record's experiment still runs as recorded."""
    from experiments._common import _git

    if len(commits) < 2:
        return []
    newest = max(commits, key=lambda c: int(_git("show", "-s", "--format=%ct", c) or 0))
    out = []
    for c in sorted(set(commits) - {newest}):
        diff = _git("diff", "--name-status", c, newest, "--", "fnn", "experiments", "pyproject.toml")
        if diff is None:
            out.append(f"The code changes from {c} to {newest} could not be read (no git history here).")
            continue
        rows = [line.split("\t") for line in diff.splitlines() if line.strip()]
        added = [r[-1] for r in rows if r[0] == "A"]
        other = [f"{r[-1]} ({r[0]})" for r in rows if r[0] != "A"]
        out.append(f"From {c} to {newest} the code changed in {len(other)} file(s): {', '.join(other) or 'none'}; "
                   f"{len(added)} file(s) added: {', '.join(added) or 'none'}.")
    return out


def _registry_line(out_dir: Path) -> str:
    """The registered claims by kind and the ledger's entries by change, whatever the records say."""
    from experiments import _registry

    kinds: dict[str, int] = {}
    changes: dict[str, int] = {}
    for name in available():
        for claim in _registry.claims(name).values():
            kinds[claim.kind] = kinds.get(claim.kind, 0) + 1
        for e in _ledger.entries(out_dir, name):
            changes[e["change"]] = changes.get(e["change"], 0) + 1
    return ("Registered claims: " + ", ".join(f"{kinds.get(k, 0)} {k}" for k in KINDS)
            + "; ledger entries: " + (", ".join(f"{n} {c}" for c, n in sorted(changes.items())) or "none") + ".")


def write_readme(out_dir: Path) -> Path:
    """Regenerate ``out_dir/README.md`` and ``out_dir/LEDGER.md`` from the JSON records and ledger found there.

    Predictions first, then errata, then checks, each section headed by its
    counts per outcome; a skipped row shows its reason; a revised claim shows
    its original outcome beside the current one.
    """
    out_dir = Path(out_dir)
    records = _records(out_dir)
    groups: dict[str, list[tuple[str, dict, dict]]] = {k: [] for k in _SECTION_TITLES}
    history: dict[str, list[dict]] = {}
    for name, record in records:
        history.update(_ledger.revised(out_dir, name))
        for v in record["verdicts"]:
            groups[v.get("kind") if v.get("kind") in KINDS else "null"].append((name, record, v))
    every = [v for name, record in records for v in record["verdicts"]]
    total = summarize(every)
    n_revised = sum(1 for v in every if v.get("id") in history)
    text = [
        "# paper_figures",
        "",
        "Generated by `python -m experiments all` — do not edit by hand. Each row is one registered",
        "claim (`experiments/claims/<name>.py`: the quantity, the prediction, the decision rule with its",
        "margin and the seeds, fixed before the runs), measured with fnn; the JSON file beside each figure",
        "holds the numbers, the claim's hash and the provenance. A rule decides on the measured value's",
        "interval: inside the band -> as expected, outside -> unexpected, straddling an edge -> inconclusive.",
        "An unexpected or inconclusive outcome is a result. Revisions of claims are in the [ledger](LEDGER.md).",
        "",
        *_provenance_lines(records),
        "",
        _registry_line(out_dir),
        "",
        f"In all: {len(every)} verdicts — "
        + ", ".join(f"{len(groups[k])} {k if k != 'null' else 'without kind'}"
                    for k in _SECTION_TITLES if groups[k] or k != "null")
        + f"; {_counts_line(every)}; {n_revised} revised since first registered or reconstructed.",
        "",
    ]
    header = [
        "| experiment | id | quantity | measured | interval | seeds | predicted | rule | outcome |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, title in _SECTION_TITLES.items():
        rows = groups[kind]
        if not rows:
            continue
        n_groups = total["groups"].get(kind, len(rows))
        text += [f"## {title}", "", f"{len(rows)} verdicts ({n_groups} independent sets of runs: rows decided on "
                 f"one set of runs are correlated and count once): {_counts_line([v for _, _, v in rows])}.", ""]
        if kind == "prediction":
            text += [_chance_line([v for _, _, v in rows]), ""]
        text += header + [_row(name, record, v, history.get(v.get("id"), [])) for name, record, v in rows] + [""]
    if total["problems"]:
        text += ["## Problems", "", *[f"- {p}" for p in total["problems"]], ""]
    text += ["## Figures", ""]
    text += [f"### {record.get('title') or name}\n\n![{name}]({name}.png)\n" for name, record in records]
    readme = out_dir / "README.md"
    readme.write_text("\n".join(text) + "\n")
    _ledger.render(out_dir, available())
    return readme


def _chance_line(predictions: list[dict]) -> str:
    """How many unexpected outcomes chance alone can give among the band rules decided on an interval."""
    k = sum(1 for v in predictions if v.get("interval") is not None and v.get("outcome") != "skipped")
    return (f"{k} of these are decided on an interval. A band that holds the true value is still missed by "
            f"about one interval in 20, so up to about {0.05 * k:.0f} rows can come out unexpected or "
            "inconclusive by chance alone; rerunning them is only allowed for every prediction of the "
            "experiment at once, with fresh seeds fixed in the registry first (a ledger entry).")


def _print_counts(verdicts: list[dict]) -> None:
    summary = summarize(verdicts)
    for kind in (*KINDS, "null"):
        if kind in summary["counts"]:
            per = summary["counts"][kind]
            print(f"  {kind:10s} " + ", ".join(f"{per.get(o, 0)} {o}" for o in OUTCOMES)
                  + f"  ({summary['groups'][kind]} independent sets of runs)")
    for problem in summary["problems"]:
        print(f"  problem: {problem}")


def record_quick(record: dict, folder: Path = QUICK_OUTCOMES) -> Path:
    """Write the quick outcome of each claim (with its hash) to ``folder/<name>.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record['name']}.json"
    claims = {v["id"]: {"hash": v["claim_hash"], "outcome": v["outcome"]} for v in record["verdicts"]}
    path.write_text(json.dumps({"seed": record["seed"], "claims": claims}, indent=1, sort_keys=True) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the named experiments; 0 when every claim was decided by its registered rule, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help=f"'all' or any of: {', '.join(EXPERIMENTS)}")
    parser.add_argument("--quick", action="store_true", help="shrink every experiment (writes to a scratch folder)")
    parser.add_argument("--record-quick", action="store_true",
                        help="with --quick: record each claim's quick outcome in tests/quick_outcomes/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder (default paper_figures/, or {quick_dir()} with --quick)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where real data sets are looked for (exported as FNN_DATA_DIR)")
    args = parser.parse_args(argv)
    names = available() if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in available()]
    if unknown:
        parser.error(f"unknown experiment(s) {unknown}; choose from {available()} or 'all'")
    if args.record_quick and not args.quick:
        parser.error("--record-quick records quick outcomes: add --quick")
    if args.data_dir is not None:
        if not args.data_dir.is_dir():
            parser.error(f"--data-dir must be an existing folder, got {str(args.data_dir)!r}")
        os.environ["FNN_DATA_DIR"] = str(args.data_dir.resolve())
    out = args.out if args.out is not None else (quick_dir() if args.quick else PAPER_FIGURES)
    out.mkdir(parents=True, exist_ok=True)
    every, failed = [], []
    for name in names:
        t0 = time.perf_counter()
        problems = _ledger.violations(PAPER_FIGURES, name)
        if problems:
            print(f"{name:26s} not run: claims changed without a ledger entry:", *problems, sep="\n  ", flush=True)
            failed.append(name)
            continue
        try:
            record = run_one(name, args.quick, args.seed, out)
        except Exception:  # report, go on with the others, exit 1
            traceback.print_exc()
            print(f"{name:26s} error", flush=True)
            failed.append(name)
            continue
        if args.record_quick:
            record_quick(record)
        outcomes = [outcome_of(v) for v in record["verdicts"]]
        status = ", ".join(f"{outcomes.count(o)} {o}" for o in OUTCOMES if o in outcomes)
        print(f"{name:26s} {status:40s} {time.perf_counter() - t0:7.1f} s", flush=True)
        every += record["verdicts"]
    write_readme(out)
    print(f"{len(every)} verdicts in {out}:")
    _print_counts(every)
    if failed:
        print(f"not decided (error or unledgered change): {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
