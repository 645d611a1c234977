"""The chain database's errors: one base class, one subclass per way a request can fail."""

from __future__ import annotations


class ChainStoreError(Exception):
    """Base class of every error the chain database raises."""


class UnknownBlock(ChainStoreError, LookupError):
    """No such block is stored: never imported, or pruned as a fork that lost to finality."""

    def __init__(self, block_hash: bytes) -> None:
        super().__init__(f"unknown block 0x{block_hash.hex()}")
        self.block_hash = block_hash


class CorruptDatabase(ChainStoreError):
    """Stored bytes fail a check (a hash, a decoding, an index pointing at nothing): the database
    was damaged outside this module's control and must be repaired or rebuilt from peers."""


class WrongChain(ChainStoreError):
    """The database holds another chain (its genesis hash differs from the node's chain spec)."""


class SchemaMismatch(ChainStoreError):
    """The directory holds another schema version of this database, or not this database at all."""


class InvalidImport(ChainStoreError, ValueError):
    """A block the store refuses: unknown parent, wrong number, state that does not match its header,
    or a height at or below the finalized one."""


class FinalityConflict(ChainStoreError, ValueError):
    """The request would revert finality: making best a block below the finalized one."""
