"""Device meshes and placement for data-parallel and population training.

Notes, "Stochastic gradient descent": the gradient of a mini-batch is the mean
of per-example gradients, ``grad C = (1/m) sum_j grad C_{x_j}``, so it can be
computed on ``D`` devices from ``m / D`` examples each and averaged, which is
exactly the single-device value up to the rounding of the reduction order.

fnn uses a 1-D :class:`jax.sharding.Mesh` with the axis ``"data"`` and three
placements of it:

- ``replicated`` (``PartitionSpec()``): the parameters, the optimizer state
  and the training set, one full copy per device;
- ``batch`` (``PartitionSpec("data")`` on the example axis): a mini-batch
  ``(m, ...)`` split over the devices — the compiler inserts the all-reduce
  that averages the gradients;
- ``members`` (``PartitionSpec("data")`` on the leading axis of a
  population's state, see :func:`fnn.train.fit_population`): whole
  independent training runs split over the devices, which needs no
  communication at all.

Several processes (``jax.distributed``, see :mod:`fnn.distributed`): a mesh
over ``jax.devices()`` then holds devices this process cannot address.
:func:`put` builds such global arrays from this process's host copy (every
process holds the same value, or its own rows with :func:`put_process_local`)
without the full-data all-gather that ``jax.device_put`` would do to check
equality, and :func:`to_host` brings a global array back to every process
(an all-gather for a sharded one; a local read for a replicated one).

Private helpers here trust their inputs; :func:`mesh` is the one public
boundary that validates ``devices``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["DeviceMesh", "mesh", "n_devices", "AXIS", "spans_processes", "to_host"]

#: The name of the mesh axis (the example axis of a mini-batch, or the member axis of a population).
AXIS = "data"


class DeviceMesh(NamedTuple):
    """A 1-D mesh and its shardings (see the module docstring)."""

    mesh: Mesh
    replicated: NamedSharding
    batch: NamedSharding  # (m, ...) split over examples; also (P, ...) split over members

    @property
    def size(self) -> int:
        """The number of devices ``D``."""
        return int(self.mesh.devices.size)


def mesh(devices: Sequence[Any] | Mesh | DeviceMesh | None) -> DeviceMesh | None:
    """The :class:`DeviceMesh` over ``devices`` (a non-empty list of distinct
    ``jax.Device`` or a 1-D ``Mesh`` with axis ``"data"``); ``None`` for one device.

    Raises ``TypeError``/``ValueError`` naming ``devices`` for anything else,
    including the same device listed twice.
    """
    if devices is None or isinstance(devices, DeviceMesh):
        return devices
    if isinstance(devices, Mesh):
        if devices.axis_names != (AXIS,):
            raise ValueError(f"devices must be a 1-D Mesh with axis '{AXIS}', got axis names {devices.axis_names}")
        m = devices
    else:
        if isinstance(devices, jax.Device):
            raise TypeError(f"devices must be a list of jax devices (e.g. [{devices}]) or a Mesh, got one device {devices}")
        try:
            devs = list(devices)
        except TypeError:
            raise TypeError(f"devices must be a non-empty list of jax devices (jax.devices()) or a Mesh, got {devices!r}") from None
        if not devs or not all(isinstance(d, jax.Device) for d in devs):
            raise TypeError(f"devices must be a non-empty list of jax devices (jax.devices()) or a Mesh, got {devices!r}")
        seen: set[Any] = set()
        for d in devs:
            if d in seen:
                raise ValueError(f"devices must list each device once, got {d} twice in {devs}")
            seen.add(d)
        m = Mesh(np.array(devs), (AXIS,))
    return DeviceMesh(m, NamedSharding(m, PartitionSpec()), NamedSharding(m, PartitionSpec(AXIS)))


def n_devices(m: DeviceMesh | None) -> int:
    """``D``: 1 without a mesh."""
    return 1 if m is None else m.size


def check_divisible(count: int, m: DeviceMesh | None, name: str, what: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``count`` is a multiple of the number of devices."""
    d = n_devices(m)
    if count % d:
        raise ValueError(f"{name} must be a multiple of the number of devices ({d}), got {count} {what}".rstrip())


def spans_processes(m: DeviceMesh | None) -> bool:
    """Whether the mesh holds devices of other processes (multi-process data parallel)."""
    return m is not None and not m.replicated.is_fully_addressable


def put(tree: Any, sharding: NamedSharding | None) -> Any:
    """``jax.device_put(tree, sharding)``; the default device without a mesh.

    For a sharding over several processes every leaf is built with
    ``jax.make_array_from_callback`` from this process's copy (which must be
    the same on every process: :mod:`fnn.distributed` checks a fingerprint
    first); a leaf that already is such a global array is resharded."""
    if sharding is None:
        return jax.device_put(tree)
    if sharding.is_fully_addressable:
        return jax.device_put(tree, sharding)
    return jax.tree_util.tree_map(lambda a: _put_global(a, sharding), tree)


def _put_global(a: Any, sharding: NamedSharding) -> jax.Array:
    if isinstance(a, jax.Array) and not a.is_fully_addressable:
        return jax.device_put(a, sharding)  # already global: a reshard on the same devices
    if isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
        data = _put_global(np.asarray(jax.random.key_data(a)), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
    host = np.asarray(a)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def put_process_local(a: Any, m: DeviceMesh) -> jax.Array:
    """The global array whose rows are every process's ``a`` in process order,
    replicated on every device of ``m``: ``concat(a_0, a_1, ...)``.

    Assembled with ``jax.make_array_from_process_local_data`` split over the
    mesh (each process holds its rows), then all-gathered once. Every process
    must pass the same number of rows, a multiple of its devices in ``m``."""
    split = jax.make_array_from_process_local_data(m.batch, np.asarray(a))
    return jax.jit(lambda v: v, out_shardings=m.replicated)(split)


def to_host(tree: Any) -> Any:
    """Every leaf as a NumPy array holding the whole (global) value, on every process.

    A leaf spread over devices of several processes is all-gathered
    (``multihost_utils.process_allgather``, a collective: every process must
    call this); a replicated or local one is read locally. PRNG keys come
    back as their ``jax.random.key_data``."""
    from jax.experimental import multihost_utils

    def fetch(a):
        if isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            a = jax.random.key_data(a)
        if isinstance(a, jax.Array) and not a.is_fully_addressable and not a.is_fully_replicated:
            return np.asarray(multihost_utils.process_allgather(a, tiled=True))
        return np.asarray(a)

    return jax.tree_util.tree_map(fetch, tree)
