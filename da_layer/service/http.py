"""The DA node's HTTP plumbing: a raw ASGI app (routes, bounded bodies, typed errors) served by hypercorn.

The daemon declares its routes as (method, path pattern, handler, body limit); this module matches a request
to one, reads its body without ever holding more than the route's limit (a ``Content-Length`` above it is
refused before a byte is read, a body that grows past it while streaming is cut off), and turns an
:class:`HttpError` from a handler into the JSON error of :data:`sdk.da.wire.ERRORS`. Any other exception in a
handler is a bug: it is logged and answered ``500`` without details, and the server keeps serving. What the
storage node shares (lifespan, headers, bounded bodies, replies, serving with hypercorn and reporting the
port bound) is :mod:`sdk.serving`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping, Sequence

import trio

from sdk import serving
from sdk.da.wire import ERRORS
from sdk.serving import Receive, Scope, Send

__all__ = ["HttpError", "Request", "Response", "Route", "App", "serve"]

log = logging.getLogger("cairn.da_node.http")

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


class App(serving.HttpApp):
    """The ASGI application of a list of routes; ``on_error`` hears the kind of every refusal (metrics)."""

    def __init__(self, routes: Sequence[Route], *, on_error: Callable[[str], None] = lambda kind: None) -> None:
        self._routes = [(route, re.compile(route.pattern)) for route in routes]
        self._on_error = on_error

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self._respond(scope, receive)
        except HttpError as exc:
            self._on_error(exc.kind)
            response = Response.json({"error": exc.kind, "message": str(exc)}, exc.status)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            response = Response.json({"error": "Internal", "message": "internal error"}, SERVER_ERROR)
        await serving.respond(send, response.status, response.body, response.content_type)

    async def _respond(self, scope: Scope, receive: Receive) -> Response:
        path, method = scope["path"], scope["method"]
        matched = [(route, match) for route, pattern in self._routes if (match := pattern.fullmatch(path))]
        if not matched:
            raise HttpError("NotFound", f"no such path {path[:200]!r}")
        for route, match in matched:
            if route.method == method:
                headers = serving.request_headers(scope)
                body = await _read_body(headers, receive, route.max_body)
                query = scope.get("query_string", b"").decode("latin-1")
                return await route.handler(Request(method, path, query, headers, body), *match.groups())
        allowed = ", ".join(sorted({route.method for route, _ in matched}))
        raise HttpError("MethodNotAllowed", f"{method} is not served on {path[:200]!r} (allowed: {allowed})")


async def _read_body(headers: Mapping[str, str], receive: Receive, limit: int) -> bytes:
    """The body, at most ``limit`` bytes; what :mod:`sdk.serving` refuses becomes a ``TooLarge``/``Malformed``."""
    try:
        serving.declared_length(headers, limit)
        return await serving.read_body(receive, limit)
    except serving.BodyTooLarge as exc:
        raise HttpError("TooLarge", str(exc)) from None
    except serving.BodyError as exc:
        raise HttpError("Malformed", str(exc)) from None


async def serve(app: App, host: str, port: int, *,
                task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``app`` on ``host:port`` until cancelled; ``task_status.started`` gets the bound port."""
    await serving.serve(app, host, port, errorlog=log, task_status=task_status)
