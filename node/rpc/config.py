"""Per-deployment settings of the JSON-RPC server (tier 3: TOML file / CLI flags).

Defaults follow a Substrate node's (``--rpc-max-connections 100``, ``--rpc-max-request-size`` and
``--rpc-max-response-size`` 15 MiB, ``--rpc-max-subscriptions-per-connection 1024``, ``--rpc-methods auto``,
``--rpc-cors all`` as on ``--dev``); where Substrate is unbounded (batch length, timeouts) we pick a bound.

Memory per connection is bounded: an HTTP request body by ``max_request_size``; a WebSocket connection by
one partial message (``max_request_size``), ``ws_max_in_flight`` calls with their responses
(each at most ``max_response_size``), and the notification backlog (``ws_backlog_messages`` /
``ws_backlog_bytes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["MiB", "RpcConfig", "RpcMethodsPolicy"]

MiB = 1024 * 1024

RpcMethodsPolicy = Literal["auto", "safe", "unsafe"]


@dataclass(frozen=True)
class RpcConfig:
    """Settings of :class:`~node.rpc.server.RpcServer`; validated at construction."""

    host: str = "127.0.0.1"
    """Address to listen on (one address: ``"0.0.0.0"``/``"::"`` for all interfaces of one family)."""
    port: int = 9944
    """TCP port for HTTP and WebSocket alike; 0 picks a free one (read it from ``RpcServer.port``)."""
    rpc_methods: RpcMethodsPolicy = "auto"
    """Unsafe methods: ``auto`` — only for loopback clients; ``safe`` — never; ``unsafe`` — for everyone."""
    cors: Literal["all"] | tuple[str, ...] = "all"
    """Browser origins allowed (``Origin`` header, HTTP and WebSocket); entries like
    ``"http://localhost:*"`` allow any port. Requests without ``Origin`` (non-browsers) are always allowed."""
    max_connections: int = 100
    """Open TCP connections (HTTP and WebSocket); further ones get ``429`` and are closed."""
    max_request_size: int = 15 * MiB
    """Largest HTTP body or WebSocket message (UTF-8 characters for text messages)."""
    max_response_size: int = 15 * MiB
    """Largest response (single or batch); larger ones become error -32008 / -32011."""
    max_batch_len: int = 256
    """Most calls in one batch."""
    max_subscriptions_per_connection: int = 1024
    request_timeout: float = 30.0
    """Seconds a call (a whole batch) may take; later calls answer -32000."""
    read_timeout: float = 60.0
    """HTTP: seconds to receive one complete request, keep-alive idle time included; WebSocket handshake.
    An open WebSocket may stay idle indefinitely (TCP keepalive detects dead peers)."""
    send_timeout: float = 30.0
    """Seconds one write to a client may stall before the connection is dropped."""
    ws_max_in_flight: int = 32
    """Calls one WebSocket connection may have running at once; its next message is read when one ends."""
    ws_backlog_messages: int = 256
    """Messages (responses and notifications) queued for one WebSocket client. A response waits up to
    ``send_timeout`` for room; a notification that finds the queue full drops the client as too slow."""
    ws_backlog_bytes: int = 16 * MiB
    """Bytes queued for one WebSocket client; a notification that would exceed it drops the client."""

    def __post_init__(self) -> None:
        if self.rpc_methods not in ("auto", "safe", "unsafe"):
            raise ValueError(f"rpc_methods must be auto, safe or unsafe, not {self.rpc_methods!r}")
        if self.cors != "all" and (
            not isinstance(self.cors, tuple) or not all(isinstance(o, str) and o for o in self.cors)
        ):
            raise ValueError(f'cors must be "all" or a tuple of origins, not {self.cors!r}')
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} out of range")
        for name in (
            "max_connections",
            "max_request_size",
            "max_response_size",
            "max_batch_len",
            "max_subscriptions_per_connection",
            "ws_max_in_flight",
            "ws_backlog_messages",
            "ws_backlog_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("request_timeout", "read_timeout", "send_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
