"""What a storage audit costs the chain: bytes and runtime time per proof, per node and per TB stored per day.

An audit round challenges each node holding fragments once (up to ``challenges_per_audit`` nodes) for
``chunks_per_challenge`` chunks of one of its fragments; the node answers with one signed
``FileBank.submit_proof`` carrying a :class:`~storage_node.chunks.ChunkProof` per chunk. This script measures
that answer with the pallet's default parameters (8 MiB segments, 16 KiB chunks, 4 chunks per challenge, a round
every 300 blocks):

- **bytes on chain**: the signed extrinsic exactly as a block carries it (length prefix, sr25519 signature,
  immortal era as the daemon signs, the call encoded with the real Cairn runtime's codecs), for proofs built
  from real fragments: a random 8 MiB segment encrypted and coded with k = 3, m = 2 as the SDK does
  (``sdk.storage.segments.SegmentCodec``), proved as the daemon proves (``storage_node.service.prover``);
- **runtime time**: real ``submit_proof`` dispatches on the storage pallets' mock runtime
  (``tests/storage_node/pallets/mock.py``: System, Balances, StorageNodes, FileBank, StorageAccess) with the
  production parameters except a round every block, so that ``--repeat`` challenges come quickly (the period
  changes nothing in a dispatch); checks, Merkle verification, the reward, reputation and events, from dispatch
  to return (not the signature check or fee, which every extrinsic pays), next to decoding and verifying one
  proof alone;
- **fee**: what the runtime charges the answer up front (its weight, and the inclusion fee at genesis: base,
  length and weight); a passing answer gets it back (``Pays::No`` after dispatch), a failing one pays it;
- **per day**: a node is challenged once per round however much it stores, so it sends
  ``rounds per day × one answer`` (rounds per day from ``audit_period`` and the dev chain's slot), and a node
  storing X TB costs that / X per TB: given for 1 TB and 10 TB nodes.

The figures are set against the claims in ``storage_node/pallets/weights.py`` and ``FileBankParams``
(16,778 bytes per proof, 67,182 per 4-proof extrinsic, 16 µs to verify a proof, 110-430 µs per dispatch).
Medians of ``--repeat`` runs. Appends the figures to ``benchmarks/RESULTS.md``.

    python benchmarks/storage_audit_cost.py [--repeat 60] [--no-record]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package: the pallets' mock runtime

from node.chain_spec import preset  # noqa: E402
from runtime.extrinsic import encode_signed, signing_payload  # noqa: E402
from runtime.frame.overlay import Overlay  # noqa: E402
from runtime.frame.pallet import Origin  # noqa: E402
from runtime.frame.testing import TestExternalities, new_test_ext  # noqa: E402
from runtime.keyring import Keypair  # noqa: E402
from runtime.pallets.balances import BalancesGenesis  # noqa: E402
from runtime.pallets.transaction_payment import TransactionPayment  # noqa: E402
from runtime.primitives import Era  # noqa: E402
from runtime.weights import US  # noqa: E402
from sdk.storage.segments import SegmentCodec  # noqa: E402
from sdk.storage.wire import encode_body_prefix  # noqa: E402
from storage_node.chunks import ChunkProof, verify_chunk_proof  # noqa: E402
from storage_node.manifest import Manifest  # noqa: E402
from storage_node.pallets.file_bank import AuditPassed, Challenged, FileBank, FileBankParams  # noqa: E402
from storage_node.pallets.nodes import StorageNodesParams  # noqa: E402
from storage_node.params import MANIFEST_VERSION, SALT_LENGTH  # noqa: E402
from storage_node.service.prover import build_proofs  # noqa: E402
from tests.storage_node.pallets.mock import SLOTS, next_block  # noqa: E402
from results import record  # noqa: E402  (a sibling: the script's folder is on the path)

PARAMS = FileBankParams()
NODES = [Keypair.from_uri(f"//Storage{i}") for i in range(6)]
OWNER = Keypair.from_uri("//Alice")
NONCE = 1_000
"""The answering node's nonce in the measured extrinsic: 2 compact bytes, as for a node's first ~16,000
transactions (144 answers a day: about 110 days)."""
DAY_MS = 86_400_000
TOKEN = 10**12
CLAIMED_PROOF_BYTES = 16_778
CLAIMED_EXTRINSIC_BYTES = 67_182
CLAIMED_VERIFY_US = 16
CLAIMED_DISPATCH_US = (110, 430)
VERIFY_LOOPS = 2_000


@dataclass(frozen=True)
class Answer:
    """One challenge answered on the mock runtime."""

    node: Keypair
    challenge_id: int
    fragment: int
    proofs: tuple[bytes, ...]
    dispatch_s: float


@dataclass(frozen=True)
class CodedFile:
    """A one-segment file's manifest and its fragments as the storage nodes keep them."""

    manifest: Manifest
    bodies: tuple[bytes, ...]
    """Each fragment's stored body (the segment's fragment roots, then its bytes), by fragment index."""

    def proofs(self, fragment: int, chunk_indices: tuple[int, ...]) -> tuple[bytes, ...]:
        """What the daemon's prover submits for a challenge of these chunks of ``fragment``."""
        return tuple(proof.encode() for proof in build_proofs(self.bodies[fragment], len(self.bodies), fragment,
                                                               self.manifest.chunk_size, chunk_indices))


