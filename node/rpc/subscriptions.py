"""Per-call context and WebSocket subscriptions.

Writing a subscription (the handler is registered with ``RpcModule.register_subscription``)::

    async def subscribe_new_heads(params: list, ctx: CallContext) -> str:
        sub = ctx.subscribe("chain_newHead", "chain_unsubscribeNewHeads")
        await sub.send(current_header_json())          # optional initial value, delivered after the id
        sub.start_soon(pump_new_heads, sub)             # optional producer task
        return sub.id

    async def pump_new_heads(sub: Subscription) -> None:
        async with chain.new_heads() as heads:          # cancelled on unsubscribe / disconnect
            async for header in heads:
                await sub.send(header_json(header))

A broadcaster that keeps a set of subscriptions instead of a task per subscription works too: ``send`` raises
:class:`SubscriptionClosed` once the client unsubscribed or went away, the cue to forget it.

Ordering: the subscribe response goes out before any notification. Until the response is queued the
subscription is *pending*: ``send`` holds notifications (at most ``MAX_HELD_NOTIFICATIONS``: a handler sends
an initial value, not a stream) and ``start_soon`` holds producers; both are released right after the
response. If the subscribe call fails (error response, timeout, response too big) its pending subscriptions
are closed and never start.

Backpressure: ``send`` never waits for the client. It queues the notification under the connection's byte
budget (``ws_buffer_bytes``, :mod:`node.rpc.budget`), shared by all its subscriptions and responses, so a
client that reads may hold as many subscriptions as its limit allows. When the budget is used up the client
is not reading fast enough, and the whole connection is dropped rather than letting memory grow. Every
subscription of the connection is then closed, producers are cancelled, and ``send`` raises
``SubscriptionClosed``.

A producer that ends normally has sent all it ever will (a watched transaction reached its final status):
the subscription is closed and its slot freed, as Substrate does, but its id is remembered (as many as the
limit) so that a late unsubscribe (``author_unwatchExtrinsic``) still answers true. Left open until the client
unsubscribed, finished watches used up a connection's slots for good when its client never did (common with
polkadot.js callbacks). A producer that raises is logged and closes its subscription; one that raises
``SubscriptionClosed`` just ends.

Subscription ids are 16 random alphanumeric characters, as Substrate's.
"""

from __future__ import annotations

import enum
import logging
import secrets
import string
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Literal, Protocol

import trio

from node.rpc.jsonrpc import TOO_MANY_SUBSCRIPTIONS, RpcError, encode_json, notification

__all__ = [
    "MAX_HELD_NOTIFICATIONS",
    "CallContext",
    "NotificationSink",
    "Subscription",
    "SubscriptionClosed",
    "SubscriptionSet",
]

logger = logging.getLogger(__name__)

_ID_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 16

MAX_HELD_NOTIFICATIONS = 16
"""Notifications a subscribe handler may send before its response is out (held until then)."""


class SubscriptionClosed(Exception):
    """The subscription is closed: unsubscribed, connection gone, or dropped as a slow consumer."""


class NotificationSink(Protocol):
    """The connection side of subscriptions (implemented by the WebSocket connection)."""

    def push_notification(self, data: bytes) -> bool:
        """Queue one encoded notification without waiting; False when the connection is gone or dropped."""


