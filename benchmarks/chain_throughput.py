"""Sustained *finalized* transfers/s of a 4-validator devnet on this machine, submit→finalized latency, and how
the chain holds up when offered more than it can take.

Starts four ``cairn node`` processes on loopback (the devnet launcher, with a spec that endows many accounts),
pre-signs transfers, and offers them over WebSocket JSON-RPC at a fixed rate spread over all four nodes (each
account always to the same node). The clients behave like wallets: an account submits its transfers in nonce
order, one at a time, and one the pool refuses (1016: full; 1014: its nonce is taken) is resubmitted after an
exponential backoff, before any later transfer of that account, so a refusal never leaves a nonce gap. The
benchmark follows the finalized chain of one node: a transfer counts once the block holding it is finalized,
its latency measured from the moment it was offered (so resubmissions count against it).

    python benchmarks/chain_throughput.py [--rate 1000] [--duration 60] [--accounts 4000]
    python benchmarks/chain_throughput.py --sweep [--duration 60] [--accounts 4000]

``--rate`` offers one rate and reports finalized transfers/s in the steady state (after a warm-up), p50/p99
latency and where one validator's CPU went (``py-spy``, from the ``dev`` extra). ``--sweep`` finds the
*capacity*, the highest offered rate at which at least 95% of what was offered is finalized with p99 <= 6 s
(probes of ``PROBE_S``, each on a fresh devnet: steps of 25% from ``--rate`` until the verdict changes, then
two bisections), then offers 1.5x and 2x the capacity for ``--duration`` and reports the finalized rate of each
as a share of the capacity (goal: at least 90%). Both append their figures to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import heapq
import itertools
import json
import math
import os
import random
import select
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
from devnet.state import ProcessRecord
from node.chain_spec import ChainSpec, preset
from runtime.cairn import CairnRuntime
from runtime.pallets.balances import BalancesGenesis
from runtime.extrinsic import encode_signed, signing_payload
from runtime.hashing import blake2_256
from runtime.primitives import Era
from runtime.keyring import Keypair
from cpu import own_cpu_seconds, process_cpu_seconds  # a sibling: the script's folder is on the path
from results import record  # a sibling too

PY_SPY = Path(sys.executable).with_name("py-spy")
TARGET_TPS, TARGET_P99 = 1000, 6.0
CAPACITY_SHARE = 0.95
"""Share of the offered transfers finalized (with p99 <= ``TARGET_P99``) for a rate to be within capacity."""
OVERLOAD_GOAL = 0.90
"""Share of the capacity still finalized per second when offered 1.5x and 2x of it."""
BATCH = 50
SEND_INTERVAL_S = 0.05
"""Transfers due are sent together at most this often (sooner once a batch is full), in batches of ``BATCH``."""
MAX_BATCHES_IN_FLIGHT = 8
"""JSON-RPC batches a connection has sent and not had answered (a node runs 32 calls per connection at once)."""
WARMUP_S = 10.0
"""The first seconds of submission are not counted: the pipeline (pool, block, finality) is still filling,
so finalizations lag the offered rate by about one latency."""
DRAIN_S = 15.0
"""After the last offer, how long refused transfers are still resubmitted and finalizations still counted."""
BACKOFF_S, MAX_BACKOFF_S = 0.5, 8.0
"""A refused transfer waits ``BACKOFF_S * 2**(refusals - 1)`` (at most ``MAX_BACKOFF_S``), less up to half at
random so that wallets refused together do not come back together."""
RESUBMIT = {1014, 1016}
"""Refusals a wallet answers by resubmitting later: the pool is full, or another transaction holds the nonce."""
POOLED = {1012, 1013}
"""Refusals that mean the transfer is in (or just left for a block from) the pool already."""
PROBE_S = 30.0
SWEEP_STEP, SWEEP_BISECTIONS, SWEEP_MAX_PROBES = 1.25, 2, 10
OVERLOADS = (1.5, 2.0)


def _spec(accounts: list[Keypair]) -> ChainSpec:
    base = preset("local")
    endowed = BalancesGenesis(base.genesis["Balances"].balances + tuple((k.public, 10**18) for k in accounts))
    return dataclasses.replace(base, name="Cairn Throughput", id="cairn_throughput",
                               genesis=base.genesis.replace(Balances=endowed))


def rpc(port: int, method: str, params: list | None = None):
    return rpc_call(f"http://127.0.0.1:{port}", method, params, timeout=10)


class Signed:
    """Transfers pre-signed per account in nonce order from 0, as many as the runs so far needed: every run
    starts a fresh chain of the same spec, so the same bytes serve them all."""

    def __init__(self, spec: ChainSpec, accounts: list[Keypair]) -> None:
        runtime = CairnRuntime(spec.runtime)
        self.spec, self.accounts = spec, accounts
        self._version = runtime.VERSION
        self._genesis_hash = spec.build()[1].hash
        dest = Keypair.from_uri("//Bob").public
        self._call = runtime.call_codec.encode(runtime.call("Balances", "transfer_keep_alive", dest=dest, value=10**10))
        self._by_account: list[list[bytes]] = [[] for _ in accounts]

    def first(self, per_account: int) -> list[list[bytes]]:
        """Each account's first ``per_account`` transfers."""
        version, genesis, call = self._version, self._genesis_hash, self._call
        for key, txs in zip(self.accounts, self._by_account):
            for nonce in range(len(txs), per_account):
                payload = signing_payload(call, Era(), nonce, 0, version.spec_version, version.transaction_version,
                                          genesis, genesis)
                txs.append(encode_signed(call, key.public, key.scheme, key.sign(payload), Era(), nonce, 0))
        return [txs[:per_account] for txs in self._by_account]


