"""Tests of fnn.train: steps, scanned epochs, fit/evaluate, NaN detection, resume, data parallel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import checkpoint, costs, data, nn, optim, schedules, train
from fnn.train import _step as train_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _blobs(n=256, dim=8, k=4, seed=1):
    return data.blobs(jax.random.key(seed), n, centers=k, dim=dim, std=1.0, spread=3.0)


def _net(dim=8, k=4, hidden=16, **kw):
    return nn.MLP((dim, hidden, k), hidden="relu", output="softmax", **kw)


def _leaves_close(a, b, rtol, atol):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=rtol, atol=atol)


# --------------------------------------------------------------------------
# the step


def test_step_reduces_cost_on_a_batch():
    x, y = _blobs()
    net = _net()
    step = train.make_step(net, "log_likelihood", optim.gd(0.1))
    state = train.init_state(net, optim.gd(0.1), jax.random.key(0))
    before = costs.log_likelihood.value(net.forward(state.params, x).a[-1], y, net.output)
    for _ in range(20):
        state, metrics = step(state, x, y)
    after = costs.log_likelihood.value(net.forward(state.params, x).a[-1], y, net.output)
    assert float(after) < 0.5 * float(before)
    assert int(state.step) == 20
    assert metrics.cost.shape == () and metrics.accuracy.shape == ()
    assert float(metrics.rate) == pytest.approx(0.1)


def test_step_metrics_are_the_batch_cost_and_accuracy_before_the_update():
    x, y = _blobs(n=64)
    net = _net()
    opt = optim.adam(1e-2)
    state = train.init_state(net, opt, jax.random.key(3))
    new, m = train.make_step(net, "log_likelihood", opt)(state, x, y)
    a = net.forward(state.params, x).a[-1]
    assert float(m.cost) == pytest.approx(float(costs.log_likelihood.value(a, y, net.output)), rel=1e-5)
    assert float(m.accuracy) == pytest.approx(float(costs.accuracy(net.output(a), y)))
    assert float(m.rate) == pytest.approx(1e-2)
    # the update happened
    assert not np.allclose(np.asarray(new.params[0]["W"]), np.asarray(state.params[0]["W"]))


def test_backprop_and_autodiff_steps_give_the_same_params(x64):
    x, y = _blobs(n=64)
    x = x.astype(jnp.float64)
    net = nn.MLP((8, 16, 16, 4), hidden="tanh", output="softmax")
    opt = optim.momentum(0.05, 0.9)
    s0 = train.init_state(net, opt, jax.random.key(0), dtype=jnp.float64)
    sb, sa = s0, s0
    step_b = train.make_step(net, "log_likelihood", opt, grad="backprop")
    step_a = train.make_step(net, "log_likelihood", opt, grad="autodiff")
    for i in range(10):
        xb, yb = x[8 * (i % 8) : 8 * (i % 8) + 8], y[8 * (i % 8) : 8 * (i % 8) + 8]
        sb, mb = step_b(sb, xb, yb)
        sa, ma = step_a(sa, xb, yb)
        assert float(mb.cost) == pytest.approx(float(ma.cost), rel=1e-12)
    _leaves_close(sb.params, sa.params, rtol=1e-10, atol=1e-12)
    assert not np.allclose(np.asarray(sb.params[0]["W"]), np.asarray(s0.params[0]["W"]))


def test_step_does_not_retrace_across_steps(monkeypatch):
    calls = []
    real = train_step.step_fn

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(train_step, "step_fn", counting)  # make_step lives in fnn.train._step
    x, y = _blobs(n=64)
    net = _net()
    opt = optim.sgd(schedules.cosine_decay(0.1, 100), momentum=0.9)
    state = train.init_state(net, opt, jax.random.key(0))
    step = train.make_step(net, "log_likelihood", opt)
    for i in range(5):
        state, _ = step(state, x[8 * i : 8 * i + 8], y[8 * i : 8 * i + 8])
    assert len(calls) == 1
    assert step.jitted._cache_size() == 1


# --------------------------------------------------------------------------
# the epoch


def test_scan_epoch_equals_a_loop_of_steps():
    x, y = _blobs(n=100)
    net = _net()
    opt = optim.adam(schedules.cosine_decay(1e-2, 50))
    s0 = train.init_state(net, opt, jax.random.key(7))
    m = 16  # 100 = 6 * 16 + 4: the last 4 of the shuffled order are dropped
    epoch = train.make_epoch(net, "log_likelihood", opt, batch_size=m)
    s_scan, metrics = epoch(s0, x, y)
    assert metrics.cost.shape == (6,)
    assert int(s_scan.step) == 6

    xb, yb = data.batches(x, y, m, key=jax.random.fold_in(s0.key, s0.step))
    step = train.make_step(net, "log_likelihood", opt)
    s_loop, loop_costs = s0, []
    for i in range(xb.shape[0]):
        s_loop, mi = step(s_loop, xb[i], yb[i])
        loop_costs.append(float(mi.cost))
    np.testing.assert_allclose(np.asarray(metrics.cost), loop_costs, rtol=1e-5)
    _leaves_close(s_scan.params, s_loop.params, rtol=1e-5, atol=1e-6)
    _leaves_close(s_scan.opt_state, s_loop.opt_state, rtol=1e-5, atol=1e-6)


def test_gather_block_is_the_largest_divisor_within_the_budget():
    assert train_step.gather_block(2000, 31_360) == 125  # 784 float32 inputs at m = 10, 4 MiB: 133 fit
    assert train_step.gather_block(2000, 31_360, budget=100 * 31_360) == 100
    assert train_step.gather_block(4999, 100) == 4999 and train_step.gather_block(4999, 10**6) == 1  # prime
    assert train_step.gather_block(6, 10**9) == 1 and train_step.gather_block(1, 1) == 1


@pytest.mark.parametrize("guarded", [False, True])
def test_an_epoch_gathering_blocks_of_mini_batches_is_bit_identical_to_one_at_a_time(guarded):
    from fnn.train import _setup

    x, y = _blobs(n=100)
    net = _net()
    opt = optim.momentum(0.05, 0.9)
    s = _setup.make_setup(net, "log_likelihood", opt, batch_size=8)  # 12 mini-batches, the last 4 dropped
    state = train.init_state(net, opt, jax.random.key(3))
    runs = []
    for budget in (0, 3 * 8 * x[0].nbytes, 10**9):  # one at a time, blocks of 3, all 12 at once
        epoch = jax.jit(train_step.epoch_fn(s, guarded=guarded, gather_bytes=budget))
        out = epoch(state, jnp.asarray(-1, jnp.int32), x, y) if guarded else epoch(state, x, y)
        runs.append(jax.tree_util.tree_map(
            lambda a: np.asarray(jax.random.key_data(a) if jnp.issubdtype(a.dtype, jax.dtypes.prng_key) else a), out))
    for other in runs[1:]:
        chex.assert_trees_all_equal(runs[0], other)
    metrics = runs[0][-1]
    assert metrics.cost.shape == (12,) and np.isfinite(metrics.cost).all()


def test_consecutive_epochs_use_different_shuffles():
    x, y = _blobs(n=64)
    net = _net()
    opt = optim.gd(0.0)  # params stay put: metrics differ only through the batches
    s = train.init_state(net, opt, jax.random.key(0))
    epoch = train.make_epoch(net, "log_likelihood", opt, batch_size=8)
    s, m1 = epoch(s, x, y)
    s, m2 = epoch(s, x, y)
    assert not np.allclose(np.asarray(m1.cost), np.asarray(m2.cost))
    # every example is used once per epoch: the mean batch cost is the full-data cost
    assert float(jnp.mean(m1.cost)) == pytest.approx(float(jnp.mean(m2.cost)), rel=1e-5)


def test_fit_does_not_retrace_across_epochs(monkeypatch):
    monkeypatch.setattr(train_step, "run_epoch", chex.assert_max_traces(train_step.run_epoch, n=1))
    x, y = _blobs()
    net = _net()
    opt = optim.adam(schedules.cosine_decay(1e-2, 200))
    _, hist = train.fit(net, "log_likelihood", opt, (x, y), epochs=4, batch_size=32,
                        key=jax.random.key(0), validation=(x[:50], y[:50]), progress=False)
    assert len(hist["cost"]) == 4


def test_batch_size_one_runs_one_step_per_example():
    x, y = _blobs(n=300)
    net = _net()
    state, hist = train.fit(net, "log_likelihood", optim.gd(0.05), (x, y), epochs=2, batch_size=1,
                            key=jax.random.key(0), progress=False)
    assert int(state.step) == 600
    assert hist["step"] == [300, 600]
    assert hist["accuracy"][-1] > 0.9


# --------------------------------------------------------------------------
# fit and evaluate


def test_fit_learns_blobs_and_history_has_one_entry_per_epoch():
    x, y = _blobs(n=512)
    net = _net()
    opt = optim.adam(schedules.cosine_decay(1e-2, 5 * 16))
    state, hist = train.fit(net, "log_likelihood", opt, (x, y), epochs=5, batch_size=32,
                            key=jax.random.key(0), validation=(x[:100], y[:100]), progress=False)
    for k in ("epoch", "step", "cost", "accuracy", "val_cost", "val_accuracy", "rate", "examples_per_s"):
        assert len(hist[k]) == 5, k
    assert hist["epoch"] == [1, 2, 3, 4, 5]
    assert hist["cost"][-1] < hist["cost"][0]
    assert hist["val_accuracy"][-1] > 0.95
    # the rate of the last update of each epoch follows the cosine schedule
    for e, r in zip(hist["step"], hist["rate"]):
        assert r == pytest.approx(float(schedules.cosine_decay(1e-2, 80)(e - 1)), rel=1e-5, abs=1e-9)
    assert train.evaluate(net, state, x[:100], y[:100], "log_likelihood") == pytest.approx(
        (hist["val_cost"][-1], hist["val_accuracy"][-1])
    )


def test_evaluate_does_not_depend_on_the_chunk_size():
    x, y = _blobs(n=203)
    net = _net()
    state = train.init_state(net, optim.gd(0.1), jax.random.key(0))
    a = net.forward(state.params, x).a[-1]
    want_cost = float(costs.log_likelihood.value(a, y, net.output))
    want_acc = float(costs.accuracy(net.output(a), y))
    for m in (1000, 50, 7, 1):
        c, acc = train.evaluate(net, state, x, y, "log_likelihood", batch_size=m)
        assert c == pytest.approx(want_cost, rel=1e-5)
        assert acc == pytest.approx(want_acc, abs=1e-6)


def test_batch_norm_fit_updates_running_stats_and_evaluate_uses_them():
    x, y = _blobs(n=256)
    net = _net(norm="batch")
    opt = optim.adam(1e-2)
    state, hist = train.fit(net, "log_likelihood", opt, (x, y), epochs=3, batch_size=32,
                            key=jax.random.key(0), progress=False)
    mean = np.asarray(state.net_state[0]["mean"])
    assert np.any(mean != 0)
    a_inf = net.forward(state.params, x, state.net_state, train=False).a[-1]
    want = float(costs.accuracy(net.output(a_inf), y))
    assert train.evaluate(net, state, x, y, "log_likelihood")[1] == pytest.approx(want, abs=1e-6)
    assert want > 0.9


def test_fit_prints_plain_lines_without_tqdm(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    x, y = _blobs(n=64)
    train.fit(_net(), "log_likelihood", optim.gd(0.1), (x, y), epochs=2, batch_size=16,
              key=jax.random.key(0), progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err


def test_callback_sees_each_epoch_and_can_stop():
    x, y = _blobs(n=64)
    seen = []

    def cb(epoch, state, record):
        seen.append((epoch, int(state.step), record["epoch"]))
        return epoch == 2

    _, hist = train.fit(_net(), "log_likelihood", optim.gd(0.1), (x, y), epochs=5, batch_size=16,
                        key=jax.random.key(0), progress=False, callback=cb)
    assert seen == [(1, 4, 1), (2, 8, 2)]
    assert hist["epoch"] == [1, 2]


# --------------------------------------------------------------------------
# NaN / inf


def test_fit_names_the_step_where_the_cost_first_became_nan():
    x, y = _blobs(n=64)
    net = _net()
    opt = optim.gd(0.05)
    m, nb = 8, 8
    s, _ = train.fit(net, "log_likelihood", opt, (x, y), epochs=2, batch_size=m,
                     key=jax.random.key(0), progress=False)
    bad = 37
    x_bad = x.at[bad].set(3e38)  # finite, but its weighted inputs overflow: the cost becomes NaN or inf
    # Where example 37 falls in the next epoch's shuffle (drawn from fold_in(key, step)):
    perm = np.asarray(jax.random.permutation(jax.random.fold_in(s.key, s.step), 64))
    pos = int(np.flatnonzero(perm == bad)[0])
    expected = 2 * nb + pos // m + 1
    with pytest.raises(FloatingPointError, match=rf"at step {expected} \(epoch 1 of this run, mini-batch {pos // m + 1} of {nb}\)"):
        train.fit(net, "log_likelihood", opt, (x_bad, y), epochs=1, batch_size=m, state=s, progress=False)


def test_fit_rejects_non_finite_data_naming_the_first_bad_row():
    x, y = _blobs(n=64)
    net = _net()
    with pytest.raises(ValueError, match=r"train x must hold finite numbers, got nan in row 5 \(2 of 64 rows"):
        train.fit(net, "log_likelihood", optim.gd(0.05), (x.at[5, 1].set(jnp.nan).at[9, 0].set(jnp.inf), y),
                  epochs=1, batch_size=8, key=jax.random.key(0), progress=False)
    with pytest.raises(ValueError, match=r"evaluate x must hold finite numbers, got inf in row 3"):
        train.evaluate(net, net.init(jax.random.key(0)), x.at[3, 0].set(jnp.inf), y, "log_likelihood")


def test_fit_stops_when_training_diverges():
    x, y = data.regression(jax.random.key(0), 64, dim=2)
    net = nn.MLP((2, 8, 1), hidden="tanh", output="linear")
    with pytest.raises(FloatingPointError, match=r"cost became (nan|inf) at step \d+"):
        train.fit(net, "quadratic", optim.gd(1e6), (x * 100, y), epochs=50, batch_size=8,
                  key=jax.random.key(0), progress=False)


# --------------------------------------------------------------------------
# resume


def test_resume_from_checkpoint_gives_the_uninterrupted_trajectory(tmp_path):
    x, y = _blobs(n=200)
    net = _net(norm="batch")
    opt = optim.adam(schedules.cosine_decay(1e-2, 4 * 12))
    kw = dict(batch_size=16, progress=False)
    full, h_full = train.fit(net, "log_likelihood", opt, (x, y), epochs=4, key=jax.random.key(5), **kw)

    half, h1 = train.fit(net, "log_likelihood", opt, (x, y), epochs=2, key=jax.random.key(5), **kw)
    checkpoint.save(tmp_path / "ckpt.npz", half)
    like = train.init_state(net, opt, jax.random.key(0))
    loaded = checkpoint.load(tmp_path / "ckpt.npz", like=like)
    resumed, h2 = train.fit(net, "log_likelihood", opt, (x, y), epochs=2, state=loaded, **kw)

    assert h1["cost"] + h2["cost"] == h_full["cost"]
    assert h2["step"] == h_full["step"][2:]
    chex.assert_trees_all_equal(
        jax.tree_util.tree_map(np.asarray, (resumed.params, resumed.opt_state, resumed.net_state, resumed.step)),
        jax.tree_util.tree_map(np.asarray, (full.params, full.opt_state, full.net_state, full.step)),
    )


def test_fit_leaves_a_given_state_intact():
    x, y = _blobs(n=64)
    net = _net()
    opt = optim.gd(0.1)
    s = train.init_state(net, opt, jax.random.key(0))
    w = np.asarray(s.params[0]["W"]).copy()
    train.fit(net, "log_likelihood", opt, (x, y), epochs=1, batch_size=16, state=s, progress=False)
    np.testing.assert_array_equal(np.asarray(s.params[0]["W"]), w)  # not donated away


# --------------------------------------------------------------------------
# data parallel (4 simulated CPU devices, in a subprocess)

_DP_SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    from fnn import data, nn, optim, schedules, train
    assert len(jax.devices()) == 4, jax.devices()
    x, y = data.blobs(jax.random.key(1), 256, centers=4, dim=8, std=1.0, spread=3.0)
    for norm in (None, "batch"):
        net = nn.MLP((8, 16, 4), hidden="relu", output="softmax", norm=norm)
        opt = optim.adam(schedules.cosine_decay(1e-2, 48))
        kw = dict(epochs=3, batch_size=16, key=jax.random.key(0), validation=(x[:64], y[:64]), progress=False)
        s1, h1 = train.fit(net, "log_likelihood", opt, (x, y), **kw)
        s4, h4 = train.fit(net, "log_likelihood", opt, (x, y), devices=jax.devices(), **kw)
        sharding = s4.params[0]["W"].sharding
        assert len(sharding.device_set) == 4 and sharding.is_fully_replicated, sharding
        for a, b in zip(jax.tree_util.tree_leaves((s1.params, s1.net_state)),
                        jax.tree_util.tree_leaves((s4.params, s4.net_state))):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(h1["cost"], h4["cost"], rtol=1e-5)
        assert h1["val_accuracy"] == h4["val_accuracy"]
    # make_step over the mesh: the batch is split over the devices
    net = nn.MLP((8, 16, 4), hidden="relu", output="softmax")
    opt = optim.sgd(0.1)
    s = train.init_state(net, opt, jax.random.key(0))
    a, _ = train.make_step(net, "log_likelihood", opt)(s, x[:16], y[:16])
    b, _ = train.make_step(net, "log_likelihood", opt, devices=jax.devices())(s, x[:16], y[:16])
    np.testing.assert_allclose(np.asarray(a.params[0]["W"]), np.asarray(b.params[0]["W"]), rtol=1e-5, atol=1e-6)
    print("DP-OK")
    """
)


