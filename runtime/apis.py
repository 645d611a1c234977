"""Runtime APIs: the pure functions a node serves through ``state_call``.

Each takes SCALE-encoded parameters and the state of one block and returns SCALE-encoded output, exactly
as the Substrate runtime API of the same name (``shared/reference/substrate-rpc.md`` §5). The executive's
APIs (Core, Metadata, BlockBuilder, TaggedTransactionQueue) are here; each pallet brings its own
(``AccountNonceApi`` from System, ``TransactionPaymentApi`` from TransactionPayment) in its definition. Nothing here
writes to the given state: calls that execute (``BlockBuilder_apply_extrinsic``) run in a throwaway child
block.
"""

from __future__ import annotations

import functools
from typing import Callable

from runtime.cairn import CairnRuntime
from runtime.executive import Block, BlockBuilder, InvalidBlock, execute_block, timestamp_inherent, validate_transaction
from runtime.extrinsic import (
    TRANSACTION_VALIDITY,
    MalformedExtrinsic,
    TransactionValidityError,
    decode_extrinsic,
)
from runtime.frame.metadata import METADATA_VERSION
from runtime.frame.overlay import Overlay
from runtime.pallets.timestamp import MAX_TIMESTAMP_DRIFT_MS, MissingTimestamp
from runtime.primitives import DISPATCH_ERROR
from runtime.scale import BYTES, H256, U8, U32, U64, UNIT, Err, FixedBytes, Ok, Result, ScaleDecodeError, Tuple, Vec, encode_compact
from runtime.trie import TrieState

__all__ = ["RuntimeApi", "RuntimeApiError", "TIMESTAMP_INHERENT_ID", "encode_inherent_data"]

TIMESTAMP_INHERENT_ID = b"timstap0"
TRANSACTION_SOURCES = (0, 1, 2)
"""``sp_runtime::transaction_validity::TransactionSource``: InBlock, Local, External."""
INHERENT_DATA = Vec(Tuple(FixedBytes(8), BYTES))
APPLY_RESULT_OK = Result(UNIT, DISPATCH_ERROR)


class RuntimeApiError(Exception):
    """The call cannot be answered: unknown method, undecodable parameters, or an invalid input."""


def encode_inherent_data(timestamp_ms: int) -> bytes:
    return INHERENT_DATA.encode([(TIMESTAMP_INHERENT_ID, U64.encode(timestamp_ms))])


def _timestamp_from(inherent_data: bytes) -> int:
    for identifier, value in INHERENT_DATA.decode(inherent_data):
        if identifier == TIMESTAMP_INHERENT_ID:
            return U64.decode(value)
    raise RuntimeApiError("inherent data has no timestamp")


