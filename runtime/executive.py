"""The executive: builds and executes blocks, and validates transactions for the pool.

A block runs as ``initialize`` (System bookkeeping, then every pallet's ``on_initialize``) → inherents
(unsigned, mandatory: ``Timestamp.set``) → signed extrinsics → ``finalize`` (every pallet's ``on_finalize``,
then System's). The state changes collect in an :class:`~runtime.frame.overlay.Overlay` over the parent's
trie snapshot; only a finalized block's changes become a new snapshot, so a failed block changes nothing.

An extrinsic is checked before it may change anything: decode (:class:`MalformedExtrinsic`), then the
signed extensions in order — non-zero sender, mortality (the birth block's hash must be known), signature,
nonce, weight and length limits, fee payment. Any failure raises a :class:`TransactionValidityError` and
the overlay is exactly as before. Only then is the fee withdrawn and the call dispatched; a
:class:`DispatchError` rolls back the call's own writes but the fee stays paid (house rule 4). Any other
exception is a bug in the runtime: the block is rejected (:class:`InvalidBlock`), the node keeps running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from runtime.cairn import CairnRuntime
from runtime.extrinsic import (
    Extrinsic,
    InvalidKind,
    InvalidTransaction,
    MalformedExtrinsic,
    TransactionValidityError,
    UnknownKind,
    UnknownTransaction,
    ValidTransaction,
    encode_unsigned,
    signing_payload,
)
from runtime.frame.overlay import Overlay
from runtime.frame.pallet import DispatchError, Origin, PostDispatchInfo
from runtime.primitives import (
    Digest,
    DigestItemKind,
    DispatchClass,
    DispatchInfo,
    Header,
    PhaseKind,
)
from runtime.scale import ScaleDecodeError, decode_compact, encode_compact
from runtime.trie import TrieState

__all__ = [
    "Block",
    "BlockBuilder",
    "InvalidBlock",
    "ApplyOutcome",
    "execute_block",
    "validate_transaction",
    "validate_transactions",
    "Validated",
    "extrinsics_root",
    "timestamp_inherent",
]

class InvalidBlock(Exception):
    """A block that must not be imported; the message says why."""


@dataclass(frozen=True)
class Block:
    """A header and its extrinsics (each with its own length prefix, as Substrate encodes them)."""

    header: Header
    extrinsics: tuple[bytes, ...]

    def encode(self) -> bytes:
        return self.header.encode() + encode_compact(len(self.extrinsics)) + b"".join(self.extrinsics)

    @staticmethod
    def decode_from(data: bytes, offset: int) -> tuple["Block", int]:
        header, offset = Header.SCALE.decode_from(data, offset)  # type: ignore[attr-defined]
        count, offset = decode_compact(data, offset)
        if count > len(data) - offset:
            raise ScaleDecodeError("more extrinsics declared than bytes remain")
        extrinsics = []
        for _ in range(count):
            start = offset
            length, offset = decode_compact(data, offset)
            offset += length
            if offset > len(data):
                raise ScaleDecodeError("truncated block")
            extrinsics.append(bytes(data[start:offset]))
        return Block(header, tuple(extrinsics)), offset

    @staticmethod
    def decode(data: bytes) -> "Block":
        """Decode a whole block; raises :class:`ScaleDecodeError` on malformed or trailing bytes."""
        block, offset = Block.decode_from(data, 0)
        if offset != len(data):
            raise ScaleDecodeError("trailing bytes after block")
        return block

    @property
    def hash(self) -> bytes:
        return self.header.hash


@dataclass(frozen=True)
class ApplyOutcome:
    """An extrinsic that was included: its dispatch error (``None`` on success), its dispatch info as corrected
    by the call (``PostDispatchInfo``) and the fee it paid."""

    error: Any | None
    info: DispatchInfo
    fee: int


def extrinsics_root(extrinsics: Iterable[bytes], version: int = 1) -> bytes:
    """Substrate's ordered trie root: key ``Compact(index)``, value the extrinsic's bytes."""
    return TrieState.from_items({encode_compact(i): xt for i, xt in enumerate(extrinsics)}, version=version).root


def timestamp_inherent(runtime: CairnRuntime, now_ms: int) -> bytes:
    """The unsigned ``Timestamp.set(now)`` extrinsic a block author puts first."""
    call = runtime.call("Timestamp", "set", now=now_ms)
    return encode_unsigned(runtime.call_codec.encode(call))


class BlockBuilder:
    """Builds (author) or re-executes (import) one block on top of ``parent_state``."""

    def __init__(self, runtime: CairnRuntime, parent_state: TrieState, parent_hash: bytes, number: int,
                 digest: Digest = Digest()) -> None:
        self.runtime = runtime
        self.parent_state = parent_state
        self.parent_hash = parent_hash
        self.number = number
        self.overlay = Overlay(parent_state)
        self.extrinsics: list[bytes] = []
        self._signed_seen = False
        with runtime.executing(self.overlay):
            runtime.system.initialize(number, parent_hash, digest)
            for pallet in runtime.pallets.values():
                weight = pallet.on_initialize(number)
                runtime.system.register_extra_weight(weight, DispatchClass.Mandatory)

    # --- extrinsics -----------------------------------------------------------------------------

    def apply_extrinsic(self, raw: bytes) -> ApplyOutcome:
        """Include ``raw`` in the block, or raise (``MalformedExtrinsic``, ``TransactionValidityError``)
        leaving the block exactly as it was."""
        runtime = self.runtime
        xt = runtime.extrinsics.decode(raw)
        info = runtime.dispatch_info(xt.call)
        index = len(self.extrinsics)
        overlay = self.overlay
        with runtime.executing(overlay):
            overlay.start_transaction()
            try:
                runtime.system.set_phase(PhaseKind.ApplyExtrinsic(index))
                if xt.signed:
                    outcome = self._apply_signed(xt, info)
                else:
                    outcome = self._apply_inherent(xt, info)
                runtime.system.note_applied_extrinsic(index, outcome.info, outcome.error)
            except BaseException:
                overlay.rollback_transaction()
                raise
            overlay.commit_transaction()
        self.extrinsics.append(raw)
        return outcome

    def _apply_signed(self, xt: Extrinsic, info: DispatchInfo) -> ApplyOutcome:
        runtime = self.runtime
        fee = check_signed(runtime, xt, info, self.number, for_block=True)
        who = xt.signer
        assert who is not None
        # pre-dispatch effects of the signed extensions
        runtime.system.inc_nonce(who)
        runtime.system.register_extra_weight(info.weight, info.class_)
        runtime.system.all_extrinsics_len.put((runtime.system.all_extrinsics_len.get() or 0) + xt.length)
        runtime.transaction_payment.charge(who, fee, xt.tip)
        self._signed_seen = True
        error = None
        try:
            post = runtime.dispatch(xt.call, Origin.signed(who))
        except DispatchError as exc:
            error = runtime.dispatch_error(exc)
            post = None if exc.actual_weight is None else PostDispatchInfo(actual_weight=exc.actual_weight)
        # post-dispatch effects: the weight the call did not use goes back to the block, the fee it no longer
        # owes to the signer (``PostDispatchInfo``)
        actual = info if post is None else post.corrected(info)
        runtime.system.reclaim_weight(info.weight - actual.weight, info.class_)
        owed = runtime.transaction_payment.compute_fee(xt.length, actual, xt.tip)
        paid = runtime.transaction_payment.settle(who, fee, min(owed, fee), xt.tip)
        return ApplyOutcome(error, actual, paid)

    def _apply_inherent(self, xt: Extrinsic, info: DispatchInfo) -> ApplyOutcome:
        runtime = self.runtime
        if info.class_ is not DispatchClass.Mandatory:
            raise UnknownTransaction(UnknownKind.NoUnsignedValidator)
        if self._signed_seen:
            raise InvalidTransaction(InvalidKind.Call, detail="inherents must come before signed extrinsics")
        try:
            post = runtime.dispatch(xt.call, Origin.none())
        except DispatchError as exc:
            raise InvalidTransaction(InvalidKind.BadMandatory, detail=str(exc)) from None
        actual = info if post is None else post.corrected(info)
        runtime.system.register_extra_weight(actual.weight, DispatchClass.Mandatory)
        return ApplyOutcome(None, actual, 0)

    # --- finalization ---------------------------------------------------------------------------

    def finalize(self) -> tuple[Header, TrieState]:
        """Run the ``on_finalize`` hooks and produce the unsealed header and the new state."""
        runtime = self.runtime
        with runtime.executing(self.overlay):
            runtime.system.set_phase(PhaseKind.Finalization())
            for pallet in runtime.pallets.values():
                if pallet is not runtime.system:
                    pallet.on_finalize(self.number)
            digest = runtime.system.finalize()
        state = self.parent_state.apply(self.overlay.changes())
        header = Header(self.parent_hash, self.number, state.root,
                        extrinsics_root(self.extrinsics, runtime.VERSION.state_version), digest)
        return header, state


def check_signed(runtime: CairnRuntime, xt: Extrinsic, info: DispatchInfo, number: int, *, for_block: bool) -> int:
    """Run the signed extensions' checks for block ``number`` without writing; returns the fee.

    ``for_block`` applies the strict nonce rule (exactly the next nonce) and cumulative block limits; the
    pool's validation accepts future nonces and checks only per-extrinsic limits."""
    system = runtime.system
    who = xt.signer
    assert who is not None
    if who == bytes(32):
        raise InvalidTransaction(InvalidKind.BadSigner)
    # CheckMortality: the birth block must be one this chain still remembers.
    # (A mortal transaction past its period names a newer birth block, so its signature no longer matches.)
    birth = xt.era.birth(number)
    birth_hash = system.known_block_hash(birth) if birth < number else None
    if birth_hash is None:
        raise InvalidTransaction(InvalidKind.AncientBirthBlock)
    genesis_hash = birth_hash if birth == 0 else system.block_hash.get(0)
    # The signature covers call, extra and the additional signed data.
    version = runtime.VERSION
    payload = signing_payload(xt.call_bytes, xt.era, xt.nonce, xt.tip, version.spec_version,
                              version.transaction_version, genesis_hash, birth_hash)
    if not runtime.signatures.verify(xt.scheme, xt.signature, payload, who):  # type: ignore[arg-type]
        raise InvalidTransaction(InvalidKind.BadProof)
    # CheckNonce
    account = system.get_account(who)
    if xt.nonce < account.nonce:
        raise InvalidTransaction(InvalidKind.Stale)
    if for_block and xt.nonce > account.nonce:
        raise InvalidTransaction(InvalidKind.Future)
    # CheckWeight: one extrinsic no heavier than its class's max_extrinsic (so it fits an empty block), and
    # (for a block) the class's and the whole block's totals after it
    if info.class_ is DispatchClass.Mandatory:
        raise InvalidTransaction(InvalidKind.MandatoryValidation)
    limits = system.config
    max_weight = limits.max_weight_for(info.class_)
    max_length = limits.max_length_for(info.class_)
    if for_block:  # the class's own share, and the whole block (operational may use the reserve, no more)
        used = system.block_weight.get()
        class_after = used.get(info.class_) + info.weight
        total_after = used.total() + info.weight
        length_after = (system.all_extrinsics_len.get() or 0) + xt.length
    else:
        class_after = total_after = info.weight
        length_after = xt.length
    if (not info.weight.all_lte(limits.max_extrinsic_weight(info.class_)) or not class_after.all_lte(max_weight)
            or not total_after.all_lte(limits.max_block_weight) or length_after > max_length):
        raise InvalidTransaction(InvalidKind.ExhaustsResources)
    # ChargeTransactionPayment
    fee = runtime.transaction_payment.compute_fee(xt.length, info, xt.tip)
    if not runtime.transaction_payment.can_pay(who, fee):
        raise InvalidTransaction(InvalidKind.Payment)
    return fee


