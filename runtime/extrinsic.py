"""Extrinsics exactly as Substrate encodes them (format version 4), and transaction validity.

Byte layout (``shared/reference/substrate-rpc.md`` §3)::

    Compact<u32> length of the rest
    u8           0x84 signed | 0x04 unsigned        (bit 7 = signed, low 7 bits = version 4)
    -- signed only --
    0x00 ++ [u8; 32]         MultiAddress::Id(signer)      (other variants: BadSigner)
    u8 scheme ++ [u8; 64]    MultiSignature::Ed25519 (0) | Sr25519 (1)   (Ecdsa (2) not accepted)
    Era                      0x00 immortal, or 2 bytes mortal     } the "extra" of the signed
    Compact<u32> nonce                                            } extensions, in their
    Compact<u128> tip                                             } standard order
    -- always --
    call                     pallet index, call index, arguments

The signature covers ``call ++ extra ++ spec_version ++ transaction_version ++ genesis_hash ++
birth_block_hash`` (u32s little-endian), replaced by its blake2-256 when longer than 256 bytes.

Every rejection is a typed error: :class:`MalformedExtrinsic` for bytes that do not decode (the node answers
RPC code 1001/1002), :class:`InvalidTransaction` / :class:`UnknownTransaction` with Substrate's variants
for well-formed transactions that are not valid now.
"""

from __future__ import annotations

import enum
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import ed25519_zebra
import sr25519

from runtime.frame.construct import Call
from runtime.frame.metadata import SignedExtensionInfo
from runtime.hashing import blake2_256
from runtime.primitives import ERA, Era, SignatureScheme
from runtime.scale import (
    BOOL,
    BYTES,
    COMPACT_U32,
    COMPACT_U128,
    H256,
    U32,
    U64,
    UNIT,
    Codec,
    ScaleDecodeError,
    Vec,
    decode_compact,
    encode_compact,
)

__all__ = [
    "signed_era",
    "DecodedExtrinsics",
    "EXTRINSIC_VERSION",
    "MAX_EXTRINSIC_SIZE",
    "MalformedExtrinsic",
    "TransactionValidityError",
    "InvalidTransaction",
    "UnknownTransaction",
    "InvalidKind",
    "UnknownKind",
    "Extrinsic",
    "decode_extrinsic",
    "encode_unsigned",
    "encode_signed",
    "signing_payload",
    "verify_signature",
    "SignatureCache",
    "ValidTransaction",
    "SIGNED_EXTENSIONS",
    "TRANSACTION_VALIDITY",
]

EXTRINSIC_VERSION = 4
MAX_EXTRINSIC_SIZE = 4 * 1024 * 1024
"""No extrinsic may exceed this many bytes (the block length limit is checked separately)."""


class MalformedExtrinsic(ValueError):
    """The bytes are not a well-formed extrinsic of this runtime (reason says where it breaks)."""


class InvalidKind(enum.IntEnum):
    """``sp_runtime::transaction_validity::InvalidTransaction`` variants (wire indices)."""

    Call = 0
    Payment = 1
    Future = 2
    Stale = 3
    BadProof = 4
    AncientBirthBlock = 5
    ExhaustsResources = 6
    Custom = 7
    BadMandatory = 8
    MandatoryValidation = 9
    BadSigner = 10


class UnknownKind(enum.IntEnum):
    """``sp_runtime::transaction_validity::UnknownTransaction`` variants."""

    CannotLookup = 0
    NoUnsignedValidator = 1
    Custom = 2


_INVALID_MESSAGES = {
    InvalidKind.Call: "Transaction call is not expected",
    InvalidKind.Payment: "Inability to pay some fees (e.g. account balance too low)",
    InvalidKind.Future: "Transaction will be valid in the future",
    InvalidKind.Stale: "Transaction is outdated",
    InvalidKind.BadProof: "Transaction has a bad signature",
    InvalidKind.AncientBirthBlock: "Transaction has an ancient birth block",
    InvalidKind.ExhaustsResources: "Transaction would exhaust the block limits",
    InvalidKind.Custom: "InvalidTransaction custom error",
    InvalidKind.BadMandatory: "A call was labelled as mandatory, but resulted in an Error.",
    InvalidKind.MandatoryValidation: "Transaction dispatch is mandatory; transactions must not be validated.",
    InvalidKind.BadSigner: "Invalid signing address",
}
_UNKNOWN_MESSAGES = {
    UnknownKind.CannotLookup: "Could not lookup information required to validate the transaction",
    UnknownKind.NoUnsignedValidator: "Could not find an unsigned validator for the unsigned transaction",
    UnknownKind.Custom: "UnknownTransaction custom error",
}


