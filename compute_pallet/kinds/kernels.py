"""Fixed-order numeric kernels: the same bits on every IEEE-754 machine, whatever BLAS or SIMD it has.

Honest providers must agree on a job's result bit for bit, since the pallet compares digests. numpy's
``matmul`` goes to OpenBLAS, whose kernel (chosen per CPU core type: Haswell, SkylakeX, Zen, ...) sums in
its own order and may fuse multiply-adds, so two honest machines drift apart in the last bits, then
further with every training step; numpy's float ``exp`` / ``log`` are SIMD-dispatched per instruction set
too. These kernels use only operations that IEEE 754 rounds exactly once and that numpy never fuses:
elementwise ``*``, ``+``, ``-``, ``/``, ``sqrt``, ``rint``, ``ldexp``, ``frexp``, comparisons, and sums
whose order numpy fixes from the array's shape alone (a reduction over a non-contiguous axis adds the
slices one after another; over a contiguous axis it is numpy's pairwise sum, the same C code on every
target). A matrix product is therefore one broadcast product per block of rows, whose k slices are then
added in a fixed binary tree (``tree_sum``).

Cost: training the default MLP (64-64-10, 20 epochs, batch 32) on digits takes 0.6 s of CPU with these
kernels against 0.12 s with OpenBLAS ``matmul`` (one core of a 2-core EPYC), 5x, which is what agreement
across kernel classes costs; in exchange no tolerance check is needed.

**Array modules.** Every kernel works on numpy arrays or on CuPy's (GPU) arrays, taking the module from its
arguments (``array_module``), and uses only elementwise ufuncs, slicing and gathers, never the module's own
reductions: CuPy's ``sum`` adds in a tree of GPU threads, numpy's pairwise, so the reductions numpy's order
fixed in the CPU path are spelled out here as sequences of elementwise additions in that very order
(``row_sums``: numpy's pairwise sum over a contiguous axis, 8 accumulators then a recursive split;
``column_sums``: one slice after another, or pairwise when the slices are single values), checked bit for
bit against numpy's ``sum`` in the tests. Why CuPy's ufuncs then give numpy's bits: each ufunc call is its
own kernel with one operation in it, so NVRTC (``--fmad=true`` by default) has no multiply and add in one
expression to contract into an FMA; division and square root are compiled IEEE round-to-nearest
(NVRTC's ``--prec-div=true``, ``--prec-sqrt=true``: CuPy compiles its ufuncs without ``--use_fast_math``,
the one numeric option it adds being ``-ftz=true``, below); ``rint``, ``ldexp``,
``frexp``, comparisons, ``maximum`` (NaN-propagating, as numpy's), casts (round to nearest) and gathers are
exact in both.

**Not guaranteed on CuPy: float32 subnormals.** CuPy appends ``-ftz=true`` to every kernel it compiles
(``cupy.cuda.compiler._compile_with_cache_cuda``, its ufuncs included, after any option a caller passes),
so a float32 operation whose operand or result lies below 2**-126 reads or writes 0 on the GPU where numpy
keeps the subnormal. float64 is never flushed (the softmax, ``exp``, ``log`` and the loss are float64).
Training on digits does meet float32 subnormals (a confident sample's probability cast to float32, its
products), but each is absorbed by a far larger neighbour in its sum: the flushed run ends in the same
digest (``tests/compute_pallet/kinds/test_flush_to_zero.py`` simulates the rule on the CPU;
``benchmarks/kinds_gpu.py`` and the ``gpu``-marked tests compare on a GPU). A dataset or model can be built where a flushed value decides a result (subnormal
weights, say), and there a GPU and a CPU provider part: bit-exactness across the two holds only for runs
whose outcome no float32 subnormal decides.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import numpy.typing as npt

__all__ = ["array_module", "to_host", "matmul", "tree_sum", "row_sums", "column_sums", "exp", "log",
           "BLOCK_ELEMENTS"]

# numpy's arrays, or CuPy's ndarray of the same dtype and shape where the kinds run on ``cupy``.
Float32 = npt.NDArray[np.float32]
Float64 = npt.NDArray[np.float64]
Float = Float32 | Float64

BLOCK_ELEMENTS = 1 << 20
"""Largest broadcast product materialised at once (4 MiB of float32), unless one row's k×m is larger:
bounds a kernel's extra memory."""


def array_module(*arrays: object) -> ModuleType:
    """``numpy``, or ``cupy`` if any of ``arrays`` is a CuPy array (CuPy is imported only then)."""
    for array in arrays:
        if not isinstance(array, np.ndarray) and type(array).__module__.split(".")[0] == "cupy":
            import cupy  # type: ignore[import-not-found]

            return cupy
    return np


