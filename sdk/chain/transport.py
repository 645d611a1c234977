"""The client's link to a node: one connection at a time, re-established with backoff, deadlines on calls.

:class:`Transport` holds at most one :class:`~sdk.chain.rpc.RpcConnection` and opens a new one when a call
finds none open, retrying with exponential backoff (:class:`ReconnectPolicy`) until the policy gives up
(:class:`ConnectionFailed`). Given several endpoints (nodes of one chain), it tries them in turn: a node that
is down or stalled costs one attempt and the client carries on through the next one (a connection to a node
that hangs once connected ends when it stops answering pings: see :mod:`sdk.chain.rpc`; a lost connection is
replaced starting from the next node), so a daemon following the chain outlives the validator it was started
against; one on another chain or runtime is passed over too (unless all are); the backoff applies once every
endpoint has failed, and the policy's deadline once each has been tried (a stalled one's attempt can outlast
it, and the next may well answer).
Every new connection first passes the client's checks (``on_connect``: same chain, same runtime) before any
call uses it. Every call has a deadline (the transport's default or its own), reconnection included; a read
that loses its connection mid-flight is sent once more on a new one, a submission is not (it may have
reached the node).

:class:`Subscription` is what callers iterate. A *resilient* one (heads, storage) that loses its
connection subscribes again on a new one and carries on, so a long-lived follower survives a node
restart (it may miss what happened in between: the first notification after a resubscription is the
node's current state). A watch of one transaction is not resilient: its updates cannot be replayed, so
losing it raises :class:`ConnectionLost`.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Awaitable, Callable, Generic, Iterator, Sequence, TypeVar

import anyio
import anyio.abc

from sdk.chain.errors import ChainClientError, ConnectionFailed, ConnectionLost, RequestTimeout, RuntimeMismatch
from sdk.chain.rpc import KEEPALIVE_S, Endpoint, RawSubscription, RpcConnection

__all__ = ["ReconnectPolicy", "Transport", "Subscription", "deadline"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@contextmanager
def deadline(what: str, seconds: float) -> Iterator[None]:
    """Run the block within ``seconds``, else raise :class:`RequestTimeout` naming ``what`` (a deadline
    nested inside that expires first raises its own)."""
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError as exc:
        if isinstance(exc, RequestTimeout):
            raise
        raise RequestTimeout(what, seconds) from None


@dataclass(frozen=True)
class ReconnectPolicy:
    """How the client (re)connects. Attempts are spaced ``initial_delay``, doubling up to ``max_delay``;
    once ``give_up_after`` seconds have passed since the first failed attempt the call raises
    :class:`ConnectionFailed`. One attempt (TCP, WebSocket handshake, the client's checks) may take
    ``attempt_timeout`` seconds."""

    initial_delay: float = 0.1
    max_delay: float = 5.0
    give_up_after: float = 30.0
    attempt_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_delay <= self.max_delay:
            raise ValueError("need 0 < initial_delay <= max_delay")
        if self.give_up_after < 0 or self.attempt_timeout <= 0:
            raise ValueError("give_up_after must be >= 0 and attempt_timeout > 0")


class Transport:
    """Calls and subscriptions over a (re-established) connection. Use as ``async with``: it owns the
    task group in which each connection's reader runs."""

    def __init__(self, endpoints: Sequence[Endpoint], *, timeout: float, policy: ReconnectPolicy,
                 max_message_size: int, on_connect: Callable[[RpcConnection], Awaitable[None]],
                 keepalive: float = KEEPALIVE_S) -> None:
        if timeout <= 0 or max_message_size <= 0 or keepalive <= 0:
            raise ValueError("timeout, max_message_size and keepalive must be positive")
        if not endpoints:
            raise ValueError("need at least one endpoint")
        self.endpoints = tuple(endpoints)
        self._current = 0
        self.timeout = timeout
        self.policy = policy
        self._max_message_size = max_message_size
        self._on_connect = on_connect
        self._keepalive = keepalive
        self._connection: RpcConnection | None = None
        self._connect_lock = anyio.Lock()
        self._task_group: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> "Transport":
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._connection is not None:
            with anyio.CancelScope(shield=True):
                await self._connection.aclose()
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()
        # The readers end on their own errors, so the task group has nothing to add to ``exc``: exiting
        # it as if the block ended normally lets ``exc`` reach the caller as it is, not in an ExceptionGroup.
        await self._task_group.__aexit__(None, None, None)

    # --- connections ---------------------------------------------------------------------------------

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint in use (or tried next)."""
        return self.endpoints[self._current]

    async def connection(self) -> RpcConnection:
        """The open connection, opening one (with backoff) if there is none."""
        connection = self._connection
        if connection is not None and connection.is_open:
            return connection
        async with self._connect_lock:
            if self._connection is None or not self._connection.is_open:
                if self._connection is not None:  # lost: its node may be down or hung, so the next one first
                    self._current = (self._current + 1) % len(self.endpoints)
                self._connection = await self._connect_with_backoff()
            return self._connection

    async def _connect_with_backoff(self) -> RpcConnection:
        policy = self.policy
        delay = policy.initial_delay
        give_up_at = anyio.current_time() + policy.give_up_after
        several = len(self.endpoints) > 1
        while True:
            mismatches: list[RuntimeMismatch] = []
            for _ in self.endpoints:
                try:
                    return await self._connect_once()
                except ConnectionFailed as exc:
                    failure: ChainClientError = exc
                except RuntimeMismatch as exc:
                    if not several:
                        raise
                    failure = exc  # another chain or runtime there: the others may still serve
                    mismatches.append(exc)
                if several:
                    log.info("connecting to %s failed (%s); trying the next node", self.endpoint, failure)
                self._current = (self._current + 1) % len(self.endpoints)
            if len(mismatches) == len(self.endpoints):
                raise mismatches[0]  # every node is on another chain or runtime: retrying will not mend it
            if anyio.current_time() + delay > give_up_at:
                raise ConnectionFailed(f"{failure} (gave up after {policy.give_up_after:g} s of retries)") from failure
            log.info("connecting to %s failed (%s); retrying in %.1f s", self._names(), failure, delay)
            await anyio.sleep(delay)
            delay = min(delay * 2, policy.max_delay)

    def _names(self) -> str:
        return ", ".join(map(str, self.endpoints))

    async def _connect_once(self) -> RpcConnection:
        assert self._task_group is not None, "use the transport with `async with`"
        seconds = self.policy.attempt_timeout
        with anyio.move_on_after(seconds):
            connection = await RpcConnection.open(self.endpoint, max_message_size=self._max_message_size,
                                                  send_timeout=self.timeout, keepalive=self._keepalive)
            self._task_group.start_soon(connection.run)
            try:
                await self._on_connect(connection)
            except BaseException:
                await connection.aclose()
                raise
            return connection
        raise ConnectionFailed(f"{self.endpoint}: no WebSocket handshake and answers to the client's checks "
                               f"within {seconds:g} s")

    # --- calls ---------------------------------------------------------------------------------------

    async def request(self, method: str, params: list[Any], *, timeout: float | None = None,
                      idempotent: bool = True) -> Any:
        """Call ``method``; raises :class:`RequestTimeout` past the deadline (default :attr:`timeout`)."""
        with deadline(method, self.timeout if timeout is None else timeout):
            try:
                return await (await self.connection()).request(method, params)
            except ConnectionLost:
                if not idempotent:
                    raise
                return await (await self.connection()).request(method, params)

    def subscribe(self, method: str, params: list[Any], unsubscribe: str, convert: Callable[[Any], T], *,
                  buffer: int = 256, resilient: bool = True) -> "Subscription[T]":
        """A subscription, opened when entered with ``async with``."""
        return Subscription(self, method, params, unsubscribe, convert, buffer=buffer, resilient=resilient)


class Subscription(Generic[T]):
    """Notifications of one subscription, converted by ``convert``, as an async iterator.

    ``async with transport.subscribe(...) as sub: async for item in sub: ...``; leaving the block
    unsubscribes. Iteration ends (``StopAsyncIteration``) only once the subscription is closed."""

    def __init__(self, transport: Transport, method: str, params: list[Any], unsubscribe: str,
                 convert: Callable[[Any], T], *, buffer: int, resilient: bool) -> None:
        if buffer < 1:
            raise ValueError("a subscription needs a buffer of at least one notification")
        self._transport = transport
        self._method, self._params, self._unsubscribe = method, params, unsubscribe
        self._convert = convert
        self._buffer = buffer
        self._resilient = resilient
        self._raw: RawSubscription | None = None
        self.resubscriptions = 0
        """How many times it was re-established on a new connection (notifications may be missing there)."""

    @property
    def id(self) -> str | int | None:
        """The node's id for it (changes when it is re-established)."""
        return None if self._raw is None else self._raw.id

    async def _open(self) -> None:
        with deadline(self._method, self._transport.timeout):
            connection = await self._transport.connection()
            self._raw = await connection.subscribe(self._method, self._params, self._unsubscribe, self._buffer)

    async def __aenter__(self) -> "Subscription[T]":
        await self._open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._raw is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._transport.timeout):
                await self._raw.aclose()
            self._raw = None

    def __aiter__(self) -> "Subscription[T]":
        return self

    async def __anext__(self) -> T:
        while True:
            if self._raw is None:
                raise RuntimeError("the subscription is not open: use it with `async with`")
            try:
                return self._convert(await self._raw.receive())
            except ConnectionLost:
                if not self._resilient:
                    raise
                log.info("subscription %s lost its connection; subscribing again", self._method)
                self._raw = None
                await self._open()
                self.resubscriptions += 1
