"""``explorer_block``, ``explorer_validators`` and ``explorer_account``: a block as people read it, who
validates, and what an account holds and why.

A dashboard's chain view wants a block's extrinsics and events decoded (which pallet, which call or event,
its arguments or fields, who signed, whether it succeeded), not the SCALE bytes ``chain_getBlock`` and
``state_getStorage`` give. Decoding needs the block tree (the body, the state after the block for its
events, the parent's state for its author), so these are node methods rather than a pallet's.

Everything is decoded with the runtime's own types (:mod:`node.api.scale_json`): no table per pallet. The
block and its states are resolved on the trio thread (which alone touches the tree); decoding runs in a
worker thread (rule 5). A block is bounded however big it is: at most :data:`MAX_ITEMS` extrinsics and
:data:`MAX_ITEMS` events are shown (``truncated`` says some were left out), at most :data:`MAX_SCANNED_EVENTS`
events are decoded to find each shown extrinsic's outcome (``success: null`` where it was not found), and
byte strings and lists are shortened (:mod:`node.api.scale_json`).

``explorer_account(account, at?)`` is an account's balance as wallets show it, with its reserved balance broken
down by the pallet and reason of each hold (``Balances.Holds``, named with the runtime's ``RuntimeHoldReason``):
a storage deposit, a node's or provider's stake, a job's escrow. Amounts are decimal strings.
"""

from __future__ import annotations

from typing import Any, Protocol

import trio

from node.api.errors import state_at
from node.api.scale_json import Json, ScaleJson
from node.api.shapes import InvalidHex, account_from_json, from_hex, to_hex
from node.blocktree import BlockTree
from node.consensus import aura
from node.rpc.jsonrpc import RpcError
from node.rpc.registry import RpcModule
from node.rpc.subscriptions import CallContext
from runtime.cairn import CairnRuntime
from runtime.executive import Block
from runtime.extrinsic import MalformedExtrinsic, decode_extrinsic
from runtime.frame.construct import EventRecord
from runtime.frame.overlay import Overlay
from runtime.pallets.system import ExtrinsicFailed, ExtrinsicSuccess
from runtime.primitives import DISPATCH_ERROR, DispatchErrors, PhaseKind
from runtime.scale import ScaleDecodeError, decode_compact
from runtime.ss58 import ss58_encode
from runtime.trie import TrieState

__all__ = ["explorer_module", "MAX_ITEMS", "EXPLORER_THREADS"]

MAX_ITEMS = 1_000
"""Extrinsics, and events, one ``explorer_block`` decodes at most (~0.1 s of work on the reference VM)."""
MAX_SCANNED_EVENTS = 10 * MAX_ITEMS
"""Events decoded at most to find the outcome (``ExtrinsicSuccess``/``ExtrinsicFailed``) of each extrinsic shown:
a transfer deposits ~5, so the outcomes of the first :data:`MAX_ITEMS` extrinsics are found in a full block."""
EXPLORER_THREADS = 1
"""Explorer decodes running at once; more wait their turn (they are the node's least urgent work)."""


Outcome = ExtrinsicSuccess | ExtrinsicFailed
"""The System event that ends each extrinsic's phase."""


class ChainView(Protocol):
    runtime: CairnRuntime
    tree: BlockTree


