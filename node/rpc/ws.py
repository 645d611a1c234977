"""JSON-RPC over one WebSocket connection (wsproto, after the HTTP upgrade done by the server).

Tasks of a connection, all in one nursery that ends with the connection:

- the *reader* reassembles messages (text or binary, any fragmentation; a message over ``max_request_size``
  closes the connection with 1009 "message too big") and starts one task per message, at most
  ``ws_max_in_flight`` at once and only while the connection's byte budget has room: otherwise the next
  message is not read, so a client can neither queue unbounded work nor make the node hold unbounded
  answers. Pings are answered; a close is answered and ends the connection.
- *call* tasks run :meth:`Dispatcher.handle` (which encodes each response only when the budget has room)
  and queue the response, then activate the call's subscriptions. Calls run concurrently, so responses may
  come out of request order (clients match them by id).
- the *writer* sends queued messages in order, releasing each one's bytes once sent; it is the only task
  writing data frames.
- subscription producers (see :mod:`node.rpc.subscriptions`).

Outbound bytes: every response and notification counts against the connection's ``ws_buffer_bytes`` from
when it is encoded until it is written (:mod:`node.rpc.budget`). A notification never waits: if it does not
fit, the client is reading too slowly and the connection is dropped (counted in
``RpcStatistics.slow_consumers_dropped``). A write that stalls for ``send_timeout`` drops it too. Dropping
closes the TCP connection without a close frame: the client is not reading anyway. Drops and oversized
messages are logged once per client (:class:`~node.rpc.refusals.RefusalLog`).

The connection's calls share its :class:`~node.rpc.ratelimit.RateLimit`, if it has one.

An idle connection has no deadline of its own (Substrate keeps idle WebSocket clients, and
``substrate-interface`` holds one open between calls without reading); dead peers are found by TCP keepalive.
"""

from __future__ import annotations

import math
from typing import Callable

import trio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, TextMessage

from node.rpc.budget import MESSAGE_OVERHEAD, ByteBudget, MessageBudget
from node.rpc.config import RpcConfig
from node.rpc.dispatch import ConnectionInfo, Dispatcher
from node.rpc.ratelimit import RateLimit
from node.rpc.subscriptions import SubscriptionSet

__all__ = ["WebSocketConnection"]

RECEIVE_CHUNK = 64 * 1024
CLOSE_MESSAGE_TOO_BIG = 1009
_CLOSE_STATES = (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)


class WebSocketConnection:
    """One upgraded connection; :meth:`run` serves it until either side closes it or it is dropped."""

    def __init__(
        self,
        stream: trio.SocketStream,
        *,
        dispatcher: Dispatcher,
        config: RpcConfig,
        peer: tuple[str, int] | None,
        on_slow_consumer: Callable[[], None],
        note_refusal: Callable[[str], None],
        rate_limit: RateLimit | None,
    ) -> None:
        """``note_refusal(reason)`` logs (once per client) why the connection refused or dropped it."""
        self._stream = stream
        self._ws = Connection(ConnectionType.SERVER)
        self._dispatcher = dispatcher
        self._config = config
        self._peer = peer
        self._on_slow_consumer = on_slow_consumer
        self._note_refusal = note_refusal
        self._write_lock = trio.StrictFIFOLock()
        self._budget = ByteBudget(config.ws_buffer_bytes)
        # unbounded in messages: the byte budget bounds what is queued
        self._outbox, self._outbox_out = trio.open_memory_channel[bytes](math.inf)
        self._in_flight = trio.Semaphore(config.ws_max_in_flight)
        self._rate_limit = rate_limit
        self._closing = False
        self._nursery: trio.Nursery | None = None
        self.subscriptions: SubscriptionSet | None = None
        """The connection's open subscriptions (set while it runs)."""

    @property
    def buffered_bytes(self) -> int:
        """Bytes of responses and notifications held for the client now (see :mod:`node.rpc.budget`)."""
        return self._budget.used

    async def run(self, received: bytes) -> None:
        """Serve the connection; ``received`` is what the client sent right after its upgrade request."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self.subscriptions = SubscriptionSet(self, nursery, self._config.max_subscriptions_per_connection,
                                                     self._config.max_watched_keys_per_connection)
                info = ConnectionInfo("ws", self._peer, self.subscriptions, self._rate_limit)
                nursery.start_soon(self._write_queued)
                await self._read(received, info)
                nursery.cancel_scope.cancel()
        finally:
            self._closing = True
            if self.subscriptions is not None:
                self.subscriptions.close_all()

    def push_notification(self, data: bytes) -> bool:
        """Queue a notification without waiting; drops the connection when the backlog is full."""
        if self._closing:
            return False
        if not self._budget.try_charge(len(data) + MESSAGE_OVERHEAD):
            self._drop_slow_consumer()
            return False
        self._outbox.send_nowait(data)
        return True

    async def _read(self, received: bytes, info: ConnectionInfo) -> None:
        parts: list[str | bytes] = []
        size = 0
        data = received
        while True:
            if data:
                self._ws.receive_data(data)
            for event in self._ws.events():
                if isinstance(event, CloseConnection):
                    await self._send_event(event.response())
                    return
                if isinstance(event, Ping):
                    await self._send_event(event.response())
                elif isinstance(event, (TextMessage, BytesMessage)):
                    size += len(event.data)
                    if size > self._config.max_request_size:
                        self._note_refusal("closed (1009): message over the size limit")
                        await self._send_event(CloseConnection(CLOSE_MESSAGE_TOO_BIG, "Request is too big"))
                        return
                    parts.append(event.data)
                    if event.message_finished:
                        raw = "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)  # type: ignore
                        parts, size = [], 0
                        await self._in_flight.acquire()
                        await self._budget.wait_for_room()
                        assert self._nursery is not None
                        self._nursery.start_soon(self._call, raw, info, self._budget.open_message())
            try:
                data = await self._stream.receive_some(RECEIVE_CHUNK)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return

    async def _call(self, raw: str | bytes, info: ConnectionInfo, budget: MessageBudget) -> None:
        try:
            reply = await self._dispatcher.handle(raw, info, budget)
            queued = reply.body is None or self._queue_response(reply.body, budget)
            for sub in reply.subscriptions:
                if queued:
                    sub.activate()
                else:
                    sub.close()
        finally:
            budget.close()
            self._in_flight.release()

    def _queue_response(self, data: bytes, budget: MessageBudget) -> bool:
        """Queue a response the dispatcher built (and charged) under ``budget``."""
        if self._closing:
            return False
        budget.hand_over(len(data))
        self._budget.charge(MESSAGE_OVERHEAD)
        self._outbox.send_nowait(data)
        return True

    async def _write_queued(self) -> None:
        async for data in self._outbox_out:
            await self._send_event(TextMessage(data=data.decode()))
            self._budget.release(len(data) + MESSAGE_OVERHEAD)

    async def _send_event(self, event: Event) -> None:
        """Send one frame with a deadline; a stalled client is dropped, a vanished one ends the connection."""
        sendable = _CLOSE_STATES if isinstance(event, CloseConnection) else (ConnectionState.OPEN,)
        try:
            async with self._write_lock:
                if self._ws.state not in sendable:
                    return
                data = self._ws.send(event)
                with trio.fail_after(self._config.send_timeout):
                    await self._stream.send_all(data)
        except trio.TooSlowError:
            self._drop_slow_consumer()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._end()

    def _drop_slow_consumer(self) -> None:
        if self._closing:
            return
        self._note_refusal("dropped: does not read its WebSocket messages fast enough")
        self._on_slow_consumer()
        self._end()

    def _end(self) -> None:
        self._closing = True
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()
