"""The on-disk layout of the chain database, schema version 1: column families, keys and values.

Every key and value is raw bytes (rocksdict ``raw_mode``). Hashes are 32-byte ``blake2_256`` digests
(block hash = hash of the SCALE header, trie node hash = hash of its encoding); block numbers are
``u32`` big-endian in keys, so a key scan visits heights in order.

====================  ===========================================  ==========================================
column family         key                                          value
====================  ===========================================  ==========================================
``meta``              ``b"schema_version"``                        ``u32`` little-endian: ``SCHEMA_VERSION``
                      ``b"genesis_hash"``                          hash of block 0 (the chain this DB is of)
                      ``b"best"``                                  hash of the best block
                      ``b"finalized"``                             hash of the last finalized block
                      ``b"voter_state"`` (optional)                the finality voter's last saved state
                                                                   (``VoterState``, versioned in its own
                                                                   encoding)
``headers``           block hash                                   ``SCALE(Header)``
``bodies``            block hash                                   ``compact(n) ++ extrinsics`` (each with its
                                                                   own length prefix): ``header ++ body`` is
                                                                   exactly ``Block.encode()``
``justifications``    block hash                                   opaque bytes (the finality proof)
``number_index``      ``number ++ block hash``                     empty: every stored block, by height
``children``          ``parent hash ++ child hash``                empty: every stored block but genesis
``canonical``         ``number``                                   block hash: the best chain, genesis to best;
                                                                   never changes up to the finalized block
``trie_nodes``        node hash                                    node encoding (or a V1 value node's value)
``node_refs``         node hash                                    ``u32`` little-endian: how many stored blocks
                                                                   list the node in their journal (>= 1)
``node_journal``      block hash                                   the distinct 32-byte node hashes the block
                                                                   added (``TrieState.new_nodes``; all of
                                                                   ``iter_nodes`` for genesis), sorted,
                                                                   concatenated
====================  ===========================================  ==========================================

Invariants (each write batch keeps all of them, so a crash at any point leaves them true):

* a block is stored iff its header is; then its body, ``number_index``, ``children`` (unless genesis)
  and ``node_journal`` entries exist too, and its state is loadable;
* ``node_refs[n]`` equals the number of journals containing ``n``; ``trie_nodes[n]`` exists iff it does;
* ``canonical`` has exactly the heights ``0 ..= best``; ``best`` and ``finalized`` are stored blocks,
  ``best`` descends from (or is) ``finalized``; every stored block at or below the finalized height is
  canonical, every other one descends from the finalized block.

Changing anything in this table bumps ``SCHEMA_VERSION``; a node refuses a database of another version.
Entries marked *optional* were added without a bump: older versions never wrote them and never read
them, and a node of this version reads their absence as "none yet".
"""

from __future__ import annotations

from collections.abc import Iterable

SCHEMA_VERSION = 1

META = "meta"
HEADERS = "headers"
BODIES = "bodies"
JUSTIFICATIONS = "justifications"
NUMBER_INDEX = "number_index"
CHILDREN = "children"
CANONICAL = "canonical"
TRIE_NODES = "trie_nodes"
NODE_REFS = "node_refs"
NODE_JOURNAL = "node_journal"

COLUMN_FAMILIES = (META, HEADERS, BODIES, JUSTIFICATIONS, NUMBER_INDEX, CHILDREN, CANONICAL, TRIE_NODES,
                   NODE_REFS, NODE_JOURNAL)
POINT_LOOKUP_FAMILIES = (TRIE_NODES, NODE_REFS)
"""Read only by key, mostly for keys that are absent (a new node's count): given bloom filters."""

SCHEMA_VERSION_KEY = b"schema_version"
GENESIS_HASH_KEY = b"genesis_hash"
BEST_KEY = b"best"
FINALIZED_KEY = b"finalized"
VOTER_STATE_KEY = b"voter_state"

HASH_LENGTH = 32


def number_key(number: int) -> bytes:
    return number.to_bytes(4, "big")


def encode_u32(value: int) -> bytes:
    return value.to_bytes(4, "little")


def decode_u32(data: bytes) -> int | None:
    """The ``u32`` in ``data``, or None when it is not 4 bytes long."""
    return int.from_bytes(data, "little") if len(data) == 4 else None


def encode_journal(node_hashes: Iterable[bytes]) -> bytes:
    return b"".join(sorted(node_hashes))


def decode_journal(data: bytes) -> list[bytes] | None:
    """The node hashes in a journal, or None when its length is not a multiple of 32."""
    if len(data) % HASH_LENGTH:
        return None
    return [data[i : i + HASH_LENGTH] for i in range(0, len(data), HASH_LENGTH)]
