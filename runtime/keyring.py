"""Key pairs for accounts and session keys, from secret URIs such as ``//Alice``.

Derivation follows Substrate exactly (so ``//Alice`` here is ``//Alice`` in polkadot.js and
``substrate-interface``): the phrase's BIP-39 entropy gives a mini secret; each hard junction ``//name``
derives a child with chain code ``SCALE(name)`` (padded to 32 bytes, or hashed if longer) —
schnorrkel's hard derivation for sr25519, ``blake2_256(SCALE(("Ed25519HDKD", seed, chain_code)))`` for
ed25519. Soft junctions (``/name``) are supported for sr25519 only, as in Substrate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import bip39
import ed25519_zebra
import sr25519

from runtime.hashing import blake2_256
from runtime.primitives import SignatureScheme
from runtime.scale import STR
from runtime.ss58 import DEFAULT_SS58_PREFIX, ss58_encode

__all__ = ["Keypair", "DEV_PHRASE", "DEV_ACCOUNTS", "InvalidSecretUri"]

DEV_PHRASE = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"
"""Substrate's well-known development phrase: never use its keys for anything of value."""
DEV_ACCOUNTS = ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")

_JUNCTION = re.compile(r"(//?)([^/]+)")


class InvalidSecretUri(ValueError):
    """The secret URI is not ``phrase``, ``0x<32-byte seed>``, optionally followed by junctions."""


def _chain_code(junction: str) -> bytes:
    encoded = _junction_bytes(junction)
    if len(encoded) > 32:
        return blake2_256(encoded)
    return encoded.ljust(32, b"\0")


def _junction_bytes(junction: str) -> bytes:
    """A numeric junction is a u64, anything else a SCALE string (as Substrate's ``DeriveJunction``)."""
    if junction.isdigit():
        return int(junction).to_bytes(8, "little")
    return STR.encode(junction)


@dataclass(frozen=True)
class Keypair:
    """A signing key: ``public`` is the 32-byte account id (or session key)."""

    scheme: SignatureScheme
    public: bytes
    secret: bytes = field(repr=False)

    @staticmethod
    def from_uri(uri: str, scheme: SignatureScheme = SignatureScheme.Sr25519) -> "Keypair":
        """``//Alice``, ``<phrase>//hard/soft``, or ``0x<hex seed>`` followed by junctions."""
        match = re.match(r"^([^/]*)((//?[^/]+)*)$", uri.strip())
        if not match:  # the message never quotes the URI: it is a secret
            raise InvalidSecretUri("malformed secret URI: a phrase or 0x seed, then //hard or /soft junctions, "
                                   "none empty")
        base, path = match.group(1).strip() or DEV_PHRASE, match.group(2)
        if base.startswith("0x"):
            try:
                seed = bytes.fromhex(base[2:])
            except ValueError:
                raise InvalidSecretUri("seed is not hex") from None
            if len(seed) != 32:
                raise InvalidSecretUri("seed must be 32 bytes")
        else:
            if not bip39.bip39_validate(base):
                raise InvalidSecretUri("not a valid BIP-39 phrase")
            seed = bytes(bip39.bip39_to_mini_secret(base, ""))
        junctions = _JUNCTION.findall(path)
        if scheme is SignatureScheme.Sr25519:
            public, secret = sr25519.pair_from_seed(seed)
            for kind, name in junctions:
                derive = sr25519.hard_derive_keypair if kind == "//" else sr25519.derive_keypair
                _, public, secret = derive((_chain_code(name), public, secret), b"")
            return Keypair(scheme, bytes(public), bytes(secret))
        if scheme is SignatureScheme.Ed25519:
            for kind, name in junctions:
                if kind != "//":
                    raise InvalidSecretUri("ed25519 supports hard junctions only")
                seed = blake2_256(STR.encode("Ed25519HDKD") + seed + _chain_code(name))
            secret, public = ed25519_zebra.ed_from_seed(seed)
            return Keypair(scheme, bytes(public), bytes(secret))
        raise InvalidSecretUri(f"unsupported scheme {scheme!r}")

    def sign(self, message: bytes) -> bytes:
        if self.scheme is SignatureScheme.Sr25519:
            return bytes(sr25519.sign((self.public, self.secret), message))
        return bytes(ed25519_zebra.ed_sign(self.secret, message))

    def ss58_address(self, prefix: int = DEFAULT_SS58_PREFIX) -> str:
        return ss58_encode(self.public, prefix)

