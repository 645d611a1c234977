"""A small HTTP/1.1 server on trio + h11: the transport under JSON-RPC, and the whole of a metrics endpoint.

Two users:

- :class:`~node.rpc.server.RpcServer` drives :class:`HttpConnection` itself (POST JSON-RPC, WebSocket upgrade,
  CORS, ``/health`` and extra GET routes);
- :func:`serve_http` serves a fixed table of GET routes, e.g. Prometheus ``/metrics`` on its own port::

      port = await nursery.start(functools.partial(serve_http, {"/metrics": metrics}, port=9615))

Connections are accepted by :func:`accept_connections`, which keeps at most ``max_connections`` open
(:class:`ConnectionTable`). A connection is *half-open* until it has completed its first request (for a
WebSocket, the upgrade request): it is closed if its first request head has not come within
``handshake_timeout`` (its body then has the read timeout), and when the server
is full a new connection evicts the oldest half-open one. Only when every open connection has completed a
request is the new one answered ``429 Too Many Requests`` and closed. So clients that connect and send
nothing, or trickle, cannot lock out clients that talk. Keep-alive is supported; pipelined requests are
answered in order, one at a time. Refusals, evictions and handshake timeouts are logged once per client
(:class:`~node.rpc.refusals.RefusalLog`).

Limits and deadlines (:class:`HttpLimits`): request headers at most 16 KiB (h11; more → 431); a body at most
``max_body_size`` (more → 413, decided from ``Content-Length`` before the body is read, or while reading a
chunked body); ``handshake_timeout`` seconds from accepting a connection to its first request head;
``read_timeout`` seconds to receive each request (the first one's body, and each later one), counting from
when the connection starts waiting for it (so it also bounds keep-alive idle time); ``write_timeout`` seconds
per response; ``handler_timeout`` seconds for a route to answer (else 503). Malformed HTTP gets h11's suggested status
(400, 431, ...) and the connection is closed. An exception in a route is logged and answered 500; a
connection's failure is logged and never reaches the accept loop.

When a request is refused before it was read in full (413, malformed HTTP), the connection is closed
"lingering": our side is shut down for writing and the unread input drained for a moment (at most
``LINGER_SECONDS`` / ``LINGER_BYTES``), so the client reads our answer instead of a connection reset.
"""

from __future__ import annotations

import errno
import logging
import math
import socket
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Awaitable, Callable, Mapping

import h11
import trio

from node.rpc.jsonrpc import encode_json
from node.rpc.refusals import RefusalLog

__all__ = [
    "HttpLimits",
    "HttpRequest",
    "HttpResponse",
    "HttpConnection",
    "Route",
    "ClientSlot",
    "ConnectionCounter",
    "ConnectionTable",
    "accept_connections",
    "open_listener",
    "peer_address",
    "serve_http",
]

logger = logging.getLogger(__name__)

RECEIVE_CHUNK = 64 * 1024
LINGER_SECONDS = 1.0
LINGER_BYTES = 64 * 1024 * 1024
# errnos meaning "out of a resource, try accept() again later" (as trio.serve_listeners).
ACCEPT_CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
ACCEPT_BACKOFF_SECONDS = 0.1


@dataclass(frozen=True)
class HttpLimits:
    """Bounds of an HTTP server; validated at construction."""

    max_connections: int = 100
    """Open connections; one more evicts a half-open one, or is answered 429 and closed."""
    max_body_size: int = 1024 * 1024
    """Largest request body; larger ones are answered 413."""
    handshake_timeout: float = 5.0
    """Seconds a new connection has to complete its first request."""
    read_timeout: float = 60.0
    """Seconds to receive each later request, keep-alive idle time included."""
    write_timeout: float = 30.0
    """Seconds one response may take to send."""
    handler_timeout: float = 30.0
    """Seconds a route may take to answer (else 503)."""

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_body_size < 0:
            raise ValueError("max_connections must be at least 1 and max_body_size not negative")
        if not min(self.handshake_timeout, self.read_timeout, self.write_timeout, self.handler_timeout) > 0:
            raise ValueError("timeouts must be positive")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    """Upper case, e.g. ``"GET"``."""
    path: str
    """The target without its query string."""
    query: str
    headers: Mapping[str, str]
    """Lower-case names; repeated headers joined with ``", "``."""
    body: bytes
    peer: tuple[str, int] | None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, value: Any, status: int = 200) -> HttpResponse:
        return cls(status, encode_json(value), "application/json; charset=utf-8")

    @classmethod
    def text(cls, status: int, text: str) -> HttpResponse:
        return cls(status, text.encode())

    def with_headers(self, headers: list[tuple[str, str]]) -> HttpResponse:
        return HttpResponse(self.status, self.body, self.content_type, (*self.headers, *headers))


