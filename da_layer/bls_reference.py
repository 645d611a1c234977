"""The readable reference for :mod:`da_layer.bls`: the same functions over ``py_ecc``, in pure Python.

``py_ecc`` (the Ethereum Foundation's implementation of the IETF draft, ``G2ProofOfPossession``) is slow
(~0.2 s to sign, ~1.6 s for an aggregate of 100) but short enough to read against the draft. The tests run
both modules on the same keys and messages and require the same bytes and verdicts; nothing else imports
this one (``py_ecc`` pulls in ``random`` and sockets, which the runtime must not).
"""

from __future__ import annotations

from collections.abc import Sequence

from py_ecc.bls import G2ProofOfPossession as _Pop

from da_layer.bls import CURVE_ORDER, MIN_SEED_BYTES, SECRET_KEY_BYTES, InvalidSecretKey, InvalidSignature

__all__ = ["secret_from_seed", "public_key", "sign", "verify", "aggregate", "fast_aggregate_verify", "pop_prove",
           "pop_verify"]


def secret_from_seed(seed: bytes) -> bytes:
    if len(seed) < MIN_SEED_BYTES:
        raise InvalidSecretKey(f"a key seed has at least {MIN_SEED_BYTES} bytes, not {len(seed)}")
    return _Pop.KeyGen(seed).to_bytes(SECRET_KEY_BYTES, "big")


def public_key(secret: bytes) -> bytes:
    return _Pop.SkToPk(_scalar(secret))


def sign(secret: bytes, message: bytes) -> bytes:
    return _Pop.Sign(_scalar(secret), message)


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    return _Pop.Verify(public, message, signature)


def aggregate(signatures: Sequence[bytes]) -> bytes:
    if not signatures:
        raise InvalidSignature("there is nothing to aggregate")
    try:
        return _Pop.Aggregate(list(signatures))
    except Exception as exc:  # py_ecc raises ValidationError or ValueError, by which check failed
        raise InvalidSignature(f"not a signature: {exc}") from None


def fast_aggregate_verify(publics: Sequence[bytes], message: bytes, signature: bytes) -> bool:
    return _Pop.FastAggregateVerify(list(publics), message, signature)


def pop_prove(secret: bytes) -> bytes:
    return _Pop.PopProve(_scalar(secret))


def pop_verify(public: bytes, proof: bytes) -> bool:
    return _Pop.PopVerify(public, proof)


def _scalar(secret: bytes) -> int:
    value = int.from_bytes(secret, "big")
    if len(secret) != SECRET_KEY_BYTES or not 0 < value < CURVE_ORDER:
        raise InvalidSecretKey("a secret key is 32 big-endian bytes of a scalar in 1 .. r-1")
    return value