class TransactionValidityError(Exception):
    """A well-formed transaction that cannot be included now. ``encode()`` gives Substrate's bytes."""

    OUTER_INDEX = -1

    def __init__(self, kind: enum.IntEnum, custom: int = 0, detail: str = "") -> None:
        self.kind = kind
        self.custom = custom
        self.detail = detail
        super().__init__(self.message + (f" ({detail})" if detail else ""))

    @property
    def message(self) -> str:
        raise NotImplementedError

    def encode(self) -> bytes:
        body = bytes((self.OUTER_INDEX, self.kind))
        return body + bytes((self.custom,)) if self.kind.name == "Custom" else body


class InvalidTransaction(TransactionValidityError):
    OUTER_INDEX = 0

    @property
    def message(self) -> str:
        return _INVALID_MESSAGES[InvalidKind(self.kind)]


class UnknownTransaction(TransactionValidityError):
    OUTER_INDEX = 1

    @property
    def message(self) -> str:
        return _UNKNOWN_MESSAGES[UnknownKind(self.kind)]


@dataclass(frozen=True)
class ValidTransaction:
    """What the pool needs to order a valid transaction (``TaggedTransactionQueue``): it may be included
    once every tag in ``requires`` is provided by an earlier one; ``longevity`` is in blocks."""

    priority: int = 0
    requires: tuple[bytes, ...] = ()
    provides: tuple[bytes, ...] = ()
    longevity: int = 2**64 - 1
    propagate: bool = True


class _ValidityCodec(Codec):
    """``Result<ValidTransaction, TransactionValidityError>`` as ``validate_transaction`` returns it."""

    _tags = Vec(BYTES)

    def encode(self, value: ValidTransaction | TransactionValidityError) -> bytes:
        if isinstance(value, TransactionValidityError):
            return b"\x01" + value.encode()
        return (
            b"\x00"
            + U64.encode(value.priority)
            + self._tags.encode(value.requires)
            + self._tags.encode(value.provides)
            + U64.encode(value.longevity)
            + BOOL.encode(value.propagate)
        )


TRANSACTION_VALIDITY = _ValidityCodec()


# --- decoding -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Extrinsic:
    """A decoded extrinsic (signature not yet checked). ``raw`` includes the length prefix."""

    raw: bytes
    call: Call
    call_bytes: bytes
    signer: bytes | None = None
    scheme: SignatureScheme | None = None
    signature: bytes = b""
    era: Era = Era()
    nonce: int = 0
    tip: int = 0

    @property
    def signed(self) -> bool:
        return self.signer is not None

    @property
    def hash(self) -> bytes:
        return blake2_256(self.raw)

    @property
    def length(self) -> int:
        """The encoded length fees are computed on (the whole extrinsic, as Substrate)."""
        return len(self.raw)

    @property
    def extra(self) -> bytes:
        return ERA.encode(self.era) + encode_compact(self.nonce) + encode_compact(self.tip)