Route = Callable[[HttpRequest], Awaitable[HttpResponse]]


class _Closed(Exception):
    """The peer went away, broke the protocol (answered already) or ran out of time."""


class HttpConnection:
    """The HTTP/1.1 side of one accepted connection."""

    def __init__(self, slot: ClientSlot, limits: HttpLimits, *, too_large: HttpResponse) -> None:
        self.stream = slot.stream
        self.peer = slot.peer
        self.slot = slot
        self._limits = limits
        self._too_large = too_large
        self._h11 = h11.Connection(h11.SERVER)

    async def next_request(self) -> HttpRequest | None:
        """The next complete request, or None when the connection is finished (closed, timed out, or it sent
        something we answered with an error)."""
        try:
            with trio.fail_after(self._limits.read_timeout):
                request = await self._read_request()
        except (trio.TooSlowError, _Closed):
            return None
        self.slot.establish()
        return request

    async def respond(self, response: HttpResponse, *, close: bool = False) -> bool:
        """Send ``response``; True when the connection can carry another request."""
        headers = [
            ("content-type", response.content_type),
            ("content-length", str(len(response.body))),
            *response.headers,
        ]
        if close:
            headers.append(("connection", "close"))
        try:
            await self._send(
                h11.Response(status_code=response.status, headers=headers, reason=_reason(response.status)),
                h11.Data(data=response.body),
                h11.EndOfMessage(),
            )
        except _Closed:
            return False
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            return True
        return False

    async def switch_protocols(self, headers: list[tuple[str, str]]) -> bytes:
        """Answer ``101 Switching Protocols``; returns the bytes the client already sent past the request.

        Raises ``trio.BrokenResourceError`` if the answer cannot be sent."""
        try:
            await self._send(h11.InformationalResponse(status_code=101, headers=headers))
        except _Closed as exc:
            raise trio.BrokenResourceError("client went away during the upgrade") from exc
        return self._h11.trailing_data[0]

    async def _read_request(self) -> HttpRequest:
        event = await self._next_event()
        if isinstance(event, h11.ConnectionClosed):
            raise _Closed
        assert isinstance(event, h11.Request)
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        length = headers.get("content-length")
        if length is not None and int(length) > self._limits.max_body_size:
            await self._refuse_body()
        self.slot.heads_complete()
        if self._h11.they_are_waiting_for_100_continue:
            await self._send(h11.InformationalResponse(status_code=100, headers=[]))
        body = bytearray()
        while True:
            part = await self._next_event()
            if isinstance(part, h11.EndOfMessage):
                break
            if not isinstance(part, h11.Data):
                raise _Closed
            body += part.data
            if len(body) > self._limits.max_body_size:
                await self._refuse_body()
        target = event.target.decode("latin-1")
        path, _, query = target.partition("?")
        return HttpRequest(event.method.decode("ascii").upper(), path, query, headers, bytes(body), self.peer)

    async def _refuse_body(self) -> None:
        self.slot.note("refused (413): request body over the size limit")
        await self.respond(self._too_large, close=True)
        await linger_close(self.stream)
        raise _Closed

    async def _next_event(self) -> Any:
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                await self._answer_protocol_error(exc)
                raise _Closed from exc
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await self.stream.receive_some(RECEIVE_CHUNK)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise _Closed from exc
            self._h11.receive_data(data)

    async def _answer_protocol_error(self, exc: h11.RemoteProtocolError) -> None:
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            status = exc.error_status_hint
            await self.respond(HttpResponse.text(status, f"{status} {exc}\n"), close=True)
            await linger_close(self.stream)

    async def _send(self, *events: Any) -> None:
        """Send ``events`` in one write (one segment for a small response)."""
        data = b"".join(self._h11.send(event) or b"" for event in events)
        try:
            with trio.fail_after(self._limits.write_timeout):
                await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError) as exc:
            raise _Closed from exc


