"""The transaction pool: validated transactions waiting for a block, ordered by tags and priority.

Every transaction enters through the runtime's ``validate_transaction``, which says what it *provides*
(``signer ++ nonce``) and *requires* (``signer ++ nonce - 1`` when it is not the next nonce on chain). A
transaction whose requirements are all provided by other pooled transactions (or need nothing) is
**ready**; the rest wait in **future** until what they need arrives. Block authors take ready
transactions best-first: highest priority among those whose requirements are already taken.

A second transaction providing the same tag (same signer and nonce) replaces the first only with a
higher priority (a tip); otherwise it is refused. Both queues are bounded in count and bytes: when full,
the lowest-priority transaction goes, or the newcomer is refused if it is the lowest.

After every imported block the node calls :meth:`prune` with the transactions that block included and
the nonces now on chain: included and stale transactions leave, and future ones that became ready move.
Listeners learn every status change (``ready``, ``future``, ``inBlock``, ``finalized``, ``dropped``,
``invalid``, ``usurped``) so RPC watchers always end with a terminal status.

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
from typing import Callable, Iterable, Iterator

from runtime.extrinsic import ValidTransaction

__all__ = ["TxPool", "PoolTransaction", "PoolError", "PoolLimits", "Status", "ALREADY_IMPORTED", "TEMPORARILY_BANNED"]


class PoolError(Exception):
    """Submission refused by the pool itself (the runtime found the transaction valid).

    ``code`` is Substrate's RPC error code for the reason."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


ALREADY_IMPORTED = PoolError(1013, "Transaction Already Imported")
TEMPORARILY_BANNED = PoolError(1012, "Transaction is temporarily banned")


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
    max_future: int = 1024
    max_bytes: int = 20 * 1024 * 1024
    ban_seconds: float = 30 * 60
    max_banned: int = 65536
    """Bans kept at most (the oldest go first), so the ban list cannot grow without bound."""
    future_timeout_seconds: float = 5 * 60
    """A transaction still waiting for its predecessor after this long is dropped: the gap is not closing
    (its predecessor was refused or lost), and its watcher must hear so rather than wait forever."""


@dataclass(eq=False)
class PoolTransaction:
    raw: bytes
    hash: bytes
    validity: ValidTransaction
    signer: bytes
    nonce: int
    valid_till: int = 2**64 - 1
    """The last block number it may be included in (validated on best block ``n``: ``n + longevity``);
    once the best block reaches it, it leaves the pool as invalid, as Substrate drops an outdated one."""
    inserted: int = field(default=0)
    submitted_at: float = field(default=0.0)

    @property
    def priority(self) -> int:
        return self.validity.priority


Listener = Callable[[bytes, str, object], None]
"""``(tx hash, status, detail)``; detail is a block hash for inBlock/finalized, a reason otherwise."""