def decode_extrinsic(raw: bytes, call_codec: Codec) -> Extrinsic:
    """Decode ``raw`` (with its length prefix). Raises :class:`MalformedExtrinsic` on any defect."""
    if len(raw) > MAX_EXTRINSIC_SIZE:
        raise MalformedExtrinsic(f"extrinsic of {len(raw)} bytes exceeds {MAX_EXTRINSIC_SIZE}")
    try:
        length, i = decode_compact(raw, 0)
    except ScaleDecodeError as exc:
        raise MalformedExtrinsic(f"bad length prefix: {exc}") from None
    if length != len(raw) - i:
        raise MalformedExtrinsic(f"length prefix says {length} bytes, {len(raw) - i} follow")
    if i >= len(raw):
        raise MalformedExtrinsic("empty extrinsic")
    version = raw[i]
    i += 1
    if version & 0x7F != EXTRINSIC_VERSION:
        raise MalformedExtrinsic(f"unsupported extrinsic version {version & 0x7F}")
    try:
        if not version & 0x80:
            call, end = call_codec.decode_from(raw, i)
            _expect_end(raw, end)
            return Extrinsic(raw, call, raw[i:end])
        if raw[i] != 0:
            raise MalformedExtrinsic(f"unsupported signer address kind {raw[i]} (only MultiAddress::Id)")
        signer = raw[i + 1 : i + 33]
        i += 33
        scheme_byte = raw[i]
        if scheme_byte not in (SignatureScheme.Ed25519, SignatureScheme.Sr25519):
            if scheme_byte == SignatureScheme.Ecdsa:
                raise MalformedExtrinsic("ecdsa signatures are not accepted by this chain")
            raise MalformedExtrinsic(f"unknown signature scheme byte {scheme_byte}")
        signature = raw[i + 1 : i + 65]
        i += 65
        era, i = ERA.decode_from(raw, i)
        nonce, i = COMPACT_U32.decode_from(raw, i)
        tip, i = COMPACT_U128.decode_from(raw, i)
        if i > len(raw) or len(signature) != 64 or len(signer) != 32:
            raise MalformedExtrinsic("truncated signed extrinsic")
        call, end = call_codec.decode_from(raw, i)
        _expect_end(raw, end)
    except ScaleDecodeError as exc:
        raise MalformedExtrinsic(str(exc)) from None
    except IndexError:
        raise MalformedExtrinsic("truncated extrinsic") from None
    except RecursionError:  # (the call codec bounds nesting; this is the backstop for any other codec)
        raise MalformedExtrinsic("nested too deeply") from None
    return Extrinsic(raw, call, raw[i:end], signer, SignatureScheme(scheme_byte), signature, era, nonce, tip)


def signed_era(raw: bytes) -> Era | None:
    """The era of signed extrinsic ``raw``, read from its fixed-size header without decoding its call (which
    can take seconds for a hostile one): None if it is not a signed extrinsic with an account address."""
    try:
        _, i = decode_compact(raw, 0)
        if raw[i] & 0x80 == 0 or raw[i + 1] != 0:
            return None
        era, _ = ERA.decode_from(raw, i + 1 + 33 + 1 + 64)  # (version, address kind and id, scheme, signature)
    except (ScaleDecodeError, IndexError):
        return None
    return era


def _expect_end(raw: bytes, end: int) -> None:
    if end != len(raw):
        raise MalformedExtrinsic(f"{len(raw) - end} bytes left after the call")


# --- encoding and signing (clients, tests, benchmarks) ----------------------------------------------


def encode_unsigned(call_bytes: bytes) -> bytes:
    body = bytes((EXTRINSIC_VERSION,)) + call_bytes
    return encode_compact(len(body)) + body


def signing_payload(call_bytes: bytes, era: Era, nonce: int, tip: int, spec_version: int,
                    transaction_version: int, genesis_hash: bytes, birth_hash: bytes) -> bytes:
    payload = b"".join((
        call_bytes, ERA.encode(era), encode_compact(nonce), encode_compact(tip),
        spec_version.to_bytes(4, "little"), transaction_version.to_bytes(4, "little"), genesis_hash, birth_hash,
    ))
    return blake2_256(payload) if len(payload) > 256 else payload


def encode_signed(call_bytes: bytes, signer: bytes, scheme: SignatureScheme, signature: bytes, era: Era,
                  nonce: int, tip: int) -> bytes:
    body = b"".join((
        bytes((0x80 | EXTRINSIC_VERSION,)), b"\x00", signer, bytes((scheme,)), signature,
        ERA.encode(era), encode_compact(nonce), encode_compact(tip), call_bytes,
    ))
    return encode_compact(len(body)) + body


def verify_signature(scheme: SignatureScheme, signature: bytes, payload: bytes, signer: bytes) -> bool:
    try:
        if scheme is SignatureScheme.Sr25519:
            return bool(sr25519.verify(signature, payload, signer))
        if scheme is SignatureScheme.Ed25519:
            return bool(ed25519_zebra.ed_verify(signature, payload, signer))
    except (ValueError, TypeError):  # malformed key or signature bytes
        return False
    return False


