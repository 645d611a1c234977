"""Finality voters exchanging votes directly: agreement, liveness with f < n/3 down, no finality with more
down, safety when voters disagree about the best fork; resuming from a persisted state without
equivocating; neighbor packets and catch-up, and every way a catch-up answer can be wrong.
(``tests/node/consensus`` runs them over simulated networks with faults.)"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from node.consensus.finality import InvalidVote, SignedVote, Stage, Vote, verify_justification
from node.consensus.messages import CatchUpRequest, CatchUpResponse, NeighborPacket
from node.consensus.voter import (
    CATCH_UP_GAP,
    FUTURE_ROUNDS,
    MAX_NEIGHBORS,
    Broadcast,
    Finalized,
    InvalidCatchUp,
    Output,
    Persist,
    RequestCatchUp,
    Voter,
)
from node.consensus.voter_state import VoterState
from runtime.keyring import Keypair
from runtime.primitives import Header, SignatureScheme
from tests.node.consensus.blocks import Tree, View

KEYS = [Keypair.from_uri(f"//{n}", SignatureScheme.Ed25519) for n in ("Alice", "Bob", "Charlie", "Dave")]
AUTHORITIES = tuple(k.public for k in KEYS)


def make_voter(view: View, key: Keypair | None, resume: VoterState | None = None) -> Voter:
    return Voter(set_id=0, authorities=AUTHORITIES, finalized=view.finalized, ancestry=view.ancestry,
                 best_descendant=view.best_descendant, header=view.header,
                 key=(key.public, key.secret) if key is not None else None, resume=resume)


def network(tree: Tree, known: list[list[bytes]]) -> tuple[list[View], list[Voter]]:
    """One voter per key, each having imported the blocks (and their ancestors) listed for it."""
    views = [View(tree) for _ in KEYS]
    for view, blocks in zip(views, known):
        for block_hash in blocks:
            view.import_block(block_hash)
    return views, [make_voter(view, key) for view, key in zip(views, KEYS)]


def one_block() -> tuple[list[View], list[Voter], Header]:
    """Four voters that imported one block (none has begun voting)."""
    tree = Tree()
    (block,) = tree.extend(tree.genesis, 1, b"a")
    views, voters = network(tree, [[block.hash]] * 4)
    return views, voters, block


def deliver(voters: list[Voter], views: list[View], outputs: list[tuple[int, Output]], online: set[int],
            rng: random.Random) -> list[Finalized]:
    """All-to-all delivery among ``online`` voters, in random order, until nothing is left to send; returns
    what they finalized."""
    queue, finals = list(outputs), []
    while queue:
        rng.shuffle(queue)
        sender, out = queue.pop()
        if isinstance(out, Finalized):
            views[sender].finalized = out.block
            finals.append(out)
        if isinstance(out, Broadcast):
            for j in online - {sender}:
                queue += [(j, o) for o in voters[j].on_vote(out.vote)]
    return finals


def tick(voters: list[Voter], views: list[View], online: set[int], rng: random.Random) -> list[Finalized]:
    return deliver(voters, views, [(i, out) for i in online for out in voters[i].tick()], online, rng)


def finalized(voters: list[Voter]) -> set[tuple[bytes, int]]:
    return {v.finalized for v in voters}


@pytest.mark.parametrize("seed", range(5))
def test_all_voters_finalize_the_same_block(seed):
    tree = Tree()
    chain = tree.extend(tree.genesis, 5, b"a")
    views, voters = network(tree, [[chain[-1].hash]] * 4)
    finals = tick(voters, views, {0, 1, 2, 3}, random.Random(seed))
    assert finalized(voters) == {(chain[-1].hash, 5)} and len(finals) == 4
    for final in finals:
        verify_justification(final.justification, AUTHORITIES, 0)


def test_one_voter_down_still_finalizes_two_down_does_not():
    tree = Tree()
    chain = tree.extend(tree.genesis, 3, b"a")
    views, voters = network(tree, [[chain[-1].hash]] * 4)
    tick(voters, views, {0, 1, 2}, random.Random(1))
    assert all(voters[i].finalized == (chain[-1].hash, 3) for i in (0, 1, 2))
    assert voters[3].finalized[1] == 0
    views, voters = network(tree, [[chain[-1].hash]] * 4)
    for _ in range(3):
        tick(voters, views, {0, 1}, random.Random(1))
    assert finalized(voters) == {(tree.genesis.hash, 0)}


def test_split_views_finalize_only_the_common_prefix_and_never_conflict():
    tree = Tree()
    common = tree.extend(tree.genesis, 2, b"c")
    left = tree.extend(common[-1], 3, b"l")
    right = tree.extend(common[-1], 4, b"r")
    views, voters = network(tree, [[left[-1].hash]] * 2 + [[right[-1].hash]] * 2)
    rng = random.Random(3)
    tick(voters, views, {0, 1, 2, 3}, rng)
    assert finalized(voters) == {(tree.genesis.hash, 0)}  # each half waits for the other's blocks
    for view in views:
        view.import_block(left[-1].hash)
        view.import_block(right[-1].hash)
    finals = deliver(voters, views, [(i, o) for i in range(4) for o in voters[i].on_block_imported()],
                     {0, 1, 2, 3}, rng)
    assert {f.block for f in finals if f.justification.round == 1} == {(common[-1].hash, 2)}  # half each way
    assert all(tree.is_ancestor(f.block, (right[-1].hash, 6)) for f in finals)  # then the longer one


@pytest.mark.parametrize("seed", range(8))
def test_estimates_keep_finality_safe_when_views_change_between_rounds(seed):
    rng = random.Random(seed)
    tree = Tree()
    common = tree.extend(tree.genesis, 1, b"c")
    left = tree.extend(common[-1], 3, b"l")
    right = tree.extend(common[-1], 6, b"r")
    views, voters = network(tree, [[left[-1].hash]] * 4)
    tick(voters, views, {0, 1, 2}, rng)  # Dave is partitioned away during round 1
    for view in views:  # a longer fork appears; everyone (Dave too) now prefers it
        view.import_block(right[-1].hash)
    for _ in range(3):
        tick(voters, views, {0, 1, 2, 3}, rng)
    final_blocks = finalized(voters)
    for low in final_blocks:  # every two finalized blocks lie on one chain
        for high in final_blocks:
            if low[1] <= high[1]:
                assert tree.is_ancestor(low, high), f"conflicting finality: {low} vs {high}"


def test_votes_for_another_set_are_dropped_and_bad_ones_refused():
    _, voters, block = one_block()
    voter = voters[0]
    voter.tick()
    prevote = Vote(Stage.PREVOTE, block.hash, 1)
    other_set = SignedVote.sign(1, 7, prevote, KEYS[1].public, KEYS[1].secret)
    assert voter.on_vote(other_set) == [] and KEYS[1].public not in voter.current.prevotes
    with pytest.raises(InvalidVote):
        voter.on_vote(SignedVote(1, 0, prevote, KEYS[1].public, bytes(64)))
    outsider = Keypair.from_uri("//Mallory", SignatureScheme.Ed25519)
    with pytest.raises(InvalidVote):
        voter.on_vote(SignedVote.sign(1, 0, prevote, outsider.public, outsider.secret))
    too_far = SignedVote.sign(2 + FUTURE_ROUNDS, 0, prevote, KEYS[1].public, KEYS[1].secret)
    assert voter.on_vote(too_far) == []


# --- persistence ---------------------------------------------------------------------------------------


def test_the_state_is_persisted_before_each_vote_and_holds_it():
    tree = Tree()
    chain = tree.extend(tree.genesis, 2, b"a")
    _, voters = network(tree, [[chain[-1].hash]] * 4)
    batches = [voters[0].tick()]
    for other in voters[1:3]:
        for out in other.tick():
            if isinstance(out, Broadcast):
                batches.append(voters[0].on_vote(out.vote))
    sent = 0
    for outputs in batches:
        saved: VoterState | None = None
        for out in outputs:
            if isinstance(out, Persist):
                saved = out.state
            elif isinstance(out, Broadcast):
                held = saved.votes + (saved.completed.prevotes + saved.completed.precommits if saved.completed else ())
                assert out.vote in held
                sent += 1
    assert sent == 2  # its prevote and its precommit
    assert VoterState.decode(voters[0].state().encode()) == voters[0].state()


def test_a_resumed_voter_resends_its_votes_and_never_signs_different_ones():
    tree = Tree()
    first = tree.extend(tree.genesis, 2, b"a")
    view = View(tree)
    view.import_block(first[-1].hash)
    voter = make_voter(view, KEYS[0])
    persisted = [o.state for o in voter.tick() if isinstance(o, Persist)][-1]
    (prevote,) = persisted.votes
    assert prevote.vote.target_hash == first[-1].hash
    # killed; by the time it restarts its best block is another one
    longer = tree.extend(tree.genesis, 5, b"b")
    view.import_block(longer[-1].hash)
    restarted = make_voter(view, KEYS[0], resume=VoterState.decode(persisted.encode()))
    assert restarted.round == 1
    outputs = restarted.tick()
    sent = [o.vote for o in outputs if isinstance(o, Broadcast)]
    assert sent == [prevote]  # the persisted prevote again, not one for the new best block
    assert not any(isinstance(o, Persist) for o in outputs)
    for key in KEYS[1:3]:  # the others' prevotes for the longer chain arrive: a precommit is due, for it
        vote = SignedVote.sign(1, 0, Vote(Stage.PREVOTE, longer[-1].hash, 5), key.public, key.secret)
        outputs = restarted.on_vote(vote)
    (precommit,) = [o.vote for o in outputs if isinstance(o, Broadcast)]
    assert precommit.vote.stage is Stage.PRECOMMIT and restarted.state().votes == (prevote, precommit)


def test_a_state_of_another_set_is_not_resumed():
    tree = Tree()
    view = View(tree)
    state = VoterState(set_id=3, round=9, votes=(), completed=None)
    assert make_voter(view, KEYS[0], resume=state).round == 0


# --- neighbors and catch-up ----------------------------------------------------------------------------


def advance(tree: Tree, views: list[View], voters: list[Voter], online: set[int], rounds: int,
            rng: random.Random) -> None:
    """``rounds`` rounds among ``online``, each with a new block on the best chain."""
    for _ in range(rounds):
        new = tree.add(views[min(online)].best()[0], rng.randbytes(8))
        for i in online:
            views[i].import_block(new.hash)
            deliver(voters, views, [(i, o) for o in voters[i].on_block_imported()], online, rng)
        tick(voters, views, online, rng)


def test_a_voter_far_behind_asks_a_neighbor_and_jumps_to_its_round():
    rng = random.Random(5)
    tree = Tree()
    views, voters = network(tree, [[]] * 4)
    advance(tree, views, voters, {0, 1, 2}, 6, rng)
    lagging = voters[3]
    lagging.tick()
    for view in views[3:]:
        view.import_block(views[0].best()[0])  # (sync brought the blocks)
    ahead = voters[0]
    assert ahead.round >= lagging.round + CATCH_UP_GAP
    (request,) = lagging.on_neighbor("peer-0", ahead.neighbor_packet())
    assert request == RequestCatchUp("peer-0", CatchUpRequest(0, lagging.round))
    response = ahead.answer_catch_up(request.request)
    assert response is not None and response.votes.round >= lagging.round
    outputs = lagging.on_catch_up(response)
    assert lagging.round == response.votes.round + 1
    assert isinstance(outputs[0], Persist) and outputs[0].state.completed == response.votes
    (final,) = [o for o in outputs if isinstance(o, Finalized)]
    assert lagging.finalized == final.block and final.block[1] > 0
    verify_justification(final.justification, AUTHORITIES, 0)


def test_one_round_behind_asks_only_after_a_tick_without_progress():
    rng = random.Random(6)
    tree = Tree()
    views, voters = network(tree, [[]] * 4)
    behind = voters[3]
    behind.tick()  # round 1, hearing nobody from now on
    advance(tree, views, voters, {0, 1, 2}, 2, rng)
    assert (voters[0].round, behind.round) == (2, 1)
    assert behind.on_neighbor("peer-0", voters[0].neighbor_packet()) == []  # a round ahead: maybe just moved on
    requests = [o for o in behind.tick() if isinstance(o, RequestCatchUp)]  # a tick without progress: ask
    assert requests == [RequestCatchUp("peer-0", CatchUpRequest(0, 1))]
    views[3].import_block(views[0].best()[0])  # (sync brought the blocks)
    response = voters[0].answer_catch_up(requests[0].request)
    behind.on_catch_up(response)
    assert behind.round == response.votes.round + 1 >= voters[0].round


def test_a_stalled_voter_asks_its_neighbors_in_turn_not_only_one_claiming_to_be_far_ahead():
    """A peer claiming round 10**18 and answering no catch-up was asked at every stalled tick, so the peers in
    the voter's own round, whose votes it lacked, never were."""
    tree = Tree()
    _, voters = network(tree, [[]] * 4)
    voter = voters[0]
    voter.tick()
    voter.on_neighbor("honest", NeighborPacket(0, voter.round, 0))
    voter.on_neighbor("liar", NeighborPacket(0, 10**18, 0))  # (asked at once: far ahead; it never answers)
    asked = []
    for _ in range(4):
        asked += [o.peer for o in voter.tick() if isinstance(o, RequestCatchUp)]
    assert "honest" in asked and asked.count("liar") <= 2


