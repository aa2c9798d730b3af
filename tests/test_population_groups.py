"""Populations in groups (chunk=) and concurrent parts (threads=), a shared data order
(data_order='shared', fit's data_key=), compiled epochs reused across calls, and the training
package's smaller contracts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import curvature, data, nn, optim, train
from fnn.cli import _config
from fnn.train import _cache, _population
from fnn.train import _step as train_step


def _blobs(n=96, dtype=jnp.float64):
    x, y = data.blobs(jax.random.key(1), n, 3, dim=5, std=1.0, spread=3.0)
    return x.astype(dtype), y


def _net(norm=None):
    return nn.MLP((5, 8, 3), hidden="tanh", output="softmax", norm=norm)


def _max_abs(a, b):
    return max(float(np.max(np.abs(np.asarray(u, np.float64) - np.asarray(v, np.float64))))
               for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def _fit_member(net, opt, x, y, key, epochs=2, **kw):
    s, _ = train.fit(net, "log_likelihood", opt, (x, y), epochs, 16, key=key, progress=False, dtype=jnp.float64, **kw)
    return s


# (chunk, data_order, grad, norm): chunks dividing P = 5 or not (a last partial group), one group, groups of one
CASES = [
    (2, "member", "backprop", None),
    (5, "member", "autodiff", None),
    (3, "shared", "backprop", None),
    (2, "shared", "autodiff", None),
    (1, "shared", "backprop", "batch"),
    (1, "member", "backprop", "batch"),  # one member at a time: its own epoch, not a vmap of one
]


@pytest.mark.parametrize("chunk, order, grad, norm", CASES)
def test_each_member_equals_fit_alone_in_groups_and_orders(x64, chunk, order, grad, norm):
    x, y = _blobs()
    net = _net(norm)
    keys = jax.random.split(jax.random.key(7), 5)
    rates = np.array([0.003, 0.01, 0.02, 0.03, 0.05])
    states, hist = train.fit_population(net, "log_likelihood", optim.adam(0.01), (x, y), 2, 16, keys,
                                        hyperparams={"rate": rates}, grad=grad, progress=False, dtype=jnp.float64,
                                        chunk=chunk, data_order=order)
    assert list(hist["diverged"]) == [-1] * 5
    for i in (0, 2, 4):
        kw = {"data_key": train.member(states, 0).key} if order == "shared" else {}
        s = _fit_member(net, optim.adam(float(rates[i])), x, y, keys[i], grad=grad, **kw)
        m = train.member(states, i)
        assert _max_abs((m.params, m.net_state, m.opt_state), (s.params, s.net_state, s.opt_state)) <= 1e-12, i


def test_shared_order_member_0_is_plain_fit_and_members_see_the_same_batches(x64):
    x, y = _blobs()
    net = _net()
    keys = jax.random.split(jax.random.key(3), 4)
    opt = optim.gd(0.0)  # parameters stay put: the batch costs differ only through the batches and the weights
    states, hist = train.fit_population(net, "log_likelihood", optim.gd(0.1), (x, y), 1, 16, keys,
                                        progress=False, dtype=jnp.float64, data_order="shared")
    s = _fit_member(net, optim.gd(0.1), x, y, keys[0], epochs=1)  # the default data key is member 0's own
    assert _max_abs(train.member(states, 0).params, s.params) <= 1e-12
    # one data order: every member holds the same key; with a given data_key, fit(data_key=) again
    dk = jax.random.key(99)
    st2, _ = train.fit_population(net, "log_likelihood", opt, (x, y), 1, 16, keys, progress=False,
                                  dtype=jnp.float64, data_order="shared", data_key=dk, chunk=3)
    raw = np.asarray(jax.random.key_data(st2.key))
    assert (raw == np.asarray(jax.random.key_data(dk))).all()
    s3 = _fit_member(net, opt, x, y, keys[3], epochs=1, data_key=dk)
    assert _max_abs(train.member(st2, 3).params, s3.params) == 0.0


def test_shared_order_errors_name_the_argument():
    x, y = _blobs(dtype=jnp.float32)
    net = _net()
    keys = jax.random.split(jax.random.key(0), 3)
    fitp = lambda **kw: train.fit_population(net, "quadratic", optim.gd(0.1), (x, y), 1, 16, progress=False, **kw)
    with pytest.raises(ValueError, match=r"data_order must be one of \['member', 'shared'\], got 'same'"):
        fitp(keys=keys, data_order="same")
    with pytest.raises(ValueError, match=r"data_key is for a fresh population with data_order='shared'"):
        fitp(keys=keys, data_key=jax.random.key(1))
    with pytest.raises(ValueError, match=r"every member's states.key equal"):
        fitp(states=train.init_population(net, optim.gd(0.1), keys), data_order="shared")
    with pytest.raises(ValueError, match=r"chunk must be an int >= 1, got 0"):
        fitp(keys=keys, chunk=0)
    with pytest.raises(TypeError, match=r"data_key must be a jax.random key"):
        train.fit(net, "quadratic", optim.gd(0.1), (x, y), 1, 16, key=jax.random.key(0), data_key=3, progress=False)
    s = train.init_state(net, optim.gd(0.1), jax.random.key(0))
    with pytest.raises(ValueError, match=r"data_key must be None when state is given"):
        train.fit(net, "quadratic", optim.gd(0.1), (x, y), 1, 16, state=s, data_key=jax.random.key(1), progress=False)


@pytest.mark.parametrize("order, chunk, threads", [("member", 2, 1), ("shared", 2, 1), ("member", 1, 1),
                                                   ("member", 1, 3), ("shared", 2, 3)])
def test_a_divergence_inside_a_group_leaves_the_others_unchanged(x64, order, chunk, threads):
    x, y = _blobs()
    x = x * 30.0
    net = nn.MLP((5, 8, 3), hidden="relu", output="linear")
    keys = jax.random.split(jax.random.key(11), 3)
    rates = np.array([1e-4, 1e3, 3e-4])
    kw = dict(progress=False, dtype=jnp.float64, chunk=chunk, data_order=order)
    states, hist = train.fit_population(net, "quadratic", optim.gd(0.1), (x, y), 3, 16, keys,
                                        hyperparams={"rate": rates}, threads=threads, **kw)
    div = hist["diverged"]
    assert div[0] == -1 and div[2] == -1 and div[1] >= 1, div
    assert int(train.member(states, 1).step) == div[1] - 1
    keep = np.array([0, 2])
    extra = {"data_key": states.key[0]} if order == "shared" else {}
    s2, _ = train.fit_population(net, "quadratic", optim.gd(0.1), (x, y), 3, 16, keys[keep],
                                 hyperparams={"rate": rates[keep]}, **kw, **extra)
    for j, i in enumerate(keep):
        assert _max_abs(train.member(states, int(i)).params, train.member(s2, j).params) <= 1e-12


@pytest.mark.parametrize("order", ["member", "shared"])
def test_resume_in_groups_is_bit_identical_to_one_longer_run(order):
    x, y = _blobs(dtype=jnp.float32)
    net = _net()
    keys = jax.random.split(jax.random.key(2), 5)
    kw = dict(hyperparams={"rate": np.array([0.1, 0.5, 2.0, 50.0, 1.0], np.float32)}, progress=False, chunk=2,
              data_order=order)
    full, hf = train.fit_population(net, "quadratic", optim.momentum(0.1, 0.9), (x * 20, y), 4, 8, keys, **kw)
    half, hh = train.fit_population(net, "quadratic", optim.momentum(0.1, 0.9), (x * 20, y), 2, 8, keys, **kw)
    kw.pop("hyperparams")
    rest, hr = train.fit_population(net, "quadratic", optim.momentum(0.1, 0.9), (x * 20, y), 2, 8, states=half,
                                    diverged=hh["diverged"], **kw)
    for a, b in zip(jax.tree_util.tree_leaves(full.params), jax.tree_util.tree_leaves(rest.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(hf["diverged"], hr["diverged"])


def test_default_chunk_is_a_power_of_two_from_the_bytes_per_member_and_the_batch():
    net = nn.MLP((784, 30, 10))
    sgd = train.init_population(net, optim.gd(0.1), jax.random.split(jax.random.key(0), 4))
    adam = train.init_population(nn.MLP((784, 100, 10)), optim.adam(1e-3), jax.random.split(jax.random.key(0), 4))
    assert _population.default_chunk(sgd, 4, 10) == 1  # 10 x 23,820 weights: 2.4e5 multiply-adds a step
    assert _population.default_chunk(sgd, 4, 41) == 1 and _population.default_chunk(sgd, 4, 42) == 16  # 1e6
    assert _population.default_chunk(sgd, 4, 100) == 32  # 6.25 MiB / 95 KB = 67 -> at most 32
    assert _population.default_chunk(sgd, 4, 10, "shared") == 64  # 8 MiB / 95 KB = 87, whatever the batch
    assert _population.default_chunk(adam, 4, 64) == 4  # 0.95 MB a member (parameters, Adam's m and v)
    assert _population.default_chunk(adam, 4, 8) == 1  # 6.4e5 multiply-adds a step
    assert _population.default_chunk(adam, 4, 8, "shared") == 8  # 8 MiB / 0.95 MB = 8.8
    # in concurrent parts each member runs alone in its own order; the shared order keeps its groups
    assert _population.default_chunk(sgd, 4, 100, threads=2) == 1
    assert _population.default_chunk(sgd, 4, 10, "shared", threads=2) == 64


def test_default_threads_is_the_largest_divisor_of_p_up_to_the_cores(monkeypatch):
    monkeypatch.setattr(_population, "host_cores", lambda: 4)
    assert [_population.default_threads(p, None) for p in (1, 2, 3, 6, 7, 8, 512)] == [1, 2, 3, 3, 1, 4, 4]
    assert _population.default_threads(8, object()) == 1  # a mesh spreads the population itself


@pytest.mark.parametrize("order, threads", [("member", 2), ("member", 3), ("shared", 2), ("shared", 6)])
def test_each_member_equals_fit_alone_in_concurrent_parts(x64, order, threads):
    x, y = _blobs()
    net = _net()
    keys = jax.random.split(jax.random.key(5), 6)
    rates = np.array([0.003, 0.01, 0.02, 0.03, 0.05, 0.08])
    # groups of 2 in parts of 3 (a partial last group), of 2 (one group) and of 1 (the member's own epoch)
    states, hist = train.fit_population(net, "log_likelihood", optim.adam(0.01), (x, y), 2, 16, keys,
                                        hyperparams={"rate": rates}, progress=False, dtype=jnp.float64, chunk=2,
                                        data_order=order, threads=threads)
    assert hist["cost"][0].shape == (6,) and list(hist["diverged"]) == [-1] * 6
    assert (hist["threads"], hist["chunk"]) == (threads, 2)
    for i in (0, 2, 3, 5):  # the first and last member of several parts
        kw = {"data_key": train.member(states, 0).key} if order == "shared" else {}
        s = _fit_member(net, optim.adam(float(rates[i])), x, y, keys[i], **kw)
        m = train.member(states, i)
        assert _max_abs((m.params, m.opt_state), (s.params, s.opt_state)) <= 1e-12, i


def test_threads_errors_name_the_argument():
    x, y = _blobs(dtype=jnp.float32)
    keys = jax.random.split(jax.random.key(0), 6)
    fitp = lambda **kw: train.fit_population(_net(), "quadratic", optim.gd(0.1), (x, y), 1, 16, keys,  # noqa: E731
                                             progress=False, **kw)
    with pytest.raises(ValueError, match=r"threads must divide the population size P = 6 \(equal parts\), got 4"):
        fitp(threads=4)
    with pytest.raises(ValueError, match=r"threads must be an int >= 1, got 0"):
        fitp(threads=0)
    with pytest.raises(ValueError, match=r"with devices \(a mesh\) it must be 1 or None, got 2"):
        fitp(threads=2, devices=jax.devices())


_SHARDED_SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    from fnn import data, nn, optim, train
    assert len(jax.devices()) == 4, jax.devices()
    x, y = data.blobs(jax.random.key(1), 128, 3, dim=5, std=1.0, spread=3.0)
    net = nn.MLP((5, 8, 3), hidden="tanh", output="softmax")
    keys = jax.random.split(jax.random.key(0), 12)
    for order in ("member", "shared"):
        kw = dict(hyperparams={"rate": np.geomspace(1e-3, 1e-1, 12).astype(np.float32)}, progress=False,
                  data_order=order)
        s1, h1 = train.fit_population(net, "log_likelihood", optim.adam(0.01), (x, y), 2, 16, keys, chunk=12, **kw)
        s4, h4 = train.fit_population(net, "log_likelihood", optim.adam(0.01), (x, y), 2, 16, keys, chunk=2,
                                      devices=jax.devices(), **kw)
        sh = s4.params[0]["W"].sharding
        assert len(sh.device_set) == 4 and not sh.is_fully_replicated, sh
        for a, b in zip(jax.tree_util.tree_leaves(s1.params), jax.tree_util.tree_leaves(s4.params)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    print("POP-GROUPS-SHARDED-OK")
    """
)


