"""The bytes one WebSocket connection makes the node hold for its client, bounded by ``ws_buffer_bytes``.

A client that sends requests and never reads the answers must not grow the node: counting messages is not
enough (one batch answer can be 15 MiB), so the connection counts bytes. What counts, from the moment it is
encoded until the writer has sent it: every response (queued for the writer, or a batch's responses while
the batch is assembled) and every notification, plus ``MESSAGE_OVERHEAD`` per queued message, so that a
flood of tiny notifications is bounded too.

The rules that keep it bounded without a deadlock:

- the reader starts a message only while the budget has room (:meth:`ByteBudget.wait_for_room`): a client
  that does not read stops being read, and TCP pushes back on it;
- a response is encoded only when there is room (:meth:`MessageBudget.room`), except in the oldest message
  still in flight, which always goes ahead. So the oldest message always finishes, its bytes leave as the
  client reads, and the others follow. The budget is overshot by at most the oldest message's response
  (which the dispatcher stops at ``max_response_size``) plus one response of another message;
- a notification never waits (:meth:`ByteBudget.try_charge`): if it does not fit, the client is not reading,
  and the connection drops it.

Bytes are released by the writer once sent (:meth:`ByteBudget.release`), or by :meth:`MessageBudget.close`
for whatever a message built but did not hand to the writer.
"""

from __future__ import annotations

import trio

__all__ = ["MESSAGE_OVERHEAD", "ByteBudget", "MessageBudget"]

MESSAGE_OVERHEAD = 128
"""Bytes counted per queued message on top of its text: the Python objects that carry it."""


MAX_CALLS_AT_ONCE = 64
"""Calls of one connection running, or holding their results until they are encoded, at once; those of its
oldest message go ahead regardless (so it always completes). Room in the budget is no reservation: 32 batches
arriving together each ran all 256 calls before any result was charged, some 200 MB held for a 1 MB budget."""


class ByteBudget:
    """The byte count of one connection, and the messages in flight on it, oldest first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a byte budget needs at least one byte")
        self.capacity = capacity
        self.used = 0
        """Bytes held now."""
        self._in_flight: dict[int, None] = {}  # message numbers in arrival order (dicts keep insertion order)
        self._next_number = 0
        self._changed = trio.lowlevel.ParkingLot()
        self.calls = 0
        """Calls running or holding results now (:data:`MAX_CALLS_AT_ONCE`)."""

    @property
    def has_room(self) -> bool:
        return self.used < self.capacity

    async def wait_for_room(self) -> None:
        """Return once fewer than ``capacity`` bytes are held."""
        while not self.has_room:
            await self._changed.park()

    def try_charge(self, size: int) -> bool:
        """Count ``size`` more bytes if they fit; False (nothing counted) if they do not."""
        if self.used + size > self.capacity:
            return False
        self.used += size
        return True

    def charge(self, size: int) -> None:
        """Count ``size`` more bytes, room or not (what a :class:`MessageBudget` was allowed to build)."""
        self.used += size

    def release(self, size: int) -> None:
        """``size`` bytes were sent or dropped."""
        self.used -= size
        self._changed.unpark_all()

    def open_message(self) -> MessageBudget:
        """Account for one more message in flight (the newest); :meth:`MessageBudget.close` ends it."""
        number = self._next_number
        self._next_number += 1
        self._in_flight[number] = None
        return MessageBudget(self, number)

    def _is_oldest(self, number: int) -> bool:
        return next(iter(self._in_flight)) == number

    def _end(self, number: int) -> None:
        del self._in_flight[number]
        self._changed.unpark_all()  # a new oldest message may go ahead

    async def _wait_for_room_or_turn(self, number: int) -> None:
        while not self.has_room and not self._is_oldest(number):
            await self._changed.park()

    async def _start_call(self, number: int) -> None:
        while self.calls >= MAX_CALLS_AT_ONCE and not self._is_oldest(number):
            await self._changed.park()
        self.calls += 1

    def _end_call(self) -> None:
        self.calls -= 1
        self._changed.unpark_all()


class MessageBudget:
    """The bytes one message (a request or a batch) has built and not yet handed to the writer."""

    def __init__(self, budget: ByteBudget, number: int) -> None:
        self._budget = budget
        self._number = number
        self.held = 0
        self._closed = False

    async def room(self) -> None:
        """Wait until the connection has room for another response, or this is the oldest message."""
        await self._budget._wait_for_room_or_turn(self._number)

    async def start_call(self) -> None:
        """Wait for one of the connection's call places (:data:`MAX_CALLS_AT_ONCE`; the oldest message needs
        none); :meth:`end_call` gives it back once the call's answer is built, or it failed."""
        await self._budget._start_call(self._number)

    def end_call(self) -> None:
        self._budget._end_call()

    def charge(self, size: int) -> None:
        """Count a response (or part of one) this message has just built."""
        self.held += size
        self._budget.charge(size)

    def release(self, size: int) -> None:
        """This message dropped ``size`` bytes it had built (e.g. the parts of a batch answered with an error)."""
        self.held -= size
        self._budget.release(size)

    def hand_over(self, size: int) -> None:
        """The writer takes ``size`` built bytes; it releases them from the connection's budget once sent."""
        self.held -= size

    def close(self) -> None:
        """The message is done: release what it built and did not hand over (idempotent)."""
        if self._closed:
            return
        self._closed = True
        held, self.held = self.held, 0
        self._budget.release(held)
        self._budget._end(self._number)