def test_one_catch_up_at_a_time_and_neighbors_are_bounded():
    tree = Tree()
    _, voters = network(tree, [[]] * 4)
    voter = voters[0]
    voter.tick()
    far = NeighborPacket(0, 50, 0)
    assert len(voter.on_neighbor("a", far)) == 1
    assert voter.on_neighbor("b", far) == []  # one in flight
    for i in range(MAX_NEIGHBORS + 10):
        voter.on_neighbor(i, NeighborPacket(0, 1, 0))
    assert len(voter._neighbors) == MAX_NEIGHBORS
    assert voter.on_neighbor("c", NeighborPacket(1, 50, 0)) == []  # another set: nothing to ask


def test_catch_up_answers_a_completed_round_else_the_votes_of_the_askers_round():
    views, voters, _ = one_block()
    voter = voters[0]
    voter.tick()
    partial = voter.answer_catch_up(CatchUpRequest(0, 1))  # same round, not completed: what it has
    assert partial is not None and partial.votes.round == 1 and len(partial.votes.prevotes) == 1
    assert voter.answer_catch_up(CatchUpRequest(0, 2)) is None
    tick(voters, views, {0, 1, 2, 3}, random.Random(0))
    assert voter.answer_catch_up(CatchUpRequest(0, voter.round + 1)) is None
    assert voter.answer_catch_up(CatchUpRequest(5, 1)) is None
    completed = voter.answer_catch_up(CatchUpRequest(0, 1))
    assert completed is not None and len(completed.votes.precommits) >= 3


