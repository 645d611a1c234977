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
    "DOMAIN_STORAGE_CHUNK",
    "DOMAIN_STORAGE_NODE",
    "DOMAIN_STORAGE_FRAGMENT_SET",
    "DOMAIN_STORAGE_FILE_ID",
    "DOMAIN_STORAGE_CONTENT",
    "DOMAIN_STORAGE_REQUEST",
    "DOMAIN_STORAGE_SEAL",
    "DOMAIN_STORAGE_X25519",
    "DOMAIN_STORAGE_CHALLENGE",
    "DOMAIN_STORAGE_PLACEMENT",
    "DOMAIN_DA_BLOB",
    "DOMAIN_DA_ATTESTATION",
    "DOMAIN_DA_REGISTRATION",
    "DOMAIN_DA_CUSTODY",
    "DOMAIN_DA_NODE_SET",
    "DOMAIN_DA_AUDIT",
    "DOMAIN_COMPUTE_RESULT",
    "DOMAIN_COMPUTE_DRAW",
    "DOMAIN_COMPUTE_COMMIT",
    "DOMAIN_COMPUTE_ASSIGNMENT",
    "DOMAIN_COMPUTE_SEED",
    "DOMAIN_COMPUTE_OUTPUT_KEY",
    "DOMAIN_FL_UPDATE_COMMIT",
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
"""What a validator signs when it prevotes or precommits (``runtime.justification``)."""
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
DOMAIN_STORAGE_CHUNK = b"cairn/storage-chunk/v1"
"""A Merkle leaf over one chunk of a stored fragment (``storage_node.chunks``)."""
DOMAIN_STORAGE_NODE = b"cairn/storage-node/v1"
"""An inner Merkle node of the storage trees: chunks of a fragment and fragments of a segment."""
DOMAIN_STORAGE_FRAGMENT_SET = b"cairn/storage-fragment-set/v1"
"""A Merkle leaf over one fragment root in a segment's tree over its k + m fragments."""
DOMAIN_STORAGE_FILE_ID = b"cairn/storage-file-id/v1"
"""A file's id: the hash of its SCALE-encoded manifest (``storage_node.manifest``)."""
DOMAIN_STORAGE_CONTENT = b"cairn/storage-content/v1"
"""What a file holds, as stored: its manifest's hash without owner and salt (``storage_node.manifest``)."""
DOMAIN_STORAGE_REQUEST = b"cairn/storage-request/v1"
"""What an account signs to authenticate an HTTP request to a storage node (``storage_node.auth``)."""
DOMAIN_STORAGE_SEAL = b"cairn/storage-seal/v1"
"""Key derivation for a file's data key sealed to a grantee's X25519 key (``storage_node.crypto``)."""
DOMAIN_STORAGE_X25519 = b"cairn/storage-x25519/v1"
"""Key derivation of an account's X25519 encryption key from its signing secret."""
DOMAIN_STORAGE_CHALLENGE = b"cairn/storage-challenge/v1"
"""Audit challenges drawn from a finalized block hash (the storage pallets)."""
DOMAIN_STORAGE_PLACEMENT = b"cairn/storage-placement/v1"
"""Which node takes a fragment, drawn from the parent block hash: placement, reassignment and repairers
(``storage_node.pallets.selection``)."""
DOMAIN_DA_BLOB = b"cairn/da-blob/v1"
"""A blob's id: submitter, commitment and where it was submitted (``da_layer.pallet``)."""
DOMAIN_DA_ATTESTATION = b"cairn/da-attestation/v1"
"""What a DA node's BLS signature says: this chain's blob with this commitment is in custody (``da_layer.attestation``)."""
DOMAIN_DA_REGISTRATION = b"cairn/da-registration/v1"
"""What a DA node's registration signature says: this BLS key is registered by this account on this chain."""
DOMAIN_DA_CUSTODY = b"cairn/da-custody/v1"
"""A blob's custody seed and the custody draws made from it (``da_layer.custody``)."""
DOMAIN_DA_NODE_SET = b"cairn/da-node-set/v1"
"""The id of a DA node set with its stakes, as blobs name it (``da_layer.pallet``)."""
DOMAIN_DA_AUDIT = b"cairn/da-audit/v1"
"""Sampling audits drawn from a block hash: which custodian, which blob, which cell (``da_layer.pallet``)."""
DOMAIN_COMPUTE_RESULT = b"cairn/compute-result/v1"
"""A compute job's result digest over its output files and result record (``compute_pallet.kinds``)."""
DOMAIN_COMPUTE_DRAW = b"cairn/compute-draw/v1"
"""A job kind's pseudo-random draws from the job's seed: initial weights, splits, batch order
(``compute_pallet.kinds.draws``)."""
DOMAIN_COMPUTE_COMMIT = b"cairn/compute-commit/v1"
"""A provider's commitment to a job's result digest, bound to the job and to the provider, so a copied
commitment cannot pass for another provider's (``compute_pallet.commitment``)."""
DOMAIN_COMPUTE_ASSIGNMENT = b"cairn/compute-assignment/v1"
"""Which providers run a job, drawn from the parent block hash (``compute_pallet.pallets.jobs``)."""
DOMAIN_COMPUTE_SEED = b"cairn/compute-seed/v1"
"""The seed a job's kind runs with, fixed by the chain when the job is submitted."""
DOMAIN_COMPUTE_OUTPUT_KEY = b"cairn/compute-output-key/v1"
"""The data key and manifest salt a private job output is sealed under, from the job, its private inputs' data
keys and the output's bytes, so that honest providers' copies are the same ciphertext (``compute_pallet.commitment``)."""
DOMAIN_FL_UPDATE_COMMIT = b"cairn/fl-update-commit/v1"
"""A federated-learning participant's commitment to the update file it will deliver for a round."""
