"""The state trie: a persistent base-16 Patricia-Merkle trie, byte-compatible with Substrate.

The chain state is a map ``bytes -> bytes``. The header's ``state_root`` commits to it through the
trie Substrate uses (``sp-trie``, ``LayoutV1`` = ``state_version`` 1, hasher blake2b-256), so roots,
node encodings and read proofs are exactly the ones a Substrate node produces for the same map.

Structure
=========

Keys are read as nibbles (4-bit digits, high nibble first). Every node has a *partial key* (the
nibbles it consumes) and there are no extension nodes: a branch carries its own partial key. A node
is either a **leaf** (partial key + value) or a **branch** (partial key, up to 16 children indexed by
the next nibble, optional value). The shape is canonical: a branch has either two or more children,
or one child and a value; so the same map always gives the same trie and the same root.

Node encodings (``sp-trie`` ``NodeCodec`` / ``node_header.rs``)
===============================================================

Header, then packed partial key, then the body::

    header byte      node                       nibble-count bits   since
    0000 0000        empty trie (whole node)    -                   V0
    01nn nnnn        leaf, inline value         6                   V0
    10nn nnnn        branch without value       6                   V0
    11nn nnnn        branch, inline value       6                   V0
    001n nnnn        leaf, hashed value         5                   V1
    0001 nnnn        branch, hashed value       4                   V1
    0000 0001..1111  invalid

* **Nibble count.** If it is below the all-ones value of its bit field it is stored there. Otherwise
  the field is all ones and ``count - (max - 1)`` follows as continuation bytes: ``255`` (adds 255,
  continue) then a final byte ``< 255`` that adds ``byte + 1``. Counts are bounded by 65535.
* **Partial key.** ``ceil(count / 2)`` bytes; an odd count is left-padded with a zero nibble
  (``0x0a 0xbc`` for the nibbles ``a b c``).
* **Leaf body.** The value: ``compact(len) ++ value`` (SCALE), or in the hashed variants the 32-byte
  ``blake2_256(value)``.
* **Branch body.** ``bitmap: u16 little-endian`` (bit ``i`` set iff child ``i`` exists, never 0), then
  the value if any (as for a leaf), then for each present child in order ``compact(len) ++ ref``,
  where ``ref`` is the child's encoding itself when it is shorter than 32 bytes (an *inline* child)
  and else its 32-byte blake2_256 hash (so ``0x80 ++ hash``).
* **Values.** V1 (``state_version`` 1) stores a value of 33 bytes or more as a separate *value node*
  (the raw value bytes, addressed by ``blake2_256(value)``) and puts only the hash in the trie node.
  V0 always stores values inline. Both layouts decode with the same codec.
* **Root.** ``blake2_256`` of the root node's encoding, even when it is shorter than 32 bytes. The
  empty trie's root is ``blake2_256(b"\\x00")`` = ``EMPTY_ROOT``.

Why the trie is persistent
==========================

The node keeps a state per recent block (forks, RPC queries at old blocks) and a block that fails to
import must leave no trace. ``TrieState`` is therefore an immutable snapshot: ``apply`` copies only the
nodes on the paths to changed keys (path copying) and shares everything else with its parent, so a
block of a few thousand writes costs a few thousand node copies, not a rebuild, and discarding a
failed block means dropping the new snapshot. Node encodings are computed lazily the first time a
root is asked for and cached on the (never mutated) nodes, so an unchanged subtree is never re-hashed.
The caches are written without locks; concurrent readers at worst compute the same bytes twice.

The package is pure: no I/O, clock or randomness. Persisting nodes is the database's job: it stores
what ``TrieState.new_nodes`` / ``iter_nodes`` yield and rebuilds a state with ``TrieState.from_nodes``.

Limits: keys are at most 32767 bytes (65535 nibbles). Building, updating and hashing recurse once
per trie level, so Python's default recursion limit allows about 900 levels; only a chain of ~900
keys each a prefix of the next gets there (hashed storage keys stay under ~10 levels).

Modules: ``codec`` (node encoding, ``decode_node``), ``state`` (``TrieState``), ``proof``
(``verify_read_proof``).
"""

from .codec import (
    EMPTY_ROOT,
    HASHED_VALUE_THRESHOLD,
    MAX_KEY_LENGTH,
    DecodedNode,
    IncompleteDatabase,
    InvalidNode,
    InvalidProof,
    TrieError,
    decode_node,
)
from .proof import verify_read_proof
from .state import TrieState

__all__ = [
    "EMPTY_ROOT",
    "HASHED_VALUE_THRESHOLD",
    "MAX_KEY_LENGTH",
    "DecodedNode",
    "IncompleteDatabase",
    "InvalidNode",
    "InvalidProof",
    "TrieError",
    "TrieState",
    "decode_node",
    "verify_read_proof",
]
