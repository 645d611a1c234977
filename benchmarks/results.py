"""Appending a benchmark's figures to ``benchmarks/RESULTS.md``, in the one shape the entries share.

An entry is a heading with the benchmark's name and the time, the machine (architecture, CPUs, kernel,
Python) and who shares it, the command line the script ran with, the run's settings as ``- `` lines, then the
figures. Scripts import it as a sibling (``python benchmarks/<script>.py`` puts this folder on the path).
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["RESULTS", "record"]

RESULTS = Path(__file__).with_name("RESULTS.md")


def record(title: str, setting: str, figures: str, *, notes: Sequence[str] = (), command: str | None = None) -> None:
    """Append an entry: ``setting`` says what shares the machine, ``notes`` are the run's settings, ``figures``
    its table and remarks; ``command`` defaults to this script's own command line."""
    if command is None:
        command = " ".join([f"python benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    with RESULTS.open("a") as out:
        out.write(f"\n## {title} — {datetime.datetime.now().isoformat(timespec='seconds')}\n\n"
                  f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}, Python "
                  f"{platform.python_version()}; {setting}\n"
                  f"- command: `{command}`\n" + "".join(f"- {note}\n" for note in notes) + f"\n{figures}")
