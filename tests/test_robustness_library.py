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


# ----------------------------------------------------------------------------
# networks and costs: labels and targets
# ----------------------------------------------------------------------------

from fnn import activations, backprop, costs, nn, norm, optim, schedules  # noqa: E402


def _softmax_net():
    net = nn.MLP((4, 5, 3), hidden="tanh", output="softmax")
    params = net.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (6, 4), jnp.float32)
    y = jnp.array([0, 1, 2, 0, 1, 2], jnp.int32)
    return net, params, x, y


BOUNDARIES = {
    "loss": lambda net, p, x, y: backprop.loss(net, "log_likelihood", p, x, y),
    "grad": lambda net, p, x, y: backprop.grad(net, "log_likelihood", p, x, y),
    "value_and_grad": lambda net, p, x, y: backprop.value_and_grad(net, "log_likelihood", p, x, y),
    "value_grad_and_state": lambda net, p, x, y: backprop.value_grad_and_state(net, "log_likelihood", p, (), x, y),
    "value_grad_and_state_autodiff": lambda net, p, x, y: backprop.value_grad_and_state(
        net, "log_likelihood", p, (), x, y, method="autodiff"
    ),
    "autodiff_value_and_grad": lambda net, p, x, y: backprop.autodiff_value_and_grad(net, "log_likelihood", p, x, y),
    "check": lambda net, p, x, y: backprop.check(net, "log_likelihood", p, x, y),
    "per_example_grads": lambda net, p, x, y: backprop.per_example_grads(net, "log_likelihood", p, x, y),
    "cost.value": lambda net, p, x, y: costs.log_likelihood.value(net.logits(p, x), y, "softmax"),
    "cost.delta": lambda net, p, x, y: costs.log_likelihood.delta(net.logits(p, x), y, "softmax"),
}


@pytest.mark.parametrize("where", list(BOUNDARIES))
@pytest.mark.parametrize("bad, index", [(12, 4), (-1, 2)])
def test_label_outside_the_output_range_is_an_error_at_every_public_boundary(where, bad, index):
    net, params, x, y = _softmax_net()
    y = y.at[index].set(bad)
    with pytest.raises(ValueError, match=rf"y must hold class labels in \[0, 3\).*got {bad} at index {index}"):
        BOUNDARIES[where](net, params, x, y)


def test_label_outside_the_range_inside_a_users_jit_gives_nan_not_a_number():
    net, params, x, y = _softmax_net()
    f = jax.jit(lambda p, x, y: backprop.value_and_grad(net, "log_likelihood", p, x, y))
    value, grads = f(params, x, y)
    assert np.isfinite(float(value)) and all(np.isfinite(g).all() for g in jax.tree_util.tree_leaves(grads))
    value, grads = f(params, x, y.at[4].set(12))
    assert np.isnan(float(value))
    assert np.isnan(np.asarray(grads[-1]["W"])).all()  # the bad example's error reaches every output weight


def test_accuracy_rejects_labels_outside_the_output_range():
    with pytest.raises(ValueError, match=r"class labels in \[0, 3\).*got 3 at index 1"):
        costs.accuracy(jnp.eye(3, dtype=jnp.float32), jnp.array([0, 3, 2], jnp.int32))


@pytest.mark.parametrize("cost", ["cross_entropy", "log_likelihood"])
def test_targets_outside_0_1_are_an_error_for_probability_costs(cost):
    output = "sigmoid" if cost == "cross_entropy" else "softmax"
    a = jnp.zeros((3, 2), jnp.float32)
    y = jnp.array([[0.0, 1.0], [1.5, 0.0], [0.0, 1.0]], jnp.float32)
    with pytest.raises(ValueError, match=rf"y must hold targets in \[0, 1\] for the {cost} cost.*got 1.5.*row 1"):
        costs.get(cost).value(a, y, output)


