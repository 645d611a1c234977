"""Gossip building blocks: validation verdicts, message ids, the seen-cache and per-peer rate limits.

Gossip here is flooding for a validator-sized network: every node forwards each new, valid message to all
its peers except the one it came from. Checks run cheapest first (as the consensus specs order them):

1. the sender's token bucket (``TokenBucket``): excess messages are dropped and cost the sender
   ``Penalty.RATE_EXCEEDED`` each;
2. the message id (``gossip_message_id``) against the seen-cache (``SeenCache``): duplicates are dropped
   silently, since in a flood every node hears most messages more than once;
3. the topic's verdict, in one of two ways:
   - a *synchronous* topic (``NetworkService.subscribe``) runs its ``Validator`` on the reader task, for
     checks that are cheap and need nothing but the message;
   - a *deferred* topic (``NetworkService.subscribe_deferred``, module ``deferred``) hands the message to
     its subscriber, which decides later, with node state and worker threads at hand.

   ``ACCEPT`` delivers locally and forwards, ``IGNORE`` drops, ``REJECT`` drops and costs the sender
   reputation. Nothing is forwarded before an ``ACCEPT``: a node forwards only what it checked itself, so a
   receiver may hold the forwarder responsible for anything it could have checked.

A message enters the seen-cache once it reaches its topic's verdict, so a copy that arrived while a deferred
topic's budget or queue was full can still come in from another peer.

Pacing: a node sends each peer at most ``gossip_rate_per_second`` messages a second with bursts of half
``gossip_burst`` (its own and forwarded ones together; the excess is dropped for that peer). The receiver
allows the full burst, so an honest sender stays within the receiver's limit even when a second's worth of
its messages arrive bunched together, and never pays ``RATE_EXCEEDED``.

Message id, version 1 (hashing domain below; house rule 6)::

    blake2b-256( DOMAIN_GOSSIP_MESSAGE_ID | topic_length u8 | topic | payload )
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from node.network.frames import encode_name
from node.network.identity import PeerId
from runtime.hashing import DOMAIN_GOSSIP_MESSAGE_ID, blake2_256

__all__ = [
    "DOMAIN_GOSSIP_MESSAGE_ID",
    "GossipMessage",
    "SeenCache",
    "TokenBucket",
    "Validator",
    "Verdict",
    "gossip_message_id",
]


class Verdict(enum.Enum):
    ACCEPT = "accept"
    """Valid: deliver to the subscriber and forward to other peers."""
    IGNORE = "ignore"
    """Not useful (e.g. too old), but not the sender's fault: drop without penalty."""
    REJECT = "reject"
    """Invalid: drop, do not forward, and lower the sender's reputation."""


Validator = Callable[[PeerId, bytes], Verdict]
"""Runs on the connection's reader task for each new message: keep it cheap (no I/O, no signature batches).
A topic whose checks need more is subscribed deferred instead."""


class GossipMessage(NamedTuple):
    """A validated gossip message as a subscriber receives it."""

    peer_id: PeerId
    """The neighbour it arrived from (not necessarily its author)."""
    payload: bytes


def gossip_message_id(topic: str, payload: bytes) -> bytes:
    name = encode_name(topic)
    return blake2_256(DOMAIN_GOSSIP_MESSAGE_ID + bytes([len(name)]) + name + payload)


class SeenCache:
    """The most recent ``capacity`` message ids, oldest forgotten first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[bytes, None] = OrderedDict()

    def __contains__(self, message_id: bytes) -> bool:
        return message_id in self._ids

    def add(self, message_id: bytes) -> bool:
        """Remember ``message_id``; ``False`` if it was already known."""
        if message_id in self._ids:
            return False
        self._ids[message_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; one token per message."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = float(burst)
        self._updated = now

    def try_take(self, now: float) -> bool:
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
