"""The transaction pool: readiness by tags, best-first order, replacement, separate ready and future limits and
how a full pool evicts or refuses (before validation too), pruning, and a status for every transaction that leaves."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_prune_removes_included_and_stale_and_promotes(pool, events):
    t0, t1, t2 = tx(ALICE, 0), tx(ALICE, 1), tx(ALICE, 2)
    pool.submit(t0)
    pool.submit(t1)
    pool.submit(t2)
    stale_bob = tx(BOB, 0)
    pool.submit(stale_bob)
    pool.prune([t0.hash], b"B" * 32, 1, {ALICE: 1, BOB: 1})
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
    pool.prune([included.hash], b"\x09" * 32, 1, {ALICE: 1})
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
    pool.prune([included.hash], b"\x09" * 32, 1, {ALICE: 1})
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
    pool.prune([], b"\x09" * 32, 9, {})
    assert mortal.hash in pool and gap.hash in pool  # block 10 may still include it; the gap is young
    clock.now += 61
    pool.prune([], b"\x0a" * 32, 10, {})
    assert (mortal.hash, Status.INVALID) in events  # its era ended with block 10
    assert (gap.hash, Status.DROPPED) in events     # BOB 1..4 never came
    assert list(pool.best()) == [immortal]


# --- limits and overload ---------------------------------------------------------------------------

CAROL, DAVE, EVE = b"\x03" * 32, b"\x04" * 32, b"\x05" * 32


def small_pool(events: list, clock: _Clock | None = None, **limits) -> TxPool:
    return TxPool(PoolLimits(**limits), lambda h, status, detail: events.append((h, status)), clock or _Clock())


def refused(pool: TxPool, transaction: PoolTransaction) -> int | None:
    """The pool's refusal code for ``transaction``, or None once it is pooled."""
    try:
        pool.submit(transaction)
    except PoolError as exc:
        return exc.code
    return None


def test_limits_must_be_positive():
    for bad in ({"max_ready": 0}, {"max_future_bytes": 0}, {"max_banned": -1}, {"future_timeout_seconds": -1}):
        with pytest.raises(ValueError):
            PoolLimits(**bad)


def test_ready_and_future_transactions_have_separate_limits(events):
    pool = small_pool(events, max_ready=2, max_future=2)
    for gap in (tx(CAROL, 5), tx(DAVE, 5)):
        assert pool.submit(gap) == Status.FUTURE
    assert pool.submit(tx(ALICE, 0)) == Status.READY and pool.submit(tx(BOB, 0)) == Status.READY  # futures take no ready room
    assert refused(pool, tx(EVE, 0)) == 1016
    assert pool.ready_count == 2 and pool.future_count == 2


def test_byte_limits_are_separate_too(events):
    pool = small_pool(events, max_ready_bytes=250, max_future_bytes=150)
    assert pool.submit(tx(ALICE, 0, size=150)) == Status.READY
    assert pool.submit(tx(BOB, 3, size=100)) == Status.FUTURE and pool.submit(tx(CAROL, 3, size=50)) == Status.FUTURE
    assert pool.submit(tx(DAVE, 0, size=100)) == Status.READY  # 150 future bytes take no ready room
    assert refused(pool, tx(EVE, 0, size=50)) == 1016
    assert len(pool) == 4


def test_a_future_transaction_never_evicts_a_ready_one(events):
    pool = small_pool(events, max_ready=2)
    lows = [tx(ALICE, 0), tx(BOB, 0)]
    for low in lows:
        pool.submit(low)
    assert refused(pool, tx(CAROL, 3, priority=1)) == 1016  # its predecessor could not enter either
    assert pool.submit(tx(CAROL, 3, priority=5)) == Status.FUTURE  # an outranking one waits in future...
    assert all(t.hash in pool for t in lows) and Status.DROPPED not in {s for _, s in events}  # ...taking no room


