"""Talking to storage nodes over HTTP: pushing and fetching fragments, signed by the caller's account.

A client's transfers share one :class:`NodeHttp` (:class:`sdk.storage.StorageApi` keeps one), which keeps an
``httpcore`` connection pool per node with a few connections open (HTTP/1.1 keep-alive), so fragments to
many nodes move in parallel and a transfer after the first opens no connection (a program that moves many
small files, as a provider does, spent more CPU on connecting than on the bytes). One pool per node, not one
for all: a pool checks each of its connections for expiry (a ``poll`` of its socket) whenever a request
starts or ends, so one pool of every node's connections spent ~20 % of a download's event loop on it. Every
client shares one TLS context (loading the system's certificates costs ~40 ms of CPU, more than a small
file's whole transfer). The pool is httpx's own transport without httpx's request and response models,
cookies, redirects and auth flow, none of which a fragment request uses: 0.64 ms of CPU a request here against
httpx's 1.0 ms, which a provider pays a dozen times a job. Each request is signed afresh
(:mod:`storage_node.auth`: method, path, body hash, time, the node's account), so a retry is never taken
for a replay.

A node's answer becomes a :class:`NodeError` whose ``retryable`` says what the caller may do: try again
later (the node is down, busy, full, or has not yet seen the block that declared the file) or not at all at
this node (it refused the request itself: bad signature, not the owner, roots that do not match).
Response bodies are bounded before they are read: a node cannot make the client buffer more than the one
fragment it asked for. Each request has one deadline for the whole exchange (``timeout`` plus its body at
:data:`MIN_TRANSFER_RATE`): a node cannot hold a transfer by trickling its answer.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpcore

from runtime.keyring import Keypair
from sdk.peer_text import peer_text
from storage_node.auth import body_hash, sign_request

__all__ = ["NodeError", "NodeHttp", "NodeAddress", "tls_context"]

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


MIN_TRANSFER_RATE = 16 * 1024
"""Bytes a second below which a request's body is not moving. An upload has up to 4 requests a node in flight,
24 over 6 nodes, so this is what each gets of a 3 Mbit/s link; a fragment of a default segment (~2.8 MB) gets
~3 minutes on top of the timeout. A node trickling a byte at a time is cut off all the same. The storage node
holds a request's body to the same rate (:class:`storage_node.service.api.ApiLimits`)."""

