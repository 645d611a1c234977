"""Sustained *finalized* transfers/s of a 4-validator devnet on this machine, and submit→finalized latency.

Starts four ``cairn node`` processes on loopback (the devnet launcher, with a spec that endows many
accounts), pre-signs transfers, submits them over WebSocket JSON-RPC in batches at a fixed offered rate
spread over all four nodes (each account always to the same node, in nonce order), and follows the
finalized chain of one node: a transfer counts once the block holding it is finalized. Reports finalized
transfers/s in the steady state (after a warm-up) and p50/p99 latency, samples where the validators' CPU went
(``py-spy`` when installed), and appends everything to ``benchmarks/RESULTS.md``.

    python benchmarks/chain_throughput.py [--rate 1000] [--duration 60] [--accounts 4000]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import websocket

from devnet import launcher
from devnet.config import DevnetConfig
from devnet.registry import ROLES
from devnet.rpc import rpc_call
from node.chain_spec import ChainSpec, preset
from runtime.cairn import CairnRuntime
from runtime.pallets.balances import BalancesGenesis
from runtime.extrinsic import encode_signed, signing_payload
from runtime.hashing import blake2_256
from runtime.primitives import Era
from runtime.keyring import Keypair

RESULTS = Path(__file__).with_name("RESULTS.md")
PY_SPY = Path(sys.executable).with_name("py-spy")
TARGET_TPS, TARGET_P99 = 1000, 6.0
BATCH = 50
WARMUP_S = 10.0
"""The first seconds of submission are not counted: the pipeline (pool, block, finality) is still filling,
so finalizations lag the offered rate by about one latency."""


def _spec(accounts: list[Keypair]) -> ChainSpec:
    base = preset("local")
    endowed = BalancesGenesis(base.genesis["Balances"].balances + tuple((k.public, 10**18) for k in accounts))
    return dataclasses.replace(base, name="Cairn Throughput", id="cairn_throughput",
                               genesis=base.genesis.replace(Balances=endowed))


def rpc(port: int, method: str, params: list | None = None):
    return rpc_call(f"http://127.0.0.1:{port}", method, params, timeout=10)


def _presign(spec: ChainSpec, genesis_hash: bytes, accounts: list[Keypair], per_account: int) -> list[list[bytes]]:
    """Per account, its transfers in nonce order."""
    runtime = CairnRuntime(spec.runtime)
    version = runtime.VERSION
    dest = Keypair.from_uri("//Bob").public
    out = []
    for key in accounts:
        txs = []
        for nonce in range(per_account):
            call = runtime.call_codec.encode(runtime.call("Balances", "transfer_keep_alive", dest=dest, value=10**10))
            payload = signing_payload(call, Era(), nonce, 0, version.spec_version, version.transaction_version,
                                      genesis_hash, genesis_hash)
            txs.append(encode_signed(call, key.public, key.scheme, key.sign(payload), Era(), nonce, 0))
        out.append(txs)
    return out


class Submitter(threading.Thread):
    """Sends its share of transfers to one node at ``rate``/s, in JSON-RPC batches over one WebSocket."""

    def __init__(self, url: str, queue: list[bytes], rate: float, submitted: dict[bytes, float],
                 errors: list[str]) -> None:
        super().__init__(daemon=True)
        self.url, self.queue, self.rate = url, queue, rate
        self.submitted, self.errors = submitted, errors

    def run(self) -> None:
        ws = websocket.create_connection(self.url, timeout=30)
        start = time.monotonic()
        sent = 0
        for i in range(0, len(self.queue), BATCH):
            batch = self.queue[i:i + BATCH]
            due = start + (sent + len(batch)) / self.rate
            time.sleep(max(0.0, due - time.monotonic()))
            now = time.monotonic()
            ws.send(json.dumps([{"jsonrpc": "2.0", "id": j, "method": "author_submitExtrinsic",
                                 "params": ["0x" + xt.hex()]} for j, xt in enumerate(batch)]))
            for reply in json.loads(ws.recv()):
                if "error" in reply:
                    self.errors.append(reply["error"].get("data") or reply["error"]["message"])
            for xt in batch:
                self.submitted[blake2_256(xt)] = now
            sent += len(batch)
        ws.close()


def _follow_finalized(rpc_port: int, submitted: dict[bytes, float], finalized_at: dict[bytes, float],
                      stop: threading.Event) -> None:
    seen = int(rpc(rpc_port, "chain_getHeader", [rpc(rpc_port, "chain_getFinalizedHead")])["number"], 16)
    while not stop.is_set():
        head = int(rpc(rpc_port, "chain_getHeader", [rpc(rpc_port, "chain_getFinalizedHead")])["number"], 16)
        now = time.monotonic()
        for number in range(seen + 1, head + 1):
            block = rpc(rpc_port, "chain_getBlock", [rpc(rpc_port, "chain_getBlockHash", [number])])
            for xt in block["block"]["extrinsics"]:
                finalized_at.setdefault(blake2_256(bytes.fromhex(xt[2:])), now)
        seen = head
        time.sleep(0.2)


STAGES = {
    "block import (execute_block)": "execute_block (",
    "pool validation (validate_transactions)": "validate_transactions (",
    "authoring (author_block)": "author_block (",
    "JSON-RPC (Dispatcher.handle)": "Dispatcher.handle (",
    "network (connections, gossip)": "node/network/",
    "chain store (RocksDB writes)": "node/db/",
}
"""Stages of a validator's work, each named by a frame that marks it in a sampled stack (first match)."""


