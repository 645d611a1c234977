"""Child processes that die with the process that started them.

A child that outlives its parent is worse than useless here: a job runner orphaned by a provider worker killed
mid-run would rewrite the outputs of the job the restarted worker runs again in the same folder, and the KZG
worker processes of a DA node or client killed with SIGKILL would stay behind, each holding the trusted setup
in memory, for good. :func:`die_with_parent` ends the calling process when its parent dies.

Not with the kernel's ``PR_SET_PDEATHSIG``, which it did before: that signal follows the parent *thread*, and
trio (``run_process``) and process pools start children from worker threads that end once idle (trio's after
10 s), so every job runner that ran longer than that was killed with the thread that had started it, its
provider then slashed for the job.
"""

from __future__ import annotations

import os
import signal
import threading
import time

__all__ = ["die_with_parent"]

WATCH_S = 0.2
"""Seconds between two looks at this process's parent: an orphan runs at most this long."""


def die_with_parent(parent_pid: int | None = None) -> None:
    """SIGKILL this process (as the kernel would) once the process that started it has died: a daemon thread
    looks every :data:`WATCH_S` whether this process was handed to another parent (the init process, or a
    subreaper). ``parent_pid``: the pid the parent gave when it started this process; if that parent died
    before this was called, it is no longer this process's parent, and this process ends at once."""
    parent = os.getppid() if parent_pid is None else parent_pid
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="die-with-parent", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_S)
    os.kill(os.getpid(), signal.SIGKILL)
