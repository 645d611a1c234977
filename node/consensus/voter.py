"""One authority's finality voter: the round rules of ``node.consensus.finality`` as a state machine that
survives crashes and finds its way back to the other voters.

It does no I/O and reads the block tree only through the callables it is given, so the whole protocol runs
in tests over simulated networks (delays, losses, partitions, crashes, pauses: ``tests/node/consensus``,
whose ``simnet`` drives it as the node must). The node's finality service calls the methods below; each
returns a list of outputs to handle **in order**:

==============================  ================================================================================
input                           when
==============================  ================================================================================
``tick()``                      on a timer, every slot; the first call begins voting
``on_vote(vote)``               a vote from the ``finality`` topic (``check_vote`` accepted it)
``on_block_imported()``         after the node imported a block (votes for it may have been waiting)
``on_finalized_elsewhere(b)``   the node finalized ``b`` from a justification it imported (commit, sync)
``on_neighbor(peer, packet)``   a peer's :class:`~node.consensus.messages.NeighborPacket` (its request or answer)
``on_catch_up(response)``       a peer's answer to a :class:`RequestCatchUp` (a decoding error is the peer's)
==============================  ================================================================================

==============================  ================================================================================
output                          what the node does
==============================  ================================================================================
:class:`Persist`                write ``state.encode()`` (synced) **before** handling the outputs after it; it
                                comes first whenever the call cast a vote or changed round
:class:`Broadcast`              publish the vote on the ``finality`` topic
:class:`Finalized`              finalize the block, store the justification, publish it on ``commits``
:class:`RequestCatchUp`         ask that peer (``CATCH_UP_PROTOCOL``, with a deadline); hand a decoded answer
                                to ``on_catch_up``; nothing to do if it fails
==============================  ================================================================================

It also answers ``neighbor_packet()`` (send it to every peer on each tick), ``answer_catch_up(request)``
(what to answer a peer's request), ``vote_rounds()`` (the rounds ``check_vote`` should accept) and
``missing_blocks()`` (blocks waiting votes name: fetch them, sync alone never brings a block off every
best chain); ``forget_peer(peer)`` drops a disconnected peer's round.

How rounds move, so that voters that crashed, were paused, were cut off or lost messages find the others:

- a voter enters round ``r + 1`` only once round ``r`` is completable in its view (the GRANDPA rule that
  makes its estimate, and so safety, hold): at once if ``r`` finalized something and there is a newer
  block to vote on, otherwise at a tick where there is a newer block or a peer is already further (one
  round per tick at most when nothing finalizes, never a busy loop);
- on a tick where its round did not move, it sends its own votes of this and the previous round again
  (peers that lost them get them; the others' seen-caches drop them);
- every node tells its peers its set, round and finalized height (neighbor packets). A voter that learns
  a peer is ``CATCH_UP_GAP`` rounds ahead asks it at once for the votes of a round it completed (and one
  that saw a peer a round ahead at two ticks running asks too: packets are a tick old, so a voter two rounds
  behind sees its peers one ahead, and following them a round per tick it would never close the gap). The
  answer is checked (signatures, set, round, a supermajority of prevotes and of precommits, the round
  completable) and the voter jumps to the round after it, finalizing what its precommits finalize.
  Voters spread over different rounds all reach the highest completed one, where more than 2/3 of them
  then complete rounds again;
- a voter whose round made no progress over a whole tick asks a peer a round ahead the same way, or else
  a peer in its own round for the votes it has of it: votes this voter ignored while it was behind are
  never delivered again by gossip (the seen-cache drops the copies), so only such an answer brings them;
- the state persisted before every vote (round, own votes, the last completed round's votes) lets a
  restarted voter resume where it was: it re-sends its own votes instead of signing different ones.

Everything a peer can make it keep is bounded: votes of ``FUTURE_ROUNDS`` rounds ahead and of blocks not
yet imported (one per voter, stage and round), the rounds of ``MAX_NEIGHBORS`` peers, one catch-up in
flight.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from node.consensus.finality import (
    Ancestry,
    Block,
    InvalidVote,
    Justification,
    RoundState,
    RoundVotes,
    SignedVote,
    Stage,
    Vote,
)
from node.consensus.messages import CatchUpRequest, CatchUpResponse, NeighborPacket
from node.consensus.validation import Outcome, check_signed_vote
from node.consensus.voter_state import VoterState
from runtime.primitives import Header

__all__ = [
    "Voter",
    "Persist",
    "Broadcast",
    "Finalized",
    "RequestCatchUp",
    "Output",
    "InvalidCatchUp",
    "FUTURE_ROUNDS",
    "CATCH_UP_GAP",
    "MAX_NEIGHBORS",
]

FUTURE_ROUNDS = 2
"""Votes up to this many rounds ahead are kept for when the voter gets there; peers further ahead are
reached by catch-up."""
CATCH_UP_GAP = 2
"""A peer this many rounds ahead is asked for a catch-up at once (one round ahead: only after a tick without
progress, since a peer that just moved on is the normal case)."""
MAX_NEIGHBORS = 256
"""Peers whose rounds are remembered; beyond that the one asked longest ago is forgotten."""

Peer = Hashable


class InvalidCatchUp(ValueError):
    """A catch-up answer that proves nothing: votes of another round, stage or set, by non-authorities,
    badly signed, duplicated, or too few for a supermajority. The peer that sent it is at fault."""


@dataclass(frozen=True)
class Persist:
    state: VoterState


@dataclass(frozen=True)
class Broadcast:
    vote: SignedVote


@dataclass(frozen=True)
class Finalized:
    block: Block
    justification: Justification


@dataclass(frozen=True)
class RequestCatchUp:
    peer: Peer
    request: CatchUpRequest


Output = Persist | Broadcast | Finalized | RequestCatchUp

_VoteKey = tuple[int, Stage, bytes]
"""(round, stage, voter)"""


class Voter:
    """The voter of one authority set (see the module docstring for how to drive it). A new set gets a new
    voter; one made with the persisted state of its set resumes where that state left it."""

    def __init__(self, *, set_id: int, authorities: tuple[bytes, ...], finalized: Block, ancestry: Ancestry,
                 best_descendant: Callable[[bytes], Block], header: Callable[[bytes], Header],
                 key: tuple[bytes, bytes] | None = None, resume: VoterState | None = None) -> None:
        """``key`` is ``(public, secret)`` of this node's session key, or ``None`` for an observer.
        ``best_descendant(base)`` is the best block containing ``base``; ``resume`` the last persisted state
        (ignored if it is of another set)."""
        self.set_id = set_id
        self.authorities = authorities
        self.finalized = finalized
        self.ancestry = ancestry
        self.best_descendant = best_descendant
        self.header = header
        self.key = key if key is not None and key[0] in authorities else None
        self.round = 0
        self.current = RoundState(0, set_id, authorities)
        self.previous: RoundState | None = None
        self._own: dict[Stage, SignedVote] = {}
        self._future: dict[_VoteKey, SignedVote] = {}
        self._pending: dict[_VoteKey, SignedVote] = {}
        self._catch_up_blocks: tuple[bytes, ...] = ()
        """Blocks the last catch-up answer of a later round named that were not imported, until the voter
        changes round: without them it cannot be taken, and a block only a dead fork holds is never synced,
        so the node fetches them too."""
        self._neighbors: OrderedDict[Peer, int] = OrderedDict()
        self._asking = False
        self._behind_at_tick = False
        """Whether a peer was a round or more ahead at the last tick."""
        self._round_at_tick = 0
        self._finalized_at_start = finalized[1]
        self._changed = False
        if resume is not None and resume.set_id == set_id and resume.round > 0:
            self._restore(resume)

    def use_key(self, key: tuple[bytes, bytes]) -> None:
        """Vote with ``key`` from now on: a session key that reached the node's keystore while its set was
        already current. A key outside the set is ignored, as in the constructor."""
        if key[0] in self.authorities:
            self.key = key

    # --- what the node asks -----------------------------------------------------------------------

    def state(self) -> VoterState:
        """What to persist (also handed out as :class:`Persist` whenever it changes)."""
        completed = self.previous.votes() if self.previous is not None else None
        return VoterState(self.set_id, self.round, tuple(self._own.values()), completed)

    def completed(self) -> bool:
        """Whether the current round is completable: the voter is ready for the next one."""
        return self.round > 0 and self.current.completable(self.ancestry)

    def vote_rounds(self) -> range:
        """The rounds whose votes this voter uses: the previous, the current and ``FUTURE_ROUNDS`` ahead."""
        return range(max(1, self.round - 1), self.round + FUTURE_ROUNDS + 1)

    def neighbor_packet(self) -> NeighborPacket:
        return NeighborPacket(self.set_id, self.round, self.finalized[1])

    def answer_catch_up(self, request: CatchUpRequest) -> CatchUpResponse | None:
        """The votes of a round this voter saw completable, at least the asker's round (it remembers the
        current round and the one before); failing that, if it is in the asker's round, the votes it has
        of it (the asker may have lost some). None otherwise."""
        if request.set_id != self.set_id:
            return None
        if self.round >= request.round and self.completed():
            return CatchUpResponse(self.set_id, self.current.votes())
        if self.previous is not None and self.previous.round >= request.round:
            return CatchUpResponse(self.set_id, self.previous.votes())
        if self.round == request.round:
            return CatchUpResponse(self.set_id, self.current.votes())
        return None

    def missing_blocks(self) -> list[bytes]:
        """Blocks that votes of the rounds this voter follows, or of the last catch-up answer it could not
        take, name and the node has not imported: fetch them (a block off every peer's best chain is never
        synced, and its votes wait until it is imported)."""
        waiting = [vote.vote.target_hash for vote in self._pending.values()]
        return [block for block in dict.fromkeys(waiting + list(self._catch_up_blocks)) if not self._known(block)]

    # --- driving ------------------------------------------------------------------------------------

    def tick(self) -> list[Output]:
        """The timer: begin voting (first call), re-send own votes if the round did not move since the last
        tick, begin the next round if this one is completable and there is a newer block or a peer is
        already further, and, if the round is stuck, ask a peer for its votes (one ahead, else one in the
        same round)."""
        def step() -> list[Output]:
            out: list[Output] = []
            if self.round == 0:
                self._begin(1, None)
            elif self.round == self._round_at_tick:
                out += self._own_votes()
            self._admit_pending()
            out += self._progress()
            ahead = self._peer_ahead(1)
            if self.completed() and (self._newer_block() or ahead is not None):
                self._begin(self.round + 1, self.current)
                out += self._progress()
            stalled = self.round == self._round_at_tick
            self._round_at_tick = self.round
            self._asking = False  # an answer not back within a tick is not coming
            if stalled and not self.completed():
                # the peer asked longest ago among those in our round or ahead, not one ahead first: a neighbor
                # packet is only a claim, and a peer claiming a far round and answering nothing was asked at
                # every stall, shutting out the peers of our round, whose votes were the way out
                peer = self._peer_ahead(0)
                if peer is not None:
                    out.append(self._ask(peer))
            elif ahead is not None and self._behind_at_tick:
                # a peer ahead at two ticks running: this voter follows it a round per tick and never closes
                # the gap, which its (tick-old) neighbor packets understate by a round, below CATCH_UP_GAP
                out.append(self._ask(ahead))
            self._behind_at_tick = ahead is not None
            return out
        return self._run(step)

    def on_vote(self, vote: SignedVote) -> list[Output]:
        """A vote from the network. Raises :class:`InvalidVote` for one to penalise its sender for; votes of
        another set or of rounds outside ``vote_rounds()`` are dropped."""
        checked = check_signed_vote(vote, set_id=self.set_id, authorities=self.authorities,
                                    rounds=self.vote_rounds())
        if checked.outcome is Outcome.REJECT:
            raise InvalidVote(checked.reason)
        if checked.outcome is Outcome.IGNORE:
            return []

        def step() -> list[Output]:
            self._admit(vote)
            return self._progress()
        return self._run(step)

    def on_block_imported(self) -> list[Output]:
        """A block was imported: votes for it may count now, and a completed round may go on."""
        def step() -> list[Output]:
            self._admit_pending()
            return self._progress()
        return self._run(step)

    def on_finalized_elsewhere(self, block: Block) -> list[Output]:
        """The node finalized ``block`` from a justification it imported (sync or a commit message)."""
        if block[1] > self.finalized[1]:
            self.finalized = block
        return self._run(self._progress)

    def on_neighbor(self, peer: Peer, packet: NeighborPacket) -> list[Output]:
        """A peer's neighbor packet: a catch-up request for it if it is far enough ahead."""
        if packet.set_id != self.set_id:
            return []
        if peer not in self._neighbors and len(self._neighbors) >= MAX_NEIGHBORS:
            self._neighbors.popitem(last=False)
        self._neighbors[peer] = packet.round
        if not self._asking and packet.round >= self.round + CATCH_UP_GAP:
            return [self._ask(peer)]
        return []

    @property
    def neighbors(self) -> Mapping[Peer, int]:
        """Each connected peer's round, as its last neighbor packet gave it."""
        return MappingProxyType(self._neighbors)

    def forget_peer(self, peer: Peer) -> None:
        """The peer disconnected."""
        self._neighbors.pop(peer, None)

    def on_catch_up(self, response: CatchUpResponse) -> list[Output]:
        """A peer's answer to a catch-up request. Raises :class:`InvalidCatchUp` for one to penalise the peer
        for. An answer for the current round is taken as a batch of votes; one for a later round must prove
        that round completable, and the voter then jumps to the round after it. One of another set, of a
        round this voter is past, or about blocks it has not imported yet changes nothing (the next stalled
        tick asks again; the blocks are in ``missing_blocks()`` meanwhile)."""
        self._asking = False
        votes = response.votes
        if response.set_id != self.set_id or votes.round < self.round:
            return []
        if votes.round == self.round:
            self._verify_votes(votes)

            def admit() -> list[Output]:
                for vote in votes.prevotes + votes.precommits:
                    self._admit(vote)
                return self._progress()
            return self._run(admit)
        threshold = self.current.threshold
        for stage, signed in ((Stage.PREVOTE, votes.prevotes), (Stage.PRECOMMIT, votes.precommits)):
            if len(signed) < threshold:  # (counted before any signature is checked)
                raise InvalidCatchUp(f"{len(signed)} {stage.name.lower()}s, {threshold} needed")
        self._verify_votes(votes)
        self._catch_up_blocks = tuple(dict.fromkeys(
            v.vote.target_hash for v in votes.prevotes + votes.precommits if not self._known(v.vote.target_hash)))
        if self._catch_up_blocks:
            return []  # (the node fetches them: missing_blocks)
        completed = RoundState(votes.round, self.set_id, self.authorities)
        for vote in votes.prevotes + votes.precommits:
            completed.add(vote)
        if not completed.completable(self.ancestry):
            return []  # (our tree disagrees with the sender's, e.g. a fork pruned here: not provably its fault)

        def jump() -> list[Output]:
            self._begin(votes.round + 1, completed)
            return self._progress()
        return self._run(jump)

    # --- internals ----------------------------------------------------------------------------------

    def _run(self, step: Callable[[], list[Output]]) -> list[Output]:
        """Run ``step``; if it changed what must survive a crash, put :class:`Persist` before its outputs."""
        out = step()
        if self._changed:
            self._changed = False
            out.insert(0, Persist(self.state()))
        return out

    def _restore(self, state: VoterState) -> None:
        self.round = self._round_at_tick = state.round
        self.current = RoundState(state.round, self.set_id, self.authorities)
        if state.completed is not None:
            self.previous = RoundState(state.completed.round, self.set_id, self.authorities)
            for vote in state.completed.prevotes + state.completed.precommits:
                self._admit(vote)
        self._own = {vote.vote.stage: vote for vote in state.votes}
        for vote in state.votes:
            self._admit(vote)

    def _begin(self, number: int, completed: RoundState | None) -> None:
        """Enter round ``number``; ``completed`` is round ``number - 1``, completable (None for round 1)."""
        self.previous = completed
        self.round = number
        self.current = RoundState(number, self.set_id, self.authorities)
        self._own = {}
        self._finalized_at_start = self.finalized[1]
        self._changed = True
        self._pending = {key: vote for key, vote in self._pending.items() if key[0] >= number - 1}
        self._catch_up_blocks = ()  # an answer for an earlier position: a later stalled tick asks anew
        arrived = [vote for key, vote in self._future.items() if key[0] <= number]
        self._future = {key: vote for key, vote in self._future.items() if key[0] > number}
        for vote in arrived:
            self._admit(vote)

    def _admit(self, vote: SignedVote) -> None:
        """File a verified vote: into its round, or aside until its round or its block comes."""
        key = (vote.round, vote.vote.stage, vote.voter)
        if vote.round > self.round:
            self._future.setdefault(key, vote)
            return
        state = self.current if vote.round == self.round else self.previous
        if state is None or state.round != vote.round:
            return  # a round this voter has left behind
        if self._known(vote.vote.target_hash):
            state.add(vote)
        else:
            self._pending.setdefault(key, vote)

    def _admit_pending(self) -> None:
        ready = [key for key, vote in self._pending.items() if self._known(vote.vote.target_hash)]
        for key in ready:
            self._admit(self._pending.pop(key))

    def _known(self, block_hash: bytes) -> bool:
        return next(iter(self.ancestry(block_hash)), None) is not None

    def _progress(self) -> list[Output]:
        """Cast the votes that are due, finalize what the rounds followed finalize, and move on from a
        completable round that made progress while there is something newer to vote on."""
        out: list[Output] = []
        while self.round > 0:
            out += self._vote()
            out += self._finalize_from(self.previous) + self._finalize_from(self.current)
            if self.finalized[1] == self._finalized_at_start or not self.current.completable(self.ancestry):
                break
            if not self._newer_block():
                break
            self._begin(self.round + 1, self.current)
        return out

    def _newer_block(self) -> bool:
        """Whether the round after the current one would have a block above the finalized one to vote on."""
        base = self._base(self.current)
        return base is not None and self.best_descendant(base[0])[1] > self.finalized[1]

    def _vote(self) -> list[Output]:
        if self.key is None:
            return []
        base = self._base(self.previous)
        if base is None:
            return []  # the previous round's votes name blocks not imported yet
        out: list[Output] = []
        if Stage.PREVOTE not in self._own:
            out += self._cast(Stage.PREVOTE, self.best_descendant(base[0]))
        if Stage.PRECOMMIT not in self._own:
            prevote_ghost = self.current.prevote_ghost(self.ancestry)
            if prevote_ghost is not None and self._contains(prevote_ghost, base):
                out += self._cast(Stage.PRECOMMIT, prevote_ghost)
        return out

    def _base(self, completed: RoundState | None) -> Block | None:
        """What the round after ``completed`` must build on: its estimate, or the last finalized block if
        that is as high (None while the estimate cannot be computed)."""
        if completed is None:
            return self.finalized
        highest = max((v.vote.target_number for v in completed.prevotes.values()), default=0)
        if self.finalized[1] >= highest:
            return self.finalized  # the estimate is no higher than any prevote, so no higher than this
        estimate = completed.estimate(self.ancestry)
        if estimate is None:
            return None
        return self.finalized if self.finalized[1] >= estimate[1] else estimate

    def _cast(self, stage: Stage, target: Block) -> list[Output]:
        assert self.key is not None and stage not in self._own
        vote = SignedVote.sign(self.round, self.set_id, Vote(stage, target[0], target[1]), *self.key)
        self._own[stage] = vote
        self._changed = True
        self._admit(vote)
        return [Broadcast(vote)]

    def _own_votes(self) -> list[Output]:
        """This voter's votes of the previous and current round, to send again."""
        out: list[Output] = []
        if self.key is not None and self.previous is not None:
            for stage in Stage:
                vote = self.previous.vote_of(self.key[0], stage)
                if vote is not None:
                    out.append(Broadcast(vote))
        return out + [Broadcast(vote) for vote in self._own.values()]

    def _contains(self, block: Block, ancestor: Block) -> bool:
        for candidate in self.ancestry(block[0]):
            if candidate[1] < ancestor[1]:
                return False
            if candidate == ancestor:
                return True
        return False

    def _finalize_from(self, state: RoundState | None) -> list[Output]:
        target = state.finalized(self.ancestry) if state is not None else None
        if state is None or target is None or target[1] <= self.finalized[1]:
            return []
        self.finalized = target
        return [Finalized(target, state.justification(target, self.ancestry, self.header))]

    def _peer_ahead(self, gap: int) -> Peer | None:
        """The peer at least ``gap`` rounds ahead that was asked longest ago."""
        return next((peer for peer, round_ in self._neighbors.items() if round_ >= self.round + gap), None)

    def _ask(self, peer: Peer) -> RequestCatchUp:
        self._asking = True
        self._neighbors.move_to_end(peer)
        return RequestCatchUp(peer, CatchUpRequest(self.set_id, self.round))

    def _verify_votes(self, votes: RoundVotes) -> None:
        """Every vote of a catch-up answer: its stage, round and set, one per voter, signed by an authority."""
        for stage, signed in ((Stage.PREVOTE, votes.prevotes), (Stage.PRECOMMIT, votes.precommits)):
            if len({v.voter for v in signed}) != len(signed):
                raise InvalidCatchUp(f"two {stage.name.lower()}s by one voter")
            for vote in signed:
                if vote.vote.stage is not stage or vote.round != votes.round or vote.set_id != self.set_id:
                    raise InvalidCatchUp(f"a vote of round {vote.round}/set {vote.set_id} among the "
                                         f"{stage.name.lower()}s of round {votes.round}/set {self.set_id}")
                try:
                    vote.verify(self.authorities)
                except InvalidVote as exc:
                    raise InvalidCatchUp(str(exc)) from None
