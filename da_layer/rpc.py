"""The DA pallet's JSON-RPC reads (``da_*``): its nodes, and the blobs it retains with their attestation.

What a dashboard shows of the data-availability layer, read from one block's state: each blob's verdict,
the stake that signed it against the stake of its node set, when it is judged and when it is pruned, and
(one blob at a time) which nodes keep which of its columns. The JSON conventions are
``runtime.frame.rpc_json``'s.

``da_layer.pallet`` imports this module for its ``DEFINITION``, so this one reaches the pallet through the
runtime by name rather than by importing it (that would be a cycle).

Blobs are listed newest first. ``Blobs`` is keyed by hashed blob id, so its own order is random; but every
retained blob is in ``Expiries`` under the block it is pruned at (its submission block plus the retention
period), so one pass over ``Expiries`` (an entry per block that took blobs, a list of ids each) orders them
by submission, and a page then reads only its own ``limit`` blobs (the pass keeps the page's entries, not
every retained blob's).
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from da_layer.attestation import quorum_weights, signers
from da_layer.custody import custodians
from da_layer.kzg import CELLS_PER_BLOB
from runtime.frame.composition import RpcMethod
from runtime.frame.construct import RuntimeBase
from runtime.frame.rpc_json import (
    account,
    balance,
    cursor_arg,
    hash_arg,
    hex_of,
    limit_arg,
    page,
    variant,
)

if TYPE_CHECKING:
    from da_layer.pallet import Blob, DataAvailability, NodeSet

__all__ = ["DA_RPC"]


def _pallet(runtime: RuntimeBase) -> "DataAvailability":
    return runtime.by_name["DataAvailability"]  # type: ignore[return-value]


def da_nodes(runtime: RuntimeBase, args: list) -> list[dict]:
    """Every registered DA node: ``active`` while in the node set new blobs copy, ``leaving`` once it
    deregistered (its stake is released when no retained blob names it)."""
    da = _pallet(runtime)
    members = set(da.node_set.get())
    return [{"account": account(who), "endpoint": node.endpoint.decode("utf-8", "replace"),
             "stake": balance(node.stake), "blsKey": hex_of(node.bls_public),
             "state": "active" if who in members else "leaving",
             "audits": {"passed": node.audits_passed, "missed": node.audits_missed}, "registered": node.registered_at}
            for who, node in da.nodes.items()]


def da_blobs(runtime: RuntimeBase, args: list) -> dict:
    """A page of the retained blobs, newest first."""
    after, limit = _blob_cursor(cursor_arg(args[0])), limit_arg(args[1])
    da = _pallet(runtime)
    retained = ((expiry, position, blob_id) for expiry, ids in da.expiries.items()
                for position, blob_id in enumerate(ids))
    order = heapq.nlargest(limit + 1, (entry for entry in retained if after is None or entry[:2] < after))
    stakes = {who: node.stake for who, node in da.nodes.items()}
    node_sets: dict[bytes, "NodeSet"] = {}  # most blobs of a page name the same one
    items = []
    for _, _, blob_id in order[:limit]:
        blob = da.blobs.get(blob_id)
        if blob is not None:  # (always: a blob leaves Blobs and Expiries together)
            if blob.node_set_id not in node_sets:
                node_sets[blob.node_set_id] = da.node_sets.get(blob.node_set_id)
            items.append(_blob_json(da, blob_id, blob, node_sets[blob.node_set_id], stakes))
    more = len(order) > limit
    return page(items, f"{order[limit - 1][0]}.{order[limit - 1][1]}" if more else None)


def _blob_cursor(start: str | None) -> tuple[int, int] | None:
    if start is None:
        return None
    expiry, _, position = start.partition(".")
    if not (expiry.isdigit() and position.isdigit() and len(expiry) <= 10 and len(position) <= 10):
        raise ValueError("start is not a cursor of this list")
    return int(expiry), int(position)


def da_blob(runtime: RuntimeBase, args: list) -> dict | None:
    """One retained blob as ``da_blobs`` lists it, with its node set, the accounts that signed its
    attestation, and the custodians of each of its columns; ``None`` for an unknown or pruned blob."""
    blob_id = hash_arg(args[0], "blob id")
    da = _pallet(runtime)
    blob = da.blobs.get(blob_id)
    if blob is None:
        return None
    stakes = {who: node.stake for who, node in da.nodes.items()}
    node_set = da.node_sets.get(blob.node_set_id)
    members = node_set.members
    return _blob_json(da, blob_id, blob, node_set, stakes) | {
        "nodeSet": [account(who) for who in members],
        "signerAccounts": [account(members[i]) for i in _signed(blob, members)],
        "custodians": [[account(members[i]) for i in custodians(column, node_set.stakes, blob.custody_seed,
                                                                node_set.replication)]
                       for column in range(CELLS_PER_BLOB)],
    }


def _signed(blob: "Blob", members: tuple) -> tuple[int, ...]:
    """Positions in the node set of the accepted attestation's signers (none before it)."""
    return signers(blob.signers, len(members)) if blob.signers else ()


def _blob_json(da: "DataAvailability", blob_id: bytes, blob: "Blob", node_set: "NodeSet",
               stakes: dict[bytes, int]) -> dict:
    """A blob's record; ``signedStake`` and ``totalStake`` weigh its signers and node set as its quorum does
    (:func:`da_layer.attestation.quorum_weights`) at their stakes now (the quorum was counted at the stakes of
    the attesting block; slashes since lower them)."""
    cfg = da.config
    members = node_set.members
    weights = quorum_weights([stakes.get(who, 0) for who in members], node_set.stakes)
    signed = _signed(blob, members)
    return {
        "id": hex_of(blob_id), "submitter": account(blob.submitter), "namespace": blob.namespace,
        "length": blob.length, "commitment": hex_of(blob.commitment), "state": variant(blob.status),
        "signedStake": balance(sum(weights[i] for i in signed)), "totalStake": balance(sum(weights)),
        "signers": len(signed),
        "submitted": blob.submitted_at, "deadline": blob.submitted_at + cfg.attestation_deadline,
        "expires": blob.submitted_at + cfg.retention_period, "fee": balance(blob.fee),
    }


DA_RPC = (
    RpcMethod("da_nodes", da_nodes),
    RpcMethod("da_blobs", da_blobs, params=("start", "limit")),
    RpcMethod("da_blob", da_blob, params=("id",)),
)
