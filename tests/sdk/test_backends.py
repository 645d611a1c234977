"""One client implementation, three ways to run it: ``AsyncClient`` on asyncio (the other tests run it on
trio), and the blocking ``Client`` (on asyncio or trio in its background thread) in a ``with`` block."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest

from runtime.keyring import Keypair
from runtime.pallets.account import AccountInfo
from sdk.chain import AsyncClient, Client, UnknownItem

FERDIE = Keypair.from_uri("//Ferdie")


def test_async_client_on_asyncio(url):
    async def main():
        async with AsyncClient(url) as client:
            call = client.compose_call("System", "remark_with_event", {"remark": b"asyncio"})
            receipt = await client.sign_and_submit(call, FERDIE, wait_for_inclusion=True)
            async with client.subscribe_new_heads() as heads:
                head = await heads.__anext__()
            return receipt, head, await client.query("System", "Account", [FERDIE])

    receipt, head, account = anyio.run(main, backend="asyncio")
    assert receipt.is_success and ("System", "Remarked") in [(e.pallet, e.name) for e in receipt.triggered_events]
    assert head.number >= 1 and account.nonce >= 1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_blocking_client_in_a_with_block(url, backend):
    dest = Keypair.from_uri(f"//SdkBlocking{backend}")
    with Client(url, backend=backend) as client:
        assert isinstance(client.query("System", "Account", [FERDIE]), AccountInfo)
        accounts = dict(client.query_map("System", "Account", page_size=2))
        assert FERDIE.public in accounts
        with pytest.raises(UnknownItem):
            client.query("System", "Nope")

        def transfer(value: int):
            call = client.compose_call("Balances", "transfer_allow_death", {"dest": dest, "value": value})
            return client.sign_and_submit(call, FERDIE, wait_for_inclusion=True)

        with ThreadPoolExecutor(4) as pool:  # threads share the client's loop: four transfers in flight
            receipts = list(pool.map(transfer, [10**12 + i for i in range(4)]))
        assert all(r.is_success for r in receipts)
        assert client.query("System", "Account", [dest]).data.free == 4 * 10**12 + 6

        with client.subscribe_finalized_heads() as heads:
            first = next(heads)
            assert heads.id is not None
        assert first.number >= 1
        # a header handler may use the client, as substrate-interface's do: it runs in this thread
        assert client.subscribe_block_headers(
            lambda header, update_nr, _: client.get_block_hash(header.number) if update_nr == 1 else None) is not None
        with client.subscribe_events("Balances") as blocks:
            client.sign_and_submit(client.compose_call("Balances", "transfer_allow_death",
                                                       {"dest": dest, "value": 10**12}), FERDIE)
            assert any(e.name == "Transfer" and e.event.to == dest.public for e in next(blocks).events)
