"""Transactions through the async client on a real dev node: receipts to inclusion and finality, module
errors by name, many transactions in flight from one account, refusals with Substrate's codes."""

from __future__ import annotations

import anyio
import pytest

from compute_pallet.pallets.types import Hardware, Offer
from runtime.keyring import Keypair
from sdk.chain import AsyncClient, InvalidTransaction, keypair_from_file
from sdk.chain.client import MORTAL_PERIOD

ALICE = Keypair.from_uri("//Alice")


async def test_transfer_to_finality_gives_a_full_receipt(client):
    dest = Keypair.from_uri("//SdkFinality")
    before = (await client.query("System", "Account", [dest])).data.free
    call = client.compose_call("Balances", "transfer_allow_death", {"dest": dest.ss58_address(), "value": 10**15})
    receipt = await client.sign_and_submit(call, "//Alice", wait_for_finalization=True)
    assert receipt.is_success and receipt.finalized and receipt.error_message is None
    assert receipt.block_hash == await client.get_block_hash(receipt.block_number)
    block = await client.get_block(receipt.block_hash)
    assert block.extrinsics[receipt.extrinsic_idx].hash == receipt.extrinsic_hash
    names = [(e.pallet, e.name) for e in receipt.triggered_events]
    assert names == [("Balances", "Withdraw"), ("System", "NewAccount"), ("Balances", "Endowed"),
                     ("Balances", "Transfer"), ("TransactionPayment", "TransactionFeePaid"),
                     ("System", "ExtrinsicSuccess")]
    transfer = receipt.triggered_events[3].event
    assert (transfer.from_, transfer.to, transfer.amount) == (ALICE.public, dest.public, 10**15)
    assert receipt.total_fee_amount == receipt.triggered_events[0].event.amount > 0
    assert receipt.weight is not None and receipt.weight.ref_time > 0
    assert (await client.query("System", "Account", [dest], block_hash=receipt.block_hash)).data.free == before + 10**15


async def test_a_failing_call_names_its_module_error_and_still_pays(client):
    call = client.compose_call("Balances", "transfer_allow_death", {"dest": Keypair.from_uri("//Bob"), "value": 10**30})
    receipt = await client.sign_and_submit(call, ALICE, wait_for_inclusion=True)
    assert receipt.is_success is False
    failure = receipt.error_message
    assert (failure.kind, failure.pallet, failure.name) == ("Module", "Balances", "InsufficientBalance")
    assert str(failure) == "Balances.InsufficientBalance: Balance too low to send value."
    assert receipt.total_fee_amount > 0
    assert [(e.pallet, e.name) for e in receipt.triggered_events][-1] == ("System", "ExtrinsicFailed")


async def test_a_module_error_names_the_constant_its_doc_refers_to_with_its_value(client):
    """``StakeTooLow``'s doc says "below ``MinStake``": the failure says how much that is, and drops the markup."""
    minimum = client.get_constant("ComputeProviders", "MinStake")
    call = client.compose_call("ComputeProviders", "register", {
        "hardware": Hardware(1, 1024, None), "offers": (Offer(0, 1),), "endpoint": b"http://127.0.0.1:9",
        "stake": minimum - 1})
    receipt = await client.sign_and_submit(call, ALICE, wait_for_inclusion=True)
    assert str(receipt.error_message) == f"ComputeProviders.StakeTooLow: The stake is below MinStake ({minimum})."


async def test_a_root_only_call_fails_with_bad_origin(client):
    call = client.compose_call("System", "set_storage", {"items": ()})
    receipt = await client.sign_and_submit(call, ALICE, wait_for_inclusion=True)
    assert receipt.is_success is False and str(receipt.error_message) == "BadOrigin"


