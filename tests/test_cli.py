"""Tests of the ``fnn`` command line (in-process through ``fnn.cli.main``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fnn import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["--dataset", "synthetic", "--sizes", "784,16,10", "--epochs", "2", "--batch-size", "50",
         "--rate", "1e-2", "--no-progress"]


def _error(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One training run shared by the tests: its folder and what it printed."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("runs") / "blobs"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["train", *SMALL, "--out", str(out)]) == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def run_dir(trained):
    return trained[0]


def test_train_writes_config_history_checkpoint_and_curves(run_dir):
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint.npz", "config.json", "curves.png", "fnn-run.json", "history.json", "metrics.jsonl"]
    hist = json.loads((run_dir / "history.json").read_text())
    assert hist["epoch"] == [1, 2] and len(hist["val_accuracy"]) == 2
    assert hist["monitor"] == "validation" and hist["validation_examples"] == 200
    assert hist["test_accuracy"] > 0.8
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["sizes"] == [784, 16, 10] and cfg["dataset"] == "synthetic" and cfg["validation"] == 200
    marker = json.loads((run_dir / "fnn-run.json").read_text())
    assert marker["format"] == "fnn.run" and len(marker["run_id"]) == 32
    assert marker["files"] == ["checkpoint.npz", "config.json", "curves.png", "history.json", "metrics.jsonl"]
    assert (marker["command"], marker["complete"]) == ("train", True)
    # nothing left behind in the parent folder (no temporary folders)
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["blobs"]


def test_train_prints_a_final_line_with_test_and_validation_accuracy(trained):
    run, printed = trained
    hist = json.loads((run / "history.json").read_text())
    line = printed.strip().splitlines()[-1]
    assert line.startswith(f"test accuracy {100 * hist['test_accuracy']:.2f}% ")
    assert f"(validation accuracy {100 * hist['val_accuracy'][-1]:.2f}% on 200 held-out examples)" in line
    assert line.endswith(f"run saved to {run}")


def test_evaluate_reports_the_saved_runs_test_accuracy(run_dir, capsys):
    assert cli.main(["evaluate", str(run_dir)]) == 0
    line = capsys.readouterr().out.strip()
    hist = json.loads((run_dir / "history.json").read_text())
    assert line.startswith(f"test accuracy {100 * hist['test_accuracy']:.2f}%")
    assert cli.main(["evaluate", str(run_dir), "--split", "train"]) == 0
    assert capsys.readouterr().out.startswith("train accuracy ")


def test_existing_run_is_refused_without_overwrite(run_dir, capsys):
    before = (run_dir / "history.json").read_text()
    err = _error(capsys, ["train", *SMALL, "--out", str(run_dir)])
    assert "already holds a run" in err and "--overwrite" in err
    assert (run_dir / "history.json").read_text() == before


def test_overwrite_replaces_a_run_and_validation_0_trains_on_all_and_monitors_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    assert cli.main(["train", *SMALL, "--epochs", "1", "--out", str(out)]) == 0
    old_id = json.loads((out / "fnn-run.json").read_text())["run_id"]
    assert cli.main(["train", *SMALL, "--epochs", "2", "--validation", "0", "--out", str(out), "--overwrite"]) == 0
    hist = json.loads((out / "history.json").read_text())
    assert hist["epoch"] == [1, 2] and hist["monitor"] is None
    assert hist["val_accuracy"] == [None, None]
    assert hist["step"] == [2000 // 50, 2 * 2000 // 50]  # all 2000 training examples
    assert json.loads((out / "fnn-run.json").read_text())["run_id"] != old_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    capsys.readouterr()
    err = _error(capsys, ["evaluate", str(out), "--split", "validation"])
    assert "argument --split: the run held out no validation set" in err


def test_folder_with_other_files_is_refused_even_with_overwrite(tmp_path, capsys):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    err = _error(capsys, ["train", *SMALL, "--out", str(out), "--overwrite"])
    assert "not an fnn run" in err
    assert (out / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset", "cifar"], "argument --dataset: must be one of fashion_mnist, mnist, synthetic, got 'cifar'"),
        (["--optimizer", "lbfgs"], "argument --optimizer: must be one of gd, sgd, momentum, adagrad, rmsprop, adam, adamw, got 'lbfgs'"),
        (["--schedule", "cyclic"], "argument --schedule: must be one of constant, cosine, linear, exponential"),
        (["--hidden", "gelu"], "argument --hidden: must be one of"),
        (["--cost", "hinge"], "argument --cost: must be one of"),
        (["--norm", "group"], "argument --norm: must be one of none, batch, layer"),
        (["--sizes", "784,x,10"], "argument --sizes: must be at least two positive integers"),
        (["--sizes", "100,16,10"], "argument --sizes: the first size must be the data's width 784 (synthetic), got 100"),
        (["--sizes", "784,16,3"], "argument --sizes: the last size must be the number of classes 10 (synthetic), got 3"),
        (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got 0"),
        (["--batch-size", "5000"], "argument --batch-size: must be in [1, 1800] (the training examples), got 5000"),
        (["--epochs", "0"], "argument --epochs: must be an integer >= 1, got 0"),
        (["--epochs", "two"], "argument --epochs: must be an integer, got 'two'"),
        (["--rate", "-1"], "argument --rate: must be a finite number >= 0, got '-1'"),
        (["--output", "sigmoid"], "argument --cost: log_likelihood needs --output softmax"),
    ],
)
def test_bad_train_arguments_get_argparse_errors_that_say_what_is_allowed(tmp_path, capsys, args, message):
    out = tmp_path / "r"
    err = _error(capsys, ["train", *SMALL, "--out", str(out), *args])
    assert "usage: fnn train" in err
    assert message in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_bad_evaluate_arguments(tmp_path, run_dir, capsys):
    err = _error(capsys, ["evaluate", str(tmp_path)])
    assert "is not an fnn run" in err
    err = _error(capsys, ["evaluate", str(run_dir), "--split", "dev"])
    assert "argument --split: must be one of train, validation, test, got 'dev'" in err


def test_missing_dataset_files_give_an_error_not_a_traceback(tmp_path, capsys, monkeypatch):
    from fnn import data

    def no_files(*a, **k):
        raise FileNotFoundError("no mnist files in /nowhere; looked in ...")

    monkeypatch.setattr(data, "load", no_files)
    err = _error(capsys, ["train", "--dataset", "mnist", "--out", str(tmp_path / "r")])
    assert "argument --dataset: no mnist files" in err
    assert list(tmp_path.iterdir()) == []


def test_diverging_run_fails_cleanly_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    code = cli.main(["train", *SMALL, "--optimizer", "gd", "--rate", "1e30", "--schedule", "constant",
                     "--out", str(out)])
    assert code == 1
    assert "cost became" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_python_dash_m_fnn_runs_the_cli():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "fnn", "train", "--help"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "--batch-size" in r.stdout and "fashion_mnist" in r.stdout


def test_defaults_are_the_documented_fashion_mnist_recipe():
    args = cli.build_parser().parse_args(["train"])
    assert args.dataset == "fashion_mnist"
    assert [args.sizes, args.hidden, args.output, args.cost, args.optimizer, args.schedule] == [
        cli.DEFAULTS[k] for k in ("sizes", "hidden", "output", "cost", "optimizer", "schedule")
    ]
    assert (args.rate, args.batch_size) == (cli.DEFAULTS["rate"], cli.DEFAULTS["batch_size"])
    assert args.epochs is None and cli.config_from_args(args)["epochs"] == cli.DEFAULTS["epochs"]  # None: --resume's "more"


# ----------------------------------------------------------------------------
# the validation split (issue 15, item 5)


def test_validation_split_is_monitored_each_epoch_and_the_test_set_touched_once(tmp_path, capsys, monkeypatch):
    from fnn.train import _evaluate  # the one evaluator: fit's validation and train.evaluate both use it

    calls = []
    real = _evaluate.one

    def counting(net, cost, params, net_state, data, n):
        calls.append(int(n))
        return real(net, cost, params, net_state, data, n)

    monkeypatch.setattr(_evaluate, "one", counting)
    out = tmp_path / "r"
    assert cli.main(["train", *SMALL, "--epochs", "3", "--validation", "300", "--out", str(out)]) == 0
    # 3 epochs on the 300 held-out examples, then the 500 test examples once
    assert calls == [300, 300, 300, 500]
    hist = json.loads((out / "history.json").read_text())
    assert hist["step"] == [1700 // 50 * e for e in (1, 2, 3)]  # trained on the other 1700
    monkeypatch.undo()
    capsys.readouterr()
    assert cli.main(["evaluate", str(out), "--split", "validation"]) == 0
    line = capsys.readouterr().out
    assert line.startswith(f"validation accuracy {100 * hist['val_accuracy'][-1]:.2f}%") and "on 300 examples" in line


def test_validation_split_is_the_end_of_the_training_set_and_disjoint_from_training():
    import numpy as np

    x_all, _ = cli.load_dataset("synthetic", "train", validation=0)
    x_tr, _ = cli.load_dataset("synthetic", "train", validation=300)
    x_va, _ = cli.load_dataset("synthetic", "validation", validation=300)
    assert x_tr.shape[0] == 1700 and x_va.shape[0] == 300
    np.testing.assert_array_equal(np.concatenate([x_tr, x_va]), x_all)


def test_default_validation_is_5000_examples_for_the_real_data_sets_and_200_for_synthetic():
    parse = cli.build_parser().parse_args
    assert cli.config_from_args(parse(["train"]))["validation"] == 5000
    assert cli.config_from_args(parse(["train", "--dataset", "mnist"]))["validation"] == 5000
    assert cli.config_from_args(parse(["train", "--dataset", "synthetic"]))["validation"] == 200
    assert cli.config_from_args(parse(["train", "--validation", "0"]))["validation"] == 0


# ----------------------------------------------------------------------------
# the command line's own surface: help, version, one-line errors, flags in messages


def _run_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_fnn_help_and_version_answer_without_importing_jax(flag):
    r = _run_python(
        "import sys\nfrom fnn import cli\n"
        f"try:\n    cli.main([{flag!r}])\nexcept SystemExit as e:\n    print('exit', e.code)\n"
        "print('jax imported:', 'jax' in sys.modules)\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("exit 0\njax imported: False"), r.stdout
    if flag == "--version":
        import fnn

        assert r.stdout.startswith(f"fnn {fnn.__version__}\n")


@pytest.mark.parametrize("command", ["train", "sweep", "evaluate"])
def test_subcommand_help_shows_each_default_once_and_no_doubled_percent(capsys, command):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # the help's lines joined
    assert "%%" not in text and "(default: None)" not in text
    assert "(default: fnn.data's search path)" in text
    if command == "sweep":
        assert "95% t-intervals" in text


def test_a_usage_error_is_one_error_line_and_a_pointer_to_help(capsys):
    err = _error(capsys, ["train", "--epochs", "two"])
    assert err.splitlines() == ["fnn train: error: argument --epochs: must be an integer, got 'two'",
                                "usage: fnn train [options] (fnn train --help lists them)"]
    err = _error(capsys, [])
    assert err.splitlines()[0] == "fnn: error: the following arguments are required: {train,sweep,evaluate}"
    assert len(err.splitlines()) == 2 and "fnn --help" in err


def test_data_errors_name_the_flag_not_the_library_argument(tmp_path, capsys):
    from fnn import data

    nested = tmp_path / "fashion_mnist"  # the files one folder below the --data-dir given
    nested.mkdir()
    for source in data.DATASETS["fashion_mnist"].values():
        (nested / source.filename).write_bytes(b"")
    err = _error(capsys, ["train", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")])
    assert f"pass --data-dir {str(nested)!r}" in err
    assert "argument --data-dir: must be the folder holding the fashion_mnist files" in err and "data_dir" not in err
    assert not (tmp_path / "r").exists()


def test_one_epoch_is_singular_in_the_final_line(tmp_path, capsys):
    assert cli.main(["train", *SMALL, "--sizes", "784,4,10", "--epochs", "1", "--out", str(tmp_path / "r")]) == 0
    assert " after 1 epoch in " in capsys.readouterr().out


def test_a_saved_config_is_a_config_again(run_dir):
    saved = json.loads((run_dir / "config.json").read_text())
    checked = cli.config_from_dict(saved)
    assert checked == {k: v for k, v in saved.items() if k in checked}
    assert "data" not in checked and checked["sizes"] == [784, 16, 10]
    assert cli.config_from_dict({**saved, "sizes": "784,16,10", "validation": None}) == checked


def test_sweep_config_has_a_grid_and_seeds_in_place_of_rate_and_reads_an_older_rates_list():
    flags = {**cli.DEFAULTS, "dataset": "synthetic", "rates": [0.1, 1.0], "seeds": 3}
    cfg = cli.sweep_config_from_dict(flags)
    assert "rate" not in cfg and (cfg["grid"], cfg["seeds"], cfg["validation"]) == ({"rate": [0.1, 1.0]}, 3, 200)
    with pytest.raises(cli.UsageError, match="argument --grid: rate must not repeat a value"):
        cli.sweep_config_from_dict({**flags, "rates": [1.0, 1.0]})
    with pytest.raises(cli.UsageError, match=r"argument --seeds: .* exceeds 2\^63 - 1"):
        cli.sweep_config_from_dict({**flags, "seed": 2**63 - 2, "seeds": 3})


def test_the_cli_package_imports_one_way_and_no_private_name_from_outside():
    import ast
    import pathlib

    folder = pathlib.Path(ROOT) / "fnn" / "cli"
    allowed = {"_config": set(), "_signals": set(), "_common": {"_config"}, "_record": {"_config"},
               "_session": {"_config", "_record", "_signals"},
               "_train": {"_config", "_common", "_record", "_session", "_signals"},
               "_sweep": {"_config", "_common", "_record", "_session", "_signals", "_train"},
               "_evaluate": {"_config", "_common"}}
    for name, below in allowed.items():
        tree = ast.parse((folder / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fnn"):
                if node.module.startswith("fnn.cli"):
                    assert node.module.split(".")[-1] in below, f"{name} imports {node.module}"
                else:
                    assert not any(a.name.startswith("_") for a in node.names), f"{name}: {ast.dump(node)}"
