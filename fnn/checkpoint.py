"""Checkpoints: save and load any pytree of arrays to one ``.npz`` file, atomically.

A training state (``TrainState``: params, optimizer state, network state,
step, PRNG key) is a pytree of NamedTuples, tuples, dicts and arrays. A
checkpoint stores

* every leaf as one array of the ``.npz`` archive, bit for bit (typed PRNG
  keys as their ``jax.random.key_data`` plus the implementation name; dtypes
  NumPy cannot name, such as bfloat16, as raw unsigned integers plus the name);
* the tree structure as JSON: ``None``, tuples, lists, dicts with ``str``/``int``
  keys and NamedTuples (class name and fields) are described exactly; any other
  registered pytree node is recorded by type name and children, and can only
  be rebuilt with ``like=``.

Nothing is pickled and nothing is imported on load: files are read with
``allow_pickle=False``. A NamedTuple is rebuilt as its class when that class is
already imported (looked up in ``sys.modules`` and checked to have the same
fields), else as a ``collections.namedtuple`` stand-in with the same name and
fields. Pass ``like=`` (a pytree of the expected structure: arrays or
``jax.ShapeDtypeStruct``) to get exactly that structure and placement back and
to check the file against it: a file from another architecture raises a
``ValueError`` that names the first mismatching path and both shapes.

Every leaf's stored bytes carry a SHA-256 in the metadata (format version 2),
and :func:`load` checks each stored array against its metadata (shape, dtype,
checksum) before using it, so a file whose arrays were swapped, rewritten or
damaged raises a ``ValueError`` naming the leaf's path. Version-1 files
(written before checksums existed) still load with a warning: their arrays
are checked against the metadata's shape and dtype only, so an altered value
goes unnoticed (save the tree again to add checksums).

Writes go to a temporary file in the destination folder, are flushed to disk,
and are renamed over ``path`` (``os.replace``), so a crash leaves either the old
checkpoint or the new one, never a partial file; temporaries left by killed
saves (``.<name>.<pid>@<host>-*.tmp``) are removed by the next save into the same
folder (:func:`fnn._io.atomic_write`). Single-process: every leaf must be fully
addressable from this process (for a population sharded across processes,
save ``fnn.parallel.to_host(tree)``, from one process).
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import pathlib
import sys
import warnings
import zipfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn._io import atomic_write

PathLike = str | os.PathLike
PyTree = Any

__all__ = ["save", "load"]

_FORMAT = "fnn.checkpoint"
_VERSION = 2  # 2: a "sha256" of each leaf's stored bytes; version 1 (no checksums) still loads
_READS = (1, 2)
_META_KEY = "__fnn_checkpoint__"


# ----------------------------------------------------------------------------
# Encoding: tree -> (JSON description, list of numpy arrays)
# ----------------------------------------------------------------------------


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _show(path: str) -> str:
    return path or "<root>"


def _leaf_meta(x: Any, path: str) -> dict:
    """Kind, dtype and shape of a leaf (also for ``like`` leaves: ShapeDtypeStruct)."""
    if _is_key(x):
        return {"kind": "key", "impl": str(jax.random.key_impl(x)), "shape": list(x.shape), "dtype": str(x.dtype)}
    if isinstance(x, bool):
        return {"kind": "python", "pytype": "bool", "shape": [], "dtype": "bool"}
    if isinstance(x, (int, float, complex)):
        t = next(c.__name__ for c in (int, float, complex) if isinstance(x, c))
        return {"kind": "python", "pytype": t, "shape": [], "dtype": np.asarray(x).dtype.name}
    if isinstance(x, jax.ShapeDtypeStruct):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            impl = getattr(getattr(x.dtype, "_impl", None), "name", str(x.dtype))
            return {"kind": "key", "impl": impl, "shape": list(x.shape), "dtype": str(x.dtype)}
        return {"kind": "jax", "shape": list(x.shape), "dtype": np.dtype(x.dtype).name}
    if isinstance(x, jax.Array):
        return {"kind": "jax", "shape": list(x.shape), "dtype": np.dtype(x.dtype).name}
    if isinstance(x, np.ndarray):
        kind = "numpy"
    elif isinstance(x, np.generic):
        kind = "numpy_scalar"
    else:
        raise TypeError(
            f"leaf at {_show(path)} must be an array or a number (jax.Array, numpy array, "
            f"bool, int, float, complex), got {type(x).__module__}.{type(x).__qualname__}"
        )
    if x.dtype == object:
        raise TypeError(f"leaf at {_show(path)} must have a numeric dtype, got dtype object")
    return {"kind": kind, "shape": list(np.shape(x)), "dtype": x.dtype.name}


def _leaf_data(x: Any, meta: dict) -> np.ndarray:
    """The array that stores a leaf, in a dtype ``np.savez`` keeps exactly."""
    if meta["kind"] == "key":
        return np.asarray(jax.random.key_data(x))
    a = np.asarray(x)
    if a.dtype.kind not in "biufc":  # bfloat16, float8, int4, ...: store the raw bits
        a = a.view(f"u{a.dtype.itemsize}")
    return a


def _sha256(a: np.ndarray) -> str:
    """SHA-256 of an array's bytes in C order (shape and dtype are checked separately)."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _children_of(x: Any) -> tuple[list[tuple[str, Any]], Any]:
    """One level of a registered pytree node: [(key string, child)], treedef."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(x, is_leaf=lambda y: y is not x)
    return [(jax.tree_util.keystr(p), c) for p, c in flat], treedef


def _encode(x: Any, path: str, leaves: list, data: list | None) -> dict:
    """JSON description of ``x``; appends leaves (and their stored arrays) in jax's order."""
    if x is None:
        return {"t": "none"}
    if _is_namedtuple(x):
        cls = type(x)
        return {
            "t": "namedtuple",
            "name": cls.__qualname__,
            "module": cls.__module__,
            "fields": list(cls._fields),
            "c": [_encode(getattr(x, f), f"{path}.{f}", leaves, data) for f in cls._fields],
        }
    if type(x) in (tuple, list):
        return {
            "t": type(x).__name__,
            "c": [_encode(c, f"{path}[{i}]", leaves, data) for i, c in enumerate(x)],
        }
    if type(x) is dict:
        if not all(type(k) in (str, int) for k in x):
            bad = next(k for k in x if type(k) not in (str, int))
            raise TypeError(f"dict keys must be str or int, got {bad!r} at {_show(path)}")
        keys = sorted(x)  # jax flattens dicts in sorted key order
        return {"t": "dict", "k": keys, "c": [_encode(x[k], f"{path}[{k!r}]", leaves, data) for k in keys]}
    children, treedef = _children_of(x)
    if jax.tree_util.treedef_is_leaf(treedef) and len(children) == 1 and children[0][1] is x:
        meta = _leaf_meta(x, path)
        meta = {"t": "leaf", "i": len(leaves), **meta}
        leaves.append(x)
        if data is not None:
            stored = _leaf_data(x, meta)
            meta["sha256"] = _sha256(stored)
            data.append(stored)
        return meta
    cls = type(x)
    return {
        "t": "node",
        "type": f"{cls.__module__}.{cls.__qualname__}",
        "k": [k for k, _ in children],
        "c": [_encode(c, path + k, leaves, data) for k, c in children],
    }


