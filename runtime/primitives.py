"""Primitive chain types shared by every pallet, the executive and the clients.

Each type's metadata path is the Rust path Substrate clients match on (see
``shared/reference/substrate-rpc.md`` §2, pitfall 5): changing a path breaks ``substrate-interface`` or
``@polkadot/api`` silently, so they are pinned by the metadata snapshot test.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Any

from runtime.hashing import blake2_256
from runtime.scale import (
    BYTES,
    COMPACT_U32,
    U8,
    U32,
    U64,
    U128,
    CEnum,
    Codec,
    Compact,
    Enum,
    FixedBytes,
    H256,
    ScaleDecodeError,
    Vec,
    _field,
    _variant,
    scale_struct,
)

# --- numbers and ids -------------------------------------------------------------------------------

ACCOUNT_ID = FixedBytes(32, ("sp_core", "crypto", "AccountId32"))

AccountId = Annotated[bytes, ACCOUNT_ID, "T::AccountId"]
Balance = Annotated[int, U128, "T::Balance"]
CompactBalance = Annotated[int, Compact(U128), "T::Balance"]
BlockNumber = Annotated[int, U32, "BlockNumberFor<T>"]
Nonce = Annotated[int, U32, "T::Nonce"]
Moment = Annotated[int, U64, "T::Moment"]
Hash = Annotated[bytes, H256, "T::Hash"]
Bytes = Annotated[bytes, BYTES, "Vec<u8>"]

# --- weights and dispatch info -------------------------------------------------------------------


@scale_struct("sp_weights::weight_v2::Weight")
@dataclass(frozen=True)
class Weight:
    """Execution cost: ``ref_time`` in picoseconds of reference hardware, ``proof_size`` in bytes."""

    ref_time: Annotated[int, Compact(U64)]
    proof_size: Annotated[int, Compact(U64)]

    def __add__(self, other: "Weight") -> "Weight":
        return Weight(self.ref_time + other.ref_time, self.proof_size + other.proof_size)

    def __sub__(self, other: "Weight") -> "Weight":
        """Saturating at zero, as Substrate's ``saturating_sub``: weights are never negative."""
        return Weight(max(self.ref_time - other.ref_time, 0), max(self.proof_size - other.proof_size, 0))

    def min(self, other: "Weight") -> "Weight":
        """Each component's smaller value (Substrate's ``Weight::min``)."""
        return Weight(min(self.ref_time, other.ref_time), min(self.proof_size, other.proof_size))

    def all_lte(self, other: "Weight") -> bool:
        return self.ref_time <= other.ref_time and self.proof_size <= other.proof_size

    @staticmethod
    def from_parts(ref_time: int, proof_size: int = 0) -> "Weight":
        return Weight(ref_time, proof_size)


Weight.ZERO = Weight(0, 0)  # type: ignore[attr-defined]


class DispatchClass(enum.IntEnum):
    """Which share of a block's weight a call draws from."""

    Normal = 0
    Operational = 1
    Mandatory = 2


DispatchClass.SCALE = CEnum(DispatchClass, ("frame_support", "dispatch", "DispatchClass"))  # type: ignore[attr-defined]


class Pays(enum.IntEnum):
    Yes = 0
    No = 1


Pays.SCALE = CEnum(Pays, ("frame_support", "dispatch", "Pays"))  # type: ignore[attr-defined]


@scale_struct("frame_support::dispatch::DispatchInfo")
@dataclass(frozen=True)
class DispatchInfo:
    """What the executive knows of a call before running it (field names are read by the clients)."""

    WIRE_NAMES = {"class_": "class"}  # ``class`` is a Python keyword

    weight: Weight
    class_: Annotated[DispatchClass, DispatchClass.SCALE, "DispatchClass"]
    pays_fee: Annotated[Pays, Pays.SCALE, "Pays"]

# --- dispatch errors ------------------------------------------------------------------------------


@scale_struct("sp_runtime::ModuleError")
@dataclass(frozen=True)
class ModuleError:
    """An error of pallet ``index``; ``error`` is the 4-byte error code (first byte = variant index)."""

    index: Annotated[int, U8, "u8"]
    error: Annotated[bytes, FixedBytes(4), "[u8; MAX_MODULE_ERROR_ENCODED_SIZE]"]


