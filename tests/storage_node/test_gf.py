"""GF(2^8) arithmetic and the code's matrices, checked against independent implementations."""

from __future__ import annotations

import galois
import numpy as np
import pytest
import reedsolo
from hypothesis import given, settings
from hypothesis import strategies as st

from storage_node.erasure import gf, matrix
from storage_node.erasure.backends import get_backend
from storage_node.erasure.params import CodeParams

GF256 = galois.GF(2**8, irreducible_poly=0x11D)
reedsolo.init_tables(prim=0x11D)

elements = st.integers(0, 255)
nonzero = st.integers(1, 255)


def test_multiplication_table_matches_galois_for_every_pair():
    everything = GF256(np.arange(256, dtype=np.uint8))
    assert np.array_equal(gf.MUL, np.asarray(everything[:, None] * everything[None, :]))


def test_inverse_table_matches_galois():
    assert np.array_equal(gf.INV[1:], np.asarray(GF256(np.arange(1, 256)) ** -1))


@settings(deadline=None)
@given(elements, elements)
def test_mul_matches_reedsolo(a, b):
    assert gf.mul(a, b) == reedsolo.gf_mul(a, b)


@settings(deadline=None)
@given(elements, nonzero)
def test_div_matches_reedsolo(a, b):
    assert gf.div(a, b) == reedsolo.gf_div(a, b)


@settings(deadline=None)
@given(elements)
def test_xtime_is_multiplication_by_two(a):
    assert gf.xtime(a) == reedsolo.gf_mul(a, 2)


def test_inverse_of_zero_is_refused():
    with pytest.raises(ZeroDivisionError):
        gf.inv(0)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40))
def test_generator_is_systematic_cauchy(k, m):
    generator = matrix.cauchy1_generator(k, m)
    assert np.array_equal(generator[:k], np.eye(k, dtype=np.uint8))
    for i in range(k, k + m):
        for j in range(k):
            assert gf.mul(int(generator[i, j]), i ^ j) == 1


def test_generator_matches_isal_for_edge_shapes():
    isal = get_backend("isal")
    for k, m in [(1, 1), (1, 255), (255, 1), (10, 4), (128, 128), (200, 56)]:
        assert np.array_equal(matrix.cauchy1_generator(k, m), isal.generator(CodeParams(k, m)))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.randoms(use_true_random=False))
def test_every_survivor_submatrix_inverts_like_galois_and_isal(k, m, rng):
    generator = matrix.cauchy1_generator(k, m)
    survivors = sorted(rng.sample(range(k + m), k))
    square = generator[survivors]
    inverse = matrix.invert(square)
    assert np.array_equal(inverse, np.asarray(np.linalg.inv(GF256(square))))
    assert np.array_equal(inverse, get_backend("isal").invert(square))
    assert np.array_equal(matrix.matmul(square, inverse), np.eye(k, dtype=np.uint8))


def test_singular_matrix_is_refused():
    with pytest.raises(matrix.SingularMatrixError):
        matrix.invert(np.array([[1, 2], [1, 2]], dtype=np.uint8))
    with pytest.raises(matrix.SingularMatrixError):
        get_backend("isal").invert(np.array([[1, 2], [1, 2]], dtype=np.uint8))


@settings(deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 8), st.randoms(use_true_random=False))
def test_matmul_matches_galois(rows, inner, columns, rng):
    a = np.array([[rng.randrange(256) for _ in range(inner)] for _ in range(rows)], dtype=np.uint8)
    b = np.array([[rng.randrange(256) for _ in range(columns)] for _ in range(inner)], dtype=np.uint8)
    assert np.array_equal(matrix.matmul(a, b), np.asarray(GF256(a) @ GF256(b)))