def test_targets_outside_0_1_inside_jit_give_nan():
    a = jnp.zeros((2, 2), jnp.float32)
    f = jax.jit(lambda y: costs.cross_entropy.value(a, y, "sigmoid"))
    assert np.isfinite(float(f(jnp.array([[0.0, 1.0], [1.0, 0.5]], jnp.float32))))
    assert np.isnan(float(f(jnp.array([[0.0, 1.0], [-0.5, 0.5]], jnp.float32))))


def test_quadratic_cost_accepts_targets_outside_0_1():
    a = jnp.zeros((1, 2), jnp.float32)
    value = costs.quadratic.value(a, jnp.array([[3.0, -1.0]], jnp.float32), "linear")
    assert float(value) == pytest.approx(5.0)


@pytest.mark.parametrize("output", ["relu", "linear", "tanh", "step"])
def test_cross_entropy_with_an_output_outside_0_1_is_an_error(output):
    net = nn.MLP((2, 3, 2), output=output)
    params = net.init(jax.random.key(0))
    x = jnp.ones((2, 2), jnp.float32)
    y = jnp.array([[0.0, 1.0], [1.0, 0.0]], jnp.float32)
    with pytest.raises(ValueError, match=rf"output must be 'sigmoid' or 'softmax' for the cross_entropy cost.*got '{output}'"):
        backprop.value_and_grad(net, "cross_entropy", params, x, y)


def test_cross_entropy_accepts_an_output_activation_of_ones_own():
    squash = activations.Activation("squash", lambda a: 0.5 + 0.25 * jnp.tanh(a), lambda a: 0.25 / jnp.cosh(a) ** 2)
    a = jnp.zeros((1, 2), jnp.float32)
    assert float(costs.cross_entropy.value(a, jnp.array([[0.0, 1.0]], jnp.float32), squash)) == pytest.approx(
        -2 * np.log(0.5), rel=1e-6
    )


def test_log_likelihood_output_error_needs_a_softmax_too():
    a = jnp.zeros((1, 2), jnp.float32)
    with pytest.raises(ValueError, match="output must be 'softmax' for the log_likelihood cost"):
        costs.log_likelihood.delta(a, jnp.array([1], jnp.int32), "sigmoid")


# ----------------------------------------------------------------------------
# networks: parameters
# ----------------------------------------------------------------------------


def test_initializer_returning_the_wrong_shape_is_rejected_by_init():
    bad = lambda key, shape, dtype=jnp.float32: jnp.zeros((shape[0],), dtype)  # a vector for a matrix
    with pytest.raises(ValueError, match=r"w_init must return an array of the requested shape \(5, 4\) \(layer 0\), got shape \(5,\)"):
        nn.MLP((4, 5, 3), w_init=bad).init(jax.random.key(0))
    scalar = lambda key, shape, dtype=jnp.float32: jnp.zeros((), dtype)  # would broadcast silently
    with pytest.raises(ValueError, match=r"b_init must return an array of the requested shape \(5,\)"):
        nn.MLP((4, 5, 3), b_init=scalar).init(jax.random.key(0))


def test_integer_parameters_are_rejected_by_apply():
    net = nn.MLP((2, 3, 1))
    params = net.init(jax.random.key(0))
    as_int = jax.tree_util.tree_map(lambda p: p.astype(jnp.int32), params)
    with pytest.raises(TypeError, match=r"params\[0\]\['W'\] must be a floating-point array.*int32"):
        net.apply(as_int, jnp.ones((1, 2), jnp.float32))
    with pytest.raises(TypeError, match="dtype must be a floating-point dtype"):
        net.init(jax.random.key(0), jnp.int32)


@pytest.mark.parametrize("sizes", [(4, 5, 3), (4, 5, 5, 3)])
def test_batch_norm_init_result_used_as_params_says_what_happened(sizes):
    net = nn.MLP(sizes, norm="batch")
    both = net.init(jax.random.key(0))
    x = jnp.ones((4, 4), jnp.float32)
    with pytest.raises(ValueError, match=r"this network has batch norm: init returned \(params, state\); pass both"):
        net.apply(both, x)
    with pytest.raises(ValueError, match=r"this network has batch norm: init returned \(params, state\); pass both"):
        backprop.loss(net, "quadratic", both, x, jnp.zeros((4, 3), jnp.float32))


