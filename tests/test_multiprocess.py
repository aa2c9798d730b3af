"""Multi-process data parallel for real: 2 processes x 2 CPU devices over loopback (jax.distributed + gloo).

Each scenario launches tests/_mp_worker.py as separate processes (a coordinator
on 127.0.0.1 at a free port, every child bounded by a timeout and killed with
its process group in a ``finally``) and compares what they wrote:

- the two-process trajectory (4 global devices) equals the one-process
  trajectory on 4 devices to float32 round-off (the all-reduce order differs),
  and the two processes end with bit-identical parameters;
- only process 0 writes the run folder; a checkpoint it wrote resumes on every
  process (bit for bit the state they held) and on one process;
- the same with ``process_local=True`` (each process passes half of the data);
- fit_population over the 4 global devices equals the one-process population
  bit for bit (members never communicate);
- processes given different seeds or data raise a ValueError naming it;
- a process killed mid-run makes the other exit with an error within seconds.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

WORKER = pathlib.Path(__file__).with_name("_mp_worker.py")
ROOT = WORKER.parent.parent
TIMEOUT_S = 240  # per scenario; a healthy one takes ~10-50 s on a loaded 2-core machine

# float32 round-off of a different all-reduce order, compounded over 16 steps of
# momentum SGD on a 8-16-3 network (measured: 6e-8 here, 2.4e-7 after 48 steps
# of a similar run; parameters are of size ~1).
RTOL, ATOL = 1e-5, 1e-6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(devices_per_process: int) -> dict:
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
    flags.append(f"--xla_force_host_platform_device_count={devices_per_process}")
    env = dict(os.environ, XLA_FLAGS=" ".join(flags), JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
    # The processes import this checkout's fnn, installed or not, whatever their working folder.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env.pop("JAX_ENABLE_X64", None)
    return env


def _start(scenario: str, n_processes: int, out: pathlib.Path, devices: int, extra_env=None) -> list[subprocess.Popen]:
    out.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = dict(_env(devices), **(extra_env or {}))
    procs = []
    for i in range(n_processes):
        procs.append(subprocess.Popen(
            [sys.executable, str(WORKER), scenario, str(i), str(n_processes), str(port), str(out)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=open(out / f"stderr{i}.txt", "w"), text=True,
            start_new_session=True,  # its own process group: killed as a whole below
        ))
    return procs


def _kill(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait()
        if p.stdout is not None:
            p.stdout.close()


def _run(scenario: str, n_processes: int, out: pathlib.Path, devices: int, extra_env=None) -> list[dict]:
    """Run a scenario to completion; the results of each process (json + arrays)."""
    procs = _start(scenario, n_processes, out, devices, extra_env)
    t0 = time.perf_counter()
    try:
        for i, p in enumerate(procs):
            left = max(1.0, TIMEOUT_S - (time.perf_counter() - t0))
            try:
                rc = p.wait(timeout=left)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{scenario}: process {i} still running after {TIMEOUT_S} s:\n{_tail(out, i)}")
            if rc != 0:
                pytest.fail(f"{scenario}: process {i} exited with {rc}:\n{_tail(out, i)}")
    finally:
        _kill(procs)
    wall = time.perf_counter() - t0
    results = []
    for i in range(n_processes):
        meta = json.loads((out / "results" / f"p{i}.json").read_text())
        with np.load(out / "results" / f"p{i}.npz") as z:
            meta["arrays"] = {k: z[k] for k in z.files}
        meta["wall_s"] = wall
        results.append(meta)
    return results


def _tail(out: pathlib.Path, i: int, n: int = 3000) -> str:
    text = (out / f"stderr{i}.txt").read_text()
    return "\n".join(line for line in text[-n:].splitlines() if "[Gloo]" not in line)


def _group(arrays: dict, name: str) -> list[np.ndarray]:
    keys = sorted((k for k in arrays if k.startswith(name + "/")), key=lambda k: int(k.rsplit("/", 1)[1]))
    assert keys, f"no arrays {name!r} in {sorted(arrays)}"
    return [arrays[k] for k in keys]


def _assert_equal(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def _assert_close(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------
# the runs (each once per module)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("multiprocess")
    # The scenarios compile the same small programs: a persistent compilation cache
    # shared by the children saves part of the (CPU-bound) compile time of the later ones.
    cache = {"JAX_COMPILATION_CACHE_DIR": str(base / "jax-cache"), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    main = _run("main", 2, base / "main", devices=2, extra_env=cache)
    local = _run("local", 2, base / "local", devices=2, extra_env=cache)
    checkpoints = os.pathsep.join(str(base / s / "run" / "ckpt_e1.npz") for s in ("main", "local"))
    single = _run("single", 1, base / "single", devices=4, extra_env=dict(cache, MP_CHECKPOINTS=checkpoints))[0]
    for name, r in (("main", main), ("local", local), ("single", [single])):
        print(f"{name}: wall {r[0]['wall_s']:.1f} s, stages {r[0]['times']}")
    return {"main": main, "local": local, "single": single, "base": base}


@pytest.mark.slow  # the module's two-process runs take ~50 s on 2 cores
@pytest.mark.parametrize("scenario", ["main", "local"])
def test_two_processes_each_see_four_global_devices_two_local(runs, scenario):
    for i, r in enumerate(runs[scenario]):
        assert (r["process_index"], r["process_count"], r["devices"], r["local_devices"]) == (i, 2, 4, 2)
    assert (runs["single"]["process_count"], runs["single"]["devices"]) == (1, 4)


@pytest.mark.slow  # the module's two-process runs take ~50 s on 2 cores
@pytest.mark.parametrize("scenario", ["main", "local"])
def test_two_process_trajectory_equals_one_process_on_four_devices(runs, scenario):
    single = runs["single"]["arrays"]
    for r in runs[scenario]:
        for name in ("fit_e1", "fit_e2"):
            _assert_close(_group(r["arrays"], name), _group(single, name))
        np.testing.assert_allclose(r["arrays"]["fit_cost"], single["fit_cost"], rtol=RTOL)
        np.testing.assert_allclose(r["arrays"]["fit_val"], single["fit_val"], rtol=RTOL)  # val cost, accuracy
    # the run really trained: epoch 2 moved the parameters well beyond the tolerance
    e1, e2 = _group(single, "fit_e1"), _group(single, "fit_e2")
    assert max(float(np.abs(a - b).max()) for a, b in zip(e1, e2)) > 1e3 * ATOL


@pytest.mark.slow  # the module's two-process runs take ~50 s on 2 cores
@pytest.mark.parametrize("scenario", ["main", "local"])
def test_both_processes_end_with_bit_identical_parameters(runs, scenario):
    p0, p1 = (r["arrays"] for r in runs[scenario])
    for name in ("fit_e1", "fit_e2", "loaded_e1", "resumed_e2", "pop"):
        _assert_equal(_group(p0, name), _group(p1, name))
    np.testing.assert_array_equal(p0["fit_cost"], p1["fit_cost"])
    np.testing.assert_array_equal(p0["pop_cost"], p1["pop_cost"])
    np.testing.assert_array_equal(p0["fit_val"], p1["fit_val"])
    np.testing.assert_array_equal(p0["pop_val"], p1["pop_val"])


@pytest.mark.slow  # the module's two-process runs take ~50 s on 2 cores
@pytest.mark.parametrize("scenario", ["main", "local"])
def test_only_process_0_writes_the_run_folder(runs, scenario):
    r0, r1 = runs[scenario]
    run = runs["base"] / scenario / "run"
    assert sorted(p.name for p in run.iterdir()) == ["ckpt_e1.npz", "history.json", "state.npz"]
    history = json.loads((run / "history.json").read_text())
    assert (history["writer_pid"], history["writer_process"]) == (r0["pid"], 0)
    assert r0["wrote"] == ["run/", "ckpt_e1.npz", "state.npz", "history.json"]
    assert r1["wrote"] == []


@pytest.mark.slow  # the module's two-process runs take ~50 s on 2 cores
@pytest.mark.parametrize("scenario", ["main", "local"])
def test_checkpoint_of_two_processes_resumes_on_every_process_and_on_one(runs, scenario):
    j = ["main", "local"].index(scenario)
    single = runs["single"]["arrays"]
    for r in runs[scenario]:
        a = r["arrays"]
        # loading restores, on every process, bit for bit the state both processes held
        _assert_equal(_group(a, "loaded_e1"), _group(a, "fit_e1"))
        # and continuing it on the two processes is the uninterrupted run, bit for bit
        _assert_equal(_group(a, "resumed_e2"), _group(a, "fit_e2"))
    two = runs[scenario][0]["arrays"]
    # on one process (4 devices): the same state, and the same epoch 2 to float32 round-off
    _assert_equal(_group(single, f"loaded_e1_{j}"), _group(two, "fit_e1"))
    _assert_close(_group(single, f"resumed_e2_{j}"), _group(two, "fit_e2"))


@pytest.mark.slow  # the module's two-process runs take ~50 s on 2 cores
@pytest.mark.parametrize("scenario", ["main", "local"])
def test_population_over_two_processes_equals_one_process_bit_for_bit(runs, scenario):
    # members never communicate: each device runs the same program on the same member
    single = runs["single"]["arrays"]
    for r in runs[scenario]:
        _assert_equal(_group(r["arrays"], "pop"), _group(single, "pop"))
        np.testing.assert_array_equal(r["arrays"]["pop_cost"], single["pop_cost"])
        np.testing.assert_array_equal(r["arrays"]["pop_val"], single["pop_val"], strict=True)  # (2 + 2 epochs, 4)
        np.testing.assert_array_equal(r["arrays"]["pop_diverged"], single["pop_diverged"])
        assert r["arrays"]["pop_cost"].shape == (2, 4)  # 2 epochs x 4 members
    # the member with rate 3e38 diverged and was frozen (the epoch re-run with the full check), the others did not
    assert (single["pop_diverged"] >= 0).tolist() == [False, False, False, True], single["pop_diverged"]


@pytest.mark.slow  # the module's two-process runs take ~50 s on 2 cores
def test_processes_given_another_seed_or_other_data_raise_naming_it(runs):
    for r in runs["main"]:
        assert "state.key (checksum)" in r["disagree_seed"], r["disagree_seed"]
        assert "train y (checksum)" in r["disagree_data"], r["disagree_data"]
        assert "train x (checksum)" not in r["disagree_data"]
        # every field of the run's Setup is compared: the optimizer's schedule, the precision
        assert "optimizer (process 0: " in r["disagree_schedule"], r["disagree_schedule"]
        assert "precision (process 0: " in r["disagree_precision"], r["disagree_precision"]
        assert "optimizer (process" not in r["disagree_precision"], r["disagree_precision"]
        assert "optimizer hyperparameter rate (transform 1) (checksum)" in r["disagree_rates"], r["disagree_rates"]
    for r in runs["local"]:
        assert "state.key (checksum)" in r["disagree_seed"], r["disagree_seed"]
        assert "train x rows per process (process 0: 128, process 1: 126)" in r["disagree_data"], r["disagree_data"]


# --------------------------------------------------------------------------
# failure: a process dies mid-run


def _kill_one_mid_run(tmp_path, victim: int) -> tuple[int, float, str]:
    """Start the long ``fail`` run, SIGKILL process ``victim`` after its 2nd epoch; the
    other's exit code, seconds from the kill to its exit, and its stderr."""
    procs = _start("fail", 2, tmp_path, devices=2)
    try:
        deadline = time.perf_counter() + TIMEOUT_S
        seen = []
        for line in procs[victim].stdout:  # its epoch lines
            seen.append(line)
            if line.startswith(f"process {victim} epoch 2") or time.perf_counter() > deadline:
                break
        assert seen and seen[-1].startswith(f"process {victim} epoch 2"), f"no epoch 2:\n{_tail(tmp_path, victim)}"
        os.killpg(procs[victim].pid, signal.SIGKILL)
        t_kill = time.perf_counter()
        other = procs[1 - victim]
        try:
            rc = other.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail(f"process {1 - victim} still running 90 s after process {victim} was killed")
        return rc, time.perf_counter() - t_kill, (tmp_path / f"stderr{1 - victim}.txt").read_text()
    finally:
        _kill(procs)


