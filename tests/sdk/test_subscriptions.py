"""Subscriptions through the async client on a real dev node: new and finalized heads, events of a pallet,
gap-free following of the finalized chain, and a consumer that falls a whole buffer behind."""

from __future__ import annotations

import anyio
import pytest

from runtime.keyring import Keypair
from sdk.chain import AsyncClient, RequestTimeout, SubscriptionOverflow


async def test_new_and_finalized_heads(client):
    with anyio.fail_after(60):
        async with client.subscribe_new_heads() as heads:
            numbers = []
            async for header in heads:
                assert await client.get_block_hash(header.number) == header.hash
                numbers.append(header.number)
                if len(numbers) == 3:
                    break
        assert numbers == sorted(numbers) and numbers[-1] > numbers[0]
        async with client.subscribe_finalized_heads() as finalized:
            header = await finalized.__anext__()
            assert header.number <= (await client.get_block_header()).number


async def test_subscribe_block_headers_with_a_handler_as_substrate_interface(client):
    seen = []

    def handler(header, update_nr, subscription_id):
        seen.append((update_nr, header.number, subscription_id))
        return header.number if update_nr == 1 else None

    with anyio.fail_after(60):
        result = await client.subscribe_block_headers(handler, finalized_only=True)
    assert [u for u, _, _ in seen] == [0, 1] and result == seen[1][1] > seen[0][1]
    assert seen[0][2] is not None


async def test_events_of_one_pallet(client):
    dest = Keypair.from_uri("//SdkEvents")
    with anyio.fail_after(60):
        async with client.subscribe_events("Balances") as blocks:
            call = client.compose_call("Balances", "transfer_allow_death", {"dest": dest, "value": 10**13})
            receipt = await client.sign_and_submit(call, "//Bob", wait_for_inclusion=True)
            async for block in blocks:
                assert {e.pallet for e in block.events} == {"Balances"}
                transfers = [e.event for e in block.events if e.name == "Transfer" and e.event.to == dest.public]
                if transfers:
                    break
    assert block.block_hash == receipt.block_hash and transfers[0].amount == 10**13


async def test_events_of_blocks_a_test_on_their_bytes_rejects_are_not_decoded(client):
    wanted, other = Keypair.from_uri("//SdkRelevant"), Keypair.from_uri("//SdkIrrelevant")
    tested: list[bytes] = []

    def relevant(raw: bytes) -> bool:
        tested.append(raw)
        return wanted.public in raw

    with anyio.fail_after(60):
        async with client.subscribe_events("Balances", relevant=relevant) as blocks:
            for dest in (other, wanted):  # two blocks: the first transfer's is rejected
                call = client.compose_call("Balances", "transfer_allow_death", {"dest": dest, "value": 10**13})
                await client.sign_and_submit(call, "//Bob", wait_for_inclusion=True)
            block = await blocks.__anext__()
    assert [e.event.to for e in block.events if e.name == "Transfer"] == [wanted.public]
    assert any(other.public in raw for raw in tested)  # that block was read, as bytes, and skipped


async def test_following_finalized_events_visits_every_block_once_in_order(client):
    numbers = []
    with anyio.fail_after(90):
        async with client.subscribe_events(finalized=True) as blocks:  # every block has its inherent's event
            async for block in blocks:
                assert await client.get_block_hash(block.block_number) == block.block_hash
                numbers.append(block.block_number)
                if len(numbers) == 4:
                    break
    assert numbers == list(range(numbers[0], numbers[0] + 4))


async def test_a_block_whose_events_did_not_come_is_visited_when_the_follower_goes_on(client, monkeypatch):
    ask, failed = client.rpc_request, []

    async def failing_once(method, params=None, *args, **kwargs):
        if method == "state_getStorage" and numbers and not failed:  # a block after the first
            failed.append(params[1])
            raise RequestTimeout(method, 30)
        return await ask(method, params, *args, **kwargs)

    numbers = []
    with anyio.fail_after(90):
        async with client.subscribe_events(finalized=True) as blocks:
            monkeypatch.setattr(client, "rpc_request", failing_once)
            while len(numbers) < 4:
                try:
                    numbers.append((await blocks.__anext__()).block_number)
                except RequestTimeout:
                    pass  # the one failure: the follower goes on
    assert failed and numbers == list(range(numbers[0], numbers[0] + 4))


async def test_followers_of_one_client_fetch_and_decode_each_block_once(client, monkeypatch):
    """A daemon's own follower, each upload's and each receipt visit the same recent blocks: their events are
    asked of the node once, and decoded once, however many of them look."""
    fetched: list[str] = []
    decoded: list[bytes] = []
    ask, decode = client.rpc_request, client.view.decode_events

    async def counting_request(method, params=None, *args, **kwargs):
        if method == "state_getStorage":
            fetched.append(params[1])
        return await ask(method, params, *args, **kwargs)

    def counting_decode(raw):
        decoded.append(raw)
        return decode(raw)

    monkeypatch.setattr(client, "rpc_request", counting_request)
    monkeypatch.setattr(client.view, "decode_events", counting_decode)
    seen: list[list[bytes]] = [[], []]

    async def follow(position: int, relevant) -> None:
        async with client.subscribe_events(finalized=True, relevant=relevant) as blocks:
            async for block in blocks:
                seen[position].append(block.block_hash)
                if len(seen[position]) == 3:
                    return

    with anyio.fail_after(90):
        async with anyio.create_task_group() as group:
            group.start_soon(follow, 0, None)
            group.start_soon(follow, 1, lambda raw: True)
        assert await client.get_events(seen[0][0]) == await client.get_events(seen[0][0])
    assert set(seen[0]) & set(seen[1])
    assert len(fetched) == len(set(fetched)) == len(decoded)  # one fetch and one decoding per block


async def test_a_consumer_a_whole_buffer_behind_gets_a_typed_error(url):
    async with AsyncClient(url, subscription_buffer=1) as client:
        with anyio.fail_after(60):
            async with client.subscribe_new_heads() as heads:
                start = (await client.get_block_header()).number
                while (await client.get_block_header()).number < start + 2:  # a second head arrives unread
                    await anyio.sleep(0.2)
                await heads.__anext__()  # the one that fit
                with pytest.raises(SubscriptionOverflow):
                    await heads.__anext__()