@dataclasses.dataclass(eq=False)
class Transfer:
    raw: bytes
    hash: bytes
    offered_at: float = math.inf


@dataclasses.dataclass(eq=False)
class Wallet:
    """One account's offered transfers not yet pooled, in nonce order. Only the first is submitted; a refused one
    is resubmitted after a backoff before any later one goes, so the account never leaves a nonce gap."""

    waiting: collections.deque[Transfer] = dataclasses.field(default_factory=collections.deque)
    busy: bool = False
    """Its first transfer is being submitted, or waits to be resubmitted."""
    refusals: int = 0
    """Refusals of its first transfer so far (the backoff's exponent)."""


class Submitter(threading.Thread):
    """One node's wallets: offers their transfers (each account's in turn) at ``rate``/s from ``start`` over one
    WebSocket, in pipelined JSON-RPC batches, resubmitting refused ones after a backoff, until every transfer
    is pooled or ``stop_at``."""

    def __init__(self, url: str, transfers: list[list[Transfer]], count: int, rate: float, start: float,
                 stop_at: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.url, self.start_at, self.stop_at = url, start, stop_at
        wallets = [Wallet() for _ in transfers]
        offers = ((w, t) for per_nonce in itertools.zip_longest(*transfers) for w, t in zip(wallets, per_nonce) if t)
        self.schedule = list(itertools.islice(offers, count))
        for i, (_, transfer) in enumerate(self.schedule):
            transfer.offered_at = start + i / rate
        self.refused: collections.Counter[int] = collections.Counter()
        self.submissions = 0
        self.errors: list[str] = []
        self._rng = random.Random(seed)
        self._sendable: list[Wallet] = []
        self._resubmit: list[tuple[float, int, Wallet]] = []  # heap of (when, tie-breaker, wallet)
        self._outstanding: dict[int, Wallet] = {}  # JSON-RPC id -> the wallet whose first transfer it submits
        self._batches = 0
        self._flush_at = 0.0
        self._ids = itertools.count()

    def run(self) -> None:
        ws = websocket.create_connection(self.url, timeout=30)
        try:
            offered = 0
            while (now := time.monotonic()) < self.stop_at:
                while offered < len(self.schedule) and self.schedule[offered][1].offered_at <= now:
                    self._offer(*self.schedule[offered])
                    offered += 1
                while self._resubmit and self._resubmit[0][0] <= now:
                    self._sendable.append(heapq.heappop(self._resubmit)[2])
                if len(self._sendable) >= BATCH or self._sendable and now >= self._flush_at:
                    while self._sendable and self._batches < MAX_BATCHES_IN_FLIGHT:
                        self._send(ws)
                    self._flush_at = now + SEND_INTERVAL_S
                if offered == len(self.schedule) and not (self._outstanding or self._resubmit or self._sendable):
                    return  # every transfer pooled
                wake = min(self.schedule[offered][1].offered_at if offered < len(self.schedule) else math.inf,
                           self._resubmit[0][0] if self._resubmit else math.inf,
                           self._flush_at if self._sendable and self._batches < MAX_BATCHES_IN_FLIGHT else math.inf,
                           self.stop_at)
                if self._batches and select.select([ws.sock], [], [], max(0.0, wake - now))[0]:
                    self._answers(json.loads(ws.recv()))
                elif not self._batches:
                    time.sleep(max(0.0, wake - now))
        finally:
            ws.close()

    def _offer(self, wallet: Wallet, transfer: Transfer) -> None:
        wallet.waiting.append(transfer)
        if not wallet.busy:
            wallet.busy = True
            self._sendable.append(wallet)

    def _send(self, ws: websocket.WebSocket) -> None:
        batch, self._sendable = self._sendable[:BATCH], self._sendable[BATCH:]
        calls = []
        for wallet in batch:
            call_id = next(self._ids)
            self._outstanding[call_id] = wallet
            calls.append({"jsonrpc": "2.0", "id": call_id, "method": "author_submitExtrinsic",
                          "params": ["0x" + wallet.waiting[0].raw.hex()]})
        ws.send(json.dumps(calls))
        self._batches += 1
        self.submissions += len(batch)

    def _answers(self, replies: list[dict] | dict) -> None:
        if not isinstance(replies, list):  # the whole batch refused: a bug of this benchmark, or a node gone wrong
            raise RuntimeError(f"{self.url} refused a batch: {replies}")
        self._batches -= 1
        now = time.monotonic()
        for reply in replies:
            wallet = self._outstanding.pop(reply["id"])
            code = reply["error"]["code"] if "error" in reply else None
            if code in RESUBMIT:
                self.refused[code] += 1
                wallet.refusals += 1
                delay = min(MAX_BACKOFF_S, BACKOFF_S * 2 ** (wallet.refusals - 1)) * self._rng.uniform(0.5, 1.0)
                heapq.heappush(self._resubmit, (now + delay, reply["id"], wallet))
                continue
            if code is not None and code not in POOLED:  # not a wallet's to fix: give this transfer up
                self.errors.append(reply["error"].get("data") or reply["error"]["message"])
            wallet.waiting.popleft()
            wallet.refusals = 0
            if wallet.waiting:
                self._sendable.append(wallet)
            else:
                wallet.busy = False


def _follow_finalized(rpc_port: int, finalized_at: dict[bytes, float], stop: threading.Event) -> None:
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
    "refusals before validation (decode)": "_priority_before_validation (",
    "pool upkeep (prune, best, submit)": "node/txpool.py",
    "JSON-RPC (Dispatcher.handle)": "Dispatcher.handle (",
    "network (connections, gossip)": "node/network/",
    "chain store (RocksDB writes)": "node/db/",
}
"""Stages of a validator's work, each named by a frame that marks it in a sampled stack (first match)."""


