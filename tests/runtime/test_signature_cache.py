"""The signature cache answers exactly as verification does, and stays within its bound."""

from __future__ import annotations

from runtime.extrinsic import SignatureCache, verify_signature
from runtime.primitives import SignatureScheme
from runtime.keyring import Keypair

ALICE = Keypair.from_uri("//Alice")
BOB = Keypair.from_uri("//Bob", SignatureScheme.Ed25519)


def _statement(key: Keypair, message: bytes) -> tuple:
    return key.scheme, key.sign(message), message, key.public


def test_answers_as_verification_does_for_good_and_bad_statements():
    cache = SignatureCache()
    scheme, signature, message, signer = _statement(ALICE, b"pay bob")
    bad_signature = bytes((signature[0] ^ 1,)) + signature[1:]
    cases = [
        (scheme, signature, message, signer),
        (scheme, bad_signature, message, signer),
        (scheme, signature, b"pay eve", signer),
        (scheme, signature, message, BOB.public),
        (SignatureScheme.Ed25519, signature, message, signer),
        _statement(BOB, b"ed25519 too"),
    ]
    for _ in range(2):  # the second pass is answered from memory where it may be
        assert [cache.verify(*case) for case in cases] == [verify_signature(*case) for case in cases]
    assert len(cache) == 2  # only the two good statements are remembered


def test_a_failure_is_never_remembered():
    cache = SignatureCache()
    scheme, signature, message, signer = _statement(ALICE, b"x")
    assert not cache.verify(scheme, bytes(64), message, signer)
    assert len(cache) == 0
    assert cache.verify(scheme, signature, message, signer)


def test_holds_at_most_its_capacity():
    cache = SignatureCache(capacity=3)
    statements = [_statement(ALICE, bytes((i,))) for i in range(5)]
    for statement in statements:
        assert cache.verify(*statement)
    assert len(cache) == 3
    assert cache.verify(*statements[0])  # forgotten or not, still true
    assert len(cache) == 3
