"""Each class of bad input to the chain client gets its typed error, before anything reaches the node."""

from __future__ import annotations

import dataclasses

import anyio
import pytest

from runtime.cairn import CairnRuntime
from runtime.keyring import InvalidSecretUri, Keypair
from sdk.chain.rpc import Endpoint
from sdk.chain import (AsyncClient, BadArgument, Client, RuntimeMismatch, UnknownItem, keypair_from_arg,
                       keypair_from_file)
from sdk.chain.keys import hash_id

BOB = Keypair.from_uri("//Bob")


async def test_unknown_names(client):
    with pytest.raises(UnknownItem, match="no pallet 'Nope'"):
        await client.query("Nope", "Account")
    with pytest.raises(UnknownItem, match="System has no storage item 'Acount'"):
        await client.query("System", "Acount", [BOB])
    with pytest.raises(UnknownItem, match="Balances has no call 'transfer'"):
        client.compose_call("Balances", "transfer", {"dest": BOB, "value": 1})
    with pytest.raises(UnknownItem, match="no constant"):
        client.get_constant("Balances", "Nope")
    with pytest.raises(UnknownItem):
        client.subscribe_events("Nope")
    assert isinstance(UnknownItem("x"), LookupError)


async def test_wrong_arguments(client):
    with pytest.raises(BadArgument, match="wrong arguments"):
        client.compose_call("Balances", "transfer_keep_alive", {"dest": BOB})
    with pytest.raises(BadArgument, match="'value'"):
        client.compose_call("Balances", "transfer_keep_alive", {"dest": BOB, "value": "ten"})
    with pytest.raises(BadArgument, match="'value'"):
        client.compose_call("Balances", "transfer_keep_alive", {"dest": BOB, "value": -1})
    with pytest.raises(BadArgument, match="'value'"):
        client.compose_call("Balances", "transfer_keep_alive", {"dest": BOB, "value": 2**128})
    with pytest.raises(BadArgument, match="'dest'.*SS58"):
        client.compose_call("Balances", "transfer_keep_alive", {"dest": "not-an-address", "value": 1})
    with pytest.raises(BadArgument, match="'dest'"):
        client.compose_call("Balances", "transfer_keep_alive", {"dest": b"short", "value": 1})
    with pytest.raises(BadArgument, match="takes 1 key"):
        await client.query("System", "Account")
    with pytest.raises(BadArgument, match="key 1"):
        await client.query("System", "BlockHash", ["zero"])
    with pytest.raises(BadArgument, match="nothing to iterate"):
        client.query_map("System", "Number")
    with pytest.raises(BadArgument, match="page_size"):
        client.query_map("System", "Account", page_size=5000)
    with pytest.raises(BadArgument, match="block hash"):
        await client.query("System", "Number", block_hash="0x12")
    with pytest.raises(BadArgument):
        await client.get_block_hash(-1)
    with pytest.raises(BadArgument):
        await client.create_signed_extrinsic("Balances.transfer", "//Alice")
    call = client.compose_call("System", "remark", {"remark": b""})
    with pytest.raises(BadArgument):
        await client.create_signed_extrinsic(call, "//Alice", tip=-1)


async def test_bad_secret_uris_and_key_files(client, tmp_path):
    call = client.compose_call("System", "remark", {"remark": b""})
    with pytest.raises(InvalidSecretUri):
        await client.create_signed_extrinsic(call, "not a valid phrase//Alice")
    with pytest.raises(InvalidSecretUri):
        await client.create_signed_extrinsic(call, "0x1234")
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidSecretUri):
        keypair_from_file(garbage)
    huge = tmp_path / "huge.key"
    huge.write_text("//Alice" * 1000)
    with pytest.raises(InvalidSecretUri):
        keypair_from_file(huge)
    for blank in ("", " \n"):  # once read as the empty URI: the development phrase's root, a key anyone derives
        empty = tmp_path / "empty.key"
        empty.write_text(blank)
        with pytest.raises(InvalidSecretUri, match="empty, not a key file"):
            keypair_from_arg(str(empty))
    for missing in (str(tmp_path / "missing.key"), "./missing.key", "~/missing.key"):  # a typo in a path
        with pytest.raises(FileNotFoundError, match="no such key file"):  # not a derivation of the dev phrase
            keypair_from_arg(missing)
    assert keypair_from_arg("//Alice").public == Keypair.from_uri("//Alice").public


def test_a_key_file_under_the_home_folder_is_found_through_its_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # as a shell leaves it in --key=~/alice.key
    (tmp_path / "alice.key").write_text("//Alice")
    assert keypair_from_arg("~/alice.key").public == Keypair.from_uri("//Alice").public


def test_an_ipv6_endpoint_keeps_its_brackets():
    endpoint = Endpoint.parse("ws://[::1]:9944/")
    assert (endpoint.host, endpoint.netloc, str(endpoint)) == ("::1", "[::1]:9944", "ws://[::1]:9944/")


def test_bad_urls_and_options_are_refused_before_connecting():
    for url in ("http://127.0.0.1:9944", "127.0.0.1:9944", "ws://127.0.0.1:99999", "ws://"):
        with pytest.raises(BadArgument):
            AsyncClient(url)
    with pytest.raises(BadArgument):
        AsyncClient(timeout=0)
    with pytest.raises(BadArgument):
        Client("wss-ish://nowhere")


@pytest.mark.parametrize("value", ["", "0x1234", "ab" * 32, "0x" + "ab" * 31 + "  ", "0x" + "  " + "ab" * 31,
                                   "0x" + "zz" * 32, b"short", bytes(33), 42, None])
def test_malformed_hash_ids_are_refused_whole(value):
    """Whitespace that ``bytes.fromhex`` skips must not shorten an id: every accepted id is 32 bytes."""
    with pytest.raises(BadArgument, match="a file id is 32 bytes or 0x"):
        hash_id(value, "file id")


def test_hash_ids_in_either_case_and_as_bytes():
    raw = bytes(range(32))
    assert hash_id(raw, "id") == hash_id("0x" + raw.hex(), "id") == hash_id("0x" + raw.hex().upper(), "id") == raw
    assert hash_id(bytearray(raw), "id") == raw


class _NextRuntime(CairnRuntime):
    """The runtime of a later SDK release: one spec version ahead of the node."""

    VERSION = dataclasses.replace(CairnRuntime.VERSION, spec_version=CairnRuntime.VERSION.spec_version + 1)


async def test_a_node_with_another_spec_version_is_refused(url):
    with pytest.raises(RuntimeMismatch, match=f"spec {CairnRuntime.VERSION.spec_version}.*upgrade"):
        async with AsyncClient(url, runtime=_NextRuntime):
            pass


async def test_several_nodes_all_on_another_runtime_are_refused_at_once(url):
    with anyio.fail_after(20):  # not retried until the reconnect policy gives up: retrying will not mend it
        with pytest.raises(RuntimeMismatch, match="upgrade"):
            async with AsyncClient([url, url], runtime=_NextRuntime):
                pass
