"""Encryption of private files and the sealing of their data keys to grantees.

- **Segments** are sealed with AES-256-GCM under the file's random 32-byte data key. The nonce is the
  segment index (``u64 LE`` then 4 zero bytes): one key per file, one index per segment, so a nonce is never
  used twice under a key. The associated data is the manifest's salt and the index (``salt ++ u64 LE``), so a
  segment cannot be moved to another position or file without failing its tag. Ciphertext = encrypted
  segment ++ 16-byte tag.
- **Encryption keys**: each account has an X25519 key derived from its signing secret
  (HKDF-SHA256, info ``DOMAIN_STORAGE_X25519``); it registers the public half on chain.
- **Sealed data keys** (what a grant carries): an ephemeral X25519 key agrees a secret with the grantee's
  public key; HKDF-SHA256 (info ``DOMAIN_STORAGE_SEAL ++ eph_pub ++ recipient_pub``) turns it into a one-use
  AES-256-GCM key, used with a zero nonce. Layout: ``eph_pub (32) ++ encrypted key (32) ++ tag (16)``, 80 bytes.

Pure computation: the only randomness is the caller's (:func:`new_data_key`, the ephemeral key in
:func:`seal_key`), which only the SDK uses; the runtime never calls this module.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from runtime.hashing import DOMAIN_STORAGE_SEAL, DOMAIN_STORAGE_X25519
from runtime.keyring import Keypair
from storage_node.params import GCM_TAG_LENGTH

__all__ = [
    "DATA_KEY_LENGTH",
    "SEALED_KEY_LENGTH",
    "X25519_KEY_LENGTH",
    "DecryptionError",
    "InvalidKeyError",
    "new_data_key",
    "encrypt_segment",
    "decrypt_segment",
    "x25519_keypair_from",
    "seal_key",
    "open_sealed_key",
]

DATA_KEY_LENGTH = 32
"""AES-256 key bytes."""
X25519_KEY_LENGTH = 32
"""X25519 secret and public key bytes."""
SEALED_KEY_LENGTH = X25519_KEY_LENGTH + DATA_KEY_LENGTH + GCM_TAG_LENGTH
"""A sealed data key: ephemeral public key, encrypted data key, tag."""

_ZERO_NONCE = bytes(12)

Buffer = bytes | bytearray | memoryview


class DecryptionError(ValueError):
    """The ciphertext or sealed key does not open under this key: wrong key, wrong place, or tampered."""


class InvalidKeyError(ValueError):
    """A key is not of its fixed length."""


def _check_length(name: str, value: bytes, length: int) -> None:
    if not isinstance(value, bytes) or len(value) != length:
        raise InvalidKeyError(f"{name} must be {length} bytes")


def new_data_key() -> bytes:
    """A fresh random AES-256 key for one file."""
    return os.urandom(DATA_KEY_LENGTH)


def _segment_nonce_and_aad(manifest_salt: bytes, index: int) -> tuple[bytes, bytes]:
    position = index.to_bytes(8, "little")
    return position + bytes(4), manifest_salt + position


def encrypt_segment(key: bytes, manifest_salt: bytes, index: int, plaintext: Buffer) -> bytes:
    """Segment ``index`` of a file under its data ``key``: ciphertext ++ 16-byte tag."""
    _check_length("data key", key, DATA_KEY_LENGTH)
    nonce, aad = _segment_nonce_and_aad(manifest_salt, index)
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt_segment(key: bytes, manifest_salt: bytes, index: int, ciphertext: Buffer) -> bytes:
    """The plaintext of segment ``index``, or :class:`DecryptionError` if it does not authenticate."""
    _check_length("data key", key, DATA_KEY_LENGTH)
    nonce, aad = _segment_nonce_and_aad(manifest_salt, index)
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise DecryptionError(f"segment {index} does not authenticate under this key") from None


def x25519_keypair_from(account: Keypair) -> tuple[bytes, bytes]:
    """The account's encryption key as ``(secret, public)``, derived from its signing secret."""
    secret = HKDF(hashes.SHA256(), X25519_KEY_LENGTH, salt=None, info=DOMAIN_STORAGE_X25519).derive(account.secret)
    return secret, _public_of(X25519PrivateKey.from_private_bytes(secret))


def _public_of(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes_raw()


def _seal_cipher(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> AESGCM:
    info = DOMAIN_STORAGE_SEAL + ephemeral_public + recipient_public
    return AESGCM(HKDF(hashes.SHA256(), DATA_KEY_LENGTH, salt=None, info=info).derive(shared))


def seal_key(data_key: bytes, recipient_x25519_public: bytes) -> bytes:
    """``data_key`` sealed so that only the holder of ``recipient_x25519_public``'s secret opens it."""
    _check_length("data key", data_key, DATA_KEY_LENGTH)
    _check_length("recipient key", recipient_x25519_public, X25519_KEY_LENGTH)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = _public_of(ephemeral)
    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_x25519_public))
    except ValueError:  # a low-order point: every secret agrees the same all-zero value with it
        raise InvalidKeyError("the recipient key is not a usable X25519 public key") from None
    cipher = _seal_cipher(shared, ephemeral_public, recipient_x25519_public)
    return ephemeral_public + cipher.encrypt(_ZERO_NONCE, data_key, None)


def open_sealed_key(sealed: bytes, x25519_secret: bytes) -> bytes:
    """The data key inside ``sealed``, or :class:`DecryptionError` if it was not sealed to this secret's key
    or was altered."""
    _check_length("x25519 secret", x25519_secret, X25519_KEY_LENGTH)
    if not isinstance(sealed, bytes) or len(sealed) != SEALED_KEY_LENGTH:
        raise DecryptionError(f"a sealed key is {SEALED_KEY_LENGTH} bytes")
    private = X25519PrivateKey.from_private_bytes(x25519_secret)
    ephemeral_public = sealed[:X25519_KEY_LENGTH]
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
        cipher = _seal_cipher(shared, ephemeral_public, _public_of(private))
        return cipher.decrypt(_ZERO_NONCE, sealed[X25519_KEY_LENGTH:], None)
    except (ValueError, InvalidTag):  # a low-order ephemeral key, or a tag that does not check
        raise DecryptionError("the sealed key does not open with this secret") from None
