"""The CPU backend: Intel ISA-L (AVX2 / AVX-512 / GFNI, picked by ISA-L at run time) through ctypes.

ISA-L's own generator (``gf_gen_cauchy1_matrix``) and inverse (``gf_invert_matrix``) are used, so this
backend is the byte-format authority the others are tested against. ``prepare`` expands a matrix into
ISA-L's multiplication tables (``ec_init_tables``, 32 bytes per coefficient); ``apply`` hands ISA-L
arrays of pointers straight into the callers' NumPy buffers, so nothing is copied. ctypes drops the GIL
for each call, so several threads can code at once.

ISA-L takes the shard length as a C ``int``: longer shards are coded in slices of :data:`MAX_CALL_BYTES`.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from storage_node.erasure.backends.base import Backend, Batch
from storage_node.erasure.backends.isal_library import load_isal
from storage_node.erasure.matrix import SingularMatrixError
from storage_node.erasure.params import CodeParams

MAX_CALL_BYTES = 1 << 30
"""Largest slice of a shard handed to one ``ec_encode_data`` call (its length is a C int)."""

TABLE_BYTES_PER_COEFFICIENT = 32


def _bytes_pointer(array: np.ndarray) -> ctypes._Pointer:
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_ubyte))


def _address(vector: np.ndarray) -> int:
    return vector.__array_interface__["data"][0]


@dataclass(frozen=True)
class IsalTables:
    """A matrix expanded by ``ec_init_tables``."""

    k: int
    rows: int
    tables: np.ndarray


class IsalBackend(Backend):
    """ISA-L on NumPy buffers. Raises :class:`BackendUnavailableError` when no ISA-L library loads."""

    name = "isal"

    def __init__(self) -> None:
        self.library, self.library_path = load_isal()

    def generator(self, params: CodeParams) -> np.ndarray:
        generator = np.empty((params.n, params.k), dtype=np.uint8)
        self.library.gf_gen_cauchy1_matrix(_bytes_pointer(generator), params.n, params.k)
        return generator

    def invert(self, square: np.ndarray) -> np.ndarray:
        scratch = np.array(square, dtype=np.uint8, order="C")      # ISA-L destroys its input
        inverse = np.empty_like(scratch)
        if self.library.gf_invert_matrix(_bytes_pointer(scratch), _bytes_pointer(inverse), len(scratch)):
            raise SingularMatrixError("matrix is singular over GF(2^8)")
        return inverse

    def prepare(self, rows: np.ndarray) -> IsalTables:
        coefficients = np.ascontiguousarray(rows, dtype=np.uint8)
        count, k = coefficients.shape
        tables = np.empty(count * k * TABLE_BYTES_PER_COEFFICIENT, dtype=np.uint8)
        self.library.ec_init_tables(k, count, _bytes_pointer(coefficients), _bytes_pointer(tables))
        return IsalTables(k, count, tables)

    def apply(self, prepared: IsalTables, sources: Batch, targets: Batch) -> None:
        tables = _bytes_pointer(prepared.tables)
        for segment_sources, segment_targets in zip(sources, targets, strict=True):
            self._encode(prepared, tables, segment_sources, segment_targets)

    def _encode(self, prepared: IsalTables, tables: ctypes._Pointer,
                sources: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> None:
        length = targets[0].size
        source_addresses = [_address(source) for source in sources]
        target_addresses = [_address(target) for target in targets]
        for offset in range(0, length, MAX_CALL_BYTES):
            size = min(MAX_CALL_BYTES, length - offset)
            source_pointers = (ctypes.c_void_p * prepared.k)(*(a + offset for a in source_addresses))
            target_pointers = (ctypes.c_void_p * prepared.rows)(*(a + offset for a in target_addresses))
            self.library.ec_encode_data(size, prepared.k, prepared.rows, tables,
                                        source_pointers, target_pointers)
