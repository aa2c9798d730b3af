"""The claim registry: every verdict's claim declared as data before its runs.

A claim says what an experiment will measure and how the number will be
judged, apart from the code that measures it. Each experiment ``NAME`` has a
registry module ``experiments/claims/NAME.py`` holding ``CLAIMS``, a tuple of
:class:`Claim`; the runner refuses a verdict whose claim is not registered
there, and a registered claim that no verdict decided.

A claim's **kind** is what could have come out otherwise:

- ``prediction``: a measurement set against an independent theory, closed form
  or published number, which the data could contradict;
- ``check``: an identity, a theorem, or an outcome forced by the setup (BP
  equals ``jax.grad``, Novikoff's bound, a formula read back); it catches a bug,
  it confirms no theory;
- ``erratum``: a statement of the notes that is false as written, measured as
  such (the corrected statement is its own prediction).

A claim's **rule** decides it from the measured value's interval ``[l, h]``
(a deterministic number is its own interval ``[m, m]``), stated in advance:

- ``band(lo, hi)``: equivalence band; ``[l, h]`` inside -> "as expected",
  disjoint -> "unexpected", straddling an edge -> "inconclusive";
- ``above(b)``: ``l >= b`` -> "as expected", ``h < b`` -> "unexpected",
  otherwise "inconclusive" (and ``below(b)`` mirrored).

So more seeds can only sharpen a verdict: a wide interval (few seeds) gives
"inconclusive", never "as expected". Where the claim has a point prediction
and the interval excludes it, the verdict says so, whatever the band.

Each claim has a **hash** (SHA-256 of its canonical JSON, 16 hex digits)
recorded with every result; a claim whose hash differs from the one recorded
with its last result needs an entry in the ledger (``experiments._ledger``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
from typing import Any

KINDS = ("prediction", "check", "erratum")
OUTCOMES = ("as expected", "unexpected", "inconclusive", "skipped")
INTERVALS = {
    "exact": "a deterministic number (its own interval)",
    "t95": "95% Student-t interval of the mean over seeds",
    "wilson95": "95% Wilson interval of a proportion",
    "clopper-pearson95": "95% exact (Clopper-Pearson) interval of a proportion",
    "bootstrap95": "95% percentile bootstrap interval",
    "ols95": "95% t-interval of a least-squares coefficient",
    "exact-test95": "95% interval from an exact (permutation) test",
}
RULES = ("band", "above", "below")


@dataclasses.dataclass(frozen=True)
class Rule:
    """How a measured interval ``[l, h]`` decides a claim (see the module docstring).

    ``kind`` is ``"band"`` (needs ``lo <= hi``), ``"above"`` (needs ``lo``) or
    ``"below"`` (needs ``hi``); ``interval`` names how ``[l, h]`` is obtained (a
    key of :data:`INTERVALS`); ``point`` is the point prediction, if there is
    one; ``reason`` says why the margin is what it is.
    """

    kind: str
    interval: str
    reason: str
    lo: float | None = None
    hi: float | None = None
    point: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in RULES:
            raise ValueError(f"Rule: kind must be one of {RULES}, got {self.kind!r}")
        if self.interval not in INTERVALS:
            raise ValueError(f"Rule: interval must be one of {tuple(INTERVALS)}, got {self.interval!r}")
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ValueError(f"Rule: reason must say why the margin is what it is, got {self.reason!r}")
        need = {"band": ("lo", "hi"), "above": ("lo",), "below": ("hi",)}[self.kind]
        for name in ("lo", "hi", "point"):
            value = getattr(self, name)
            if name in need and value is None:
                raise ValueError(f"Rule: a {self.kind!r} rule needs {name}, got None")
            if name not in need and name != "point" and value is not None:
                raise ValueError(f"Rule: a {self.kind!r} rule takes no {name}, got {value!r}")
            if value is not None and (isinstance(value, bool) or not math.isfinite(float(value))):
                raise ValueError(f"Rule: {name} must be a finite number, got {value!r}")
        if self.kind == "band" and not self.lo <= self.hi:
            raise ValueError(f"Rule: a band needs lo <= hi, got lo={self.lo!r}, hi={self.hi!r}")

    def text(self) -> str:
        """The rule in words, as the tables show it."""
        edge = {"band": f"inside [{_g(self.lo)}, {_g(self.hi)}]", "above": f">= {_g(self.lo)}",
                "below": f"<= {_g(self.hi)}"}[self.kind]
        what = "value" if self.interval == "exact" else INTERVALS[self.interval]
        return f"{what} {edge} ({self.reason})"


def band(lo: float, hi: float, interval: str, reason: str, point: float | None = None) -> Rule:
    """An equivalence band ``[lo, hi]``."""
    return Rule("band", interval, reason, lo=lo, hi=hi, point=point)


def above(lo: float, interval: str, reason: str, point: float | None = None) -> Rule:
    """A one-sided lower bound ``>= lo``."""
    return Rule("above", interval, reason, lo=lo, point=point)


def below(hi: float, interval: str, reason: str, point: float | None = None) -> Rule:
    """A one-sided upper bound ``<= hi``."""
    return Rule("below", interval, reason, hi=hi, point=point)


@dataclasses.dataclass(frozen=True)
class Seeds:
    """How many independent runs a claim is decided on, in full and quick mode, and which."""

    full: int
    quick: int
    which: str

    def __post_init__(self) -> None:
        for name in ("full", "quick"):
            n = getattr(self, name)
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"Seeds: {name} must be a positive integer, got {n!r}")
        if not isinstance(self.which, str) or not self.which.strip():
            raise ValueError(f"Seeds: which must say which seeds are used, got {self.which!r}")


@dataclasses.dataclass(frozen=True)
class Claim:
    """One registered claim; see the module docstring.

    ``id`` is ``"<experiment>/<slug>"``; ``source`` the section of the notes or
    the paper; ``quantity`` the number measured; ``predicted`` the predicted
    value or relation in words; ``rule`` decides full mode and ``quick`` (if
    set) quick mode; ``seeds`` is ``None`` for a deterministic measurement;
    ``setup`` what it runs on; ``group`` names the claims decided on one set of
    runs (counted once in the summary).
    """

    id: str
    kind: str
    source: str
    quantity: str
    predicted: str
    rule: Rule
    setup: str
    seeds: Seeds | None = None
    quick: Rule | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or self.id.count("/") != 1 or not all(self.id.split("/")):
            raise ValueError(f"Claim: id must be '<experiment>/<slug>', got {self.id!r}")
        if self.kind not in KINDS:
            raise ValueError(f"Claim {self.id}: kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("source", "quantity", "predicted", "setup"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"Claim {self.id}: {name} must be a non-empty string, got {getattr(self, name)!r}")
        for name in ("rule", "quick"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), Rule):
                raise TypeError(f"Claim {self.id}: {name} must be a Rule, got {type(getattr(self, name)).__name__}")
        if self.seeds is not None and not isinstance(self.seeds, Seeds):
            raise TypeError(f"Claim {self.id}: seeds must be Seeds or None, got {type(self.seeds).__name__}")
        for rule in (self.rule, self.quick):
            if rule is not None and rule.interval != "exact" and self.seeds is None and rule.interval == "t95":
                raise ValueError(f"Claim {self.id}: a t-interval over seeds needs seeds, got None")

    @property
    def experiment(self) -> str:
        return self.id.split("/")[0]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def hash(self) -> str:
        """SHA-256 (16 hex digits) of the claim's canonical JSON: any change to it changes the hash."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def rule_for(self, quick: bool) -> Rule:
        return self.quick if quick and self.quick is not None else self.rule

    def n_seeds(self, quick: bool) -> int | None:
        return None if self.seeds is None else (self.seeds.quick if quick else self.seeds.full)


