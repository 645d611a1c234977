"""What the DataAvailability pallet's expensive calls cost the runtime: the figures behind its weights.

Dispatches real calls on a mock runtime (System, Balances, DataAvailability; ``runtime.frame.testing``) with
real BLS keys and a real blob, and times each call from dispatch to return (checks, crypto, storage writes,
events), next to the bare crypto it is built on:

- ``register``: one proof-of-possession check and one signature check (the key bound to the account); and
  into a full node set, where it also reads every member's stake and evicts the lowest;
- ``submit_blob``: the node set's stakes read, hashed and counted (stored when new);
- ``attest`` with 4 and with 100 signers: the quorum sum, the blob's custody dealt afresh (its cache cleared:
  1,024 draws by stake) and the columns the signers keep counted, decompressing every signer's key, one
  ``fast_aggregate_verify``;
- ``on_initialize`` starting audits, each dealing its blob's custody afresh;
- ``answer_audit``: one ``verify_cell_kzg_proof_batch`` of a single cell (the trusted setup already loaded).

Medians of ``--repeat`` runs (at most 64), in ms, appended to ``benchmarks/RESULTS.md``.
``DataAvailabilityWeights`` in ``da_layer/pallet.py`` is set from them.

    python benchmarks/da_pallet_weights.py [--repeat 15] [--no-record]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import time
from typing import Callable

from da_layer import bls, kzg
from da_layer.attestation import attestation_message, bitfield, registration_message
from da_layer.blobs import pack
from da_layer.custody import assignment
from da_layer.pallet import DEFINITION, AuditStarted, DataAvailability
from runtime.frame.composition import PalletSlot
from runtime.frame.pallet import Origin
from runtime.frame.testing import PARENT_HASH, TestExternalities, new_test_ext
from runtime.pallets import balances
from runtime.pallets.balances import Balances, BalancesGenesis
from runtime.pallets.system import System
from runtime.primitives import Digest

from results import record  # noqa: E402  (a sibling: the script's folder is on the path)

NODES = 100
NEWCOMERS = 64
"""Accounts beyond the full node set, each registering with a larger stake than the last (one eviction each)."""
SUBMITTER = b"\xee" * 32
ACCOUNTS = [i.to_bytes(2, "big") * 16 for i in range(NODES + NEWCOMERS)]
SECRETS = [bls.secret_from_seed(i.to_bytes(4, "big") * 8) for i in range(NODES + NEWCOMERS)]
PUBLICS = [bls.public_key(s) for s in SECRETS]
POPS = [bls.pop_prove(s) for s in SECRETS]
REGISTRATIONS = [bls.sign(s, registration_message(PARENT_HASH, who, public))  # the mock's genesis: block 1's parent
                 for s, who, public in zip(SECRETS, ACCOUNTS, PUBLICS)]


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def new_ext(repeat: int) -> TestExternalities:
    return new_test_ext(
        PalletSlot(5, balances.DEFINITION, lambda r: {
            "accounts": r.pallet(System), "hold_reasons": r.hold_reasons, "freeze_reasons": r.freeze_reasons}),
        PalletSlot(30, DEFINITION, lambda r: {"currency": r.pallet(Balances), "chain": r.pallet(System)}),
        params={"Balances": {"existential_deposit": 1},
                "DataAvailability": {"min_stake": 1, "fee_per_byte": 0, "max_nodes": NODES,
                                     "max_blobs_per_block": 3 * repeat, "audit_period": 2, "audits_per_period": repeat}},
        genesis={"Balances": BalancesGenesis(tuple((who, 10**6) for who in [SUBMITTER, *ACCOUNTS]))},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--no-record", action="store_true", help="Print only; append nothing to RESULTS.md.")
    args = parser.parse_args()
    repeat = min(args.repeat, NEWCOMERS)
    data = pack(random.Random(1).randbytes(100_000))[0]
    commitment = kzg.commitment(data)
    cells, proofs = kzg.cells_and_proofs(data)
    figures: dict[str, float] = {}

    message = b"cairn" * 20
    for count in (4, NODES):
        aggregate = bls.aggregate([bls.sign(s, message) for s in SECRETS[:count]])
        figures[f"bls.fast_aggregate_verify({count})"] = median_ms(
            lambda: bls.fast_aggregate_verify(PUBLICS[:count], message, aggregate), repeat)
    figures["bls.pop_verify"] = median_ms(lambda: bls.pop_verify(PUBLICS[0], POPS[0]), repeat)
    figures["bls.verify"] = median_ms(lambda: bls.verify(PUBLICS[0], registration_message(PARENT_HASH, ACCOUNTS[0],
                                                                                            PUBLICS[0]),
                                                         REGISTRATIONS[0]), repeat)
    figures["kzg.verify_cells(1)"] = median_ms(lambda: kzg.verify_cells([commitment], [3], [cells[3]], [proofs[3]]), repeat)

    with new_ext(repeat) as ext:
        pallet = ext.pallet(DataAvailability)
        registrations = iter(range(NODES + NEWCOMERS))

        def register(stake: int = 10) -> None:
            i = next(registrations)
            ext.dispatch(Origin.signed(ACCOUNTS[i]), "DataAvailability", "register", bls_public=PUBLICS[i],
                         proof_of_possession=POPS[i], registration_signature=REGISTRATIONS[i], endpoint=b"http://node",
                         stake=stake)

        figures["register"] = median_ms(register, repeat)
        for _ in range(NODES - repeat):
            register()
        stakes = iter(range(20, 20 + 10 * NEWCOMERS, 10))  # each one 10 units above the last: an eviction each
        figures["register (full set: an eviction)"] = median_ms(lambda: register(next(stakes)), repeat)

        def submit() -> bytes:
            ext.dispatch(Origin.signed(SUBMITTER), "DataAvailability", "submit_blob", commitment=commitment,
                         length=1000, namespace=0)
            return ext.events()[-1].blob_id

        figures["submit_blob"] = median_ms(submit, repeat)
        members = pallet.node_set.get()
        for count in (4, NODES):
            signers = list(range(NODES))[-count:]
            # 4 signers reach no quorum of 100 equal stakes: give them the stake that does before the blobs are
            # submitted, so that custody is dealt to them too
            if count < NODES:
                for i in signers:
                    pallet.nodes.mutate(members[i], lambda node: dataclasses.replace(node, stake=10**4))
            pending = iter([submit() for _ in range(repeat)])

            def attest() -> float:
                """Seconds the dispatch took (signing the attestations is not the runtime's work)."""
                blob_id = next(pending)
                text = attestation_message(PARENT_HASH, blob_id, commitment)
                keys = {who: i for i, who in enumerate(ACCOUNTS)}
                aggregate = bls.aggregate([bls.sign(SECRETS[keys[members[i]]], text) for i in signers])
                assignment.cache_clear()
                start = time.perf_counter()
                ext.dispatch(Origin.signed(SUBMITTER), "DataAvailability", "attest", blob_id=blob_id,
                             signers=bitfield(signers, NODES), aggregate=aggregate)
                return time.perf_counter() - start

            figures[f"attest({count} signers)"] = statistics.median(attest() for _ in range(repeat)) * 1e3

        system = ext.pallet(System)
        system.finalize()
        system.initialize(2, b"\x01" * 32, Digest())
        assignment.cache_clear()
        start = time.perf_counter()
        pallet.on_initialize(2)
        figures[f"on_initialize({repeat} audits started)"] = (time.perf_counter() - start) * 1e3
        audits = iter([e for e in ext.events() if isinstance(e, AuditStarted)])

        def answer() -> None:
            audit = next(audits)
            ext.dispatch(Origin.signed(audit.node), "DataAvailability", "answer_audit", audit_id=audit.audit_id,
                         cell=cells[audit.cell_index], proof=proofs[audit.cell_index])

        figures["answer_audit"] = median_ms(answer, repeat)

    width = max(len(name) for name in figures)
    table = "\n".join(f"{name:<{width}}  {ms:8.2f} ms" for name, ms in figures.items())
    print(table)
    if not args.no_record:
        record("DA pallet weights", "one process (mock runtime, no node)", f"```\n{table}\n```\n",
               notes=[f"medians of {repeat} runs; custody caches cleared before attest and on_initialize"])


if __name__ == "__main__":
    main()
