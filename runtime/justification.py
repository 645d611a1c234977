"""GRANDPA justifications: what proves a block final, and how anyone checks the proof.

A justification is the precommits of one finality round, by more than 2/3 of an authority set, for a target
block or descendants of it, with the headers that link each precommit's block back to the target. The node
makes and imports them (``node.consensus``); a light client checks them to follow finality without trusting
the node that serves it (``sdk.chain.finality``). Both tiers may import this module, so it lives in the
pure tier and does nothing but decode and verify.

Layouts (SCALE): a signed vote is round (u64) ++ set id (u64) ++ stage (u8: 0 prevote, 1 precommit) ++
target hash (32) ++ target number (u32) ++ voter (ed25519 public, 32) ++ signature (64), over the payload
``DOMAIN_FINALITY_VOTE ++ stage ++ target hash ++ target number ++ round ++ set id``; a justification is
round (u64) ++ set id (u64) ++ target hash ++ target number (u32) ++ Vec<SignedVote> ++ Vec<Header>.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import ed25519_zebra

from runtime.hashing import DOMAIN_FINALITY_VOTE
from runtime.primitives import Header
from runtime.scale import H256, U8, U32, U64, FixedBytes, ScaleDecodeError, Tuple, Vec

__all__ = [
    "AuthoritySet",
    "Stage",
    "Vote",
    "SignedVote",
    "Justification",
    "InvalidVote",
    "InvalidJustification",
    "SIGNED_VOTE",
    "supermajority",
    "verify_justification",
]


@dataclass(frozen=True)
class AuthoritySet:
    """Who authors and votes: the set id (the session index) and its ed25519 keys, in slot order."""

    set_id: int
    authorities: tuple[bytes, ...]


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
    SIZE = 8 + 8 + 1 + 32 + 4 + 32 + 64
    """Every signed vote encodes to exactly this many bytes."""

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
                + Vec(SIGNED_VOTE).encode(self.precommits) + Vec(Header.SCALE).encode(self.ancestry))  # type: ignore[attr-defined]

    @staticmethod
    def decode(data: bytes) -> "Justification":
        try:
            (rnd, set_id, target, number), offset = Tuple(U64, U64, H256, U32).decode_from(data, 0)
            precommits, offset = Vec(SIGNED_VOTE).decode_from(data, offset)
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


SIGNED_VOTE = _SignedVoteCodec()
"""The codec of one signed vote, for containers of votes (``Vec(SIGNED_VOTE)``)."""


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
