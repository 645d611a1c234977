"""The light client: how sure can one be, without downloading a blob, that it can be recovered?

It trusts nothing but a finalized header: the blob's record (its commitment, node set and custody seed) is
read with a read proof against the finalized head's state root (waiting for finality to reach a blob only
the best chain has yet). It then draws ``samples`` distinct cell
indices uniformly at random (the operating system's randomness, so no node can predict them), asks each
cell's custodians in turn (in random order) for it, and checks every answer's KZG proof against the proven
commitment, a batch at a time in the process pool. A batch that fails is checked cell by cell so that only
the bad answers are dropped and their cells asked of the next custodian.

The confidence is ``1 - 2**-samples`` (:mod:`da_layer.confidence`) only when every drawn cell verified; if
any drawn cell could not be had from any custodian, the report says the blob looks unavailable, names the
cells, and gives confidence 0: a failure is reported, never rounded into a guess.
"""

from __future__ import annotations

import secrets

import anyio

from da_layer.confidence import confidence, samples_for
from da_layer.kzg import CELLS_PER_BLOB
from sdk.chain import AsyncClient
from sdk.chain.finality import FinalityProver
from sdk.da.chain import Custody, DaNodeView, read_custody, read_final_blob
from sdk.da.errors import UnknownBlob
from sdk.da.peers import DaPeers, PeerError
from sdk.da.pool import KzgPool
from sdk.da.types import BlobRef, SampleReport
from sdk.da.wire import Cell

__all__ = ["Sampler", "DEFAULT_CONFIDENCE"]

DEFAULT_CONFIDENCE = 1 - 10**-6
"""What ``sample`` aims for when given neither a number of samples nor a confidence: 20 samples."""


class Sampler:
    def __init__(self, client: AsyncClient, finality: FinalityProver, pool: KzgPool, peers: DaPeers, *,
                 parallel: int, finality_timeout: float) -> None:
        self._client = client
        self._finality = finality
        self._pool = pool
        self._peers = peers
        self._limiter = anyio.CapacityLimiter(parallel)
        self._finality_timeout = finality_timeout

    async def sample(self, blob: BlobRef, samples: int | None = None,
                     confidence_target: float | None = None) -> SampleReport:
        count = _sample_count(samples, confidence_target)
        found = await read_final_blob(self._client, self._finality, blob.blob_id, timeout=self._finality_timeout)
        if found is None:
            raise UnknownBlob(f"no blob {blob} in the finalized state (never submitted, pruned, or not final in time)")
        record, finalized = found
        custody = await read_custody(self._client, blob.blob_id, record, proven_at=finalized)
        rng = secrets.SystemRandom()
        drawn = rng.sample(range(CELLS_PER_BLOB), count)
        queues = {index: rng.sample(custody.custodians_of(index), len(custody.custodians_of(index))) for index in drawn}
        verified: set[int] = set()
        while True:
            pending = [index for index in drawn if index not in verified and queues[index]]
            if not pending:
                break
            fetched = await self._fetch_round(custody, {index: queues[index].pop(0) for index in pending})
            verified.update(await self._verified(record.commitment, fetched))
        failed = tuple(sorted(set(drawn) - verified))
        return SampleReport(blob, not failed, 0.0 if failed else confidence(count), count, len(verified), failed,
                            finalized)

    async def _fetch_round(self, custody: Custody, asks: dict[int, DaNodeView]) -> list[Cell]:
        """The drawn cells from the custodians picked for them, one request per custodian (cells it does not
        serve are left out)."""
        by_node: dict[int, tuple[DaNodeView, list[int]]] = {}
        for index, node in asks.items():
            by_node.setdefault(node.position, (node, []))[1].append(index)
        fetched: list[Cell] = []

        async def fetch(node: DaNodeView, indices: list[int]) -> None:
            if node.endpoint is None:
                return
            async with self._limiter:
                try:
                    offered = await self._peers.get_cells(node.endpoint, custody.blob_id, indices)
                except PeerError:
                    return
            fetched.extend(cell for index, cell in offered.items() if index in indices)

        async with anyio.create_task_group() as group:
            for node, indices in by_node.values():
                group.start_soon(fetch, node, indices)
        return fetched

    async def _verified(self, commitment: bytes, cells: list[Cell]) -> list[int]:
        if not cells or await self._pool.verify(commitment, cells):
            return [cell.index for cell in cells]
        return [cell.index for cell in cells if await self._pool.verify(commitment, [cell])]


def _sample_count(samples: int | None, target: float | None) -> int:
    if samples is not None and target is not None:
        raise ValueError("give samples or confidence, not both")
    count = samples if samples is not None else samples_for(DEFAULT_CONFIDENCE if target is None else target)
    if not 1 <= count <= CELLS_PER_BLOB:
        raise ValueError(f"samples must be between 1 and {CELLS_PER_BLOB} (distinct cells of one blob), got {count}")
    return count
