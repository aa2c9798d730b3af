"""The ``fnn`` command line: train an MLP on a dataset, evaluate a saved run.

::

    fnn train                                   # the default recipe on Fashion-MNIST
    fnn train --dataset fashion_mnist --sizes 784,256,256,10 --hidden relu \\
              --output softmax --cost log_likelihood --optimizer adam --rate 1e-3 \\
              --schedule cosine --batch-size 128 --epochs 20 --norm batch --seed 0 \\
              --out runs/NAME
    fnn evaluate runs/NAME                      # test accuracy of the saved run

``fnn train`` writes, into ``--out`` (default ``runs/<dataset>-<date-time>``):
``config.json`` (the arguments), ``history.json`` (per-epoch cost, accuracy,
rate, examples/s and the final test result), ``checkpoint.npz`` (the
:class:`fnn.train.TrainState`, via :mod:`fnn.checkpoint`) and ``curves.png``
(training curves; skipped with a message when matplotlib is missing). The
folder is assembled under a temporary name and renamed into place at the end,
so an interrupted or failed run leaves nothing half-written; an existing run
is replaced only with ``--overwrite``.

The defaults of ``fnn train`` are the recipe measured best for Fashion-MNIST
within two minutes on 2 CPU cores (see ``DEFAULTS``). ``--dataset synthetic``
is a generated task of the same shape (10 Gaussian blobs in 784 dimensions)
that needs no files.

Also runnable as ``python -m fnn``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import pathlib
import shutil
import sys
import tempfile
import time
from typing import Any, Sequence

__all__ = ["main", "build_parser", "DEFAULTS", "DATASETS", "OPTIMIZERS", "SCHEDULES"]

DATASETS = ("fashion_mnist", "mnist", "synthetic")
SPLITS = ("train", "validation", "test")
OPTIMIZERS = ("gd", "sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "linear", "exponential")
NORMS = ("none", "batch", "layer")

#: The default recipe (``fnn train`` with no arguments).
DEFAULTS: dict[str, Any] = {
    "dataset": "fashion_mnist",
    "sizes": "784,512,512,10",
    "hidden": "relu",
    "output": "softmax",
    "cost": "log_likelihood",
    "optimizer": "adam",
    "rate": 1e-3,
    "schedule": "cosine",
    "batch_size": 128,
    "epochs": 15,
    "norm": "batch",
    "seed": 0,
}

RUN_FILES = ("config.json", "history.json", "checkpoint.npz")
SYNTHETIC_SEED = 20240601
SYNTHETIC_SIZES = {"train": 2000, "test": 500}


# --------------------------------------------------------------------------
# parser


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return v


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The ``fnn`` argument parser (subcommands ``train`` and ``evaluate``)."""
    from fnn import activations, costs

    p = argparse.ArgumentParser(prog="fnn", description="Train and evaluate fully connected networks (fnn).")
    sub = p.add_subparsers(dest="command", metavar="{train,evaluate}")
    sub.required = True
    d = DEFAULTS

    t = sub.add_parser(
        "train",
        help="train an MLP and save the run",
        description="Train an MLP by mini-batch gradient descent; writes config.json, history.json, "
        "checkpoint.npz and curves.png into --out. The defaults are the best Fashion-MNIST recipe found.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    t.add_argument("--dataset", default=d["dataset"], help=f"one of {', '.join(DATASETS)}")
    t.add_argument("--data-dir", default=None, help="folder holding the IDX files (default: fnn.data's search path)")
    t.add_argument("--validation", type=_int, default=0,
                   help="hold out this many training examples as a validation set, monitored each epoch "
                   "(0: monitor the test set)")
    t.add_argument("--sizes", default=d["sizes"], help="layer widths, input first, comma-separated")
    t.add_argument("--hidden", default=d["hidden"], help=f"hidden activation: {', '.join(activations.names())}")
    t.add_argument("--output", default=d["output"], help=f"output activation: {', '.join(activations.names())}")
    t.add_argument("--cost", default=d["cost"], help=f"one of {', '.join(costs.names())}")
    t.add_argument("--optimizer", default=d["optimizer"], help=f"one of {', '.join(OPTIMIZERS)}")
    t.add_argument("--rate", type=_positive_float, default=d["rate"], help="learning rate eta (initial, with a schedule)")
    t.add_argument("--schedule", default=d["schedule"],
                   help=f"one of {', '.join(SCHEDULES)} (cosine/linear/exponential decay over the whole run "
                   "to 0 / rate/100 / rate/100)")
    t.add_argument("--momentum", type=_positive_float, default=None,
                   help="mu for sgd/momentum (default 0 for sgd, 0.9 for momentum)")
    t.add_argument("--weight-decay", type=_positive_float, default=1e-2, help="weight decay for adamw")
    t.add_argument("--batch-size", type=_int, default=d["batch_size"], help="mini-batch size m")
    t.add_argument("--epochs", type=_int, default=d["epochs"], help="number of epochs")
    t.add_argument("--norm", default=d["norm"], help=f"hidden-layer normalization: {', '.join(NORMS)}")
    t.add_argument("--grad", default="backprop", help="backprop (BP1-BP4 by hand) or autodiff (jax.grad)")
    t.add_argument("--devices", type=_int, default=1, help="data parallel over this many devices (0: all)")
    t.add_argument("--seed", type=_int, default=d["seed"], help="seed of the initialization and shuffles")
    t.add_argument("--out", default=None, help="run folder (default runs/<dataset>-<date-time>)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("evaluate", help="evaluate a saved run", description="Cost and accuracy of a saved run.")
    e.add_argument("run", help="the run folder written by fnn train")
    e.add_argument("--split", default="test", help=f"one of {', '.join(SPLITS)}")
    e.add_argument("--data-dir", default=None, help="folder holding the IDX files")
    return p


# --------------------------------------------------------------------------
# data


def load_dataset(name: str, split: str, data_dir: str | None = None, validation: int = 0) -> tuple[Any, Any]:
    """``(x, y)`` of a split of a dataset: ``fnn.data.load`` or the synthetic blobs."""
    import jax
    from fnn import data

    if name == "synthetic":
        n_train, n_test = SYNTHETIC_SIZES["train"], SYNTHETIC_SIZES["test"]
        if not 0 <= validation < n_train:
            raise ValueError(f"validation must be an int in [0, {n_train}) for synthetic, got {validation}")
        if split == "validation" and validation == 0:
            raise ValueError("split='validation' needs validation > 0, got validation=0")
        x, y = data.blobs(jax.random.key(SYNTHETIC_SEED), n_train + n_test, centers=10, dim=784, std=2.0, spread=1.0)
        if split == "test":
            return x[n_train:], y[n_train:]
        if split == "train":
            return x[: n_train - validation], y[: n_train - validation]
        return x[n_train - validation : n_train], y[n_train - validation : n_train]
    return data.load(name, split, validation=validation, data_dir=data_dir)


# --------------------------------------------------------------------------
# train


def _check_choice(parser, option: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        parser.error(f"argument {option}: must be one of {', '.join(allowed)}, got {value!r}")


def _parse_sizes(parser, text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        sizes = ()
    if len(sizes) < 2 or any(n <= 0 for n in sizes):
        parser.error(f"argument --sizes: must be at least two positive integers separated by commas, got {text!r}")
    return sizes


def _make_optimizer(cfg: dict, steps: int):
    from fnn import optim, schedules

    rate = cfg["rate"]
    sched = cfg["schedule"]
    if sched == "constant":
        eta = rate
    elif sched == "cosine":
        eta = schedules.cosine_decay(rate, steps)
    elif sched == "linear":
        eta = schedules.linear(rate, rate / 100, steps)
    else:  # exponential: rate * 0.01^(t/steps)
        eta = schedules.exponential_decay(rate, steps, 0.01)
    name, mu = cfg["optimizer"], cfg.get("momentum")
    if name == "gd":
        return optim.gd(eta)
    if name == "sgd":
        return optim.sgd(eta, momentum=0.0 if mu is None else mu)
    if name == "momentum":
        return optim.momentum(eta, mu=0.9 if mu is None else mu)
    if name == "adamw":
        return optim.adamw(eta, weight_decay=cfg["weight_decay"])
    return getattr(optim, name)(eta)


def _make_net(cfg: dict):
    from fnn import nn

    norm = None if cfg["norm"] == "none" else cfg["norm"]
    return nn.MLP(tuple(cfg["sizes"]), hidden=cfg["hidden"], output=cfg["output"], norm=norm)


def _is_run(path: pathlib.Path) -> bool:
    return path.is_dir() and any((path / f).exists() for f in RUN_FILES)


def _plot(history: dict, path: pathlib.Path, title: str, monitor: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping curves.png (pip install matplotlib)", file=sys.stderr)
        return False
    ep = history["epoch"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(ep, history["cost"], "o-", label="train (mean over the epoch's batches)")
    if history["val_cost"] and history["val_cost"][0] is not None:
        ax1.plot(ep, history["val_cost"], "s-", label=monitor)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cost")
    ax1.set_yscale("log")
    ax1.set_title("cost")
    ax1.legend()
    ax2.plot(ep, [100 * a for a in history["accuracy"]], "o-", label="train (mean over the epoch's batches)")
    if history["val_accuracy"] and history["val_accuracy"][0] is not None:
        ax2.plot(ep, [100 * a for a in history["val_accuracy"]], "s-", label=monitor)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.set_title("accuracy")
    ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    # --- check the arguments that need no data -----------------------------------
    from fnn import activations, costs

    _check_choice(parser, "--dataset", args.dataset, DATASETS)
    _check_choice(parser, "--hidden", args.hidden, activations.names())
    _check_choice(parser, "--output", args.output, activations.names())
    _check_choice(parser, "--cost", args.cost, costs.names())
    _check_choice(parser, "--optimizer", args.optimizer, OPTIMIZERS)
    _check_choice(parser, "--schedule", args.schedule, SCHEDULES)
    _check_choice(parser, "--norm", args.norm, NORMS)
    _check_choice(parser, "--grad", args.grad, ("backprop", "autodiff"))
    sizes = _parse_sizes(parser, args.sizes)
    if args.epochs <= 0:
        parser.error(f"argument --epochs: must be an integer >= 1, got {args.epochs}")
    if args.batch_size <= 0:
        parser.error(f"argument --batch-size: must be an integer >= 1, got {args.batch_size}")
    if args.validation < 0:
        parser.error(f"argument --validation: must be an integer >= 0, got {args.validation}")
    if args.cost == "log_likelihood" and args.output != "softmax":
        parser.error(f"argument --cost: log_likelihood needs --output softmax, got --output {args.output}")
    if args.norm != "none" and len(sizes) < 3:
        parser.error(f"argument --norm: {args.norm} normalizes hidden layers, but --sizes {args.sizes} has none")
    out = pathlib.Path(args.out or f"runs/{args.dataset}-{datetime.datetime.now():%Y%m%d-%H%M%S}")
    if out.exists() and not out.is_dir():
        parser.error(f"argument --out: {out} exists and is not a folder")
    if _is_run(out) and not args.overwrite:
        parser.error(f"argument --out: {out} already holds a run; choose another --out or pass --overwrite")
    if out.is_dir() and not _is_run(out) and any(out.iterdir()):
        parser.error(f"argument --out: {out} exists and holds files that are not an fnn run; choose another --out")

    import jax

    devices = jax.devices()
    if args.devices < 0 or args.devices > len(devices):
        parser.error(f"argument --devices: must be in [0, {len(devices)}] (0: all), got {args.devices}")
    devices = devices[: args.devices] if args.devices else devices

    # --- data ------------------------------------------------------------------------
    try:
        x, y = load_dataset(args.dataset, "train", args.data_dir, args.validation)
        monitor = "validation" if args.validation else "test"
        vx, vy = load_dataset(args.dataset, monitor, args.data_dir, args.validation)
        tx, ty = load_dataset(args.dataset, "test", args.data_dir, args.validation)
    except FileNotFoundError as err:
        parser.error(f"argument --dataset: {err}")
    except ValueError as err:
        parser.error(f"argument --validation: {err}")
    n, width = x.shape
    classes = int(jax.numpy.max(y)) + 1
    if sizes[0] != width:
        parser.error(f"argument --sizes: the first size must be the data's width {width} ({args.dataset}), got {sizes[0]}")
    if sizes[-1] != classes:
        parser.error(f"argument --sizes: the last size must be the number of classes {classes} ({args.dataset}), got {sizes[-1]}")
    if args.batch_size > n:
        parser.error(f"argument --batch-size: must be in [1, {n}] (the training examples), got {args.batch_size}")
    if args.batch_size % len(devices):
        parser.error(f"argument --batch-size: must be a multiple of the {len(devices)} devices, got {args.batch_size}")

    # --- train -----------------------------------------------------------------------
    from fnn import checkpoint, train

    cfg = {
        "dataset": args.dataset, "validation": args.validation, "sizes": list(sizes),
        "hidden": args.hidden, "output": args.output, "cost": args.cost, "optimizer": args.optimizer,
        "rate": args.rate, "schedule": args.schedule, "momentum": args.momentum,
        "weight_decay": args.weight_decay, "batch_size": args.batch_size, "epochs": args.epochs,
        "norm": args.norm, "grad": args.grad, "devices": len(devices), "seed": args.seed,
    }
    net = _make_net(cfg)
    optimizer = _make_optimizer(cfg, args.epochs * (n // args.batch_size))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the run folder should not be
    try:
        t0 = time.perf_counter()
        try:
            state, history = train.fit(
                net, args.cost, optimizer, (x, y), epochs=args.epochs, batch_size=args.batch_size,
                key=jax.random.key(args.seed), validation=(vx, vy), grad=args.grad,
                progress=not args.no_progress, devices=devices if len(devices) > 1 else None,
            )
        except FloatingPointError as err:
            print(f"fnn train: error: {err}", file=sys.stderr)
            return 1
        train_s = time.perf_counter() - t0
        test_cost, test_acc = train.evaluate(net, state, tx, ty, args.cost)
        history.update(
            monitor=monitor, test_cost=test_cost, test_accuracy=test_acc, train_s=train_s,
            final_step=int(state.step),
        )
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        (tmp / "history.json").write_text(json.dumps(history, indent=2) + "\n")
        checkpoint.save(tmp / "checkpoint.npz", state)
        title = f"{args.dataset}: {'-'.join(map(str, sizes))} {args.hidden}/{args.output}, {args.optimizer} {args.rate:g} {args.schedule}, m={args.batch_size}"
        _plot(history, tmp / "curves.png", title, monitor)
        _move_into_place(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"test accuracy {100 * test_acc:.2f}% (cost {test_cost:.4f}) after {args.epochs} epochs "
        f"in {train_s:.1f} s; run saved to {out}"
    )
    return 0


def _move_into_place(tmp: pathlib.Path, out: pathlib.Path) -> None:
    """Rename the finished ``tmp`` folder to ``out``; an old run there is removed only afterwards."""
    old = None
    if out.is_dir():
        if any(out.iterdir()):
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        else:
            out.rmdir()
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------
# evaluate


def _evaluate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    _check_choice(parser, "--split", args.split, SPLITS)
    run = pathlib.Path(args.run)
    if not (run / "config.json").is_file() or not (run / "checkpoint.npz").is_file():
        parser.error(f"argument run: {run} is not an fnn run (expected config.json and checkpoint.npz in it)")
    cfg = json.loads((run / "config.json").read_text())
    if args.split == "validation" and not cfg.get("validation"):
        parser.error("argument --split: the run held out no validation set (trained with --validation 0)")

    import jax
    from fnn import checkpoint, train

    net = _make_net(cfg)
    optimizer = _make_optimizer(cfg, max(1, cfg["epochs"]))
    like = train.init_state(net, optimizer, jax.random.key(0))
    state = checkpoint.load(run / "checkpoint.npz", like=like)
    try:
        x, y = load_dataset(cfg["dataset"], args.split, args.data_dir, cfg.get("validation", 0))
    except FileNotFoundError as err:
        parser.error(f"argument --data-dir: {err}")
    cost, acc = train.evaluate(net, state, x, y, cfg["cost"])
    print(f"{args.split} accuracy {100 * acc:.2f}% (cost {cost:.4f}) on {x.shape[0]} examples of {cfg['dataset']}")
    return 0


# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fnn`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    sub = parser._subparsers._group_actions[0].choices[args.command]  # errors name the subcommand
    if args.command == "train":
        return _train(sub, args)
    return _evaluate(sub, args)


if __name__ == "__main__":
    sys.exit(main())
