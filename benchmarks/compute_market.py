"""Compute market: the same job run locally and through the market, job throughput, a federated round,
and how much of a provider's CPU goes to the market rather than the job.

Issue 12's figures, all in one run on a fresh devnet (``--validators`` validators, the default storage
nodes, ``--providers`` providers, no DA nodes), every process on this machine:

- **Market overhead.** The ``train`` job on the digits training split, run here in this process with the
  kind's own code (``compute_pallet.kinds.train.run``), then through the market with redundancy 2:
  ``client.compute.submit`` → ``wait`` (verified: both providers revealed the same digest and were paid)
  → ``result`` (the model downloaded and checked against the verdict). The overhead is the market's wall
  time minus the local run's, in block times (the chain spec's slot); goal **≤ 6 blocks**. Measured twice:
  with the dataset public, and private, where the submitter's grants to the assigned providers (one block,
  each grant recording the provider's read) add a transaction after the assignment; the private outputs
  come declared with the submitter's grant and read, so neither download signs a record of its own.
  (Uploads beforehand are not timed.)
- **Throughput.** ``--jobs`` small ``evaluate`` jobs (the trained model on the held-out split), r = 1,
  submitted at once: jobs completed per minute, from the first submission to the last verdict.
- **A federated round.** A one-round task with ``--participants`` listed participants, each training the
  base model on its own shard of the training split in its own thread (``client.fl.participate``): the
  latency from the task's creation to the new global model. The task's windows (``FL_COMMIT_BLOCKS`` to train
  and commit, ``FL_DELIVER_BLOCKS`` to deliver) close as soon as every listed participant has done its part, so
  the round takes its participants' time, not the windows'.
- **Provider CPU outside the job.** The providers' ``/metrics`` around the two training jobs (the providers'
  first, which also pay once-per-process costs), around ``STEADY_JOBS`` more of them, around one larger
  training job (a few seconds: a provider's own work per job is about fixed) and around the small jobs: the workers' own CPU seconds (following the chain, heartbeats, downloads, uploads, transactions)
  against their job subprocesses' (``cairn_provider_worker_cpu_seconds_total`` against
  ``cairn_provider_job_cpu_seconds_total``); goal **< 10 %**.

Appends the figures to ``benchmarks/RESULTS.md``.

    python benchmarks/compute_market.py [--validators 1] [--providers 3] [--jobs 12] [--participants 5] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from compute_pallet.datasets import shard, split
from compute_pallet.kinds import train
from compute_pallet.service.daemon import DEFAULT_PRICE
from devnet import launcher
from devnet.config import DevnetConfig
from devnet.registry import ROLES
from node.chain_spec import ChainSpec
from runtime.keyring import DEV_ACCOUNTS, Keypair
from sdk.client import Client
from results import record  # a sibling: the script's folder is on the path

OVERHEAD_GOAL_BLOCKS = 6.0
OUTSIDE_SHARE_GOAL = 0.10
TRAIN_PARAMS = {"hidden": [64], "epochs": 20}
STEADY_JOBS = 4
"""Training jobs after the first two, alternately public and private, for the providers' CPU share once past
their first jobs (which also pay once-per-process costs: the first connections, threads and codecs)."""
LARGER_TRAIN_PARAMS = {"hidden": [128], "epochs": 60}
"""A job of a few seconds, for the CPU share: a provider's own work per job is fixed, so tiny jobs show it most."""
WAIT_S = 600.0
FL_STAKE = 10 * 10**12
"""FederatedLearning's MinStake on the dev presets."""
FL_COMMIT_BLOCKS = 10
"""Blocks participants have at most to train and commit (the window closes once every participant committed)."""
FL_DELIVER_BLOCKS = 8
"""Blocks participants have at most to upload and deliver their updates (uploaded only once the commit window
closed; it closes once every participant delivered)."""
FL_REWARD_POOL = 10**15
FL_PRICE_CAP = DEFAULT_PRICE


@dataclass(frozen=True)
class CpuShare:
    """The providers' CPU seconds over one stretch of the run: the workers' own and their jobs'."""

    worker_s: float
    job_s: float

    @property
    def outside(self) -> float:
        """The share of the providers' CPU spent outside the jobs themselves."""
        return self.worker_s / (self.worker_s + self.job_s)


