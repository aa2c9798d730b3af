"""experiments.normalization, part (c): the accuracy comparison of batch norm's modes.

``_pair_gap`` predicts the accuracy a label-independent change of predicted class costs when the labels follow
the reference mode's probabilities; here against a simulation that draws the labels from exactly those
probabilities (where the prediction must hold), and ``_mode_gap``'s mini-batch mode against the full-batch mode
in the limit where they are the same computation (one batch of all examples).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import normalization as N
from fnn import nn, optim, train


def _probs(key, n: int, classes: int, scale: float) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Reference probabilities softmax(a) and a perturbed mode's softmax(a + noise)."""
    k1, k2 = jax.random.split(key)
    a = scale * jax.random.normal(k1, (n, classes))
    return jax.nn.softmax(a), jax.nn.softmax(a + 0.5 * jax.random.normal(k2, (n, classes)))


def test_pair_gap_mean_and_variance_match_labels_drawn_from_the_reference():
    p_ref, p_oth = _probs(jax.random.key(0), 400, 5, 2.0)
    draws = 4000
    keys = jax.random.split(jax.random.key(1), draws)
    ys = jax.vmap(lambda k: jax.random.categorical(k, jnp.log(p_ref), axis=1))(keys)  # labels ~ p_ref, (draws, n)
    k_r, k_o, ys_ = np.argmax(np.asarray(p_ref), 1), np.argmax(np.asarray(p_oth), 1), np.asarray(ys)
    gaps = np.mean((k_r[None] == ys_).astype(float) - (k_o[None] == ys_), axis=1)
    r = N._pair_gap(p_ref, p_oth, ys[0])
    assert r["disagreement"] > 0.1  # the test has something to predict
    assert r["pred_gap"] > 0
    # the mean of `draws` simulated gaps within 4 standard errors of the prediction, the variance within 10%
    se = np.sqrt(r["pred_gap_var"] / draws)
    assert abs(gaps.mean() - r["pred_gap"]) <= 4 * se, (gaps.mean(), r["pred_gap"], se)
    assert abs(gaps.var(ddof=1) / r["pred_gap_var"] - 1) <= 0.1, (gaps.var(ddof=1), r["pred_gap_var"])
    # and the measured gap on one draw is what it says
    assert abs(r["gap"] - gaps[0]) < 1e-6
    assert abs(r["acc_ref"] - r["acc_other"] - r["gap"]) < 1e-6


def test_pair_gap_is_zero_when_the_modes_agree_and_mcnemar_z_is_gap_over_its_se():
    p_ref, _ = _probs(jax.random.key(2), 300, 4, 1.0)
    y = jnp.argmax(p_ref, 1)
    r = N._pair_gap(p_ref, p_ref, y)
    assert r["gap"] == 0 and r["pred_gap"] == 0 and r["pred_gap_var"] == 0 and r["disagreement"] == 0
    p_ref, p_oth = _probs(jax.random.key(3), 300, 4, 1.0)
    y = jax.random.categorical(jax.random.key(4), jnp.log(p_ref), axis=1)
    r = N._pair_gap(p_ref, p_oth, y)
    assert abs(r["mcnemar_z"] - r["gap"] / np.sqrt(r["disagreement"] / r["n"])) < 1e-9


@pytest.mark.slow  # ~10 s on 2 cores (trains a batch-norm network)
def test_mode_gap_minibatch_of_all_examples_equals_the_full_batch_mode():
    net = nn.MLP((6, 5, 5, 3), hidden="sigmoid", output="softmax", norm="batch")
    state = train.init_state(net, optim.sgd(0.1), jax.random.key(5))
    x = jax.random.normal(jax.random.key(6), (32, 6))
    y = jax.random.randint(jax.random.key(7), (32,), 0, 3)
    full = N._mode_gap(net, state, x, y, batch=32)["minibatch_vs_full"]
    assert full["n"] == 32 and full["disagreement"] == 0 and full["gap"] == 0
    small = N._mode_gap(net, state, x, y, batch=8)
    assert small["minibatch_vs_full"]["n"] == 32 and small["inference_vs_full"]["n"] == 32
    # batches of 8 see other statistics than the full 32: the logits differ, so some classes may too (not asserted)
    assert 0 <= small["minibatch_vs_full"]["disagreement"] <= 1