class _State(enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    CLOSED = "closed"


class Subscription:
    """One open subscription of one WebSocket connection; created by :meth:`CallContext.subscribe`."""

    def __init__(self, owner: SubscriptionSet, sub_id: str, notification_method: str, unsubscribe_method: str,
                 watched_keys: int = 0) -> None:
        self._owner = owner
        self.id = sub_id
        """The id the subscribe call returns and every notification carries."""
        self.watched_keys = watched_keys
        """Storage keys it watches (they count against the connection's ``max_watched_keys``)."""
        self.notification_method = notification_method
        self.unsubscribe_method = unsubscribe_method
        """Canonical name of the unsubscribe method that closes it."""
        self._state = _State.PENDING
        self._held: list[bytes] = []
        self._held_producers: list[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]] = []
        self._scopes: set[trio.CancelScope] = set()
        self._on_close: list[Callable[[], Any]] = []

    @property
    def closed(self) -> bool:
        return self._state is _State.CLOSED

    async def send(self, result: Any) -> None:
        """Notify the client with ``result`` (JSON-serializable); never waits for the client.

        Raises :class:`SubscriptionClosed` when closed, or when this notification overflowed the connection's
        backlog (the connection is dropped).
        """
        await trio.lowlevel.checkpoint()
        if self._state is _State.CLOSED:
            raise SubscriptionClosed(self.id)
        data = encode_json(notification(self.notification_method, self.id, result))
        if self._state is _State.PENDING:
            if len(self._held) >= MAX_HELD_NOTIFICATIONS:
                self.close()
                raise SubscriptionClosed(self.id)
            self._held.append(data)
        elif not self._owner.sink.push_notification(data):
            raise SubscriptionClosed(self.id)

    def start_soon(self, producer: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``await producer(*args)`` in the connection's nursery until the subscription closes.

        Started once the subscribe response is out; cancelled on unsubscribe, disconnect or :meth:`close`.
        """
        if self._state is _State.PENDING:
            self._held_producers.append((producer, args))
        elif self._state is _State.ACTIVE:
            self._owner.nursery.start_soon(self._run_producer, producer, args)
        else:
            raise SubscriptionClosed(self.id)

    def on_close(self, release: Callable[[], Any]) -> None:
        """Call ``release()`` when the subscription closes, however: for what a producer was handed before the
        answer went out (a producer held until then never runs if the answer fails, or the client leaves)."""
        if self._state is _State.CLOSED:
            release()
        else:
            self._on_close.append(release)

    def close(self, *, finished: bool = False) -> None:
        """End the subscription from the server side (idempotent); producers are cancelled. ``finished``: it
        ended because it had nothing more to send, and a late unsubscribe of it answers true."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        self._held.clear()
        self._held_producers.clear()
        for scope in self._scopes:
            scope.cancel()
        releases, self._on_close = self._on_close, []
        for release in releases:
            release()
        self._owner.forget(self, finished=finished)

    def activate(self) -> None:
        """Called by the transport once the subscribe response is queued: release what was held."""
        if self._state is not _State.PENDING:
            return
        self._state = _State.ACTIVE
        held, self._held = self._held, []
        producers, self._held_producers = self._held_producers, []
        for data in held:
            if not self._owner.sink.push_notification(data):
                return
        for producer, args in producers:
            self._owner.nursery.start_soon(self._run_producer, producer, args)

    async def _run_producer(self, producer: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        if self._state is _State.CLOSED:
            return
        scope = trio.CancelScope()
        self._scopes.add(scope)
        try:
            with scope:
                await producer(*args)
            if not scope.cancelled_caught:
                self.close(finished=True)
        except SubscriptionClosed:
            pass
        except Exception:
            logger.exception("producer of subscription %s (%s) failed", self.id, self.notification_method)
            self.close()
        finally:
            self._scopes.discard(scope)

    def __repr__(self) -> str:
        return f"Subscription({self.id!r}, {self.notification_method!r}, {self._state.value})"


class SubscriptionSet:
    """The subscriptions of one WebSocket connection, at most ``limit`` open at once, watching at most
    ``max_watched_keys`` storage keys together."""

    def __init__(self, sink: NotificationSink, nursery: trio.Nursery, limit: int,
                 max_watched_keys: int) -> None:
        self.sink = sink
        self.nursery = nursery
        """Where producers run; the connection cancels it when it ends."""
        self._limit = limit
        self._max_watched_keys = max_watched_keys
        self._watched_keys = 0
        self._open: dict[str, Subscription] = {}
        self._finished: OrderedDict[str, str] = OrderedDict()
        """Ids of subscriptions that finished, with their unsubscribe method: the latest ``limit``."""

    def __len__(self) -> int:
        return len(self._open)

    def open(self, notification_method: str, unsubscribe_method: str, watched_keys: int = 0) -> Subscription:
        if len(self._open) >= self._limit:
            raise RpcError(
                TOO_MANY_SUBSCRIPTIONS,
                "Too many subscriptions on the connection",
                f"Exceeded max limit of {self._limit}",
            )
        if self._watched_keys + watched_keys > self._max_watched_keys:
            raise RpcError(
                TOO_MANY_SUBSCRIPTIONS,
                "Too many storage keys watched on the connection",
                f"Exceeded max limit of {self._max_watched_keys} keys",
            )
        sub_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))
        while sub_id in self._open:  # 62^16 ids: practically never loops
            sub_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))
        sub = Subscription(self, sub_id, notification_method, unsubscribe_method, watched_keys)
        self._open[sub_id] = sub
        self._watched_keys += watched_keys
        return sub

    def unsubscribe(self, unsubscribe_method: str, sub_id: Any) -> bool:
        if not isinstance(sub_id, str):
            return False
        if self._finished.get(sub_id) == unsubscribe_method:
            del self._finished[sub_id]
            return True
        sub = self._open.get(sub_id)
        if sub is None or sub.unsubscribe_method != unsubscribe_method:
            return False
        sub.close()
        return True

    def forget(self, sub: Subscription, *, finished: bool = False) -> None:
        if self._open.pop(sub.id, None) is not None:
            self._watched_keys -= sub.watched_keys
        if finished:
            self._finished[sub.id] = sub.unsubscribe_method
            if len(self._finished) > self._limit:
                self._finished.popitem(last=False)

    def close_all(self) -> None:
        for sub in list(self._open.values()):
            sub.close()


@dataclass
class CallContext:
    """What a handler knows about the call it serves."""

    transport: Literal["http", "ws"]
    peer: tuple[str, int] | None
    """The client's address (host, port), None if unknown."""
    allow_unsafe: bool
    """Whether this client may call unsafe methods (for handlers with unsafe *options*)."""
    method: str
    """The name the client called (may be an alias)."""
    unsubscribe_method: str | None = None
    """For a subscribe method: the canonical unsubscribe name it was registered with."""
    subscriptions: SubscriptionSet | None = None
    """The connection's subscriptions (WebSocket only)."""
    created: list[Subscription] = field(default_factory=list)
    """Subscriptions opened by this call; the dispatcher activates or closes them."""

    def subscribe(self, notification_method: str, unsubscribe_method: str, *, watched_keys: int = 0) -> Subscription:
        """Open a subscription whose notifications use ``notification_method`` (watching ``watched_keys``
        storage keys).

        ``unsubscribe_method`` must be the unsubscribe name (or an alias's canonical name) the calling
        method was registered with. Raises ``RpcError`` -32006 when the connection's limit is reached.
        """
        if self.unsubscribe_method is None or self.subscriptions is None:
            raise RuntimeError(f"{self.method} was not registered with register_subscription")
        if unsubscribe_method != self.unsubscribe_method:
            raise RuntimeError(
                f"{self.method} is unsubscribed by {self.unsubscribe_method}, not {unsubscribe_method}"
            )
        sub = self.subscriptions.open(notification_method, unsubscribe_method, watched_keys)
        self.created.append(sub)
        return sub

    def unsubscribe(self, unsubscribe_method: str, sub_id: Any) -> bool:
        """Close this connection's subscription ``sub_id`` if ``unsubscribe_method`` closes it."""
        if self.subscriptions is None:
            return False
        return self.subscriptions.unsubscribe(unsubscribe_method, sub_id)
