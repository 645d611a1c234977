"""A mock runtime for the compute pallets: System, Balances, the three storage pallets and ComputeProviders,
ComputeJobs, FederatedLearning at their Cairn indices, wired by ``runtime.cairn``'s own composition slots
(``StorageInfo`` is the runtime's adapter over the real FileBank and StorageAccess), with deadlines a few blocks long.

Inputs are real, active files (declared and confirmed on the storage mock's nodes); outputs are files the
providers upload themselves (active too: a reveal names stored files). A provider's work is simulated by what
it would put on chain: its commitment and its reveal.

    ext = new_ext(providers=3)
    with ext:
        dataset = stored_file(ext, ALICE)
        job_id = submit(ext, ALICE, inputs=(dataset,))
        for who in slot_providers(ext, job_id):
            commit(ext, job_id, who, HONEST)
        for who in slot_providers(ext, job_id):
            reveal(ext, job_id, who, HONEST)
"""

from __future__ import annotations

import dataclasses

from compute_pallet.commitment import commitment
from compute_pallet.kinds import KIND_IDS
from compute_pallet.pallets.jobs import ComputeJobs
from compute_pallet.pallets.providers import ComputeProviders
from compute_pallet.pallets.types import Hardware, Job, JobStatus, Offer, Resources, SlotStatus
from runtime.cairn import COMPOSITION
from runtime.frame.pallet import Origin, PostDispatchInfo
from runtime.frame.testing import TestExternalities, new_test_ext
from runtime.hashing import blake2_256
from runtime.pallets.balances import Balances, BalancesGenesis
from runtime.pallets.system import System
from storage_node.pallets.access import SEALED_KEY_LENGTH, StorageAccess
from storage_node.pallets.file_bank import FileBank
from tests.storage_node.pallets import mock as storage_mock
from tests.storage_node.pallets.mock import (
    ALICE, BOB, CHARLIE, NODES, StoredFile, confirm_all, declare, make_file, next_block, run_to)

__all__ = ["ALICE", "BOB", "CHARLIE", "NODES", "PROVIDERS", "PARTICIPANTS", "ENDOWMENT", "STAKE", "PRICE", "CAP", "HARDWARE",
           "RESOURCES", "HONEST", "WRONG", "TRAIN", "FEDAVG", "new_ext", "register_provider", "stored_file", "grant",
           "output_file", "default_output", "submit", "job", "slot_providers", "salt_of", "commit", "reveal", "next_block", "run_to",
           "free", "held", "heartbeat_all", "providers_pallet", "jobs_pallet", "referees"]

PROVIDERS = tuple(bytes([0x30 + i]) * 32 for i in range(8))
"""Provider accounts (``new_ext(providers=n)`` registers the first n)."""
PARTICIPANTS = tuple(bytes([0x50 + i]) * 32 for i in range(3))
"""Federated-learning participants (endowed, nothing else)."""
ENDOWMENT = storage_mock.ENDOWMENT
STAKE = 100_000
PRICE = 1_000
CAP = 1_500
"""Every mock provider charges ``PRICE`` per job; jobs cap executions at ``CAP``."""
HARDWARE = Hardware(8, 16_384, None)
RESOURCES = Resources(2, 4_096, 0)
HONEST = blake2_256(b"the honest result")
WRONG = blake2_256(b"a wrong result")
TRAIN = KIND_IDS["train"]
FEDAVG = KIND_IDS["fedavg"]

PARAMS = {
    **storage_mock.PARAMS,
    "ComputeProviders": {"min_stake": 10_000, "heartbeat_timeout": 20, "dispute_slash": 100_000_000,
                         "no_show_slash": 50_000_000, "max_providers": 16, "max_jobs_per_provider": 8},
    "ComputeJobs": {"commit_period": 5, "reveal_period": 3, "max_job_duration": 500, "dispute_extra": 1},
    "FederatedLearning": {"min_stake": 100, "aggregation_deadline": 40, "no_show_slash": 100_000_000},
}
"""Deadlines of a few blocks; slashes of 10% (disputes, FL no-shows) and 5% (job no-shows) keep sums readable."""


SLOTS = (*(slot for slot in COMPOSITION if slot.index == 1), *storage_mock.SLOTS,
         *(slot for slot in COMPOSITION if slot.index in (40, 41, 42)))
"""The compute pallets exactly as the runtime wires them, and Timestamp for their block time (2 s; no
timestamp is set: ``next_block`` runs no ``on_finalize``)."""


def new_ext(*, providers: int = 3, nodes: int = 6, params: dict | None = None,
            prices: dict[bytes, int] | None = None) -> TestExternalities:
    """ALICE, BOB, CHARLIE, every storage node, provider and participant account endowed; ``nodes`` storage nodes and the
    first ``providers`` providers registered (every kind at ``PRICE``, or ``prices[who]``); block 1 begun."""
    merged = {pallet: {**fields, **(params or {}).get(pallet, {})} for pallet, fields in PARAMS.items()}
    ext = new_test_ext(*SLOTS, params=merged, genesis={"Balances": BalancesGenesis(
        tuple((who, ENDOWMENT) for who in (ALICE, BOB, CHARLIE, *NODES, *PROVIDERS, *PARTICIPANTS)))})
    with ext:
        for i, node in enumerate(NODES[:nodes]):
            ext.dispatch(Origin.signed(node), "StorageNodes", "register", endpoint=f"http://node-{i}".encode(),
                         capacity=storage_mock.CAPACITY, stake=storage_mock.STAKE)
        for who in PROVIDERS[:providers]:
            register_provider(ext, who, price=(prices or {}).get(who, PRICE))
    return ext


