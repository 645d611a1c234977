"""The SDK's chain client against ``substrate-interface``, side by side in one run on one dev node.

1. Transfers/s one client submits and watches to inclusion, each with its receipt (``is_success``, events,
   fee). This client: many transfers in flight at once from several accounts (the nonce manager counts
   each account's nonces), and, for comparison, one at a time. substrate-interface: one at a time, which
   is all one of its clients can do (``submit_extrinsic(wait_for_inclusion=True)`` blocks its connection
   until the block).
2. Decoding 1,000 events: ``System.Events`` bytes made of real records from the blocks of step 1, decoded
   by the runtime's own codec (what this client does) and by substrate-interface's metadata-driven decoder.

Starts its own ``cairn node --dev`` on loopback ports and appends the figures to ``benchmarks/RESULTS.md``.

    python benchmarks/sdk_client.py [--transfers 3000] [--in-flight 1000] [--sequential 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from scalecodec import ScaleBytes
from substrateinterface import Keypair as SubstrateKeypair
from substrateinterface import SubstrateInterface

from devnet.launcher import signals_interrupt
from runtime.keyring import Keypair
from sdk.chain import AsyncClient, ExtrinsicReceipt, ReconnectPolicy

RESULTS = Path(__file__).with_name("RESULTS.md")
SENDERS = ("//Alice", "//Charlie", "//Dave", "//Eve", "//Ferdie")
DEST = Keypair.from_uri("//Bob")
VALUE = 10**12
EVENTS = 1000
DECODE_ROUNDS = 5
NODE_START = ReconnectPolicy(give_up_after=60)
"""Connecting waits for the node to come up: the client retries until it answers."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _wait_for_finality(url: str) -> None:
    async with AsyncClient(url, reconnect=NODE_START) as client:
        with anyio.fail_after(60):
            async with client.subscribe_finalized_heads() as heads:
                async for header in heads:
                    if header.number >= 1:
                        return


async def _ours_concurrent(url: str, transfers: int, in_flight: int) -> tuple[float, float, list[ExtrinsicReceipt]]:
    """(wall seconds, this process's CPU seconds, receipts): the node runs in its own process."""
    receipts: list[ExtrinsicReceipt] = []
    async with AsyncClient(url) as client:
        call = client.compose_call("Balances", "transfer_keep_alive", {"dest": DEST, "value": VALUE})
        senders = [Keypair.from_uri(s) for s in SENDERS]
        limit = anyio.Semaphore(in_flight)

        async def transfer(i: int) -> None:
            async with limit:
                receipts.append(await client.sign_and_submit(call, senders[i % len(senders)], wait_for_inclusion=True))

        started, cpu = time.perf_counter(), time.process_time()
        async with anyio.create_task_group() as tg:
            for i in range(transfers):
                tg.start_soon(transfer, i)
        return time.perf_counter() - started, time.process_time() - cpu, receipts


async def _ours_sequential(url: str, transfers: int) -> float:
    async with AsyncClient(url) as client:
        call = client.compose_call("Balances", "transfer_keep_alive", {"dest": DEST, "value": VALUE})
        started = time.perf_counter()
        for _ in range(transfers):
            receipt = await client.sign_and_submit(call, SENDERS[0], wait_for_inclusion=True)
            assert receipt.is_success, receipt.error_message
        return time.perf_counter() - started


def _theirs_sequential(substrate: SubstrateInterface, transfers: int) -> float:
    keypair = SubstrateKeypair.create_from_uri(SENDERS[1])
    call = substrate.compose_call("Balances", "transfer_keep_alive", {"dest": DEST.ss58_address(), "value": VALUE})
    started = time.perf_counter()
    for _ in range(transfers):
        receipt = substrate.submit_extrinsic(substrate.create_signed_extrinsic(call, keypair), wait_for_inclusion=True)
        assert receipt.is_success, receipt.error_message
    return time.perf_counter() - started


async def _events_blob(url: str, receipts: list[ExtrinsicReceipt]) -> bytes:
    """``Vec<EventRecord>`` bytes of the first :data:`EVENTS` records of the blocks the transfers landed in."""
    async with AsyncClient(url) as client:
        key = client.create_storage_key("System", "Events")
        records: list = []
        for block_hash in dict.fromkeys(r.block_hash for r in receipts):
            raw = bytes.fromhex((await client.rpc_request("state_getStorage", ["0x" + key.hex(), "0x" + block_hash.hex()]))[2:])
            records.extend(client.runtime.events_codec.decode(raw))
            if len(records) >= EVENTS:
                break
        if len(records) < EVENTS:
            raise SystemExit(f"only {len(records)} events in the benchmark's blocks; run more --transfers")
        return client.runtime.events_codec.encode(records[:EVENTS])


async def _decode_ours(url: str, blob: bytes) -> list[float]:
    async with AsyncClient(url) as client:
        times = []
        for _ in range(DECODE_ROUNDS):
            started = time.perf_counter()
            events = client.view.decode_events(blob)
            times.append(time.perf_counter() - started)
        assert len(events) == EVENTS
        return times