class TokenError(enum.IntEnum):
    FundsUnavailable = 0
    OnlyProvider = 1
    BelowMinimum = 2
    CannotCreate = 3
    UnknownAsset = 4
    Frozen = 5
    Unsupported = 6
    CannotCreateHold = 7
    NotExpendable = 8
    Blocked = 9


class ArithmeticError(enum.IntEnum):  # noqa: A001 - Substrate's name
    Underflow = 0
    Overflow = 1
    DivisionByZero = 2


class TransactionalError(enum.IntEnum):
    LimitReached = 0
    NoLayer = 1


TOKEN_ERROR = CEnum(TokenError, ("sp_runtime", "TokenError"))
ARITHMETIC_ERROR = CEnum(ArithmeticError, ("sp_arithmetic", "ArithmeticError"))
TRANSACTIONAL_ERROR = CEnum(TransactionalError, ("sp_runtime", "TransactionalError"))


def _unit(name: str, doc: str = "") -> type:
    return dataclass(frozen=True)(type(name, (), {"__doc__": doc or None}))


def _newtype(name: str, codec: Codec, type_name: str | None = None) -> type:
    cls = dataclass(frozen=True)(
        type(name, (), {"__annotations__": {"value": Annotated[Any, codec, type_name] if type_name else Annotated[Any, codec]}})
    )
    cls.UNNAMED_FIELDS = True
    return cls


class DispatchErrors:
    """Variants of ``sp_runtime::DispatchError`` (wire format: indices fixed by Substrate)."""

    Other = _unit("Other")
    CannotLookup = _unit("CannotLookup")
    BadOrigin = _unit("BadOrigin")
    Module = _newtype("Module", ModuleError.SCALE, "ModuleError")
    ConsumerRemaining = _unit("ConsumerRemaining")
    NoProviders = _unit("NoProviders")
    TooManyConsumers = _unit("TooManyConsumers")
    Token = _newtype("Token", TOKEN_ERROR, "TokenError")
    Arithmetic = _newtype("Arithmetic", ARITHMETIC_ERROR, "ArithmeticError")
    Transactional = _newtype("Transactional", TRANSACTIONAL_ERROR, "TransactionalError")
    Exhausted = _unit("Exhausted")
    Corruption = _unit("Corruption")
    Unavailable = _unit("Unavailable")
    RootNotAllowed = _unit("RootNotAllowed")


DISPATCH_ERROR = Enum(
    ("sp_runtime", "DispatchError"),
    list(enumerate([
        DispatchErrors.Other, DispatchErrors.CannotLookup, DispatchErrors.BadOrigin, DispatchErrors.Module,
        DispatchErrors.ConsumerRemaining, DispatchErrors.NoProviders, DispatchErrors.TooManyConsumers,
        DispatchErrors.Token, DispatchErrors.Arithmetic, DispatchErrors.Transactional, DispatchErrors.Exhausted,
        DispatchErrors.Corruption, DispatchErrors.Unavailable, DispatchErrors.RootNotAllowed,
    ])),
)

# --- addresses and signatures ---------------------------------------------------------------------


class MultiAddressKind:
    """Variants of ``sp_runtime::multiaddress::MultiAddress``. Only ``Id`` names an account here; the
    others decode (clients may send them) and fail lookup with ``CannotLookup``."""

    Id = _newtype("Id", ACCOUNT_ID, "AccountId")
    Index = _newtype("Index", Compact(U32), "AccountIndex")
    Raw = _newtype("Raw", BYTES, "Vec<u8>")
    Address32 = _newtype("Address32", FixedBytes(32), "[u8; 32]")
    Address20 = _newtype("Address20", FixedBytes(20), "[u8; 20]")


MULTI_ADDRESS = Enum(
    ("sp_runtime", "multiaddress", "MultiAddress"),
    [(0, MultiAddressKind.Id), (1, MultiAddressKind.Index), (2, MultiAddressKind.Raw),
     (3, MultiAddressKind.Address32), (4, MultiAddressKind.Address20)],
    params=[("AccountId", ACCOUNT_ID), ("AccountIndex", U32)],
)


