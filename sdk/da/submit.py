"""Submitting a payload: pack, commit, compute cells, post on chain, hand out custody, collect, attest.

Per blob, in four steps (each a public method, so tools and tests can run them one by one):

1. :meth:`Submitter.encode` — commitment, cells and proofs, in the KZG process pool;
2. :meth:`Submitter.post` — ``submit_blob(commitment, length, namespace)``, watched to inclusion; the
   ``BlobSubmitted`` event names the blob id, and the blob's record at that block its node set and custody;
3. :meth:`Submitter.distribute` — every member of the node set gets exactly its custody columns
   (``PUT /v1/blobs/{id}/cells``) and answers with its BLS signature; a node that has not yet seen the
   including block is asked again for ``push_retry_for`` seconds. The signatures are checked against the
   members' registered keys at once, as one aggregate (a signature each only if that fails), before any
   counts;
4. :meth:`Submitter.attest` — if the signers hold more than 2/3 of the node set's stake, their signatures
   are aggregated and posted with the signer bitfield; the blob is available when the ``attest`` extrinsic
   deposits ``BlobAvailable``.

:meth:`Submitter.submit` runs the steps for every blob of a payload, ``window`` blobs in flight at once,
so the pool's workers stay busy computing cells while earlier blobs wait for blocks; a blob is posted as soon
as its commitment is computed (~55 ms), its cells (~226 ms) being computed while ``submit_blob`` waits for a
block. Blobs are returned in payload order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import anyio

from da_layer import bls
from da_layer.attestation import attestation_message, bitfield, is_quorum, quorum_weights
from da_layer.blobs import pack, piece_lengths
from da_layer.custody import columns_kept
from da_layer.kzg import CELLS_TO_RECOVER
from runtime.frame.construct import Call
from runtime.keyring import Keypair
from sdk.chain import AsyncClient, ExtrinsicDropped, ExtrinsicReceipt
from sdk.da.chain import PALLET, Custody, DaNodeView, read_blob, read_custody
from sdk.da.config import DaConfig
from sdk.da.errors import EmptyPayload, NoQuorum, NotAvailable, PayloadTooLarge, SubmissionRefused
from sdk.da.lanes import both, for_each
from sdk.da.peers import DaPeers, PeerError
from sdk.da.pool import EncodedBlob, KzgPool
from sdk.da.types import BlobRef, Progress, ProgressCallback
from sdk.da.wire import Cell

__all__ = ["Submitter", "Signatures", "drop_forged"]

RETRYABLE = frozenset({"UnknownBlob", "ChainUnavailable", "Unreachable"})
"""A node's answers that may change in a moment: it has not seen the including block yet, or is restarting."""


@dataclass
class Signatures:
    """What the node set answered to a blob's custody cells."""

    signed: dict[int, bytes] = field(default_factory=dict)
    """Node-set position → its checked BLS signature."""
    refusals: dict[str, str] = field(default_factory=dict)
    """Node (endpoint or account) → why it did not sign."""


