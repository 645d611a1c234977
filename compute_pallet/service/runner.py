"""The job subprocess: ``python -m compute_pallet.service.runner WORKDIR ADDRESS_SPACE CPU_SECONDS`` runs one job
kind under those limits and writes its result.

The provider worker never runs a kind in its own process: it prepares a work folder, starts this module
under CPU, memory and wall-time limits (:mod:`compute_pallet.service.execution`) and reads back what it
wrote. The runner sets its own address-space (bytes) and CPU-time (seconds) limits first thing, before
numpy or any kind is imported (the parent cannot set them between fork and exec safely: it has threads),
and a kind cannot raise them again. The folder's layout (version 1):

- ``spec.json`` (read): ``{"kind": name, "params": hex, "seed": hex, "gpu": bool}``; ``gpu``: run the kind
  on CuPy (the job asked for GPU memory, so the chain assigned only GPU providers: every provider of the job
  runs the same kernel class, and CuPy's flush-to-zero of float32 subnormals, see ``kinds.kernels``, is
  shared by all of them);
- ``inputs/<i>`` (read): the job's input files by their position on chain (``0``, ``1``, ...), named for the
  kind by ``kinds.named_inputs``; one larger than ``kinds.input_limits`` allows its position is refused
  (``formats.TooLarge``) before it is read, since whether reading it fits depends on the job's memory limit;
- ``outputs/<name>`` (written): each of the kind's output files, then ``result.json``, the canonical JSON of
  the kind's result record (the bytes the digest covers);
- ``report.json`` (written last, by rename, so its presence means the run finished):
  ``{"digest": hex, "outputs": [names: the kind's in sorted order, then "result.json"], "scores": [int...],
  "refused": null | {"error": class name, "message": text}}`` (the message is this provider's, for its log).

**A refused input is a result** (``kinds.outcome``): a kind that refuses its inputs or params does so on every
honest machine alike, so it is an outcome to commit to, not a crash, and ``result.json`` is still uploaded so
the submitter reads which check its inputs failed (``cairn compute rerun`` gives the message, which stays in
this provider's log). A kind that raises anything else is recorded alike as ``kinds.UNEXPECTED``, its traceback
logged: the same code runs on every honest machine, so they agree, and are paid rather than slashed as
no-shows. The pallet then pays the agreeing providers as for any verified job: they fetched the inputs and ran
the kind.

Exit status: 0 when ``report.json`` was written; :data:`EXIT_MEMORY` when the kind ran out of the memory the
limits allow (not an outcome: it depends on the machine's limits); anything else (this machine's files
unreadable, a kind this provider does not know, no CuPy for a GPU job) is a crash.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import traceback
from pathlib import Path

from sdk.children import die_with_parent
from sdk.durable import fsync_dir, fsync_file, replace_durably

__all__ = ["EXIT_MEMORY", "CPU_GRACE_S", "RESULT_FILE", "REPORT_FILE", "SPEC_FILE", "WORKER_PID",
           "limit", "run"]

EXIT_MEMORY = 3
CPU_GRACE_S = 5
"""Seconds between SIGXCPU (the soft CPU limit) and SIGKILL (the hard one)."""
SPEC_FILE = "spec.json"
REPORT_FILE = "report.json"
RESULT_FILE = "result.json"
INPUTS = "inputs"
OUTPUTS = "outputs"
MAX_MESSAGE_CHARS = 2000
"""A refusal's message as the report and the log keep it. A message may quote what the inputs hold (a zip's
member names, a model's tensor names) at any length, and a report past what the worker reads
(``execution.MAX_REPORT_BYTES``) would read as a crash on every honest provider: no commit, each slashed as a
no-show (the message is no part of the result, whose refusal is its class alone)."""


def run(workdir: Path) -> None:
    """Run the job described in ``workdir`` and write its outputs and report (see the module docstring)."""
    from compute_pallet import kinds

    spec = json.loads((workdir / SPEC_FILE).read_text())
    paths = sorted((workdir / INPUTS).iterdir(), key=lambda path: int(path.name))
    xp = importlib.import_module("cupy" if spec.get("gpu") else "numpy")
    ran = kinds.outcome(spec["kind"], lambda: _read_inputs(spec["kind"], paths), bytes.fromhex(spec["params"]),
                        bytes.fromhex(spec["seed"]), xp=xp)
    refused = None
    if ran.refused is not None:
        message = _shortened(ran.message or "")
        refused = {"error": ran.refusal, "message": message}
        if ran.refusal == kinds.UNEXPECTED:
            traceback.print_exception(ran.refused)
        print(f"the kind refused its inputs ({ran.refusal}): {message}", file=sys.stderr)
    folder = workdir / OUTPUTS
    folder.mkdir(exist_ok=True)
    files = {**ran.outputs, RESULT_FILE: kinds.canonical_json(ran.result)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    # on disk before the report: the worker commits to the digest once it reads the report, and after a power
    # cut it uploads these files rather than run the job again, so they must be the bytes committed to
    for name in files:
        fsync_file(folder / name)
    fsync_dir(folder)
    shares = ran.result.get("shares_ppm", [])
    report = {"digest": ran.digest.hex(), "outputs": [*sorted(ran.outputs), RESULT_FILE],
              "scores": [int(s) for s in shares] if isinstance(shares, list) else [], "refused": refused}
    partial = workdir / (REPORT_FILE + ".partial")
    partial.write_text(json.dumps(report))
    replace_durably(partial, workdir / REPORT_FILE)


def _shortened(message: str) -> str:
    """``message``, cut to :data:`MAX_MESSAGE_CHARS` characters."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[:MAX_MESSAGE_CHARS] + f"... ({len(message) - MAX_MESSAGE_CHARS} more characters)"


def _read_inputs(kind_name: str, paths: list[Path]) -> list[bytes]:
    """The input files' bytes, each first checked by its size (``kinds.check_input_sizes``)."""
    from compute_pallet import kinds

    kinds.check_input_sizes(kind_name, [path.stat().st_size for path in paths])
    return [path.read_bytes() for path in paths]


def limit(address_space: int, cpu_seconds: int) -> None:
    """This process's limits, soft and hard: past ``address_space`` bytes an allocation fails (``MemoryError``;
    0: no such limit, for a GPU job, since CUDA reserves address space for the whole device when it starts),
    past ``cpu_seconds`` the kernel sends SIGXCPU, and SIGKILL :data:`CPU_GRACE_S` seconds later."""
    if address_space:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + CPU_GRACE_S))


WORKER_PID = "CAIRN_WORKER_PID"
"""The environment variable in which the worker passes its pid to the runner it starts: the runner dies with
it (``sdk.children.die_with_parent``), since a worker killed mid-run and restarted runs the job again in the
same folder, and an orphan of the last run would rewrite the outputs under the new run's upload."""


def main(argv: list[str]) -> int:
    if len(argv) != 3 or not argv[1].isdigit() or not argv[2].isdigit():
        print("usage: python -m compute_pallet.service.runner WORKDIR ADDRESS_SPACE CPU_SECONDS", file=sys.stderr)
        return 2
    die_with_parent(int(os.environ[WORKER_PID]) if WORKER_PID in os.environ else None)
    limit(int(argv[1]), int(argv[2]))
    try:
        run(Path(argv[0]))
    except MemoryError:
        print(f"out of memory (the job's limit), pid {os.getpid()}", file=sys.stderr)
        return EXIT_MEMORY
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