def test_a_same_round_answer_brings_the_votes_gossip_lost():
    _, voters, _ = one_block()
    for voter in voters:
        voter.tick()
    helper, lost = voters[0], voters[3]
    for other in voters[1:3]:  # the helper heard the others; the fourth voter heard nobody
        for vote in other.state().votes:
            helper.on_vote(vote)
    assert not lost.completed()
    lost.on_catch_up(helper.answer_catch_up(CatchUpRequest(0, lost.round)))
    assert set(lost.current.prevotes) == set(AUTHORITIES)


def _completed_round(rng_seed: int = 9) -> tuple[Tree, list[View], list[Voter], CatchUpResponse]:
    rng = random.Random(rng_seed)
    tree = Tree()
    views, voters = network(tree, [[]] * 4)
    advance(tree, views, voters, {0, 1, 2, 3}, 4, rng)
    response = voters[0].answer_catch_up(CatchUpRequest(0, 1))
    assert response is not None
    return tree, views, voters, response


def _with(response: CatchUpResponse, **changes) -> CatchUpResponse:
    return replace(response, votes=replace(response.votes, **changes))


def _forge(vote: SignedVote, **changes) -> SignedVote:
    return replace(vote, **changes)


@pytest.mark.parametrize("corrupt", [
    lambda r, k: _with(r, prevotes=r.votes.prevotes[:2]),
    lambda r, k: _with(r, precommits=r.votes.precommits[:2]),
    lambda r, k: _with(r, prevotes=r.votes.prevotes[:2] + (r.votes.prevotes[0],)),
    lambda r, k: _with(r, prevotes=(_forge(r.votes.prevotes[0], signature=bytes(64)),) + r.votes.prevotes[1:]),
    lambda r, k: _with(r, prevotes=r.votes.precommits),
    lambda r, k: _with(r, prevotes=(_forge(r.votes.prevotes[0], round=r.votes.round + 1),) + r.votes.prevotes[1:]),
    lambda r, k: _with(r, precommits=(SignedVote.sign(r.votes.round, 0, r.votes.precommits[0].vote, k.public,
                                                      k.secret),) + r.votes.precommits[1:]),
], ids=["few-prevotes", "few-precommits", "duplicate-voter", "bad-signature", "wrong-stage", "wrong-round",
        "not-a-voter"])
