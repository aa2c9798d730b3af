"""What every experiment shares: the decision of registered claims, the JSON record, the figure file.

An experiment measures numbers and decides each claim registered for it in
``experiments/claims/<name>.py`` with :func:`decide` (the registry's rule, not
the experiment's code, decides). :func:`save` writes ``<out_dir>/<name>.json``
(provenance, seed, mode, hardware, verdicts with their claims' hashes, data)
and ``<out_dir>/<name>.png``.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import jax
import numpy as np

PAPER_FIGURES = Path(__file__).resolve().parent.parent / "paper_figures"


from experiments._registry import KINDS, OUTCOMES, check_complete, decide, seeds  # noqa: F401  (the experiments' API)
from fnn.stats import (  # noqa: F401  (the intervals the experiments use)
    bootstrap_interval,
    clopper_pearson_interval,
    t_cdf_two_sided,
    t_interval,
    t_quantile,
    wilson_interval,
)


def outcome_of(v: dict[str, Any]) -> str:
    """The outcome of a stored verdict."""
    if v.get("outcome") not in OUTCOMES:
        raise ValueError(f"verdict {v.get('id', v.get('claim', '?'))!r} has no valid outcome: {v.get('outcome')!r}")
    return v["outcome"]


def summarize(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per kind and outcome, rows and groups of correlated rows, and problems.

    ``{"counts": {kind: {outcome: n}}, "groups": {kind: n}, "unexpected": n,
    "inconclusive": n, "skipped": n, "problems": [...]}``; a verdict without a
    registered claim id is a problem. ``groups`` counts claims decided on one
    set of runs (a claim's ``group``) once.
    """
    counts: dict[str, dict[str, int]] = {}
    groups: dict[str, set] = {}
    problems = []
    for v in verdicts:
        k = v.get("kind") if v.get("kind") in KINDS else "null"
        o = outcome_of(v)
        counts.setdefault(k, {}).setdefault(o, 0)
        counts[k][o] += 1
        groups.setdefault(k, set()).add(v.get("group") or v.get("id") or id(v))
    unregistered = [v for v in verdicts if not v.get("id") or not v.get("claim_hash")]
    if unregistered:
        problems.append(f"{len(unregistered)} verdicts carry no registered claim (records written before the "
                        "claim registry, decided by their experiments' own rules)")
    flat = [outcome_of(v) for v in verdicts]
    return {
        "counts": counts,
        "groups": {k: len(g) for k, g in groups.items()},
        "unexpected": flat.count("unexpected"),
        "inconclusive": flat.count("inconclusive"),
        "skipped": flat.count("skipped"),
        "problems": problems,
    }


def _git(*args: str) -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


_PROVENANCE: dict[str, Any] = {}


def provenance(quick: bool) -> dict[str, Any]:
    """Where a record came from: the git commit of the code and whether the tree was dirty (read once per
    process, before any result is written), the fnn, jax and jaxlib versions, the device and the mode."""
    import jaxlib

    import fnn

    if not _PROVENANCE:
        commit = _git("rev-parse", "HEAD")
        status = _git("status", "--porcelain", "--untracked-files=no")
        _PROVENANCE.update(commit=commit, dirty=None if status is None else bool(status))
    dev = jax.devices()[0]
    return {
        **_PROVENANCE,
        "fnn": fnn.__version__,
        "jax": jax.__version__,
        "jaxlib": getattr(jaxlib, "__version__", None) or getattr(getattr(jaxlib, "version", None), "__version__", None),
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', str(dev))} x{jax.device_count()}",
        "mode": "quick" if quick else "full",
    }


def hardware() -> dict[str, Any]:
    """The machine the numbers were measured on."""
    dev = jax.devices()[0]
    return {
        "platform": dev.platform,
        "device": getattr(dev, "device_kind", str(dev)),
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "jax": jax.__version__,
    }


def _plain(x: Any) -> Any:
    """Convert arrays and numpy scalars to JSON-friendly Python values."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (jax.Array, np.ndarray)):
        return _plain(np.asarray(x).tolist())
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return f if math.isfinite(f) else str(f)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return x


def quick_dir() -> Path:
    """Scratch folder of quick runs: ``$TMPDIR/fnn-experiments-quick`` (never ``paper_figures/``)."""
    import tempfile

    return Path(tempfile.gettempdir()) / "fnn-experiments-quick"


def out_path(out_dir: str | os.PathLike | None, quick: bool = False) -> Path:
    """The folder results go to: ``out_dir`` if given, else :func:`quick_dir` for a
    quick run and ``paper_figures/`` for a full one (issue 15, item 9)."""
    if out_dir is not None:
        path = Path(out_dir)
    else:
        path = quick_dir() if quick else PAPER_FIGURES
    path.mkdir(parents=True, exist_ok=True)
    return path


def save(
    name: str,
    *,
    seed: int,
    quick: bool,
    verdicts: list[dict[str, Any]],
    data: dict[str, Any],
    fig: Any,
    out_dir: str | os.PathLike | None = None,
    title: str = "",
) -> dict[str, Any]:
    """Write ``<name>.json`` and ``<name>.png``; return the JSON record.

    ``verdicts`` must decide exactly the claims registered for ``name``
    (:func:`experiments._registry.check_complete`), each made by
    :func:`experiments._registry.decide`. The record carries the provenance
    (commit, dirty flag, versions, device, mode) and each verdict its claim's hash.
    """
    check_complete(name, verdicts)
    path = out_path(out_dir, quick)
    summary = summarize(verdicts)
    record = {
        "name": name,
        "title": title,
        "seed": seed,
        "quick": quick,
        "provenance": provenance(quick),
        "hardware": hardware(),
        "verdicts": [_plain(v) for v in verdicts],
        "summary": summary,
        "data": _plain(data),
    }
    (path / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    fig.savefig(path / f"{name}.png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return record


def figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.8):
    """A matplotlib figure with the Agg backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes
