"""Cairn's node-to-node messages: protocol and topic names, and their SCALE byte layouts (version 1).

Request/response protocols::

    cairn/status/1   request: empty
                     response: genesis hash (32) ++ best hash (32) ++ best number (u32)
                               ++ finalized hash (32) ++ finalized number (u32)
    cairn/blocks/1   request: from number (u32) ++ max blocks (u32)
                     response: Vec<(block: Vec<u8>, justification: Option<Vec<u8>>)>
                     blocks of the responder's best chain, ascending from ``from``; at most
                     ``MAX_BLOCKS_PER_RESPONSE`` and about ``MAX_RESPONSE_BYTES``
    cairn/blocks-by-hash/1
                     request: Vec<hash (32)>, 1 to ``MAX_HASHES_PER_REQUEST`` of them
                     response: as ``cairn/blocks/1``: those of the asked blocks the responder holds, on
                     any branch, in the request's order, about ``MAX_RESPONSE_BYTES`` at most. For blocks
                     off every best chain that finality votes name (a fork authored before its author
                     had peers): range sync never brings them, and the votes wait for them

Gossip topics (payloads are plain SCALE)::

    blocks        a newly authored block (``Block.encode()``)
    transactions  Vec<extrinsic>: the transactions a node pooled in the last ``TX_GOSSIP_INTERVAL_S``
                  (batched, so a busy node sends a few messages a second, not one per transaction)
    finality      one signed vote (``SignedVote.encode()``)
    commits       a justification of a newly finalized block (``Justification.encode()``)

Every decode is strict and raises :class:`ScaleDecodeError`; callers score the sender down for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.blocktree import BlockTree
from runtime.scale import BYTES, H256, U32, Option, ScaleDecodeError, Tuple, Vec

__all__ = [
    "STATUS_PROTOCOL",
    "BLOCKS_PROTOCOL",
    "BLOCKS_BY_HASH_PROTOCOL",
    "TOPIC_BLOCKS",
    "TOPIC_TRANSACTIONS",
    "TOPIC_FINALITY",
    "TOPIC_COMMITS",
    "Status",
    "BlockRequest",
    "BlocksByHashRequest",
    "encode_transactions",
    "decode_transactions",
    "TX_GOSSIP_INTERVAL_S",
    "MAX_TX_GOSSIP_BATCH",
    "encode_blocks_response",
    "decode_blocks_response",
    "serve_blocks",
    "serve_blocks_by_hash",
    "MAX_HASHES_PER_REQUEST",
    "MAX_BLOCKS_PER_RESPONSE",
    "MAX_RESPONSE_BYTES",
]

STATUS_PROTOCOL = "cairn/status/1"
BLOCKS_PROTOCOL = "cairn/blocks/1"
BLOCKS_BY_HASH_PROTOCOL = "cairn/blocks-by-hash/1"
TOPIC_BLOCKS = "blocks"
TOPIC_TRANSACTIONS = "transactions"
TOPIC_FINALITY = "finality"
TOPIC_COMMITS = "commits"

TX_GOSSIP_INTERVAL_S = 0.1
MAX_TX_GOSSIP_BATCH = 1024
MAX_BLOCKS_PER_RESPONSE = 128
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
MAX_HASHES_PER_REQUEST = 16
"""Blocks asked by hash at once: a few votes' targets and their missing parents."""

_STATUS = Tuple(H256, H256, U32, H256, U32)
_REQUEST = Tuple(U32, U32)
_RESPONSE = Vec(Tuple(BYTES, Option(BYTES)))
_HASHES = Vec(H256)


@dataclass(frozen=True)
class Status:
    genesis_hash: bytes
    best_hash: bytes
    best_number: int
    finalized_hash: bytes
    finalized_number: int

    def encode(self) -> bytes:
        return _STATUS.encode((self.genesis_hash, self.best_hash, self.best_number, self.finalized_hash,
                               self.finalized_number))

    @staticmethod
    def decode(data: bytes) -> "Status":
        return Status(*_STATUS.decode(data))

    @staticmethod
    def of(tree: BlockTree) -> "Status":
        return Status(tree.genesis_hash, tree.best_hash, tree.best.number, tree.finalized_hash, tree.finalized.number)


