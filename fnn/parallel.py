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

Private helpers here trust their inputs; :func:`mesh` is the one public
boundary that validates ``devices``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["DeviceMesh", "mesh", "n_devices", "AXIS"]

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


def put(tree: Any, sharding: NamedSharding | None) -> Any:
    """``jax.device_put(tree, sharding)``; the default device without a mesh."""
    return jax.device_put(tree) if sharding is None else jax.device_put(tree, sharding)
