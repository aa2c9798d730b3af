"""Robustness of the command line and its run folders: nothing a user does loses
their work, every mistake gets one line naming the argument (exit 2), never a traceback."""

from __future__ import annotations

import json
import math
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fnn import _io, checkpoint, cli, runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), JAX_PLATFORMS="cpu")
SMALL = ["--dataset", "synthetic", "--sizes", "784,8,10", "--epochs", "1", "--batch-size", "100",
         "--rate", "1e-2", "--no-progress"]


def _error(capsys, argv) -> str:
    """Run the command line, expect exit status 2; return the error line (the one after usage)."""
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if ": error: " in l]
    assert len(lines) == 1, err
    return lines[0]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _tag(pid: int) -> str:
    return f"{pid}@{_io._host()}-0123abcd"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    assert cli.main(["train", *SMALL, "--out", str(out)]) == 0
    return out


@pytest.fixture
def run(trained, tmp_path):
    """A fresh copy of a trained run, to damage."""
    out = tmp_path / "run"
    shutil.copytree(trained, out)
    return out


# ----------------------------------------------------------------------------
# data loss


def test_overwrite_refuses_another_tools_folder_that_holds_a_config_json(tmp_path, capsys):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "chapter1.tex").write_text("keep me")
    line = _error(capsys, ["train", *SMALL, "--out", str(out), "--overwrite"])
    assert "argument --out:" in line and "no fnn-run.json marker" in line
    assert sorted(p.name for p in out.iterdir()) == ["chapter1.tex", "config.json"]


def test_overwrite_refuses_a_run_that_holds_a_users_file(run, capsys):
    (run / "notes.txt").write_text("mine")
    line = _error(capsys, ["train", *SMALL, "--out", str(run), "--overwrite"])
    assert "argument --out:" in line and "files fnn did not write (notes.txt)" in line
    assert (run / "notes.txt").read_text() == "mine" and runs.is_run(run)


def test_overwrite_deletes_only_the_files_the_marker_lists(run, tmp_path):
    # a replaced run whose folder gains a user's file between the check and the deletion keeps it
    marker = runs.read_marker(run)
    tmp = runs.stage(run)
    (tmp / "config.json").write_text("{}")
    os.rename(run, tmp_path / "moved")  # simulate: the old run is elsewhere, the user's file arrives
    (tmp_path / "moved" / "late.txt").write_text("mine")
    os.rename(tmp_path / "moved", run)
    with pytest.raises(runs.RunFolderError, match="late.txt.*this run was saved to") as err:
        runs.commit(tmp, run)
    assert (run / "late.txt").read_text() == "mine" and runs.read_marker(run) == marker
    kept = pathlib.Path(str(err.value).rsplit("saved to ", 1)[1])
    assert kept.parent == run.parent and kept.name.startswith("run-") and runs.is_run(kept)
    assert not tmp.exists()


def test_a_run_that_appears_in_out_during_training_is_kept_and_so_is_the_new_one(run, tmp_path):
    target = tmp_path / "new"
    runs.check_out(target, overwrite=False)  # free at the start
    tmp = runs.stage(target)
    (tmp / "config.json").write_text("{}")
    shutil.copytree(run, target)  # another fnn train finished into it meanwhile
    with pytest.raises(runs.RunFolderError, match="already holds a run.*this run was saved to"):
        runs.commit(tmp, target, overwrite=False)
    assert runs.read_marker(target) == runs.read_marker(run)
    (kept,) = [p for p in tmp_path.iterdir() if p.name.startswith("new-")]
    assert runs.is_run(kept) and (kept / "config.json").read_text() == "{}"


def test_two_default_runs_started_in_the_same_second_get_two_folders(tmp_path, monkeypatch):
    import datetime

    now = datetime.datetime(2026, 1, 2, 3, 4, 5)
    tokens = iter(["aaaaaa", "aaaaaa", "bbbbbb"])  # a collision on the random suffix, retried
    monkeypatch.setattr(runs.secrets, "token_hex", lambda n: next(tokens))
    a = runs.unique_dir(tmp_path, "synthetic", now)
    b = runs.unique_dir(tmp_path, "synthetic", now)
    assert a.name == "synthetic-20260102-030405-aaaaaa" and b.name == "synthetic-20260102-030405-bbbbbb"


