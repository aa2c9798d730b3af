"""Datasets: IDX files, MNIST / Fashion-MNIST with download and cache, synthetic sets, batching.

Notes, "Stochastic gradient descent": an epoch is one pass over the training
set in randomly drawn mini-batches of ``m`` examples. Here an epoch's batches
are one device array of shape ``(n_batches, m, ...)`` (:func:`batches`), so that
training can run the whole epoch as a single ``lax.scan`` with the data already
on the device.

Real data
---------
:func:`load` returns ``(x, y)``: ``x`` float32 of shape ``(n, 784)`` with pixel
values in ``[0, 1]``, ``y`` int32 labels of shape ``(n,)``. It looks for the four
IDX files (gzipped or not) in, in order:

1. the ``data_dir=`` argument;
2. ``$FNN_DATA_DIR/<name>``;
3. the user cache ``$XDG_CACHE_HOME/fnn/<name>`` (default ``~/.cache/fnn/<name>``);
4. for Fashion-MNIST, ``/usr/share/datasets/fashion-mnist``, where Debian's
   ``dataset-fashion-mnist`` package installs ``train-images-idx3-ubyte.gz``,
   ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
   ``t10k-labels-idx1-ubyte.gz``.

A folder is used when it holds all four files. Files found on disk are checked
by their structure (magic number, dtype, shape, the 60,000/10,000 counts, labels
in 0..9), not by an archive checksum: Debian recompresses its copies, so their
gzip bytes differ from the publisher's while the images are identical.

If no folder holds the files, :func:`download` fetches them (canonical address
first, then a mirror; see :data:`MIRRORS`, the ``mirrors=`` argument and
``$FNN_DATA_MIRRORS``) into ``data_dir`` if given, else ``$FNN_DATA_DIR/<name>``
if set, else the user cache. Each file is streamed to a temporary file in the
destination folder, checked against the publisher's MD5 and only then renamed
into place; a mismatch raises ``ValueError`` and leaves nothing behind.

Nielsen's split (50,000 training / 10,000 validation examples, both from the
original training set) is ``validation=10_000``:
``load(name, "train", validation=10_000)`` returns the first 50,000 and
``load(name, "validation", validation=10_000)`` the last 10,000.
"""

from __future__ import annotations

import collections
import functools
import gzip
import hashlib
import math
import os
import pathlib
import sys
import urllib.error
import urllib.request
import zlib
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from fnn._io import atomic_write
from fnn._validate import check_int

Array = jax.Array
PathLike = str | os.PathLike

__all__ = [
    "Source",
    "DATASETS",
    "MIRRORS",
    "DEBIAN_DIRS",
    "read_idx",
    "write_idx",
    "search_dirs",
    "download",
    "load",
    "linearly_separable",
    "xor",
    "blobs",
    "regression",
    "TARGETS",
    "shuffle",
    "num_batches",
    "batches",
]


# ----------------------------------------------------------------------------
# IDX files
# ----------------------------------------------------------------------------

# IDX dtype codes (third byte of the magic number); data are big-endian.
_IDX_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_NAMES = {0x08: "ubyte", 0x09: "byte", 0x0B: "short", 0x0C: "int", 0x0D: "float", 0x0E: "double"}
_GZIP_MAGIC = b"\x1f\x8b"