READ_SIZE = 1 << 20
"""Bytes a connection asks its socket for at once. httpcore asks for 64 KiB, and each read costs a timeout
scope and an HTTP parser event: a 512 MiB download spent a third of its event loop on them. The socket
hands over what it has buffered (asyncio reads 256 KiB at a time), so larger reads are fewer reads, and the
HTTP parser takes data of any size (with the per-node pools, measured A/B on a 512 MiB download: 267-290 →
298-321 MB/s; RESULTS.md, 2026-12-04)."""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of every node connection: loading the system's certificates costs ~40-100 ms of
    CPU, once per process."""
    return ssl.create_default_context()


class _WideReads(httpcore.AsyncNetworkBackend):
    """httpcore's own AnyIO network backend whose connections read up to :data:`READ_SIZE` at a time."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        return _WideStream(await self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        return _WideStream(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _WideStream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max(max_bytes, READ_SIZE), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _WideStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


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
        self._timeout = timeout
        self._extensions = {"timeout": {"connect": min(timeout, 10.0), "read": timeout, "write": timeout,
                                        "pool": timeout}}
        self._per_node = connections_per_node
        self._nodes: dict[str, tuple[anyio.Semaphore, httpcore.AsyncConnectionPool]] = {}

    async def __aenter__(self) -> "NodeHttp":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection; the object stays usable (a later request opens new ones)."""
        nodes, self._nodes = self._nodes, {}
        for _, pool in nodes.values():
            await pool.aclose()

    def _node(self, node: NodeAddress) -> tuple[anyio.Semaphore, httpcore.AsyncConnectionPool]:
        """The node's slots (at most ``connections_per_node`` requests to it at a time) and its pool."""
        if node.endpoint not in self._nodes:
            pool = httpcore.AsyncConnectionPool(ssl_context=tls_context(), max_connections=self._per_node,
                                                keepalive_expiry=KEEPALIVE_S, network_backend=_WideReads())
            self._nodes[node.endpoint] = anyio.Semaphore(self._per_node), pool
        return self._nodes[node.endpoint]

    def _deadline(self, size: int) -> float:
        """Seconds one request moving ``size`` body bytes may take, from sending to the answer's last byte."""
        return self._timeout + size / MIN_TRANSFER_RATE

    @asynccontextmanager
    async def _exchange(self, node: NodeAddress, method: str, path: str, *, size: int,
                        body_digest: bytes | None = None, content: bytes | None = None
                        ) -> AsyncIterator[httpcore.Response]:
        """One request to ``node``, its response open to read: once one of the node's slots is free, signed then
        (``body_digest`` given) so the signature is fresh, and within :meth:`_deadline` as a whole. httpcore's
        timeouts bound each read, so a node that trickles its answer a byte at a time would otherwise hold the
        request, and the transfer waiting on it, for ever. A request that gets no whole answer is a
        :class:`NodeError` without a status."""
        slot, pool = self._node(node)
        async with slot:
            deadline = self._deadline(size)
            headers = {} if body_digest is None else self._headers(method, path, body_digest, node)
            try:
                with anyio.fail_after(deadline):
                    async with pool.stream(method, _url(node, path), headers=headers, content=content,
                                           extensions=self._extensions) as response:
                        yield response
            except TRANSPORT_ERRORS as exc:
                raise NodeError(node, None, f"{type(exc).__name__}: {peer_text(str(exc))}") from None
            except TimeoutError:
                raise NodeError(node, None, f"no whole answer within {deadline:.0f} s") from None

    def _headers(self, method: str, path: str, body_digest: bytes, node: NodeAddress) -> dict[str, str]:
        if self._signer is None:
            return {}
        return sign_request(self._signer, method, path, body_digest, int(time.time() * 1000), node.account)

    async def put(self, node: NodeAddress, path: str, body: bytes, body_digest: bytes) -> None:
        """``PUT`` a fragment body (``body_digest`` is its :func:`storage_node.auth.body_hash`)."""
        async with self._exchange(node, "PUT", path, size=len(body), body_digest=body_digest,
                                  content=body) as response:
            answer = await _read_at_most(response.aiter_stream(), MAX_ERROR_BODY)
        if response.status not in (200, 201):
            raise NodeError(node, response.status, peer_text(answer))

    async def healthy(self, node: NodeAddress) -> bool:
        """Whether the node answers ``GET /v1/health`` (a cheap probe before sending it a fragment again)."""
        try:
            async with self._exchange(node, "GET", "/v1/health", size=0) as response:
                await _read_at_most(response.aiter_stream(), MAX_ERROR_BODY)
        except NodeError:
            return False
        return response.status == 200

    async def get(self, node: NodeAddress, path: str, expected_length: int, *, signed: bool) -> bytearray:
        """``GET`` a fragment body of exactly ``expected_length`` bytes (anything else is refused unread);
        ``signed`` for a private file's fragments."""
        async with self._exchange(node, "GET", path, size=expected_length,
                                  body_digest=_EMPTY_BODY_HASH if signed else None) as response:
            parts = response.aiter_stream()
            if response.status != 200:
                raise NodeError(node, response.status, peer_text(await _read_at_most(parts, MAX_ERROR_BODY)))
            declared = next((value for name, value in response.headers if name.lower() == b"content-length"), None)
            if declared is not None and declared != str(expected_length).encode():
                raise NodeError(node, 200, f"body of {peer_text(declared, 20)} bytes, expected {expected_length}")
            body = await _read_at_most(parts, expected_length + 1)
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
