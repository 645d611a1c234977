"""Finality: drive the GRANDPA-style voter (``node.consensus.voter``) with the network, the chain and a clock.

Inputs: votes (``finality`` gossip), justifications (``commits`` gossip, and those sync brings with blocks),
peers' neighbor packets and catch-up answers (requests), imported blocks, and a tick every slot. Outputs, in
the order the voter gives them: :class:`Persist` (the voter's state, written and synced before anything after
it, so a restarted voter resumes its round and never signs a second vote in it), :class:`Broadcast` (our vote),
:class:`Finalized` (finalize, store the justification, publish it), :class:`RequestCatchUp` (ask a peer ahead
of us for the votes of a round it completed).

Gossip is checked before it is delivered or forwarded (``node.consensus.validation``): a vote of our set and
rounds with a valid signature by an authority, a justification of our set for a block we have, verified. A
peer pays only for what it could have checked itself (a malformed message, a bad signature); votes of other
rounds or sets, or justifications of blocks not yet imported, are dropped without blame.

The voter's set is the one in the state of the last finalized block; when finality passes a block that
enacts a new set, a new voter starts for it.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable, Iterator

import trio

from node.blocktree import StatePruned, UnknownBlock
from node.chain import AuthoritySet, Chain
from node.clock import SlotClock
from node.consensus.finality import InvalidJustification, Justification, verify_justification
from node.consensus.messages import (
    CATCH_UP_PROTOCOL,
    NEIGHBOR_PROTOCOL,
    CatchUpRequest,
    NeighborPacket,
    decode_catch_up_answer,
    encode_catch_up_answer,
)
from node.consensus.validation import MAX_COMMIT_BYTES, Outcome, check_commit, check_vote
from node.consensus.voter import Broadcast, Finalized, InvalidCatchUp, Output, Persist, RequestCatchUp, Voter
from node.consensus.voter_state import InvalidVoterState, VoterState
from node.keystore import Keystore
from node.network import DeferredSubscription, NetworkService, PeerId, PendingGossip, RequestRejected
from node.network.peers import PeerDisconnected, PeerEvent, Penalty
from node.protocol import TOPIC_COMMITS, TOPIC_FINALITY
from runtime.scale import ScaleDecodeError

__all__ = ["Finality", "NEIGHBOR_TIMEOUT_S", "CATCH_UP_TIMEOUT_S"]

log = logging.getLogger("cairn.finality")

NEIGHBOR_TIMEOUT_S = 2.0
CATCH_UP_TIMEOUT_S = 5.0


class Finality:
    def __init__(self, chain: Chain, keystore: Keystore, network: NetworkService, clock: SlotClock, *,
                 validator: bool) -> None:
        self.chain = chain
        self.keystore = keystore
        self.network = network
        self.clock = clock
        self.validator = validator
        self.voter: Voter | None = None
        self._nursery: trio.Nursery | None = None
        self._asking_neighbors: set[PeerId] = set()
        self._persisting = trio.Lock()
        self._observe_set: int | None = None
        """A set in which this node must not vote: its persisted state there was unreadable, so it cannot
        know which votes it already signed (a fresh one could contradict them)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        network = self.network
        votes = network.subscribe_deferred(TOPIC_FINALITY)
        commits = network.subscribe_deferred(TOPIC_COMMITS)
        peer_events = network.subscribe_peer_events()
        network.register_protocol(NEIGHBOR_PROTOCOL, self._serve_neighbor)
        network.register_protocol(CATCH_UP_PROTOCOL, self._serve_catch_up)
        self.voter = self._new_voter(resume=self._persisted())
        if self._observe_set is not None:
            log.error("the persisted voter state is unreadable: this node only observes finality until the next "
                      "authority set, so it can never sign a vote contradicting one it cast before the damage")
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._receive, votes, self._on_vote)
            nursery.start_soon(self._receive, commits, self._on_commit)
            nursery.start_soon(self._follow_imports)
            nursery.start_soon(self._tick_loop)
            nursery.start_soon(self._forget_disconnected, peer_events)
            task_status.started()

    # --- the voter ------------------------------------------------------------------------------

    def _voter_set(self) -> AuthoritySet:
        """The voters: the set in the state of the last finalized block."""
        return self.chain.authority_set(self.chain.tree.finalized.state)

    def _new_voter(self, resume: VoterState | None = None) -> Voter:
        voters = self._voter_set()
        may_vote = self.validator and voters.set_id != self._observe_set
        key = self.keystore.key_for(voters.authorities) if may_vote else None
        tree = self.chain.tree
        finalized = tree.finalized
        return Voter(set_id=voters.set_id, authorities=voters.authorities,
                     finalized=(finalized.block.hash, finalized.number), ancestry=self._ancestry,
                     best_descendant=self._best_descendant(voters.set_id), header=tree.header,
                     key=(key.public, key.secret) if key else None, resume=resume)

    def _persisted(self) -> VoterState | None:
        store = self.chain.store
        encoded = store.load_voter_state() if store is not None else None
        if encoded is None:
            return None
        try:
            return VoterState.decode(encoded)
        except InvalidVoterState as exc:  # our own database: a bug or a damaged disk, never a peer
            log.error("persisted voter state: %s", exc)
            self._observe_set = self._voter_set().set_id
            return None

    def _ancestry(self, block_hash: bytes) -> Iterator[tuple[bytes, int]]:
        tree = self.chain.tree
        finalized_number = tree.finalized.number
        for entry in tree.ancestors(block_hash):
            yield entry.block.hash, entry.number
            if entry.number <= finalized_number:
                return

    def _best_descendant(self, set_id: int) -> Callable[[bytes], tuple[bytes, int]]:
        chain = self.chain

        def session_of(block_hash: bytes) -> int | None:
            try:
                return chain.authority_set(chain.tree.state(block_hash)).set_id
            except (UnknownBlock, StatePruned):
                return None

        def best_descendant(base: bytes) -> tuple[bytes, int]:
            """The best block descending from ``base`` whose parent is still in ``set_id``'s session."""
            tree = chain.tree
            head = tree.best_hash if tree.is_descendant(tree.best_hash, base) else base
            for entry in tree.ancestors(head):
                parent_session = session_of(entry.header.parent_hash) if entry.number > 0 else set_id
                if entry.block.hash == base or parent_session == set_id:
                    return entry.block.hash, entry.number
            entry = tree.entry(base)
            return entry.block.hash, entry.number

        return best_descendant

    async def _handle(self, outputs: list[Output]) -> None:
        """Carry out the voter's outputs, in order (a state to persist comes before the votes it covers)."""
        for output in outputs:
            if isinstance(output, Persist):
                await self._persist()
            elif isinstance(output, Broadcast):
                await self.network.publish(TOPIC_FINALITY, output.vote.encode())
            elif isinstance(output, Finalized):
                encoded = output.justification.encode()
                self._finalize(output.block[0], encoded)
                await self.network.publish(TOPIC_COMMITS, encoded)
            elif isinstance(output, RequestCatchUp):
                assert self._nursery is not None
                self._nursery.start_soon(self._catch_up, output.peer, output.request)

    async def _persist(self) -> None:
        """Write the voter's state, synced, before the outputs that follow are handled. The fsync runs in a
        worker so the event loop stays free; while it runs another task may have the voter cast more votes, so
        each write takes the voter's state as it is when the write begins, and writes go one at a time: the
        database never goes back to an older state than one already written."""
        store = self.chain.store
        if store is None:
            return
        async with self._persisting:
            assert self.voter is not None
            await trio.to_thread.run_sync(store.save_voter_state, self.voter.state().encode())

    def _finalize(self, block_hash: bytes, justification: bytes) -> None:
        voter = self.voter
        assert voter is not None
        if not self.chain.finalize(block_hash, justification):
            return
        if self._voter_set().set_id != voter.set_id:
            self.voter = self._new_voter()  # the authority set changed with this block
            log.info("authority set %d begins", self.voter.set_id)

    async def _tick_loop(self) -> None:
        while True:
            voter = self.voter
            assert voter is not None
            if self.validator and voter.key is None and voter.set_id != self._observe_set:
                key = self.keystore.key_for(voter.authorities)
                if key is not None:  # inserted or rotated in since the set began
                    voter.use_key((key.public, key.secret))
            await self._handle(voter.tick())
            self._exchange_neighbors()
            await trio.sleep(self.clock.slot_ms / 1000)

    async def _follow_imports(self) -> None:
        while True:  # the broadcaster ends a listener that falls too far behind (a burst of imports): listen again
            with self.chain.imported_heads.subscribe() as imported:
                async for _ in imported:
                    assert self.voter is not None
                    await self._handle(self.voter.on_block_imported())
            log.info("finality fell behind the imported blocks; following them again")

    async def _forget_disconnected(self, events: trio.MemoryReceiveChannel[PeerEvent]) -> None:
        """A peer gone no longer counts as a neighbor: its last round, if ahead, kept the voter starting a round
        at every tick (a state write each) and asking it, gone, to help catch up."""
        async with events:
            async for event in events:
                if isinstance(event, PeerDisconnected) and self.voter is not None:
                    self.voter.forget_peer(event.peer_id)

    # --- gossip ---------------------------------------------------------------------------------

    async def _receive(self, subscription: DeferredSubscription,
                       handler: Callable[[PendingGossip], Awaitable[None]]) -> None:
        async with subscription:
            async for message in subscription:
                await handler(message)

    async def _on_vote(self, message: PendingGossip) -> None:
        voter = self.voter
        assert voter is not None
        checked = check_vote(message.payload, set_id=voter.set_id, authorities=voter.authorities,
                             rounds=voter.vote_rounds())
        if not _give_verdict(message, checked.outcome, checked.reason):
            return
        assert checked.message is not None
        await self._handle(voter.on_vote(checked.message))

    async def _on_commit(self, message: PendingGossip) -> None:
        voter = self.voter
        assert voter is not None
        tree = self.chain.tree
        checked = check_commit(message.payload, set_id=voter.set_id, authorities=voter.authorities,
                               finalized_number=tree.finalized.number, known=tree.__contains__)
        if not _give_verdict(message, checked.outcome, checked.reason):
            return
        assert checked.message is not None
        await self._apply(checked.message, message.payload)

    async def apply_justification(self, encoded: bytes, peer: PeerId | None) -> None:
        """A justification that came with a synced block: checked against the set of its target's parent
        (it may be of a set before ours) and applied; a bad one costs ``peer``, as does one larger than a
        gossiped commit may be (decoding a 15 MiB one held the event loop for a second and a half)."""
        tree = self.chain.tree
        if len(encoded) > MAX_COMMIT_BYTES:
            if peer is not None:
                self.network.report(peer, Penalty.BAD_RESPONSE, f"a {len(encoded)}-byte justification exceeds "
                                                                f"{MAX_COMMIT_BYTES} bytes")
            return
        try:
            justification = Justification.decode(encoded)
            target = tree.entry(justification.target_hash)
            if target.number <= tree.finalized.number:
                return
            voters = self.chain.authority_set(tree.state(target.header.parent_hash))
            verify_justification(justification, voters.authorities, voters.set_id)
        except InvalidJustification as exc:
            if peer is not None:
                self.network.report(peer, Penalty.BAD_RESPONSE, f"invalid justification: {exc}")
            return
        except (UnknownBlock, StatePruned):
            return
        await self._apply(justification, encoded)

    def missing_blocks(self) -> list[bytes]:
        """Blocks that votes waiting in the voter name and the node has not imported (sync fetches them)."""
        return self.voter.missing_blocks() if self.voter is not None else []

    async def _apply(self, justification: Justification, encoded: bytes) -> None:
        self._finalize(justification.target_hash, encoded)
        assert self.voter is not None
        await self._handle(self.voter.on_finalized_elsewhere((justification.target_hash,
                                                              justification.target_number)))

    # --- neighbors and catch-up -----------------------------------------------------------------

    def _exchange_neighbors(self) -> None:
        """Tell every peer where our voter stands; what each answers is where its voter stands. Each exchange
        runs on its own (the tick does not wait for them: one peer that never answers delayed every tick by the
        whole timeout), one at a time per peer."""
        assert self.voter is not None and self._nursery is not None
        packet = self.voter.neighbor_packet().encode()
        for info in self.network.peers():
            if info.peer_id not in self._asking_neighbors:
                self._asking_neighbors.add(info.peer_id)
                self._nursery.start_soon(self._ask_neighbor, info.peer_id, packet)

    async def _ask_neighbor(self, peer: PeerId, packet: bytes) -> None:
        try:
            answer = await self.network.request(peer, NEIGHBOR_PROTOCOL, packet, timeout=NEIGHBOR_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - a peer that does not answer: ask it next tick
            log.debug("neighbor packet to %s: %s", peer, exc)
            return
        finally:
            self._asking_neighbors.discard(peer)
        try:
            packet = NeighborPacket.decode(answer)
        except ScaleDecodeError as exc:
            self.network.report(peer, Penalty.BAD_RESPONSE, f"malformed neighbor packet: {exc}")
            return
        await self._on_neighbor(peer, packet)

    async def _serve_neighbor(self, peer: PeerId, payload: bytes) -> bytes:
        try:
            packet = NeighborPacket.decode(payload)
        except ScaleDecodeError as exc:
            raise RequestRejected(f"malformed neighbor packet: {exc}", cost=Penalty.BAD_REQUEST) from None
        await self._on_neighbor(peer, packet)
        assert self.voter is not None
        return self.voter.neighbor_packet().encode()

    async def _on_neighbor(self, peer: PeerId, packet: NeighborPacket) -> None:
        assert self.voter is not None
        if any(info.peer_id == peer for info in self.network.peers()):  # (an answer outliving its peer is not
            await self._handle(self.voter.on_neighbor(peer, packet))    # kept: its disconnection was handled)

    async def _serve_catch_up(self, peer: PeerId, payload: bytes) -> bytes:
        try:
            request = CatchUpRequest.decode(payload)
        except ScaleDecodeError as exc:
            raise RequestRejected(f"malformed catch-up request: {exc}", cost=Penalty.BAD_REQUEST) from None
        assert self.voter is not None
        return encode_catch_up_answer(self.voter.answer_catch_up(request))

    async def _catch_up(self, peer: PeerId, request: CatchUpRequest) -> None:
        voter = self.voter
        assert voter is not None
        try:
            answer = await self.network.request(peer, CATCH_UP_PROTOCOL, request.encode(),
                                                timeout=CATCH_UP_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the voter asks again at a later tick
            log.debug("catch-up request to %s: %s", peer, exc)
            return
        if voter is not self.voter:
            return  # the set changed meanwhile: the answer is of no use
        try:
            response = decode_catch_up_answer(answer, len(voter.authorities))
            if response is None:
                return
            outputs = voter.on_catch_up(response)
        except (ScaleDecodeError, InvalidCatchUp) as exc:
            self.network.report(peer, Penalty.BAD_RESPONSE, f"invalid catch-up: {exc}")
            return
        if outputs:
            log.info("caught up with %s to round %d", peer, voter.round)
        await self._handle(outputs)

    # --- RPC ------------------------------------------------------------------------------------

    def round_state(self) -> dict:
        """``grandpa_roundState``."""
        voter = self.voter
        if voter is None or voter.round == 0:
            return {"setId": voter.set_id if voter else 0, "best": None, "background": []}
        state = voter.current
        return {"setId": voter.set_id, "best": {
            "round": state.round, "totalWeight": len(voter.authorities), "thresholdWeight": state.threshold,
            "prevotes": {"currentWeight": len(state.prevotes), "missing": [
                "0x" + a.hex() for a in voter.authorities if a not in state.prevotes]},
            "precommits": {"currentWeight": len(state.precommits), "missing": [
                "0x" + a.hex() for a in voter.authorities if a not in state.precommits]},
        }, "background": []}


def _give_verdict(message: PendingGossip, outcome: Outcome, reason: str) -> bool:
    """Tell the network what became of ``message``; whether it is to be used."""
    if outcome is Outcome.REJECT:
        message.reject(reason)
    elif outcome is Outcome.IGNORE:
        message.ignore()
    else:
        message.accept()
    return outcome is Outcome.ACCEPT

