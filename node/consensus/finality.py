"""GRANDPA-style finality: rounds of signed prevotes and precommits among the authorities.

A block is final once more than 2/3 of the authorities precommitted to it or to a descendant in one round.
Each round:

1. **prevote** for the best block (one that descends from the voter's *lock*, below);
2. once a supermajority (``> 2n/3``) of prevotes is in, compute the prevote **GHOST**: the highest block
   that more than 2/3 of the prevotes are for (it or a descendant); **precommit** for it and lock on it;
3. once a supermajority of precommits is in, their GHOST is **finalized**; the precommits that are for it
   or its descendants, with the headers linking them to it, form the **justification**.

Safety with fewer than n/3 faulty authorities comes from the lock (as in Tendermint, which is simpler to
argue than GRANDPA's round estimates): a voter that precommitted B only prevotes for descendants of B,
until it sees a later round's prevote supermajority for a chain without B — impossible if B was final,
since more than n/3 honest voters hold that lock. Liveness needs more than 2/3 of the authorities up and
connected. A voter that signs two different votes in one round and stage **equivocates**: the second vote
is ignored and the equivocation reported.

Voters are the ``ValidatorSet`` authorities in the state of the last finalized block, and ``set_id`` is
that state's session index. A round only targets blocks whose parent is in the same session, so a set
never finalizes past the block where the next set takes over, and a justification is checked against the
authorities in the state of its target's parent.

This module is pure: the node's finality service feeds it votes and the block tree's ancestry and
sends what it returns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import ed25519_zebra

from runtime.hashing import DOMAIN_FINALITY_VOTE
from runtime.primitives import Header
from runtime.scale import (
    H256,
    U8,
    U32,
    U64,
    FixedBytes,
    ScaleDecodeError,
    Tuple,
    Vec,
)

__all__ = [
    "Stage",
    "Vote",
    "SignedVote",
    "Justification",
    "InvalidVote",
    "InvalidJustification",
    "Equivocation",
    "RoundState",
    "supermajority",
    "ghost",
    "verify_justification",
]

Ancestry = Callable[[bytes], Iterable[tuple[bytes, int]]]
"""``block hash -> (hash, number)`` of the block and its ancestors, newest first, down to finality."""


def supermajority(n: int) -> int:
    """The smallest count that is more than 2/3 of ``n``."""
    return 2 * n // 3 + 1


class Stage(enum.IntEnum):
    PREVOTE = 0
    PRECOMMIT = 1


class InvalidVote(ValueError):
    """A vote that is malformed, for another set or round, by a non-authority, or badly signed."""


class InvalidJustification(ValueError):
    """A justification that does not prove finality of its target."""


@dataclass(frozen=True)
class Vote:
    stage: Stage
    target_hash: bytes
    target_number: int


@dataclass(frozen=True)
class SignedVote:
    round: int
    set_id: int
    vote: Vote
    voter: bytes
    signature: bytes

    CODEC = Tuple(U64, U64, U8, H256, U32, FixedBytes(32), FixedBytes(64))

    def encode(self) -> bytes:
        v = self.vote
        return self.CODEC.encode((self.round, self.set_id, v.stage, v.target_hash, v.target_number, self.voter,
                                  self.signature))

    @staticmethod
    def decode_from(data: bytes, offset: int) -> tuple["SignedVote", int]:
        (rnd, set_id, stage, target, number, voter, signature), offset = SignedVote.CODEC.decode_from(data, offset)
        if stage not in (0, 1):
            raise ScaleDecodeError(f"unknown vote stage {stage}")
        return SignedVote(rnd, set_id, Vote(Stage(stage), target, number), voter, signature), offset

    @staticmethod
    def decode(data: bytes) -> "SignedVote":
        vote, end = SignedVote.decode_from(data, 0)
        if end != len(data):
            raise ScaleDecodeError("trailing bytes after vote")
        return vote

    @staticmethod
    def payload(round_: int, set_id: int, vote: Vote) -> bytes:
        return DOMAIN_FINALITY_VOTE + Tuple(U8, H256, U32, U64, U64).encode(
            (vote.stage, vote.target_hash, vote.target_number, round_, set_id))

    @staticmethod
    def sign(round_: int, set_id: int, vote: Vote, public: bytes, secret: bytes) -> "SignedVote":
        signature = bytes(ed25519_zebra.ed_sign(secret, SignedVote.payload(round_, set_id, vote)))
        return SignedVote(round_, set_id, vote, public, signature)

    def verify(self, authorities: Sequence[bytes]) -> None:
        if self.voter not in authorities:
            raise InvalidVote(f"0x{self.voter.hex()[:16]}… is not an authority of set {self.set_id}")
        try:
            valid = ed25519_zebra.ed_verify(self.signature, self.payload(self.round, self.set_id, self.vote), self.voter)
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise InvalidVote("bad vote signature")


@dataclass(frozen=True)
class Equivocation:
    """One voter signed two different votes in the same round and stage."""

    first: SignedVote
    second: SignedVote


@dataclass(frozen=True)
class Justification:
    """Proof that ``target`` is final: a supermajority of precommits of one round for it or descendants,
    and the headers linking each precommit target back to ``target``."""

    round: int
    set_id: int
    target_hash: bytes
    target_number: int
    precommits: tuple[SignedVote, ...]
    ancestry: tuple[Header, ...] = ()

    def encode(self) -> bytes:
        return (Tuple(U64, U64, H256, U32).encode((self.round, self.set_id, self.target_hash, self.target_number))
                + Vec(_SIGNED_VOTE).encode(self.precommits) + Vec(Header.SCALE).encode(self.ancestry))  # type: ignore[attr-defined]

    @staticmethod
    def decode(data: bytes) -> "Justification":
        try:
            (rnd, set_id, target, number), offset = Tuple(U64, U64, H256, U32).decode_from(data, 0)
            precommits, offset = Vec(_SIGNED_VOTE).decode_from(data, offset)
            ancestry, offset = Vec(Header.SCALE).decode_from(data, offset)  # type: ignore[attr-defined]
        except (ScaleDecodeError, IndexError, ValueError) as exc:
            raise InvalidJustification(f"malformed justification: {exc}") from None
        if offset != len(data):
            raise InvalidJustification("trailing bytes after justification")
        return Justification(rnd, set_id, target, number, tuple(precommits), tuple(ancestry))


class _SignedVoteCodec:
    """Adapter so ``Vec`` can carry signed votes."""

    def encode(self, vote: SignedVote) -> bytes:
        return vote.encode()

    def decode_from(self, data: bytes, offset: int) -> tuple[SignedVote, int]:
        return SignedVote.decode_from(data, offset)


_SIGNED_VOTE = _SignedVoteCodec()


def ghost(votes: Iterable[Vote], ancestry: Ancestry, threshold: int) -> tuple[bytes, int] | None:
    """The highest block that at least ``threshold`` votes are for (it or a descendant of it)."""
    support: dict[tuple[bytes, int], int] = {}
    for vote in votes:
        for block in ancestry(vote.target_hash):
            support[block] = support.get(block, 0) + 1
    candidates = [block for block, count in support.items() if count >= threshold]
    return max(candidates, key=lambda block: block[1]) if candidates else None


def verify_justification(justification: Justification, authorities: Sequence[bytes], set_id: int) -> None:
    """Check that ``justification`` proves its target final for the given set. The ancestry headers
    must link every counted precommit to the target; unrelated precommits do not count."""
    if justification.set_id != set_id:
        raise InvalidJustification(f"justification for set {justification.set_id}, expected {set_id}")
    headers = {h.hash: h for h in justification.ancestry}
    voters: set[bytes] = set()
    for precommit in justification.precommits:
        if precommit.vote.stage is not Stage.PRECOMMIT or precommit.round != justification.round:
            raise InvalidJustification("a vote in the justification is not a precommit of its round")
        if precommit.set_id != set_id:
            raise InvalidJustification("a precommit of another set")
        if precommit.voter in voters:
            raise InvalidJustification("two precommits by one voter")
        try:
            precommit.verify(authorities)
        except InvalidVote as exc:
            raise InvalidJustification(str(exc)) from None
        if not _links(precommit.vote, justification.target_hash, justification.target_number, headers):
            raise InvalidJustification("a precommit is not for the target or a descendant shown in the ancestry")
        voters.add(precommit.voter)
    if len(voters) < supermajority(len(authorities)):
        raise InvalidJustification(f"{len(voters)} precommits, {supermajority(len(authorities))} needed")


def _links(vote: Vote, target_hash: bytes, target_number: int, headers: dict[bytes, Header]) -> bool:
    """Whether the headers lead from the vote's target down to ``target``."""
    block_hash, number = vote.target_hash, vote.target_number
    while number > target_number:
        header = headers.get(block_hash)
        if header is None or header.number != number:
            return False
        block_hash, number = header.parent_hash, number - 1
    return number == target_number and block_hash == target_hash


@dataclass
class RoundState:
    """The votes of one round, and what they imply. Fed verified votes; no I/O."""

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
        ``equivocations`` and does not replace the first vote."""
        if vote.round != self.round or vote.set_id != self.set_id:
            raise InvalidVote(f"vote for round {vote.round}/set {vote.set_id}, not {self.round}/{self.set_id}")
        votes = self.prevotes if vote.vote.stage is Stage.PREVOTE else self.precommits
        first = votes.get(vote.voter)
        if first is None:
            votes[vote.voter] = vote
            return True
        if first.vote != vote.vote:
            self.equivocations.append(Equivocation(first, vote))
        return False

    def prevote_ghost(self, ancestry: Ancestry) -> tuple[bytes, int] | None:
        if len(self.prevotes) < self.threshold:
            return None
        return ghost((v.vote for v in self.prevotes.values()), ancestry, self.threshold)

    def finalized(self, ancestry: Ancestry) -> tuple[bytes, int] | None:
        if len(self.precommits) < self.threshold:
            return None
        return ghost((v.vote for v in self.precommits.values()), ancestry, self.threshold)

    def justification(self, target: tuple[bytes, int], ancestry: Ancestry,
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
