"""One log line per refused or dropped RPC client and reason.

A client that hits a limit usually hits it again and again (a flood of connections, a call loop over its rate
limit): the operator needs to know who and why, once, not a line per refusal. Clients are told apart by
address (host); the most recent ``REMEMBERED`` (host, reason) pairs are remembered, so the memory is bounded
and a client that comes back after many others is logged again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

__all__ = ["REMEMBERED", "RefusalLog"]

logger = logging.getLogger(__name__)

REMEMBERED = 1024


class RefusalLog:
    """Logs ``(client, reason)`` the first time it is noted; counts every note."""

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.noted = 0
        """Refusals and drops noted, logged or not."""

    def note(self, peer: tuple[str, int] | None, reason: str) -> None:
        self.noted += 1
        key = ("unknown" if peer is None else peer[0], reason)
        if key in self._seen:
            self._seen.move_to_end(key)
            return
        self._seen[key] = None
        if len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)
        logger.info("RPC client %s: %s", key[0], reason)
