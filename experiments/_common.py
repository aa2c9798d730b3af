"""What every experiment shares: verdicts, the JSON record, the figure file.

An experiment measures numbers, states the theory's prediction and a tolerance,
and records a :func:`verdict` per claim. :func:`save` writes
``<out_dir>/<name>.json`` (seed, fnn version, hardware, mode, verdicts, data)
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


KINDS = ("prediction", "check", "erratum")
OUTCOMES = ("as expected", "unexpected", "skipped")


def verdict(
    claim: str,
    measured: Any,
    predicted: Any,
    agree: bool,
    tolerance: str,
    section: str = "",
    *,
    kind: str,
    skipped: str | None = None,
    interval: tuple[float, float] | None = None,
    n_seeds: int | None = None,
) -> dict[str, Any]:
    """One checked claim of the notes.

    ``measured`` is the number the experiment obtained, ``predicted`` what the
    theory says (a number or a short expression), ``tolerance`` how the two were
    compared (for example ``"relative error <= 5%"`` or ``"measured < predicted"``)
    and ``agree`` the outcome of that comparison, computed by the experiment,
    never typed in.

    ``kind`` says what the verdict is (issue 12):

    - ``"prediction"``: a measurement set against an independent theory, closed
      form or published number, which could come out otherwise;
    - ``"check"``: an identity or implementation check (BP equals ``jax.grad``,
      a formula read back, an exact identity of a quadratic);
    - ``"erratum"``: a statement of the notes that is false as written;
      ``agree=True`` then means the measurement confirmed that the statement as
      written does *not* hold (the corrected statement follows as its own
      prediction).

    ``skipped`` is ``None`` or the reason the claim could not be measured (a data
    set absent): the outcome is then ``"skipped"`` whatever ``agree`` says.
    ``interval`` is the ``(lo, hi)`` 95% interval of ``measured`` over
    ``n_seeds`` seeds (see :func:`t_interval`).

    The outcome is ``"as expected"`` when ``agree`` holds, ``"unexpected"``
    otherwise. ``kind`` is required (a verdict that does not say what it is
    cannot be read); records written before kinds existed carry ``kind: null``
    and :func:`summarize` lists them as problems.
    """
    if kind not in KINDS:
        raise ValueError(f"verdict: kind must be one of {KINDS}, got {kind!r}")
    if skipped is not None and (not isinstance(skipped, str) or not skipped.strip()):
        raise ValueError(f"verdict: skipped must be None or a non-empty reason string, got {skipped!r}")
    if interval is not None:
        if len(interval) != 2:
            raise ValueError(f"verdict: interval must be a (lo, hi) pair, got {interval!r}")
        lo, hi = (float(interval[0]), float(interval[1]))
        if not lo <= hi:
            raise ValueError(f"verdict: interval must have lo <= hi, got {interval!r}")
        interval = (lo, hi)
    if n_seeds is not None and (isinstance(n_seeds, bool) or int(n_seeds) != n_seeds or n_seeds < 1):
        raise ValueError(f"verdict: n_seeds must be a positive integer or None, got {n_seeds!r}")
    agree = bool(agree)
    outcome = "skipped" if skipped is not None else "as expected" if agree else "unexpected"
    return {
        "claim": claim,
        "section": section,
        "kind": kind,
        "measured": _plain(measured),
        "predicted": _plain(predicted),
        "tolerance": tolerance,
        "agree": agree,
        "outcome": outcome,
        "skipped_reason": skipped,
        "interval": None if interval is None else [interval[0], interval[1]],
        "n_seeds": None if n_seeds is None else int(n_seeds),
    }


def outcome_of(v: dict[str, Any]) -> str:
    """The outcome of a stored verdict; older records (no ``outcome``) are read from
    ``agree`` and a truthy ``skipped`` field."""
    if v.get("outcome") in OUTCOMES:
        return v["outcome"]
    if v.get("skipped") or v.get("skipped_reason"):
        return "skipped"
    return "as expected" if v.get("agree") else "unexpected"


def _normalize(v: dict[str, Any]) -> dict[str, Any]:
    """A verdict with ``outcome`` and ``skipped_reason`` filled in (legacy ``v["skipped"] = True``)."""
    v = dict(v)
    if v.get("skipped") and not v.get("skipped_reason"):
        v["skipped_reason"] = v["skipped"] if isinstance(v["skipped"], str) else "skipped (no reason given)"
    v.setdefault("kind", None)
    v.setdefault("skipped_reason", None)
    v.setdefault("interval", None)
    v.setdefault("n_seeds", None)
    v["outcome"] = outcome_of(v)
    return v


def summarize(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per kind and outcome, and the problems a referee would flag.

    ``{"counts": {kind: {outcome: n}}, "unexpected": n, "skipped": n,
    "problems": [...]}``; a verdict without a ``kind`` is a problem.
    """
    counts: dict[str, dict[str, int]] = {}
    problems = []
    for v in verdicts:
        k = v.get("kind") or "null"
        o = outcome_of(v)
        counts.setdefault(k, {}).setdefault(o, 0)
        counts[k][o] += 1
        if v.get("kind") not in KINDS:
            problems.append(f"kind: null for {v.get('claim', '?')!r}")
    flat = [outcome_of(v) for v in verdicts]
    return {
        "counts": counts,
        "unexpected": flat.count("unexpected"),
        "skipped": flat.count("skipped"),
        "problems": problems,
    }


# The Student-t interval lives in the library (fnn sweep uses it too).
from fnn.stats import _t_cdf_two_sided, t_interval, t_quantile  # noqa: E402,F401


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
    """Write ``<name>.json`` and ``<name>.png``; return the JSON record."""
    import fnn

    path = out_path(out_dir, quick)
    verdicts = [_normalize(v) for v in verdicts]
    summary = summarize(verdicts)
    record = {
        "name": name,
        "title": title,
        "seed": seed,
        "quick": quick,
        "fnn_version": fnn.__version__,
        "hardware": hardware(),
        "verdicts": verdicts,
        "agree": summary["unexpected"] == 0,
        "summary": summary,
        "data": _plain(data),
    }
    (path / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    fig.savefig(path / f"{name}.png", dpi=90, bbox_inches="tight")
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
