"""The run folder while a run trains: written epoch by epoch, committed at the end or on a signal.

A new run is assembled in a hidden staging folder beside ``--out``
(:func:`fnn.runs.stage`): ``config.json`` first, then after every epoch
``metrics.jsonl`` and the checkpoint, each written atomically (the metrics
first: a run killed between the two has metrics one epoch ahead of its
checkpoint, which ``--resume`` drops). At the end, or on SIGINT/SIGTERM,
the folder is committed into ``--out`` (:func:`fnn.runs.commit`), marked
complete or not. A resumed run (``--resume RUN``) is written in place, each
file atomically, and marked again at the end.
"""

from __future__ import annotations

import contextlib
import pathlib
import sys
from typing import Any, Iterator

from fnn import runs
from fnn.cli._config import UsageError
from fnn.cli._record import TensorBoard, metrics_text
from fnn.cli._signals import check, deferred


@contextlib.contextmanager
def named(path: pathlib.Path) -> Iterator[None]:
    """An ``OSError`` that names no file (a full disk: ``[Errno 28]``) names ``path``."""
    try:
        yield
    except OSError as err:
        if err.filename is None and err.errno is not None:
            raise OSError(err.errno, f"{err.strerror} (writing {path})", str(path)) from err
        raise


class Session:
    """Where a run is written now (``folder``) and where it ends up (``out``)."""

    def __init__(self, folder: pathlib.Path, out: pathlib.Path, command: str, staged: bool, reserved: bool,
                 overwrite: bool, tensorboard: bool, lines: list[dict] | None = None) -> None:
        self.folder, self.out, self.command = folder, out, command
        self.staged, self.reserved, self.overwrite = staged, reserved, overwrite
        self.lines: list[dict] = list(lines or [])
        self.saved_epoch: int | None = None
        self.tb = TensorBoard(folder) if tensorboard else None
        if self.tb is not None and self.lines:
            self.tb.add(self.lines)

    @classmethod
    def new(cls, out: pathlib.Path | None, prefix: str, overwrite: bool, command: str,
            tensorboard: bool) -> "Session":
        """A staging folder for a new run into ``out`` (None: a new unique ``runs/<prefix>-...``)."""
        check()
        reserved = out is None
        try:
            out = runs.unique_dir("runs", prefix) if reserved else out
            tmp = runs.stage(out)
        except runs.RunFolderError as err:
            raise UsageError("--out", str(err)) from err
        try:
            return cls(tmp, out, command, True, reserved, overwrite, tensorboard)
        except BaseException:
            runs.discard(tmp, out if reserved else None)
            raise

    def write(self, name: str, data: bytes) -> None:
        path = self.folder / name
        with named(path):
            runs.write_bytes(path, data)

    def write_json(self, name: str, obj: Any) -> None:
        with named(self.folder / name):
            runs.write_json(self.folder / name, obj)

    def save_epoch(self, epoch: int, lines: list[dict], tree: Any) -> None:
        """Append an epoch's metrics lines, then save the checkpoint (signals held meanwhile)."""
        from fnn import checkpoint

        with deferred():
            self.lines.extend(lines)
            self.write("metrics.jsonl", metrics_text(self.lines))
            with named(self.folder / "checkpoint.npz"):
                checkpoint.save(self.folder / "checkpoint.npz", tree)
            self.saved_epoch = epoch
            if self.tb is not None:
                self.tb.add(lines)

    def finish(self, complete: bool) -> pathlib.Path:
        """Commit (a new run) or mark (a resumed one) the folder; where the run now is.

        A commit that fails keeps the run at ``<out>-<6 hex>`` and raises a
        :class:`UsageError` of ``--out`` saying so."""
        with deferred():
            if self.tb is not None:
                self.tb.close()
            if not self.staged:
                with named(self.folder / runs.MARKER):
                    runs.mark(self.folder, self.command, complete)
                return self.folder
            try:
                for line in runs.commit(self.folder, self.out, overwrite=self.overwrite, command=self.command,
                                        complete=complete):
                    print(f"fnn {self.command}: {line}", file=sys.stderr)
            except runs.RunFolderError as err:
                self.staged = False
                raise UsageError("--out", str(err)) from err
            self.staged = False
            return self.out

    def abandon(self) -> None:
        """Delete a staging folder (a new run that saved no epoch); a resumed run is left as it is."""
        if self.tb is not None:
            self.tb.close()
        if self.staged:
            runs.discard(self.folder, self.out if self.reserved else None)
            self.staged = False