@dataclass(frozen=True)
class Validated:
    """A transaction that passed validation: what the pool needs (its validity) and what was decoded on the
    way (signer, nonce, call), so nobody decodes it again."""

    validity: ValidTransaction
    extrinsic: Extrinsic


def validate_transaction(runtime: CairnRuntime, state: TrieState, block_hash: bytes, raw: bytes) -> ValidTransaction:
    """``TaggedTransactionQueue_validate_transaction`` against the state of block ``block_hash``.

    Runs in a throwaway child block of ``block_hash`` (as Substrate does), so mortality is checked against
    the block the transaction would land in; nothing is written to ``state``."""
    result = validate_transactions(runtime, state, block_hash, [raw])[0]
    if isinstance(result, Exception):
        raise result
    return result.validity


def validate_transactions(runtime: CairnRuntime, state: TrieState, block_hash: bytes,
                          raws: list[bytes]) -> list[Validated | MalformedExtrinsic | TransactionValidityError]:
    """Validate many transactions against one block: the throwaway child block is initialized once (the
    checks only read), and each gets its validity and decoding, or the typed error that rejects it."""
    results: list[Validated | MalformedExtrinsic | TransactionValidityError] = []
    with runtime.executing(Overlay(state)):
        number = runtime.system.number.get() + 1
        runtime.system.initialize(number, block_hash, Digest())
        for raw in raws:
            try:
                results.append(_validate_one(runtime, raw, number))
            except (MalformedExtrinsic, TransactionValidityError) as exc:
                results.append(exc)
    return results


