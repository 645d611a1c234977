"""Finality votes, GHOST, estimates and completable rounds, justifications: supermajorities, equivocations,
forged or unlinked proofs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from node.consensus.finality import (
    InvalidJustification,
    InvalidVote,
    Justification,
    RoundState,
    RoundVotes,
    SignedVote,
    Stage,
    Vote,
    ghost,
    supermajority,
    verify_justification,
)
from runtime.keyring import Keypair
from runtime.primitives import Header, SignatureScheme
from runtime.scale import ScaleDecodeError

KEYS = [Keypair.from_uri(f"//{n}", SignatureScheme.Ed25519) for n in ("Alice", "Bob", "Charlie", "Dave")]
AUTHORITIES = tuple(k.public for k in KEYS)


def _extend(base: list[Header], length: int, tag: bytes) -> list[Header]:
    """``base`` extended with headers up to number ``length``; ``tag`` tells forks apart."""
    headers = list(base)
    parent = headers[-1].hash if headers else bytes(32)
    for n in range(len(headers), length + 1):
        headers.append(Header(parent, n, tag + bytes(31), bytes(32)))
        parent = headers[-1].hash
    return headers


MAIN = _extend([], 6, b"a")
FORK = _extend(MAIN[:3], 6, b"b")  # forks from MAIN after block 2
BY_HASH = {h.hash: h for h in MAIN + FORK}


def ancestry(block_hash: bytes):
    header = BY_HASH.get(block_hash)
    while header is not None:
        yield header.hash, header.number
        header = BY_HASH.get(header.parent_hash)


def vote(key, stage, header, round_=1, set_id=0) -> SignedVote:
    return SignedVote.sign(round_, set_id, Vote(stage, header.hash, header.number), key.public, key.secret)


def test_supermajority():
    assert [supermajority(n) for n in (1, 2, 3, 4, 7, 10)] == [1, 2, 3, 3, 5, 7]


def test_ghost_is_the_highest_block_with_supermajority_support():
    votes = [Vote(Stage.PREVOTE, MAIN[6].hash, 6), Vote(Stage.PREVOTE, MAIN[5].hash, 5),
             Vote(Stage.PREVOTE, MAIN[4].hash, 4), Vote(Stage.PREVOTE, FORK[6].hash, 6)]
    assert ghost(votes, ancestry, 3) == (MAIN[4].hash, 4)
    assert ghost(votes, ancestry, 4) == (MAIN[2].hash, 2)  # the fork point: all four agree up to here
    assert ghost(votes[:1], ancestry, 3) is None


def test_round_finalizes_and_its_justification_verifies():
    state = RoundState(1, 0, AUTHORITIES)
    for key, target in zip(KEYS, (MAIN[6], MAIN[5], MAIN[5], FORK[6])):
        state.add(vote(key, Stage.PREVOTE, target))
    assert state.prevote_ghost(ancestry) == (MAIN[5].hash, 5)
    for key, target in zip(KEYS, (MAIN[5], MAIN[6], MAIN[5], FORK[4])):
        state.add(vote(key, Stage.PRECOMMIT, target))
    final = state.finalized(ancestry)
    assert final == (MAIN[5].hash, 5)
    justification = state.justification(final, ancestry, lambda h: BY_HASH[h])
    assert len(justification.precommits) == 3
    decoded = Justification.decode(justification.encode())
    verify_justification(decoded, AUTHORITIES, 0)


def _justification(targets, round_=1, set_id=0) -> Justification:
    state = RoundState(round_, set_id, AUTHORITIES)
    for key, target in zip(KEYS, targets):
        state.add(vote(key, Stage.PRECOMMIT, target, round_, set_id))
    return state.justification((MAIN[3].hash, 3), ancestry, lambda h: BY_HASH[h])


@pytest.mark.parametrize("mutate", [
    lambda j: replace(j, precommits=j.precommits[:2]),                                     # too few
    lambda j: replace(j, precommits=j.precommits[:2] + (j.precommits[0],)),               # duplicate voter
    lambda j: replace(j, set_id=1),                                                        # wrong set
    lambda j: replace(j, ancestry=()),                                                     # unlinked
    lambda j: replace(j, precommits=(replace(j.precommits[0], signature=bytes(64)),) + j.precommits[1:]),
    lambda j: replace(j, precommits=(replace(j.precommits[0], round=9),) + j.precommits[1:]),
    lambda j: replace(j, target_hash=MAIN[2].hash),
], ids=["too-few", "duplicate", "wrong-set", "unlinked", "bad-signature", "other-round", "wrong-target"])
def test_forged_justifications_fail(mutate):
    good = _justification((MAIN[4], MAIN[5], MAIN[3], MAIN[6]))
    verify_justification(good, AUTHORITIES, 0)
    with pytest.raises(InvalidJustification):
        verify_justification(mutate(good), AUTHORITIES, 0)


def test_precommits_for_another_fork_do_not_count():
    justification = _justification((MAIN[4], MAIN[5], FORK[6], FORK[5]))
    assert len(justification.precommits) == 2
    with pytest.raises(InvalidJustification, match="needed"):
        verify_justification(justification, AUTHORITIES, 0)


def test_equivocation_is_recorded_and_the_first_vote_kept():
    state = RoundState(1, 0, AUTHORITIES)
    first, second = vote(KEYS[0], Stage.PREVOTE, MAIN[5]), vote(KEYS[0], Stage.PREVOTE, FORK[5])
    assert state.add(first) and not state.add(second)
    assert state.prevotes[KEYS[0].public] == first
    assert state.equivocations[0].second == second


def test_votes_from_outsiders_or_badly_signed_are_invalid():
    outsider = Keypair.from_uri("//Mallory", SignatureScheme.Ed25519)
    with pytest.raises(InvalidVote, match="not an authority"):
        vote(outsider, Stage.PREVOTE, MAIN[1]).verify(AUTHORITIES)
    forged = replace(vote(KEYS[1], Stage.PREVOTE, MAIN[1]), vote=Vote(Stage.PREVOTE, MAIN[2].hash, 2))
    with pytest.raises(InvalidVote, match="signature"):
        forged.verify(AUTHORITIES)
    with pytest.raises(InvalidVote):
        RoundState(2, 0, AUTHORITIES).add(vote(KEYS[0], Stage.PREVOTE, MAIN[1], round_=1))


def test_garbage_justifications_are_typed_errors():
    for data in (b"", b"\x00" * 10, _justification((MAIN[4],) * 4).encode() + b"\x00"):
        with pytest.raises(InvalidJustification):
            Justification.decode(data)


# --- estimates and completable rounds ------------------------------------------------------------------


def _round(prevotes, precommits) -> RoundState:
    """A round of the four keys: ``prevotes`` / ``precommits`` name each voter's target (None: no vote)."""
    state = RoundState(1, 0, AUTHORITIES)
    for stage, targets in ((Stage.PREVOTE, prevotes), (Stage.PRECOMMIT, precommits)):
        for key, target in zip(KEYS, targets):
            if target is not None:
                state.add(vote(key, stage, target))
    return state


