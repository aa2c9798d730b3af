"""The research workflow of the command line: runs that survive a signal and resume bit for bit, the
public run loader, sweeps over any hyperparameter, provenance, metrics and logs, run folders never lost."""

from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest

from fnn import cli, grid, runs, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), JAX_PLATFORMS="cpu")
TRAIN = ["--dataset", "synthetic", "--sizes", "784,16,10", "--batch-size", "100", "--norm", "batch"]
SWEEP = ["--dataset", "synthetic", "--sizes", "784,16,10", "--batch-size", "100", "--norm", "none",
         "--optimizer", "momentum", "--schedule", "constant"]


@pytest.fixture(autouse=True)
def _sigint_delivered():
    """A test runner started as a background job of a shell inherits SIGINT ignored, and so would the
    runs it starts (the command line keeps an ignored signal ignored, as ``nohup`` users expect); these
    tests need it delivered."""
    before = signal.getsignal(signal.SIGINT)
    if before is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _leaves(tree):
    keys = lambda a: jax.random.key_data(a) if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key) else a  # noqa: E731
    return [np.asarray(keys(a)) for a in jax.tree_util.tree_leaves(tree)]


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(_leaves(a), _leaves(b), strict=True))


def _fnn(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fnn", *args], capture_output=True, text=True, env=ENV,
                          timeout=300, **kw)


