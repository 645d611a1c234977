"""Which DA nodes keep which columns of a blob: custody, deterministic from chain state.

Every blob fixes, when it is submitted, its node set (the registered DA nodes, in registration order) and a
custody seed (``da_layer.pallet``). From those two and the replication ``R`` (the pallet's
``CustodyReplication``), anyone computes the same assignment without talking to anyone:

1. the node order: the node indices ``0 .. n-1`` sorted by ``blake2_256(DOMAIN_DA_CUSTODY ++ seed ++ u32 LE
   index)`` (a permutation the submitter cannot choose, since the seed depends on the block that includes
   the blob);
2. column ``c`` is kept by the nodes at positions ``(c·R + j) mod n`` of that order, ``j = 0 .. R-1``.

Consecutive columns start ``R`` positions apart, so the columns are dealt round the order like cards: each
column has ``min(R, n)`` distinct custodians, and each node keeps ``columns·R/n`` columns, give or take one.
With fewer than ``R`` nodes, every node keeps every column.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from da_layer.kzg import CELLS_PER_BLOB
from runtime.hashing import DOMAIN_DA_CUSTODY, blake2_256

__all__ = ["node_order", "custodians", "custody_columns", "columns_kept"]

SEED_BYTES = 32


@lru_cache(maxsize=256)
def node_order(node_count: int, seed: bytes) -> tuple[int, ...]:
    """The node indices ``0 .. node_count-1`` in the custody order drawn from ``seed``."""
    _check(node_count, seed, 1)
    return tuple(sorted(range(node_count), key=lambda i: blake2_256(DOMAIN_DA_CUSTODY + seed + i.to_bytes(4, "little"))))


def custodians(column: int, node_count: int, seed: bytes, replication: int) -> tuple[int, ...]:
    """The indices (into the blob's node set) of the ``min(replication, node_count)`` nodes keeping ``column``."""
    if column < 0:
        raise ValueError(f"a column index is not negative: {column}")
    order = node_order(node_count, seed)
    _check(node_count, seed, replication)
    start = column * replication
    return tuple(order[(start + j) % node_count] for j in range(min(replication, node_count)))


def custody_columns(node_index: int, node_count: int, seed: bytes, columns: int = CELLS_PER_BLOB, *,
                    replication: int) -> tuple[int, ...]:
    """The columns (ascending) that node ``node_index`` of the blob's node set keeps."""
    if not 0 <= node_index < node_count:
        raise ValueError(f"node {node_index} is not in a set of {node_count}")
    _check(node_count, seed, replication)
    position = node_order(node_count, seed).index(node_index)
    keepers = min(replication, node_count)
    # column c starts at position c·R and covers the next ``keepers`` positions (mod n)
    return tuple(c for c in range(columns) if (position - c * replication) % node_count < keepers)


def columns_kept(positions: Iterable[int], node_count: int, seed: bytes, replication: int,
                 columns: int = CELLS_PER_BLOB) -> int:
    """How many distinct columns the nodes at ``positions`` of the blob's node set keep between them."""
    chosen = frozenset(positions)
    return sum(1 for column in range(columns) if not chosen.isdisjoint(custodians(column, node_count, seed,
                                                                                   replication)))


def _check(node_count: int, seed: bytes, replication: int) -> None:
    if node_count < 1:
        raise ValueError("custody needs at least one node")
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a custody seed is {SEED_BYTES} bytes, not {len(seed)}")
    if replication < 1:
        raise ValueError("every column needs at least one custodian")
