"""What ``fnn train`` and ``fnn sweep`` share: processes, devices, the run folder, the data.

Each function takes checked values (a config of :mod:`fnn.cli._config`, the
parsed flags) and raises :class:`UsageError` naming the flag for a mistake
only visible now: an unusable ``--out``, more ``--devices`` than there are,
missing or corrupt data files, a ``--sizes`` that does not fit the data.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
from typing import Any, Mapping, NamedTuple

from fnn import runs
from fnn.cli._config import SYNTHETIC_SEED, SYNTHETIC_SIZES, UsageError

# --------------------------------------------------------------------------
# processes and devices


def start_processes(args: argparse.Namespace) -> bool:
    """``jax.distributed`` from ``--coordinator/--num-processes/--process-id/--cluster`` and
    ``--join-timeout`` (before anything touches JAX's devices); whether this is one process of several.

    Process 0 listens at the ``--coordinator`` address only. While the
    processes join, each prints ``fnn CMD: waiting for process k of N at
    HOST:PORT``; a process that does not join within ``--join-timeout``, a
    process id given twice or a different ``--num-processes`` ends every
    process that joined with status 1 and one line naming it
    (:class:`fnn.distributed.JoinError`); a coordinator port in use is a
    :class:`UsageError` of ``--coordinator``. A process that dies later makes
    the others exit with status 1 and one line naming it.
    """
    from fnn import distributed

    join_timeout = getattr(args, "join_timeout", 60)
    if join_timeout < 1:
        raise UsageError("--join-timeout", f"must be an integer >= 1 (seconds), got {join_timeout}")
    try:
        distributed.maybe_initialize(args.coordinator, args.num_processes, args.process_id, auto=args.cluster,
                                     join_timeout_s=join_timeout, heartbeat_timeout_s=30, shutdown_timeout_s=60,
                                     prog=f"fnn {getattr(args, 'command', 'train')}")
    except ValueError as err:
        text = str(err)
        flag = next((f for k, f in (("process_id", "--process-id"), ("num_processes", "--num-processes"),
                                    ("auto", "--cluster")) if text.startswith(k)), "--coordinator")
        raise UsageError(flag, text) from None
    import jax

    return jax.process_count() > 1


def pick_devices(count: int | None) -> list:
    """The devices ``--devices count`` asks for (0: all). Not given (None): one device in one process;
    with several processes every device of every process (the only choice there)."""
    import jax

    devices = jax.devices()
    if jax.process_count() > 1:  # the mesh spans every process's devices
        if count not in (None, 0, len(devices)):
            raise UsageError("--devices", f"with {jax.process_count()} processes must be 0 (all {len(devices)} "
                             f"devices of every process) or left out, got {count}")
        return devices
    count = 1 if count is None else count
    if count < 0 or count > len(devices):
        raise UsageError("--devices", f"must be in [0, {len(devices)}] (0: all), got {count}")
    return devices[:count] if count else devices


def whole_copy(tree: Any) -> Any:
    """``tree`` as whole host values on this process, what one process can save: ``fnn.parallel.to_host``
    (a leaf split over processes is all-gathered, a collective, so every process must call this, in the same
    order), with PRNG keys turned back into keys."""
    import jax

    from fnn import parallel

    def key_again(a: Any, h: Any) -> Any:
        if isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(h, impl=jax.random.key_impl(a))
        return h

    return jax.tree_util.tree_map(key_again, tree, parallel.to_host(tree))


#: How a config key is given on the command line, where it is not ``--key-with-dashes``.
_FLAG_OF = {"rates": "--rate", "data": "--data-dir (the data files' SHA-256)", "processes": "--num-processes"}


def check_processes_agree(cfg: Mapping[str, Any]) -> None:
    """Every process was given the same run: the whole config (every key: whatever shapes the trajectory,
    and what the run folder records), compared in one all-gather; a :class:`UsageError` naming each flag
    that differs and every process's value. (Data files count by their SHA-256, not their paths.)"""
    from fnn import distributed

    def comparable(key: str, value: Any) -> Any:
        return data_identity(value) if key == "data" else value

    values = {_FLAG_OF.get(k, "--" + k.replace("_", "-")): comparable(k, v) for k, v in sorted(cfg.items())}
    try:
        distributed.check_same("arguments", values)
    except distributed.Disagreement as err:
        flags = list(err.differ)
        raise UsageError(flags[0].split(" ")[0], f"every process must be given the same {', '.join(flags)}, "
                         f"but they differ: {str(err).split('differ in ', 1)[1]}") from None


# --------------------------------------------------------------------------
# the run folder


def check_out(out: str | None, overwrite: bool, command: str) -> pathlib.Path | None:
    """``--out`` checked (after cleaning up killed runs into it, which is reported); None: the default."""
    if out is None:
        return None
    try:
        for line in runs.recover(out):
            print(f"fnn {command}: {line}", file=sys.stderr)
        return runs.check_out(out, overwrite, command)
    except runs.RunFolderError as err:
        raise UsageError("--out", str(err)) from err


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

    if name != "synthetic":
        return data.load(name, split, validation=validation, data_dir=data_dir)
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


def provenance(name: str, data_dir: str | None) -> dict:
    """What a run records under ``"data"``: the generator of the synthetic set, or each file's path and SHA-256."""
    from fnn import data

    if name == "synthetic":
        return {"generator": "fnn.data.blobs", "seed": SYNTHETIC_SEED, **SYNTHETIC_SIZES}
    return data.provenance(name, data_dir=data_dir)


def data_identity(recorded: Any) -> Any:
    """What identifies the data a run recorded under ``"data"``: each file's SHA-256 (not its path), or
    the synthetic set's generator and sizes."""
    if not isinstance(recorded, dict):
        return recorded
    return {k: (v.get("sha256") if isinstance(v, dict) else v) for k, v in recorded.items()}


def check_resumed_data(recorded: Any, now: Mapping[str, Any], folder: pathlib.Path) -> None:
    """A resumed run reads the data it began with: the files' SHA-256 (or the synthetic set) recorded in
    its ``config.json`` equal those read now, whatever their paths; a :class:`UsageError` otherwise,
    naming each file that differs (of ``--data-dir``; of ``--resume`` for a synthetic set this fnn
    generates otherwise). A run recorded without ``"data"`` is not checked."""
    if recorded is None:
        return
    then, read = data_identity(recorded), data_identity(now)
    if then == read:
        return
    files = isinstance(recorded, dict) and all(isinstance(v, dict) for v in recorded.values())
    if isinstance(then, dict) and isinstance(read, dict):
        keys = sorted(set(then) | set(read), key=str)
        diff = "; ".join(f"{k}: {read.get(k)!r} now, {then.get(k)!r} in the run" for k in keys
                         if then.get(k) != read.get(k))
    else:
        diff = f"{read!r} now, {then!r} in the run"
    advice = ("point --data-dir at those files, or start a new run" if files else
              "resume it with the fnn that began it, or start a new run")
    raise UsageError("--data-dir" if files else "--resume",
                     f"the data read now is not the data {folder} began with ({diff}); a resumed run "
                     f"continues on its own data: {advice}")


def data_error(flag: str, err: Exception) -> UsageError:
    """A data error of ``fnn.data`` as a :class:`UsageError` of ``flag``, its advice in flags:
    ``data_dir=`` reads ``--data-dir``."""
    text = re.sub(r"\bdata_dir=(?=[^\s,;)])", "--data-dir ", str(err))
    text = re.sub(r"\bdata_dir\b=?", "--data-dir", text)
    text = text.replace("pass mirrors= or set", "set")
    return UsageError(flag, text.removeprefix(f"{flag} "))


def load_datasets(cfg: Mapping[str, Any], data_dir: str | None = None) -> Datasets:
    """The training, validation and test splits a checked config describes (see :class:`Datasets`).

    Raises :class:`UsageError` for missing or corrupt files, naming
    ``--data-dir`` (or ``--dataset`` when no folder was given) and the file.
    """
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
        recorded = provenance(name, data_dir)
    except (FileNotFoundError, ValueError, OSError) as err:
        raise data_error("--data-dir" if data_dir is not None else "--dataset", err) from err
    return Datasets(train, val, test, recorded)


def check_data(cfg: Mapping[str, Any], ds: Datasets, n_devices: int) -> None:
    """``--sizes`` fits the data (its width, its classes); ``--batch-size`` fits the training set and
    is a multiple of the ``n_devices`` a mini-batch is sharded over."""
    import jax.numpy as jnp

    x, y = ds.train
    n, width = x.shape
    # the classes of the data set: its labels in every split (a small training split may miss some)
    classes = max(int(jnp.max(labels)) + 1 for _, labels in (ds.train, ds.validation or ds.train, ds.test))
    sizes, name = cfg["sizes"], cfg["dataset"]
    if sizes[0] != width:
        raise UsageError("--sizes", f"the first size must be the data's width {width} ({name}), got {sizes[0]}")
    if sizes[-1] != classes:
        raise UsageError("--sizes", f"the last size must be the number of classes {classes} ({name}), got {sizes[-1]}")
    if cfg["batch_size"] > n:
        left = f" (--validation {cfg['validation']} holds out the rest)" if cfg["validation"] else ""
        raise UsageError("--batch-size", f"must be in [1, {n}] (the training examples), got {cfg['batch_size']}{left}")
    if cfg["batch_size"] % n_devices:
        raise UsageError("--batch-size", f"must be a multiple of the {n_devices} devices, got {cfg['batch_size']}")


# --------------------------------------------------------------------------
# the start shared by train and sweep


class Start(NamedTuple):
    """Where a run stands once started: whether this process writes, ``--out`` (None: a default folder),
    the devices and the data."""

    writer: bool
    out: pathlib.Path | None
    devices: list
    data: Datasets


def start(cfg: dict, args: argparse.Namespace, command: str, members: int | None = None) -> Start:
    """Start the processes, check ``--out``, pick the devices, load and check the data.

    Records in ``cfg`` the ``devices`` used, the ``data`` read and, with
    several processes, their number. ``members``: a population sharded over
    the devices (``fnn sweep``), whose size must be a multiple of their number;
    None: mini-batches are sharded (``fnn train``).
    """
    from fnn import distributed

    several = start_processes(args)
    if several:  # before anything one process alone may fail on
        check_processes_agree(cfg)
    writer = distributed.is_writer()
    out = check_out(args.out, args.overwrite, command) if writer else None
    devices = pick_devices(args.devices)
    cfg["devices"] = len(devices)
    if members is not None and members % len(devices):
        raise UsageError("--devices", f"the grid's {members} members must be a multiple of the "
                         f"{len(devices)} devices")
    ds = load_datasets(cfg, args.data_dir)
    check_data(cfg, ds, len(devices) if members is None else 1)
    cfg["data"] = ds.provenance
    if several:
        import jax

        cfg["processes"] = jax.process_count()
    return Start(writer, out, devices, ds)
