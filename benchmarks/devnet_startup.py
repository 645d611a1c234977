"""The one-command devnet: how long until it is usable, and how much memory all its processes hold.

Runs ``cairn devnet up --detach`` with no config (what ``./run-devnet`` starts: 4 validators, 6 storage nodes,
4 DA nodes, 3 providers and the dashboard) under a temporary base path, and measures:

- **ready**: from the command's start until it returns, every process having reported its ports;
- **usable**: until, in addition, the chain has finalized a block, every storage node, DA node and provider is
  registered on-chain (read through the SDK, as a user's first command would) and the dashboard answers
  ``/v1/health``; this is the figure the goal (< 60 s on this machine) is about;
- **memory**: once usable and settled for ``--settle`` seconds, the resident memory of every process of the
  devnet and all their descendants (the DA nodes' KZG process pools, the providers' job runners), per role,
  read from ``/proc/<pid>/smaps_rollup``: RSS (what ``top`` shows; pages shared between processes, such as
  the Python interpreter and NumPy's libraries, count once per process) and PSS (shared pages split between
  their sharers: the sum is what the processes hold together). Goal: ≤ 4 GiB for all processes.

There is no peer to run beside it (no other system starts these roles); the goals are the issue's. Appends
the figures to ``benchmarks/RESULTS.md``.

    python benchmarks/devnet_startup.py [--runs 3] [--settle 10] [--no-record]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import results  # a sibling: the script's folder is on the path

from devnet.launcher import signals_interrupt, wait_until
from devnet.role import http_health
from devnet.state import DevnetState
from sdk.client import Client

USABLE_TIMEOUT_S = 300.0
MIB = 1 << 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="Devnets started one after the other.")
    parser.add_argument("--settle", type=float, default=10.0, help="Seconds between usable and the memory reading.")
    parser.add_argument("--no-record", action="store_true", help="Print the figures; do not append to RESULTS.md.")
    args = parser.parse_args()
    runs = [_one_run(args.settle) for _ in range(args.runs)]
    figures = _figures(runs)
    print(figures)
    if not args.no_record:
        results.record("Devnet startup and memory (benchmarks/devnet_startup.py)", "nothing else running by this script",
               figures, notes=[f"runs: {args.runs}, settle {args.settle:g} s; `cairn devnet up --detach`, "
                               "default roles and counts"])


def _one_run(settle: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="cairn-devnet-bench-") as folder:
        base = Path(folder) / "devnet"
        cairn = [sys.executable, "-c", "from sdk.cli import main; main()", "devnet"]
        start = time.monotonic()
        up = subprocess.run([*cairn, "up", "--detach", "--base-path", str(base)], capture_output=True, text=True)
        ready = time.monotonic() - start
        try:
            if up.returncode != 0:
                raise SystemExit(f"devnet up failed:\n{up.stdout}\n{up.stderr}")
            state = DevnetState.load(base)
            _wait_usable(state)
            usable = time.monotonic() - start
            time.sleep(settle)
            memory = _memory(state)
        finally:
            subprocess.run([*cairn, "down", "--base-path", str(base)], capture_output=True)
    return {"ready": ready, "usable": usable, "memory": memory, "processes": len(state.processes)}


def _wait_usable(state: DevnetState) -> None:
    counts = Counter(process.role for process in state.processes)
    with Client(state.process("validator-0").url("rpc", "ws")) as client:
        def finalized() -> bool:
            header = client.get_block_header(client.get_chain_finalised_head())
            return header is not None and header.number >= 1

        wait_until(finalized, USABLE_TIMEOUT_S, "a finalized block")
        wait_until(lambda: len(client.storage.nodes()) >= counts["storage"], USABLE_TIMEOUT_S, "storage nodes")
        wait_until(lambda: len(client.da.nodes()) >= counts["da"], USABLE_TIMEOUT_S, "DA nodes")
        wait_until(lambda: len(client.compute.providers()) >= counts["provider"], USABLE_TIMEOUT_S, "providers")
    for process in state.processes:
        if process.role == "dashboard":
            wait_until(lambda: http_health(process) is not None, USABLE_TIMEOUT_S, "the dashboard")


def _memory(state: DevnetState) -> dict[str, tuple[int, int, int]]:
    """Per role: (processes counted, RSS bytes, PSS bytes) over each recorded process and its descendants."""
    children = _children()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for process in state.processes:
        for pid in _tree(process.pid, children):
            rss, pss = _rollup(pid)
            row = totals[process.role]
            row[0], row[1], row[2] = row[0] + 1, row[1] + rss, row[2] + pss
    return {role: (n, rss, pss) for role, (n, rss, pss) in totals.items()}


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(stat.parent.name))
    return children


def _tree(pid: int, children: dict[int, list[int]]) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def _rollup(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes of one process; (0, 0) if it is gone."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                values[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError):
        return 0, 0
    return values.get("Rss", 0), values.get("Pss", 0)


def _figures(runs: list[dict]) -> str:
    ready = [run["ready"] for run in runs]
    usable = [run["usable"] for run in runs]
    lines = ["| run | processes | ready s | usable s | RSS MiB (all) | PSS MiB (all) |", "|---:|---:|---:|---:|---:|---:|"]
    for i, run in enumerate(runs, 1):
        rss = sum(row[1] for row in run["memory"].values())
        pss = sum(row[2] for row in run["memory"].values())
        lines.append(f"| {i} | {run['processes']} | {run['ready']:.1f} | {run['usable']:.1f} | {rss / MIB:,.0f} | "
                     f"{pss / MIB:,.0f} |")
    last = runs[-1]["memory"]
    lines += ["", "Memory of the last run by role (each role's processes and their descendants):", "",
              "| role | processes counted | RSS MiB | PSS MiB |", "|---|---:|---:|---:|"]
    for role, (count, rss, pss) in last.items():
        lines.append(f"| {role} | {count} | {rss / MIB:,.0f} | {pss / MIB:,.0f} |")
    lines += ["", f"Usable in {statistics.median(usable):.1f} s (median of {len(runs)}; goal < 60 s), ready in "
              f"{statistics.median(ready):.1f} s; all processes together "
              f"{sum(r[2] for r in last.values()) / MIB / 1024:.2f} GiB PSS, "
              f"{sum(r[1] for r in last.values()) / MIB / 1024:.2f} GiB RSS summed (goal ≤ 4 GiB)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    with signals_interrupt():  # `kill` and timeouts, not only Ctrl-C, stop what it started
        main()