@dataclass(frozen=True)
class BlockRequest:
    from_number: int
    max_blocks: int

    def encode(self) -> bytes:
        return _REQUEST.encode((self.from_number, self.max_blocks))

    @staticmethod
    def decode(data: bytes) -> "BlockRequest":
        request = BlockRequest(*_REQUEST.decode(data))
        if request.max_blocks == 0:
            raise ScaleDecodeError("a block request must ask for at least one block")
        return request


@dataclass(frozen=True)
class BlocksByHashRequest:
    hashes: tuple[bytes, ...]

    def encode(self) -> bytes:
        return _HASHES.encode(list(self.hashes))

    @staticmethod
    def decode(data: bytes) -> "BlocksByHashRequest":
        hashes = tuple(_HASHES.decode(data))
        if not 1 <= len(hashes) <= MAX_HASHES_PER_REQUEST:
            raise ScaleDecodeError(f"a request by hash names 1 to {MAX_HASHES_PER_REQUEST} blocks, not {len(hashes)}")
        return BlocksByHashRequest(hashes)


_TX_BATCH = Vec(BYTES)


def encode_transactions(transactions: list[bytes]) -> bytes:
    return _TX_BATCH.encode(transactions)


def decode_transactions(data: bytes) -> list[bytes]:
    transactions = list(_TX_BATCH.decode(data))
    if len(transactions) > MAX_TX_GOSSIP_BATCH:
        raise ScaleDecodeError(f"{len(transactions)} transactions in one gossip message (at most {MAX_TX_GOSSIP_BATCH})")
    return transactions


def encode_blocks_response(blocks: list[tuple[bytes, bytes | None]]) -> bytes:
    return _RESPONSE.encode(blocks)


def decode_blocks_response(data: bytes) -> list[tuple[bytes, bytes | None]]:
    return list(_RESPONSE.decode(data))


def serve_blocks(tree: BlockTree, request: BlockRequest) -> bytes:
    """Blocks ``from_number`` upwards on our best chain, with the justifications we hold: at most
    ``MAX_BLOCKS_PER_RESPONSE`` and about ``MAX_RESPONSE_BYTES``, none from beyond our best block. Whatever
    range is asked for (a huge count, a start far past our best), the work is bounded by the answer plus
    one walk down the unfinalized blocks."""
    last = min(tree.best.number, request.from_number + min(request.max_blocks, MAX_BLOCKS_PER_RESPONSE) - 1)
    return _blocks_response(tree, _best_chain(tree, request.from_number, last))


def serve_blocks_by_hash(tree: BlockTree, request: BlocksByHashRequest) -> bytes:
    """The blocks of ``request`` we hold, on any branch, in its order, with the justifications we hold;
    about ``MAX_RESPONSE_BYTES`` at most (a request names at most ``MAX_HASHES_PER_REQUEST``)."""
    held = [block_hash for block_hash in dict.fromkeys(request.hashes) if block_hash in tree]  # each once
    return _blocks_response(tree, held)


def _blocks_response(tree: BlockTree, hashes: list[bytes]) -> bytes:
    """The blocks ``hashes`` name (all held), with their justifications, up to about ``MAX_RESPONSE_BYTES``."""
    blocks: list[tuple[bytes, bytes | None]] = []
    size = 0
    for block_hash in hashes:
        encoded = tree.entry(block_hash).block.encode()
        size += len(encoded)
        if blocks and size > MAX_RESPONSE_BYTES:
            break
        blocks.append((encoded, tree.justification(block_hash)))
    return encode_blocks_response(blocks)


def _best_chain(tree: BlockTree, first: int, last: int) -> list[bytes]:
    """The best chain's hashes at heights ``first..last``, ascending, up to the first one not held: the
    finalized ones by number, the others from one walk down from the best block (looking each of those up
    by number would walk the unfinalized chain once per block)."""
    hashes: list[bytes] = []
    finalized = tree.finalized.number
    for number in range(first, min(last, finalized) + 1):
        block_hash = tree.hash_at(number)
        if block_hash is None:
            return hashes
        hashes.append(block_hash)
    lowest = max(first, finalized + 1)
    unfinalized: list[bytes] = []
    for entry in tree.ancestors(tree.best_hash):
        if entry.number < lowest:
            break
        if entry.number <= last:
            unfinalized.append(entry.block.hash)
    return hashes + unfinalized[::-1]
