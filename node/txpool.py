"""The transaction pool: validated transactions waiting for a block, ordered by tags and priority.

Every transaction enters through the runtime's ``validate_transaction``, which says what it *provides*
(``signer ++ nonce``) and *requires* (``signer ++ nonce - 1`` when it is not the next nonce on chain). A
transaction whose requirements are all provided by other pooled transactions (or need nothing) is
**ready**; the rest wait in **future** until what they need arrives. Block authors take ready
transactions best-first: highest priority among those whose requirements are already taken.

A second transaction providing the same tag (same signer and nonce) replaces the first only with a
higher priority (a tip); otherwise it is refused (1014).

Limits, and how the pool degrades under overload. Ready and future transactions are bounded separately, each
in count and bytes (as in Substrate's pool, whose command line gives futures a tenth of the ready limits), so
transactions that cannot be included yet never take the room of those that can. When a queue is full:

- A newcomer that would be **ready** gets in only by outranking the lowest-priority ready transaction, which
  leaves (``dropped``) with every pooled transaction that depends on it. Among equal priorities the newest
  goes, so a newcomer that merely equals the lowest is refused (1016): the oldest are next in line
  (:meth:`best` takes them first), their senders have waited longest, and an account's newest transaction is
  the one none of its others depends on. (Substrate evicts the oldest among equals instead; under a flood of
  equal priorities that turns every refusal into the eviction of a transaction already accepted.) Because a
  tie keeps the incumbent, a full ready queue can refuse a transaction *before* the runtime validates it,
  from an upper bound of its priority (:meth:`refusal_before_validation`): under overload the node does not
  spend its CPU validating what it would drop. A newcomer never evicts its own sender's transactions (they
  are its predecessors or its dependents).
- A newcomer that would be **future** never evicts a ready one. While the ready queue is full it is refused
  unless it outranks the lowest ready one: its predecessor could not get in either, so its gap cannot close.
  When the future queue is full, the first to go is the future whose **gap is open** (something it requires,
  directly or through other futures, is neither pooled nor on chain) that has waited longest: the longer a
  gap stays open, the less likely it closes. With no open gap, the lowest priority goes, newest first, as for ready ones.
- A future whose predecessor arrives or is included becomes ready while the ready queue has room; the rest
  stay future, their gap closed, until a block makes room.
- A future whose gap is still open ``future_timeout_seconds`` after it came leaves at the next block.

After every imported block the node calls :meth:`prune` with the transactions that block included and
the nonces now on chain of their senders: included and stale transactions leave, and future ones that
became ready move.
Listeners learn every status change (``ready``, ``future``, ``inBlock``, ``finalized``, ``dropped``,
``invalid``, ``usurped``) so RPC watchers always end with a terminal status: every transaction that leaves
the pool other than into a block says so.

A transaction that left into a block or as invalid is banned for ``ban_seconds`` (30 min, as Substrate):
resubmitting or re-gossiping it is refused at once (1012) instead of being validated again. A reorg that
retracts its block lifts the ban (:meth:`unban`) so it can be pooled again.

The pool does no I/O and takes no locks: the node's pool task owns it.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping, NoReturn

from runtime.extrinsic import ValidTransaction

__all__ = ["TxPool", "PoolTransaction", "PoolError", "PoolLimits", "Status", "ALREADY_IMPORTED", "TEMPORARILY_BANNED",
           "READY_FULL", "FUTURE_FULL"]


IMMORTAL = 2**64 - 1
"""The ``valid_till`` of a transaction without an era."""


class PoolError(Exception):
    """Submission refused by the pool itself (the runtime found the transaction valid).

    ``code`` is Substrate's RPC error code for the reason."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


ALREADY_IMPORTED = PoolError(1013, "Transaction Already Imported")
TEMPORARILY_BANNED = PoolError(1012, "Transaction is temporarily banned")
READY_FULL = PoolError(1016, "Immediately Dropped: the ready queue is full and the transaction does not outrank "
                             "its lowest-priority one")
FUTURE_FULL = PoolError(1016, "Immediately Dropped: the future queue is full")


def _refuse(error: PoolError) -> NoReturn:
    """Raise one of the shared refusals without the tracebacks of its earlier raises (a raise appends to them)."""
    raise error.with_traceback(None)


