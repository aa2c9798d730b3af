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


def verdict(
    claim: str,
    measured: float,
    predicted: float | str,
    agree: bool,
    tolerance: str,
    section: str = "",
) -> dict[str, Any]:
    """One checked claim of the notes.

    ``measured`` is the number the experiment obtained, ``predicted`` what the
    theory says (a number or a short expression), ``tolerance`` how the two were
    compared (for example ``"relative error <= 5%"`` or ``"measured < predicted"``)
    and ``agree`` the outcome of that comparison, computed by the experiment,
    never typed in.
    """
    return {
        "claim": claim,
        "section": section,
        "measured": _plain(measured),
        "predicted": _plain(predicted),
        "tolerance": tolerance,
        "agree": bool(agree),
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


def out_path(out_dir: str | os.PathLike | None) -> Path:
    path = Path(out_dir) if out_dir is not None else PAPER_FIGURES
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

    path = out_path(out_dir)
    record = {
        "name": name,
        "title": title,
        "seed": seed,
        "quick": quick,
        "fnn_version": fnn.__version__,
        "hardware": hardware(),
        "verdicts": verdicts,
        "agree": all(v["agree"] for v in verdicts),
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
