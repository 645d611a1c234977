"""Replay protection for signed requests: a signature is accepted once inside its validity window.

:func:`storage_node.auth.verify_request` refuses a request whose timestamp is outside the window
(``window_ms`` either side of the node's clock), so a captured request can only be replayed inside it. The
guard remembers every signature it accepted until its timestamp leaves the window, and refuses it a second
time. Memory is bounded: past ``max_entries`` live signatures the node refuses new requests (HTTP 503) rather
than forget one that might be replayed.
"""

from __future__ import annotations

import heapq

__all__ = ["ReplayGuard", "Replayed", "GuardFull"]


class Replayed(Exception):
    """This signature was already accepted inside the window."""


class GuardFull(Exception):
    """Too many signatures inside the window to remember one more."""


class ReplayGuard:
    def __init__(self, window_ms: int, *, max_entries: int = 1_000_000) -> None:
        self.window_ms = window_ms
        self.max_entries = max_entries
        self._seen: set[bytes] = set()
        self._expiry: list[tuple[int, bytes]] = []

    def __len__(self) -> int:
        return len(self._seen)

    def accept(self, signature: bytes, timestamp_ms: int, now_ms: int, *, longer_ms: int = 0) -> None:
        """Record a signature of a request stamped ``timestamp_ms`` (already checked to be inside the
        window), remembered ``longer_ms`` past the window (an upload found fresh when its head arrived, accepted
        when its body ended: as long as a replay of it could take); raises :class:`Replayed` if it was recorded
        before, :class:`GuardFull` if memory is spent."""
        self._forget_expired(now_ms)
        if signature in self._seen:
            raise Replayed("this request signature was already used")
        if len(self._seen) >= self.max_entries:
            raise GuardFull(f"{self.max_entries} signed requests inside the replay window: try again shortly")
        self._seen.add(signature)
        heapq.heappush(self._expiry, (timestamp_ms + self.window_ms + longer_ms, signature))

    def _forget_expired(self, now_ms: int) -> None:
        """Drop signatures whose timestamp has left the window: verification refuses them anyway."""
        while self._expiry and self._expiry[0][0] < now_ms:
            _, signature = heapq.heappop(self._expiry)
            self._seen.discard(signature)