def test_a_full_ready_queue_evicts_the_lowest_priority_and_among_equals_the_newest(events):
    pool = small_pool(events, max_ready=3)
    oldest, newest, high = tx(ALICE, 0, priority=1), tx(BOB, 0, priority=1), tx(CAROL, 0, priority=5)
    for transaction in (oldest, newest, high):
        pool.submit(transaction)
    assert refused(pool, tx(DAVE, 0, priority=1)) == 1016  # a tie keeps the incumbents
    assert pool.submit(tx(DAVE, 0, priority=3)) == Status.READY
    assert events[-2] == (newest.hash, Status.DROPPED)
    assert oldest.hash in pool and high.hash in pool and pool.ready_count == 3


def test_an_evicted_transaction_takes_its_dependents_with_it(events):
    pool = small_pool(events, max_ready=3)
    lowest, dependent = tx(ALICE, 0, priority=1), tx(ALICE, 1, priority=9)
    for transaction in (lowest, dependent, tx(BOB, 0, priority=5)):
        pool.submit(transaction)
    pool.submit(tx(CAROL, 0, priority=3))
    assert {(lowest.hash, Status.DROPPED), (dependent.hash, Status.DROPPED)} <= set(events)
    assert pool.ready_count == 2 and pool.future_count == 0


def test_a_transaction_never_evicts_its_own_senders(events):
    pool = small_pool(events, max_ready=2)
    predecessor, other = tx(ALICE, 0, priority=1), tx(BOB, 0, priority=2)
    pool.submit(predecessor)
    pool.submit(other)
    assert pool.submit(tx(ALICE, 1, priority=9)) == Status.READY
    assert predecessor.hash in pool and (other.hash, Status.DROPPED) in events


def test_futures_with_an_open_gap_go_first_oldest_first(events):
    pool = small_pool(events, max_ready=1, max_future=3)
    waiting = tx(ALICE, 1)  # its predecessor comes, but the ready queue has no room for it: its gap is closed
    pool.submit(waiting)
    pool.submit(tx(ALICE, 0))
    older_gap, younger_gap = tx(BOB, 5, priority=2), tx(CAROL, 5, priority=2)  # (outranking the ready one)
    pool.submit(older_gap)
    pool.submit(younger_gap)
    assert pool.submit(tx(DAVE, 5, priority=2)) == Status.FUTURE
    assert events[-2] == (older_gap.hash, Status.DROPPED)
    assert waiting.hash in pool and younger_gap.hash in pool


def test_without_open_gaps_a_full_future_queue_evicts_only_for_a_higher_priority(events):
    pool = small_pool(events, max_ready=1, max_future=1)
    waiting = tx(ALICE, 1, priority=3)
    pool.submit(waiting)
    pool.submit(tx(ALICE, 0, priority=1))
    assert refused(pool, tx(BOB, 3, priority=3)) == 1016  # it outranks the ready one, not the future one
    assert pool.submit(tx(BOB, 3, priority=5)) == Status.FUTURE
    assert (waiting.hash, Status.DROPPED) in events


def test_a_future_waiting_for_room_becomes_ready_when_a_block_makes_room(events):
    pool = small_pool(events, max_ready=1)
    first, second = tx(ALICE, 0), tx(ALICE, 1)
    pool.submit(second)
    pool.submit(first)
    assert pool.ready_count == 1 and pool.future_count == 1
    pool.prune([first.hash], b"\x09" * 32, 1, {ALICE: 1})
    assert pool.ready_count == 1 and list(pool.best()) == [second]


