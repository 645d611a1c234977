"""The provider daemon: registration, heartbeats, following the chain for assignments, and the HTTP API.

``Provider(client, keypair, config).run()`` does, in order:

0. loads what the storage client would otherwise load inside the first job (:func:`_warm_up`), so a job's
   transfers cost the same whether or not it is the first;
1. serves ``/v1/health`` and ``/metrics`` (:mod:`compute_pallet.service.http`) with hypercorn's trio worker;
2. registers the provider on chain (hardware, an offer for every job kind, the endpoint, the stake), or
   updates a registration whose hardware, offers or endpoint changed and tops its stake back up to the
   configured one (slashing may have taken it below the chain's minimum, where nothing is assigned to it), and publishes its X25519 key
   (``client.storage.register_key()``) so submitters of private inputs can grant it their files;
3. heartbeats every third of ``HeartbeatTimeout`` blocks' time (a provider silent for the whole timeout loses
   its assignments at once), by the clock: Aura makes at most one block a slot, so that many slots never hold
   more blocks, and a timer costs nothing per block where following the heads cost a notification each; each
   heartbeat is checked in the provider's record when the next is due, not watched;
4. follows the **best** chain's ``ComputeJobs`` events (decoding only blocks whose events can name this
   provider or one of its jobs: :meth:`~compute_pallet.service.chain.ProviderChain.job_events`), then
   reconciles: every job in ``ProviderJobs`` and every job left in the journal is handed to a
   :class:`~compute_pallet.service.jobs.JobWorker`, which finishes, resumes or forgets it as the chain says;
5. reports ready (``task_status.started(port)``).

Why the best chain and not the finalized one: the market's overhead goal is a few blocks end to end, and
finality trails the best block. Acting early on an assignment that a reorg drops costs only work (the
commit is then refused, ``NotAssigned``); the one step whose publication could be abused on a dropped fork,
the reveal, waits until the reveal phase is final (see :mod:`compute_pallet.service.jobs`).

A failed transaction, a vanished chain connection, a bad input: logged and retried, never fatal. Only a
refused registration (too little stake or balance, a bad endpoint) stops the daemon: the operator must act.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import trio

from compute_pallet.kinds import KIND_IDS
from compute_pallet.pallets.types import Hardware, Offer, ProviderInfo
from compute_pallet.service.chain import ProviderChain, Refused, Timing
from compute_pallet.service.http import ProviderApi
from compute_pallet.service.jobs import Fault, JobWorker
from compute_pallet.service.journal import Journal
from compute_pallet.service.metrics import ProviderMetrics
from runtime.keyring import Keypair
from sdk.account.api import stake_shortfall
from sdk.chain import ChainClientError, ChainEvent
from sdk.client import AsyncClient
from sdk.serving import serve
from sdk.storage.nodes import NodeHttp, tls_context
from storage_node.erasure.backends import get_backend

__all__ = ["Provider", "ProviderConfig", "RegistrationFailed", "DEFAULT_PRICE"]

log = logging.getLogger(__name__)

DEFAULT_PRICE = 10**12
"""What one job of any kind costs by default: one token (12 decimals)."""
RESUBSCRIBE_S = 2.0
READ_TIMEOUT_S = 30
PHASE_EVENTS = ("RevealStarted", "ResultRevealed", "DisputeOpened", "JobVerified", "JobFailed")


class RegistrationFailed(Exception):
    """The chain refused this provider's registration."""


class HeartbeatLost(Exception):
    """A heartbeat sent a while ago is not in this provider's record."""


@dataclass(frozen=True)
class ProviderConfig:
    base_path: Path
    hardware: Hardware
    stake: int
    prices: Mapping[str, int] = field(default_factory=dict)
    """Price per job by kind name; a kind not named costs :data:`DEFAULT_PRICE`."""
    http_host: str = "127.0.0.1"
    http_port: int = 0
    public_url: str | None = None
    fault: Fault | None = None

    def offers(self) -> tuple[Offer, ...]:
        return tuple(Offer(kind_id, self.prices.get(name, DEFAULT_PRICE))
                     for name, kind_id in sorted(KIND_IDS.items(), key=lambda item: item[1]))


