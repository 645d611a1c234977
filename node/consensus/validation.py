"""Checks a node runs on finality gossip before it delivers or forwards a message (house rule 8).

Each check answers as the consensus specs' gossip validation does, cheapest checks first:

- ``ACCEPT``: well-formed, of the voter's set, signed by its authorities: deliver and forward;
- ``IGNORE``: of no use here, and not the sender's fault: another set, a round this voter no longer or not
  yet follows, a justification of a block already final or not yet imported. Drop, no penalty;
- ``REJECT``: malformed, too big, by a non-authority, badly signed: drop and score the sender down.

A vote is accepted whatever its target block: a node that has not imported the block yet keeps the vote
until it has (``Voter``). Ignoring it instead would lose it for good, since the network's seen-cache drops
the copies re-sent later.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from node.consensus.finality import (
    InvalidJustification,
    InvalidVote,
    Justification,
    SignedVote,
    verify_justification,
)
from runtime.scale import ScaleDecodeError

__all__ = ["Outcome", "Checked", "check_vote", "check_signed_vote", "check_commit", "MAX_COMMIT_BYTES"]

MAX_COMMIT_BYTES = 256 * 1024
"""The largest justification accepted from gossip: the precommits of a big set and the headers linking
them to the target take a few tens of KiB."""

T = TypeVar("T")


class Outcome(enum.Enum):
    ACCEPT = "accept"
    IGNORE = "ignore"
    REJECT = "reject"


@dataclass(frozen=True)
class Checked(Generic[T]):
    """A check's outcome, why, and the decoded message (None unless accepted)."""

    outcome: Outcome
    reason: str = ""
    message: T | None = None


def check_vote(payload: bytes, *, set_id: int, authorities: Sequence[bytes], rounds: range) -> Checked[SignedVote]:
    """Check a gossiped vote for a voter in set ``set_id`` following ``rounds`` (``Voter.vote_rounds()``)."""
    if len(payload) != SignedVote.SIZE:
        return Checked(Outcome.REJECT, f"a vote is {SignedVote.SIZE} bytes, not {len(payload)}")
    try:
        vote = SignedVote.decode(payload)
    except ScaleDecodeError as exc:
        return Checked(Outcome.REJECT, f"malformed vote: {exc}")
    return check_signed_vote(vote, set_id=set_id, authorities=authorities, rounds=rounds)


def check_signed_vote(vote: SignedVote, *, set_id: int, authorities: Sequence[bytes],
                      rounds: range) -> Checked[SignedVote]:
    """The checks of :func:`check_vote` after decoding."""
    if vote.set_id != set_id:
        return Checked(Outcome.IGNORE, f"a vote of set {vote.set_id}, this voter is in set {set_id}")
    if vote.round not in rounds:
        return Checked(Outcome.IGNORE, f"a vote of round {vote.round}, outside rounds {rounds.start}..{rounds.stop - 1}")
    try:
        vote.verify(authorities)
    except InvalidVote as exc:
        return Checked(Outcome.REJECT, str(exc))
    return Checked(Outcome.ACCEPT, message=vote)


def check_commit(payload: bytes, *, set_id: int, authorities: Sequence[bytes], finalized_number: int,
                 known: Callable[[bytes], bool]) -> Checked[Justification]:
    """Check a gossiped justification against the set of the node's last finalized block. ``known`` says
    whether the node has imported a block (it finalizes only blocks it has; sync brings the others with
    their justifications)."""
    if len(payload) > MAX_COMMIT_BYTES:
        return Checked(Outcome.REJECT, f"a {len(payload)}-byte justification exceeds {MAX_COMMIT_BYTES} bytes")
    try:
        justification = Justification.decode(payload)
    except InvalidJustification as exc:
        return Checked(Outcome.REJECT, str(exc))
    if justification.set_id != set_id:
        return Checked(Outcome.IGNORE, f"a justification of set {justification.set_id}, not {set_id}")
    if justification.target_number <= finalized_number:
        return Checked(Outcome.IGNORE, f"block #{justification.target_number} is already final")
    if len(justification.precommits) > len(authorities):
        return Checked(Outcome.REJECT, f"{len(justification.precommits)} precommits from {len(authorities)} voters")
    if not known(justification.target_hash):
        return Checked(Outcome.IGNORE, "a justification of a block not imported yet")
    try:
        verify_justification(justification, authorities, set_id)
    except InvalidJustification as exc:
        return Checked(Outcome.REJECT, str(exc))
    return Checked(Outcome.ACCEPT, message=justification)
