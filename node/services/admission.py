"""Transaction admission: validate transactions in batches, pool them, tell their watchers, gossip them.

Transactions arrive from the RPC (``author_submitExtrinsic``, ``author_submitAndWatchExtrinsic``), from peers
(the ``transactions`` gossip topic, a batch per message) and from blocks a reorg retracted. Each is checked
against the pool first (already there: 1013; recently included or invalid: 1012; the ready queue full and
the transaction unable to outrank anything in it: 1016), then validated by the runtime against the best block.
Validation runs in a worker thread, up to ``VALIDATION_BATCH`` transactions per hand-off (the hand-off costs
more than a check), and returns what it decoded, so nothing is decoded twice.

Under overload the pool check is what keeps the node's CPU for blocks: validation is a fifth to a third of a
validator's work (``benchmarks/RESULTS.md``), and a full pool would drop what it validated. So while the ready queue is full, a transaction
is decoded (a tenth of the cost of validating it) to bound its priority, and refused at once if it could not
outrank the lowest ready one; the check runs again when its validation batch starts, since the pool may have
filled while it queued.

Outcomes are typed: the transaction's hash when pooled, else the refusal itself (:class:`PoolError`,
:class:`MalformedExtrinsic`, :class:`TransactionValidityError`); ``node.api`` turns refusals into Substrate's
RPC errors. A watcher is registered only once the pool accepted its transaction, before the next await, so
it sees every status that follows and always a terminal one.

Gossip: a node sends what it pooled from the RPC to its peers, batched every ``TX_GOSSIP_INTERVAL_S``. A
batch received is forwarded only when all of it was pooled here (or already was): a batch holding a
transaction that does not decode or whose signature fails is rejected (its sender could have checked), one
holding transactions merely stale, not yet valid here or refused by a full pool is dropped without blame and
not forwarded: a peer whose pool had room pooled it already, and one whose pool is full would refuse it too.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable, Protocol

import trio

from node.chain import BestChange, Chain
from node.network import DeferredSubscription, NetworkService, PendingGossip
from node.protocol import MAX_TX_GOSSIP_BATCH, TOPIC_TRANSACTIONS, TX_GOSSIP_INTERVAL_S, decode_transactions, encode_transactions
from node.rpc.budget import ByteBudget
from node.txpool import IMMORTAL, ALREADY_IMPORTED, TEMPORARILY_BANNED, PoolError, PoolLimits, PoolTransaction, Status, TxPool
from runtime.cairn import CairnRuntime
from runtime.executive import Block, Validated, validate_transactions
from runtime.extrinsic import (InvalidKind, InvalidTransaction, MalformedExtrinsic, TransactionValidityError, ValidTransaction,
                               decode_extrinsic, signed_era)
from runtime.frame.overlay import Overlay
from runtime.hashing import blake2_256
from runtime.primitives import DispatchClass
from runtime.scale import ScaleDecodeError
from runtime.trie import TrieState

__all__ = ["Admission", "Refusal", "Outcome", "WatchUpdate", "Watcher"]

log = logging.getLogger(__name__)

VALIDATION_BATCH = 256
VALIDATION_QUEUE = 8192
"""Transactions waiting for validation; submitters wait (backpressure) when it is full."""
VALIDATION_QUEUE_BYTES = 64 * 1024 * 1024
"""Bytes of transactions waiting for validation; submitters wait when they are held. Counted in entries only,
8,192 transactions of up to 4 MiB could hold 32 GiB."""
WATCH_BACKLOG = 16
"""Status updates buffered per watched transaction (a handful ever happen)."""

Refusal = PoolError | MalformedExtrinsic | TransactionValidityError
Outcome = bytes | Refusal
"""A submission's outcome: the pooled transaction's hash, or why it was refused."""
WatchUpdate = str | dict
"""A watched transaction's status as Substrate's RPC sends it: ``"ready"``, ``{"inBlock": "0x…"}``, ..."""


class Watcher(Protocol):
    """Where a watched transaction's statuses go (an RPC subscription)."""

    def start_soon(self, fn: Callable[..., Awaitable[object]], *args: object) -> None: ...
    async def send(self, update: WatchUpdate) -> None: ...


class _Pending:
    """One transaction waiting in the validation queue, and its answer."""

    __slots__ = ("raw", "tx_hash", "done", "result", "at_number", "at_hash", "abandoned")

    def __init__(self, raw: bytes, tx_hash: bytes) -> None:
        self.raw = raw
        self.tx_hash = tx_hash
        self.done = trio.Event()
        self.result: Validated | Refusal | None = None
        self.at_number = 0
        self.at_hash = b""
        """The best block it was validated against (number and hash)."""
        self.abandoned = False
        """Its submitter stopped waiting (a client gone, an RPC deadline): not worth validating any more."""


