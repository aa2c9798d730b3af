"""Research scripts: one module per analysis of the course notes.

Each module ``experiments/<name>.py`` defines ``run(quick=False, seed=0,
out_dir=None) -> dict`` that measures claims with fnn's public API, states each
as a verdict (:func:`experiments._common.verdict`: a *prediction* against an
independent theory or published number, a *check* of an identity or of the
implementation, or an *erratum* of the notes, with its outcome and, for a
stochastic claim, a 95% t-interval over seeds) and writes ``<name>.png`` and
``<name>.json`` through :func:`experiments._common.save`.

``python -m experiments NAME`` runs one in full and writes ``paper_figures/``;
``python -m experiments all`` runs them all and regenerates
``paper_figures/README.md``; ``--quick`` checks the same claims on smaller
sizes and writes to a scratch folder (``$TMPDIR/fnn-experiments-quick`` or
``--out``). The exit status is 0 exactly when no outcome is "unexpected".
"""
