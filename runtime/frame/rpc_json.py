"""The JSON conventions every pallet RPC method (``runtime.frame.composition.RpcMethod``) answers in.

The layer pallets (storage, DA, compute) each serve read methods for dashboards and scripts; one set of
conventions keeps their answers alike, and keeps a JavaScript client from losing precision:

- accounts are SS58 strings (prefix 42); hashes, ids, keys and commitments ``0x`` lowercase hex;
- balances, and any integer that may exceed 2**53, decimal strings (:func:`balance`); block numbers, counts
  and sizes JSON numbers;
- a pallet's enum variant is its name in lowercase snake case (``ForcedOut`` -> ``"forced_out"``);
- a list that can grow is paged: ``limit`` (default :data:`DEFAULT_LIMIT`, at most :data:`MAX_LIMIT`) items
  and an opaque cursor to pass back as ``start`` (:func:`page`), ``null`` on the last page.

Parameters come from anyone: each parser checks type and size before use and raises ``ValueError`` with a
message naming the parameter, which the node answers as invalid params (-32602).
"""

from __future__ import annotations

import enum
import re
from typing import Any, Iterator

from runtime.frame.storage import BoundDoubleMap, BoundMap
from runtime.ss58 import ss58_encode

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "MAX_CURSOR_LENGTH", "account", "maybe_account", "hex_of", "maybe_hex",
           "balance", "variant", "hash_arg", "index_arg", "limit_arg", "cursor_arg", "page", "map_page",
           "double_map_items"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
"""Items one page holds at most: a page of jobs or blobs stays well under the RPC server's response limit."""
MAX_CURSOR_LENGTH = 256
"""Characters of a cursor: the longest any method hands out is a storage key suffix (2 + 2 × 96)."""

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


# --- values out ------------------------------------------------------------------------------------


def account(who: bytes) -> str:
    return ss58_encode(who)


def maybe_account(who: bytes | None) -> str | None:
    return None if who is None else ss58_encode(who)


def hex_of(data: bytes) -> str:
    return "0x" + data.hex()


def maybe_hex(data: bytes | None) -> str | None:
    return None if data is None else "0x" + data.hex()


def balance(amount: int) -> str:
    """A u128 as a decimal string (JavaScript numbers are exact only below 2**53)."""
    return str(amount)


def variant(member: enum.Enum) -> str:
    """A pallet enum variant as a state string: ``ForcedOut`` -> ``"forced_out"``."""
    return _WORD_BOUNDARY.sub("_", member.name).lower()


def page(items: list, next_cursor: str | None) -> dict:
    return {"items": items, "next": next_cursor}


# --- parameters in ---------------------------------------------------------------------------------


def hash_arg(value: Any, what: str) -> bytes:
    """A 32-byte id given as ``0x`` + 64 hex digits."""
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise ValueError(f"{what} must be 0x followed by 64 hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ValueError(f"{what} is not valid hex") from None


def index_arg(value: Any, what: str, *, maximum: int = 2**64 - 1) -> int:
    """A non-negative JSON integer (not a boolean) up to ``maximum``."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise ValueError(f"{what} must be an integer from 0 to {maximum}")
    return value


def limit_arg(value: Any) -> int:
    """How many items a page holds: :data:`DEFAULT_LIMIT` when absent, 1 to :data:`MAX_LIMIT`."""
    if value is None:
        return DEFAULT_LIMIT
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return value


def cursor_arg(value: Any) -> str | None:
    """A ``start`` cursor as handed out by :func:`page` (checked for type and size here; each method then
    parses its own kind of cursor and refuses a foreign one)."""
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_CURSOR_LENGTH:
        raise ValueError(f"start must be a cursor string of at most {MAX_CURSOR_LENGTH} characters")
    return value


# --- reading maps a page at a time -----------------------------------------------------------------


def map_page(bound: BoundMap, start: str | None, limit: int) -> tuple[list[tuple[Any, Any]], str | None]:
    """Up to ``limit`` entries of a map (whose hasher keeps the key) in storage order, from cursor ``start``
    on; returns them and the cursor of the next page (``None`` after the last). The cursor is the hex of the
    last entry's hashed key: reading a page costs ``limit`` entries whatever the map's size."""
    after = None
    if start is not None:
        try:
            after = bound.prefix + bytes.fromhex(start.removeprefix("0x"))
        except ValueError:
            raise ValueError("start is not a cursor of this list") from None
    offset = bound.item.hasher.concat_offset  # type: ignore[attr-defined]
    if offset is None:
        raise TypeError(f"{bound.item.name}: cannot page a map whose hasher does not keep keys")
    decode_key, decode_value = bound.item.key_codec.decode, bound.item.value_codec.decode  # type: ignore[attr-defined]
    entries, last = [], b""
    for key, raw in bound.current_overlay().items(bound.prefix, after):
        if len(entries) == limit:
            return entries, hex_of(last[len(bound.prefix):])
        entries.append((decode_key(key[len(bound.prefix) + offset:]), decode_value(raw)))
        last = key
    return entries, None


def double_map_items(bound: BoundDoubleMap) -> Iterator[tuple[Any, Any, Any]]:
    """Every ``(key1, key2, value)`` of a double map whose hashers both keep their keys, in storage order."""
    (codec1, codec2), (hasher1, hasher2) = bound.item.key_codecs, bound.item.hashers  # type: ignore[attr-defined]
    offset1, offset2 = hasher1.concat_offset, hasher2.concat_offset
    if offset1 is None or offset2 is None:
        raise TypeError(f"{bound.item.name}: cannot iterate a double map whose hashers do not keep keys")
    decode_value = bound.item.value_codec.decode
    for key, raw in bound.current_overlay().items(bound.prefix):
        key1, end = codec1.decode_from(key, len(bound.prefix) + offset1)
        key2, _ = codec2.decode_from(key, end + offset2)
        yield key1, key2, decode_value(raw)
