"""Concurrent senders from one account through one client, as a storage node's prover, confirmer and repairer
are: a transaction the node refuses must not strand the others. (Before the nonce manager held the account
until the node pooled each transaction, the ones signed after a refused one waited in the pool's future
queue for its nonce and were dropped a minute later.)"""

from __future__ import annotations

import anyio

from runtime.keyring import Keypair
from sdk.chain import ExtrinsicReceipt, InvalidTransaction

SENDERS = 20
REFUSED = 10
"""The sender whose transaction the node refuses: it offers a tip no account can pay."""


async def test_a_refused_transaction_among_concurrent_ones_strands_none_of_them(client):
    sender = Keypair.from_uri("//Dave")
    first = await client.get_account_nonce(sender)
    receipts: dict[int, ExtrinsicReceipt] = {}
    refusals: list[InvalidTransaction] = []

    async def remark(i: int) -> None:
        call = client.compose_call("System", "remark", {"remark": b"concurrent %d" % i})
        try:
            receipts[i] = await client.sign_and_submit(call, sender, wait_for_inclusion=True,
                                                       tip=10**30 if i == REFUSED else 0)
        except InvalidTransaction as exc:
            refusals.append(exc)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for i in range(SENDERS):
                tg.start_soon(remark, i)
    assert [(r.code, r.reason) for r in refusals] == [(1010, "Inability to pay some fees (e.g. account balance too low)")]
    assert sorted(receipts) == [i for i in range(SENDERS) if i != REFUSED]
    assert all(r.is_success for r in receipts.values())
    nonces = []
    for r in receipts.values():
        block = await client.get_block(r.block_hash)
        nonces.append(block.extrinsics[r.extrinsic_idx].nonce)
    assert sorted(nonces) == list(range(first, first + SENDERS - 1))  # the refused nonce went to the next sender
    assert await client.get_account_nonce(sender) == first + SENDERS - 1
