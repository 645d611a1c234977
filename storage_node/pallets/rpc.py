"""The storage pallets' JSON-RPC reads (``storage_*``): nodes, files and their fragments, repairs, reads.

What a dashboard or a script shows of the storage network, read from one block's state in one call instead
of a client walking ``FileBank``'s maps key by key. Each method is an ``RpcMethod`` declared on the pallet
whose data it mostly shows (``StorageNodes``: ``storage_nodes``; ``FileBank``: ``storage_files``,
``storage_file``, ``storage_repairs``; ``StorageAccess``: ``storage_accessLog``); the JSON conventions
(SS58 accounts, hex ids, balances as strings, paging) are ``runtime.frame.rpc_json``'s.

The pallet modules import this one for their ``DEFINITION``s, so this one reaches the pallets through the
runtime by name (never by importing them: that would be a cycle, and house rule 2 keeps pallets apart) and
decodes with their shared types (:mod:`storage_node.pallets.types`).

Every answer is bounded: ``storage_nodes`` by ``MaxNodes``, pages by ``limit``, a file's placements and the
repair list by :data:`MAX_LISTED`.
"""

from __future__ import annotations

from collections import Counter
from itertools import islice
from typing import TYPE_CHECKING

from runtime.frame.composition import RpcMethod
from runtime.frame.construct import RuntimeBase
from runtime.frame.rpc_json import (
    account,
    balance,
    cursor_arg,
    double_map_items,
    hash_arg,
    hex_of,
    limit_arg,
    map_page,
    maybe_account,
    page,
    variant,
)
from storage_node.pallets.types import FileInfo, NodeInfo, RepairOrder

if TYPE_CHECKING:
    from storage_node.pallets.access import StorageAccess
    from storage_node.pallets.file_bank import FileBank
    from storage_node.pallets.nodes import StorageNodes

__all__ = ["NODES_RPC", "FILE_BANK_RPC", "ACCESS_RPC", "MAX_LISTED", "MAX_REPAIRS_SCANNED"]

MAX_LISTED = 500
"""Placements one ``storage_file`` lists, and repair orders ``storage_repairs`` lists, at most."""
MAX_REPAIRS_SCANNED = 10_000
"""Repair orders read to count each node's owed repairs (``storage_nodes``): far more than a network has open
at once, and a bound on the call if a fault leaves many."""


def _file_bank(runtime: RuntimeBase) -> "FileBank":
    return runtime.by_name["FileBank"]  # type: ignore[return-value]


def _nodes(runtime: RuntimeBase) -> "StorageNodes":
    return runtime.by_name["StorageNodes"]  # type: ignore[return-value]


def _access(runtime: RuntimeBase) -> "StorageAccess":
    return runtime.by_name["StorageAccess"]  # type: ignore[return-value]


def _repair_orders(bank: "FileBank", limit: int) -> list[tuple[bytes, tuple[int, int], RepairOrder]]:
    """The first ``limit`` open repair orders in storage order: ``(file id, (segment, fragment), order)``."""
    return list(islice(double_map_items(bank.repair_orders), limit))


# --- storage_nodes -------------------------------------------------------------------------------


def storage_nodes(runtime: RuntimeBase, args: list) -> list[dict]:
    """Every registered node: its offer, stake, state, fragments held, audit and repair record."""
    bank = _file_bank(runtime)
    owed = Counter(order.repairer for _, _, order in _repair_orders(bank, MAX_REPAIRS_SCANNED))
    return [_node_json(who, node, bank.fragment_count.get(who), owed.get(who, 0))
            for who, node in _nodes(runtime).nodes.items()]


def _node_json(who: bytes, node: NodeInfo, fragments: int, owed: int) -> dict:
    return {
        "account": account(who), "endpoint": node.endpoint.decode("utf-8", "replace"), "capacity": node.capacity,
        "used": node.used, "stake": balance(node.stake), "state": variant(node.status), "fragments": fragments,
        "audits": {"passed": node.audits_passed, "missed": node.audits_missed},
        "repairs": {"done": node.repairs_done, "owed": owed}, "reputation": node.reputation_permill(),
        "registered": node.registered_at,
    }


