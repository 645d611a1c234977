"""The JSON shapes Substrate clients expect for headers, blocks and hex values.

``shared/reference/substrate-rpc.md``: numbers in headers are hex strings, byte strings are ``0x``-hex,
digest logs are the SCALE encoding of each ``DigestItem``, and a block is ``{"block": {"header",
"extrinsics"}, "justifications"}``. Parsing client input is strict: a bad hex string is an
:class:`InvalidHex`, which the RPC layer answers as invalid params.
"""

from __future__ import annotations

from typing import Any

from runtime.executive import Block
from runtime.primitives import DIGEST_ITEM, Header

__all__ = ["InvalidHex", "to_hex", "from_hex", "header_json", "block_json"]

CONSENSUS_ENGINE_FINALITY = b"FRNK"
"""The engine id under which Substrate serves GRANDPA justifications (clients look for it)."""


class InvalidHex(ValueError):
    """Not a ``0x``-prefixed hex string of the expected length."""


def to_hex(data: bytes) -> str:
    return "0x" + data.hex()


def from_hex(value: Any, *, length: int | None = None, what: str = "value") -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise InvalidHex(f"{what} must be a 0x-prefixed hex string")
    try:
        data = bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidHex(f"{what} is not valid hex") from None
    if length is not None and len(data) != length:
        raise InvalidHex(f"{what} must be {length} bytes, got {len(data)}")
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
