"""An independent check of a closed chain database against every invariant ``node.db.layout`` states.

It reads the raw column families (read-only, no store code involved) to check indexes, pointers,
reference counts and that every block's trie is complete, then opens the store to load every block and
rebuild states.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rocksdict import AccessType, Options, Rdict

from node.db import ChainStore
from node.db import layout as L
from runtime.executive import Block, extrinsics_root
from runtime.hashing import blake2_256
from runtime.primitives import Header
from runtime.trie import TrieState, decode_node


@dataclass(frozen=True)
class Summary:
    blocks: int
    best: int
    finalized: int
    trie_nodes: int


def _read_raw(path: Path) -> dict[str, dict[bytes, bytes]]:
    families = {name: Options(raw_mode=True) for name in L.COLUMN_FAMILIES}
    db = Rdict(str(path), Options(raw_mode=True), column_families=families, access_type=AccessType.read_only())
    try:
        raw = {}
        for name in L.COLUMN_FAMILIES:
            family = db.get_column_family(name)
            raw[name] = {bytes(k): bytes(v) for k, v in family.items()}
            family.close()
        return raw
    finally:
        db.close()


def is_empty(path: Path) -> bool:
    """Whether the database holds no key at all (no partial batch either)."""
    return not any(_read_raw(path).values())


def check_database(path: Path, genesis_block: Block, genesis_state: TrieState, *,
                   sample_states: int | None = None) -> Summary:
    """Assert every invariant; rebuild the states of genesis, best, finalized and ``sample_states``
    other blocks through the store (all of them when None)."""
    raw = _read_raw(path)
    meta, headers = raw[L.META], raw[L.HEADERS]
    assert L.decode_u32(meta[L.SCHEMA_VERSION_KEY]) == L.SCHEMA_VERSION
    assert meta[L.GENESIS_HASH_KEY] == genesis_block.hash
    best, finalized = meta[L.BEST_KEY], meta[L.FINALIZED_KEY]

    decoded: dict[bytes, Header] = {}
    for block_hash, data in headers.items():
        assert blake2_256(data) == block_hash
        decoded[block_hash] = header = Header.decode(data)
        assert block_hash in raw[L.BODIES] and block_hash in raw[L.NODE_JOURNAL]
        if header.number:
            assert header.parent_hash in headers, "a stored block's parent is stored"
    for family in (L.BODIES, L.JUSTIFICATIONS, L.NODE_JOURNAL):
        assert set(raw[family]) <= set(headers), f"{family} holds entries of blocks that are not stored"
    assert set(raw[L.NUMBER_INDEX]) == {L.number_key(h.number) + k for k, h in decoded.items()}
    assert set(raw[L.CHILDREN]) == {h.parent_hash + k for k, h in decoded.items() if h.number}

    # pointers and the canonical index: heights 0 ..= best along best's ancestry, through finalized
    best_number, finalized_number = decoded[best].number, decoded[finalized].number
    assert best_number >= finalized_number
    assert set(raw[L.CANONICAL]) == {L.number_key(n) for n in range(best_number + 1)}
    block_hash = best
    for number in range(best_number, -1, -1):
        assert raw[L.CANONICAL][L.number_key(number)] == block_hash
        block_hash = decoded[block_hash].parent_hash
    assert raw[L.CANONICAL][L.number_key(finalized_number)] == finalized
    assert raw[L.CANONICAL][L.number_key(0)] == genesis_block.hash
    for block_hash, header in decoded.items():
        if header.number <= finalized_number:
            assert raw[L.CANONICAL][L.number_key(header.number)] == block_hash, "a fork below finality"
        else:
            ancestor = block_hash
            while decoded[ancestor].number > finalized_number:
                ancestor = decoded[ancestor].parent_hash
            assert ancestor == finalized, "a stored block that does not descend from the finalized one"

    # trie nodes: counts are exactly the journal memberships
    journals: Counter[bytes] = Counter()
    for data in raw[L.NODE_JOURNAL].values():
        node_hashes = L.decode_journal(data)
        assert node_hashes is not None and len(set(node_hashes)) == len(node_hashes)
        journals.update(node_hashes)
    assert {k: L.decode_u32(v) for k, v in raw[L.NODE_REFS].items()} == dict(journals)
    assert set(raw[L.TRIE_NODES]) == set(journals)
    assert all(blake2_256(v) == k for k, v in raw[L.TRIE_NODES].items())

    # every state's trie is complete, from each block's state root (shared nodes walked once), and
    # together the states use exactly the stored nodes
    reachable: set[bytes] = set()
    for header in decoded.values():
        _walk_trie(header.state_root, raw[L.TRIE_NODES], reachable)
    assert reachable == set(raw[L.TRIE_NODES]), "stored trie nodes are exactly those of stored states"

    # through the store: every block loads, and the sampled states rebuild to their header's root
    rng = random.Random(0)
    others = sorted(set(decoded) - {genesis_block.hash, best, finalized})
    loaded = [genesis_block.hash, best, finalized]
    loaded += others if sample_states is None else rng.sample(others, min(sample_states, len(others)))
    with ChainStore.open(path, genesis_block, genesis_state) as store:
        assert store.best.hash == best and store.finalized.hash == finalized
        for block_hash, header in decoded.items():
            block = store.block(block_hash)
            assert block.header == header
            assert extrinsics_root(block.extrinsics) == header.extrinsics_root
        for block_hash in loaded:
            assert store.state(block_hash).root == decoded[block_hash].state_root
    return Summary(len(headers), best_number, finalized_number, len(raw[L.TRIE_NODES]))


def _walk_trie(root: bytes, nodes: dict[bytes, bytes], seen: set[bytes]) -> None:
    """Add to ``seen`` every stored node under ``root`` (value nodes included), checking that each is
    there and hashes to its key."""
    pending = [(root, False)]
    while pending:
        node_hash, is_value = pending.pop()
        if node_hash in seen:
            continue
        encoding = nodes.get(node_hash)
        assert encoding is not None, f"trie node 0x{node_hash.hex()} is missing"
        assert blake2_256(encoding) == node_hash
        seen.add(node_hash)
        inline = [] if is_value else [encoding]
        while inline:
            node = decode_node(inline.pop())
            if node.value_hash is not None:
                pending.append((node.value_hash, True))
            for ref in node.children or ():
                if ref is not None:
                    if len(ref) == 32:
                        pending.append((ref, False))
                    else:
                        inline.append(ref)