def _allowed_codes() -> str:
    return ", ".join(f"0x{c:02X} ({_IDX_NAMES[c]})" for c in _IDX_CODES)


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or raw) into a NumPy array.

    Format (LeCun's MNIST page): a 4-byte magic number ``0x00 0x00 <dtype code>
    <ndim>``, then ``ndim`` big-endian uint32 sizes, then the data, big-endian,
    row-major. dtype codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64. Gzip is detected from the content, not the name.

    Returns an array of the file's shape in native byte order.

    Raises ``ValueError`` naming the file for a truncated or corrupt gzip stream,
    a foreign file (wrong magic number or dtype code), a truncated header or
    data, or trailing bytes; ``FileNotFoundError`` if it does not exist.
    """
    path = pathlib.Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise ValueError(f"{path}: truncated or corrupt gzip stream ({err})") from err
    if len(raw) < 4:
        raise ValueError(
            f"{path}: not an IDX file: expected a 4-byte magic number, the file holds {len(raw)} bytes"
        )
    magic = int.from_bytes(raw[:4], "big")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file: the magic number must start with bytes 0x00 0x00, "
            f"got 0x{magic:08X}"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_CODES:
        raise ValueError(
            f"{path}: unknown IDX dtype code 0x{code:02X} in magic number 0x{magic:08X}; "
            f"expected one of {_allowed_codes()}"
        )
    if ndim < 1:
        raise ValueError(f"{path}: IDX magic number 0x{magic:08X} gives 0 dimensions, expected >= 1")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, "
            f"the file holds {len(raw)}"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_CODES[code]
    expected = math.prod(shape) * dtype.itemsize
    got = len(raw) - header
    if got < expected:
        raise ValueError(
            f"{path}: truncated IDX file: header gives shape {shape} of {_IDX_NAMES[code]} "
            f"= {expected} data bytes, the file holds {got}"
        )
    if got > expected:
        raise ValueError(
            f"{path}: malformed IDX file: header gives shape {shape} of {_IDX_NAMES[code]} "
            f"= {expected} data bytes, the file holds {got} ({got - expected} trailing bytes)"
        )
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=header)
    return data.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: PathLike, array: ArrayLike) -> pathlib.Path:
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``.

    The inverse of :func:`read_idx`. ``array`` must have at least one dimension
    and one of the IDX dtypes (uint8, int8, int16, int32, float32, float64). The
    file is written to a temporary file in the same folder and renamed into
    place. Gzip output is deterministic (mtime 0), so its MD5 is reproducible.
    """
    a = np.asarray(array)
    codes = {np.dtype(v.newbyteorder("=")): k for k, v in _IDX_CODES.items()}
    if a.dtype not in codes:
        raise TypeError(
            f"array must have an IDX dtype (uint8, int8, int16, int32, float32, float64), got {a.dtype}"
        )
    if a.ndim < 1 or a.ndim > 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got shape {a.shape}")
    if any(s >= 2**32 for s in a.shape):
        raise ValueError(f"array dimensions must be < 2**32, got shape {a.shape}")
    code = codes[a.dtype]
    payload = bytes([0, 0, code, a.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in a.shape)
    payload += np.ascontiguousarray(a, dtype=_IDX_CODES[code]).tobytes()
    path = pathlib.Path(path)
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    _atomic_write_bytes(path, payload)
    return path


def _atomic_write_bytes(path: pathlib.Path, payload: bytes) -> None:
    with atomic_write(path, suffix=".part") as f:
        f.write(payload)


# ----------------------------------------------------------------------------
# MNIST and Fashion-MNIST: where the files are, where they come from
# ----------------------------------------------------------------------------


class Source(NamedTuple):
    """One file of a dataset.

    ``filename``: name of the (gzipped) file, also its name in a mirror and in
    the cache; the same name without ``.gz`` is accepted on disk.
    ``md5``: the publisher's MD5 of the gzipped file, checked after a download.
    ``shape``: the IDX shape the file must have (checked on every load).
    ``urls``: full URLs for this file; when empty, ``mirror + filename`` for each
    mirror is tried.
    """

    filename: str
    md5: str
    shape: tuple[int, ...]
    urls: tuple[str, ...] = ()


_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


def _sources(md5: Sequence[str]) -> dict[str, Source]:
    names = (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
    shapes = ((60000, 28, 28), (60000,), (10000, 28, 28), (10000,))
    return {k: Source(f, m, s) for k, f, m, s in zip(_KEYS, names, md5, shapes)}


#: The files of each dataset, with the publisher's MD5 (the ones torchvision checks).
DATASETS: dict[str, dict[str, Source]] = {
    "mnist": _sources(
        (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        )
    ),
    "fashion_mnist": _sources(
        (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        )
    ),
}

#: Base URLs tried in order: the canonical address, then mirrors. Replace with
#: ``mirrors=`` or ``$FNN_DATA_MIRRORS`` (comma- or space-separated; ``{name}``
#: in a URL is replaced by the dataset name).
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "http://yann.lecun.com/exdb/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    ),
    "fashion_mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}

#: System folders searched last (Debian/Ubuntu package ``dataset-fashion-mnist``).
DEBIAN_DIRS: dict[str, tuple[str, ...]] = {
    "mnist": (),
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",),
}

_ENV_DIR = "FNN_DATA_DIR"
_ENV_MIRRORS = "FNN_DATA_MIRRORS"
_TIMEOUT_S = 30.0


def _check_name(name: Any) -> str:
    if name not in DATASETS:
        raise ValueError(f"name must be one of {sorted(DATASETS)}, got {name!r}")
    return name


def _check_sources(name: str, sources: Mapping[str, Source] | None) -> dict[str, Source]:
    if sources is None:
        return dict(DATASETS[name])
    if not isinstance(sources, Mapping) or set(sources) != set(_KEYS):
        got = sorted(sources) if isinstance(sources, Mapping) else type(sources).__name__
        raise ValueError(f"sources must be a mapping with keys {list(_KEYS)}, got {got}")
    out = {}
    for k in _KEYS:
        s = sources[k]
        if not isinstance(s, Source):
            raise TypeError(f"sources[{k!r}] must be a fnn.data.Source, got {type(s).__name__}")
        out[k] = s
    return out


def _user_cache(name: str) -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "fnn" / name


def search_dirs(name: str, data_dir: PathLike | None = None) -> list[tuple[pathlib.Path, str]]:
    """The folders :func:`load` searches, in order, each with a description.

    ``data_dir`` (if given), ``$FNN_DATA_DIR/<name>`` (if set), the user cache
    ``~/.cache/fnn/<name>`` (``$XDG_CACHE_HOME`` honoured), then the Debian
    package folder for Fashion-MNIST.
    """
    name = _check_name(name)
    dirs: list[tuple[pathlib.Path, str]] = []
    if data_dir is not None:
        dirs.append((pathlib.Path(data_dir).expanduser(), "data_dir="))
    env = os.environ.get(_ENV_DIR)
    if env:
        dirs.append((pathlib.Path(env).expanduser() / name, f"${_ENV_DIR}/{name}"))
    dirs.append((_user_cache(name), "user cache"))
    for d in DEBIAN_DIRS[name]:
        dirs.append((pathlib.Path(d), "Debian package dataset-fashion-mnist"))
    return dirs


def _find_file(folder: pathlib.Path, source: Source) -> pathlib.Path | None:
    names = [source.filename]
    if source.filename.endswith(".gz"):
        names.append(source.filename[: -len(".gz")])
    for n in names:
        p = folder / n
        if p.is_file():
            return p
    return None


def _find_all(folder: pathlib.Path, sources: Mapping[str, Source]) -> dict[str, pathlib.Path] | None:
    found = {k: _find_file(folder, s) for k, s in sources.items()}
    if all(p is not None for p in found.values()):
        return found  # type: ignore[return-value]
    return None


def _mirrors(name: str, mirrors: Sequence[str] | str | None) -> tuple[str, ...]:
    if mirrors is None:
        env = os.environ.get(_ENV_MIRRORS)
        mirrors = env if env else MIRRORS[name]
    if isinstance(mirrors, str):
        mirrors = mirrors.replace(",", " ").split()
    out = tuple(str(m).replace("{name}", name) for m in mirrors)
    if not out:
        raise ValueError(f"mirrors must name at least one base URL, got {mirrors!r}")
    return out


def _urls(source: Source, mirrors: Sequence[str]) -> tuple[str, ...]:
    if source.urls:
        return tuple(source.urls)
    return tuple(m if m.endswith(source.filename) else m.rstrip("/") + "/" + source.filename for m in mirrors)


class _NetworkError(Exception):
    pass


def _fetch(url: str, dest: pathlib.Path, md5: str, progress: bool) -> pathlib.Path:
    """Stream ``url`` to a temporary file beside ``dest``; check MD5; rename into place.

    Raises ``_NetworkError`` when the server cannot be read and ``ValueError``
    on a checksum mismatch; in both cases no file is left behind.
    """
    digest = hashlib.md5(usedforsecurity=False)
    bar = None
    try:
        with atomic_write(dest, suffix=".part") as f:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "fnn"})
                with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
                    total = response.headers.get("Content-Length")
                    bar = _progress_bar(progress, total, dest.name)
                    while chunk := response.read(1 << 20):
                        f.write(chunk)
                        digest.update(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
            except (urllib.error.URLError, OSError, ValueError) as err:
                raise _NetworkError(f"{url}: {err}") from err
            if digest.hexdigest() != md5:
                raise ValueError(
                    f"checksum mismatch for {dest.name} downloaded from {url}: "
                    f"expected md5 {md5}, got {digest.hexdigest()}; the download was discarded"
                )
        return dest
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(progress: bool, total: str | None, desc: str):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        print(f"fnn.data: downloading {desc}", file=sys.stderr)
        return None
    return tqdm(
        total=int(total) if total and total.isdigit() else None,
        unit="B",
        unit_scale=True,
        desc=desc,
        leave=False,
    )


def download(
    name: str,
    dest: PathLike | None = None,
    *,
    mirrors: Sequence[str] | str | None = None,
    sources: Mapping[str, Source] | None = None,
    progress: bool = True,
) -> dict[str, pathlib.Path]:
    """Download the four IDX files of ``name`` into ``dest`` and return their paths.

    ``dest`` defaults to ``$FNN_DATA_DIR/<name>`` if set, else the user cache.
    Files already in ``dest`` with the right structure are kept. For each
    missing file the URLs (``source.urls``, else each base URL of ``mirrors``,
    else ``$FNN_DATA_MIRRORS``, else :data:`MIRRORS`) are tried in order; the
    file is streamed to a temporary file in ``dest`` (progress bar if tqdm is
    installed and ``progress``), checked against ``source.md5`` and renamed.

    Raises ``ValueError`` if a download did not match its MD5 (and no other URL
    gave the right file), ``FileNotFoundError`` if no URL could be read.
    """
    return _download(name, dest, mirrors, sources, progress)


def _download(name, dest, mirrors, sources, progress) -> dict[str, pathlib.Path]:
    name = _check_name(name)
    sources = _check_sources(name, sources)
    bases = _mirrors(name, mirrors)
    if dest is None:
        env = os.environ.get(_ENV_DIR)
        dest = pathlib.Path(env).expanduser() / name if env else _user_cache(name)
    dest = pathlib.Path(dest).expanduser()
    created = [p for p in (dest, *dest.parents) if not p.exists()]
    dest.mkdir(parents=True, exist_ok=True)
    try:
        return _download_into(name, dest, bases, sources, progress)
    except BaseException:
        for folder in created:  # leave no trace of a download that fetched nothing
            if any(folder.iterdir()):
                break
            folder.rmdir()
        raise


def _download_into(name, dest, bases, sources, progress) -> dict[str, pathlib.Path]:
    paths: dict[str, pathlib.Path] = {}
    for key, source in sources.items():
        existing = _find_file(dest, source)
        if existing is not None:
            _read_checked(existing, source, key)
            paths[key] = existing
            continue
        errors: list[str] = []
        mismatch = None
        for url in _urls(source, bases):
            try:
                paths[key] = _fetch(url, dest / source.filename, source.md5, progress)
                break
            except _NetworkError as err:
                errors.append(str(err))
            except ValueError as err:
                errors.append(str(err))
                mismatch = err
        else:
            tried = "\n  ".join(errors)
            if mismatch is not None:
                raise ValueError(f"{name}: could not download a valid {source.filename}:\n  {tried}")
            raise FileNotFoundError(f"{name}: could not download {source.filename}:\n  {tried}")
        _read_checked(paths[key], source, key)
    return paths


# In-process cache of decoded files: (path, size, mtime) -> array.
_DECODED: collections.OrderedDict[tuple, np.ndarray] = collections.OrderedDict()
_DECODED_MAX = 8


def _read_checked(path: pathlib.Path, source: Source, key: str) -> np.ndarray:
    stat = path.stat()
    ident = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, source.shape)
    if ident in _DECODED:
        _DECODED.move_to_end(ident)
        return _DECODED[ident]
    a = read_idx(path)
    if a.dtype != np.uint8 or a.shape != tuple(source.shape):
        raise ValueError(
            f"{path}: expected {key.replace('_', ' ')} as uint8 of shape {tuple(source.shape)}, "
            f"got {a.dtype} of shape {a.shape}"
        )
    if key.endswith("labels") and a.size and int(a.max()) > 9:
        raise ValueError(f"{path}: labels must lie in 0..9, got a maximum of {int(a.max())}")
    _DECODED[ident] = a
    while len(_DECODED) > _DECODED_MAX:
        _DECODED.popitem(last=False)
    return a


def _not_found(name, dirs, sources, attempts: str | None) -> FileNotFoundError:
    files = ", ".join(f"{s.filename}" for s in sources.values())
    looked = "\n".join(f"  - {d} ({why})" for d, why in dirs)
    if not os.environ.get(_ENV_DIR):
        looked += f"\n  - (${_ENV_DIR} not set)"
    msg = (
        f"{name}: the IDX files were not found. Looked for {files} "
        f"(gzipped or not) in:\n{looked}\n"
    )
    msg += attempts if attempts else "Download disabled (download=False).\n"
    msg += (
        "To provide the files: put the four files in one of these folders, pass data_dir=, "
        f"or set ${_ENV_DIR} to a folder holding {name}/<files>"
    )
    if name == "fashion_mnist":
        msg += "; on Debian/Ubuntu: apt-get install dataset-fashion-mnist"
    msg += f"; to download from elsewhere pass mirrors= or set ${_ENV_MIRRORS}."
    return FileNotFoundError(msg)


_SPLITS = ("train", "validation", "test")
_UNIT_PIXELS = np.arange(256, dtype=np.float32) / np.float32(255.0)


def load(
    name: str,
    split: str = "train",
    *,
    validation: int = 0,
    data_dir: PathLike | None = None,
    download: bool = True,
    mirrors: Sequence[str] | str | None = None,
    sources: Mapping[str, Source] | None = None,
    progress: bool = True,
) -> tuple[Array, Array]:
    """Load a split of MNIST or Fashion-MNIST as device arrays ``(x, y)``.

    ``x``: float32 ``(n, 784)``, pixel / 255 in ``[0, 1]``, rows are images
    (row-major 28x28). ``y``: int32 ``(n,)`` class labels in 0..9.

    ``name``: ``"mnist"`` or ``"fashion_mnist"``.
    ``split``: ``"train"``, ``"validation"`` or ``"test"`` (10,000 examples).
    ``validation``: number of examples held out from the *end* of the 60,000
    training examples; ``"train"`` returns the first ``60000 - validation`` and
    ``"validation"`` the last ``validation``. Nielsen's split is
    ``validation=10_000`` (50,000 / 10,000). ``"validation"`` needs it > 0.

    Files are searched as described in the module docstring
    (:func:`search_dirs`); if none are found and ``download`` is true they are
    downloaded (``mirrors``, ``sources`` and ``progress`` as in
    :func:`download`) into ``data_dir`` if given, else ``$FNN_DATA_DIR/<name>``,
    else the user cache. Decoded files are kept in a small in-process cache.

    Raises ``ValueError`` for an unknown name or split, a bad ``validation``, a
    malformed file or a download that fails its checksum; ``FileNotFoundError``
    (listing where it looked and how to provide the files) when the files are
    neither on disk nor downloadable.
    """
    name = _check_name(name)
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {list(_SPLITS)}, got {split!r}")
    sources = _check_sources(name, sources)
    n_train = sources["train_images"].shape[0]
    if isinstance(validation, bool) or not isinstance(validation, (int, np.integer)):
        raise TypeError(f"validation must be an int, got {validation!r}")
    if not 0 <= validation < n_train:
        raise ValueError(
            f"validation must be an int in [0, {n_train}) (examples held out of the training set), "
            f"got {validation}"
        )
    if split == "validation" and validation == 0:
        raise ValueError(
            "split='validation' needs validation > 0 (e.g. validation=10_000 for Nielsen's "
            "50,000/10,000 split), got validation=0"
        )

    dirs = search_dirs(name, data_dir)
    paths = None
    for folder, _ in dirs:
        paths = _find_all(folder, sources)
        if paths is not None:
            break
    if paths is None:
        if not download:
            raise _not_found(name, dirs, sources, None)
        try:
            paths = _download(name, data_dir, mirrors, sources, progress)
        except FileNotFoundError as err:
            raise _not_found(name, dirs, sources, f"Download failed: {err}\n") from err

    part = "test" if split == "test" else "train"
    images = _read_checked(paths[f"{part}_images"], sources[f"{part}_images"], f"{part}_images")
    labels = _read_checked(paths[f"{part}_labels"], sources[f"{part}_labels"], f"{part}_labels")
    if split == "train":
        images, labels = images[: n_train - validation], labels[: n_train - validation]
    elif split == "validation":
        images, labels = images[n_train - validation :], labels[n_train - validation :]
    n = images.shape[0]
    # pixel / 255 rounded exactly (IEEE division on the host for the 256 values),
    # then a gather on the device: 1 byte per pixel crosses to the device.
    x = jnp.take(jax.device_put(_UNIT_PIXELS), jax.device_put(images.reshape(n, -1)), axis=0)
    y = jax.device_put(labels.astype(np.int32))
    return x, y


# ----------------------------------------------------------------------------
# Synthetic sets
# ----------------------------------------------------------------------------


def _check_key(key: Any, name: str = "key") -> Array:
    if isinstance(key, jax.Array):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.ndim == 0:
            return key
        if key.dtype == jnp.uint32 and key.ndim == 1:
            return key
    raise TypeError(
        f"{name} must be a jax.random key (e.g. jax.random.key(0)), got "
        f"{getattr(key, 'dtype', type(key).__name__)} of shape {getattr(key, 'shape', ())}"
    )


def _check_nonneg(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a finite number >= 0, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def linearly_separable(
    key: Array, n: int, dim: int = 2, margin: float = 0.1
) -> tuple[Array, Array]:
    """``n`` points in ``dim`` dimensions, linearly separable with margin >= ``margin``.

    Notes, "Perceptron Learning": the decision boundary is ``x . w = 0``. A unit
    normal ``w`` is drawn at random; points ``x0 ~ U[-1, 1]^dim`` are pushed
    away from the hyperplane by ``margin`` along ``w``:
    ``x = x0 + margin * s * w`` with ``s = sign(x0 . w)`` (``+1`` at 0), so every
    point lies at distance ``|x0 . w| + margin >= margin`` from the boundary.
    Labels ``y = 1`` where ``s > 0`` else ``0`` (int32). ``x`` is float32
    ``(n, dim)``.

    The true normal is ``w = jax.random.normal(jax.random.split(key)[0], (dim,))``
    normalised, should a test need it.
    """
    key = _check_key(key)
    n = check_int(n, "n")
    dim = check_int(dim, "dim")
    margin = _check_nonneg(margin, "margin")
    return _linearly_separable(key, n, dim, jnp.float32(margin))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _linearly_separable(key: Array, n: int, dim: int, margin: Array) -> tuple[Array, Array]:
    k_w, k_x = jax.random.split(key)
    w = jax.random.normal(k_w, (dim,), jnp.float32)
    w = w / jnp.linalg.norm(w)
    x0 = jax.random.uniform(k_x, (n, dim), jnp.float32, -1.0, 1.0)
    s = jnp.where(x0 @ w >= 0, jnp.float32(1.0), jnp.float32(-1.0))
    x = x0 + margin * s[:, None] * w[None, :]
    y = (s > 0).astype(jnp.int32)
    return x, y


def xor(key: Array, n: int = 4, noise: float = 0.0) -> tuple[Array, Array]:
    """The XOR problem: ``n`` points at the corners of the unit square plus noise.

    Notes, "Perceptron Learning": XOR is not linearly separable (Minsky & Papert).
    Point ``i`` sits at corner ``i mod 4`` of ``(0,0), (0,1), (1,0), (1,1)`` with
    label ``0, 1, 1, 0``, plus Gaussian noise of standard deviation ``noise``
    drawn with ``key``. ``n=4, noise=0`` is the truth table. ``x`` float32
    ``(n, 2)``, ``y`` int32 ``(n,)``.
    """
    key = _check_key(key)
    n = check_int(n, "n")
    noise = _check_nonneg(noise, "noise")
    return _xor(key, n, jnp.float32(noise))


@functools.partial(jax.jit, static_argnums=1)
def _xor(key: Array, n: int, noise: Array) -> tuple[Array, Array]:
    corners = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], jnp.float32)
    idx = jnp.arange(n) % 4
    x = corners[idx] + noise * jax.random.normal(key, (n, 2), jnp.float32)
    y = jnp.array([0, 1, 1, 0], jnp.int32)[idx]
    return x, y


