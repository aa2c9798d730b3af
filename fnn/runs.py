"""Run folders of the ``fnn`` command line: a marker, unique names, safe overwrite, recovery.

(No section of the notes: the bookkeeping around "Algorithm: Gradient descent +
Backpropagation" when it runs from the command line.)

A run folder holds what ``fnn train`` wrote (``config.json``, ``history.json``,
``checkpoint.npz``, ``curves.png``) and the marker ``fnn-run.json``::

    {"format": "fnn.run", "fnn_version": "0.1.0", "run_id": "<32 hex digits>",
     "created": "<ISO 8601 UTC>", "command": "train", "complete": true,
     "files": ["checkpoint.npz", "config.json", ...]}

``command`` is the command that wrote the run (``train`` or ``sweep``; one
never replaces the other's run) and ``complete`` is false for a run stopped
by a signal before its last epoch. :func:`load` gives a run's network,
optimizer, state and config back to Python.

The marker is what makes a folder fnn's: ``--overwrite`` replaces only a
folder with a marker, and removes only the files the marker lists; a folder
with any other file in it (a user's notes, a run of an older fnn without a
marker, another tool's output) is never overwritten or deleted.

Life of a run (:func:`stage`, then :func:`commit` or :func:`discard`): the
files are written into a hidden staging folder ``.<NAME>.tmp-<pid>@<host>-<r>``
beside the run; :func:`commit` writes the marker, renames an existing run to
``.<NAME>.old-<pid>@<host>-<r>``, renames the staging folder to ``NAME`` and
only then deletes the old run's files. A process killed at any point leaves
either the old or the new complete run under ``NAME``, or (between the two
renames) the old one under ``.<NAME>.old-*``. :func:`recover` (run by
``fnn train`` before it writes) puts such an old run back, deletes the
staging folders and superseded old runs of dead processes
(:func:`fnn._io.is_stale`), and says what it did; :func:`interrupted` lists
recoverable old runs for a command that only reads.

Default run names (:func:`unique_dir`) are ``<prefix>-<YYYYmmdd-HHMMSS>-<6 hex>``,
reserved with ``mkdir`` (which fails if the name exists) and retried on a
collision, so two runs started in the same second get two folders.

:func:`write_json` writes strict JSON: a float that is NaN or infinite is
written as ``null`` (``json.dumps(..., allow_nan=False)``), never as the bare
``NaN``/``Infinity`` tokens that strict readers reject.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import math
import os
import pathlib
import secrets
import shutil
import sys
from typing import Any, Iterable, NamedTuple

from fnn._io import atomic_write, glob_escape, is_stale, process_tag

__all__ = [
    "MARKER", "RUN_FILES", "RunFolderError", "write_json", "read_marker", "is_run", "check_out",
    "unique_dir", "stage", "commit", "discard", "recover", "interrupted", "plot_history", "mark", "run_command",
    "load", "Run", "write_bytes", "read_metrics", "build_network", "build_optimizer", "schedule_steps",
]

MARKER = "fnn-run.json"
RUN_FILES = ("config.json", "history.json", "checkpoint.npz", "curves.png", "metrics.jsonl", "sweep.json",
             "sweep.png", "tensorboard")
_FORMAT = "fnn.run"


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (the message says why and what to do)."""


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> pathlib.Path:
    """Write ``obj`` as strict, indented JSON to ``path`` atomically; NaN/inf floats become ``null``."""
    path = pathlib.Path(path)
    text = json.dumps(_finite(obj), indent=2, allow_nan=False) + "\n"
    with atomic_write(path) as f:
        f.write(text.encode())
    return path


def write_bytes(path: str | os.PathLike, data: bytes) -> pathlib.Path:
    """Write ``data`` to ``path`` atomically (a temporary file beside it, then a rename)."""
    path = pathlib.Path(path)
    with atomic_write(path) as f:
        f.write(data)
    return path


def read_marker(folder: str | os.PathLike) -> dict | None:
    """The marker of the run in ``folder`` (a dict), or None if ``folder`` has no valid marker."""
    try:
        marker = json.loads((pathlib.Path(folder) / MARKER).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(marker, dict) or marker.get("format") != _FORMAT:
        return None
    files = marker.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) and _plain(f) for f in files):
        return None
    return marker


