"""The real ``substrate-interface`` client composes, signs and decodes against this runtime."""

from __future__ import annotations

from substrateinterface import ExtrinsicReceipt, Keypair, KeypairType

from runtime.extrinsic import InvalidKind, TransactionValidityError


def _submit(chain, substrate, extrinsic) -> ExtrinsicReceipt:
    result = chain.produce_block([bytes(extrinsic.data.data)])
    outcome = result.outcomes[0]
    assert not isinstance(outcome, Exception), outcome
    return ExtrinsicReceipt(substrate, extrinsic_hash="0x" + extrinsic.extrinsic_hash.hex(),
                            block_hash="0x" + result.block.hash.hex())


def test_metadata_resolves_every_pallet_call_storage_event_and_error(substrate, chain):
    metadata = substrate.metadata
    runtime = chain.runtime
    for index, pallet in runtime.pallets.items():
        md = metadata.get_metadata_pallet(pallet.NAME)
        assert md is not None and md.value["index"] == index
        for spec in type(pallet).call_specs():
            assert substrate.get_metadata_call_function(pallet.NAME, spec.name) is not None
        for item in md.storage or []:
            assert substrate.get_metadata_storage_function(pallet.NAME, item.value["name"]) is not None
        for position, error in enumerate(type(pallet).ERRORS):
            assert metadata.get_module_error(index, position)["name"] == error.__name__
        events = {e.name for e in md.events or []}
        assert events == {cls.__name__ for cls in type(pallet).EVENTS}


def test_transfer_signed_by_the_client_applies_and_events_decode(chain, substrate, alice, bob):
    before = substrate.query("System", "Account", [bob.ss58_address]).value["data"]["free"]
    call = substrate.compose_call("Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": 10**12})
    receipt = _submit(chain, substrate, substrate.create_signed_extrinsic(call, alice))

    assert receipt.is_success
    names = [(e.value["module_id"], e.value["event_id"]) for e in receipt.triggered_events]
    assert names == [("Balances", "Withdraw"), ("Balances", "Transfer"),
                     ("TransactionPayment", "TransactionFeePaid"), ("System", "ExtrinsicSuccess")]
    transfer = receipt.triggered_events[1].value["attributes"]
    assert transfer == {"from": alice.ss58_address, "to": bob.ss58_address, "amount": 10**12}
    assert receipt.total_fee_amount > 0
    assert receipt.weight["ref_time"] > 0
    after = substrate.query("System", "Account", [bob.ss58_address]).value
    assert after["data"]["free"] == before + 10**12
    assert substrate.query("System", "Account", [alice.ss58_address]).value["nonce"] == 1


def test_failing_transfer_reports_module_error_and_still_pays(chain, substrate, alice):
    poor = Keypair.create_from_uri("//Alice//poor")
    call = substrate.compose_call("Balances", "transfer_allow_death", {"dest": poor.ss58_address, "value": 10**25})
    receipt = _submit(chain, substrate, substrate.create_signed_extrinsic(call, alice))

    assert receipt.is_success is False
    assert receipt.error_message["name"] == "InsufficientBalance"
    assert receipt.error_message["type"] == "Module"
    assert receipt.total_fee_amount > 0
    events = [(e.value["module_id"], e.value["event_id"]) for e in receipt.triggered_events]
    assert ("System", "ExtrinsicFailed") in events and ("Balances", "Transfer") not in events
    assert substrate.query("System", "Account", [poor.ss58_address]).value["providers"] == 0


def test_mortal_era_ed25519_and_long_payload_transactions(chain, substrate, alice, bob):
    chain.produce_block([])
    chain.produce_block([])
    remark = substrate.compose_call("System", "remark_with_event", {"remark": "0x" + "ab" * 300})
    receipt = _submit(chain, substrate, substrate.create_signed_extrinsic(remark, alice, era={"period": 64}))
    assert receipt.is_success
    assert "Remarked" in [e.value["event_id"] for e in receipt.triggered_events]

    ed = Keypair.create_from_seed("0x" + "11" * 32, crypto_type=KeypairType.ED25519)
    fund = substrate.compose_call("Balances", "transfer_allow_death", {"dest": ed.ss58_address, "value": 10**15})
    assert _submit(chain, substrate, substrate.create_signed_extrinsic(fund, alice)).is_success
    back = substrate.compose_call("Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": 10**12})
    assert _submit(chain, substrate, substrate.create_signed_extrinsic(back, ed)).is_success


def test_payment_info_and_query_map(chain, substrate, alice, bob):
    call = substrate.compose_call("Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": 10**12})
    info = substrate.get_payment_info(call, alice)
    assert info["partialFee"] > 0 and info["weight"]["ref_time"] > 0
    receipt = _submit(chain, substrate, substrate.create_signed_extrinsic(call, alice))
    assert receipt.total_fee_amount == info["partialFee"]

    accounts = {key.value: value.value for key, value in substrate.query_map("System", "Account")}
    assert alice.ss58_address in accounts and bob.ss58_address in accounts
    assert len(accounts) == 6


def test_sudo_dispatch_through_the_client(chain, substrate, alice, bob):
    inner = substrate.compose_call("Balances", "force_set_balance", {"who": bob.ss58_address, "new_free": 5 * 10**12})
    call = substrate.compose_call("Sudo", "sudo", {"call": inner})
    receipt = _submit(chain, substrate, substrate.create_signed_extrinsic(call, alice))
    assert receipt.is_success
    assert substrate.query("System", "Account", [bob.ss58_address]).value["data"]["free"] == 5 * 10**12
    sudid = [e for e in receipt.triggered_events if e.value["event_id"] == "Sudid"][0]
    assert sudid.value["attributes"]["sudo_result"] == {"Ok": ()}

    call = substrate.compose_call("Sudo", "sudo", {"call": inner})
    receipt = _submit(chain, substrate, substrate.create_signed_extrinsic(call, bob))
    assert receipt.error_message["name"] == "RequireSudo"


def test_resubmitted_transaction_is_stale(chain, substrate, alice, bob):
    call = substrate.compose_call("Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": 10**12})
    raw = bytes(substrate.create_signed_extrinsic(call, alice).data.data)
    chain.produce_block([raw])
    outcome = chain.produce_block([raw]).outcomes[0]
    assert isinstance(outcome, TransactionValidityError) and outcome.kind is InvalidKind.Stale