def _ours(frame: str) -> bool:
    return any(f"/{package}/" in frame for package in ("runtime", "node", "devnet", "sdk", "storage_node"))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (``/proc/<pid>/stat``, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _profile(pid: int, seconds: int) -> str:
    if not PY_SPY.exists():
        return "(py-spy not installed: `pip install py-spy` to sample the validators)"
    with tempfile.NamedTemporaryFile(mode="r", suffix=".txt") as raw:
        out = subprocess.run([str(PY_SPY), "record", "--pid", str(pid), "--duration", str(seconds), "--format", "raw",
                              "--output", raw.name, "--nonblocking", "--gil"], capture_output=True, text=True)
        lines = raw.read().splitlines()
    leaves: dict[str, int] = {}
    stages = dict.fromkeys(STAGES, 0)
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        leaf = next((f for f in reversed(frames) if _ours(f)), frames[-1])
        leaves[leaf] = leaves.get(leaf, 0) + int(count)
        stage = next((name for name, marker in STAGES.items() if any(marker in f for f in frames)), "other")
        stages[stage] = stages.get(stage, 0) + int(count)
    total = sum(leaves.values())
    if not total:
        return f"(py-spy gave no samples: {(out.stderr or out.stdout).strip()[-300:]})"
    by_stage = "\n".join(f"{100 * c / total:5.1f}%  {stage}" for stage, c in stages.items())
    top = sorted(leaves.items(), key=lambda kv: -kv[1])[:12]
    return (f"by stage (samples holding the GIL):\n{by_stage}\n\ninnermost Cairn frame:\n"
            + "\n".join(f"{100 * c / total:5.1f}%  {frame}" for frame, c in top))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="offered transfers/s over all nodes")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of submission")
    parser.add_argument("--accounts", type=int, default=4000)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    total = int(args.rate * args.duration)
    per_account = max(1, -(-total // args.accounts))
    accounts = [Keypair.from_uri("0x" + blake2_256(b"cairn-throughput" + i.to_bytes(4, "little")).hex())
                for i in range(args.accounts)]
    spec = _spec(accounts)
    _, genesis, _ = spec.build()
    print(f"pre-signing {args.accounts * per_account:,} transfers …", flush=True)
    signed = _presign(spec, genesis.hash, accounts, per_account)

    workdir = Path(tempfile.mkdtemp(prefix="cairn-throughput-"))
    count = len(spec.authorities)
    config = dataclasses.replace(DevnetConfig.load(None, ROLES), base_path=workdir).with_role("validators", count=count)
    nodes = launcher.up(config, spec=spec).processes  # every node picks its own free ports
    try:
        for node in nodes:
            launcher.wait_until(lambda n=node: rpc(n.ports["rpc"], "system_health")["peers"] >= 3, 60,
                                f"{node.name} connected")
        launcher.wait_until(lambda: int(rpc(nodes[0].ports["rpc"], "chain_getHeader")["number"], 16) >= 2, 60,
                            "blocks")
        queues: list[list[bytes]] = [[] for _ in nodes]
        for nonce in range(per_account):  # interleave accounts so every node gets a steady stream
            for a, txs in enumerate(signed):
                queues[a % len(nodes)].append(txs[nonce])
        queues = [q[: total // len(nodes)] for q in queues]
        submitted: dict[bytes, float] = {}
        finalized_at: dict[bytes, float] = {}
        errors: list[str] = []
        stop = threading.Event()
        follower = threading.Thread(target=_follow_finalized,
                                    args=(nodes[0].ports["rpc"], submitted, finalized_at, stop), daemon=True)
        follower.start()
        started = time.monotonic()
        cpu_before = [_cpu_seconds(n.pid) for n in nodes], _own_cpu_seconds()
        submitters = [Submitter(n.url("rpc", "ws"), q, args.rate / len(nodes), submitted, errors)
                      for n, q in zip(nodes, queues)]
        for s in submitters:
            s.start()
        profile = _profile(nodes[1].pid, int(min(20, args.duration / 2)))
        for s in submitters:
            s.join()
        submit_end = time.monotonic()
        cpu_after = [_cpu_seconds(n.pid) for n in nodes], _own_cpu_seconds()
        deadline = submit_end + 30
        while time.monotonic() < deadline and len([h for h in submitted if h in finalized_at]) < len(submitted):
            time.sleep(0.5)
        stop.set()
        follower.join(5)
    except BaseException:
        for node in nodes:
            print(f"--- {node.name} log (tail) ---\n" + Path(node.log).read_text()[-1500:])
        raise
    finally:
        launcher.down(workdir)
        shutil.rmtree(workdir, ignore_errors=True)

    done = {h: finalized_at[h] - t for h, t in submitted.items() if h in finalized_at}
    elapsed = submit_end - started
    steady_from = started + min(WARMUP_S, elapsed / 2)
    window = [h for h in submitted if steady_from <= finalized_at.get(h, math.inf) <= submit_end]
    tps = len(window) / (submit_end - steady_from)
    validator_cpu = [after - before for before, after in zip(cpu_before[0], cpu_after[0])]
    client_cpu = cpu_after[1] - cpu_before[1]
    latencies = sorted(done.values())
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan")
    verdict = "met" if tps >= TARGET_TPS and p99 <= TARGET_P99 else "MISSED"
    summary = (
        f"- offered {args.rate:,.0f} transfers/s for {args.duration:.0f} s over 4 validators "
        f"({len(submitted):,} submitted, {len(errors):,} refused at submission)\n"
        f"- **finalized: {tps:,.0f} transfers/s** sustained (finalized from {WARMUP_S:.0f} s into submission to its "
        f"end); {len(done):,} of {len(submitted):,} finalized by the end\n"
        f"- submit→finalized latency: p50 {p50:.2f} s, p99 {p99:.2f} s\n"
        f"- target >= {TARGET_TPS:,}/s sustained with p99 <= {TARGET_P99:.0f} s: {verdict}\n"
        f"- CPU while submitting ({os.cpu_count()} cores × {elapsed:.0f} s = {os.cpu_count() * elapsed:.0f} core-s): "
        f"validators {', '.join(f'{c:.1f}' for c in validator_cpu)} core-s, this benchmark (submitters and "
        f"follower) {client_cpu:.1f} core-s; {1000 * sum(validator_cpu) / max(1, len(submitted)):.2f} ms of validator "
        f"CPU per submitted transfer\n"
    )
    print(summary)
    print(profile)
    if errors:
        print("first refusals:", errors[:5])
    if args.no_record:
        return
    with RESULTS.open("a") as out:
        out.write(
            f"\n## Chain throughput — {datetime.datetime.now().isoformat(timespec='seconds')}\n\n"
            f"- machine: {platform.machine()}, {platform.processor() or 'cpu'}, Linux {platform.release()}, "
            f"Python {platform.python_version()}; all 4 validators, the submitters and the follower share its cores\n"
            f"- command: `python benchmarks/chain_throughput.py --rate {args.rate:.0f} --duration {args.duration:.0f} "
            f"--accounts {args.accounts}`\n{summary}\n"
            f"Where one validator's CPU went (py-spy):\n\n```\n{profile}\n```\n")


if __name__ == "__main__":
    main()
