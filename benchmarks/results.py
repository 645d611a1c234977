"""Appending a benchmark's figures to ``benchmarks/RESULTS.md``, in the one shape the entries share.

An entry is a heading with the benchmark's name and the time, the machine (architecture, CPUs, kernel,
Python, and how fast it ran a fixed workload just then) and who shares it, the command line the script ran
with, the run's settings as ``- `` lines, then the figures. Scripts import it as a sibling (``python
benchmarks/<script>.py`` puts this folder on the path).
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["RESULTS", "record", "reference_workload_ms"]

RESULTS = Path(__file__).with_name("RESULTS.md")


def reference_workload_ms() -> float:
    """Milliseconds this machine takes, at best of three, for a fixed pure-Python workload (one core).

    The reference VM's speed changes over a day (2026-12-04: the same training run took 0.61 s at 17:15 and
    0.34 s at 19:50, and identical chain sweeps found 1,188-1,660/s), so each entry says how fast the machine
    was when it was written: compare entries' figures together with it."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _machine_line(setting: str) -> str:
    """An entry's ``- machine:`` line: architecture, CPUs, kernel, Python, the reference workload's time now,
    and ``setting`` (what shares the machine)."""
    return (f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}, Python "
            f"{platform.python_version()}, {reference_workload_ms():.0f} ms for the reference workload "
            f"(`results.reference_workload_ms`, lower is faster); {setting}\n")


def record(title: str, setting: str, figures: str, *, notes: Sequence[str] = (), command: str | None = None) -> None:
    """Append an entry: ``setting`` says what shares the machine, ``notes`` are the run's settings, ``figures``
    its table and remarks; ``command`` defaults to this script's own command line."""
    if command is None:
        command = " ".join([f"python benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    with RESULTS.open("a") as out:
        out.write(f"\n## {title} — {datetime.datetime.now().isoformat(timespec='seconds')}\n\n"
                  f"{_machine_line(setting)}- command: `{command}`\n"
                  + "".join(f"- {note}\n" for note in notes) + f"\n{figures}")
