"""Answering audits: chunk proofs from the stored fragment, submitted before the challenge's deadline.

A ``Challenged`` event names a challenge; its record (``FileBank.Challenges``) says which fragment and which
chunk indices. The prover reads the fragment and its segment's roots from the store, builds the fragment's
chunk tree (in a worker thread: hashing a fragment is CPU work), and submits one :class:`ChunkProof` per
index with ``FileBank.submit_proof``. It proves from the bytes as they are on disk: a corrupted fragment
gives proofs the runtime rejects, which is the point of an audit. A fragment the node does not hold is not
answered (the chain counts the miss at the deadline). A proof the chain did not take or refuse (a lost
connection, a slow answer) is tried again, the challenge read afresh each time (it may have been answered or
closed meanwhile), :data:`PROOF_TRIES` times at most.
"""

from __future__ import annotations

import logging

import trio

from runtime.keyring import Keypair
from sdk.chain import AsyncClient, ChainClientError
from sdk.storage.wire import split_body
from storage_node.chunks import ChunkProof, fragment_tree, segment_path
from storage_node.pallets.types import Challenge
from storage_node.service.chain import ChainView
from storage_node.service.metrics import NodeMetrics
from storage_node.service.store import FragmentKey, FragmentStore, StoreError

__all__ = ["Prover", "build_proofs"]

log = logging.getLogger(__name__)

PROOF_TRIES = 3
"""Tries at one challenge's proof; a try after the challenge closed ends at once (it is read first)."""
RETRY_S = 2.0
"""Seconds before trying again: about a block."""


def build_proofs(body: bytes, fragment_count: int, fragment_index: int, chunk_size: int,
                 chunk_indices: tuple[int, ...]) -> list[ChunkProof]:
    """The proofs of ``chunk_indices`` from a stored fragment body (roots, then bytes); blocking CPU work."""
    stored = split_body(body, fragment_count)
    fragment = stored.fragment
    tree = fragment_tree(fragment, chunk_size)
    to_segment = segment_path(stored.roots, fragment_index)
    proofs = []
    for index in chunk_indices:
        chunk = bytes(fragment[index * chunk_size:(index + 1) * chunk_size])
        proofs.append(ChunkProof(index, chunk, tree.path(index), tree.root, to_segment))
    return proofs


class Prover:
    def __init__(self, client: AsyncClient, keypair: Keypair, chain: ChainView, store: FragmentStore,
                 metrics: NodeMetrics, *, timeout: float = 60.0) -> None:
        self._client, self._keypair, self._chain, self._store = client, keypair, chain, store
        self._metrics = metrics
        self._timeout = timeout
        self._answering: set[int] = set()

    async def answer(self, challenge_id: int) -> None:
        """Answer one challenge of this node (once, however often it is asked while answering); every failure
        is logged and counted, never raised."""
        if challenge_id in self._answering:
            return
        self._answering.add(challenge_id)
        try:
            for attempt in range(1, PROOF_TRIES + 1):
                try:
                    with trio.fail_after(self._timeout):
                        await self._answer(challenge_id)
                    return
                except (ChainClientError, trio.TooSlowError) as exc:  # read afresh next time: answered, or closed?
                    log.warning("challenge %d: not answered (try %d of %d): %s", challenge_id, attempt, PROOF_TRIES,
                                exc or "the chain took too long")
                    await trio.sleep(RETRY_S)
            self._metrics.proofs["failed"] += 1
        except (StoreError, ValueError, IndexError) as exc:
            log.warning("challenge %d: not answered: %s", challenge_id, exc)
            self._metrics.proofs["failed"] += 1
        finally:
            self._answering.discard(challenge_id)

    async def _answer(self, challenge_id: int) -> None:
        challenge = await self._chain.challenge(challenge_id)
        if challenge is None or challenge.node != self._chain.account:
            return  # answered already, expired, or someone else's
        proofs = await self._proofs(challenge)
        if proofs is None:
            self._metrics.proofs["missing"] += 1
            log.warning("challenge %d: fragment 0x%s/%d/%d is not stored here", challenge_id,
                        challenge.file_id.hex(), challenge.segment, challenge.fragment)
            return
        call = self._client.compose_call("FileBank", "submit_proof", {
            "challenge_id": challenge_id, "proofs": [proof.encode() for proof in proofs]})
        receipt = await self._client.sign_and_submit(call, self._keypair, wait_for_inclusion=True)
        if receipt.is_success:
            self._metrics.proofs["submitted"] += 1
        else:
            self._metrics.proofs["refused"] += 1
            log.warning("challenge %d: the chain refused the proof: %s", challenge_id, receipt.error_message)

    async def _proofs(self, challenge: Challenge) -> list[ChunkProof] | None:
        key = FragmentKey(challenge.file_id, challenge.segment, challenge.fragment)
        stored = await self._chain.file(challenge.file_id)
        if stored is None or not self._store.has(key):
            return None
        body = await trio.to_thread.run_sync(self._store.read, key)
        return await trio.to_thread.run_sync(build_proofs, body, stored.fragment_count, challenge.fragment,
                                             stored.info.chunk_size, tuple(challenge.chunk_indices))
