"""CPU time of processes, for benchmarks that say where a run's CPU went (which role of a devnet, which side).

Scripts import it as a sibling, as they import ``results``.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable
from pathlib import Path

__all__ = ["process_cpu_seconds", "own_cpu_seconds", "cpu_by_role"]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (``/proc/<pid>/stat``, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """User + system CPU time of this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_by_role(processes: Iterable[tuple[str, int]], own: str) -> dict[str, float]:
    """CPU seconds so far, summed by role over ``(role, pid)`` pairs, with this process's under ``own``; a process
    that is gone counts nothing."""
    totals = {own: own_cpu_seconds()}
    for role, pid in processes:
        try:
            totals[role] = totals.get(role, 0.0) + process_cpu_seconds(pid)
        except OSError:
            pass
    return totals