# --- storage_files, storage_file ---------------------------------------------------------------------


def storage_files(runtime: RuntimeBase, args: list) -> dict:
    """A page of declared files, in storage order."""
    start, limit = cursor_arg(args[0]), limit_arg(args[1])
    entries, next_cursor = map_page(_file_bank(runtime).files, start, limit)
    return page([_file_json(file_id, info) for file_id, info in entries], next_cursor)


def storage_file(runtime: RuntimeBase, args: list) -> dict | None:
    """One file as ``storage_files`` lists it, with where each fragment is (the first :data:`MAX_LISTED`)
    and how many reads its access log holds; ``None`` for an unknown file."""
    file_id = hash_arg(args[0], "file id")
    bank = _file_bank(runtime)
    info = bank.files.get(file_id)
    if info is None:
        return None
    placements: list[dict] = []
    for segment in range(info.segment_count):
        if len(placements) >= MAX_LISTED:
            break
        nodes, confirmed = bank.placements.get(file_id, segment), bank.confirmed.get(file_id, segment)
        placements.extend({"segment": segment, "fragment": fragment, "node": account(node),
                           "confirmed": confirmed[fragment],
                           "repairing": bank.repair_orders.contains(file_id, (segment, fragment))}
                          for fragment, node in enumerate(nodes))  # one read per listed fragment: bounded
    return _file_json(file_id, info) | {"placements": placements[:MAX_LISTED],
                                        "accessCount": _access(runtime).access_count.get(file_id)}


def _file_json(file_id: bytes, info: FileInfo) -> dict:
    return {
        "id": hex_of(file_id), "owner": account(info.owner), "size": info.size, "segments": info.segment_count,
        "k": info.k, "m": info.m, "private": info.encrypted, "state": variant(info.status),
        "fragments": {"total": info.segment_count * info.width, "healthy": info.healthy},
        "declared": info.declared_at, "deposit": balance(info.deposit),
    }


# --- storage_repairs -------------------------------------------------------------------------------


def storage_repairs(runtime: RuntimeBase, args: list) -> list[dict]:
    """The open repair orders (the first :data:`MAX_LISTED` in storage order)."""
    return [{"file": hex_of(file_id), "segment": segment, "fragment": fragment,
             "assignee": maybe_account(order.repairer), "created": order.created_at, "deadline": order.deadline,
             "reason": variant(order.reason)}
            for file_id, (segment, fragment), order in _repair_orders(_file_bank(runtime), MAX_LISTED)]


# --- storage_accessLog ---------------------------------------------------------------------------


def storage_access_log(runtime: RuntimeBase, args: list) -> dict | None:
    """A page of a file's recorded reads, oldest first (a deleted file's log stays readable); ``None`` for a
    file that is not declared and has no log."""
    file_id = hash_arg(args[0], "file id")
    first, limit = _log_index(cursor_arg(args[1])), limit_arg(args[2])
    access = _access(runtime)
    count = access.access_count.get(file_id)
    if count == 0 and not _file_bank(runtime).files.contains(file_id):
        return None
    end = min(count, first + limit)
    items = []
    for index in range(first, end):
        who, block, recorder = access.access_log.get(file_id, index)
        items.append({"index": index, "account": account(who), "block": block, "recorder": account(recorder)})
    return page(items, str(end) if end < count else None)


def _log_index(start: str | None) -> int:
    if start is None:
        return 0
    if not start.isdigit() or len(start) > 10:
        raise ValueError("start is not a cursor of this list")
    return int(start)


NODES_RPC = (RpcMethod("storage_nodes", storage_nodes),)
FILE_BANK_RPC = (
    RpcMethod("storage_files", storage_files, params=("start", "limit")),
    RpcMethod("storage_file", storage_file, params=("id",)),
    RpcMethod("storage_repairs", storage_repairs),
)
ACCESS_RPC = (RpcMethod("storage_accessLog", storage_access_log, params=("id", "start", "limit")),)
