"""Populations: member i of fit_population equals fit run alone with keys[i] and its hyperparameters."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import checkpoint, data, nn, optim, train

P = 3


def _blobs(n=96, dtype=jnp.float32):
    x, y = data.blobs(jax.random.key(1), n, 3, dim=5, std=1.0, spread=3.0)
    return x.astype(dtype), y


def _net(norm=None):
    return nn.MLP((5, 8, 3), hidden="tanh", output="softmax", norm=norm)


def _per_epoch(states_log):
    def cb(epoch, state, record):
        states_log.append(jax.tree_util.tree_map(np.asarray, (state.params, state.net_state, state.opt_state)))

    return cb


def _raw(a):
    return jax.random.key_data(a) if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key) else a


def _max_rel(a, b):
    worst = 0.0
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
        worst = max(worst, float(np.max(np.abs(u - v) / np.maximum(np.abs(v), 1e-30))) if u.size else 0.0)
    return worst


# Every ready-made optimizer of fnn.optim, built from member values (keywords of its constructor),
# with a per-member sweep of hyperparameters its state holds.
OPTIMIZERS = {
    "gd": (lambda rate=0.1: optim.gd(rate), {"rate": [0.05, 0.1, 0.3]}),
    "sgd_nesterov": (lambda mu=0.9: optim.sgd(0.05, momentum=mu, nesterov=True), {"mu": [0.3, 0.6, 0.9]}),
    "momentum": (lambda rate=0.05, mu=0.9: optim.momentum(rate, mu), {"rate": [0.02, 0.05, 0.1], "mu": [0.5, 0.8, 0.9]}),
    "adagrad": (lambda rate=0.1: optim.adagrad(rate), {"rate": [0.03, 0.1, 0.3]}),
    "rmsprop": (lambda decay=0.9: optim.rmsprop(0.01, decay=decay), {"decay": [0.8, 0.9, 0.99]}),
    "adam": (lambda rate=0.01, b1=0.9: optim.adam(rate, b1=b1), {"rate": [0.003, 0.01, 0.03], "b1": [0.8, 0.9, 0.95]}),
    "adamw": (lambda weight_decay=0.01: optim.adamw(0.01, weight_decay=weight_decay),
              {"weight_decay": [0.0, 0.01, 0.1]}),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_member_equals_fit_alone_after_every_epoch_float64(x64, name):
    make, hyper = OPTIMIZERS[name]
    grad = "autodiff" if name in ("adam", "momentum") else "backprop"  # both modes across the table
    x, y = _blobs(dtype=jnp.float64)
    net = _net()
    keys = jax.random.split(jax.random.key(7), P)
    pop_log: list = []
    states, hist = train.fit_population(
        net, "log_likelihood", make(), (x, y), 3, 16, keys, hyperparams=hyper, grad=grad,
        progress=False, callback=_per_epoch(pop_log), dtype=jnp.float64, validation=(x[:32], y[:32]),
    )
    assert hist["cost"][0].shape == (P,) and list(hist["diverged"]) == [-1] * P
    for i in (0, P - 1):  # the extremes of each sweep (the middle member adds time, not coverage)
        opt = make(**{k: v[i] for k, v in hyper.items()})  # the optimizer member i was given
        one_log: list = []
        s, h = train.fit(net, "log_likelihood", opt, (x, y), 3, 16, key=keys[i], grad=grad, progress=False,
                         callback=_per_epoch(one_log), validation=(x[:32], y[:32]), dtype=jnp.float64)
        for e in range(3):
            member_e = jax.tree_util.tree_map(lambda a: a[i], pop_log[e])
            assert _max_rel(member_e, one_log[e]) <= 1e-10, (name, i, e)
        # Recorded metrics are float32 by design (Metrics.cost), so they agree to float32 rounding.
        np.testing.assert_allclose([c[i] for c in hist["cost"]], h["cost"], rtol=1e-6)
        np.testing.assert_allclose([c[i] for c in hist["val_cost"]], h["val_cost"], rtol=1e-6)


def test_member_states_start_from_fit_s_initial_state(x64):
    # fit(key=keys[i]) itself, not only fit(state=...): same initial parameters and shuffles.
    x, y = _blobs(dtype=jnp.float64)
    net = _net()
    keys = jax.random.split(jax.random.key(3), P)
    states, _ = train.fit_population(net, "quadratic", optim.gd(0.2), (x, y), 2, 8, keys, progress=False,
                                     dtype=jnp.float64)
    for i in range(P):
        s, _ = train.fit(net, "quadratic", optim.gd(0.2), (x, y), 2, 8, key=keys[i], progress=False, dtype=jnp.float64)
        assert _max_rel(train.member(states, i).params, s.params) <= 1e-10


@pytest.mark.parametrize("grad", ["backprop", pytest.param("autodiff", marks=pytest.mark.slow)])
def test_members_equal_fit_with_batch_norm(x64, grad):
    x, y = _blobs(dtype=jnp.float64)
    net = _net(norm="batch")
    keys = jax.random.split(jax.random.key(5), P)
    rates = np.array([0.01, 0.03, 0.1])
    states, hist = train.fit_population(net, "log_likelihood", optim.adam(0.01), (x, y), 2, 16, keys,
                                        hyperparams={"rate": rates}, grad=grad, progress=False, dtype=jnp.float64,
                                        validation=(x, y))
    for i in range(P):
        s, h = train.fit(net, "log_likelihood", optim.adam(float(rates[i])), (x, y), 2, 16, key=keys[i], grad=grad,
                         progress=False, dtype=jnp.float64, validation=(x, y))
        m = train.member(states, i)
        assert _max_rel((m.params, m.net_state), (s.params, s.net_state)) <= 1e-10
        assert float(hist["val_accuracy"][-1][i]) == pytest.approx(h["val_accuracy"][-1], abs=1e-6)


@pytest.mark.slow  # ~11 s on 2 cores; the float64 equalities above are the contract
def test_members_equal_fit_in_float32():
    x, y = _blobs()
    net = _net()
    keys = jax.random.split(jax.random.key(9), 4)
    rates = np.array([0.1, 0.3, 1.0, 3.0], np.float32)
    states, _ = train.fit_population(net, "quadratic", optim.gd(0.1), (x, y), 3, 8, keys,
                                     hyperparams={"rate": rates}, progress=False)
    for i in range(4):
        s, _ = train.fit(net, "quadratic", optim.gd(float(rates[i])), (x, y), 3, 8, key=keys[i], progress=False)
        assert _max_rel(train.member(states, i).params, s.params) <= 1e-4


def test_a_diverging_member_is_frozen_and_leaves_the_others_unchanged(x64):
    x, y = _blobs(dtype=jnp.float64)
    x = x * 30.0  # large inputs: a large rate blows up within the first epoch
    net = nn.MLP((5, 8, 3), hidden="relu", output="linear")
    keys = jax.random.split(jax.random.key(11), 3)
    rates = np.array([1e-4, 1e3, 3e-4])
    states, hist = train.fit_population(net, "quadratic", optim.gd(0.1), (x, y), 3, 16, keys,
                                        hyperparams={"rate": rates}, progress=False, dtype=jnp.float64)
    div = hist["diverged"]
    assert div[0] == -1 and div[2] == -1 and div[1] >= 1, div
    frozen = train.member(states, 1)
    assert int(frozen.step) == div[1] - 1  # frozen before the update that failed
    assert all(np.isfinite(np.asarray(a)).all() for a in jax.tree_util.tree_leaves(frozen.params))
    # fit alone raises, naming a step, for the same member.
    with pytest.raises(FloatingPointError, match=r"at step \d+"):
        train.fit(net, "quadratic", optim.gd(1e3), (x, y), 3, 16, key=keys[1], progress=False, dtype=jnp.float64)
    # The others: exactly what they get in a population without the diverging member.
    keep = np.array([0, 2])
    s2, h2 = train.fit_population(net, "quadratic", optim.gd(0.1), (x, y), 3, 16, keys[keep],
                                  hyperparams={"rate": rates[keep]}, progress=False, dtype=jnp.float64)
    for j, i in enumerate(keep):
        assert _max_rel(train.member(states, int(i)).params, train.member(s2, j).params) <= 1e-12
        np.testing.assert_array_equal([c[i] for c in hist["cost"]], [c[j] for c in h2["cost"]])
    assert np.isnan(hist["cost"][-1][1])  # frozen all of the last epoch: no cost measured


def test_resume_is_bit_identical_to_one_longer_run():
    x, y = _blobs()
    net = _net()
    keys = jax.random.split(jax.random.key(2), 4)
    hyper = {"rate": np.array([0.1, 0.5, 2.0, 50.0], np.float32)}
    kw = dict(progress=False)
    full, hf = train.fit_population(net, "quadratic", optim.momentum(0.1, 0.9), (x * 20, y), 4, 8, keys,
                                    hyperparams=hyper, **kw)
    half, hh = train.fit_population(net, "quadratic", optim.momentum(0.1, 0.9), (x * 20, y), 2, 8, keys,
                                    hyperparams=hyper, **kw)
    rest, hr = train.fit_population(net, "quadratic", optim.momentum(0.1, 0.9), (x * 20, y), 2, 8, states=half,
                                    diverged=hh["diverged"], **kw)
    for a, b in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(rest)):
        np.testing.assert_array_equal(np.asarray(_raw(a)),
                                      np.asarray(_raw(b)))
    np.testing.assert_array_equal(hf["diverged"], hr["diverged"])
    np.testing.assert_array_equal(hf["cost"][-1], hr["cost"][-1])


def test_member_and_stack_members_round_trip_and_a_member_works_alone(tmp_path):
    x, y = _blobs()
    net = _net(norm="batch")
    keys = jax.random.split(jax.random.key(4), 3)
    states, hist = train.fit_population(net, "log_likelihood", optim.adam(0.01), (x, y), 1, 16, keys, progress=False,
                                        validation=(x, y))
    members = [train.member(states, i) for i in range(3)]
    assert train.member(states, -1).step.shape == ()
    back = train.stack_members(members)
    for a, b in zip(jax.tree_util.tree_leaves(states), jax.tree_util.tree_leaves(back)):
        assert a.shape == b.shape and a.dtype == b.dtype
    _, acc = train.evaluate(net, members[1], x, y, "log_likelihood")
    assert acc == pytest.approx(float(hist["val_accuracy"][-1][1]), abs=1e-6)
    path = checkpoint.save(tmp_path / "m1.npz", members[1])
    restored = checkpoint.load(path, like=members[1])
    s, _ = train.fit(net, "log_likelihood", optim.adam(0.01), (x, y), 1, 16, state=restored, progress=False)
    assert int(s.step) == 2 * (96 // 16)


def test_bad_population_arguments_name_the_argument():
    x, y = _blobs()
    net = _net()
    keys = jax.random.split(jax.random.key(0), 3)
    fitp = lambda **kw: train.fit_population(net, "quadratic", optim.gd(0.1), (x, y), 1, 16, progress=False, **kw)
    with pytest.raises(TypeError, match=r"keys must be a \(P,\) array of jax.random keys.*shape \(\)"):
        fitp(keys=jax.random.key(0))
    with pytest.raises(TypeError, match=r"keys must be"):
        fitp(keys=np.arange(3))
    with pytest.raises(ValueError, match=r"mu is not a hyperparameter of this state: expected one of \['rate'\]"):
        fitp(keys=keys, hyperparams={"mu": np.array([0.1, 0.2, 0.3])})
    with pytest.raises(ValueError, match=r"hyperparams\['rate'\] must have shape \(3,\).*got shape \(2,\)"):
        fitp(keys=keys, hyperparams={"rate": np.array([0.1, 0.2])})
    with pytest.raises(ValueError, match=r"rate must be"):
        fitp(keys=keys, hyperparams={"rate": np.array([0.1, -0.2, 0.3])})
    with pytest.raises(ValueError, match=r"exactly one of keys .* and states"):
        fitp()
    with pytest.raises(ValueError, match=r"states must be a population"):
        train.fit_population(net, "quadratic", optim.gd(0.1), (x, y), 1, 16, progress=False,
                             states=train.init_state(net, optim.gd(0.1), jax.random.key(0)))
    with pytest.raises(ValueError, match=r"devices must list each device once"):
        fitp(keys=keys, devices=[jax.devices()[0]] * 2)
    with pytest.raises(IndexError, match=r"i must be in \[-3, 2\]"):
        states, _ = fitp(keys=keys)
        train.member(states, 3)


_SHARDED_SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    from fnn import data, nn, optim, train
    assert len(jax.devices()) == 4, jax.devices()
    x, y = data.blobs(jax.random.key(1), 128, 3, dim=5, std=1.0, spread=3.0)
    net = nn.MLP((5, 8, 3), hidden="tanh", output="softmax", norm="batch")
    keys = jax.random.split(jax.random.key(0), 8)
    hyper = {"rate": np.geomspace(1e-3, 1e-1, 8).astype(np.float32)}
    kw = dict(hyperparams=hyper, progress=False, validation=(x, y))
    s1, h1 = train.fit_population(net, "log_likelihood", optim.adam(0.01), (x, y), 2, 16, keys, **kw)
    s4, h4 = train.fit_population(net, "log_likelihood", optim.adam(0.01), (x, y), 2, 16, keys,
                                  devices=jax.devices(), **kw)
    sh = s4.params[0]["W"].sharding
    assert len(sh.device_set) == 4 and not sh.is_fully_replicated, sh
    for a, b in zip(jax.tree_util.tree_leaves((s1.params, s1.net_state)), jax.tree_util.tree_leaves((s4.params, s4.net_state))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h1["val_cost"][-1], h4["val_cost"][-1], rtol=1e-5)
    try:
        train.fit_population(net, "log_likelihood", optim.adam(0.01), (x, y), 1, 16, keys[:6], devices=jax.devices(), progress=False)
    except ValueError as e:
        assert "the population size P must be a multiple of the number of devices (4), got 6" in str(e), e
    else:
        raise AssertionError("P = 6 on 4 devices was accepted")
    print("POP-SHARDED-OK")
    """
)


