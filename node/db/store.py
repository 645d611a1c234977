"""``ChainStore``: blocks, finality and state of one chain in RocksDB, crash-safe.

What it keeps (byte layout in :mod:`node.db.layout`): headers, bodies and justifications by block
hash, every stored block by height, a parent → children index, the best chain as a number → hash
index, the state trie nodes of every stored block, and the best and finalized pointers.

Crash safety
============

Every logical update (initialising, ``import_block``, ``set_best``, ``finalize``,
``save_voter_state``) is one RocksDB ``WriteBatch``: applied whole or not at all, with the write-ahead
log always on and point-in-time recovery, so after ``kill -9`` at any moment the database reopens as it
was after some completed update. Durability differs by kind:

* ``import_block`` and ``set_best`` write without ``fsync``: the batch is in the WAL (the kernel's
  page cache) when the call returns, so it survives the process being killed, but a power cut or
  kernel crash may lose the last few; what is lost is re-fetched from peers, and since the WAL is
  replayed in order, a lost import never leaves a later block without its parent.
* ``finalize``, ``save_voter_state`` and the genesis initialisation write with ``fsync``. Syncing the
  WAL also makes every earlier batch durable, so once ``finalize`` returns, the finalized chain, its
  states and all the imports before it survive a power cut.

After a crash the best pointer is therefore the one of the last completed ``set_best`` /
``finalize`` (at worst the finalized block), never a half-written block.

State and pruning
=================

A block's state is not stored whole: the trie is content-addressed and consecutive states share all
but the nodes on changed paths. Importing a block stores ``TrieState.new_nodes()`` (the nodes its one
``apply`` created; all of ``iter_nodes()`` for genesis) and records them in the block's *journal*;
``node_refs`` counts, per node, the stored blocks whose journal lists it. Every node a stored state
needs is in the journal of the block or of one of its ancestors, and ancestors of a stored block are
stored, so a node with a count above zero is exactly a node some stored state can reach.

``finalize`` prunes every stored block that neither is an ancestor of the new finalized block nor
descends from it (forks that lost), together with everything under them; dropping a block
decrements the counts of its journal and deletes the nodes that reach zero, in the same batch as the
finality update. States of finalized blocks are all kept (archive of the canonical chain). Pruning
old canonical states later reuses the journals: drop the journals and counts of blocks below the
kept window after moving, to the window's oldest block, the nodes its state still reaches.

Reading a state rebuilds it with ``TrieState.from_nodes`` on first use; each node's hash is checked
against its key, and ``from_nodes`` checks the root, so damaged or missing nodes raise
:class:`CorruptDatabase`. Recent states (imported or loaded) are kept in an LRU cache.

Concurrency
===========

Synchronous and thread-safe by contract: one writer, any number of readers. Writes (``import_block``,
``set_best``, ``finalize``) are meant to come from one task (block import and finality); they are
also serialized by a lock, so a second writer waits rather than corrupts. Readers never block writes
and may run in any thread: each RocksDB read is atomic and every write batch is seen whole, but a
reader's sequence of calls is not a snapshot: a fork block may be pruned between two calls, which then
raise :class:`UnknownBlock` (never :class:`CorruptDatabase`), and ``best`` / ``finalized`` may move.
``close()`` must come after every other call has returned.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple, NoReturn

from rocksdict import DBRecoveryMode, Options, Rdict, WriteBatch, WriteOptions

from runtime.executive import Block
from runtime.hashing import blake2_256
from runtime.primitives import Header
from runtime.scale import ScaleDecodeError, encode_compact
from runtime.trie import IncompleteDatabase, InvalidNode, TrieState

from .errors import CorruptDatabase, FinalityConflict, InvalidImport, SchemaMismatch, UnknownBlock, WrongChain
from .layout import (
    BEST_KEY,
    BODIES,
    CANONICAL,
    CHILDREN,
    COLUMN_FAMILIES,
    FINALIZED_KEY,
    GENESIS_HASH_KEY,
    HASH_LENGTH,
    HEADERS,
    JUSTIFICATIONS,
    META,
    NODE_JOURNAL,
    NODE_REFS,
    NUMBER_INDEX,
    POINT_LOOKUP_FAMILIES,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    TRIE_NODES,
    VOTER_STATE_KEY,
    decode_journal,
    decode_u32,
    encode_journal,
    encode_u32,
    number_key,
)

__all__ = ["BlockRef", "ChainStore"]

DEFAULT_STATE_CACHE_SIZE = 16
POINT_LOOKUP_CACHE_MB = 64


class BlockRef(NamedTuple):
    number: int
    hash: bytes


def _options(*, point_lookup: bool = False) -> Options:
    options = Options(raw_mode=True)
    if point_lookup:
        options.optimize_for_point_lookup(POINT_LOOKUP_CACHE_MB)  # bloom filters: most lookups miss
    return options


def _db_options() -> Options:
    options = _options()
    options.create_if_missing(True)
    options.create_missing_column_families(True)
    options.set_wal_recovery_mode(DBRecoveryMode.point_in_time())
    options.set_keep_log_file_num(4)
    return options


def _hex(block_hash: bytes) -> str:
    return "0x" + block_hash.hex()


class _Batch:
    """One atomic update under construction: puts and deletes by column family name."""

    def __init__(self, handles: dict) -> None:
        self.handles = handles
        self.batch = WriteBatch(raw_mode=True)

    def put(self, family: str, key: bytes, value: bytes) -> None:
        self.batch.put(key, value, self.handles[family])

    def delete(self, family: str, key: bytes) -> None:
        self.batch.delete(key, self.handles[family])


class ChainStore:
    """The node's chain database; create it with :meth:`open`. See the module docstring for the
    durability and concurrency contract."""

    def __init__(self, db: Rdict, genesis_hash: bytes, state_version: int, state_cache_size: int) -> None:
        self._db = db
        self._families = {name: db.get_column_family(name) for name in COLUMN_FAMILIES}
        self._handles = {name: db.get_column_family_handle(name) for name in COLUMN_FAMILIES}
        self._genesis_hash = genesis_hash
        self._state_version = state_version
        self._state_cache_size = state_cache_size
        self._states: OrderedDict[bytes, TrieState] = OrderedDict()
        self._states_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._best = self._finalized = BlockRef(0, genesis_hash)
        self._closed = False

    # -- opening and closing ---------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, genesis_block: Block, genesis_state: TrieState, *,
             state_cache_size: int = DEFAULT_STATE_CACHE_SIZE) -> ChainStore:
        """Open the database at ``path``, creating it with the genesis block and state if there is
        none. Raises :class:`WrongChain` for a database of another genesis, :class:`SchemaMismatch`
        for another layout, :class:`CorruptDatabase` when the pointers lead nowhere."""
        if genesis_state.root != genesis_block.header.state_root:
            raise ValueError("the genesis state does not match the genesis header's state root")
        path = Path(path)
        if (path / "CURRENT").exists():
            found = set(Rdict.list_cf(str(path))) - {"default"}
            if found != set(COLUMN_FAMILIES):
                raise SchemaMismatch(f"{path}: column families {sorted(found)} are not those of a chain "
                                     f"database of schema version {SCHEMA_VERSION}")
        db = Rdict(str(path), _db_options(), column_families={
            name: _options(point_lookup=name in POINT_LOOKUP_FAMILIES) for name in COLUMN_FAMILIES})
        store = cls(db, genesis_block.hash, genesis_state.version, state_cache_size)
        try:
            store._load_or_initialise(genesis_block, genesis_state)
        except BaseException:
            store.close()
            raise
        return store

    def _load_or_initialise(self, genesis_block: Block, genesis_state: TrieState) -> None:
        meta = self._families[META]
        raw_version = meta.get(SCHEMA_VERSION_KEY)
        if raw_version is None:
            if any(next(iter(family.keys()), None) is not None for family in self._families.values()):
                raise CorruptDatabase("the database holds data but no schema version")
            self._initialise(genesis_block, genesis_state)
            return
        version = decode_u32(raw_version)
        if version != SCHEMA_VERSION:
            raise SchemaMismatch(f"the database has schema version {version}; this node reads version "
                                 f"{SCHEMA_VERSION}")
        stored_genesis = meta.get(GENESIS_HASH_KEY)
        if stored_genesis != self._genesis_hash:
            found = _hex(stored_genesis) if stored_genesis is not None else "none"
            raise WrongChain(f"the database is of the chain with genesis {found}, not "
                             f"{_hex(self._genesis_hash)}")
        self._best = self._pointer(BEST_KEY)
        self._finalized = self._pointer(FINALIZED_KEY)

    def _pointer(self, key: bytes) -> BlockRef:
        block_hash = self._families[META].get(key)
        header = self._read_header(block_hash) if block_hash is not None else None
        if header is None:
            raise CorruptDatabase(f"the {key.decode()} pointer names no stored block")
        return BlockRef(header.number, block_hash)

    def _initialise(self, genesis_block: Block, genesis_state: TrieState) -> None:
        genesis_hash = self._genesis_hash
        batch = self._batch()
        self._put_block(batch, genesis_hash, genesis_block, dict(genesis_state.iter_nodes()))
        batch.put(CANONICAL, number_key(0), genesis_hash)
        batch.put(META, SCHEMA_VERSION_KEY, encode_u32(SCHEMA_VERSION))
        batch.put(META, GENESIS_HASH_KEY, genesis_hash)
        batch.put(META, BEST_KEY, genesis_hash)
        batch.put(META, FINALIZED_KEY, genesis_hash)
        self._write(batch, sync=True)
        self._cache_state(genesis_hash, genesis_state)

    def close(self) -> None:
        """Flush and release the database and its lock; a second call does nothing. Call it after every
        other call has returned; later calls raise rocksdict's ``DbClosedError``."""
        if self._closed:
            return
        self._closed = True
        for family in self._families.values():
            family.close()
        self._handles.clear()  # live column family handles would keep RocksDB (and its lock) open
        self._db.close()
        with self._states_lock:
            self._states.clear()

    def __enter__(self) -> ChainStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------

    @property
    def genesis_hash(self) -> bytes:
        return self._genesis_hash

    @property
    def best(self) -> BlockRef:
        """The head of the best chain (at worst the finalized block)."""
        return self._best

    @property
    def finalized(self) -> BlockRef:
        """The last finalized block (genesis until the first ``finalize``)."""
        return self._finalized

    def contains(self, block_hash: bytes) -> bool:
        return self._families[HEADERS].get(block_hash) is not None

    def header(self, block_hash: bytes) -> Header:
        header = self._read_header(block_hash)
        if header is None:
            raise UnknownBlock(block_hash)
        return header

    def block(self, block_hash: bytes) -> Block:
        """The header and extrinsics (the body is not re-rooted against the header: RocksDB's block
        checksums guard it on disk)."""
        header_bytes = self._families[HEADERS].get(block_hash)  # first: then the block was stored
        if header_bytes is None:
            raise UnknownBlock(block_hash)
        body = self._families[BODIES].get(block_hash)
        if body is None:
            self._raise_missing(block_hash, "body")
        if blake2_256(header_bytes) != block_hash:
            raise CorruptDatabase(f"the stored header of {_hex(block_hash)} does not hash to its key")
        try:
            return Block.decode(header_bytes + body)
        except ScaleDecodeError as exc:
            raise CorruptDatabase(f"the stored body of {_hex(block_hash)} does not decode: {exc}") from None

    def justification(self, block_hash: bytes) -> bytes | None:
        """The stored justification of a stored block, or None if it has none."""
        justification = self._families[JUSTIFICATIONS].get(block_hash)
        if justification is None and not self.contains(block_hash):
            raise UnknownBlock(block_hash)
        return justification

    def hash_of(self, number: int) -> bytes | None:
        """The best chain's block at ``number`` (final up to ``finalized.number``), or None above
        ``best``."""
        if not 0 <= number < 2**32:
            return None
        return self._families[CANONICAL].get(number_key(number))

    def hashes_at(self, number: int) -> list[bytes]:
        """Every stored block at height ``number``, in hash order."""
        if not 0 <= number < 2**32:
            return []
        return [key[4:] for key in self._keys_with_prefix(NUMBER_INDEX, number_key(number))]

    def children(self, block_hash: bytes) -> list[bytes]:
        """The stored children of ``block_hash``, in hash order."""
        return [key[HASH_LENGTH:] for key in self._keys_with_prefix(CHILDREN, block_hash)]

    def state(self, block_hash: bytes) -> TrieState:
        """The state after ``block_hash``, from the cache or rebuilt from the stored trie nodes."""
        with self._states_lock:
            cached = self._states.get(block_hash)
            if cached is not None:
                self._states.move_to_end(block_hash)
        if cached is not None and self.contains(block_hash):  # a cached fork state may since be pruned
            return cached
        state = self._load_state(block_hash, self.header(block_hash).state_root)
        self._cache_state(block_hash, state)
        return state

    def _load_state(self, block_hash: bytes, root: bytes) -> TrieState:
        nodes = self._families[TRIE_NODES]

        def lookup(node_hash: bytes) -> bytes | None:
            encoding = nodes.get(node_hash)
            if encoding is not None and blake2_256(encoding) != node_hash:
                raise CorruptDatabase(f"trie node {_hex(node_hash)} (state of block {_hex(block_hash)}) "
                                      "does not hash to its key")
            return encoding

        try:
            return TrieState.from_nodes(root, lookup, version=self._state_version)
        except IncompleteDatabase as exc:
            self._raise_missing(block_hash, f"trie node {_hex(exc.args[0])}")
        except InvalidNode as exc:
            raise CorruptDatabase(f"the state of block {_hex(block_hash)} is invalid: {exc}") from None

    def _raise_missing(self, block_hash: bytes, what: str) -> NoReturn:
        """Something of ``block_hash``, read after its header was found, is missing: the block was
        pruned meanwhile, or the database is damaged."""
        if not self.contains(block_hash):
            raise UnknownBlock(block_hash)
        raise CorruptDatabase(f"block {_hex(block_hash)} is stored but its {what} is missing")

    def _read_header(self, block_hash: bytes) -> Header | None:
        data = self._families[HEADERS].get(block_hash)
        if data is None:
            return None
        if blake2_256(data) != block_hash:
            raise CorruptDatabase(f"the stored header of {_hex(block_hash)} does not hash to its key")
        return Header.decode(data)

    def _keys_with_prefix(self, family: str, prefix: bytes) -> list[bytes]:
        keys = self._families[family].keys(from_key=prefix)
        return list(itertools.takewhile(lambda key: key.startswith(prefix), keys))

    def _cache_state(self, block_hash: bytes, state: TrieState) -> None:
        with self._states_lock:
            self._states[block_hash] = state
            self._states.move_to_end(block_hash)
            while len(self._states) > self._state_cache_size:
                self._states.popitem(last=False)

    # -- writing ---------------------------------------------------------------------------------

    def import_block(self, block: Block, state: TrieState, *, justification: bytes | None = None,
                     make_best: bool = False) -> bool:
        """Store ``block`` and its post-state ``state`` in one batch (plus ``justification``, and the
        best pointer when ``make_best``). Returns False, changing nothing, if the block is already
        stored. ``state`` must come from one ``apply`` on the parent's state (what ``execute_block``
        and ``BlockBuilder.finalize`` return), so that its ``new_nodes()`` are all it adds.
        Raises :class:`InvalidImport`."""
        header = block.header
        block_hash = header.hash
        with self._write_lock:
            if self.contains(block_hash):
                return False
            parent = self._read_header(header.parent_hash)
            if parent is None:
                raise InvalidImport(f"block {_hex(block_hash)}: unknown parent {_hex(header.parent_hash)}")
            if header.number != parent.number + 1:
                raise InvalidImport(f"block {_hex(block_hash)} has number {header.number}, its parent "
                                    f"{parent.number}")
            if header.number <= self._finalized.number:
                raise InvalidImport(f"block {_hex(block_hash)} at height {header.number} conflicts with "
                                    f"the finalized block at {self._finalized.number}")
            if state.root != header.state_root:
                raise InvalidImport(f"block {_hex(block_hash)}: the state's root is not the header's")
            batch = self._batch()
            self._put_block(batch, block_hash, block, dict(state.new_nodes()))
            if justification is not None:
                batch.put(JUSTIFICATIONS, block_hash, justification)
            new_best = BlockRef(header.number, block_hash)
            if make_best:
                self._put_best(batch, new_best, header.parent_hash)
            self._write(batch, sync=False)
            if make_best:
                self._best = new_best
        self._cache_state(block_hash, state)
        return True

    def set_best(self, block_hash: bytes) -> None:
        """Make ``block_hash`` the head of the best chain. Every stored block at or above the finalized
        height descends from the finalized block; one below it raises :class:`FinalityConflict`."""
        with self._write_lock:
            header = self.header(block_hash)
            if header.number < self._finalized.number:
                raise FinalityConflict(f"block {_hex(block_hash)} is below the finalized block")
            batch = self._batch()
            new_best = BlockRef(header.number, block_hash)
            self._put_best(batch, new_best, header.parent_hash)
            self._write(batch, sync=False)
            self._best = new_best

    def _put_best(self, batch: _Batch, new_best: BlockRef, parent_hash: bytes) -> None:
        """Point the best pointer and the canonical index at ``new_best``'s chain: rewrite heights
        down to where the index already agrees, drop heights above it."""
        canonical = self._families[CANONICAL]
        number, block_hash = new_best
        while canonical.get(number_key(number)) != block_hash:
            if number <= self._finalized.number:  # the walk passed the finalized block without meeting it
                raise CorruptDatabase(f"stored block {_hex(new_best.hash)} does not descend from the "
                                      "finalized block")
            batch.put(CANONICAL, number_key(number), block_hash)
            number, block_hash = number - 1, parent_hash
            parent_hash = self.header(block_hash).parent_hash
        for above in range(new_best.number + 1, self._best.number + 1):
            batch.delete(CANONICAL, number_key(above))
        batch.put(META, BEST_KEY, new_best.hash)

    def finalize(self, block_hash: bytes, justification: bytes | None = None) -> None:
        """Finalize ``block_hash`` (a descendant of the finalized block; an already finalized one only
        gets ``justification`` stored): extend the canonical index to it, move the finalized pointer,
        store ``justification``, and prune every fork that no longer leads to it (blocks, indexes and
        the trie nodes only they reached). One synced batch. If the best block is pruned or left below,
        best falls back to ``block_hash``. Raises :class:`UnknownBlock` (never imported, or pruned:
        so a block conflicting with finality is always unknown here)."""
        with self._write_lock:
            header = self.header(block_hash)
            target = BlockRef(header.number, block_hash)
            batch = self._batch()
            if justification is not None:
                batch.put(JUSTIFICATIONS, block_hash, justification)
            if target.number <= self._finalized.number:  # stored at or below: it is already final
                self._write(batch, sync=True)
                return
            route = self._route_from_finalized(target, header.parent_hash)
            for step in route:
                batch.put(CANONICAL, number_key(step.number), step.hash)
            batch.put(META, FINALIZED_KEY, block_hash)
            pruned = self._losing_forks(route)
            self._delete_blocks(batch, pruned)
            new_best = self._best
            if new_best.hash in pruned or new_best.number < target.number:
                new_best = target
                for above in range(target.number + 1, self._best.number + 1):
                    batch.delete(CANONICAL, number_key(above))
                batch.put(META, BEST_KEY, block_hash)
            self._write(batch, sync=True)
            self._finalized, self._best = target, new_best
        with self._states_lock:
            for pruned_hash in pruned:
                self._states.pop(pruned_hash, None)

    def save_voter_state(self, encoded: bytes) -> None:
        """Replace the finality voter's persisted state (``VoterState.encode()``) in one synced batch: once
        this returns the state survives a crash or a power cut. The voter sends a vote only once the state
        holding it is saved, so a restart can never make it sign a different one."""
        with self._write_lock:
            batch = self._batch()
            batch.put(META, VOTER_STATE_KEY, encoded)
            self._write(batch, sync=True)

    def load_voter_state(self) -> bytes | None:
        """The state :meth:`save_voter_state` last saved, None if there is none (the bytes are checked
        by their decoder, ``VoterState.decode``)."""
        return self._families[META].get(VOTER_STATE_KEY)

    def _route_from_finalized(self, target: BlockRef, parent_hash: bytes) -> list[BlockRef]:
        """The blocks after the finalized one up to ``target``, oldest first."""
        route = [target]
        while route[-1].number - 1 > self._finalized.number:
            route.append(BlockRef(route[-1].number - 1, parent_hash))
            parent_hash = self.header(parent_hash).parent_hash
        if parent_hash != self._finalized.hash:
            raise CorruptDatabase(f"stored block {_hex(target.hash)} does not descend from the finalized block")
        route.reverse()
        return route

    def _losing_forks(self, route: list[BlockRef]) -> set[bytes]:
        """Every stored block beside ``route`` at its heights, and all their descendants."""
        pending = [block_hash for step in route for block_hash in self.hashes_at(step.number)
                   if block_hash != step.hash]
        losing: set[bytes] = set()
        while pending:
            block_hash = pending.pop()
            if block_hash not in losing:
                losing.add(block_hash)
                pending.extend(self.children(block_hash))
        return losing

    def _put_block(self, batch: _Batch, block_hash: bytes, block: Block, nodes: dict[bytes, bytes]) -> None:
        header = block.header
        batch.put(HEADERS, block_hash, header.encode())
        batch.put(BODIES, block_hash, encode_compact(len(block.extrinsics)) + b"".join(block.extrinsics))
        batch.put(NUMBER_INDEX, number_key(header.number) + block_hash, b"")
        if header.number:
            batch.put(CHILDREN, header.parent_hash + block_hash, b"")
        node_hashes = list(nodes)
        for node_hash, raw_count in zip(node_hashes, self._multi_get(NODE_REFS, node_hashes)):
            if raw_count is None:
                batch.put(TRIE_NODES, node_hash, nodes[node_hash])
                batch.put(NODE_REFS, node_hash, encode_u32(1))
            else:
                batch.put(NODE_REFS, node_hash, encode_u32(self._count(node_hash, raw_count) + 1))
        batch.put(NODE_JOURNAL, block_hash, encode_journal(node_hashes))

    def _delete_blocks(self, batch: _Batch, block_hashes: Iterable[bytes]) -> None:
        released: Counter[bytes] = Counter()
        for block_hash in block_hashes:
            header = self.header(block_hash)
            journal = self._families[NODE_JOURNAL].get(block_hash)
            node_hashes = decode_journal(journal) if journal is not None else None
            if node_hashes is None:
                raise CorruptDatabase(f"block {_hex(block_hash)} has a missing or malformed node journal")
            released.update(node_hashes)
            for family in (HEADERS, BODIES, JUSTIFICATIONS, NODE_JOURNAL):
                batch.delete(family, block_hash)
            batch.delete(NUMBER_INDEX, number_key(header.number) + block_hash)
            batch.delete(CHILDREN, header.parent_hash + block_hash)
        node_hashes = list(released)
        for node_hash, raw_count in zip(node_hashes, self._multi_get(NODE_REFS, node_hashes)):
            if raw_count is None:
                raise CorruptDatabase(f"trie node {_hex(node_hash)} is in a journal but has no count")
            left = self._count(node_hash, raw_count) - released[node_hash]
            if left < 0:
                raise CorruptDatabase(f"trie node {_hex(node_hash)} has fewer references than journals")
            if left:
                batch.put(NODE_REFS, node_hash, encode_u32(left))
            else:
                batch.delete(NODE_REFS, node_hash)
                batch.delete(TRIE_NODES, node_hash)

    @staticmethod
    def _count(node_hash: bytes, raw_count: bytes) -> int:
        count = decode_u32(raw_count)
        if not count:
            raise CorruptDatabase(f"trie node {_hex(node_hash)} has a malformed reference count")
        return count

    def _multi_get(self, family: str, keys: list[bytes]) -> list[bytes | None]:
        return self._families[family].get(keys) if keys else []

    def _batch(self) -> _Batch:
        return _Batch(self._handles)

    def _write(self, batch: _Batch, *, sync: bool) -> None:
        options = WriteOptions()
        options.sync = sync
        self._db.write(batch.batch, options)
