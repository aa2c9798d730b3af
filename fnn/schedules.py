"""Learning-rate schedules: pure functions ``step -> rate``.

Notes, "Learning rate scheduling": it pays to start with a large learning rate
``eta`` and reduce it during training, ``w(tau) = w(tau-1) - eta(tau-1) grad E``.
A schedule here is a plain function of the step count ``t`` (a Python int or a
traced integer array, so it works inside ``jax.jit``) that returns the rate as
a 0-d float array of the default float dtype (float32, float64 under x64).

The notes' three schedules::

    linear(eta0, etaK, K)        eta(t) = (1 - t/K) eta0 + (t/K) etaK  for t <= K, etaK after
    power_law(eta0, s, c=-0.5)   eta(t) = eta0 (1 + t/s)^c              (c < 0)
    exponential_decay(eta0, s, c) eta(t) = eta0 c^(t/s)                 (0 < c < 1)

and, beyond the notes, ``constant``, ``cosine_decay``, ``warmup`` and ``join``.
Hand a schedule to ``fnn.optim.scale`` (or any ready-made optimizer) in place of
a number::

    >>> from fnn import schedules
    >>> eta = schedules.linear(0.1, 0.01, K=100)
    >>> [round(float(eta(t)), 6) for t in (0, 50, 100, 1000)]
    [0.1, 0.055, 0.01, 0.01]

Arguments are checked when the schedule is built (outside jit); a bad one
raises ``ValueError``/``TypeError`` naming the argument, the expected and the
given value. A step is a count of updates, so it is ``>= 0``: a concrete
negative step raises ``ValueError``; a traced one (inside ``jit``, where it
cannot be inspected) is read as step 0. A schedule of your own is any function
``step -> rate``; :func:`check` evaluates one over the steps of a run and
names the first step whose rate is negative or not finite (a negative rate
climbs the cost, a NaN one makes every parameter NaN).
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

Schedule = Callable[[ArrayLike], jax.Array]
"""A learning-rate schedule: ``step -> rate`` (0-d float array)."""

__all__ = [
    "Schedule",
    "constant",
    "linear",
    "power_law",
    "exponential_decay",
    "cosine_decay",
    "warmup",
    "join",
    "check",
]


# --------------------------------------------------------------------------
# argument checks (run once, when a schedule is built)


def _number(name: str, value, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be {expected}, got {value}")
    return value


def _rate(name: str, value) -> float:
    value = _number(name, value, "a finite number >= 0")
    if value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def _positive(name: str, value) -> float:
    value = _number(name, value, "a finite number > 0")
    if value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def _steps(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer number of steps > 0, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be an integer number of steps > 0, got {value}")
    return int(value)


def _schedule(name: str, value) -> Schedule:
    """A number becomes ``constant(number)``; a callable is taken as a schedule."""
    if callable(value):
        return value
    return constant(_rate(name, value))


# --------------------------------------------------------------------------
# evaluation helpers


def _float_dtype():
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def _t(step: ArrayLike) -> jax.Array:
    """The step count as a float array (explicit cast: strict promotion)."""
    return jnp.asarray(step).astype(_float_dtype())


def _int(step: ArrayLike) -> jax.Array:
    return jnp.asarray(step).astype(jax.dtypes.canonicalize_dtype(jnp.int64))


def _eval(schedule: Schedule, step: ArrayLike) -> jax.Array:
    return jnp.asarray(schedule(step)).astype(_float_dtype())


def _checked_step(step: ArrayLike) -> ArrayLike:
    """A concrete step must be >= 0 (ValueError otherwise); a traced one is clamped to >= 0."""
    if isinstance(step, jax.core.Tracer):
        return jnp.maximum(step, 0)
    values = np.asarray(step)
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
        raise TypeError(f"step must be an integer count of updates >= 0, got {step!r}")
    if values.size and not (values >= 0).all():
        raise ValueError(f"step must be a count of updates >= 0, got {step!r}")
    return step


def _takes_steps(fn: Callable[[ArrayLike], jax.Array]) -> Schedule:
    """Wrap a schedule's formula with the step check of :func:`_checked_step`."""

    @functools.wraps(fn)
    def schedule(step: ArrayLike) -> jax.Array:
        return fn(_checked_step(step))

    return schedule