def test_data_parallel_trajectory_equals_single_device():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", _DP_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "DP-OK" in r.stdout


def test_batch_size_must_divide_over_devices():
    x, y = _blobs(n=64)
    with pytest.raises(ValueError, match="batch_size must be a multiple of the number of devices"):
        # one real device listed twice stands for two devices; the check runs before any placement
        train.make_epoch(_net(), "log_likelihood", optim.gd(0.1), batch_size=3,
                         devices=jax.sharding.Mesh(np.array(jax.devices()[:1] * 2), ("data",)))


# --------------------------------------------------------------------------
# validation at the boundary


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(batch_size=0), ValueError, r"batch_size must be an int in \[1, 64\].*got 0"),
        (dict(batch_size=65), ValueError, r"batch_size must be an int in \[1, 64\].*got 65"),
        (dict(batch_size=2.0), TypeError, r"batch_size must be an int"),
        (dict(epochs=0), ValueError, r"epochs must be an int >= 1, got 0"),
        (dict(train="xy"), TypeError, r"train must be a pair \(x, y\)"),
        (dict(grad="numeric"), ValueError, r"grad must be one of \['backprop', 'autodiff'\], got 'numeric'"),
        (dict(key=None), ValueError, r"key must be a jax.random key"),
        (dict(optimizer="adam"), TypeError, r"optimizer must be an fnn.optim.Transform"),
    ],
)
def test_fit_rejects_bad_arguments(change, error, match):
    x, y = _blobs(n=64)
    kw = dict(net=_net(), cost="log_likelihood", optimizer=optim.gd(0.1), train=(x, y), epochs=1,
              batch_size=8, key=jax.random.key(0), progress=False)
    kw.update(change)
    with pytest.raises(error, match=match):
        train.fit(**kw)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda x, y: (x[:-1], y), r"train x and y must hold the same number of examples, got 63"),
        (lambda x, y: (x[:, :5], y), r"train x must have shape \(n, 8\) \(net.sizes\[0\] = 8 inputs\), got shape \(64, 5\)"),
        (lambda x, y: (x, y + 4), r"train y must hold class labels in \[0, 3\] .* got labels in \[4, 7\]"),
        (lambda x, y: (x, jax.nn.one_hot(y, 5)), r"train y must be integer labels of shape \(64,\) or targets of shape \(64, 4\)"),
    ],
)
def test_fit_rejects_data_that_does_not_fit_the_network(make, match):
    x, y = _blobs(n=64)
    with pytest.raises(ValueError, match=match):
        train.fit(_net(), "log_likelihood", optim.gd(0.1), make(x, y), epochs=1, batch_size=8,
                  key=jax.random.key(0), progress=False)


