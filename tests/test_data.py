"""Tests of fnn.data: IDX files, dataset lookup and download, synthetic sets, batching."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import pathlib
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import data

DEBIAN = pathlib.Path("/usr/share/datasets/fashion-mnist")
NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------


def _md5(path: pathlib.Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_tiny(folder: pathlib.Path, n_train: int = 6, n_test: int = 4, fill: int = 0, gz: bool = True):
    """Write a tiny MNIST-shaped dataset; return the ``sources`` that describe it.

    Train labels are ``fill`` for every example, so tests can tell folders apart.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(fill)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": np.full((n_train,), fill, np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    sources = {}
    for key, a in arrays.items():
        name = NAMES[key] if gz else NAMES[key][: -len(".gz")]
        path = data.write_idx(folder / name, a)
        sources[key] = data.Source(NAMES[key], _md5(path), a.shape)
    return sources, arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $FNN_DATA_DIR, a user cache inside tmp_path, no Debian folder."""
    monkeypatch.delenv("FNN_DATA_DIR", raising=False)
    monkeypatch.delenv("FNN_DATA_MIRRORS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setitem(data.DEBIAN_DIRS, "fashion_mnist", ())
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 (free port) serving ``tmp_path / "www"``."""
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}/", requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _leftovers(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ----------------------------------------------------------------------------
# IDX files
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_write_then_read_returns_the_same_array(tmp_path, dtype, suffix):
    a = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5) * np.array(3, dtype)
    path = data.write_idx(tmp_path / f"a.idx{suffix}", a)
    b = data.read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == (2, 3, 5)
    np.testing.assert_array_equal(b, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")


def test_idx_header_is_big_endian_per_lecun_format(tmp_path):
    path = data.write_idx(tmp_path / "l.idx", np.array([1, 2, 258], np.int32))
    raw = path.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0C, 1])
    assert raw[4:8] == (3).to_bytes(4, "big")
    assert raw[-4:] == (258).to_bytes(4, "big")


def test_idx_truncated_data_is_an_error_naming_the_sizes(tmp_path):
    path = data.write_idx(tmp_path / "a.idx", np.zeros((10, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"truncated IDX file.*\(10, 28, 28\).*7840.*7740"):
        data.read_idx(path)


def test_idx_truncated_gzip_is_an_error(tmp_path):
    path = data.write_idx(tmp_path / "a.idx.gz", np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="truncated or corrupt gzip"):
        data.read_idx(path)


def test_idx_truncated_header_is_an_error(tmp_path):
    path = tmp_path / "h.idx"
    path.write_bytes(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big"))
    with pytest.raises(ValueError, match="truncated IDX header"):
        data.read_idx(path)


@pytest.mark.parametrize(
    "payload, match",
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not an IDX file.*0x89504E47"),
        (gzip.compress(b"<html>Not Found</html>"), "not an IDX file"),
        (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 0]), "unknown IDX dtype code 0x07"),
        (b"\x00\x00", "4-byte magic number"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3]), "1 trailing bytes"),
    ],
)
def test_idx_foreign_file_is_an_error(tmp_path, payload, match):
    path = tmp_path / "foreign"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=match):
        data.read_idx(path)


def test_idx_writer_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="IDX dtype.*uint16"):
        data.write_idx(tmp_path / "x.idx", np.zeros(3, np.uint16))


# ----------------------------------------------------------------------------
# lookup on disk
# ----------------------------------------------------------------------------


def test_load_reads_tiny_files_as_unit_float32_and_int32(isolated):
    sources, arrays = write_tiny(isolated / "d", fill=3)
    x, y = data.load("mnist", "train", data_dir=isolated / "d", sources=sources, download=False)
    assert isinstance(x, jax.Array) and x.dtype == jnp.float32 and x.shape == (6, 784)
    assert y.dtype == jnp.int32 and y.shape == (6,)
    np.testing.assert_array_equal(np.asarray(x), arrays["train_images"].reshape(6, 784) / np.float32(255))
    xt, yt = data.load("mnist", "test", data_dir=isolated / "d", sources=sources, download=False)
    assert xt.shape == (4, 784)
    np.testing.assert_array_equal(np.asarray(yt), [0, 1, 2, 3])


