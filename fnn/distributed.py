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
  that may be absent): the runtime, with gloo as the collectives of CPU
  devices (so two CPU processes on one machine can all-reduce) and short,
  explicit timeouts: a process that dies makes the others fail after
  ``heartbeat_timeout_s`` instead of waiting forever;
- :func:`is_writer`: ``jax.process_index() == 0``, the one process that
  writes run folders, histories and checkpoints;
- :func:`check_agree`: a cheap agreement check — every process all-gathers a
  short vector of fingerprints (shapes, CRC-32 checksums of the data and of
  the initial state, the hyperparameters) before the first collective of a
  run, and a process that was given different arguments (another data file,
  seed or batch size) makes every process raise a ``ValueError`` naming what
  differs, where it would otherwise hang or silently train on mixed data;
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

import zlib
from typing import Any, Mapping, Sequence

import jax
import numpy as np

__all__ = ["initialize", "maybe_initialize", "is_writer", "check_agree", "fingerprint", "barrier", "parse_address"]

_U32 = 2**32


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
    timeout_s: int = 300,
    heartbeat_timeout_s: int = 100,
    shutdown_timeout_s: int = 300,
    bind_address: str | None = None,
    cpu_collectives: str = "gloo",
) -> None:
    """Start JAX's distributed runtime: ``jax.distributed.initialize`` with gloo CPU collectives.

    Call once per process, before any JAX computation. ``coordinator`` is
    ``"HOST:PORT"`` of process 0 (which runs the coordination service there);
    ``num_processes`` ``N`` and ``process_id`` in ``[0, N)``. Leave all three
    ``None`` to let JAX detect them (SLURM, Open MPI, cloud TPU). ``timeout_s``
    bounds the wait for all processes to join, ``heartbeat_timeout_s`` how long
    a silent (dead) process goes unnoticed before the others fail,
    ``shutdown_timeout_s`` the wait at exit. ``bind_address`` (``HOST:PORT``)
    is where process 0 listens (JAX's default: every interface). ``cpu_collectives``
    (``"gloo"``, or ``"mpi"``, or ``"none"``) sets
    ``jax_cpu_collectives_implementation``: without it CPU devices of
    different processes cannot all-reduce.
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
    for name, value in (("timeout_s", timeout_s), ("heartbeat_timeout_s", heartbeat_timeout_s),
                        ("shutdown_timeout_s", shutdown_timeout_s)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1 (seconds), got {value!r}")
    if cpu_collectives not in ("gloo", "mpi", "none"):
        raise ValueError(f"cpu_collectives must be one of ['gloo', 'mpi', 'none'], got {cpu_collectives!r}")
    if jax.distributed.is_initialized():
        raise RuntimeError("initialize was already called in this process (jax.distributed is running)")
    if cpu_collectives != "none":
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address=coordinator,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=list(local_device_ids) if local_device_ids is not None else None,
        initialization_timeout=timeout_s,
        heartbeat_timeout_seconds=heartbeat_timeout_s,
        shutdown_timeout_seconds=shutdown_timeout_s,
        coordinator_bind_address=bind_address,
    )


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
    :func:`initialize`'s ``timeout_s``, ``heartbeat_timeout_s``, ``shutdown_timeout_s``.
    """
    if not isinstance(auto, bool):
        raise TypeError(f"auto must be a bool, got {auto!r}")
    unknown = set(timeouts) - {"timeout_s", "heartbeat_timeout_s", "shutdown_timeout_s"}
    if unknown:
        raise TypeError(f"unexpected arguments {sorted(unknown)} (timeouts: timeout_s, heartbeat_timeout_s, shutdown_timeout_s)")
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


def barrier(name: str) -> None:
    """Wait until every process reached ``barrier(name)`` (``multihost_utils.sync_global_devices``)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)