@pytest.mark.slow  # ~16 s on 2 cores (a subprocess with 4 simulated devices)
def test_population_sharded_over_4_devices_equals_one_device():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    r = subprocess.run([sys.executable, "-c", _SHARDED_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "POP-SHARDED-OK" in r.stdout, r.stdout + r.stderr


def test_evaluate_members_is_evaluate_of_each_member_and_names_bad_arguments():
    x, y = _blobs()
    net = _net(norm="batch")
    states, _ = train.fit_population(net, "log_likelihood", optim.sgd(0.1, momentum=0.9), (x, y), epochs=1,
                                     batch_size=16, keys=jax.random.split(jax.random.key(0), 3), progress=False)
    costs, accs = train.evaluate_members(net, states, x[:50], y[:50], "log_likelihood", batch_size=16)
    assert isinstance(costs, np.ndarray) and costs.shape == (3,) and accs.shape == (3,)
    for i in range(3):
        c, a = train.evaluate(net, train.member(states, i), x[:50], y[:50], "log_likelihood", batch_size=16)
        assert costs[i] == pytest.approx(c, rel=1e-5) and accs[i] == pytest.approx(a, abs=1e-6)
    with pytest.raises(ValueError, match=r"states must be a population .* got step of shape \(\)"):
        train.evaluate_members(net, train.member(states, 0), x, y, "log_likelihood")
    with pytest.raises(TypeError, match="net must be an fnn.nn.MLP, got str"):
        train.evaluate_members("net", states, x, y, "log_likelihood")
    with pytest.raises(ValueError, match=r"evaluate_members x must have shape \(n, "):
        train.evaluate_members(net, states, x[:, :2], y, "log_likelihood")
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, got 0"):
        train.evaluate_members(net, states, x, y, "log_likelihood", batch_size=0)
