"""A real compute market for tests: one dev validator, storage node processes and ``cairn provider`` processes.

``start_market(folder, faults=(None, None))`` starts the chain (the storage tests' ``dev`` chain with the
providers' accounts endowed too, the dev preset's timings, RS(1, 1) as the default code so that two storage
nodes hold any file, and the test's parameter overrides), the storage nodes, then one provider per entry of
``faults`` (``None`` for an honest one, else a ``--fault`` value), and returns once every provider is
registered on chain. Provider ``i`` acts as the devnet's provider
``i`` does (:func:`devnet.provider.provider_account`: provider 0 is storage node 0's account). The
integration tests of the market reuse it with their own faults.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from compute_pallet.kinds import KIND_IDS
from compute_pallet.pallets.types import Job, JobStatus, Resources, SlotStatus
from devnet.provider import provider_account
from node.chain_spec import PRESET_PARAMS
from sdk.client import Client
from tests.integration.daemons import DaemonProcess
from tests.integration.nodes import NodeProcess
from tests.storage_node.service.chain import start_storage_chain, ws_url
from tests.storage_node.service.cluster import StorageNodeProcess, start_cluster

__all__ = ["ProviderProcess", "Market", "start_market", "start_providers", "restart_with", "submit_job",
           "wait_judged", "slot_statuses", "MARKET_PARAMS", "PRICE_CAP", "SMALL_TRAIN"]

MARKET_PARAMS: dict[str, dict[str, Any]] = {"FileBank": {"default_k": 1, "default_m": 1}}
"""Two storage nodes hold any file the SDK uploads with the defaults (the providers' outputs included)."""
START_TIMEOUT = 90.0
PRICE_CAP = 2 * 10**12
"""What the tests' jobs pay each provider at most (providers ask 1 token by default)."""
JUDGED_TIMEOUT = 240.0
SMALL_TRAIN = b'{"epochs": 3, "hidden": [16]}'
"""A ``train`` job's params that run in about a second: the fault scenarios are about the market, not the job."""


@dataclass
class ProviderProcess(DaemonProcess):
    MODULE = "compute_pallet.service"

    fault: str | None = None
    stake: int | None = None
    """Held on registration (None: the chain's minimum)."""

    def extra_args(self) -> list[str]:
        return ["--gpu", "none", *(["--fault", self.fault] if self.fault else []),
                *(["--stake", str(self.stake)] if self.stake is not None else [])]

    def metrics(self) -> str:
        """The provider's ``/metrics`` text."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            return response.read().decode()

    def journaled_jobs(self) -> list[int]:
        return sorted(int(path.name) for path in (self.base_path / "jobs").glob("*") if path.name.isdigit())


@dataclass
class Market:
    chain: NodeProcess
    storage: list[StorageNodeProcess]
    providers: list[ProviderProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return ws_url(self.chain)

    def provider_of(self, account: bytes) -> ProviderProcess:
        return next(p for p in self.providers if p.account == account)

    def stop(self) -> None:
        for process in [*self.providers, *self.storage]:
            process.stop()
        self.chain.stop()


def start_chain(folder: Path, params: Mapping[str, Mapping[str, Any]], slot_duration_ms: int | None = None
                ) -> NodeProcess:
    """The storage tests' chain with the providers' accounts endowed too, on the dev preset's timings with
    :data:`MARKET_PARAMS` and then ``params`` over them (and slots of ``slot_duration_ms`` if given)."""
    layers = (PRESET_PARAMS["dev"], MARKET_PARAMS, params)
    merged = {pallet: {k: v for layer in layers for k, v in layer.get(pallet, {}).items()}
              for pallet in {name for layer in layers for name in layer}}
    return start_storage_chain(folder, merged, slot_duration_ms=slot_duration_ms,
                               accounts=[provider_account(i) for i in range(1, 8)])


def start_providers(market: Market, folder: Path, faults: Sequence[str | None], *,
                    stake: int | None = None) -> list[ProviderProcess]:
    """One provider per fault, numbered after those already running, returned once all are ready."""
    first = len(market.providers)
    started = [ProviderProcess(provider_account(first + i), market.url, folder / f"provider-{first + i}",
                               fault=fault, stake=stake).spawn() for i, fault in enumerate(faults)]
    market.providers.extend(started)
    for process in started:
        process.wait_ready(START_TIMEOUT)
    return started


def restart_with(market: Market, index: int, fault: str | None) -> None:
    """Provider ``index`` stopped and started again with ``fault`` (``None``: honest)."""
    provider = market.providers[index]
    provider.stop()
    provider.fault = fault
    provider.spawn().wait_ready()


def start_market(folder: Path, faults: Sequence[str | None] = (None, None), *, storage_nodes: int = 2,
                 params: Mapping[str, Mapping[str, Any]] | None = None, slot_duration_ms: int | None = None
                 ) -> Market:
    """The chain, ``storage_nodes`` storage nodes and one provider per entry of ``faults``, all ready."""
    folder.mkdir(parents=True, exist_ok=True)
    market = Market(start_chain(folder, params or {}, slot_duration_ms), [])
    try:
        market.storage = start_cluster(market.url, folder, storage_nodes)
        start_providers(market, folder, faults)
    except BaseException:
        market.stop()
        raise
    return market


def submit_job(client: Client, kind: str, inputs: Sequence[bytes], params: bytes, *, redundancy: int = 2,
               blocks: int = 200) -> int:
    """Submit a job with the chain client as the client's signer (1 core, 1 GiB, ``blocks`` to its deadline); its
    id."""
    head = client.get_block_header().number
    call = client.compose_call("ComputeJobs", "submit", {
        "kind": KIND_IDS[kind], "inputs": tuple(inputs), "params": params, "resources": Resources(1, 1024, 0),
        "price_cap": PRICE_CAP, "deadline": head + blocks, "redundancy": redundancy})
    receipt = client.sign_and_submit(call, client.signer, wait_for_inclusion=True)
    assert receipt.is_success, receipt.error_message
    (submitted,) = [e for e in receipt.triggered_events if e.name == "JobSubmitted"]
    return submitted.attributes["job_id"]


def wait_judged(client: Client, job_id: int, timeout: float = JUDGED_TIMEOUT) -> Job:
    """The job once verified or failed."""
    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        job = client.query("ComputeJobs", "Jobs", [job_id])
        if job.status in (JobStatus.Verified, JobStatus.Failed):
            return job
        time.sleep(1)
    raise TimeoutError(f"job {job_id} not judged within {timeout} s: {job}")


def slot_statuses(market: Market, job: Job) -> dict[int, SlotStatus]:
    """The job's slot statuses by provider index."""
    index = {p.account: i for i, p in enumerate(market.providers)}
    return {index[slot.provider]: slot.status for slot in job.slots}
