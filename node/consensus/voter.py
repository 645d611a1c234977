"""One authority's finality voter: the round logic of ``node.consensus.finality``, as a state machine.

The node's finality service feeds it votes from the network, asks it to start rounds and to give up on
stalled stages, and broadcasts or applies what it returns (:class:`Broadcast`, :class:`Finalized`). It
does no I/O and reads the block tree only through the callables it is given, so the whole protocol can be
exercised in tests with simulated networks (delays, losses, partitions, forks).

Rules, per round ``r``:

- start: prevote for the best block that descends from the lock (or, without a lock, from the last
  finalized block);
- once prevotes of a supermajority are in: let ``G`` be their GHOST. A lock from an earlier round that
  ``G`` does not contain is released (a later supermajority went elsewhere, so the locked block was not
  final). If ``G`` contains the lock (or there is none), precommit for ``G`` and lock on it; otherwise
  precommit for the lock;
- once precommits of a supermajority are in: their GHOST, if above the last finalized block, is final.

Late precommits of the previous round are still counted (they can finalize it). Votes for a later round
are kept (bounded); when authorities other than this one, more than a third of the set, are seen voting
in a later round, the voter jumps to it: at least one honest voter is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from node.consensus.finality import (
    Ancestry,
    InvalidVote,
    Justification,
    RoundState,
    SignedVote,
    Stage,
    Vote,
    supermajority,
)
from runtime.primitives import Header

__all__ = ["Voter", "Broadcast", "Finalized", "MAX_FUTURE_ROUNDS"]

MAX_FUTURE_ROUNDS = 16
"""Votes more rounds ahead than this are dropped (a peer cannot make us buffer without bound)."""

Block = tuple[bytes, int]


@dataclass(frozen=True)
class Broadcast:
    vote: SignedVote


@dataclass(frozen=True)
class Finalized:
    block: Block
    justification: Justification


class Voter:
    def __init__(self, *, set_id: int, authorities: tuple[bytes, ...], finalized: Block, ancestry: Ancestry,
                 best_descendant: Callable[[bytes], Block], header: Callable[[bytes], Header],
                 key: tuple[bytes, bytes] | None = None) -> None:
        """``key`` is ``(public, secret)`` of this node's session key, or ``None`` for an observer."""
        self.set_id = set_id
        self.authorities = authorities
        self.finalized = finalized
        self.ancestry = ancestry
        self.best_descendant = best_descendant
        self.header = header
        self.key = key if key is not None and key[0] in authorities else None
        self.lock: tuple[Block, int] | None = None
        self.round = 0
        self.current: RoundState | None = None
        self.previous: RoundState | None = None
        self._future: dict[int, dict[bytes, list[SignedVote]]] = {}
        self._precommitted = False

    def use_key(self, key: tuple[bytes, bytes]) -> None:
        """Vote with ``key`` from the next round on: a session key that reached the node's keystore while
        its set was already current. A key outside the set is ignored, as in the constructor."""
        if key[0] in self.authorities:
            self.key = key

    # --- driving ------------------------------------------------------------------------------

    def start_round(self, number: int | None = None) -> list[Broadcast | Finalized]:
        """Begin round ``number`` (default: the next one) and prevote in it."""
        self.previous = self.current
        self.round = number if number is not None else self.round + 1
        self.current = RoundState(self.round, self.set_id, self.authorities)
        self._precommitted = False
        out: list[Broadcast | Finalized] = []
        if self.key is not None:
            base = self.lock[0][0] if self.lock is not None else self.finalized[0]
            out += self._cast(Stage.PREVOTE, self.best_descendant(base))
        for votes in self._future.pop(self.round, {}).values():
            for vote in votes:
                self.current.add(vote)
        self._future = {r: v for r, v in self._future.items() if r > self.round}
        return out + self._progress()

    def on_vote(self, vote: SignedVote) -> list[Broadcast | Finalized]:
        """A vote from the network. Raises :class:`InvalidVote` for a vote to penalise its sender for."""
        if vote.set_id != self.set_id:
            raise InvalidVote(f"vote for set {vote.set_id}, this voter is in set {self.set_id}")
        vote.verify(self.authorities)
        if self.current is not None and vote.round == self.round:
            self.current.add(vote)
            return self._progress()
        if self.previous is not None and vote.round == self.previous.round:
            if vote.vote.stage is Stage.PRECOMMIT and self.previous.add(vote):
                return self._finalize_from(self.previous)
            return []
        if self.round < vote.round <= self.round + MAX_FUTURE_ROUNDS:
            self._future.setdefault(vote.round, {}).setdefault(vote.voter, []).append(vote)
            ahead = {voter for voter in self._future[vote.round] if self.key is None or voter != self.key[0]}
            if len(ahead) > len(self.authorities) - supermajority(len(self.authorities)):
                return self.start_round(vote.round)
        return []

    def completed(self) -> bool:
        """Whether the current round can end: it finalized something or cannot progress further."""
        state = self.current
        return state is not None and len(state.precommits) >= state.threshold

    def on_finalized_elsewhere(self, block: Block) -> None:
        """The node finalized ``block`` from a justification it imported (sync or a commit message)."""
        if block[1] > self.finalized[1]:
            self.finalized = block
            if self.lock is not None and self.lock[0][1] <= block[1]:
                self.lock = None

    # --- internals ----------------------------------------------------------------------------

    def _cast(self, stage: Stage, target: Block) -> list[Broadcast | Finalized]:
        assert self.key is not None and self.current is not None
        vote = SignedVote.sign(self.round, self.set_id, Vote(stage, target[0], target[1]), *self.key)
        self.current.add(vote)
        return [Broadcast(vote)]

    def _progress(self) -> list[Broadcast | Finalized]:
        state = self.current
        assert state is not None
        out: list[Broadcast | Finalized] = []
        if not self._precommitted:
            prevote_ghost = state.prevote_ghost(self.ancestry)
            if prevote_ghost is not None:
                self._precommitted = True
                if self.key is not None:
                    out += self._cast(Stage.PRECOMMIT, self._precommit_target(prevote_ghost))
        return out + self._finalize_from(state)

    def _precommit_target(self, prevote_ghost: Block) -> Block:
        if self.lock is not None:
            locked, locked_round = self.lock
            if not self._contains(prevote_ghost, locked):
                if locked_round < self.round:
                    self.lock = None  # a later supermajority went elsewhere: the locked block was not final
                else:
                    return locked
        if prevote_ghost[1] > self.finalized[1]:
            self.lock = (prevote_ghost, self.round)
        return prevote_ghost

    def _contains(self, block: Block, ancestor: Block) -> bool:
        return any(b == ancestor for b in self._chain(block[0], ancestor[1]))

    def _chain(self, block_hash: bytes, down_to: int) -> Iterable[Block]:
        for block in self.ancestry(block_hash):
            if block[1] < down_to:
                return
            yield block

    def _finalize_from(self, state: RoundState) -> list[Broadcast | Finalized]:
        target = state.finalized(self.ancestry)
        if target is None or target[1] <= self.finalized[1]:
            return []
        self.finalized = target
        if self.lock is not None and self.lock[0][1] <= target[1]:
            self.lock = None
        return [Finalized(target, state.justification(target, self.ancestry, self.header))]
