"""``runtime.frame.due.DueQueue``, through FileBank's file-expiry queue: items fall due oldest first, a bounded
number a block, and what is left waits under its own block instead of being rewritten into the next one."""

from __future__ import annotations

from runtime.frame.due import DueQueue
from storage_node.pallets.file_bank import FileBank

from .mock import new_ext


def ids(*numbers: int) -> tuple[bytes, ...]:
    return tuple(number.to_bytes(32, "big") for number in numbers)


def queue(ext) -> DueQueue:
    bank = ext.pallet(FileBank)
    return DueQueue(bank.file_expiries, bank.file_expiries_cursor)


def test_items_fall_due_oldest_first_and_a_backlog_stays_under_its_own_blocks():
    ext = new_ext(nodes=0)
    with ext:
        due, lists = queue(ext), ext.pallet(FileBank).file_expiries
        due.push(5, *ids(1, 2, 3))
        due.push(6, *ids(4, 5))
        due.push(9, *ids(6))
        assert due.take(4, 10) == ()  # nothing due yet
        assert due.take(7, 2) == ids(1, 2)
        assert lists.get(5) == ids(3) and lists.get(6) == ids(4, 5) and lists.get(8) == ()  # nothing moved on
        assert due.peek(7, 10) == list(ids(3, 4, 5))  # left queued
        assert due.take(8, 2) == ids(3, 4)
        assert due.take(9, 10) == ids(5, 6)
        assert list(lists.items()) == []


def test_an_item_queued_behind_the_cursor_falls_due_at_the_next_block():
    ext = new_ext(nodes=0)
    with ext:
        due = queue(ext)
        assert due.take(10, 5) == ()
        due.push(3, *ids(7))  # a block already drained: it would never be looked at again
        assert due.take(11, 5) == ids(7)


def test_draining_a_backlog_writes_only_the_list_it_works_through():
    ext = new_ext(nodes=0)
    with ext:
        due, lists = queue(ext), ext.pallet(FileBank).file_expiries
        for block in range(20, 30):
            due.push(block, *ids(*range(block * 100, block * 100 + 50)))
        assert len(due.peek(40, 1_000)) == 500
        before = ext.changes()
        assert due.take(40, 8) == ids(*range(2000, 2008))
        written = {key for key, value in ext.changes().items() if before.get(key, b"") != value}
        assert written == {lists.key(20), ext.pallet(FileBank).file_expiries_cursor.key}