def test_validation_set_is_checked_too():
    x, y = _blobs(n=64)
    with pytest.raises(ValueError, match=r"validation x must have shape \(n, 8\)"):
        train.fit(_net(), "log_likelihood", optim.gd(0.1), (x, y), epochs=1, batch_size=8,
                  key=jax.random.key(0), validation=(x[:, :3], y), progress=False)


def test_single_sigmoid_output_needs_targets_not_labels_above_zero():
    x, y = data.linearly_separable(jax.random.key(0), 32, dim=2)
    net = nn.MLP((2, 4, 1), output="sigmoid")
    with pytest.raises(ValueError, match=r"single output unit pass 0/1 targets of shape \(n, 1\)"):
        train.fit(net, "cross_entropy", optim.gd(0.1), (x, y), epochs=1, batch_size=8,
                  key=jax.random.key(0), progress=False)
    state, hist = train.fit(net, "cross_entropy", optim.adam(0.05), (x, y[:, None].astype(jnp.float32)),
                            epochs=30, batch_size=8, key=jax.random.key(0), progress=False)
    assert hist["accuracy"][-1] > 0.95


def test_rate_is_nan_when_the_optimizer_has_no_single_scale():
    x, y = _blobs(n=64)
    net = _net()
    opt = optim.chain(optim.scale(0.5), optim.scale(0.2))  # two scales: no single rate to report
    state = train.init_state(net, opt, jax.random.key(0))
    state, m = train.make_step(net, "log_likelihood", opt)(state, x[:8], y[:8])
    assert np.isnan(float(m.rate))
    _, hist = train.fit(net, "log_likelihood", opt, (x, y), epochs=1, batch_size=8, state=state, progress=False)
    assert np.isnan(hist["rate"][0]) and np.isfinite(hist["cost"][0])