def _reason(status: int) -> bytes:
    """The status line's reason phrase (``200 OK``); h11 leaves it empty unless given one."""
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


async def linger_close(stream: trio.SocketStream) -> None:
    """Half-close ``stream``, drain its input for up to ``LINGER_SECONDS`` / ``LINGER_BYTES``, close it."""
    with trio.move_on_after(LINGER_SECONDS):
        try:
            await stream.send_eof()
            drained = 0
            while drained < LINGER_BYTES:
                data = await stream.receive_some(RECEIVE_CHUNK)
                if not data:
                    break
                drained += len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
    await stream.aclose()


def peer_address(stream: trio.SocketStream) -> tuple[str, int] | None:
    """The client's (host, port)."""
    try:
        address = stream.socket.getpeername()
    except OSError:
        return None
    return (address[0], address[1]) if isinstance(address, tuple) else None


def _set_keepalive(stream: trio.SocketStream) -> None:
    """TCP keepalive, so that an idle connection to a vanished peer ends within minutes, not hours."""
    try:
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 6)):
            if hasattr(socket, option):
                stream.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    except OSError:
        pass


@dataclass
class ConnectionCounter:
    """Live counts the accept loop keeps (read through the servers' ``statistics()``)."""

    open: int = 0
    accepted: int = 0
    refused: int = 0
    evicted: int = 0
    """Half-open connections closed to make room for a new one."""
    timed_out: int = 0
    """Connections closed for not completing a request within ``handshake_timeout``."""
    refusing: int = field(default=0, repr=False)


class ClientSlot:
    """One accepted connection: its stream, and whether it has completed a request yet.

    Until it has (:meth:`establish`) it is half-open: its ``scope`` (around everything the connection does)
    has the handshake deadline, and the table may cancel it to make room.
    """

    def __init__(self, stream: trio.SocketStream, table: ConnectionTable, deadline: float) -> None:
        self.stream = stream
        self.peer = peer_address(stream)
        self.scope = trio.CancelScope(deadline=deadline)
        self.established = False
        self.evicted = False
        self._table = table

    def note(self, reason: str) -> None:
        """Log (once per client and reason) that this connection was refused something or dropped."""
        self._table.refusals.note(self.peer, reason)

    def heads_complete(self) -> None:
        """The connection's first request head came in time: its body has the read timeout, not what is left of
        the handshake deadline (an 8 MiB extrinsic posted on a new connection needed 13 Mbit/s to arrive within
        5 s, and was cut off unanswered). It stays evictable until the request is complete."""
        if not self.established:
            self.scope.deadline = math.inf  # (next_request's read timeout still bounds the whole request)

    def establish(self) -> None:
        """The connection completed a request (or its WebSocket handshake): no more deadline or eviction."""
        if not self.established:
            self.established = True
            self.scope.deadline = math.inf
            self._table.forget_half_open(self)


class ConnectionTable:
    """The open connections of one server: at most ``max_connections``, the half-open ones evictable."""

    def __init__(self, limits: HttpLimits, refusals: RefusalLog | None = None) -> None:
        self.limits = limits
        self.counter = ConnectionCounter()
        self.refusals = RefusalLog() if refusals is None else refusals
        self._half_open: dict[ClientSlot, None] = {}  # oldest first

    def admit(self, stream: trio.SocketStream) -> ClientSlot | None:
        """A slot for a new connection (evicting the oldest half-open one when full), or None: refuse it."""
        if self.counter.open >= self.limits.max_connections:
            if not self._half_open:
                return None
            self._evict(next(iter(self._half_open)))
        slot = ClientSlot(stream, self, trio.current_time() + self.limits.handshake_timeout)
        self._half_open[slot] = None
        self.counter.open += 1
        self.counter.accepted += 1
        return slot

    def forget_half_open(self, slot: ClientSlot) -> None:
        self._half_open.pop(slot, None)

    def release(self, slot: ClientSlot) -> None:
        """The connection's task ended."""
        self._half_open.pop(slot, None)
        if not slot.evicted:
            self.counter.open -= 1

    def _evict(self, slot: ClientSlot) -> None:
        del self._half_open[slot]
        slot.evicted = True
        slot.scope.cancel()
        self.counter.open -= 1  # its slot is free now; its task ends at its next checkpoint
        self.counter.evicted += 1
        self.refusals.note(slot.peer, "evicted: no complete request yet while the server was full")


