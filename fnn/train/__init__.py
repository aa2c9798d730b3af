"""Training: steps, epochs, fit and evaluate a network; populations of runs; on one or many devices.

Notes, "Gradient descent", "Stochastic gradient descent" and "Algorithm:
Gradient descent + Backpropagation". One step on a mini-batch of ``m``
examples is

    C, grad C = BP1-BP4 (or jax.grad) of C = (1/m) sum_j C_{x_j};   w' = w + optimizer(grad C)

an epoch is one compiled ``lax.scan`` of steps over the training set
shuffled with ``fold_in(state.key, state.step)`` (:func:`make_epoch`), and
:func:`fit` runs epochs, evaluating ``C = (1/n) sum_x C_x`` and the accuracy
in inference mode (:func:`evaluate`). Everything a run carries is one pytree,
:class:`TrainState`, so a run resumed from a checkpoint continues the
uninterrupted trajectory exactly. :func:`fit_population` runs ``P`` such
runs (seeds x hyperparameters) as one vmapped epoch, freezing a member that
diverges; :func:`evaluate_members` evaluates all of them at once.

Example::

    from fnn import nn, optim, train, data
    x, y = data.load("fashion_mnist", "train")
    net = nn.MLP((784, 256, 256, 10), hidden="relu", output="softmax")
    state, history = train.fit(net, "log_likelihood", optim.adam(1e-3), (x, y),
                               epochs=10, batch_size=128, key=jax.random.key(0))
    test_cost, test_acc = train.evaluate(net, state, *data.load("fashion_mnist", "test"),
                                         "log_likelihood")

Data parallel: ``devices=jax.devices()`` replicates the data and the state
and splits each mini-batch over the devices (``batch_size`` a multiple of
their number); for a population, the members are split instead.

Multi-host: start one Python process per host, call
:func:`fnn.distributed.initialize` first, then call :func:`fit` (or
:func:`fit_population`) in every process with ``devices=jax.devices()``, the
same arguments and seed, and the same training set or, with
``process_local=True``, each its own rows (the training set is their
concatenation in process order). The state comes back replicated; only
:func:`fnn.distributed.is_writer` should write files. The processes first
compare fingerprints of their arguments and raise a ``ValueError`` naming
the one that differs.
"""

from __future__ import annotations

from fnn.train._evaluate import evaluate, evaluate_members
from fnn.train._fit import fit
from fnn.train._population import DATA_ORDERS, fit_population
from fnn.train._setup import GRAD_METHODS, PRECISIONS
from fnn.train._state import (
    Metrics, TrainState, init_population, init_state, member, population_size, stack_members,
)
from fnn.train._step import make_epoch, make_step

__all__ = [
    "TrainState",
    "Metrics",
    "init_state",
    "make_step",
    "make_epoch",
    "fit",
    "evaluate",
    "evaluate_members",
    "fit_population",
    "init_population",
    "member",
    "stack_members",
    "population_size",
    "GRAD_METHODS",
    "PRECISIONS",
    "DATA_ORDERS",
]