def test_train_without_out_writes_a_new_unique_run_under_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", *SMALL]) == 0
    (made,) = (tmp_path / "runs").iterdir()
    assert made.name.startswith("synthetic-") and len(made.name.split("-")[-1]) == 6
    assert runs.is_run(made) and f"run saved to {made.relative_to(tmp_path)}" in capsys.readouterr().out


def test_interrupted_overwrite_is_reported_by_evaluate_and_recovered_by_train(run, capsys):
    old = run.parent / f".run.old-{_tag(_dead_pid())}"
    os.rename(run, old)  # killed between its two renames: the old run only under the hidden name
    line = _error(capsys, ["evaluate", str(run)])
    assert f"argument run: {run} does not exist; an interrupted --overwrite left its previous run at {old}" in line
    line = _error(capsys, ["train", *SMALL, "--out", str(run)])  # recovers, then refuses to overwrite
    assert "already holds a run" in line
    assert runs.is_run(run) and not old.exists()
    assert cli.main(["evaluate", str(run)]) == 0


def test_stale_staging_folders_are_removed_and_a_live_ones_kept(run, capsys):
    dead = run.parent / f".run.tmp-{_tag(_dead_pid())}"
    live = run.parent / f".run.tmp-{_tag(os.getpid())}"
    replaced = run.parent / f".run.old-{_tag(_dead_pid())}"
    for d in (dead, live):
        d.mkdir()
        (d / "checkpoint.npz").write_bytes(b"half")
    shutil.copytree(run, replaced)  # a run whose replacement had completed
    messages = runs.recover(run)
    assert any(str(dead) in m for m in messages) and any(str(replaced) in m for m in messages)
    assert sorted(p.name for p in run.parent.iterdir()) == sorted(["run", live.name])


def test_history_json_is_strict_json_with_null_for_nan(tmp_path, trained):
    path = runs.write_json(tmp_path / "h.json", {"cost": [1.0, math.nan, math.inf], "n": 3})
    strict = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert strict == {"cost": [1.0, None, None], "n": 3}
    json.loads((trained / "history.json").read_text(), parse_constant=lambda c: pytest.fail(c))


# ----------------------------------------------------------------------------
# bad invocations: exit 2, one line naming the argument, no traceback


def _file_in_the_way(tmp_path):
    (tmp_path / "afile").write_text("")
    return str(tmp_path / "afile" / "sub" / "run")


BAD_TRAIN = [
    (["--momentum", "1.5", "--optimizer", "momentum"], "argument --momentum: must be a number in [0, 1), got 1.5"),
    (["--precision", "float16"], "argument --precision: must be one of float32, bfloat16, got 'float16'"),
    (["--momentum", "0.5"], "argument --momentum: applies to --optimizer sgd or momentum, got --optimizer adam"),
    (["--seed", str(2**70)], f"argument --seed: must be an integer in [0, {2**63 - 1}], got {2**70}"),
    (["--seed", "-1"], "argument --seed: must be an integer in [0,"),
    (["--norm", "layer", "--sizes", "784,1,10"], "argument --sizes: --norm layer needs hidden layers of >= 2 units"),
    (["--norm", "batch", "--batch-size", "1"], "argument --batch-size: --norm batch needs mini-batches of >= 2"),
    (["--norm", "batch", "--sizes", "784,10"], "argument --norm: batch normalizes hidden layers"),
    (["--validation", "-1"], "argument --validation: must be an integer in [0, 1999], got -1"),
    (["--validation", "2000"], "argument --validation: must be an integer in [0, 1999], got 2000"),
    (["--data-dir", "/nonexistent"], "argument --data-dir: --dataset synthetic reads no files"),
    (["--devices", "99"], "argument --devices: must be in [0,"),
    (["--grad", "numeric"], "argument --grad: must be one of backprop, autodiff, got 'numeric'"),
    (["--weight-decay", "nan"], "argument --weight-decay: must be a finite number >= 0, got 'nan'"),
    (["--sizes", "784,0,10"], "argument --sizes: must be at least two positive integers"),
    (["--rate", "inf"], "argument --rate: must be a finite number >= 0, got 'inf'"),
    (["--batch-size", "1801"], "argument --batch-size: must be in [1, 1800] (the training examples), got 1801"),
    ("file", "argument --out: cannot create"),
    (["--out", "."], "argument --out: must name a run folder (its last part a name, not '.', '..' or '/'), got '.'"),
    (["--out", "/"], "argument --out: must name a run folder"),
]


