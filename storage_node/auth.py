"""Signed HTTP requests between clients and storage nodes (DESIGN, "Data paths").

A request carries four headers: the caller's account (``cairn-account``, ``0x`` + 64 hex), the time it was
signed (``cairn-timestamp``, integer milliseconds since the epoch) and an sr25519 signature (``cairn-signature``,
``0x`` + 128 hex) by that account over :func:`request_message`::

    DOMAIN_STORAGE_REQUEST ++ method ++ 0x00 ++ path (with its query) ++ 0x00 ++ body_hash (32)
        ++ timestamp (u64 LE) ++ node (32, the AccountId of the node addressed)

``body_hash`` is ``blake3(body)`` (:func:`body_hash`; an empty body hashes ``b""``), also sent in a fourth
header (``cairn-body-hash``, ``0x`` + 64 hex): a node checks an upload's signature against it when the headers
arrive, before it reserves room for the body or reads a byte of it, and the body against it at its end
(:func:`signed_body_hash`). Naming the node stops a
request signed for one node from being replayed to another; the timestamp bounds how long a captured request
stays usable (``window_ms`` either side of the node's clock). A replay to the same node inside the window is
the daemon's to refuse: it keeps the signatures it accepted until they leave the window.

:func:`verify_request` answers the signer's account or raises a subclass of :class:`AuthError`, cheapest
checks first: missing header, malformed header, timestamp outside the window (:func:`claimed_signer`, which a
node runs alone when the headers arrive), then the signature.
"""

from __future__ import annotations

import re
from typing import Mapping

from blake3 import blake3

from runtime.extrinsic import verify_signature
from runtime.hashing import DOMAIN_STORAGE_REQUEST
from runtime.keyring import Keypair
from runtime.primitives import SignatureScheme

__all__ = [
    "HEADER_ACCOUNT",
    "HEADER_TIMESTAMP",
    "HEADER_SIGNATURE",
    "DEFAULT_WINDOW_MS",
    "MAX_PATH_LENGTH",
    "AuthError",
    "MissingAuth",
    "MalformedAuth",
    "ExpiredAuth",
    "BadSignature",
    "body_hash",
    "request_message",
    "sign_request",
    "verify_request",
    "claimed_signer",
    "signed_body_hash",
    "HEADER_BODY_HASH",
]

HEADER_ACCOUNT = "cairn-account"
HEADER_TIMESTAMP = "cairn-timestamp"
HEADER_SIGNATURE = "cairn-signature"
HEADER_BODY_HASH = "cairn-body-hash"

DEFAULT_WINDOW_MS = 120_000
"""How far a request's timestamp may be from the node's clock, either way: generous for clock skew and slow
uploads of large fragments, short enough that the daemon's replay memory stays small."""

MAX_PATH_LENGTH = 2048
"""Longest path (with query) a signed request may name."""

_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")
_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{128}")
_TIMESTAMP = re.compile(r"[0-9]{1,20}")
_METHOD = re.compile(r"[A-Z]{1,16}")


class AuthError(Exception):
    """The request is not authenticated; the daemon answers 401."""


class MissingAuth(AuthError):
    """One of the ``cairn-*`` headers is absent."""


class MalformedAuth(AuthError):
    """A header, the method, the path, the body hash or the node id is not in its fixed format."""


class ExpiredAuth(AuthError):
    """The timestamp is further than the window from the node's clock, in the past or the future."""


class BadSignature(AuthError):
    """The signature is not the named account's over this request (another signer, or anything altered)."""


def body_hash(body: bytes | bytearray | memoryview) -> bytes:
    """``blake3(body)``: what a request signs for its body."""
    return blake3(body).digest()


def _check_request(method: str, path: str, body_hash: bytes, node: bytes) -> None:
    if not _METHOD.fullmatch(method):
        raise MalformedAuth(f"method {method!r} is not an upper-case HTTP token")
    if not 1 <= len(path) <= MAX_PATH_LENGTH or not path.isascii() or "\x00" in path:
        raise MalformedAuth(f"path must be 1..{MAX_PATH_LENGTH} ASCII characters without NUL")
    if len(body_hash) != 32 or len(node) != 32:
        raise MalformedAuth("body hash and node id are 32 bytes")


