"""fnn: a pure-JAX framework for research on fully connected neural networks."""

__version__ = "0.1.0"
