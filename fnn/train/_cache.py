"""Compile once per configuration: a bounded cache of compiled epochs.

A compiled epoch depends only on its static configuration — the network,
the cost, the optimizer's update function, the gradient mode, the precision,
the mini-batch size, the mesh, the population's layout — and on the shapes,
dtypes and placements of its arguments. :func:`compiled` keys the compiled
program on exactly these, so a second ``fit`` (or ``fit_population``) with
the same configuration skips tracing and compiling (``history["compile_s"]``
is then the lookup time).

Optimizers are pairs of closures: ``optim.gd(0.1)`` and ``optim.gd(0.3)``
are different objects whose ``update`` has the same code and closes over
equal values (the rate lives in the state), so they share a compiled epoch;
an ``update`` whose code, defaults, closed-over values or referenced
globals differ gets its own. :func:`structure` is that comparison: a value
that cannot be compared by content (an object without ``__eq__``, an
unhashable one) is compared by identity, which can only cost a recompile,
never a wrong program. The cache holds the ``MAX_ENTRIES`` most recently
used programs.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
import types
from typing import Any, Callable, Hashable

import jax
import numpy as np

#: Compiled programs kept (least recently used dropped first).
MAX_ENTRIES = 16

#: Packages whose module-level functions are compared by identity (their code and globals do not change).
_LIBRARIES = frozenset({"jax", "jaxlib", "numpy", "optax", "fnn", "functools", "builtins", "math", "operator"})

_CACHE: collections.OrderedDict = collections.OrderedDict()
_LOCK = threading.Lock()


class _Identity:
    """Compares (and hashes) by the identity of the object it holds, and keeps it alive."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _Identity) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def structure(obj: Any, _seen: frozenset = frozenset()) -> Hashable:
    """A hashable description of ``obj`` equal for two objects that compute the same thing:
    functions by code, defaults, closed-over values and referenced globals (recursively),
    containers item by item, arrays by dtype, shape and bytes, other objects by ``==``
    when hashable, else by identity."""
    if isinstance(obj, (type(None), bool, int, float, complex, str, bytes, type, types.ModuleType)):
        return (type(obj), obj)
    if id(obj) in _seen:
        return ("cycle", id(obj))
    seen = _seen | {id(obj)}
    if isinstance(obj, (tuple, list)):
        return (type(obj), tuple(structure(a, seen) for a in obj))
    if isinstance(obj, dict):
        return (dict, tuple(sorted(((repr(k), structure(v, seen)) for k, v in obj.items()), key=lambda kv: kv[0])))
    if isinstance(obj, (np.ndarray, np.generic, jax.Array)) and not isinstance(obj, jax.core.Tracer):
        a = np.asarray(obj) if not jax.dtypes.issubdtype(obj.dtype, jax.dtypes.prng_key) else \
            np.asarray(jax.random.key_data(obj))
        return ("array", str(obj.dtype), a.shape, a.tobytes())
    if isinstance(obj, types.FunctionType):
        if (obj.__module__ or "").split(".")[0] in _LIBRARIES and "<locals>" not in obj.__qualname__:
            return _Identity(obj)  # a library's module-level function: its code and globals are fixed
        return _function(obj, seen)
    if isinstance(obj, types.MethodType):
        return ("method", structure(obj.__func__, seen), structure(obj.__self__, seen))
    if isinstance(obj, functools.partial):
        return ("partial", structure(obj.func, seen), structure(obj.args, seen), structure(obj.keywords, seen))
    try:
        hash(obj)
    except TypeError:
        return _Identity(obj)
    return obj if type(obj).__eq__ is not object.__eq__ else _Identity(obj)


def _function(fn: types.FunctionType, seen: frozenset) -> Hashable:
    cells = tuple(structure(c.cell_contents, seen) if _filled(c) else ("empty",) for c in fn.__closure__ or ())
    names = sorted(set(_names(fn.__code__)) & set(fn.__globals__))
    glob = tuple((n, structure(fn.__globals__[n], seen)) for n in names)
    return ("function", fn.__code__, structure(fn.__defaults__, seen), structure(fn.__kwdefaults__, seen), cells, glob)


def _filled(cell: Any) -> bool:
    try:
        _ = cell.cell_contents
    except ValueError:
        return False
    return True


def _names(code: types.CodeType) -> list[str]:
    """The global (and attribute) names ``code`` and the code nested in it refer to."""
    out = list(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out += _names(c)
    return out


def abstract(tree: Any) -> Hashable:
    """The tree structure and each leaf's shape, dtype, weak type and placement."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple(
        (a.shape, str(a.dtype), getattr(a, "weak_type", False), getattr(a, "sharding", None)) for a in leaves
    )


def compiled(key: Hashable, build: Callable[[], Any], *args: Any) -> tuple[Any, float]:
    """The compiled ``build()`` (a jitted function) for ``args``, from the cache when
    ``(key, abstract(args))`` is there; and the seconds spent (compiling, or looking up)."""
    t0 = time.perf_counter()
    full = (key, abstract(args))
    with _LOCK:
        hit = _CACHE.get(full)
        if hit is not None:
            _CACHE.move_to_end(full)
            return hit, time.perf_counter() - t0
    program = build().lower(*args).compile()
    with _LOCK:
        _CACHE[full] = program
        while len(_CACHE) > MAX_ENTRIES:
            _CACHE.popitem(last=False)
    return program, time.perf_counter() - t0


def clear() -> None:
    """Drop every cached program."""
    with _LOCK:
        _CACHE.clear()


def setup_key(s: Any) -> Hashable:
    """The static configuration of a checked :class:`~fnn.train._setup.Setup`."""
    config = (jax.config.jax_enable_x64, str(jax.config.jax_default_matmul_precision))  # change the traced program
    return (s.net, s.cost, structure(s.optimizer.update), s.grad, s.precision, s.batch_size, s.mesh, config)
