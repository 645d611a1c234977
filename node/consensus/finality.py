"""GRANDPA-style finality: rounds of signed prevotes and precommits among the authorities.

A block is final once more than 2/3 of the authorities precommitted to it or to a descendant in one round.
Terms, for one voter's view of round ``r`` (``n`` authorities, threshold ``t = 2n/3 + 1``; a voter that
signed two different votes of one stage *equivocates* and counts as voting for every block):

- ``g(V_r)``, the prevote **GHOST**: the highest block that ``t`` prevotes are for (it or a descendant);
- a block is *possibly final* in ``r`` while its precommits, plus the equivocators, plus the voters that
  have not precommitted yet, reach ``t``;
- ``E_r``, the **estimate**: the highest block on ``g(V_r)``'s chain that is still possibly final. More
  votes can only lower it (once the round is completable), and every block that is or can become final in
  ``r`` is ``E_r`` or an ancestor of it;
- round ``r`` is **completable** once ``t`` voters precommitted and either ``E_r`` is below ``g(V_r)`` or no
  child of ``g(V_r)`` is possibly final: no further vote can change what ``r`` may finalize above ``E_r``.

The rules (from GRANDPA, Stewart and Kokoris-Kogia 2020): a voter enters round ``r`` only once round
``r - 1`` is completable in its view, prevotes for the best block containing ``E_{r-1}``, precommits
``g(V_r)`` once that contains ``E_{r-1}``, and finalizes ``g(C_r)`` (the precommit GHOST) of any round it
still follows. Safety with fewer than n/3 faulty authorities: if ``B`` is final in round ``r``, every honest
voter's ``E_r`` contains ``B``, so every honest vote of a later round is for ``B`` or a descendant and no
supermajority can form on a conflicting chain. It holds whatever the timing, as long as an honest voter
never signs two different votes of one stage in one round (its votes are persisted before they are sent).
Liveness needs more than 2/3 of the authorities up, in the same round and eventually hearing each other.

Voters are the ``ValidatorSet`` authorities in the state of the last finalized block, and ``set_id`` is
that state's session index. A round only targets blocks whose parent is in the same session, so a set
never finalizes past the block where the next set takes over, and a justification is checked against the
authorities in the state of its target's parent.

This module is pure: the node's finality service feeds it votes and the block tree's ancestry and
sends what it returns. Votes, justifications and their verification are in ``runtime.justification`` (the
SDK's light client checks justifications too); they are re-exported here for the node's modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from runtime.justification import (
    SIGNED_VOTE,
    InvalidJustification,
    InvalidVote,
    Justification,
    SignedVote,
    Stage,
    Vote,
    supermajority,
    verify_justification,
)
from runtime.primitives import Header
from runtime.scale import U64, ScaleDecodeError, Vec, decode_compact

__all__ = [
    "Stage",
    "Vote",
    "SignedVote",
    "Justification",
    "RoundVotes",
    "InvalidVote",
    "InvalidJustification",
    "Equivocation",
    "RoundState",
    "Block",
    "Ancestry",
    "SIGNED_VOTE",
    "supermajority",
    "support",
    "ghost",
    "verify_justification",
]

Block = tuple[bytes, int]
"""A block as votes name it: ``(hash, number)``."""

Ancestry = Callable[[bytes], Iterable[Block]]
"""``block hash -> (hash, number)`` of the block and its ancestors, newest first, down to finality; nothing
for a block the node does not have."""


@dataclass(frozen=True)
class Equivocation:
    """One voter signed two different votes in the same round and stage."""

    first: SignedVote
    second: SignedVote


_VOTES = Vec(SIGNED_VOTE)


@dataclass(frozen=True)
class RoundVotes:
    """The votes a node holds of one round: what made it completable, as persisted and as sent to a peer
    catching up. Layout: round (u64) ++ Vec<SignedVote> prevotes ++ Vec<SignedVote> precommits."""

    round: int
    prevotes: tuple[SignedVote, ...]
    precommits: tuple[SignedVote, ...]

    def encode(self) -> bytes:
        return U64.encode(self.round) + _VOTES.encode(self.prevotes) + _VOTES.encode(self.precommits)

    @staticmethod
    def max_size(authorities: int) -> int:
        """The most bytes the votes of a set of ``authorities`` take: one vote per voter and stage."""
        return 8 + 2 * (5 + authorities * SignedVote.SIZE)

    @staticmethod
    def decode_from(data: bytes, offset: int, *, limit: int) -> tuple["RoundVotes", int]:
        """Decode at ``offset``; a stage with more than ``limit`` votes is refused before they are read."""
        round_, offset = U64.decode_from(data, offset)
        prevotes, offset = _decode_votes(data, offset, limit)
        precommits, offset = _decode_votes(data, offset, limit)
        return RoundVotes(round_, prevotes, precommits), offset


def _decode_votes(data: bytes, offset: int, limit: int) -> tuple[tuple[SignedVote, ...], int]:
    count, _ = decode_compact(data, offset)
    if count > limit:
        raise ScaleDecodeError(f"{count} votes of one stage, at most {limit} (one per voter)")
    votes, offset = _VOTES.decode_from(data, offset)
    return tuple(votes), offset


def support(votes: Iterable[Vote], ancestry: Ancestry) -> dict[Block, int]:
    """How many of ``votes`` are for each block or one of its descendants (blocks down to finality)."""
    counts: dict[Block, int] = {}
    for vote in votes:
        for block in ancestry(vote.target_hash):
            counts[block] = counts.get(block, 0) + 1
    return counts


def ghost(votes: Iterable[Vote], ancestry: Ancestry, threshold: int, *, equivocators: int = 0) -> Block | None:
    """The highest block that at least ``threshold`` votes are for (it or a descendant of it), each of the
    ``equivocators`` counting for every block."""
    candidates = [block for block, count in support(votes, ancestry).items() if count + equivocators >= threshold]
    return max(candidates, key=lambda block: block[1]) if candidates else None


def _parents(votes: Iterable[SignedVote], ancestry: Ancestry) -> dict[Block, Block]:
    """Each block on the votes' chains (down to finality), mapped to its parent."""
    parents: dict[Block, Block] = {}
    for vote in votes:
        child: Block | None = None
        for block in ancestry(vote.vote.target_hash):
            if child is not None:
                parents[child] = block
            child = block
    return parents


