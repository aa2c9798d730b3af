"""Tests of fnn.checkpoint: exact round trips, atomic writes, clear mismatch errors."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import checkpoint
from fnn.nn import MLP


class TrainState(NamedTuple):
    params: Any
    opt_state: Any
    net_state: Any
    step: jax.Array
    key: jax.Array


class Momentum(NamedTuple):
    velocity: Any
    rate: jax.Array


def _bits(x: Any) -> np.ndarray:
    """The raw bits of a leaf (keys via their key data), for bitwise comparison."""
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    a = np.asarray(x)
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.itemsize in (1, 2, 4, 8) else a


def assert_trees_bitwise_equal(a: Any, b: Any) -> None:
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for (path, x), y in zip(jax.tree_util.tree_flatten_with_path(a)[0], jax.tree_util.tree_leaves(b)):
        where = jax.tree_util.keystr(path)
        assert type(x) is type(y) or (isinstance(x, jax.Array) and isinstance(y, jax.Array)), where
        assert getattr(x, "dtype", None) == getattr(y, "dtype", None), where
        assert np.shape(x) == np.shape(y), where
        np.testing.assert_array_equal(_bits(x), _bits(y), err_msg=where)


def make_state(sizes=(4, 3, 2), seed=0) -> TrainState:
    key = jax.random.key(seed)
    params = MLP(sizes).init(key)
    velocity = jax.tree_util.tree_map(lambda p: 0.1 * jnp.ones_like(p), params)
    return TrainState(
        params=params,
        opt_state=(Momentum(velocity, jnp.float32(0.5)), None, ()),
        net_state=({"mean": jnp.zeros(3, jnp.float32), "count": jnp.int32(0)},),
        step=jnp.int32(17),
        key=jax.random.fold_in(key, 5),
    )


# ----------------------------------------------------------------------------
# round trips
# ----------------------------------------------------------------------------


def test_train_state_round_trip_is_bitwise_exact_without_like(tmp_path):
    state = make_state()
    checkpoint.save(tmp_path / "s.npz", state)
    loaded = checkpoint.load(tmp_path / "s.npz")
    assert type(loaded) is TrainState and type(loaded.opt_state[0]) is Momentum
    assert_trees_bitwise_equal(state, loaded)
    assert jax.dtypes.issubdtype(loaded.key.dtype, jax.dtypes.prng_key)
    # the restored key draws the same numbers
    np.testing.assert_array_equal(jax.random.uniform(loaded.key, (3,)), jax.random.uniform(state.key, (3,)))


def test_special_float32_values_and_integer_extremes_round_trip_bitwise(tmp_path):
    f32 = np.array([0.0, -0.0, np.inf, -np.inf, 1e-45, 3.4028235e38, np.pi], np.float32)
    nan_payload = np.array([0x7FC00001, 0xFFC12345], np.uint32).view(np.float32)  # NaNs with payloads
    tree = {
        "f32": jnp.asarray(np.concatenate([f32, nan_payload])),
        "i32": jnp.array([np.iinfo(np.int32).min, -1, 0, np.iinfo(np.int32).max], jnp.int32),
        "u32": jnp.array([0, 1, 2**32 - 1], jnp.uint32),
        "raw_key": jax.random.PRNGKey(123),  # a uint32 (2,) array
        "keys": jax.random.split(jax.random.key(9), 4),  # typed key array, shape (4,)
        "rbg": jax.random.key(1, impl="rbg"),
        "bf16": jnp.array([1.5, -2.25, 3e38], jnp.bfloat16),
        "bool": jnp.array([True, False]),
    }
    checkpoint.save(tmp_path / "x.npz", tree)
    loaded = checkpoint.load(tmp_path / "x.npz")
    assert_trees_bitwise_equal(tree, loaded)
    assert str(jax.random.key_impl(loaded["rbg"])) == "rbg"
    assert loaded["bf16"].dtype == jnp.bfloat16


def test_python_and_numpy_leaves_keep_their_types(tmp_path):
    tree = [1, 2.5, True, 3 + 1j, np.float32(0.25), np.arange(3, dtype=np.int16), None, {"n": (7,)}]
    checkpoint.save(tmp_path / "p.npz", tree)
    loaded = checkpoint.load(tmp_path / "p.npz")
    assert loaded[:4] == [1, 2.5, True, 3 + 1j]
    assert [type(v) for v in loaded[:4]] == [int, float, bool, complex]
    assert type(loaded[4]) is np.float32 and loaded[4] == np.float32(0.25)
    assert type(loaded[5]) is np.ndarray and loaded[5].dtype == np.int16
    assert loaded[6] is None and loaded[7] == {"n": (7,)}


def test_float64_round_trip_under_x64(tmp_path, x64):
    tree = {"w": jnp.array([1.0 / 3.0, 1e-300], jnp.float64)}
    checkpoint.save(tmp_path / "d.npz", tree)
    loaded = checkpoint.load(tmp_path / "d.npz")
    assert_trees_bitwise_equal(tree, loaded)


def test_float64_leaf_without_x64_is_refused_not_truncated(tmp_path):
    with jax.enable_x64(True):
        checkpoint.save(tmp_path / "d.npz", {"w": jnp.array([1.0 / 3.0], jnp.float64)})
    with pytest.raises(ValueError, match=r"\['w'\] has dtype float64.*jax_enable_x64"):
        checkpoint.load(tmp_path / "d.npz")


def test_load_into_like_returns_its_structure_and_accepts_shape_dtype_structs(tmp_path):
    state = make_state()
    checkpoint.save(tmp_path / "s.npz", state)
    abstract = jax.eval_shape(lambda: make_state(seed=1))
    loaded = checkpoint.load(tmp_path / "s.npz", like=abstract)
    assert_trees_bitwise_equal(state, loaded)
    loaded2 = checkpoint.load(tmp_path / "s.npz", like=make_state(seed=1))
    assert_trees_bitwise_equal(state, loaded2)


def test_namedtuple_of_unknown_class_comes_back_as_a_stand_in(tmp_path):
    Hidden = collections.namedtuple("Hidden", ["a", "b"])
    Hidden.__module__ = "not_an_imported_module"
    checkpoint.save(tmp_path / "h.npz", Hidden(jnp.ones(2), 3))
    loaded = checkpoint.load(tmp_path / "h.npz")
    assert type(loaded).__name__ == "Hidden" and loaded._fields == ("a", "b")
    np.testing.assert_array_equal(loaded.a, np.ones(2, np.float32))
    assert loaded.b == 3


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Custom:
    w: jax.Array
    b: jax.Array


def test_custom_pytree_node_needs_like_to_load(tmp_path):
    tree = (Custom(jnp.ones((2, 2)), jnp.zeros(2)),)
    checkpoint.save(tmp_path / "c.npz", tree)
    with pytest.raises(ValueError, match="test_checkpoint.Custom node at \\[0\\].*pass like="):
        checkpoint.load(tmp_path / "c.npz")
    loaded = checkpoint.load(tmp_path / "c.npz", like=tree)
    assert type(loaded[0]) is Custom
    assert_trees_bitwise_equal(tree, loaded)


def test_file_holds_no_pickles(tmp_path):
    checkpoint.save(tmp_path / "s.npz", make_state())
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:  # would raise on object arrays
        for name in f.files:
            assert f[name].dtype != object


# ----------------------------------------------------------------------------
# atomic writes
# ----------------------------------------------------------------------------


def test_failed_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "s.npz"
    old = make_state(seed=0)
    checkpoint.save(path, old)
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, make_state(seed=1))
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(tmp_path / "new.npz", old)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]
    assert_trees_bitwise_equal(old, checkpoint.load(path))


def test_unsupported_leaf_raises_before_writing(tmp_path):
    with pytest.raises(TypeError, match=r"leaf at \['opt'\]\[1\] must be an array or a number.*str"):
        checkpoint.save(tmp_path / "s.npz", {"opt": (jnp.ones(1), "sgd")})
    with pytest.raises(TypeError, match="numeric dtype, got dtype object"):
        checkpoint.save(tmp_path / "s.npz", [np.array([None])])
    assert list(tmp_path.iterdir()) == []


def test_save_into_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoint.save(tmp_path / "no" / "s.npz", {"a": jnp.ones(1)})


# ----------------------------------------------------------------------------
# mismatches and foreign files
# ----------------------------------------------------------------------------


def test_other_architecture_names_first_mismatching_leaf_and_both_shapes(tmp_path):
    checkpoint.save(tmp_path / "s.npz", make_state(sizes=(4, 3, 2)))
    with pytest.raises(ValueError) as err:
        checkpoint.load(tmp_path / "s.npz", like=make_state(sizes=(4, 5, 2)))
    msg = str(err.value)
    assert ".params[0]['W']: like expects shape (5, 4), the checkpoint holds shape (3, 4)" in msg


def test_other_depth_and_other_keys_and_dtypes_are_named(tmp_path):
    path = tmp_path / "p.npz"
    checkpoint.save(path, MLP((4, 3, 2)).init(jax.random.key(0)))
    with pytest.raises(ValueError, match=r"at <root>: like expects a tuple of 3 entries, the checkpoint holds a tuple of 2"):
        checkpoint.load(path, like=MLP((4, 3, 3, 2)).init(jax.random.key(0)))
    with_norm = tuple(dict(layer, gamma=jnp.ones(layer["b"].shape)) for layer in MLP((4, 3, 2)).init(jax.random.key(0)))
    with pytest.raises(ValueError, match=r"at \[0\]: like expects dict keys \['W', 'b', 'gamma'\].*missing \['gamma'\]"):
        checkpoint.load(path, like=with_norm)
    as_int = jax.tree_util.tree_map(lambda a: a.astype(jnp.int32), MLP((4, 3, 2)).init(jax.random.key(0)))
    with pytest.raises(ValueError, match=r"at \[0\]\['W'\]: like expects dtype int32, the checkpoint holds dtype float32"):
        checkpoint.load(path, like=as_int)
    with pytest.raises(ValueError, match=r"at \[1\]\['b'\]: like expects a PRNG key array"):
        checkpoint.load(path, like=({"W": jnp.ones((3, 4)), "b": jnp.ones(3)}, {"W": jnp.ones((2, 3)), "b": jax.random.key(0)}))


def test_namedtuple_fields_must_match(tmp_path):
    checkpoint.save(tmp_path / "m.npz", Momentum(jnp.ones(2), jnp.float32(1)))
    Other = collections.namedtuple("Other", ["velocity", "beta"])
    with pytest.raises(ValueError, match=r"fields \['velocity', 'beta'\].*fields \['velocity', 'rate'\]"):
        checkpoint.load(tmp_path / "m.npz", like=Other(jnp.ones(2), jnp.float32(1)))


@pytest.mark.parametrize(
    "write, match",
    [
        (lambda p: p.write_bytes(b"hello, not a zip"), "not an fnn checkpoint"),
        (lambda p: np.save(p.open("wb"), np.ones(3)), "plain .npy array"),
        (lambda p: np.savez(p.open("wb"), a=np.ones(3)), "no __fnn_checkpoint__ entry"),
    ],
)
def test_foreign_files_are_rejected(tmp_path, write, match):
    path = tmp_path / "f.npz"
    write(path)
    with pytest.raises(ValueError, match=match):
        checkpoint.load(path)


def test_truncated_checkpoint_is_rejected(tmp_path):
    path = checkpoint.save(tmp_path / "s.npz", make_state())
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match=r"s.npz: (not an fnn checkpoint|corrupt or truncated)"):
        checkpoint.load(path)


def test_missing_checkpoint_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        checkpoint.load(tmp_path / "none.npz")


def test_saved_file_gets_the_usual_permissions_not_the_temporary_files(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        path = checkpoint.save(tmp_path / "state.npz", {"w": np.zeros(3, np.float32)})
    finally:
        os.umask(mask)
    assert (path.stat().st_mode & 0o777) == 0o644
