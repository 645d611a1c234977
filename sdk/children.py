"""Child processes that die with the process that started them.

A child that outlives its parent is worse than useless here: a job runner orphaned by a provider worker killed
mid-run would rewrite the outputs of the job the restarted worker runs again in the same folder, and the KZG
worker processes of a DA node or client killed with SIGKILL would stay behind, each holding the trusted setup
in memory, for good. :func:`die_with_parent` has the kernel kill the calling process when its parent dies.
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["die_with_parent"]

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None = None) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux's ``PR_SET_PDEATHSIG``; elsewhere
    nothing). ``parent_pid``: the pid the parent gave when it started this process; if that parent died before
    this was armed, it is no longer this process's parent, and this process ends at once.

    The signal follows the parent *thread* that started the process: start such children from a thread that
    lives as long as they should (the main thread, or an event loop's)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)
