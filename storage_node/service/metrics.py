"""What the storage node counts, and its Prometheus text rendering (``GET /metrics``).

Counters only grow; gauges are read from the store when the page is rendered. Names follow Prometheus'
conventions (``cairn_storage_`` prefix, ``_total`` for counters, ``_bytes`` for sizes); a counter with a
label keeps one value per label value seen (bounded: labels are HTTP status codes and outcome names).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["NodeMetrics"]

PREFIX = "cairn_storage_"


@dataclass
class NodeMetrics:
    uploads: Counter[int] = field(default_factory=Counter)
    """Fragment uploads answered, by HTTP status."""
    reads: Counter[int] = field(default_factory=Counter)
    """Fragment reads answered, by HTTP status."""
    bytes_received: int = 0
    """Bytes of fragments stored from uploads and repairs."""
    bytes_served: int = 0
    confirmations: Counter[str] = field(default_factory=Counter)
    """Fragments confirmed on chain, by outcome (``ok``, ``failed``, ``dropped``)."""
    proofs: Counter[str] = field(default_factory=Counter)
    """Challenges answered, by outcome (``submitted``, ``failed``, ``missing``)."""
    repairs: Counter[str] = field(default_factory=Counter)
    """Repair orders executed, by outcome (``done``, ``failed``)."""
    dropped: int = 0
    """Fragments deleted because their file was deleted or they were placed elsewhere."""
    event_block: int = 0
    """The last finalized block with storage events that this node acted on."""

    def render(self, *, capacity: int, used: int, fragments: int) -> str:
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, values: dict[str, int | float] | int) -> None:
            lines.append(f"# HELP {PREFIX}{name} {help_text}")
            lines.append(f"# TYPE {PREFIX}{name} {kind}")
            if isinstance(values, dict):
                lines.extend(f"{PREFIX}{name}{{{label}}} {value}" for label, value in sorted(values.items()))
            else:
                lines.append(f"{PREFIX}{name} {values}")

        metric("capacity_bytes", "gauge", "Bytes this node offers (as registered).", capacity)
        metric("used_bytes", "gauge", "Bytes of fragments stored.", used)
        metric("fragments", "gauge", "Fragments stored.", fragments)
        metric("event_block", "gauge", "Last finalized block with storage events this node acted on.",
               self.event_block)
        metric("uploads_total", "counter", "Fragment uploads answered, by HTTP status.",
               {f'status="{status}"': n for status, n in self.uploads.items()})
        metric("reads_total", "counter", "Fragment reads answered, by HTTP status.",
               {f'status="{status}"': n for status, n in self.reads.items()})
        metric("received_bytes_total", "counter", "Fragment bytes stored from uploads and repairs.",
               self.bytes_received)
        metric("served_bytes_total", "counter", "Fragment bytes served to readers.", self.bytes_served)
        for name, counts, help_text in (
                ("confirmations_total", self.confirmations, "Fragments confirmed on chain, by outcome."),
                ("proofs_total", self.proofs, "Challenges answered, by outcome."),
                ("repairs_total", self.repairs, "Repair orders executed, by outcome.")):
            metric(name, "counter", help_text, {f'outcome="{outcome}"': n for outcome, n in counts.items()})
        metric("dropped_fragments_total", "counter", "Fragments deleted (file deleted or placed elsewhere).",
               self.dropped)
        return "\n".join(lines) + "\n"
