"""KZG commitments, EIP-7594 cells and their proofs, through ``ckzg``, with typed errors.

A blob (:mod:`da_layer.blobs`) is a polynomial of degree < 4096 in evaluation form; its commitment is 48
bytes (a compressed G1 point). EIP-7594 extends it 2x and cuts the 8192 evaluations into 128 cells of 64
field elements (2048 bytes), each with a 48-byte proof against the commitment; any 64 distinct cells
recover all 128. Cells ``0..63`` are the blob itself, in order (the extension keeps the original
evaluations in the first half), so :func:`blob_from_cells` is a concatenation.

The trusted setup is the Ethereum KZG ceremony's output (public parameters), shipped in this package as
``kzg_trusted_setup_mainnet.txt`` and loaded once per process (2-3 s): every call here reads the one
process-wide object :func:`trusted_setup` returns, loaded on first use for verification only
(:data:`PRECOMPUTE_VERIFY`, ~4 MiB). A process that computes cells calls :func:`load_trusted_setup` with
:data:`PRECOMPUTE_COMPUTE` before its first use (~226 ms a blob instead of ~340 ms, for ~96 MiB more and
~2.6 s more to load: not worth it in a validator, which only checks audit answers). ``ckzg`` holds the GIL
while it computes, so a daemon that computes cells for many blobs runs them in a process pool; each worker
loads its own copy.

``ckzg`` reports every problem as a bare ``RuntimeError``/``ValueError``. The wrappers check sizes, indices
and field elements first and raise a :class:`KzgError` subclass saying what is wrong; verification of
well-formed input answers ``True`` or ``False``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import ckzg
import numpy as np

from da_layer.blobs import BYTES_PER_BLOB, BYTES_PER_FIELD_ELEMENT

__all__ = [
    "BLS_MODULUS",
    "BYTES_PER_COMMITMENT",
    "BYTES_PER_PROOF",
    "CELLS_PER_BLOB",
    "BYTES_PER_CELL",
    "CELLS_TO_RECOVER",
    "PRECOMPUTE_VERIFY",
    "PRECOMPUTE_COMPUTE",
    "KzgError",
    "MalformedInput",
    "NonCanonicalFieldElement",
    "InvalidPoint",
    "load_trusted_setup",
    "trusted_setup",
    "commitment",
    "cells_and_proofs",
    "verify_cells",
    "recover",
    "blob_from_cells",
]

BLS_MODULUS = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
"""The order of BLS12-381's scalar field: a field element's 32 big-endian bytes must be below it."""
BYTES_PER_COMMITMENT = 48
BYTES_PER_PROOF = 48
CELLS_PER_BLOB = 128
BYTES_PER_CELL = 2 * BYTES_PER_BLOB // CELLS_PER_BLOB
CELLS_TO_RECOVER = CELLS_PER_BLOB // 2
"""Any this many distinct cells recover the blob (the extension is 2x)."""
PRECOMPUTE_VERIFY = 0
"""``ckzg``'s precomputation level for verifying and recovering (the default)."""
PRECOMPUTE_COMPUTE = 8
"""The level for a process that computes cells and proofs (see the module docstring)."""
SETUP_FILE = "kzg_trusted_setup_mainnet.txt"

_MODULUS_BYTES = BLS_MODULUS.to_bytes(BYTES_PER_FIELD_ELEMENT, "big")


class KzgError(ValueError):
    """Input the KZG functions cannot take."""


class MalformedInput(KzgError):
    """A wrong size, count or cell index."""


class NonCanonicalFieldElement(KzgError):
    """32 bytes that are not below :data:`BLS_MODULUS`."""


class InvalidPoint(KzgError):
    """A commitment or proof that is not a compressed point of G1's subgroup."""


_setup: tuple[object, int] | None = None
"""The loaded setup and its precomputation level."""
_setup_lock = threading.Lock()


def trusted_setup() -> object:
    """The process-wide ``ckzg`` trusted setup, loaded from the package's ceremony file on first call."""
    loaded = _setup
    return loaded[0] if loaded is not None else load_trusted_setup()


def load_trusted_setup(precompute: int = PRECOMPUTE_VERIFY) -> object:
    """Load the process-wide setup with ``precompute`` now, if not loaded yet, and return it; raises
    ``ValueError`` if it was already loaded with another level."""
    global _setup
    with _setup_lock:
        if _setup is None:
            _setup = (_load(precompute), precompute)
        elif _setup[1] != precompute:
            raise ValueError(f"the trusted setup is loaded with precompute {_setup[1]}, not {precompute}")
        return _setup[0]