class Admission:
    def __init__(self, chain: Chain, network: NetworkService, limits: PoolLimits = PoolLimits()) -> None:
        self.chain = chain
        self.network = network
        self.pool = TxPool(limits, listener=self._on_pool_status)
        self._validator = trio.CapacityLimiter(1)
        self._ranking = trio.CapacityLimiter(1)
        """The worker that decodes what a full pool must rank: apart from validation, which holds its worker
        for a whole batch (decoding reads no state, so the two may run at once)."""
        self._requests, self._queue = trio.open_memory_channel[_Pending](VALIDATION_QUEUE)
        self._queued = ByteBudget(VALIDATION_QUEUE_BYTES)
        self._watches: dict[bytes, list[trio.MemorySendChannel[WatchUpdate]]] = {}
        self._outgoing: list[bytes] = []
        self._requeue: list[bytes] = []
        """Transactions of retracted blocks, validated again on the next gossip tick."""
        chain.best_listeners.append(self._on_best_change)
        chain.finality_listeners.append(self._on_finalized)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        gossip = self.network.subscribe_deferred(TOPIC_TRANSACTIONS)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._validation_loop)
            nursery.start_soon(self._gossip_loop)
            nursery.start_soon(self._receive_gossip, gossip)
            task_status.started()

    # --- submitting -----------------------------------------------------------------------------

    async def submit(self, raws: list[bytes], *, gossip: bool = True, watch: Watcher | None = None) -> list[Outcome]:
        """Validate and pool many transactions together; each gets its hash or its refusal. ``watch`` (given
        with a single transaction) follows it from the moment it enters the pool."""
        outcomes: list[Outcome | _Pending] = []
        try:
            for raw in raws:
                tx_hash = blake2_256(raw)
                refusal = await self._refusal_before_validation(raw, tx_hash)
                if refusal is not None:
                    outcomes.append(refusal)
                else:
                    await self._queued.wait_for_room()
                    pending = _Pending(raw, tx_hash)
                    self._queued.charge(len(raw))
                    try:
                        await self._requests.send(pending)
                    except BaseException:  # never queued: the validation loop will not release it
                        self._queued.release(len(raw))
                        raise
                    outcomes.append(pending)
            for i, outcome in enumerate(outcomes):
                if isinstance(outcome, _Pending):
                    await outcome.done.wait()
                    outcomes[i] = self._admit(outcome, gossip, watch)
        except BaseException:  # cancelled: what still waits is validated for no one
            for outcome in outcomes:
                if isinstance(outcome, _Pending):
                    outcome.abandoned = True
            raise
        return outcomes  # type: ignore[return-value]

    def next_nonce(self, who: bytes) -> int:
        """The nonce ``who``'s next transaction should carry: after the chain's and the pool's."""
        return self.pool.next_nonce(who, self.chain.account_nonce(who))

    async def _refusal_before_validation(self, raw: bytes, tx_hash: bytes) -> Refusal | None:
        """The pool's answer when it is sure before validation: already pooled, banned (just included, or
        found invalid), or the ready queue full for a transaction that could not outrank its lowest. The
        priority that last needs takes decoding the call, in a worker: up to 4 MiB of hostile call data takes
        seconds to decode, which on the event loop froze the whole node."""
        size = len(raw)
        refusal = self.pool.refusal_before_validation(tx_hash, size, lambda: None)
        if refusal is not None or self.pool.ready_has_room(size):
            return refusal
        runtime = self.chain.runtime
        try:
            async with self._ranking:
                priority = await trio.to_thread.run_sync(_priority_before_validation, runtime, raw)
        except MalformedExtrinsic as exc:  # what validation would answer too
            return exc
        return self.pool.refusal_before_validation(tx_hash, size, lambda: priority)  # (the pool moved meanwhile)

    def _admit(self, pending: _Pending, gossip: bool, watch: Watcher | None) -> Outcome:
        result = pending.result
        if not isinstance(result, Validated):
            assert result is not None
            return result
        xt = result.extrinsic
        assert xt.signer is not None
        validity = self._on_best(xt.signer, xt.nonce, result.validity, pending.at_hash)
        if not isinstance(validity, ValidTransaction):
            return validity
        try:  # (a copy pooled while this one was validated, from the same batch or a race, is refused: 1013)
            status = self.pool.submit(PoolTransaction(
                pending.raw, pending.tx_hash, validity, xt.signer, xt.nonce,
                valid_till=min(pending.at_number + validity.longevity, IMMORTAL)))
        except PoolError as exc:
            return exc  # only this submission is refused: the watches of a pooled copy go on
        if watch is not None:  # registered before the next await: no later update can be missed
            self._watch(pending.tx_hash, watch)
        self._notify(pending.tx_hash, status, terminal=False)
        if gossip:
            self._outgoing.append(pending.raw)
        return pending.tx_hash

    def _on_best(self, signer: bytes, nonce: int, validity: ValidTransaction,
                 validated_at: bytes) -> ValidTransaction | InvalidTransaction:
        """``validity`` brought up to the best block, if blocks came while the transaction was validated: one of
        them may have included its predecessor (the pool has pruned that one, so the transaction, still requiring
        it, would wait in future for a predecessor that never comes, and be dropped), or its own nonce (stale)."""
        if validated_at == self.chain.tree.best.block.hash:
            return validity
        chain_nonce = self.chain.account_nonce(signer)
        if nonce < chain_nonce:
            return InvalidTransaction(InvalidKind.Stale)
        if nonce > chain_nonce or not validity.requires:
            return validity
        return ValidTransaction(validity.priority, (), validity.provides, validity.longevity, validity.propagate)

    async def _validation_loop(self) -> None:
        async with self._queue:
            async for first in self._queue:
                batch = [first]
                while len(batch) < VALIDATION_BATCH:
                    try:
                        batch.append(self._queue.receive_nowait())
                    except trio.WouldBlock:
                        break
                for pending in batch:  # the pool may have filled while they queued
                    if not pending.abandoned:
                        pending.result = await self._refusal_before_validation(pending.raw, pending.tx_hash)
                    if pending.result is not None or pending.abandoned:
                        self._settle(pending)
                batch = [p for p in batch if not p.done.is_set()]
                if not batch:
                    continue
                best = self.chain.tree.best
                runtime = self.chain.runtime
                async with self._validator:
                    results = await trio.to_thread.run_sync(_validate_confined, runtime, best.state,
                                                            best.block.hash, [p.raw for p in batch])
                for pending, result in zip(batch, results):
                    pending.result, pending.at_number, pending.at_hash = result, best.number, best.block.hash
                    self._settle(pending)

    def _settle(self, pending: _Pending) -> None:
        """``pending`` has its answer (or was abandoned): its waiter goes on, its bytes leave the queue."""
        self._queued.release(len(pending.raw))
        pending.done.set()

    # --- gossip ---------------------------------------------------------------------------------

    async def _gossip_loop(self) -> None:
        """Every ``TX_GOSSIP_INTERVAL_S``: validate again what retracted blocks held, and send what was pooled
        from the RPC since, in batches."""
        while True:
            await trio.sleep(TX_GOSSIP_INTERVAL_S)
            requeue, self._requeue = self._requeue, []
            self.pool.unban(blake2_256(raw) for raw in requeue)
            for raw, outcome in zip(requeue, await self.submit(requeue, gossip=False)):
                if not isinstance(outcome, bytes) and outcome is not ALREADY_IMPORTED:
                    # no longer valid on the new best chain: whoever watched it into the retracted block hears
                    self._notify(blake2_256(raw), "dropped", terminal=True)
            while self._outgoing:
                batch = self._outgoing[:MAX_TX_GOSSIP_BATCH]
                del self._outgoing[:MAX_TX_GOSSIP_BATCH]
                await self.network.publish(TOPIC_TRANSACTIONS, encode_transactions(batch))

    async def _receive_gossip(self, subscription: DeferredSubscription) -> None:
        async with subscription:
            async for message in subscription:
                await self._on_gossip(message)

    async def _on_gossip(self, message: PendingGossip) -> None:
        try:
            raws = decode_transactions(message.payload)
        except ScaleDecodeError as exc:
            message.reject(f"malformed transaction batch: {exc}")
            return
        outcomes = await self.submit(raws, gossip=False)
        blamed = [o for raw, o in zip(raws, outcomes) if _blames_sender(raw, o)]
        if blamed:
            message.reject(f"{len(blamed)} transactions that do not decode or verify: {blamed[0]}")
        elif all(isinstance(o, bytes) or o is ALREADY_IMPORTED or o is TEMPORARILY_BANNED for o in outcomes):
            message.accept()
        else:
            message.ignore()

    # --- following the chain --------------------------------------------------------------------

    def _on_best_change(self, change: BestChange) -> None:
        included = [[blake2_256(xt) for xt in block.extrinsics] for block in change.enacted]
        runtime = self.chain.runtime
        senders = {runtime.extrinsics.decode(xt).signer for block in change.enacted for xt in block.extrinsics}
        senders.discard(None)  # (inherents; each was decoded when the block was imported or built: a lookup now)
        with runtime.executing(Overlay(self.chain.tree.best.state)):  # one context for every sender's nonce
            nonces = {who: runtime.system.account_nonce(who) for who in senders}
        last = len(change.enacted) - 1
        for position, (block, hashes) in enumerate(zip(change.enacted, included)):
            # each watcher is told the block that holds its transaction; the senders' nonces, those of the new
            # best block, judge staleness once all are in (at an earlier block, a later one's would be stale)
            self.pool.prune(hashes, block.hash, block.header.number, nonces if position == last else {})
        kept = {tx_hash for hashes in included for tx_hash in hashes}
        for block in change.retracted:  # a reorg: what only the abandoned branch held goes back to the pool
            for xt in block.extrinsics[1:]:  # not the timestamp inherent
                if blake2_256(xt) not in kept:
                    self._requeue.append(xt)

    def _on_finalized(self, blocks: list[Block]) -> None:
        for block in blocks:
            finalized = {"finalized": "0x" + block.hash.hex()}
            for xt in block.extrinsics:
                self._notify(blake2_256(xt), finalized, terminal=True)

    # --- watchers -------------------------------------------------------------------------------

    def _watch(self, tx_hash: bytes, watcher: Watcher) -> None:
        send, receive = trio.open_memory_channel[WatchUpdate](WATCH_BACKLOG)
        self._watches.setdefault(tx_hash, []).append(send)
        watcher.start_soon(_forward_updates, watcher, receive)

    def _on_pool_status(self, tx_hash: bytes, status: str, detail: object) -> None:
        if status == Status.IN_BLOCK:
            self._notify(tx_hash, {"inBlock": "0x" + bytes(detail).hex()}, terminal=False)  # type: ignore[arg-type]
        elif status in (Status.DROPPED, Status.INVALID, Status.USURPED):
            # "dropped" is the one terminal status substrate-interface ends on (the reference, §1)
            self._notify(tx_hash, "dropped", terminal=True)

    def _notify(self, tx_hash: bytes, update: WatchUpdate, *, terminal: bool) -> None:
        channels = self._watches.get(tx_hash, [])
        for channel in list(channels):
            try:
                channel.send_nowait(update)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):  # slow, or gone
                channels.remove(channel)
                channel.close()
            if terminal:
                channel.close()
        if terminal or not channels:
            self._watches.pop(tx_hash, None)


