"""Robustness of fnn.checkpoint and fnn._io (issue 11): damaged files named by leaf, old files
still load, stale temporaries cleaned, and saves killed at random points lose nothing."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import _io, checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _state(seed: int = 0) -> dict:
    k = jax.random.key(seed)
    return {"W": jax.random.normal(k, (3, 4)), "b": jnp.arange(3, dtype=jnp.int32), "key": jax.random.key(seed)}


def _rewrite(path, edit) -> None:
    """Rewrite the archive with ``edit(meta, arrays)`` applied (a valid zip: only fnn's checks can tell)."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {name: f[name] for name in f.files}
    meta = json.loads(str(arrays["__fnn_checkpoint__"][()]))
    edit(meta, arrays)
    arrays["__fnn_checkpoint__"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _leaf_index(meta: dict, key: str) -> int:
    return meta["tree"]["c"][meta["tree"]["k"].index(key)]["i"]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda a: a.reshape(4, 3), r"leaf at \['W'\]: the metadata says shape \(3, 4\) and dtype float32, the stored array has shape \(4, 3\)"),
        (lambda a: a.astype(np.float64), r"leaf at \['W'\]: the metadata says shape \(3, 4\) and dtype float32, .*dtype float64"),
        (lambda a: np.where(np.arange(12).reshape(3, 4) == 5, a + 1, a).astype(np.float32), r"leaf at \['W'\]: its bytes do not match the SHA-256"),
    ],
    ids=["shape", "dtype", "bytes"],
)
def test_stored_leaf_that_differs_from_its_metadata_is_named(tmp_path, change, match):
    path = checkpoint.save(tmp_path / "s.npz", _state())

    def edit(meta, arrays):
        i = _leaf_index(meta, "W")
        arrays[f"leaf_{i}"] = change(arrays[f"leaf_{i}"])

    _rewrite(path, edit)
    with pytest.raises(ValueError, match=match):
        checkpoint.load(path)
    with pytest.raises(ValueError, match=match):  # with like= as well: checked before like
        checkpoint.load(path, like=_state(1))


def test_key_data_of_the_wrong_shape_is_named(tmp_path):
    path = checkpoint.save(tmp_path / "s.npz", _state())

    def edit(meta, arrays):
        i = _leaf_index(meta, "key")
        arrays[f"leaf_{i}"] = np.zeros((2, 2), np.uint32)

    _rewrite(path, edit)
    with pytest.raises(ValueError, match=r"leaf at \['key'\]: the metadata says a key array of shape \(\)"):
        checkpoint.load(path)


def test_version_1_checkpoint_without_checksums_still_loads(tmp_path):
    state = _state()
    path = checkpoint.save(tmp_path / "s.npz", state)

    def to_v1(meta, arrays):
        meta["version"] = 1
        for node in meta["tree"]["c"]:
            del node["sha256"]

    _rewrite(path, to_v1)
    with pytest.warns(UserWarning, match="version 1 holds no checksums"):
        loaded = checkpoint.load(path, like=_state(1))
    np.testing.assert_array_equal(loaded["W"], state["W"])
    np.testing.assert_array_equal(jax.random.key_data(loaded["key"]), jax.random.key_data(state["key"]))


def test_version_1_checkpoint_with_an_altered_leaf_loads_with_a_warning_that_it_is_unverified(tmp_path):
    state = _state()
    path = checkpoint.save(tmp_path / "s.npz", state)

    def to_v1_altered(meta, arrays):
        meta["version"] = 1
        for node in meta["tree"]["c"]:
            del node["sha256"]
        i = _leaf_index(meta, "W")
        arrays[f"leaf_{i}"] = arrays[f"leaf_{i}"] + np.float32(1)  # same shape and dtype: undetectable

    _rewrite(path, to_v1_altered)
    for like in (None, _state(1)):
        with pytest.warns(UserWarning, match=r"no checksums: .* an altered or damaged value would go unnoticed"):
            loaded = checkpoint.load(path, like=like)
        np.testing.assert_array_equal(np.asarray(loaded["W"]), np.asarray(state["W"]) + 1)


def test_a_version_2_checkpoint_loads_without_a_warning(tmp_path):
    import warnings

    path = checkpoint.save(tmp_path / "s.npz", _state())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checkpoint.load(path)


def test_saving_an_array_sharded_across_processes_says_to_call_to_host(tmp_path, monkeypatch):
    # A real multi-process run is too heavy here: make every jax.Array report that part of it lives on
    # another process's devices, as a population sharded over jax.distributed processes does.
    state = _state()
    monkeypatch.setattr(type(state["W"]), "is_fully_addressable", property(lambda self: False))
    monkeypatch.setattr(type(state["W"]), "is_fully_replicated", property(lambda self: False))
    with pytest.raises(ValueError, match=r"leaf at \['W'\] must be fully addressable from this process .*"
                                         r"fnn.parallel.to_host\(tree\)"):
        checkpoint.save(tmp_path / "s.npz", state)
    assert not (tmp_path / "s.npz").exists() and not list(tmp_path.iterdir())


def test_a_state_replicated_on_every_process_saves_its_local_copy(tmp_path, monkeypatch):
    # replicated over processes (as fnn train's state is over jax.distributed): not fully addressable, but whole
    state = _state()
    monkeypatch.setattr(type(state["W"]), "is_fully_addressable", property(lambda self: False))
    path = checkpoint.save(tmp_path / "s.npz", state)
    monkeypatch.undo()
    np.testing.assert_array_equal(checkpoint.load(path)["W"], state["W"])