class Status:
    READY = "ready"
    FUTURE = "future"
    IN_BLOCK = "inBlock"
    FINALIZED = "finalized"
    DROPPED = "dropped"
    INVALID = "invalid"
    USURPED = "usurped"


@dataclass(frozen=True)
class PoolLimits:
    max_ready: int = 8192
    max_ready_bytes: int = 20 * 1024 * 1024
    max_future: int = 819
    """A tenth of the ready limits (count and bytes), as Substrate's command line sets them."""
    max_future_bytes: int = 2 * 1024 * 1024
    ban_seconds: float = 30 * 60
    max_banned: int = 65536
    """Bans kept at most (the oldest go first), so the ban list cannot grow without bound."""
    future_timeout_seconds: float = 60.0
    """A future transaction whose gap is still open this long after it came is dropped: its predecessor was
    refused or lost (a wallet resubmits a refused one within seconds), and its watcher must hear so rather than
    wait forever."""

    def __post_init__(self) -> None:
        for name in ("max_ready", "max_ready_bytes", "max_future", "max_future_bytes", "max_banned"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.ban_seconds < 0 or self.future_timeout_seconds < 0:
            raise ValueError("ban_seconds and future_timeout_seconds cannot be negative")


@dataclass(eq=False)
class PoolTransaction:
    raw: bytes
    hash: bytes
    validity: ValidTransaction
    signer: bytes
    nonce: int
    valid_till: int = IMMORTAL
    """The last block number it may be included in (validated on best block ``n``: ``n + longevity``);
    once the best block reaches it, it leaves the pool as invalid, as Substrate drops an outdated one."""
    inserted: int = field(default=0)
    submitted_at: float = field(default=0.0)

    @property
    def priority(self) -> int:
        return self.validity.priority


Listener = Callable[[bytes, str, object], None]
"""``(tx hash, status, detail)``; detail is a block hash for inBlock/finalized, a reason otherwise."""


class _Queue:
    """The ready or the future transactions: their hashes and bytes, against the queue's limits."""

    def __init__(self, max_count: int, max_bytes: int) -> None:
        self.max_count, self.max_bytes = max_count, max_bytes
        self.hashes: dict[bytes, None] = {}
        """In the order they joined the queue."""
        self.bytes = 0

    def __len__(self) -> int:
        return len(self.hashes)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self.hashes

    def add(self, tx: PoolTransaction) -> None:
        self.hashes[tx.hash] = None
        self.bytes += len(tx.raw)

    def discard(self, tx: PoolTransaction) -> None:
        if tx.hash in self.hashes:
            del self.hashes[tx.hash]
            self.bytes -= len(tx.raw)

    def excess(self, size: int, leaving: Iterable[PoolTransaction] = ()) -> tuple[int, int]:
        """Transactions and bytes over the limits if one of ``size`` bytes joined as ``leaving`` left."""
        count, nbytes = len(self.hashes) + 1 - self.max_count, self.bytes + size - self.max_bytes
        for tx in leaving:
            if tx.hash in self.hashes:
                count, nbytes = count - 1, nbytes - len(tx.raw)
        return count, nbytes

    def fits(self, size: int, leaving: Iterable[PoolTransaction] = ()) -> bool:
        count, nbytes = self.excess(size, leaving)
        return count <= 0 and nbytes <= 0

    @property
    def overfull(self) -> bool:
        return len(self.hashes) > self.max_count or self.bytes > self.max_bytes


class TxPool:
    def __init__(self, limits: PoolLimits = PoolLimits(), listener: Listener | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._banned: dict[bytes, float] = {}  # tx hash -> banned until; insertion order is expiry order
        self._listener = listener or (lambda tx_hash, status, detail: None)
        self._by_hash: dict[bytes, PoolTransaction] = {}
        self._by_tag: dict[bytes, PoolTransaction] = {}  # provided tag -> the transaction providing it
        self._by_signer: dict[bytes, set[bytes]] = {}  # sender -> its pooled transactions
        self._mortal: dict[bytes, int] = {}  # hash -> valid_till, for those that can outlive their era
        self._ready = _Queue(limits.max_ready, limits.max_ready_bytes)
        self._future = _Queue(limits.max_future, limits.max_future_bytes)
        self._required_by: dict[bytes, set[bytes]] = {}  # tag -> pooled transactions requiring it
        self._eviction_heap: list[tuple[int, int, bytes]] | None = None
        """``(priority, -inserted, hash)`` of the ready transactions, the next to evict on top: built when first
        needed (only a full ready queue evicts), then kept up as transactions become ready. Entries of
        transactions no longer ready stay until they surface, or until they are as many as the live ones and the
        heap is built again (so a block that takes thousands of transactions costs no rebuild of its own)."""
        self._counter = itertools.count()

    # --- queries --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._by_hash

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    @property
    def future_count(self) -> int:
        return len(self._future)

    def is_banned(self, tx_hash: bytes) -> bool:
        until = self._banned.get(tx_hash)
        return until is not None and until > self._clock()

    def get(self, tx_hash: bytes) -> PoolTransaction | None:
        return self._by_hash.get(tx_hash)

    def pending(self) -> list[PoolTransaction]:
        """Every pooled transaction, ready ones first (``author_pendingExtrinsics``)."""
        ordered = sorted(self._by_hash.values(), key=lambda t: (t.hash not in self._ready, t.inserted))
        return ordered

    def next_nonce(self, signer: bytes, chain_nonce: int) -> int:
        """The nonce a new transaction of ``signer`` should use (``system_accountNextIndex``)."""
        nonce = chain_nonce
        while self._by_tag.get(signer + nonce.to_bytes(4, "little")) is not None:
            nonce += 1
        return nonce

    # --- submission -----------------------------------------------------------------------------

    def ready_has_room(self, size: int) -> bool:
        """Whether the ready queue has room for ``size`` more bytes (and a transaction) as it is."""
        return self._ready.fits(size)

    def refusal_before_validation(self, tx_hash: bytes, size: int,
                                  max_priority: Callable[[], int | None]) -> PoolError | None:
        """The refusal a transaction the runtime has not validated yet is sure to get, if any: already pooled
        (1013), banned (1012), or, while the ready queue has no room for its ``size`` bytes, a priority of at
        most ``max_priority()`` (``None``: not known before validation; asked only then) that does not outrank
        the lowest ready transaction (1016), whether it would be ready or future. :meth:`submit` refuses
        whatever this refuses."""
        if tx_hash in self._by_hash:
            return ALREADY_IMPORTED
        if self.is_banned(tx_hash):
            return TEMPORARILY_BANNED
        if self._ready.fits(size):
            return None
        bound = max_priority()
        return READY_FULL if bound is not None and not self._may_enter_when_full(bound, size) else None

    def submit(self, tx: PoolTransaction) -> str:
        """Add a transaction the runtime validated; returns ``ready`` or ``future``."""
        if tx.hash in self._by_hash:
            _refuse(ALREADY_IMPORTED)
        if self.is_banned(tx.hash):
            _refuse(TEMPORARILY_BANNED)
        replaced = list({h.hash: h for tag in tx.validity.provides if (h := self._by_tag.get(tag)) is not None}.values())
        if any(holder.priority >= tx.priority for holder in replaced):
            raise PoolError(1014, "Priority is too low: a transaction with the same nonce is already pooled")
        if not self._may_enter_when_full(tx.priority, len(tx.raw), replaced):
            _refuse(READY_FULL)
        if self._is_unlocked(tx):
            victims = self._ready_victims(tx, replaced)
        else:
            victims = self._room_for(tx, self._future, self._futures_in_eviction_order(), replaced, FUTURE_FULL)
        for holder in replaced:
            self._remove(holder, Status.USURPED, tx.hash)
        for victim in victims:
            self._evict(victim, "pool full")
        tx.inserted = next(self._counter)
        tx.submitted_at = self._clock()
        self._by_hash[tx.hash] = tx
        self._by_signer.setdefault(tx.signer, set()).add(tx.hash)
        if tx.valid_till < IMMORTAL:
            self._mortal[tx.hash] = tx.valid_till
        for tag in tx.validity.provides:
            self._by_tag[tag] = tx
        for tag in tx.validity.requires:
            self._required_by.setdefault(tag, set()).add(tx.hash)
        self._future.add(tx)
        self._promote([tx.hash])
        status = Status.READY if tx.hash in self._ready else Status.FUTURE
        self._listener(tx.hash, status, None)
        self._enforce_future_limits()  # (replacing a transaction sends its dependents to future for a moment)
        return status

    def _may_enter_when_full(self, priority: int, size: int, replaced: Iterable[PoolTransaction] = ()) -> bool:
        """Whether a transaction of ``priority`` could enter at all: while the ready queue has no room for it,
        only by outranking the lowest ready transaction (ties keep the incumbent)."""
        if self._ready.fits(size, replaced):
            return True
        lowest = self._lowest_ready()
        return lowest is not None and priority > lowest.priority

    def _ready_victims(self, tx: PoolTransaction, replaced: list[PoolTransaction]) -> list[PoolTransaction]:
        """The ready transactions to evict so ``tx`` fits, lowest priority and newest first."""
        popped: list[tuple[int, int, bytes]] = []
        try:
            return self._room_for(tx, self._ready, self._pop_in_eviction_order(popped), replaced, READY_FULL)
        finally:
            heap = self._eviction_order()
            for entry in popped:
                heapq.heappush(heap, entry)

    def _room_for(self, tx: PoolTransaction, queue: _Queue, candidates: Iterator[PoolTransaction],
                  replaced: list[PoolTransaction], refusal: PoolError) -> list[PoolTransaction]:
        """Transactions to evict, each with its dependents, so ``tx`` fits ``queue`` once ``replaced`` left; taken
        from ``candidates`` in order, skipping ``tx``'s own sender's. Refuses ``tx`` when the next candidate
        neither ranks below it nor has an open gap."""
        leaving = {t.hash: t for t in replaced}
        count, nbytes = queue.excess(len(tx.raw), replaced)
        victims: list[PoolTransaction] = []
        while count > 0 or nbytes > 0:
            victim = next(candidates, None)
            if victim is None:
                _refuse(refusal)
            if victim.hash in leaving or victim.signer == tx.signer:
                continue
            if victim.priority >= tx.priority and not self._gap_open(victim):
                _refuse(refusal)
            victims.append(victim)
            for gone in self._with_dependents(victim):
                if gone.hash not in leaving:
                    leaving[gone.hash] = gone
                    if gone.hash in queue:
                        count, nbytes = count - 1, nbytes - len(gone.raw)
        return victims

    def _pop_in_eviction_order(self, popped: list[tuple[int, int, bytes]]) -> Iterator[PoolTransaction]:
        """Ready transactions, the next to evict first, popping their heap entries into ``popped`` (for the
        caller to push back) and dropping the entries of transactions no longer ready."""
        heap = self._eviction_order()
        while heap:
            entry = heapq.heappop(heap)
            tx = self._ready_entry(entry)
            if tx is not None:
                popped.append(entry)
                yield tx

    def _lowest_ready(self) -> PoolTransaction | None:
        """The ready transaction to evict first: the lowest priority, the newest among equals."""
        heap = self._eviction_order()
        while heap:
            tx = self._ready_entry(heap[0])
            if tx is not None:
                return tx
            heapq.heappop(heap)
        return None

    def _eviction_order(self) -> list[tuple[int, int, bytes]]:
        """The eviction heap, built again from the ready queue when stale entries outnumber live ones."""
        if self._eviction_heap is None or len(self._eviction_heap) > 2 * len(self._ready) + 64:
            self._eviction_heap = [(t.priority, -t.inserted, t.hash)
                                   for t in map(self._by_hash.__getitem__, self._ready.hashes)]
            heapq.heapify(self._eviction_heap)
        return self._eviction_heap

    def _ready_entry(self, entry: tuple[int, int, bytes]) -> PoolTransaction | None:
        """The transaction of an eviction-order entry, if it is still that entry's ready transaction."""
        tx = self._by_hash.get(entry[2])
        return tx if tx is not None and tx.hash in self._ready and tx.inserted == -entry[1] else None

    def _futures_in_eviction_order(self) -> Iterator[PoolTransaction]:
        """Future transactions, the next to evict first: those with an open gap, the longest waiting first; then
        the rest, lowest priority and newest first. (Lazy: the longest waiting are usually stuck, and nothing is
        looked at until a caller needs room.)"""
        closed: list[PoolTransaction] = []
        for tx in map(self._by_hash.__getitem__, list(self._future.hashes)):  # (in the order they became future)
            if self._gap_open(tx):
                yield tx
            else:
                closed.append(tx)
        yield from sorted(closed, key=lambda t: (t.priority, -t.inserted))

    def _gap_open(self, tx: PoolTransaction) -> bool:
        """Whether ``tx`` waits for a transaction that is neither pooled nor on chain, directly or through the
        future transactions it waits for (a ready one never does)."""
        waiting, seen = [tx], {tx.hash}
        while waiting:
            for tag in waiting.pop().validity.requires:
                provider = self._by_tag.get(tag)
                if provider is None:
                    return True
                if provider.hash in self._future and provider.hash not in seen:
                    seen.add(provider.hash)
                    waiting.append(provider)
        return False

    def _requirers(self, tags: Iterable[bytes]) -> set[bytes]:
        """Hashes of pooled transactions that require any of ``tags``."""
        found: set[bytes] = set()
        for tag in tags:
            found |= self._required_by.get(tag, set())
        return found

    def _with_dependents(self, tx: PoolTransaction) -> list[PoolTransaction]:
        """``tx`` and every pooled transaction that requires it, directly or not, dependents after their
        predecessors."""
        found = {tx.hash: tx}
        order = [tx]
        for current in order:
            for other_hash in self._requirers(current.validity.provides):
                if other_hash not in found:
                    found[other_hash] = self._by_hash[other_hash]
                    order.append(found[other_hash])
        return order

    def _is_unlocked(self, tx: PoolTransaction) -> bool:
        """Every requirement is provided by a ready pooled transaction."""
        return all((p := self._by_tag.get(t)) is not None and p.hash in self._ready for t in tx.validity.requires)

    def _promote(self, candidates: Iterable[bytes]) -> None:
        """Move future transactions whose requirements are now provided by ready ones, while the ready queue
        has room; following the ``requires`` index from what just became ready, so each submission costs its
        own chain only. Candidates are taken from the end."""
        pending = list(candidates)
        while pending:
            tx_hash = pending.pop()
            tx = self._by_hash.get(tx_hash)
            if tx is None or tx_hash not in self._future or not self._is_unlocked(tx) or not self._ready.fits(len(tx.raw)):
                continue
            self._future.discard(tx)
            self._ready.add(tx)
            if self._eviction_heap is not None:
                heapq.heappush(self._eviction_heap, (tx.priority, -tx.inserted, tx.hash))
            pending.extend(self._requirers(tx.validity.provides))

    def _enforce_future_limits(self) -> None:
        """Evict futures, open gaps first, while the future queue is over its limits (dependents sent back
        from ready can overfill it)."""
        while self._future.overfull:
            self._evict(next(self._futures_in_eviction_order()), "too many future transactions")

    # --- block building -------------------------------------------------------------------------

    def best(self) -> Iterator[PoolTransaction]:
        """Ready transactions best-first, each only after the ones it requires (O(n log n))."""
        missing: dict[bytes, int] = {}
        heap: list[tuple[int, int, bytes]] = []
        for tx_hash in self._ready.hashes:
            tx = self._by_hash[tx_hash]
            requires = tx.validity.requires
            in_pool = sum(1 for t in requires if t in self._by_tag) if requires else 0
            if in_pool:
                missing[tx_hash] = in_pool
            else:
                heapq.heappush(heap, (-tx.priority, tx.inserted, tx_hash))
        while heap:
            _, _, tx_hash = heapq.heappop(heap)
            tx = self._by_hash.get(tx_hash)
            if tx is None:
                continue
            yield tx
            for other_hash in self._requirers(tx.validity.provides):
                if other_hash in missing:
                    missing[other_hash] -= 1
                    if missing[other_hash] == 0:
                        del missing[other_hash]
                        other = self._by_hash[other_hash]
                        heapq.heappush(heap, (-other.priority, other.inserted, other_hash))

    # --- after blocks ---------------------------------------------------------------------------

    def prune(self, included: Iterable[bytes], block_hash: bytes, block_number: int,
              chain_nonces: Mapping[bytes, int]) -> None:
        """Block ``block_number`` became the best: drop what it (and blocks enacted with it) included, what went
        stale, what outlived its longevity, and futures whose gap has not closed in time.

        ``chain_nonces`` holds the nonce now on chain of every sender whose transactions those blocks carried: an
        account's nonce moves only when one of its transactions is included, so only these senders' pooled
        transactions can have gone stale or had their predecessor arrive (as Substrate prunes by the tags a block
        provides), and the pool's other transactions are not looked at for it."""
        for tx_hash in included:
            tx = self._by_hash.get(tx_hash)
            if tx is not None:
                self._remove(tx, Status.IN_BLOCK, block_hash, terminal=False)
        for signer, chain_nonce in chain_nonces.items():
            for tx in [self._by_hash[h] for h in self._by_signer.get(signer, ())]:  # (each decided on its own)
                if tx.nonce < chain_nonce:
                    self._remove(tx, Status.INVALID, "stale nonce")
                elif tx.nonce == chain_nonce and tx.validity.requires:  # its predecessor is on chain now
                    for tag in tx.validity.requires:
                        self._required_by.get(tag, set()).discard(tx.hash)
                    tx.validity = ValidTransaction(tx.validity.priority, (), tx.validity.provides,
                                                   tx.validity.longevity, tx.validity.propagate)
        for tx_hash, valid_till in list(self._mortal.items()):
            if valid_till <= block_number and tx_hash in self._by_hash:  # (the next block could not include it)
                self._remove(self._by_hash[tx_hash], Status.INVALID, "outdated: its era ended")
        too_old = self._clock() - self.limits.future_timeout_seconds
        for tx in [self._by_hash[h] for h in self._future.hashes]:
            if tx.hash in self._by_hash and tx.submitted_at < too_old and self._gap_open(tx):  # (not gone with
                self._evict(tx, "its predecessor never came")                                  # a predecessor)
        futures = sorted(map(self._by_hash.__getitem__, self._future.hashes), key=lambda t: (t.priority, -t.inserted))
        self._promote([t.hash for t in futures])  # the highest priority, then the oldest, first
        self._enforce_future_limits()

    def unban(self, hashes: Iterable[bytes]) -> None:
        """Lift the bans of transactions whose block a reorg retracted, so they can be pooled again."""
        for tx_hash in hashes:
            self._banned.pop(tx_hash, None)

    def _ban(self, tx_hash: bytes) -> None:
        now = self._clock()
        self._banned.pop(tx_hash, None)
        self._banned[tx_hash] = now + self.limits.ban_seconds
        while self._banned:
            oldest, until = next(iter(self._banned.items()))
            if until > now and len(self._banned) <= self.limits.max_banned:
                break
            del self._banned[oldest]

    def remove_invalid(self, tx_hash: bytes, reason: str) -> None:
        tx = self._by_hash.get(tx_hash)
        if tx is not None:
            self._remove(tx, Status.INVALID, reason)
            self._enforce_future_limits()

    def _evict(self, tx: PoolTransaction, reason: str) -> None:
        """Drop ``tx`` and every transaction that depends on it (they could never be included without it)."""
        for gone in reversed(self._with_dependents(tx)):
            self._remove(gone, Status.DROPPED, reason)

    def _remove(self, tx: PoolTransaction, status: str, detail: object, *, terminal: bool = True) -> None:
        """Take ``tx`` out. Leaving into a block (not ``terminal``) keeps its dependents ready, since what
        they require is now on chain; any other exit sends ready dependents back to future."""
        del self._by_hash[tx.hash]
        own = self._by_signer[tx.signer]
        own.discard(tx.hash)
        if not own:
            del self._by_signer[tx.signer]
        self._mortal.pop(tx.hash, None)
        for tag in tx.validity.provides:
            if self._by_tag.get(tag) is tx:
                del self._by_tag[tag]
        for tag in tx.validity.requires:
            requirers = self._required_by.get(tag)
            if requirers is not None:
                requirers.discard(tx.hash)
                if not requirers:
                    del self._required_by[tag]
        self._ready.discard(tx)
        self._future.discard(tx)
        if status in (Status.IN_BLOCK, Status.INVALID):
            self._ban(tx.hash)
        self._listener(tx.hash, status, detail)
        if terminal:
            self._demote_dependents(set(tx.validity.provides))

    def _demote_dependents(self, lost: set[bytes]) -> None:
        while lost:
            demoted = [self._by_hash[h] for h in self._requirers(lost) if h in self._ready]
            lost = set()
            for tx in demoted:
                self._ready.discard(tx)
                self._future.add(tx)
                lost.update(tx.validity.provides)
