"""Real data sets: MNIST and Fashion-MNIST, where their files are, download, checksums, cache.

Notes, "Stochastic gradient descent": the training set of the SGD experiments;
an epoch is one pass over it in mini-batches (:mod:`fnn.batching`). The files
are IDX files (:mod:`fnn.idx`).

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

An explicit ``data_dir`` is the only folder searched: it must hold the four
files (or, with ``download=True``, receive the missing ones); otherwise
:func:`load` raises ``FileNotFoundError`` naming the folder and the missing
files, never loading from elsewhere. Without ``data_dir``, the first of the
other folders that holds all four files is used.

Every file, whatever form it is found in (gzipped or raw), is checked by its
structure (magic number, dtype, shape, the 60,000/10,000 counts, labels in
0..9) and by the SHA-256 of its *decompressed* content (:attr:`Source.sha256`),
not by the archive's checksum: Debian's copies of Fashion-MNIST and the MNIST
of ``../shared/data`` are re-compressed, so their gzip bytes differ from the
publisher's while the content is identical. :func:`provenance` gives the path
and SHA-256 of each file :func:`load` reads, for a run's record.

If no folder holds the files, :func:`download` fetches them (canonical address
first, then a mirror; see :data:`MIRRORS`, the ``mirrors=`` argument and
``$FNN_DATA_MIRRORS``) into ``data_dir`` if given, else ``$FNN_DATA_DIR/<name>``
if set, else the user cache. Each file is streamed to a temporary file in the
destination folder, checked against the publisher's MD5 and only then renamed
into place; a mismatch raises ``ValueError`` and leaves nothing behind. The
``.part`` files a killed download left behind are removed by the next download
into that folder (only fnn's own naming, and only stale ones).

Nielsen's split (50,000 training / 10,000 validation examples, both from the
original training set) is ``validation=10_000``:
``load(name, "train", validation=10_000)`` returns the first 50,000 and
``load(name, "validation", validation=10_000)`` the last 10,000.
"""

from __future__ import annotations

import collections
import hashlib
import os
import pathlib
from typing import Any, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fnn import _download as _dl
from fnn.idx import decode_idx, read_bytes

Array = jax.Array
PathLike = str | os.PathLike

__all__ = ["Source", "DATASETS", "MIRRORS", "DEBIAN_DIRS", "search_dirs", "download", "load", "provenance"]


class Source(NamedTuple):
    """One file of a dataset.

    ``filename``: name of the (gzipped) file, also its name in a mirror and in
    the cache; the same name without ``.gz`` is accepted on disk.
    ``md5``: the publisher's MD5 of the gzipped file, checked after a download.
    ``shape``: the IDX shape the file must have (checked on every load).
    ``urls``: full URLs for this file; when empty, ``mirror + filename`` for each
    mirror is tried.
    ``sha256``: the SHA-256 of the *decompressed* file, checked on every load
    whether the file is found gzipped or raw; ``None`` skips the check (for
    your own files).
    """

    filename: str
    md5: str
    shape: tuple[int, ...]
    urls: tuple[str, ...] = ()
    sha256: str | None = None


_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