def _interrupt_after(args: list[str], epochs_seen: int, signum: int) -> tuple[int, str]:
    """Run ``fnn ARGS``, send ``signum`` once ``epochs_seen`` epoch lines were printed; (status, stderr)."""
    p = subprocess.Popen([sys.executable, "-m", "fnn", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=ENV)
    err, seen = [], 0
    for line in p.stderr:
        err.append(line)
        if ": epoch " in line:
            seen += 1
            if seen == epochs_seen:
                p.send_signal(signum)
    p.wait(timeout=300)
    return p.returncode, "".join(err)


# --------------------------------------------------------------------------
# 1. runs that survive


def test_train_stopped_by_sigint_at_a_random_epoch_resumes_to_the_uninterrupted_run_bit_for_bit(tmp_path):
    seen = random.Random().randint(1, 4)
    cut, whole = tmp_path / "cut", tmp_path / "whole"
    status, err = _interrupt_after(["train", *TRAIN, "--epochs", "6", "--out", str(cut)], seen, signal.SIGINT)
    assert status == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("fnn train: interrupted by SIGINT; saved after epoch ") and "Traceback" not in err
    assert f"fnn train --resume {cut}" in last
    marker = runs.read_marker(cut)
    assert marker["complete"] is False and marker["command"] == "train"
    stopped = runs.load(cut)
    assert not stopped.complete and int(stopped.state.step) % 18 == 0 and int(stopped.state.step) < 6 * 18
    assert cli.main(["train", "--resume", str(cut), "--quiet"]) == 0
    assert cli.main(["train", *TRAIN, "--epochs", "6", "--out", str(whole), "--quiet"]) == 0
    a, b = runs.load(cut), runs.load(whole)
    assert a.complete and int(a.state.step) == 6 * 18
    assert _same(a.state, b.state)  # params, optimizer state, batch-norm statistics, key and step
    assert [m["epoch"] for m in a.metrics] == [1, 2, 3, 4, 5, 6]
    assert [m["cost"] for m in a.metrics] == [m["cost"] for m in b.metrics]


def test_sweep_stopped_by_sigterm_resumes_to_the_uninterrupted_sweep_bit_for_bit(tmp_path):
    flags = [*SWEEP, "--grid", "rate=0.05,50", "momentum=0,0.9", "--seeds", "2", "--epochs", "4"]
    cut, whole = tmp_path / "cut", tmp_path / "whole"
    status, err = _interrupt_after(["sweep", *flags, "--out", str(cut)], 2, signal.SIGTERM)
    assert status == 143, err
    assert err.strip().splitlines()[-1].startswith("fnn sweep: interrupted by SIGTERM; saved after epoch ")
    assert cli.main(["sweep", "--resume", str(cut), "--quiet"]) == 0
    assert cli.main(["sweep", *flags, "--out", str(whole), "--quiet"]) == 0
    a, b = runs.load(cut), runs.load(whole)
    assert a.grid.size == 8 and _same(a.state, b.state)
    da = json.loads((cut / "sweep.json").read_text())["members"]
    db = json.loads((whole / "sweep.json").read_text())["members"]
    assert [m["diverged"] for m in da] == [m["diverged"] for m in db]
    assert any(m["diverged"] >= 0 for m in da)  # rate 50 diverges: frozen members resume frozen


def test_a_signal_during_start_up_is_one_line_and_status_130_and_leaves_no_folder(tmp_path):
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "fnn", "train", *TRAIN, "--out", str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        p.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("fnn train: interrupted by SIGINT")
    assert not out.exists() or runs.is_run(out)


def test_a_signal_while_the_run_is_committed_waits_for_the_commit_then_exits_130(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *TRAIN, "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    old_id = runs.read_marker(out)["run_id"]
    real = runs.commit

    def signalled(*args, **kw):
        os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the --overwrite replacement
        return real(*args, **kw)

    monkeypatch.setattr(runs, "commit", signalled)
    capsys.readouterr()
    assert cli.main(["train", *TRAIN, "--epochs", "1", "--seed", "1", "--out", str(out), "--overwrite"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"fnn train: interrupted by SIGINT; the finished run was saved to {out}"
    marker = runs.read_marker(out)
    assert marker["run_id"] != old_id and marker["complete"] is True  # replaced whole, nothing half-done
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_resume_with_epochs_trains_that_many_more_and_a_finished_run_needs_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *TRAIN, "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    with pytest.raises(SystemExit):
        cli.main(["train", "--resume", str(out)])
    assert "has finished its 1 epochs; pass --epochs N" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(out), "--epochs", "2", "--quiet"]) == 0
    loaded = runs.load(out)
    assert int(loaded.state.step) == 3 * 18 and loaded.config["epochs"] == 3
    assert loaded.config["schedule_steps"] == 18  # the schedule keeps its length
    with pytest.raises(SystemExit):
        cli.main(["sweep", "--resume", str(out)])
    assert "is a run of fnn train; resume it with fnn train --resume" in capsys.readouterr().err


# --------------------------------------------------------------------------
# 2. the public loader


def test_runs_load_gives_what_train_fit_continues_exactly_as_resume_does(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert cli.main(["train", *TRAIN, "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    assert cli.main(["train", "--resume", str(a), "--epochs", "1", "--quiet"]) == 0
    run = runs.load(b)
    assert run.grid is None and run.config["cost"] == "log_likelihood" and len(run.metrics) == 2
    x, y = cli.load_dataset("synthetic", "train", validation=200)
    state, _ = train.fit(run.net, run.config["cost"], run.optimizer, (x, y), epochs=1, batch_size=100,
                         state=run.state, progress=False)
    assert _same(state, runs.load(a).state)
    with pytest.raises(FileNotFoundError, match="must be a run folder"):
        runs.load(tmp_path)


# --------------------------------------------------------------------------
# 3. sweeps over any hyperparameter


def test_grid_lays_out_members_row_major_with_the_seed_last():
    g = grid.Grid({"rate": [0.1, 1.0, 10.0], "mu": [0.0, 0.9]}, seeds=2, seed=5)
    assert (g.shape, g.size) == ((3, 2, 2), 12)
    assert g.labels[:3] == [{"rate": 0.1, "mu": 0.0, "seed": 5}, {"rate": 0.1, "mu": 0.0, "seed": 6},
                            {"rate": 0.1, "mu": 0.9, "seed": 5}]
    np.testing.assert_array_equal(g.hyperparams["mu"], np.float32([0, 0, 0.9, 0.9] * 3))
    assert g.index(rate=1.0, mu=0.9, seed=6) == 7 and g.labels[7] == {"rate": 1.0, "mu": 0.9, "seed": 6}
    values = np.arange(12.0)
    assert g.reshape(values)[1, 1, 1] == 7 and g.reshape(np.ones((12, 4))).shape == (3, 2, 2, 4)
    keys = g.keys()
    assert np.array_equal(jax.random.key_data(keys[7]), jax.random.key_data(jax.random.key(6)))
    with pytest.raises(ValueError, match=r"axes\['mu'\] must not repeat a value"):
        grid.Grid({"mu": [0.9, 0.9]})
    with pytest.raises(ValueError, match="leading axis of the 12 members"):
        g.reshape(np.ones(5))


def test_a_grid_over_rate_and_momentum_equals_the_single_runs_and_evaluate_picks_members(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert cli.main(["sweep", *SWEEP, "--grid", "rate=0.05,0.2", "momentum=0.5,0.9", "--seeds", "1",
                     "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "momentum" in table and "4 networks (2 rates x 2 values of momentum x 1 seeds)" in table
    swept = runs.load(out)
    assert swept.grid.axes == {"rate": (0.05, 0.2), "momentum": (0.5, 0.9)}
    for j in (1, 2):  # (rate 0.05, momentum 0.9) and (rate 0.2, momentum 0.5)
        label = swept.grid.labels[j]
        one = tmp_path / f"one{j}"
        assert cli.main(["train", *SWEEP, "--rate", str(label["rate"]), "--momentum", str(label["momentum"]),
                         "--epochs", "2", "--out", str(one), "--quiet"]) == 0
        single = runs.load(one).state
        for got, want in zip(_leaves(train.member(swept.state, j).params), _leaves(single.params), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    capsys.readouterr()
    assert cli.main(["evaluate", str(out), "--member", "2"]) == 0
    assert capsys.readouterr().out.startswith("member 2 (rate 0.2, momentum 0.5, seed 0): test accuracy ")
    assert cli.main(["evaluate", str(out), "--best"]) == 0
    assert capsys.readouterr().out.startswith("best member ")
    assert cli.main(["evaluate", str(out)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4
    with pytest.raises(SystemExit):
        cli.main(["evaluate", str(out), "--member", "4"])
    assert "argument --member: must be in [0, 3]" in capsys.readouterr().err


def test_a_grid_name_the_optimizer_does_not_hold_is_an_error_naming_what_it_holds(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["sweep", *SWEEP, "--grid", "b1=0.9,0.99", "--out", str(tmp_path / "s")])
    assert "argument --grid: b1 is not a hyperparameter of --optimizer momentum (its state holds mu, rate" in \
        capsys.readouterr().err


# --------------------------------------------------------------------------
# 4. provenance and metrics


def test_config_records_provenance_and_config_reruns_the_run(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(["train", *TRAIN, "--epochs", "1", "--seed", "3", "--out", str(a), "--quiet"]) == 0
    cfg = json.loads((a / "config.json").read_text())
    prov = cfg["provenance"]
    assert prov["command"][:2] == ["fnn", "train"] and "--seed" in prov["command"]
    assert set(prov["versions"]) >= {"fnn", "jax", "jaxlib"} and prov["versions"]["jax"] == jax.__version__
    assert prov["device"]["count"] == 1 and prov["device"]["kind"] and prov["host"]
    assert prov["git"] is None or len(prov["git"]["commit"]) == 40
    assert cfg["weight_decay"] is None  # adam has none
    assert cli.main(["train", "--config", str(a / "config.json"), "--out", str(b), "--quiet"]) == 0
    assert _same(runs.load(a).state, runs.load(b).state)
    assert json.loads((b / "config.json").read_text())["seed"] == 3


def test_sweep_threads_are_recorded_and_leave_the_members_unchanged(tmp_path, capsys):
    """--threads runs the networks as concurrent parts; config.json keeps the flag, the provenance of
    the start and of each resumption the parts it ran with (the host's default when not given); a
    resumption may change them."""
    from fnn.cli._config import UsageError
    from fnn.cli._sweep import threads_used
    from fnn.train._population import default_threads

    # Stable rates: float32 rounding differs between the parts' programs, and a run near divergence
    # (rate 1 here grows weights to 1e4) amplifies it; in float64 members equal fit to 1e-12
    # (tests/test_population_groups.py).
    flags = [*SWEEP, "--rate", "0.05,0.1", "--seeds", "2", "--epochs", "2", "--quiet"]
    folders = {t: tmp_path / f"t{t}" for t in ("1", "4", "default")}
    for t, out in folders.items():
        assert cli.main(["sweep", *flags, *(["--threads", t] if t != "default" else []), "--out", str(out)]) == 0
    cfgs = {t: json.loads((out / "config.json").read_text()) for t, out in folders.items()}
    assert [cfgs[t]["threads"] for t in folders] == [1, 4, None]
    assert [cfgs[t]["provenance"]["threads"] for t in folders] == [1, 4, default_threads(4, None)]
    one, four = runs.load(folders["1"]).state, runs.load(folders["4"]).state
    for a, b in zip(_leaves(one.params), _leaves(four.params)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    # a resumption keeps the recorded parts, or takes --threads from then on
    assert cli.main(["sweep", "--resume", str(folders["4"]), "--epochs", "1", "--quiet"]) == 0
    assert cli.main(["sweep", "--resume", str(folders["4"]), "--epochs", "1", "--threads", "2", "--quiet"]) == 0
    cfg = json.loads((folders["4"] / "config.json").read_text())
    assert [(r["from_epoch"], r["threads"]) for r in cfg["resumed"]] == [(2, 4), (3, 2)] and cfg["threads"] == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli.main(["sweep", "--resume", str(folders["4"]), "--epochs", "1", "--threads", "3"])
    assert e.value.code == 2
    assert "argument --threads: must divide the 4 networks into equal parts, got 3" in capsys.readouterr().err
    with pytest.raises(UsageError, match=r"argument --threads: runs parts of the networks on one device; "
                                         r"with 2 devices it must be 1 or left out, got 4"):
        threads_used({"threads": 4}, 4, jax.devices() * 2)
    assert threads_used({"threads": None}, 4, jax.devices() * 2) == 1


def test_metrics_jsonl_has_a_line_per_epoch_and_per_member(tmp_path):
    out = tmp_path / "s"
    assert cli.main(["sweep", *SWEEP, "--rate", "0.1", "--seeds", "2", "--epochs", "2", "--out", str(out),
                     "--quiet"]) == 0
    lines = [json.loads(t) for t in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(ln["member"], ln["epoch"], ln["seed"]) for ln in lines] == [(0, 1, 0), (1, 1, 1), (0, 2, 0), (1, 2, 1)]
    assert all(ln["rate"] == pytest.approx(0.1) and 0 <= ln["val_accuracy"] <= 1 for ln in lines)
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_json(out / "metrics.jsonl", lines=True)
    assert frame.shape[0] == 4 and {"member", "epoch", "cost", "val_accuracy"} <= set(frame.columns)


def test_tensorboard_writes_event_files_that_tensorboard_reads_back(tmp_path):
    pytest.importorskip("tensorboardX")
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    out = tmp_path / "run"
    assert cli.main(["train", *TRAIN, "--epochs", "2", "--out", str(out), "--quiet", "--tensorboard"]) == 0
    acc = accumulator.EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    costs = acc.Scalars("cost")
    assert [e.step for e in costs] == [1, 2]
    metrics = runs.read_metrics(out)
    assert [e.value for e in costs] == pytest.approx([m["cost"] for m in metrics], rel=1e-6)
    assert "tensorboard" in runs.read_marker(out)["files"]


# --------------------------------------------------------------------------
# 5. logs


def test_not_on_a_terminal_each_epoch_is_one_plain_line(tmp_path, capsys):
    r = _fnn("train", *TRAIN, "--epochs", "3", "--out", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr
    epochs = [ln for ln in r.stderr.splitlines() if ln.startswith("fnn train: epoch ")]
    assert [ln.split(":")[1] for ln in epochs] == [" epoch 1/3", " epoch 2/3", " epoch 3/3"]
    capsys.readouterr()
    assert cli.main(["train", *TRAIN, "--epochs", "1", "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------
# 6. run folders never lost


needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="mounting a tmpfs needs root")


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


@needs_root
def test_out_that_is_a_mount_point_is_refused_before_training(tmpfs, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", *TRAIN, "--epochs", "1", "--out", str(tmpfs)])
    assert e.value.code == 2
    assert f"argument --out: {tmpfs} is a mount point" in capsys.readouterr().err


@needs_root
def test_a_full_disk_names_the_file_it_could_not_write(tmpfs, capsys):
    assert cli.main(["train", *TRAIN, "--sizes", "784,64,10", "--epochs", "1", "--out", str(tmpfs / "run"),
                     "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(tmpfs) in err
    assert not (tmpfs / "run").exists() and not list(tmpfs.iterdir())  # nothing half-written left


def test_a_final_rename_that_fails_keeps_the_finished_run_beside_out(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    real = os.rename

    def busy(src, dst):
        if pathlib.Path(dst) == out:
            raise OSError(16, "Device or resource busy")
        return real(src, dst)

    monkeypatch.setattr(runs.os, "rename", busy)
    with pytest.raises(SystemExit):
        cli.main(["train", *TRAIN, "--epochs", "1", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("run-")]
    assert len(kept) == 1 and runs.is_run(kept[0]) and f"it was saved to {kept[0]}" in err


def test_one_command_never_overwrites_the_others_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *TRAIN, "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    with pytest.raises(SystemExit):
        cli.main(["sweep", *SWEEP, "--rate", "0.1", "--seeds", "1", "--epochs", "1", "--out", str(out), "--overwrite"])
    assert f"{out} holds a run of fnn train; fnn sweep --overwrite replaces only a run of fnn sweep" in \
        capsys.readouterr().err
    assert runs.load(out).grid is None


def test_a_240_character_out_name_works(tmp_path):
    out = tmp_path / ("r" * 240)
    assert cli.main(["train", *TRAIN, "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    assert runs.is_run(out)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--epochs", "99999999999999999999"], "argument --epochs: must be at most 1,000,000,000"),
        (["sweep", "--rate", "-1,1"], "argument --rate: must be comma-separated finite float32 numbers > 0"),
        (["train", "--rate", "1e39"], "argument --rate: must be at most the largest float32"),
        (["train", "--optimizer", "sgd", "--weight-decay", "0.1"], "argument --weight-decay: applies to "
         "--optimizer adamw only"),
        (["train", "--validation", "1990", "--batch-size", "20"], "argument --batch-size: must be in [1, 10] "
         "(the training examples), got 20 (--validation 1990 holds out the rest)"),
    ],
)
def test_flag_values_out_of_range_are_errors_naming_the_flag(tmp_path, capsys, argv, message):
    with warnings.catch_warnings(), pytest.raises(SystemExit) as e:
        warnings.simplefilter("error")  # no RuntimeWarning of numpy before the error
        cli.main([*argv, "--dataset", "synthetic", "--sizes", "784,16,10", "--out", str(tmp_path / "x")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "Warning" not in err


def test_validation_leaving_few_classes_in_training_does_not_blame_sizes(tmp_path, capsys):
    # 1,995 held out of 2,000: five training examples may miss some classes; the classes are the data set's
    assert cli.main(["train", "--dataset", "synthetic", "--sizes", "784,16,10", "--norm", "none",
                     "--validation", "1995", "--batch-size", "5", "--epochs", "1", "--out", str(tmp_path / "r"),
                     "--quiet"]) == 0


def test_a_sweep_resumes_only_on_the_data_it_began_with(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert cli.main(["sweep", *SWEEP, "--grid", "rate=0.05,0.2", "--seeds", "1", "--epochs", "1", "--out", str(out),
                     "--quiet"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**cfg, "data": {**cfg["data"], "train": 1999}}))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        cli.main(["sweep", "--resume", str(out), "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "argument --resume: the data read now is not the data" in err
    assert "train: 2000 now, 1999 in the run" in err
