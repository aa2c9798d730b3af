"""Several processes, one training run: JAX's own multi-controller runtime (``jax.distributed``).

Notes, "Stochastic gradient descent": the mini-batch gradient is the mean of
per-example gradients, ``grad C = (1/m) sum_j grad C_{x_j}``, so ``P``
processes with ``D_p`` devices each can compute it from ``m / D`` examples
per device (``D = sum_p D_p``) and average with one all-reduce; the result is
the single-process value up to the rounding of the reduction order. fnn adds
no launcher: one Python process per host calls :func:`initialize` (a thin
wrapper of ``jax.distributed.initialize``) before anything else touches JAX,
then every process calls :func:`fnn.train.fit` with ``devices=jax.devices()``
— the mesh then spans the devices of every process, and the compiled epoch
is the same program on each.

This module holds what that needs beyond the mesh (:mod:`fnn.parallel`):

- :func:`initialize` (and :func:`maybe_initialize`, for command-line flags
  that may be absent): the processes first join over plain TCP
  (:mod:`fnn._rendezvous`: a bounded wait that says whom it waits for, a
  process id given twice or a port in use named, a process that dies
  reported by the others at once in one line, exit status 1), then JAX's
  runtime starts, with gloo as the collectives of CPU devices (so two CPU
  processes on one machine can all-reduce);
- :func:`is_writer`: ``jax.process_index() == 0``, the one process that
  writes run folders, histories and checkpoints;
- :func:`check_agree`: a cheap agreement check — every process all-gathers a
  short vector of fingerprints (shapes, CRC-32 checksums of the data and of
  the initial state, the hyperparameters) before the first collective of a
  run, and a process that was given different arguments (another data file,
  seed or batch size) makes every process raise a ``ValueError`` naming what
  differs, where it would otherwise hang or silently train on mixed data;
- :func:`check_same`: the same for values worth showing (a run's config,
  flag by flag: ``--schedule (process 0: "cosine", process 1: "constant")``);
  :func:`fingerprint_object` fingerprints what an object computes (an
  optimizer with its schedule's closed-over numbers) alike in every process;
- :func:`barrier`: wait until every process got here (e.g. after process 0
  wrote a checkpoint the others will read).

Example (two processes on one machine; on a cluster ``jax.distributed``
detects SLURM, Open MPI and cloud TPU environments and the arguments can be
left out)::

    # process i of 2, started twice: python script.py 0 & python script.py 1
    from fnn import distributed
    distributed.initialize("127.0.0.1:12345", num_processes=2, process_id=i)
    state, history = train.fit(net, cost, opt, (x, y), epochs, m, key=key,
                               devices=jax.devices())
    if distributed.is_writer():
        checkpoint.save("run/state.npz", state)
"""

from __future__ import annotations

import json
import zlib
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from fnn import _rendezvous
from fnn._rendezvous import JoinError

__all__ = ["JoinError", "initialize", "maybe_initialize", "is_writer", "check_agree", "check_same", "Disagreement", "fingerprint", "fingerprint_object", "barrier", "parse_address"]

_U32 = 2**32
_watch: _rendezvous.Watch | None = None  # the join's open connections (several processes)