def blobs(
    key: Array,
    n: int,
    centers: int | ArrayLike = 3,
    dim: int = 2,
    std: float = 1.0,
    spread: float = 5.0,
) -> tuple[Array, Array]:
    """Gaussian blobs: ``n`` points around ``k`` centers, label = index of the center.

    ``centers``: an int ``k`` (centers drawn ``U[-spread, spread]^dim``) or a
    ``(k, dim)`` array. Labels are balanced (``i mod k``) in random order; point
    ``i`` is ``centers[y_i] + std * N(0, I)``. ``x`` float32 ``(n, dim)``,
    ``y`` int32 ``(n,)``.
    """
    key = _check_key(key)
    n = check_int(n, "n")
    std = _check_nonneg(std, "std")
    spread = _check_nonneg(spread, "spread")
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        k = check_int(centers, "centers")
        dim = check_int(dim, "dim")
        c = None
    else:
        c = jnp.asarray(centers, jnp.float32)
        if c.ndim != 2 or c.shape[0] < 1:
            raise ValueError(f"centers must be an int >= 1 or a (k, dim) array, got shape {c.shape}")
        k, dim = c.shape
    return _blobs(key, n, k, dim, c, jnp.float32(std), jnp.float32(spread))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _blobs(key, n, k, dim, c, std, spread) -> tuple[Array, Array]:
    k_c, k_p, k_x = jax.random.split(key, 3)
    if c is None:
        c = jax.random.uniform(k_c, (k, dim), jnp.float32, -spread, spread)
    y = jax.random.permutation(k_p, jnp.arange(n, dtype=jnp.int32) % k)
    x = c[y] + std * jax.random.normal(k_x, (n, dim), jnp.float32)
    return x, y


