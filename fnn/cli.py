"""The ``fnn`` command line: train an MLP on a dataset, evaluate a saved run.

(Notes, "Algorithm: Gradient descent + Backpropagation" and "Stochastic
gradient descent", run from a shell: ``C = (1/n) sum_x C_x`` minimized by
mini-batch updates ``w <- w - (eta/m) sum_x dC_x/dw``.)

::

    fnn train                                   # the default recipe on Fashion-MNIST
    fnn train --dataset fashion_mnist --sizes 784,256,256,10 --hidden relu \\
              --output softmax --cost log_likelihood --optimizer adam --rate 1e-3 \\
              --schedule cosine --batch-size 128 --epochs 20 --norm batch --seed 0 \\
              --out runs/NAME
    fnn evaluate runs/NAME                      # test accuracy of the saved run

**Validation and test.** ``fnn train`` holds out the last ``--validation``
training examples (default 5,000; 200 of the 2,000 for ``--dataset synthetic``),
trains on the rest, reports the held-out *validation* cost and accuracy after
each epoch (``val_acc`` in the progress bar, ``val_cost``/``val_accuracy`` in
``history.json``) and evaluates the *test* set once, at the end.
``--validation 0`` trains on every training example and monitors nothing.

**The run folder** (:mod:`fnn.runs`): ``config.json`` (the arguments, and
under ``"data"`` the path and SHA-256 of every data file read),
``history.json`` (per-epoch cost, accuracy, rate, examples/s, the final test
result; strict JSON, a NaN written as ``null``), ``checkpoint.npz`` (the
:class:`fnn.train.TrainState`, :mod:`fnn.checkpoint`), ``curves.png`` and the
marker ``fnn-run.json``. Without ``--out`` the folder is a new unique
``runs/<dataset>-<date-time>-<6 hex>``. It is assembled under a hidden name
and renamed into place at the end; ``--overwrite`` replaces only a run of
fnn's (with a marker) and never a file fnn did not write.

**Errors.** A mistake on the command line (a bad value, an unusable
``--out``, missing or corrupt data files, a damaged run) exits with status 2
and one line ``fnn CMD: error: argument ARG: what was expected, what was
given``, never a traceback; ``--debug`` shows the traceback. A run that
diverges exits with status 1.

**Reuse** (e.g. by a sweep subcommand): :func:`add_data_arguments`,
:func:`add_model_arguments`, :func:`add_optimizer_arguments`,
:func:`add_training_arguments` add the flags to a parser;
:func:`config_from_args` checks them into a config dict;
:func:`build_network`, :func:`build_optimizer` and :func:`load_datasets`
turn a config into the objects ``fnn.train.fit`` takes.

The defaults of ``fnn train`` (``DEFAULTS``) are the recipe measured best for
Fashion-MNIST within a couple of minutes on 2 CPU cores. ``--dataset
synthetic`` is a generated task of the same shape (10 Gaussian blobs in 784
dimensions) that needs no files. Also runnable as ``python -m fnn``.
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import sys
import time
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

from fnn import runs
from fnn._cli_config import (  # noqa: F401  (re-exported: the public names of the command line)
    DATASETS, DEFAULTS, NORMS, HelpFormatter, OPTIMIZERS, SCHEDULES, SPLITS, SYNTHETIC_SEED, SYNTHETIC_SIZES,
    TRAIN_SIZES, UsageError, add_data_arguments, add_model_arguments, add_optimizer_arguments,
    add_distributed_arguments, add_training_arguments, build_network, build_optimizer, check_config, config_from_args,
)

__all__ = [
    "main", "build_parser", "DEFAULTS", "DATASETS", "OPTIMIZERS", "SCHEDULES", "UsageError",
    "add_data_arguments", "add_model_arguments", "add_optimizer_arguments", "add_training_arguments",
    "config_from_args", "check_config", "build_network", "build_optimizer", "load_dataset",
    "load_datasets", "Datasets",
]


# --------------------------------------------------------------------------
# parser


def _add_debug(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show the Python traceback of an error")


def build_parser() -> argparse.ArgumentParser:
    """The ``fnn`` argument parser (subcommands ``train`` and ``evaluate``)."""
    p = argparse.ArgumentParser(prog="fnn", description="Train and evaluate fully connected networks (fnn).")
    sub = p.add_subparsers(dest="command", metavar="{train,sweep,evaluate}")
    sub.required = True

    t = sub.add_parser(
        "train",
        help="train an MLP and save the run",
        description="Train an MLP by mini-batch gradient descent, monitoring a held-out validation set; "
        "writes config.json, history.json, checkpoint.npz and curves.png into --out. The defaults are "
        "the best Fashion-MNIST recipe found.",
        formatter_class=HelpFormatter,
    )
    add_data_arguments(t)
    add_model_arguments(t)
    add_optimizer_arguments(t)
    add_training_arguments(t)
    add_distributed_arguments(t)
    t.add_argument("--out", default=None, help="run folder (default: a new runs/<dataset>-<date-time>-<6 hex>)")
    t.add_argument("--overwrite", action="store_true", help="replace the fnn run in --out")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_debug(t)

    from fnn import _cli_sweep

    _cli_sweep.add_parser(sub)

    e = sub.add_parser("evaluate", help="evaluate a saved run", description="Cost and accuracy of a saved run.")
    e.add_argument("run", help="the run folder written by fnn train")
    e.add_argument("--split", default="test", help=f"one of {', '.join(SPLITS)}")
    e.add_argument("--data-dir", default=None, help="folder holding the IDX files")
    _add_debug(e)
    return p


# --------------------------------------------------------------------------
# data


class Datasets(NamedTuple):
    """The splits of a run: ``(x, y)`` pairs; ``validation`` is None with ``validation = 0``.

    ``provenance``: what ``config.json`` records under ``"data"`` (for a real
    data set, each file's path and SHA-256: ``fnn.data.provenance``).
    """

    train: tuple[Any, Any]
    validation: tuple[Any, Any] | None
    test: tuple[Any, Any]
    provenance: dict


def load_dataset(name: str, split: str, data_dir: str | None = None, validation: int = 0) -> tuple[Any, Any]:
    """``(x, y)`` of a split of a dataset: ``fnn.data.load`` or the synthetic blobs.

    Synthetic: ``SYNTHETIC_SIZES`` training and test examples of
    ``fnn.data.blobs`` with seed ``SYNTHETIC_SEED``; the validation split is
    the last ``validation`` training examples, as for the real data sets.
    """
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


def _provenance(name: str, data_dir: str | None) -> dict:
    from fnn import data

    if name == "synthetic":
        return {"generator": "fnn.data.blobs", "seed": SYNTHETIC_SEED, **SYNTHETIC_SIZES}
    return data.provenance(name, data_dir=data_dir)


def _data_argument(data_dir: str | None) -> str:
    return "--data-dir" if data_dir is not None else "--dataset"


def load_datasets(cfg: Mapping[str, Any] | argparse.Namespace, data_dir: str | None = None) -> Datasets:
    """The training, validation and test splits a config describes (see :class:`Datasets`).

    Raises :class:`UsageError` for missing or corrupt files, naming
    ``--data-dir`` (or ``--dataset`` when no folder was given) and the file.
    """
    if isinstance(cfg, argparse.Namespace):
        data_dir = cfg.data_dir
        cfg = config_from_args(cfg)
    name, k = cfg["dataset"], cfg["validation"]
    if data_dir is not None:
        if name == "synthetic":
            raise UsageError("--data-dir", f"--dataset synthetic reads no files, got --data-dir {data_dir}")
        if not pathlib.Path(data_dir).is_dir():
            raise UsageError("--data-dir", f"must be an existing folder holding the {name} files, got {data_dir}")
    try:
        train = load_dataset(name, "train", data_dir, k)
        val = load_dataset(name, "validation", data_dir, k) if k else None
        test = load_dataset(name, "test", data_dir, k)
        provenance = _provenance(name, data_dir)
    except (FileNotFoundError, ValueError, OSError) as err:
        raise UsageError(_data_argument(data_dir), str(err)) from err
    return Datasets(train, val, test, provenance)


def _check_data(cfg: dict, ds: Datasets, n_devices: int) -> None:
    import jax.numpy as jnp

    x, y = ds.train
    n, width = x.shape
    classes = int(jnp.max(y)) + 1
    sizes, name = cfg["sizes"], cfg["dataset"]
    if sizes[0] != width:
        raise UsageError("--sizes", f"the first size must be the data's width {width} ({name}), got {sizes[0]}")
    if sizes[-1] != classes:
        raise UsageError("--sizes", f"the last size must be the number of classes {classes} ({name}), got {sizes[-1]}")
    if cfg["batch_size"] > n:
        raise UsageError("--batch-size", f"must be in [1, {n}] (the training examples), got {cfg['batch_size']}")
    if cfg["batch_size"] % n_devices:
        raise UsageError("--batch-size", f"must be a multiple of the {n_devices} devices, got {cfg['batch_size']}")


# --------------------------------------------------------------------------
# train


def _start_processes(args: argparse.Namespace) -> bool:
    """``jax.distributed`` from ``--coordinator/--num-processes/--process-id/--cluster``
    (before anything touches JAX); whether this is one process of several."""
    from fnn import distributed

    try:
        distributed.maybe_initialize(args.coordinator, args.num_processes, args.process_id, auto=args.cluster,
                                     heartbeat_timeout_s=30)
    except ValueError as err:
        text = str(err)
        flag = next((f for k, f in (("process_id", "--process-id"), ("num_processes", "--num-processes"),
                                    ("auto", "--cluster")) if text.startswith(k)), "--coordinator")
        raise UsageError(flag, text) from None
    import jax

    return jax.process_count() > 1


def _devices(count: int) -> list:
    import jax

    devices = jax.devices()
    if jax.process_count() > 1:  # the mesh spans every process's devices
        if count not in (0, len(devices)):
            raise UsageError("--devices", f"with {jax.process_count()} processes must be 0 (all {len(devices)} "
                             f"devices of every process), got {count}")
        return devices
    if count < 0 or count > len(devices):
        raise UsageError("--devices", f"must be in [0, {len(devices)}] (0: all), got {count}")
    return devices[:count] if count else devices


def _check_out(args: argparse.Namespace) -> pathlib.Path | None:
    """``--out`` checked (after cleaning up killed runs into it, which is reported); None: default."""
    if args.out is None:
        return None
    try:
        for line in runs.recover(args.out):
            print(f"fnn train: {line}", file=sys.stderr)
        return runs.check_out(args.out, args.overwrite)
    except runs.RunFolderError as err:
        raise UsageError("--out", str(err)) from err


def _reserve(dataset: str) -> pathlib.Path:
    """A new unique default run folder ``runs/<dataset>-<date-time>-<6 hex>``."""
    try:
        return runs.unique_dir("runs", dataset)
    except runs.RunFolderError as err:
        raise UsageError("--out", f"(default runs/{dataset}-...) {err}") from err


def _fit(cfg: dict, ds: Datasets, devices: list, progress: bool):
    import jax
    from fnn import train

    x, y = ds.train
    net = build_network(cfg)
    optimizer = build_optimizer(cfg, cfg["epochs"] * (x.shape[0] // cfg["batch_size"]))
    t0 = time.perf_counter()
    state, history = train.fit(
        net, cfg["cost"], optimizer, (x, y), epochs=cfg["epochs"], batch_size=cfg["batch_size"],
        key=jax.random.key(cfg["seed"]), validation=ds.validation, grad=cfg["grad"], precision=cfg["precision"],
        progress=progress, devices=devices if len(devices) > 1 else None,
    )
    train_s = time.perf_counter() - t0
    test_cost, test_acc = train.evaluate(net, state, *ds.test, cfg["cost"])  # the test set, once
    history.update(
        monitor="validation" if ds.validation is not None else None,
        validation_examples=cfg["validation"], test_cost=test_cost, test_accuracy=test_acc,
        train_s=train_s, final_step=int(state.step),
    )
    return state, history


def _write_run(tmp: pathlib.Path, cfg: dict, state: Any, history: dict) -> None:
    from fnn import checkpoint

    runs.write_json(tmp / "config.json", cfg)
    runs.write_json(tmp / "history.json", history)
    checkpoint.save(tmp / "checkpoint.npz", state)
    title = (f"{cfg['dataset']}: {'-'.join(map(str, cfg['sizes']))} {cfg['hidden']}/{cfg['output']}, "
             f"{cfg['optimizer']} {cfg['rate']:g} {cfg['schedule']}, m={cfg['batch_size']}")
    monitor = f"validation ({cfg['validation']:,} held out)" if cfg["validation"] else None
    runs.plot_history(history, tmp / "curves.png", title, monitor)


@contextlib.contextmanager
def staged_run(out: pathlib.Path | None, prefix: str, overwrite: bool, command: str) -> Iterator[tuple[pathlib.Path, pathlib.Path]]:
    """``with staged_run(out, prefix, overwrite, "train") as (tmp, out):`` write the run into ``tmp``.

    ``out`` None reserves a new unique ``runs/<prefix>-<date-time>-<6 hex>``.
    On a normal exit the staging folder is committed (:func:`fnn.runs.commit`)
    into ``out``; on an exception it is discarded, with the reserved folder.
    A run-folder problem is a :class:`UsageError` of ``--out``.
    """
    reserved = out is None
    out = _reserve(prefix) if reserved else out
    tmp = None
    try:
        tmp = runs.stage(out)
        yield tmp, out
        for line in runs.commit(tmp, out, overwrite=overwrite):
            print(f"fnn {command}: {line}", file=sys.stderr)
        tmp = None
    except runs.RunFolderError as err:
        raise UsageError("--out", str(err)) from err
    finally:
        if tmp is not None:
            runs.discard(tmp, out if reserved else None)


def _train(args: argparse.Namespace) -> int:
    from fnn import distributed

    cfg = config_from_args(args)
    several = _start_processes(args)
    out = _check_out(args) if distributed.is_writer() else None
    devices = _devices(args.devices)
    cfg["devices"] = len(devices)
    ds = load_datasets(cfg, args.data_dir)
    _check_data(cfg, ds, len(devices))
    cfg["data"] = ds.provenance
    if several:
        import jax

        cfg["processes"] = jax.process_count()
    try:
        if not distributed.is_writer():  # another process of a multi-process run: trains, writes nothing
            _fit(cfg, ds, devices, False)
            return 0
        with staged_run(out, cfg["dataset"], args.overwrite, "train") as (tmp, out):
            state, history = _fit(cfg, ds, devices, not args.no_progress)
            _write_run(tmp, cfg, state, history)
    except FloatingPointError as err:
        print(f"fnn train: error: {err}", file=sys.stderr)
        return 1
    val = history["val_accuracy"][-1] if history["val_accuracy"] else None
    held = f" (validation accuracy {100 * val:.2f}% on {cfg['validation']:,} held-out examples)" if val is not None else ""
    print(
        f"test accuracy {100 * history['test_accuracy']:.2f}% (cost {history['test_cost']:.4f}) after "
        f"{cfg['epochs']} epochs in {history['train_s']:.1f} s{held}; run saved to {out}"
    )
    return 0


# --------------------------------------------------------------------------
# evaluate


def _read_config(run: pathlib.Path) -> dict:
    import json

    path = run / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError("run", f"{path} is not valid JSON ({err})") from err
    if not isinstance(cfg, dict):
        raise UsageError("run", f"{path} must hold a JSON object, got {type(cfg).__name__}")
    try:
        return check_config(cfg)
    except UsageError as err:
        raise UsageError("run", f"{path}: {err.message}") from err


def _load_state(run: pathlib.Path, cfg: dict):
    import jax
    from fnn import checkpoint, train

    net = build_network(cfg)
    optimizer = build_optimizer(cfg, max(1, cfg["epochs"]))
    like = jax.eval_shape(lambda: train.init_state(net, optimizer, jax.random.key(0)))
    try:
        return net, checkpoint.load(run / "checkpoint.npz", like=like)
    except ValueError as err:
        if "does not fit like" in str(err):
            detail = str(err).split("does not fit like: ", 1)[1]
            raise UsageError("run", f"{run / 'checkpoint.npz'} does not match {run / 'config.json'}: {detail}") from err
        raise UsageError("run", str(err)) from err


def _evaluate(args: argparse.Namespace) -> int:
    if args.split not in SPLITS:
        raise UsageError("--split", f"must be one of {', '.join(SPLITS)}, got {args.split!r}")
    run = pathlib.Path(args.run)
    if not run.exists():
        left = runs.interrupted(run)
        hint = (f"; an interrupted --overwrite left its previous run at {left[0]} (move it back with "
                f"`mv {left[0]} {run}`, or run fnn train --out {run})") if left else ""
        raise UsageError("run", f"{run} does not exist{hint}")
    if not (run / "config.json").is_file() or not (run / "checkpoint.npz").is_file():
        raise UsageError("run", f"{run} is not an fnn run (expected config.json and checkpoint.npz in it)")
    cfg = _read_config(run)
    if args.split == "validation" and not cfg["validation"]:
        raise UsageError("--split", "the run held out no validation set (trained with --validation 0)")
    net, state = _load_state(run, cfg)
    from fnn import train

    try:
        x, y = load_dataset(cfg["dataset"], args.split, args.data_dir, cfg["validation"])
        now = _provenance(cfg["dataset"], args.data_dir)
    except (FileNotFoundError, ValueError, OSError) as err:
        raise UsageError("--data-dir", str(err)) from err
    if "data" in cfg and cfg["data"] != now:  # e.g. a version of the files other than the run's
        print(f"fnn evaluate: warning: the data read now ({now}) differs from the run's ({cfg['data']})",
              file=sys.stderr)
    cost, acc = train.evaluate(net, state, x, y, cfg["cost"])
    print(f"{args.split} accuracy {100 * acc:.2f}% (cost {cost:.4f}) on {x.shape[0]} examples of {cfg['dataset']}")
    return 0


# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fnn`` console script; returns the exit status.

    A :class:`UsageError` exits with status 2 and ``fnn CMD: error: argument
    ARG: MESSAGE``; any other exception (a bug, or a mistake not foreseen)
    prints one line and exits with status 1. ``--debug`` re-raises instead.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    sub = parser._subparsers._group_actions[0].choices[args.command]  # errors name the subcommand
    try:
        from fnn import _cli_sweep

        return {"train": _train, "sweep": _cli_sweep.run, "evaluate": _evaluate}[args.command](args)
    except UsageError as err:
        if args.debug:
            raise
        sub.error(f"argument {err.argument}: {err.message}")
    except KeyboardInterrupt:
        print(f"fnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - one line instead of a traceback (--debug shows it)
        if args.debug:
            raise
        print(f"fnn {args.command}: error: {type(err).__name__}: {err} (--debug shows the traceback)", file=sys.stderr)
        return 1
    return 2  # pragma: no cover - sub.error exits


if __name__ == "__main__":
    sys.exit(main())