def test_load_accepts_uncompressed_files(isolated):
    sources, arrays = write_tiny(isolated / "raw", gz=False)
    x, _ = data.load("fashion_mnist", "test", data_dir=isolated / "raw", sources=sources, download=False)
    np.testing.assert_array_equal(np.asarray(x), arrays["test_images"].reshape(4, 784) / np.float32(255))


def test_lookup_order_is_data_dir_then_env_then_cache_then_debian(isolated, monkeypatch):
    # Four complete folders whose training labels say which folder they are.
    explicit, _ = write_tiny(isolated / "explicit", fill=1)
    write_tiny(isolated / "env" / "fashion_mnist", fill=2)
    write_tiny(isolated / "xdg" / "fnn" / "fashion_mnist", fill=3)
    write_tiny(isolated / "debian", fill=4)
    monkeypatch.setenv("FNN_DATA_DIR", str(isolated / "env"))
    monkeypatch.setitem(data.DEBIAN_DIRS, "fashion_mnist", (str(isolated / "debian"),))
    # Same shapes in every folder; the md5 is irrelevant for files found on disk.
    kw = dict(sources=explicit, download=False)

    def origin(**extra):
        return int(data.load("fashion_mnist", "train", **kw, **extra)[1][0])

    assert origin(data_dir=isolated / "explicit") == 1
    assert origin() == 2
    monkeypatch.delenv("FNN_DATA_DIR")
    assert origin() == 3
    for f in (isolated / "xdg" / "fnn" / "fashion_mnist").iterdir():
        f.unlink()
    assert origin() == 4
    # an explicit folder without the files is an error, never replaced by the next place
    (isolated / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds 0 of the 4 IDX files"):
        origin(data_dir=isolated / "empty")


def test_search_dirs_lists_debian_folder_only_for_fashion_mnist(monkeypatch, tmp_path):
    monkeypatch.delenv("FNN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fashion = [str(d) for d, _ in data.search_dirs("fashion_mnist")]
    assert fashion == [str(tmp_path / "fnn" / "fashion_mnist"), "/usr/share/datasets/fashion-mnist"]
    assert [str(d) for d, _ in data.search_dirs("mnist")] == [str(tmp_path / "fnn" / "mnist")]
    # an explicit data_dir is the only folder searched
    assert [str(d) for d, _ in data.search_dirs("fashion_mnist", data_dir="/x")] == ["/x"]


def test_missing_files_without_download_raise_file_not_found_listing_places(isolated):
    with pytest.raises(FileNotFoundError) as err:
        data.load("fashion_mnist", download=False)
    msg = str(err.value)
    assert str(isolated / "xdg" / "fnn" / "fashion_mnist") in msg
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert "FNN_DATA_DIR" in msg and "apt-get install dataset-fashion-mnist" in msg


def test_no_network_raises_file_not_found_with_attempts_and_leaves_nothing(isolated, server):
    root, base, requests = server  # serves an empty folder: every file is a 404
    dest = isolated / "dl" / "mnist"
    with pytest.raises(FileNotFoundError) as err:
        data.load("mnist", data_dir=dest, mirrors=[base], progress=False)
    msg = str(err.value)
    assert "Download failed" in msg and base + "train-images-idx3-ubyte.gz" in msg
    assert "404" in msg
    assert not (isolated / "dl").exists()


def test_file_with_wrong_count_on_disk_is_rejected_by_structure(isolated):
    sources, _ = write_tiny(isolated / "d", n_train=5)
    expected = dict(sources, train_images=sources["train_images"]._replace(shape=(6, 28, 28)))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz: expected train images as uint8 of shape \(6, 28, 28\), got uint8 of shape \(5, 28, 28\)"):
        data.load("mnist", data_dir=isolated / "d", sources=expected, download=False)


def test_labels_outside_0_to_9_are_rejected(isolated):
    sources, _ = write_tiny(isolated / "d", fill=12)
    with pytest.raises(ValueError, match="labels must lie in 0..9, got a maximum of 12"):
        data.load("mnist", data_dir=isolated / "d", sources=sources, download=False)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(name="cifar10"), ValueError, r"name must be one of \['fashion_mnist', 'mnist'\], got 'cifar10'"),
        (dict(split="dev"), ValueError, "split must be one of.*got 'dev'"),
        (dict(split="validation"), ValueError, "needs validation > 0"),
        (dict(validation=60000), ValueError, r"validation must be an int in \[0, 60000\).*got 60000"),
        (dict(validation=-1), ValueError, "got -1"),
        (dict(validation=0.5), TypeError, "validation must be an int"),
    ],
)
def test_load_rejects_bad_arguments(kwargs, error, match):
    kwargs = {"name": "mnist", **kwargs}
    with pytest.raises(error, match=match):
        data.load(**kwargs, download=False)


