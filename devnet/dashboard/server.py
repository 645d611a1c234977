"""The dashboard's HTTP API: the page's static files, ``/v1/config``, ``/v1/health`` and ``/v1/sampling``.

A raw ASGI app, like the provider's (:mod:`compute_pallet.service.http`): every route is a ``GET`` without a
body, so there is nothing to stream or bound beyond the query string, which is parsed strictly (an unknown
key, a repeated one or a malformed blob id is a ``400``, never ignored). The static files are read once at
start (:func:`load_static`) into a fixed table, so a request path is only ever a key looked up in it: no
path reaches the file system, and ``..`` cannot name anything. Every answer carries a Content-Security-Policy
that lets the page load only its own files and open WebSockets (to the validators), nothing else.

Errors are JSON ``{"error": <code>, "message": <text>}`` (:func:`sdk.serving.respond_error`): ``NotFound``
404, ``MethodNotAllowed`` 405, ``Malformed`` 400.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from urllib.parse import parse_qs

from devnet.dashboard.book import SampleBook
from sdk.da.wire import parse_blob_id
from sdk.serving import HttpApp, Receive, Scope, Send, respond_error

__all__ = ["DashboardApi", "StaticFile", "load_static", "INDEX"]

INDEX = "index.html"
SECURITY_POLICY = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                   "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
MAX_QUERY = 256
"""The longest query string any route takes (``?blob=0x`` + 64 hex digits fits with room)."""


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str


def load_static(package: str = "devnet.dashboard", folder: str = "static") -> dict[str, StaticFile]:
    """Every file under the package's ``static`` folder, by its path relative to it (``js/rpc.js``)."""
    files: dict[str, StaticFile] = {}

    def walk(directory: resources.abc.Traversable, prefix: str) -> None:
        for entry in directory.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif not entry.name.startswith("."):
                kind = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
                if kind.startswith("text/") or kind.endswith("javascript"):
                    kind += "; charset=utf-8"
                files[prefix + entry.name] = StaticFile(entry.read_bytes(), kind)

    walk(resources.files(package) / folder, "")
    if INDEX not in files:
        raise FileNotFoundError(f"{package}/{folder}/{INDEX} is missing: the package was installed without its page")
    return files


class DashboardApi(HttpApp):
    """The ASGI app. ``config`` is what ``/v1/config`` answers; ``health()`` gives the health document at
    request time; ``book`` holds the sampling results."""

    def __init__(self, static: Mapping[str, StaticFile], config: Mapping[str, object], book: SampleBook,
                 health: Callable[[], Mapping[str, object]]) -> None:
        self._static = static
        self._config = json.dumps(config).encode()
        self._book = book
        self._health = health

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if not self._serves(path):
            await respond_error(send, 404, "NotFound", f"no route {path[:100]}")
        elif scope["method"] not in ("GET", "HEAD"):
            await respond_error(send, 405, "MethodNotAllowed", "only GET")
        else:
            await self._get(path, scope.get("query_string", b""), send, head=scope["method"] == "HEAD")

    def _serves(self, path: str) -> bool:
        return path in ("/", "/v1/config", "/v1/health", "/v1/sampling") or path[1:] in self._static

    async def _get(self, path: str, query: bytes, send: Send, *, head: bool) -> None:
        if path == "/v1/sampling":
            try:
                document = self._sampling(query)
            except LookupError as exc:
                await respond_error(send, 404, "NotFound", str(exc))
                return
            except ValueError as exc:
                await respond_error(send, 400, "Malformed", str(exc))
                return
            await _send(send, json.dumps(document).encode(), "application/json", head)
        elif path == "/v1/config":
            await _send(send, self._config, "application/json", head)
        elif path == "/v1/health":
            await _send(send, json.dumps(dict(self._health())).encode(), "application/json", head)
        else:
            static = self._static[INDEX if path == "/" else path[1:]]
            await _send(send, static.body, static.content_type, head)

    def _sampling(self, query: bytes) -> dict[str, object]:
        """Every followed blob, or with ``?blob=0x…`` that one (``LookupError`` if not followed)."""
        params = _query(query, allowed=("blob",))
        if "blob" not in params:
            return {"limit": self._book.limit, "blobs": [entry.to_json() for entry in self._book.entries()]}
        blob = params["blob"]
        parse_blob_id(blob)  # ValueError: not 0x + 64 hex digits
        entry = self._book.get(blob)
        if entry is None:
            raise LookupError(f"blob {blob} is not among the {self._book.limit} newest available blobs followed")
        return entry.to_json()


def _query(raw: bytes, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query string's parameters, each at most once and each one of ``allowed`` (``ValueError`` otherwise)."""
    if len(raw) > MAX_QUERY:
        raise ValueError(f"a query string of {len(raw)} bytes; at most {MAX_QUERY}")
    try:
        parsed = parse_qs(raw.decode("ascii"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("the query string is not key=value pairs") from None
    unknown = sorted(set(parsed) - set(allowed))
    if unknown:
        raise ValueError(f"unknown query parameter(s) {', '.join(unknown)} (known: {', '.join(allowed)})")
    repeated = sorted(key for key, values in parsed.items() if len(values) > 1)
    if repeated:
        raise ValueError(f"query parameter(s) given more than once: {', '.join(repeated)}")
    return {key: values[0] for key, values in parsed.items()}


async def _send(send: Send, body: bytes, content_type: str, head: bool) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-cache"), (b"content-security-policy", SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": b"" if head else body})
