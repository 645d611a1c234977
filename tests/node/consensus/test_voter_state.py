"""The persisted voter state: round trips, and every kind of damaged or foreign bytes refused with
``InvalidVoterState`` (a voter must not resume from a guess)."""

from __future__ import annotations

import pytest

from node.consensus.finality import RoundVotes, SignedVote, Stage, Vote
from node.consensus.voter_state import MAX_STATE_BYTES, InvalidVoterState, VoterState
from runtime.keyring import Keypair
from runtime.primitives import SignatureScheme

KEYS = [Keypair.from_uri(f"//{n}", SignatureScheme.Ed25519) for n in ("Alice", "Bob", "Charlie", "Dave")]


def vote(stage: Stage, round_: int, key: Keypair = KEYS[0], set_id: int = 4) -> SignedVote:
    return SignedVote.sign(round_, set_id, Vote(stage, bytes(32), 0), key.public, key.secret)


COMPLETED = RoundVotes(8, tuple(vote(Stage.PREVOTE, 8, k) for k in KEYS), tuple(vote(Stage.PRECOMMIT, 8, k)
                                                                                 for k in KEYS[:3]))
STATE = VoterState(4, 9, (vote(Stage.PREVOTE, 9), vote(Stage.PRECOMMIT, 9)), COMPLETED)


@pytest.mark.parametrize("state", [STATE, VoterState(4, 1, (), None), VoterState(0, 1, (vote(Stage.PREVOTE, 1, set_id=0),), None)])
def test_round_trip(state):
    assert VoterState.decode(state.encode()) == state


@pytest.mark.parametrize("data, match", [
    (b"", "malformed"),
    (b"\x02" + STATE.encode()[1:], "version"),
    (STATE.encode() + b"\0", "trailing"),
    (STATE.encode()[:-1], "malformed"),
    (bytes(MAX_STATE_BYTES + 1), "exceeds"),
    (VoterState(4, 9, (vote(Stage.PREVOTE, 8),), None).encode(), "round 8"),
    (VoterState(4, 9, (vote(Stage.PREVOTE, 9, set_id=5),), None).encode(), "set 5"),
    (VoterState(4, 9, (vote(Stage.PREVOTE, 9), vote(Stage.PREVOTE, 9, KEYS[1])), None).encode(), "two own"),
    (VoterState(4, 10, (), COMPLETED).encode(), "not the one before"),
    (VoterState(4, 9, (), RoundVotes(8, COMPLETED.precommits, ())).encode(), "precommit stored among prevotes"),
], ids=["empty", "version", "trailing", "truncated", "too-big", "vote-of-another-round", "vote-of-another-set",
        "two-prevotes", "completed-not-previous", "stage-mixup"])
def test_damaged_states_are_refused(data, match):
    with pytest.raises(InvalidVoterState, match=match):
        VoterState.decode(data)