async def test_many_transactions_in_flight_from_one_account(client):
    sender = Keypair.from_uri("//Charlie")
    dest = Keypair.from_uri("//SdkInFlight")
    first = await client.get_account_nonce(sender)
    receipts = []

    async def transfer(value: int) -> None:
        call = client.compose_call("Balances", "transfer_allow_death", {"dest": dest, "value": value})
        receipts.append(await client.sign_and_submit(call, sender, wait_for_inclusion=True))

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(transfer, 10**12 + i)
    assert len(receipts) == 40 and all(r.is_success for r in receipts)
    extrinsics = {}
    for r in receipts:
        block = await client.get_block(r.block_hash)
        extrinsics[r.extrinsic_hash] = block.extrinsics[r.extrinsic_idx]
    assert sorted(x.nonce for x in extrinsics.values()) == list(range(first, first + 40))
    assert await client.get_account_nonce(sender) == first + 40


async def test_a_stale_nonce_is_refused_with_substrates_code_and_the_manager_resyncs(client, url):
    call = client.compose_call("System", "remark", {"remark": b"stale"})
    await client.sign_and_submit(call, ALICE, wait_for_inclusion=True)  # Alice's nonce is now at least 1
    stale = await client.create_signed_extrinsic(call, ALICE, nonce=0)
    with pytest.raises(InvalidTransaction) as refused:
        await client.submit_extrinsic(stale, wait_for_inclusion=True)
    assert refused.value.code == 1010 and refused.value.reason == "Transaction is outdated"
    assert refused.value.is_nonce_error

    assert (await client.sign_and_submit(call, ALICE, wait_for_inclusion=True)).is_success  # count seeded
    async with AsyncClient(url) as other:  # another program uses the account: this client's count is stale
        assert (await other.sign_and_submit(call, ALICE, wait_for_inclusion=True)).is_success
    receipt = await client.sign_and_submit(call, ALICE, wait_for_inclusion=True)  # refused once, re-signed
    assert receipt.is_success


async def test_two_programs_sending_from_one_account_at_once_both_get_every_transaction_in(client, url):
    """An operator's storage node and provider share an account, each client counting nonces on its own: a
    nonce the other took first (1014, or 1010 outdated) is read again and re-signed, never surfaced."""
    call = client.compose_call("System", "remark", {"remark": b"shared"})
    receipts = []

    async def send(sender: AsyncClient) -> None:
        receipts.append(await sender.sign_and_submit(call, ALICE, wait_for_inclusion=True))

    async with AsyncClient(url) as other:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for i in range(12):
                    tg.start_soon(send, client if i % 2 else other)
    assert len(receipts) == 12 and all(r.is_success for r in receipts)


async def test_resubmitting_an_included_transaction_is_refused_as_banned(client):
    extrinsic = await client.create_signed_extrinsic(client.compose_call("System", "remark", {"remark": b"x"}), ALICE)
    assert (await client.submit_extrinsic(extrinsic, wait_for_inclusion=True)).is_success
    with pytest.raises(InvalidTransaction) as refused:
        await client.submit_extrinsic(extrinsic)
    assert refused.value.code == 1012


async def test_a_signed_transaction_never_submitted_holds_up_no_later_one(client, url):
    sender = Keypair.from_uri("//SdkUnsubmitted")
    call = client.compose_call("Balances", "transfer_allow_death", {"dest": sender.public, "value": 10**15})
    assert (await client.sign_and_submit(call, ALICE, wait_for_inclusion=True)).is_success
    async with AsyncClient(url, watch_timeout=30) as client:
        remark = client.compose_call("System", "remark", {"remark": b"z"})
        kept = await client.create_signed_extrinsic(remark, sender)  # inspected, never sent
        sent = await client.create_signed_extrinsic(remark, sender, era=None)  # another transaction, same nonce
        assert kept.nonce == sent.nonce == 0
        assert (await client.submit_extrinsic(sent, wait_for_inclusion=True)).is_success
        receipt = await client.sign_and_submit(remark, sender, wait_for_inclusion=True)  # not stuck behind it
        assert receipt.is_success and (await client.create_signed_extrinsic(remark, sender)).nonce == 2