def test_a_full_ready_queue_refuses_before_validation_what_it_would_refuse_after(events):
    pool = small_pool(events, max_ready=2)
    pooled = tx(ALICE, 0, priority=3)
    pool.submit(pooled)
    asked = []
    bound = lambda value: lambda: asked.append(value) or value  # noqa: E731

    newcomer = tx(BOB, 0, priority=3)
    assert pool.refusal_before_validation(newcomer.hash, 100, bound(3)) is None
    assert asked == []  # room left: no bound needed, so nothing was decoded for it
    assert pool.refusal_before_validation(pooled.hash, 100, bound(3)).code == 1013
    pool.submit(newcomer)
    assert pool.refusal_before_validation(tx(CAROL, 0).hash, 100, bound(3)).code == 1016
    assert refused(pool, tx(CAROL, 0, priority=3)) == 1016  # as validation would have ended
    assert pool.refusal_before_validation(tx(CAROL, 7).hash, 100, bound(3)).code == 1016  # a future one too
    assert pool.refusal_before_validation(tx(CAROL, 0).hash, 100, bound(4)) is None  # it might outrank
    assert pool.refusal_before_validation(tx(CAROL, 0).hash, 100, bound(None)) is None  # not known: validate
    assert asked == [3, 3, 4, None]


def test_every_transaction_that_leaves_tells_the_listener(events):
    clock = _Clock()
    pool = small_pool(events, clock, max_ready=2, max_future=1, future_timeout_seconds=60)
    accepted = []
    for transaction in (tx(ALICE, 0), tx(ALICE, 1), tx(BOB, 4), tx(CAROL, 6), tx(DAVE, 0, priority=5),
                        tx(ALICE, 0, priority=7, size=120), tx(EVE, 2)):
        if refused(pool, transaction) is None:
            accepted.append(transaction)
    clock.now += 61
    pool.prune([], b"\x09" * 32, 1, {})
    left = [t for t in accepted if t.hash not in pool]
    assert left  # evicted, usurped and timed out
    final = {h: status for h, status in events}
    assert all(final[t.hash] in (Status.DROPPED, Status.USURPED, Status.INVALID) for t in left)


_submission = st.tuples(st.sampled_from([ALICE, BOB, CAROL, DAVE]), st.integers(0, 5), st.integers(0, 3),
                        st.sampled_from([60, 100, 140]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_submission, st.sampled_from(["block", "invalid", "later"])), max_size=40))
def test_limits_hold_and_every_leaving_transaction_is_told_whatever_happens(steps):
    clock, events, chain = _Clock(), [], {}
    pool = small_pool(events, clock, max_ready=4, max_ready_bytes=450, max_future=2, max_future_bytes=250,
                      future_timeout_seconds=60)
    accepted: dict[bytes, PoolTransaction] = {}
    for step in steps:
        if step == "later":
            clock.now += 40
        elif step == "block":  # the best ready transaction of each sender is included
            included = [t for t in pool.best() if t.nonce == chain.get(t.signer, 0)]
            for t in included:
                chain[t.signer] = t.nonce + 1
            pool.prune([t.hash for t in included], b"\x09" * 32, 1, {t.signer: chain[t.signer] for t in included})
        elif step == "invalid":  # as an author finds the best one invalid
            for t in itertools.islice(pool.best(), 1):
                pool.remove_invalid(t.hash, "test")
        else:
            signer, nonce, priority, size = step
            candidate = tx(signer, nonce, chain.get(signer, 0), priority, size)
            if nonce >= chain.get(signer, 0) and refused(pool, candidate) is None:
                accepted[candidate.hash] = candidate
        ready = list(pool.best())
        futures = [t for t in pool.pending() if t not in ready]
        assert len(ready) <= 4 and sum(len(t.raw) for t in ready) <= 450
        assert len(futures) <= 2 and sum(len(t.raw) for t in futures) <= 250
        provided_by_ready = {tag for t in ready for tag in t.validity.provides}
        assert all(set(t.validity.requires) <= provided_by_ready | _on_chain(t, chain) for t in ready)
    final = {h: status for h, status in events}
    for t in accepted.values():
        assert t.hash in pool or final[t.hash] in (Status.IN_BLOCK, Status.DROPPED, Status.USURPED, Status.INVALID)


def _on_chain(transaction: PoolTransaction, chain: dict[bytes, int]) -> set[bytes]:
    """The tags of ``transaction``'s sender already on chain (nonces below the chain's)."""
    return {transaction.signer + n.to_bytes(4, "little") for n in range(chain.get(transaction.signer, 0))}
