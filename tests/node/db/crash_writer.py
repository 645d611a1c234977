"""The crash test's victim: imports real blocks with forks, reorgs and finality, and saves a finality
voter state after each, until SIGKILLed.

    python -m tests.node.db.crash_writer PATH SEED

Resumes from whatever the database at ``PATH`` holds. Prints ``ready`` once open, then after every
update ``BEST FINALIZED ROUND`` (heights, and the round of the voter state saved): a printed finalized
height and round were synced before they were printed.
"""

from __future__ import annotations

import random
import sys

from node.consensus.voter_state import VoterState
from node.db import ChainStore

from .chain import build_child, dev_chain


def run(path: str, rng: random.Random) -> None:
    _, genesis, genesis_state = dev_chain()
    store = ChainStore.open(path, genesis, genesis_state)
    saved = store.load_voter_state()
    voter_round = VoterState.decode(saved).round if saved is not None else 0
    print("ready", flush=True)
    while True:
        parent = store.block(store.best.hash)
        parent_state = store.state(parent.hash)
        number = parent.header.number + 1
        slots = rng.sample(range(10 * number, 10 * number + 10), 2)  # later heights, later slots
        block, state = build_child(parent, parent_state, slot=slots[0], transfers=rng.randrange(4))
        store.import_block(block, state, make_best=True)
        if rng.random() < 0.4:  # a sibling, which wins half the time
            sibling, sibling_state = build_child(parent, parent_state, slot=slots[1], transfers=rng.randrange(4))
            store.import_block(sibling, sibling_state, make_best=rng.random() < 0.5)
        best, finalized = store.best, store.finalized
        if best.number - finalized.number > 3 and rng.random() < 0.5:
            target = store.hash_of(best.number - rng.randrange(1, 4))
            store.finalize(target, b"justification of " + target)
        voter_round += 1
        store.save_voter_state(VoterState(0, voter_round, (), None).encode())
        print(store.best.number, store.finalized.number, voter_round, flush=True)


if __name__ == "__main__":
    run(sys.argv[1], random.Random(int(sys.argv[2])))
