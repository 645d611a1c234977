"""JSON-RPC over one WebSocket connection (wsproto, after the HTTP upgrade done by the server).

Tasks of a connection, all in one nursery that ends with the connection:

- the *reader* reassembles messages (text or binary, any fragmentation; a message over ``max_request_size``
  closes the connection with 1009 "message too big") and starts one task per message, at most
  ``ws_max_in_flight`` at once: the next message is read only when a slot frees, so a client cannot queue
  unbounded work. Pings are answered; a close is answered and ends the connection.
- *call* tasks run :meth:`Dispatcher.handle` and queue the response, then activate the call's subscriptions.
  Calls run concurrently, so responses may come out of request order (clients match them by id).
- the *writer* sends queued messages in order; it is the only task writing data frames.
- subscription producers (see :mod:`node.rpc.subscriptions`).

Outbound backlog: one bounded queue (``ws_backlog_messages``) of encoded messages plus a byte count. A call's
response waits up to ``send_timeout`` for room; a notification never waits: if the queue or
``ws_backlog_bytes`` is full the client is reading too slowly and the connection is dropped (counted in
``RpcStatistics.slow_consumers_dropped``). A write that stalls for ``send_timeout`` drops it too. Dropping
closes the TCP connection without a close frame: the client is not reading anyway.

An idle connection has no deadline of its own (Substrate keeps idle WebSocket clients, and
``substrate-interface`` holds one open between calls without reading); dead peers are found by TCP keepalive.
"""

from __future__ import annotations

import logging
from typing import Callable

import trio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, TextMessage

from node.rpc.config import RpcConfig
from node.rpc.dispatch import ConnectionInfo, Dispatcher
from node.rpc.subscriptions import SubscriptionSet

__all__ = ["WebSocketConnection"]

logger = logging.getLogger(__name__)

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
    ) -> None:
        self._stream = stream
        self._ws = Connection(ConnectionType.SERVER)
        self._dispatcher = dispatcher
        self._config = config
        self._peer = peer
        self._on_slow_consumer = on_slow_consumer
        self._write_lock = trio.StrictFIFOLock()
        self._outbox, self._outbox_out = trio.open_memory_channel[bytes](config.ws_backlog_messages)
        self._queued_bytes = 0
        self._in_flight = trio.Semaphore(config.ws_max_in_flight)
        self._closing = False
        self._nursery: trio.Nursery | None = None
        self.subscriptions: SubscriptionSet | None = None
        """The connection's open subscriptions (set while it runs)."""

    @property
    def backlog_messages(self) -> int:
        return self._config.ws_backlog_messages

    async def run(self, received: bytes) -> None:
        """Serve the connection; ``received`` is what the client sent right after its upgrade request."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self.subscriptions = SubscriptionSet(self, nursery, self._config.max_subscriptions_per_connection)
                info = ConnectionInfo("ws", self._peer, self.subscriptions)
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
        if self._queued_bytes + len(data) > self._config.ws_backlog_bytes:
            self._drop_slow_consumer()
            return False
        try:
            self._outbox.send_nowait(data)
        except trio.WouldBlock:
            self._drop_slow_consumer()
            return False
        self._queued_bytes += len(data)
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
                        await self._send_event(CloseConnection(CLOSE_MESSAGE_TOO_BIG, "Request is too big"))
                        return
                    parts.append(event.data)
                    if event.message_finished:
                        raw = "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)  # type: ignore
                        parts, size = [], 0
                        await self._in_flight.acquire()
                        assert self._nursery is not None
                        self._nursery.start_soon(self._call, raw, info)
            try:
                data = await self._stream.receive_some(RECEIVE_CHUNK)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return

    async def _call(self, raw: str | bytes, info: ConnectionInfo) -> None:
        try:
            reply = await self._dispatcher.handle(raw, info)
            queued = reply.body is None or await self._queue_response(reply.body)
            for sub in reply.subscriptions:
                if queued:
                    sub.activate()
                else:
                    sub.close()
        finally:
            self._in_flight.release()

    async def _queue_response(self, data: bytes) -> bool:
        if self._closing:
            return False
        self._queued_bytes += len(data)
        with trio.move_on_after(self._config.send_timeout):
            await self._outbox.send(data)
            return True
        self._queued_bytes -= len(data)
        self._drop_slow_consumer()
        return False

    async def _write_queued(self) -> None:
        async for data in self._outbox_out:
            self._queued_bytes -= len(data)
            await self._send_event(TextMessage(data=data.decode()))

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
        logger.info("dropping WebSocket client %s: it does not read fast enough", self._peer)
        self._on_slow_consumer()
        self._end()

    def _end(self) -> None:
        self._closing = True
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()
