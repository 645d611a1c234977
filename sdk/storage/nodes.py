"""Talking to storage nodes over HTTP: pushing and fetching fragments, signed by the caller's account.

One ``httpcore`` connection pool carries every request of a client's transfers (:class:`sdk.storage.StorageApi`
keeps one :class:`NodeHttp`), keeping a few connections open to each node (HTTP/1.1 keep-alive), so
fragments to many nodes move in parallel and a transfer after the first opens no connection (a program that
moves many small files, as a provider does, spent more CPU on connecting than on the bytes); every client
shares one TLS context (loading the system's certificates costs ~40 ms of CPU, more than a small file's
whole transfer). The pool is httpx's own transport without httpx's request and response models, cookies,
redirects and auth flow, none of which a fragment request uses: 0.64 ms of CPU a request here against
httpx's 1.0 ms, which a provider pays a dozen times a job. Each request is signed afresh
(:mod:`storage_node.auth`: method, path, body hash, time, the node's account), so a retry is never taken
for a replay.

A node's answer becomes a :class:`NodeError` whose ``retryable`` says what the caller may do: try again
later (the node is down, busy, full, or has not yet seen the block that declared the file) or not at all at
this node (it refused the request itself: bad signature, not the owner, roots that do not match).
Response bodies are bounded before they are read: a node cannot make the client buffer more than the one
fragment it asked for.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import httpcore

from runtime.keyring import Keypair
from storage_node.auth import body_hash, sign_request

__all__ = ["NodeError", "NodeHttp", "NodeAddress"]

RETRYABLE_STATUSES = frozenset({404, 408, 425, 429, 500, 502, 503, 504, 507})
"""Answers that may change: 404 while the node has not yet seen the declaring block (or the fragment moved),
507 until the chain reassigns the fragment, 5xx while the node recovers."""
MAX_ERROR_BODY = 4096
KEEPALIVE_S = 25.0
"""Seconds an idle connection to a node is kept for the next transfer: under the nodes' own 30 s
(:func:`sdk.serving.serve`), so the client never sends on a connection the node is closing."""
_EMPTY_BODY_HASH = body_hash(b"")
TRANSPORT_ERRORS = (httpcore.NetworkError, httpcore.TimeoutException, httpcore.ProtocolError,
                    httpcore.UnsupportedProtocol, ValueError)
"""A request that got no answer: the node is down or unreachable, too slow, spoke no HTTP, or its registered
endpoint is no URL (``ValueError``)."""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


@dataclass(frozen=True)
class NodeAddress:
    """A storage node: its account (what requests are signed for) and its HTTP endpoint."""

    account: bytes
    endpoint: str

    def __str__(self) -> str:
        return f"{self.endpoint} (0x{self.account.hex()[:8]}…)"


class NodeError(Exception):
    """A node did not do what was asked: ``status`` is its HTTP status (``None`` if it never answered)."""

    def __init__(self, node: NodeAddress, status: int | None, reason: str) -> None:
        super().__init__(f"{node}: {reason}" if status is None else f"{node}: HTTP {status}: {reason}")
        self.node = node
        self.status = status
        self.reason = reason

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRYABLE_STATUSES


class NodeHttp:
    """Fragment requests to storage nodes. Use as ``async with NodeHttp(signer) as http``, or keep one and
    :meth:`aclose` it. At most ``connections_per_node`` requests go to one node at a time, whichever transfer
    makes them."""

    def __init__(self, signer: Keypair | None, *, timeout: float = 60.0, connections_per_node: int = 4) -> None:
        self._signer = signer
        self._pool = httpcore.AsyncConnectionPool(ssl_context=_tls_context(), max_connections=None,
                                                  max_keepalive_connections=64, keepalive_expiry=KEEPALIVE_S)
        self._extensions = {"timeout": {"connect": min(timeout, 10.0), "read": timeout, "write": timeout,
                                        "pool": timeout}}
        self._per_node = connections_per_node
        self._slots: dict[str, anyio.Semaphore] = {}

    async def __aenter__(self) -> "NodeHttp":
        await self._pool.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._pool.__aexit__(*exc_info)

    async def aclose(self) -> None:
        await self._pool.aclose()

    def _slot(self, node: NodeAddress) -> anyio.Semaphore:
        """At most ``connections_per_node`` requests to one node at a time."""
        if node.endpoint not in self._slots:
            self._slots[node.endpoint] = anyio.Semaphore(self._per_node)
        return self._slots[node.endpoint]

    def _headers(self, method: str, path: str, body_digest: bytes, node: NodeAddress) -> dict[str, str]:
        if self._signer is None:
            return {}
        return sign_request(self._signer, method, path, body_digest, int(time.time() * 1000), node.account)

    async def put(self, node: NodeAddress, path: str, body: bytes, body_digest: bytes) -> None:
        """``PUT`` a fragment body (``body_digest`` is its :func:`storage_node.auth.body_hash`)."""
        try:
            async with self._slot(node):
                headers = self._headers("PUT", path, body_digest, node)
                response = await self._pool.request("PUT", _url(node, path), headers=headers, content=body,
                                                     extensions=self._extensions)
        except TRANSPORT_ERRORS as exc:
            raise NodeError(node, None, f"{type(exc).__name__}: {exc}") from None
        if response.status not in (200, 201):
            raise NodeError(node, response.status, response.content[:MAX_ERROR_BODY].decode(errors="replace"))

    async def healthy(self, node: NodeAddress) -> bool:
        """Whether the node answers ``GET /v1/health`` (a cheap probe before sending it a fragment again)."""
        try:
            async with self._slot(node):
                response = await self._pool.request("GET", _url(node, "/v1/health"), extensions=self._extensions)
        except TRANSPORT_ERRORS:
            return False
        return response.status == 200

    async def get(self, node: NodeAddress, path: str, expected_length: int, *, signed: bool) -> bytearray:
        """``GET`` a fragment body of exactly ``expected_length`` bytes (anything else is refused unread);
        ``signed`` for a private file's fragments."""
        try:
            async with self._slot(node):
                headers = self._headers("GET", path, _EMPTY_BODY_HASH, node) if signed else {}
                async with self._pool.stream("GET", _url(node, path), headers=headers,
                                             extensions=self._extensions) as response:
                    parts = response.aiter_stream()
                    if response.status != 200:
                        text = (await _read_at_most(parts, MAX_ERROR_BODY)).decode(errors="replace")
                        raise NodeError(node, response.status, text)
                    declared = next((value for name, value in response.headers if name.lower() == b"content-length"),
                                    None)
                    if declared is not None and declared != str(expected_length).encode():
                        raise NodeError(node, 200, f"body of {declared.decode(errors='replace')} bytes, "
                                                   f"expected {expected_length}")
                    body = await _read_at_most(parts, expected_length + 1)
        except TRANSPORT_ERRORS as exc:
            raise NodeError(node, None, f"{type(exc).__name__}: {exc}") from None
        if len(body) != expected_length:
            raise NodeError(node, 200, f"body of {len(body)} bytes, expected {expected_length}")
        return body


def _url(node: NodeAddress, path: str) -> str:
    return node.endpoint.rstrip("/") + path


async def _read_at_most(parts: AsyncIterator[bytes], limit: int) -> bytearray:
    """A response body's ``parts`` up to ``limit`` bytes, read into one buffer allocated once."""
    buffer = bytearray(limit)
    view = memoryview(buffer)
    filled = 0
    async for part in parts:
        take = min(len(part), limit - filled)
        view[filled:filled + take] = part[:take]
        filled += take
        if filled == limit:
            break
    view.release()
    del buffer[filled:]
    return buffer