def _plain(name: str) -> bool:
    return name not in ("", ".", "..") and "/" not in name and os.sep not in name


def is_run(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is a run written by fnn (a folder with a valid marker)."""
    return pathlib.Path(folder).is_dir() and read_marker(folder) is not None


def _foreign(folder: pathlib.Path, marker: dict | None) -> list[str]:
    """Names in ``folder`` that fnn did not write (not in the marker, not the marker)."""
    ours = set(marker["files"]) | {MARKER} if marker else set()
    return sorted(p.name for p in folder.iterdir() if p.name not in ours)


def check_out(out: str | os.PathLike, overwrite: bool, command: str | None = None) -> pathlib.Path:
    """Check that ``fnn COMMAND`` may write its run to ``out``; return it as a path.

    Allowed: a path that does not exist (its parent must be creatable and
    writable), an empty folder, or with ``overwrite`` a run of fnn's written by
    the same ``command`` (None: any) holding only the files its marker lists.
    A mount point is refused: a run is assembled beside ``out`` and renamed
    into place, which a mount point cannot take. Raises
    :class:`RunFolderError` otherwise, naming the folder and what is in the way.
    """
    out = pathlib.Path(out)
    if out.name in ("", ".", ".."):
        raise RunFolderError(f"must name a run folder (its last part a name, not '.', '..' or '/'), got {str(out)!r}")
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out} exists and is not a folder")
    if out.is_dir() and os.path.ismount(out):
        raise RunFolderError(f"{out} is a mount point; fnn assembles a run beside its folder and renames it "
                             f"into place, which a mount point cannot take: use a folder inside it, e.g. "
                             f"--out {out / 'run'}")
    if out.is_dir():
        marker = read_marker(out)
        if marker is not None and overwrite and command is not None and run_command(marker) != command:
            raise RunFolderError(f"{out} holds a run of fnn {run_command(marker)}; fnn {command} --overwrite "
                                 f"replaces only a run of fnn {command}: move it away or choose another --out")
        foreign = _foreign(out, marker)
        if marker is None and foreign:
            legacy = [f for f in foreign if f in RUN_FILES]
            what = (f"holds {', '.join(legacy)} but no {MARKER} marker (a run of an older fnn, or another "
                    "tool's folder)") if legacy else f"holds files that are not an fnn run ({_list(foreign)})"
            raise RunFolderError(f"{out} {what}; fnn will not overwrite it: move it away or choose another --out")
        if marker is not None and not overwrite:
            raise RunFolderError(f"{out} already holds a run; choose another --out or pass --overwrite")
        if marker is not None and foreign:
            raise RunFolderError(
                f"{out} holds a run and files fnn did not write ({_list(foreign)}); --overwrite would lose "
                "them: move them away or choose another --out"
            )
        _check_writable(out.parent)
        return out
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunFolderError(f"cannot create {out}: {_blocking_file(parent)} is a file, not a folder") from None
    except NotADirectoryError:
        raise RunFolderError(f"cannot create {out}: {_blocking_file(parent)} is a file, not a folder") from None
    except PermissionError as err:
        raise RunFolderError(f"cannot create {out}: permission denied ({err.filename})") from None
    except OSError as err:
        raise RunFolderError(f"cannot create {out}: {err.strerror} ({err.filename})") from None
    _check_writable(parent)
    return out


def _list(names: list[str], most: int = 5) -> str:
    return ", ".join(names[:most]) + (f", ... ({len(names)} in all)" if len(names) > most else "")


def _blocking_file(path: pathlib.Path) -> pathlib.Path:
    """The nearest of ``path`` and its parents that exists and is not a folder (else ``path``)."""
    return next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), path)


def _check_writable(folder: pathlib.Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RunFolderError(f"cannot write into {folder}: permission denied (the run is assembled beside it)")


def unique_dir(parent: str | os.PathLike, prefix: str, now: datetime.datetime | None = None) -> pathlib.Path:
    """Create and return a new empty folder ``parent/<prefix>-<YYYYmmdd-HHMMSS>-<6 hex>``.

    The name is reserved with ``mkdir``, which fails if it exists; on a
    collision another random suffix is tried (up to 100 times).
    """
    parent = pathlib.Path(parent)
    check_out(parent / f"{prefix}-probe", overwrite=False)  # creatable, writable parent
    stamp = f"{now or datetime.datetime.now():%Y%m%d-%H%M%S}"
    for _ in range(100):
        path = parent / f"{prefix}-{stamp}-{secrets.token_hex(3)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RunFolderError(f"could not find a free run name {prefix}-{stamp}-* in {parent}")  # pragma: no cover


#: The longest part of a run's name kept in its hidden and kept names (a file name holds at most 255 bytes).
_NAME_KEPT = 120


def _short(name: str) -> str:
    """``name``, or for a long one its first characters and a hash of the rest (so hidden names fit 255 bytes)."""
    if len(name.encode()) <= _NAME_KEPT:
        return name
    import hashlib

    head = name.encode()[: _NAME_KEPT - 9].decode(errors="ignore")
    return f"{head}~{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _hidden(out: pathlib.Path, kind: str) -> str:
    return f".{_short(out.name)}.{kind}-"


def stage(out: str | os.PathLike) -> pathlib.Path:
    """Create the hidden staging folder ``.<NAME>.tmp-<pid>@<host>-<r>`` beside ``out``."""
    out = pathlib.Path(out)
    tmp = out.parent / f"{_hidden(out, 'tmp')}{process_tag()}-{secrets.token_hex(4)}"
    try:
        tmp.mkdir()
    except OSError as err:
        raise RunFolderError(f"cannot create a folder in {out.parent}: {err.strerror}") from None
    return tmp


def _remove_run(folder: pathlib.Path, names: Iterable[str]) -> bool:
    """Delete ``names`` (files fnn wrote) and fnn's temporaries of them in ``folder``, then
    the folder if that left it empty; True if it is gone."""
    names = list(names)
    temporaries = [f".{glob_escape(n)}.*.tmp" for n in names]
    # the marker last: a removal killed half-way leaves a folder that is still recognizably fnn's
    for p in sorted(folder.iterdir(), key=lambda p: p.name == MARKER):
        ours = p.name in names or any(fnmatch.fnmatchcase(p.name, t) for t in temporaries)
        if ours and (p.is_file() or p.is_symlink()):
            p.unlink()
        elif ours and p.is_dir() and p.name == "tensorboard":  # fnn's event files only
            for f in p.glob("events.out.tfevents.*"):
                f.unlink()
            try:
                p.rmdir()
            except OSError:
                pass
    try:
        folder.rmdir()
    except OSError:
        return False
    return True


def _marker(folder: pathlib.Path, command: str, complete: bool) -> dict:
    files = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and p.name != MARKER)
    return {
        "format": _FORMAT, "fnn_version": _version(), "run_id": secrets.token_hex(16),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command, "complete": complete, "files": files,
    }


def mark(folder: str | os.PathLike, command: str = "train", complete: bool = True) -> dict:
    """Write the marker of ``folder`` (every visible file in it is listed as fnn's); return it.

    ``command``: which ``fnn`` command wrote the run (``"train"``, ``"sweep"``);
    ``complete``: False for a run stopped before its last epoch (``--resume`` continues it).
    """
    folder = pathlib.Path(folder)
    marker = _marker(folder, command, complete)
    old = read_marker(folder)
    if old is not None:  # a run written again in place (resumed) keeps its id and creation time
        marker.update(run_id=old.get("run_id", marker["run_id"]), created=old.get("created", marker["created"]))
    write_json(folder / MARKER, marker)
    return marker


def run_command(marker: dict, folder: str | os.PathLike | None = None) -> str:
    """Which command wrote a run: the marker's ``command``, or (older markers) ``sweep`` if it holds sweep.json."""
    cmd = marker.get("command")
    if isinstance(cmd, str):
        return cmd
    return "sweep" if "sweep.json" in marker["files"] else "train"


def commit(tmp: str | os.PathLike, out: str | os.PathLike, overwrite: bool = True, command: str = "train",
           complete: bool = True) -> list[str]:
    """Write the marker into ``tmp``, move ``tmp`` to ``out`` and delete the run it replaces.

    ``out`` must be absent, an empty folder, or (with ``overwrite``; pass the
    user's ``--overwrite``) an fnn run of the same ``command`` holding only its
    marker's files. This is checked again here, as the folder may have changed
    during training. A finished run is never lost: if ``out`` cannot take it
    (it now holds another run or foreign files, or a rename fails, e.g. on a
    mount point), it is moved to a new sibling ``<out>-<6 hex>`` and
    :class:`RunFolderError` says where. Returns messages for the user (a
    replaced run whose folder could not be removed).
    """
    tmp, out = pathlib.Path(tmp), pathlib.Path(out)
    mark(tmp, command, complete)
    old = None
    try:
        if out.is_dir() and any(out.iterdir()):
            try:
                check_out(out, overwrite, command)
            except RunFolderError as err:
                raise RunFolderError(f"{err} (it changed during the run); this run was saved to "
                                     f"{_keep(tmp, out)}") from None
            old = out.parent / f"{_hidden(out, 'old')}{process_tag()}-{secrets.token_hex(4)}"
            os.rename(out, old)
        elif out.is_dir():
            out.rmdir()
        os.rename(tmp, out)
    except OSError as err:
        if old is not None and not out.exists():
            os.rename(old, out)
        raise RunFolderError(f"cannot move the run into {out} ({err.strerror}); it was saved to "
                             f"{_keep(tmp, out)}") from None
    if old is not None and not _remove_run(old, read_marker(old)["files"] + [MARKER]):
        return [f"the replaced run's folder {old} still holds files fnn did not write; left in place"]
    return []


def _keep(tmp: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    """Rename a finished staging folder to a new visible sibling ``<out>-<6 hex>``; return it."""
    for _ in range(100):
        name = out.name if len(out.name.encode()) <= 240 else _short(out.name)
        kept = out.parent / f"{name}-{secrets.token_hex(3)}"
        if not kept.exists():
            os.rename(tmp, kept)
            return kept
    raise RunFolderError(f"no free name {out.name}-* in {out.parent}; the run is at {tmp}")  # pragma: no cover


def discard(tmp: str | os.PathLike, reserved: str | os.PathLike | None = None) -> None:
    """Delete the staging folder ``tmp`` (and the empty folder ``reserved`` for a default name)."""
    tmp = pathlib.Path(tmp)
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    if reserved is not None:
        try:
            pathlib.Path(reserved).rmdir()
        except OSError:
            pass


def _leftovers(out: pathlib.Path, kind: str) -> list[pathlib.Path]:
    prefix = _hidden(out, kind)
    try:
        found = [p for p in out.parent.iterdir() if p.name.startswith(prefix) and p.is_dir()]
    except OSError:
        return []
    return sorted((p for p in found if is_stale(p)), key=lambda p: p.stat().st_mtime, reverse=True)


def interrupted(out: str | os.PathLike) -> list[pathlib.Path]:
    """Old runs of ``out`` left by an ``--overwrite`` that was killed between its two renames."""
    out = pathlib.Path(out)
    return [p for p in _leftovers(out, "old") if _complete(p)]


def _complete(folder: pathlib.Path) -> bool:
    marker = read_marker(folder)
    return marker is not None and all((folder / f).exists() for f in marker["files"])


def recover(out: str | os.PathLike) -> list[str]:
    """Clean up after runs into ``out`` that were killed; return what was done, for the user.

    Deletes stale staging folders ``.<NAME>.tmp-*`` (incomplete new runs);
    if ``out`` is missing or empty, renames the newest stale old run
    ``.<NAME>.old-*`` back to ``out`` (the previous run, recovered); deletes
    the other stale old runs once ``out`` is a complete run (their
    replacement had finished). Folders holding files fnn did not write are
    left in place and reported. Only leftovers of dead processes are touched.
    """
    out = pathlib.Path(out)
    done = []
    for tmp in _leftovers(out, "tmp"):
        if _remove_run(tmp, (*RUN_FILES, MARKER)):
            done.append(f"removed {tmp}, an incomplete run left by a killed fnn train")
        else:
            done.append(f"{tmp} (an incomplete run) holds files fnn did not write; left in place")
    for old in _leftovers(out, "old"):
        marker, complete = read_marker(old), _complete(old)
        if marker is None and not any(old.iterdir()):
            old.rmdir()  # a removal killed after its last file
        elif marker is None:
            done.append(f"{old} looks like a leftover of fnn but has no marker; left in place")
        elif complete and (not out.exists() or (out.is_dir() and not any(out.iterdir()))):
            if out.is_dir():
                out.rmdir()
            os.rename(old, out)
            done.append(f"an interrupted --overwrite had left the previous run of {out} at {old}; moved it back")
        elif is_run(out):
            if _remove_run(old, marker["files"] + [MARKER]):
                done.append(f"removed {old}, a run already replaced by an interrupted --overwrite")
            else:
                done.append(f"{old} (a replaced run) holds files fnn did not write; left in place")
        else:
            done.append(f"an interrupted --overwrite left the previous run of {out} at {old}; left in place")
    return done


def _version() -> str:
    import fnn

    return fnn.__version__


def plot_history(history: dict, path: str | os.PathLike, title: str, monitor: str | None) -> bool:
    """Draw a run's training curves (cost and accuracy per epoch) to ``path``; False without matplotlib.

    Train: the means over each epoch's mini-batches (measured before each
    update); ``monitor``: the label of the held-out curve (``val_cost``,
    ``val_accuracy``), or None to draw none.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping curves.png (pip install matplotlib)", file=sys.stderr)
        return False
    ep = history["epoch"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, scale, name in ((axes[0], "cost", 1, "cost"), (axes[1], "accuracy", 100, "accuracy (%)")):
        ax.plot(ep, [scale * v for v in history[key]], "o-", label="train (mean over the epoch's batches)")
        held = history.get(f"val_{key}") or []
        if monitor is not None and held and None not in held:
            ax.plot(ep, [scale * v for v in held], "s-", label=monitor)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(key)
        ax.legend()
    axes[0].set_yscale("log")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------
# a run's recipe as objects, and the public loader

#: Training examples of each data set before a validation split (the schedule's length of older runs).
TRAIN_SIZES = {"fashion_mnist": 60_000, "mnist": 60_000, "synthetic": 2_000}


def schedule_steps(cfg: dict, n_train: int | None = None) -> int:
    """The number of updates a run's schedule spans: ``cfg["schedule_steps"]``, or
    ``epochs * (n_train // batch_size)`` with ``n_train`` the training examples left after the validation split."""
    if cfg.get("schedule_steps"):
        return int(cfg["schedule_steps"])
    if n_train is None:
        n_train = TRAIN_SIZES[cfg["dataset"]] - int(cfg.get("validation") or 0)
    return max(1, int(cfg["epochs"]) * (n_train // int(cfg["batch_size"])))


def build_network(cfg: dict) -> Any:
    """The ``fnn.nn.MLP`` of a run's config: sizes, activations, norm."""
    from fnn import nn

    norm = None if cfg["norm"] == "none" else cfg["norm"]
    return nn.MLP(tuple(cfg["sizes"]), hidden=cfg["hidden"], output=cfg["output"], norm=norm)


def build_optimizer(cfg: dict, steps: int | None = None, rate: float | None = None) -> Any:
    """The ``fnn.optim`` transform of a run's config, its schedule spread over ``steps`` updates
    (default :func:`schedule_steps`).

    ``eta(t)``: constant ``rate``; cosine ``rate (1 + cos(pi t / steps)) / 2``;
    linear from ``rate`` to ``rate/100``; exponential ``rate * 0.01^(t/steps)``.
    ``rate`` overrides the config's (a sweep builds its optimizer at rate 1
    and gives each member its rate as a hyperparameter). A sweep over
    ``momentum`` builds its sgd with a momentum term, so that the state holds ``mu``.
    """
    from fnn import optim, schedules

    steps = schedule_steps(cfg) if steps is None else steps
    rate, sched = (cfg["rate"] if rate is None else rate), cfg["schedule"]
    if sched == "constant":
        eta = rate
    elif sched == "cosine":
        eta = schedules.cosine_decay(rate, steps)
    elif sched == "linear":
        eta = schedules.linear(rate, rate / 100, steps)
    else:
        eta = schedules.exponential_decay(rate, steps, 0.01)
    name, mu = cfg["optimizer"], cfg.get("momentum")
    swept = set((cfg.get("grid") or {}))
    if name == "gd":
        return optim.gd(eta)
    if name == "sgd":
        mu = 0.5 if mu is None and swept & {"momentum", "mu"} else mu  # any value: each member sets its own
        return optim.sgd(eta, momentum=0.0 if mu is None else mu)
    if name == "momentum":
        return optim.momentum(eta, mu=0.9 if mu is None else mu)
    if name == "adamw":
        wd = cfg.get("weight_decay")
        return optim.adamw(eta, weight_decay=1e-2 if wd is None else wd)
    return getattr(optim, name)(eta)


class Run(NamedTuple):
    """A run of ``fnn train`` or ``fnn sweep`` loaded by :func:`load`.

    ``net`` (``fnn.nn.MLP``), ``optimizer`` (its ``fnn.optim`` transform, the
    schedule included; a sweep's at rate 1, each member's hyperparameters in
    its state), ``state`` (the :class:`fnn.train.TrainState`; a sweep's members
    stacked on a leading axis), ``config`` (``config.json``), ``metrics`` (the
    lines of ``metrics.jsonl``), ``grid`` (a sweep's :class:`fnn.grid.Grid`,
    else None), ``complete`` (False: interrupted before its last epoch).
    """

    net: Any
    optimizer: Any
    state: Any
    config: dict
    metrics: list
    grid: Any
    complete: bool


def read_metrics(folder: str | os.PathLike) -> list[dict]:
    """The lines of ``metrics.jsonl`` in ``folder`` as dicts ([] if it has none)."""
    path = pathlib.Path(folder) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load(path: str | os.PathLike) -> Run:
    """Load the run of ``fnn train`` or ``fnn sweep`` in ``path`` (see :class:`Run`).

    Continue it with ``fnn.train.fit(run.net, cost, run.optimizer, data, epochs,
    batch_size, state=run.state)`` (``cost = run.config["cost"]``), or analyse it
    (``fnn.curvature``, ``fnn.train.evaluate``); ``fnn.train.member(run.state, i)``
    is a sweep's member ``i``. Raises ``FileNotFoundError`` when ``path`` is not
    a run and ``ValueError`` naming the file when it is damaged.
    """
    import jax

    from fnn import checkpoint, grid, train

    folder = pathlib.Path(path)
    marker = read_marker(folder) if folder.is_dir() else None
    if marker is None or not (folder / "config.json").is_file() or not (folder / "checkpoint.npz").is_file():
        raise FileNotFoundError(f"path must be a run folder of fnn train or fnn sweep (with {MARKER}, config.json "
                                f"and checkpoint.npz), got {str(folder)!r}")
    try:
        cfg = json.loads((folder / "config.json").read_text())
        net, optimizer = build_network(cfg), build_optimizer(cfg, rate=1.0 if "grid" in cfg else None)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{folder / 'config.json'} is not a usable run config: {err}") from err
    one = jax.eval_shape(lambda: train.init_state(net, optimizer, jax.random.key(0)))
    g = None
    if run_command(marker) == "sweep":
        g = grid.Grid(cfg["grid"], cfg["seeds"], cfg.get("seed", 0))
        population = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct((g.size, *a.shape), a.dtype), one)
        like = {"states": population, "diverged": jax.ShapeDtypeStruct((g.size,), "int32"),
                "epoch": jax.ShapeDtypeStruct((), "int32")}
        state = checkpoint.load(folder / "checkpoint.npz", like=like)["states"]
    else:
        state = checkpoint.load(folder / "checkpoint.npz", like=one)
    return Run(net, optimizer, state, cfg, read_metrics(folder), g, bool(marker.get("complete", True)))