def test_fit_names_the_step_where_a_user_schedule_turns_negative():
    x, y = _blobs(n=64)
    net = _net()
    opt = optim.gd(lambda t: 0.1 - 0.01 * jnp.asarray(t, jnp.float32))  # negative from t = 11, the 12th update
    with pytest.raises(ValueError, match=r"learning rate must be >= 0, got -0.01 at step 12 \(epoch 2"):
        train.fit(net, "log_likelihood", opt, (x, y), epochs=3, batch_size=8, key=jax.random.key(0), progress=False)


def test_fit_checks_the_network_once_per_call_and_nothing_per_epoch(monkeypatch):
    """Check once, at the door: the network is type-checked once per fit call, each data set
    (train, validation) once, and no check runs again per epoch (one epoch or four: the same
    counts; what remains are the checks of the traced network functions, once per compile)."""
    from fnn.train import _setup

    counts = {"net": 0, "cost": 0, "data": 0, "params": 0}

    def counting(name, real):
        def wrapped(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(_setup, "check_net", counting("net", _setup.check_net))
    monkeypatch.setattr(_setup, "check_data", counting("data", _setup.check_data))
    monkeypatch.setattr(costs, "get", counting("cost", costs.get))
    monkeypatch.setattr(nn.MLP, "check_params", counting("params", nn.MLP.check_params))
    x, y = _blobs(n=64)
    seen = []
    for hidden, epochs in ((13, 1), (14, 4)):  # two networks: nothing is cached between the calls
        for k in counts:
            counts[k] = 0
        train.fit(_net(hidden=hidden), "log_likelihood", optim.sgd(0.1, momentum=0.9), (x, y), epochs=epochs,
                  batch_size=16, key=jax.random.key(0), validation=(x[:20], y[:20]), progress=False)
        assert counts["net"] == 1 and counts["data"] == 2
        seen.append(dict(counts))
    assert seen[0] == seen[1]
    state = train.init_state(_net(hidden=14), optim.sgd(0.1, momentum=0.9), jax.random.key(1))
    counts["net"] = 0
    train.fit(_net(hidden=14), "log_likelihood", optim.sgd(0.1, momentum=0.9), (x, y), epochs=2, batch_size=16,
              state=state, progress=False)
    assert counts["net"] == 1
