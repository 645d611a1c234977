"""The compute pallets in the real Cairn runtime, through real blocks of the dev chain: signed extrinsics with
their weights and fees, ``on_initialize`` driven by the executive, the dev preset's parameters, StorageInfo
wired to the real FileBank and StorageAccess. Six dev accounts store a file; two of them also provide compute,
run a job on it, commit, reveal, and are paid; the output's lineage names the input."""

from __future__ import annotations

from compute_pallet.commitment import commitment
from compute_pallet.kinds import KIND_IDS
from compute_pallet.pallets.jobs import ComputeJobs, JobVerified
from compute_pallet.pallets.providers import ComputeProviders
from compute_pallet.pallets.types import Hardware, JobStatus, Offer, Resources
from runtime.hashing import blake2_256
from runtime.keyring import DEV_ACCOUNTS, Keypair
from storage_node.pallets.file_bank import FileBank
from storage_node.pallets.nodes import StorageNodes
from tests.runtime.frame_helpers import at, events_at, new_chain
from tests.runtime.helpers import NonceSigner
from tests.storage_node.pallets.mock import make_file

KEYS = [Keypair.from_uri(f"//{name}") for name in DEV_ACCOUNTS[:6]]
ALICE = KEYS[0]
PROVIDERS = KEYS[4:6]
DIGEST = blake2_256(b"result")


def test_a_job_through_real_blocks_is_verified_and_paid():
    chain = new_chain("dev")
    signed = NonceSigner(chain)
    by_key = {key.public: key for key in KEYS}

    def block(*extrinsics: bytes) -> None:
        result = chain.produce_block(list(extrinsics))
        assert all(outcome.error is None for outcome in result.outcomes), [o.error for o in result.outcomes]

    with at(chain) as runtime:
        node_stake = runtime.pallet(StorageNodes).config.min_stake
        provider_stake = runtime.pallet(ComputeProviders).config.min_stake
        bank = runtime.pallet(FileBank).config
    block(*(signed(key, "StorageNodes", "register", endpoint=f"http://n{i}".encode(), capacity=1 << 30,
                   stake=node_stake) for i, key in enumerate(KEYS)))
    dataset = make_file(ALICE.public, 10_000, segment_size=bank.segment_size, chunk_size=bank.chunk_size)
    outputs = {key.public: make_file(key.public, 1_000, seed=1, segment_size=bank.segment_size,  # the same bytes
                                     chunk_size=bank.chunk_size) for key in PROVIDERS}
    block(signed(ALICE, "FileBank", "declare", manifest=dataset.manifest.encode()),
          *(signed(key, "FileBank", "declare", manifest=outputs[key.public].manifest.encode()) for key in PROVIDERS),
          *(signed(key, "ComputeProviders", "register", hardware=Hardware(4, 8_192, None),
                   offers=(Offer(KIND_IDS["train"], 10**12),), endpoint=b"http://p", stake=provider_stake)
            for key in PROVIDERS))
    stored = (dataset, *outputs.values())  # a reveal names stored outputs
    with at(chain) as runtime:
        placements = [runtime.pallet(FileBank).placements.get(file.file_id, 0) for file in stored]
    block(*(signed(by_key[node], "FileBank", "confirm", file_id=file.file_id, fragments=((0, j),))
            for file, placement in zip(stored, placements) for j, node in enumerate(placement)))

    block(signed(ALICE, "ComputeJobs", "submit", kind=KIND_IDS["train"], inputs=(dataset.file_id,),
                 params=b'{"hidden": [16]}', resources=Resources(2, 4_096, 0), price_cap=2 * 10**12,
                 deadline=chain.blocks[chain.best_hash].header.number + 200, redundancy=2))
    with at(chain) as runtime:
        job = runtime.pallet(ComputeJobs).jobs.get(0)
    assert {slot.provider for slot in job.slots} == {key.public for key in PROVIDERS}
    salt = bytes(32)
    block(*(signed(key, "ComputeJobs", "commit", job_id=0, commitment=commitment(0, key.public, DIGEST, salt))
            for key in PROVIDERS))
    block(*(signed(key, "ComputeJobs", "reveal", job_id=0, digest=DIGEST, salt=salt,
                   outputs=(outputs[key.public].file_id,), scores=()) for key in PROVIDERS))
    verified = [e for e in events_at(chain) if isinstance(e, JobVerified)]
    assert verified and verified[0].paid == 2 * 10**12
    with at(chain) as runtime:
        jobs = runtime.pallet(ComputeJobs)
        assert jobs.jobs.get(0).status is JobStatus.Verified
        entry = jobs.lineage.get(verified[0].outputs[0])
    assert entry.inputs == (dataset.file_id,) and entry.job_id == 0