def _blames_sender(raw: bytes, outcome: Outcome) -> bool:
    """Whether ``outcome`` shows that the peer that gossiped ``raw`` forwarded what no honest node would: bytes
    that do not decode, or an immortal transaction whose signature does not verify. A *mortal* one's bad proof
    can be honest: its era may have ended between the sender's best block and ours, or begun at a block past
    ours (we are behind: our birth for it is the era before); such a one is ignored, as a stale one is. (Its era
    is read from the fixed-size header: decoding the call again would cost seconds for a hostile one.)"""
    if isinstance(outcome, MalformedExtrinsic):
        return True
    if not isinstance(outcome, InvalidTransaction):
        return False
    if outcome.kind is InvalidKind.BadProof:
        era = signed_era(raw)
        return era is None or era.immortal
    return outcome.kind is InvalidKind.BadSigner


def _validate_confined(runtime: CairnRuntime, state: TrieState, block_hash: bytes,
                       raws: list[bytes]) -> list[Validated | MalformedExtrinsic | TransactionValidityError]:
    """:func:`validate_transactions`, with a runtime bug (an exception other than the typed refusals) confined
    to the transaction that meets it: logged and that one refused, the rest of the batch validated alone and
    the node kept running (an exception here would end the admission service, and the node with it)."""
    try:
        return validate_transactions(runtime, state, block_hash, raws)
    except Exception:
        if len(raws) > 1:
            return [result for raw in raws for result in _validate_confined(runtime, state, block_hash, [raw])]
        log.exception("validating transaction 0x%s failed in the runtime; refusing it", blake2_256(raws[0]).hex())
        return [InvalidTransaction(InvalidKind.Call)]


def _priority_before_validation(runtime: CairnRuntime, raw: bytes) -> int | None:
    """The priority ``raw`` will be validated with, when its bytes alone tell: a Normal-class transaction's
    priority depends only on its tip, weight and length, whereas an operational one's adds its fee (which needs
    the state) and an unsigned one is refused by validation anyway (``None``: not known before validation).
    Raises :class:`MalformedExtrinsic` for bytes that do not decode."""
    xt = decode_extrinsic(raw, runtime.call_codec)
    info = runtime.dispatch_info(xt.call)
    if not xt.signed or info.class_ is not DispatchClass.Normal:
        return None
    return runtime.transaction_payment.priority(0, xt.tip, info, xt.length)  # (the fee counts only when operational)


async def _forward_updates(watcher: Watcher, updates: trio.MemoryReceiveChannel[WatchUpdate]) -> None:
    """Send a watched transaction's statuses to its watcher, in order, until the terminal one."""
    async with updates:
        async for update in updates:
            await watcher.send(update)
