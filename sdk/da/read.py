"""Reading blobs back: any half of a blob's cells, verified, rebuild its exact payload bytes.

For each blob the reader proves its record against a finalized header (commitment, length, node set), then
asks the members of its node set, in random order and several at once, for every cell they hold
(``GET /v1/blobs/{id}/cells``, one request per node). A node's answer counts only if it verifies as a whole
against the commitment (one batch check); a node that sends a bad cell is dropped. Cells ``0..63`` are the
blob itself (the extension keeps it in the first half), so once they are all in hand the blob is their
concatenation; with any other 64 or more, ``recover_cells_and_kzg_proofs`` rebuilds it. The payload is then
unpacked with the blob's recorded length, which also checks the layout's zero bytes: the result is the
submitted payload or an error.
"""

from __future__ import annotations

import secrets
from typing import Callable, Sequence

import anyio

from da_layer.blobs import MalformedBlobs, unpack
from da_layer.kzg import CELLS_TO_RECOVER, blob_from_cells
from sdk.chain import AsyncClient
from sdk.chain.finality import FinalityProver
from sdk.da.chain import Custody, read_custody, read_final_blob
from sdk.da.errors import ReconstructionFailed, UnknownBlob
from sdk.da.lanes import for_each
from sdk.da.peers import DaPeers, PeerError
from sdk.da.pool import KzgPool
from sdk.da.types import BlobRef
from sdk.da.wire import Cell

__all__ = ["Reader", "gather_cells"]

SYSTEMATIC = range(CELLS_TO_RECOVER)
"""The cells that are the blob itself."""
GATHER_PARALLEL = 8
"""Custodians asked at once for a blob's cells: each keeps about eight times its share of the stake's worth
of columns, so a few answers hold half the blob, and eight in flight keep a reader's or a recovering node's
wait to about one slow node's deadline."""


class Reader:
    def __init__(self, client: AsyncClient, finality: FinalityProver, pool: KzgPool, peers: DaPeers, *,
                 parallel: int, finality_timeout: float) -> None:
        self._client = client
        self._finality = finality
        self._pool = pool
        self._peers = peers
        self._parallel = parallel
        self._finality_timeout = finality_timeout

    async def get(self, blobs: Sequence[BlobRef]) -> bytes:
        """The payloads of ``blobs``, concatenated in order."""
        parts: list[bytes] = [b""] * len(blobs)

        async def one(index: int) -> None:
            parts[index] = await self.payload(blobs[index])

        await for_each(len(blobs), self._parallel, one)
        return b"".join(parts)

    async def payload(self, blob: BlobRef) -> bytes:
        found = await read_final_blob(self._client, self._finality, blob.blob_id, timeout=self._finality_timeout)
        if found is None:
            raise UnknownBlob(f"no blob {blob} in the finalized state (never submitted, pruned, or not final in time)")
        record, _ = found
        custody = await read_custody(self._client, blob.blob_id, record)
        cells = await gather_cells(self._peers, self._pool, custody, record.commitment,
                                   enough=lambda held: all(index in held for index in SYSTEMATIC))
        if all(index in cells for index in SYSTEMATIC):
            data = b"".join(cells[index].data for index in SYSTEMATIC)
        elif len(cells) >= CELLS_TO_RECOVER:
            data = blob_from_cells([cell.data for cell in await self._pool.recover(list(cells.values()))])
        else:
            raise ReconstructionFailed(f"blob {blob}: {len(cells)} verified cells found among its custodians, "
                                       f"{CELLS_TO_RECOVER} needed")
        try:
            return unpack([data], record.length)
        except MalformedBlobs as exc:
            raise ReconstructionFailed(f"blob {blob} was not laid out by this SDK's packing: {exc}") from None


async def gather_cells(peers: DaPeers, pool: KzgPool, custody: Custody, commitment: bytes, *,
                       enough: Callable[[dict[int, Cell]], bool], skip: bytes | None = None,
                       parallel: int = GATHER_PARALLEL) -> dict[int, Cell]:
    """Verified cells of a blob from the members of its node set (but ``skip``), asked in random order, one
    request each and ``parallel`` at a time, until ``enough(cells)``. A member whose answer does not verify as
    a whole is ignored; one that is slow holds up only its own request (each has a deadline), not the others."""
    cells: dict[int, Cell] = {}
    nodes = [node for node in custody.nodes if node.endpoint is not None and node.account != skip]
    limiter = anyio.CapacityLimiter(parallel)
    failures: list[Exception] = []

    async def ask(endpoint: str, done: anyio.CancelScope) -> None:
        async with limiter:
            try:
                offered = await peers.get_cells(endpoint, custody.blob_id)
                fresh = [cell for index, cell in offered.items() if index not in cells]
                if fresh and await pool.verify(commitment, fresh):
                    cells.update((cell.index, cell) for cell in fresh)
            except PeerError:
                return
            except Exception as exc:  # the pool's (its workers died): raised as itself, as from a plain call
                failures.append(exc)
                done.cancel()
            if enough(cells):
                done.cancel()

    async with anyio.create_task_group() as group:
        for node in secrets.SystemRandom().sample(nodes, len(nodes)):
            group.start_soon(ask, node.endpoint, group.cancel_scope)
    if failures:
        raise failures[0]
    return cells
