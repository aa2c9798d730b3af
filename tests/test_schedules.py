"""Tests for fnn.schedules: each schedule equals its formula (notes, "Learning rate scheduling")."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnn import schedules

K = 10
STEPS = (0, 1, K // 2, K, 2 * K)  # t = 0, 1, K/2, K, 2K


def _check_formula(schedule, formula, steps=STEPS, rtol=1e-6):
    """schedule(t) == formula(t) for Python ints, and for int32 arrays inside jax.jit."""
    jitted = jax.jit(schedule)
    for t in steps:
        want = formula(t)
        eager = schedule(t)
        traced = jitted(jnp.asarray(t, jnp.int32))
        assert eager.dtype == jnp.float32 and traced.dtype == jnp.float32
        np.testing.assert_allclose(float(eager), want, rtol=rtol, atol=1e-12, err_msg=f"t={t}")
        np.testing.assert_allclose(float(traced), want, rtol=rtol, atol=1e-12, err_msg=f"jit t={t}")


def test_constant_equals_eta_at_every_step():
    _check_formula(schedules.constant(0.3), lambda t: 0.3)


def test_linear_equals_notes_formula_then_holds_etaK():
    eta0, etaK = 0.5, 0.05

    def formula(t):
        if t > K:
            return etaK
        return (1 - t / K) * eta0 + (t / K) * etaK

    _check_formula(schedules.linear(eta0, etaK, K), formula, steps=STEPS + (3, 7, 1000))


def test_linear_can_increase_as_a_ramp():
    _check_formula(schedules.linear(0.0, 1.0, K), lambda t: min(t / K, 1.0))


def test_power_law_equals_eta0_times_one_plus_t_over_s_to_the_c():
    eta0, s, c = 0.2, 4.0, -0.5
    _check_formula(schedules.power_law(eta0, s, c), lambda t: eta0 * (1 + t / s) ** c)
    _check_formula(schedules.power_law(eta0, 2.5, -1.5), lambda t: eta0 * (1 + t / 2.5) ** -1.5)


def test_power_law_default_c_is_minus_one_half():
    _check_formula(schedules.power_law(1.0, 1.0), lambda t: (1 + t) ** -0.5)


def test_exponential_decay_equals_eta0_times_c_to_the_t_over_s():
    eta0, s, c = 0.1, 5.0, 0.9
    _check_formula(schedules.exponential_decay(eta0, s, c), lambda t: eta0 * c ** (t / s))


def test_exponential_decay_staircase_drops_by_c_every_s_steps():
    eta0, c = 0.1, 0.5
    for s in (5, 5.0, 2.5):
        _check_formula(
            schedules.exponential_decay(eta0, s, c, staircase=True),
            lambda t, s=s: eta0 * c ** math.floor(t / s),
            steps=STEPS + (4, 6, 9, 11, 14, 16),
        )


def test_cosine_decay_equals_half_cosine_from_eta0_to_etaK():
    eta0, etaK = 1.0, 0.1

    def formula(t):
        t = min(t, K)
        return etaK + (eta0 - etaK) * 0.5 * (1 + math.cos(math.pi * t / K))

    _check_formula(schedules.cosine_decay(eta0, K, etaK), formula, steps=STEPS + (3,))
    assert float(schedules.cosine_decay(1.0, K)(K)) == pytest.approx(0.0, abs=1e-7)


def test_warmup_ramps_linearly_then_runs_the_wrapped_schedule_from_its_step_zero():
    W = 4
    inner = schedules.cosine_decay(1.0, K)

    def formula(t):
        if t < W:
            return 0.1 + (1.0 - 0.1) * t / W
        t = min(t - W, K)
        return 0.5 * (1 + math.cos(math.pi * t / K))

    _check_formula(schedules.warmup(inner, W, eta0=0.1), formula, steps=STEPS + (3, 4, 2 * K + W))
    # a number is a constant schedule
    _check_formula(schedules.warmup(0.5, W), lambda t: 0.5 * min(t / W, 1.0), steps=STEPS)


def test_join_runs_each_piece_from_its_own_step_zero_between_boundaries():
    pieces = [schedules.linear(0.0, 1.0, 4), 1.0, schedules.exponential_decay(1.0, 1.0, 0.5)]
    joined = schedules.join(pieces, [4, 8])

    def formula(t):
        if t < 4:
            return t / 4
        if t < 8:
            return 1.0
        return 0.5 ** (t - 8)

    _check_formula(joined, formula, steps=STEPS + (3, 4, 7, 8, 9, 12))


def test_schedule_is_float64_under_x64(x64):
    rate = schedules.power_law(0.1, 3.0)(jnp.asarray(7, jnp.int64))
    assert rate.dtype == jnp.float64
    assert float(rate) == pytest.approx(0.1 * (1 + 7 / 3) ** -0.5, rel=1e-14)


def test_schedule_maps_over_an_array_of_steps():
    steps = jnp.arange(2 * K + 1, dtype=jnp.int32)
    got = schedules.linear(1.0, 0.0, K)(steps)
    want = np.clip(1 - np.arange(2 * K + 1) / K, 0, None)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [-0.1, float("inf"), float("nan")])
def test_negative_or_nonfinite_rate_is_rejected_naming_the_argument(bad):
    with pytest.raises(ValueError, match=r"eta must be a finite number >= 0, got"):
        schedules.constant(bad)
    with pytest.raises(ValueError, match=r"eta0 must be a finite number >= 0, got"):
        schedules.linear(bad, 0.1, K)
    with pytest.raises(ValueError, match=r"etaK must be a finite number >= 0, got"):
        schedules.linear(0.1, bad, K)
    with pytest.raises(ValueError, match=r"eta0 must be a finite number >= 0, got"):
        schedules.power_law(bad, 1.0)
    with pytest.raises(ValueError, match=r"eta0 must be a finite number >= 0, got"):
        schedules.exponential_decay(bad, 1.0, 0.9)


def test_negative_rate_message_gives_the_value():
    with pytest.raises(ValueError, match=r"eta0 must be a finite number >= 0, got -0\.1"):
        schedules.cosine_decay(-0.1, K)


def test_non_number_rate_is_a_type_error():
    with pytest.raises(TypeError, match=r"eta must be a finite number >= 0, got '0.1'"):
        schedules.constant("0.1")
    with pytest.raises(TypeError, match="eta"):
        schedules.constant(True)


@pytest.mark.parametrize("bad", [0, -5])
def test_K_not_positive_is_rejected(bad):
    with pytest.raises(ValueError, match=rf"K must be an integer number of steps > 0, got {bad}"):
        schedules.linear(0.1, 0.01, bad)
    with pytest.raises(ValueError, match=rf"K must be an integer number of steps > 0, got {bad}"):
        schedules.cosine_decay(0.1, bad)
    with pytest.raises(ValueError, match=rf"K must be an integer number of steps > 0, got {bad}"):
        schedules.warmup(0.1, bad)


def test_K_not_integer_is_a_type_error():
    with pytest.raises(TypeError, match=r"K must be an integer number of steps > 0, got 2.5"):
        schedules.linear(0.1, 0.01, 2.5)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf")])
def test_s_not_positive_is_rejected(bad):
    with pytest.raises(ValueError, match=r"s must be a finite number > 0, got"):
        schedules.power_law(0.1, bad)
    with pytest.raises(ValueError, match=r"s must be a finite number > 0, got"):
        schedules.exponential_decay(0.1, bad, 0.9)


@pytest.mark.parametrize("bad", [0.0, 0.5, float("nan")])
def test_power_law_c_must_be_negative(bad):
    with pytest.raises(ValueError, match=r"c must be a finite number < 0, got"):
        schedules.power_law(0.1, 1.0, bad)


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.0, 1.5])
def test_exponential_decay_c_must_be_in_zero_one(bad):
    with pytest.raises(ValueError, match=r"c must be a finite number in \(0, 1\), got"):
        schedules.exponential_decay(0.1, 1.0, bad)


def test_join_rejects_wrong_boundaries():
    with pytest.raises(ValueError, match=r"boundaries must hold len\(schedules\) - 1 = 1 steps, got 2"):
        schedules.join([0.1, 0.2], [3, 5])
    with pytest.raises(ValueError, match=r"boundaries must be strictly increasing, got \[5, 5\]"):
        schedules.join([0.1, 0.2, 0.3], [5, 5])
    with pytest.raises(ValueError, match=r"boundaries\[0\] must be an integer number of steps > 0, got 0"):
        schedules.join([0.1, 0.2], [0])
    with pytest.raises(TypeError, match="schedules must be a non-empty sequence"):
        schedules.join([], [])
    with pytest.raises(ValueError, match=r"schedules\[1\] must be a finite number >= 0, got -1"):
        schedules.join([0.1, -1.0], [3])
