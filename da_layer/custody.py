"""Which DA nodes keep which columns of a blob: custody, dealt in proportion to stake, from chain state.

Every blob fixes, when it is submitted, its node set (the registered DA nodes, in registration order), their
stakes at that block and a custody seed drawn from the parent block's hash (``da_layer.pallet``). From those
and the replication ``R`` (the pallet's ``CustodyReplication`` then, which the blob's node set records), anyone
computes the same assignment without talking to anyone: each column ``c`` makes ``R`` independent draws of a
node, each with probability proportional to its stake,

    draw (c, j), j = 0 .. R-1:  u = blake2_256(DOMAIN_DA_CUSTODY ++ seed ++ u16 LE c ++ u8 j) as a 256-bit
    little-endian integer, mod the total stake; the node whose interval of the stakes laid end to end (in
    node-set order) holds u,

and is kept by the distinct nodes drawn (one to ``R`` of them).

Why stake, and why independent draws (an earlier version dealt columns round a permutation of the nodes, the
same number to each): the attestation quorum is counted in stake, and custody must be counted the same way.

- Dealt per node, many minimum-stake nodes held most columns: with little stake they could refuse every blob
  (its signers then kept too few columns) while the quorum, by stake, was met without them. Dealt by stake, a
  set of nodes keeps columns in proportion to its stake: a quorum (more than 2/3 of the stake) misses each
  column with probability below (1/3)^R, so it keeps all 128 in ~98 % of blobs and fewer than 126 in about
  one in a million, far above the 64 it needs.
- A coalition of less than 1/3 of the stake may sign without keeping anything, so the attesters it relies on
  are honest nodes with more than 1/3 of the stake, which a colluding submitter picks by handing cells to
  them only. Those must keep the half of the columns (64 of 128) that rebuilds the blob. A column misses a
  given set with stake share ``h`` with probability ``(1 - h)^R``; independent draws make the columns'
  misses independent, so a set with ``h`` > 1/3 misses half the columns with probability below
  ``exp(-128 · D(1/2 || (2/3)^R))`` (Chernoff), 2^-175 at R = 8, and the union over every such set of at
  most 128 nodes (fewer than 2^128) stays below 2^-47 for each seed (:func:`failure_bound_bits`). A
  permutation dealt in runs of consecutive positions gave the submitter a run of nodes with little more than
  a third of the columns.

The bound is per seed. A submitter cannot choose the seed, but it can try many (each commitment it could
submit, each block it could submit in); it would then still have to find, for a seed, a set of honest
nodes that falls short, which no known method does faster than trying sets. At 2^-47 a seed, ~2^40 tries
leave it a chance below 2^-7 even if it could check each seed for free.

With one node, it keeps every column; a node with a small share of the stake may keep none of a blob's (it
still signs, as keeping its empty share, and is paid pro rata to its quorum weight, its stake: its expected
custody).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import accumulate

from da_layer.kzg import CELLS_PER_BLOB, CELLS_TO_RECOVER
from runtime.hashing import DOMAIN_DA_CUSTODY, blake2_256

__all__ = ["assignment", "custodians", "custody_columns", "columns_kept", "failure_bound_bits"]

SEED_BYTES = 32


@lru_cache(maxsize=256)
def assignment(stakes: tuple[int, ...], seed: bytes, replication: int) -> tuple[tuple[int, ...], ...]:
    """For each column, the indices (ascending, into the blob's node set) of the nodes keeping it. A node of
    stake 0 keeps none (its interval is empty)."""
    _check(stakes, seed, replication)
    bounds = list(accumulate(stakes))
    total = bounds[-1]
    return tuple(
        tuple(sorted({bisect_right(bounds, _draw(seed, column, j) % total) for j in range(replication)}))
        for column in range(CELLS_PER_BLOB))


def custodians(column: int, stakes: Sequence[int], seed: bytes, replication: int) -> tuple[int, ...]:
    """The indices (into the blob's node set) of the nodes keeping ``column``, ascending."""
    if not 0 <= column < CELLS_PER_BLOB:
        raise ValueError(f"a blob has columns 0 .. {CELLS_PER_BLOB - 1}, not {column}")
    return assignment(tuple(stakes), seed, replication)[column]


def custody_columns(node_index: int, stakes: Sequence[int], seed: bytes, *, replication: int) -> tuple[int, ...]:
    """The columns (ascending) that node ``node_index`` of the blob's node set keeps; maybe none."""
    if not 0 <= node_index < len(stakes):
        raise ValueError(f"node {node_index} is not in a set of {len(stakes)}")
    dealt = assignment(tuple(stakes), seed, replication)
    return tuple(column for column, keepers in enumerate(dealt) if node_index in keepers)


def columns_kept(positions: Iterable[int], stakes: Sequence[int], seed: bytes, replication: int) -> int:
    """How many distinct columns the nodes at ``positions`` of the blob's node set keep between them."""
    chosen = frozenset(positions)
    return sum(1 for keepers in assignment(tuple(stakes), seed, replication) if not chosen.isdisjoint(keepers))


def failure_bound_bits(replication: int, max_nodes: int) -> float:
    """``b`` such that 2^-b bounds, for one seed, the chance that some set of nodes (of at most ``max_nodes``)
    with more than a third of the stake keeps fewer than the columns that rebuild a blob: the Chernoff bound
    on one set's missed columns, times the number of sets (2^max_nodes). Negative: no guarantee."""
    miss = (2 / 3) ** replication  # a column missing a given set of a third of the stake
    half = 1 - CELLS_TO_RECOVER / CELLS_PER_BLOB  # the share of columns it may miss at most
    if miss >= half:
        return -math.inf
    divergence = half * math.log(half / miss) + (1 - half) * math.log((1 - half) / (1 - miss))
    return CELLS_PER_BLOB * divergence / math.log(2) - max_nodes


def _draw(seed: bytes, column: int, replica: int) -> int:
    return int.from_bytes(blake2_256(DOMAIN_DA_CUSTODY + seed + column.to_bytes(2, "little")
                                     + replica.to_bytes(1, "little")), "little")


def _check(stakes: tuple[int, ...], seed: bytes, replication: int) -> None:
    if not stakes:
        raise ValueError("custody needs at least one node")
    if any(stake < 0 for stake in stakes) or not any(stakes):
        raise ValueError("custody needs stakes of at least 0 and one above")
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a custody seed is {SEED_BYTES} bytes, not {len(seed)}")
    if not 0 < replication < 256:
        raise ValueError("every column has 1 .. 255 custody draws")
