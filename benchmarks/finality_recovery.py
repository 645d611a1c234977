"""How long finality takes to recover on real validator processes after the faults of Cairn issue 15, §1.

Starts four validators (full mesh, the `local` preset) and runs the issue's repro, timing each recovery:

1. ``kill -9`` one validator, restart it 10 s later; the same with a second one;
2. ``kill -9`` two validators at once, restart both 20 s later;
3. ``SIGSTOP`` one validator for 60 s, then ``SIGCONT``.

A recovery is the time from the last restart (or the resume) until every node has finalized the best block
any node had at that moment, and all agree on it (target: within 90 s). Prints the figures and appends them
to ``benchmarks/RESULTS.md``.

    python benchmarks/finality_recovery.py [--no-record]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devnet.launcher import signals_interrupt  # noqa: E402
from tests.integration.nodes import NodeProcess, wait_until  # noqa: E402
from tests.integration.test_validators import agree, start_network  # noqa: E402
from results import record  # noqa: E402  (a sibling: the script's folder is on the path)

TARGET_S = 90.0
DEADLINE_S = 300.0


def recovery(nodes: list[NodeProcess]) -> tuple[int, float]:
    """Seconds until every node finalized the best block of this moment (and they agree on it)."""
    target = max(n.best() for n in nodes)
    started = time.monotonic()
    wait_until(lambda: min(n.finalized() for n in nodes) >= target and agree(nodes, target), DEADLINE_S,
               f"finality past #{target}", interval=0.2)
    return target, time.monotonic() - started


def run() -> list[tuple[str, int, float]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="finality-recovery-") as tmp:
        nodes = start_network(Path(tmp))
        try:
            wait_until(lambda: min(n.finalized() for n in nodes) >= 2, 120, "initial finality")
            for victim in nodes[0], nodes[1]:
                victim.kill()
                time.sleep(10)
                victim.start()
            rows.append(("kill -9 one, restart 10 s later; then another", *recovery(nodes)))
            for victim in nodes[2], nodes[3]:
                victim.kill()
            time.sleep(20)
            for victim in nodes[2], nodes[3]:
                victim.start()
            rows.append(("kill -9 two at once, restart both 20 s later", *recovery(nodes)))
            paused = nodes[2].process
            assert paused is not None
            os.killpg(paused.pid, signal.SIGSTOP)
            time.sleep(60)
            os.killpg(paused.pid, signal.SIGCONT)
            rows.append(("SIGSTOP one for 60 s, then SIGCONT", *recovery(nodes)))
        finally:
            for node in nodes:
                node.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", action="store_true", help="print only, do not append to RESULTS.md")
    args = parser.parse_args()
    rows = run()
    table = "\n".join(f"| {what} | #{target} | {seconds:.1f} s | {'met' if seconds <= TARGET_S else 'MISSED'} |"
                      for what, target, seconds in rows)
    print(table)
    if args.no_record:
        return
    record("Finality recovery (issue 15, section 1)", "all four validators share its cores",
           f"| fault | best block then | recovery | |\n|---|---|---|---|\n{table}\n",
           notes=["4 validators, `local` preset, 2 s slots",
                  f"recovery: from the last restart (or the resume) until every node finalized the best block any "
                  f"node had then, and all agree on it; target {TARGET_S:.0f} s"])


if __name__ == "__main__":
    with signals_interrupt():  # `kill` and timeouts, not only Ctrl-C, stop what it started
        main()