@pytest.mark.parametrize("args, message", BAD_TRAIN, ids=[str(i) for i in range(len(BAD_TRAIN))])
def test_bad_train_invocations_exit_2_with_one_line_naming_the_argument(tmp_path, capsys, args, message):
    out = tmp_path / "r"
    if args == "file":
        argv = ["train", *SMALL, "--out", _file_in_the_way(tmp_path)]
    else:
        argv = ["train", *SMALL, "--out", str(out), *args]
    line = _error(capsys, argv)
    assert message in line
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name != "afile"]


def test_fashion_mnist_data_dir_that_is_missing_is_an_error_of_data_dir(tmp_path, capsys):
    line = _error(capsys, ["train", "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "r")])
    assert "argument --data-dir: must be an existing folder holding the fashion_mnist files" in line


def test_out_inside_an_immutable_folder_is_an_error_of_out(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    immutable = False
    if os.access(locked, os.W_OK):  # root ignores modes: make it immutable instead
        immutable = subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode == 0
        if not immutable:
            pytest.skip("cannot make a folder unwritable here (root without chattr)")
    try:
        for out in (locked / "run", locked / "sub" / "run"):
            line = _error(capsys, ["train", *SMALL, "--out", str(out)])
            assert "argument --out:" in line and "permission denied" in line
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(locked)])
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


def _edit_config(run, **changes):
    cfg = json.loads((run / "config.json").read_text())
    cfg.update(changes)
    for k in [k for k, v in changes.items() if v is None]:
        del cfg[k]
    (run / "config.json").write_text(json.dumps(cfg))


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_a_byte_of_a_leaf(path):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    w = arrays["leaf_0"].copy()
    w.view(np.uint8).reshape(-1)[0] ^= 1
    arrays["leaf_0"] = w
    with open(path, "wb") as f:
        np.savez(f, **arrays)


BAD_RUNS = [
    (lambda r: (r / "config.json").write_text("{not json"), "config.json is not valid JSON"),
    (lambda r: (r / "config.json").write_text("[1, 2]"), "config.json must hold a JSON object, got list"),
    (lambda r: _edit_config(r, sizes=None), "config.json: missing: the config must have the keys sizes"),
    (lambda r: _edit_config(r, optimizer="lbfgs"), "config.json: must be one of gd, sgd"),
    (lambda r: _truncate(r / "checkpoint.npz"), "checkpoint.npz: "),
    (lambda r: _edit_config(r, sizes=[784, 32, 10]), "does not match"),
    (lambda r: _edit_config(r, optimizer="sgd"), "does not match"),
    (lambda r: _edit_config(r, schedule="constant"), "does not match"),
    (lambda r: _flip_a_byte_of_a_leaf(r / "checkpoint.npz"), "SHA-256"),
    (lambda r: (r / "checkpoint.npz").unlink(), "is not an fnn run"),
]


@pytest.mark.parametrize("damage, message", BAD_RUNS, ids=[str(i) for i in range(len(BAD_RUNS))])
def test_evaluate_on_a_damaged_run_exits_2_naming_the_run(run, capsys, damage, message):
    damage(run)
    line = _error(capsys, ["evaluate", str(run)])
    assert "argument run:" in line and message in line


def _fake_idx_dir(tmp_path) -> pathlib.Path:
    import gzip

    from fnn import data

    folder = tmp_path / "fmnist"
    folder.mkdir()
    # correct files (from the installed copy when there is one), then one damaged
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        src = pathlib.Path("/usr/share/datasets/fashion-mnist") / f"{name}.gz"
        if not src.exists():
            pytest.skip("Fashion-MNIST files not installed")
        shutil.copy(src, folder / f"{name}.gz")
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01" + (10_000).to_bytes(4, "big") + bytes([12]) * 10_000)  # label 12
    assert data is not None
    return folder


def test_corrupt_data_file_is_an_error_of_the_file_not_of_validation(tmp_path, capsys):
    folder = _fake_idx_dir(tmp_path)
    line = _error(capsys, ["train", "--data-dir", str(folder), "--epochs", "1", "--out", str(tmp_path / "r")])
    assert "argument --data-dir:" in line and "t10k-labels-idx1-ubyte" in line and "--validation" not in line


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(cli.UsageError, match="--momentum"):
        cli.main(["train", *SMALL, "--momentum", "2", "--optimizer", "sgd", "--debug", "--out", str(tmp_path / "r")])


def test_an_unforeseen_error_is_one_line_with_exit_1(tmp_path, capsys, monkeypatch):
    from fnn import train

    def broken(*a, **k):
        raise RuntimeError("something unforeseen")

    monkeypatch.setattr(train, "fit", broken)
    assert cli.main(["train", *SMALL, "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "fnn train: error: RuntimeError: something unforeseen (--debug shows the traceback)"
    assert list(tmp_path.iterdir()) == []  # the staging folder is gone


def test_a_real_process_prints_no_traceback_for_a_users_mistake(tmp_path):
    r = subprocess.run([sys.executable, "-m", "fnn", "train", *SMALL, "--seed", str(2**70), "--out", str(tmp_path / "r")],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "argument --seed:" in r.stderr


# ----------------------------------------------------------------------------
# fault injection: the overwrite path killed at every file operation


_COMMITTER = textwrap.dedent(
    """
    import json, os, signal, sys
    from fnn import runs
    out, die_at, gen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    count = [0]
    def wrap(f):
        def g(*a, **k):
            if count[0] == die_at:
                os.kill(os.getpid(), signal.SIGKILL)
            count[0] += 1
            return f(*a, **k)
        return g
    for name in ("rename", "replace", "unlink", "rmdir", "mkdir"):
        setattr(os, name, wrap(getattr(os, name)))
    runs.recover(out)
    runs.check_out(out, overwrite=True)
    tmp = runs.stage(out)
    for name in ("config.json", "history.json"):
        runs.write_json(tmp / name, {"gen": gen})
    runs.commit(tmp, out)
    print("done", count[0])
    """
)


def _complete(out: pathlib.Path) -> int:
    """The generation of the complete run in ``out`` (config and history agree)."""
    marker = runs.read_marker(out)
    assert marker is not None and marker["files"] == ["config.json", "history.json"]
    gens = {json.loads((out / f).read_text())["gen"] for f in marker["files"]}
    assert len(gens) == 1
    return gens.pop()


def test_overwrite_killed_at_every_file_operation_leaves_the_old_or_the_new_run(tmp_path):
    out = tmp_path / "run"
    for _ in range(2):  # a first run, then an overwrite, whose file operations are counted
        r = subprocess.run([sys.executable, "-c", _COMMITTER, str(out), "-1", "0"], env=ENV,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    n_ops = int(r.stdout.split()[1])
    assert 5 <= n_ops < 40
    for k in range(n_ops + 1):  # die before operation k (k == n_ops: completes)
        before = _complete(out)
        r = subprocess.run([sys.executable, "-c", _COMMITTER, str(out), str(k), str(k + 1)], env=ENV,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == (-signal.SIGKILL if k < n_ops else 0), r.stderr
        if out.exists():
            assert _complete(out) in (before, k + 1)
        else:  # killed between the two renames: the old run, complete, under its hidden name
            (old,) = runs.interrupted(out)
            assert _complete(old) == before
        runs.recover(out)  # what the next run does first
        assert _complete(out) in (before, k + 1)
        assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no stray files remain
    assert _complete(out) == n_ops + 1


@pytest.mark.slow
def test_fnn_train_overwrite_killed_at_random_times_loses_nothing(run, tmp_path):
    rng = random.Random(0)
    argv = [sys.executable, "-m", "fnn", "train", *SMALL, "--out", str(run), "--overwrite"]
    for _ in range(2):  # bounded: 2 kills, each within 15 s of the start
        child = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 15.0))
        child.kill()
        child.wait(timeout=60)
        assert runs.is_run(run) or runs.interrupted(run)
    assert subprocess.run(argv, env=ENV, capture_output=True, timeout=300).returncode == 0  # the next run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    checkpoint.load(run / "checkpoint.npz")


# ----------------------------------------------------------------------------
# --data-dir: used or a clear error; the data used is recorded


def test_data_dir_holding_3_of_the_4_files_is_an_error_not_another_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FNN_DATA_MIRRORS", "http://127.0.0.1:9/")  # no download of the 4th, even with a network
    folder = tmp_path / "three"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        src = pathlib.Path("/usr/share/datasets/fashion-mnist") / f"{name}.gz"
        if not src.exists():
            pytest.skip("Fashion-MNIST files not installed")
        os.symlink(src, folder / f"{name}.gz")
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--data-dir", str(folder), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err
    assert "argument --data-dir:" in err and "3 of the 4" in err and "t10k-labels-idx1-ubyte" in err
    assert not (tmp_path / "r").exists()


def test_config_records_the_path_and_sha256_of_every_data_file_read(tmp_path):
    from fnn import data

    src = pathlib.Path("/usr/share/datasets/fashion-mnist")
    if not (src / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST files not installed")
    out = tmp_path / "r"
    assert cli.main(["train", "--data-dir", str(src), "--sizes", "784,8,10", "--norm", "none", "--epochs", "1",
                     "--batch-size", "1000", "--no-progress", "--out", str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"] == data.provenance("fashion_mnist", data_dir=src)
    assert sorted(cfg["data"]) == ["test_images", "test_labels", "train_images", "train_labels"]
    assert all(v["path"].startswith(str(src)) and len(v["sha256"]) == 64 for v in cfg["data"].values())
    hist = json.loads((out / "history.json").read_text())
    assert hist["step"] == [55_000 // 1000] and hist["validation_examples"] == 5000


def test_config_of_a_synthetic_run_records_its_generator(trained):
    cfg = json.loads((trained / "config.json").read_text())
    assert cfg["data"] == {"generator": "fnn.data.blobs", "seed": cli.SYNTHETIC_SEED, "train": 2000, "test": 500}


def test_evaluate_warns_when_the_data_differs_from_the_runs(run, capsys):
    _edit_config(run, data={"generator": "fnn.data.blobs", "seed": 1, "train": 2000, "test": 500})
    assert cli.main(["evaluate", str(run)]) == 0
    assert "warning: the data read now" in capsys.readouterr().err
    _edit_config(run, data=None)  # a run without the record (older fnn): no warning
    assert cli.main(["evaluate", str(run)]) == 0
    assert capsys.readouterr().err == ""


def test_resume_refuses_data_other_than_the_data_the_run_began_with(run, capsys):
    before = (run / "history.json").read_text()
    _edit_config(run, data={"generator": "fnn.data.blobs", "seed": 1, "train": 2000, "test": 500})
    err = _error(capsys, ["train", "--resume", str(run), "--epochs", "1", "--no-progress"])
    assert "argument --resume: the data read now is not the data" in err and " now, 1 in the run" in err
    assert (run / "history.json").read_text() == before  # nothing trained, nothing written
    _edit_config(run, data=None)  # a run without the record (older fnn) is not checked
    assert cli.main(["train", "--resume", str(run), "--epochs", "1", "--no-progress"]) == 0


def test_resume_knows_the_files_by_their_sha256_not_their_path(tmp_path, capsys):
    # (Changed files of MNIST or Fashion-MNIST are refused by fnn.data itself: it checks their hashes.)
    src = pathlib.Path("/usr/share/datasets/fashion-mnist")
    if not (src / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST files not installed")
    first, moved = tmp_path / "a", tmp_path / "b"
    shutil.copytree(src, first)
    out = tmp_path / "r"
    assert cli.main(["train", "--data-dir", str(first), "--sizes", "784,8,10", "--epochs", "1", "--batch-size",
                     "1000", "--no-progress", "--out", str(out)]) == 0
    first.rename(moved)
    assert cli.main(["train", "--resume", str(out), "--data-dir", str(moved), "--epochs", "1", "--no-progress"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert all(v["path"].startswith(str(moved)) for v in cfg["data"].values())
    _edit_config(out, data={**cfg["data"], "train_labels": {"path": "x", "sha256": "0" * 64}})
    capsys.readouterr()
    err = _error(capsys, ["train", "--resume", str(out), "--data-dir", str(moved), "--epochs", "1", "--no-progress"])
    assert "argument --data-dir: the data read now is not the data" in err and "train_labels: " in err
    assert "train_images" not in err and "point --data-dir at those files" in err
