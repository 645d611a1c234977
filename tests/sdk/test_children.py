"""Child processes die with the process that started them, and only then: a job runner with its provider worker
(which passes its pid), a KZG pool's workers with the DA node or client that made the pool. Real processes,
SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import trio

from compute_pallet.service.runner import WORKER_PID


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped yet is dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:  # a thread that ended since the listing (the pool's start-up threads do)
            continue
    return found


def _kill_and_wait_for_orphans(parent: subprocess.Popen, children: list[int]) -> None:
    assert children and all(_alive(child) for child in children)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while any(_alive(child) for child in children):
        assert time.monotonic() < deadline, "a child outlived its parent"
        time.sleep(0.05)


def test_a_job_runner_dies_with_the_worker_that_started_it():
    """The worker passes its pid as the runner's does; the runner arms the death signal first thing."""
    worker = subprocess.Popen([sys.executable, "-c", (
        "import os, subprocess, sys, time\n"
        "runner = subprocess.Popen([sys.executable, '-c', 'import os, time; from sdk.children import "
        f"die_with_parent; die_with_parent(int(os.environ[\"{WORKER_PID}\"])); print(flush=True); time.sleep(120)'], "
        f"stdout=subprocess.PIPE, env={{**os.environ, '{WORKER_PID}': str(os.getpid())}})\n"
        "runner.stdout.readline()\n"
        "print(runner.pid, flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE)
    _kill_and_wait_for_orphans(worker, [int(worker.stdout.readline())])


async def test_a_child_started_from_a_worker_thread_outlives_that_thread():
    """trio starts a process from a thread of its cache, which ends after 10 s idle: the kernel's parent-death
    signal, which follows that thread, killed every job runner still running then (its provider slashed)."""
    started = await trio.run_process([sys.executable, "-c", "from sdk.children import die_with_parent; import time; "
                                      "die_with_parent(); time.sleep(12); print('alive')"],
                                     capture_stdout=True, check=False)
    assert started.returncode == 0 and started.stdout == b"alive\n"


def test_a_child_whose_parent_died_before_it_armed_the_signal_ends_at_once():
    late = subprocess.run([sys.executable, "-c", "from sdk.children import die_with_parent; "
                           f"die_with_parent({os.getpid() + 10**6}); print('ran')"],
                          capture_output=True, text=True, timeout=60)
    assert late.returncode == 1 and "ran" not in late.stdout


def test_a_kzg_pool_s_workers_die_with_the_process_that_made_the_pool():
    """A DA node SIGKILLed (the devnet's faults do it) left its pool's workers behind, each with the trusted
    setup loaded, for good."""
    owner = subprocess.Popen([sys.executable, "-c", (
        "import time, anyio\n"
        "from sdk.da.pool import KzgPool\n"
        "pool = KzgPool(2)\n"
        "anyio.run(pool.warm)\n"
        "print(flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE)
    owner.stdout.readline()
    workers = [pid for pid in _children(owner.pid)
               if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(workers) == 2
    _kill_and_wait_for_orphans(owner, workers)
