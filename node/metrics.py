"""Prometheus metrics: a tiny registry of gauges, counters and histograms rendered in the text format.

Names follow Substrate's where one exists (``substrate_block_height{status="best"|"finalized"}``,
``substrate_sub_libp2p_peers_count``, ``substrate_ready_transactions_number``), so dashboards built for
Substrate nodes read Cairn's too. Values are read from the node at scrape time where possible (callbacks),
so the hot paths pay nothing.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Metrics", "Histogram", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...]
    counts: list[int] = field(init=False)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        for i in range(index, len(self.buckets)):
            self.counts[i] += 1
        self.total += value
        self.count += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for bound, count in zip(self.buckets, self.counts):
            lines.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {count}')
        lines += [f'{self.name}_bucket{{le="+Inf"}} {self.count}', f"{self.name}_sum {_number(self.total)}",
                  f"{self.name}_count {self.count}"]
        return lines


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Metrics:
    def __init__(self) -> None:
        self._sampled: list[tuple[str, str, str, Callable[[], dict[tuple[tuple[str, str], ...], float]]]] = []
        """Metrics read at scrape time: (name, help, kind "gauge" or "counter", read)."""
        self._counters: dict[str, tuple[str, float]] = {}
        self._histograms: dict[str, Histogram] = {}

    def gauge(self, name: str, help: str, read: Callable[[], float | dict[tuple[tuple[str, str], ...], float]]) -> None:
        """A value read at scrape time: a number, or ``{((label, value), ...): number}``."""
        def labelled() -> dict[tuple[tuple[str, str], ...], float]:
            value = read()
            return value if isinstance(value, dict) else {(): value}

        self._sampled.append((name, help, "gauge", labelled))

    def read_counter(self, name: str, help: str, read: Callable[[], dict[tuple[tuple[str, str], ...], float]]) -> None:
        """A counter kept elsewhere (by the interpreter, say), read at scrape time like a labelled gauge."""
        self._sampled.append((name, help, "counter", read))

    def counter(self, name: str, help: str) -> None:
        self._counters[name] = (help, 0.0)

    def inc(self, name: str, amount: float = 1.0) -> None:
        help_text, value = self._counters[name]
        self._counters[name] = (help_text, value + amount)

    def histogram(self, name: str, help: str, buckets: tuple[float, ...]) -> Histogram:
        histogram = self._histograms[name] = Histogram(name, help, tuple(sorted(buckets)))
        return histogram

    def render(self) -> str:
        lines: list[str] = []
        for name, help_text, kind, read in self._sampled:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            for labels, value in read().items():
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{name}{{{label_text}}} {_number(value)}" if labels else f"{name} {_number(value)}")
        for name, (help_text, value) in self._counters.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name} {_number(value)}"]
        for histogram in self._histograms.values():
            lines += histogram.render()
        return "\n".join(lines) + "\n"
