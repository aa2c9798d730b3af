"""Argument checks shared by several modules: counts (check_int), random keys (check_key), a data set
against a network (check_data) and finite pytrees (check_finite_tree)."""

from __future__ import annotations

import weakref
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def check_int(value: Any, name: str, low: int = 1, high: int | None = None, what: str = "") -> int:
    """``value`` as an ``int`` in ``[low, high]`` (``high=None``: no upper bound).

    Raises ``TypeError`` for a non-integer (``bool`` included) and ``ValueError``
    for one out of range; both messages name the argument, the expected range
    (``what`` says what the upper bound is) and the given value.
    """
    expected = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]{what}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {expected}, got {value}")
    return int(value)


def check_key(key: Any, name: str = "key") -> Any:
    """``key`` if it is a ``jax.random`` key: a new-style scalar key or a raw ``uint32`` ``(2,)``-like array.

    Raises ``TypeError`` naming the argument, what was expected and the given
    dtype and shape.
    """
    if isinstance(key, jax.Array):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.ndim == 0:
            return key
        if key.dtype == jnp.uint32 and key.ndim == 1:
            return key
    raise TypeError(
        f"{name} must be a jax.random key (e.g. jax.random.key(0)), got "
        f"{getattr(key, 'dtype', type(key).__name__)} of shape {getattr(key, 'shape', ())}"
    )


# The values of immutable jax.Arrays already found valid (by identity, held weakly): repeated calls on the
# same data and parameters (a Lanczos driver, a tracker, a benchmark) read them once.
_CHECKED: dict[tuple, tuple] = {}


def _known(arrays: tuple, tag: tuple) -> bool:
    refs = _CHECKED.get((tag, tuple(map(id, arrays))))
    return refs is not None and all(r() is a for r, a in zip(refs, arrays))


def _remember(arrays: tuple, tag: tuple) -> None:
    if all(isinstance(a, jax.Array) for a in arrays):
        if len(_CHECKED) >= 32:
            _CHECKED.pop(next(iter(_CHECKED)))
        _CHECKED[(tag, tuple(map(id, arrays)))] = tuple(weakref.ref(a) for a in arrays)


def _traced(arrays: Any) -> bool:
    return any(isinstance(a, jax.core.Tracer) for a in jax.tree_util.tree_leaves(arrays))


@jax.jit
def _data_summary(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    # One compiled pass over the data: rows of x and y without NaN/inf, and the label range.
    def rows(a):
        if not jnp.issubdtype(a.dtype, jnp.floating):
            return jnp.ones((a.shape[0],), bool)
        return jnp.isfinite(a).reshape(a.shape[0], -1).all(axis=1)

    labels = jnp.issubdtype(y.dtype, jnp.integer) and y.ndim == 1
    lo = jnp.min(y) if labels else jnp.zeros((), jnp.int32)
    hi = jnp.max(y) if labels else jnp.zeros((), jnp.int32)
    return rows(x), rows(y), lo, hi


def _nonfinite(rows_ok: np.ndarray, a: Any, name: str) -> None:
    if not rows_ok.all():
        row = int(np.flatnonzero(~rows_ok)[0])
        bad = np.asarray(a[row]).ravel()
        value = bad[~np.isfinite(bad)][0]
        raise ValueError(
            f"{name} must hold finite numbers, got {value} in row {row} "
            f"({int((~rows_ok).sum())} of {rows_ok.size} rows hold NaN or inf)"
        )


def check_data(x: Any, y: Any, n_in: int, n_out: int, name: str = "") -> tuple[Any, Any]:
    """``(x, y)`` checked against a network of ``n_in`` inputs and ``n_out`` outputs (host-side, once).

    ``x``: numbers of shape ``(n, n_in)``, ``n >= 1``, every entry finite;
    ``y``: integer class labels ``(n,)`` in ``[0, n_out - 1]`` or targets
    ``(n, n_out)``, finite. The arrays come back as given (``jax.Array``
    kept, anything else as a NumPy array). One compiled reduction over the
    data finds NaN/inf rows and the label range (once per pair of ``jax.Array``
    objects: they are immutable; inside a trace, e.g. the caller's ``jit``,
    only shapes and dtypes are checked). Raises ``TypeError``/``ValueError``
    whose message names the argument (prefixed by ``name``, e.g. ``"train"``),
    the expected and the given value (for a NaN: its first row and the count).
    """
    x = x if isinstance(x, jax.Array) else np.asarray(x)
    y = y if isinstance(y, jax.Array) else np.asarray(y)
    px, py = (f"{name} x", f"{name} y") if name else ("x", "y")
    data = f"{name} data" if name else "data"
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"{px} must have shape (n, {n_in}) (net.sizes[0] = {n_in} inputs), got shape {x.shape}")
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise TypeError(f"{px} must hold numbers, got dtype {x.dtype}")
    if y.ndim < 1 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{px} and y must hold the same number of examples, got {x.shape[0]} (x: {x.shape}) "
            f"and {y.shape[0] if y.ndim else 'none'} (y: {y.shape})"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{data} must hold at least one example, got x of shape {x.shape}")
    labels = jnp.issubdtype(y.dtype, jnp.integer) and y.ndim == 1
    if not labels and not (y.ndim == 2 and y.shape[1] == n_out):
        raise ValueError(
            f"{py} must be integer labels of shape ({x.shape[0]},) or targets of shape "
            f"({x.shape[0]}, {n_out}) (net.sizes[-1] = {n_out}), got shape {y.shape} and dtype {y.dtype}"
        )
    tag = ("data", n_in, n_out)
    if _traced((x, y)) or _known((x, y), tag):
        return x, y
    rows_x, rows_y, lo, hi = jax.device_get(_data_summary(x, y))
    _nonfinite(rows_x, x, px)
    _nonfinite(rows_y, y, py)
    if labels and (lo < 0 or hi >= n_out):
        hint = " (for a single output unit pass 0/1 targets of shape (n, 1))" if n_out == 1 else ""
        raise ValueError(
            f"{py} must hold class labels in [0, {n_out - 1}] for an output layer of "
            f"net.sizes[-1] = {n_out} units, got labels in [{int(lo)}, {int(hi)}]{hint}"
        )
    _remember((x, y), tag)
    return x, y


@jax.jit
def _leaves_finite(tree: Any) -> list[jax.Array]:
    return [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]


def check_finite_tree(tree: Any, name: str) -> None:
    """Raise ``ValueError`` naming the first leaf of ``tree`` (by its path) that holds a NaN or an inf.

    One compiled reduction and one transfer, once per set of ``jax.Array``
    leaves (none inside a trace); floating leaves only are expected.
    """
    leaves = tuple(jax.tree_util.tree_leaves(tree))
    if _traced(leaves) or _known(leaves, ("finite",)):
        return
    ok = jax.device_get(_leaves_finite(tree))
    if not all(ok):
        paths = jax.tree_util.tree_flatten_with_path(tree)[0]
        i = ok.index(False)
        path, leaf = paths[i]
        bad = np.asarray(leaf, np.float64).ravel()
        raise ValueError(
            f"{name}{jax.tree_util.keystr(path)} must hold finite numbers, got {bad[~np.isfinite(bad)][0]} "
            f"({int((~np.isfinite(bad)).sum())} of {bad.size} entries NaN or inf)"
        )
    _remember(leaves, ("finite",))