# ----------------------------------------------------------------------------
# save
# ----------------------------------------------------------------------------


def save(path: PathLike, tree: PyTree) -> pathlib.Path:
    """Write ``tree`` to ``path`` (an ``.npz`` archive) atomically and return the path.

    ``tree``: any pytree whose leaves are arrays (jax or NumPy, typed PRNG keys
    included) or Python/NumPy scalars. Every leaf is copied to the host and
    stored bit for bit. The file is first written to a temporary file in the
    same folder, flushed, then renamed over ``path``; on any error the temporary
    file is removed and an existing ``path`` is left untouched.

    Raises ``TypeError`` naming the path of a leaf that is not an array or a
    number, ``ValueError`` naming a ``jax.Array`` leaf that is not fully
    addressable from this process (sharded across processes: pass
    ``fnn.parallel.to_host(tree)``), ``FileNotFoundError`` if the folder does
    not exist.
    """
    path = pathlib.Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"path {str(path)!r}: folder {str(folder)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"path {str(path)!r} is a folder, expected a file name")
    _check_addressable(tree)
    leaves: list = []
    data: list[np.ndarray] = []
    tree_json = _encode(tree, "", leaves, data)
    n_jax = len(jax.tree_util.tree_leaves(tree))
    if n_jax != len(leaves):  # pragma: no cover - guards the encoder against jax's flattening
        raise AssertionError(f"encoded {len(leaves)} leaves, jax flattens {n_jax}")
    meta = json.dumps({"format": _FORMAT, "version": _VERSION, "n_leaves": len(leaves), "tree": tree_json})
    arrays = {_META_KEY: np.array(meta)}
    arrays.update({f"leaf_{i}": a for i, a in enumerate(data)})

    with atomic_write(path) as f:
        np.savez(f, **arrays)
    _fsync_dir(folder)
    return path


