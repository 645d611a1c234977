"""Deferred gossip validation: topics whose checks need node state or heavy work (a commit's many
signatures, a block's seal against the authority set) decide after the message left the reader task.

A topic subscribed with ``NetworkService.subscribe_deferred`` delivers each new message as a
``PendingGossip`` on a ``DeferredSubscription``. Nothing is forwarded before its subscriber says so:

- ``accept()`` forwards it to every other peer (and returns ``True``);
- ``ignore()`` drops it: not useful, but not the sender's fault (too old, for a block we do not have...);
- ``reject(reason, cost)`` drops it and lowers the sender's reputation by ``cost``. Only for what the sender
  could have checked itself before sending (decoding, signatures), since it may only be forwarding.

A message without a verdict ``gossip_validation_timeout`` seconds after it arrived has *expired*: it is
dropped, unforwarded, from the subscription's queue if it is still there, and a later ``accept()`` returns
``False`` and forwards nothing (``reject`` still costs the sender: its fault did not expire).

Memory: a message counts against the budgets from its arrival until its verdict or expiry, whether it waits
in the queue or the subscriber holds it — per sending peer ``max_pending_gossip_per_peer`` messages and
``max_pending_gossip_bytes_per_peer`` payload bytes (a peer with none pending may send one larger message),
and ``max_pending_gossip_bytes`` for all peers together. A message beyond a budget, or beyond the queue's
capacity, is dropped on arrival without costing anyone reputation (the slowness may be ours). Expiry is
applied lazily, whenever a budget or the queue is consulted, so no timer task is needed and expired messages
never hold budget that a new one needs.
"""

from __future__ import annotations

import enum
import itertools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import trio
from trio.lowlevel import ParkingLot

from node.network.gossip import Verdict
from node.network.identity import PeerId
from node.network.peers import Penalty

__all__ = ["DeferredGossip", "DeferredSubscription", "Offer", "PendingGossip", "VerdictSink"]

VerdictSink = Callable[["PendingGossip", Verdict, str, float], None]
"""What the network does with a verdict: ``(message, verdict, reason, cost)``; ``reason`` and ``cost`` matter
for ``REJECT`` only."""


class Offer(enum.Enum):
    """What became of a message offered to a deferred subscription."""

    QUEUED = "queued"
    OVER_BUDGET = "over budget"
    QUEUE_FULL = "queue full"
    CLOSED = "closed"
    """The subscriber closed the subscription."""


class PendingGossip:
    """A gossip message waiting for its subscriber's verdict; call exactly one of the three verdicts, from
    the network's trio thread (run the checks in a worker, give the verdict once back)."""

    __slots__ = ("topic", "peer_id", "payload", "expires_at", "_owner", "_subscription", "_key", "_decided")

    def __init__(self, topic: str, peer_id: PeerId, payload: bytes, expires_at: float, owner: DeferredGossip,
                 subscription: DeferredSubscription, key: int) -> None:
        self.topic = topic
        self.peer_id = peer_id
        """The neighbour it arrived from (not necessarily its author): who pays for a rejection."""
        self.payload = payload
        self.expires_at = expires_at
        """``trio.current_time()`` after which the message is dropped without a verdict."""
        self._owner = owner
        self._subscription: DeferredSubscription | None = subscription
        """The subscription whose queue still holds the message, until it is received."""
        self._key = key
        self._decided = False

    @property
    def is_open(self) -> bool:
        """Whether the message still waits for a verdict (none given, not expired)."""
        return self._owner.is_open(self, trio.current_time())

    def accept(self) -> bool:
        """Forward the message to every peer but its sender; ``False`` (nothing sent) if it had expired or
        had a verdict already."""
        return self._owner.resolve(self, Verdict.ACCEPT, "", 0.0)

    def ignore(self) -> None:
        """Drop the message without penalty."""
        self._owner.resolve(self, Verdict.IGNORE, "", 0.0)

    def reject(self, reason: str, cost: float = Penalty.INVALID_GOSSIP) -> None:
        """Drop the message and lower its sender's reputation by ``cost`` (a ``Penalty``)."""
        self._owner.resolve(self, Verdict.REJECT, reason, cost)

    def __repr__(self) -> str:
        return f"PendingGossip({self.topic!r} from {self.peer_id}, {len(self.payload)} bytes)"


