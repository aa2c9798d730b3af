"""SIGINT and SIGTERM during a run: stop at once, but never inside a write.

A signal raises :class:`Interrupted` where the program is (training, loading,
compiling), unless a :func:`deferred` section is running (a checkpoint, a
commit of the run folder): then it is held and raised when the section ends,
so a file or a folder is never half replaced. A signal is also remembered
until it is handled (:func:`acknowledge`), and :func:`check` raises it again
at the run's safe points, so one that landed where Python ignores an
exception (a garbage-collection callback) is not lost. ``fnn`` exits ``128 + signal``
(130 for SIGINT, 143 for SIGTERM) with one line saying where the run was saved.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_held: list[int] = []
_depth = 0


class Interrupted(BaseException):
    """A run stopped by ``signum``; ``saved``: a line saying where it was saved (set on the way up)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum, self.saved = signum, ""

    @property
    def status(self) -> int:
        return 128 + self.signum


def _handler(signum: int, frame: object) -> None:
    _held.append(signum)
    if not _depth:  # may land where Python ignores it (a gc callback): check() and deferred() raise it again
        raise Interrupted(signum)


def check() -> None:
    """Raise :class:`Interrupted` for a signal received and not yet handled (a safe point of the run)."""
    if _held:
        raise Interrupted(_held[0])


def acknowledge() -> None:
    """The signals received so far are being handled (the run is being saved): forget them."""
    _held.clear()


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Within: SIGINT and SIGTERM raise :class:`Interrupted` (the main thread only; restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # a signal the parent set to be ignored (a background job's SIGINT) stays ignored
    before = {s: signal.signal(s, _handler) for s in _SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
    hook = sys.unraisablehook

    def quiet(unraisable: object) -> None:  # raised where it is ignored: check() raises it again
        if not isinstance(getattr(unraisable, "exc_value", None), Interrupted):
            hook(unraisable)

    sys.unraisablehook = quiet
    try:
        yield
    finally:
        sys.unraisablehook = hook
        for s, h in before.items():
            signal.signal(s, h)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within: a signal is held; it is raised as :class:`Interrupted` when the section ends
    (unless the section itself raised)."""
    global _depth
    _depth += 1
    try:
        yield
    except BaseException:
        _depth -= 1
        raise
    _depth -= 1
    if not _depth:
        check()
