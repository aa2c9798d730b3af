"""Run the experiments: ``python -m experiments (all | NAME ...) [--quick] [--seed S] [--out DIR] [--data-dir DIR]``.

``all`` runs every experiment in :data:`EXPERIMENTS` that exists. A full run
writes ``paper_figures/`` (or ``--out``) and regenerates its ``README.md``: the
verdicts grouped by kind (predictions, then errata, then checks; issue 12), each
group with its counts per outcome. ``--quick`` writes to a scratch folder
(``$TMPDIR/fnn-experiments-quick`` or ``--out``), never into ``paper_figures/``.

The exit status is 0 exactly when no verdict's outcome is ``"unexpected"``
(a skipped claim is not a failure; it is counted and shown with its reason).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

from experiments._common import KINDS, OUTCOMES, PAPER_FIGURES, outcome_of, quick_dir, summarize

# In the order of the notes.
EXPERIMENTS: tuple[str, ...] = (
    "perceptron",
    "universal_approximation",
    "uat_boolean",
    "uat_derivatives",
    "sigmoid_vs_step",
    "gd_descent",
    "sgd_noise",
    "backprop_cost",
    "backprop_paths",
    "saturation",
    "slow_learning",
    "symmetry",
    "init_variance",
    "init_gradients",
    "gd_convergence",
    "real_net_convergence",
    "edge_of_stability",
    "hessian_spectrum",
    "momentum",
    "schedules",
    "optimizers",
    "normalization",
    "batchnorm_capacity",
    "bn_placement",
    "layernorm_design",
    "mnist_nielsen",
)

# README sections, in this order (issue 12: predictions first, then errata, then checks).
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


def _row(name: str, record: dict, v: dict) -> str:
    mode = " (quick)" if record.get("quick") else ""
    outcome = outcome_of(v)
    shown = {"as expected": "as expected", "unexpected": "**unexpected**"}.get(outcome, "")
    if outcome == "skipped":
        shown = f"skipped: {_fmt(v.get('skipped_reason') or 'no reason given')}"
    interval = _fmt(v["interval"]) if v.get("interval") else ""
    seeds = str(v["n_seeds"]) if v.get("n_seeds") else ""
    return (
        f"| [{name}]({name}.png){mode} | {_fmt(v['claim'])} | {_fmt(v['measured'])} | {interval} | "
        f"{seeds} | {_fmt(v['predicted'])} | {_fmt(v['tolerance'])} | {shown} |"
    )


def write_readme(out_dir: Path) -> Path:
    """Regenerate ``out_dir/README.md`` from the JSON records found there.

    Predictions first, then errata, then checks (then any verdict without a
    kind), each section headed by its counts per outcome; a skipped row shows
    its reason.
    """
    out_dir = Path(out_dir)
    records = _records(out_dir)
    groups: dict[str, list[tuple[str, dict, dict]]] = {k: [] for k in _SECTION_TITLES}
    for name, record in records:
        for v in record["verdicts"]:
            groups[v.get("kind") if v.get("kind") in KINDS else "null"].append((name, record, v))
    every = [v for name, record in records for v in record["verdicts"]]
    total = summarize(every)
    text = [
        "# paper_figures",
        "",
        "Generated by `python -m experiments all` — do not edit by hand. Each row is one",
        "claim of the course notes (`../shared/seed/neural-networks-part-2.md`), measured",
        "with fnn; the JSON file beside each figure holds the numbers, the seed, the fnn",
        "version and the hardware. `interval` is the 95% interval of the measured value over",
        "`seeds` seeds (or networks, tasks, timing repeats) where the claim is stochastic: a",
        "Student-t interval of the mean unless the tolerance names another (a bootstrap).",
        "",
        f"In all: {len(every)} verdicts — "
        + ", ".join(f"{len(groups[k])} {k if k != 'null' else 'without kind'}"
                    for k in _SECTION_TITLES if groups[k] or k != "null")
        + f"; {_counts_line(every)}.",
        "",
    ]
    header = [
        "| experiment | claim (notes) | measured | interval | seeds | predicted | tolerance | outcome |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, title in _SECTION_TITLES.items():
        rows = groups[kind]
        if not rows:
            continue
        text += [f"## {title}", "", f"{len(rows)} verdicts: {_counts_line([v for _, _, v in rows])}.", ""]
        if kind == "prediction":
            text += [_chance_line([v for _, _, v in rows]), ""]
        text += header + [_row(name, record, v) for name, record, v in rows] + [""]
    if total["problems"]:
        text += ["## Problems", "", *[f"- {p}" for p in total["problems"]], ""]
    text += ["## Figures", ""]
    text += [f"### {record.get('title') or name}\n\n![{name}]({name}.png)\n" for name, record in records]
    readme = out_dir / "README.md"
    readme.write_text("\n".join(text) + "\n")
    return readme


def _chance_line(predictions: list[dict]) -> str:
    """How many unexpected outcomes chance alone can give: the predictions decided on a 95% interval over
    seeds (``interval`` set, ``n_seeds >= 2``, not skipped). An exactly right two-sided prediction falls
    outside its interval with probability 0.05, so up to 0.05 K of K such rows (a one-sided or far-off
    threshold: fewer) come out unexpected with every theory true."""
    k = sum(1 for v in predictions if v.get("interval") is not None and (v.get("n_seeds") or 0) >= 2
            and v.get("outcome") != "skipped")
    return (f"{k} of these are decided on a 95% interval over seeds. A prediction that is exactly right still "
            f"falls outside its interval one time in 20, so up to about {0.05 * k:.0f} unexpected rows are "
            "expected from chance alone: a marginal unexpected row calls for more seeds (decided before the "
            "rerun), not yet for a refutation; one far outside its tolerance is a finding.")


def _print_counts(verdicts: list[dict]) -> None:
    summary = summarize(verdicts)
    for kind in (*KINDS, "null"):
        if kind in summary["counts"]:
            per = summary["counts"][kind]
            print(f"  {kind:10s} " + ", ".join(f"{per.get(o, 0)} {o}" for o in OUTCOMES))
    for problem in summary["problems"]:
        print(f"  problem: {problem}")


def main(argv: list[str] | None = None) -> int:
    """Run the named experiments; return 0 exactly when no outcome is "unexpected"."""
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help=f"'all' or any of: {', '.join(EXPERIMENTS)}")
    parser.add_argument("--quick", action="store_true", help="shrink every experiment (writes to a scratch folder)")
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
    if args.data_dir is not None:
        if not args.data_dir.is_dir():
            parser.error(f"--data-dir must be an existing folder, got {str(args.data_dir)!r}")
        os.environ["FNN_DATA_DIR"] = str(args.data_dir.resolve())
    out = args.out if args.out is not None else (quick_dir() if args.quick else PAPER_FIGURES)
    out.mkdir(parents=True, exist_ok=True)
    every, failed = [], []
    for name in names:
        t0 = time.perf_counter()
        record = run_one(name, args.quick, args.seed, out)
        outcomes = [outcome_of(v) for v in record["verdicts"]]
        status = f"{outcomes.count('unexpected')} unexpected" if "unexpected" in outcomes else "as expected"
        print(f"{name:26s} {status:14s} {time.perf_counter() - t0:7.1f} s", flush=True)
        every += record["verdicts"]
        if "unexpected" in outcomes:
            failed.append(name)
    write_readme(out)
    print(f"{len(every)} verdicts in {out}:")
    _print_counts(every)
    if failed:
        print(f"unexpected outcomes in: {failed} (see {out / 'README.md'})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