def test_nielsen_split_partitions_the_training_set(isolated):
    sources, arrays = write_tiny(isolated / "d", n_train=10)
    kw = dict(data_dir=isolated / "d", sources=sources, download=False, validation=3)
    xt, _ = data.load("mnist", "train", **kw)
    xv, _ = data.load("mnist", "validation", **kw)
    assert xt.shape == (7, 784) and xv.shape == (3, 784)
    both = np.concatenate([np.asarray(xt), np.asarray(xv)])
    np.testing.assert_array_equal(both, arrays["train_images"].reshape(10, 784) / np.float32(255))


# ----------------------------------------------------------------------------
# download against a local server
# ----------------------------------------------------------------------------


def test_download_from_local_server_checks_md5_and_fills_the_cache(isolated, server):
    root, base, requests = server
    sources, arrays = write_tiny(root, fill=7)
    x, y = data.load("mnist", "train", mirrors=[base], sources=sources, progress=False)
    np.testing.assert_array_equal(np.asarray(y), np.full(6, 7))
    cache = isolated / "xdg" / "fnn" / "mnist"
    assert _leftovers(cache) == sorted(NAMES.values())  # no temporary files left
    for key, name in NAMES.items():
        assert (cache / name).read_bytes() == (root / name).read_bytes()
    # A second load reads the cache and asks the server for nothing.
    n = len(requests)
    data.load("mnist", "test", mirrors=[base], sources=sources, progress=False)
    assert len(requests) == n == 4


def test_download_goes_to_data_dir_and_falls_back_to_the_next_mirror(isolated, server):
    root, base, requests = server
    (root / "good").mkdir()
    sources, _ = write_tiny(root / "good")
    dest = isolated / "mine"
    data.load("fashion_mnist", data_dir=dest, mirrors=[base + "missing/", base + "good/"], sources=sources, progress=False)
    assert _leftovers(dest) == sorted(NAMES.values())
    assert requests[:2] == ["/missing/train-images-idx3-ubyte.gz", "/good/train-images-idx3-ubyte.gz"]


def test_mirrors_come_from_environment_variable_with_name_placeholder(isolated, server, monkeypatch):
    root, base, requests = server
    sources, _ = write_tiny(root / "fashion_mnist")
    monkeypatch.setenv("FNN_DATA_MIRRORS", f"{base}nothing/, {base}{{name}}/")
    data.download("fashion_mnist", isolated / "env", sources=sources, progress=False)
    assert _leftovers(isolated / "env") == sorted(NAMES.values())
    assert "/fashion_mnist/t10k-labels-idx1-ubyte.gz" in requests


def test_corrupt_download_raises_and_leaves_no_file_in_the_cache(isolated, server):
    root, base, requests = server
    sources, _ = write_tiny(root)
    # Corrupt one file on the server after its checksum was recorded.
    bad = root / NAMES["train_labels"]
    raw = bytearray(bad.read_bytes())
    raw[-1] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"checksum mismatch for train-labels-idx1-ubyte.gz.*expected md5 " + sources["train_labels"].md5):
        data.load("mnist", mirrors=[base], sources=sources, progress=False)
    cache = isolated / "xdg" / "fnn" / "mnist"
    assert NAMES["train_labels"] not in _leftovers(cache)
    assert not any(name.endswith(".part") for name in _leftovers(cache))
    # the files that passed their check stay; the bad one never arrived
    assert _leftovers(cache) == [NAMES["train_images"]]


