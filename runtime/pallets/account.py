"""The per-account record, shared by System (which stores it) and Balances (which owns ``data``).

As in FRAME, ``System.Account`` maps an account id to ``AccountInfo { nonce, consumers, providers,
sufficients, data }`` and ``data`` is the balances pallet's ``AccountData { free, reserved, frozen, flags }``
(80 bytes in all). This module is a shared type, not a pallet: both pallets import it and neither imports
the other.

``System.Account`` is read and written several times per transfer, so its codec is hand-written with
``struct``; ``tests/runtime`` checks it byte for byte against the generic dataclass codec and scalecodec.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import Annotated, Any

from runtime.scale import U32, U128, Codec, Newtype, ScaleDecodeError, Struct, scale_struct

__all__ = ["AccountData", "AccountInfo", "ACCOUNT_INFO", "EXTRA_FLAGS"]


EXTRA_FLAGS = Newtype(U128, "pallet_balances::types::ExtraFlags", "u128")


NEW_LOGIC_FLAG = 1 << 127
"""Substrate's ``IS_NEW_LOGIC`` bit: this account uses the holds/freezes accounting (always, here)."""


@scale_struct("pallet_balances::types::AccountData", params=[("Balance", U128)])
@dataclass(frozen=True)
class AccountData:
    """Balance of one account."""

    free: Annotated[int, U128, "Balance"] = 0
    reserved: Annotated[int, U128, "Balance"] = 0
    frozen: Annotated[int, U128, "Balance"] = 0
    flags: Annotated[int, EXTRA_FLAGS, "ExtraFlags"] = NEW_LOGIC_FLAG

    @property
    def total(self) -> int:
        return self.free + self.reserved




@scale_struct("frame_system::AccountInfo", params=[("Nonce", U32), ("AccountData", AccountData.SCALE)])
@dataclass(frozen=True)
class AccountInfo:
    """Everything the chain keeps per account: replay protection, reference counts, balances."""

    nonce: Annotated[int, U32, "Nonce"] = 0
    consumers: Annotated[int, U32, "RefCount"] = 0
    providers: Annotated[int, U32, "RefCount"] = 0
    sufficients: Annotated[int, U32, "RefCount"] = 0
    data: Annotated[AccountData, AccountData.SCALE, "AccountData"] = AccountData()

    def with_data(self, data: AccountData) -> "AccountInfo":
        return replace(self, data=data)


_HEAD = struct.Struct("<IIII")
_MASK64 = (1 << 64) - 1


class _AccountInfoCodec(Codec):
    """Fast path for ``AccountInfo``; metadata identical to the dataclass codec it stands in for."""

    def __init__(self, generic: Struct) -> None:
        self.generic = generic
        self.path = generic.path

    def encode(self, info: AccountInfo) -> bytes:
        data = info.data
        return (
            _HEAD.pack(info.nonce, info.consumers, info.providers, info.sufficients)
            + data.free.to_bytes(16, "little")
            + data.reserved.to_bytes(16, "little")
            + data.frozen.to_bytes(16, "little")
            + data.flags.to_bytes(16, "little")
        )

    def decode_from(self, raw: bytes, offset: int) -> tuple[AccountInfo, int]:
        end = offset + 80
        if end > len(raw):
            raise ScaleDecodeError("truncated AccountInfo")
        nonce, consumers, providers, sufficients = _HEAD.unpack_from(raw, offset)
        frm = int.from_bytes
        data = AccountData(
            frm(raw[offset + 16 : offset + 32], "little"),
            frm(raw[offset + 32 : offset + 48], "little"),
            frm(raw[offset + 48 : offset + 64], "little"),
            frm(raw[offset + 64 : end], "little"),
        )
        return AccountInfo(nonce, consumers, providers, sufficients, data), end

    def registry_key(self) -> Any:
        return self.generic

    def type_params(self, registry: Any) -> list[dict]:
        return self.generic.type_params(registry)

    def type_def(self, registry: Any) -> dict:
        return self.generic.type_def(registry)


ACCOUNT_INFO = _AccountInfoCodec(AccountInfo.SCALE)  # type: ignore[attr-defined]
