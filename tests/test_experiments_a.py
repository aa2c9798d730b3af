"""The registered claims of the experiments on initialization (symmetry, activation and gradient variance).

Their quick runs are in tests/test_experiments_quick.py (against the recorded
outcomes); here, what the registries must say, without running anything: an
erratum (a statement of the notes that is false as written) is followed by the
prediction for the rule it is about, every stochastic claim states its seeds
and a 95% interval fit for its quantity, and no prediction is decided by
"point inside the interval".
"""

from __future__ import annotations

from experiments import _registry

# gd_convergence, momentum, schedules and optimizers are tested in tests/test_experiments_c.py.


def test_init_variance_states_both_xavier_errata_then_their_correction():
    claims = list(_registry.claims("init_variance").values())
    errata = [i for i, c in enumerate(claims) if c.kind == "erratum"]
    assert [claims[i].id for i in errata] == ["init_variance/xavier-notes-not-constant",
                                              "init_variance/literal-first-layer-gain"]
    # each erratum is followed by the mean-field prediction for the rule it is about
    assert all("mean-field" in claims[i + 1].id and claims[i + 1].kind == "prediction" for i in errata)
    assert all(c.seeds is not None and c.seeds.quick >= 3 and c.rule.interval == "t95" for c in claims)


def test_the_per_layer_factors_are_bands_around_their_prediction():
    for name, half in (("init_variance", 0.02), ("init_gradients", 0.05)):
        factors = [c for c in _registry.claims(name).values() if c.id.endswith(("-factor", "-mean-field"))]
        assert factors, name
        for c in factors:
            assert c.rule.kind == "band" and c.rule.point == 1.0, c.id
            assert (c.rule.lo, c.rule.hi) == (1.0 - half, 1.0 + half), c.id


def test_symmetry_forced_outcomes_are_checks_and_its_prediction_can_fail():
    claims = _registry.claims("symmetry")
    assert [c.id for c in claims.values() if c.kind == "prediction"] == ["symmetry/random-learns-xor"]
    xor = claims["symmetry/random-learns-xor"]
    # decided on the worst seed against a bound a stalled net (or a one-unit line, <= 0.75) fails
    assert xor.rule.kind == "above" and xor.rule.interval == "exact" and 0.75 < xor.rule.lo < 1.0
