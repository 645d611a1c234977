"""Gossip checks on votes and justifications: what is accepted, what is ignored without blame, what is
rejected (each class of bad input)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from node.consensus.finality import RoundState, SignedVote, Stage, Vote
from node.consensus.validation import MAX_COMMIT_BYTES, Outcome, check_commit, check_vote
from runtime.keyring import Keypair
from runtime.primitives import SignatureScheme
from tests.node.consensus.blocks import Tree, View

KEYS = [Keypair.from_uri(f"//{n}", SignatureScheme.Ed25519) for n in ("Alice", "Bob", "Charlie", "Dave")]
AUTHORITIES = tuple(k.public for k in KEYS)
MALLORY = Keypair.from_uri("//Mallory", SignatureScheme.Ed25519)
TARGET = bytes(range(32))


def signed(key: Keypair = KEYS[1], round_: int = 5, set_id: int = 0, stage: Stage = Stage.PREVOTE) -> SignedVote:
    return SignedVote.sign(round_, set_id, Vote(stage, TARGET, 3), key.public, key.secret)


def checked_vote(payload: bytes) -> Outcome:
    return check_vote(payload, set_id=0, authorities=AUTHORITIES, rounds=range(4, 8)).outcome


def test_a_vote_of_the_set_and_rounds_is_accepted_with_its_decoding():
    vote = signed()
    result = check_vote(vote.encode(), set_id=0, authorities=AUTHORITIES, rounds=range(4, 8))
    assert result.outcome is Outcome.ACCEPT and result.message == vote


@pytest.mark.parametrize("payload", [
    signed(set_id=1).encode(),
    signed(round_=3).encode(),
    signed(round_=8).encode(),
    signed(round_=2**63).encode(),
], ids=["other-set", "past-round", "future-round", "absurd-round"])
def test_votes_of_other_sets_or_rounds_are_ignored(payload):
    assert checked_vote(payload) is Outcome.IGNORE


@pytest.mark.parametrize("payload", [
    b"",
    signed().encode()[:-1],
    signed().encode() + b"\0",
    signed().encode()[:16] + b"\x07" + signed().encode()[17:],
    signed(key=MALLORY).encode(),
    replace(signed(), signature=bytes(64)).encode(),
    replace(signed(), vote=Vote(Stage.PRECOMMIT, TARGET, 3)).encode(),
], ids=["empty", "short", "long", "unknown-stage", "not-a-voter", "zero-signature", "altered-vote"])
def test_malformed_foreign_or_badly_signed_votes_are_rejected(payload):
    assert checked_vote(payload) is Outcome.REJECT


def justification(voters: list[Keypair], set_id: int = 0):
    tree = Tree()
    chain = tree.extend(tree.genesis, 4, b"a")
    view = View(tree)
    view.import_block(chain[-1].hash)
    state = RoundState(3, set_id, AUTHORITIES)
    for key in voters:
        state.add(SignedVote.sign(3, set_id, Vote(Stage.PRECOMMIT, chain[-1].hash, 4), key.public, key.secret))
    target = (chain[2].hash, 3)
    return state.justification(target, view.ancestry, view.header), view


def checked_commit(payload: bytes, view: View, *, finalized_number: int = 1, set_id: int = 0) -> Outcome:
    return check_commit(payload, set_id=set_id, authorities=AUTHORITIES, finalized_number=finalized_number,
                        known=view.known.__contains__).outcome


def test_a_valid_justification_is_accepted():
    proof, view = justification(KEYS[:3])
    result = check_commit(proof.encode(), set_id=0, authorities=AUTHORITIES, finalized_number=1,
                          known=view.known.__contains__)
    assert result.outcome is Outcome.ACCEPT and result.message == proof


def test_justifications_of_other_sets_final_or_unknown_blocks_are_ignored():
    proof, view = justification(KEYS[:3])
    assert checked_commit(proof.encode(), view, set_id=1) is Outcome.IGNORE
    assert checked_commit(proof.encode(), view, finalized_number=3) is Outcome.IGNORE
    view.known.discard(proof.target_hash)
    assert checked_commit(proof.encode(), view) is Outcome.IGNORE


def test_bad_justifications_are_rejected():
    proof, view = justification(KEYS[:3])
    too_few, _ = justification(KEYS[:2])
    outsider, _ = justification(KEYS[:2] + [MALLORY])
    stuffed = replace(proof, precommits=proof.precommits * 2)
    for payload in (b"\x01", proof.encode() + b"\0", bytes(MAX_COMMIT_BYTES + 1), too_few.encode(),
                    outsider.encode(), stuffed.encode()):
        assert checked_commit(payload, view) is Outcome.REJECT
