"""Hash functions and every hashing domain of the runtime, in one place (house rule 6).

Substrate fixes most of our hashes (block hash, storage key hashers, extrinsic hash, signing payloads);
those are named here after their Substrate role. Cairn's own domains carry a versioned tag so that two
uses of the same function can never collide.
"""

from __future__ import annotations

from hashlib import blake2b

import xxhash

__all__ = [
    "blake2_128",
    "blake2_128_concat",
    "blake2_256",
    "blake2_64",
    "twox128",
    "twox64",
    "twox64_concat",
    "identity",
    "DOMAIN_FINALITY_VOTE",
    "DOMAIN_GOSSIP_MESSAGE_ID",
    "DOMAIN_P2P_PROLOGUE",
    "DOMAIN_EC_PAYLOAD",
    "DOMAIN_EC_SEGMENT",
    "DOMAIN_EC_FRAGMENT",
]


def blake2_256(data: bytes) -> bytes:
    """32-byte BLAKE2b: block and extrinsic hashes, trie nodes, signing payloads over 256 bytes."""
    return blake2b(data, digest_size=32).digest()


def blake2_128(data: bytes) -> bytes:
    return blake2b(data, digest_size=16).digest()


def blake2_64(data: bytes) -> bytes:
    """8-byte BLAKE2b: runtime API identifiers in ``Core_version``."""
    return blake2b(data, digest_size=8).digest()


def twox64(data: bytes) -> bytes:
    """xxHash64, seed 0, little-endian: Substrate's ``Twox64``."""
    return xxhash.xxh64_intdigest(data, 0).to_bytes(8, "little")


def twox128(data: bytes) -> bytes:
    """Two xxHash64 rounds (seeds 0, 1), little-endian: pallet and storage item prefixes."""
    return (
        xxhash.xxh64_intdigest(data, 0).to_bytes(8, "little")
        + xxhash.xxh64_intdigest(data, 1).to_bytes(8, "little")
    )


def blake2_128_concat(data: bytes) -> bytes:
    """Substrate's ``Blake2_128Concat`` map hasher: hash then the key itself (so keys can be listed)."""
    return blake2b(data, digest_size=16).digest() + data


def twox64_concat(data: bytes) -> bytes:
    """Substrate's ``Twox64Concat`` map hasher (only for keys users cannot choose)."""
    return xxhash.xxh64_intdigest(data, 0).to_bytes(8, "little") + data


def identity(data: bytes) -> bytes:
    """Substrate's ``Identity`` map hasher."""
    return data


# Cairn's own domains. The version suffix changes whenever the meaning of the hashed bytes changes.
DOMAIN_FINALITY_VOTE = b"cairn/finality-vote/v1"
"""What a validator signs when it prevotes or precommits (``node.consensus.finality``)."""
DOMAIN_GOSSIP_MESSAGE_ID = b"cairn/gossip-message-id/v1"
"""De-duplication id of a gossip message (``node.network.gossip``)."""
DOMAIN_P2P_PROLOGUE = b"cairn/p2p/v1"
"""The Noise prologue: hashed into every p2p handshake, so peers of another wire version fail it."""
DOMAIN_EC_PAYLOAD = b"cairn/ec-payload/v1"
"""Erasure-coded fragment payloads (``storage_node.erasure.fragment``)."""
DOMAIN_EC_SEGMENT = b"cairn/ec-segment/v1"
"""The identity of a coded segment, shared by its fragments."""
DOMAIN_EC_FRAGMENT = b"cairn/ec-fragment/v1"
"""A fragment header's checksum."""