class _AccountLookup(Codec):
    """A ``MultiAddress`` argument whose Python value is the plain 32-byte account id.

    Encodes as ``MultiAddress::Id``; decoding any other variant yields a :class:`LookupFailed` marker that
    the dispatcher turns into ``DispatchError::CannotLookup`` (the extrinsic is still valid and pays)."""

    path = MULTI_ADDRESS.path

    def encode(self, value: bytes) -> bytes:
        if len(value) != 32:
            raise ValueError("account ids are 32 bytes")
        return b"\x00" + bytes(value)

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        if offset < len(data) and data[offset] == 0 and offset + 33 <= len(data):
            return bytes(data[offset + 1 : offset + 33]), offset + 33
        variant, end = MULTI_ADDRESS.decode_from(data, offset)
        return LookupFailed(variant), end

    def registry_key(self) -> Any:
        return MULTI_ADDRESS

    def type_params(self, registry: Any) -> list[dict]:
        return MULTI_ADDRESS.type_params(registry)

    def type_def(self, registry: Any) -> dict:
        return MULTI_ADDRESS.type_def(registry)


@dataclass(frozen=True)
class LookupFailed:
    """A ``MultiAddress`` that does not name an account this chain can look up."""

    address: Any


ACCOUNT_LOOKUP = _AccountLookup()
AccountIdLookup = Annotated[bytes, ACCOUNT_LOOKUP, "AccountIdLookupOf<T>"]

ED25519_SIGNATURE = FixedBytes(64, ("sp_core", "ed25519", "Signature"))
SR25519_SIGNATURE = FixedBytes(64, ("sp_core", "sr25519", "Signature"))
ECDSA_SIGNATURE = FixedBytes(65, ("sp_core", "ecdsa", "Signature"))


class SignatureScheme(enum.IntEnum):
    """``sp_runtime::MultiSignature`` variant indices."""

    Ed25519 = 0
    Sr25519 = 1
    Ecdsa = 2


class MultiSignatureKind:
    Ed25519 = _newtype("Ed25519", ED25519_SIGNATURE, "ed25519::Signature")
    Sr25519 = _newtype("Sr25519", SR25519_SIGNATURE, "sr25519::Signature")
    Ecdsa = _newtype("Ecdsa", ECDSA_SIGNATURE, "ecdsa::Signature")


MULTI_SIGNATURE = Enum(
    ("sp_runtime", "MultiSignature"),
    [(0, MultiSignatureKind.Ed25519), (1, MultiSignatureKind.Sr25519), (2, MultiSignatureKind.Ecdsa)],
)

# --- era ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Era:
    """Transaction lifetime. ``period == 0`` means immortal; otherwise valid for ``period`` blocks from
    its birth block (``phase`` = birth block modulo ``period``)."""

    period: int = 0
    phase: int = 0

    @property
    def immortal(self) -> bool:
        return self.period == 0

    @staticmethod
    def mortal(period: int, current: int) -> "Era":
        """The era a client builds for ``period`` blocks starting at block ``current`` (as Substrate)."""
        period = max(4, min(1 << 16, 1 << (max(period, 1) - 1).bit_length()))
        quantize = max(period >> 12, 1)
        phase = current % period // quantize * quantize
        return Era(period, phase)

    def birth(self, current: int) -> int:
        if self.immortal:
            return 0
        return (max(current, self.phase) - self.phase) // self.period * self.period + self.phase

    def death(self, current: int) -> int:
        if self.immortal:
            return 2**64 - 1
        return self.birth(current) + self.period