def test_invalid_catch_up_answers_are_refused_and_change_nothing(corrupt):
    tree, views, _, response = _completed_round()
    lagging = make_voter(View(tree), KEYS[3])
    lagging.tick()
    lagging.ancestry = views[0].ancestry
    before = lagging.state()
    with pytest.raises(InvalidCatchUp):
        lagging.on_catch_up(corrupt(response, Keypair.from_uri("//Mallory", SignatureScheme.Ed25519)))
    assert lagging.state() == before


def test_catch_up_answers_that_cannot_help_yet_change_nothing():
    tree, views, _, response = _completed_round()
    lagging = make_voter(View(tree), KEYS[3])
    lagging.tick()
    before = lagging.state()
    assert lagging.on_catch_up(response) == []  # its blocks are not imported yet: the node is to fetch them
    named = {v.vote.target_hash for v in response.votes.prevotes + response.votes.precommits}
    assert set(lagging.missing_blocks()) == named - {tree.genesis.hash}
    assert lagging.on_catch_up(replace(response, set_id=1)) == []
    lagging.ancestry = views[0].ancestry
    assert lagging.missing_blocks() == []  # imported now
    lagging.on_catch_up(response)
    jumped = lagging.state()
    assert jumped != before
    assert lagging.on_catch_up(response) == []  # now stale
    assert lagging.state() == jumped


def test_votes_for_blocks_not_imported_wait_for_them():
    tree = Tree()
    chain = tree.extend(tree.genesis, 3, b"a")
    views, voters = network(tree, [[chain[-1].hash]] * 3 + [[chain[0].hash]])
    late = voters[3]
    late.tick()
    sent, queue = [], [(i, o) for i in range(3) for o in voters[i].tick()]
    while queue:
        sender, out = queue.pop()
        if isinstance(out, Broadcast):
            sent.append(out.vote)
            queue += [(j, o) for j in {0, 1, 2} - {sender} for o in voters[j].on_vote(out.vote)]
    for vote in sent:
        late.on_vote(vote)
    assert late.finalized[1] == 0 and list(late.current.prevotes) == [KEYS[3].public]
    views[3].import_block(chain[-1].hash)
    late.on_block_imported()
    assert late.finalized == (chain[-1].hash, 3)
