"""Reads through the async client against a real dev node: storage, paging, constants, blocks, events,
runtime version, and storage values proven against a finalized header's state root."""

from __future__ import annotations

import pytest

from runtime.cairn import VERSION
from runtime.keyring import DEV_ACCOUNTS, Keypair
from runtime.pallets.account import AccountInfo
from runtime.primitives import Header
from sdk.chain import InvalidProof, ReadProof
from tests.integration.nodes import rpc
from tests.sdk.lying_node import LyingNode, proof_at_genesis

ALICE = Keypair.from_uri("//Alice")
DEV_IDS = {Keypair.from_uri(f"//{name}").public for name in DEV_ACCOUNTS}


async def test_query_decodes_with_the_runtimes_types_and_accepts_any_account_form(client, dev_node):
    by_keypair = await client.query("System", "Account", [ALICE])
    assert isinstance(by_keypair, AccountInfo) and by_keypair.data.free > 0
    head = await client.get_chain_head()
    assert await client.query("System", "Account", [ALICE.ss58_address()], block_hash=head) == \
        await client.query("System", "Account", ["0x" + ALICE.public.hex()], block_hash=head)
    assert await client.query("System", "Account", [bytes(32)]) == AccountInfo()  # absent: the declared default
    raw = rpc(dev_node.rpc_port, "state_getStorage", ["0x" + client.create_storage_key("System", "Number").hex()])
    assert int.from_bytes(bytes.fromhex(raw[2:]), "little") >= 1


async def test_query_map_pages_through_every_entry_and_resumes_from_its_last_key(client):
    head = await client.get_chain_head()
    everything = [(k, v) async for k, v in client.query_map("System", "Account", page_size=1000, block_hash=head)]
    assert DEV_IDS <= {k for k, _ in everything}
    assert all(isinstance(v, AccountInfo) for _, v in everything)
    one_by_one = [(k, v) async for k, v in client.query_map("System", "Account", page_size=1, block_hash=head)]
    assert one_by_one == everything

    first = client.query_map("System", "Account", page_size=2, max_results=3, block_hash=head)
    start = [(k, v) async for k, v in first]
    rest = [(k, v) async for k, v in client.query_map("System", "Account", page_size=2, start_key=first.last_key,
                                                       block_hash=head)]
    assert len(start) == 3 and start + rest == everything


async def test_query_map_decodes_twox64concat_keys(client):
    hashes = {n: h async for n, h in client.query_map("System", "BlockHash", page_size=7)}
    assert hashes[0] == client.genesis_hash
    for number in list(hashes)[-3:]:
        assert hashes[number] == await client.get_block_hash(number)


async def test_constants_come_from_the_chains_own_parameters(client):
    assert client.get_constant("Balances", "ExistentialDeposit") == client.runtime.balances.config.existential_deposit
    assert client.get_constant("System", "SS58Prefix") == client.ss58_format == 42
    assert client.get_constant("System", "BlockHashCount") > 0


async def test_runtime_version_blocks_and_headers(client):
    version = await client.get_runtime_version()
    assert version == VERSION
    block = await client.get_block()
    assert block.number >= 1 and block.hash == block.header.hash
    assert block.extrinsics[0].call.pallet == "Timestamp"  # the inherent comes first
    by_number = await client.get_block(block_number=block.number)
    assert by_number.header == block.header and [x.raw for x in by_number.extrinsics] == [x.raw for x in block.extrinsics]
    genesis = await client.get_block_header(client.genesis_hash)
    assert isinstance(genesis, Header) and genesis.number == 0
    assert await client.get_block_hash(10**9) is None and await client.get_block(block_number=10**9) is None
    assert await client.get_block_header(bytes(32)) is None


async def test_events_decode_with_the_runtimes_event_types(client):
    events = await client.get_events(await client.get_chain_head())
    inherent = [e for e in events if e.extrinsic_idx == 0]
    assert [(e.pallet, e.name) for e in inherent] == [("System", "ExtrinsicSuccess")]
    assert inherent[0].attributes["dispatch_info"].weight.ref_time > 0


async def test_verified_query_proves_the_value_against_the_finalized_state_root(client):
    finalized = await client.get_chain_finalised_head()
    proven = await client.verified_query("System", "Account", [ALICE], block_hash=finalized)
    assert proven == await client.query("System", "Account", [ALICE], block_hash=finalized)
    assert await client.verified_query("System", "Account", [bytes(32)]) == AccountInfo()  # proven absent



async def test_verified_query_many_proves_several_entries_with_one_proof(client, url):
    """What a light client reads a blob's custodians with: every entry proven, present or absent, and a proof of
    another block's state refused."""
    finalized = await client.get_chain_finalised_head()
    accounts = [[ALICE], [bytes(32)], [Keypair.from_uri("//Bob")]]
    proven = await client.verified_query_many("System", "Account", accounts, block_hash=finalized)
    assert proven == [await client.query("System", "Account", each, block_hash=finalized) for each in accounts]
    assert proven[1] == AccountInfo() and proven[0] != AccountInfo()
    async with LyingNode(url, {"state_getReadProof": proof_at_genesis}) as liar:
        with pytest.raises(InvalidProof):
            await liar.verified_query_many("System", "Account", accounts, block_hash=finalized)

async def test_a_tampered_or_foreign_read_proof_fails(client):
    finalized = await client.get_chain_finalised_head()
    key = client.create_storage_key("System", "Account", [ALICE])
    header = await client.get_block_header(finalized)
    proof = await client.get_read_proof([key], finalized)
    assert proof.verify(header.state_root, [key])[key] is not None
    for i, node in enumerate(proof.proof):
        flipped = node[:-1] + bytes((node[-1] ^ 1,))
        tampered = ReadProof(proof.at, proof.proof[:i] + (flipped,) + proof.proof[i + 1:])
        with pytest.raises(InvalidProof):
            tampered.verify(header.state_root, [key])
        with pytest.raises(InvalidProof):
            ReadProof(proof.at, proof.proof[:i] + proof.proof[i + 1:]).verify(header.state_root, [key])
    genesis = await client.get_block_header(client.genesis_hash)
    with pytest.raises(InvalidProof):
        proof.verify(genesis.state_root, [key])