def test_batch_norm_apply_without_state_says_what_happened():
    net = nn.MLP((4, 5, 3), norm="batch")
    params, _ = net.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"this network has batch norm: init returned \(params, state\); pass both"):
        net.apply(params, jnp.ones((2, 4), jnp.float32))


def test_batch_norm_apply_result_passed_as_output_says_what_happened():
    net = nn.MLP((4, 5, 3), norm="batch", output="softmax")
    params, state = net.init(jax.random.key(0))
    pair = net.apply(params, jnp.ones((2, 4), jnp.float32), state)
    with pytest.raises(ValueError, match=r"output is a pair \(out, state\): the network has batch norm"):
        costs.accuracy(pair, jnp.array([0, 1], jnp.int32))


# ----------------------------------------------------------------------------
# schedules
# ----------------------------------------------------------------------------


ALL_SCHEDULES = {
    "constant": schedules.constant(0.1),
    "linear": schedules.linear(0.1, 0.01, 10),
    "power_law": schedules.power_law(0.1, 5.0),
    "exponential_decay": schedules.exponential_decay(0.1, 5.0, 0.9),
    "cosine_decay": schedules.cosine_decay(0.1, 10),
    "warmup": schedules.warmup(0.1, 5),
    "join": schedules.join([0.1, 0.01], [5]),
}


@pytest.mark.parametrize("name", list(ALL_SCHEDULES))
def test_a_negative_step_is_an_error_and_a_traced_one_reads_as_step_0(name):
    eta = ALL_SCHEDULES[name]
    with pytest.raises(ValueError, match="step must be a count of updates >= 0, got -3"):
        eta(-3)
    assert float(jax.jit(eta)(jnp.int32(-3))) == float(eta(0))


@pytest.mark.parametrize("bad, match", [(lambda t: 1.0 - t.astype(jnp.float32) / 8, r"got -0.125 at step 9"), (lambda t: jnp.where(t == 7, jnp.nan, 0.1), "got nan at step 7")])
def test_check_names_the_first_step_of_a_users_schedule_with_a_bad_rate(bad, match):
    with pytest.raises(ValueError, match="schedule must return finite rates >= 0, " + match):
        schedules.check(bad, 20)
    assert schedules.check(schedules.linear(0.1, 0.0, 10), 20) is not None


def test_scale_rejects_a_schedule_with_a_bad_rate_where_it_is_concrete():
    params = {"W": jnp.ones((2, 2), jnp.float32)}
    with pytest.raises(ValueError, match=r"rate schedule must return a finite rate >= 0 .*got -0.1 at step 0"):
        optim.sgd(lambda t: -0.1).init(params)
    opt = optim.sgd(lambda t: jnp.where(t >= 1, -0.1, 0.1))
    state = opt.init(params)
    with pytest.raises(ValueError, match=r"at step 1"):  # eager update: the next rate is known and bad
        opt.update(params, state, params)


def test_a_nan_rate_inside_jit_makes_the_update_nan():
    params = {"W": jnp.ones((2, 2), jnp.float32)}
    opt = optim.sgd(lambda t: jnp.where(t >= 1, jnp.nan, 0.1))
    state = opt.init(params)
    step = jax.jit(opt.update)
    u, state = step(params, state, params)
    assert np.isfinite(np.asarray(u["W"])).all()
    u, state = step(params, state, params)
    assert np.isnan(np.asarray(u["W"])).all()


# ----------------------------------------------------------------------------
# standardization and weight decay
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_standardize_fit_rejects_a_non_finite_feature_naming_the_first_bad_row(value):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    x[2, 1] = value
    x[3, 0] = value
    with pytest.raises(ValueError, match=rf"x must be finite: row 2 holds {value} in feature 1 \(2 rows"):
        norm.standardize.fit(x)