def test_every_saved_leaf_carries_a_sha256_of_its_bytes(tmp_path):
    path = checkpoint.save(tmp_path / "s.npz", _state())
    with np.load(path) as f:
        meta = json.loads(str(f["__fnn_checkpoint__"][()]))
        for node in meta["tree"]["c"]:
            import hashlib

            assert node["sha256"] == hashlib.sha256(f[f"leaf_{node['i']}"].tobytes()).hexdigest()
    assert meta["version"] == 2


def test_corrupt_metadata_is_a_value_error_not_a_key_error(tmp_path):
    path = checkpoint.save(tmp_path / "s.npz", _state())
    _rewrite(path, lambda meta, arrays: meta["tree"]["c"][0].pop("shape"))
    with pytest.raises(ValueError, match="corrupt checkpoint metadata"):
        checkpoint.load(path)
    _rewrite(path, lambda meta, arrays: meta.update(n_leaves="three"))
    with pytest.raises(ValueError, match="corrupt or truncated"):
        checkpoint.load(path)


def test_save_removes_stale_temporaries_of_its_target_and_keeps_everything_else(tmp_path):
    path = tmp_path / "s.npz"
    dead = tmp_path / f".s.npz.{_dead_pid()}@{_io._host()}-abc.tmp"
    legacy = tmp_path / ".s.npz.k2j4h5l6.tmp"  # an older fnn's name (no process tag), from before this process
    live = tmp_path / f".s.npz.{os.getpid()}@{_io._host()}-xyz.tmp"  # this process's own: in use
    other = tmp_path / f".t.npz.{_dead_pid()}@{_io._host()}-abc.tmp"  # another target's
    mine = tmp_path / "s.npz.notes"  # the user's
    for p in (dead, legacy, live, other, mine):
        p.write_bytes(b"x" * 1000)
    past = _io.process_start_time() - 60
    os.utime(legacy, (past, past))
    checkpoint.save(path, _state())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, live.name, other.name, mine.name])


def test_clean_stale_refuses_patterns_that_could_match_a_users_files(tmp_path):
    for bad in ["*", "*.tmp", ".*", "s.npz"]:
        with pytest.raises(ValueError, match="patterns must be globs of hidden fnn temporaries"):
            _io.clean_stale(tmp_path, [bad])


def test_temporary_of_another_host_is_stale_only_if_older_than_this_process_and_a_day(tmp_path):
    new = tmp_path / ".s.npz.1@elsewhere-abc.tmp"
    hour = tmp_path / ".s.npz.2@elsewhere-abc.tmp"  # may be a long run on that host: kept
    old = tmp_path / ".s.npz.3@elsewhere-abc.tmp"
    for p, age in ((new, None), (hour, 3600), (old, 2 * 86400)):
        p.write_bytes(b"")
        if age is not None:
            past = _io.process_start_time() - age
            os.utime(p, (past, past))
    assert _io.clean_stale(tmp_path, [".s.npz.*.tmp"]) == [old]


# ----------------------------------------------------------------------------
# fault injection: a save killed at random points


_SAVER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from fnn import checkpoint
    path = sys.argv[1]
    trees = [{"w": np.full((256, 1024), float(v), np.float32), "v": np.int32(v)} for v in (1, 2)]
    i = 0
    while True:
        checkpoint.save(path, trees[i % 2])
        if i == 0:
            print("ready", flush=True)
        i += 1
    """
)


def test_checkpoint_save_killed_at_random_points_leaves_the_old_or_the_new_file(tmp_path):
    path = tmp_path / "s.npz"
    checkpoint.save(path, {"w": np.full((256, 1024), 1.0, np.float32), "v": np.int32(1)})
    rng = random.Random(0)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), JAX_PLATFORMS="cpu")
    for _ in range(3):  # bounded: 3 kills, each within 0.3 s of the first completed save
        child = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], stdout=subprocess.PIPE, env=env)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.3))
        child.kill()
        child.wait(timeout=60)
        loaded = checkpoint.load(path)  # a complete file: either tree, never a mix
        v = int(loaded["v"])
        assert v in (1, 2)
        np.testing.assert_array_equal(loaded["w"], np.full((256, 1024), float(v), np.float32))
        assert len(list(tmp_path.glob(".s.npz.*.tmp"))) <= 1  # at most the killed save's temporary
    checkpoint.save(path, {"w": np.zeros((2,), np.float32), "v": np.int32(3)})  # the next run
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]  # no stray temporaries remain


def test_the_process_tag_is_read_from_the_end_of_the_name_not_from_the_targets_name(tmp_path):
    # a target named like a tag ("exp5@x-1") must not make a live process's temporary look foreign
    live = tmp_path / f".exp5@x-1.npz.{os.getpid()}@{_io._host()}-k2j4h5l6.tmp"
    dead = tmp_path / f".exp5@x-1.npz.{_dead_pid()}@{_io._host()}-k2j4h5l6.tmp"
    for p in (live, dead):
        p.write_bytes(b"")
        past = _io.process_start_time() - 60
        os.utime(p, (past, past))
    assert not _io.is_stale(live) and _io.is_stale(dead)
    run_dir = tmp_path / f".exp5@x-1.tmp-{os.getpid()}@{_io._host()}-0123abcd"  # a run's staging folder
    run_dir.mkdir()
    assert not _io.is_stale(run_dir)
