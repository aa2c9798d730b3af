"""Quick runs of the normalization and Nielsen/MNIST experiments: their verdicts hold.

Every verdict must agree, except

* claims the experiment shows *not* to reproduce (``EXPECTED_DISAGREEMENTS``,
  with the reason): for those the test checks that they still do not, so a
  change in the measurement is noticed;
* parts that could not be measured here (a verdict marked ``skipped``, e.g.
  MNIST when its files are absent): recorded as not agreeing, never as agreement.
"""

from __future__ import annotations

import importlib
import json

import pytest

EXPERIMENTS = ("normalization", "mnist_nielsen")

# experiment -> substrings of the claims that honestly do not reproduce.
EXPECTED_DISAGREEMENTS = {
    # Layer norm divides by the spread of a over the units; with sigmoid's non-centred z ~ 0.5 that spread is
    # dominated by the example-independent W z_bar, so the example-to-example signal still shrinks ~0.39x per
    # layer (measured 0.387): after 10 layers SGD sees no signal and stays at ln 10, like no normalization
    # (Adam, which rescales each parameter's step, does escape).
    "normalization": ("layer norm beats no normalization in a 10-hidden-layer sigmoid MLP with SGD",),
}


def _expected_to_fail(name: str, claim: str) -> bool:
    return any(s in claim for s in EXPECTED_DISAGREEMENTS.get(name, ()))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_quick_run_agrees_with_theory(name, tmp_path):
    module = importlib.import_module(f"experiments.{name}")
    record = module.run(quick=True, seed=0, out_dir=tmp_path)
    assert record["quick"] is True and record["seed"] == 0 and record["verdicts"]
    measured = [v for v in record["verdicts"] if not v.get("skipped")]
    assert measured, "an experiment must check at least one claim"
    wrong = [(v["claim"], v["measured"], v["predicted"], v["tolerance"])
             for v in measured if v["agree"] == _expected_to_fail(name, v["claim"])]
    assert not wrong, wrong
    skipped = [v for v in record["verdicts"] if v.get("skipped")]
    assert all(v["agree"] is False for v in skipped), "a skipped part must not count as agreement"
    if name == "mnist_nielsen":  # skipped exactly when the MNIST files are absent
        from fnn import data

        try:
            data.load("mnist", "test", download=False, progress=False)
            present = True
        except FileNotFoundError:
            present = False
        assert record["data"]["mnist"]["status"] == ("measured" if present else "skipped")
        assert len(skipped) == (0 if present else 1)
    else:
        assert not skipped
    assert record["agree"] is (all(v["agree"] for v in record["verdicts"]))
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert on_disk["verdicts"] == record["verdicts"] and on_disk["quick"] is True
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000