class DeferredSubscription:
    """The subscriber's end of a deferred topic: a bounded FIFO of ``PendingGossip``. ``async for`` (or
    ``receive``) takes them in arrival order, skipping expired ones; ``close`` (or leaving ``async with``)
    ends the subscription and drops what is queued."""

    def __init__(self, topic: str, capacity: int, owner: DeferredGossip) -> None:
        self.topic = topic
        self._capacity = capacity
        self._owner = owner
        self._queue: OrderedDict[int, PendingGossip] = OrderedDict()
        self._waiting = ParkingLot()
        self.closed = False

    async def receive(self) -> PendingGossip:
        """The next message with its deadline still ahead; ``trio.EndOfChannel`` once closed."""
        await trio.lowlevel.checkpoint()
        while True:
            try:
                return self.receive_nowait()
            except trio.WouldBlock:
                await self._waiting.park()

    def receive_nowait(self) -> PendingGossip:
        if self.closed:
            raise trio.EndOfChannel
        self._owner.expire(trio.current_time())
        if not self._queue:
            raise trio.WouldBlock
        _, message = self._queue.popitem(last=False)
        message._subscription = None
        return message

    def close(self) -> None:
        self.closed = True
        for message in list(self._queue.values()):  # they get no verdict
            self._owner.release(message)
        self._waiting.unpark_all()

    def __len__(self) -> int:
        return len(self._queue)

    def __aiter__(self) -> DeferredSubscription:
        return self

    async def __anext__(self) -> PendingGossip:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> DeferredSubscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def _put(self, message: PendingGossip) -> None:
        self._queue[message._key] = message
        self._waiting.unpark()

    def _remove(self, message: PendingGossip) -> None:
        del self._queue[message._key]

    def _has_room(self) -> bool:
        return len(self._queue) < self._capacity


@dataclass
class _Usage:
    messages: int = 0
    bytes: int = 0


class DeferredGossip:
    """The network's side: every message waiting for a verdict, the budgets, expiry, and verdicts."""

    def __init__(self, *, timeout: float, max_per_peer: int, max_bytes_per_peer: int, max_bytes: int,
                 on_verdict: VerdictSink) -> None:
        self._timeout = timeout
        self._max_per_peer = max_per_peer
        self._max_bytes_per_peer = max_bytes_per_peer
        self._max_bytes = max_bytes
        self._on_verdict = on_verdict
        self._open: OrderedDict[int, PendingGossip] = OrderedDict()  # arrival order, which is expiry order
        self._usage: dict[PeerId, _Usage] = {}
        self._bytes = 0
        self._keys = itertools.count()
        self.expired = 0
        """Messages dropped because no verdict came in time."""

    def subscribe(self, topic: str, capacity: int) -> DeferredSubscription:
        return DeferredSubscription(topic, capacity, self)

    @property
    def pending_messages(self) -> int:
        """Messages waiting for a verdict (some may have expired unnoticed: expiry is lazy)."""
        return len(self._open)

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def offer(self, subscription: DeferredSubscription, peer_id: PeerId, payload: bytes) -> Offer:
        """Queue a new message for ``subscription`` if it is open, has room, and the budgets allow."""
        now = trio.current_time()
        self.expire(now)
        if subscription.closed:
            return Offer.CLOSED
        usage = self._usage.get(peer_id)
        size = len(payload)
        if usage is not None and (usage.messages >= self._max_per_peer
                                  or usage.bytes + size > self._max_bytes_per_peer):
            return Offer.OVER_BUDGET
        if self._open and self._bytes + size > self._max_bytes:
            return Offer.OVER_BUDGET
        if not subscription._has_room():
            return Offer.QUEUE_FULL
        message = PendingGossip(subscription.topic, peer_id, payload, now + self._timeout, self, subscription,
                                next(self._keys))
        self._open[message._key] = message
        usage = self._usage.setdefault(peer_id, _Usage())
        usage.messages += 1
        usage.bytes += size
        self._bytes += size
        subscription._put(message)
        return Offer.QUEUED

    def is_open(self, message: PendingGossip, now: float) -> bool:
        self.expire(now)
        return message._key in self._open

    def resolve(self, message: PendingGossip, verdict: Verdict, reason: str, cost: float) -> bool:
        """Apply the message's verdict; ``False`` (nothing forwarded) if it had expired or had one already."""
        if message._decided:
            return False
        message._decided = True
        if not self.is_open(message, trio.current_time()):
            if verdict is Verdict.REJECT:  # the sender's fault stands, however late we noticed
                self._on_verdict(message, verdict, reason, cost)
            return False
        self.release(message)
        self._on_verdict(message, verdict, reason, cost)
        return True

    def expire(self, now: float) -> None:
        """Drop every message whose deadline has passed."""
        while self._open:
            message = next(iter(self._open.values()))
            if message.expires_at > now:
                return
            self.release(message)
            self.expired += 1

    def release(self, message: PendingGossip) -> None:
        """Forget a message that waited for a verdict: it no longer counts against any budget or queue."""
        del self._open[message._key]
        if message._subscription is not None:
            message._subscription._remove(message)
            message._subscription = None
        usage = self._usage[message.peer_id]
        usage.messages -= 1
        usage.bytes -= len(message.payload)
        if not usage.messages:
            del self._usage[message.peer_id]
        self._bytes -= len(message.payload)
