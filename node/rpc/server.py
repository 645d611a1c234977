"""The JSON-RPC server: HTTP POST and WebSocket on one TCP port, as a Substrate node serves 9944.

Start it like every service (house rule 5)::

    server = RpcServer(module, RpcConfig(port=9944), health=node.health)
    await nursery.start(server.run)          # returns once the port is bound; server.port holds it

What one port answers:

==========================================  ==============================================================
request                                     answer
==========================================  ==============================================================
``POST <any path>``, JSON body              JSON-RPC (:mod:`node.rpc.dispatch`); 200 with the response,
                                            empty when the body held notifications only
POST with another ``Content-Type``          415
body over ``max_request_size``              413 with a -32007 error body, connection closed
``GET`` with ``Upgrade: websocket``         WebSocket JSON-RPC with subscriptions (:mod:`node.rpc.ws`)
``GET /health``                             200, the ``health`` callback's JSON (``{"peers", "isSyncing",
                                            "shouldHavePeers"}``), or an empty body without a callback
``GET /health/readiness``                   200 when synced and (peered or not expected to be), else 500
``GET <route>``                             an extra route given to the constructor
other GET, other methods                    405 (``Allow: POST, OPTIONS``)
``OPTIONS``                                 CORS preflight, 200
a disallowed browser ``Origin``             403 (HTTP and WebSocket handshake alike)
connection over ``max_connections``         evicts the oldest half-open connection; with none, 429, closed
no request within ``handshake_timeout``     closed
==========================================  ==============================================================

CORS: allowed origins get ``Access-Control-Allow-Origin`` (``*`` under ``cors="all"``, else the origin
itself with ``Vary: Origin``). Requests without ``Origin`` are not browsers and are always served. The
unsafe-method policy judges the TCP peer address, never headers such as ``X-Forwarded-For``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping

import trio
from wsproto.utilities import generate_accept_token

from node.rpc.config import RpcConfig
from node.rpc.dispatch import ConnectionInfo, Dispatcher
from node.rpc.http import (
    ClientSlot,
    ConnectionTable,
    HttpConnection,
    HttpLimits,
    HttpRequest,
    HttpResponse,
    Route,
    accept_connections,
    answer_route,
    open_listener,
)
from node.rpc.jsonrpc import OVERSIZED_REQUEST, RpcError, error_response
from node.rpc.ratelimit import RateLimit
from node.rpc.refusals import RefusalLog
from node.rpc.registry import RpcModule
from node.rpc.ws import WebSocketConnection

__all__ = ["CorsPolicy", "HealthCallback", "RpcServer", "RpcStatistics"]

logger = logging.getLogger(__name__)

HealthCallback = Callable[[], Awaitable[Mapping[str, Any]]]

JSON_TYPES = ("application/json", "application/json-rpc")
UNSUPPORTED_MEDIA_TYPE = "Supplied content type is not allowed. Content-Type: application/json is required\n"
METHOD_NOT_ALLOWED = HttpResponse(
    405, b"Used HTTP Method is not allowed. POST or OPTIONS is required\n", headers=(("allow", "POST, OPTIONS"),)
)


@dataclass(frozen=True)
class RpcStatistics:
    connections_open: int
    """TCP connections now open (HTTP and WebSocket)."""
    connections_accepted: int
    connections_refused: int
    """Refused with 429 because ``max_connections`` were open, none of them half-open."""
    connections_evicted: int
    """Half-open connections closed to make room for a new one."""
    handshake_timeouts: int
    """Connections closed for not completing a request within ``handshake_timeout``."""
    websocket_connections: int
    """WebSocket connections now open."""
    websocket_buffered_bytes: int
    """Bytes of responses and notifications WebSocket connections hold for their clients now."""
    subscriptions_open: int
    slow_consumers_dropped: int
    """WebSocket clients dropped because their buffer overflowed or a write stalled."""


class CorsPolicy:
    """Which browser origins may call; ``"scheme://host:*"`` entries allow any port."""

    def __init__(self, origins: str | tuple[str, ...]) -> None:
        self._all = origins == "all"
        self._exact: set[str] = set()
        self._any_port: set[str] = set()
        if not self._all:
            for origin in origins:
                origin = origin.lower().rstrip("/")
                if origin.endswith(":*"):
                    self._any_port.add(origin[:-2])
                else:
                    self._exact.add(origin)

    def allows(self, origin: str) -> bool:
        if self._all:
            return True
        origin = origin.lower()
        if origin in self._exact:
            return True
        base, _, port = origin.rpartition(":")
        return origin in self._any_port or (port.isdigit() and base in self._any_port)

    def headers(self, origin: str) -> list[tuple[str, str]]:
        if self._all:
            return [("access-control-allow-origin", "*")]
        return [("access-control-allow-origin", origin), ("vary", "origin")]


class RpcServer:
    """JSON-RPC over HTTP and WebSocket on ``config.host:config.port``; stop it by cancelling its nursery."""

    def __init__(
        self,
        module: RpcModule,
        config: RpcConfig = RpcConfig(),
        *,
        health: HealthCallback | None = None,
        routes: Mapping[str, Route] | None = None,
    ) -> None:
        self._config = config
        self._refusals = RefusalLog()
        self._dispatcher = Dispatcher(module, config, refusals=self._refusals)
        self._health = health
        self._routes: dict[str, Route] = {"/health": self._health_route, "/health/readiness": self._readiness_route}
        for path in routes or {}:
            if path in self._routes or not path.startswith("/"):
                raise ValueError(f"route {path!r} is taken or not an absolute path")
        self._routes.update(routes or {})
        self._cors = CorsPolicy(config.cors)
        self._limits = HttpLimits(
            max_connections=config.max_connections,
            max_body_size=config.max_request_size,
            handshake_timeout=config.handshake_timeout,
            read_timeout=config.read_timeout,
            write_timeout=config.send_timeout,
            handler_timeout=config.request_timeout,
        )
        too_big = RpcError(OVERSIZED_REQUEST, "Request is too big", f"Exceeded max limit of {config.max_request_size}")
        self._too_large = HttpResponse.json(error_response(None, too_big), status=413)
        self._table = ConnectionTable(self._limits, self._refusals)
        self._websockets: set[WebSocketConnection] = set()
        self._slow_consumers_dropped = 0
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port; available once ``run`` has started."""
        if self._port is None:
            raise RuntimeError("the server is not listening yet")
        return self._port

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listener = await open_listener(self._config.host, self._config.port)
        async with listener:
            self._port = listener.socket.getsockname()[1]
            logger.info("JSON-RPC (HTTP and WebSocket) listening on %s:%d", self._config.host, self._port)
            task_status.started()
            await accept_connections(listener, self._serve_connection, self._table)

    def statistics(self) -> RpcStatistics:
        counter = self._table.counter
        return RpcStatistics(
            connections_open=counter.open,
            connections_accepted=counter.accepted,
            connections_refused=counter.refused,
            connections_evicted=counter.evicted,
            handshake_timeouts=counter.timed_out,
            websocket_connections=len(self._websockets),
            websocket_buffered_bytes=sum(ws.buffered_bytes for ws in self._websockets),
            subscriptions_open=sum(len(ws.subscriptions or ()) for ws in self._websockets),
            slow_consumers_dropped=self._slow_consumers_dropped,
        )

    async def _serve_connection(self, slot: ClientSlot) -> None:
        conn = HttpConnection(slot, self._limits, too_large=self._too_large)
        rate_limit = None if self._config.rate_limit is None else RateLimit(self._config.rate_limit)
        while (request := await conn.next_request()) is not None:
            origin = request.headers.get("origin")
            if origin is not None and not self._cors.allows(origin):
                response = HttpResponse.text(403, "Origin not allowed\n")
            elif _is_websocket_upgrade(request):
                await self._serve_websocket(conn, request, rate_limit)
                return
            else:
                response = await self._answer(request, rate_limit)
                if origin is not None:
                    response = response.with_headers(self._cors.headers(origin))
            if not await conn.respond(response):
                return

    async def _answer(self, request: HttpRequest, rate_limit: RateLimit | None) -> HttpResponse:
        if request.method == "POST":
            media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media_type not in JSON_TYPES:
                return HttpResponse.text(415, UNSUPPORTED_MEDIA_TYPE)
            info = ConnectionInfo("http", request.peer, rate_limit=rate_limit)
            reply = await self._dispatcher.handle(request.body, info)
            return HttpResponse(200, reply.body or b"", "application/json; charset=utf-8")
        if request.method == "OPTIONS":
            allow_headers = request.headers.get("access-control-request-headers", "content-type")
            return HttpResponse(
                200,
                headers=(
                    ("access-control-allow-methods", "POST, OPTIONS"),
                    ("access-control-allow-headers", allow_headers),
                    ("access-control-max-age", "86400"),
                ),
            )
        if request.method == "GET" and request.path in self._routes:
            return await answer_route(self._routes, request, self._config.request_timeout)
        return METHOD_NOT_ALLOWED

    async def _serve_websocket(self, conn: HttpConnection, request: HttpRequest, rate_limit: RateLimit | None) -> None:
        key = request.headers.get("sec-websocket-key", "")
        if request.method != "GET" or not key:
            await conn.respond(HttpResponse.text(400, "Bad WebSocket handshake\n"), close=True)
            return
        if request.headers.get("sec-websocket-version") != "13":
            await conn.respond(
                HttpResponse(426, b"WebSocket version 13 required\n", headers=(("sec-websocket-version", "13"),)),
                close=True,
            )
            return
        accept = generate_accept_token(key.encode("latin-1"))
        try:
            received = await conn.switch_protocols(
                [("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-accept", accept)]
            )
        except trio.BrokenResourceError:
            return
        ws = WebSocketConnection(
            conn.stream,
            dispatcher=self._dispatcher,
            config=self._config,
            peer=conn.peer,
            on_slow_consumer=self._count_slow_consumer,
            note_refusal=conn.slot.note,
            rate_limit=rate_limit,
        )
        self._websockets.add(ws)
        try:
            await ws.run(received)
        finally:
            self._websockets.discard(ws)

    def _count_slow_consumer(self) -> None:
        self._slow_consumers_dropped += 1

    async def _health_route(self, request: HttpRequest) -> HttpResponse:
        if self._health is None:
            return HttpResponse(200)
        return HttpResponse.json(dict(await self._health()))

    async def _readiness_route(self, request: HttpRequest) -> HttpResponse:
        if self._health is None:
            return HttpResponse(200)
        health = await self._health()
        ready = not health["isSyncing"] and (health["peers"] > 0 or not health["shouldHavePeers"])
        return HttpResponse(200 if ready else 500)


def _is_websocket_upgrade(request: HttpRequest) -> bool:
    upgrade = {token.strip().lower() for token in request.headers.get("upgrade", "").split(",")}
    connection = {token.strip().lower() for token in request.headers.get("connection", "").split(",")}
    return "websocket" in upgrade and "upgrade" in connection