async def test_submit_without_waiting_returns_the_hash_and_the_transaction_lands(client):
    """The heads are followed from before the submission, and every block from the best one then to each new
    head is looked at: a block that was best only between two notifications is not missed."""
    extrinsic = await client.create_signed_extrinsic(client.compose_call("System", "remark", {"remark": b"y"}), ALICE)
    with anyio.fail_after(60):
        async with client.subscribe_new_heads() as heads:
            scanned = (await heads.__anext__()).number  # the head when subscribed (the first one sent)
            receipt = await client.submit_extrinsic(extrinsic)
            assert receipt.extrinsic_hash == extrinsic.extrinsic_hash and receipt.is_success is None
            landed = False
            async for header in heads:
                while scanned < header.number and not landed:
                    scanned += 1
                    block = await client.get_block(block_number=scanned)
                    landed = any(x.hash == extrinsic.extrinsic_hash for x in block.extrinsics)
                if landed:
                    break


async def test_transactions_are_mortal_unless_asked_and_one_from_a_key_file_lands(client, tmp_path):
    """Immortal by default, a transaction could be replayed whenever its nonce came round again (an account
    reaped starts again at nonce 0): anyone who kept one could send it again and drain what came after."""
    key_file = tmp_path / "dave.key"
    key_file.write_text("//Dave\n")
    dave = keypair_from_file(key_file)
    assert dave.public == Keypair.from_uri("//Dave").public
    remark = client.compose_call("System", "remark", {"remark": b"m"})
    immortal = await client.create_signed_extrinsic(remark, dave, era=None, nonce=0)
    assert immortal.era.immortal
    extrinsic = await client.create_signed_extrinsic(remark, dave)
    assert extrinsic.era.period == MORTAL_PERIOD == 64
    receipt = await client.submit_extrinsic(extrinsic, wait_for_inclusion=True)
    assert receipt.is_success


async def test_calls_sent_together_are_watched_once_and_each_gets_its_own_receipt(client, monkeypatch):
    dest = Keypair.from_uri("//SdkTogether")
    watches = []
    subscribe = client._transport.subscribe

    def counting(method, *args, **kwargs):
        watches.append(method)
        return subscribe(method, *args, **kwargs)

    monkeypatch.setattr(client._transport, "subscribe", counting)
    calls = [client.compose_call("Balances", "transfer_allow_death", {"dest": dest, "value": value})
             for value in (10**15, 10**30, 2 * 10**15)]
    receipts = await client.sign_and_submit_all(calls, "//Dave", wait_for_inclusion=True)
    assert watches == ["author_submitAndWatchExtrinsic"]
    assert [r.is_success for r in receipts] == [True, False, True]
    assert str(receipts[1].error_message) == "Balances.InsufficientBalance: Balance too low to send value."
    for receipt in receipts:
        block = await client.get_block(receipt.block_hash)
        assert block.extrinsics[receipt.extrinsic_idx].hash == receipt.extrinsic_hash
        assert receipt.total_fee_amount > 0


async def test_the_receipt_of_an_earlier_call_is_found_in_an_ancestor_of_the_last_ones_block(client):
    dest = Keypair.from_uri("//SdkAncestor")
    call = client.compose_call("Balances", "transfer_allow_death", {"dest": dest, "value": 10**15})
    first = await client.sign_and_submit(call, "//Eve", wait_for_inclusion=True)
    second = await client.sign_and_submit(call, "//Eve", wait_for_inclusion=True)
    assert first.block_number < second.block_number
    found = await client._receipts_back_from(second.block_hash, [first.extrinsic_hash, second.extrinsic_hash],
                                             finalized=False)
    assert [(r.block_hash, r.extrinsic_idx, r.is_success) for r in found] == [
        (first.block_hash, first.extrinsic_idx, True), (second.block_hash, second.extrinsic_idx, True)]
