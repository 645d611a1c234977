"""The fixed-order kernels: a product is exactly the float32 tree sum of float32 products, in any blocking;
``exp`` and ``log`` are accurate to a few ulp."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from compute_pallet.kinds import kernels


def _tree(values: list[np.float32]) -> np.float32:
    """``kernels.tree_sum``'s order, one scalar float32 addition at a time."""
    while len(values) > 1:
        half = len(values) // 2
        values = [np.float32(values[i] + values[i + half]) for i in range(half)] + values[2 * half :]
    return values[0]


def _reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            out[i, j] = _tree([np.float32(a[i, k] * b[k, j]) for k in range(a.shape[1])])
    return out


@pytest.mark.parametrize(("n", "k", "m", "block"),
                         [(5, 7, 3, 1 << 20), (9, 13, 1, 1 << 20), (6, 64, 5, 700), (3, 1, 4, 1), (1, 1, 1, 1)])
def test_matmul_is_the_tree_sum_of_products(n: int, k: int, m: int, block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "BLOCK_ELEMENTS", block)
    rng = np.random.default_rng(n * k * m)
    a = (rng.standard_normal((n, k)) * 10.0 ** rng.integers(-3, 4, (n, k))).astype(np.float32)
    b = rng.standard_normal((k, m)).astype(np.float32)
    assert np.array_equal(kernels.matmul(a, b), _reference(a, b))
    assert np.array_equal(kernels.matmul(b.T, a.T), _reference(b.T, a.T))
    assert np.allclose(kernels.matmul(a, b), a @ b, rtol=1e-4, atol=1e-3)


def test_exp_and_log_are_accurate() -> None:
    x = -np.linspace(0, 700, 200_001)  # below about -708 results are subnormal, with fewer bits
    assert np.max(np.abs(kernels.exp(x) - np.exp(x)) / np.exp(x)) < 1e-15
    assert kernels.exp(np.array([-800.0, -np.inf]))[0] == 0
    y = np.exp(np.linspace(-700, 700, 200_001))
    assert np.max(np.abs(kernels.log(y) - np.log(y))) < 1e-12
    assert np.max(np.abs(kernels.log(y) - np.log(y)) / np.maximum(np.abs(np.log(y)), 1e-3)) < 1e-14


def _awkward(rng: np.random.Generator, shape: tuple[int, int], dtype: type) -> np.ndarray:
    """Values over 16 decades, a tenth of them -0.0, and an infinity and a NaN in large arrays."""
    x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-8, 8, shape)).astype(dtype)
    x[rng.random(shape) < 0.1] = -0.0
    if x.size > 200:
        x.flat[7], x.flat[150] = np.inf, np.nan
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_and_column_sums_are_numpys_sums_bit_for_bit(dtype: type, xp: ModuleType) -> None:
    """The spelled-out orders are numpy's own (pairwise over a contiguous axis, in turn over the other, pairwise
    again for a single column), signed zeros included, on either module; 129+ columns take pairwise_sum's
    recursive split."""
    row_sums = lambda x: kernels.to_host(kernels.row_sums(xp.asarray(x)))  # noqa: E731
    column_sums = lambda x: kernels.to_host(kernels.column_sums(xp.asarray(x)))  # noqa: E731
    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 33):
        for k in [*range(1, 40), 63, 64, 127, 128, 129, 200, 256, 257, 1000]:
            x = _awkward(rng, (n, k), dtype)
            assert row_sums(x).tobytes() == x.sum(axis=1).tobytes(), (n, k)
            y = x.T.copy()  # C-contiguous, as the kernels' arrays are
            assert column_sums(y).tobytes() == y.sum(axis=0).tobytes(), (k, n)
    zeros = np.full((3, 2), -0.0, dtype)
    assert np.signbit(row_sums(zeros)).sum() == np.signbit(column_sums(zeros)).sum() == 0


def test_numpy_arrays_stay_with_numpy() -> None:
    a = np.ones((2, 2), np.float32)
    assert kernels.array_module(a, np.float32(1), 3) is np
    assert kernels.to_host(a) is a
