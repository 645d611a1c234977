"""Per-deployment settings of the JSON-RPC server (tier 3: TOML file / CLI flags).

Defaults follow a Substrate node's (``--rpc-max-connections 100``, ``--rpc-max-request-size`` and
``--rpc-max-response-size`` 15 MiB, ``--rpc-max-subscriptions-per-connection 1024``, ``--rpc-methods auto``,
``--rpc-cors all`` as on ``--dev``, ``--rpc-rate-limit`` off); where Substrate is unbounded (batch length,
timeouts, bytes held per connection) we pick a bound.

What one client can make the node hold is bounded: a connection that has not completed a request by
``handshake_timeout``; an HTTP connection by one request body (``max_request_size``) and one response
(``max_response_size``); a WebSocket connection by one partial message (``max_request_size``), the results of
``ws_max_in_flight`` calls (each sized by the methods' argument bounds), and ``ws_buffer_bytes`` of encoded
responses and notifications, overshot by at most one message's response (see :mod:`node.rpc.budget`).
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
    """Open TCP connections (HTTP and WebSocket). When they are all open, a new one evicts the oldest
    connection that has not completed a request yet; with none of those, it gets ``429`` and is closed."""
    max_request_size: int = 15 * MiB
    """Largest HTTP body or WebSocket message (UTF-8 characters for text messages)."""
    max_response_size: int = 15 * MiB
    """Largest response (single or batch); larger ones become error -32008 / -32011."""
    max_batch_len: int = 256
    """Most calls in one batch."""
    max_subscriptions_per_connection: int = 1024
    max_watched_keys_per_connection: int = 16_384
    """Storage keys one connection's ``state_subscribeStorage`` subscriptions may watch together. Each new best
    block re-reads every watched key: 1,024 subscriptions of 1,000 keys that never change cost seconds of
    CPU a block, for a client that receives nothing."""
    rate_limit: int | None = None
    """Calls per minute one connection may make (Substrate's ``--rpc-rate-limit``), in bursts of as many; a
    call over it waits its turn, or is refused with -32999 when that is ten turns away. ``None``: no limit."""
    request_timeout: float = 30.0
    """Seconds a call (a whole batch) may take; later calls answer -32000."""
    handshake_timeout: float = 5.0
    """Seconds a new connection has to complete its first HTTP request or WebSocket handshake before it is
    closed. A client on any working link sends its request at once; a few seconds still cover a slow one,
    and a connection that sends nothing holds a slot for no longer than this."""
    read_timeout: float = 60.0
    """HTTP: seconds to receive each later request on a kept-alive connection, idle time included.
    An open WebSocket may stay idle indefinitely (TCP keepalive detects dead peers)."""
    send_timeout: float = 30.0
    """Seconds one write to a client may stall before the connection is dropped."""
    ws_max_in_flight: int = 32
    """Calls one WebSocket connection may have running at once; its next message is read when one ends."""
    ws_buffer_bytes: int = 32 * MiB
    """Bytes of encoded responses and notifications one WebSocket connection may make the node hold (queued,
    waiting for room, batches being assembled). While they are used up its next message is not read and its
    responses wait; a notification that does not fit drops the client as too slow. Two maximal responses fit,
    so a client that reads is never dropped for one large answer, and one that does not costs tens of MiB."""

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
            "max_watched_keys_per_connection",
            "ws_max_in_flight",
            "ws_buffer_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit must be at least 1 call per minute (or None for no limit)")
        for name in ("request_timeout", "handshake_timeout", "read_timeout", "send_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