def _load(precompute: int) -> object:
    # importlib.resources imports tempfile (and with it random): imported here, at first use, so that
    # importing the runtime stays free of them (tests/runtime/test_purity.py).
    from importlib import resources

    with resources.as_file(resources.files(__package__) / SETUP_FILE) as path:
        return ckzg.load_trusted_setup(str(path), precompute)


def commitment(blob: bytes) -> bytes:
    """The blob's 48-byte KZG commitment."""
    _check_elements(blob, BYTES_PER_BLOB, "blob")
    return bytes(ckzg.blob_to_kzg_commitment(bytes(blob), trusted_setup()))


def cells_and_proofs(blob: bytes) -> tuple[list[bytes], list[bytes]]:
    """The blob's :data:`CELLS_PER_BLOB` cells and their proofs, by cell index."""
    _check_elements(blob, BYTES_PER_BLOB, "blob")
    cells, proofs = ckzg.compute_cells_and_kzg_proofs(bytes(blob), trusted_setup())
    return [bytes(c) for c in cells], [bytes(p) for p in proofs]


def verify_cells(commitments: Sequence[bytes], indices: Sequence[int], cells: Sequence[bytes],
                 proofs: Sequence[bytes]) -> bool:
    """Whether every ``cells[i]`` is cell ``indices[i]`` of the blob committed to by ``commitments[i]``,
    as ``proofs[i]`` claims (one batch check: ~3.4 ms for one cell, ~20 ms for 128)."""
    if not len(commitments) == len(indices) == len(cells) == len(proofs):
        raise MalformedInput("commitments, indices, cells and proofs differ in number")
    _check_indices(indices)
    for cell in cells:
        _check_elements(cell, BYTES_PER_CELL, "cell")
    _check_points(commitments, "commitment")
    _check_points(proofs, "proof")
    try:
        return bool(ckzg.verify_cell_kzg_proof_batch([bytes(c) for c in commitments], list(indices),
                                                     [bytes(c) for c in cells], [bytes(p) for p in proofs],
                                                     trusted_setup()))
    except RuntimeError:  # the sizes and field elements were checked: only a point can fail to decode
        raise InvalidPoint("a commitment or proof is not a point of G1") from None


def recover(indices: Sequence[int], cells: Sequence[bytes]) -> tuple[list[bytes], list[bytes]]:
    """All cells and proofs of a blob from at least :data:`CELLS_TO_RECOVER` of its distinct cells, in any
    order (ckzg takes them by rising index)."""
    if len(indices) != len(cells):
        raise MalformedInput("indices and cells differ in number")
    _check_indices(indices)
    if len(set(indices)) != len(indices):
        raise MalformedInput("a cell index appears twice")
    if len(indices) < CELLS_TO_RECOVER:
        raise MalformedInput(f"{len(indices)} cells cannot recover a blob: {CELLS_TO_RECOVER} are needed")
    for cell in cells:
        _check_elements(cell, BYTES_PER_CELL, "cell")
    ordered = sorted(zip(indices, cells))
    recovered, proofs = ckzg.recover_cells_and_kzg_proofs([index for index, _ in ordered],
                                                          [bytes(cell) for _, cell in ordered], trusted_setup())
    return [bytes(c) for c in recovered], [bytes(p) for p in proofs]


def blob_from_cells(cells: Sequence[bytes]) -> bytes:
    """The blob whose cells (all of them, by index) are ``cells``: its first half, concatenated."""
    if len(cells) != CELLS_PER_BLOB or any(len(c) != BYTES_PER_CELL for c in cells):
        raise MalformedInput(f"a blob has {CELLS_PER_BLOB} cells of {BYTES_PER_CELL} bytes")
    return b"".join(cells[:CELLS_TO_RECOVER])


def _check_indices(indices: Sequence[int]) -> None:
    for index in indices:
        if not 0 <= index < CELLS_PER_BLOB:
            raise MalformedInput(f"cell index {index} is outside 0..{CELLS_PER_BLOB - 1}")


def _check_points(points: Sequence[bytes], what: str) -> None:
    for point in points:
        if len(point) != BYTES_PER_COMMITMENT:
            raise MalformedInput(f"a {what} is {BYTES_PER_COMMITMENT} bytes, not {len(point)}")


def _check_elements(data: bytes, size: int, what: str) -> None:
    """``data`` is ``size`` bytes of canonical field elements."""
    if len(data) != size:
        raise MalformedInput(f"a {what} is {size} bytes, not {len(data)}")
    elements = np.frombuffer(data, dtype=np.uint8).reshape(-1, BYTES_PER_FIELD_ELEMENT)
    for index in np.flatnonzero(elements[:, 0] >= _MODULUS_BYTES[0]):  # only these can reach the modulus
        if elements[index].tobytes() >= _MODULUS_BYTES:
            raise NonCanonicalFieldElement(f"{what} field element {index} is not below the BLS modulus")