class TxPool:
    def __init__(self, limits: PoolLimits = PoolLimits(), listener: Listener | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._banned: dict[bytes, float] = {}  # tx hash -> banned until; insertion order is expiry order
        self._listener = listener or (lambda tx_hash, status, detail: None)
        self._by_hash: dict[bytes, PoolTransaction] = {}
        self._by_tag: dict[bytes, PoolTransaction] = {}  # provided tag -> the transaction providing it
        self._ready: set[bytes] = set()
        self._future: set[bytes] = set()
        self._required_by: dict[bytes, set[bytes]] = {}  # tag -> pooled transactions requiring it
        self._bytes = 0
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

    def submit(self, tx: PoolTransaction) -> str:
        """Add a transaction the runtime validated; returns ``ready`` or ``future``."""
        if tx.hash in self._by_hash:
            raise ALREADY_IMPORTED
        if self.is_banned(tx.hash):
            raise TEMPORARILY_BANNED
        for tag in tx.validity.provides:
            holder = self._by_tag.get(tag)
            if holder is not None and holder.priority >= tx.priority:
                raise PoolError(1014, "Priority is too low: a transaction with the same nonce is already pooled")
        self._make_room(tx)
        for tag in tx.validity.provides:
            holder = self._by_tag.get(tag)
            if holder is not None:
                self._remove(holder, Status.USURPED, tx.hash)
        tx.inserted = next(self._counter)
        tx.submitted_at = self._clock()
        self._by_hash[tx.hash] = tx
        for tag in tx.validity.provides:
            self._by_tag[tag] = tx
        for tag in tx.validity.requires:
            self._required_by.setdefault(tag, set()).add(tx.hash)
        self._bytes += len(tx.raw)
        self._future.add(tx.hash)
        self._promote([tx.hash])
        status = Status.READY if tx.hash in self._ready else Status.FUTURE
        self._listener(tx.hash, status, None)
        return status

    def _make_room(self, tx: PoolTransaction) -> None:
        """Evict the lowest-priority transactions if ``tx`` does not fit; refuse it if it is the lowest."""
        limits = self.limits
        while (len(self._by_hash) >= limits.max_ready + limits.max_future
               or self._bytes + len(tx.raw) > limits.max_bytes):
            victim = min(self._by_hash.values(), key=lambda t: (t.priority, -t.inserted))
            if victim.priority >= tx.priority:
                raise PoolError(1016, "Immediately Dropped: the pool is full")
            self._remove(victim, Status.DROPPED, "pool full")
        if len(self._future) >= limits.max_future and tx.validity.requires:
            raise PoolError(1016, "Immediately Dropped: too many future transactions")

    def _requirers(self, tags: Iterable[bytes]) -> set[bytes]:
        """Hashes of pooled transactions that require any of ``tags``."""
        found: set[bytes] = set()
        for tag in tags:
            found |= self._required_by.get(tag, set())
        return found

    def _is_unlocked(self, tx: PoolTransaction) -> bool:
        """Every requirement is provided by a ready pooled transaction."""
        return all((p := self._by_tag.get(t)) is not None and p.hash in self._ready for t in tx.validity.requires)

    def _promote(self, candidates: Iterable[bytes] | None = None) -> None:
        """Move future transactions whose requirements are now provided by ready ones; following the
        ``requires`` index from what just became ready, so each submission costs its own chain only."""
        pending = list(self._future if candidates is None else candidates)
        while pending:
            tx_hash = pending.pop()
            tx = self._by_hash.get(tx_hash)
            if tx is None or tx_hash not in self._future or not self._is_unlocked(tx):
                continue
            self._future.discard(tx_hash)
            self._ready.add(tx_hash)
            pending.extend(self._requirers(tx.validity.provides))

    # --- block building -------------------------------------------------------------------------

    def best(self) -> Iterator[PoolTransaction]:
        """Ready transactions best-first, each only after the ones it requires (O(n log n))."""
        missing: dict[bytes, int] = {}
        heap: list[tuple[int, int, bytes]] = []
        for tx_hash in self._ready:
            tx = self._by_hash[tx_hash]
            in_pool = sum(1 for t in tx.validity.requires if t in self._by_tag)
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
              chain_nonce: Callable[[bytes], int]) -> None:
        """Block ``block_number`` became the best: drop what it (and blocks enacted with it) included, what
        went stale, what outlived its longevity, and futures whose gap has not closed in time."""
        for tx_hash in included:
            tx = self._by_hash.get(tx_hash)
            if tx is not None:
                self._remove(tx, Status.IN_BLOCK, block_hash, terminal=False)
        nonces: dict[bytes, int] = {}
        too_old = self._clock() - self.limits.future_timeout_seconds
        for tx in list(self._by_hash.values()):
            if tx.signer not in nonces:
                nonces[tx.signer] = chain_nonce(tx.signer)
            if tx.nonce < nonces[tx.signer]:
                self._remove(tx, Status.INVALID, "stale nonce")
            elif tx.valid_till <= block_number:  # (the next block could not include it)
                self._remove(tx, Status.INVALID, "outdated: its era ended")
            elif tx.hash in self._future and tx.submitted_at < too_old:
                self._remove(tx, Status.DROPPED, "its predecessor never came")
        # requirements now met by chain state: a future transaction whose predecessor was included
        for tx_hash in list(self._future):
            tx = self._by_hash[tx_hash]
            if tx.nonce == nonces.get(tx.signer):
                for tag in tx.validity.requires:
                    self._required_by.get(tag, set()).discard(tx_hash)
                tx.validity = ValidTransaction(tx.validity.priority, (), tx.validity.provides,
                                               tx.validity.longevity, tx.validity.propagate)
        self._promote()

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

    def _remove(self, tx: PoolTransaction, status: str, detail: object, *, terminal: bool = True) -> None:
        """Take ``tx`` out. Leaving into a block (not ``terminal``) keeps its dependents ready, since what
        they require is now on chain; any other exit sends ready dependents back to future."""
        del self._by_hash[tx.hash]
        for tag in tx.validity.provides:
            if self._by_tag.get(tag) is tx:
                del self._by_tag[tag]
        for tag in tx.validity.requires:
            requirers = self._required_by.get(tag)
            if requirers is not None:
                requirers.discard(tx.hash)
                if not requirers:
                    del self._required_by[tag]
        self._ready.discard(tx.hash)
        self._future.discard(tx.hash)
        self._bytes -= len(tx.raw)
        if status in (Status.IN_BLOCK, Status.INVALID):
            self._ban(tx.hash)
        self._listener(tx.hash, status, detail)
        if terminal:
            self._demote_dependents(set(tx.validity.provides))

    def _demote_dependents(self, lost: set[bytes]) -> None:
        while lost:
            demoted = [h for h in self._requirers(lost) if h in self._ready]
            lost = set()
            for tx_hash in demoted:
                self._ready.discard(tx_hash)
                self._future.add(tx_hash)
                lost.update(self._by_hash[tx_hash].validity.provides)