def check(schedule: Schedule, steps: int | Sequence[int] | ArrayLike) -> Schedule:
    """Evaluate ``schedule`` at ``steps`` and raise unless every rate is finite and ``>= 0``.

    ``steps``: an int ``n`` (steps ``0 .. n-1``, e.g. the number of updates of
    a run) or the steps themselves. The schedule is traced once, as inside
    training (``jax.lax.map`` over the steps), so checking 10^5 steps is quick.
    Returns ``schedule``. Raises ``ValueError`` naming the first bad step and
    its rate, ``TypeError`` if ``schedule`` is not callable.
    """
    if not callable(schedule):
        raise TypeError(f"schedule must be a function step -> rate, got {schedule!r}")
    if isinstance(steps, numbers.Integral) and not isinstance(steps, bool):
        steps = np.arange(_steps("steps", steps))
    t = np.asarray(steps)
    if t.ndim != 1 or not np.issubdtype(t.dtype, np.integer) or (t < 0).any():
        raise ValueError(f"steps must be an int > 0 or a 1-d sequence of integer steps >= 0, got {steps!r}")
    rates = np.asarray(jax.jit(lambda ts: jax.lax.map(lambda s: _eval(schedule, s), ts))(jnp.asarray(t)))
    if rates.shape != t.shape:
        raise ValueError(f"schedule must return one rate (a scalar) per step, got shape {rates.shape[1:]}")
    bad = np.flatnonzero(~(np.isfinite(rates) & (rates >= 0)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"schedule must return finite rates >= 0, got {rates[i]} at step {int(t[i])} "
            f"({bad.size} of {t.size} steps bad)"
        )
    return schedule


# --------------------------------------------------------------------------
# schedules


def constant(eta: float) -> Schedule:
    """``eta(t) = eta`` for every step (plain gradient descent, notes "Gradient descent").

    Args:
      eta: the learning rate, a finite number >= 0.
    Returns:
      a schedule ``step -> rate``.
    """
    eta = _rate("eta", eta)

    @_takes_steps
    def schedule(step: ArrayLike) -> jax.Array:
        return jnp.full(jnp.shape(step), eta, _float_dtype())

    return schedule


def linear(eta0: float, etaK: float, K: int) -> Schedule:
    """Linear decay (notes, "Learning rate scheduling").

    ``eta(t) = (1 - t/K) eta0 + (t/K) etaK`` for ``0 <= t <= K``, then held at
    ``etaK``. (The notes write the final rate as ``n_K``; it is ``eta_K``.)

    Args:
      eta0: rate at step 0, finite >= 0.
      etaK: rate from step K on, finite >= 0.
      K: number of steps of the ramp, integer > 0.
    """
    eta0, etaK, K = _rate("eta0", eta0), _rate("etaK", etaK), _steps("K", K)

    @_takes_steps
    def schedule(step: ArrayLike) -> jax.Array:
        frac = jnp.clip(_t(step) / K, 0.0, 1.0)
        return (1.0 - frac) * eta0 + frac * etaK

    return schedule


def power_law(eta0: float, s: float, c: float = -0.5) -> Schedule:
    """Power-law decay (notes, "Learning rate scheduling").

    ``eta(t) = eta0 (1 + t/s)^c``; ``s > 0`` sets how fast the rate falls,
    ``c < 0`` its shape (the notes' usual value ``c = -0.5``).
    """
    eta0, s = _rate("eta0", eta0), _positive("s", s)
    c = _number("c", c, "a finite number < 0")
    if c >= 0:
        raise ValueError(f"c must be a finite number < 0, got {c}")

    @_takes_steps
    def schedule(step: ArrayLike) -> jax.Array:
        return eta0 * (1.0 + _t(step) / s) ** c

    return schedule


def exponential_decay(eta0: float, s: float, c: float, staircase: bool = False) -> Schedule:
    """Exponential decay (notes, "Learning rate scheduling").

    ``eta(t) = eta0 c^(t/s)`` with decay factor ``0 < c < 1`` (the notes: usually
    ``c`` in ``[0.95, 1)``) and scale ``s > 0``. With ``staircase=True`` the
    exponent is ``floor(t/s)``: the rate drops by a factor ``c`` every ``s`` steps.
    """
    eta0, s = _rate("eta0", eta0), _positive("s", s)
    c = _number("c", c, "a finite number in (0, 1)")
    if not 0 < c < 1:
        raise ValueError(f"c must be a finite number in (0, 1), got {c}")
    if not isinstance(staircase, bool):
        raise TypeError(f"staircase must be a bool, got {staircase!r}")

    @_takes_steps
    def schedule(step: ArrayLike) -> jax.Array:
        if staircase and float(s).is_integer():
            power = (_int(step) // int(s)).astype(_float_dtype())  # exact for integer s
        elif staircase:
            power = jnp.floor(_t(step) / s)
        else:
            power = _t(step) / s
        return eta0 * c**power

    return schedule


def cosine_decay(eta0: float, K: int, etaK: float = 0.0) -> Schedule:
    """Cosine annealing without restarts (Loshchilov & Hutter, SGDR, 2017) — beyond the notes.

    ``eta(t) = etaK + (eta0 - etaK) (1 + cos(pi t/K)) / 2`` for ``0 <= t <= K``,
    then held at ``etaK``.
    """
    eta0, etaK, K = _rate("eta0", eta0), _rate("etaK", etaK), _steps("K", K)

    @_takes_steps
    def schedule(step: ArrayLike) -> jax.Array:
        frac = jnp.clip(_t(step) / K, 0.0, 1.0)
        return etaK + (eta0 - etaK) * 0.5 * (1.0 + jnp.cos(math.pi * frac))

    return schedule


def warmup(schedule: Schedule | float, K: int, eta0: float = 0.0) -> Schedule:
    """Linear warm-up (Goyal et al., 2017) — beyond the notes.

    ``eta(t) = eta0 + (schedule(0) - eta0) t/K`` for ``t < K``, then
    ``schedule(t - K)``: the wrapped schedule starts once the ramp ends.

    Args:
      schedule: the schedule to warm up into, or a number (a constant rate).
      K: length of the ramp in steps, integer > 0.
      eta0: rate at step 0, finite >= 0.
    """
    after = _schedule("schedule", schedule)
    K, eta0 = _steps("K", K), _rate("eta0", eta0)

    @_takes_steps
    def warm(step: ArrayLike) -> jax.Array:
        peak = _eval(after, 0)
        ramp = eta0 + (peak - eta0) * (_t(step) / K)
        later = _eval(after, jnp.maximum(_int(step) - K, 0))
        return jnp.where(_int(step) < K, ramp, later)

    return warm


def join(schedules: Sequence[Schedule | float], boundaries: Sequence[int]) -> Schedule:
    """Glue schedules in time — beyond the notes.

    ``schedules[i]`` runs for ``boundaries[i-1] <= t < boundaries[i]`` and is
    evaluated at ``t - boundaries[i-1]`` (each piece starts from its own step 0).
    E.g. ``join([linear(0, 0.1, 100), cosine_decay(0.1, 900)], [100])``.

    Args:
      schedules: n >= 1 schedules or numbers.
      boundaries: n - 1 strictly increasing integers > 0.
    """
    if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence) or not schedules:
        raise TypeError(f"schedules must be a non-empty sequence of schedules, got {schedules!r}")
    pieces = [_schedule(f"schedules[{i}]", s) for i, s in enumerate(schedules)]
    if not isinstance(boundaries, Sequence):
        raise TypeError(f"boundaries must be a sequence of integers, got {boundaries!r}")
    if len(boundaries) != len(pieces) - 1:
        raise ValueError(
            f"boundaries must hold len(schedules) - 1 = {len(pieces) - 1} steps, "
            f"got {len(boundaries)}: {list(boundaries)}"
        )
    bounds = [_steps(f"boundaries[{i}]", b) for i, b in enumerate(boundaries)]
    if any(b1 >= b2 for b1, b2 in zip(bounds, bounds[1:])):
        raise ValueError(f"boundaries must be strictly increasing, got {bounds}")

    @_takes_steps
    def joined(step: ArrayLike) -> jax.Array:
        t = _int(step)
        rate = _eval(pieces[0], t)
        for b, piece in zip(bounds, pieces[1:]):
            rate = jnp.where(t >= b, _eval(piece, jnp.maximum(t - b, 0)), rate)
        return rate

    return joined
