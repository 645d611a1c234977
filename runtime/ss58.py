"""SS58 addresses: base58(prefix ++ public key ++ checksum), checksum = blake2b-512("SS58PRE" ++ ...)[:2].

Decoding base58 takes time quadratic in the length of the text, and an address arrives from anyone (an RPC
parameter, a chain spec): one longer than any SS58 address of a 32-byte account (``MAX_ADDRESS_LENGTH``) is
refused before it is decoded.
"""

from __future__ import annotations

from hashlib import blake2b

import base58

__all__ = ["ss58_encode", "ss58_decode", "InvalidAddress", "DEFAULT_SS58_PREFIX", "MAX_ADDRESS_LENGTH"]

DEFAULT_SS58_PREFIX = 42
_CHECKSUM_PREFIX = b"SS58PRE"
MAX_ADDRESS_LENGTH = 50
"""Characters in the longest address: 2 prefix + 32 key + 2 checksum bytes, 36 * log(256) / log(58) = 49.2."""


class InvalidAddress(ValueError):
    """Not an SS58 address of a 32-byte account (bad base58, length, checksum or prefix)."""


def _prefix_bytes(prefix: int) -> bytes:
    if prefix < 64:
        return bytes((prefix,))
    if prefix < 16384:
        return bytes((((prefix & 0xFC) >> 2) | 0x40, (prefix >> 8) | ((prefix & 3) << 6)))
    raise ValueError(f"SS58 prefix {prefix} out of range")


def ss58_encode(public: bytes, prefix: int = DEFAULT_SS58_PREFIX) -> str:
    if len(public) != 32:
        raise ValueError("SS58 addresses here encode 32-byte account ids")
    body = _prefix_bytes(prefix) + public
    checksum = blake2b(_CHECKSUM_PREFIX + body, digest_size=64).digest()[:2]
    return base58.b58encode(body + checksum).decode()


def ss58_decode(address: str, prefix: int | None = DEFAULT_SS58_PREFIX) -> bytes:
    """The account id of ``address``; with ``prefix=None`` any network prefix is accepted."""
    if len(address) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"{len(address)} characters: an address has at most {MAX_ADDRESS_LENGTH}")
    try:
        raw = base58.b58decode(address)
    except ValueError as exc:
        raise InvalidAddress(f"not base58: {exc}") from None
    if len(raw) not in (35, 36):
        raise InvalidAddress(f"unexpected length {len(raw)}")
    prefix_len = 1 if raw[0] < 64 else 2
    body, checksum = raw[:-2], raw[-2:]
    if blake2b(_CHECKSUM_PREFIX + body, digest_size=64).digest()[:2] != checksum:
        raise InvalidAddress("bad checksum")
    if prefix is not None and body[:prefix_len] != _prefix_bytes(prefix):
        raise InvalidAddress(f"address is not for network prefix {prefix}")
    public = body[prefix_len:]
    if len(public) != 32:
        raise InvalidAddress("not a 32-byte account id")
    return public