def real_file() -> CodedFile:
    """One 8 MiB segment of random bytes, encrypted and coded into k + m fragments as the SDK uploads it."""
    rng = random.Random(1)
    salt = rng.randbytes(SALT_LENGTH)
    k, m, size = PARAMS.default_k, PARAMS.default_m, PARAMS.segment_size
    codec = SegmentCodec(k=k, m=m, chunk_size=PARAMS.chunk_size, salt=salt, data_key=rng.randbytes(32))
    coded = codec.encode(0, rng.randbytes(size))
    manifest = Manifest(MANIFEST_VERSION, OWNER.public, salt, size, size, k, m, PARAMS.chunk_size, True,
                        (coded.root,))
    prefix = encode_body_prefix(coded.roots)
    return CodedFile(manifest, tuple(prefix + fragment.tobytes() for fragment in coded.fragments))


def new_ext() -> TestExternalities:
    """The storage pallets with their production parameters (a round every block), six nodes registered with
    the least stake and 1 TiB each."""
    stake = StorageNodesParams().min_stake
    ext = new_test_ext(*SLOTS, params={"Balances": {"existential_deposit": 1}, "FileBank": {"audit_period": 1}},
                       genesis={"Balances": BalancesGenesis(tuple((key.public, 10**18) for key in (OWNER, *NODES)))})
    with ext:
        for i, key in enumerate(NODES):
            ext.dispatch(Origin.signed(key.public), "StorageNodes", "register", endpoint=f"http://node-{i}".encode(),
                         capacity=1 << 40, stake=stake)
    return ext


def answer_challenges(stored: CodedFile, repeat: int) -> list[Answer]:
    """Declare and confirm ``stored``, then answer ``repeat`` challenges honestly, timing each dispatch."""
    by_public = {key.public: key for key in NODES}
    answers: list[Answer] = []
    with new_ext() as ext:
        file_id = stored.manifest.file_id()
        ext.dispatch(Origin.signed(OWNER.public), "FileBank", "declare", manifest=stored.manifest.encode())
        for j, node in enumerate(ext.pallet(FileBank).placements.get(file_id, 0)):
            ext.dispatch(Origin.signed(node), "FileBank", "confirm", file_id=file_id, fragments=((0, j),))
        while len(answers) < repeat:
            next_block(ext)
            for challenge in [e for e in ext.events() if isinstance(e, Challenged)][:repeat - len(answers)]:
                proofs = stored.proofs(challenge.fragment, challenge.chunk_indices)
                start = time.perf_counter()
                ext.dispatch(Origin.signed(challenge.node), "FileBank", "submit_proof",
                             challenge_id=challenge.challenge_id, proofs=proofs)
                elapsed = time.perf_counter() - start
                if not isinstance(ext.events()[-1], AuditPassed):
                    raise AssertionError(f"challenge {challenge.challenge_id} did not pass: {ext.events()[-1]}")
                answers.append(Answer(by_public[challenge.node], challenge.challenge_id, challenge.fragment, proofs,
                                      elapsed))
    return answers


def verify_us(stored: CodedFile, answer: Answer) -> float:
    """Microseconds to decode and verify one proof of ``answer`` (median of batches of ``VERIFY_LOOPS``)."""
    raw = answer.proofs[0]
    root = stored.manifest.segment_roots[0]
    width, chunks = len(stored.bodies), stored.manifest.chunk_count(0)

    def batch() -> float:
        start = time.perf_counter()
        for _ in range(VERIFY_LOOPS):
            ok = verify_chunk_proof(ChunkProof.decode(raw), segment_root=root, fragment_index=answer.fragment,
                                    fragment_count=width, chunk_count=chunks)
        elapsed = time.perf_counter() - start
        assert ok
        return elapsed / VERIFY_LOOPS

    return statistics.median(batch() for _ in range(5)) * 1e6


@dataclass(frozen=True)
class OnChain:
    """An answer as the real Cairn runtime sees it."""

    extrinsic: bytes
    """The signed extrinsic as a block carries it."""
    weight_us: float
    """The weight the runtime charges for its call (reference µs, without the extrinsic's base)."""
    fee: int
    """Its inclusion fee at genesis (fee multiplier 1), in planck."""