def _ours(frame: str) -> bool:
    return any(f"/{package}/" in frame for package in ("runtime", "node", "devnet", "sdk", "storage_node"))


def _profile(pid: int, seconds: int) -> str:
    if not PY_SPY.exists():
        return "(py-spy not installed: `pip install -e .[dev]` to sample the validators)"
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


@dataclasses.dataclass(frozen=True)
class RunResult:
    rate: float
    duration: float
    offered: int
    finalized: int
    """Offered transfers finalized by the end of the drain."""
    finalized_rate: float
    """Transfers finalized per second from ``WARMUP_S`` into submission to its end."""
    p50: float
    p99: float
    """Offer→finalized latency of the finalized transfers."""
    submissions: int
    refused: dict[int, int]
    """Submissions refused and resubmitted later, by error code."""
    errors: list[str]
    validator_cpu: list[float]
    client_cpu: float
    elapsed: float
    profile: str

    @property
    def share(self) -> float:
        return self.finalized / max(1, self.offered)

    @property
    def within_capacity(self) -> bool:
        return self.share >= CAPACITY_SHARE and self.p99 <= TARGET_P99

    def line(self) -> str:
        refused = ", ".join(f"{n:,} × {code}" for code, n in sorted(self.refused.items())) or "none"
        return (f"offered {self.rate:,.0f}/s for {self.duration:.0f} s: {self.finalized:,} of {self.offered:,} "
                f"finalized ({100 * self.share:.1f}%), {self.finalized_rate:,.0f}/s in the steady state, p50 "
                f"{self.p50:.2f} s, p99 {self.p99:.2f} s; {self.submissions:,} submissions, refused {refused}")


