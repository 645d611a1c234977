"""The DA node's HTTP plumbing: a raw ASGI app (routes, bounded bodies, typed errors) served by hypercorn.

The daemon declares its routes as (method, path pattern, handler, body limit); this module matches a request
to one, reads its body without ever holding more than the route's limit (a ``Content-Length`` above it is
refused before a byte is read, a body that grows past it while streaming is cut off), and turns an
:class:`HttpError` from a handler into the JSON error of :data:`sdk.da.wire.ERRORS`. Any other exception in a
handler is a bug: it is logged and answered ``500`` without details, and the server keeps serving.
:func:`serve` runs the app with hypercorn's trio worker and reports the port it bound (port 0 allowed).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Sequence

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from sdk.da.wire import ERRORS

__all__ = ["HttpError", "Request", "Response", "Route", "App", "serve"]

log = logging.getLogger("cairn.da_node.http")

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SERVER_ERROR = 500


class HttpError(Exception):
    """A request the node refuses: ``kind`` is a key of :data:`sdk.da.wire.ERRORS`, which gives the status."""

    def __init__(self, kind: str, message: str) -> None:
        assert kind in ERRORS, kind
        super().__init__(message)
        self.kind = kind
        self.status = ERRORS[kind]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    """The query string, undecoded (``""`` when there is none)."""
    headers: Mapping[str, str]
    """Lowercased names; a repeated header keeps its last value."""
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/octet-stream"

    @staticmethod
    def json(document: object, status: int = 200) -> "Response":
        return Response(status, json.dumps(document).encode(), "application/json")


Handler = Callable[..., Awaitable[Response]]
"""``handler(request, *path_groups) -> Response``."""


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    """A regular expression matched against the whole path; its groups are passed to the handler."""
    handler: Handler
    max_body: int = 0


class App:
    """The ASGI application of a list of routes; ``on_error`` hears the kind of every refusal (metrics)."""

    def __init__(self, routes: Sequence[Route], *, on_error: Callable[[str], None] = lambda kind: None) -> None:
        self._routes = [(route, re.compile(route.pattern)) for route in routes]
        self._on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            response = await self._respond(scope, receive)
        except HttpError as exc:
            self._on_error(exc.kind)
            response = Response.json({"error": exc.kind, "message": str(exc)}, exc.status)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            response = Response.json({"error": "Internal", "message": "internal error"}, SERVER_ERROR)
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [(b"content-type", response.content_type.encode()),
                                (b"content-length", str(len(response.body)).encode())]})
        await send({"type": "http.response.body", "body": response.body})

    async def _respond(self, scope: Scope, receive: Receive) -> Response:
        path, method = scope["path"], scope["method"]
        matched = [(route, match) for route, pattern in self._routes if (match := pattern.fullmatch(path))]
        if not matched:
            raise HttpError("NotFound", f"no such path {path[:200]!r}")
        for route, match in matched:
            if route.method == method:
                headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
                body = await _read_body(headers, receive, route.max_body)
                query = scope.get("query_string", b"").decode("latin-1")
                return await route.handler(Request(method, path, query, headers, body), *match.groups())
        allowed = ", ".join(sorted({route.method for route, _ in matched}))
        raise HttpError("MethodNotAllowed", f"{method} is not served on {path[:200]!r} (allowed: {allowed})")


async def _read_body(headers: Mapping[str, str], receive: Receive, limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HttpError("Malformed", f"Content-Length {declared[:40]!r} is not a number")
        if int(declared) > limit:
            raise HttpError("TooLarge", f"a body of {declared} bytes; this path takes at most {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError("Malformed", "the client went away before its body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError("TooLarge", f"the body passed {limit} bytes, the most this path takes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def serve(app: App, host: str, port: int, *,
                task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``app`` on ``host:port`` until cancelled; ``task_status.started`` gets the bound port."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = log
    config.keep_alive_timeout = 30
    config.graceful_timeout = 1
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(functools.partial(hypercorn_serve, app, config))
        task_status.started(int(binds[0].rsplit(":", 1)[1]))
