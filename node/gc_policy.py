"""How a running node uses Python's cyclic garbage collector: rarely, and never over what it built to start.

Nearly everything a node allocates per transaction (decoded extrinsics, SCALE values, trie nodes, pool entries)
is freed by reference counting the moment it is dropped; cycles are rare. CPython's default thresholds
(700, 10, 10) still run a young collection every 700 net allocations and a full one, which walks every tracked
object in the process, every few seconds under load. Measured on a 4-validator devnet offered 1,000 transfers/s
(``benchmarks/chain_throughput.py --rate 1000 --duration 40``, each validator's collector timed by its thread
CPU): the collector took 10.3-10.9 % of every validator's CPU and collected ~3 objects per young collection;
full collections each walked the whole heap for ~150 ms while blocks waited. After :func:`settle` it took
2.4-2.5 %, nearly all of it the collections before the node settles; the same command finalized 1,000
transfers/s where it had finalized 883 (RESULTS.md, chain throughput, 2026-12-04 19:06 and 19:07).
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "MIDDLE_THRESHOLD", "OLD_THRESHOLD", "settle"]

YOUNG_THRESHOLD = 50_000
"""Net allocations of tracked objects between young collections (CPython: 700). The young generation then holds
at most ~50,000 objects, a few MB, which a collection walks in milliseconds."""
MIDDLE_THRESHOLD = 20
"""Young collections between collections of the middle generation (CPython: 10)."""
OLD_THRESHOLD = 100
"""Middle collections between full ones (CPython: 10); CPython also waits until a quarter of the old generation
is new since the last full collection."""


def settle() -> None:
    """Collect what starting the node left behind (genesis construction alone leaves some 200,000 objects in
    cycles), freeze what survives (modules, the runtime's metadata, caches filled at start) out of every later
    collection's walk, and raise the thresholds. Call once the node has started, before it takes work."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
