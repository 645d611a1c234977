"""Dev keys and SS58 addresses agree with Substrate's (checked against substrate-interface)."""

from __future__ import annotations

import pytest
from substrateinterface import Keypair as ClientKeypair
from substrateinterface import KeypairType

from runtime.primitives import SignatureScheme
from runtime.ss58 import InvalidAddress, ss58_decode, ss58_encode
from runtime.keyring import DEV_PHRASE, InvalidSecretUri, Keypair


@pytest.mark.parametrize("uri", ["//Alice", "//Bob//stash", "//Alice/soft", "//1", f"{DEV_PHRASE}//Eve",
                                 "//" + "x" * 40])
def test_sr25519_derivation_matches_substrate(uri):
    ours = Keypair.from_uri(uri)
    theirs = ClientKeypair.create_from_uri(uri)
    assert ours.public == theirs.public_key
    assert ours.ss58_address() == theirs.ss58_address
    signature = ours.sign(b"cairn")
    assert theirs.verify(b"cairn", signature)


def test_ed25519_alice_is_substrates_well_known_key():
    alice = Keypair.from_uri("//Alice", SignatureScheme.Ed25519)
    assert alice.public.hex() == "88dc3417d5058ec4b4503e0c12ea1a0a89be200fe98922423d4334014fa6b0ee"
    seeded = Keypair.from_uri("0x" + "11" * 32, SignatureScheme.Ed25519)
    client = ClientKeypair.create_from_seed("0x" + "11" * 32, crypto_type=KeypairType.ED25519)
    assert seeded.public == client.public_key
    assert client.verify(b"m", seeded.sign(b"m"))


@pytest.mark.parametrize("uri", ["not a phrase at all//Alice", "0x1234", "0xzz" + "0" * 62,
                                 DEV_PHRASE + "//", DEV_PHRASE + "/", "0x" + "11" * 32 + "/"])
def test_invalid_secret_uris_are_refused_without_echoing_the_secret(uri):
    with pytest.raises(InvalidSecretUri) as refused:
        Keypair.from_uri(uri)
    assert DEV_PHRASE.split()[0] not in str(refused.value) and "1111" not in str(refused.value)


def test_ed25519_soft_junctions_are_refused():
    with pytest.raises(InvalidSecretUri, match="hard junctions"):
        Keypair.from_uri("//Alice/soft", SignatureScheme.Ed25519)


def test_ss58_round_trip_and_rejections():
    public = Keypair.from_uri("//Alice").public
    address = ss58_encode(public)
    assert address == "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
    assert ss58_decode(address) == public
    assert ss58_decode(ss58_encode(public, 2), prefix=None) == public
    with pytest.raises(InvalidAddress, match="network prefix"):
        ss58_decode(ss58_encode(public, 2))
    with pytest.raises(InvalidAddress, match="checksum"):
        ss58_decode(address[:-1] + ("Z" if address[-1] != "Z" else "Y"))
    with pytest.raises(InvalidAddress):
        ss58_decode("0OIl")  # not base58
    assert ss58_decode(ss58_encode(public, 16000), prefix=16000) == public