class DecodedExtrinsics:
    """Extrinsics decoded recently, by their exact bytes: decoded once per node, not twice.

    A node decodes a transaction when its pool validates it and again when the block holding it is built or
    imported; the second becomes a lookup. The key is the raw bytes themselves, so a hit is exactly the same
    bytes, and decoding is a pure function of the bytes and this runtime's call codec: the cached value is what
    decoding them again would give. Only successes are kept, only extrinsics up to ``MAX_CACHED_BYTES`` (a
    transfer is ~150; a rare big one is simply decoded again), at most ``capacity`` of them, oldest first. Safe
    to share between the node's threads, like :class:`SignatureCache`."""

    MAX_CACHED_BYTES = 4096

    def __init__(self, call_codec: Codec, capacity: int = 1 << 16) -> None:
        self.call_codec = call_codec
        self.capacity = capacity
        self._decoded: OrderedDict[bytes, Extrinsic] = OrderedDict()

    def decode(self, raw: bytes) -> Extrinsic:
        """``decode_extrinsic(raw, call_codec)``, from memory when these bytes were decoded before."""
        xt = self._decoded.get(raw)
        if xt is not None:
            return xt
        xt = decode_extrinsic(raw, self.call_codec)
        if len(raw) <= self.MAX_CACHED_BYTES:
            self._decoded[raw] = xt
            while len(self._decoded) > self.capacity:
                try:
                    self._decoded.popitem(last=False)
                except KeyError:  # another thread emptied it first
                    break
        return xt

    def __len__(self) -> int:
        return len(self._decoded)


class SignatureCache:
    """Signatures that verified, remembered so that a transaction is verified once per node, not twice.

    A node checks a transaction's signature when its pool admits it and again when the transaction's block
    is built or imported; the second check becomes a lookup. Only successes are remembered, keyed by a
    collision-resistant digest of the whole statement (scheme, signer, signature, payload), so a hit is
    exactly a past successful verification and a forged or altered transaction always meets the real check.
    The memory is bounded (the oldest entries go first) and safe to share between the node's threads: each
    ``OrderedDict`` operation used here is atomic under the GIL."""

    def __init__(self, capacity: int = 1 << 17) -> None:
        self.capacity = capacity
        self._verified: OrderedDict[bytes, None] = OrderedDict()

    def verify(self, scheme: SignatureScheme, signature: bytes, payload: bytes, signer: bytes) -> bool:
        key = hashlib.blake2b(b"".join((bytes((scheme,)), signer, signature, payload)), digest_size=32).digest()
        if key in self._verified:
            return True
        if not verify_signature(scheme, signature, payload, signer):
            return False
        self._verified[key] = None
        while len(self._verified) > self.capacity:
            try:
                self._verified.popitem(last=False)
            except KeyError:  # another thread emptied it first
                break
        return True

    def __len__(self) -> int:
        return len(self._verified)


# --- signed extensions (metadata) -----------------------------------------------------------------


class _Extension(Codec):
    """A signed extension's own type in metadata: a composite holding its part of the extra."""

    def __init__(self, path: str, fields: tuple[tuple[str | None, Codec, str], ...] = ()) -> None:
        self.path = tuple(path.split("::"))
        self.fields = fields

    def type_params(self, registry: Any) -> list[dict]:
        return [{"name": "T", "type": None}]

    def type_def(self, registry: Any) -> dict:
        return {"composite": {"fields": [
            {"name": n, "type": registry.id_of(c), "typeName": t, "docs": []} for n, c, t in self.fields
        ]}}


SIGNED_EXTENSIONS = (
    SignedExtensionInfo("CheckNonZeroSender", _Extension("frame_system::extensions::check_non_zero_sender::CheckNonZeroSender"), UNIT),
    SignedExtensionInfo("CheckSpecVersion", _Extension("frame_system::extensions::check_spec_version::CheckSpecVersion"), U32),
    SignedExtensionInfo("CheckTxVersion", _Extension("frame_system::extensions::check_tx_version::CheckTxVersion"), U32),
    SignedExtensionInfo("CheckGenesis", _Extension("frame_system::extensions::check_genesis::CheckGenesis"), H256),
    SignedExtensionInfo("CheckMortality", _Extension("frame_system::extensions::check_mortality::CheckMortality", ((None, ERA, "Era"),)), H256),
    SignedExtensionInfo("CheckNonce", _Extension("frame_system::extensions::check_nonce::CheckNonce", ((None, COMPACT_U32, "T::Nonce"),)), UNIT),
    SignedExtensionInfo("CheckWeight", _Extension("frame_system::extensions::check_weight::CheckWeight"), UNIT),
    SignedExtensionInfo("ChargeTransactionPayment", _Extension("pallet_transaction_payment::ChargeTransactionPayment", ((None, COMPACT_U128, "BalanceOf<T>"),)), UNIT),
)
"""The standard set, in the standard order that both clients hard-code."""
