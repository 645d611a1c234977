"""Substrate's ``--rpc-rate-limit``: at most N calls per minute on one connection.

The limit is a GCRA (generic cell rate algorithm, as the ``governor`` crate Substrate uses): calls are due
one per ``60 / N`` seconds, and a connection that was quiet may make up to N at once. A call over the
limit is not refused outright: it waits until its turn, as Substrate's middleware waits (it retries up to
ten times). A call whose turn is more than ``MAX_WAIT_TURNS`` turns away is refused at once, which the
dispatcher answers with -32999 "RPC rate limit exceeded", Substrate's error. Each call of a batch counts.

Waiting calls hold the connection's in-flight slots, so a client over its limit also stops being read.
"""

from __future__ import annotations

import trio

__all__ = ["MAX_WAIT_TURNS", "RateLimit"]

MAX_WAIT_TURNS = 10
"""How many turns a call may wait for (Substrate's middleware retries ten times before it refuses)."""


class RateLimit:
    """The call budget of one connection: ``per_minute`` calls per minute, in bursts of as many."""

    def __init__(self, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("a rate limit allows at least one call per minute")
        self.per_minute = per_minute
        self._interval = 60.0 / per_minute
        self._tolerance = self._interval * (per_minute - 1)
        self._theoretical_arrival = -float("inf")
        self.refused = 0
        """Calls refused so far."""

    async def acquire(self) -> bool:
        """Take a turn for one call: at once, after waiting for it, or False when it is too far away."""
        now = trio.current_time()
        arrival = max(self._theoretical_arrival, now)
        wait = arrival - self._tolerance - now
        if wait > (MAX_WAIT_TURNS + 0.5) * self._interval:  # (half a turn of slack for float rounding)
            self.refused += 1
            return False
        self._theoretical_arrival = arrival + self._interval
        if wait > 0:
            await trio.sleep(wait)
        return True
