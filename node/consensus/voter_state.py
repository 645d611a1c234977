"""What a finality voter must remember across a crash, and its byte layout on disk (version 1).

A voter restarted with nothing would begin again at round 1: far behind the others, and free to sign a
vote different from one it already sent in a round it reaches again (an equivocation). So the voter hands
its :class:`VoterState` to the node whenever it changes, and the node writes it (synced) before it sends
any vote that came with it; a restarted voter resumes from the last one written (``Voter(resume=...)``):
in the same round, with its own votes of that round, which it sends again instead of signing new ones,
and with the votes that completed the round before, from which it derives that round's estimate (where
its next prevote must lead) and which it can serve to peers catching up.

Layout::

    version (u8) = 1 ++ set id (u64) ++ round (u64) ++ Vec<SignedVote> own votes in that round
        ++ Option<RoundVotes> the votes of round - 1 that made it completable (None in round 1)
"""

from __future__ import annotations

from dataclasses import dataclass

from node.consensus.finality import SIGNED_VOTE, RoundVotes, SignedVote, Stage
from runtime.scale import U8, U64, ScaleDecodeError, Vec

__all__ = ["VoterState", "InvalidVoterState", "MAX_STATE_BYTES"]

VERSION = 1
MAX_STATE_BYTES = 1 << 20
"""A stored state longer than this is refused unread: enough for the votes of ~3,000 voters."""

_OWN_VOTES = Vec(SIGNED_VOTE)


class InvalidVoterState(ValueError):
    """Stored bytes that are not a voter state this version wrote: damaged, or written by another
    version. Resuming without it could equivocate, so the node must not vote on guesswork."""


@dataclass(frozen=True)
class VoterState:
    """A voter's position in its authority set, as persisted."""

    set_id: int
    """The authority set (session index) the state belongs to; a state of another set is stale."""
    round: int
    """The current round (0: voting has not begun)."""
    votes: tuple[SignedVote, ...]
    """This voter's own votes in ``round``: at most one per stage."""
    completed: RoundVotes | None
    """The votes that made round ``round - 1`` completable (including this voter's own, if any)."""

    def encode(self) -> bytes:
        completed = b"\x00" if self.completed is None else b"\x01" + self.completed.encode()
        return (U8.encode(VERSION) + U64.encode(self.set_id) + U64.encode(self.round) + _OWN_VOTES.encode(self.votes)
                + completed)

    @staticmethod
    def decode(data: bytes) -> "VoterState":
        """Decode and check a stored state; raises :class:`InvalidVoterState`."""
        if len(data) > MAX_STATE_BYTES:
            raise InvalidVoterState(f"a {len(data)}-byte voter state exceeds {MAX_STATE_BYTES} bytes")
        try:
            state, offset = _decode(data)
        except ScaleDecodeError as exc:
            raise InvalidVoterState(f"malformed voter state: {exc}") from None
        if offset != len(data):
            raise InvalidVoterState("trailing bytes after the voter state")
        state._check()
        return state

    def _check(self) -> None:
        _check_votes(self.votes, self.set_id, self.round, stage=None)
        if len({v.vote.stage for v in self.votes}) != len(self.votes):
            raise InvalidVoterState("two own votes of one stage")
        if self.completed is None:
            return
        if self.completed.round != self.round - 1:
            raise InvalidVoterState(f"completed round {self.completed.round} is not the one before {self.round}")
        _check_votes(self.completed.prevotes, self.set_id, self.completed.round, stage=Stage.PREVOTE)
        _check_votes(self.completed.precommits, self.set_id, self.completed.round, stage=Stage.PRECOMMIT)


def _decode(data: bytes) -> tuple[VoterState, int]:
    version, offset = U8.decode_from(data, 0)
    if version != VERSION:
        raise ScaleDecodeError(f"voter state version {version}, this node reads {VERSION}")
    set_id, offset = U64.decode_from(data, offset)
    round_, offset = U64.decode_from(data, offset)
    votes, offset = _OWN_VOTES.decode_from(data, offset)
    tag, offset = U8.decode_from(data, offset)
    if tag > 1:
        raise ScaleDecodeError(f"invalid Option tag {tag}")
    completed = None
    if tag:
        completed, offset = RoundVotes.decode_from(data, offset, limit=len(data) // SignedVote.SIZE)
    return VoterState(set_id, round_, tuple(votes), completed), offset


def _check_votes(votes: tuple[SignedVote, ...], set_id: int, round_: int, stage: Stage | None) -> None:
    for vote in votes:
        if vote.set_id != set_id or vote.round != round_:
            raise InvalidVoterState(f"a vote of round {vote.round}/set {vote.set_id} stored as {round_}/{set_id}")
        if stage is not None and vote.vote.stage is not stage:
            raise InvalidVoterState(f"a {vote.vote.stage.name.lower()} stored among {stage.name.lower()}s")
