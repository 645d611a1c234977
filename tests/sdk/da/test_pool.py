"""The KZG process pool judges cells as peers send them: whatever their bytes, ``verify`` answers yes or no.

A cell past the BLS modulus or a proof that is no point of G1 makes ``ckzg`` (and
:func:`da_layer.kzg.verify_cells`) raise; from a peer it is just a bad cell, and an error there once ended a
DA node recovering from that peer. Workers that die are a typed error, and the pool starts new ones.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Iterator

import pytest

from da_layer import kzg
from da_layer.blobs import pack
from sdk.da.errors import WorkersDied
from sdk.da.pool import KzgPool
from sdk.da.wire import Cell


@pytest.fixture(scope="module")
def blob() -> tuple[bytes, list[Cell]]:
    """(commitment, cells) of one real blob."""
    data = pack(random.Random(3).randbytes(3000))[0]
    cells, proofs = kzg.cells_and_proofs(data)
    return kzg.commitment(data), [Cell(i, c, p) for i, (c, p) in enumerate(zip(cells, proofs))]


@pytest.fixture(scope="module")
def pool() -> Iterator[KzgPool]:
    with KzgPool(1) as shared:
        yield shared


@pytest.mark.parametrize("spoil", [
    lambda cell: Cell(cell.index, b"\xff" * kzg.BYTES_PER_CELL, cell.proof),   # past the modulus
    lambda cell: Cell(cell.index, cell.data, b"\xff" * kzg.BYTES_PER_PROOF),   # no point at all
    lambda cell: Cell(cell.index, cell.data, bytes(kzg.BYTES_PER_PROOF)),      # no point either (no flags)
    lambda cell: Cell(cell.index, cell.data, b"\xc0" + bytes(kzg.BYTES_PER_PROOF - 1)),  # a point, the wrong one
], ids=["non-canonical-cell", "proof-off-the-curve", "proof-without-flags", "identity-proof"])
async def test_a_bad_cell_does_not_verify_whatever_its_bytes(pool, blob, spoil):
    commitment, cells = blob
    assert await pool.verify(commitment, cells[:4])
    assert not await pool.verify(commitment, [*cells[:3], spoil(cells[3])])
    assert not await pool.verify(commitment, [spoil(cells[3])])


async def test_workers_that_died_are_a_typed_error_and_the_next_job_starts_new_ones(blob):
    """A worker killed (the OOM killer, an operator) broke the pool for good: every later job of a DA node
    failed. Now the job that finds it broken says why, and the next one runs on fresh workers."""
    commitment, cells = blob
    with KzgPool(1) as fresh:
        await fresh.warm()
        for process in list(fresh._executor._processes.values()):  # noqa: SLF001 - the pool's own workers
            os.kill(process.pid, signal.SIGKILL)
            process.join(10)
        with pytest.raises(WorkersDied, match="ended abruptly"):
            await fresh.verify(commitment, cells[:4])
        assert await fresh.verify(commitment, cells[:4])

