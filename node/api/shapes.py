"""The JSON shapes Substrate clients expect for headers, blocks and hex values.

``shared/reference/substrate-rpc.md``: numbers in headers are hex strings, byte strings are ``0x``-hex,
digest logs are the SCALE encoding of each ``DigestItem``, and a block is ``{"block": {"header",
"extrinsics"}, "justifications"}``. Parsing client input is strict: a bad hex string is an
:class:`InvalidHex`, which the RPC layer answers as invalid params. Its length is checked on the string,
before anything is decoded, against what its type allows (``length`` exactly, or at most ``max_length``).
"""

from __future__ import annotations

from typing import Any

from runtime.executive import Block
from runtime.pallets.transaction_payment import FeeDetails
from runtime.primitives import DIGEST_ITEM, Header
from runtime.ss58 import InvalidAddress, ss58_decode

__all__ = ["InvalidHex", "to_hex", "from_hex", "account_from_json", "header_json", "block_json", "fee_details_json"]

CONSENSUS_ENGINE_FINALITY = b"FRNK"
"""The engine id under which Substrate serves GRANDPA justifications (clients look for it)."""


class InvalidHex(ValueError):
    """Not a ``0x``-prefixed hex string of the expected length (or at most the allowed length)."""


def to_hex(data: bytes) -> str:
    return "0x" + data.hex()


def account_from_json(value: Any) -> bytes:
    """An account id as a request names it: an SS58 address (any network prefix) or 32 bytes of ``0x`` hex;
    :class:`InvalidHex` (a ``ValueError``) saying why for anything else."""
    if not isinstance(value, str) or value.startswith("0x"):
        return from_hex(value, length=32, what="account")
    try:
        return ss58_decode(value, prefix=None)  # refuses overlong text before decoding it
    except InvalidAddress as exc:
        raise InvalidHex(str(exc)) from None


def from_hex(value: Any, *, length: int | None = None, max_length: int | None = None, what: str = "value") -> bytes:
    """The bytes of ``"0x..."``: exactly ``length`` bytes, or at most ``max_length``, when given."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise InvalidHex(f"{what} must be a 0x-prefixed hex string")
    digits = len(value) - 2
    if length is not None and digits != 2 * length:
        raise InvalidHex(f"{what} must be {length} bytes, got {digits} hex digits")
    if max_length is not None and digits > 2 * max_length:
        raise InvalidHex(f"{what} must be at most {max_length} bytes, got {digits} hex digits")
    try:
        data = bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidHex(f"{what} is not valid hex") from None
    if digits != 2 * len(data):  # bytes.fromhex skips whitespace
        raise InvalidHex(f"{what} is not valid hex")
    return data


def header_json(header: Header) -> dict:
    return {
        "parentHash": to_hex(header.parent_hash),
        "number": hex(header.number),
        "stateRoot": to_hex(header.state_root),
        "extrinsicsRoot": to_hex(header.extrinsics_root),
        "digest": {"logs": [to_hex(DIGEST_ITEM.encode(item)) for item in header.digest.logs]},
    }


def block_json(block: Block, justification: bytes | None = None) -> dict:
    justifications = None if justification is None else [[to_hex(CONSENSUS_ENGINE_FINALITY), to_hex(justification)]]
    return {
        "block": {"header": header_json(block.header), "extrinsics": [to_hex(xt) for xt in block.extrinsics]},
        "justifications": justifications,
    }


def fee_details_json(details: FeeDetails) -> dict:
    """``payment_queryFeeDetails``'s answer: each balance as Substrate's ``NumberOrHex`` serializes a u128
    (a ``0x`` hex string), field names in camelCase; ``inclusionFee`` is null for a call that pays none."""
    fee = details.inclusion_fee
    inclusion = None if fee is None else {
        "baseFee": hex(fee.base_fee), "lenFee": hex(fee.len_fee), "adjustedWeightFee": hex(fee.adjusted_weight_fee)}
    return {"inclusionFee": inclusion, "tip": hex(details.tip)}