def _sources(md5: Sequence[str], sha256: Sequence[str]) -> dict[str, Source]:
    names = (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
    shapes = ((60000, 28, 28), (60000,), (10000, 28, 28), (10000,))
    return {k: Source(f, m, s, (), h) for k, f, m, s, h in zip(_KEYS, names, md5, shapes, sha256)}


#: The files of each dataset: the publisher's MD5 of the ``.gz`` (the ones torchvision
#: checks) and the SHA-256 of the decompressed file. MNIST's SHA-256: those of
#: ``../shared/data/README.md``, recomputed from its files. Fashion-MNIST's: computed from
#: the Debian package's files (``gzip -dc FILE | sha256sum``) and cross-checked: Debian's
#: ``.gz`` keep the publisher's deflate streams under a rewritten header (no file name, a
#: 2020 mtime), and restoring the publisher's header (FNAME, mtime 2017-08-31 10:50:06 UTC
#: for the training files, 10:50:27 UTC for the test files) reproduces the four publisher
#: MD5 below byte for byte (``tests/test_data.py``).
DATASETS: dict[str, dict[str, Source]] = {
    "mnist": _sources(
        (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
        (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ),
    "fashion_mnist": _sources(
        (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
        (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
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
_ENV_MIRRORS = _dl.ENV_MIRRORS


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

    With ``data_dir``: that folder alone (an explicit folder is used or fails,
    never replaced by another). Without: ``$FNN_DATA_DIR/<name>`` (if set), the
    user cache ``~/.cache/fnn/<name>`` (``$XDG_CACHE_HOME`` honoured), then the
    Debian package folder for Fashion-MNIST.
    """
    name = _check_name(name)
    if data_dir is not None:
        return [(pathlib.Path(data_dir).expanduser(), "data_dir=")]
    dirs: list[tuple[pathlib.Path, str]] = []
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


def _check_data_dir(name: str, folder: pathlib.Path, sources: Mapping[str, Source], download: bool) -> None:
    """Raise ``FileNotFoundError`` unless an explicit ``data_dir`` is usable as it is or by a download."""
    found = {k: _find_file(folder, s) for k, s in sources.items()}
    if all(found.values()):
        return
    if _find_all(folder / name, sources) is not None:
        raise FileNotFoundError(
            f"data_dir must be the folder holding the {name} files, got {folder}, which does not hold them "
            f"but {folder / name} does: pass data_dir={str(folder / name)!r} (${_ENV_DIR} names the parent "
            "folder, data_dir the folder of the files)"
        )
    if download:
        return  # the missing files are downloaded into data_dir
    if not folder.is_dir():
        raise FileNotFoundError(
            f"data_dir must be a folder holding the four {name} IDX files, got {_dir_state(folder, sources)}; "
            "pass an existing folder, pass download=True to download into it, or omit data_dir to search "
            f"${_ENV_DIR}, the user cache and the system folders"
        )
    raise FileNotFoundError(
        f"data_dir {_dir_state(folder, sources)}. Add them, or pass download=True to download them into it"
    )


def _dir_state(folder: pathlib.Path, sources: Mapping[str, Source]) -> str:
    """``"<folder>, which does not exist"`` or ``"<folder> holds 3 of the 4 files; missing: ..."``."""
    if not folder.exists():
        return f"{folder}, which does not exist"
    if not folder.is_dir():
        return f"{folder}, which is not a folder"
    found = {k: _find_file(folder, s) for k, s in sources.items()}
    missing = ", ".join(sources[k].filename for k, p in found.items() if p is None)
    n = sum(p is not None for p in found.values())
    return f"{folder} holds {n} of the 4 IDX files; missing: {missing} (gzipped or not)"


def _locate(name, data_dir, sources, download) -> tuple[dict[str, pathlib.Path] | None, list]:
    """The four files' paths (``None``: not found, download them) and the folders searched."""
    # Private: arguments checked by the caller (load / provenance).
    dirs = search_dirs(name, data_dir)
    if data_dir is not None:
        _check_data_dir(name, dirs[0][0], sources, download)
    for folder, _ in dirs:
        paths = _find_all(folder, sources)
        if paths is not None:
            return paths, dirs
    return None, dirs


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
    Files already in ``dest`` that pass the checks of :func:`load` are kept.
    For each missing file the URLs (``source.urls``, else each base URL of
    ``mirrors``, else ``$FNN_DATA_MIRRORS``, else :data:`MIRRORS`) are tried in
    order; the file is streamed to a temporary file in ``dest`` (progress bar if
    tqdm is installed and ``progress``), checked against ``source.md5`` and
    renamed. Stale ``.part`` files of an earlier, killed download of these files
    are removed first.

    Raises ``ValueError`` if a download did not match its MD5 (and no other URL
    gave the right file) or a file in ``dest`` is corrupt, ``FileNotFoundError``
    if no URL could be read.
    """
    return _download(name, dest, mirrors, sources, progress)


def _download(name, dest, mirrors, sources, progress) -> dict[str, pathlib.Path]:
    name = _check_name(name)
    sources = _check_sources(name, sources)
    bases = _dl.base_urls(name, mirrors, MIRRORS[name])
    if dest is None:
        env = os.environ.get(_ENV_DIR)
        dest = pathlib.Path(env).expanduser() / name if env else _user_cache(name)
    dest = pathlib.Path(dest).expanduser()
    return _dl.into_folder(name, dest, bases, sources, progress, _find_file, _read_checked)


# In-process caches: (path, size, mtime) -> SHA-256 of the decompressed content, and
# (path, size, mtime, shape, sha256) -> decoded array (a few of them: they are large).
_HASHES: dict[tuple, str] = {}
_DECODED: collections.OrderedDict[tuple, np.ndarray] = collections.OrderedDict()
_DECODED_MAX = 8


def _file_id(path: pathlib.Path) -> tuple:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _read_checked(path: pathlib.Path, source: Source, key: str) -> np.ndarray:
    """Decode ``path`` and check it against ``source``: structure, shape, labels, SHA-256."""
    file_id = _file_id(path)
    ident = file_id + (tuple(source.shape), source.sha256)
    if ident in _DECODED:
        _DECODED.move_to_end(ident)
        return _DECODED[ident]
    raw = read_bytes(path)
    a = decode_idx(raw, path)
    what = key.replace("_", " ")
    if a.dtype != np.uint8 or a.shape != tuple(source.shape):
        raise ValueError(
            f"{path}: expected {what} as uint8 of shape {tuple(source.shape)}, "
            f"got {a.dtype} of shape {a.shape}"
        )
    if key.endswith("labels") and a.size and int(a.max()) > 9:
        raise ValueError(f"{path}: labels must lie in 0..9, got a maximum of {int(a.max())}")
    digest = _HASHES[file_id] = hashlib.sha256(raw).hexdigest()
    if source.sha256 is not None and digest != source.sha256:
        raise ValueError(
            f"{path}: corrupt {what} file: the SHA-256 of its decompressed content is {digest}, "
            f"expected {source.sha256} (the published file's); its structure is valid, so data bytes "
            "were changed. Replace the file (delete it and load again to download a fresh copy)"
        )
    _DECODED[ident] = a
    while len(_DECODED) > _DECODED_MAX:
        _DECODED.popitem(last=False)
    return a


def _sha256(path: pathlib.Path) -> str:
    file_id = _file_id(path)
    if file_id not in _HASHES:
        _HASHES[file_id] = hashlib.sha256(read_bytes(path)).hexdigest()
    return _HASHES[file_id]


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


def provenance(
    name: str, data_dir: PathLike | None = None, *, sources: Mapping[str, Source] | None = None
) -> dict[str, dict[str, str]]:
    """Where the files :func:`load` reads are, and the SHA-256 of their decompressed content.

    Returns ``{key: {"path": str, "sha256": str}}`` for the keys
    ``"train_images"``, ``"train_labels"``, ``"test_images"``,
    ``"test_labels"``: the files ``load(name, data_dir=data_dir)`` would read
    (same search, no download), ``path`` absolute. A run records it to say which
    data it used. The hash is that of the bytes :func:`load` decodes (after
    gunzip), cached per (path, size, mtime) in this process, so after a
    :func:`load` it costs no second read. It reports, it does not verify:
    :func:`load` compares the hashes with :attr:`Source.sha256`.

    Raises ``FileNotFoundError`` as :func:`load` with ``download=False``.
    """
    name = _check_name(name)
    sources = _check_sources(name, sources)
    paths, dirs = _locate(name, data_dir, sources, download=False)
    if paths is None:
        raise _not_found(name, dirs, sources, None)
    return {k: {"path": str(p.resolve()), "sha256": _sha256(p)} for k, p in paths.items()}


_SPLITS = ("train", "validation", "test")
_UNIT_PIXELS = np.arange(256, dtype=np.float32) / np.float32(255.0)


def _check_split(split: Any, validation: Any, n_train: int) -> None:
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {list(_SPLITS)}, got {split!r}")
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


def _find_or_download(name, data_dir, download, mirrors, sources, progress) -> dict[str, pathlib.Path]:
    # Private: arguments checked by load.
    paths, dirs = _locate(name, data_dir, sources, download)
    if paths is not None:
        return paths
    if not download:
        raise _not_found(name, dirs, sources, None)
    try:
        return _download(name, data_dir, mirrors, sources, progress)
    except FileNotFoundError as err:
        where = "" if data_dir is None else _dir_state(dirs[0][0], sources) + "; "
        attempts = f"Download failed ({where}nothing was loaded from elsewhere): {err}\n"
        raise _not_found(name, dirs, sources, attempts) from err


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
    else the user cache. An explicit ``data_dir`` is the only folder used.
    Every file read is checked (structure, shape, labels, and the SHA-256 of its
    decompressed content against ``Source.sha256``). Decoded files are kept in
    a small in-process cache.

    Raises ``ValueError`` naming the file and what is wrong for a malformed or
    corrupt file (or a download that fails its checksum), and for an unknown
    name or split or a bad ``validation``; ``FileNotFoundError`` when the files
    are neither on disk nor downloadable (listing where it looked and how to
    provide them) or ``data_dir`` lacks some (naming the missing ones).
    """
    name = _check_name(name)
    sources = _check_sources(name, sources)
    n_train = sources["train_images"].shape[0]
    _check_split(split, validation, n_train)
    paths = _find_or_download(name, data_dir, download, mirrors, sources, progress)
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