def _validate_one(runtime: CairnRuntime, raw: bytes, number: int) -> Validated:
    xt = runtime.extrinsics.decode(raw)
    info = runtime.dispatch_info(xt.call)
    if not xt.signed:
        if info.class_ is DispatchClass.Mandatory:
            raise InvalidTransaction(InvalidKind.MandatoryValidation)
        raise UnknownTransaction(UnknownKind.NoUnsignedValidator)
    fee = check_signed(runtime, xt, info, number, for_block=False)
    who = xt.signer
    assert who is not None
    account_nonce = runtime.system.account_nonce(who)
    tag = lambda nonce: who + nonce.to_bytes(4, "little")  # noqa: E731 - Substrate's (who, nonce) tag
    requires = (tag(xt.nonce - 1),) if xt.nonce > account_nonce else ()
    longevity = xt.era.death(number) - number if not xt.era.immortal else 2**64 - 1
    priority = runtime.transaction_payment.priority(fee, xt.tip, info, xt.length)
    return Validated(ValidTransaction(priority, requires, (tag(xt.nonce),), longevity, True), xt)


def execute_block(runtime: CairnRuntime, parent_state: TrieState, block: Block) -> TrieState:
    """Re-execute an imported ``block`` on ``parent_state``; return the new state or raise
    :class:`InvalidBlock`. A trailing ``Seal`` digest item is the author's and is not executed."""
    header = block.header
    logs = header.digest.logs
    if logs and isinstance(logs[-1], DigestItemKind.Seal):
        logs = logs[:-1]
    # Execution starts from the pre-runtime logs only (as Substrate's executive does); the runtime adds its
    # own, and the result must be the header's digest exactly.
    pre_runtime = tuple(item for item in logs if isinstance(item, DigestItemKind.PreRuntime))
    try:
        builder = BlockBuilder(runtime, parent_state, header.parent_hash, header.number, Digest(pre_runtime))
        for index, raw in enumerate(block.extrinsics):
            try:
                builder.apply_extrinsic(raw)
            except (MalformedExtrinsic, TransactionValidityError) as exc:
                raise InvalidBlock(f"extrinsic {index} is not valid: {exc}") from None
        produced, state = builder.finalize()
    except InvalidBlock:
        raise
    except Exception as exc:  # a runtime bug or an invariant broken by the block: reject, keep running
        raise InvalidBlock(f"execution failed: {type(exc).__name__}: {exc}") from exc
    if produced.digest.logs != logs:
        raise InvalidBlock("digest mismatch: the header's logs are not those the runtime deposits")
    if produced.extrinsics_root != header.extrinsics_root:
        raise InvalidBlock("extrinsics root mismatch")
    if produced.state_root != header.state_root:
        raise InvalidBlock("state root mismatch")
    return state
