"""Signed storage requests: a valid one names its signer; each way of breaking one gets its typed error."""

from __future__ import annotations

import pytest
from blake3 import blake3

from runtime.hashing import DOMAIN_STORAGE_REQUEST
from runtime.keyring import Keypair
from runtime.primitives import SignatureScheme
from storage_node.auth import (
    DEFAULT_WINDOW_MS,
    HEADER_ACCOUNT,
    HEADER_BODY_HASH,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    AuthError,
    BadSignature,
    ExpiredAuth,
    MalformedAuth,
    MissingAuth,
    body_hash,
    request_message,
    sign_request,
    signed_body_hash,
    verify_request,
)

ALICE = Keypair.from_uri("//Alice")
BOB = Keypair.from_uri("//Bob")
NODE = Keypair.from_uri("//storage-1").public
OTHER_NODE = Keypair.from_uri("//storage-2").public
NOW = 1_780_000_000_000
PATH = "/v1/fragments/0x" + "ab" * 32 + "/0/1"
BODY = blake3(b"fragment bytes").digest()
HEADERS = sign_request(ALICE, "PUT", PATH, BODY, NOW, NODE)


def verify(headers=HEADERS, method="PUT", path=PATH, body=BODY, now=NOW, node=NODE, **kwargs):
    return verify_request(headers, method, path, body, now, node, **kwargs)


def test_valid_request_names_its_signer():
    assert set(HEADERS) == {HEADER_ACCOUNT, HEADER_TIMESTAMP, HEADER_SIGNATURE, HEADER_BODY_HASH}
    assert signed_body_hash(HEADERS) == BODY  # (BODY stands for the body's hash here)
    with pytest.raises(MissingAuth):
        signed_body_hash({name: value for name, value in HEADERS.items() if name != HEADER_BODY_HASH})
    with pytest.raises(MalformedAuth):
        signed_body_hash({**HEADERS, HEADER_BODY_HASH: "0x" + "zz" * 32})
    assert HEADERS[HEADER_ACCOUNT] == "0x" + ALICE.public.hex()
    assert HEADERS[HEADER_TIMESTAMP] == str(NOW)
    assert len(HEADERS[HEADER_SIGNATURE]) == 130
    assert verify() == ALICE.public
    assert verify({name.title(): value for name, value in HEADERS.items()}) == ALICE.public
    assert verify(now=NOW + DEFAULT_WINDOW_MS) == ALICE.public               # the window's edges count
    assert verify(now=NOW - DEFAULT_WINDOW_MS) == ALICE.public


def test_message_layout():
    assert request_message("GET", "/v1/x?y=1", BODY, 258, NODE) == (
        DOMAIN_STORAGE_REQUEST + b"GET\x00/v1/x?y=1\x00" + BODY + (258).to_bytes(8, "little") + NODE)
    assert body_hash(b"") == blake3(b"").digest()
    assert body_hash(memoryview(b"abc")) == blake3(b"abc").digest()


def test_expired_and_future_dated_requests():
    with pytest.raises(ExpiredAuth):
        verify(now=NOW + DEFAULT_WINDOW_MS + 1)
    with pytest.raises(ExpiredAuth):
        verify(now=NOW - DEFAULT_WINDOW_MS - 1)                              # signed in the future
    with pytest.raises(ExpiredAuth):
        verify(now=NOW + 2_000, window_ms=1_000)


def test_signature_by_another_account():
    forged = dict(sign_request(BOB, "PUT", PATH, BODY, NOW, NODE), **{HEADER_ACCOUNT: HEADERS[HEADER_ACCOUNT]})
    with pytest.raises(BadSignature):
        verify(forged)
    assert verify(sign_request(BOB, "PUT", PATH, BODY, NOW, NODE)) == BOB.public


@pytest.mark.parametrize("change", [
    {"path": PATH.replace("/1", "/2")},
    {"path": PATH + "?x=1"},
    {"body": blake3(b"other bytes").digest()},
    {"method": "GET"},
    {"node": OTHER_NODE},
], ids=lambda change: next(iter(change)))
def test_tampered_requests(change):
    with pytest.raises(BadSignature):
        verify(**change)


def test_tampered_headers():
    with pytest.raises(BadSignature):
        verify({**HEADERS, HEADER_TIMESTAMP: str(NOW + 1)})
    signature = HEADERS[HEADER_SIGNATURE]
    flipped = signature[:10] + ("0" if signature[10] != "0" else "1") + signature[11:]
    with pytest.raises(BadSignature):
        verify({**HEADERS, HEADER_SIGNATURE: flipped})
    with pytest.raises(BadSignature):
        verify({**HEADERS, HEADER_SIGNATURE: "0x" + "00" * 64})


@pytest.mark.parametrize("name", [HEADER_ACCOUNT, HEADER_TIMESTAMP, HEADER_SIGNATURE])
def test_missing_headers(name):
    with pytest.raises(MissingAuth):
        verify({key: value for key, value in HEADERS.items() if key != name})


@pytest.mark.parametrize("name, value", [
    (HEADER_ACCOUNT, ALICE.public.hex()),                     # no 0x
    (HEADER_ACCOUNT, "0x" + ALICE.public.hex()[:-2]),
    (HEADER_ACCOUNT, "0x" + " " * 64),                         # bytes.fromhex would skip spaces
    (HEADER_ACCOUNT, "0x" + "zz" * 32),
    (HEADER_TIMESTAMP, "-5"),
    (HEADER_TIMESTAMP, "1.5"),
    (HEADER_TIMESTAMP, ""),
    (HEADER_TIMESTAMP, str(1 << 64)),
    (HEADER_TIMESTAMP, "1" * 21),
    (HEADER_SIGNATURE, "0x" + "00" * 63),
    (HEADER_SIGNATURE, HEADERS[HEADER_SIGNATURE] + "\n"),
])
def test_malformed_headers(name, value):
    with pytest.raises(MalformedAuth):
        verify({**HEADERS, name: value})


@pytest.mark.parametrize("change", [
    {"method": "put"}, {"method": "GET\x00"}, {"path": ""}, {"path": "/v1/\x00"}, {"path": "/" + "a" * 2048},
    {"path": "/v1/é"}, {"body": b"short"}, {"node": b"short"},
], ids=str)
def test_malformed_requests(change):
    with pytest.raises(MalformedAuth):
        verify(**change)


def test_every_refusal_is_an_auth_error_and_only_sr25519_signs():
    for error in (MissingAuth, MalformedAuth, ExpiredAuth, BadSignature):
        assert issubclass(error, AuthError)
    with pytest.raises(ValueError):
        sign_request(Keypair.from_uri("//Alice", SignatureScheme.Ed25519), "GET", PATH, BODY, NOW, NODE)