def test_standardize_fit_inside_jit_gives_nan_statistics_not_a_unit_std():
    x = jnp.asarray(np.arange(12, dtype=np.float32).reshape(4, 3)).at[2, 1].set(jnp.nan)
    stats = jax.jit(norm.standardize.fit)(x)
    assert np.isnan(float(stats.std[1])) and np.isnan(float(stats.mean[1]))
    assert np.isfinite(np.asarray(stats.std)[[0, 2]]).all()


def test_adamw_default_mask_decays_every_matrix_whatever_its_key():
    params = {"kernel": jnp.ones((2, 3), jnp.float32), "bias": jnp.ones((3,), jnp.float32)}
    opt = optim.add_decayed_weights(0.5)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    updates, _ = opt.update(zeros, opt.init(params), params)
    np.testing.assert_array_equal(np.asarray(updates["kernel"]), 0.5)
    np.testing.assert_array_equal(np.asarray(updates["bias"]), 0.0)
    # adamw on the same tree: the kernel shrinks beyond Adam's step, the bias does not
    adamw, adam = optim.adamw(0.1, weight_decay=0.5), optim.adam(0.1)
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    uw, _ = adamw.update(grads, adamw.init(params), params)
    ua, _ = adam.update(grads, adam.init(params), params)
    np.testing.assert_allclose(np.asarray(uw["kernel"] - ua["kernel"]), -0.1 * 0.5, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(uw["bias"]), np.asarray(ua["bias"]))


def test_shared_data_checker_gives_trainings_messages_with_the_set_named():
    from fnn._validate import check_data

    x, y = np.ones((4, 3), np.float32), np.array([0, 1, 1, 0])
    assert check_data(x, y, 3, 2, "train")[0] is not None
    with pytest.raises(ValueError, match=r"train x must have shape \(n, 3\) .* got shape \(4, 2\)"):
        check_data(x[:, :2], y, 3, 2, "train")
    with pytest.raises(ValueError, match=r"validation x must hold finite numbers, got nan in row 2 \(1 of 4 rows"):
        check_data(np.where(np.arange(4)[:, None] == 2, np.nan, x), y, 3, 2, "validation")
    with pytest.raises(ValueError, match=r"y must hold class labels in \[0, 1\] .* got labels in \[0, 2\]"):
        check_data(x, np.array([0, 1, 2, 0]), 3, 2)
    with pytest.raises(ValueError, match=r"y must be integer labels of shape \(4,\) or targets of shape \(4, 2\)"):
        check_data(x, np.ones((4, 3), np.float32), 3, 2)
    with pytest.raises(ValueError, match=r"data must hold at least one example"):
        check_data(x[:0], y[:0], 3, 2)


def test_resuming_with_another_optimizer_names_both_kinds_alike_for_fit_and_a_population():
    from fnn import nn, optim, train

    net = nn.MLP((4, 8, 3), output="softmax")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    y = np.arange(64) % 3
    sgd, adam = optim.sgd(0.1, momentum=0.9), optim.adam(1e-3)
    want = r"the state holds TraceState \+ ScaleState, the given optimizer makes AdamState \+ ScaleState"
    state, _ = train.fit(net, "log_likelihood", sgd, (x, y), 1, 16, key=jax.random.key(0), progress=False)
    with pytest.raises(ValueError, match=want):
        train.fit(net, "log_likelihood", adam, (x, y), 1, 16, state=state, progress=False)
    keys = jnp.stack([jax.random.key(i) for i in range(2)])
    states, _ = train.fit_population(net, "log_likelihood", sgd, (x, y), 1, 16, keys, progress=False)
    with pytest.raises(ValueError, match=want):
        train.fit_population(net, "log_likelihood", adam, (x, y), 1, 16, states=states, progress=False)