def _decode_theirs(substrate: SubstrateInterface, blob: bytes) -> list[float]:
    substrate.init_runtime()
    type_string = substrate.get_metadata_storage_function("System", "Events").get_value_type_string()
    times = []
    for _ in range(DECODE_ROUNDS):
        started = time.perf_counter()
        decoded = substrate.runtime_config.create_scale_object(type_string, data=ScaleBytes(blob),
                                                               metadata=substrate.metadata)
        decoded.decode()
        times.append(time.perf_counter() - started)
    assert len(decoded.value) == EVENTS
    return times


def _machine() -> str:
    machine = f"{platform.machine()}, Linux {platform.release()}, Python {platform.python_version()}"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        return machine
    return f"{cpu}, {os.cpu_count()} CPUs; {machine}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=3000, help="transfers this client makes concurrently")
    parser.add_argument("--in-flight", type=int, default=1000,
                        help="most transfers in flight at once (each is a watch: the node allows 1024 per connection)")
    parser.add_argument("--sequential", type=int, default=5, help="transfers each client makes one at a time")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="cairn-sdk-bench-"))
    rpc_port = _free_port()
    url = f"ws://127.0.0.1:{rpc_port}"
    log = (workdir / "node.log").open("wb")
    node = subprocess.Popen([sys.executable, "-m", "node", "--dev", "--base-path", str(workdir / "data"),
                             "--rpc-port", str(rpc_port), "--port", str(_free_port())],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        anyio.run(_wait_for_finality, url)
        substrate = SubstrateInterface(url=url)
        print(f"{args.transfers} transfers, up to {args.in_flight} in flight, with the SDK client …", flush=True)
        concurrent_s, client_cpu_s, receipts = anyio.run(_ours_concurrent, url, args.transfers, args.in_flight)
        failed = sum(not r.is_success for r in receipts)
        blocks = len({r.block_hash for r in receipts})
        print(f"{args.sequential} transfers one at a time with each client …", flush=True)
        ours_seq_s = anyio.run(_ours_sequential, url, args.sequential)
        theirs_seq_s = _theirs_sequential(substrate, args.sequential)
        print(f"decoding {EVENTS} events …", flush=True)
        blob = anyio.run(_events_blob, url, receipts)
        ours_decode = statistics.median(anyio.run(_decode_ours, url, blob))
        theirs_decode = statistics.median(_decode_theirs(substrate, blob))
        substrate.close()
    except BaseException:
        print("--- node log (tail) ---\n" + (workdir / "node.log").read_text()[-2000:])
        raise
    finally:
        os.killpg(node.pid, signal.SIGTERM)
        node.wait(30)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)

    ours_tps = args.transfers / concurrent_s
    summary = (
        f"- submit and watch to inclusion, with receipts, one client: **SDK {ours_tps:,.0f} transfers/s** "
        f"({args.transfers:,} transfers from {len(SENDERS)} accounts, up to {args.in_flight} in flight, "
        f"{concurrent_s:.1f} s, {blocks} blocks, {failed} failed); the client used {1000 * client_cpu_s / args.transfers:.2f} "
        f"ms of CPU per transfer (signing, JSON-RPC, receipts: {args.transfers / client_cpu_s:,.0f}/s on one core), "
        f"so here the node sets the rate\n"
        f"- one at a time ({args.sequential} each, bounded by the 2 s slot): SDK "
        f"{args.sequential / ours_seq_s:.2f}/s, substrate-interface {args.sequential / theirs_seq_s:.2f}/s "
        f"(the SDK with transfers in flight: {ours_tps / (args.sequential / theirs_seq_s):,.0f}x substrate-interface's rate)\n"
        f"- decode {EVENTS:,} events (`System.Events` of real transfer blocks, median of {DECODE_ROUNDS}): "
        f"**SDK {1000 * ours_decode:.1f} ms**, substrate-interface {1000 * theirs_decode:.1f} ms "
        f"({theirs_decode / ours_decode:.0f}x faster)\n"
    )
    print(summary)
    if args.no_record:
        return
    with RESULTS.open("a") as out:
        out.write(
            f"\n## SDK chain client vs substrate-interface — {datetime.datetime.now().isoformat(timespec='seconds')}\n\n"
            f"- machine: {_machine()}; the dev node, the clients and this script share its cores\n"
            f"- command: `python benchmarks/sdk_client.py --transfers {args.transfers} --in-flight {args.in_flight} "
            f"--sequential {args.sequential}`\n"
            f"- node: `cairn node --dev` (one validator, 2 s slots), `Balances.transfer_keep_alive` to an existing "
            f"account; substrate-interface 1.8.1 over the same WebSocket\n{summary}"
        )


if __name__ == "__main__":
    with signals_interrupt():  # `kill` and timeouts, not only Ctrl-C, stop what it started
        main()
