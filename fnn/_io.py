"""Atomic file writes shared by ``fnn.data``, ``fnn.checkpoint`` and ``fnn.cli``."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from typing import BinaryIO, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def unlink_quietly(path: str | os.PathLike) -> None:
    """Remove ``path`` if it exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Write ``path`` all at once or not at all.

    Yields a binary file in ``path``'s folder; when the ``with`` block ends
    without an exception the file is flushed to disk, given the usual
    permissions (``0o666`` less the umask; a temporary file is private) and
    renamed over ``path``. On any exception the temporary file is removed and
    ``path`` is untouched.
    """
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
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