def test_progress_bar_does_not_break_the_download(isolated, server, capsys):
    pytest.importorskip("tqdm")
    root, base, _ = server
    sources, _ = write_tiny(root)
    data.download("mnist", isolated / "p", mirrors=[base], sources=sources, progress=True)
    assert _leftovers(isolated / "p") == sorted(NAMES.values())


def test_sources_must_name_the_four_files():
    with pytest.raises(ValueError, match="sources must be a mapping with keys"):
        data.load("mnist", sources={"train_images": None}, download=False)


# ----------------------------------------------------------------------------
# the real Fashion-MNIST from Debian's dataset-fashion-mnist
# ----------------------------------------------------------------------------


@pytest.mark.skipif(not (DEBIAN / NAMES["train_images"]).exists(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_debian_package(monkeypatch, tmp_path):
    monkeypatch.delenv("FNN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    x, y = data.load("fashion_mnist", "train", download=False)
    assert x.shape == (60000, 784) and x.dtype == jnp.float32
    assert y.shape == (60000,) and y.dtype == jnp.int32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    np.testing.assert_array_equal(np.bincount(np.asarray(y)), np.full(10, 6000))
    xt, yt = data.load("fashion_mnist", "test", download=False)
    assert xt.shape == (10000, 784)
    np.testing.assert_array_equal(np.bincount(np.asarray(yt)), np.full(10, 1000))
    # Debian recompressed the archives: bytes differ from the publisher's, content does not matter
    assert _md5(DEBIAN / NAMES["train_images"]) != data.DATASETS["fashion_mnist"]["train_images"].md5
    xv, yv = data.load("fashion_mnist", "validation", validation=10_000, download=False)
    assert xv.shape == (10000, 784)
    np.testing.assert_array_equal(np.asarray(xv), np.asarray(x[50000:]))


# Publisher's gzip header of each Fashion-MNIST file (mtime, seconds since 1970, UTC): found by
# rebuilding the header that Debian's packaging rewrote (it dropped FNAME and set a 2020 mtime).
_PUBLISHER_MTIME = {
    "train_images": 1504176606, "train_labels": 1504176606,  # 2017-08-31 10:50:06 UTC
    "test_images": 1504176627, "test_labels": 1504176627,  # 2017-08-31 10:50:27 UTC
}


@pytest.mark.skipif(not (DEBIAN / NAMES["train_labels"]).exists(), reason="dataset-fashion-mnist not installed")
@pytest.mark.parametrize("key", list(NAMES))
def test_debian_fashion_mnist_is_the_publishers_archive_with_a_rewritten_header(key):
    # Cross-check of the SHA-256 table: Debian's .gz hold the publisher's deflate stream; putting
    # back the publisher's header (FNAME, mtime) reproduces the publisher's MD5, so the content
    # whose SHA-256 fnn checks is the publisher's.
    raw = (DEBIAN / NAMES[key]).read_bytes()
    assert raw[:4] == b"\x1f\x8b\x08\x00"  # deflate, no flags: Debian's header has no file name
    fname = NAMES[key][: -len(".gz")].encode() + b"\0"
    header = b"\x1f\x8b\x08\x08" + _PUBLISHER_MTIME[key].to_bytes(4, "little") + raw[8:10] + fname
    publisher = header + raw[10:]
    assert hashlib.md5(publisher).hexdigest() == data.DATASETS["fashion_mnist"][key].md5
    content = gzip.decompress(publisher)
    assert content == gzip.decompress(raw)
    assert hashlib.sha256(content).hexdigest() == data.DATASETS["fashion_mnist"][key].sha256


MNIST_SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


@pytest.mark.skipif(not (MNIST_SHARED / NAMES["train_labels"]).exists(), reason="../shared/data/mnist absent")
def test_mnist_sha256_table_matches_the_shared_copy():
    for key, name in NAMES.items():
        content = gzip.decompress((MNIST_SHARED / name).read_bytes())
        assert hashlib.sha256(content).hexdigest() == data.DATASETS["mnist"][key].sha256, key
    counts = np.bincount(data.read_idx(MNIST_SHARED / NAMES["train_labels"]))
    np.testing.assert_array_equal(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])


# ----------------------------------------------------------------------------
# synthetic sets
# ----------------------------------------------------------------------------


def test_linearly_separable_has_at_least_the_requested_margin():
    key = jax.random.key(3)
    x, y = data.linearly_separable(key, 500, dim=3, margin=0.2)
    assert x.shape == (500, 3) and x.dtype == jnp.float32 and y.dtype == jnp.int32
    w = jax.random.normal(jax.random.split(key)[0], (3,), jnp.float32)
    w = w / jnp.linalg.norm(w)
    d = np.asarray(x @ w)
    np.testing.assert_array_equal(np.asarray(y), (d >= 0).astype(np.int32))
    assert np.min(np.abs(d)) >= 0.2 - 1e-6
    assert np.min(np.abs(d)) < 0.25  # and the margin is close to the one asked for
    assert 0 < int(y.sum()) < 500


def test_xor_truth_table():
    x, y = data.xor(jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(x), [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(np.asarray(y), [0, 1, 1, 0])
    xn, yn = data.xor(jax.random.key(0), n=400, noise=0.1)
    assert xn.shape == (400, 2) and yn.shape == (400,)
    corners = np.asarray(x)[np.arange(400) % 4]
    err = np.asarray(xn) - corners
    assert 0.08 < err.std() < 0.12


def test_blobs_are_balanced_and_centered():
    centers = jnp.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], jnp.float32)
    x, y = data.blobs(jax.random.key(1), 300, centers=centers, std=0.5)
    assert x.shape == (300, 2) and y.dtype == jnp.int32
    np.testing.assert_array_equal(np.bincount(np.asarray(y)), [100, 100, 100])
    for k in range(3):
        mean = np.asarray(x)[np.asarray(y) == k].mean(axis=0)
        np.testing.assert_allclose(mean, np.asarray(centers[k]), atol=0.2)
    xr, yr = data.blobs(jax.random.key(1), 10, centers=4, dim=5)
    assert xr.shape == (10, 5) and int(yr.max()) <= 3


@pytest.mark.parametrize("target", ["sine", "bump", "step"])
@pytest.mark.parametrize("dim", [1, 2])
def test_regression_targets_match_their_formulas(target, dim):
    x, y = data.regression(jax.random.key(2), 200, target=target, dim=dim)
    assert x.shape == (200, dim) and y.shape == (200, 1) and y.dtype == jnp.float32
    xn = np.asarray(x)
    assert xn.min() >= -1 and xn.max() <= 1
    expected = {
        "sine": np.prod(np.sin(np.pi * xn), axis=1),
        "bump": np.all(np.abs(xn) < 0.5, axis=1).astype(np.float32),
        "step": (xn[:, 0] >= 0).astype(np.float32),
    }[target]
    np.testing.assert_allclose(np.asarray(y)[:, 0], expected, atol=1e-6)


def test_regression_noise_has_requested_std():
    x, y = data.regression(jax.random.key(5), 4000, "sine", noise=0.3)
    resid = np.asarray(y)[:, 0] - np.sin(np.pi * np.asarray(x)[:, 0])
    assert abs(resid.std() - 0.3) < 0.02


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: data.xor(0), TypeError, "key must be a jax.random key"),
        (lambda: data.linearly_separable(jax.random.key(0), 0), ValueError, "n must be an int >= 1, got 0"),
        (lambda: data.linearly_separable(jax.random.key(0), 5, margin=-1.0), ValueError, "margin must be a finite number >= 0, got -1.0"),
        (lambda: data.regression(jax.random.key(0), 5, "cosine"), ValueError, "target must be one of"),
        (lambda: data.blobs(jax.random.key(0), 5, centers=jnp.zeros(3)), ValueError, r"centers must be .* got shape \(3,\)"),
    ],
)
def test_synthetic_sets_validate_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------
# batching
# ----------------------------------------------------------------------------


