"""Aura: authorities take turns by slot number; one block per slot, sealed with the author's ed25519 key.

Time is cut into slots of ``slot_duration_ms``; slot ``s`` belongs to ``authorities[s % len(authorities)]``
(the runtime's ``ValidatorSet.Validators`` at the parent block). A block carries, as in Substrate's Aura:

    digest[0] = PreRuntime(b"aura", SCALE(u64 slot))            before execution, seen by the runtime
    digest[-1] = Seal(b"aura", ed25519 signature (64 bytes))    added after execution, over the hash of
                                                                the header without the seal

Import checks, cheapest first: the pre-digest decodes, the slot is after the parent's and not in the
future beyond ``MAX_SLOT_DRIFT``, the seal is by the slot's authority. Only then is the block executed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import ed25519_zebra

from runtime.primitives import Digest, DigestItemKind, Header
from runtime.scale import U64, ScaleDecodeError

__all__ = [
    "ENGINE_ID",
    "MAX_SLOT_DRIFT",
    "InvalidSeal",
    "SlotClaim",
    "slot_at",
    "slot_author",
    "pre_digest",
    "slot_of",
    "seal",
    "verify_header",
]

ENGINE_ID = b"aura"
MAX_SLOT_DRIFT = 2
"""How many slots ahead of the importer's clock a block may be (clocks disagree a little)."""


class InvalidSeal(ValueError):
    """The header's Aura pre-digest or seal is missing, malformed, early, late or by the wrong key."""


@dataclass(frozen=True)
class SlotClaim:
    slot: int
    author: bytes


def slot_at(timestamp_ms: int, slot_duration_ms: int) -> int:
    return timestamp_ms // slot_duration_ms


def slot_author(slot: int, authorities: tuple[bytes, ...]) -> bytes:
    if not authorities:
        raise InvalidSeal("no authorities")
    return authorities[slot % len(authorities)]


def pre_digest(slot: int) -> Digest:
    return Digest((DigestItemKind.PreRuntime(ENGINE_ID, U64.encode(slot)),))


def slot_of(header: Header) -> int:
    """The slot in the header's Aura pre-digest."""
    logs = header.digest.logs
    if not logs or not isinstance(logs[0], DigestItemKind.PreRuntime) or logs[0].engine != ENGINE_ID:
        raise InvalidSeal("first digest item is not an Aura pre-runtime slot")
    try:
        return U64.decode(logs[0].data)
    except ScaleDecodeError as exc:
        raise InvalidSeal(f"malformed slot: {exc}") from None


def seal(header: Header, secret: bytes) -> Header:
    """Sign the unsealed ``header`` with the author's ed25519 secret and append the seal."""
    signature = bytes(ed25519_zebra.ed_sign(secret, header.hash))
    return replace(header, digest=Digest(header.digest.logs + (DigestItemKind.Seal(ENGINE_ID, signature),)))


def unsealed(header: Header) -> tuple[Header, bytes]:
    logs = header.digest.logs
    if not logs or not isinstance(logs[-1], DigestItemKind.Seal) or logs[-1].engine != ENGINE_ID:
        raise InvalidSeal("last digest item is not an Aura seal")
    return replace(header, digest=Digest(logs[:-1])), logs[-1].data


def verify_header(header: Header, parent_slot: int | None, authorities: tuple[bytes, ...], now_slot: int) -> SlotClaim:
    """Check the Aura rules for ``header`` (child of a block at ``parent_slot``; ``None`` for genesis)."""
    slot = slot_of(header)
    if parent_slot is not None and slot <= parent_slot:
        raise InvalidSeal(f"slot {slot} is not after the parent's slot {parent_slot}")
    if slot > now_slot + MAX_SLOT_DRIFT:
        raise InvalidSeal(f"slot {slot} is in the future (now {now_slot})")
    author = slot_author(slot, authorities)
    pre, signature = unsealed(header)
    try:
        valid = ed25519_zebra.ed_verify(signature, pre.hash, author)
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise InvalidSeal(f"seal is not by slot {slot}'s authority 0x{author.hex()[:16]}…")
    return SlotClaim(slot, author)