def on_chain(answers: list[Answer]) -> list[OnChain]:
    """Each answer signed as the daemon signs it and encoded with the real Cairn runtime, with its weight and fee."""
    runtime, genesis, state = preset("dev").build()
    version = runtime.VERSION
    out = []
    for answer in answers:
        call = runtime.call("FileBank", "submit_proof", challenge_id=answer.challenge_id, proofs=answer.proofs)
        call_bytes = runtime.call_codec.encode(call)
        payload = signing_payload(call_bytes, Era(), NONCE, 0, version.spec_version, version.transaction_version,
                                  genesis.hash, genesis.hash)
        key = answer.node
        extrinsic = encode_signed(call_bytes, key.public, key.scheme, key.sign(payload), Era(), NONCE, 0)
        info = runtime.dispatch_info(call)
        with runtime.executing(Overlay(state)):
            fee = runtime.pallet(TransactionPayment).query_info(len(extrinsic), info).partial_fee
        out.append(OnChain(extrinsic, info.weight.ref_time / US, fee))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    stored = real_file()
    answers = answer_challenges(stored, args.repeat)
    chain = on_chain(answers)
    extrinsics = [item.extrinsic for item in chain]
    fee = statistics.median(item.fee for item in chain) / TOKEN
    proof_sizes = sorted(len(raw) for answer in answers for raw in answer.proofs)
    ext_bytes = statistics.median(len(raw) for raw in extrinsics)
    dispatch_us = statistics.median(answer.dispatch_s for answer in answers) * 1e6
    one_verify_us = verify_us(stored, answers[0])
    charged_us = statistics.median(item.weight_us for item in chain)
    rounds_per_day = DAY_MS / (PARAMS.audit_period * preset("dev").slot_duration_ms)
    node_bytes_day = rounds_per_day * ext_bytes
    node_ms_day = rounds_per_day * dispatch_us / 1e3

    def compare(measured: float, claimed: float, unit: str) -> str:
        return f"claimed {claimed:,} {unit}: measured {measured - claimed:+,.0f} ({(measured / claimed - 1) * 100:+.0f} %)"

    low, high = CLAIMED_DISPATCH_US
    rows = [
        ("fragment (8 MiB segment, k = 3, m = 2, encrypted)",
         f"{stored.manifest.fragment_size(0):,} bytes, {stored.manifest.chunk_count(0)} chunks of {PARAMS.chunk_size}",
         "—"),
        ("one chunk proof (SCALE)", f"{proof_sizes[len(proof_sizes) // 2]:,} bytes (min {proof_sizes[0]:,}, "
         f"max {proof_sizes[-1]:,})", compare(proof_sizes[len(proof_sizes) // 2], CLAIMED_PROOF_BYTES, "bytes")),
        (f"signed submit_proof, {PARAMS.chunks_per_challenge} proofs (on chain)",
         f"{ext_bytes:,.0f} bytes (min {min(map(len, extrinsics)):,}, max {max(map(len, extrinsics)):,})",
         compare(ext_bytes, CLAIMED_EXTRINSIC_BYTES, "bytes")),
        ("decode + verify one proof", f"{one_verify_us:.1f} µs", compare(one_verify_us, CLAIMED_VERIFY_US, "µs")),
        ("submit_proof dispatch (median)", f"{dispatch_us:.0f} µs (min {min(a.dispatch_s for a in answers) * 1e6:.0f}, "
         f"max {max(a.dispatch_s for a in answers) * 1e6:.0f})",
         f"claimed {low}-{high} µs: {'as claimed' if low <= dispatch_us <= high else 'DIFFERS'}"),
        ("submit_proof weight charged (ref time, without the extrinsic base)", f"{charged_us:.0f} µs", "—"),
        ("its fee (base + length + weight, multiplier 1)", f"{fee:.4f} token charged; back on a pass, paid on a fail",
         "—"),
        (f"per node per day ({rounds_per_day:.0f} rounds: a round every {PARAMS.audit_period} blocks of 2 s)",
         f"{node_bytes_day / 1e6:.2f} MB, {node_ms_day:.0f} ms of runtime; no fee while it passes "
         f"({rounds_per_day * fee:.2f} token if every answer failed)", "—"),
    ]
    for tb in (1, 10):
        rows.append((f"per TB stored per day, a node storing {tb} TB",
                     f"{node_bytes_day / tb / 1e3:,.0f} KB, {node_ms_day / tb:.1f} ms of runtime", "—"))
    width = max(len(name) for name, _, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value}  [{note}]")
    if args.no_record:
        return
    record("Storage audit cost", "one process (mock runtime, no node)",
           "| figure | value | against the docstrings |\n|---|---|---|\n"
           + "".join(f"| {name} | {value} | {note} |\n" for name, value, note in rows),
           command=f"python benchmarks/storage_audit_cost.py --repeat {args.repeat}")


if __name__ == "__main__":
    main()
