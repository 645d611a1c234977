"""Read-proof verification (``state_getReadProof`` proofs), independent of ``TrieState``."""

from __future__ import annotations

from collections.abc import Iterable

from runtime.hashing import blake2_256

from .codec import _NIB, EMPTY_ROOT, InvalidNode, InvalidProof, _as_bytes, decode_node

# -- proof verification --------------------------------------------------------------------------


def verify_read_proof(
    root: bytes, proof: Iterable[bytes], keys: Iterable[bytes]
) -> dict[bytes, bytes | None]:
    """Check a read proof against a trusted ``root`` and return each key's value (None = proven
    absent). Raises ``InvalidProof`` if the proof lacks a node on a key's path (a dropped or
    tampered node, or a proof for another root) or holds a malformed node, and never raises anything
    else, whatever the input. Unused extra nodes are accepted, as in Substrate's ``read_proof_check``."""
    if not isinstance(root, (bytes, bytearray, memoryview)) or len(root) != 32:
        raise InvalidProof("root must be 32 bytes")
    root = bytes(root)
    db: dict[bytes, bytes] = {}
    try:
        for item in proof:
            item = _as_bytes(item, "proof node")
            db[blake2_256(item)] = item
        key_list = [_as_bytes(k, "key") for k in keys]
    except (TypeError, ValueError) as e:
        raise InvalidProof(f"malformed input: {e}") from None
    result: dict[bytes, bytes | None] = {}
    if root not in db:
        if root == EMPTY_ROOT:  # as in Substrate, the empty node needs no proof
            return dict.fromkeys(key_list)
        raise InvalidProof("root node not in proof")
    for key in key_list:
        result[key] = _lookup(db, root, key)
    return result


def _lookup(db: dict[bytes, bytes], root: bytes, key: bytes) -> bytes | None:
    h = key.hex()
    enc = db[root]
    pos = 0
    while True:
        try:
            d = decode_node(enc)
        except InvalidNode as e:
            raise InvalidProof(f"invalid node: {e}") from None
        if d.kind == "empty" or not h.startswith(d.partial, pos):
            return None
        pos += len(d.partial)
        if pos == len(h):
            if d.value_hash is None:
                return d.value
            value = db.get(d.value_hash)
            if value is None:
                raise InvalidProof("value node missing from proof")
            return value
        if d.children is None:
            return None
        r = d.children[_NIB[h[pos]]]
        if r is None:
            return None
        pos += 1
        if len(r) == 32:
            enc = db.get(r)
            if enc is None:
                raise InvalidProof("node missing from proof")
        else:
            enc = r
