"""The keystore: Substrate's file layout, checked inserts, persistence, and files it must not trust."""

from __future__ import annotations

import json
import stat

import pytest

from node.keystore import SESSION_KEY_TYPE, Keystore, KeystoreError
from runtime.primitives import SignatureScheme
from runtime.keyring import Keypair

ALICE = Keypair.from_uri("//Alice", SignatureScheme.Ed25519)
BOB = Keypair.from_uri("//Bob", SignatureScheme.Ed25519)


def test_an_inserted_key_is_kept_as_substrate_keeps_it_and_survives_a_reopen(tmp_path):
    keystore = Keystore(tmp_path / "keystore")
    keystore.insert(SESSION_KEY_TYPE, "//Alice", ALICE.public)
    path = tmp_path / "keystore" / (b"aura".hex() + ALICE.public.hex())
    assert json.loads(path.read_text()) == "//Alice"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keystore").stat().st_mode) == 0o700
    reopened = Keystore(tmp_path / "keystore")
    assert reopened.has(SESSION_KEY_TYPE, ALICE.public) and reopened.get(ALICE.public) == ALICE


def test_generated_keys_are_fresh_persisted_and_answer_has_session_keys(tmp_path):
    keystore = Keystore(tmp_path)
    first, second = keystore.generate(), keystore.generate()
    assert first.public != second.public and first.scheme is SignatureScheme.Ed25519
    reopened = Keystore(tmp_path)
    assert reopened.has_session_keys(first.public) and reopened.has_session_keys(second.public)
    assert not reopened.has_session_keys(BOB.public)
    assert reopened.get(first.public).sign(b"m") == first.sign(b"m")


def test_key_for_picks_our_key_among_the_authorities(tmp_path):
    keystore = Keystore(tmp_path)
    assert keystore.key_for((ALICE.public, BOB.public)) is None
    keystore.insert(SESSION_KEY_TYPE, "//Bob", BOB.public)
    assert keystore.key_for((ALICE.public, BOB.public)) == BOB


@pytest.mark.parametrize(("key_type", "suri", "public", "reason"), [
    (b"gran", "//Alice", ALICE.public, "unknown key type"),
    (SESSION_KEY_TYPE, "//Alice", BOB.public, "not 0x"),
    (SESSION_KEY_TYPE, "not a phrase at all", ALICE.public, "invalid secret URI"),
    (SESSION_KEY_TYPE, "0x1234", ALICE.public, "invalid secret URI"),
], ids=["key-type", "wrong-public", "bad-phrase", "short-seed"])
def test_bad_inserts_are_refused_and_change_nothing(tmp_path, key_type, suri, public, reason):
    keystore = Keystore(tmp_path)
    with pytest.raises(KeystoreError, match=reason):
        keystore.insert(key_type, suri, public)
    assert len(keystore) == 0 and list(tmp_path.iterdir()) == []


def test_session_keys_of_the_wrong_length_are_an_error(tmp_path):
    with pytest.raises(KeystoreError, match="32 bytes"):
        Keystore(tmp_path).has_session_keys(ALICE.public + b"\x00")


def test_files_that_do_not_parse_or_do_not_match_their_name_are_skipped(tmp_path, caplog):
    prefix = SESSION_KEY_TYPE.hex()
    (tmp_path / (prefix + ALICE.public.hex())).write_text(json.dumps("//Bob"))  # a secret under another name
    (tmp_path / (prefix + BOB.public.hex())).write_text("{not json")
    (tmp_path / (prefix + "zz")).write_text(json.dumps("//Alice"))
    (tmp_path / "unrelated.txt").write_text("left alone")
    keystore = Keystore(tmp_path)
    assert len(keystore) == 0
    assert caplog.text.count("skipped") == 3
