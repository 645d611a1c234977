"""Finality voters exchanging votes over simulated networks: agreement, liveness with f < n/3 down,
no finality with more down, and safety when voters disagree about the best fork."""

from __future__ import annotations

import random

import pytest

from node.consensus.finality import InvalidVote, SignedVote, Stage, Vote, verify_justification
from node.consensus.voter import Broadcast, Finalized, Voter
from runtime.primitives import Header, SignatureScheme
from runtime.keyring import Keypair

KEYS = [Keypair.from_uri(f"//{n}", SignatureScheme.Ed25519) for n in ("Alice", "Bob", "Charlie", "Dave")]
AUTHORITIES = tuple(k.public for k in KEYS)


class Tree:
    """Headers by hash, with the ancestry and best-descendant queries voters need."""

    def __init__(self) -> None:
        self.genesis = Header(bytes(32), 0, bytes(32), bytes(32))
        self.headers = {self.genesis.hash: self.genesis}

    def extend(self, parent: Header, length: int, tag: bytes) -> list[Header]:
        out = []
        for _ in range(length):
            parent = Header(parent.hash, parent.number + 1, tag + bytes(31), bytes(32))
            self.headers[parent.hash] = parent
            out.append(parent)
        return out

    def ancestry(self, block_hash: bytes):
        header = self.headers.get(block_hash)
        while header is not None:
            yield header.hash, header.number
            header = self.headers.get(header.parent_hash)


def make_voter(tree: Tree, key, best: Header, genesis: Header) -> Voter:
    def best_descendant(base: bytes):
        if any(h == base for h, _ in tree.ancestry(best.hash)):
            return best.hash, best.number
        header = tree.headers[base]
        return header.hash, header.number

    return Voter(set_id=0, authorities=AUTHORITIES, finalized=(genesis.hash, 0), ancestry=tree.ancestry,
                 best_descendant=best_descendant, header=tree.headers.__getitem__,
                 key=(key.public, key.secret) if key is not None else None)


def run(voters: list[Voter], online: set[int], rounds: int, rng: random.Random) -> list[list[Finalized]]:
    """Rounds of all-to-all gossip among the online voters, messages shuffled."""
    finalized: list[list[Finalized]] = [[] for _ in voters]
    for _ in range(rounds):
        queue = []
        for i in online:
            queue += [(i, out) for out in voters[i].start_round()]
        while queue:
            rng.shuffle(queue)
            sender, out = queue.pop()
            if isinstance(out, Finalized):
                finalized[sender].append(out)
                continue
            for j in online:
                if j != sender:
                    queue += [(j, o) for o in voters[j].on_vote(out.vote)]
    return finalized


@pytest.mark.parametrize("seed", range(5))
def test_all_voters_finalize_the_same_block(seed):
    tree = Tree()
    chain = tree.extend(tree.genesis, 5, b"a")
    voters = [make_voter(tree, k, chain[-1], tree.genesis) for k in KEYS]
    finalized = run(voters, {0, 1, 2, 3}, 1, random.Random(seed))
    assert all(f and f[-1].block == (chain[-1].hash, 5) for f in finalized)
    for f in finalized:
        verify_justification(f[-1].justification, AUTHORITIES, 0)


def test_one_voter_down_still_finalizes_two_down_does_not():
    tree = Tree()
    chain = tree.extend(tree.genesis, 3, b"a")
    voters = [make_voter(tree, k, chain[-1], tree.genesis) for k in KEYS]
    finalized = run(voters, {0, 1, 2}, 1, random.Random(1))
    assert all(finalized[i] for i in (0, 1, 2)) and not finalized[3]
    voters = [make_voter(tree, k, chain[-1], tree.genesis) for k in KEYS]
    assert not any(run(voters, {0, 1}, 3, random.Random(1)))


def test_split_views_finalize_only_the_common_prefix_and_never_conflict():
    tree = Tree()
    common = tree.extend(tree.genesis, 2, b"c")
    left = tree.extend(common[-1], 3, b"l")
    right = tree.extend(common[-1], 4, b"r")
    bests = [left[-1], left[-1], right[-1], right[-1]]
    voters = [make_voter(tree, k, b, tree.genesis) for k, b in zip(KEYS, bests)]
    finalized = run(voters, {0, 1, 2, 3}, 1, random.Random(3))
    blocks = {f[-1].block for f in finalized if f}
    assert blocks == {(common[-1].hash, 2)}


@pytest.mark.parametrize("seed", range(8))
def test_locks_keep_finality_safe_when_views_change_between_rounds(seed):
    rng = random.Random(seed)
    tree = Tree()
    common = tree.extend(tree.genesis, 1, b"c")
    left = tree.extend(common[-1], 3, b"l")
    right = tree.extend(common[-1], 6, b"r")
    voters = [make_voter(tree, k, left[-1], tree.genesis) for k in KEYS]
    run(voters, {0, 1, 2}, 1, rng)  # Dave is partitioned away during round 1
    # a longer fork appears; everyone (Dave too) now prefers it
    for i, k in enumerate(KEYS):
        fresh = make_voter(tree, k, right[-1], tree.genesis)
        fresh.lock, fresh.round, fresh.finalized = voters[i].lock, voters[i].round, voters[i].finalized
        voters[i] = fresh
    results = run(voters, {0, 1, 2, 3}, 3, rng)
    final_blocks = {f.block for per_voter in results for f in per_voter} | {v.finalized for v in voters}
    for low in final_blocks:  # every two finalized blocks lie on one chain
        for high in final_blocks:
            if low[1] <= high[1]:
                assert low in set(tree.ancestry(high[0])), f"conflicting finality: {low} vs {high}"


def test_votes_for_another_set_or_badly_signed_are_refused():
    tree = Tree()
    chain = tree.extend(tree.genesis, 1, b"a")
    voter = make_voter(tree, KEYS[0], chain[-1], tree.genesis)
    voter.start_round()
    other_set = SignedVote.sign(1, 7, Vote(Stage.PREVOTE, chain[0].hash, 1), KEYS[1].public, KEYS[1].secret)
    with pytest.raises(InvalidVote):
        voter.on_vote(other_set)
    forged = SignedVote(1, 0, Vote(Stage.PREVOTE, chain[0].hash, 1), KEYS[1].public, bytes(64))
    with pytest.raises(InvalidVote):
        voter.on_vote(forged)


def test_a_lagging_voter_jumps_to_the_round_the_others_are_in():
    tree = Tree()
    chain = tree.extend(tree.genesis, 2, b"a")
    voters = [make_voter(tree, k, chain[-1], tree.genesis) for k in KEYS]
    for v in voters[:3]:
        v.round = 9
    outputs = []
    for v in voters[:3]:
        outputs += [o for o in v.start_round() if isinstance(o, Broadcast)]
    lagging = voters[3]
    lagging.start_round()
    for out in outputs:
        lagging.on_vote(out.vote)
    assert lagging.round == 10
