"""Data: one import for the IDX format, the real data sets, synthetic sets and batching.

A thin re-export module, so that ``fnn.data.load``, ``fnn.data.read_idx``,
``fnn.data.batch_indices`` and the other names keep working. Each idea has its
own module:

- :mod:`fnn.idx`: the IDX file format (``read_idx``, ``write_idx``);
- :mod:`fnn.datasets`: MNIST and Fashion-MNIST: search paths, download,
  checksums, cache (``load``, ``provenance``, ``download``, ``search_dirs``,
  ``Source``, ...);
- :mod:`fnn.synthetic`: synthetic sets (notes, "Perceptron Learning" and
  "Universal Approximation Theorem");
- :mod:`fnn.batching`: shuffling and mini-batches (notes, "Stochastic gradient
  descent": an epoch is one pass in mini-batches of ``m`` examples).
"""

from __future__ import annotations

from fnn.batching import batch_indices, batches, num_batches, shuffle
from fnn.datasets import (
    DATASETS,
    DEBIAN_DIRS,
    MIRRORS,
    Source,
    download,
    load,
    provenance,
    search_dirs,
)
from fnn.idx import read_idx, write_idx
from fnn.synthetic import TARGETS, blobs, linearly_separable, regression, xor

__all__ = [
    "Source",
    "DATASETS",
    "MIRRORS",
    "DEBIAN_DIRS",
    "read_idx",
    "write_idx",
    "search_dirs",
    "download",
    "load",
    "provenance",
    "linearly_separable",
    "xor",
    "blobs",
    "regression",
    "TARGETS",
    "shuffle",
    "num_batches",
    "batches",
    "batch_indices",
]