@dataclass(frozen=True)
class Figures:
    slot_s: float
    local_train_s: float
    market_public_s: float
    """Submit → verified → model downloaded, the dataset public."""
    market_private_s: float
    """The same with the dataset private (grants, access records, private outputs)."""
    train_cpu: CpuShare
    """Over the two training jobs, the providers' first."""
    steady_cpu: CpuShare
    """Over :data:`STEADY_JOBS` more of them."""
    larger_cpu: CpuShare
    """Over one job of :data:`LARGER_TRAIN_PARAMS`, public dataset."""
    small_jobs: int
    small_jobs_s: float
    small_cpu: CpuShare
    participants: int
    round_s: float

    def overhead_blocks(self, market_s: float) -> float:
        return (market_s - self.local_train_s) / self.slot_s

    @property
    def jobs_per_minute(self) -> float:
        return 60 * self.small_jobs / self.small_jobs_s


class ProviderCpu:
    """Reads the providers' CPU counters (``/metrics``) and gives the CPU spent since the last reading."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.last = self._read()

    def _read(self) -> tuple[float, float]:
        worker = job = 0.0
        for url in self.urls:
            for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
                name, _, value = line.partition(" ")
                if name == "cairn_provider_worker_cpu_seconds_total":
                    worker += float(value)
                elif name == "cairn_provider_job_cpu_seconds_total":
                    job += float(value)
        return worker, job

    def since_last(self) -> CpuShare:
        now = self._read()
        share = CpuShare(now[0] - self.last[0], now[1] - self.last[1])
        self.last = now
        return share


def measure(base: Path, *, validators: int, providers: int, jobs: int, participants: int) -> Figures:
    config = DevnetConfig.load(None, ROLES)
    config = replace(config, base_path=base / "devnet").with_role("validators", count=validators)
    config = config.with_role("da_nodes", count=0).with_role("providers", count=providers)
    state = launcher.up(config, fresh=True)
    try:
        slot_s = ChainSpec.load(Path(state.chain_spec)).slot_duration_ms / 1000
        rpc = state.process("validator-0").url("rpc", "ws")
        provider_urls = [record.url("http") for record in state.processes if record.role == "provider"]
        training, held_out = split("digits")

        started = time.perf_counter()
        train.run({"dataset": training}, json.dumps(TRAIN_PARAMS).encode(), bytes(32))
        local_s = time.perf_counter() - started
        print(f"  local train: {local_s:.2f} s", flush=True)

        with Client(rpc, signer="//Alice") as client:
            public = client.storage.upload(training, private=False)
            private = client.storage.upload(training, private=True)
            test_set = client.storage.upload(held_out, private=False)

            cpu = ProviderCpu(provider_urls)
            market_s = {}
            for name, dataset in (("public", public), ("private", private)):
                started = time.perf_counter()
                job = client.compute.submit("train", [dataset], TRAIN_PARAMS, redundancy=2)
                client.compute.wait(job, timeout=WAIT_S)
                trained = client.compute.result(job, base / name)
                market_s[name] = time.perf_counter() - started
                print(f"  market train, {name} dataset (r=2): {market_s[name]:.2f} s", flush=True)
            train_cpu = cpu.since_last()
            for index in range(STEADY_JOBS):
                dataset = (public, private)[index % 2]
                job = client.compute.submit("train", [dataset], TRAIN_PARAMS, redundancy=2)
                client.compute.wait(job, timeout=WAIT_S)
                client.compute.result(job, base / f"steady-{index}")
            steady_cpu = cpu.since_last()
            model = client.storage.upload(trained.paths[0], private=False)
            client.compute.wait(client.compute.submit("train", [public], LARGER_TRAIN_PARAMS, redundancy=2),
                                timeout=WAIT_S)
            larger_cpu = cpu.since_last()

            cpu.since_last()
            started = time.perf_counter()
            small = [client.compute.submit("evaluate", [model, test_set], redundancy=1) for _ in range(jobs)]
            for job in small:
                client.compute.wait(job, timeout=WAIT_S)
            small_s = time.perf_counter() - started
            small_cpu = cpu.since_last()
            print(f"  {jobs} evaluate jobs: {small_s:.1f} s", flush=True)

            round_s = federated_round(client, rpc, model, training, participants)
            print(f"  one federated round, {participants} participants: {round_s:.1f} s", flush=True)
        return Figures(slot_s, local_s, market_s["public"], market_s["private"], train_cpu, steady_cpu, larger_cpu,
                       jobs, small_s, small_cpu, participants, round_s)
    finally:
        launcher.down(config.base_path)


def federated_round(client: Client, rpc: str, base_model: bytes, training: bytes, participants: int) -> float:
    """Seconds from a one-round task's creation to its aggregated global model: the participants (the dev
    accounts after Alice, each on its own shard, in its own thread) train, commit and deliver within the
    task's windows, then the round's ``fedavg`` job runs through the market."""
    accounts = [f"//{name}" for name in DEV_ACCOUNTS[1 : participants + 1]]
    if len(accounts) < participants:
        raise SystemExit(f"at most {len(DEV_ACCOUNTS) - 1} participants (the endowed dev accounts after Alice)")
    started = time.perf_counter()
    task = client.fl.create_task(base_model, rounds=1, participants=[Keypair.from_uri(a).public for a in accounts],
                                 stake=FL_STAKE,
                                 commit_period=FL_COMMIT_BLOCKS, deliver_period=FL_DELIVER_BLOCKS,
                                 reward_pool=FL_REWARD_POOL, price_cap=FL_PRICE_CAP, redundancy=2)

    def participate(account: str, shard: bytes) -> None:
        with Client(rpc, signer=account) as mine:
            mine.fl.participate(task, shard, train_params={"epochs": 2})

    with ThreadPoolExecutor(participants) as pool:
        for done in [pool.submit(participate, *pair) for pair in zip(accounts, [shard(training, i, participants) for i in range(participants)])]:
            done.result(WAIT_S)  # a participant's failure is raised here
    deadline = time.monotonic() + WAIT_S
    while client.fl.status(task).history[0].global_out is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task}'s round was not aggregated in {WAIT_S:.0f} s")
        time.sleep(0.2)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validators", type=int, default=1)
    parser.add_argument("--providers", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=12, help="small evaluate jobs submitted at once")
    parser.add_argument("--participants", type=int, default=5, help="participants of the federated round")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cairn-compute-bench-") as base:
        figures = measure(Path(base), validators=args.validators, providers=args.providers, jobs=args.jobs,
                          participants=args.participants)
    summary = report(figures)
    print(summary)
    if args.no_record:
        return
    record("Compute market", "every validator, storage node, provider and client share its cores, all on loopback",
           summary)


def report(f: Figures) -> str:
    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    def overhead(market_s: float) -> str:
        blocks = f.overhead_blocks(market_s)
        return (f"{market_s:.2f} s: {blocks:.1f} blocks of {f.slot_s:.0f} s over the local run | "
                f"≤ {OVERHEAD_GOAL_BLOCKS:.0f} blocks ({verdict(blocks <= OVERHEAD_GOAL_BLOCKS)})")

    def share(cpu: CpuShare) -> str:
        return (f"{100 * cpu.outside:.1f} % ({cpu.worker_s:.2f} s worker, {cpu.job_s:.2f} s jobs) | "
                f"< {100 * OUTSIDE_SHARE_GOAL:.0f} % ({verdict(cpu.outside < OUTSIDE_SHARE_GOAL)})")

    return (
        "| figure | value | goal |\n|---|---|---|\n"
        f"| train (digits, {json.dumps(TRAIN_PARAMS)}) locally, this process | {f.local_train_s:.2f} s | — |\n"
        f"| the same job through the market, r = 2, public dataset (submit → verified → model downloaded) | "
        f"{overhead(f.market_public_s)} |\n"
        f"| the same, private dataset (grants, access records, private outputs) | {overhead(f.market_private_s)} |\n"
        f"| provider CPU outside the job, those two jobs (the providers' first) | {share(f.train_cpu)} |\n"
        f"| provider CPU outside the job, {STEADY_JOBS} more of them, alternately public and private | "
        f"{share(f.steady_cpu)} |\n"
        f"| provider CPU outside the job, a train job of {json.dumps(LARGER_TRAIN_PARAMS)} (public) | "
        f"{share(f.larger_cpu)} |\n"
        f"| small jobs (evaluate, r = 1, {f.small_jobs} submitted at once) | {f.jobs_per_minute:.1f} per minute "
        f"({f.small_jobs_s:.1f} s) | — |\n"
        f"| provider CPU outside the job, small jobs | {share(f.small_cpu)} |\n"
        f"| one federated round, {f.participants} participants (creation → aggregated model; windows of at most "
        f"{FL_COMMIT_BLOCKS} + {FL_DELIVER_BLOCKS} blocks) | {f.round_s:.1f} s | — |\n"
    )


if __name__ == "__main__":
    with launcher.signals_interrupt():  # `kill` and timeouts, not only Ctrl-C, stop what it started
        main()
