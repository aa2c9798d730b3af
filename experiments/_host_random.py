"""Random inputs and initial parameters drawn on the host, with numpy.

Every ``jax.random`` call is an XLA computation compiled once per shape
(0.3-0.6 s each on two shared CPU cores), so an experiment that draws a dozen
arrays would spend seconds compiling random-number generators before it
measured anything. numpy draws cost nothing to set up and are just as
deterministic given the seed; the arrays are then handed to fnn as they are
(parameters are plain pytrees).
"""

from __future__ import annotations

import numpy as np
import jax.numpy as jnp
from jax.typing import DTypeLike

from fnn import nn


def params(
    net: nn.MLP, rng: np.random.Generator, dtype: DTypeLike = jnp.float32, std: float | None = None
) -> nn.Params:
    """Parameters for ``net`` in fnn's layout: ``W^l`` of shape ``(n_l, n_{l-1})``, ``b^l`` zero.

    ``W ~ N(0, std^2)``; by default ``std = 1/sqrt(n_in)`` (variance ``1/M``,
    LeCun's normal initialization).
    """
    layers = []
    for n_in, n_out in zip(net.sizes[:-1], net.sizes[1:]):
        s = np.sqrt(1.0 / n_in) if std is None else std
        layers.append(
            {"W": jnp.asarray(s * rng.normal(size=(n_out, n_in)), dtype), "b": jnp.zeros((n_out,), dtype)}
        )
    return tuple(layers)


def stacked_params(
    net: nn.MLP, rng: np.random.Generator, count: int, dtype: DTypeLike = jnp.float32, std: float | None = None
) -> nn.Params:
    """``count`` independent draws of :func:`params`, stacked on a leading axis (for ``vmap``)."""
    layers = []
    for n_in, n_out in zip(net.sizes[:-1], net.sizes[1:]):
        s = np.sqrt(1.0 / n_in) if std is None else std
        layers.append(
            {
                "W": jnp.asarray(s * rng.normal(size=(count, n_out, n_in)), dtype),
                "b": jnp.zeros((count, n_out), dtype),
            }
        )
    return tuple(layers)
