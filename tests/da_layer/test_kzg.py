"""KZG wrappers: the shipped setup gives ckzg's own cells, 64 random cells recover a blob, bad input is typed."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import ckzg
import pytest

from da_layer import kzg
from da_layer.blobs import BYTES_PER_BLOB, pack
from da_layer.kzg import (
    BYTES_PER_CELL,
    CELLS_PER_BLOB,
    CELLS_TO_RECOVER,
    InvalidPoint,
    MalformedInput,
    NonCanonicalFieldElement,
)

SHIPPED_SETUP = Path(kzg.__file__).with_name(kzg.SETUP_FILE)
CEREMONY_SHA256 = "d39b9f2d047cc9dca2de58f264b6a09448ccd34db967881a6713eacacf0f26b7"
"""The Ethereum KZG ceremony's mainnet ``trusted_setup.txt`` (the copy in the project's shared test data has
this hash; pinned here so a clean checkout without that folder checks the same thing)."""


@pytest.fixture(scope="module")
def blob() -> bytes:
    return pack(random.Random(7).randbytes(100_000))[0]


@pytest.fixture(scope="module")
def computed(blob):
    return kzg.commitment(blob), *kzg.cells_and_proofs(blob)


def test_shipped_setup_is_the_ceremony_file_and_loads_once():
    assert hashlib.sha256(SHIPPED_SETUP.read_bytes()).hexdigest() == CEREMONY_SHA256
    setup = kzg.trusted_setup()
    assert kzg.trusted_setup() is setup
    outcomes = []  # one process, one setup: the level it was loaded with returns it, the other is refused
    for level in (kzg.PRECOMPUTE_VERIFY, kzg.PRECOMPUTE_COMPUTE):
        try:
            outcomes.append(kzg.load_trusted_setup(level) is setup)
        except ValueError:
            outcomes.append("refused")
    assert sorted(map(str, outcomes)) == ["True", "refused"]


def test_cells_and_proofs_equal_ckzg_with_the_reference_setup(blob, computed):
    commitment, cells, proofs = computed
    reference = ckzg.load_trusted_setup(str(SHIPPED_SETUP), 0)  # ckzg's own loader, not ours
    assert commitment == ckzg.blob_to_kzg_commitment(blob, reference)
    assert (cells, proofs) == tuple(list(x) for x in ckzg.compute_cells_and_kzg_proofs(blob, reference))
    assert len(cells) == CELLS_PER_BLOB and all(len(c) == BYTES_PER_CELL for c in cells)
    assert kzg.blob_from_cells(cells) == blob


def test_recover_from_64_random_cells_in_any_order(computed):
    _, cells, proofs = computed
    indices = random.Random(3).sample(range(CELLS_PER_BLOB), CELLS_TO_RECOVER)  # not sorted: ckzg wants them so
    assert indices != sorted(indices)
    assert kzg.recover(indices, [cells[i] for i in indices]) == (cells, proofs)


def test_recover_needs_64_distinct_cells(computed):
    _, cells, _ = computed
    with pytest.raises(MalformedInput, match="63 cells"):
        kzg.recover(list(range(63)), cells[:63])
    with pytest.raises(MalformedInput, match="twice"):
        kzg.recover([0] * 64, [cells[0]] * 64)


def test_verify_cells_accepts_the_right_cells_and_refuses_others(computed):
    commitment, cells, proofs = computed
    indices = [0, 5, 127]
    assert kzg.verify_cells([commitment] * 3, indices, [cells[i] for i in indices], [proofs[i] for i in indices])
    assert not kzg.verify_cells([commitment], [6], [cells[5]], [proofs[5]])  # another cell's data
    other = kzg.commitment(pack(b"other")[0])
    assert not kzg.verify_cells([other], [5], [cells[5]], [proofs[5]])


def test_non_canonical_blob_and_cell_are_refused(blob, computed):
    commitment, cells, proofs = computed
    bad = bytearray(blob)
    bad[32 * 9 : 32 * 10] = b"\xff" * 32
    for fn in (kzg.commitment, kzg.cells_and_proofs):
        with pytest.raises(NonCanonicalFieldElement, match="element 9"):
            fn(bytes(bad))
    modulus = kzg.BLS_MODULUS.to_bytes(32, "big")  # exactly the modulus: the smallest non-canonical value
    with pytest.raises(NonCanonicalFieldElement):
        kzg.verify_cells([commitment], [1], [modulus + cells[1][32:]], [proofs[1]])


def test_malformed_sizes_indices_and_points(computed):
    commitment, cells, proofs = computed
    with pytest.raises(MalformedInput):
        kzg.commitment(bytes(BYTES_PER_BLOB - 1))
    with pytest.raises(MalformedInput):
        kzg.verify_cells([commitment], [CELLS_PER_BLOB], [cells[0]], [proofs[0]])
    with pytest.raises(MalformedInput):
        kzg.verify_cells([commitment], [0], [cells[0][:-1]], [proofs[0]])
    with pytest.raises(MalformedInput):
        kzg.verify_cells([commitment, commitment], [0], [cells[0]], [proofs[0]])
    with pytest.raises(InvalidPoint):
        kzg.verify_cells([b"\x01" * 48], [0], [cells[0]], [proofs[0]])
    with pytest.raises(MalformedInput):
        kzg.blob_from_cells(cells[:64])
