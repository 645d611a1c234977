"""The node's clock in Aura slots: the only place the node reads wall-clock time for consensus."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from node.consensus import aura

__all__ = ["SlotClock"]


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class SlotClock:
    slot_ms: int
    now_ms: Callable[[], int] = field(default=_wall_clock_ms)
    """Milliseconds since the Unix epoch (tests give their own)."""

    def now_slot(self) -> int:
        return aura.slot_at(self.now_ms(), self.slot_ms)

    def slot_start_ms(self, slot: int) -> int:
        return slot * self.slot_ms
