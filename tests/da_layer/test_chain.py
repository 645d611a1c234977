"""The DA pallet in the real runtime on the dev chain, driven by the real ``substrate-interface`` client: a node
registers, a blob is submitted and attested against the chain's real genesis hash, and the client decodes the
pallet's storage and events by the names and shapes the contract fixes."""

from __future__ import annotations

import random

from substrateinterface import ExtrinsicReceipt, Keypair

from da_layer import bls, kzg
from da_layer.attestation import attestation_message, bitfield, registration_message
from da_layer.blobs import pack
from da_layer.pallet import Blob, BlobStatus, NodeSet
from devnet.local_chain import LocalChain
from node.chain_spec import preset
from tests.runtime.offline_client import offline_substrate


def submit(chain: LocalChain, substrate, keypair: Keypair, call_name: str, params: dict) -> ExtrinsicReceipt:
    call = substrate.compose_call("DataAvailability", call_name, params)
    extrinsic = substrate.create_signed_extrinsic(call, keypair)
    result = chain.produce_block([bytes(extrinsic.data.data)])
    assert not isinstance(result.outcomes[0], Exception), result.outcomes[0]
    receipt = ExtrinsicReceipt(substrate, extrinsic_hash="0x" + extrinsic.extrinsic_hash.hex(),
                               block_hash="0x" + result.block.hash.hex())
    assert receipt.is_success, receipt.error_message
    return receipt


def attributes(receipt: ExtrinsicReceipt, name: str) -> dict:
    return next(e.value["attributes"] for e in receipt.triggered_events
                if (e.value["module_id"], e.value["event_id"]) == ("DataAvailability", name))


def test_register_submit_attest_through_the_client():
    chain = LocalChain(preset("dev"))
    substrate = offline_substrate(chain)
    substrate.init_runtime()
    alice, bob = Keypair.create_from_uri("//Alice"), Keypair.create_from_uri("//Bob")
    secret = bls.secret_from_seed(b"bob's DA key seed, 32 bytes long")
    public = bls.public_key(secret)
    stake = substrate.get_constant("DataAvailability", "MinStake").value

    receipt = submit(chain, substrate, bob, "register", {
        "bls_public": "0x" + public.hex(), "proof_of_possession": "0x" + bls.pop_prove(secret).hex(),
        "registration_signature": "0x" + bls.sign(secret, registration_message(chain.genesis_hash, bob.public_key,
                                                                               public)).hex(),
        "endpoint": "0x" + b"http://127.0.0.1:9000".hex(), "stake": stake})
    assert attributes(receipt, "NodeRegistered")["stake"] == stake
    node = substrate.query("DataAvailability", "Nodes", [bob.ss58_address]).value
    assert node["bls_public"] == "0x" + public.hex() and node["stake"] == stake

    blob = pack(random.Random(5).randbytes(3000))[0]
    commitment = kzg.commitment(blob)
    receipt = submit(chain, substrate, alice, "submit_blob",
                     {"commitment": "0x" + commitment.hex(), "length": 3000, "namespace": 42})
    submitted = attributes(receipt, "BlobSubmitted")
    assert (submitted["length"], submitted["namespace"]) == (3000, 42)
    blob_id = bytes.fromhex(submitted["blob_id"][2:])

    raw = substrate.query("DataAvailability", "Blobs", ["0x" + blob_id.hex()])
    assert raw.value["status"] == "Pending"
    decoded = Blob.SCALE.decode(bytes(raw.data.data))  # the Python side reads the same bytes
    assert decoded.commitment == commitment and raw.value["node_set_id"] == "0x" + decoded.node_set_id.hex()
    node_set = substrate.query("DataAvailability", "NodeSets", [raw.value["node_set_id"]])
    assert node_set.value["members"] == [bob.ss58_address] and len(node_set.value["stakes"]) == 1
    assert NodeSet.SCALE.decode(bytes(node_set.data.data)).members == (bob.public_key,)

    message = attestation_message(chain.genesis_hash, blob_id, commitment)
    receipt = submit(chain, substrate, alice, "attest", {
        "blob_id": "0x" + blob_id.hex(), "signers": "0x" + bitfield([0], 1).hex(),
        "aggregate": "0x" + bls.aggregate([bls.sign(secret, message)]).hex()})
    assert attributes(receipt, "BlobAvailable")["blob_id"] == "0x" + blob_id.hex()
    after = Blob.SCALE.decode(bytes(substrate.query("DataAvailability", "Blobs", ["0x" + blob_id.hex()]).data.data))
    assert after.status is BlobStatus.Available
