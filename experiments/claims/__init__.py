"""The claim registry: one module per experiment, each with ``CLAIMS``, a tuple of
:class:`experiments._registry.Claim` fixed before the experiment's runs (see
:mod:`experiments._registry`). A change to a claim after it produced a result
needs a ledger entry (:mod:`experiments._ledger`)."""