def _block(header: Header) -> tuple[bytes, int]:
    return header.hash, header.number


def test_estimate_is_the_highest_block_that_may_still_be_final():
    state = _round([MAIN[6]] * 4, [MAIN[3], MAIN[3], MAIN[6], None])
    assert state.prevote_ghost(ancestry) == _block(MAIN[6])
    assert state.estimate(ancestry) == _block(MAIN[3])  # 6, 5, 4 have 1 precommit + 1 missing: never 3
    assert state.completable(ancestry)  # E < g(V): nothing more can change what may be final
    assert state.finalized(ancestry) == _block(MAIN[3])


def test_a_round_is_not_completable_while_a_child_of_its_ghost_may_become_final():
    state = _round([MAIN[5], MAIN[5], MAIN[5], MAIN[6]], [MAIN[6], MAIN[6], MAIN[5], None])
    assert state.prevote_ghost(ancestry) == state.estimate(ancestry) == _block(MAIN[5])
    assert not state.completable(ancestry)  # Dave's precommit for 6 would make it final
    state.add(vote(KEYS[3], Stage.PRECOMMIT, MAIN[5]))
    assert state.completable(ancestry)


def test_no_round_is_completable_without_a_supermajority_of_precommits():
    state = _round([MAIN[4]] * 4, [MAIN[4], MAIN[4], None, None])
    assert state.estimate(ancestry) == _block(MAIN[4])
    assert not state.completable(ancestry) and state.finalized(ancestry) is None
    assert _round([MAIN[4], MAIN[4], None, None], [None] * 4).estimate(ancestry) is None  # no g(V) yet


def test_an_equivocator_counts_for_every_block():
    state = _round([FORK[6], MAIN[6], MAIN[6], None], [None] * 4)
    assert state.prevote_ghost(ancestry) == _block(MAIN[2])  # the fork point: Alice is on the other side
    state.add(vote(KEYS[0], Stage.PREVOTE, MAIN[6]))  # Alice prevotes twice
    assert state.prevote_ghost(ancestry) == _block(MAIN[6])
    for target in MAIN[3:6]:  # however often she signs, one equivocation is kept
        state.add(vote(KEYS[0], Stage.PREVOTE, target))
    assert len(state.equivocations) == 1


def test_round_votes_round_trip_and_refuse_more_votes_than_voters():
    state = _round([MAIN[4]] * 4, [MAIN[4]] * 3 + [None])
    encoded = state.votes().encode()
    assert len(encoded) <= RoundVotes.max_size(4)
    assert RoundVotes.decode_from(encoded, 0, limit=4) == (state.votes(), len(encoded))
    with pytest.raises(ScaleDecodeError, match="at most 3"):
        RoundVotes.decode_from(encoded, 0, limit=3)
