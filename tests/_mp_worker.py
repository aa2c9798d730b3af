"""Child process of tests/test_multiprocess.py: one process of a multi-process run.

    python tests/_mp_worker.py SCENARIO PROCESS_ID NUM_PROCESSES PORT OUT

SCENARIO:
  ``main``    every process passes the whole training set: fit (checkpoint after
              epoch 1, only the writer writes the run folder), every process
              resumes from that checkpoint, fit_population, and the agreement
              checks (another seed / other data on process 1 must raise);
  ``local``   the same with ``process_local=True``: each process passes its half
              of the training set (process 1 passing fewer rows must raise);
  ``single``  the references in one process with 4 devices, and the two-process
              checkpoints listed in ``$MP_CHECKPOINTS`` resumed here;
  ``fail``    a long fit that prints one line per epoch (the test kills a process).

Each process writes its results to ``OUT/results/p<ID>.npz`` and ``.json``; the
run folder ``OUT/run`` is written by the writer (process 0) only. The
environment (``XLA_FLAGS``, ``JAX_PLATFORMS``) is set by the test.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time

T0 = time.perf_counter()
SCENARIO, PID, NPROC, PORT, OUT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), pathlib.Path(sys.argv[5])

import jax  # noqa: E402

from fnn import distributed  # noqa: E402

if NPROC > 1:
    heartbeat = 4 if SCENARIO == "fail" else 30
    distributed.initialize(f"127.0.0.1:{PORT}", NPROC, PID, join_timeout_s=60, heartbeat_timeout_s=heartbeat,
                           shutdown_timeout_s=30, bind_address=f"127.0.0.1:{PORT}")

import numpy as np  # noqa: E402

from fnn import checkpoint, nn, optim, parallel, schedules, train  # noqa: E402

N, N_IN, BATCH, EPOCHS, POP = 256, 8, 32, 2, 4
NET = nn.MLP((N_IN, 16, 3), hidden="tanh", output="softmax")
COST = "log_likelihood"
RATES = np.array([0.05, 0.1, 0.2, 3e38], np.float32)  # the last overflows float32 at update 2: frozen


def dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The same 256 examples (3 classes) in every process."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, N_IN)).astype(np.float32)
    y = (np.argmax(x[:, :3], axis=1)).astype(np.int32)
    return x, y


def validation() -> tuple[np.ndarray, np.ndarray]:
    """64 other examples, the whole set in every process."""
    return tuple(a[:64] for a in dataset(seed=1))


def optimizer():
    return optim.sgd(0.1, momentum=0.9)


def params_of(state) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(parallel.to_host(state.params))]


def stage(name: str, times: dict) -> None:
    times[name] = round(time.perf_counter() - T0, 2)


def fit_run(data, results, times, run: pathlib.Path | None, process_local: bool = False, prefix: str = "fit"):
    """EPOCHS epochs; the state after epoch 1 is kept (and checkpointed by the writer)."""
    wrote = results.setdefault("wrote", [])

    def after_epoch(e, state, record):
        results[f"{prefix}_e{e}"] = params_of(state)
        if run is not None and e == 1 and distributed.is_writer():
            checkpoint.save(run / "ckpt_e1.npz", parallel.to_host(state))
            wrote.append("ckpt_e1.npz")

    state, history = train.fit(NET, COST, optimizer(), data, EPOCHS, BATCH, key=jax.random.key(0), progress=False,
                               devices=jax.devices(), callback=after_epoch, process_local=process_local,
                               validation=validation())
    results[f"{prefix}_cost"] = np.asarray(history["cost"])
    results[f"{prefix}_val"] = np.asarray(history["val_cost"] + history["val_accuracy"])
    stage(prefix, times)
    return state, history


def population_run(data, results, times, process_local: bool = False):
    keys = jax.random.split(jax.random.key(1), POP)
    states, history = train.fit_population(NET, COST, optimizer(), data, EPOCHS, BATCH, keys=keys,
                                           hyperparams={"rate": RATES}, progress=False, devices=jax.devices(),
                                           process_local=process_local, validation=validation())
    results["pop"] = params_of(states)
    results["pop_cost"] = np.stack(history["cost"])
    results["pop_val"] = np.stack(history["val_cost"] + history["val_accuracy"])
    results["pop_diverged"] = np.asarray(history["diverged"])
    stage("population", times)


def expect_disagreement(results, times, process_local: bool) -> None:
    """Process 1 passes another seed, then other data (fewer rows with process_local):
    every process must raise a ValueError naming what differs."""
    x, y = dataset()
    if process_local:
        rows = slice(PID * N // NPROC, (PID + 1) * N // NPROC - 2 * PID)  # process 1: 2 rows fewer
        other = (x[rows], y[rows])
    else:
        other = (x, y) if PID == 0 else (x, y[::-1].copy())
    mine = local_rows(x, y) if process_local else (x, y)
    for what, key, data in (("seed", PID, mine), ("data", 0, other)):
        try:
            train.fit(NET, COST, optimizer(), data, 1, BATCH, key=jax.random.key(key), progress=False,
                      devices=jax.devices(), process_local=process_local)
            results[f"disagree_{what}"] = "no error"
        except ValueError as e:
            results[f"disagree_{what}"] = str(e)
    if not process_local:  # process 1 passes another schedule (same rate at step 0), then another precision
        decayed = optim.sgd(schedules.cosine_decay(0.1, 1000), momentum=0.9)
        for what, opt, precision in (("schedule", decayed if PID else optimizer(), "float32"),
                                     ("precision", optimizer(), "bfloat16" if PID else "float32")):
            try:
                train.fit(NET, COST, opt, mine, 1, BATCH, key=jax.random.key(0), progress=False,
                          devices=jax.devices(), precision=precision)
                results[f"disagree_{what}"] = "no error"
            except ValueError as e:
                results[f"disagree_{what}"] = str(e)
        try:  # a population whose members' rates differ on process 1 (the same optimizer otherwise)
            train.fit_population(NET, COST, optimizer(), mine, 1, BATCH, keys=jax.random.split(jax.random.key(1), POP),
                                 hyperparams={"rate": RATES * np.float32([1 + PID, 1, 1, 1])}, progress=False,
                                 devices=jax.devices())
            results["disagree_rates"] = "no error"
        except ValueError as e:
            results["disagree_rates"] = str(e)
    stage("disagreement", times)


def local_rows(x, y):
    rows = slice(PID * N // NPROC, (PID + 1) * N // NPROC)
    return x[rows], y[rows]


def main_scenario(results, times, process_local: bool = False) -> None:
    """fit with a run folder written by the writer, resume on every process, fit_population."""
    run = OUT / "run"
    if distributed.is_writer():
        run.mkdir()
        results["wrote"] = ["run/"]
    expect_disagreement(results, times, process_local)
    data = local_rows(*dataset()) if process_local else dataset()
    state, history = fit_run(data, results, times, run, process_local)
    if distributed.is_writer():
        checkpoint.save(run / "state.npz", parallel.to_host(state))
        (run / "history.json").write_text(json.dumps({"cost": history["cost"], "writer_pid": os.getpid(),
                                                      "writer_process": jax.process_index()}))
        results["wrote"] += ["state.npz", "history.json"]
    distributed.barrier("checkpoint written")
    loaded = checkpoint.load(run / "ckpt_e1.npz")
    results["loaded_e1"] = params_of(loaded)
    resumed, _ = train.fit(NET, COST, optimizer(), data, 1, BATCH, state=loaded, progress=False,
                           devices=jax.devices(), process_local=process_local)
    results["resumed_e2"] = params_of(resumed)
    stage("resume", times)
    population_run(data, results, times, process_local)


def single_scenario(results, times) -> None:
    """The references on one process (4 devices), and each given two-process checkpoint resumed here."""
    fit_run(dataset(), results, times, None)
    population_run(dataset(), results, times)
    for j, ckpt in enumerate(p for p in os.environ.get("MP_CHECKPOINTS", "").split(os.pathsep) if p):
        loaded = checkpoint.load(ckpt)
        results[f"loaded_e1_{j}"] = params_of(loaded)
        resumed, _ = train.fit(NET, COST, optimizer(), dataset(), 1, BATCH, state=loaded, progress=False,
                               devices=jax.devices())
        results[f"resumed_e2_{j}"] = params_of(resumed)
    stage("resume", times)


def fail_scenario(results, times) -> None:
    def report(e, state, record):
        print(f"process {PID} epoch {e}", flush=True)

    train.fit(NET, COST, optimizer(), dataset(), 10_000, BATCH, key=jax.random.key(0), progress=False,
              devices=jax.devices(), callback=report)


def main() -> None:
    results: dict = {}
    times: dict = {}
    stage("start", times)
    (OUT / "results").mkdir(parents=True, exist_ok=True)
    scenarios = {"main": main_scenario, "local": lambda r, t: main_scenario(r, t, process_local=True),
                 "single": single_scenario, "fail": fail_scenario}
    scenarios[SCENARIO](results, times)
    arrays = {}
    for k, v in list(results.items()):
        if isinstance(v, list) and v and isinstance(v[0], np.ndarray):
            arrays.update({f"{k}/{i}": a for i, a in enumerate(v)})
            del results[k]
        elif isinstance(v, np.ndarray):
            arrays[k] = v
            del results[k]
    np.savez(OUT / "results" / f"p{PID}.npz", **arrays)
    meta = dict(results, pid=os.getpid(), process_index=jax.process_index(), process_count=jax.process_count(),
                devices=jax.device_count(), local_devices=jax.local_device_count(), times=times)
    (OUT / "results" / f"p{PID}.json").write_text(json.dumps(meta))


if __name__ == "__main__":
    main()
