"""Running one job in its own subprocess, under the limits the job's resources and deadline allow.

:func:`execute` prepares nothing itself: the work folder already holds ``spec.json`` and ``inputs/``
(:mod:`compute_pallet.service.runner` documents the layout). It starts ``python -m
compute_pallet.service.runner`` with:

- ``RLIMIT_AS``: the job's memory plus :data:`INTERPRETER_MARGIN` (Python with numpy loaded reserves ~150 MiB
  of address space before any data): a kind that allocates past it gets a ``MemoryError`` and the runner
  exits with ``EXIT_MEMORY``; none for a GPU job (one asking for GPU memory runs on CuPy, and CUDA reserves
  address space for the whole device), whose device memory the GPU itself bounds;
- ``RLIMIT_CPU``: the wall-time budget times the job's cores (the kernel sends SIGXCPU at the soft limit and
  SIGKILL a few seconds later); the runner sets both on itself before it imports anything heavy;
- a wall-time limit: past it the process is killed (trio terminates it, then kills it);
- death with the worker: the runner ends itself when the worker dies (``sdk.children.die_with_parent``),
  so a worker killed mid-run and restarted never shares the job's folder with an orphan of its last run;
- thread counts pinned to the job's ``cpu_cores`` (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
  ``MKL_NUM_THREADS``): the kinds' fixed-order kernels give the same bits whatever the count, and pinning keeps
  a job within the cores it paid for.

The outcome is a :class:`Finished` (the runner's report: a digest, the output names, the scores, and whether
the kind refused its inputs — a deterministic result, see the runner) or a :class:`Killed` saying which limit
ended it, or that it crashed. The runner's standard error goes to ``runner.log`` in the work folder.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import trio

from compute_pallet.service.runner import EXIT_MEMORY, OUTPUTS, REPORT_FILE, WORKER_PID

__all__ = ["Limits", "Finished", "Killed", "Outcome", "execute", "INTERPRETER_MARGIN", "RUNNER_LOG"]

INTERPRETER_MARGIN = 512 << 20
"""Address space the runner needs besides the job's data: the interpreter, numpy and its thread stacks."""
RUNNER_LOG = "runner.log"
MAX_REPORT_BYTES = 1 << 20
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Limits:
    """What one run may use."""

    memory_bytes: int
    """The job's declared memory; the address-space limit adds :data:`INTERPRETER_MARGIN`."""
    wall_seconds: float
    cpu_seconds: int
    threads: int
    """What the BLAS and OpenMP thread counts are pinned to: the job's cores."""
    gpu: bool = False
    """A GPU job: no address-space limit (CUDA reserves the device's whole memory in it when it starts)."""

    @classmethod
    def for_job(cls, memory_mib: int, cpu_cores: int, wall_seconds: float, *, gpu: bool = False) -> Limits:
        """A job's limits: its memory, ``wall_seconds``, and as much CPU time as its cores give in that time."""
        cores = max(1, cpu_cores)
        return cls(memory_mib << 20, wall_seconds, max(1, math.ceil(wall_seconds * cores)), cores, gpu)

    @property
    def address_space(self) -> int:
        """The runner's ``RLIMIT_AS`` in bytes (0: none)."""
        return 0 if self.gpu else self.memory_bytes + INTERPRETER_MARGIN


@dataclass(frozen=True)
class Finished:
    """The runner wrote its report."""

    digest: bytes
    outputs: tuple[str, ...]
    """Files under ``outputs/``, in the order the reveal names them (``result.json`` last)."""
    scores: tuple[int, ...]
    refused: str | None
    """The error class when the kind refused its inputs or params, ``kinds.UNEXPECTED`` when it raised anything
    else (a result like any other), else None."""


@dataclass(frozen=True)
class Killed:
    """The run ended without a report: ``reason`` is ``wall-time``, ``cpu-time``, ``memory`` or ``crashed``."""

    reason: str
    detail: str


Outcome = Finished | Killed


async def execute(workdir: Path, limits: Limits) -> Outcome:
    """Run the job prepared in ``workdir`` under ``limits``; what became of it."""
    (workdir / REPORT_FILE).unlink(missing_ok=True)
    env = {**os.environ, **{name: str(limits.threads) for name in THREAD_VARIABLES}, WORKER_PID: str(os.getpid())}
    command = [sys.executable, "-m", "compute_pallet.service.runner", str(workdir),
               str(limits.address_space), str(limits.cpu_seconds)]
    with open(workdir / RUNNER_LOG, "wb") as log:
        with trio.move_on_after(limits.wall_seconds) as timer:
            process = await trio.run_process(command, check=False, stdin=b"", stdout=log, stderr=log, env=env)
    if timer.cancelled_caught:
        return Killed("wall-time", f"still running after {limits.wall_seconds:.0f} s: killed")
    code = process.returncode
    if code == 0:
        return _report(workdir)
    if code == -signal.SIGXCPU:
        return Killed("cpu-time", f"used its {limits.cpu_seconds} s of CPU")
    if code == EXIT_MEMORY:
        return Killed("memory", f"needed more than {limits.memory_bytes >> 20} MiB")
    return Killed("crashed", f"exit status {code}: {_tail(workdir / RUNNER_LOG)}")


def _report(workdir: Path) -> Outcome:
    try:
        with open(workdir / REPORT_FILE, "rb") as file:
            doc = json.loads(file.read(MAX_REPORT_BYTES))
        digest = bytes.fromhex(doc["digest"])
        outputs = tuple(str(name) for name in doc["outputs"])
        scores = tuple(int(score) for score in doc["scores"])
        refused = doc["refused"]["error"] if doc["refused"] else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Killed("crashed", f"exited 0 without a readable report ({exc})")
    if len(digest) != 32 or not all((workdir / OUTPUTS / name).is_file() for name in outputs):
        return Killed("crashed", "its report names a bad digest or missing outputs")
    return Finished(digest, outputs, scores, refused)


def _tail(path: Path, size: int = 400) -> str:
    try:
        text = path.read_bytes()[-size:].decode(errors="replace").strip()
    except OSError:
        return "(no log)"
    return text.splitlines()[-1] if text else "(no output)"
