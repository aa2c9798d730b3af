"""Robustness of the library (issue 11): each user mistake or fault gets a clear error or a documented result.

One test per case. Data: corrupt files, explicit folders, provenance, stale
downloads. Networks: labels out of range, wrong initializer shapes, integer
parameters, cost/output pairings, batch norm used as if it had none. Schedules,
standardization and the optimizers' masks.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import pathlib
import shutil
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import data, datasets

DEBIAN = pathlib.Path("/usr/share/datasets/fashion-mnist")
NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


# ----------------------------------------------------------------------------
# data: helpers
# ----------------------------------------------------------------------------


def tiny_arrays(fill: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(fill)
    return {
        "train_images": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train_labels": np.full((6,), fill, np.uint8),
        "test_images": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(4) % 10).astype(np.uint8),
    }


def write_tiny(folder: pathlib.Path, fill: int = 0, gz: bool = True, skip: tuple[str, ...] = ()):
    """A tiny MNIST-shaped set; returns ``sources`` with the SHA-256 of each decompressed file."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = {}
    for key, a in tiny_arrays(fill).items():
        name = NAMES[key] if gz else NAMES[key][: -len(".gz")]
        path = data.write_idx(folder / name, a)
        content = data.read_idx(path)  # round trip, then hash the bytes the loader decodes
        assert np.array_equal(content, a)
        raw = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
        md5 = hashlib.md5(path.read_bytes()).hexdigest()
        sources[key] = data.Source(NAMES[key], md5, a.shape, sha256=hashlib.sha256(raw).hexdigest())
        if key in skip:
            path.unlink()
    return sources


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $FNN_DATA_DIR, a user cache inside tmp_path, no Debian folder, no proxies."""
    monkeypatch.delenv("FNN_DATA_DIR", raising=False)
    monkeypatch.delenv("FNN_DATA_MIRRORS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setitem(data.DEBIAN_DIRS, "fashion_mnist", ())
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / "www"`` (files the test writes)."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _flip_data_byte(path: pathlib.Path, offset_from_end: int = 1) -> None:
    raw = bytearray(path.read_bytes())
    raw[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(raw))


# ----------------------------------------------------------------------------
# data: integrity
# ----------------------------------------------------------------------------


def test_raw_file_with_a_flipped_data_byte_is_read_by_read_idx_but_rejected_by_load(isolated):
    folder = isolated / "raw"
    sources = write_tiny(folder, gz=False)
    _flip_data_byte(folder / "t10k-images-idx3-ubyte")
    # read_idx is a format reader: the file is well formed
    assert data.read_idx(folder / "t10k-images-idx3-ubyte").shape == (4, 28, 28)
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: corrupt test images file: the SHA-256"):
        data.load("mnist", "test", data_dir=folder, sources=sources, download=False)


def test_gzipped_file_with_changed_content_is_rejected_by_its_decompressed_sha256(isolated):
    folder = isolated / "gz"
    sources = write_tiny(folder)
    a = tiny_arrays()["train_labels"].copy()
    a[0] = 1  # still valid labels, valid gzip, valid IDX: only the hash can tell
    data.write_idx(folder / NAMES["train_labels"], a)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.gz: corrupt train labels file.*expected " + sources["train_labels"].sha256):
        data.load("mnist", "train", data_dir=folder, sources=sources, download=False)


@pytest.mark.skipif(not (DEBIAN / NAMES["test_labels"]).exists(), reason="dataset-fashion-mnist not installed")
def test_known_fashion_mnist_file_with_a_flipped_byte_is_rejected_in_raw_form(isolated):
    folder = isolated / "fashion"
    folder.mkdir()
    for key in ("train_images", "train_labels", "test_images"):
        os.symlink(DEBIAN / NAMES[key], folder / NAMES[key])
    raw = bytearray(gzip.decompress((DEBIAN / NAMES["test_labels"]).read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # another valid label
    (folder / "t10k-labels-idx1-ubyte").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: corrupt test labels file.*0402a96d"):
        data.load("fashion_mnist", "test", data_dir=folder, download=False)
    # the intact raw file is accepted
    (folder / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress((DEBIAN / NAMES["test_labels"]).read_bytes()))
    _, y = data.load("fashion_mnist", "test", data_dir=folder, download=False)
    assert y.shape == (10000,)


def test_corrupt_file_error_names_the_file_and_what_is_wrong(isolated):
    folder = isolated / "trunc"
    sources = write_tiny(folder)
    path = folder / NAMES["test_images"]
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz: truncated or corrupt gzip stream"):
        data.load("mnist", "test", data_dir=folder, sources=sources, download=False)


def test_user_sources_without_sha256_skip_the_hash_check(isolated):
    folder = isolated / "nohash"
    sources = {k: s._replace(sha256=None) for k, s in write_tiny(folder, gz=False).items()}
    _flip_data_byte(folder / "t10k-images-idx3-ubyte")
    x, _ = data.load("mnist", "test", data_dir=folder, sources=sources, download=False)
    assert x.shape == (4, 784)


# ----------------------------------------------------------------------------
# data: an explicit data_dir is used or fails
# ----------------------------------------------------------------------------


@pytest.fixture
def env_copy(isolated, monkeypatch):
    """A complete set under $FNN_DATA_DIR/mnist (labels 5), which an explicit data_dir must never fall back to."""
    sources = write_tiny(isolated / "env" / "mnist", fill=5)
    monkeypatch.setenv("FNN_DATA_DIR", str(isolated / "env"))
    return sources


def test_data_dir_that_does_not_exist_is_an_error_not_a_fallback(isolated, env_copy):
    with pytest.raises(FileNotFoundError, match=r"data_dir must be a folder .* got .*nowhere, which does not exist"):
        data.load("mnist", data_dir=isolated / "nowhere", sources=env_copy, download=False)
    assert not (isolated / "nowhere").exists()


def test_data_dir_with_three_of_four_files_names_the_missing_one(isolated, env_copy):
    folder = isolated / "partial"
    sources = write_tiny(folder, skip=("test_labels",))
    with pytest.raises(FileNotFoundError, match=r"holds 3 of the 4 IDX files; missing: t10k-labels-idx1-ubyte.gz \(gzipped or not\)"):
        data.load("mnist", data_dir=folder, sources=sources, download=False)


def test_data_dir_with_three_files_and_a_failed_download_does_not_load_from_elsewhere(isolated, env_copy, server):
    root, base = server  # serves nothing: every file is a 404
    folder = isolated / "partial"
    sources = write_tiny(folder, skip=("train_images",))
    with pytest.raises(FileNotFoundError) as err:
        data.load("mnist", data_dir=folder, sources=sources, mirrors=[base], progress=False)
    msg = str(err.value)
    assert "missing: train-images-idx3-ubyte.gz" in msg and "nothing was loaded from elsewhere" in msg
    assert "404" in msg and str(isolated / "env") not in msg


def test_data_dir_that_is_the_parent_of_the_dataset_folder_gets_a_hint(isolated):
    write_tiny(isolated / "parent" / "mnist")
    with pytest.raises(FileNotFoundError, match=r"pass data_dir='.*parent/mnist'"):
        data.load("mnist", data_dir=isolated / "parent", download=True)


# ----------------------------------------------------------------------------
# data: provenance
# ----------------------------------------------------------------------------


def test_provenance_gives_path_and_sha256_of_the_decompressed_content(isolated, monkeypatch):
    folder = isolated / "prov"
    sources = write_tiny(folder)
    data.load("mnist", "test", data_dir=folder, sources=sources, download=False)
    prov = datasets.provenance("mnist", folder, sources=sources)
    assert set(prov) == set(NAMES)
    for key, entry in prov.items():
        assert entry["path"] == str((folder / NAMES[key]).resolve())
        assert entry["sha256"] == hashlib.sha256(gzip.decompress((folder / NAMES[key]).read_bytes())).hexdigest()
        assert entry["sha256"] == sources[key].sha256
    # the second time reads nothing: the hash is cached per (path, size, mtime)
    def no_read(path):
        raise AssertionError(f"read {path}")

    monkeypatch.setattr(datasets, "read_bytes", no_read)
    assert datasets.provenance("mnist", folder, sources=sources) == prov
    # a changed file (new mtime) is hashed again
    monkeypatch.undo()
    a = tiny_arrays()["test_labels"][::-1].copy()
    data.write_idx(folder / NAMES["test_labels"], a)
    new = datasets.provenance("mnist", folder, sources=sources)["test_labels"]["sha256"]
    assert new == hashlib.sha256(gzip.decompress((folder / NAMES["test_labels"]).read_bytes())).hexdigest()
    assert new != prov["test_labels"]["sha256"]


def test_provenance_with_an_explicit_missing_folder_fails_like_load(isolated):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.provenance("mnist", isolated / "absent")


# ----------------------------------------------------------------------------
# data: a killed download's .part file
# ----------------------------------------------------------------------------


def test_stale_part_files_of_a_killed_download_are_removed_by_the_next_download(isolated, server):
    root, base = server
    sources = write_tiny(root)
    dest = isolated / "dl"
    dest.mkdir()
    stale = dest / ".train-images-idx3-ubyte.gz.k1ll3d.part"
    stale.write_bytes(b"half a download")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    live = dest / ".train-labels-idx1-ubyte.gz.l1v3.part"  # written just now: maybe another process's
    live.write_bytes(b"in progress")
    foreign = dest / "notes.part"  # not fnn's naming
    foreign.write_bytes(b"mine")
    os.utime(foreign, (old, old))
    data.download("mnist", dest, mirrors=[base], sources=sources, progress=False)
    assert not stale.exists()
    assert live.exists() and foreign.exists()
    assert sorted(p.name for p in dest.iterdir() if not p.name.startswith(".")) == sorted(
        list(NAMES.values()) + ["notes.part"]
    )