def _check_failure(rc: int, seconds: float, stderr: str, victim: int) -> None:
    # status 1 and, last, one line naming the dead process: not JAX's native abort after missed heartbeats
    assert rc == 1, (rc, stderr[-2000:])
    ours = f"fnn.distributed: error: process {victim} of 2 died"
    if victim == 1:
        assert stderr.splitlines()[-1].startswith(ours), stderr[-2000:]
        assert "Terminating process" not in stderr and "Check failure" not in stderr, stderr[-2000:]
    else:  # process 0 held JAX's coordination service: JAX's own logging of the lost service may come before or
        # after our line (a race in its threads, outside fnn's control); our line is there and the status is 1
        assert any(line.startswith(ours) for line in stderr.splitlines()), stderr[-2000:]
    assert seconds < 60, seconds  # its connection closes with it: measured well under a second


@pytest.mark.slow  # ~11 s on 2 cores
def test_killed_worker_process_makes_process_0_exit_with_an_error(tmp_path):
    rc, seconds, stderr = _kill_one_mid_run(tmp_path, victim=1)
    print(f"process 0 exited with {rc} {seconds:.1f} s after process 1 was killed")
    _check_failure(rc, seconds, stderr, victim=1)


@pytest.mark.slow
def test_killed_coordinator_makes_the_other_process_exit_with_an_error(tmp_path):
    rc, seconds, stderr = _kill_one_mid_run(tmp_path, victim=0)
    print(f"process 1 exited with {rc} {seconds:.1f} s after process 0 was killed")
    _check_failure(rc, seconds, stderr, victim=0)