@dataclass
class RoundState:
    """The votes of one round, and what they imply (the terms of the module docstring). Fed verified votes
    whose targets the node has (ancestry knows them); no I/O."""

    round: int
    set_id: int
    authorities: tuple[bytes, ...]
    prevotes: dict[bytes, SignedVote] = field(default_factory=dict)
    precommits: dict[bytes, SignedVote] = field(default_factory=dict)
    equivocations: list[Equivocation] = field(default_factory=list)

    @property
    def threshold(self) -> int:
        return supermajority(len(self.authorities))

    def add(self, vote: SignedVote) -> bool:
        """Record a verified vote of this round; returns whether it was new. An equivocation is kept in
        ``equivocations`` (one per voter and stage, so a voter signing many cannot grow it) and does not
        replace the first vote."""
        if vote.round != self.round or vote.set_id != self.set_id:
            raise InvalidVote(f"vote for round {vote.round}/set {vote.set_id}, not {self.round}/{self.set_id}")
        votes = self._votes(vote.vote.stage)
        first = votes.get(vote.voter)
        if first is None:
            votes[vote.voter] = vote
            return True
        if first.vote != vote.vote and all(e.first != first for e in self.equivocations):
            self.equivocations.append(Equivocation(first, vote))
        return False

    def vote_of(self, voter: bytes, stage: Stage) -> SignedVote | None:
        return self._votes(stage).get(voter)

    def votes(self) -> RoundVotes:
        """The first vote of every voter, by stage."""
        return RoundVotes(self.round, tuple(self.prevotes.values()), tuple(self.precommits.values()))

    def prevote_ghost(self, ancestry: Ancestry) -> Block | None:
        """``g(V)``: None until prevotes of a supermajority are in."""
        if len(self.prevotes) < self.threshold:
            return None
        equivocators = self._equivocators(Stage.PREVOTE)
        return ghost(self._honest(Stage.PREVOTE, equivocators), ancestry, self.threshold,
                     equivocators=len(equivocators))

    def estimate(self, ancestry: Ancestry) -> Block | None:
        """``E``: the highest block on ``g(V)``'s chain that may still be final in this round."""
        prevote_ghost = self.prevote_ghost(ancestry)
        if prevote_ghost is None:
            return None
        return self._estimate(prevote_ghost, *self._precommit_tally(ancestry), ancestry)

    def completable(self, ancestry: Ancestry) -> bool:
        """Whether no further vote can change what this round may finalize above its estimate."""
        if len(self.precommits) < self.threshold:
            return False
        prevote_ghost = self.prevote_ghost(ancestry)
        if prevote_ghost is None:
            return False
        precommits, slack = self._precommit_tally(ancestry)
        estimate = self._estimate(prevote_ghost, precommits, slack, ancestry)
        if estimate is None:
            return False
        if estimate != prevote_ghost:
            return True
        children = [block for block, parent in _parents(self.precommits.values(), ancestry).items()
                    if parent == prevote_ghost]
        return max((precommits.get(child, 0) for child in children), default=0) + slack < self.threshold

    def finalized(self, ancestry: Ancestry) -> Block | None:
        """``g(C)`` over the precommits as signed (equivocators' first votes only): what a justification
        made of this round's precommits proves final. None until precommits of a supermajority are in."""
        if len(self.precommits) < self.threshold:
            return None
        return ghost((v.vote for v in self.precommits.values()), ancestry, self.threshold)

    def _votes(self, stage: Stage) -> dict[bytes, SignedVote]:
        return self.prevotes if stage is Stage.PREVOTE else self.precommits

    def _equivocators(self, stage: Stage) -> set[bytes]:
        return {e.first.voter for e in self.equivocations if e.first.vote.stage is stage}

    def _honest(self, stage: Stage, equivocators: set[bytes]) -> list[Vote]:
        return [v.vote for voter, v in self._votes(stage).items() if voter not in equivocators]

    def _estimate(self, prevote_ghost: Block, precommits: dict[Block, int], slack: int,
                  ancestry: Ancestry) -> Block | None:
        for block in ancestry(prevote_ghost[0]):
            if precommits.get(block, 0) + slack >= self.threshold:
                return block
        return None

    def _precommit_tally(self, ancestry: Ancestry) -> tuple[dict[Block, int], int]:
        """Precommit support per block (equivocators left out), and the *slack*: the votes that may still
        count for any block (equivocators, and the voters that have not precommitted)."""
        equivocators = self._equivocators(Stage.PRECOMMIT)
        slack = len(equivocators) + len(self.authorities) - len(self.precommits)
        return support(self._honest(Stage.PRECOMMIT, equivocators), ancestry), slack

    def justification(self, target: Block, ancestry: Ancestry,
                      header: Callable[[bytes], Header]) -> Justification:
        """The precommits for ``target`` or its descendants, with the headers that link them to it."""
        target_hash, target_number = target
        chosen, needed = [], {}
        for precommit in self.precommits.values():
            path = []
            for block_hash, number in ancestry(precommit.vote.target_hash):
                if number <= target_number:
                    if block_hash == target_hash:
                        chosen.append(precommit)
                        for h in path:
                            needed[h] = header(h)
                    break
                path.append(block_hash)
        ancestry_headers = tuple(sorted(needed.values(), key=lambda h: h.number))
        return Justification(self.round, self.set_id, target_hash, target_number, tuple(chosen), ancestry_headers)
