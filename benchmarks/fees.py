"""What the data layers' calls are charged on the dev chain, against what they would pay at their declared bound.

A call whose cost depends on the chain's state is admitted at the worst its configuration allows (1,000 storage
nodes read to place a file, 1,000 providers read to assign a job, a verdict in every reveal, 128 DA nodes in a
blob's node set) and charged for what it used (``PostDispatchInfo``: the executive refunds the rest). The peer
here is that bound: the fee ``payment_queryInfo`` quotes, what the call would pay charged at its declared weight,
as such calls were before spec 172.

Drives the real Cairn runtime through real blocks of the dev chain (``devnet.local_chain.LocalChain``, the dev
preset's parameters, signed extrinsics): six dev accounts register as storage nodes, three of them as compute
providers and four as DA nodes; then Alice declares a file, submits a job with r = 2 that two providers commit to
and reveal (one reveal a block after the other: the first leaves a reveal to come, the second judges the job),
and submits a blob. Each call's quoted fee is computed at its block's fee multiplier, its charged fee is the one
the block took (``TransactionFeePaid``). A transfer, whose weight is fixed, is the control: quoted = charged. The
figures are computed, not timed: they move with the weights, the preset's fee parameters and the multiplier
(which each block of the run nudges).

    python benchmarks/fees.py [--no-record]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package: its chain and file helpers

from compute_pallet.commitment import commitment  # noqa: E402
from compute_pallet.kinds import KIND_IDS  # noqa: E402
from compute_pallet.pallets.jobs import ComputeJobs  # noqa: E402
from compute_pallet.pallets.providers import ComputeProviders  # noqa: E402
from compute_pallet.pallets.types import Hardware, Offer, Resources  # noqa: E402
from da_layer import bls, kzg  # noqa: E402
from da_layer.attestation import registration_message  # noqa: E402
from da_layer.blobs import pack  # noqa: E402
from da_layer.pallet import DataAvailability  # noqa: E402
from devnet.local_chain import LocalChain  # noqa: E402
from node.chain_spec import TOKEN_DECIMALS, TOKEN_SYMBOL  # noqa: E402
from runtime.extrinsic import decode_extrinsic  # noqa: E402
from runtime.hashing import blake2_256  # noqa: E402
from runtime.keyring import DEV_ACCOUNTS, Keypair  # noqa: E402
from runtime.weights import US  # noqa: E402
from storage_node.pallets.file_bank import FileBank  # noqa: E402
from storage_node.pallets.nodes import StorageNodes  # noqa: E402
from tests.runtime.frame_helpers import at, new_chain  # noqa: E402
from tests.runtime.helpers import NonceSigner  # noqa: E402
from tests.storage_node.pallets.mock import make_file  # noqa: E402
from results import record  # noqa: E402  (a sibling: the script's folder is on the path)

KEYS = [Keypair.from_uri(f"//{name}") for name in DEV_ACCOUNTS[:6]]
ALICE = KEYS[0]
PROVIDERS = KEYS[3:6]
DA_NODES = KEYS[2:6]
DIGEST = blake2_256(b"result")


@dataclass(frozen=True)
class Charge:
    """One extrinsic's quoted and charged weight and fee."""

    call: str
    situation: str
    admitted_us: float
    charged_us: float
    quoted: int
    charged: int


class DevChain:
    """The dev chain, block by block, with each signer's nonce kept and each measured extrinsic's charge."""

    def __init__(self) -> None:
        self.chain: LocalChain = new_chain("dev")
        self.signed = NonceSigner(self.chain)
        self.charges: list[Charge] = []

    def block(self, *extrinsics: bytes, measured: dict[int, str] | None = None, refused: int | None = None) -> None:
        """Produce a block of ``extrinsics``, every one of which must succeed but the one at position ``refused``,
        which must fail; ``measured`` names, by position, the extrinsics whose charge is recorded (with the
        situation they were in)."""
        measured = measured or {}
        runtime = self.chain.runtime
        calls = {i: decode_extrinsic(extrinsics[i], runtime.call_codec).call for i in measured}
        with at(self.chain) as runtime:  # this block's multiplier: the parent's end set it
            admitted = {i: runtime.dispatch_info(call) for i, call in calls.items()}
            quoted = {i: runtime.transaction_payment.compute_fee(len(extrinsics[i]), admitted[i], 0) for i in measured}
        result = self.chain.produce_block(list(extrinsics))
        errors = {i: outcome if isinstance(outcome, Exception) else outcome.error
                  for i, outcome in enumerate(result.outcomes)
                  if isinstance(outcome, Exception) or outcome.error is not None}  # left out, or failed
        if set(errors) != ({refused} if refused is not None else set()) or isinstance(errors.get(refused), Exception):
            raise RuntimeError(f"extrinsics failed: {errors}, where only number {refused} was to be refused")
        for i, situation in measured.items():
            outcome, call = result.outcomes[i], calls[i]
            self.charges.append(Charge(f"{call.pallet}.{call.name}", situation, admitted[i].weight.ref_time / US,
                                       outcome.info.weight.ref_time / US, quoted[i], outcome.fee))

    def number(self) -> int:
        return self.chain.blocks[self.chain.best_hash].header.number


