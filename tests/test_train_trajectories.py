"""Pinned trajectories of fit and fit_population: the exact bits of a few small runs.

Each case trains a small network and hashes the final state's leaves, the
history's costs and the validation numbers (bytes of float32 arrays). The
hashes were computed on the code as it stood when they were written; a
refactoring of the training wing must keep them, bit for bit.
"""

from __future__ import annotations

import hashlib
import os

import jax
import numpy as np
import pytest

from fnn import data, nn, optim, schedules, train


def _blobs(n=96, dim=6, k=3, seed=1):
    return data.blobs(jax.random.key(seed), n, centers=k, dim=dim, std=1.0, spread=3.0)


def _digest(state, history) -> str:
    h = hashlib.sha256()
    leaves = jax.tree_util.tree_leaves(state)
    for a in leaves:
        if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            a = jax.random.key_data(a)
        h.update(np.ascontiguousarray(np.asarray(a)).tobytes())
    for k in ("cost", "accuracy", "val_cost", "val_accuracy", "rate", "step", "diverged"):
        v = history.get(k)
        if v is None:
            continue
        h.update(repr(k).encode())
        if isinstance(v, list):
            for e in v:
                h.update(np.ascontiguousarray(np.asarray(e if e is not None else np.nan, np.float64)).tobytes())
        else:
            h.update(np.ascontiguousarray(np.asarray(v)).tobytes())
    return h.hexdigest()[:16]


def _fit(**kw):
    x, y = _blobs()
    net = kw.pop("net", nn.MLP((6, 8, 3), hidden="relu", output="softmax"))
    opt = kw.pop("opt", optim.adam(schedules.cosine_decay(1e-2, 40)))
    return train.fit(net, "log_likelihood", opt, (x, y), epochs=3, batch_size=16, key=jax.random.key(2),
                     progress=False, **kw)


def _fit_plain():
    return _fit()


def _fit_validation():
    x, y = _blobs(n=40, seed=5)
    return _fit(validation=(x, y))


def _fit_batch_norm():
    net = nn.MLP((6, 8, 3), hidden="relu", output="softmax", norm="batch")
    return _fit(net=net, opt=optim.sgd(0.1, momentum=0.9))


def _fit_autodiff():
    return _fit(grad="autodiff", opt=optim.gd(0.3))


def _fit_bfloat16():
    return _fit(precision="bfloat16")


def _population_hyperparams():
    x, y = _blobs()
    xv, yv = _blobs(n=40, seed=5)
    net = nn.MLP((6, 8, 3), hidden="tanh", output="softmax")
    return train.fit_population(net, "log_likelihood", optim.sgd(0.1, momentum=0.5), (x, y), epochs=3,
                                batch_size=16, keys=jax.random.split(jax.random.key(3), 4),
                                hyperparams={"rate": np.array([0.01, 0.05, 0.1, 0.3]), "mu": np.array([0.0, 0.5, 0.9, 0.5])},
                                validation=(xv, yv), progress=False)


def _population_diverging():
    x, y = _blobs()
    net = nn.MLP((6, 8, 3), hidden="relu", output="softmax")
    return train.fit_population(net, "log_likelihood", optim.gd(0.1), (x * 30, y), epochs=3, batch_size=16,
                                keys=jax.random.split(jax.random.key(4), 3),
                                hyperparams={"rate": np.array([0.05, 1e6, 0.1])}, progress=False)


# name: (run, digest compiled as users compile, digest under tests/conftest.py's cheap compilation)
CASES = {
    "fit_plain": (_fit_plain, "54366a38092c6476", "2d6222d7c5513ce4"),
    "fit_validation": (_fit_validation, "9cb84ccdd69f4c87", "8847d682f2af26af"),
    "fit_batch_norm": (_fit_batch_norm, "925fb5244761d846", "8a7edec05854fc0b"),
    "fit_autodiff": (_fit_autodiff, "42efd06737c1d20f", "3671f518dc9d734a"),
    "fit_bfloat16": (_fit_bfloat16, "64abb8999a9de988", "457a638c8b0da91e"),
    "population_hyperparams": (_population_hyperparams, "869eba8ce9853224", "ab3e6a0ead4ed167"),
    "population_diverging": (_population_diverging, "5ea0f9e557de1d82", "6d59e4deec4ea9d5"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_trajectory_is_pinned_bit_for_bit(name):
    cheap = "--xla_backend_optimization_level=0" in os.environ.get("XLA_FLAGS", "")
    run, full, cheap_digest = CASES[name]
    expected = cheap_digest if cheap else full
    state, history = run()
    if name == "population_diverging":  # the guard ran: member 1 diverged at its 4th update
        assert list(history["diverged"]) == [-1, 4, -1]
    assert _digest(state, history) == expected, name


if __name__ == "__main__":  # print the digests (to pin them)
    for name, (run, *_) in CASES.items():
        s, h = run()
        print(name, _digest(s, h), h.get("diverged"))
