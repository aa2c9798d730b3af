"""Rosenblatt's perceptron: the rule, the convergence bound, the separability test."""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import perceptron as P


def planted(seed: int, n: int, d: int, gamma: float):
    """n points in [-1, 1]^d separated by a random augmented w with margin >= gamma."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d + 1)
    w /= np.linalg.norm(w)
    xs = []
    while sum(len(b) for b in xs) < n:
        x = rng.uniform(-1, 1, size=(4 * n, d))
        z = x @ w[1:] + w[0]
        xs.append(x[np.abs(z) >= gamma])
    x = np.concatenate(xs)[:n]
    y = np.where(x @ w[1:] + w[0] > 0, 1.0, -1.0)
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), jnp.asarray(w, jnp.float32)


def reference_fit(x, y, eta, max_epochs):
    """The notes' algorithm as a plain Python loop (float64 numpy)."""
    xa = np.concatenate([np.ones((len(x), 1)), np.asarray(x, np.float64)], axis=1)
    w = np.zeros(xa.shape[1])
    k, errors = 0, []
    for _ in range(max_epochs):
        e = 0
        for xn, yn in zip(xa, np.asarray(y)):
            out = 1.0 if xn @ w > 0 else -1.0
            if out != yn:
                w = w + eta * yn * xn
                e += 1
        errors.append(e)
        k += e
        if e == 0:
            break
    return w, k, errors


# --- the neuron and the rule ----------------------------------------------


def test_predict_is_plus_one_where_net_input_positive_and_minus_one_at_or_below_zero():
    w = jnp.array([-1.0, 1.0, 0.0])  # b = -1: output +1 iff x1 > 1
    x = jnp.array([[2.0, 5.0], [1.0, 7.0], [0.0, -3.0]])  # net inputs 1, 0, -1
    assert P.net_input(w, x).tolist() == [1.0, 0.0, -1.0]
    assert P.predict(w, x).tolist() == [1.0, -1.0, -1.0]


def test_augment_prepends_bias_input_one():
    assert P.augment(jnp.array([[2.0, 3.0]])).tolist() == [[1.0, 2.0, 3.0]]
    assert P.augment(jnp.array([4.0])).tolist() == [1.0, 4.0]


def test_update_adds_eta_x_when_too_low_subtracts_when_too_high_keeps_when_right():
    x = jnp.array([1.0, 2.0, -1.0])
    w = jnp.array([0.0, 1.0, 0.0])  # x . w = 2 > 0: output +1
    w1, wrong = P.update(w, x, jnp.float32(1.0), eta=0.5)
    assert not bool(wrong) and w1.tolist() == w.tolist()
    w2, wrong = P.update(w, x, jnp.float32(-1.0), eta=0.5)  # too high
    assert bool(wrong) and w2.tolist() == [-0.5, 0.0, 0.5]
    w3, wrong = P.update(-w, x, jnp.float32(1.0), eta=0.5)  # x . w = -2: too low
    assert bool(wrong) and w3.tolist() == [0.5, 0.0, -0.5]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_matches_the_notes_algorithm_run_as_a_python_loop(seed):
    # integer data: every sum is exact, so the weights must agree exactly
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=(30, 3)).astype(np.float32)
    y = np.where(x @ np.array([1.0, -2.0, 0.5]) + 0.25 > 0, 1.0, -1.0).astype(np.float32)
    r = P.fit(jnp.asarray(x), jnp.asarray(y), eta=1.0, max_epochs=50)
    w, k, errors = reference_fit(x, y, 1.0, 50)
    assert bool(r.converged)
    np.testing.assert_array_equal(np.asarray(r.weights), w)
    assert int(r.updates) == k
    assert int(r.epochs) == len(errors)
    assert np.asarray(r.errors)[: len(errors)].tolist() == errors


def test_errors_per_epoch_sum_to_updates_and_are_minus_one_after_the_last_epoch():
    x, y, _ = planted(3, 60, 2, 0.05)
    r = P.fit(x, y, max_epochs=200)
    e = int(r.epochs)
    errs = np.asarray(r.errors)
    assert bool(r.converged) and errs[e - 1] == 0 and np.all(errs[: e - 1] > 0)
    assert errs[:e].sum() == int(r.updates)
    assert np.all(errs[e:] == -1) and np.all(np.isnan(np.asarray(r.accuracy)[e:]))
    assert float(r.accuracy[e - 1]) == 1.0


