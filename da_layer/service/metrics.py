"""The DA node's Prometheus metrics: counters it bumps as it works, gauges read at scrape time.

Rendered in Prometheus' text format (``GET /metrics``). Counters are only touched from the event loop's
thread; gauges are callbacks into the store, which locks its own index.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

__all__ = ["NodeMetrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

COUNTERS = {
    "cairn_da_cells_received_total": "Custody cells received, verified and stored",
    "cairn_da_cells_served_total": "Cells served to clients and peers",
    "cairn_da_attestations_total": "Attestations signed",
    "cairn_da_audits_answered_total": "Audits answered on chain",
    "cairn_da_cells_recovered_total": "Custody cells rebuilt from peers' cells",
    "cairn_da_cells_corrupt_total": "Stored cells found not to verify when audited, dropped and recovered",
    "cairn_da_blobs_pruned_total": "Blobs dropped after the chain pruned them",
}


class NodeMetrics:
    def __init__(self, gauges: dict[str, tuple[str, Callable[[], float]]]) -> None:
        self._gauges = gauges
        self._counts: Counter[str] = Counter()
        self._refused: Counter[str] = Counter()

    def inc(self, name: str, amount: int = 1) -> None:
        assert name in COUNTERS, name
        self._counts[name] += amount

    def refused(self, kind: str) -> None:
        """A request answered with error ``kind``."""
        self._refused[kind] += 1

    def render(self) -> str:
        lines = []
        for name, help_text in COUNTERS.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name} {self._counts[name]}"]
        name = "cairn_da_requests_refused_total"
        lines += [f"# HELP {name} Requests answered with an error, by kind", f"# TYPE {name} counter"]
        lines += [f'{name}{{kind="{kind}"}} {count}' for kind, count in sorted(self._refused.items())]
        for name, (help_text, read) in self._gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {read():g}"]
        return "\n".join(lines) + "\n"