def run() -> list[Charge]:
    dev = DevChain()
    chain, signed = dev.chain, dev.signed
    with at(chain) as runtime:
        node_stake = runtime.pallet(StorageNodes).config.min_stake
        provider_stake = runtime.pallet(ComputeProviders).config.min_stake
        da_stake = runtime.pallet(DataAvailability).config.min_stake
        bank = runtime.pallet(FileBank).config
    secrets = [bls.secret_from_seed(blake2_256(key.public)) for key in DA_NODES]
    publics = [bls.public_key(secret) for secret in secrets]
    dev.block(*(signed(key, "StorageNodes", "register", endpoint=f"http://n{i}".encode(), capacity=1 << 30,
                       stake=node_stake) for i, key in enumerate(KEYS)),
              *(signed(key, "ComputeProviders", "register", hardware=Hardware(4, 8_192, None),
                       offers=(Offer(KIND_IDS["train"], 10**12),), endpoint=b"http://p", stake=provider_stake)
                for key in PROVIDERS),
              *(signed(key, "DataAvailability", "register", bls_public=public,
                       proof_of_possession=bls.pop_prove(secret), endpoint=f"http://da-{i}".encode(), stake=da_stake,
                       registration_signature=bls.sign(secret, registration_message(chain.genesis_hash, key.public,
                                                                                    public)))
                for i, (key, secret, public) in enumerate(zip(DA_NODES, secrets, publics))),
              measured={len(KEYS) + len(PROVIDERS) + len(DA_NODES) - 1: f"the last of {len(DA_NODES)} DA nodes"})
    dev.block(signed(ALICE, "Balances", "transfer_keep_alive", dest=KEYS[1].public, value=10**12),
              measured={0: "fixed weight (the control)"})

    dataset = make_file(ALICE.public, 1_000_000, segment_size=bank.segment_size, chunk_size=bank.chunk_size)
    outputs = {key.public: make_file(key.public, 1_000, seed=1, segment_size=bank.segment_size,  # the same bytes
                                     chunk_size=bank.chunk_size) for key in PROVIDERS}
    dev.block(signed(ALICE, "FileBank", "declare", manifest=dataset.manifest.encode()),
              *(signed(key, "FileBank", "declare", manifest=outputs[key.public].manifest.encode())
                for key in PROVIDERS),
              measured={0: "1 MB (one segment), 6 storage nodes registered"})
    dev.block(signed(ALICE, "FileBank", "declare", manifest=dataset.manifest.encode()),
              measured={0: "refused: the file exists (before reading a node)"}, refused=0)
    by_key = {key.public: key for key in KEYS}
    stored = (dataset, *outputs.values())
    with at(chain) as runtime:
        placements = [[runtime.pallet(FileBank).placements.get(file.file_id, segment)
                       for segment in range(file.manifest.segment_count())] for file in stored]
    dev.block(*(signed(by_key[node], "FileBank", "confirm", file_id=file.file_id, fragments=((segment, j),))
                for file, segments in zip(stored, placements) for segment, placement in enumerate(segments)
                for j, node in enumerate(placement)))

    dev.block(signed(ALICE, "ComputeJobs", "submit", kind=KIND_IDS["train"], inputs=(dataset.file_id,),
                     params=b'{"hidden": [16]}', resources=Resources(2, 4_096, 0), price_cap=2 * 10**12,
                     deadline=dev.number() + 200, redundancy=2),
              measured={0: "r = 2, 3 providers registered"})
    with at(chain) as runtime:
        job = runtime.pallet(ComputeJobs).jobs.get(0)
    assigned = [by_key[slot.provider] for slot in job.slots]
    salt = bytes(32)
    dev.block(*(signed(key, "ComputeJobs", "commit", job_id=0, commitment=commitment(0, key.public, DIGEST, salt))
                for key in assigned), measured={0: "fixed weight"})
    first, last = (signed(key, "ComputeJobs", "reveal", job_id=0, digest=DIGEST, salt=salt,
                          outputs=(outputs[key.public].file_id,), scores=()) for key in assigned)
    dev.block(first, measured={0: "another reveal to come"})
    dev.block(last, measured={0: "the last: judges the job, pays both"})

    data = pack(blake2_256(b"blob") * 200)[0]
    dev.block(signed(ALICE, "DataAvailability", "submit_blob", commitment=kzg.commitment(data), length=6_400,
                     namespace=7), measured={0: "4 DA nodes registered"})
    return dev.charges


def cairn(plancks: int) -> str:
    return f"{plancks / 10**TOKEN_DECIMALS:.4f}"


def table(charges: list[Charge]) -> str:
    lines = [f"| call | situation | weight admitted (µs) | weight charged (µs) | fee at the bound ({TOKEN_SYMBOL}) "
             f"| fee charged ({TOKEN_SYMBOL}) | bound / charged |", "|---|---|---:|---:|---:|---:|---:|"]
    for c in charges:
        lines.append(f"| {c.call} | {c.situation} | {c.admitted_us:,.0f} | {c.charged_us:,.0f} | {cairn(c.quoted)} "
                     f"| {cairn(c.charged)} | {c.quoted / c.charged:.1f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-record", action="store_true", help="print the table, do not append it to RESULTS.md")
    args = parser.parse_args()
    figures = table(run())
    print(figures)
    if not args.no_record:
        record("Fees of state-dependent calls", "one process, no node (the runtime through real blocks)", figures,
               notes=["the dev chain (`new_chain(\"dev\")`): the dev preset's parameters and fee multiplier"])


if __name__ == "__main__":
    main()
