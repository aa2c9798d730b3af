"""fnn sweep: a rate x seed grid as one population, end to end on the synthetic data set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fnn import cli
from fnn.cli import rate_table

FLAGS = ["--dataset", "synthetic", "--sizes", "784,16,10", "--hidden", "sigmoid", "--output", "sigmoid",
         "--cost", "quadratic", "--optimizer", "sgd", "--schedule", "constant", "--batch-size", "20",
         "--epochs", "2", "--norm", "none", "--no-progress"]


def test_sweep_trains_the_grid_and_each_member_is_the_fnn_train_run(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert cli.main(["sweep", *FLAGS, "--rate", "0.5,3", "--seeds", "2", "--seed", "4", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "diverged/2" in table and "4 networks (2 rates x 2 seeds)" in table
    record = json.loads((out / "sweep.json").read_text())
    assert [(m["rate"], m["seed"]) for m in record["members"]] == [(0.5, 4), (0.5, 5), (3.0, 4), (3.0, 5)]
    assert [row["rate"] for row in record["table"]] == [0.5, 3.0]
    png = out / "sweep.png"
    assert png.is_file() and png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "fnn-run.json").is_file()
    # Member (rate 3, seed 5) is `fnn train --rate 3 --seed 5`: same validation split, init, shuffles.
    run = tmp_path / "one"
    assert cli.main(["train", *FLAGS, "--rate", "3", "--seed", "5", "--out", str(run)]) == 0
    capsys.readouterr()
    hist = json.loads((run / "history.json").read_text())
    member = record["members"][3]
    np.testing.assert_allclose(member["history"]["val_accuracy"], hist["val_accuracy"], atol=1e-6)
    np.testing.assert_allclose(member["history"]["cost"], hist["cost"], rtol=1e-4)
    assert member["test_accuracy"] == pytest.approx(hist["test_accuracy"], abs=1e-6)


@pytest.mark.parametrize(
    "flags, argument, text",
    [
        (["--rate", "0.1,abc"], "--rate", "comma-separated"),
        (["--rate", "0.1,-1"], "--rate", "> 0"),
        (["--rate", "1,1"], "--rate", "repeat"),
        (["--seeds", "0"], "--seeds", "in [1, 10000], got 0"),
        (["--devices", "9"], "--devices", "must be in [0, 1]"),
        (["--threads", "2"], "--threads", "must divide the 9 networks into equal parts, got 2"),
        (["--threads", "0"], "--threads", "must be an integer in [1, 9], got 0"),
    ],
)
def test_bad_sweep_flags_exit_2_naming_the_argument(tmp_path, capsys, flags, argument, text):
    with pytest.raises(SystemExit) as e:
        cli.main(["sweep", *FLAGS, "--out", str(tmp_path / "s"), *flags])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argument}" in err and text in err and "Traceback" not in err


def test_rate_table_drops_diverged_members_and_gives_t_intervals():
    test = np.array([0.8, 0.9, 0.7, 0.1, 0.2, 0.3])
    diverged = np.array([-1, -1, -1, 12, -1, -1])
    rows = rate_table([0.1, 10.0], 3, None, test, diverged)
    assert rows[0]["diverged"] == 0 and rows[1]["diverged"] == 1
    assert rows[0]["test_accuracy"]["mean"] == pytest.approx(0.8)
    half = 4.302652729911275 * 0.1 / np.sqrt(3)  # t_{0.975, 2} s / sqrt(n)
    assert rows[0]["test_accuracy"]["hi"] == pytest.approx(min(0.8 + half, 1.0))
    assert rows[0]["test_accuracy"]["lo"] == pytest.approx(0.8 - half)
    assert rows[1]["test_accuracy"]["n"] == 2 and rows[1]["test_accuracy"]["mean"] == pytest.approx(0.25)