class Submitter:
    def __init__(self, client: AsyncClient, signer: Keypair, pool: KzgPool, peers: DaPeers, config: DaConfig) -> None:
        self._client = client
        self._signer = signer
        self._pool = pool
        self._peers = peers
        self._config = config

    async def submit(self, data: bytes, *, namespace: int = 0,
                     progress: ProgressCallback | None = None) -> list[BlobRef]:
        """Every blob of ``data`` posted, distributed, attested and available, in payload order."""
        blobs = pack(data)
        if not blobs:
            raise EmptyPayload("an empty payload spans no blob")
        if len(blobs) > self._config.max_blobs:
            raise PayloadTooLarge(f"{len(data)} bytes span {len(blobs)} blobs; one submission takes at most "
                                  f"{self._config.max_blobs}")
        lengths = piece_lengths(len(data))
        refs: list[BlobRef | None] = [None] * len(blobs)
        report = _Reporter(len(blobs), progress)

        async def one(index: int) -> None:
            blob = blobs[index]
            cells, custody = await both(  # the cells are computed while submit_blob waits for a block
                lambda: self._pool.cells(blob),
                lambda: self._post_blob(blob, lengths[index], namespace))
            ref = BlobRef(custody.blob_id)
            report.step("encode")
            report.step("submit", ref)
            signatures = await self.distribute(custody, lambda position: [cells[c] for c in
                                                                           custody.columns_of(position)])
            report.step("push", ref)
            await self.attest(custody, signatures)
            report.step("attest", ref)
            refs[index] = ref

        await for_each(len(blobs), self._config.window, one)
        return [ref for ref in refs if ref is not None]

    async def encode(self, blob: bytes) -> EncodedBlob:
        return await self._pool.encode(blob)

    async def _post_blob(self, blob: bytes, length: int, namespace: int) -> Custody:
        return await self.post(await self._pool.commitment(blob), length, namespace)

    async def post(self, commitment: bytes, length: int, namespace: int) -> Custody:
        """``submit_blob`` watched to inclusion; the blob's custody as that block records it."""
        call = self._client.compose_call(PALLET, "submit_blob",
                                         {"commitment": commitment, "length": length, "namespace": namespace})
        receipt = await self._included(call)
        if not receipt.is_success:
            raise SubmissionRefused(f"submit_blob: {receipt.error_message}")
        event = next((e.event for e in receipt.triggered_events if e.pallet == PALLET and e.name == "BlobSubmitted"),
                     None)
        if event is None:
            raise SubmissionRefused("submit_blob succeeded without a BlobSubmitted event")
        blob_id = event.blob_id
        blob = await read_blob(self._client, blob_id, at=receipt.block_hash)
        if blob is None:
            raise SubmissionRefused(f"blob 0x{blob_id.hex()} is not in the block that included it")
        return await read_custody(self._client, blob_id, blob)

    async def distribute(self, custody: Custody, cells_of: Callable[[int], list[Cell]]) -> Signatures:
        """Give each node of the blob's node set the cells ``cells_of(position)``; their checked signatures."""
        result = Signatures()
        async with anyio.create_task_group() as group:
            for node in custody.nodes:
                group.start_soon(self._push_to, node, cells_of(node.position), custody.blob_id, result)
        drop_forged(custody, result, self._client.genesis_hash)
        return result

    async def _push_to(self, node: DaNodeView, cells: list[Cell], blob_id: bytes, result: Signatures) -> None:
        name = _name(node)
        if node.endpoint is None or node.bls_public is None:
            result.refusals[name] = "no longer registered"
            return
        with anyio.move_on_after(self._config.push_retry_for):
            while True:
                try:
                    signature = await self._peers.put_cells(node.endpoint, blob_id, cells)
                except PeerError as exc:
                    result.refusals[name] = f"{exc.kind}: {exc}"
                    if exc.kind not in RETRYABLE:
                        return
                    await anyio.sleep(self._config.retry_interval)
                    continue
                result.signed[node.position] = signature  # checked with the others' by distribute
                result.refusals.pop(name, None)
                return

    async def attest(self, custody: Custody, signatures: Signatures) -> None:
        """Post the aggregate of ``signatures``; raises :class:`NoQuorum` without posting when the signers
        hold 2/3 of the stake or less, :class:`NotAvailable` if the chain does not mark the blob available."""
        _ensure_quorum(custody, signatures, signatures.refusals)
        positions = sorted(signatures.signed)
        call = self._client.compose_call(PALLET, "attest", {
            "blob_id": custody.blob_id,
            "signers": bitfield(positions, len(custody.nodes)),
            "aggregate": bls.aggregate([signatures.signed[p] for p in positions])})
        receipt = await self._included(call)
        if not receipt.is_success:
            failure = receipt.error_message
            if failure is not None and failure.pallet == PALLET and failure.name == "AlreadyAvailable":
                return  # anyone may attest: a copy of this aggregate taken from the pool (or our own, resent) won
            if failure is not None and failure.pallet == PALLET and failure.name == "BelowQuorum":
                # a signer's stake fell (slashed) between the registrations read and the block: the chain's
                # verdict, in the figures of the registrations at that block (TooFewColumns cannot come here: the
                # columns kept follow the signers and what the blob recorded, which the check above counted)
                then = await read_custody(self._client, custody.blob_id, custody.blob, at=receipt.block_hash)
                _ensure_quorum(then, signatures, {**signatures.refusals, "the chain": "attest refused: BelowQuorum"})
            raise SubmissionRefused(f"attest: {failure}")
        if not any(e.pallet == PALLET and e.name == "BlobAvailable" for e in receipt.triggered_events):
            raise NotAvailable(f"blob 0x{custody.blob_id.hex()}: attested, but the chain did not mark it available")

    async def _included(self, call: Call) -> ExtrinsicReceipt:
        """``call`` signed, submitted and watched to inclusion; submitted once more if the pool dropped it
        (transactions of one signer sent together can leave a nonce gap that a refused one never fills)."""
        try:
            return await self._client.sign_and_submit(call, self._signer, wait_for_inclusion=True)
        except ExtrinsicDropped:
            return await self._client.sign_and_submit(call, self._signer, wait_for_inclusion=True)


