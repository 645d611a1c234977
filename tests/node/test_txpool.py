"""The transaction pool: readiness by tags, best-first order, replacement, limits, pruning, statuses."""

from __future__ import annotations

import pytest

from node.txpool import PoolError, PoolLimits, PoolTransaction, Status, TxPool
from runtime.extrinsic import ValidTransaction
from runtime.hashing import blake2_256

ALICE, BOB = b"\x01" * 32, b"\x02" * 32


def tx(signer: bytes, nonce: int, chain_nonce: int = 0, priority: int = 1, size: int = 100,
       valid_till: int = 2**64 - 1) -> PoolTransaction:
    tag = lambda n: signer + n.to_bytes(4, "little")  # noqa: E731
    requires = (tag(nonce - 1),) if nonce > chain_nonce else ()
    raw = bytes([nonce % 256, priority % 256]) + signer + bytes(size - 34)
    return PoolTransaction(raw, blake2_256(raw),
                           ValidTransaction(priority, requires, (tag(nonce),), 64, True), signer, nonce, valid_till)


@pytest.fixture
def events():
    return []


@pytest.fixture
def pool(events):
    return TxPool(listener=lambda h, status, detail: events.append((h, status)))


def test_future_transactions_wait_for_their_predecessor(pool):
    assert pool.submit(tx(ALICE, 1)) == Status.FUTURE
    assert pool.submit(tx(ALICE, 2)) == Status.FUTURE
    assert pool.submit(tx(ALICE, 0)) == Status.READY
    assert pool.ready_count == 3 and pool.future_count == 0
    assert [t.nonce for t in pool.best()] == [0, 1, 2]


def test_best_orders_by_priority_but_respects_dependencies(pool):
    pool.submit(tx(ALICE, 0, priority=1))
    pool.submit(tx(ALICE, 1, priority=100))
    pool.submit(tx(BOB, 0, priority=50))
    order = [(t.signer, t.nonce) for t in pool.best()]
    assert order == [(BOB, 0), (ALICE, 0), (ALICE, 1)]


def test_same_nonce_needs_a_higher_priority_to_replace(pool, events):
    first = tx(ALICE, 0, priority=5)
    pool.submit(first)
    with pytest.raises(PoolError) as info:
        pool.submit(tx(ALICE, 0, priority=5, size=120))
    assert info.value.code == 1014
    better = tx(ALICE, 0, priority=9, size=120)
    pool.submit(better)
    assert (first.hash, Status.USURPED) in events
    assert list(pool.best()) == [better]


def test_duplicates_are_refused(pool):
    t = tx(ALICE, 0)
    pool.submit(t)
    with pytest.raises(PoolError) as info:
        pool.submit(t)
    assert info.value.code == 1013


def test_a_full_pool_evicts_the_lowest_priority_or_refuses(events):
    pool = TxPool(PoolLimits(max_ready=2, max_future=1, max_bytes=10**6), lambda h, s, d: events.append((h, s)))
    low = tx(ALICE, 0, priority=1)
    pool.submit(low)
    pool.submit(tx(BOB, 0, priority=5))
    pool.submit(tx(b"\x03" * 32, 0, priority=6))
    pool.submit(tx(b"\x04" * 32, 0, priority=7))
    assert (low.hash, Status.DROPPED) in events and len(pool) == 3
    with pytest.raises(PoolError) as info:
        pool.submit(tx(b"\x05" * 32, 0, priority=1))
    assert info.value.code == 1016


def test_byte_limit(events):
    pool = TxPool(PoolLimits(max_bytes=250), lambda h, s, d: events.append((h, s)))
    pool.submit(tx(ALICE, 0, priority=3, size=200))
    with pytest.raises(PoolError):
        pool.submit(tx(BOB, 0, priority=1, size=100))


def test_prune_removes_included_and_stale_and_promotes(pool, events):
    t0, t1, t2 = tx(ALICE, 0), tx(ALICE, 1), tx(ALICE, 2)
    pool.submit(t0)
    pool.submit(t1)
    pool.submit(t2)
    stale_bob = tx(BOB, 0)
    pool.submit(stale_bob)
    pool.prune([t0.hash], b"B" * 32, 1, lambda who: {ALICE: 1, BOB: 1}[who])
    assert (t0.hash, Status.IN_BLOCK) in events
    assert (stale_bob.hash, Status.INVALID) in events
    assert [t.nonce for t in pool.best()] == [1, 2]


