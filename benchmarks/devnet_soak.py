"""Fault soak: a full default devnet under load and faults in every role, and what survived.

Starts the devnet ``./run-devnet`` starts (4 validators, 6 storage nodes, 4 DA nodes, 3 providers and the
roles added since) under a temporary folder, runs ``cairn devnet chaos`` against it (:func:`devnet.chaos.run_chaos`:
seeded kills and restarts, corrupted fragments, withheld cells, misbehaving providers, while a load uploads,
downloads, publishes blobs and runs jobs), stops it, and appends the summary (operations tried and succeeded,
faults injected, failures by kind, invariants) to ``benchmarks/RESULTS.md``. Exits 1 if an invariant broke or
judged nothing although its role had load.

    python benchmarks/devnet_soak.py [--duration 10m] [--seed 1] [--no-record]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import trio

from devnet import launcher
from devnet.chaos import parse_duration, run_chaos
from devnet.config import DevnetConfig
from devnet.registry import ROLES
from results import record  # a sibling: the script's folder is on the path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=parse_duration, default="10m", help="how long faults and load run")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault schedule and the load")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cairn-soak-") as folder:
        config = replace(DevnetConfig.load(None, ROLES), base_path=Path(folder))
        started = time.monotonic()
        state = launcher.up(config)
        try:
            startup = time.monotonic() - started
            summary = trio.run(run_chaos, config.base_path, args.duration, args.seed, print)
        finally:
            launcher.down(config.base_path)
    table = summary.table()
    print(table)
    if not args.no_record:
        counts = ", ".join(f"{len([r for r in state.processes if r.role == role.name])} {role.name}"
                           for role in ROLES)
        record("Fault soak", "every process of the devnet and the soak's load share its cores, all on loopback",
               table, notes=[f"devnet: the default ({counts}), started in {startup:.0f} s; chaos for "
                             f"{args.duration:g} s, seed {args.seed}, then the invariant check"])
    sys.exit(0 if summary.held else 1)


if __name__ == "__main__":
    with launcher.signals_interrupt():  # `kill` and timeouts, not only Ctrl-C, stop what it started
        main()