def test_learning_rate_only_scales_the_weights_from_zero_start():
    x, y, _ = planted(4, 50, 3, 0.05)
    r1 = P.fit(x, y, eta=1.0)
    r4 = P.fit(x, y, eta=4.0)  # powers of two: scaling is exact in floating point
    assert int(r1.updates) == int(r4.updates)
    np.testing.assert_array_equal(np.asarray(r4.weights), 4.0 * np.asarray(r1.weights))


def test_fit_with_a_key_shuffles_each_epoch_and_still_separates():
    x, y, _ = planted(5, 80, 2, 0.02)
    ra = P.fit(x, y, key=jax.random.key(0))
    rb = P.fit(x, y, key=jax.random.key(1))
    r0 = P.fit(x, y)
    for r in (ra, rb):
        assert bool(r.converged)
        assert bool(jnp.all(P.predict(r.weights, x) == y))
    # a different order takes a different path
    assert len({int(ra.updates), int(rb.updates), int(r0.updates)}) > 1


def test_fit_on_100000_patterns_takes_seconds_not_minutes():
    x, y, _ = planted(6, 100_000, 10, 0.05)
    t = time.perf_counter()
    r = P.fit(x, y, max_epochs=100)
    r.weights.block_until_ready()
    elapsed = time.perf_counter() - t
    assert bool(r.converged) and bool(jnp.all(P.predict(r.weights, x) == y))
    assert int(r.epochs) >= 2  # at least one full pass with updates, then a clean one
    assert elapsed < 30.0, f"fit on 10^5 patterns took {elapsed:.1f} s"


# --- the convergence bound ---------------------------------------------------


def test_convergence_bound_hand_computed_case_and_scale_invariance():
    x = jnp.array([[1.0], [-1.0], [2.0]])  # augmented (1, 1), (1, -1), (1, 2)
    y = jnp.array([1.0, -1.0, 1.0])
    w = jnp.array([0.0, 1.0])  # alpha = 1, beta = 5, ||w||^2 = 1
    assert float(P.convergence_bound(x, y, w)) == pytest.approx(5.0)
    assert float(P.convergence_bound(x, y, 7.0 * w)) == pytest.approx(5.0)
    assert float(P.margin(x, y, w)) == pytest.approx(1.0)


@pytest.mark.parametrize("d", [2, 5, 20])
def test_updates_never_exceed_the_bound_on_separable_sets_many_seeds(d):
    for seed in range(8):
        gamma = [0.2, 0.05][seed % 2]
        x, y, w_true = planted(100 * d + seed, 64, d, gamma)
        key = None if seed < 4 else jax.random.key(seed)
        r = P.fit(x, y, max_epochs=5000, key=key)
        assert bool(r.converged), (d, seed)
        bound = float(P.convergence_bound(x, y, w_true))
        assert int(r.updates) <= bound, (d, seed, int(r.updates), bound)
        mm = P.max_margin(x, y)
        assert bool(mm.separates)
        tight = float(P.convergence_bound(x, y, mm.w))
        assert tight <= bound * (1 + 1e-5)
        assert int(r.updates) <= tight, (d, seed, int(r.updates), tight)


def test_max_margin_finds_the_known_optimum_of_and():
    # KKT by hand: w = (-3, 2, 2) = 5 s_(0,1) + 5 s_(1,0) + 7 s_(1,1), margin 1/sqrt(17)
    x = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = jnp.array([-1.0, -1.0, -1.0, 1.0])
    m = P.max_margin(x, y, tol=1e-4)
    best = 1 / math.sqrt(17)
    assert bool(m.separates)
    assert float(m.margin) <= best * (1 + 1e-5) and float(m.margin_upper) >= best * (1 - 1e-5)
    assert float(m.margin) == pytest.approx(best, rel=2e-4)
    np.testing.assert_allclose(np.asarray(m.w) / np.linalg.norm(m.w),
                               np.array([-3.0, 2.0, 2.0]) / math.sqrt(17), atol=1e-3)


def test_max_margin_brackets_the_planted_margin():
    for seed in range(4):
        x, y, w_true = planted(seed, 100, 3, 0.1)
        planted_margin = float(P.margin(x, y, w_true))
        m = P.max_margin(x, y, tol=1e-3)
        assert float(m.margin_upper) >= planted_margin * (1 - 1e-5)  # weak duality
        assert float(m.margin) >= (1 - 1e-3) * float(m.margin_upper) * (1 - 1e-4)
        assert float(m.margin) >= planted_margin * (1 - 2e-3)


