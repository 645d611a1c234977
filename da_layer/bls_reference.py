"""The readable reference for :mod:`da_layer.bls`: the same functions over ``py_ecc``, in pure Python.

``py_ecc`` (the Ethereum Foundation's implementation of the IETF draft, ``G2ProofOfPossession``) is slow
(~0.2 s to sign, ~1.6 s for an aggregate of 100) but short enough to read against the draft. The tests run
both modules on the same keys and messages and require the same bytes and verdicts; nothing else imports
this one (``py_ecc`` pulls in ``random`` and sockets, which the runtime must not).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

_recursion_limit = sys.getrecursionlimit()
from eth_utils.exceptions import ValidationError  # noqa: E402
from py_ecc.bls import G2ProofOfPossession as _Pop  # noqa: E402
from py_ecc.bls.g2_primitives import subgroup_check  # noqa: E402
from py_ecc.bls.point_compression import decompress_G1  # noqa: E402

# Importing py_ecc raises the whole process's recursion limit to 100,000, where C code that guards its
# recursion with it (the json parser on deeply nested input) overflows the C stack and crashes the process
# instead of raising RecursionError. Its BLS functions work within the default limit: put it back.
sys.setrecursionlimit(_recursion_limit)

from da_layer.bls import PUBLIC_KEY_BYTES, SECRET_KEY_BYTES, InvalidSignature, check_seed, secret_scalar

__all__ = ["secret_from_seed", "public_key", "sign", "verify", "aggregate", "fast_aggregate_verify", "pop_prove",
           "pop_verify", "is_g1_point"]


def secret_from_seed(seed: bytes) -> bytes:
    check_seed(seed)
    return _Pop.KeyGen(seed).to_bytes(SECRET_KEY_BYTES, "big")


def public_key(secret: bytes) -> bytes:
    return _Pop.SkToPk(secret_scalar(secret))


def sign(secret: bytes, message: bytes) -> bytes:
    return _Pop.Sign(secret_scalar(secret), message)


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    return _Pop.Verify(public, message, signature)


def aggregate(signatures: Sequence[bytes]) -> bytes:
    if not signatures:
        raise InvalidSignature("there is nothing to aggregate")
    try:
        return _Pop.Aggregate(list(signatures))
    except (ValueError, ValidationError) as exc:  # py_ecc raises either, by which check failed
        raise InvalidSignature(f"not a signature: {exc}") from None


def fast_aggregate_verify(publics: Sequence[bytes], message: bytes, signature: bytes) -> bool:
    return _Pop.FastAggregateVerify(list(publics), message, signature)


def pop_prove(secret: bytes) -> bytes:
    return _Pop.PopProve(secret_scalar(secret))


def pop_verify(public: bytes, proof: bytes) -> bool:
    return _Pop.PopVerify(public, proof)


def is_g1_point(data: bytes) -> bool:
    if len(data) != PUBLIC_KEY_BYTES:
        return False
    try:
        point = decompress_G1(int.from_bytes(data, "big"))
    except (ValueError, ValidationError):
        return False
    return subgroup_check(point)