def register_provider(ext: TestExternalities, who: bytes, *, price: int = PRICE,
                      hardware: Hardware = HARDWARE) -> None:
    """Register ``who`` offering every kind at ``price`` with its encryption key (a private input's job is only
    assigned to a provider it can be granted to), and upload its ``default_output``."""
    output_file(ext, who, 0)
    if not ext.pallet(StorageAccess).keys.contains(who):
        ext.dispatch(Origin.signed(who), "StorageAccess", "register_key", key=bytes(32))
    ext.dispatch(Origin.signed(who), "ComputeProviders", "register", hardware=hardware,
                 offers=tuple(Offer(kind, price) for kind in sorted(KIND_IDS.values())),
                 endpoint=b"http://provider-" + who[:1].hex().encode(), stake=STAKE)


def stored_file(ext: TestExternalities, owner: bytes, *, seed: int = 0, encrypted: bool = False,
                size: int = 3000, embargoed: bool = False) -> bytes:
    """An active file of ``owner``'s (declared, under embargo if ``embargoed``, every fragment confirmed);
    returns its id."""
    stored = declare(ext, owner, size, seed=seed, encrypted=encrypted, embargoed=embargoed)
    confirm_all(ext, stored)
    return stored.file_id


def grant(ext: TestExternalities, file_id: bytes, owner: bytes, grantee: bytes) -> None:
    """``owner`` grants ``grantee`` (its X25519 key registered first, unless it has one) read access to
    ``file_id``."""
    if not ext.pallet(StorageAccess).keys.contains(grantee):
        ext.dispatch(Origin.signed(grantee), "StorageAccess", "register_key", key=bytes(32))
    ext.dispatch(Origin.signed(owner), "StorageAccess", "grant", file_id=file_id, grantee=grantee,
                 sealed_key=bytes(SEALED_KEY_LENGTH))


def output_file(ext: TestExternalities, who: bytes, seed: int) -> bytes:
    """A file ``who`` uploads as a job output (declared and confirmed: a reveal names stored files)."""
    return stored_file(ext, who, seed=10_000 + seed, size=1000)


def copy_of(ext: TestExternalities, file_id: bytes, who: bytes) -> bytes:
    """``who``'s own upload of the bytes ``file_id`` holds (declared and confirmed): an agreeing provider's
    upload of the same output as another's."""
    bank = ext.pallet(FileBank)
    info = bank.files.get(file_id)
    roots = [bank.segment_roots.get(file_id, segment) for segment in range(info.segment_count)]
    manifest = dataclasses.replace(info.manifest(roots), owner=who)
    ext.dispatch(Origin.signed(who), "FileBank", "declare", manifest=manifest.encode())
    confirm_all(ext, StoredFile(manifest, {}))
    return manifest.file_id()


def default_output(who: bytes) -> bytes:
    """The output file every mock provider uploaded when it registered (its reveals name it by default, so
    that a test's balances see no storage fees during a job)."""
    return make_file(who, 1000, seed=10_000).file_id


def submit(ext: TestExternalities, who: bytes, *, inputs: tuple[bytes, ...], kind: int = TRAIN,
           params: bytes = b'{"hidden": [16]}', resources: Resources = RESOURCES, price_cap: int = CAP,
           deadline: int | None = None, redundancy: int = 2) -> int:
    """Submit a job as ``who``; returns its id."""
    job_id = jobs_pallet(ext).next_job_id.get()
    ext.dispatch(Origin.signed(who), "ComputeJobs", "submit", kind=kind, inputs=inputs, params=params,
                 resources=resources, price_cap=price_cap,
                 deadline=deadline if deadline is not None else ext.pallet(System).number.get() + 100,
                 redundancy=redundancy)
    return job_id


def job(ext: TestExternalities, job_id: int) -> Job:
    return jobs_pallet(ext).jobs.get(job_id)


def slot_providers(ext: TestExternalities, job_id: int, status: SlotStatus = SlotStatus.Assigned) -> list[bytes]:
    return [slot.provider for slot in job(ext, job_id).slots if slot.status is status]


def referees(ext: TestExternalities, job_id: int) -> list[bytes]:
    """The providers of the dispute the job just opened: drawn at the next block, begun here."""
    assert job(ext, job_id).status is JobStatus.Disputing
    next_block(ext)
    return slot_providers(ext, job_id)


def salt_of(who: bytes) -> bytes:
    return blake2_256(b"salt" + who)


def commit(ext: TestExternalities, job_id: int, who: bytes, digest: bytes) -> None:
    ext.dispatch(Origin.signed(who), "ComputeJobs", "commit", job_id=job_id,
                 commitment=commitment(job_id, who, digest, salt_of(who)))


def reveal(ext: TestExternalities, job_id: int, who: bytes, digest: bytes, *, scores: tuple[int, ...] = (),
           outputs: tuple[bytes, ...] | None = None) -> PostDispatchInfo | None:
    return ext.dispatch(Origin.signed(who), "ComputeJobs", "reveal", job_id=job_id, digest=digest,
                        salt=salt_of(who), outputs=outputs if outputs is not None else (default_output(who),),
                        scores=scores)


def heartbeat_all(ext: TestExternalities, accounts: tuple[bytes, ...]) -> None:
    for who in accounts:
        ext.dispatch(Origin.signed(who), "ComputeProviders", "heartbeat")


def providers_pallet(ext: TestExternalities) -> ComputeProviders:
    return ext.pallet(ComputeProviders)


def jobs_pallet(ext: TestExternalities) -> ComputeJobs:
    return ext.pallet(ComputeJobs)


def free(ext: TestExternalities, who: bytes) -> int:
    return ext.pallet(Balances).free_balance(who)


def held(ext: TestExternalities, reason: object, who: bytes) -> int:
    return ext.pallet(Balances).balance_on_hold(reason, who)  # type: ignore[arg-type]