def _check_addressable(tree: PyTree) -> None:
    """Refuse, before any copy, a leaf whose shards live partly on other processes' devices (a leaf replicated
    on every process is whole here: its local copy is saved)."""
    for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable and not leaf.is_fully_replicated:
            raise ValueError(
                f"leaf at {_show(jax.tree_util.keystr(p))} must be fully addressable from this process "
                f"(process {jax.process_index()} of {jax.process_count()}), got a jax.Array of shape "
                f"{leaf.shape} sharded across processes ({leaf.sharding}); save fnn.parallel.to_host(tree) "
                "instead: every process then holds the whole value (write it from one process)"
            )


def _fsync_dir(folder: pathlib.Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------
# load
# ----------------------------------------------------------------------------


def _describe(node: dict) -> str:
    t = node["t"]
    if t == "leaf":
        if node["kind"] == "key":
            return f"a PRNG key array of shape {tuple(node['shape'])} ({node['impl']})"
        return f"an array of shape {tuple(node['shape'])} and dtype {node['dtype']}"
    if t == "none":
        return "None"
    if t == "dict":
        return f"a dict with keys {node['k']}"
    if t == "namedtuple":
        return f"a NamedTuple {node['name']} with fields {node['fields']}"
    if t == "node":
        return f"a {node['type']} node with children {node['k']}"
    return f"a {t} of {len(node['c'])} entries"


def _same_dtype(a: dict, b: dict) -> bool:
    if a["kind"] == "python" or b["kind"] == "python":  # weakly typed: compare the category
        cat = lambda m: np.dtype(m["dtype"]).kind if m["dtype"] != "bool" else "b"  # noqa: E731
        return cat(a) == cat(b)
    return a["dtype"] == b["dtype"]


def _diff(got: dict, want: dict, path: str) -> str | None:
    """First difference between the file's description ``got`` and ``like``'s ``want``."""
    where = _show(path)
    tg, tw = got["t"], want["t"]
    if tg != tw or (tg in ("tuple", "list") and len(got["c"]) != len(want["c"])):
        return f"at {where}: like expects {_describe(want)}, the checkpoint holds {_describe(got)}"
    if tg == "leaf":
        if (got["kind"] == "key") != (want["kind"] == "key"):
            return f"at {where}: like expects {_describe(want)}, the checkpoint holds {_describe(got)}"
        if got["shape"] != want["shape"]:
            return (
                f"at {where}: like expects shape {tuple(want['shape'])}, "
                f"the checkpoint holds shape {tuple(got['shape'])}"
            )
        if got["kind"] == "key":
            if got["impl"] != want["impl"]:
                return f"at {where}: like expects a {want['impl']} key, the checkpoint holds a {got['impl']} key"
        elif not _same_dtype(got, want):
            return f"at {where}: like expects dtype {want['dtype']}, the checkpoint holds dtype {got['dtype']}"
        return None
    if tg == "dict" and got["k"] != want["k"]:
        missing = [k for k in want["k"] if k not in got["k"]]
        extra = [k for k in got["k"] if k not in want["k"]]
        return (
            f"at {where}: like expects dict keys {want['k']}, the checkpoint holds {got['k']} "
            f"(missing {missing}, unexpected {extra})"
        )
    if tg == "namedtuple" and got["fields"] != want["fields"]:
        return f"at {where}: like expects {_describe(want)}, the checkpoint holds {_describe(got)}"
    if tg == "node" and (got["type"] != want["type"] or got["k"] != want["k"]):
        return f"at {where}: like expects {_describe(want)}, the checkpoint holds {_describe(got)}"
    for i, (g, w) in enumerate(zip(got.get("c", []), want.get("c", []))):
        if tg == "namedtuple":
            sub = f"{path}.{want['fields'][i]}"
        elif tg == "dict":
            sub = f"{path}[{want['k'][i]!r}]"
        elif tg == "node":
            sub = path + want["k"][i]
        else:
            sub = f"{path}[{i}]"
        msg = _diff(g, w, sub)
        if msg is not None:
            return msg
    return None


def _restore_leaf(meta: dict, a: np.ndarray, path: str, like_leaf: Any = None) -> Any:
    kind = meta["kind"]
    if kind == "key":
        value = jax.random.wrap_key_data(jnp.asarray(a), impl=meta["impl"])
        sharding = getattr(like_leaf, "sharding", None)
        return jax.device_put(value, sharding) if sharding is not None else value
    if a.dtype.name != meta["dtype"]:  # stored as raw bits
        a = a.view(jnp.dtype(meta["dtype"]))
    if isinstance(like_leaf, (jax.Array, jax.ShapeDtypeStruct)):
        kind = "jax"
    elif isinstance(like_leaf, np.ndarray):
        kind = "numpy"
    elif like_leaf is not None and isinstance(like_leaf, (bool, int, float, complex)):
        kind, meta = "python", {**meta, "pytype": type(like_leaf).__name__}
    if kind == "python":
        return {"bool": bool, "int": int, "float": float, "complex": complex}[meta["pytype"]](a[()])
    if kind == "numpy_scalar":
        return a[()]
    if kind == "numpy":
        return a
    if a.dtype.itemsize == 8 and a.dtype.kind in "iufc" and not jax.config.jax_enable_x64:
        raise ValueError(
            f"leaf at {_show(path)} has dtype {a.dtype.name}, which jax would truncate because "
            "jax_enable_x64 is off; load inside `with jax.enable_x64(True):`"
        )
    sharding = getattr(like_leaf, "sharding", None)
    return jax.device_put(a, sharding) if sharding is not None else jax.device_put(a)


def _namedtuple_class(node: dict) -> type:
    module = sys.modules.get(node["module"])
    obj: Any = module
    for part in node["name"].split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            break
    if isinstance(obj, type) and issubclass(obj, tuple) and list(getattr(obj, "_fields", ())) == node["fields"]:
        return obj
    return collections.namedtuple(node["name"].rsplit(".", 1)[-1], node["fields"])


def _build(node: dict, arrays: list[np.ndarray], path: str) -> Any:
    t = node["t"]
    if t == "none":
        return None
    if t == "leaf":
        return _restore_leaf(node, arrays[node["i"]], path)
    if t == "tuple":
        return tuple(_build(c, arrays, f"{path}[{i}]") for i, c in enumerate(node["c"]))
    if t == "list":
        return [_build(c, arrays, f"{path}[{i}]") for i, c in enumerate(node["c"])]
    if t == "dict":
        return {k: _build(c, arrays, f"{path}[{k!r}]") for k, c in zip(node["k"], node["c"])}
    if t == "namedtuple":
        cls = _namedtuple_class(node)
        return cls(*(_build(c, arrays, f"{path}.{f}") for f, c in zip(node["fields"], node["c"])))
    raise ValueError(
        f"the checkpoint holds a {node['type']} node at {_show(path)}, which fnn.checkpoint "
        "cannot rebuild on its own; pass like= (a pytree of the same structure)"
    )


def _leaf_nodes(node: dict, out: list, path: str = "") -> list[tuple[str, dict]]:
    """``[(path, leaf node)]`` of the file's tree description, in jax's leaf order."""
    t = node["t"]
    if t == "leaf":
        out.append((path, node))
    for i, c in enumerate(node.get("c", [])):
        if t == "namedtuple":
            sub = f"{path}.{node['fields'][i]}"
        elif t == "dict":
            sub = f"{path}[{node['k'][i]!r}]"
        elif t == "node":
            sub = path + node["k"][i]
        else:
            sub = f"{path}[{i}]"
        _leaf_nodes(c, out, sub)
    return out


def _check_stored(node: dict, arrays: list[np.ndarray], where: str) -> str | None:
    """What is wrong with a leaf's stored array against its own metadata, or None."""
    i = node["i"]
    if not isinstance(i, int) or not 0 <= i < len(arrays):
        return f"its array index {i!r} is not one of the file's {len(arrays)} arrays"
    a, shape = arrays[i], tuple(node["shape"])
    if node["kind"] == "key":
        if a.dtype != np.uint32 or a.shape[: len(shape)] != shape or a.ndim != len(shape) + 1:
            return (
                f"the metadata says a key array of shape {shape}, the stored key data has shape "
                f"{a.shape} and dtype {a.dtype.name} (expected {shape} + (n,), uint32)"
            )
    else:
        want = jnp.dtype(node["dtype"])
        stored = want if np.dtype(want).kind in "biufc" else np.dtype(f"u{want.itemsize}")
        if a.dtype != stored or a.shape != shape:
            return (
                f"the metadata says shape {shape} and dtype {node['dtype']}, the stored array has "
                f"shape {a.shape} and dtype {a.dtype.name}"
            )
    digest = node.get("sha256")
    if digest is not None and _sha256(a) != digest:
        return "its bytes do not match the SHA-256 stored at save time (the file was damaged or altered)"
    return None


def _verify(path: pathlib.Path, meta: dict, arrays: list[np.ndarray]) -> list[tuple[str, dict]]:
    """Check every stored leaf against the metadata; return the ``[(path, node)]`` leaves."""
    try:
        nodes = _leaf_nodes(meta["tree"], [])
        problems = [(p, _check_stored(n, arrays, p)) for p, n in nodes]
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as err:
        raise ValueError(f"{path}: corrupt checkpoint metadata ({err!r})") from err
    for where, problem in problems:
        if problem is not None:
            raise ValueError(f"{path}: corrupt checkpoint: leaf at {_show(where)}: {problem}")
    if sorted(n["i"] for _, n in nodes) != list(range(len(arrays))):
        raise ValueError(f"{path}: corrupt checkpoint metadata (leaf indices are not 0..{len(arrays) - 1})")
    return nodes


def _read(path: pathlib.Path) -> tuple[dict, list[np.ndarray]]:
    try:
        f = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        if isinstance(err, FileNotFoundError) or isinstance(err, IsADirectoryError):
            raise
        raise ValueError(f"{path}: not an fnn checkpoint ({err})") from err
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not an fnn checkpoint (a plain .npy array, not an .npz archive)")
    with f:
        if _META_KEY not in f.files:
            raise ValueError(f"{path}: not an fnn checkpoint (no {_META_KEY} entry)")
        try:
            meta = json.loads(str(f[_META_KEY][()]))
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
            raise ValueError(f"{path}: corrupt or truncated checkpoint ({err!r})") from err
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise ValueError(f"{path}: not an fnn checkpoint (format {got!r})")
        if meta.get("version") not in _READS:
            raise ValueError(
                f"{path}: checkpoint format version {meta.get('version')!r}, "
                f"this fnn reads versions {list(_READS)}"
            )
        try:
            arrays = [f[f"leaf_{i}"] for i in range(meta["n_leaves"])]
        except (zipfile.BadZipFile, EOFError, KeyError, OSError, ValueError, TypeError) as err:
            raise ValueError(f"{path}: corrupt or truncated checkpoint ({err!r})") from err
    return meta, arrays


def load(path: PathLike, like: PyTree | None = None) -> PyTree:
    """Read a pytree written by :func:`save`.

    Without ``like``: the tree is rebuilt from the structure stored in the file
    (see the module docstring for NamedTuples); arrays saved from jax come back
    as jax arrays on the default device, NumPy arrays as NumPy arrays, Python
    scalars as Python scalars, typed PRNG keys as typed keys.

    With ``like`` (a pytree of the structure to load into, with arrays,
    numbers or ``jax.ShapeDtypeStruct`` leaves): the file must match it node
    for node and leaf for leaf (shape, dtype, key implementation); the result
    has ``like``'s structure and leaf types, and each jax leaf is placed with
    the ``sharding`` of its ``like`` leaf.

    Every stored array is first checked against the file's own metadata: its
    shape, its dtype and (format version 2, the current one) the SHA-256 of
    its bytes recorded at save time; version-1 files, which have no
    checksums, are checked for shape and dtype only and load with a
    ``UserWarning`` that says they are unverified.

    Raises ``ValueError`` for a file that is not an fnn checkpoint, that is
    truncated or damaged (the message names the leaf's path and what differs),
    or that does not fit ``like``: the message names the first mismatching path and
    gives the expected and the stored shape, e.g.
    ``at [0]['W']: like expects shape (100, 784), the checkpoint holds shape (30, 784)``.
    """
    path = pathlib.Path(path)
    meta, arrays = _read(path)
    nodes = _verify(path, meta, arrays)
    if meta["version"] < 2:
        warnings.warn(
            f"{path}: checkpoint format version {meta['version']} holds no checksums: its arrays were checked "
            "for shape and dtype only, and an altered or damaged value would go unnoticed; save the tree "
            "again to write a verified (version 2) file",
            UserWarning,
            stacklevel=2,
        )
    tree = meta["tree"]
    if like is None:
        return _build(tree, arrays, "")
    like_leaves: list = []
    want = _encode(like, "", like_leaves, None)
    msg = _diff(tree, want, "")
    if msg is not None:
        raise ValueError(f"{path} does not fit like: {msg}")
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(like)[0]]
    values = [
        _restore_leaf(node, arrays[node["i"]], p, leaf)
        for (_, node), p, leaf in zip(nodes, paths, like_leaves)
    ]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(like), values)
