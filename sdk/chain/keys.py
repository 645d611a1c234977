"""Who signs and who is meant: key pairs from secret URIs, seeds or files, account ids from addresses, and
the 32-byte hashes a user names.

A signer is a :class:`runtime.keyring.Keypair` (``//Alice``-style URIs and ``0x`` seeds, Substrate's
derivation). Wherever the client takes an account (a call's ``dest``, a storage key), it accepts what a
user has at hand: 32 raw bytes, a ``0x`` hex string, an SS58 address or a key pair; wherever it takes a
hash (a block hash, a file id), 32 raw bytes or ``0x`` + 64 hex digits (:func:`hash_id`).
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

from runtime.keyring import InvalidSecretUri, Keypair
from runtime.primitives import SignatureScheme
from runtime.ss58 import InvalidAddress, ss58_decode
from sdk.chain.errors import BadArgument

__all__ = ["keypair_from_file", "keypair_from_arg", "account_id", "account_argument", "AccountLike", "hash_id"]

AccountLike = bytes | str | Keypair
"""32 bytes, ``"0x"`` + 64 hex digits, an SS58 address, or a key pair (its public key)."""

MAX_KEY_FILE_SIZE = 4096
_HASH_HEX = re.compile(r"0x[0-9a-fA-F]{64}")


def keypair_from_file(path: str | Path, scheme: SignatureScheme = SignatureScheme.Sr25519) -> Keypair:
    """The key pair whose secret URI (``//Name``, a phrase with junctions) or ``0x`` seed a file holds, as
    ``cairn node --key FILE`` reads it. Raises ``InvalidSecretUri`` for anything else (the secret itself
    is never echoed) and ``OSError`` if the file cannot be read."""
    path = Path(path)
    if path.stat().st_size > MAX_KEY_FILE_SIZE:
        raise InvalidSecretUri(f"{path}: larger than {MAX_KEY_FILE_SIZE} bytes, not a key file")
    try:
        text = path.read_text().strip()
    except UnicodeDecodeError:
        raise InvalidSecretUri(f"{path}: not text") from None
    if not text:  # the empty URI is the development phrase's root: a key anyone can derive
        raise InvalidSecretUri(f"{path}: empty, not a key file")
    return Keypair.from_uri(text, scheme)


def keypair_from_arg(value: str, scheme: SignatureScheme = SignatureScheme.Sr25519) -> Keypair:
    """The key pair a ``--key`` flag names: a secret URI (``//Alice``, a phrase with junctions, a ``0x`` seed)
    or a file holding one. Raises ``InvalidSecretUri`` or ``OSError`` as :func:`keypair_from_file` does, and
    ``FileNotFoundError`` for a path to no file: ``/keys/alice`` is also the URI of a soft derivation from the
    development phrase, and signing with that account by a typo in a path is no one's intent."""
    try:
        path = Path(value).expanduser()  # a shell leaves the ~ of --key=~/alice.key as it is
    except RuntimeError:  # ~user of no such user
        path = Path(value)
    if not value.startswith(("//", "0x")) and path.is_file():
        return keypair_from_file(path, scheme)
    if value.startswith(("/", "./", "../", "~")) and not value.startswith("//"):
        raise FileNotFoundError(errno.ENOENT, "no such key file", value)
    return Keypair.from_uri(value, scheme)


def account_id(value: AccountLike) -> bytes:
    """The 32-byte account id ``value`` names; ``ValueError`` if it names none."""
    if isinstance(value, Keypair):
        return value.public
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 32:
            raise ValueError(f"an account id is 32 bytes, got {len(value)}")
        return bytes(value)
    if isinstance(value, str):
        if value.startswith("0x"):
            try:
                raw = bytes.fromhex(value[2:])
            except ValueError:
                raise ValueError("account id is not valid hex") from None
            return account_id(raw)
        try:
            return ss58_decode(value, prefix=None)
        except InvalidAddress as exc:
            raise ValueError(f"not an SS58 address: {exc}") from None
    raise ValueError(f"expected an account id (bytes, 0x hex, SS58 address or Keypair), got {type(value).__name__}")


def account_argument(value: AccountLike) -> bytes:
    """:func:`account_id` for an argument of an API call: :class:`BadArgument` if ``value`` names no account."""
    try:
        return account_id(value)
    except ValueError as exc:
        raise BadArgument(str(exc)) from None


def hash_id(value: bytes | str, what: str) -> bytes:
    """The 32-byte hash ``value`` names (32 bytes, or ``0x`` + 64 hex digits); :class:`BadArgument` saying that
    a ``what`` (``"block hash"``, ``"file id"``) is one of those otherwise."""
    if isinstance(value, (bytes, bytearray)) and len(value) == 32:
        return bytes(value)
    if isinstance(value, str) and _HASH_HEX.fullmatch(value):
        return bytes.fromhex(value[2:])
    raise BadArgument(f"a {what} is 32 bytes or 0x + 64 hex digits, got {value!r:.80}")
