"""Segment encryption and sealed data keys: round trips, and every wrong key, place or byte refused."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.keyring import Keypair
from tests.runtime.test_purity import FORBIDDEN
from storage_node.crypto import (
    SEALED_KEY_LENGTH,
    DecryptionError,
    InvalidKeyError,
    decrypt_segment,
    encrypt_segment,
    new_data_key,
    open_sealed_key,
    seal_key,
    x25519_keypair_from,
)

KEY = bytes(range(32))
SALT = bytes(range(16))
ALICE = Keypair.from_uri("//Alice")
BOB = Keypair.from_uri("//Bob")


@settings(max_examples=50)
@given(plaintext=st.binary(max_size=5000), index=st.integers(0, (1 << 64) - 1))
def test_segment_round_trip(plaintext, index):
    ciphertext = encrypt_segment(KEY, SALT, index, plaintext)
    assert len(ciphertext) == len(plaintext) + 16
    assert decrypt_segment(KEY, SALT, index, ciphertext) == plaintext
    assert decrypt_segment(KEY, SALT, index, memoryview(ciphertext)) == plaintext


def test_segment_layout_is_aes_gcm_with_the_index_nonce_and_salt_aad():
    ciphertext = encrypt_segment(KEY, SALT, 5, memoryview(b"hello"))
    nonce = (5).to_bytes(8, "little") + bytes(4)
    assert ciphertext == AESGCM(KEY).encrypt(nonce, b"hello", SALT + (5).to_bytes(8, "little"))


def test_wrong_key_index_salt_or_any_flipped_byte_is_a_decryption_error():
    ciphertext = encrypt_segment(KEY, SALT, 3, b"private segment bytes")
    with pytest.raises(DecryptionError):
        decrypt_segment(new_data_key(), SALT, 3, ciphertext)
    with pytest.raises(DecryptionError):
        decrypt_segment(KEY, SALT, 4, ciphertext)
    with pytest.raises(DecryptionError):
        decrypt_segment(KEY, bytes(16), 3, ciphertext)
    for position in range(len(ciphertext)):
        tampered = bytearray(ciphertext)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            decrypt_segment(KEY, SALT, 3, bytes(tampered))
    with pytest.raises(DecryptionError):
        decrypt_segment(KEY, SALT, 3, ciphertext[:-1])
    with pytest.raises(DecryptionError):
        decrypt_segment(KEY, SALT, 3, b"")


def test_data_keys_are_fresh_and_checked():
    assert len(new_data_key()) == 32 and new_data_key() != new_data_key()
    with pytest.raises(InvalidKeyError):
        encrypt_segment(b"short", SALT, 0, b"x")
    with pytest.raises(InvalidKeyError):
        decrypt_segment(b"k" * 33, SALT, 0, b"x" * 20)


def test_x25519_keys_are_deterministic_per_account():
    secret, public = x25519_keypair_from(ALICE)
    assert x25519_keypair_from(Keypair.from_uri("//Alice")) == (secret, public)
    assert len(secret) == len(public) == 32
    assert x25519_keypair_from(BOB)[1] != public


def test_seal_and_open():
    data_key = new_data_key()
    bob_secret, bob_public = x25519_keypair_from(BOB)
    sealed = seal_key(data_key, bob_public)
    assert len(sealed) == SEALED_KEY_LENGTH == 80
    assert open_sealed_key(sealed, bob_secret) == data_key
    assert seal_key(data_key, bob_public) != sealed                  # a fresh ephemeral key each time


def test_sealed_key_opens_only_for_its_recipient_and_unaltered():
    sealed = seal_key(new_data_key(), x25519_keypair_from(BOB)[1])
    bob_secret = x25519_keypair_from(BOB)[0]
    with pytest.raises(DecryptionError):
        open_sealed_key(sealed, x25519_keypair_from(ALICE)[0])
    for position in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x80
        with pytest.raises(DecryptionError):
            open_sealed_key(bytes(tampered), bob_secret)
    for bad in (sealed[:-1], sealed + b"\x00", b"", bytes(32) + sealed[32:]):   # the last: a low-order point
        with pytest.raises(DecryptionError):
            open_sealed_key(bad, bob_secret)


def test_bad_recipient_keys_are_refused():
    with pytest.raises(InvalidKeyError):
        seal_key(new_data_key(), b"short")
    with pytest.raises(InvalidKeyError):
        seal_key(new_data_key(), bytes(32))                          # low-order point
    with pytest.raises(InvalidKeyError):
        seal_key(b"short", x25519_keypair_from(BOB)[1])
    with pytest.raises(InvalidKeyError):
        open_sealed_key(bytes(SEALED_KEY_LENGTH), b"short")


def test_the_storage_formats_import_nothing_with_io():
    """They are pure tier (the runtime verifies proofs and decodes manifests with them); ``cryptography``'s
    serialization module, for one, would pull in ``random``."""
    probe = ("import sys, storage_node.chunks, storage_node.manifest, storage_node.crypto, storage_node.auth;"
             "print(' '.join(sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split()
    assert [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)] == []
