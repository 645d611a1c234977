"""The validator/full node: one trio service that wires the chain, pool, network, finality and RPC.

    Node.run
     ├─ network (node.network)        peers, gossip topics, request/response
     ├─ rpc (node.rpc + node.api)     Substrate JSON-RPC, HTTP and WebSocket on one port
     ├─ metrics                       Prometheus text on its own port
     ├─ authorship loop               in our Aura slots: build from the pool, seal, gossip
     ├─ finality loop                 GRANDPA-style rounds (node.consensus.voter)
     ├─ sync loop                     catch up from peers' status and block ranges
     └─ gossip handlers               blocks, transactions, votes, commits

Everything that touches the block tree or the pool runs in the node's trio thread, so neither needs
locks. CPU-heavy work runs in worker threads with their own runtime instances: block execution and
authoring on one (``_executor``), transaction validation and ``state_call`` on another (``_validator``),
so a flood of RPC calls never delays block import.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from node.chain_spec import ChainSpec
from node.authorship import author_block
from node.blocktree import BlockTree, ConflictsWithFinality, StatePruned, UnknownBlock
from node.db import ChainStore
from node.broadcast import Broadcaster
from node.consensus import aura
from node.consensus.finality import InvalidJustification, InvalidVote, Justification, SignedVote, verify_justification
from node.consensus.voter import Broadcast, Finalized, Voter
from node.keystore import SESSION_KEY_TYPE, Keystore
from node.network import Verdict
from node.protocol import (
    BLOCKS_PROTOCOL,
    STATUS_PROTOCOL,
    TOPIC_BLOCKS,
    TOPIC_COMMITS,
    TOPIC_FINALITY,
    TOPIC_TRANSACTIONS,
    TX_GOSSIP_INTERVAL_S,
    MAX_TX_GOSSIP_BATCH,
    BlockRequest,
    decode_transactions,
    encode_transactions,
    Status,
    decode_blocks_response,
    serve_blocks,
)
from node.rpc.jsonrpc import RpcError
from node.rpc.subscriptions import Subscription, SubscriptionClosed
from node.txpool import ALREADY_IMPORTED, TEMPORARILY_BANNED, PoolError, PoolTransaction, Status as TxStatus, TxPool
from node.verification import InvalidBlockError, authorities_at, check_structure, execute
from runtime.apis import RuntimeApi, RuntimeApiError
from runtime.cairn import CairnRuntime
from runtime.executive import Block, validate_transactions
from runtime.extrinsic import MalformedExtrinsic, TransactionValidityError, decode_extrinsic
from runtime.frame.overlay import Overlay
from runtime.hashing import blake2_256
from runtime.primitives import Header
from runtime.scale import ScaleDecodeError
from runtime.keyring import Keypair

__all__ = ["Node", "NodeConfig"]

log = logging.getLogger("cairn.node")

SYNC_BATCH = 128
STATUS_POLL_S = 3.0
ROUND_TIMEOUT_SLOTS = 2


@dataclass(frozen=True)
class NodeConfig:
    spec: ChainSpec
    base_path: Path
    name: str = "cairn-node"
    validator: bool = False
    """Author blocks and vote on finality with whichever keystore key the current authority set names."""
    session_key_uri: str | None = None
    """A secret URI (``//Alice``, ``0x<seed>``) put into the keystore at start (``--key``)."""
    authoring_fraction: float = 0.5
    """Share of a slot the author may spend building its block (the rest carries it to peers)."""
    version: str = "0.1.0"


VALIDATION_BATCH = 256
VALIDATION_QUEUE = 8192
"""Transactions waiting for validation; submitters wait (backpressure) when it is full."""
WATCH_BACKLOG = 16
"""Status updates buffered per watched transaction (a handful ever happen)."""


class Node:
    def __init__(self, config: NodeConfig, network: Any, rpc_factory: Any = None) -> None:
        """``network`` is a ``node.network.NetworkService``; ``rpc_factory(module)`` builds the RPC server
        for the method module (``None``: no RPC)."""
        self.config = config
        spec = config.spec
        self.chain_name = spec.name
        self.chain_type = spec.chain_type
        self.properties = spec.properties
        self.node_name = config.name
        self.node_version = config.version
        runtime, genesis, genesis_state = spec.build()
        self._executor_runtime = runtime
        self._validator_runtime = CairnRuntime(spec.runtime, signatures=runtime.signatures)
        self._api = RuntimeApi(self._validator_runtime)
        self.runtime_version = runtime.VERSION
        self.metadata = self._validator_runtime.metadata
        config.base_path.mkdir(parents=True, exist_ok=True)
        self.keystore = Keystore(config.base_path / "keystore")
        if config.session_key_uri is not None:
            self.keystore.insert(SESSION_KEY_TYPE, config.session_key_uri)
        self.store = ChainStore.open(config.base_path / "db", genesis, genesis_state)
        self.tree = BlockTree.from_store(self.store, _slot_of)
        self.pool = TxPool(listener=self._on_pool_status)
        self.network = network
        self.new_heads: Broadcaster[Header] = Broadcaster()
        self.finalized_heads: Broadcaster[Header] = Broadcaster()
        self.imported_heads: Broadcaster[Header] = Broadcaster()
        self._executor = trio.CapacityLimiter(1)
        self._validator = trio.CapacityLimiter(1)
        self._watches: dict[bytes, list[trio.MemorySendChannel[Any]]] = {}
        self._voter: Voter | None = None
        self._round_done = trio.Event()
        self._peer_status: dict[Any, Status] = {}
        self._syncing = False
        self._initial_sync = trio.Event()
        self._outgoing_transactions: list[bytes] = []
        self._requeue: list[bytes] = []  # transactions of retracted blocks, revalidated by _gossip_transactions
        self._validation_requests, self._validation_receive = trio.open_memory_channel[_PendingValidation](
            VALIDATION_QUEUE)
        self._rpc_factory = rpc_factory
        self.rpc: Any = None
        self.slot_ms = spec.slot_duration_ms

    # --- lifecycle ------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        from node.api.methods import build_module

        net = self.network
        net.register_protocol(STATUS_PROTOCOL, self._serve_status)
        net.register_protocol(BLOCKS_PROTOCOL, self._serve_blocks)
        handlers = (
            (net.subscribe(TOPIC_BLOCKS, self._validate_block_gossip), self._on_block_gossip),
            (net.subscribe(TOPIC_TRANSACTIONS, _transactions_verdict), self._on_transaction_gossip),
            (net.subscribe(TOPIC_FINALITY, _accept), self._on_vote_gossip),
            (net.subscribe(TOPIC_COMMITS, _accept), self._on_commit_gossip),
        )
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(net.run)
                if self._rpc_factory is not None:
                    self.rpc = self._rpc_factory(build_module(self))
                    await nursery.start(self.rpc.run)
                for channel, handler in handlers:
                    nursery.start_soon(self._consume, channel, handler)
                nursery.start_soon(self._sync_loop)
                nursery.start_soon(self._gossip_transactions)
                nursery.start_soon(self._validation_loop)
                if self.config.validator:
                    nursery.start_soon(self._author_loop)
                nursery.start_soon(self._finality_loop)
                log.info("node %s up: chain %s, genesis 0x%s, best #%d, finalized #%d", self.node_name,
                         self.chain_name, self.tree.genesis_hash.hex(), self.tree.best.number,
                         self.tree.finalized.number)
                if self.config.validator and self.keystore.key_for(self._set_at(self.tree.best.state)[1]) is None:
                    log.warning("validator without a key of the current authority set: it will author and vote "
                                "once one is inserted (author_insertKey) or rotated in (author_rotateKeys)")
                task_status.started()
        finally:
            self.store.close()

    async def _consume(self, channel: Any, handler: Any) -> None:
        async with channel:
            async for peer, payload in channel:
                try:
                    await handler(peer, payload)
                except Exception:  # a bug handling one message must not take the node down
                    log.exception("handling a gossip message from %s failed", peer)

    # --- time -----------------------------------------------------------------------------------

    def now_slot(self) -> int:
        return aura.slot_at(int(time.time() * 1000), self.slot_ms)

    # --- block import ---------------------------------------------------------------------------

    async def import_block(self, block: Block, *, peer: Any = None, justification: bytes | None = None) -> bool:
        """Verify, execute and add ``block``; returns whether it is now in the tree."""
        if block.hash in self.tree:
            if justification is not None:
                await self._apply_justification(justification, peer)
            return True
        try:
            parent = check_structure(self.tree, block)
            async with self._executor:
                state, slot = await trio.to_thread.run_sync(execute, self._executor_runtime, parent, block,
                                                            self.now_slot())
        except InvalidBlockError as exc:
            log.warning("rejected block #%d 0x%s from %s: %s", block.header.number, block.hash.hex()[:16], peer, exc)
            if peer is not None and exc.penalize:
                self.network.report(peer, -100, f"invalid block: {exc}")
            return False
        if block.hash in self.tree:  # imported meanwhile (by sync and gossip at once)
            return True
        if not self._add(block, state, slot):
            return False
        if justification is not None:
            await self._apply_justification(justification, peer)
        return True

    def _add(self, block: Block, state: Any, slot: int) -> bool:
        """Insert an executed block (imported or our own) and bring heads and pool up to date; false if
        it no longer attaches (finality moved past its parent meanwhile)."""
        previous_best = self.tree.best_hash
        try:
            became_best = self.tree.insert(block, state, slot)
        except (ConflictsWithFinality, UnknownBlock) as exc:
            log.info("block 0x%s no longer attaches: %s", block.hash.hex()[:16], exc)
            return False
        self._after_import(block, became_best, previous_best)
        return True

    def _after_import(self, block: Block, became_best: bool, previous_best: bytes) -> None:
        header = block.header
        log.info("imported #%d 0x%s%s", header.number, block.hash.hex()[:16], " (best)" if became_best else "")
        self.imported_heads.publish(header)
        if not became_best:
            return
        self.new_heads.publish(header)
        retracted, enacted = self.tree.route(previous_best, block.hash)
        included = [blake2_256(xt) for h in enacted for xt in self.tree.entry(h).block.extrinsics]
        with self._executor_runtime.executing(Overlay(self.tree.best.state)):
            self.pool.prune(included, block.hash, self._executor_runtime.system.account_nonce)
        if retracted:  # a reorg: what only the abandoned branch held goes back to the pool
            log.info("reorg: %d blocks retracted, %d enacted", len(retracted), len(enacted))
            kept = set(included)
            for block_hash in retracted:
                for xt in self.tree.entry(block_hash).block.extrinsics[1:]:  # not the timestamp inherent
                    if blake2_256(xt) not in kept:
                        self._requeue.append(xt)

    # --- finality -------------------------------------------------------------------------------

    def _set_at(self, state: Any) -> tuple[int, tuple[bytes, ...]]:
        """(set id = session index, authorities) in ``state``."""
        runtime = self._executor_runtime
        with runtime.executing(Overlay(state)):
            return runtime.validator_set.current_session.get(), tuple(runtime.validator_set.authorities())

    def _finality_set(self) -> tuple[int, tuple[bytes, ...]]:
        """The voters: the set in the state of the last finalized block."""
        return self._set_at(self.tree.finalized.state)

    def _session_of(self, block_hash: bytes) -> int | None:
        try:
            return self._set_at(self.tree.state(block_hash))[0]
        except (UnknownBlock, StatePruned):
            return None

    def _ancestry(self, block_hash: bytes):
        finalized_number = self.tree.finalized.number
        for entry in self.tree.ancestors(block_hash):
            yield entry.block.hash, entry.number
            if entry.number <= finalized_number:
                return

    def _best_descendant(self, set_id: int):
        def best_descendant(base: bytes) -> tuple[bytes, int]:
            """The best block descending from ``base`` whose parent is still in ``set_id``'s session."""
            tree = self.tree
            head = tree.best_hash if tree.is_descendant(tree.best_hash, base) else base
            for entry in tree.ancestors(head):
                parent_session = self._session_of(entry.header.parent_hash) if entry.number > 0 else set_id
                if entry.block.hash == base or parent_session == set_id:
                    return entry.block.hash, entry.number
            entry = tree.entry(base)
            return entry.block.hash, entry.number
        return best_descendant

    def _new_voter(self) -> Voter:
        set_id, authorities = self._finality_set()
        key = self.keystore.key_for(authorities) if self.config.validator else None
        finalized = self.tree.finalized
        return Voter(set_id=set_id, authorities=authorities, finalized=(finalized.block.hash, finalized.number),
                     ancestry=self._ancestry, best_descendant=self._best_descendant(set_id),
                     header=self.tree.header, key=(key.public, key.secret) if key else None)

    async def _finality_loop(self) -> None:
        self._voter = self._new_voter()
        timeout = ROUND_TIMEOUT_SLOTS * self.slot_ms / 1000
        while True:
            while self.tree.best.number <= self.tree.finalized.number:
                with self.new_heads.subscribe() as heads:
                    with trio.move_on_after(timeout):
                        await heads.receive()
            self._round_done = trio.Event()
            if self.config.validator and self._voter.key is None:
                key = self.keystore.key_for(self._voter.authorities)
                if key is not None:  # inserted or rotated in since the set began
                    self._voter.use_key((key.public, key.secret))
            await self._handle_voter_output(self._voter.start_round())
            with trio.move_on_after(timeout):
                await self._round_done.wait()

    async def _handle_voter_output(self, outputs: list) -> None:
        for output in outputs:
            if isinstance(output, Broadcast):
                await self.network.publish(TOPIC_FINALITY, output.vote.encode())
            elif isinstance(output, Finalized):
                encoded = output.justification.encode()
                self._finalize(output.block[0], encoded)
                await self.network.publish(TOPIC_COMMITS, encoded)
        if self._voter is not None and self._voter.completed():
            self._round_done.set()

    def _finalize(self, block_hash: bytes, justification: bytes) -> None:
        if block_hash not in self.tree:
            return
        set_before = self._voter.set_id if self._voter else None
        try:
            route = self.tree.finalize(block_hash, justification)
        except ConflictsWithFinality as exc:  # only possible with a third or more of the authorities faulty
            log.error("refusing to finalize 0x%s: %s", block_hash.hex()[:16], exc)
            return
        if not route:
            return
        header = self.tree.header(block_hash)
        log.info("finalized #%d 0x%s", header.number, block_hash.hex()[:16])
        self.finalized_heads.publish(header)
        for finalized_hash in route:
            for xt in self.tree.entry(finalized_hash).block.extrinsics:
                self._notify(blake2_256(xt), {"finalized": "0x" + finalized_hash.hex()}, terminal=True)
        set_id, _ = self._finality_set()
        if self._voter is None or set_id != set_before:
            self._voter = self._new_voter()  # the authority set changed with this block
        else:
            self._voter.on_finalized_elsewhere((block_hash, header.number))

    async def _apply_justification(self, encoded: bytes, peer: Any) -> None:
        try:
            justification = Justification.decode(encoded)
            target = self.tree.entry(justification.target_hash)
            if target.number <= self.tree.finalized.number:
                return
            set_id, authorities = self._set_at(self.tree.state(target.header.parent_hash))
            verify_justification(justification, authorities, set_id)
        except (InvalidJustification, UnknownBlock, StatePruned) as exc:
            if isinstance(exc, InvalidJustification) and peer is not None:
                self.network.report(peer, -100, f"invalid justification: {exc}")
            return
        self._finalize(justification.target_hash, encoded)

    # --- authorship -----------------------------------------------------------------------------

    async def _author_loop(self) -> None:
        await self._initial_sync.wait()  # never author on a chain we have not caught up with
        last_slot = -1
        while True:
            now_ms = time.time() * 1000
            slot = int(now_ms // self.slot_ms)
            if slot == last_slot:
                await trio.sleep(((slot + 1) * self.slot_ms - now_ms) / 1000)
                continue
            last_slot = slot
            best = self.tree.best
            if best.slot is not None and best.slot >= slot or self._syncing:
                continue
            try:
                author = aura.slot_author(slot, authorities_at(self._executor_runtime, best.state))
            except aura.InvalidSeal:
                continue
            key = self.keystore.get(author)
            if key is not None:
                await self._author(best, slot, key)

    async def _author(self, parent: Any, slot: int, key: Keypair) -> None:
        candidates = list(self.pool.best())
        budget = self.slot_ms / 1000 * self.config.authoring_fraction
        async with self._executor:
            authored = await trio.to_thread.run_sync(
                lambda: author_block(self._executor_runtime, parent.block, parent.state, slot=slot,
                                     timestamp_ms=slot * self.slot_ms, secret=key.secret,
                                     candidates=candidates, budget_s=budget))
        for tx_hash, reason in authored.rejected:
            self.pool.remove_invalid(tx_hash, reason)
        if self._add(authored.block, authored.state, slot):
            await self.network.publish(TOPIC_BLOCKS, authored.block.encode())

    # --- gossip handlers ------------------------------------------------------------------------

    def _validate_block_gossip(self, peer: Any, payload: bytes) -> Any:
        try:
            block = Block.decode(payload)
        except ScaleDecodeError:
            return Verdict.REJECT
        if block.hash in self.tree:
            return Verdict.IGNORE
        if block.header.parent_hash not in self.tree:
            return Verdict.ACCEPT  # maybe ahead of us: import will fetch the gap by sync
        if block.header.number <= self.tree.finalized.number:
            return Verdict.IGNORE  # a stale fork (e.g. from a node still syncing): harmless, useless
        parent = self.tree.entry(block.header.parent_hash)
        if parent.state is None:
            return Verdict.IGNORE
        try:
            aura.verify_header(block.header, parent.slot, authorities_at(self._executor_runtime, parent.state),
                               self.now_slot())
        except aura.InvalidSeal:
            return Verdict.REJECT
        return Verdict.ACCEPT

    async def _on_block_gossip(self, peer: Any, payload: bytes) -> None:
        block = Block.decode(payload)
        if block.header.parent_hash not in self.tree:
            await self._sync_from(peer)
            return
        await self.import_block(block, peer=peer)

    async def _on_transaction_gossip(self, peer: Any, payload: bytes) -> None:
        # (the verdict function already decoded the batch once)
        for outcome in await self.submit_extrinsics(decode_transactions(payload), gossip=False):
            if isinstance(outcome, RpcError) and outcome.code == 1001:
                self.network.report(peer, -20, f"malformed transaction: {outcome.data}")

    async def _gossip_transactions(self) -> None:
        """Every ``TX_GOSSIP_INTERVAL_S``: put transactions of retracted blocks back through validation,
        and send what was pooled from RPC since, as one message."""
        while True:
            await trio.sleep(TX_GOSSIP_INTERVAL_S)
            requeue, self._requeue = self._requeue, []
            self.pool.unban(blake2_256(raw) for raw in requeue)
            # (those no longer valid on the new best chain, or already pooled, are refused: nothing to do)
            await self.submit_extrinsics(requeue, gossip=False)
            while self._outgoing_transactions:
                batch = self._outgoing_transactions[:MAX_TX_GOSSIP_BATCH]
                del self._outgoing_transactions[:MAX_TX_GOSSIP_BATCH]
                await self.network.publish(TOPIC_TRANSACTIONS, encode_transactions(batch))

    async def _on_vote_gossip(self, peer: Any, payload: bytes) -> None:
        if self._voter is None:
            return
        voter = self._voter
        known = len(voter.current.equivocations) if voter.current is not None else 0
        try:
            vote = SignedVote.decode(payload)
            outputs = voter.on_vote(vote)
        except (ScaleDecodeError, InvalidVote) as exc:
            log.debug("vote from %s refused: %s", peer, exc)
            return
        if voter.current is not None:
            for equivocation in voter.current.equivocations[known:]:
                log.warning("equivocation by 0x%s in round %d: %s vs %s", equivocation.first.voter.hex()[:16],
                            equivocation.first.round, equivocation.first.vote, equivocation.second.vote)
        await self._handle_voter_output(outputs)

    async def _on_commit_gossip(self, peer: Any, payload: bytes) -> None:
        await self._apply_justification(payload, peer)

    # --- sync -----------------------------------------------------------------------------------

    async def _serve_status(self, peer: Any, payload: bytes) -> bytes:
        return Status.of(self.tree).encode()

    async def _serve_blocks(self, peer: Any, payload: bytes) -> bytes:
        return serve_blocks(self.tree, BlockRequest.decode(payload))

    async def _sync_loop(self) -> None:
        if len(self.config.spec.authorities) > 1:
            with trio.move_on_after(self.slot_ms / 1000):  # give the bootnodes a slot to connect
                while not self.network.peers():
                    await trio.sleep(0.05)
        while True:
            for peer in [p.peer_id for p in self.network.peers()]:
                await self._sync_from(peer)
            self._initial_sync.set()
            await trio.sleep(STATUS_POLL_S)

    async def _sync_from(self, peer: Any) -> None:
        """Fetch what ``peer`` has beyond our best block, verifying every block and justification."""
        try:
            status = Status.decode(await self.network.request(peer, STATUS_PROTOCOL, b"", timeout=5))
        except Exception as exc:  # noqa: BLE001 - any failure of a remote peer: try another time
            log.debug("status from %s failed: %s", peer, exc)
            return
        if status.genesis_hash != self.tree.genesis_hash:
            self.network.report(peer, -1000, "different genesis")
            return
        self._peer_status[peer] = status
        start = self.tree.finalized.number + 1
        self._syncing = status.best_number > self.tree.best.number + 1
        try:
            while status.best_number > self.tree.best.number or (
                    status.finalized_number > self.tree.finalized.number):
                request = BlockRequest(max(start, 1), SYNC_BATCH)
                try:
                    response = await self.network.request(peer, BLOCKS_PROTOCOL, request.encode(), timeout=20)
                    blocks = decode_blocks_response(response)
                except ScaleDecodeError:
                    self.network.report(peer, -100, "malformed blocks response")
                    return
                except Exception as exc:  # noqa: BLE001 - peer failure, see above
                    log.debug("block request to %s failed: %s", peer, exc)
                    return
                if not blocks:
                    return
                for encoded, justification in blocks:
                    try:
                        block = Block.decode(encoded)
                    except ScaleDecodeError:
                        self.network.report(peer, -100, "malformed block in response")
                        return
                    if not await self.import_block(block, peer=peer, justification=justification):
                        return
                start = request.from_number + len(blocks)
        finally:
            self._syncing = False

    # --- transactions (RPC and gossip) ----------------------------------------------------------

    async def submit_extrinsic(self, raw: bytes, *, gossip: bool = True, watch: Subscription | None = None) -> bytes:
        """Validate ``raw`` against the best block and pool it; raises :class:`RpcError` with Substrate's
        code for every refusal. ``watch`` is registered before anything can include the transaction."""
        (outcome,) = await self.submit_extrinsics([raw], gossip=gossip, watch=watch)
        if isinstance(outcome, RpcError):
            raise outcome
        return outcome

    async def submit_extrinsics(self, raws: list[bytes], *, gossip: bool = True,
                                watch: Subscription | None = None) -> list[bytes | RpcError]:
        """Validate and pool many transactions together (a gossiped batch goes to the validation worker as
        one hand-off, not one each); each gets its hash, or the :class:`RpcError` refusing it. ``watch``
        (given with a single transaction) follows it from before it enters the pool."""
        outcomes: list[bytes | RpcError | _PendingValidation] = []
        for raw in raws:
            tx_hash = blake2_256(raw)
            if tx_hash in self.pool:
                outcomes.append(_refusal(ALREADY_IMPORTED))
                continue
            if self.pool.is_banned(tx_hash):  # just included, or found invalid: not worth validating again
                outcomes.append(_refusal(TEMPORARILY_BANNED))
                continue
            pending = _PendingValidation(raw, tx_hash)
            await self._validation_requests.send(pending)
            outcomes.append(pending)
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, _PendingValidation):
                await outcome.done.wait()
                outcomes[i] = self._admit(outcome, gossip, watch)
        return outcomes  # type: ignore[return-value]

    def _admit(self, pending: _PendingValidation, gossip: bool, watch: Subscription | None) -> bytes | RpcError:
        """Pool a validated transaction (or name why not), watching and gossiping it as asked."""
        try:
            if isinstance(pending.result, Exception):
                raise pending.result
            validity, xt = pending.result
        except MalformedExtrinsic as exc:
            return RpcError(1001, "Extrinsic has invalid format", str(exc))
        except TransactionValidityError as exc:
            code = 1010 if exc.OUTER_INDEX == 0 else 1011
            return RpcError(code, "Invalid Transaction" if code == 1010 else "Unknown Transaction Validity",
                            exc.message)
        tx_hash = pending.tx_hash
        try:  # (a copy pooled while this one was validated, from the same batch or a race, is refused: 1013)
            status = self.pool.submit(PoolTransaction(pending.raw, tx_hash, validity, xt.signer, xt.nonce))
        except PoolError as exc:
            return _refusal(exc)  # only this submission is refused: the watches of a pooled copy go on
        if watch is not None:  # registered before the next await: no later update can be missed
            self._watch(tx_hash, watch)
        self._notify(tx_hash, status, terminal=False)
        if gossip:
            self._outgoing_transactions.append(pending.raw)
        return tx_hash

    async def _validation_loop(self) -> None:
        """Validate queued transactions in batches: one worker-thread hand-off for up to
        ``VALIDATION_BATCH`` of them, instead of one each (the hand-off costs more than a check)."""
        async with self._validation_receive:
            async for first in self._validation_receive:
                batch = [first]
                while len(batch) < VALIDATION_BATCH:
                    try:
                        batch.append(self._validation_receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                best = self.tree.best
                async with self._validator:
                    results = await trio.to_thread.run_sync(self._validate_many, best.state, best.block.hash,
                                                            [p.raw for p in batch])
                for pending, result in zip(batch, results):
                    pending.result = result
                    pending.done.set()

    def _validate_many(self, state: Any, block_hash: bytes, raws: list[bytes]) -> list[Any]:
        codec = self._validator_runtime.call_codec
        return [result if isinstance(result, Exception) else (result, decode_extrinsic(raw, codec))
                for raw, result in zip(raws, validate_transactions(self._validator_runtime, state, block_hash, raws))]

    def _watch(self, tx_hash: bytes, subscription: Subscription) -> None:
        send, receive = trio.open_memory_channel[Any](WATCH_BACKLOG)
        self._watches.setdefault(tx_hash, []).append(send)
        subscription.start_soon(_forward_updates, subscription, receive)

    def _on_pool_status(self, tx_hash: bytes, status: str, detail: object) -> None:
        if status == TxStatus.IN_BLOCK:
            self._notify(tx_hash, {"inBlock": "0x" + bytes(detail).hex()}, terminal=False)  # type: ignore[arg-type]
        elif status in (TxStatus.DROPPED, TxStatus.INVALID, TxStatus.USURPED):
            # "dropped" is the one terminal status substrate-interface ends on (the reference, §1)
            self._notify(tx_hash, "dropped", terminal=True)

    def _notify(self, tx_hash: bytes, update: Any, *, terminal: bool) -> None:
        channels = self._watches.get(tx_hash, [])
        for channel in list(channels):
            try:
                channel.send_nowait(update)
            except (trio.WouldBlock, trio.ClosedResourceError):
                channels.remove(channel)
                channel.close()
            if terminal:
                channel.close()
        if terminal or not channels:
            self._watches.pop(tx_hash, None)

    # --- NodeHandle for the RPC methods ---------------------------------------------------------

    async def runtime_call(self, method: str, params: bytes, at: bytes) -> bytes:
        state = self.tree.state(at)
        try:
            async with self._validator:
                return await trio.to_thread.run_sync(self._api.call, method, params, state, at)
        except RuntimeApiError as exc:
            raise RpcError(4003, "Client error: Execution failed", str(exc)) from None

    def account_next_index(self, who: bytes) -> int:
        with self._executor_runtime.executing(Overlay(self.tree.best.state)):
            chain_nonce = self._executor_runtime.system.account_nonce(who)
        return self.pool.next_nonce(who, chain_nonce)

    def health(self) -> dict:
        peers = len(self.network.peers())
        return {"peers": peers, "isSyncing": self._syncing, "shouldHavePeers": len(self.config.spec.authorities) > 1}

    def peers(self) -> list[dict]:
        out = []
        for info in self.network.peers():
            status = self._peer_status.get(info.peer_id)
            out.append({"peerId": str(info.peer_id), "roles": "AUTHORITY",
                        "bestHash": "0x" + (status.best_hash.hex() if status else self.tree.genesis_hash.hex()),
                        "bestNumber": status.best_number if status else 0})
        return out

    def sync_state(self) -> dict:
        highest = max([s.best_number for s in self._peer_status.values()] + [self.tree.best.number])
        return {"startingBlock": 0, "currentBlock": self.tree.best.number, "highestBlock": highest}

    def round_state(self) -> dict:
        voter = self._voter
        if voter is None or voter.current is None:
            return {"setId": 0, "best": None, "background": []}
        state = voter.current
        total = len(voter.authorities)
        return {"setId": voter.set_id, "best": {
            "round": state.round, "totalWeight": total, "thresholdWeight": state.threshold,
            "prevotes": {"currentWeight": len(state.prevotes), "missing": [
                "0x" + a.hex() for a in voter.authorities if a not in state.prevotes]},
            "precommits": {"currentWeight": len(state.precommits), "missing": [
                "0x" + a.hex() for a in voter.authorities if a not in state.precommits]},
        }, "background": []}

    def local_peer_id(self) -> str:
        return str(self.network.local_peer_id)


def _refusal(error: PoolError) -> RpcError:
    """The RPC error for a pool refusal: Substrate's code and message."""
    return RpcError(error.code, str(error))


class _PendingValidation:
    """One transaction waiting in the validation queue, and its answer."""

    __slots__ = ("raw", "tx_hash", "done", "result")

    def __init__(self, raw: bytes, tx_hash: bytes) -> None:
        self.raw = raw
        self.tx_hash = tx_hash
        self.done = trio.Event()
        self.result: Any = None


def _accept(peer: Any, payload: bytes) -> Verdict:
    """Votes, commits and transactions are checked by their handlers (signatures, in a worker)."""
    return Verdict.ACCEPT


def _transactions_verdict(peer: Any, payload: bytes) -> Verdict:
    try:
        decode_transactions(payload)
    except ScaleDecodeError:
        return Verdict.REJECT
    return Verdict.ACCEPT


def _slot_of(header: Header) -> int | None:
    return aura.slot_of(header) if header.number > 0 else None


async def _forward_updates(subscription: Subscription, updates: trio.MemoryReceiveChannel[Any]) -> None:
    """Send a watched transaction's statuses to its subscriber, in order, until the terminal one."""
    async with updates:
        async for update in updates:
            await subscription.send(update)
