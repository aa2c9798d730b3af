"""Atomic file writes and stale-temporary cleanup, shared by the modules that do I/O.

(No section of the notes: the plumbing under ``fnn.data``, ``fnn.checkpoint``
and ``fnn.cli``.)

Every temporary file or folder fnn creates carries a recognizable name with
the creating process in it: ``.<target>.<pid>@<host>-<random><suffix>`` for
:func:`atomic_write` (suffix ``.tmp`` for checkpoints, ``.part`` for
downloads and IDX files), and ``.<run>.tmp-<pid>@<host>-<random>`` /
``.<run>.old-<pid>@<host>-<random>`` for run folders (:mod:`fnn.runs`).
A temporary is *stale* (:func:`is_stale`) when the process that made it is
gone: on this host, no process with that pid is alive; without a tag (an
older fnn's name), the file is older than the current process; from another
host, older than the current process and than a day.
:func:`atomic_write` removes the stale temporaries of its own target before
writing, so a download or a checkpoint save killed any number of times leaves
at most one temporary (the live one) behind.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import pathlib
import re
import shutil
import socket
import tempfile
import time
from typing import BinaryIO, Iterable, Iterator

__all__ = ["atomic_write", "unlink_quietly", "clean_stale", "is_stale", "process_tag", "process_start_time"]

# the tag is the last part of the name but the random part and the suffix (a target's own
# name may contain something like "5@x-": never match there)
_TAG = re.compile(r"(?P<pid>\d+)@(?P<host>[A-Za-z0-9_.]+)-[A-Za-z0-9_]+(\.[A-Za-z0-9]+)?$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def process_tag() -> str:
    """``"<pid>@<host>"``: the part of a temporary's name that names its process."""
    return f"{os.getpid()}@{_host()}"


def process_start_time() -> float:
    """Start time of the current process (seconds since the epoch).

    From ``/proc`` on Linux (``starttime`` of ``/proc/self/stat`` over the
    clock ticks per second, plus the boot time ``btime`` of ``/proc/stat``);
    elsewhere the time this module was imported, which is later, hence safe.
    """
    return _START


def _read_start() -> float:
    try:
        stat = pathlib.Path("/proc/self/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, after the command name
        btime = next(int(l.split()[1]) for l in pathlib.Path("/proc/stat").read_text().splitlines()
                     if l.startswith("btime "))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


_START = _read_start()
FOREIGN_GRACE_S = 24 * 3600.0


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or an impossible pid): not ours to judge
    return True


def is_stale(path: str | os.PathLike) -> bool:
    """Whether the fnn temporary ``path`` was left by a process that is gone.

    Its name's ``<pid>@<host>-`` tag names the process that made it: on this
    host the temporary is stale iff no process with that pid is alive (a pid
    reused by a live process keeps it: the safe side). Without a tag (an older
    fnn's name) it is stale iff last modified before the current process
    started; from another host (a shared folder, where a long run may still be
    writing) iff also more than ``FOREIGN_GRACE_S`` (a day) old.
    """
    path = pathlib.Path(path)
    m = _TAG.search(path.name)
    if m is not None and m["host"] == _host():
        return not _alive(int(m["pid"]))
    limit = process_start_time()
    if m is not None:  # another host's (a shared folder): its process may still run
        limit = min(limit, time.time() - FOREIGN_GRACE_S)
    try:
        return path.lstat().st_mtime < limit
    except FileNotFoundError:
        return False


def _remove(path: pathlib.Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        unlink_quietly(path)


def clean_stale(folder: str | os.PathLike, patterns: Iterable[str]) -> list[pathlib.Path]:
    """Remove the stale fnn temporaries in ``folder`` whose names match ``patterns``.

    ``patterns``: shell globs of fnn's own temporary names (each must start
    with ``"."``: fnn's temporaries are hidden files, and a pattern that could
    match a user's file is refused), e.g. ``[".train-images-idx3-ubyte.gz.*.part"]``
    for a download (``fnn.datasets`` may call
    ``clean_stale(dest, [f".{filename}.*.part"])`` before fetching; :func:`atomic_write`
    already does it for its own target). Staleness: :func:`is_stale`. Files and
    folders that vanish meanwhile, or cannot be removed, are skipped. Returns
    the paths removed. A missing ``folder`` removes nothing.
    """
    folder = pathlib.Path(folder)
    patterns = list(patterns)
    for p in patterns:
        if not isinstance(p, str) or not p.startswith(".") or p.strip(".*?") == "":
            raise ValueError(f"patterns must be globs of hidden fnn temporaries (starting with '.'), got {p!r}")
    try:
        names = [e.name for e in os.scandir(folder)]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    removed = []
    for name in names:
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            path = folder / name
            if is_stale(path):
                try:
                    _remove(path)
                except OSError:
                    continue
                removed.append(path)
    return removed


def unlink_quietly(path: str | os.PathLike) -> None:
    """Remove ``path`` if it exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Write ``path`` all at once or not at all.

    Yields a binary file ``.<name>.<pid>@<host>-<random><suffix>`` in ``path``'s
    folder (stale ones of the same target, left by killed processes, are
    removed first: :func:`clean_stale`); when the ``with`` block ends without
    an exception the file is flushed to disk, given the usual permissions
    (``0o666`` less the umask; a temporary file is private) and renamed over
    ``path``. On any exception the temporary file is removed and ``path`` is
    untouched.
    """
    path = pathlib.Path(path)
    clean_stale(path.parent, [f".{glob_escape(path.name)}.*{glob_escape(suffix)}"])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{process_tag()}-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise


def glob_escape(text: str) -> str:
    """``text`` with the glob characters ``*?[`` made literal (for :func:`clean_stale` patterns)."""
    return re.sub(r"([*?\[])", r"[\1]", text)