def claims(name: str) -> dict[str, Claim]:
    """The registered claims of experiment ``name`` (``experiments/claims/<name>.py``), by id, in order."""
    try:
        module = importlib.import_module(f"experiments.claims.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"experiments.claims.{name}":
            raise
        raise LookupError(f"experiment {name!r} has no claim registry (experiments/claims/{name}.py)") from None
    found = getattr(module, "CLAIMS", None)
    if not isinstance(found, tuple) or not all(isinstance(c, Claim) for c in found):
        raise TypeError(f"experiments/claims/{name}.py: CLAIMS must be a tuple of Claim")
    out: dict[str, Claim] = {}
    for c in found:
        if c.experiment != name:
            raise ValueError(f"experiments/claims/{name}.py: claim {c.id!r} belongs to another experiment")
        if c.id in out:
            raise ValueError(f"experiments/claims/{name}.py: claim {c.id!r} registered twice")
        out[c.id] = c
    return out


def get(claim_id: str) -> Claim:
    """The registered claim ``claim_id``; ``LookupError`` when it is not registered."""
    if not isinstance(claim_id, str) or "/" not in claim_id:
        raise LookupError(f"claim id must be '<experiment>/<slug>', got {claim_id!r}")
    registered = claims(claim_id.split("/")[0])
    if claim_id not in registered:
        raise LookupError(f"claim {claim_id!r} is not registered; registered: {sorted(registered)}")
    return registered[claim_id]


def seeds(claim_id: str, quick: bool) -> int:
    """The registered number of seeds of ``claim_id`` in this mode (experiments size their runs from it)."""
    n = get(claim_id).n_seeds(quick)
    if n is None:
        raise LookupError(f"claim {claim_id!r} is deterministic: it registers no seeds")
    return n


def outcome(rule: Rule, interval: tuple[float, float]) -> str:
    """The outcome of ``rule`` on the interval ``(l, h)``: "as expected", "unexpected" or "inconclusive"."""
    lo, hi = interval
    if rule.kind == "band":
        if rule.lo <= lo and hi <= rule.hi:
            return "as expected"
        return "unexpected" if hi < rule.lo or lo > rule.hi else "inconclusive"
    if rule.kind == "above":
        return "as expected" if lo >= rule.lo else "unexpected" if hi < rule.lo else "inconclusive"
    return "as expected" if hi <= rule.hi else "unexpected" if lo > rule.hi else "inconclusive"


def decide(
    claim_id: str,
    measured: Any,
    *,
    quick: bool,
    interval: tuple[float, float] | None = None,
    n: int | None = None,
    skipped: str | None = None,
    detail: Any = None,
) -> dict[str, Any]:
    """Decide the registered claim ``claim_id`` on ``measured`` by its registered rule.

    ``measured`` is the number the rule applies to; ``interval`` its ``(lo,
    hi)`` interval, required unless the rule's interval is ``"exact"`` (and
    refused then); ``n`` the number of runs it came from (must equal the
    registered seed count); ``skipped`` the reason the claim could not be
    measured (a data set absent); ``detail`` any further numbers to show.
    Returns the verdict record: the claim's id, hash, kind, texts, rule,
    measured value, interval, outcome, and whether the interval excludes the
    point prediction.
    """
    claim = get(claim_id)
    rule = claim.rule_for(quick)
    record: dict[str, Any] = {
        "id": claim.id, "claim_hash": claim.hash, "kind": claim.kind, "source": claim.source,
        "claim": claim.quantity, "predicted": claim.predicted, "rule": rule.text(), "group": claim.group,
        "measured": measured, "interval": None, "n_seeds": claim.n_seeds(quick), "detail": detail,
        "excludes_point": None, "skipped_reason": None,
    }
    if skipped is not None:
        if not isinstance(skipped, str) or not skipped.strip():
            raise ValueError(f"decide({claim_id}): skipped must be None or a reason string, got {skipped!r}")
        record.update(outcome="skipped", skipped_reason=skipped)
        return record
    if rule.interval == "exact":  # a bound on a deterministic number may meet an infinite one (never NaN)
        value = _number(measured, f"decide({claim_id}): measured")
        if interval is not None:
            raise ValueError(f"decide({claim_id}): the registered rule is exact; an interval was given: {interval!r}")
        lo = hi = value
    else:
        _finite(measured, f"decide({claim_id}): measured")
        if interval is None or len(interval) != 2:
            raise ValueError(f"decide({claim_id}): the registered rule needs a {rule.interval} interval "
                             f"(lo, hi), got {interval!r}")
        lo, hi = (_finite(interval[0], f"decide({claim_id}): interval[0]"),
                  _finite(interval[1], f"decide({claim_id}): interval[1]"))
        if not lo <= hi:
            raise ValueError(f"decide({claim_id}): interval must have lo <= hi, got {interval!r}")
        record["interval"] = [lo, hi]
        if rule.point is not None:
            record["excludes_point"] = not lo <= rule.point <= hi
    expected_n = claim.n_seeds(quick)
    if n is not None and expected_n is not None and int(n) != expected_n:
        raise ValueError(f"decide({claim_id}): the claim registers {expected_n} seeds in "
                         f"{'quick' if quick else 'full'} mode; the measurement used {n}")
    record["outcome"] = outcome(rule, (lo, hi))
    return record


def check_complete(name: str, verdicts: list[dict[str, Any]]) -> None:
    """Raise unless ``verdicts`` decide exactly the registered claims of ``name``, each once."""
    registered = claims(name)
    ids = [v.get("id") for v in verdicts]
    unregistered = [i for i in ids if i not in registered]
    if unregistered:
        raise ValueError(f"{name}: verdicts for unregistered claims {unregistered}; register them in "
                         f"experiments/claims/{name}.py first")
    missing = [i for i in registered if i not in ids]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if missing or twice:
        raise ValueError(f"{name}: every registered claim is decided once: missing {missing}, twice {twice}")


def _number(x: Any, name: str) -> float:
    if isinstance(x, bool):
        x = float(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {type(x).__name__}: {x!r}") from None
    if math.isnan(f):
        raise ValueError(f"{name} must not be NaN")
    return f


def _finite(x: Any, name: str) -> float:
    f = _number(x, name)
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {f!r}")
    return f


def _g(x: float | None) -> str:
    return "None" if x is None else f"{x:.4g}"