def explorer_module(chain: ChainView) -> RpcModule:
    module = RpcModule()
    limiter = trio.CapacityLimiter(EXPLORER_THREADS)
    tree = chain.tree

    async def explorer_block(params: list, ctx: CallContext) -> dict | None:
        block_hash = _hash_param(tree, params)
        if block_hash not in tree:
            return None
        block = tree.entry(block_hash).block
        state, parent_state = await _state_or_none(tree, block_hash, limiter), None
        if block.header.number > 0:
            parent_state = await _state_or_none(tree, block.header.parent_hash, limiter)
        return await trio.to_thread.run_sync(
            lambda: _BlockReader(chain.runtime).block(block, state, parent_state), limiter=limiter)

    async def explorer_validators(params: list, ctx: CallContext) -> list[dict]:
        state = await state_at(tree, _hash_param(tree, params), limiter)
        return await trio.to_thread.run_sync(lambda: _validators(chain.runtime, state), limiter=limiter)

    async def explorer_account(params: list, ctx: CallContext) -> dict:
        if not 1 <= len(params) <= 2:
            raise RpcError.invalid_params("takes an account (SS58 or 0x hex) and, optionally, a block hash")
        try:
            account = account_from_json(params[0])
        except InvalidHex as exc:
            raise RpcError.invalid_params(str(exc)) from None
        state = await state_at(tree, _hash_param(tree, params[1:]), limiter)
        return await trio.to_thread.run_sync(lambda: _account(chain.runtime, state, account), limiter=limiter)

    module.register("explorer_block", explorer_block, param_names=("hash",))
    module.register("explorer_validators", explorer_validators, param_names=("at",))
    module.register("explorer_account", explorer_account, param_names=("account", "at"))
    return module


def _hash_param(tree: BlockTree, params: list) -> bytes:
    if len(params) > 1:
        raise RpcError.invalid_params("takes at most one parameter: a block hash")
    if not params or params[0] is None:
        return tree.best_hash
    try:
        return from_hex(params[0], length=32, what="block hash")
    except InvalidHex as exc:
        raise RpcError.invalid_params(str(exc)) from None


async def _state_or_none(tree: BlockTree, block_hash: bytes, limiter: trio.CapacityLimiter) -> TrieState | None:
    try:
        return await state_at(tree, block_hash, limiter)
    except RpcError:  # unknown, or pruned
        return None


def _validators(runtime: CairnRuntime, state: TrieState) -> list[dict]:
    """The authority set: each authority's ed25519 session key authors (Aura) and votes (GRANDPA), and is the
    account it is shown as."""
    with runtime.executing(Overlay(state)):
        keys = runtime.validator_set.authorities()
    return [{"account": ss58_encode(key), "aura": to_hex(key), "grandpa": to_hex(key)} for key in keys]


def _account(runtime: CairnRuntime, state: TrieState, account: bytes) -> dict:
    """``System.Account`` and ``Balances.Holds`` of ``account``, each hold named by its pallet and reason."""
    with runtime.executing(Overlay(state)):
        info = runtime.system.get_account(account)
        balances = runtime.by_name["Balances"]
        holds = balances.holds.get(account)
        existential_deposit = balances.config.existential_deposit
    return {
        "account": ss58_encode(account), "nonce": info.nonce, "consumers": info.consumers,
        "free": str(info.data.free), "reserved": str(info.data.reserved), "frozen": str(info.data.frozen),
        "existentialDeposit": str(existential_deposit),
        "holds": [dict(zip(("pallet", "reason"), runtime.hold_reasons.names(h.id)), amount=str(h.amount))
                  for h in holds],
    }


