"""Seeds (and learning rates) as one population: P training runs in one compiled call.

Issue 12, section 2: every stochastic prediction runs over several seeds.
:func:`fit_seeds` trains them with :func:`fnn.train.fit_population` (issue 10:
member ``i`` is ``train.fit(..., key=keys[i])`` with its own hyperparameters,
e.g. one learning rate per member; a diverging member is frozen) and adds
what the experiments need: after each epoch every member is evaluated in
inference mode on each named set (``evals={"test": (x, y), ...}``), and the
history is laid out as ``(epochs, P)`` arrays, NaN from the epoch a member
diverged in.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from fnn import train


def fit_seeds(
    net,
    cost,
    optimizer,
    train_set: tuple[Any, Any],
    epochs: int,
    batch_size: int,
    keys: jax.Array,
    hyperparams: Mapping[str, Any] | None = None,
    evals: Mapping[str, tuple[Any, Any]] | None = None,
    callback=None,
    states=None,
) -> tuple[Any, dict[str, np.ndarray]]:
    """Train a population for ``epochs`` epochs; return ``(stacked states, history)``.

    ``history``: ``"cost"`` (epochs, P) mean mini-batch cost of each epoch (NaN once diverged),
    ``"diverged"`` (P,) first epoch (from 1) whose cost was non-finite, or -1;
    for each name in ``evals``: ``"<name>_accuracy"`` and ``"<name>_cost"`` (epochs, P);
    ``callback(epoch, states) -> {name: (P,) array}`` (optional) is called after each epoch and its values
    are stacked into ``history[name]`` (epochs, P). ``states``: start from this stacked population
    (``train.init_population``, e.g. with modified parameters) instead of ``keys`` (pass ``keys=None``).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    x, y = train_set
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.int32) if np.issubdtype(np.asarray(y).dtype, np.integer) else jnp.asarray(y, jnp.float32)
    if not isinstance(batch_size, int) or not 1 <= batch_size <= x.shape[0]:
        raise ValueError(f"batch_size must be an integer in [1, {x.shape[0]}], got {batch_size!r}")
    evals = {k: (jnp.asarray(v[0], jnp.float32), jnp.asarray(v[1])) for k, v in (evals or {}).items()}
    hist: dict[str, list] = {}

    def record(e, states, _record):
        for name, (xe, ye) in evals.items():
            ce, ae = train.evaluate_members(net, states, xe, ye, cost)
            hist.setdefault(f"{name}_cost", []).append(np.asarray(ce))
            hist.setdefault(f"{name}_accuracy", []).append(np.asarray(ae))
        if callback is not None:
            for name, v in callback(e, states).items():
                hist.setdefault(name, []).append(np.asarray(v))

    states, h = train.fit_population(net, cost, optimizer, (x, y), epochs, batch_size, keys=keys,
                                     hyperparams=dict(hyperparams) if hyperparams else None, progress=False,
                                     callback=record, states=states)
    nb = x.shape[0] // batch_size
    div_step = np.asarray(h["diverged"])
    diverged = np.where(div_step >= 0, div_step // nb + 1, -1)  # epoch (from 1) of the first unapplied update
    dead = np.array([[d >= 0 and e >= d for d in diverged] for e in range(1, epochs + 1)])  # (epochs, P)
    hist["cost"] = [np.asarray(c, np.float64) for c in h["cost"]]
    for k in [k for k in hist if k.endswith(("_cost", "_accuracy")) or k == "cost"]:
        hist[k] = np.where(dead, np.nan, np.asarray(hist[k], np.float64))
    out = {k: np.asarray(v) for k, v in hist.items()}
    out["diverged"] = diverged
    return states, out
