"""``client.da``: publish data on the DA layer, convince yourself it is available, read it back.

:class:`DaApi` is the asynchronous API (``anyio``: trio or asyncio), reached as ``AsyncClient.da``;
``Client.da`` runs it behind the blocking client's portal (:mod:`sdk.da.sync`)::

    async with AsyncClient(url, signer="//Alice") as client:
        refs = await client.da.submit(payload)              # available: attested by > 2/3 of DA stake
        report = await client.da.sample(refs[0])            # 20 random cells: confidence >= 1 - 1e-6
        assert await client.da.get(refs) == payload

KZG work (cells, proofs, verification, recovery) runs in worker processes that start on first use and
stop when the client closes; a script that uses this API must therefore guard its entry point with
``if __name__ == "__main__":``, as any program using a process pool does. Submitting is in
:mod:`sdk.da.submit`, sampling in :mod:`sdk.da.sample`, reading in :mod:`sdk.da.read`.
"""

from __future__ import annotations

from typing import Any, Sequence

import anyio

from da_layer.kzg import PRECOMPUTE_COMPUTE
from runtime.keyring import Keypair
from sdk.chain import AsyncClient
from sdk.chain.finality import FinalityProver
from sdk.da.chain import PALLET, leaving_nodes, read_blob, registered_nodes
from sdk.da.errors import BondRefused, DaError, LeaveRefused, NoSigner, UnknownBlob
from sdk.da.peers import DaPeers
from sdk.da.pool import KzgPool
from sdk.da.read import Reader
from sdk.da.sample import Sampler
from sdk.da.config import DaConfig
from sdk.da.submit import Submitter
from sdk.da.types import BlobRef, BlobStatus, ProgressCallback, RegisteredNode, SampleReport

__all__ = ["DaApi", "BlobLike"]

BlobLike = BlobRef | str | bytes
"""A blob reference, its ``0x`` text or its 32 bytes."""


