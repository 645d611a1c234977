"""What a DA node signs when it registers and when it attests a blob, and how an aggregate names its signers.

A DA node registers its BLS key (:mod:`da_layer.bls`) with the key's proof of possession and a signature by
the key over::

    registration_message = DOMAIN_DA_REGISTRATION ++ genesis_hash (32) ++ account (32) ++ bls_public (48)

The proof of possession alone names nothing but the key, so anyone could copy a node's key and proof from
its ``register`` extrinsic and register them first from another account (the node would then find its own
key taken). The registration signature binds the key to the account that registers it, on one chain: only
the key's holder can make it, and one made for another account or another chain does not verify.

A DA node that verified its custody cells of a blob signs, with its registered BLS key::

    attestation_message = DOMAIN_DA_ATTESTATION ++ genesis_hash (32) ++ blob_id (32) ++ commitment (48)

The genesis hash binds the signature to one chain, the blob id to one submission, the commitment to the
data. Every signer of a blob signs the same message, so the submitter aggregates their signatures into one
and posts it with a signer bitfield over the blob's node set (the set fixed at submission):
``ceil(n/8)`` bytes, node ``i`` is bit ``i % 8`` (least significant first) of byte ``i // 8``, as SSZ
bitvectors are laid out, and the bits past ``n`` are zero.

Each member weighs in the quorum (and in the fee's shares) as :func:`quorum_weights` says: its stake now, but
never more than its stake at submission, which custody was dealt by. A slash since lowers its weight if it
leaves less than that stake; a bond since does not raise it, or a node that bonded after a blob was dealt
could carry a quorum with the few columns its old stake was dealt (:mod:`da_layer.custody`'s bound counts
stake as custody counted it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from runtime.hashing import DOMAIN_DA_ATTESTATION, DOMAIN_DA_REGISTRATION

__all__ = ["MalformedBitfield", "registration_message", "attestation_message", "bitfield", "signers",
           "quorum_weights", "is_quorum"]


def quorum_weights(now: Sequence[int], at_submission: Sequence[int]) -> list[int]:
    """What each member of a blob's node set weighs in its quorum: the lesser of its stake ``now`` and its
    stake ``at_submission`` (the node set's, in the same order)."""
    if len(now) != len(at_submission):
        raise ValueError("one stake now and one at submission for each member")
    return [min(current, dealt) for current, dealt in zip(now, at_submission)]


def is_quorum(signed: int, total: int) -> bool:
    """Whether signers weighing ``signed`` of the node set's ``total`` (:func:`quorum_weights`) are more than
    2/3 of it."""
    return 3 * signed > 2 * total


class MalformedBitfield(ValueError):
    """A signer bitfield of the wrong length, or with bits set past the node set."""


def registration_message(genesis_hash: bytes, account: bytes, bls_public: bytes) -> bytes:
    if len(genesis_hash) != 32 or len(account) != 32 or len(bls_public) != 48:
        raise ValueError("a registration names a 32-byte genesis hash, a 32-byte account and a 48-byte BLS key")
    return DOMAIN_DA_REGISTRATION + bytes(genesis_hash) + bytes(account) + bytes(bls_public)


def attestation_message(genesis_hash: bytes, blob_id: bytes, commitment: bytes) -> bytes:
    if len(genesis_hash) != 32 or len(blob_id) != 32 or len(commitment) != 48:
        raise ValueError("an attestation names a 32-byte genesis hash, a 32-byte blob id and a 48-byte commitment")
    return DOMAIN_DA_ATTESTATION + bytes(genesis_hash) + bytes(blob_id) + bytes(commitment)


def bitfield(indices: Iterable[int], node_count: int) -> bytes:
    """The bitfield with the bits of ``indices`` (positions in a node set of ``node_count``) set."""
    field = bytearray((node_count + 7) // 8)
    for index in indices:
        if not 0 <= index < node_count:
            raise MalformedBitfield(f"node {index} is not in a set of {node_count}")
        field[index // 8] |= 1 << (index % 8)
    return bytes(field)


def signers(field: bytes, node_count: int) -> tuple[int, ...]:
    """The positions whose bits are set, ascending; raises :class:`MalformedBitfield`."""
    if len(field) != (node_count + 7) // 8:
        raise MalformedBitfield(f"a set of {node_count} nodes takes {(node_count + 7) // 8} bitfield bytes, not {len(field)}")
    found = tuple(i for i in range(len(field) * 8) if field[i // 8] >> (i % 8) & 1)
    if found and found[-1] >= node_count:
        raise MalformedBitfield(f"bit {found[-1]} is set but the set has {node_count} nodes")
    return found
