"""The validator node's database: blocks, justifications, indexes and state trie nodes of one chain,
in RocksDB (through ``rocksdict``), crash-safe.

``ChainStore.open(path, genesis_block, genesis_state)`` creates or reopens it; see :mod:`node.db.store`
for the design (atomic batches, durability, pruning of forks, the one-writer concurrency contract) and
:mod:`node.db.layout` for the versioned byte layout.

Modules: ``store`` (``ChainStore``, ``BlockRef``), ``layout`` (column families, keys, schema version),
``errors`` (``ChainStoreError`` and its subclasses).
"""

from .errors import (
    ChainStoreError,
    CorruptDatabase,
    FinalityConflict,
    InvalidImport,
    SchemaMismatch,
    UnknownBlock,
    WrongChain,
)
from .layout import SCHEMA_VERSION
from .store import BlockRef, ChainStore

__all__ = [
    "SCHEMA_VERSION",
    "BlockRef",
    "ChainStore",
    "ChainStoreError",
    "CorruptDatabase",
    "FinalityConflict",
    "InvalidImport",
    "SchemaMismatch",
    "UnknownBlock",
    "WrongChain",
]