class DaApi:
    """Blobs on the DA layer through ``chain``; ``signer`` pays for and submits them (reading, sampling and
    reconstructing need none). Close it with :meth:`aclose` (the user-facing client does, on exit)."""

    def __init__(self, chain: AsyncClient, signer: Keypair | None, config: DaConfig = DaConfig(),
                 pool: KzgPool | None = None, encoder: KzgPool | None = None) -> None:
        self.chain = chain
        self.signer = signer
        self.config = config
        self.pool = pool or KzgPool()
        """Verifies and recovers cells (sampling, reading)."""
        self.encoder = encoder or KzgPool(precompute=PRECOMPUTE_COMPUTE)
        """Computes cells and proofs (submitting); its workers start on the first submission."""
        self.peers = DaPeers(timeout=config.http_timeout)
        self.finality = FinalityProver(chain)
        """Proves the headers that sampling and reading trust final (it keeps the authority sets it followed)."""

    async def aclose(self) -> None:
        """Stop the KZG workers and close the connections to DA nodes (idempotent)."""
        await self.peers.aclose()
        await anyio.to_thread.run_sync(self.pool.close)
        await anyio.to_thread.run_sync(self.encoder.close)

    @property
    def submitter(self) -> Submitter:
        """The submission steps one by one (encode, post, distribute, attest), for tools and tests."""
        if self.signer is None:
            raise NoSigner("submitting needs a signing account: create the client with signer=")
        return Submitter(self.chain, self.signer, self.encoder, self.peers, self.config)

    async def submit(self, data: bytes, *, namespace: int = 0,
                     progress: ProgressCallback | None = None) -> list[BlobRef]:
        """Publish ``data`` (packed into as many blobs as it needs); returns their references, in order, once
        the chain has marked every one available. ``progress`` hears each blob pass each stage."""
        return await self.submitter.submit(bytes(data), namespace=namespace, progress=progress)

    async def status(self, blob: BlobLike) -> BlobStatus:
        """The blob as the chain records it now (best block)."""
        ref = BlobRef.parse(blob)
        record = await read_blob(self.chain, ref.blob_id)
        if record is None:
            raise UnknownBlob(f"no blob {ref} on chain (never submitted, or pruned)")
        return BlobStatus(ref, record.status.name, record.submitter, record.commitment, record.length,
                          record.namespace, record.submitted_at, tuple(record.node_set))

    async def sample(self, blob: BlobLike, samples: int | None = None, confidence: float | None = None) -> SampleReport:
        """Sample ``samples`` random cells of the blob (or as many as ``confidence`` needs; by default 20,
        for 1 - 10**-6) against its commitment proven by a finalized header; see :class:`SampleReport`."""
        sampler = Sampler(self.chain, self.finality, self.pool, self.peers, parallel=self.config.sample_parallel,
                          finality_timeout=self.config.finality_timeout)
        return await sampler.sample(BlobRef.parse(blob), samples, confidence)

    async def get(self, blobs: BlobLike | Sequence[BlobLike]) -> bytes:
        """The payload of one blob, or of several concatenated in order, rebuilt from any half of each
        blob's cells and checked against its commitment."""
        refs = [BlobRef.parse(blobs)] if isinstance(blobs, (BlobRef, str, bytes)) else [BlobRef.parse(b) for b in blobs]
        reader = Reader(self.chain, self.finality, self.pool, self.peers, parallel=self.config.window,
                        finality_timeout=self.config.finality_timeout)
        return await reader.get(refs)

    async def leave(self) -> int:
        """Take the signer's DA node out of the node set (``deregister``): blobs submitted from now on do not name
        it; it keeps the custody of those that do, still audited and slashable, until their retention ends, and
        its stake is released then, at the block returned. Keep its daemon running until that block.
        :class:`LeaveRefused` if the signer runs no DA node or it is leaving already."""
        event = await self._operate("deregister", {}, "NodeDeregistered", LeaveRefused, "leaving")
        return event.unbonds_at

    async def bond(self, amount: int) -> int:
        """Put ``amount`` more units of the signer's balance on hold as its DA node's stake (``bond_extra``); its
        stake now. A larger stake weighs more in the quorums of blobs submitted from then on, keeps more of their
        columns, and keeps the node in a full node set, where a newcomer evicts the lowest stake.
        :class:`BondRefused` if the signer runs no DA node, it is leaving, or the amount is 0 or more than it
        has free."""
        event = await self._operate("bond_extra", {"amount": amount}, "StakeBonded", BondRefused, "bonding")
        return event.stake

    async def _operate(self, call: str, params: dict[str, object], event: str, refused: type[DaError],
                       doing: str) -> Any:
        """The signer's DA node's ``call``, watched to inclusion; the ``event`` it triggered. ``refused`` if the
        chain refuses it, :class:`NoSigner` without a signer (``doing`` names the act in that error)."""
        if self.signer is None:
            raise NoSigner(f"{doing} signs: create the client with the node's account as signer=")
        receipt = await self.chain.sign_and_submit(self.chain.compose_call(PALLET, call, params), self.signer,
                                                   wait_for_inclusion=True)
        if not receipt.is_success:
            raise refused(f"{call}: {receipt.error_message}")
        return next(e.event for e in receipt.triggered_events if e.name == event)

    async def nodes(self) -> list[RegisteredNode]:
        """Every registered DA node: those of the node set in registration order, then those leaving it."""
        leaving = await leaving_nodes(self.chain)
        found = await registered_nodes(self.chain)
        for account in leaving:
            info = await self.chain.query(PALLET, "Nodes", [account])
            if info is not None:
                found.append((account, info))
        return [RegisteredNode(account, info.endpoint.decode(errors="replace"), info.stake, info.bls_public,
                               info.audits_passed, info.audits_missed, leaving.get(account))
                for account, info in found]
