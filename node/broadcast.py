"""Fan-out of node events (new heads, finalized heads, storage changes) to any number of listeners.

Each listener gets its own bounded channel; publishing never blocks the node. A listener that falls
``buffer`` items behind is cut off (its channel closes), which RPC subscriptions turn into a dropped
subscription: a slow client costs bounded memory and never slows block import.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Generic, Iterator, TypeVar

import trio

__all__ = ["Broadcaster"]

T = TypeVar("T")


class Broadcaster(Generic[T]):
    def __init__(self, buffer: int = 256) -> None:
        self._buffer = buffer
        self._listeners: set[trio.MemorySendChannel[T]] = set()

    def __len__(self) -> int:
        return len(self._listeners)

    def listen(self) -> tuple[trio.MemoryReceiveChannel[T], Callable[[], None]]:
        """A channel receiving every item published from now on, and the call that drops it, for a listener that
        starts now and is handed on (an RPC subscription's answer goes out before its pump runs). Closing the
        channel alone ends it too, but it stays counted until the next publish."""
        send, receive = trio.open_memory_channel[T](self._buffer)
        self._listeners.add(send)

        def stop() -> None:
            self._listeners.discard(send)
            send.close()

        return receive, stop

    @contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[T]]:
        receive, stop = self.listen()
        try:
            yield receive
        finally:
            stop()
            receive.close()

    def publish(self, item: T) -> None:
        for listener in list(self._listeners):
            try:
                listener.send_nowait(item)
            except trio.WouldBlock:
                self._listeners.discard(listener)
                listener.close()  # too slow: the receiver sees the end of its stream
            except (trio.ClosedResourceError, trio.BrokenResourceError):  # (broken: its receiver closed)
                self._listeners.discard(listener)