def test_batches_shape_and_a_shuffled_epoch_is_a_permutation():
    n = 103
    x = jnp.arange(n, dtype=jnp.float32)[:, None] * jnp.ones((1, 3), jnp.float32)
    y = jnp.arange(n, dtype=jnp.int32)
    xb, yb = data.batches(x, y, 10, jax.random.key(0))
    assert xb.shape == (10, 10, 3) and yb.shape == (10, 10)
    seen = np.asarray(yb).ravel()
    assert len(set(seen.tolist())) == 100 and set(seen.tolist()) <= set(range(n))
    assert not np.array_equal(seen, np.arange(100))  # it was shuffled
    np.testing.assert_array_equal(np.asarray(xb)[..., 0], np.asarray(yb).astype(np.float32))  # rows stay paired
    xf, yf = data.batches(x, y, 10, jax.random.key(0), drop_remainder=False)
    assert yf.shape == (11, 10)
    np.testing.assert_array_equal(np.sort(np.asarray(yf).ravel()[:n]), np.arange(n))  # every example once ...
    np.testing.assert_array_equal(np.asarray(yf).ravel()[n:], np.asarray(yf).ravel()[:7])  # ... then wrap around


def test_batches_same_key_same_order_other_key_other_order_no_key_in_order():
    x = jnp.zeros((12, 2), jnp.float32)
    y = jnp.arange(12, dtype=jnp.int32)
    a = data.batches(x, y, 4, jax.random.key(1))[1]
    b = data.batches(x, y, 4, jax.random.key(1))[1]
    c = data.batches(x, y, 4, jax.random.key(2))[1]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    np.testing.assert_array_equal(np.asarray(data.batches(x, y, 4)[1]), np.arange(12).reshape(3, 4))


