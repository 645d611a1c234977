"""The same transfer, made by this client and by the unmodified ``substrate-interface``, lands identically:
the same call bytes, the same length, the same events and the same fee.

Both transfers go into one block (fees follow a per-block multiplier): this client's is signed with the
next nonce but one and submitted first, so it waits in the pool as a future transaction until
substrate-interface's, with the next nonce, makes it ready; the block then includes both.
"""

from __future__ import annotations

import dataclasses
import enum

import anyio
from substrateinterface import Keypair as SubstrateKeypair
from substrateinterface import SubstrateInterface

from runtime.keyring import Keypair
from runtime.scale import dataclass_fields
from runtime.ss58 import ss58_encode

SENDER = "//Eve"
DEST = Keypair.from_uri("//Bob")  # an existing account: neither transfer creates it


def substrate_shape(value):
    """One of our decoded values in the JSON shape substrate-interface decodes the same bytes to."""
    if isinstance(value, bytes) and len(value) == 32:
        return ss58_encode(value)
    if dataclasses.is_dataclass(value):
        return {f.wire_name: substrate_shape(getattr(value, f.name)) for f in dataclass_fields(type(value))}
    if isinstance(value, dict):
        return {k: substrate_shape(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return value.name
    return value


async def test_the_same_transfer_lands_identically_from_both_clients(client, url):
    substrate = SubstrateInterface(url=url)
    try:
        theirs_call = substrate.compose_call("Balances", "transfer_keep_alive",
                                             {"dest": DEST.ss58_address(), "value": 10**12})
        ours_call = client.compose_call("Balances", "transfer_keep_alive", {"dest": DEST.ss58_address(), "value": 10**12})
        nonce = await client.get_account_nonce(Keypair.from_uri(SENDER))
        if nonce == 63:  # nonces 63 and 64 differ in encoded length (compact): step past the boundary
            await client.sign_and_submit(client.compose_call("System", "remark", {"remark": b""}), SENDER,
                                         wait_for_inclusion=True)
            nonce += 1
        ours = await client.create_signed_extrinsic(ours_call, SENDER, nonce=nonce + 1, era=None)  # as theirs
        theirs = substrate.create_signed_extrinsic(theirs_call, SubstrateKeypair.create_from_uri(SENDER), nonce=nonce)
        assert ours.call_data == bytes(theirs_call.data.data)
        assert len(ours.data) == len(bytes(theirs.data.data))

        with anyio.fail_after(120):
            await client.submit_extrinsic(ours)  # pooled as a future transaction
            their_receipt = await anyio.to_thread.run_sync(
                lambda: substrate.submit_extrinsic(theirs, wait_for_inclusion=True))
            our_receipt = await client.get_extrinsic_receipt(ours.extrinsic_hash, their_receipt.block_hash)
        assert our_receipt.extrinsic_idx == their_receipt.extrinsic_idx + 1

        assert our_receipt.is_success and their_receipt.is_success
        assert our_receipt.total_fee_amount == their_receipt.total_fee_amount > 0
        assert [(e.pallet, e.name, substrate_shape(e.attributes)) for e in our_receipt.triggered_events] == \
               [(e.value["module_id"], e.value["event_id"], e.value["attributes"]) for e in their_receipt.triggered_events]
        block = substrate.get_block(their_receipt.block_hash)  # substrate-interface decodes ours too
        decoded = [x.value for x in block["extrinsics"]][our_receipt.extrinsic_idx]
        assert decoded["call"]["call_function"] == "transfer_keep_alive" and decoded["nonce"] == nonce + 1
    finally:
        substrate.close()
