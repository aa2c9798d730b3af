"""Research scripts: one module per analysis of the course notes.

Each module ``experiments/<name>.py`` defines ``run(quick=False, seed=0,
out_dir=None) -> dict`` that measures a claim with fnn's public API, compares it
with the theory and writes ``paper_figures/<name>.png`` and ``<name>.json``
through :func:`experiments._common.save`. ``python -m experiments NAME`` runs
one, ``python -m experiments all`` runs them all and regenerates
``paper_figures/README.md``.
"""