def to_host(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """``array`` as a numpy array: itself, or a CuPy array copied from the GPU."""
    return array if isinstance(array, np.ndarray) else array.get()


def tree_sum(terms: Float32) -> Float32:
    """The sum over the first axis as a fixed binary tree, computed in place (``terms`` is consumed):
    while more than one slice is left, slice i becomes slice i + slice i + h (h = half the count, rounded
    down), an odd last slice moving on unchanged.

    Each level is one elementwise addition (exact IEEE, any SIMD), and log2(k) levels cost far less
    Python than k additions; numpy's own ``add.reduce`` is not used since its order depends on the shape
    (in index order for most, pairwise for some)."""
    add = array_module(terms).add
    while len(terms) > 1:
        half, odd = divmod(len(terms), 2)
        add(terms[:half], terms[half : 2 * half], out=terms[:half])
        if odd:
            terms[half] = terms[2 * half]
        terms = terms[: half + odd]
    return terms[0]


def matmul(a: Float32, b: Float32) -> Float32:
    """``a @ b`` for float32 ``a`` (n×k) and ``b`` (k×m): float32 products summed over k by ``tree_sum``."""
    n, k = a.shape
    m = b.shape[1]
    out = array_module(a, b).empty((n, m), dtype=np.float32)
    rows = max(1, BLOCK_ELEMENTS // max(1, k * m))
    for start in range(0, n, rows):
        products = a[start : start + rows].T[:, :, None] * b[:, None, :]  # k × rows × m
        out[start : start + rows] = tree_sum(products)
    return out


_PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE: above it, pairwise_sum splits in two


def _pairwise(column: Callable[[int], Float], n: int) -> Float:
    """numpy's ``pairwise_sum`` of ``column(0) … column(n-1)`` (``loops_utils.h``), one slice at a time:
    below 8 terms in order; up to 128, eight running sums over strides of 8 combined as ((0+1)+(2+3)) +
    ((4+5)+(6+7)), the remainder added in order; above, the two halves (the first a multiple of 8)."""
    if n < 8:
        total = column(0)
        for i in range(1, n):
            total = total + column(i)
        return total
    if n <= _PAIRWISE_BLOCK:
        r = [column(j) for j in range(8)]
        whole = n - n % 8
        for i in range(8, whole, 8):
            r = [r[j] + column(i + j) for j in range(8)]
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for i in range(whole, n):
            total = total + column(i)
        return total
    half = n // 2
    half -= half % 8
    return _pairwise(column, half) + _pairwise(lambda i: column(half + i), n - half)


def row_sums(x: Float) -> Float:
    """``x.sum(axis=1)`` of a C-contiguous 2-D ``x`` (k ≥ 1 columns) in numpy's order: its pairwise sum
    over each row, added to numpy's starting 0 (which turns a -0.0 total into 0.0)."""
    return array_module(x).zeros(x.shape[0], dtype=x.dtype) + _pairwise(lambda i: x[:, i], x.shape[1])


def column_sums(x: Float) -> Float:
    """``x.sum(axis=0)`` of a C-contiguous 2-D ``x`` (n ≥ 1 rows) in numpy's order: 0, then each row
    added in turn; a single column is one contiguous run, which numpy sums pairwise."""
    if x.shape[1] == 1:
        return row_sums(x.T)
    xp = array_module(x)
    total = xp.zeros(x.shape[1], dtype=x.dtype)
    for row in x:
        xp.add(total, row, out=total)
    return total


_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact for |k| < 2**20 (fdlibm)
_LN2_LO = 1.90821492927058770002e-10
_LOG2E = 1.44269504088896338700e00
_EXP_TERMS = 14  # Taylor terms of exp(r), |r| <= ln2/2: truncation below 1e-17
_LOG_TERMS = 12  # odd terms of atanh(s), |s| <= 0.1716: truncation below 1e-19


def exp(x: Float64) -> Float64:
    """e**x in float64 for x <= 0 (softmax inputs), accurate to a few ulp; below -745 it is 0."""
    xp = array_module(x)
    clamped = xp.maximum(x, -745.0)
    k = xp.rint(clamped * _LOG2E)
    r = (clamped - k * _LN2_HI) - k * _LN2_LO
    p = xp.ones_like(r)
    for n in range(_EXP_TERMS, 0, -1):
        p = p * (r / n) + 1.0
    return xp.where(x < -745.0, 0.0, xp.ldexp(p, k.astype(np.int32)))


def log(x: Float64) -> Float64:
    """Natural log of positive float64 ``x``, accurate to a few ulp: ``x = m * 2**e``, ``log m = 2 atanh s``."""
    xp = array_module(x)
    m, exponent = xp.frexp(x)
    small = m < 0.7071067811865476
    m = xp.where(small, m * 2.0, m)
    e = (exponent - small.astype(exponent.dtype)).astype(np.float64)  # exact: what numpy's int * float does
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = xp.zeros_like(s)
    for n in range(2 * _LOG_TERMS - 1, 0, -2):
        p = p * s2 + 1.0 / n
    return e * _LN2_HI + (2.0 * s * p + e * _LN2_LO)