class RuntimeApi:
    """Dispatches ``state_call`` method names to the runtime at a given block's state."""

    def __init__(self, runtime: CairnRuntime) -> None:
        self.runtime = runtime
        self._methods: dict[str, Callable[[bytes, TrieState, bytes], bytes]] = {
            "Core_version": lambda p, s, h: self.runtime.VERSION.encode(),
            "Core_execute_block": self._execute_block,
            "Metadata_metadata": lambda p, s, h: encode_compact(len(self.runtime.metadata)) + self.runtime.metadata,
            "Metadata_metadata_at_version": self._metadata_at_version,
            "Metadata_metadata_versions": lambda p, s, h: Vec(U32).encode([METADATA_VERSION]),
            "TaggedTransactionQueue_validate_transaction": self._validate_transaction,
            "BlockBuilder_apply_extrinsic": self._apply_extrinsic,
            "BlockBuilder_finalize_block": self._finalize_block,
            "BlockBuilder_inherent_extrinsics": self._inherent_extrinsics,
            "BlockBuilder_check_inherents": self._check_inherents,
        }
        for definition in (slot.definition for slot in runtime.composition):  # the pallets' own APIs (AccountNonceApi, ...)
            for api, (_, methods) in definition.apis.items():
                for name, handler in methods.items():
                    self._methods[f"{api}_{name}"] = functools.partial(handler, runtime)

    @property
    def methods(self) -> list[str]:
        return sorted(self._methods)

    def call(self, method: str, params: bytes, state: TrieState, block_hash: bytes) -> bytes:
        handler = self._methods.get(method)
        if handler is None:
            raise RuntimeApiError(f"unknown runtime API method {method!r}")
        try:
            return handler(params, state, block_hash)
        except ScaleDecodeError as exc:
            raise RuntimeApiError(f"{method}: cannot decode parameters: {exc}") from None
        except MalformedExtrinsic as exc:
            raise RuntimeApiError(f"{method}: malformed extrinsic: {exc}") from None
        except MissingTimestamp as exc:
            raise RuntimeApiError(f"{method}: {exc}: a block needs its inherents first") from None

    # --- handlers -------------------------------------------------------------------------------

    def _metadata_at_version(self, params: bytes, state: TrieState, block_hash: bytes) -> bytes:
        if U32.decode(params) != METADATA_VERSION:
            return b"\x00"
        metadata = self.runtime.metadata
        return b"\x01" + encode_compact(len(metadata)) + metadata

    def _validate_transaction(self, params: bytes, state: TrieState, block_hash: bytes) -> bytes:
        source, offset = U8.decode_from(params, 0)
        if source not in TRANSACTION_SOURCES:
            raise ScaleDecodeError(f"unknown transaction source {source}")
        tx, at = params[offset:-32], H256.decode(params[-32:]) if len(params) >= 33 else None
        if at is None:
            raise ScaleDecodeError("missing block hash parameter")
        try:
            return TRANSACTION_VALIDITY.encode(validate_transaction(self.runtime, state, at, tx))
        except TransactionValidityError as exc:
            return TRANSACTION_VALIDITY.encode(exc)

    def _child_builder(self, state: TrieState, block_hash: bytes) -> BlockBuilder:
        with self.runtime.executing(Overlay(state)):
            number = self.runtime.system.number.get() + 1
        return BlockBuilder(self.runtime, state, block_hash, number)

    def _apply_extrinsic(self, params: bytes, state: TrieState, block_hash: bytes) -> bytes:
        builder = self._child_builder(state, block_hash)
        try:
            outcome = builder.apply_extrinsic(params)
        except TransactionValidityError as exc:
            return b"\x01" + exc.encode()
        inner = Ok(()) if outcome.error is None else Err(outcome.error)
        return b"\x00" + APPLY_RESULT_OK.encode(inner)

    def _finalize_block(self, params: bytes, state: TrieState, block_hash: bytes) -> bytes:
        header, _ = self._child_builder(state, block_hash).finalize()
        return header.encode()

    def _inherent_extrinsics(self, params: bytes, state: TrieState, block_hash: bytes) -> bytes:
        inherent = timestamp_inherent(self.runtime, _timestamp_from(params))
        return encode_compact(1) + inherent

    def _check_inherents(self, params: bytes, state: TrieState, block_hash: bytes) -> bytes:
        """``(block, inherent data)`` -> ``CheckInherentsResult { okay, fatal_error, errors }``: the
        block's timestamp may not run ahead of the checking node's clock by more than the allowed drift."""
        block, offset = Block.decode_from(params, 0)
        now = _timestamp_from(params[offset:])
        stamp = self._block_timestamp(block)
        if stamp is None or stamp > now + MAX_TIMESTAMP_DRIFT_MS:
            reason = b"missing" if stamp is None else b"too far in the future"
            return b"\x00\x01" + INHERENT_DATA.encode([(TIMESTAMP_INHERENT_ID, reason)])
        return b"\x01\x00" + INHERENT_DATA.encode([])

    def _block_timestamp(self, block: Block) -> int | None:
        for raw in block.extrinsics:
            xt = decode_extrinsic(raw, self.runtime.call_codec)
            if not xt.signed and xt.call.pallet == "Timestamp" and xt.call.name == "set":
                return xt.call.args[0]
        return None

    def _execute_block(self, params: bytes, state: TrieState, block_hash: bytes) -> bytes:
        try:
            execute_block(self.runtime, state, Block.decode(params))
        except InvalidBlock as exc:
            raise RuntimeApiError(f"invalid block: {exc}") from None
        return b""