class Provider:
    """Start with ``port = await nursery.start(provider.run)``; cancel the nursery to stop it."""

    def __init__(self, client: AsyncClient, keypair: Keypair, config: ProviderConfig) -> None:
        self.client, self.keypair, self.config = client, keypair, config
        self.chain = ProviderChain(client, keypair)
        self.metrics = ProviderMetrics(input_cache=client.file_cache)
        self.journal = Journal(config.base_path / "jobs")
        self.info: ProviderInfo | None = None
        """This provider's on-chain record as last read (after registering and after each heartbeat)."""
        self._jobs: dict[int, trio.Event] = {}

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        api = ProviderApi(self.metrics, self.health)
        timing = await self.chain.timing()
        worker = JobWorker(self.client, self.chain, self.journal, self.metrics, timing, fault=self.config.fault,
                           parallel_runs=max(1, self.config.hardware.cpu_cores))
        await _warm_up()
        async with trio.open_nursery() as nursery:
            port = await nursery.start(self._serve, api)
            await self._register(self.config.public_url or f"http://{self.config.http_host}:{port}")
            nursery.start_soon(self._register_key)
            nursery.start_soon(self._heartbeats, timing)
            await nursery.start(self._follow, worker, nursery)  # following first: no assignment is missed meanwhile
            await self._reconcile(worker, nursery)
            log.info("provider 0x%s serving on port %d (%d core(s), %d MiB%s)%s", self.keypair.public.hex(), port,
                     self.config.hardware.cpu_cores, self.config.hardware.memory_mib,
                     ", no GPU" if self.config.hardware.gpu is None else f", GPU {self.config.hardware.gpu.model!r}",
                     f", fault {self.config.fault.value}" if self.config.fault else "")
            task_status.started(port)

    async def _serve(self, api: ProviderApi, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        await serve(api, self.config.http_host, self.config.http_port, read_timeout=READ_TIMEOUT_S,
                    task_status=task_status)

    def health(self) -> dict[str, object]:
        info = self.info
        doc: dict[str, object] = {"account": "0x" + self.keypair.public.hex(), "active_jobs": self.metrics.active,
                                  "jobs": dict(self.metrics.jobs), "registered": info is not None,
                                  "fault": self.config.fault.value if self.config.fault else None}
        if info is not None:
            doc.update(stake=info.stake, reputation=info.reputation_permill(), jobs_verified=info.jobs_verified,
                       disputes_lost=info.disputes_lost, no_shows=info.no_shows, last_heartbeat=info.last_heartbeat,
                       leaving=info.leaving)
        return doc

    # --- registration and liveness --------------------------------------------------------------------

    async def _register(self, endpoint: str) -> None:
        cfg, offers = self.config, self.config.offers()
        info = await self.chain.registered()
        if info is None:
            registration = self.chain.register_call(cfg.hardware, offers, endpoint, cfg.stake)
            shortfall = await stake_shortfall(self.client, self.keypair.public, cfg.stake,
                                              self.client.get_constant("ComputeProviders", "MinStake"), registration)
            if shortfall is not None:
                raise RegistrationFailed(f"not registering this provider: {shortfall}")
        try:
            if info is None:
                await self.chain.register(registration)
                log.info("registered as a provider at %s (stake %s)", endpoint,
                         (await self.client.account.token()).format(cfg.stake))
            elif (info.hardware, tuple(info.offers), bytes(info.endpoint)) != (cfg.hardware, offers, endpoint.encode()):
                await self.chain.update(cfg.hardware, offers, endpoint)
                log.info("registration updated: %s", endpoint)
        except Refused as exc:
            raise RegistrationFailed(f"the chain refused registering this provider: {exc}") from None
        if info is not None and info.leaving:
            _say_leaving(info)
        elif info is not None:
            await self._top_up(info)
        self.info = await self.chain.registered()

    async def _top_up(self, info: ProviderInfo) -> None:
        """Bring the stake back to ``--stake``: one slashed below the chain's minimum is assigned nothing."""
        want = self.config.stake
        if info.stake >= want:
            return
        try:
            await self.chain.add_stake(want - info.stake)
            token = await self.client.account.token()
            log.info("stake topped up from %s to %s", token.format(info.stake), token.format(want))
        except Refused as exc:  # serving on is still right: the stake may be above the chain's minimum
            token = await self.client.account.token()
            log.warning("topping the stake up from %s to %s was refused: %s", token.format(info.stake),
                        token.format(want), exc)

    async def _register_key(self) -> None:
        """Publish the X25519 key grants are sealed to (idempotent), retrying until the chain takes it."""
        while True:
            try:
                await self.client.storage.register_key()
                return
            except ChainClientError as exc:
                log.warning("registering the encryption key: %s; again in %.0f s", exc, RESUBSCRIBE_S)
            await trio.sleep(RESUBSCRIBE_S)

    async def _heartbeats(self, timing: Timing) -> None:
        """A heartbeat every third of the heartbeat timeout's slots, pooled but not watched: whether the last
        one landed is read from this provider's record when the next is due (a watch, its updates and the
        including block's events cost several times the heartbeat itself, every few blocks for the daemon's
        whole life). One that did not land, or could not be sent, is sent again a slot later: two thirds of
        the timeout are left for it. A provider leaving the market (``cairn compute leave``) heartbeats on until
        its last job is settled; one that has left sends none: its heartbeats would only be refused, so it says
        so once and looks again at each period."""
        every = max(1, timing.heartbeat_timeout // 3) * timing.block_seconds
        sent_after: int | None = None
        """The provider's ``last_heartbeat`` when the last heartbeat was sent (None: none in flight)."""
        left = False
        leaving = self.info is not None and self.info.leaving  # said already, by _register
        while True:
            pause = every
            try:
                if sent_after is not None or left:
                    self.info = await self.chain.registered()
                    if self.info is None:
                        if not left:
                            log.warning("this provider is not registered any more (it left the market): no "
                                        "heartbeats and no jobs; start the daemon again to register it again")
                        left = True
                        await trio.sleep(pause)
                        continue
                    left = False
                    if self.info.leaving and not leaving:
                        _say_leaving(self.info)
                    elif leaving and not self.info.leaving:
                        log.warning("this provider stays on the market (its leave was taken back): it takes new "
                                    "jobs again")
                        await self._top_up(self.info)  # as at a start: draining, it was slashed, not topped up
                    leaving = self.info.leaving
                    if sent_after is not None and self.info.last_heartbeat <= sent_after:
                        raise HeartbeatLost("the last heartbeat did not land")
                sent_after = -1 if self.info is None else self.info.last_heartbeat
                await self.chain.heartbeat()
            except (ChainClientError, HeartbeatLost) as exc:
                sent_after = None
                self.metrics.retries["heartbeat"] += 1
                log.warning("heartbeat: %s; again at the next block", exc)
                pause = timing.block_seconds
            await trio.sleep(pause)

    # --- following the chain --------------------------------------------------------------------------

    async def _follow(self, worker: JobWorker, nursery: trio.Nursery, *,
                      task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Act on each best block's ``ComputeJobs`` events; ``started`` once the first subscription is open. A new
        subscription starts at the chain's head, so after a lost one the provider reconciles as at a start: an
        assignment in the blocks between is found in ``ProviderJobs`` (it would have been a no-show)."""
        waiting: trio.TaskStatus[None] | None = task_status
        while True:
            try:
                async with self.chain.job_events(self._jobs.keys) as blocks:
                    if waiting is not None:
                        waiting.started()
                        waiting = None
                    else:
                        nursery.start_soon(self._reconcile_guarded, worker, nursery)
                    async for block in blocks:
                        for event in block.events:
                            self._on_event(event, worker, nursery)
            except ChainClientError as exc:
                log.warning("following the chain's compute events: %s; subscribing again in %.0f s", exc,
                            RESUBSCRIBE_S)
            await trio.sleep(RESUBSCRIBE_S)

    def _on_event(self, event: ChainEvent, worker: JobWorker, nursery: trio.Nursery) -> None:
        job_id = event.event.job_id  # every ComputeJobs event's first field
        if event.name == "JobAssigned" and self.keypair.public in event.event.providers:
            self._start(job_id, worker, nursery)
        elif event.name in PHASE_EVENTS and job_id in self._jobs:
            self._jobs[job_id].set()

    async def _reconcile(self, worker: JobWorker, nursery: trio.Nursery) -> None:
        """Hand every job the chain or the journal knows of to the worker, which resumes or forgets it."""
        assigned = await self.chain.assigned_jobs()
        journaled = await trio.to_thread.run_sync(self.journal.job_ids)
        for job_id in sorted(set(assigned) | set(journaled)):
            self._start(job_id, worker, nursery)
        if assigned or journaled:
            log.info("reconciled: %d assigned job(s), %d journaled", len(assigned), len(journaled))

    async def _reconcile_guarded(self, worker: JobWorker, nursery: trio.Nursery) -> None:
        try:
            await self._reconcile(worker, nursery)
        except ChainClientError as exc:  # the next subscription reconciles again
            log.warning("reconciling with the chain: %s", exc)

    def _start(self, job_id: int, worker: JobWorker, nursery: trio.Nursery) -> None:
        if job_id not in self._jobs:
            self._jobs[job_id] = trio.Event()
            nursery.start_soon(self._work, worker, job_id)

    async def _work(self, worker: JobWorker, job_id: int) -> None:
        """One job; an unexpected error is a bug to log, never the end of the daemon."""
        try:
            await worker.work(job_id, self._jobs[job_id])
        except Exception:
            log.exception("job %d failed", job_id)
        finally:
            del self._jobs[job_id]


async def _warm_up() -> None:
    """Pay the storage client's once-per-process costs now rather than in the first job: the erasure backend's
    discovery and loading, the HTTP client's modules and the system's TLS certificates (together ~50 ms of
    CPU, measured in the first job of each provider before)."""
    await trio.to_thread.run_sync(get_backend)
    await trio.to_thread.run_sync(tls_context)  # (a NodeHttp makes it at its first connection, not before)
    async with NodeHttp(None):
        pass


def _say_leaving(info: ProviderInfo) -> None:
    log.warning("this provider is leaving the market: it takes no new job and is deregistered, its stake "
                "released, once its %d job(s) in flight are settled; keep this daemon running until then",
                info.active_jobs)
