"""The fast engine's fingerprint for the in-place guard (``minicnn/nn/_kept_arrays.py``).

The same bytes as the reference's ``fingerprint``, with the row and column sums computed in
one pass by a compiled loop instead of two NumPy sums (figures: benchmarks/README.md, "The
in-place guard").
"""

import numpy as np

from ..nn import _kept_arrays
from . import kernels


def fingerprint(array: np.ndarray) -> bytes:
    """``minicnn.nn._kept_arrays.fingerprint``: the same result, one pass over the array."""
    return _kept_arrays.fingerprint(array, _one_pass_sums)


def _one_pass_sums(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    row_sums = np.empty(table.shape[0], np.uint64)
    column_sums = np.zeros(table.shape[1], np.uint64)
    kernels.row_and_column_sums(table, row_sums, column_sums)
    return column_sums, row_sums
