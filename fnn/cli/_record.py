"""What a run records besides its state: provenance, per-epoch metrics, TensorBoard, log lines.

``config.json`` gets a ``"provenance"``: the command line, the git commit of
fnn's code (when it runs from a git checkout), the fnn/jax/jaxlib/numpy/
Python versions, the device kind and count, the host and the start time.
``metrics.jsonl`` holds one JSON object per line: per epoch for ``fnn
train``, per member per epoch for ``fnn sweep`` (``pandas.read_json(path,
lines=True)`` reads it; a NaN is ``null``). ``--tensorboard`` writes the
same scalars as TensorBoard event files under ``tensorboard/`` with
tensorboardX (``pip install 'fnn[tensorboard]'``).
"""

from __future__ import annotations

import datetime
import json
import math
import pathlib
import platform
import socket
import subprocess
import sys
from typing import Any, Sequence

from fnn.cli._config import UsageError

#: The per-epoch quantities of a metrics line, in order.
EPOCH_KEYS = ("epoch", "step", "cost", "accuracy", "val_cost", "val_accuracy", "rate", "examples_per_s", "epoch_s")


def _git(folder: pathlib.Path) -> dict | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding ``folder``, or None."""
    try:
        sha = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
        if sha.returncode:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no", "."],
                               capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def provenance(argv: Sequence[str], devices: list) -> dict[str, Any]:
    """Where and how a run was made (see the module docstring)."""
    import jax
    import jaxlib
    import numpy

    import fnn

    return {
        "command": ["fnn", *argv],
        "git": _git(pathlib.Path(fnn.__file__).resolve().parent),
        "versions": {"fnn": fnn.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
                     "numpy": numpy.__version__, "python": platform.python_version()},
        "device": {"platform": devices[0].platform, "kind": devices[0].device_kind, "count": len(devices)},
        "host": socket.gethostname(),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _num(v: Any) -> Any:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def epoch_line(record: dict, epoch: int) -> dict[str, Any]:
    """The metrics line of one epoch of ``fnn train``."""
    return {"epoch": epoch, **{k: _num(record[k]) if k != "step" else int(record[k])
                                for k in EPOCH_KEYS[1:]}}


def member_lines(record: dict, epoch: int, labels: list[dict], diverged: Any) -> list[dict[str, Any]]:
    """The metrics lines of one epoch of ``fnn sweep``: one per member, with its hyperparameters and seed."""
    lines = []
    for j, label in enumerate(labels):
        line = {"member": j, **label, "epoch": epoch, "diverged": bool(diverged[j] >= 0)}
        for k in EPOCH_KEYS[1:]:
            v = record.get(k)
            v = v[j] if v is not None and getattr(v, "ndim", 0) else v
            line[k] = int(v) if k == "step" else _num(v)
        lines.append(line)
    return lines


def metrics_text(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line, allow_nan=False) + "\n" for line in lines).encode()


class TensorBoard:
    """Scalars per epoch into ``folder/tensorboard`` (tensorboardX); a member's under ``member_<j>/``."""

    def __init__(self, folder: pathlib.Path) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise UsageError("--tensorboard", "needs tensorboardX: pip install 'fnn[tensorboard]' "
                             "(or pip install tensorboardX)") from None
        self.writer = SummaryWriter(logdir=str(folder / "tensorboard"), flush_secs=3600)

    def add(self, lines: list[dict]) -> None:
        for line in lines:
            prefix = f"member_{line['member']}/" if "member" in line else ""
            for k in ("cost", "accuracy", "val_cost", "val_accuracy", "rate"):
                if line.get(k) is not None:
                    self.writer.add_scalar(prefix + k, line[k], line["epoch"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class Log:
    """Progress: ``fnn.train``'s bar on a terminal, else one plain line per epoch; nothing with ``--quiet``."""

    def __init__(self, command: str, quiet: bool) -> None:
        self.command, self.quiet = command, quiet
        self.bar = not quiet and sys.stderr.isatty()

    def epoch(self, epoch: int, epochs: int, text: str) -> None:
        if not self.quiet and not self.bar:
            print(f"fnn {self.command}: epoch {epoch}/{epochs}: {text}", file=sys.stderr, flush=True)


def train_text(line: dict) -> str:
    """An epoch of ``fnn train`` in words: cost, accuracy, validation accuracy, speed."""
    text = f"cost {line['cost']:.4f} accuracy {line['accuracy']:.4f}" if line["cost"] is not None else "cost nan"
    if line.get("val_accuracy") is not None:
        text += f" val_accuracy {line['val_accuracy']:.4f}"
    return text + f" ({line['examples_per_s']:.0f} examples/s)"