def _sine(x: Array) -> Array:
    return jnp.prod(jnp.sin(jnp.pi * x), axis=1, keepdims=True)


def _bump(x: Array) -> Array:
    return jnp.all(jnp.abs(x) < 0.5, axis=1, keepdims=True).astype(x.dtype)


def _step(x: Array) -> Array:
    return (x[:, :1] >= 0).astype(x.dtype)


#: Regression targets ``f(x)`` for ``x`` of shape ``(n, dim)``, returning ``(n, 1)``:
#: ``"sine"``: ``prod_i sin(pi x_i)``; ``"bump"``: 1 inside ``[-1/2, 1/2]^dim``, else 0
#: (Nielsen's bump / tower, made of steps); ``"step"``: ``1[x_1 >= 0]``.
TARGETS: dict[str, Callable[[Array], Array]] = {"sine": _sine, "bump": _bump, "step": _step}


def regression(
    key: Array, n: int, target: str = "sine", dim: int = 1, noise: float = 0.0
) -> tuple[Array, Array]:
    """A regression set ``y = f(x) + noise * N(0, 1)`` with ``x ~ U[-1, 1]^dim``.

    Notes, "Universal Approximation Theorem": a network with one hidden layer
    and a linear output approximates such targets. ``target`` is a name in
    :data:`TARGETS` (``"sine"``, ``"bump"``, ``"step"``) or a function
    ``(n, dim) -> (n, 1)``. ``x`` float32 ``(n, dim)``, ``y`` float32 ``(n, 1)``.
    """
    key = _check_key(key)
    n = check_int(n, "n")
    dim = check_int(dim, "dim")
    noise = _check_nonneg(noise, "noise")
    if isinstance(target, str):
        if target not in TARGETS:
            raise ValueError(f"target must be one of {sorted(TARGETS)} or a function, got {target!r}")
        f = TARGETS[target]
    elif callable(target):
        f = target
    else:
        raise TypeError(f"target must be a name in {sorted(TARGETS)} or a function, got {target!r}")
    out = jax.eval_shape(f, jax.ShapeDtypeStruct((n, dim), jnp.float32))
    if getattr(out, "shape", None) != (n, 1):
        raise ValueError(f"target must return shape {(n, 1)}, got {getattr(out, 'shape', out)}")
    return _regression(key, n, dim, f, jnp.float32(noise))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _regression(key, n, dim, f, noise) -> tuple[Array, Array]:
    k_x, k_n = jax.random.split(key)
    x = jax.random.uniform(k_x, (n, dim), jnp.float32, -1.0, 1.0)
    y = jnp.asarray(f(x), jnp.float32)
    return x, y + noise * jax.random.normal(k_n, (n, 1), jnp.float32)