def test_batches_place_numpy_input_on_the_device_and_work_under_jit():
    x = np.ones((8, 2), np.float32)
    y = np.arange(8, dtype=np.int32)
    xb, yb = data.batches(x, y, 4, jax.random.key(0))
    assert isinstance(xb, jax.Array) and isinstance(yb, jax.Array)
    jitted = jax.jit(data.batches, static_argnames=("batch_size", "drop_remainder"))
    _, yj = jitted(jnp.asarray(x), jnp.asarray(y), batch_size=4, key=jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(yj), np.asarray(yb))


def test_shuffle_is_a_paired_permutation():
    x = jnp.arange(20, dtype=jnp.float32)
    y = jnp.arange(20, dtype=jnp.int32)
    xs, ys = data.shuffle(jax.random.key(4), x, y)
    np.testing.assert_array_equal(np.sort(np.asarray(ys)), np.arange(20))
    np.testing.assert_array_equal(np.asarray(xs), np.asarray(ys).astype(np.float32))
    assert data.num_batches(20, 6) == 3 and data.num_batches(20, 6, drop_remainder=False) == 4


@pytest.mark.parametrize("batch_size, error, match", [
    (0, ValueError, r"batch_size must be an int in \[1, 10\].*got 0"),
    (-3, ValueError, "got -3"),
    (11, ValueError, r"batch_size must be an int in \[1, 10\] \(the number of examples\), got 11"),
    (2.0, TypeError, "batch_size must be an int"),
    (True, TypeError, "batch_size must be an int"),
])
def test_batches_reject_bad_batch_size(batch_size, error, match):
    with pytest.raises(error, match=match):
        data.batches(jnp.zeros((10, 2), jnp.float32), jnp.zeros(10, jnp.int32), batch_size, jax.random.key(0))


def test_batches_reject_mismatched_example_counts():
    with pytest.raises(ValueError, match=r"same number of examples, got 10 .* and 9"):
        data.batches(jnp.zeros((10, 2), jnp.float32), jnp.zeros(9, jnp.int32), 2)


def test_batch_indices_are_the_order_of_batches():
    x = jnp.arange(23 * 2, dtype=jnp.float32).reshape(23, 2)
    y = jnp.arange(23, dtype=jnp.int32)
    key = jax.random.key(5)
    for drop in (True, False):
        index = data.batch_indices(23, 5, key, drop_remainder=drop)
        xb, yb = data.batches(x, y, 5, key, drop_remainder=drop)
        assert index.shape == (4, 5) if drop else index.shape == (5, 5)
        np.testing.assert_array_equal(yb, index)
        np.testing.assert_array_equal(xb, x[index])
    with pytest.raises(ValueError, match="batch_size"):
        data.batch_indices(3, 4)
