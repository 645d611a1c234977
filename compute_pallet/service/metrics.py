"""What the provider worker counts, and its Prometheus text rendering (``GET /metrics``).

Counters only grow and are touched from the event loop's thread. CPU time is read at scrape time from the
kernel: ``RUSAGE_CHILDREN`` is the CPU of the job subprocesses that have ended (the work the provider is paid
for), ``RUSAGE_SELF`` the worker's own (following the chain, downloads, uploads, transactions). The
benchmark takes the share of provider CPU spent outside the job itself as self / (self + children).
"""

from __future__ import annotations

import resource
from collections import Counter
from dataclasses import dataclass, field

from sdk.storage.cache import PublicFileCache

__all__ = ["ProviderMetrics", "CONTENT_TYPE", "PHASES"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "cairn_provider_"
PHASES = ("assigned", "run", "refused", "committed", "uploaded", "revealed", "failed", "settled")
"""The job phases counted: ``refused`` is a run whose kind refused its inputs (still committed), ``failed``
a job this worker gave up on (killed by a limit, inputs unreadable by the deadline, a refused reveal)."""


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@dataclass
class ProviderMetrics:
    jobs: Counter[str] = field(default_factory=Counter)
    """Jobs that reached each phase (:data:`PHASES`)."""
    retries: Counter[str] = field(default_factory=Counter)
    """Steps that failed and were tried again (a chain or storage error), by step: ``read``, ``download``,
    ``commit``, ``upload``, ``reveal``, ``heartbeat``."""
    active: int = 0
    """Jobs being worked on now."""
    input_cache: PublicFileCache | None = None
    """The public inputs kept on disk, if any (its hits, misses and size are read at scrape time)."""

    def job(self, phase: str) -> None:
        assert phase in PHASES, phase
        self.jobs[phase] += 1

    def render(self) -> str:
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, values: dict[str, float]) -> None:
            lines.extend((f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} {kind}"))
            lines.extend(f"{PREFIX}{name}{label} {value:g}" for label, value in values.items())

        metric("jobs_total", "counter", "Jobs that reached each phase.",
               {f'{{phase="{phase}"}}': self.jobs[phase] for phase in PHASES})
        metric("retries_total", "counter", "Steps that failed and were tried again, by step.",
               {f'{{step="{step}"}}': n for step, n in sorted(self.retries.items())})
        metric("active_jobs", "gauge", "Jobs being worked on now.", {"": self.active})
        if (cache := self.input_cache) is not None:
            metric("input_cache_reads_total", "counter", "Public inputs read from the disk cache (hit) or fetched.",
                   {'{result="hit"}': cache.hits, '{result="miss"}': cache.misses})
            metric("input_cache_bytes", "gauge", "Bytes of public inputs kept on disk.", {"": cache.size})
        metric("job_cpu_seconds_total", "counter", "CPU seconds of the job subprocesses that ended.",
               {"": cpu_seconds(resource.RUSAGE_CHILDREN)})
        metric("worker_cpu_seconds_total", "counter", "CPU seconds of the worker process itself.",
               {"": cpu_seconds(resource.RUSAGE_SELF)})
        return "\n".join(lines) + "\n"
