"""What one abusive RPC client costs a real ``cairn node --dev``: the figures of Cairn issue 15, section 3.

Starts a dev node (or, with ``--devnet``, four validators, abusing the first) and, while an honest client on its own WebSocket calls ``chain_getHeader`` every 0.1 s
throughout, runs each abuse of the issue against it in turn:

- ``system_accountNextIndex`` with a 120,000-character address (target: answered within 1 s);
- ``chain_getBlockHash`` with a 1,000,000-element list (target: answered within 5 s);
- 150 TCP connections that send nothing, then a new client (target: served within 15 s);
- a WebSocket client that sends 400 batches of 100 ``state_getMetadata`` and never reads, for 20 s
  (target: the node's RSS, ``/proc/<pid>/status`` VmRSS, grows by less than 300 MB);
- a client that subscribes to new heads 300 times on one connection and reads (target: all 300 confirmed,
  each told of a later block, the connection kept);

and reports the honest client's longest wait (target: at most 1 s) and whether the node is still running.
Prints the figures and appends them to ``benchmarks/RESULTS.md``.

    python benchmarks/rpc_abuse.py [--devnet] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import websocket

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devnet.launcher import signals_interrupt
from tests.integration.nodes import NodeProcess, wait_until
from tests.integration.test_rpc_limits import (
    HonestClient,
    call,
    flood_without_reading,
    post,
    start_dev_node,
)
from tests.integration.test_validators import start_network
from results import record  # noqa: E402  (a sibling: the script's folder is on the path)

MB = 1_000_000
FLOOD_SECONDS = 20.0


class Row:
    """One measured figure against its target."""

    def __init__(self, what: str, measured: str, target: str, met: bool) -> None:
        self.what, self.measured, self.target, self.met = what, measured, target, met


def _answered(what: str, method: str, params: list, node: NodeProcess, within: float) -> Row:
    started = time.monotonic()
    answer = post(node.rpc_port, call(method, params))
    elapsed = time.monotonic() - started
    outcome = f"error {answer['error']['code']}" if "error" in answer else "result"
    return Row(what, f"{outcome} in {elapsed:.2f} s", f"answered within {within:.0f} s", elapsed <= within)


def long_address(node: NodeProcess) -> Row:
    return _answered("120k-character address", "system_accountNextIndex", ["5" * 120_000], node, 1.0)


def block_hash_list(node: NodeProcess) -> Row:
    return _answered("1,000,000-element chain_getBlockHash", "chain_getBlockHash", [list(range(1_000_000))], node, 5.0)


def silent_connections(node: NodeProcess) -> Row:
    silent = [socket.create_connection(("127.0.0.1", node.rpc_port), timeout=30) for _ in range(150)]
    try:
        started = time.monotonic()
        post(node.rpc_port, call("system_health", []), timeout=30)
        elapsed = time.monotonic() - started
    finally:
        for sock in silent:
            sock.close()
    return Row("new client after 150 silent connections", f"served in {elapsed:.2f} s", "within 15 s",
               elapsed <= 15.0)


def never_reading_flood(node: NodeProcess) -> Row:
    sent, before, peak = flood_without_reading(node, FLOOD_SECONDS)
    growth = (peak - before) / MB
    return Row("never-reading client, 400 batches x 100 state_getMetadata",
               f"RSS {before / MB:.0f} -> {peak / MB:.0f} MB (+{growth:.0f} MB) in {FLOOD_SECONDS:.0f} s; "
               f"{sent} of 400 batches sent before the client's sends blocked", "grows < 300 MB", growth < 300)


def many_subscriptions(node: NodeProcess) -> Row:
    start = node.best()
    ws = websocket.create_connection(f"ws://127.0.0.1:{node.rpc_port}", timeout=30)
    ids: set[str] = set()
    newer: set[str] = set()
    try:
        for i in range(300):
            ws.send(json.dumps(call("chain_subscribeNewHeads", [], id=i)))
        while len(ids) < 300 or not ids <= newer:
            message = json.loads(ws.recv())
            if "id" in message:
                ids.add(message["result"])
            elif int(message["params"]["result"]["number"], 16) > start:
                newer.add(message["params"]["subscription"])
        kept = True
    except (websocket.WebSocketException, OSError):
        kept = False
    finally:
        ws.close()
    return Row("300 head subscriptions, reading", f"{len(ids)} confirmed, {len(newer & ids)} told of a later block, "
               f"connection {'kept' if kept else 'DROPPED'}", "all 300, kept", kept and len(ids & newer) == 300)


SCENARIOS: list[Callable[[NodeProcess], Row]] = [
    long_address, block_hash_list, silent_connections, never_reading_flood, many_subscriptions,
]


def run(devnet: bool) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="rpc-abuse-") as tmp:
        nodes = start_network(Path(tmp)) if devnet else [start_dev_node(Path(tmp))]
        node = nodes[0]
        if devnet:
            wait_until(lambda: node.finalized() >= 1, 60, "finality on the devnet")
        try:
            with HonestClient(node.rpc_port) as honest:
                for scenario in SCENARIOS:
                    since = time.monotonic()
                    row = scenario(node)
                    worst = honest.longest_wait(since)
                    row.measured += f"; honest client's longest wait {worst:.2f} s"
                    row.met = row.met and worst <= 1.0
                    rows.append(row)
                    print(f"{row.what}: {row.measured} ({'met' if row.met else 'MISSED'})", flush=True)
            worst = honest.longest_wait()
            alive = node.process is not None and node.process.poll() is None
            rows.append(Row("honest client, chain_getHeader every 0.1 s throughout",
                            f"{len(honest.waits)} calls, longest wait {worst:.2f} s"
                            + ("" if honest.failure is None else f", FAILED: {honest.failure!r}"),
                            "never waits more than 1 s", worst <= 1.0 and honest.failure is None))
            rows.append(Row("node", "still running" if alive else "EXITED", "never exits", alive))
        finally:
            for each in nodes:
                each.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", action="store_true", help="print only, do not append to RESULTS.md")
    parser.add_argument("--devnet", action="store_true",
                        help="abuse one validator of a 4-validator network (authoring, voting, gossiping) "
                             "instead of a single dev node")
    args = parser.parse_args()
    rows = run(args.devnet)
    table = "\n".join(f"| {r.what} | {r.measured} | {r.target} | {'met' if r.met else 'MISSED'} |" for r in rows)
    print(f"\n{table}")
    if args.no_record:
        return
    record("RPC abuse (issue 15, section 3)", "the node, the abuser and the honest client share its cores",
           f"| abuse | measured | target | |\n|---|---|---|---|\n{table}\n",
           notes=[f"{'validator 1 of a 4-validator network' if args.devnet else 'one `cairn node --dev`'}, "
                  f"default RPC limits"])


if __name__ == "__main__":
    with signals_interrupt():  # `kill` and timeouts, not only Ctrl-C, stop what it started
        main()