def request_message(method: str, path: str, body_hash: bytes, timestamp_ms: int, node: bytes) -> bytes:
    """The bytes an account signs for one request (layout in the module docstring)."""
    _check_request(method, path, body_hash, node)
    if not 0 <= timestamp_ms < 1 << 64:
        raise MalformedAuth(f"timestamp {timestamp_ms} is not a u64")
    return b"".join((DOMAIN_STORAGE_REQUEST, method.encode(), b"\x00", path.encode(), b"\x00", body_hash,
                     timestamp_ms.to_bytes(8, "little"), node))


def sign_request(keypair: Keypair, method: str, path: str, body_hash: bytes, timestamp_ms: int,
                 node: bytes) -> dict[str, str]:
    """The four ``cairn-*`` headers for a request by ``keypair``'s account to ``node``."""
    if keypair.scheme is not SignatureScheme.Sr25519:
        raise ValueError("storage requests are signed with sr25519 account keys")
    signature = keypair.sign(request_message(method, path, body_hash, timestamp_ms, node))
    return {
        HEADER_ACCOUNT: "0x" + keypair.public.hex(),
        HEADER_TIMESTAMP: str(timestamp_ms),
        HEADER_SIGNATURE: "0x" + signature.hex(),
        HEADER_BODY_HASH: "0x" + body_hash.hex(),
    }


def verify_request(headers: Mapping[str, str], method: str, path: str, body_hash: bytes, now_ms: int,
                   node: bytes, *, window_ms: int = DEFAULT_WINDOW_MS) -> bytes:
    """The AccountId that signed this request to ``node``, or an :class:`AuthError` subclass saying why not.

    ``headers`` may use any letter case in names (HTTP's are case-insensitive)."""
    account, timestamp_ms, signature = claimed_signer(headers, now_ms, window_ms=window_ms)
    message = request_message(method, path, body_hash, timestamp_ms, node)
    if not verify_signature(SignatureScheme.Sr25519, signature, message, account):
        raise BadSignature(f"not a signature by 0x{account.hex()} over this request")
    return account


def signed_body_hash(headers: Mapping[str, str]) -> bytes:
    """The body hash a request's headers say its signature covers (:class:`MissingAuth`, :class:`MalformedAuth`):
    what a node verifies an upload's signature with before the body arrives, then the body against."""
    value = {name.lower(): value for name, value in headers.items()}.get(HEADER_BODY_HASH)
    if value is None:
        raise MissingAuth(f"missing header: {HEADER_BODY_HASH}")
    if not _HEX32.fullmatch(value):
        raise MalformedAuth(f"{HEADER_BODY_HASH} must be 0x and 64 hex digits")
    return bytes.fromhex(value[2:])


def claimed_signer(headers: Mapping[str, str], now_ms: int, *,
                   window_ms: int = DEFAULT_WINDOW_MS) -> tuple[bytes, int, bytes]:
    """The (account, timestamp, signature) a request's headers claim, checked for form and freshness but not
    yet against the body (:class:`AuthError` subclasses): what a node can check when the headers arrive, before
    it takes a body (a fresh request is then not refused as expired for its body's time on a slow link)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    values = [lowered.get(name) for name in (HEADER_ACCOUNT, HEADER_TIMESTAMP, HEADER_SIGNATURE)]
    missing = [name for name, value in zip((HEADER_ACCOUNT, HEADER_TIMESTAMP, HEADER_SIGNATURE), values)
               if value is None]
    if missing:
        raise MissingAuth(f"missing header(s): {', '.join(missing)}")
    account, timestamp, signature = values
    if not _HEX32.fullmatch(account):
        raise MalformedAuth(f"{HEADER_ACCOUNT} must be 0x and 64 hex digits")
    if not _TIMESTAMP.fullmatch(timestamp) or int(timestamp) >= 1 << 64:
        raise MalformedAuth(f"{HEADER_TIMESTAMP} must be a u64 of milliseconds")
    if not _SIGNATURE.fullmatch(signature):
        raise MalformedAuth(f"{HEADER_SIGNATURE} must be 0x and 128 hex digits")
    timestamp_ms = int(timestamp)
    if abs(now_ms - timestamp_ms) > window_ms:
        raise ExpiredAuth(f"signed at {timestamp_ms} ms, {now_ms - timestamp_ms} ms from now (window {window_ms} ms)")
    return bytes.fromhex(account[2:]), timestamp_ms, bytes.fromhex(signature[2:])
