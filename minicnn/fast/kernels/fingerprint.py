"""The in-place guard's fingerprint in one pass (``minicnn/nn/_kept_arrays.py`` has the rule).

The array's 64-bit words, laid out as a table of ``row`` columns: each row's sum and each
column's sum, modulo 2⁶⁴. NumPy computes these as two sums, two trips through memory; this
loop reads each word once and adds it to both. Integer sums wrap the same in any order, so
the result is the same bits as NumPy's, and either can check the other's fingerprint.
"""

import numpy as np
from numba import njit

__all__ = ["row_and_column_sums"]


@njit(nogil=True, cache=True)
def row_and_column_sums(table, row_sums, column_sums):
    """``row_sums[r] = Σ_k table[r, k]``, ``column_sums[k] = Σ_r table[r, k]`` (uint64, mod 2⁶⁴).

    Shapes: table (R, K), row_sums (R,), column_sums (K,) set to zero by the caller.
    """
    rows, width = table.shape
    for r in range(rows):
        total = np.uint64(0)
        for k in range(width):
            value = table[r, k]
            total += value
            column_sums[k] += value
        row_sums[r] = total