# ----------------------------------------------------------------------------
# Shuffling and batching
# ----------------------------------------------------------------------------


def _as_device(a: Any, name: str) -> Array:
    if isinstance(a, jax.Array):
        return a
    a = np.asarray(a)
    if a.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got dtype object")
    return jax.device_put(a)


def _check_xy(x: Any, y: Any) -> tuple[Array, Array]:
    x, y = _as_device(x, "x"), _as_device(y, "y")
    if x.ndim < 1 or y.ndim < 1:
        raise ValueError(f"x and y must have a leading example axis, got shapes {x.shape} and {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must hold the same number of examples, got {x.shape[0]} (x: {x.shape}) "
            f"and {y.shape[0]} (y: {y.shape})"
        )
    return x, y


def shuffle(key: Array, x: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
    """``(x[p], y[p])`` for one permutation ``p = jax.random.permutation(key, n)``.

    Runs on the device (no host round trip); works under ``jax.jit``.
    """
    key = _check_key(key)
    x, y = _check_xy(x, y)
    p = jax.random.permutation(key, x.shape[0])
    return jnp.take(x, p, axis=0), jnp.take(y, p, axis=0)


def num_batches(n: int, batch_size: int, drop_remainder: bool = True) -> int:
    """Mini-batches per epoch: ``n // m`` (``drop_remainder``) or ``ceil(n / m)``."""
    n = check_int(n, "n")
    batch_size = check_int(batch_size, "batch_size", 1, n, " (the number of examples)")
    return n // batch_size if drop_remainder else -(-n // batch_size)


def batches(
    x: ArrayLike,
    y: ArrayLike,
    batch_size: int,
    key: Array | None = None,
    drop_remainder: bool = True,
) -> tuple[Array, Array]:
    """One epoch of mini-batches as two device arrays ``(n_batches, m, ...)``.

    Notes, "Stochastic gradient descent": the training set is cut into
    mini-batches of ``m = batch_size`` examples drawn at random; one pass over
    them is an epoch. Returns ``xb`` of shape ``(n_batches, m) + x.shape[1:]``
    and ``yb`` of shape ``(n_batches, m) + y.shape[1:]``, so an epoch is one
    ``lax.scan`` over the leading axis.

    ``key``: shuffle with ``jax.random.permutation(key, n)`` (on the device);
    ``None`` keeps the order. ``drop_remainder=True`` drops the last
    ``n mod m`` examples of the (shuffled) order; ``False`` completes the last
    batch with the first examples of the order (wrap-around), so every example
    is seen at least once and the batches keep one shape.

    Inputs that are not yet jax arrays are placed with ``jax.device_put``.
    Works under ``jax.jit`` with ``batch_size`` and ``drop_remainder`` static.
    Raises ``ValueError`` if ``batch_size <= 0`` or larger than the data, or if
    ``x`` and ``y`` hold different numbers of examples.
    """
    x, y = _check_xy(x, y)
    index = batch_indices(x.shape[0], batch_size, key, drop_remainder)
    return jnp.take(x, index, axis=0), jnp.take(y, index, axis=0)


def batch_indices(
    n: int, batch_size: int, key: Array | None = None, drop_remainder: bool = True
) -> Array:
    """The example indices of one epoch's mini-batches, ``(n_batches, m)`` int32.

    The order of :func:`batches` (``batches(x, y, ...)`` is ``x[index], y[index]``):
    ``jax.random.permutation(key, n)`` (or ``arange(n)`` without a key), cut
    into rows of ``m = batch_size``; ``drop_remainder`` as in :func:`batches`.
    A training loop that gathers each mini-batch from these indices inside its
    ``lax.scan`` never writes a shuffled copy of the data set.
    """
    n = check_int(n, "n")
    m = check_int(batch_size, "batch_size", 1, n, " (the number of examples)")
    if not isinstance(drop_remainder, bool):
        raise TypeError(f"drop_remainder must be a bool, got {drop_remainder!r}")
    if key is None:
        order = jnp.arange(n, dtype=jnp.int32)
    else:
        order = jax.random.permutation(_check_key(key), n).astype(jnp.int32)
    if drop_remainder:
        nb = n // m
        order = order[: nb * m]
    else:
        nb = -(-n // m)
        order = jnp.concatenate([order, order[: nb * m - n]])
    return order.reshape(nb, m)