# --- the separability test ---------------------------------------------------


XOR_X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = jnp.array([-1.0, 1.0, 1.0, -1.0])


def test_xor_is_reported_not_linearly_separable():
    s = P.is_linearly_separable(XOR_X, XOR_Y, max_epochs=500)
    assert not bool(s.separable)
    assert int(s.epochs) == 500
    assert float(s.accuracy) < 1.0
    # no separator with a margin above sqrt(beta / k): beta = 3 here
    assert float(s.margin_upper) == pytest.approx(math.sqrt(3.0 / int(s.updates)), rel=1e-5)


def test_random_labels_are_reported_not_separable():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(60, 2)), jnp.float32)
    y = jnp.asarray(rng.choice([-1.0, 1.0], size=60), jnp.float32)
    s = P.is_linearly_separable(x, y, max_epochs=300)
    assert not bool(s.separable)
    assert float(s.accuracy) < 1.0
    # Cover's count independently: the dual of max_margin certifies it too
    assert not bool(P.max_margin(x, y, max_sweeps=300).separates)


def test_separable_set_is_reported_with_weights_that_classify_it_fully():
    x, y, _ = planted(11, 200, 4, 0.03)
    s = P.is_linearly_separable(x, y)
    assert bool(s.separable) and float(s.accuracy) == 1.0
    assert bool(jnp.all(P.predict(s.weights, x) == y))
    assert math.isinf(float(s.margin_upper))


def test_a_known_margin_sets_max_epochs_from_the_bound_and_makes_a_no_a_proof():
    # XOR has no separator; asking for margin 0.2 runs floor(beta/0.04) + 1 epochs
    s = P.is_linearly_separable(XOR_X, XOR_Y, margin=0.2)
    assert not bool(s.separable)
    assert int(s.epochs) == math.floor(3.0 / 0.2**2) + 1
    assert float(s.margin_upper) < 0.2
    x, y, w_true = planted(12, 100, 2, 0.1)
    s = P.is_linearly_separable(x, y, margin=float(P.margin(x, y, w_true)))
    assert bool(s.separable)


# --- bad input ---------------------------------------------------------------


def test_labels_zero_one_are_rejected_with_a_hint():
    with pytest.raises(ValueError, match=r"y must hold labels in \{-1, \+1\}.*2 \* y - 1"):
        P.fit(XOR_X, jnp.array([0.0, 1.0, 1.0, 0.0]))


def test_labels_outside_minus_one_plus_one_are_rejected():
    with pytest.raises(ValueError, match=r"y must hold labels.*\[2"):
        P.fit(XOR_X, jnp.array([-1.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="y must hold labels"):
        P.is_linearly_separable(XOR_X, jnp.array([-1.0, 1.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="y must hold labels"):
        P.convergence_bound(XOR_X, jnp.array([-1.0, 3.0, 1.0, 1.0]), jnp.ones(3))


def test_x_and_y_of_different_lengths_are_rejected():
    with pytest.raises(ValueError, match="x and y must have the same number of patterns.*4.*3"):
        P.fit(XOR_X, jnp.array([-1.0, 1.0, 1.0]))


def test_nonpositive_or_nonfinite_eta_is_rejected():
    for eta in (0.0, -0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="eta must be a finite number > 0"):
            P.fit(XOR_X, XOR_Y, eta=eta)


def test_bad_shapes_and_counts_are_rejected():
    with pytest.raises(ValueError, match="x must be a 2-D array"):
        P.fit(jnp.ones(4), XOR_Y)
    with pytest.raises(ValueError, match="max_epochs must be an integer >= 1, got 0"):
        P.fit(XOR_X, XOR_Y, max_epochs=0)
    with pytest.raises(ValueError, match=r"w_star must be a vector of 3 augmented weights.*\(2,\)"):
        P.convergence_bound(XOR_X, XOR_Y, jnp.ones(2))
    with pytest.raises(ValueError, match="give max_epochs or margin, not both"):
        P.is_linearly_separable(XOR_X, XOR_Y, max_epochs=3, margin=0.1)


def test_a_non_separating_w_star_is_rejected_by_the_bound():
    with pytest.raises(ValueError, match="w_star must separate the data"):
        P.convergence_bound(XOR_X, XOR_Y, jnp.array([0.0, 1.0, 1.0]))
