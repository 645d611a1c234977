"""BLS12-381 signatures for DA attestations: Ethereum's proof-of-possession ciphersuite, fast path.

The ciphersuite is ``BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`` (IETF draft-irtf-cfrg-bls-signature,
as Ethereum's consensus layer uses it): public keys are compressed G1 points (48 bytes), signatures
compressed G2 points (96 bytes). Signatures on one message aggregate into one, which
:func:`fast_aggregate_verify` checks against the signers' public keys with two pairings whatever their
number; that is what lets the runtime check a blob's attestation by all its DA nodes in one step. It is
safe only for keys whose owners proved possession of the secret (:func:`pop_prove`, checked at
registration with :func:`pop_verify`): otherwise a "rogue key" chosen as a function of others' keys could
forge an aggregate.

This module is the production path, over ``blspy`` (Chia's binding of the relic-based C++ library;
fast_aggregate_verify of 100 keys in ~1.8 ms where ``pyblst`` takes ~9.8 ms and ``py_ecc`` ~1.6 s).
:mod:`da_layer.bls_reference` offers the same functions over ``py_ecc``, the readable reference; the tests
check that both produce the same bytes.

Secrets are 32-byte big-endian scalars derived from a seed by the draft's ``KeyGen`` (EIP-2333 uses the
same), written out here because ``blspy``'s ``key_gen`` follows an older draft. Verifiers answer ``False``
for anything that does not verify, including bytes that are not a valid point or the identity key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from blspy import G1Element, G2Element, PopSchemeMPL, PrivateKey

__all__ = [
    "SECRET_KEY_BYTES",
    "PUBLIC_KEY_BYTES",
    "SIGNATURE_BYTES",
    "CURVE_ORDER",
    "MIN_SEED_BYTES",
    "InvalidSecretKey",
    "InvalidSignature",
    "check_seed",
    "secret_scalar",
    "secret_from_seed",
    "public_key",
    "sign",
    "verify",
    "aggregate",
    "fast_aggregate_verify",
    "pop_prove",
    "pop_verify",
    "is_g1_point",
]

SECRET_KEY_BYTES = 32
PUBLIC_KEY_BYTES = 48
SIGNATURE_BYTES = 96
CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
"""The order r of G1 and G2: secrets are scalars in ``1 .. r-1``."""
MIN_SEED_BYTES = 32
_KEYGEN_SALT = b"BLS-SIG-KEYGEN-SALT-"
_KEYGEN_OKM_BYTES = 48
"""L = ceil(3 * ceil(log2(r)) / 16): enough bytes that reducing modulo r is unbiased."""


class InvalidSecretKey(ValueError):
    """Not 32 bytes encoding a scalar in ``1 .. r-1``, or a seed shorter than 32 bytes."""


class InvalidSignature(ValueError):
    """Bytes that are not a compressed signature (a point of G2's subgroup)."""


def secret_from_seed(seed: bytes) -> bytes:
    """The secret key the draft's ``KeyGen(IKM=seed, key_info="")`` derives (``seed``: >= 32 bytes)."""
    check_seed(seed)
    salt, secret = _KEYGEN_SALT, 0
    while secret == 0:
        salt = hashlib.sha256(salt).digest()
        prk = hmac.new(salt, seed + b"\x00", hashlib.sha256).digest()  # HKDF-Extract
        okm, block, counter = b"", b"", 1
        while len(okm) < _KEYGEN_OKM_BYTES:  # HKDF-Expand with info = I2OSP(L, 2)
            block = hmac.new(prk, block + _KEYGEN_OKM_BYTES.to_bytes(2, "big") + bytes((counter,)),
                             hashlib.sha256).digest()
            okm, counter = okm + block, counter + 1
        secret = int.from_bytes(okm[:_KEYGEN_OKM_BYTES], "big") % CURVE_ORDER
    return secret.to_bytes(SECRET_KEY_BYTES, "big")


def public_key(secret: bytes) -> bytes:
    return bytes(_secret(secret).get_g1())


def sign(secret: bytes, message: bytes) -> bytes:
    return bytes(PopSchemeMPL.sign(_secret(secret), message))


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    key, sig = _public(public), _signature(signature)
    return key is not None and sig is not None and PopSchemeMPL.verify(key, message, sig)


def aggregate(signatures: Sequence[bytes]) -> bytes:
    """One signature standing for all of ``signatures`` (at least one); raises :class:`InvalidSignature`."""
    if not signatures:
        raise InvalidSignature("there is nothing to aggregate")
    points = []
    for index, signature in enumerate(signatures):
        point = _signature(signature)
        if point is None:
            raise InvalidSignature(f"signature {index} is not a point of G2")
        points.append(point)
    return bytes(PopSchemeMPL.aggregate(points))


def fast_aggregate_verify(publics: Sequence[bytes], message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` aggregates a signature on ``message`` by each of ``publics`` (POP-checked keys)."""
    keys = [_public(p) for p in publics]
    sig = _signature(signature)
    if not keys or sig is None or any(k is None for k in keys):
        return False
    return PopSchemeMPL.fast_aggregate_verify(keys, message, sig)


def pop_prove(secret: bytes) -> bytes:
    """The proof that the holder of ``public_key(secret)`` knows ``secret``."""
    return bytes(PopSchemeMPL.pop_prove(_secret(secret)))


def pop_verify(public: bytes, proof: bytes) -> bool:
    key, sig = _public(public), _signature(proof)
    return key is not None and sig is not None and PopSchemeMPL.pop_verify(key, sig)


def is_g1_point(data: bytes) -> bool:
    """Whether ``data`` is a compressed point of G1's prime-order subgroup, the identity included: what a KZG
    commitment is (the zero blob commits to the identity). Decompression checks the curve and the subgroup."""
    return _g1(data) is not None


def check_seed(seed: bytes) -> None:
    if len(seed) < MIN_SEED_BYTES:
        raise InvalidSecretKey(f"a key seed has at least {MIN_SEED_BYTES} bytes, not {len(seed)}")


def secret_scalar(secret: bytes) -> int:
    """The scalar a secret key encodes; raises :class:`InvalidSecretKey`."""
    value = int.from_bytes(secret, "big")
    if len(secret) != SECRET_KEY_BYTES or not 0 < value < CURVE_ORDER:
        raise InvalidSecretKey("a secret key is 32 big-endian bytes of a scalar in 1 .. r-1")
    return value


def _secret(secret: bytes) -> PrivateKey:
    secret_scalar(secret)
    return PrivateKey.from_bytes(bytes(secret))


def _public(public: bytes) -> G1Element | None:
    """The key, or ``None`` for bytes that are not a point of G1's subgroup or are its identity."""
    key = _g1(public)
    return None if key == G1Element() else key


def _g1(data: bytes) -> G1Element | None:
    if len(data) != PUBLIC_KEY_BYTES:
        return None
    try:
        return G1Element.from_bytes(bytes(data))
    except (ValueError, RuntimeError):
        return None


def _signature(signature: bytes) -> G2Element | None:
    if len(signature) != SIGNATURE_BYTES:
        return None
    try:
        return G2Element.from_bytes(bytes(signature))
    except (ValueError, RuntimeError):
        return None