# --------------------------------------------------------------------------
# in this (single) process: the helpers and the argument checks


def test_distributed_helpers_in_one_process():
    import jax

    from fnn import distributed

    assert distributed.is_writer() and jax.process_count() == 1
    distributed.check_agree("anything", {"a": 1, "b": 2**40})  # one process: nothing to compare
    distributed.barrier("one process")
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert distributed.fingerprint(a) == distributed.fingerprint(a.copy())
    assert distributed.fingerprint(a) != distributed.fingerprint(a.reshape(4, 3))  # shape counts
    assert distributed.fingerprint(a) != distributed.fingerprint(a.astype(np.float64))  # dtype counts
    b = a.copy()
    b[2, 3] = np.nextafter(b[2, 3], np.float32(np.inf))  # one bit
    assert distributed.fingerprint(a) != distributed.fingerprint(b)
    key = jax.random.key(3)
    assert distributed.fingerprint(key) == distributed.fingerprint(jax.random.key_data(key))
    assert distributed.parse_address("127.0.0.1:1234") == ("127.0.0.1", 1234)
    assert distributed.parse_address("[::1]:80") == ("[::1]", 80)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"coordinator": "127.0.0.1"}, ValueError, "coordinator must be HOST:PORT"),
        ({"coordinator": "host:0"}, ValueError, r"port in \[1, 65535\]"),
        ({"num_processes": 0}, ValueError, "num_processes must be an int >= 1"),
        ({"process_id": -1}, ValueError, "process_id must be an int >= 0"),
        ({"num_processes": 2, "process_id": 2}, ValueError, r"process_id must be in \[0, 1\]"),
        ({"heartbeat_timeout_s": 0}, ValueError, "heartbeat_timeout_s must be an int >= 1"),
        ({"join_timeout_s": 0.5}, ValueError, "join_timeout_s must be an int >= 1"),
        ({"cpu_collectives": "nccl"}, ValueError, "cpu_collectives must be one of"),
    ],
)
def test_initialize_rejects_bad_arguments_before_starting_anything(kwargs, error, match):
    from fnn import distributed

    with pytest.raises(error, match=match):
        distributed.initialize(**kwargs)