def _signed_stake(custody: Custody, signatures: Signatures) -> tuple[int, int]:
    """The quorum weight of the signers and of the whole node set, as the chain weighs them."""
    weights = quorum_weights([node.stake for node in custody.nodes], custody.blob.stakes)
    return sum(weights[position] for position in signatures.signed), sum(weights)


def _ensure_quorum(custody: Custody, signatures: Signatures, refusals: dict[str, str]) -> None:
    """:class:`NoQuorum` unless the signers hold more than 2/3 of the node set's stake (the chain's
    ``BelowQuorum``) and keep at least half the columns between them (its ``TooFewColumns``)."""
    signed, total = _signed_stake(custody, signatures)
    if not signatures.signed or not is_quorum(signed, total):
        raise NoQuorum(custody.blob_id, signed, total, refusals)
    kept = columns_kept(signatures.signed, custody.blob.stakes, custody.blob.custody_seed, custody.blob.replication)
    if kept < CELLS_TO_RECOVER:
        raise NoQuorum(custody.blob_id, signed, total, refusals, columns=kept)


def drop_forged(custody: Custody, result: Signatures, genesis_hash: bytes) -> None:
    """Check every signature in ``result`` against its node's registered key, as one aggregate (~1.6 ms
    whatever their number) unless that fails; then one by one, and those that do not verify become refusals."""
    message = attestation_message(genesis_hash, custody.blob_id, custody.blob.commitment)
    signed = sorted(result.signed.items())
    keys = [custody.nodes[position].bls_public or b"" for position, _ in signed]
    try:
        if not signed or bls.fast_aggregate_verify(keys, message, bls.aggregate([s for _, s in signed])):
            return
    except bls.InvalidSignature:
        pass  # some answer is not even a point: find which below
    for (position, signature), key in zip(signed, keys):
        if not bls.verify(key, message, signature):
            del result.signed[position]
            result.refusals[_name(custody.nodes[position])] = "its signature does not verify against its key"


def _name(node: DaNodeView) -> str:
    return node.endpoint or "0x" + node.account.hex()


class _Reporter:
    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self._total = total
        self._callback = callback
        self._done: dict[str, int] = {}

    def step(self, stage: str, blob: BlobRef | None = None) -> None:
        self._done[stage] = self._done.get(stage, 0) + 1
        if self._callback is not None:
            self._callback(Progress(stage, self._done[stage], self._total, blob))