def parse_address(address: str, name: str = "coordinator") -> tuple[str, int]:
    """``"HOST:PORT"`` -> ``(host, port)``; ``ValueError`` naming ``name`` otherwise."""
    if not isinstance(address, str) or ":" not in address:
        raise ValueError(f"{name} must be HOST:PORT (e.g. 127.0.0.1:12345), got {address!r}")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name} must be HOST:PORT with a port in [1, 65535], got {address!r}")
    return host, int(port)


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids: Sequence[int] | None = None,
    join_timeout_s: int = 60,
    heartbeat_timeout_s: int = 100,
    shutdown_timeout_s: int = 300,
    bind_address: str | None = None,
    cpu_collectives: str = "gloo",
    quiet_gloo: bool = True,
    prog: str = "fnn.distributed",
) -> None:
    """Join the processes, then start JAX's distributed runtime with gloo CPU collectives.

    Call once per process, before any JAX computation. ``coordinator`` is
    ``"HOST:PORT"`` of process 0 (which runs the coordination service there);
    ``num_processes`` ``N`` and ``process_id`` in ``[0, N)``. Leave all three
    ``None`` to let JAX detect them (SLURM, Open MPI, cloud TPU).

    With a ``coordinator``, the processes first join over one TCP connection
    each to process 0 (:mod:`fnn._rendezvous`): each prints ``PROG: waiting
    for process k of N at HOST:PORT`` to stderr while it waits, and
    :class:`JoinError` names what went wrong after at most ``join_timeout_s``
    — a process that did not join, a process id given twice, different
    numbers of processes; a ``coordinator`` port already in use by another
    program is a ``ValueError`` naming it. The connections stay open: a
    process that dies later makes every other one exit at once with status 1
    and one line ``PROG: error: process k of N died ...`` (JAX alone would
    notice after ``heartbeat_timeout_s`` and abort natively); at exit each
    process waits for the others at most ``shutdown_timeout_s``.

    ``bind_address`` (``HOST:PORT``) is where process 0's coordination
    service listens; by default the ``coordinator`` address itself (JAX's
    default would be every interface; ``"[::]:PORT"`` asks for that).
    ``cpu_collectives`` (``"gloo"``, ``"mpi"`` or ``"none"``) sets
    ``jax_cpu_collectives_implementation``: without it CPU devices of
    different processes cannot all-reduce; ``quiet_gloo`` drops the ``[Gloo]
    Rank k is connected to n peer ranks`` lines gloo prints on stdout (file
    descriptor 1 then passes through a filtering thread). ``prog`` prefixes
    the messages.
    """
    if coordinator is not None:
        parse_address(coordinator, "coordinator")
    if bind_address is not None:
        parse_address(bind_address, "bind_address")
    for name, value, lo in (("num_processes", num_processes, 1), ("process_id", process_id, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < lo):
            raise ValueError(f"{name} must be an int >= {lo} or None, got {value!r}")
    if num_processes is not None and process_id is not None and process_id >= num_processes:
        raise ValueError(f"process_id must be in [0, {num_processes - 1}] for num_processes={num_processes}, got {process_id}")
    for name, value in (("join_timeout_s", join_timeout_s), ("heartbeat_timeout_s", heartbeat_timeout_s),
                        ("shutdown_timeout_s", shutdown_timeout_s)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1 (seconds), got {value!r}")
    if not isinstance(quiet_gloo, bool):
        raise TypeError(f"quiet_gloo must be a bool, got {quiet_gloo!r}")
    if cpu_collectives not in ("gloo", "mpi", "none"):
        raise ValueError(f"cpu_collectives must be one of ['gloo', 'mpi', 'none'], got {cpu_collectives!r}")
    if jax.distributed.is_initialized():
        raise RuntimeError("initialize was already called in this process (jax.distributed is running)")
    global _watch
    if coordinator is not None and num_processes is not None and process_id is not None and num_processes > 1:
        host, port = parse_address(coordinator)
        _watch = _rendezvous.join(host, port, process_id, num_processes, join_timeout_s, shutdown_timeout_s, prog)
    if cpu_collectives != "none":
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    if cpu_collectives == "gloo" and quiet_gloo:
        _quiet_gloo()
    jax.distributed.initialize(
        coordinator_address=coordinator,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=list(local_device_ids) if local_device_ids is not None else None,
        initialization_timeout=join_timeout_s,
        heartbeat_timeout_seconds=heartbeat_timeout_s,
        shutdown_timeout_seconds=shutdown_timeout_s,
        coordinator_bind_address=bind_address or coordinator,
    )


def _is_gloo_noise(line: bytes) -> bool:
    """gloo's ``[Gloo] Rank k is connected to n peer ranks. Expected number ...`` (whole, or a piece of one
    that another thread's copy split: gloo writes it in several parts)."""
    return b"[Gloo]" in line or b"connected peer ranks" in line


def _quiet_gloo() -> None:
    """Drop the ``[Gloo] Rank k is connected to n peer ranks ...`` lines gloo's C++ code prints on stdout
    (one per device and process, interleaved with the program's output).

    File descriptor 1 becomes a pipe read by a thread that forwards every other
    line to the real stdout (a partial line once nothing more came for 50 ms);
    at exit the real stdout is put back and the thread drains the pipe."""
    import atexit
    import os
    import select
    import sys
    import threading

    sys.stdout.flush()
    real = os.dup(1)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.close(write_end)

    def forward() -> None:
        held = b""
        while True:
            if held and not select.select([read_end], [], [], 0.05)[0]:
                if not _is_gloo_noise(held):
                    os.write(real, held)  # a partial line (a prompt): it has waited enough
                held = b""
                continue
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            *lines, held = (held + chunk).split(b"\n")
            out = b"".join(line + b"\n" for line in lines if not _is_gloo_noise(line))
            if out:
                os.write(real, out)
        if held and not _is_gloo_noise(held):
            os.write(real, held)

    thread = threading.Thread(target=forward, daemon=True, name="fnn-quiet-gloo")
    thread.start()

    def restore() -> None:
        sys.stdout.flush()
        os.dup2(real, 1)  # closes the pipe's last write end: the thread reads to the end and stops
        thread.join(timeout=5)

    atexit.register(restore)


def maybe_initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    auto: bool = False,
    **timeouts: int,
) -> bool:
    """:func:`initialize` when asked to (e.g. by command-line flags); whether it did.

    Given any of ``coordinator``, ``num_processes``, ``process_id``, all three
    are needed. Given none: with ``auto`` JAX detects them (SLURM, Open MPI,
    cloud TPU; ``ValueError`` if it finds no cluster), without it nothing is
    started and this process trains alone (returns False). ``timeouts``:
    :func:`initialize`'s ``join_timeout_s``, ``heartbeat_timeout_s``,
    ``shutdown_timeout_s`` (and ``prog``).
    """
    if not isinstance(auto, bool):
        raise TypeError(f"auto must be a bool, got {auto!r}")
    unknown = set(timeouts) - {"join_timeout_s", "heartbeat_timeout_s", "shutdown_timeout_s", "prog"}
    if unknown:
        raise TypeError(f"unexpected arguments {sorted(unknown)} (join_timeout_s, heartbeat_timeout_s, "
                        "shutdown_timeout_s, prog)")
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    if all(v is None for v in given.values()):
        if not auto:
            return False
        try:
            initialize(**timeouts)
        except ValueError as err:
            raise ValueError(
                f"auto found no cluster to join (JAX detects SLURM, Open MPI and cloud TPU): {err}; "
                "give coordinator, num_processes and process_id"
            ) from None
        return True
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise ValueError(
            f"{missing[0]} must be given too: coordinator, num_processes and process_id go together, "
            f"got {', '.join(f'{k}={v!r}' for k, v in given.items())}"
        )
    initialize(coordinator, num_processes, process_id, **timeouts)
    return True


def is_writer() -> bool:
    """True in exactly one process, process 0: the one that writes files (run folders, checkpoints)."""
    return jax.process_index() == 0


def fingerprint(a: Any) -> int:
    """A 32-bit fingerprint of an array's shape, dtype and bytes (CRC-32; host-side).

    ``a``: a NumPy array, a fully addressable or replicated ``jax.Array`` or a
    PRNG key (its key data). Equal arrays give equal fingerprints; two
    different arrays collide with probability ``2^-32``."""
    if isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
        a = jax.random.key_data(a)
    a = np.ascontiguousarray(np.asarray(a))
    crc = zlib.crc32(f"{a.dtype.str}{a.shape}".encode())
    return zlib.crc32(memoryview(a).cast("B"), crc) if a.size else crc


def check_agree(what: str, values: Mapping[str, int]) -> None:
    """Raise ``ValueError`` in every process unless all processes passed the same ``values``.

    ``values`` maps a name (``"train x rows"``) to an int (a size, a
    :func:`fingerprint`, ...), taken modulo ``2^32``. One all-gather of
    ``len(values)`` numbers (a collective: every process must call it with the
    same names, in the same order). Does nothing in a single process.
    """
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    names = list(values)
    local = np.array([int(values[k]) % _U32 for k in names], np.uint32)
    every = np.asarray(multihost_utils.process_allgather(local))  # (n_processes, len(names))
    differ = [j for j in range(len(names)) if not np.all(every[:, j] == every[0, j])]
    if differ:
        parts = []
        for j in differ:
            by = ", ".join(f"process {p}: {int(v)}" for p, v in enumerate(every[:, j]))
            parts.append(f"{names[j]} ({by})")
        raise ValueError(
            f"every process must pass the same {what}, but they differ in " + "; ".join(parts)
            + " (each process must load the same data and use the same arguments and seed)"
        )


class Disagreement(ValueError):
    """Raised by :func:`check_same`: ``differ`` maps each name whose value differs to every process's value."""

    def __init__(self, message: str, differ: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.differ = differ


_SHOWN = 160  # bytes of each differing value shown per process


def check_same(what: str, values: Mapping[str, Any]) -> None:
    """Raise :class:`Disagreement` in every process unless all processes passed the same ``values``.

    ``values`` maps a name (a flag, ``"--schedule"``) to a JSON-able value;
    one all-gather of a CRC-32 per name, then — only when some differ — one
    more of the differing values' text (first ``160`` bytes), so the error
    shows them: ``--schedule (process 0: "cosine", process 1: "constant")``.
    A collective: every process calls it with the same names in the same order.
    Does nothing in a single process."""
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    names = list(values)
    texts = [json.dumps(values[k], sort_keys=True, default=str) for k in names]
    local = np.array([zlib.crc32(t.encode()) for t in texts], np.uint32)
    every = np.asarray(multihost_utils.process_allgather(local))
    differ = [j for j in range(len(names)) if not np.all(every[:, j] == every[0, j])]
    if not differ:
        return
    shown = np.zeros((len(differ), _SHOWN), np.uint8)
    for row, j in enumerate(differ):
        raw = texts[j].encode()[:_SHOWN]
        shown[row, : len(raw)] = np.frombuffer(raw, np.uint8)
    gathered = np.asarray(multihost_utils.process_allgather(shown))  # (processes, differ, _SHOWN)
    table = {names[j]: [bytes(gathered[p, row]).rstrip(b"\0").decode(errors="replace")
                        for p in range(gathered.shape[0])] for row, j in enumerate(differ)}
    parts = [f"{k} (" + ", ".join(f"process {p}: {v}" for p, v in enumerate(vs)) + ")" for k, vs in table.items()]
    raise Disagreement(f"every process must be given the same {what}, but they differ in " + "; ".join(parts), table)


def fingerprint_object(obj: Any) -> int:
    """A 32-bit fingerprint of what an object computes: its type, fields and numbers, recursively.

    For a function: its qualified name, bytecode, constants, defaults and
    the values it closes over — so ``optim.sgd(cosine_decay(0.1, 100))`` and
    ``optim.sgd(constant(0.1))`` differ, while two separately built equal
    optimizers agree (in one process or in several). Arrays count by
    :func:`fingerprint`; anything else by its ``repr`` without addresses."""
    return zlib.crc32(_canon(obj, set(), 0).encode())


def _canon(obj: Any, seen: set, depth: int) -> str:
    """A text that two processes write alike for objects that compute alike (see :func:`fingerprint_object`)."""
    import dataclasses
    import functools
    import re
    import types

    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return repr(obj)
    if isinstance(obj, (np.ndarray, np.generic, jax.Array)):
        return f"array:{fingerprint(obj)}"
    if depth > 24 or id(obj) in seen:
        return f"<{type(obj).__qualname__}>"
    seen = seen | {id(obj)}
    rec = lambda v: _canon(v, seen, depth + 1)  # noqa: E731
    kind = type(obj).__qualname__
    if isinstance(obj, (tuple, list)):
        return f"{kind}(" + ",".join(map(rec, obj)) + ")"
    if isinstance(obj, (set, frozenset)):  # their order follows the (per-process) string hash
        return f"{kind}(" + ",".join(sorted(map(rec, obj))) + ")"
    if isinstance(obj, dict):
        return f"{kind}{{" + ",".join(f"{rec(k)}:{rec(v)}" for k, v in sorted(obj.items(), key=lambda kv: repr(kv[0]))) + "}"
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
        consts = tuple(c for c in code.co_consts if not isinstance(c, types.CodeType))
        cells = tuple(c.cell_contents if c.cell_contents is not obj else "<self>" for c in (obj.__closure__ or ())
                      if _has_contents(c))
        return (f"fn:{obj.__module__}.{obj.__qualname__}:{zlib.crc32(code.co_code)}:{rec(consts)}:"
                f"{rec(obj.__defaults__)}:{rec(obj.__kwdefaults__)}:{rec(cells)}")
    if isinstance(obj, types.MethodType):
        return f"method:{rec(obj.__func__)}:{rec(obj.__self__)}"
    if isinstance(obj, functools.partial):
        return f"partial:{rec(obj.func)}:{rec(obj.args)}:{rec(obj.keywords)}"
    if isinstance(obj, types.ModuleType):
        return f"module:{obj.__name__}"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return f"{kind}(" + ",".join(f"{f.name}={rec(getattr(obj, f.name))}" for f in dataclasses.fields(obj)) + ")"
    if isinstance(obj, (types.BuiltinFunctionType, type)):
        return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"
    if hasattr(obj, "__dict__") and not callable(obj):
        return f"{kind}(" + rec(vars(obj)) + ")"
    return f"{kind}:" + re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # an empty cell (a name not yet bound)
        return False
    return True


def barrier(name: str) -> None:
    """Wait until every process reached ``barrier(name)`` (``multihost_utils.sync_global_devices``)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)
