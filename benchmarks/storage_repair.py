"""Storage repair rate: how fast the network rebuilds a killed node's fragments, and how long until full redundancy.

How the chain repairs a dead node (``FileBank``, ``StorageNodes``), with no order filed by anyone: every
``audit_period`` blocks a round challenges each node holding fragments for one of them; a dead node's challenge
expires at its deadline (``AuditMissed``): it is slashed and that fragment is ordered repaired. After
``max_consecutive_misses`` (3) misses in a row it is forced out (``NodeForcedOut``) and every fragment it still
holds is ordered repaired, ``max_expiries_per_block`` orders a block. Each order names a node that does not hold
the segment; that node's daemon fetches k fragments from the others, rebuilds the lost one, checks and stores
it and calls ``confirm_repair``. A round that draws a fragment already under repair challenges nothing, so the
forced exit takes three rounds or more.

The devnet's parameters (``DEVNET_FILE_BANK`` in ``node/chain_spec.py``: a round every 10 blocks of 2 s, 8
blocks to answer) bring the forced exit about a minute after the kill, so this benchmark uses them as they are.

It starts a devnet (1 validator, 6 storage nodes, no DA nodes, no providers), uploads a random file (private,
the chain's default k and m), SIGKILLs the storage node holding the most of its fragments, and then reads the
file's fragments and the nodes' audit records every ``--poll`` seconds until every fragment is confirmed on a
live node again. Figures:

- **detection**: kill → the node's first missed audit, and → its forced exit (all its fragments ordered);
- **rebuild rate**: MB (10^6 bytes) of the dead node's fragments over the time from the first to the last
  fragment seen repaired (the repairers' fetch, rebuild, store and confirmation, not the detection);
- **time to full redundancy**: kill → every fragment confirmed on a live node, and the whole as a rate (MB
  rebuilt / that time: detection included).

Times are as polled (``--poll`` apart, 0.5 s by default, plus the reads; a repair shows in the block that
includes its confirmation, so no figure is finer than the 2 s block). Appends the figures to ``benchmarks/RESULTS.md``.

    python benchmarks/storage_repair.py [--size-mb 1024] [--poll 0.5] [--deadline 360] [--no-record]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from devnet import launcher
from devnet.config import DevnetConfig
from devnet.registry import ROLES
from devnet.storage import storage_account
from runtime.keyring import Keypair
from sdk.client import Client
from results import record  # a sibling: the script's folder is on the path

STORAGE_NODES = 6


@dataclass
class Watch:
    """What the polls saw after the kill, in seconds since it."""

    lost: frozenset[tuple[int, int]]
    """The dead node's fragments at the kill: (segment, fragment)."""
    first_miss: float | None = None
    """When the node's record first showed a missed audit."""
    forced_out: float | None = None
    """When the node was first seen forced out (or already deregistered, having nothing left)."""
    repaired: dict[tuple[int, int], float] = field(default_factory=dict)
    """When each lost fragment was first seen confirmed on another node."""
    full: float | None = None
    """When every fragment of the file was first seen confirmed on a live node."""
    poll_s: float = 0.0
    """The median time one poll's reads took (the figures' resolution with ``--poll``, and the 2 s blocks)."""


def watch_repairs(client: Client, file_id: bytes, dead: bytes, lost: frozenset[tuple[int, int]], killed_at: float,
                  poll: float, deadline: float) -> Watch:
    """Poll the file and the nodes until full redundancy (or ``deadline`` seconds after the kill)."""
    seen = Watch(lost)
    reads: list[float] = []
    while (now := time.monotonic() - killed_at) < deadline:
        record = next((node for node in client.storage.nodes() if node.account == dead), None)
        if seen.first_miss is None and (record is None or record.audits_missed):
            seen.first_miss = now
            print(f"  {now:.1f} s: first missed audit", flush=True)
        if seen.forced_out is None and (record is None or record.status != "Active"):
            seen.forced_out = now  # a forced-out node that holds nothing any more is deregistered
            print(f"  {now:.1f} s: forced out", flush=True)
        fragments = client.storage.info(file_id).fragments
        reads.append(time.monotonic() - killed_at - now)
        seen.poll_s = statistics.median(reads)
        for health in fragments:
            key = (health.segment, health.fragment)
            if key in lost and key not in seen.repaired and health.node != dead and health.healthy:
                seen.repaired[key] = now
        if all(health.healthy and health.node != dead for health in fragments):
            seen.full = now
            return seen
        time.sleep(poll)
    return seen


