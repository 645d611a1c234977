"""One JSON-RPC 2.0 connection to a node over WebSocket (``wsproto`` on an ``anyio`` TCP stream).

Many calls and subscriptions share the connection: requests carry increasing integer ids and the *reader*
task routes each response to its waiting caller by id, and each notification to its subscription by the
``params.subscription`` id. A subscription is registered by the reader itself when it reads the
subscribe call's response, before it reads the next message, so no notification that follows can miss it.

Bounds (DESIGN.md rule 8; the node is a trust boundary):

- one message from the node is at most ``max_message_size`` bytes, else the connection is dropped;
- each subscription buffers at most its ``buffer`` notifications; a consumer that falls a whole buffer
  behind has its subscription ended with :class:`SubscriptionOverflow` (the reader never blocks on one
  slow consumer, which would stall every other call on the connection);
- a write that stalls past ``send_timeout`` drops the connection;
- after ``keepalive`` seconds without a byte from the node the client pings it, and drops the connection after
  :data:`PONG_WAIT` times as long again without one: a node paused (``SIGSTOP``) or hung keeps its TCP
  connection open, so without this every call on the connection timed out there for good (a client of several
  nodes never moved on) and every subscription waited for ever — the daemons following that node stopped
  seeing the chain.

When the connection ends, every call still waiting raises :class:`ConnectionLost` and every subscription
ends with it. Deadlines of calls are the caller's (see :mod:`sdk.chain.transport`).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from sdk.chain.errors import ConnectionFailed, ConnectionLost, InvalidResponse, RpcError, SubscriptionOverflow

__all__ = ["Endpoint", "RpcConnection", "RawSubscription", "KEEPALIVE_S"]

RECEIVE_CHUNK = 64 * 1024
KEEPALIVE_S = 10.0
"""Silence from the node after which it is pinged."""
PONG_WAIT = 2.5
"""Silence after the ping, in ``keepalive`` units, after which the connection is dropped (35 s by default):
longer than a node's request timeout (30 s), because a node stops reading, pings included, while a client
has its most calls in flight, and answers each of them within that timeout; short enough that a daemon
following a hung node moves to the next within a challenge's or an audit's deadline."""


@dataclass(frozen=True)
class Endpoint:
    """Where a node's JSON-RPC WebSocket listens: parsed once from a ``ws://host:port/path`` URL."""

    host: str
    port: int
    path: str

    @staticmethod
    def parse(url: str) -> "Endpoint":
        parts = urlsplit(url)
        if parts.scheme != "ws" or not parts.hostname:
            raise ValueError(f"expected a ws://host:port URL, got {url!r}")
        try:
            port = parts.port or 80
        except ValueError:
            raise ValueError(f"bad port in {url!r}") from None
        return Endpoint(parts.hostname, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))

    @property
    def netloc(self) -> str:
        """``host:port``, an IPv6 address in brackets."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"ws://{self.netloc}{self.path}"


class RawSubscription:
    """The notifications of one subscription on one connection, in arrival order (bounded buffer)."""

    def __init__(self, connection: "RpcConnection", unsubscribe: str, buffer: int) -> None:
        self._connection = connection
        self._unsubscribe = unsubscribe
        self._send, self._receive = anyio.create_memory_object_stream[Any](buffer)
        self._error: Exception | None = None
        self._unsubscribed = False
        self.id: str | int | None = None

    def deliver(self, item: Any) -> None:
        """Called by the reader: queue ``item``, or end the subscription if its consumer is a buffer behind."""
        try:
            self._send.send_nowait(item)
        except anyio.WouldBlock:
            self.end(SubscriptionOverflow(f"subscription {self.id} fell {self._send.statistics().max_buffer_size} "
                                          "notifications behind"))
            self._connection.forget_subscription(self)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    def end(self, error: Exception | None) -> None:
        """No more notifications: after the buffered ones, :meth:`receive` raises ``error`` (or ends)."""
        if self._error is None:
            self._error = error
        self._send.close()

    async def receive(self) -> Any:
        """The next notification; raises the error that ended the subscription, or ``StopAsyncIteration``."""
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            if self._error is not None:
                raise self._error from None
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Stop listening and tell the node (without waiting for its answer)."""
        self.end(None)
        self._receive.close()
        self._connection.forget_subscription(self)
        if self.id is not None and not self._unsubscribed:
            self._unsubscribed = True
            await self._connection.notify_unsubscribe(self._unsubscribe, self.id)


@dataclass
class _Pending:
    request_id: int
    done: anyio.Event
    subscription: RawSubscription | None = None
    result: Any = None
    error: Exception | None = None


