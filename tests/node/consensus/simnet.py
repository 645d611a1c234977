"""A simulated network of finality voters, each driven the way the node's finality service drives one.

Time is virtual (milliseconds) and every random choice comes from one seeded ``random.Random``, so a run
is a pure function of its seed and fault schedule. Each node has:

- a view of the shared block tree (:class:`View`: the blocks it imported, its finalized block), kept
  across crashes like the node's database; blocks are authored in turn, one per slot, on the author's
  best chain, and reach the others by gossip and by a periodic sync (which also brings justifications,
  and the blocks ``Voter.missing_blocks()`` names);
- a voter, driven as the service must: ``tick()`` and a neighbor exchange with every peer each tick;
  gossip through a seen-cache and :func:`check_vote` / :func:`check_commit`, forwarding only accepted
  messages; outputs handled in order (``Persist`` written to the node's "disk" before anything after
  it is sent); catch-up requests answered with the bytes of the real codecs;
- a status: up, down (crashed: voter, seen-cache and messages in flight to it lost; it restarts from
  its disk), or paused (SIGSTOP: nothing runs, messages wait in its socket buffer until it resumes).

Faults: crashes of one or several nodes (optionally right after the node's next ``Persist``, before it
sends what followed), pauses, partitions that heal, message loss. The run records everything needed
for the properties the tests check: every vote ever sent (no voter signs two different votes of one
stage in one round, across restarts), every block finalized anywhere (all on one chain: each is checked against the highest so far), and how far
finality got after the faults stopped.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from node.consensus.finality import Justification, SignedVote, verify_justification
from node.consensus.messages import (
    CatchUpRequest,
    NeighborPacket,
    decode_catch_up_answer,
    encode_catch_up_answer,
)
from node.consensus.validation import Outcome, check_commit, check_vote
from node.consensus.voter import Broadcast, Finalized, Output, Persist, RequestCatchUp, Voter
from node.consensus.voter_state import VoterState
from runtime.keyring import Keypair
from runtime.primitives import SignatureScheme
from tests.node.consensus.blocks import Block, Tree, View

SLOT_MS = 1000
TICK_MS = 1000
SYNC_MS = 2000
NAMES = ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie", "George")
KEYS = [Keypair.from_uri(f"//{name}", SignatureScheme.Ed25519) for name in NAMES]

UP, DOWN, PAUSED = "up", "down", "paused"


@dataclass
class Node:
    index: int
    key: Keypair
    view: View
    voter: Voter | None = None
    disk: bytes | None = None
    """The last persisted voter state: all that survives a crash besides the chain database."""
    status: str = UP
    seen: set[bytes] = field(default_factory=set)
    inbox: list[Callable[[], None]] = field(default_factory=list)
    """Deliveries waiting while the node is paused."""
    justifications: dict[bytes, Justification] = field(default_factory=dict)
    die_after_persist: bool = False
    incarnation: int = 0
    """Bumped at each crash: timers of an earlier life do not fire."""


class Simulation:
    def __init__(self, voters: int, seed: int, *, delay_ms: tuple[int, int] = (5, 120)) -> None:
        self.rng = random.Random(seed)
        self.tree = Tree()
        self.keys = KEYS[:voters]
        self.authorities = tuple(k.public for k in self.keys)
        self.nodes = [Node(i, key, View(self.tree)) for i, key in enumerate(self.keys)]
        self.delay_ms = delay_ms
        self.now = 0
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self._sequence = 0
        self.loss = 0.0
        self.groups: list[frozenset[int]] | None = None
        self.votes: dict[tuple[int, int, int, bytes], SignedVote] = {}
        self.equivocations: list[tuple[SignedVote, SignedVote]] = []
        self.authored_at: dict[bytes, int] = {self.tree.genesis.hash: 0}
        self.highest_final: Block = (self.tree.genesis.hash, 0)
        self.conflicts: list[tuple[Block, Block]] = []
        for node in self.nodes:
            self._start(node)
        self.at(SLOT_MS, self._slot)

    # --- scheduling ---------------------------------------------------------------------------------

    def at(self, time_ms: int, action: Callable[[], None]) -> None:
        self._sequence += 1
        heapq.heappush(self._events, (time_ms, self._sequence, action))

    def run_until(self, time_ms: int) -> None:
        while self._events and self._events[0][0] <= time_ms:
            self.now, _, action = heapq.heappop(self._events)
            action()
        self.now = time_ms

    def _every(self, node: Node, period_ms: int, action: Callable[[Node], None], first_ms: int) -> None:
        incarnation = node.incarnation

        def fire() -> None:
            if node.incarnation != incarnation:
                return
            if node.status == UP:
                action(node)
            self.at(self.now + period_ms, fire)
        self.at(first_ms, fire)

    # --- faults -------------------------------------------------------------------------------------

    def crash(self, index: int, *, after_next_persist: bool = False) -> None:
        node = self.nodes[index]
        if after_next_persist:
            node.die_after_persist = True
            return
        if node.status == DOWN:
            return
        node.status, node.voter, node.seen, node.inbox = DOWN, None, set(), []
        node.incarnation += 1
        node.die_after_persist = False

    def restart(self, index: int) -> None:
        node = self.nodes[index]
        if node.status == DOWN:
            self._start(node)

    def pause(self, index: int) -> None:
        node = self.nodes[index]
        if node.status == UP:
            node.status = PAUSED

    def resume(self, index: int) -> None:
        node = self.nodes[index]
        if node.status == PAUSED:
            node.status = UP
            waiting, node.inbox = node.inbox, []
            for deliver in waiting:
                if node.status == UP:
                    deliver()

    def partition(self, groups: list[frozenset[int]] | None) -> None:
        self.groups = groups

    def set_loss(self, probability: float) -> None:
        self.loss = probability

    def heal(self) -> None:
        """End every fault: all nodes up and connected, no loss."""
        self.partition(None)
        self.set_loss(0.0)
        for node in self.nodes:
            node.die_after_persist = False
            self.restart(node.index)
            self.resume(node.index)

    def reachable(self, a: int, b: int) -> bool:
        return self.groups is None or any(a in g and b in g for g in self.groups)

    # --- a node's life ------------------------------------------------------------------------------

    def _start(self, node: Node) -> None:
        resume = VoterState.decode(node.disk) if node.disk is not None else None
        view = node.view
        node.voter = Voter(set_id=0, authorities=self.authorities, finalized=view.finalized, ancestry=view.ancestry,
                           best_descendant=view.best_descendant, header=view.header,
                           key=(node.key.public, node.key.secret), resume=resume)
        node.status = UP
        phase = self.rng.randrange(TICK_MS)
        self._every(node, TICK_MS, self._tick, self.now + phase)
        self._every(node, SYNC_MS, self._sync, self.now + phase + SYNC_MS // 2)

    def _tick(self, node: Node) -> None:
        assert node.voter is not None
        self._handle(node, node.voter.tick())
        if node.voter is None:
            return
        packet = node.voter.neighbor_packet().encode()
        for peer in self.nodes:
            if peer is not node:
                self._request(node, peer, partial(self._serve_neighbor, asker=node, payload=packet),
                              partial(self._on_neighbor, node, peer))

    def _handle(self, node: Node, outputs: list[Output]) -> None:
        """What the finality service does with a voter's outputs, in order."""
        for out in outputs:
            if node.status != UP:
                return
            if isinstance(out, Persist):
                node.disk = out.state.encode()
                if node.die_after_persist:
                    self.crash(node.index)
                    return
            elif isinstance(out, Broadcast):
                self._record_vote(out.vote)
                self._gossip(node, "vote", out.vote.encode(), source=None)
            elif isinstance(out, Finalized):
                self._finalize(node, out.block, out.justification)
                self._gossip(node, "commit", out.justification.encode(), source=None)
            elif isinstance(out, RequestCatchUp):
                self._request(node, self.nodes[out.peer], partial(self._serve_catch_up, payload=out.request.encode()),
                              partial(self._on_catch_up, node))

    def _finalize(self, node: Node, block: Block, justification: Justification) -> bool:
        view = node.view
        if block[1] <= view.finalized[1]:
            return False
        if not self.tree.is_ancestor(view.finalized, block):
            self.conflicts.append((view.finalized, block))
            return False
        view.import_block(block[0])
        view.finalized = block
        node.justifications[block[0]] = justification
        low, high = sorted((self.highest_final, block), key=lambda b: b[1])
        if not self.tree.is_ancestor(low, high):  # (all blocks final anywhere lie on one chain, up to here)
            self.conflicts.append((low, high))
        self.highest_final = high
        return True

    def _apply_justification(self, node: Node, justification: Justification) -> None:
        block = (justification.target_hash, justification.target_number)
        if self._finalize(node, block, justification) and node.voter is not None:
            self._handle(node, node.voter.on_finalized_elsewhere(block))

    def _record_vote(self, vote: SignedVote) -> None:
        key = (vote.set_id, vote.round, int(vote.vote.stage), vote.voter)
        first = self.votes.setdefault(key, vote)
        if first.vote != vote.vote:
            self.equivocations.append((first, vote))

    # --- blocks -------------------------------------------------------------------------------------

    def _slot(self) -> None:
        slot = self.now // SLOT_MS
        author = self.nodes[slot % len(self.nodes)]
        if author.status == UP:
            parent = author.view.best()
            block = self.tree.add(parent[0], b"slot" + slot.to_bytes(8, "big") + bytes([author.index]))
            self.authored_at[block.hash] = self.now
            self._import(author, block.hash)
            for peer in self.nodes:
                if peer is not author:
                    self._send(author, peer, lambda p, h=block.hash: self._import(p, h))
        self.at(self.now + SLOT_MS, self._slot)

    def _import(self, node: Node, block_hash: bytes) -> None:
        if node.view.import_block(block_hash) and node.voter is not None:
            self._handle(node, node.voter.on_block_imported())

    def _sync(self, node: Node) -> None:
        """The sync loop: take each reachable peer's best chain, the blocks the voter misses, and the peer's
        newest justification."""
        for peer in self.nodes:
            if peer is node or peer.status != UP or not self.reachable(node.index, peer.index):
                continue
            self._import(node, peer.view.best()[0])
            for block_hash in node.voter.missing_blocks() if node.voter is not None else ():
                if block_hash in peer.view.known:
                    self._import(node, block_hash)
            justification = peer.justifications.get(peer.view.finalized[0])
            if justification is not None and peer.view.finalized[1] > node.view.finalized[1]:
                verify_justification(justification, self.authorities, 0)
                self._apply_justification(node, justification)

    # --- the network --------------------------------------------------------------------------------

    def _send(self, sender: Node, receiver: Node, deliver: Callable[[Node], None]) -> None:
        if not self.reachable(sender.index, receiver.index) or self.rng.random() < self.loss:
            return
        incarnation = receiver.incarnation

        def arrive() -> None:
            if receiver.incarnation != incarnation or not self.reachable(sender.index, receiver.index):
                return
            if receiver.status == PAUSED:
                receiver.inbox.append(lambda: deliver(receiver))
            elif receiver.status == UP:
                deliver(receiver)
        self.at(self.now + self.rng.randint(*self.delay_ms), arrive)

    def _gossip(self, node: Node, topic: str, payload: bytes, source: Node | None) -> None:
        node.seen.add(payload)
        for peer in self.nodes:
            if peer is not node and peer is not source:
                self._send(node, peer, lambda p, n=node: self._on_gossip(p, n, topic, payload))

    def _on_gossip(self, node: Node, sender: Node, topic: str, payload: bytes) -> None:
        if payload in node.seen:
            return
        node.seen.add(payload)
        voter = node.voter
        assert voter is not None
        if topic == "vote":
            checked = check_vote(payload, set_id=voter.set_id, authorities=voter.authorities,
                                 rounds=voter.vote_rounds())
        else:
            checked = check_commit(payload, set_id=voter.set_id, authorities=voter.authorities,
                                   finalized_number=node.view.finalized[1],
                                   known=lambda block_hash: block_hash in node.view.known)
        assert checked.outcome is not Outcome.REJECT, f"an honest node's {topic} was rejected: {checked.reason}"
        if checked.outcome is not Outcome.ACCEPT:
            return
        self._gossip(node, topic, payload, source=sender)
        if topic == "vote":
            self._handle(node, voter.on_vote(checked.message))
        else:
            self._apply_justification(node, checked.message)

    def _request(self, asker: Node, peer: Node, serve: Callable[[Node], bytes],
                 on_reply: Callable[[bytes], None]) -> None:
        """A request/response exchange: a lost one simply never calls back (a timeout). Both ends are up when
        their part runs (a message to a node that crashed meanwhile is dropped)."""
        def answer(responder: Node) -> None:
            reply = serve(responder)
            self._send(responder, asker, lambda _: on_reply(reply))
        self._send(asker, peer, answer)

    def _serve_neighbor(self, node: Node, asker: Node, payload: bytes) -> bytes:
        assert node.voter is not None
        self._handle(node, node.voter.on_neighbor(asker.index, NeighborPacket.decode(payload)))
        return node.voter.neighbor_packet().encode()

    def _on_neighbor(self, node: Node, peer: Node, reply: bytes) -> None:
        assert node.voter is not None
        self._handle(node, node.voter.on_neighbor(peer.index, NeighborPacket.decode(reply)))

    def _serve_catch_up(self, node: Node, payload: bytes) -> bytes:
        assert node.voter is not None
        return encode_catch_up_answer(node.voter.answer_catch_up(CatchUpRequest.decode(payload)))

    def _on_catch_up(self, node: Node, reply: bytes) -> None:
        voter = node.voter
        assert voter is not None
        response = decode_catch_up_answer(reply, len(voter.authorities))
        if response is not None:
            self._handle(node, voter.on_catch_up(response))

    # --- what the tests read ------------------------------------------------------------------------

    def finalized_numbers(self) -> list[int]:
        return [node.view.finalized[1] for node in self.nodes]

    def finalized_since(self, time_ms: int) -> bool:
        """Whether every node has finalized a block authored at ``time_ms`` or later."""
        return all(self.authored_at[node.view.finalized[0]] >= time_ms for node in self.nodes)

    def rounds(self) -> list[int]:
        return [node.voter.round if node.voter is not None else -1 for node in self.nodes]
