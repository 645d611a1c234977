"""Per-block queues of the compute pallets: what falls due at a block, handled a bounded number per block.

A queue is a storage map ``BlockNumber -> Vec<item>`` (heartbeat deadlines, phase ends, round ends). Items are
appended under the block at which they fall due; ``on_initialize(n)`` takes at most its per-block budget of
those due at ``n`` and moves the rest to ``n + 1``, so a burst of deadlines never makes one block heavy.
"""

from __future__ import annotations

from typing import Any

from runtime.frame.storage import BoundMap

__all__ = ["schedule", "take_due"]


def schedule(queue: BoundMap, block: int, item: Any) -> None:
    """Queue ``item`` to be handled at block ``block``."""
    queue.mutate(block, lambda due: due + (item,))


def take_due(queue: BoundMap, n: int, budget: int) -> tuple:
    """Up to ``budget`` of the items due at block ``n``, oldest first; the rest move to block ``n + 1``."""
    due = queue.take(n) or ()
    now, later = due[:budget], due[budget:]
    if later:
        queue.mutate(n + 1, lambda queued: later + queued)
    return now