def test_maybe_initialize_starts_nothing_without_flags_and_needs_all_three():
    from fnn import distributed

    assert distributed.maybe_initialize() is False
    with pytest.raises(ValueError, match="process_id must be given too"):
        distributed.maybe_initialize("127.0.0.1:1234", 2)
    with pytest.raises(ValueError, match="coordinator must be given too"):
        distributed.maybe_initialize(num_processes=2, process_id=0)
    with pytest.raises(TypeError, match="unexpected arguments"):
        distributed.maybe_initialize(timeout=3)


def test_process_local_in_one_process_is_the_plain_run_and_needs_devices():
    import jax

    from fnn import nn, optim, train

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    net = nn.MLP((4, 8, 2), hidden="tanh", output="softmax")
    args = (net, "log_likelihood", optim.sgd(0.1), (x, y), 1, 16)
    plain, _ = train.fit(*args, key=jax.random.key(0), progress=False, devices=jax.devices())
    local, _ = train.fit(*args, key=jax.random.key(0), progress=False, devices=jax.devices(), process_local=True)
    for a, b in zip(jax.tree_util.tree_leaves(plain.params), jax.tree_util.tree_leaves(local.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="process_local=True needs devices="):
        train.fit(*args, key=jax.random.key(0), progress=False, process_local=True)
    with pytest.raises(TypeError, match="process_local must be a bool"):
        train.fit(*args, key=jax.random.key(0), progress=False, devices=jax.devices(), process_local=1)


# --------------------------------------------------------------------------
# the command line: fnn train on two processes


def _cli_has_process_flags() -> bool:
    from fnn import cli

    return "--coordinator" in cli.build_parser().format_help() or any(
        "--coordinator" in a.option_strings
        for sub in cli.build_parser()._subparsers._group_actions[0].choices.values()
        for a in sub._actions
    )


@pytest.mark.slow
@pytest.mark.skipif(not _cli_has_process_flags(), reason="fnn train has no --coordinator/--num-processes/--process-id")
def test_fnn_train_on_two_processes_equals_one_process_and_only_process_0_writes(tmp_path):
    flags = ["train", "--dataset", "synthetic", "--sizes", "784,32,10", "--epochs", "2", "--batch-size", "32",
             "--no-progress"]  # no --devices: with several processes every device of every process
    port = _free_port()
    two = [flags + ["--out", str(tmp_path / "two"), "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                    "--process-id", str(i)] for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "fnn.cli", *a], cwd=tmp_path, env=_env(2), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True) for a in two]
    try:
        outs = [p.communicate(timeout=TIMEOUT_S) for p in procs]
    finally:
        _kill(procs)
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    printed = [o[0] for o in outs]  # gloo's "[Gloo] Rank k is connected to n peer ranks" lines are dropped
    assert "run saved to" in printed[0] and printed[1] == "", printed  # process 1 prints (and writes) nothing
    assert all("Gloo" not in o[0] + o[1] and "peer ranks" not in o[0] + o[1] for o in outs), outs
    one = subprocess.run([sys.executable, "-m", "fnn.cli", *flags, "--devices", "0", "--out", str(tmp_path / "one")], cwd=tmp_path,
                         env=_env(4), text=True, capture_output=True, timeout=TIMEOUT_S)
    assert one.returncode == 0, one.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]
    h2, h1 = (json.loads((tmp_path / r / "history.json").read_text()) for r in ("two", "one"))
    np.testing.assert_allclose(h2["cost"], h1["cost"], rtol=RTOL)
    np.testing.assert_allclose(h2["val_cost"], h1["val_cost"], rtol=RTOL)
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert (config["devices"], config["processes"]) == (4, 2)


# --------------------------------------------------------------------------
# the command line: joining, and processes that disagree


_CLI_FLAGS = ["--dataset", "synthetic", "--sizes", "784,16,10", "--epochs", "1", "--batch-size", "32",
              "--norm", "none", "--no-progress"]


def _cli(tmp_path, argv_per_process: list[list[str]], timeout: float = TIMEOUT_S) -> list[tuple[int, str, float]]:
    """Run ``python -m fnn.cli`` once per argument list, together; each one's (status, stderr, seconds)."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "fnn.cli", *argv], cwd=tmp_path, env=_env(1), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
             for argv in argv_per_process]
    results = []
    try:
        for p in procs:
            try:
                _, err = p.communicate(timeout=max(1.0, timeout - (time.perf_counter() - t0)))
            except subprocess.TimeoutExpired:
                pytest.fail(f"fnn {argv_per_process[0][0]} still running after {timeout} s")
            results.append((p.returncode, err, time.perf_counter() - t0))
    finally:
        _kill(procs)
    return results


def _process_flags(port: int, n: int, i: int, join_timeout: int = 60) -> list[str]:
    return ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(n), "--process-id", str(i),
            "--join-timeout", str(join_timeout)]


def test_a_process_that_never_joins_ends_the_other_within_the_join_timeout(tmp_path):
    port = _free_port()
    [(rc, err, seconds)] = _cli(tmp_path, [["train", *_CLI_FLAGS, *_process_flags(port, 2, 0, join_timeout=3)]],
                                timeout=120)
    print(f"exit {rc} after {seconds:.1f} s (join timeout 3 s):\n{err}")
    assert rc == 1, err
    assert f"fnn train: waiting for process 1 of 2 to join at 127.0.0.1:{port}" in err, err
    assert f"error: JoinError: process 1 of 2 did not join at 127.0.0.1:{port} within 3 s" in err, err
    assert "Check failure" not in err and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()


def test_a_coordinator_port_in_use_is_named(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        [(rc, err, _)] = _cli(tmp_path, [["train", *_CLI_FLAGS, *_process_flags(port, 2, 0, join_timeout=3)]],
                              timeout=120)
    assert rc == 2, err
    assert f"argument --coordinator: coordinator port {port} on 127.0.0.1 is already in use" in err, err


@pytest.mark.slow
def test_a_process_id_given_twice_is_named_and_ends_both(tmp_path):
    port = _free_port()
    both = [["train", *_CLI_FLAGS, *_process_flags(port, 2, 0, join_timeout=30)]] * 2
    results = _cli(tmp_path, both, timeout=120)
    for rc, err, seconds in results:
        print(f"exit {rc} after {seconds:.1f} s: {err.strip()}")
        assert rc == 1, err
        assert "process id 0 was given to two processes" in err, err
        assert seconds < 30, seconds  # named as soon as the second process tries, not at the timeout


@pytest.mark.slow
def test_a_process_id_given_twice_among_three_is_named(tmp_path):
    port = _free_port()
    argv = [["train", *_CLI_FLAGS, *_process_flags(port, 3, i, join_timeout=30)] for i in (0, 1, 1)]
    for rc, err, seconds in _cli(tmp_path, argv, timeout=120):
        assert rc == 1, err
        assert "process id 1 was given to two processes" in err, err
        assert seconds < 30, seconds


@pytest.mark.slow
@pytest.mark.parametrize("command, flag, values", [
    ("train", "--schedule", ("cosine", "constant")),
    ("train", "--precision", ("float32", "bfloat16")),
    ("sweep", "--rate", ("0.1,0.3", "0.1,0.2")),
])
def test_processes_given_another_flag_stop_naming_the_flag(tmp_path, command, flag, values):
    port = _free_port()
    extra = ["--seeds", "1"] if command == "sweep" else []
    argv = [[command, *_CLI_FLAGS, *extra, flag, v, "--out", str(tmp_path / "run"), *_process_flags(port, 2, i)]
            for i, v in enumerate(values)]
    for rc, err, _ in _cli(tmp_path, argv):
        assert rc == 2, err
        shown = ", ".join(f"process {i}: {v!r}" for i, v in enumerate(values)).replace("'", '"')
        named = flag
        if flag == "--rate":  # --rate A,B is --grid rate=A,B: the grid is compared, and named
            named, shown = "--grid", 'process 0: {"rate": [0.1, 0.3]}, process 1: {"rate": [0.1, 0.2]}'
        assert f"fnn {command}: error: argument {named}: every process must be given the same {named}, " in err, err
        assert f"{named} ({shown})" in err, err
    assert not (tmp_path / "run").exists()


def test_fingerprint_object_tells_schedules_apart_and_rebuilt_equals_alike():
    from fnn import costs, distributed, nn, optim, schedules

    fp = distributed.fingerprint_object
    cosine = lambda rate, k: optim.sgd(schedules.cosine_decay(rate, k), momentum=0.9)  # noqa: E731
    assert fp(cosine(0.1, 100)) == fp(cosine(0.1, 100))  # built twice (as in two processes): equal
    assert fp(cosine(0.1, 100)) != fp(cosine(0.1, 101))  # a value closed over
    assert fp(cosine(0.1, 100)) != fp(optim.sgd(0.1, momentum=0.9))  # another schedule, same first rate
    assert fp(optim.adam(1e-3)) != fp(optim.adamw(1e-3))
    assert fp(nn.MLP((4, 8, 2))) == fp(nn.MLP((4, 8, 2))) != fp(nn.MLP((4, 9, 2)))
    assert fp(costs.get("log_likelihood")) != fp(costs.get("quadratic"))
    assert fp({"b": 1, "a": frozenset({"x", "y"})}) == fp({"a": frozenset({"y", "x"}), "b": 1})
    distributed.check_same("anything", {"--rate": [0.1]})  # one process: nothing to compare
