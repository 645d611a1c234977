"""Fragment writes through the page cache and around it (``O_DIRECT``), and what fresh memory costs here.

Why a storage node writes its fragments with ``O_DIRECT`` (:mod:`storage_node.service.direct_io`): this
script writes ``--files`` fragment bodies of an 8 MiB segment at RS(3, 2) (2,796,386 bytes each) the way the
store does (1 MiB pieces, then ``finish``, fsync), through the page cache and around it, alternately,
``--rounds`` times, and reports the CPU each way takes per GB (user + system time of this process: the
kernel's copying and page handling count) and the wall-clock rate. Each round first waits ``--pause`` seconds
so that memory freed by the previous one is reclaimed, as between two uploads to a node.

It also measures the machine's cost of memory the guest has not touched lately (``--touch-gib`` of fresh
anonymous memory, then the same again at once): on a virtual machine that gives freed pages back to its
host, every page the page cache takes costs this again, which is what makes cached writes expensive there.

    python benchmarks/fragment_writes.py [--files 128] [--rounds 3] [--pause 5] [--touch-gib 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results import record  # noqa: E402
from sdk.durable import fsync_file  # noqa: E402
from storage_node.service.direct_io import BUFFER_SIZE, BufferPool, DirectWriter  # noqa: E402

BODY_SIZE = 2_796_386
"""``u16`` count, 5 roots and one fragment of an 8 MiB segment coded at RS(3, 2) and encrypted."""


def touch(gib: int) -> tuple[float, float]:
    """Seconds to fill ``gib`` GiB of fresh anonymous memory, then the same size again right after."""
    times = []
    for _ in range(2):
        start = time.perf_counter()
        block = np.ones(gib << 30, dtype=np.uint8)
        times.append(time.perf_counter() - start)
        del block
    return times[0], times[1]


def write_files(folder: Path, files: int, direct: bool, body: bytes, pool: BufferPool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to write and fsync ``files`` bodies, each as the store writes one."""
    cpu, wall = time.process_time(), time.perf_counter()
    for index in range(files):
        path = folder / f"{index}.part"
        with DirectWriter(path, pool, direct=direct) as writer:
            for start in range(0, len(body), BUFFER_SIZE):
                writer.write(body[start:start + BUFFER_SIZE])
            writer.finish()
        fsync_file(path)  # as the store's commit does before its rename
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=128, help="fragment bodies per way per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pause", type=float, default=5.0, help="seconds before each way's writes")
    parser.add_argument("--touch-gib", type=int, default=2, help="GiB of fresh memory touched (0: not measured)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()

    body = os.urandom(BODY_SIZE)
    pool = BufferPool()
    gigabytes = args.files * BODY_SIZE / 1e9
    totals = {True: [0.0, 0.0], False: [0.0, 0.0]}
    with tempfile.TemporaryDirectory(prefix="cairn-fragment-writes-", dir=".") as tmp:
        folder = Path(tmp)
        for _ in range(args.rounds):
            for direct in (False, True):
                time.sleep(args.pause)
                cpu, wall = write_files(folder, args.files, direct, body, pool)
                totals[direct][0] += cpu
                totals[direct][1] += wall
                for path in folder.iterdir():
                    path.unlink()
    rows = []
    for direct, label in ((False, "through the page cache"), (True, "O_DIRECT")):
        cpu, wall = totals[direct]
        rows.append(f"| {label} | {cpu / (args.rounds * gigabytes):.2f} | "
                    f"{args.rounds * gigabytes * 1e3 / wall:,.0f} |")
    figures = ("| fragment writes (each fsynced) | CPU s per GB | MB/s |\n|---|---:|---:|\n" + "\n".join(rows) + "\n")
    if args.touch_gib:
        fresh, again = touch(args.touch_gib)
        figures += (f"- fresh memory: {fresh / args.touch_gib:.2f} s per GiB to touch the first time, "
                    f"{again / args.touch_gib:.2f} s per GiB for the same size again at once\n")
    print(figures)
    if not args.no_record:
        record("Fragment writes", "nothing else running", figures,
               notes=[f"{args.files} bodies of {BODY_SIZE:,} bytes per way per round, {args.rounds} rounds, "
                      f"{args.pause:g} s pause before each way; in a temporary folder under the current one"])


if __name__ == "__main__":
    main()
