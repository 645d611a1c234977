"""Node keys, PeerId text form (pinned to Substrate's) and peer addresses."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.network.identity import (
    InvalidNodeKey,
    InvalidPeerAddress,
    InvalidPeerId,
    NodeKey,
    PeerAddress,
    PeerId,
)

# Substrate's `--node-key 0000...0001` (Alice in every Substrate tutorial) has this peer id.
SUBSTRATE_ALICE_SEED = bytes(31) + b"\x01"
SUBSTRATE_ALICE_PEER_ID = "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"


def test_peer_id_text_matches_substrate_for_the_same_node_key():
    peer_id = NodeKey.from_seed(SUBSTRATE_ALICE_SEED).peer_id
    assert str(peer_id) == SUBSTRATE_ALICE_PEER_ID
    assert PeerId.parse(SUBSTRATE_ALICE_PEER_ID) == peer_id


@given(st.binary(min_size=32, max_size=32))
def test_peer_id_text_round_trips(public_key):
    text = str(PeerId(public_key))
    assert text.startswith("12D3KooW") and len(text) == 52
    assert PeerId.parse(text) == PeerId(public_key)


@pytest.mark.parametrize("text", [
    "",
    "12D3KooW0OIl",                                         # not base58
    "QmRpheLN4JWdAnY7HGJfWFNbfkQCb6tFf4vvA6hgjMZKrR",       # legacy sha256 form: not an ed25519 identity
    SUBSTRATE_ALICE_PEER_ID[:-1],
])
def test_malformed_peer_ids_are_rejected(text):
    with pytest.raises(InvalidPeerId):
        PeerId.parse(text)


def test_peer_id_must_be_32_bytes():
    with pytest.raises(InvalidPeerId):
        PeerId(bytes(31))


def test_signatures_verify_only_for_the_signer_and_message():
    key, other = NodeKey.generate(), NodeKey.generate()
    signature = key.sign(b"message")
    assert key.peer_id.verify(b"message", signature)
    assert not key.peer_id.verify(b"massage", signature)
    assert not other.peer_id.verify(b"message", signature)


def test_key_file_is_created_private_and_reloaded(tmp_path):
    path = tmp_path / "network" / "node_key"
    created = NodeKey.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(path.read_text().strip()) == 64
    assert NodeKey.load_or_create(path).peer_id == created.peer_id


def test_key_file_holds_the_hex_seed(tmp_path):
    path = tmp_path / "node_key"
    path.write_text(SUBSTRATE_ALICE_SEED.hex() + "\n")
    assert str(NodeKey.load_or_create(path).peer_id) == SUBSTRATE_ALICE_PEER_ID


@pytest.mark.parametrize("content", ["zz" * 32, "00" * 31, ""])
def test_corrupt_key_files_are_rejected(tmp_path, content):
    path = tmp_path / "node_key"
    path.write_text(content)
    with pytest.raises(InvalidNodeKey):
        NodeKey.load_or_create(path)


@pytest.mark.parametrize("text", [
    f"/ip4/127.0.0.1/tcp/30333/p2p/{SUBSTRATE_ALICE_PEER_ID}",
    "/ip4/10.0.0.7/tcp/1",
    f"/ip6/::1/tcp/30333/p2p/{SUBSTRATE_ALICE_PEER_ID}",
    "/dns/boot.cairn.example/tcp/65535",
])
def test_addresses_round_trip(text):
    assert str(PeerAddress.parse(text)) == text


def test_address_fields():
    address = PeerAddress.parse(f"/ip4/127.0.0.1/tcp/30333/p2p/{SUBSTRATE_ALICE_PEER_ID}")
    assert address == PeerAddress("127.0.0.1", 30333, PeerId.parse(SUBSTRATE_ALICE_PEER_ID))


@pytest.mark.parametrize("text", [
    "127.0.0.1:30333",
    "/ip4/127.0.0.1/udp/30333",
    "/ip4/127.0.0.1/tcp/0",
    "/ip4/127.0.0.1/tcp/65536",
    "/ip4/::1/tcp/30333",
    "/ip6/127.0.0.1/tcp/30333",
    "/ip4/127.0.0.1/tcp/30333/p2p/not-a-peer-id",
    f"/ip4/127.0.0.1/tcp/30333/ipfs/{SUBSTRATE_ALICE_PEER_ID}",
    "/dns//tcp/30333",
])
def test_malformed_addresses_are_rejected(text):
    with pytest.raises(InvalidPeerAddress):
        PeerAddress.parse(text)
