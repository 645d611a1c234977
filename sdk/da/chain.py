"""What the DA clients read from the chain: a blob, its node set's endpoints and keys, and its custody.

A blob's node set and custody seed are fixed when it is submitted (``da_layer.pallet``), so who keeps which
column is computed here from them and the pallet's ``CustodyReplication`` (``da_layer.custody``), the same
way the runtime computes it for audits. Values are the pallet's own dataclasses, as the chain client
decodes them. A light client reads the blob proven (``verified=True``: a read proof against the finalized header,
:meth:`AsyncClient.verified_query`); the daemon and the submitter read the best block, where a blob just
submitted already is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from da_layer.custody import custodians, custody_columns
from sdk.chain import AsyncClient

__all__ = ["PALLET", "DaNodeView", "Custody", "read_blob", "read_custody", "registered_nodes"]

PALLET = "DataAvailability"


@dataclass(frozen=True)
class DaNodeView:
    """One member of a blob's node set, as registered now."""

    position: int
    """Its index in the blob's node set (its bit in the signer bitfield)."""
    account: bytes
    endpoint: str | None
    """Its HTTP endpoint; ``None`` if it is no longer registered."""
    bls_public: bytes | None
    stake: int


@dataclass(frozen=True)
class Custody:
    """A blob's node set and who keeps which of its columns."""

    blob_id: bytes
    blob: Any
    """The pallet's ``Blob`` value."""
    nodes: tuple[DaNodeView, ...]
    replication: int

    def columns_of(self, position: int) -> tuple[int, ...]:
        return custody_columns(position, len(self.nodes), self.blob.custody_seed, replication=self.replication)

    def custodians_of(self, column: int) -> tuple[DaNodeView, ...]:
        return tuple(self.nodes[i] for i in custodians(column, len(self.nodes), self.blob.custody_seed,
                                                        self.replication))

    def position_of(self, account: bytes) -> int | None:
        return next((node.position for node in self.nodes if node.account == account), None)


async def read_blob(client: AsyncClient, blob_id: bytes, *, verified: bool = False) -> Any:
    """The pallet's ``Blob`` record, or ``None`` if the chain has none (never submitted, or pruned)."""
    if verified:
        return await client.verified_query(PALLET, "Blobs", [blob_id])
    return await client.query(PALLET, "Blobs", [blob_id])


async def read_custody(client: AsyncClient, blob_id: bytes, blob: Any) -> Custody:
    """The custody of ``blob`` (read with :func:`read_blob`): its node set with their current registrations.

    The registrations are read unproven even by a light client: an endpoint only says where to ask, and
    every cell fetched is checked against the (proven) commitment, so a lying RPC node can make sampling
    fail but never succeed."""
    views = []
    for position, account in enumerate(blob.node_set):
        info = await client.query(PALLET, "Nodes", [account])
        views.append(DaNodeView(position, bytes(account), None if info is None else _endpoint(info.endpoint),
                                None if info is None else bytes(info.bls_public), 0 if info is None else info.stake))
    return Custody(blob_id, blob, tuple(views), client.get_constant(PALLET, "CustodyReplication"))


async def registered_nodes(client: AsyncClient) -> list[tuple[bytes, Any]]:
    """Every registered DA node (account, the pallet's ``DaNode``), in ``NodeSet`` order."""
    accounts = await client.query(PALLET, "NodeSet")
    found = []
    for account in accounts:
        info = await client.query(PALLET, "Nodes", [account])
        if info is not None:
            found.append((bytes(account), info))
    return found


def _endpoint(raw: bytes) -> str | None:
    try:
        return bytes(raw).decode("ascii")
    except UnicodeDecodeError:
        return None
