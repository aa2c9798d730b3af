"""Quick runs of the curvature experiments (edge_of_stability, real_net_convergence, hessian_spectrum).

Each writes its JSON and PNG into a temporary folder; every verdict carries a
``kind``, stochastic predictions state their interval over >= 5 seeds, and no
outcome is "unexpected" except the honest disagreements listed in
``EXPECTED_UNEXPECTED`` (with the reason), which must stay unexpected so that a
change in the measurement is noticed. Without Fashion-MNIST and MNIST on disk
every verdict is "skipped".
"""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

# experiment -> substrings of claims that honestly come out unexpected in quick mode.
EXPECTED_UNEXPECTED: dict[str, tuple[str, ...]] = {
    # Quick mode (784-30-10, 500 examples, 10 epochs), outliers = eigenvalues above lambda_max(M - G_1) (G_1 the
    # part of the C class-mean logit-gradient features, Papyan 2019): about 2-3 outliers of H and of G at the end,
    # 5-6 after 1 epoch, not C - 1 = 9; G's top eigenvalue differs from H's by ~0.26 relative in this small net.
    "hessian_spectrum": (
        "after training (epoch",
        "the Gauss-Newton part G alone",
        "the outliers appear early",
        "the outliers of H come from the Gauss-Newton part",
    ),
}

QUICK = (
    pytest.param("edge_of_stability", marks=pytest.mark.slow),  # 24-34 s on 2 quiet cores (both rates)
    pytest.param("real_net_convergence", marks=pytest.mark.slow),  # 46 s (80 s under heavy load)
    pytest.param("hessian_spectrum", marks=pytest.mark.slow),  # 73 s on 2 quiet cores (a Lanczos run per checkpoint)
)


def _data_present() -> bool:
    from experiments.edge_of_stability import load_subset

    return load_subset(10)[0] is not None


def _expected_unexpected(name: str, claim: str) -> bool:
    return any(s in claim for s in EXPECTED_UNEXPECTED.get(name, ()))


@pytest.mark.parametrize("name", QUICK)
def test_curvature_experiment_quick_run(name, tmp_path):
    module = importlib.import_module(f"experiments.{name}")
    record = module.run(quick=True, seed=0, out_dir=tmp_path)
    assert record["quick"] is True and record["verdicts"]
    present = _data_present()
    for v in record["verdicts"]:
        assert v["kind"] in ("prediction", "check", "erratum"), v["claim"]
        if not present:
            assert v["outcome"] == "skipped"
            continue
        want = "unexpected" if _expected_unexpected(name, v["claim"]) else ("as expected", "skipped")
        assert v["outcome"] in want, (v["claim"], v["measured"], v["predicted"], v["tolerance"])
        if v["interval"] is not None:
            assert v["interval"][0] <= v["interval"][1] and v["n_seeds"] >= 5
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert [v["claim"] for v in on_disk["verdicts"]] == [v["claim"] for v in record["verdicts"]]


def test_edge_of_stability_phase_analysis_on_a_synthetic_trace():
    # A made-up sharpness trace: rises 10 -> 21 over 5 measurements, then hovers at 2/eta = 20 +- 1.
    from experiments.edge_of_stability import _phase

    lam = np.array([10, 12, 15, 18, 21, 19, 21, 20, 19, 21.0])
    cost = np.concatenate([np.linspace(1.0, 0.5, 50), 0.5 - 0.01 * np.arange(50) + 0.02 * (np.arange(50) % 2)])
    ph = _phase(lam, cost, thr=20.0, every=10, ll=False)
    assert ph["reached"] and ph["t_reach"] == 40  # first measurement >= 0.95 * 20 = 19 is index 4
    assert ph["pre_rise"] == pytest.approx(21 / 10)
    assert ph["mean_ratio"] == pytest.approx(np.mean(lam[4:]) / 20)
    assert ph["in_band"] == 1.0 and ph["above_frac"] == pytest.approx(3 / 6)
    assert ph["pre_increase_frac"] == 0.0 and ph["post_increase_frac"] > 0.3
    assert ph["cost_drop"] < 1


def test_outlier_count_is_the_position_of_the_largest_relative_gap():
    from experiments.hessian_spectrum import largest_gap_count

    lam = np.concatenate([np.geomspace(50, 20, 10), np.geomspace(4, 1, 20)])
    assert largest_gap_count(lam) == 10
    assert largest_gap_count(np.array([10.0, 1.0, 0.9, -0.5])) == 1
