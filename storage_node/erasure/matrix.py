"""Matrices over GF(2^8): the generator of the code, inversion, and the rows that rebuild lost shards.

The code is systematic: its generator ``G`` has ``n = k + m`` rows and ``k`` columns, the top ``k`` rows
are the identity (fragment ``i < k`` is data shard ``i`` itself) and the bottom ``m`` rows are ISA-L's
``gf_gen_cauchy1_matrix``: ``G[i, j] = 1 / (i XOR j)`` for ``k <= i < n``, ``0 <= j < k``. Every k x k
sub-matrix of ``G`` is invertible for ``n <= 256``, so any k fragments determine the data.

Recovering from the fragments at ``survivors`` (k distinct indices): with ``B = G[survivors]``, the data
shards are ``B^-1 @ survivors``, and fragment ``w`` is ``G[w] @ B^-1 @ survivors``. The rows
``G[wanted] @ B^-1`` (k columns each) are computed here, once per erasure pattern, then applied to the
shard bytes by a backend exactly as parity rows are.

Matrices are 2-D C-contiguous NumPy ``uint8`` arrays, row-major, as ISA-L lays them out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from storage_node.erasure import gf
from storage_node.erasure.errors import ErasureCodingError

Inverter = Callable[[np.ndarray], np.ndarray]
"""A function returning the inverse of a square matrix over GF(2^8) (a backend may bring its own)."""


class SingularMatrixError(ErasureCodingError):
    """A matrix that has no inverse; cannot happen for sub-matrices of a valid generator."""


def cauchy1_generator(k: int, m: int) -> np.ndarray:
    """The ``(k + m) x k`` generator: identity on top, ``1 / (i XOR j)`` below (ISA-L's cauchy1)."""
    rows = np.arange(k, k + m)[:, None]
    columns = np.arange(k)[None, :]
    return np.vstack([np.eye(k, dtype=np.uint8), gf.INV[rows ^ columns]])


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` over GF(2^8): products from the multiplication table, sums by XOR."""
    products = gf.MUL[a[:, :, None], b[None, :, :]]          # products[i, t, j] = a[i, t] * b[t, j]
    return np.bitwise_xor.reduce(products, axis=1).astype(np.uint8)


def invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a square matrix by Gauss-Jordan elimination, one whole row operation at a time."""
    size = matrix.shape[0]
    work = np.hstack([matrix.astype(np.uint8), np.eye(size, dtype=np.uint8)])
    for column in range(size):
        pivots = np.flatnonzero(work[column:, column])
        if pivots.size == 0:
            raise SingularMatrixError("matrix is singular over GF(2^8)")
        pivot = column + pivots[0]
        work[[column, pivot]] = work[[pivot, column]]
        work[column] = gf.MUL[gf.INV[work[column, column]], work[column]]
        factors = work[:, column].copy()
        factors[column] = 0
        work ^= gf.MUL[factors[:, None], work[column][None, :]]
    return np.ascontiguousarray(work[:, size:])


def recovery_rows(generator: np.ndarray, survivors: Sequence[int], wanted: Sequence[int],
                  inverter: Inverter = invert) -> np.ndarray:
    """Rows that compute fragments ``wanted`` from the k fragments at ``survivors`` (in that order)."""
    decode = inverter(np.ascontiguousarray(generator[list(survivors)]))
    return np.ascontiguousarray(matmul(generator[list(wanted)], decode))