TOO_MANY_CONNECTIONS = (
    b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 46\r\nconnection: close\r\n\r\nToo many connections. Please try again later.\n"
)


async def open_listener(host: str, port: int) -> trio.SocketListener:
    """Bind and listen on ``host:port`` (one address)."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    for extra in listeners[1:]:
        await extra.aclose()
    return listeners[0]


Handler = Callable[[ClientSlot], Awaitable[None]]


async def accept_connections(listener: trio.SocketListener, handler: Handler, table: ConnectionTable) -> None:
    """Accept forever (until cancelled), running ``handler(slot)`` per connection, at most
    ``max_connections`` at once; the stream is closed when the handler returns."""
    counter = table.counter
    async with trio.open_nursery() as nursery:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in ACCEPT_CAPACITY_ERRNOS:
                    raise
                logger.error("accept() failed (%s); retrying in %s s", exc, ACCEPT_BACKOFF_SECONDS)
                await trio.sleep(ACCEPT_BACKOFF_SECONDS)
                continue
            slot = table.admit(stream)
            if slot is None:
                counter.refused += 1
                table.refusals.note(peer_address(stream), "refused (429): every connection slot is in use")
                if counter.refusing < table.limits.max_connections:
                    counter.refusing += 1
                    nursery.start_soon(_refuse, stream, counter)
                else:
                    await stream.aclose()
                continue
            _set_keepalive(stream)
            nursery.start_soon(_run_connection, slot, handler, table)


async def _refuse(stream: trio.SocketStream, counter: ConnectionCounter) -> None:
    try:
        with trio.move_on_after(LINGER_SECONDS):
            await stream.send_all(TOO_MANY_CONNECTIONS)
        await linger_close(stream)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.aclose()
    finally:
        counter.refusing -= 1


async def _run_connection(slot: ClientSlot, handler: Handler, table: ConnectionTable) -> None:
    try:
        with slot.scope:
            async with slot.stream:
                await handler(slot)
        if slot.scope.cancelled_caught and not slot.evicted:  # only the handshake deadline is left
            table.counter.timed_out += 1
            table.refusals.note(slot.peer, "closed: no complete request within the handshake timeout")
    except Exception:
        logger.exception("connection from %s failed", slot.peer)
    finally:
        table.release(slot)


async def serve_http(
    routes: Mapping[str, Route],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: HttpLimits = HttpLimits(),
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``GET <path>`` from ``routes`` (exact paths, query ignored) until cancelled.

    Reports the bound port through ``task_status.started(port)``. Unknown paths get 404, other methods 405.
    """
    listener = await open_listener(host, port)

    async def handle(slot: ClientSlot) -> None:
        conn = HttpConnection(slot, limits, too_large=HttpResponse.text(413, "Payload Too Large\n"))
        while (request := await conn.next_request()) is not None:
            response = await answer_route(routes, request, limits.handler_timeout)
            if not await conn.respond(response):
                return

    async with listener:
        task_status.started(listener.socket.getsockname()[1])
        await accept_connections(listener, handle, ConnectionTable(limits))


async def answer_route(routes: Mapping[str, Route], request: HttpRequest, timeout: float) -> HttpResponse:
    """The response of the GET route for ``request``: 404 / 405 when there is none, 500 when it fails,
    503 when it takes longer than ``timeout`` seconds."""
    route = routes.get(request.path)
    if route is None:
        return HttpResponse.text(404, "Not Found\n")
    if request.method != "GET":
        return HttpResponse(405, b"Method Not Allowed\n", headers=(("allow", "GET"),))
    try:
        with trio.move_on_after(timeout):
            return await route(request)
        return HttpResponse.text(503, "Service Unavailable: route timed out\n")
    except Exception:
        logger.exception("HTTP route %s failed", request.path)
        return HttpResponse.text(500, "Internal Server Error\n")
