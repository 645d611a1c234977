"""``client.compute``: the compute market from the submitter's side.

:class:`ComputeApi` is the asynchronous API (``anyio``: trio or asyncio), reached as ``AsyncClient.compute``;
``Client.compute`` runs it behind the blocking client's portal (:mod:`sdk.compute.sync`)::

    async with AsyncClient(url, signer="//Alice") as client:
        job = await client.compute.submit("train", [dataset_id], {"hidden": [64], "epochs": 30})
        status = await client.compute.wait(job)                  # Verified or Failed, from finalized blocks
        result = await client.compute.result(job, "out/")          # out/model.safetensors, out/result.json
        graph = await client.compute.lineage(status.outputs[0])    # back to the dataset
        check = await client.compute.rerun(job, "here/")           # the kind run here: check.matches

``submit`` checks what it can before anything is signed (the kind, its params, each input's existence,
activity and readability, resources, redundancy, the eligible providers, the escrow against the balance) and
raises the same typed errors the chain would (:mod:`sdk.compute.errors`), so a refused job escrows nothing.
Once included, it grants every provider the chain assigned read access to each *private* input the signer
owns, in one block and with each provider's read recorded in the same transaction (providers read inputs as
any reader does, and need no access record of their own first); ``wait`` keeps granting providers assigned
later (replacements of no-shows, a dispute's extra providers). A provider's private outputs come granted
the same way, so ``result`` downloads them without a transaction either.

``rerun`` trusts no provider: it runs the job's kind in this process on the job's inputs, params and seed and
compares the digest with the chain's verdict (the kinds are bit-exact across honest CPU machines, see
``compute_pallet.kinds``); where the kind refused the inputs, it also gives the refusal's message, which the
chain does not keep.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio

from compute_pallet import kinds
from compute_pallet.formats import TooLarge
from compute_pallet.pallets.types import Job, JobStatus as ChainJobStatus, Resources, SlotStatus
from runtime.keyring import Keypair
from sdk.chain import AsyncClient
from sdk.compute import jobs
from sdk.compute.errors import (
    AbsurdResources,
    BadDeadline,
    BadInputs,
    BadRedundancy,
    InsufficientFunds,
    InvalidParams,
    JobNotVerified,
    NotEnoughProviders,
    ResultMismatch,
    UnknownInput,
    UnknownJob,
    WaitTimeout,
)
from sdk.compute.jobs import ParamsLike
from sdk.compute.lineage import walk
from sdk.compute.market import Market
from sdk.compute.records import Departure, JobId, JobResult, JobStatus, Lineage, Provider, Rerun, Slot
from sdk.peer_text import peer_text
from sdk.storage.api import StorageApi
from sdk.storage.errors import FileNotFound
from sdk.storage.records import FileId, parse_file_id

__all__ = ["ComputeApi", "MAX_RESULT_BYTES"]

MAX_RESULT_BYTES = 4 << 20
"""A ``result.json`` larger than this is not parsed: twice the largest a kind writes (``evaluate``'s confusion
matrix at ``MAX_CLASSES``, 1,000 classes: ~2 MB; at 1 MiB, an honest result of more than ~720 classes was
refused as not hashing to its digest)."""

_FINISHED = (ChainJobStatus.Verified, ChainJobStatus.Failed)


class ComputeApi:
    """Jobs on the compute market through ``chain``, signed by ``signer``; files move through ``storage``."""

    def __init__(self, chain: AsyncClient, signer: Keypair | None, storage: StorageApi) -> None:
        self.market = Market(chain, signer)
        self.storage = storage

    # --- providers -----------------------------------------------------------------------------------

    async def leave(self) -> Departure:
        """Take the signer's provider off the market (``ComputeProviders.deregister``). With no job in flight it
        is deregistered at once, its stake released. Else it *drains*: it takes no new jobs, :meth:`providers`
        lists it ``leaving``, and it is deregistered, its stake released, when the last of its ``active_jobs``
        is settled. Keep its daemon running until then: a job it walks away from is a no-show, and slashed.
        The daemon then stops heartbeating, and registers the provider again if started again.
        :meth:`stay` takes the leave back while it drains. :class:`Refused` if the signer is no provider
        (``NotRegistered``) or is leaving already (``AlreadyLeaving``)."""
        receipt = await self.market.submit("ComputeProviders", "deregister", {})
        for record in receipt.triggered_events:
            if record.name == "ProviderDeregistered":
                return Departure(record.event.released, 0)
            if record.name == "ProviderLeaving":
                return Departure(None, record.event.active_jobs)
        raise AssertionError("a deregistration without its event")

    async def stay(self) -> None:
        """Take back a :meth:`leave` still draining (``ComputeProviders.stay``): the signer's provider takes new
        jobs again. :class:`Refused` if it is no provider (``NotRegistered``: it left already) or is not
        leaving (``NotLeaving``)."""
        await self.market.submit("ComputeProviders", "stay", {})

    async def providers(self) -> list[Provider]:
        """Every registered provider: hardware, offers by kind, endpoint, stake, liveness and reputation."""
        found = []
        for account, info in await self.market.providers():
            gpu = info.hardware.gpu
            found.append(Provider(
                account, info.hardware.cpu_cores, info.hardware.memory_mib,
                None if gpu is None else peer_text(gpu.model), 0 if gpu is None else gpu.memory_mib,
                {jobs.kind_name(offer.kind): offer.price for offer in info.offers},
                bytes(info.endpoint).decode(errors="replace"), info.stake, info.registered_at, info.last_heartbeat,
                info.active_jobs, info.jobs_verified, info.disputes_lost, info.no_shows, info.reputation_permill(),
                info.leaving))
        return sorted(found, key=lambda p: p.account)

    # --- jobs ----------------------------------------------------------------------------------------

    async def submit(self, kind: str | int, inputs: Sequence[FileId | str], params: ParamsLike = None, *,
                     redundancy: int = 2, max_price: int | None = None, deadline: int | None = None,
                     resources: Resources | None = None, submitted: Callable[[JobId], None] | None = None) -> JobId:
        """Submit a job of ``kind`` over ``inputs`` (file ids, in the kind's order: :mod:`sdk.compute.jobs`) with
        ``params`` (a mapping, encoded as the kind's strict JSON, or the JSON bytes), run by ``redundancy``
        providers, each paid at most ``max_price``, verified within ``deadline`` blocks from now. Unset, the
        price cap, deadline and resources follow :mod:`sdk.compute.jobs`' defaults. Returns the job's id once
        the chain has taken it and its providers may read its private inputs; ``submitted`` is called with it as
        soon as the chain has the job, before the grants, so that a caller stopped in between knows which job
        holds its escrow (:meth:`wait` grants what is missing)."""
        market = self.market
        signer = market.signer.public
        name, kind_id = jobs.resolve_kind(kind)
        encoded = jobs.build_params(name, params)
        longest = market.constant("ComputeJobs", "MaxParamsLength")
        if len(encoded) > longest:
            raise InvalidParams(f"params are {len(encoded)} bytes, the chain takes at most {longest}")
        files = [parse_file_id(file_id) for file_id in inputs]
        most = market.constant("ComputeJobs", "MaxInputs")
        if not 0 < len(files) <= most:
            raise BadInputs(f"{len(files)} inputs; a job takes 1 to {most}")
        estimate = jobs.estimate(name, encoded, await market.readable_sizes(files, signer))
        resources = jobs.chain_resources(estimate) if resources is None else resources
        if resources.cpu_cores <= 0 or resources.memory_mib <= 0:
            raise AbsurdResources(f"{resources}: a job needs at least one core and some memory")
        if resources.memory_mib < (least := jobs.chain_resources(estimate).memory_mib):
            raise AbsurdResources(f"{resources.memory_mib} MiB of memory: the kind's estimate of one run over these "
                                  f"inputs is {least} MiB, the least the chain takes")
        most = market.constant("ComputeJobs", "MaxRedundancy")
        if not 0 < redundancy <= most:
            raise BadRedundancy(f"redundancy {redundancy}: 1 to {most}")
        block = await market.block_number()
        price_cap = await self._price_cap(name, kind_id, resources, redundancy, max_price, block + 1)
        blocks = self._deadline(deadline, estimate)
        escrow = market.escrow_for(price_cap, redundancy)
        if await market.free_balance(signer) < escrow:
            raise InsufficientFunds(f"the escrow is {escrow} (price cap {price_cap} x (redundancy {redundancy} + the "
                                    f"providers of a dispute)), more than the signer's free balance")
        receipt = await market.submit("ComputeJobs", "submit", {
            "kind": kind_id, "inputs": tuple(files), "params": encoded, "resources": resources,
            "price_cap": price_cap, "deadline": block + 1 + blocks, "redundancy": redundancy})
        job_id = next(e.event.job_id for e in receipt.triggered_events if e.name == "JobSubmitted")
        if submitted is not None:
            submitted(job_id)
        assigned = [p for e in receipt.triggered_events if e.name == "JobAssigned" for p in e.event.providers]
        await self._grant(await market.private_files(files, signer), assigned)
        return job_id

    async def _price_cap(self, name: str, kind_id: int, resources: Resources, redundancy: int,
                         max_price: int | None, block: int) -> int:
        """``max_price``, or the default cap over the offers of the providers eligible at ``block``;
        :class:`NotEnoughProviders` if fewer than ``redundancy`` of them offer the kind within the cap."""
        market = self.market
        prices = jobs.eligible_prices(
            await market.providers(), kind_id, resources, block=block,
            heartbeat_timeout=market.constant("ComputeProviders", "HeartbeatTimeout"),
            min_stake=market.constant("ComputeProviders", "MinStake"),
            max_jobs=market.constant("ComputeProviders", "MaxJobsPerProvider"))
        if max_price is None:
            return jobs.default_price_cap(prices, redundancy, market.constant("ComputeJobs", "DisputeExtra"))
        within = sum(1 for price in prices if price <= max_price)
        if within < redundancy:
            raise NotEnoughProviders(f"{within} eligible providers offer {name} at {max_price} or less, the "
                                     f"redundancy asks for {redundancy}")
        return max_price

    def _deadline(self, deadline: int | None, run: kinds.Resources) -> int:
        """``deadline`` (blocks from now), or the default for a run the kind estimates as ``run``;
        :class:`BadDeadline` if the chain would refuse it."""
        shortest, default, longest = self.market.job_deadlines(run)
        if shortest > longest:
            raise BadDeadline(f"the kind estimates {run.seconds} s for one run over these inputs: more than the "
                              f"longest job the chain takes ({longest} blocks)")
        deadline = default if deadline is None else deadline
        if not shortest <= deadline <= longest:
            raise BadDeadline(f"deadline {deadline} blocks: {shortest} to {longest} (a commit window, which is the commit "
                              f"period and the kind's estimate of the run, {run.seconds} s, then a reveal period)")
        return deadline

    async def _grant(self, files: Sequence[bytes], providers: Sequence[bytes]) -> set[bytes]:
        """Grant each provider each of ``files`` (the signer's private inputs) it holds no grant for yet, all in
        one block, each with the provider's read recorded (``grant_and_record``: the provider downloads at
        once, with no transaction of its own in between); returns the providers that now hold every grant. One
        that registered no encryption key cannot be granted: it is left out (a later call grants it once it has
        one, or the chain replaces it)."""
        if not files:
            return set(providers)
        ledger = self.market.ledger
        keyed = [provider for provider in dict.fromkeys(providers) if await ledger.encryption_key(provider) is not None]
        missing = [(file_id, provider) for provider in keyed for file_id in files
                   if await ledger.sealed_key(file_id, provider) is None]
        await self.storage.grant_all(missing, record_access=True)
        return set(keyed)

    async def status(self, job: JobId) -> JobStatus:
        """Where the job stands: its phase, each slot's provider, status and price, the verified outputs, and
        what was escrowed, paid and refunded."""
        return self._report(job, await self._job(job))

    async def wait(self, job: JobId, timeout: float | None = None) -> JobStatus:
        """Follow finalized blocks until the job is ``Verified`` or ``Failed`` (the chain ends every job by its
        deadline); grant providers assigned meanwhile read access to the signer's private inputs.
        :class:`WaitTimeout` after ``timeout`` seconds, if given."""
        record = await self._job(job)
        mine = record.submitter == self.market.account
        private = await self.market.private_files(record.inputs, record.submitter) if mine else []
        granted: set[bytes] = set()

        async def check(at: bytes) -> JobStatus | None:
            current = await self.market.job(job, at)
            if current is None:
                return None
            if current.status in _FINISHED:
                return self._report(job, current)
            waiting = {slot.provider for slot in current.slots
                       if slot.status in (SlotStatus.Assigned, SlotStatus.Committed)} - granted
            if waiting:
                granted.update(await self._grant(private, sorted(waiting)))
            return None

        with anyio.move_on_after(float("inf") if timeout is None else timeout):
            async with self.market.chain.subscribe_finalized_heads() as heads:
                report = await check(await self.market.chain.get_chain_finalised_head())
                if report is not None:
                    return report
                async for header in heads:
                    report = await check(header.hash)
                    if report is not None:
                        return report
        raise WaitTimeout(f"job {job} did not finish within {timeout} s")

    async def result(self, job: JobId, out_dir: str | Path) -> JobResult:
        """Download a verified job's outputs into ``out_dir`` (created if missing), named by the kind's output
        names and ``result.json``, and check that they hash to the digest the chain verified
        (:class:`ResultMismatch` if not, the files removed again); :class:`JobNotVerified` for a job without a
        verified result."""
        report = await self.status(job)
        if report.state != "Verified":
            raise JobNotVerified(f"job {job} is {report.state}: it has no verified result")
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, file_id in zip(jobs.output_names(report.kind, len(report.outputs)), report.outputs):
            path = folder / name
            await self.storage.download(file_id, path)
            paths.append(path)
        parsed = _verified_record(paths, report.digest)
        if parsed is None:
            for path in paths:  # nothing unverified is left behind
                path.unlink()
            raise ResultMismatch(f"job {job}: the downloaded outputs do not hash to the verified digest")
        return JobResult(job, tuple(str(p) for p in paths), parsed)

    async def rerun(self, job: JobId, out_dir: str | Path) -> Rerun:
        """Run job ``job``'s kind here, on its inputs, params and seed, and write what it gives into ``out_dir``
        (created if missing; where an earlier result or rerun left a ``result.json``, the kinds' output files
        are removed first, so the folder holds this run's alone); the digest is compared with the verified one
        (:attr:`Rerun.matches`), a refusal comes with its message, and the providers whose reveal it confirms
        are named. Any job whose inputs are still stored can be rerun, verified or not.

        The inputs are downloaded into memory; one over its format's bound is refused as a provider's runner
        refuses it, and then none is fetched. Reading another account's private input records the read on chain
        first, as every download of it does (a transaction). The kind runs in a worker thread with this
        machine's memory and CPU; cancelling the call leaves it to finish in the background. :class:`UnknownJob`,
        and :class:`UnknownInput` for an input no longer stored."""
        record = await self._job(job)
        kind = jobs.kind_name(record.kind)
        sizes = []
        for index, file_id in enumerate(record.inputs):
            info = await self.storage.ledger.file_record(file_id)
            if info is None:
                raise UnknownInput(f"job {job}'s input {index}, 0x{file_id.hex()}, is no longer stored")
            sizes.append(info.size)
        files = [await self.storage.read(file_id) for file_id in record.inputs] if _fit(kind, sizes) else []

        def read_inputs() -> list[bytes]:
            kinds.check_input_sizes(kind, sizes)  # what a provider's runner refuses, before it reads them
            return files

        ran = await anyio.to_thread.run_sync(lambda: kinds.outcome(kind, read_inputs, bytes(record.params),
                                                                   bytes(record.seed)), abandon_on_cancel=True)
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / jobs.RESULT_NAME).exists():  # an earlier result or rerun: its outputs are not this run's
            for stale in {name for names in jobs.OUTPUT_NAMES.values() for name in names}:
                (folder / stale).unlink(missing_ok=True)
        written = []
        for name, data in [*sorted(ran.outputs.items()), (jobs.RESULT_NAME, kinds.canonical_json(ran.result))]:
            (path := folder / name).write_bytes(data)
            written.append(str(path))
        refused = None if ran.refused is None else f"{ran.refusal}: {ran.message}"
        agreeing = tuple(dict.fromkeys(slot.provider for slot in record.slots
                                       if slot.reveal is not None and slot.reveal.digest == ran.digest))
        return Rerun(job, tuple(written), dict(ran.result), ran.digest, record.digest, agreeing, refused,
                     record.resources.gpu_memory_mib > 0, ran.digest == record.digest)

    async def lineage(self, file_id: FileId | str) -> Lineage:
        """The graph from ``file_id`` back to the jobs, inputs, federated rounds and contributors that made it:
        the file alone if no verified job or federated round made it (an upload); :class:`FileNotFound` for a
        file the chain neither stores nor traces (an upload once deleted; a job's output keeps its lineage)."""
        root = parse_file_id(file_id)
        graph = await walk(self.market, root)
        if not graph.edges and await self.storage.ledger.file_record(root) is None:
            raise FileNotFound(root)
        return graph

    # --- helpers -------------------------------------------------------------------------------------

    async def _job(self, job: JobId) -> Job:
        record = await self.market.job(job)
        if record is None:
            raise UnknownJob(f"no job {job}")
        return record

    def _report(self, job_id: JobId, job: Job) -> JobStatus:
        slots = tuple(Slot(s.provider, s.round, s.status.name, s.price, None if s.reveal is None else s.reveal.digest,
                           () if s.reveal is None else tuple(s.reveal.outputs)) for s in job.slots)
        return JobStatus(job_id, jobs.kind_name(job.kind), job.submitter, tuple(job.inputs),
                         bytes(job.params).decode(errors="replace"), job.status.name, job.round, job.phase_deadline,
                         job.deadline, job.submitted_at, job.redundancy, job.price_cap, slots, tuple(job.outputs),
                         job.digest, kinds.refusal_of(job.digest), job.escrowed, job.escrow, job.paid, job.refunded,
                         job.parent)


def _fit(kind: str, sizes: Sequence[int]) -> bool:
    """Whether inputs of ``sizes`` pass the kind's size check (``kinds.check_input_sizes``)."""
    try:
        kinds.check_input_sizes(kind, sizes)
    except TooLarge:
        return False
    return True


def _verified_record(paths: Sequence[Path], digest: bytes | None) -> dict[str, object] | None:
    """The result record in ``paths[-1]`` (``result.json``) if it and the kind's outputs before it hash to
    ``digest`` (``kinds.result_digest``), else ``None``."""
    with paths[-1].open("rb") as file:
        record = file.read(MAX_RESULT_BYTES + 1)
    if len(record) > MAX_RESULT_BYTES:
        return None
    try:
        parsed = json.loads(record)
        if isinstance(parsed, dict) and digest == kinds.result_digest(
                {path.name: path.read_bytes() for path in paths[:-1]}, parsed):
            return parsed
    except (ValueError, RecursionError):  # not UTF-8 JSON, or a NaN the digest's canonical JSON refuses
        pass
    return None