class _EraCodec(Codec):
    """``sp_runtime::generic::era::Era``: ``0x00`` = immortal, else two bytes
    ``encoded = min(15, max(1, log2(period) - 1)) | (phase / quantize) << 4``."""

    path = ("sp_runtime", "generic", "era", "Era")

    def encode(self, era: Era) -> bytes:
        if era.immortal:
            return b"\x00"
        quantize = max(era.period >> 12, 1)
        low = min(15, max(1, era.period.bit_length() - 2))
        encoded = low | ((era.phase // quantize) << 4)
        return encoded.to_bytes(2, "little")

    def decode_from(self, data: bytes, offset: int) -> tuple[Era, int]:
        if offset >= len(data):
            raise ScaleDecodeError("truncated era")
        if data[offset] == 0:
            return Era(), offset + 1
        if offset + 2 > len(data):
            raise ScaleDecodeError("truncated era")
        encoded = data[offset] | data[offset + 1] << 8
        period = 2 << (encoded % 16)
        quantize = max(period >> 12, 1)
        phase = (encoded >> 4) * quantize
        if period < 4 or phase >= period:
            raise ScaleDecodeError("invalid mortal era")
        return Era(period, phase), offset + 2

    def type_def(self, registry: Any) -> dict:
        u8 = registry.id_of(U8)
        variants = [_variant("Immortal", 0, [])]
        variants += [_variant(f"Mortal{i}", i, [_field(None, u8)]) for i in range(1, 256)]
        return {"variant": {"variants": variants}}


ERA = _EraCodec()

# --- headers and digests --------------------------------------------------------------------------


def _engine_item(name: str) -> type:
    """A digest variant ``Name(ConsensusEngineId, Vec<u8>)`` (a tuple variant: fields unnamed on the wire)."""
    cls = dataclass(frozen=True)(type(name, (), {"__annotations__": {
        "engine": Annotated[bytes, FixedBytes(4), "ConsensusEngineId"], "data": Annotated[bytes, BYTES, "Vec<u8>"]}}))
    cls.UNNAMED_FIELDS = True
    return cls


class DigestItemKind:
    """Variants of ``sp_runtime::generic::digest::DigestItem`` (indices fixed by Substrate)."""

    Other = _newtype("Other", BYTES, "Vec<u8>")
    Consensus = _engine_item("Consensus")
    Seal = _engine_item("Seal")
    PreRuntime = _engine_item("PreRuntime")
    RuntimeEnvironmentUpdated = _unit("RuntimeEnvironmentUpdated")

DIGEST_ITEM = Enum(
    ("sp_runtime", "generic", "digest", "DigestItem"),
    [(0, DigestItemKind.Other), (4, DigestItemKind.Consensus), (5, DigestItemKind.Seal),
     (6, DigestItemKind.PreRuntime), (8, DigestItemKind.RuntimeEnvironmentUpdated)],
)


@scale_struct("sp_runtime::generic::digest::Digest")
@dataclass(frozen=True)
class Digest:
    logs: Annotated[tuple, Vec(DIGEST_ITEM), "Vec<DigestItem>"] = ()


@scale_struct("sp_runtime::generic::header::Header")
@dataclass(frozen=True)
class Header:
    """A block header, encoded exactly as Substrate's: its hash is ``blake2_256(SCALE(header))``, which
    ``@polkadot/api`` recomputes to sign mortal transactions."""

    parent_hash: Annotated[bytes, H256, "Hash::Output"]
    number: Annotated[int, COMPACT_U32, "Number"]
    state_root: Annotated[bytes, H256, "Hash::Output"]
    extrinsics_root: Annotated[bytes, H256, "Hash::Output"]
    digest: Digest = Digest()

    def encode(self) -> bytes:
        return Header.SCALE.encode(self)  # type: ignore[attr-defined]

    @property
    def hash(self) -> bytes:
        return blake2_256(self.encode())

    @staticmethod
    def decode(data: bytes) -> "Header":
        return Header.SCALE.decode(data)  # type: ignore[attr-defined]


# --- endpoints ------------------------------------------------------------------------------------


def is_http_endpoint(endpoint: bytes, max_length: int) -> bool:
    """Whether ``endpoint`` is what a node may register as the URL it serves at: ``http://`` or ``https://``
    and a host, at most ``max_length`` bytes, printable ASCII (no spaces, no control or other bytes). Every
    client reads registered endpoints, so one that no HTTP client could parse, or that prints as something
    else, is refused at registration. Clients still treat a registered endpoint as untrusted (a URL can pass
    this and still not parse)."""
    if not 0 < len(endpoint) <= max_length or not all(0x21 <= byte <= 0x7E for byte in endpoint):
        return False
    scheme, separator, rest = endpoint.partition(b"://")
    return bool(separator) and scheme in (b"http", b"https") and bool(rest) and not rest.startswith(b"/")


# --- events ---------------------------------------------------------------------------------------


class PhaseKind:
    """Variants of ``frame_system::Phase``: when in the block an event was deposited."""

    ApplyExtrinsic = _newtype("ApplyExtrinsic", U32, "u32")
    Finalization = _unit("Finalization")
    Initialization = _unit("Initialization")


PHASE = Enum(
    ("frame_system", "Phase"),
    [(0, PhaseKind.ApplyExtrinsic), (1, PhaseKind.Finalization), (2, PhaseKind.Initialization)],
)