def run(size: int, poll: float, deadline: float, base: Path) -> tuple[Watch, int, str]:
    """Upload, kill, watch. Returns what was seen, the bytes of fragments the dead node held, and its name."""
    config = replace(DevnetConfig.load(None, ROLES), base_path=base / "devnet")
    config = config.with_role("validators", count=1).with_role("storage_nodes", count=STORAGE_NODES)
    config = config.with_role("da_nodes", count=0).with_role("providers", count=0)
    state = launcher.up(config, fresh=True)
    try:
        with Client(state.process("validator-0").url("rpc", "ws"), signer="//Alice") as client:
            started = time.monotonic()
            file_id = client.storage.upload(np.random.default_rng(7).bytes(size))
            print(f"  uploaded {size >> 20} MiB in {time.monotonic() - started:.1f} s", flush=True)
            fragments = client.storage.info(file_id).fragments
            accounts = [Keypair.from_uri(storage_account(i)).public for i in range(STORAGE_NODES)]
            held = [sum(health.node == account for health in fragments) for account in accounts]
            victim = max(range(STORAGE_NODES), key=held.__getitem__)
            dead = accounts[victim]
            used = next(node.used for node in client.storage.nodes() if node.account == dead)
            lost = frozenset((h.segment, h.fragment) for h in fragments if h.node == dead)
            name = f"storage-{victim}"
            launcher.kill(state, name, signal.SIGKILL)
            killed_at = time.monotonic()
            print(f"  killed {name}: {len(lost)} fragments, {used / 1e6:.1f} MB", flush=True)
            return watch_repairs(client, file_id, dead, lost, killed_at, poll, deadline), used, name
    finally:
        launcher.down(config.base_path)


def figures(seen: Watch, used: int, name: str) -> list[tuple[str, str]]:
    """The table's rows: the detection, the rebuild of what the forced exit ordered, the whole."""
    def at(seconds: float | None) -> str:
        return "not seen" if seconds is None else f"{seconds:.1f} s"

    per_fragment = used / len(seen.lost)
    rows = [("killed", f"{name}, holding {len(seen.lost)} fragments, {used / 1e6:.1f} MB"),
            ("kill → first missed audit (its fragment ordered repaired)", at(seen.first_miss)),
            ("kill → forced exit (every fragment left ordered repaired)", at(seen.forced_out))]
    if seen.forced_out is not None:
        early = [t for t in seen.repaired.values() if t < seen.forced_out]
        bulk = [t for t in seen.repaired.values() if t >= seen.forced_out]
        rows.append(("fragments repaired before the forced exit (single misses)", str(len(early))))
        if bulk:
            span = max(bulk) - seen.forced_out
            rows.append(("forced exit → last fragment repaired: rebuild rate",
                         f"{len(bulk) * per_fragment / max(span, 1e-9) / 1e6:.1f} MB/s ({len(bulk)} fragments, "
                         f"{len(bulk) * per_fragment / 1e6:.1f} MB in {span:.1f} s)"))
    rows.append(("kill → full redundancy", f"{at(seen.full)} ({len(seen.repaired)} of {len(seen.lost)} repaired)"))
    if seen.full is not None:
        rows.append(("the whole repair as a rate (detection included)", f"{used / seen.full / 1e6:.2f} MB/s"))
    rows.append(("one poll (the file's fragments and the nodes read over RPC)", f"{seen.poll_s:.2f} s"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between reads of the file and the nodes")
    parser.add_argument("--deadline", type=float, default=360.0, help="give up this many seconds after the kill")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cairn-repair-bench-") as base:
        seen, used, name = run(args.size_mb << 20, args.poll, args.deadline, Path(base))
    rows = figures(seen, used, name)
    table = "| figure | value |\n|---|---|\n" + "".join(f"| {label} | {value} |\n" for label, value in rows)
    print(table)
    if args.no_record:
        return
    record("Storage repair", "every node and the client share its cores, all on loopback", table, notes=[
        f"devnet: 1 validator (2 s slots), {STORAGE_NODES} storage nodes, the local preset's storage timings (a round "
        f"every 10 blocks, 8 to answer, forced exit after 3 misses); a {args.size_mb} MiB private file, the chain's "
        f"default k and m; times as polled every {args.poll:g} s"])


if __name__ == "__main__":
    with launcher.signals_interrupt():  # `kill` and timeouts, not only Ctrl-C, stop what it started
        main()