@pytest.mark.slow  # a subprocess with 4 simulated devices
def test_groups_sharded_over_4_devices_equal_one_device():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    r = subprocess.run([sys.executable, "-c", _SHARDED_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "POP-GROUPS-SHARDED-OK" in r.stdout, r.stdout + r.stderr


# --------------------------------------------------------------------------
# compile once per configuration


def test_a_second_identical_fit_reuses_the_compiled_epoch(monkeypatch):
    x, y = _blobs(dtype=jnp.float32)
    net = nn.MLP((5, 7, 3), hidden="tanh", output="softmax")  # a shape no other test compiles
    monkeypatch.setattr(train_step, "run_epoch", chex.assert_max_traces(train_step.run_epoch, n=1))
    run = lambda opt: train.fit(net, "log_likelihood", opt, (x, y), 1, 16, key=jax.random.key(0), progress=False)  # noqa: E731
    s1, _ = run(optim.momentum(0.1, 0.9))
    s2, _ = run(optim.momentum(0.1, 0.9))  # a new, equal optimizer: no second trace
    assert _max_abs(s1.params, s2.params) == 0.0
    with pytest.raises(AssertionError, match="traced"):  # a different optimizer is a different program
        run(optim.adam(0.1))


def _scaled_by(c):
    def init(params):
        return ()

    def update(grads, state, params=None):
        return jax.tree_util.tree_map(lambda g: -c * g, grads), state

    return optim.Transform(init, update)


def test_optimizers_with_the_same_code_and_different_constants_do_not_share_a_program():
    # Two transforms whose update closes over different constants (no state to tell them apart).
    assert _cache.structure(_scaled_by(0.1).update) != _cache.structure(_scaled_by(0.2).update)
    assert _cache.structure(_scaled_by(0.1).update) == _cache.structure(_scaled_by(0.1).update)
    x, y = _blobs(dtype=jnp.float32)
    net = _net()
    a, _ = train.fit(net, "log_likelihood", _scaled_by(0.1), (x, y), 1, 16, key=jax.random.key(0), progress=False)
    b, _ = train.fit(net, "log_likelihood", _scaled_by(0.2), (x, y), 1, 16, key=jax.random.key(0), progress=False)
    c, _ = train.fit(net, "log_likelihood", optim.gd(0.2), (x, y), 1, 16, key=jax.random.key(0), progress=False)
    assert _max_abs(b.params, c.params) <= 1e-6 and _max_abs(a.params, b.params) > 1e-3


def test_the_cache_is_bounded():
    for i in range(_cache.MAX_ENTRIES + 3):
        _cache.compiled(("test-bound", i), lambda: jax.jit(lambda v: v + 1), jnp.zeros(3))
    assert len(_cache._CACHE) <= _cache.MAX_ENTRIES


# --------------------------------------------------------------------------
# smaller contracts


def test_a_callback_may_keep_the_state_it_is_given():
    x, y = _blobs(dtype=jnp.float32)
    kept = []
    train.fit(_net(), "log_likelihood", optim.gd(0.1), (x, y), 3, 16, key=jax.random.key(0), progress=False,
              callback=lambda e, s, r: kept.append(s.params))
    sums = [float(jnp.sum(p[0]["W"])) for p in kept]  # raised "Array has been deleted" when donated
    assert len(set(sums)) == 3


def test_resuming_a_population_applies_the_new_shared_rate_and_keeps_a_sweep():
    x, y = _blobs(dtype=jnp.float32)
    net = _net()
    keys = jax.random.split(jax.random.key(2), 3)
    st, _ = train.fit_population(net, "log_likelihood", optim.gd(0.1), (x, y), 1, 16, keys, progress=False)
    with pytest.warns(UserWarning, match=r"fit_population\(states=...\) applies .*rate 0.1\d* -> 0.3"):
        _, h = train.fit_population(net, "log_likelihood", optim.gd(0.3), (x, y), 1, 16, states=st, progress=False)
    np.testing.assert_allclose(h["rate"][-1], 0.3, rtol=1e-6)
    swept, _ = train.fit_population(net, "log_likelihood", optim.gd(0.1), (x, y), 1, 16, keys, progress=False,
                                    hyperparams={"rate": np.array([0.1, 0.2, 0.3])})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, h = train.fit_population(net, "log_likelihood", optim.gd(0.3), (x, y), 1, 16, states=swept,
                                    progress=False)
    np.testing.assert_allclose(h["rate"][-1], [0.1, 0.2, 0.3], rtol=1e-6)


def test_a_sharpness_tracker_is_refused_by_populations():
    x, y = _blobs(dtype=jnp.float32)
    net = _net()
    tracker = curvature.SharpnessTracker(net, "log_likelihood", x[:20], y[:20])
    with pytest.raises(TypeError, match=r"SharpnessTracker follows one run .* fit_population does not support it"):
        train.fit_population(net, "log_likelihood", optim.gd(0.1), (x, y), 1, 16,
                             jax.random.split(jax.random.key(0), 2), progress=False, callback=tracker)


def test_a_schedule_giving_nan_is_named_with_its_step():
    x, y = _blobs(dtype=jnp.float32)
    opt = optim.gd(lambda t: jnp.where(t >= 7, jnp.nan, 0.1))
    with pytest.raises(ValueError, match=r"the schedule gave a non-finite learning rate nan at step 8 \(epoch 2"):
        train.fit(_net(), "log_likelihood", opt, (x, y), 3, 16, key=jax.random.key(0), progress=False)


@pytest.mark.parametrize("output", ["step", "sign"])
def test_an_output_with_zero_derivative_is_refused_for_the_quadratic_cost(output):
    x, y = _blobs(dtype=jnp.float32)
    net = nn.MLP((5, 8, 3), hidden="tanh", output=output)
    with pytest.raises(ValueError, match=rf"cost 'quadratic' with output activation '{output}', whose derivative "
                                         r"is 0 everywhere, gives zero gradients"):
        train.fit(net, "quadratic", optim.gd(0.1), (x, y), 1, 16, key=jax.random.key(0), progress=False)
    with pytest.raises(ValueError, match="whose derivative is 0 everywhere"):
        train.make_step(net, "quadratic", optim.gd(0.1))


def test_sweep_config_takes_a_data_order():
    base = dict(dataset="synthetic", sizes=[20, 8, 3], hidden="relu", output="softmax", cost="log_likelihood",
                optimizer="sgd", grid={"rate": [0.1]}, seeds=2, schedule="constant", batch_size=16, epochs=1,
                norm="none")
    assert _config.check_sweep_config(base)["data_order"] == "member"
    assert _config.check_sweep_config({**base, "data_order": "shared"})["data_order"] == "shared"
    with pytest.raises(_config.UsageError, match="data.order"):
        _config.check_sweep_config({**base, "data_order": "same"})


class _InjectState(NamedTuple):  # the shape of optax.inject_hyperparams's state
    count: jax.Array
    hyperparams: dict
    inner_state: tuple


def _injected_sgd(learning_rate):
    def init(params):
        return _InjectState(jnp.zeros((), jnp.int32), {"learning_rate": jnp.asarray(learning_rate, jnp.float32)}, ())

    def update(grads, state, params=None):
        lr = state.hyperparams["learning_rate"]
        return jax.tree_util.tree_map(lambda g: -lr * g, grads), state._replace(count=state.count + 1)

    return optim.Transform(init, update)


def test_a_population_sweeps_the_hyperparams_dict_of_an_injected_state():
    x, y = _blobs(dtype=jnp.float32)
    net = _net()
    keys = jax.random.split(jax.random.key(0), 3)
    rates = np.array([0.01, 0.1, 0.5], np.float32)
    states, _ = train.fit_population(net, "log_likelihood", _injected_sgd(0.1), (x, y), 1, 16, keys,
                                     hyperparams={"learning_rate": rates}, progress=False)
    np.testing.assert_allclose(states.opt_state.hyperparams["learning_rate"], rates)
    for i in (0, 2):
        s, _ = train.fit(net, "log_likelihood", optim.gd(float(rates[i])), (x, y), 1, 16, key=keys[i], progress=False)
        assert _max_abs(train.member(states, i).params, s.params) <= 1e-5
    with pytest.raises(ValueError, match=r"rate is not a hyperparameter of this state: expected one of \['learning_rate'\]"):
        train.fit_population(net, "log_likelihood", _injected_sgd(0.1), (x, y), 1, 16, keys,
                             hyperparams={"rate": rates}, progress=False)


def test_a_population_sweeps_a_real_optax_injected_optimizer():
    optax = pytest.importorskip("optax")
    x, y = _blobs(dtype=jnp.float32)
    keys = jax.random.split(jax.random.key(0), 2)
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    states, _ = train.fit_population(_net(), "log_likelihood", opt, (x, y), 1, 16, keys,
                                     hyperparams={"learning_rate": np.array([0.01, 0.3])}, progress=False)
    np.testing.assert_allclose(states.opt_state.hyperparams["learning_rate"], [0.01, 0.3], rtol=1e-6)