class _BlockReader:
    """One block decoded: runs in a worker thread on immutable states."""

    def __init__(self, runtime: CairnRuntime) -> None:
        self.runtime = runtime
        self.json = ScaleJson(runtime)

    def block(self, block: Block, state: TrieState | None, parent_state: TrieState | None) -> dict:
        header = block.header
        records, event_count = self._events(state)
        outcomes = self._outcomes(records)
        extrinsics = [self._extrinsic(i, raw, outcomes.get(i)) for i, raw in enumerate(block.extrinsics[:MAX_ITEMS])]
        return {
            "number": header.number, "hash": to_hex(block.hash), "parentHash": to_hex(header.parent_hash),
            "author": self._author(block, parent_state), "extrinsics": extrinsics,
            "events": [self._event(i, record) for i, record in enumerate(records[:MAX_ITEMS])],
            "truncated": event_count > MAX_ITEMS or len(block.extrinsics) > MAX_ITEMS,
        }

    def _author(self, block: Block, parent_state: TrieState | None) -> str | None:
        """The authority of the block's Aura slot (``None`` for genesis, an unsealed block, or a parent whose
        state is no longer held)."""
        if parent_state is None:
            return None
        try:
            slot = aura.slot_of(block.header)
        except aura.InvalidSeal:
            return None
        with self.runtime.executing(Overlay(parent_state)):
            authorities = tuple(self.runtime.validator_set.authorities())
        return ss58_encode(aura.slot_author(slot, authorities)) if authorities else None

    def _events(self, state: TrieState | None) -> tuple[list[EventRecord], int]:
        """The block's first :data:`MAX_SCANNED_EVENTS` event records, and how many it has."""
        raw = None if state is None else state.get(self.runtime.system.events.key)
        if not raw:
            return [], 0
        count, offset = decode_compact(raw)
        codec, records = self.runtime.event_record_codec, []
        for _ in range(min(count, MAX_SCANNED_EVENTS)):
            record, offset = codec.decode_from(raw, offset)
            records.append(record)
        return records, count

    @staticmethod
    def _outcomes(records: list[EventRecord]) -> dict[int, Outcome]:
        """Extrinsic index -> its ``ExtrinsicSuccess`` or ``ExtrinsicFailed`` event."""
        return {record.phase.value: record.event for record in records
                if isinstance(record.event, (ExtrinsicSuccess, ExtrinsicFailed))
                and isinstance(record.phase, PhaseKind.ApplyExtrinsic)}

    def _extrinsic(self, index: int, raw: bytes, outcome: Outcome | None) -> dict[str, Json]:
        success = None if outcome is None else isinstance(outcome, ExtrinsicSuccess)
        error = self._error(outcome.dispatch_error) if isinstance(outcome, ExtrinsicFailed) else None
        shown: dict[str, Json] = {"index": index, "hash": None, "pallet": None, "call": None, "signer": None,
                                  "nonce": None, "args": {}, "success": success, "error": error}
        try:
            xt = decode_extrinsic(raw, self.runtime.call_codec)
        except (MalformedExtrinsic, ScaleDecodeError) as exc:  # (an imported block's extrinsics all decode)
            return shown | {"error": f"undecodable: {exc}"}
        return shown | {
            "hash": to_hex(xt.hash), "pallet": xt.call.pallet, "call": xt.call.name,
            "signer": None if xt.signer is None else ss58_encode(xt.signer),
            "nonce": xt.nonce if xt.signed else None, "args": self.json.call_args(xt.call),
        }

    def _error(self, error: Any) -> str:
        """A ``DispatchError`` as people read it: ``Pallet.ErrorName`` for a module error, else its variant."""
        if isinstance(error, DispatchErrors.Module):
            pallet = self.runtime.pallets.get(error.value.index)
            position = error.value.error[0]
            errors = type(pallet).ERRORS if pallet is not None else ()
            if position < len(errors):
                return f"{pallet.NAME}.{errors[position].__name__}"
        shown = self.json.value(DISPATCH_ERROR, error)  # "BadOrigin", {"Token": "FundsUnavailable"}, ...
        if isinstance(shown, dict):
            ((variant, detail),) = shown.items()
            return f"{variant}.{detail}" if isinstance(detail, str) else variant
        return str(shown)

    def _event(self, index: int, record: EventRecord) -> dict[str, Json]:
        pallet, name, fields = self.json.event(record.event)
        return {"index": index, "phase": _phase(record.phase), "pallet": pallet, "name": name, "fields": fields}


def _phase(phase: Any) -> str:
    if isinstance(phase, PhaseKind.ApplyExtrinsic):
        return f"apply:{phase.value}"
    return "initialization" if isinstance(phase, PhaseKind.Initialization) else "finalization"