def run(signed: Signed, rate: float, duration: float, *, profile_s: int = 0) -> RunResult:
    """Offer ``rate`` transfers/s for ``duration`` s to a fresh devnet, and measure what it finalizes."""
    total = int(rate * duration)
    accounts = len(signed.accounts)
    raws = signed.first(max(1, -(-total // accounts)))
    workdir = Path(tempfile.mkdtemp(prefix="cairn-throughput-"))
    count = len(signed.spec.authorities)
    config = dataclasses.replace(DevnetConfig.load(None, ROLES), base_path=workdir).with_role("validators", count=count)
    for section in ("storage_nodes", "da_nodes", "providers", "dashboard"):  # the chain alone, as before the data layers
        config = config.with_role(section, count=0)
    nodes = launcher.up(config, spec=signed.spec).processes  # every node picks its own free ports
    try:
        for node in nodes:
            launcher.wait_until(lambda n=node: rpc(n.ports["rpc"], "system_health")["peers"] >= 3, 60,
                                f"{node.name} connected")
        launcher.wait_until(lambda: int(rpc(nodes[0].ports["rpc"], "chain_getHeader")["number"], 16) >= 2, 60,
                            "blocks")
        return _measure(nodes, raws, rate, duration, total, profile_s)
    except BaseException:
        for node in nodes:
            print(f"--- {node.name} log (tail) ---\n" + Path(node.log).read_text()[-1500:])
        raise
    finally:
        launcher.down(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def _measure(nodes: tuple[ProcessRecord, ...], raws: list[list[bytes]], rate: float, duration: float, total: int,
             profile_s: int) -> RunResult:
    start = time.monotonic() + 0.5
    end, stop_at = start + duration, start + duration + DRAIN_S
    transfers = [[Transfer(raw, blake2_256(raw)) for raw in txs] for txs in raws]
    submitters = [Submitter(node.url("rpc", "ws"), transfers[i::len(nodes)], total // len(nodes), rate / len(nodes),
                            start, stop_at, seed=i) for i, node in enumerate(nodes)]
    offered = [t for s in submitters for _, t in s.schedule]
    finalized_at: dict[bytes, float] = {}
    stop = threading.Event()
    follower = threading.Thread(target=_follow_finalized, args=(nodes[0].ports["rpc"], finalized_at, stop), daemon=True)
    follower.start()
    cpu_before = [process_cpu_seconds(n.pid) for n in nodes], own_cpu_seconds()
    for s in submitters:
        s.start()
    profile = ""
    if profile_s:  # in the steady state
        time.sleep(max(0.0, start + min(WARMUP_S, duration / 2) - time.monotonic()))
        profile = _profile(nodes[1].pid, profile_s)
    time.sleep(max(0.0, end - time.monotonic()))
    cpu_after = [process_cpu_seconds(n.pid) for n in nodes], own_cpu_seconds()
    while time.monotonic() < stop_at and not all(t.hash in finalized_at for t in offered):
        time.sleep(0.5)
    stop.set()
    for s in submitters:
        s.join(5)
    follower.join(5)

    latencies = sorted(finalized_at[t.hash] - t.offered_at for t in offered if t.hash in finalized_at)
    steady_from = start + min(WARMUP_S, duration / 2)
    in_window = sum(1 for t in offered if steady_from <= finalized_at.get(t.hash, math.inf) <= end)
    refused: collections.Counter[int] = collections.Counter()
    for s in submitters:
        refused.update(s.refused)
    return RunResult(
        rate, duration, len(offered), len(latencies), in_window / (end - steady_from),
        statistics.median(latencies) if latencies else math.nan,
        latencies[int(0.99 * (len(latencies) - 1))] if latencies else math.nan,
        sum(s.submissions for s in submitters), dict(refused), [e for s in submitters for e in s.errors],
        [after - before for before, after in zip(cpu_before[0], cpu_after[0])], cpu_after[1] - cpu_before[1],
        end - start, profile)


def _cpu_line(result: RunResult) -> str:
    cores = os.cpu_count()
    return (f"CPU while offering ({cores} cores × {result.elapsed:.0f} s = {cores * result.elapsed:.0f} core-s): "
            f"validators {', '.join(f'{c:.1f}' for c in result.validator_cpu)} core-s, this benchmark (wallets and "
            f"follower) {result.client_cpu:.1f} core-s; {1000 * sum(result.validator_cpu) / max(1, result.finalized):.2f} "
            f"ms of validator CPU per finalized transfer")


def _record(title: str, arguments: str, summary: str, profiled: str, profile: str) -> None:
    """Append a run's figures to ``RESULTS.md``: date, machine, command, figures, the profile if any."""
    if profile:
        summary += f"\nWhere one validator's CPU went {profiled}(py-spy):\n\n```\n{profile}\n```\n"
    record(title, "all 4 validators, the wallets and the follower share its cores", summary,
           command=f"python benchmarks/chain_throughput.py {arguments}")


def single(signed: Signed, args: argparse.Namespace) -> None:
    result = run(signed, args.rate, args.duration, profile_s=int(min(20, args.duration / 2)))
    verdict = "met" if result.finalized_rate >= TARGET_TPS and result.p99 <= TARGET_P99 else "MISSED"
    summary = (
        f"- clients: wallet-like (a refused transfer is resubmitted after a backoff, before its account's later ones)\n"
        f"- {result.line()}\n"
        f"- **finalized: {result.finalized_rate:,.0f} transfers/s** sustained (finalized from {WARMUP_S:.0f} s into "
        f"submission to its end); submit→finalized latency p50 {result.p50:.2f} s, p99 {result.p99:.2f} s\n"
        f"- target >= {TARGET_TPS:,}/s sustained with p99 <= {TARGET_P99:.0f} s: {verdict}\n"
        f"- {_cpu_line(result)}\n")
    print(summary)
    print(result.profile)
    if result.errors:
        print("first errors:", result.errors[:5])
    if not args.no_record:
        _record("Chain throughput", f"--rate {args.rate:.0f} --duration {args.duration:.0f} --accounts {args.accounts}",
                summary, "", result.profile)


def find_capacity(signed: Signed, first_rate: float) -> tuple[float, list[RunResult]]:
    """The highest rate within capacity: steps of ``SWEEP_STEP`` from ``first_rate`` until the verdict changes,
    then ``SWEEP_BISECTIONS`` bisections (0 if even the lowest rate probed failed)."""
    probes: list[RunResult] = []

    def within(rate: float) -> bool:
        probes.append(run(signed, rate, PROBE_S))
        print(f"probe {len(probes)}: {probes[-1].line()} → {'within' if probes[-1].within_capacity else 'beyond'} "
              "capacity", flush=True)
        return probes[-1].within_capacity

    rate = first_rate
    low, high = (rate, None) if within(rate) else (None, rate)
    step = SWEEP_STEP if low is not None else 1 / SWEEP_STEP
    while (low is None or high is None) and len(probes) < SWEEP_MAX_PROBES:
        rate = round(rate * step)
        if within(rate):
            low = rate
        else:
            high = rate
    if low is None or high is None:
        return low or 0.0, probes
    for _ in range(SWEEP_BISECTIONS):
        middle = round((low + high) / 2)
        if within(middle):
            low = middle
        else:
            high = middle
    return low, probes


def sweep(signed: Signed, args: argparse.Namespace) -> None:
    began = time.monotonic()
    capacity, probes = find_capacity(signed, args.rate)
    overloads = []
    for factor in OVERLOADS if capacity else ():
        overloads.append(run(signed, factor * capacity, args.duration,
                             profile_s=20 if factor == OVERLOADS[-1] else 0))
        print(f"{factor}×: {overloads[-1].line()}", flush=True)
    shares = [r.finalized_rate / capacity for r in overloads] if capacity else []
    verdict = "met" if shares and min(shares) >= OVERLOAD_GOAL else "MISSED"
    table = "\n".join(
        f"| {r.rate:,.0f} | {100 * r.share:.1f}% | {r.finalized_rate:,.0f} | {r.p50:.2f} s | {r.p99:.2f} s | "
        f"{sum(r.refused.values()):,} | {'within' if r.within_capacity else 'beyond'} |" for r in probes)
    figures = "\n".join(
        f"- **{factor}× capacity ({r.rate:,.0f}/s offered for {r.duration:.0f} s): {r.finalized_rate:,.0f} finalized/s "
        f"= {100 * share:.0f}% of capacity**; {r.line()}\n  - {_cpu_line(r)}"
        for factor, r, share in zip(OVERLOADS, overloads, shares))
    summary = (
        f"- **capacity: {capacity:,.0f} transfers/s** offered (the highest rate probed with >= "
        f"{100 * CAPACITY_SHARE:.0f}% finalized and p99 <= {TARGET_P99:.0f} s; probes of {PROBE_S:.0f} s, each on a "
        f"fresh devnet, latency from the offer, resubmissions included):\n\n"
        f"| offered/s | finalized by the end | finalized/s (steady) | p50 | p99 | refused, resubmitted | verdict |\n"
        f"|---:|---:|---:|---:|---:|---:|---|\n{table}\n\n{figures}\n"
        f"- goal >= {100 * OVERLOAD_GOAL:.0f}% of capacity at {' and '.join(f'{f}×' for f in OVERLOADS)}: {verdict} "
        f"(sweep took {(time.monotonic() - began) / 60:.1f} min)\n")
    print(summary)
    if overloads:
        print(overloads[-1].profile)
    if not args.no_record:
        _record("Chain throughput sweep", f"--sweep --rate {args.rate:.0f} --duration {args.duration:.0f} --accounts "
                f"{args.accounts}", summary, f"at {OVERLOADS[-1]}× ", overloads[-1].profile if overloads else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="offered transfers/s over all nodes (with --sweep: the first rate probed)")
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds of offering (with --sweep: of each overload run; probes last %.0f s)" % PROBE_S)
    parser.add_argument("--accounts", type=int, default=4000)
    parser.add_argument("--sweep", action="store_true", help="find the capacity, then offer 1.5x and 2x of it")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    accounts = [Keypair.from_uri("0x" + blake2_256(b"cairn-throughput" + i.to_bytes(4, "little")).hex())
                for i in range(args.accounts)]
    signed = Signed(_spec(accounts), accounts)
    (sweep if args.sweep else single)(signed, args)


if __name__ == "__main__":
    with launcher.signals_interrupt():  # `kill` and timeouts, not only Ctrl-C, stop what it started
        main()