class RpcConnection:
    """An open, upgraded WebSocket connection. Start :meth:`run` (the reader) in a task group right after
    :meth:`open`; it returns when the connection ends."""

    def __init__(self, endpoint: Endpoint, stream: anyio.abc.ByteStream, ws: WSConnection, *,
                 max_message_size: int, send_timeout: float, keepalive: float = KEEPALIVE_S) -> None:
        self.endpoint = endpoint
        self._stream = stream
        self._ws = ws
        self._max_message_size = max_message_size
        self._send_timeout = send_timeout
        self._keepalive = keepalive
        self._send_lock = anyio.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._subscriptions: dict[str | int, RawSubscription] = {}
        self._closed: ConnectionLost | None = None

    @classmethod
    async def open(cls, endpoint: Endpoint, *, max_message_size: int, send_timeout: float,
                   keepalive: float = KEEPALIVE_S) -> "RpcConnection":
        """Connect and complete the WebSocket handshake (the caller bounds how long this may take)."""
        try:
            stream = await anyio.connect_tcp(endpoint.host, endpoint.port)
        except OSError as exc:
            raise ConnectionFailed(f"{endpoint}: {exc.strerror or exc}") from exc
        ws = WSConnection(ConnectionType.CLIENT)
        try:
            await stream.send(ws.send(Request(host=endpoint.netloc, target=endpoint.path)))
            while True:
                data = await stream.receive(RECEIVE_CHUNK)
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, AcceptConnection):
                        return cls(endpoint, stream, ws, max_message_size=max_message_size, send_timeout=send_timeout,
                                   keepalive=keepalive)
                    if isinstance(event, (RejectConnection, RejectData)):
                        status = getattr(event, "status_code", "")
                        raise ConnectionFailed(f"{endpoint}: WebSocket upgrade refused {status}".rstrip())
        except RemoteProtocolError as exc:
            await stream.aclose()
            raise ConnectionFailed(f"{endpoint}: not a WebSocket server ({exc})") from exc
        except (OSError, anyio.EndOfStream, anyio.BrokenResourceError) as exc:
            await stream.aclose()
            if isinstance(exc, ConnectionFailed):  # (a ConnectionError, so an OSError) the refusal above
                raise
            raise ConnectionFailed(f"{endpoint}: connection closed during the WebSocket handshake") from exc
        except BaseException:
            await stream.aclose()
            raise

    @property
    def is_open(self) -> bool:
        return self._closed is None

    # --- calls ---------------------------------------------------------------------------------------

    async def request(self, method: str, params: list[Any]) -> Any:
        """Send one call and wait for its result; raises the node's error as :class:`RpcError`."""
        pending = await self._send_request(method, params, None)
        return await self._wait(pending)

    async def subscribe(self, method: str, params: list[Any], unsubscribe: str, buffer: int) -> RawSubscription:
        """Open a subscription; notifications arriving after the node's answer are all delivered."""
        subscription = RawSubscription(self, unsubscribe, buffer)
        pending = await self._send_request(method, params, subscription)
        await self._wait(pending)
        return subscription

    async def notify_unsubscribe(self, method: str, subscription_id: Any) -> None:
        """Send an unsubscribe call without waiting for the answer (the reader drops unmatched answers)."""
        if self._closed is None:
            try:
                await self._send_text(_request_text(next(self._ids), method, [subscription_id]))
            except ConnectionLost:
                pass

    def forget_subscription(self, subscription: RawSubscription) -> None:
        """Stop routing notifications to ``subscription``."""
        if self._subscriptions.get(subscription.id) is subscription:  # type: ignore[arg-type]
            del self._subscriptions[subscription.id]  # type: ignore[arg-type]

    async def _send_request(self, method: str, params: list[Any], subscription: RawSubscription | None) -> _Pending:
        if self._closed is not None:
            raise self._closed
        request_id = next(self._ids)
        pending = self._pending[request_id] = _Pending(request_id, anyio.Event(), subscription)
        try:
            await self._send_text(_request_text(request_id, method, params))
        except BaseException:
            self._pending.pop(request_id, None)
            raise
        return pending

    async def _wait(self, pending: _Pending) -> Any:
        try:
            await pending.done.wait()
        finally:
            if not pending.done.is_set():  # cancelled (deadline): the answer, if any, is dropped
                self._pending.pop(pending.request_id, None)
                if pending.subscription is not None:
                    pending.subscription.end(None)
        if pending.error is not None:
            raise pending.error
        return pending.result

    # --- I/O ----------------------------------------------------------------------------------------

    async def _send_text(self, text: str) -> None:
        try:
            frame = self._ws.send(TextMessage(data=text))
        except LocalProtocolError:  # the connection is closing (wsproto's state moved first): no message goes
            self._shut(ConnectionLost(f"{self.endpoint}: connection closing"))
            raise self._closed from None  # type: ignore[misc]
        await self._send_frame(frame)

    async def _send_frame(self, data: bytes) -> None:
        try:
            async with self._send_lock:
                with anyio.fail_after(self._send_timeout):
                    await self._stream.send(data)
        except TimeoutError:
            self._shut(ConnectionLost(f"{self.endpoint}: a write stalled for {self._send_timeout:g} s"))
            await self._stream.aclose()
            raise self._closed from None  # type: ignore[misc]
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            self._shut(ConnectionLost(f"{self.endpoint}: connection lost ({exc or type(exc).__name__})"))
            raise self._closed from exc  # type: ignore[misc]

    async def run(self) -> None:
        """The reader: route every message until the connection ends, then fail what still waits."""
        reason = ConnectionLost(f"{self.endpoint}: connection closed")
        parts: list[str | bytes] = []
        size = 0
        pinged = False
        try:
            while True:
                with anyio.move_on_after(self._keepalive * (PONG_WAIT if pinged else 1)) as silence:
                    try:
                        data: bytes | None = await self._stream.receive(RECEIVE_CHUNK)
                    except anyio.EndOfStream:
                        data = None
                if silence.cancelled_caught:
                    if pinged:
                        raise ConnectionLost(f"{self.endpoint}: no answer to a ping in "
                                             f"{self._keepalive * PONG_WAIT:g} s")
                    await self._send_frame(self._ws.send(Ping(b"keepalive")))
                    pinged = True
                    continue
                pinged = False
                self._ws.receive_data(data)
                for event in self._ws.events():
                    if isinstance(event, (TextMessage, BytesMessage)):
                        size += len(event.data)
                        if size > self._max_message_size:
                            raise ConnectionLost(f"{self.endpoint}: a message exceeded {self._max_message_size} bytes")
                        parts.append(event.data)
                        if event.message_finished:
                            self._route(_joined(parts))
                            parts, size = [], 0
                    elif isinstance(event, Ping):
                        await self._send_frame(self._ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        # shut before the reply's await: a request made meanwhile fails as a lost connection
                        self._shut(ConnectionLost(
                            f"{self.endpoint}: closed by the node ({event.code} {event.reason})".rstrip()))
                        if self._ws.state is ConnectionState.REMOTE_CLOSING:
                            await self._send_frame(self._ws.send(event.response()))
                        raise self._closed  # type: ignore[misc]
                if data is None:
                    raise reason
        except ConnectionLost as exc:
            reason = exc
        except InvalidResponse as exc:
            reason = ConnectionLost(f"{self.endpoint}: {exc}")
        except RemoteProtocolError as exc:
            reason = ConnectionLost(f"{self.endpoint}: WebSocket protocol error ({exc})")
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            reason = ConnectionLost(f"{self.endpoint}: connection lost ({exc or type(exc).__name__})")
        finally:
            self._shut(reason)
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()

    def _route(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except (ValueError, RecursionError):
            raise InvalidResponse("a message that is not JSON") from None
        if isinstance(message, list):  # a batch answer (we send none, but routing one costs nothing)
            for item in message:
                self._route_one(item)
        else:
            self._route_one(message)

    def _route_one(self, message: Any) -> None:
        if not isinstance(message, dict):
            raise InvalidResponse("a message that is not a JSON object")
        if "id" in message:
            request_id = message["id"]
            pending = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
            if pending is None:
                return  # an unsubscribe we did not wait for, or a call abandoned at its deadline
            if "error" in message:
                pending.error = RpcError.from_object(message["error"])
            elif pending.subscription is None:
                pending.result = message.get("result")
            elif isinstance(message.get("result"), (str, int)):
                pending.result = pending.subscription.id = message["result"]
                self._subscriptions[pending.result] = pending.subscription
            else:
                pending.error = InvalidResponse(f"subscription id {message.get('result')!r:.80} is not a string or number")
            pending.done.set()
            return
        params = message.get("params")
        if isinstance(params, dict) and isinstance(params.get("subscription"), (str, int)):
            subscription = self._subscriptions.get(params["subscription"])
            if subscription is not None:
                subscription.deliver(params.get("result"))

    def _shut(self, reason: ConnectionLost) -> None:
        if self._closed is not None:
            return
        self._closed = reason
        for pending in self._pending.values():
            pending.error = reason
            pending.done.set()
        self._pending.clear()
        for subscription in self._subscriptions.values():
            subscription.end(reason)
        self._subscriptions.clear()

    async def aclose(self) -> None:
        """Close the connection (with a close frame if it is still open); the reader then ends."""
        was_open = self._closed is None and self._ws.state is ConnectionState.OPEN
        self._shut(ConnectionLost(f"{self.endpoint}: connection closed by the client"))
        with anyio.CancelScope(shield=True):
            if was_open:
                with anyio.move_on_after(1):
                    try:
                        await self._send_frame(self._ws.send(CloseConnection(code=1000)))
                    except ConnectionLost:
                        pass
            await self._stream.aclose()


def _joined(parts: list[str | bytes]) -> str | bytes:
    if len(parts) == 1:
        return parts[0]
    return "".join(parts) if isinstance(parts[0], str) else b"".join(parts)  # type: ignore[arg-type]


def _request_text(request_id: int, method: str, params: list[Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}, separators=(",", ":"))