def test_dropping_a_ready_transaction_demotes_its_dependents(pool):
    t0, t1, t2 = tx(ALICE, 0), tx(ALICE, 1), tx(ALICE, 2)
    for t in (t0, t1, t2):
        pool.submit(t)
    pool.remove_invalid(t0.hash, "bad")
    assert pool.ready_count == 0 and pool.future_count == 2
    assert list(pool.best()) == []


def test_next_nonce_counts_pooled_transactions(pool):
    pool.submit(tx(ALICE, 3, chain_nonce=3))
    pool.submit(tx(ALICE, 4, chain_nonce=3))
    assert pool.next_nonce(ALICE, 3) == 5
    assert pool.next_nonce(BOB, 7) == 7


class _Clock:
    """Seconds the test advances by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _banned_when_resubmitted(pool: TxPool, transaction: PoolTransaction) -> bool:
    try:
        pool.submit(transaction)
    except PoolError as exc:
        assert exc.code == 1012 and "temporarily banned" in str(exc)
        return True
    return False


def test_included_and_invalid_transactions_are_banned_until_the_ban_expires():
    clock = _Clock()
    pool = TxPool(PoolLimits(ban_seconds=60), clock=clock)
    included, invalid, evicted_later = tx(ALICE, 0), tx(BOB, 0), tx(BOB, 1)
    for transaction in (included, invalid):
        pool.submit(transaction)
    pool.prune([included.hash], b"\x09" * 32, 1, chain_nonce=lambda who: 1 if who == ALICE else 0)
    pool.remove_invalid(invalid.hash, "no funds")
    assert pool.is_banned(included.hash) and pool.is_banned(invalid.hash)
    assert _banned_when_resubmitted(pool, included) and _banned_when_resubmitted(pool, invalid)
    assert not pool.is_banned(evicted_later.hash)
    clock.now += 61
    assert not pool.is_banned(included.hash)
    assert not _banned_when_resubmitted(pool, invalid)  # pooled again once the ban is over


def test_a_retracted_transaction_can_be_pooled_again_at_once():
    pool = TxPool()
    included = tx(ALICE, 0)
    pool.submit(included)
    pool.prune([included.hash], b"\x09" * 32, 1, chain_nonce=lambda who: 1)
    pool.unban([included.hash])
    assert pool.submit(included) == Status.READY


def test_the_ban_list_stays_within_its_bound():
    clock = _Clock()
    pool = TxPool(PoolLimits(max_banned=3), clock=clock)
    transactions = [tx(ALICE, n, chain_nonce=n) for n in range(5)]
    for transaction in transactions:
        pool.submit(transaction)
        pool.remove_invalid(transaction.hash, "test")
        clock.now += 1
    assert [pool.is_banned(t.hash) for t in transactions] == [False, False, True, True, True]


def test_outdated_and_long_stuck_transactions_leave_with_a_terminal_status(events):
    clock = _Clock()
    pool = TxPool(PoolLimits(future_timeout_seconds=60), listener=lambda h, status, detail: events.append((h, status)),
                  clock=clock)
    mortal, immortal, gap = tx(ALICE, 0, valid_till=10), tx(BOB, 0), tx(BOB, 5)
    for transaction in (mortal, immortal, gap):
        pool.submit(transaction)
    pool.prune([], b"\x09" * 32, 9, chain_nonce=lambda who: 0)
    assert mortal.hash in pool and gap.hash in pool  # block 10 may still include it; the gap is young
    clock.now += 61
    pool.prune([], b"\x0a" * 32, 10, chain_nonce=lambda who: 0)
    assert (mortal.hash, Status.INVALID) in events  # its era ended with block 10
    assert (gap.hash, Status.DROPPED) in events     # BOB 1..4 never came
    assert list(pool.best()) == [immortal]
