"""Sync: how blocks reach the node — announcements by gossip, and ranges fetched from peers ahead of us.

Every ``STATUS_POLL_S`` the node asks each peer for its status (genesis, best, finalized) and, from a peer
ahead of it, requests blocks (from where, below), ``SYNC_BATCH`` at a time, importing each and applying
the justifications that come with them. A peer on another genesis is a fatal mismatch; a response that does
not decode, or is not the range asked for (the heights from the one asked, each block the child of the one
before), costs the peer; a block that fails import stops that peer's batch (and costs the peer, unless it
may be honest: see ``node.verification``).

A status is a claim, and nothing in it is checked: a peer claiming a best block it cannot serve would otherwise
keep the node "syncing", so never authoring, for as long as it stays connected (one such peer per validator
stops the chain), and the range loop asking it again and again. So each batch must bring the next heights
(real blocks: each imports), and the loop ends where the peer's real blocks do; the node counts as syncing
from the first batch that carried its best forward (blocks it did not hold, from a peer claiming more than
``BEHIND_TOLERANCE`` past it) until that peer's range ends, and a peer's height counts in
:meth:`Sync.highest_known` only as far as the blocks it served. A range starts after our best block unless the
peer finalized more than we did (then after our finalized block, for the justifications), so a node behind
does not first fetch again the unfinalized blocks it holds.

A gossiped block is imported before it is forwarded (as Substrate announces a block only once imported): its
structure and seal are checked first (one signature; a bad one is the sender's fault), then it is executed;
only a block now in our tree is passed on. A block whose parent we lack is not forwarded; it makes us sync
from the peer that sent it.

Range sync follows best chains only. A block off every best chain (one authored before its author had peers,
then abandoned) never comes that way, yet finality votes may name it, and the voter cannot count them until it
is imported: with such votes from enough voters, no round completes anywhere and finality stops for good. So
every poll also asks peers, by hash (``cairn/blocks-by-hash/1``), for the blocks the voter's waiting votes name
(:meth:`FinalityHooks.missing_blocks`), with the ancestors needed to attach them, and imports them as any
other block.

The node is *syncing* while a peer ahead carries it forward (above); it does not author then, and
``system_health`` says so. The blocks finality waits for are fetched in a task of their own, so a slow peer's
range sync does not hold them up.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable, Iterable, Protocol, TypeVar

import trio

from node.blocktree import BlockTree
from node.chain import Chain
from node.network import DeferredSubscription, NetworkService, PeerId, PendingGossip, RequestRejected
from node.network.peers import Penalty
from node.protocol import (
    BLOCKS_BY_HASH_PROTOCOL,
    BLOCKS_PROTOCOL,
    MAX_HASHES_PER_REQUEST,
    STATUS_PROTOCOL,
    TOPIC_BLOCKS,
    BlockRequest,
    BlocksByHashRequest,
    Status,
    decode_blocks_response,
    serve_blocks,
    serve_blocks_by_hash,
)
from node.services.block_import import BlockImport, InvalidBlockError
from runtime.executive import Block
from runtime.scale import ScaleDecodeError

__all__ = ["Sync", "FinalityHooks", "SYNC_BATCH", "STATUS_POLL_S", "BEHIND_TOLERANCE", "MAX_FORK_FETCH"]

log = logging.getLogger("cairn.sync")
Request = TypeVar("Request")

SYNC_BATCH = 128
STATUS_POLL_S = 3.0
BEHIND_TOLERANCE = 2
"""Blocks a peer may be ahead of us before we count as syncing: a block or two is normal propagation lag."""
STATUS_TIMEOUT_S = 5.0
BLOCKS_TIMEOUT_S = 20.0
SERVING_AT_ONCE = 2
"""Block requests served at once, for all peers together. Building an answer (up to about 8 MiB of blocks)
runs on the event loop, some 60 ms each: a peer keeping 64 requests in flight held the loop for seconds in
one go. Served a couple at a time, everything else runs between two answers."""
MAX_FORK_FETCH = 64
"""Blocks fetched by hash from one peer in one poll: the blocks votes name and the fork below each down to a
block we hold (a fork authored while its author was cut off is a few blocks long)."""


class FinalityHooks(Protocol):
    """What sync does for finality: apply the justifications that come with synced blocks, and fetch the
    blocks its waiting votes name."""

    async def apply_justification(self, encoded: bytes, peer: PeerId | None) -> None: ...

    def missing_blocks(self) -> list[bytes]:
        """Blocks not imported yet that finality needs."""


class Sync:
    def __init__(self, chain: Chain, block_import: BlockImport, finality: FinalityHooks, network: NetworkService,
                 *, expect_peers: bool) -> None:
        """``expect_peers``: the chain has other authorities, so wait a slot for peers before declaring the
        initial sync done."""
        self.chain = chain
        self.block_import = block_import
        self.finality = finality
        self.network = network
        self.expect_peers = expect_peers
        self.initial_sync = trio.Event()
        """Set once every peer known at start-up was asked for its blocks."""
        self.peer_status: dict[PeerId, Status] = {}
        """Each peer's status as it last claimed it (``system_peers`` shows it)."""
        self._delivered: dict[PeerId, int] = {}
        """The highest block each peer served in a range that imported."""
        self._advancing: set[PeerId] = set()
        """Peers whose range is carrying us forward (a batch raised our best, and they claimed more than
        ``BEHIND_TOLERANCE`` blocks past it): the node is syncing until their range ends."""
        self._syncing_from: set[PeerId] = set()
        self._serving = trio.Semaphore(SERVING_AT_ONCE)

    @property
    def is_syncing(self) -> bool:
        return bool(self._advancing)

    def highest_known(self) -> int:
        """The highest block a peer served us in a range that imported, or our best."""
        return max([*self._delivered.values(), self.chain.tree.best.number])

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.network.register_protocol(STATUS_PROTOCOL, self._serve_status)
        self.network.register_protocol(BLOCKS_PROTOCOL, self._block_server(BlockRequest.decode, serve_blocks,
                                                                           "block request"))
        self.network.register_protocol(BLOCKS_BY_HASH_PROTOCOL, self._block_server(
            BlocksByHashRequest.decode, serve_blocks_by_hash, "block request by hash"))
        announcements = self.network.subscribe_deferred(TOPIC_BLOCKS)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._receive_announcements, announcements, nursery)
            nursery.start_soon(self._poll_peers)
            nursery.start_soon(self._fetch_missing_loop)
            task_status.started()

    # --- serving --------------------------------------------------------------------------------

    async def _serve_status(self, peer: PeerId, payload: bytes) -> bytes:
        return Status.of(self.chain.tree).encode()

    def _block_server(self, decode: Callable[[bytes], Request], serve: Callable[[BlockTree, Request], bytes],
                      what: str) -> Callable[[PeerId, bytes], Awaitable[bytes]]:
        """A protocol handler answering requests ``decode`` reads with ``serve``; a malformed one costs the peer."""
        async def handle(peer: PeerId, payload: bytes) -> bytes:
            try:
                request = decode(payload)
            except ScaleDecodeError as exc:
                raise RequestRejected(f"malformed {what}: {exc}", cost=Penalty.BAD_REQUEST) from None
            async with self._serving:  # (acquiring is a checkpoint: what waited runs before the next answer)
                return serve(self.chain.tree, request)
        return handle

    # --- fetching -------------------------------------------------------------------------------

    async def _poll_peers(self) -> None:
        if self.expect_peers:
            with trio.move_on_after(self.block_import.clock.slot_ms / 1000):  # give the bootnodes a slot
                while not self.network.peers():
                    await trio.sleep(0.05)
        while True:
            connected = {p.peer_id for p in self.network.peers()}
            for peer in list(self.peer_status):  # a peer gone is no longer a reason to count as behind
                if peer not in connected:
                    del self.peer_status[peer]
                    self._delivered.pop(peer, None)
            for peer in connected:
                await self.sync_from(peer)
            self.initial_sync.set()
            await trio.sleep(STATUS_POLL_S)

    async def _fetch_missing_loop(self) -> None:
        while True:
            await trio.sleep(STATUS_POLL_S)
            await self.fetch_missing([p.peer_id for p in self.network.peers()])

    async def sync_from(self, peer: PeerId) -> None:
        """Fetch what ``peer`` has beyond our best block, verifying every block and justification."""
        if peer in self._syncing_from:
            return
        self._syncing_from.add(peer)
        try:
            await self._sync_from(peer)
        finally:
            self._syncing_from.discard(peer)

    async def _sync_from(self, peer: PeerId) -> None:
        network, tree = self.network, self.chain.tree
        try:
            status = Status.decode(await network.request(peer, STATUS_PROTOCOL, b"", timeout=STATUS_TIMEOUT_S))
        except ScaleDecodeError:
            network.report(peer, Penalty.BAD_RESPONSE, "malformed status")
            return
        except Exception as exc:  # noqa: BLE001 - any failure of a remote peer: try another time
            log.debug("status from %s failed: %s", peer, exc)
            return
        if status.genesis_hash != tree.genesis_hash:
            network.report(peer, Penalty.FATAL, "different genesis")
            return
        self.peer_status[peer] = status
        # From the block after our best when only the peer's best is ahead: its blocks attach there unless it is
        # on another fork. From the one after our finalized block when it finalized more (the justifications come
        # with those blocks), or when its blocks did not attach.
        from_finalized = tree.finalized.number + 1
        start = tree.best.number + 1 if status.finalized_number <= tree.finalized.number else from_finalized
        try:
            while ((status.best_number > tree.best.number or status.finalized_number > tree.finalized.number)
                   and start <= status.best_number):
                request = BlockRequest(max(start, 1), SYNC_BATCH)
                blocks = await self._request_range(peer, request)
                if not blocks:
                    return
                if request.from_number > from_finalized and blocks[0][0].header.parent_hash not in tree:
                    start = from_finalized  # another fork than ours: from our finalized block (once)
                    continue
                best_before = tree.best.number
                if not await self._import_all(peer, blocks):
                    return
                start = request.from_number + len(blocks)
                self._delivered[peer] = max(self._delivered.get(peer, 0), start - 1)
                if tree.best.number > best_before and status.best_number > best_before + BEHIND_TOLERANCE:
                    self._advancing.add(peer)  # its blocks carry us forward: syncing until its range ends
        finally:
            self._advancing.discard(peer)

    async def _request_blocks(self, peer: PeerId, protocol: str,
                              payload: bytes) -> list[tuple[bytes, bytes | None]] | None:
        """``peer``'s answer to a block request, or None if it failed (a malformed one costs the peer)."""
        try:
            return decode_blocks_response(await self.network.request(peer, protocol, payload,
                                                                     timeout=BLOCKS_TIMEOUT_S))
        except ScaleDecodeError:
            self.network.report(peer, Penalty.BAD_RESPONSE, f"malformed {protocol} response")
        except Exception as exc:  # noqa: BLE001 - any failure of a remote peer: try another time
            log.debug("%s request to %s failed: %s", protocol, peer, exc)
        return None

    async def _request_range(self, peer: PeerId, request: BlockRequest) -> list[tuple[Block, bytes | None]] | None:
        """``peer``'s blocks for ``request``, decoded, with their justifications; None if the request failed or
        the answer does not decode or is not the range asked for (which costs the peer)."""
        answer = await self._request_blocks(peer, BLOCKS_PROTOCOL, request.encode())
        if answer is None:
            return None
        try:
            blocks = [(Block.decode(encoded), justification) for encoded, justification in answer]
        except ScaleDecodeError:
            self.network.report(peer, Penalty.BAD_RESPONSE, "malformed block in response")
            return None
        if not _is_range(request, [block for block, _ in blocks]):
            self.network.report(peer, Penalty.BAD_RESPONSE, "answered a block request with blocks not the range "
                                                            "asked for")
            return None
        return blocks

    async def _import_all(self, peer: PeerId, blocks: list[tuple[Block, bytes | None]]) -> bool:
        """Import ``blocks`` in order; false at the first that does not import."""
        for block, justification in blocks:
            if not await self._import(peer, block, justification):
                return False
        return True

    async def _import(self, peer: PeerId, block: Block, justification: bytes | None) -> bool:
        """Import one fetched block (fully checked) and apply its justification; false if it does not import."""
        try:
            await self.block_import.import_block(block)
        except InvalidBlockError as exc:
            self._refused(block, peer, exc)
            if exc.penalize:
                self.network.report(peer, Penalty.BAD_RESPONSE, f"invalid block: {exc}")
            return False
        if justification is not None:
            await self.finality.apply_justification(justification, peer)
        return True

    # --- blocks finality waits for --------------------------------------------------------------

    async def fetch_missing(self, peers: Iterable[PeerId]) -> None:
        """Fetch the blocks finality's waiting votes name and we lack, asking ``peers`` in turn until none
        is missing."""
        tree = self.chain.tree
        wanted = self.finality.missing_blocks()[:MAX_HASHES_PER_REQUEST]
        for peer in peers:
            if not wanted:
                return
            await self._fetch_by_hash(peer, wanted)
            wanted = [h for h in wanted if h not in tree]

    async def _fetch_by_hash(self, peer: PeerId, wanted: list[bytes]) -> None:
        """Ask ``peer`` for ``wanted``, then for the parents we lack of what it sends (none at or below our
        finalized height; no more requests once ``MAX_FORK_FETCH`` blocks came), and import them oldest first."""
        network, tree = self.network, self.chain.tree
        fetched: dict[bytes, tuple[Block, bytes | None]] = {}
        asking = wanted
        while asking and len(fetched) < MAX_FORK_FETCH:
            request = BlocksByHashRequest(tuple(asking[:MAX_HASHES_PER_REQUEST]))
            answer = await self._request_blocks(peer, BLOCKS_BY_HASH_PROTOCOL, request.encode())
            if answer is None:
                return
            try:
                blocks = [(Block.decode(encoded), justification) for encoded, justification in answer]
            except ScaleDecodeError:
                network.report(peer, Penalty.BAD_RESPONSE, "malformed block in response")
                return
            if any(block.hash not in request.hashes for block, _ in blocks):
                network.report(peer, Penalty.BAD_RESPONSE, "answered a request by hash with blocks not asked for")
                return
            fetched.update((block.hash, (block, justification)) for block, justification in blocks)
            asking = list(dict.fromkeys(
                block.header.parent_hash for block, _ in blocks
                if block.header.parent_hash not in tree and block.header.parent_hash not in fetched
                and block.header.number - 1 > tree.finalized.number))
        for block, justification in sorted(fetched.values(), key=lambda item: item[0].header.number):
            if block.hash not in tree and block.header.parent_hash in tree:
                if not await self._import(peer, block, justification):
                    return

    # --- announcements --------------------------------------------------------------------------

    async def _receive_announcements(self, subscription: DeferredSubscription, nursery: trio.Nursery) -> None:
        async with subscription:
            async for message in subscription:
                await self._on_announcement(message, nursery)

    async def _on_announcement(self, message: PendingGossip, nursery: trio.Nursery) -> None:
        try:
            block = Block.decode(message.payload)
        except ScaleDecodeError as exc:
            message.reject(f"malformed block: {exc}")
            return
        tree = self.chain.tree
        if block.hash in tree or block.header.number <= tree.finalized.number:
            message.ignore()  # known, or a stale fork (e.g. from a node still syncing): harmless, useless
            return
        if block.header.parent_hash not in tree:
            message.ignore()  # maybe ahead of us: fetch the gap from its sender
            nursery.start_soon(self.sync_from, message.peer_id)
            return
        try:
            claim = self.block_import.check_seal(block)
            await self.block_import.import_block(block, claim=claim)
        except InvalidBlockError as exc:
            self._refused(block, message.peer_id, exc)
            if exc.penalize:
                message.reject(f"invalid block: {exc}")
            else:
                message.ignore()
            return
        if block.hash in tree:
            message.accept()
        else:
            message.ignore()

    def _refused(self, block: Block, peer: PeerId, exc: InvalidBlockError) -> None:
        log.warning("rejected block #%d 0x%s from %s: %s", block.header.number, block.hash.hex()[:16], peer, exc)


def _is_range(request: BlockRequest, blocks: list[Block]) -> bool:
    """Whether ``blocks`` are a chain from the height ``request`` starts at, no longer than it asked for."""
    if len(blocks) > request.max_blocks:
        return False
    for i, block in enumerate(blocks):
        if block.header.number != request.from_number + i:
            return False
        if i and block.header.parent_hash != blocks[i - 1].hash:
            return False
    return True
