"""What the DA clients read from the chain: a blob, its node set's endpoints and keys, and its custody.

A blob's node set, their stakes and its custody seed are fixed when it is submitted (``da_layer.pallet``),
so who keeps which column is computed here from them and the custody draws per column its node set records
(``CustodyReplication`` then; ``da_layer.custody``), the same way the runtime computes it for audits. The chain
keeps a node set once for all the blobs that name it (``NodeSets``); :func:`read_blob` reads both and returns them
as one :class:`BlobRecord`. A light client reads them proven (``verified=True``: read proofs,
:meth:`AsyncClient.verified_query`, against a header whose GRANDPA justification it checked itself,
:mod:`sdk.chain.finality`); the daemon and the submitter read the best block, where a blob just submitted
already is.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import anyio
from da_layer.custody import custodians, custody_columns
from da_layer.pallet import Blob, BlobStatus, DaNode, NodeSet, node_set_id_of
from sdk.chain import AsyncClient, InvalidProof
from sdk.chain.finality import FinalityProver
from sdk.da.lanes import for_each

__all__ = ["PALLET", "BlobRecord", "DaNodeView", "Custody", "member_columns", "read_blob", "read_final_blob",
           "read_custody", "registered_nodes", "leaving_nodes"]

PALLET = "DataAvailability"


@dataclass(frozen=True)
class BlobRecord:
    """A retained blob's chain record (the pallet's ``Blob``) with the node set it names resolved."""

    submitter: bytes
    commitment: bytes
    length: int
    namespace: int
    submitted_at: int
    status: BlobStatus
    node_set: tuple[bytes, ...]
    """The DA nodes when it was submitted: custody and the signer bitfield index into this list."""
    stakes: tuple[int, ...]
    """Their stakes then, which custody is dealt by."""
    replication: int
    """The custody draws per column it was dealt with (the pallet's ``CustodyReplication`` then)."""
    node_set_id: bytes
    """The hash naming that node set with its stakes and replication (:func:`da_layer.pallet.node_set_id_of`)."""
    custody_seed: bytes
    signers: bytes
    fee: int

    @classmethod
    def of(cls, blob: Blob, node_set: NodeSet) -> BlobRecord:
        """The record of ``blob`` with ``node_set``; :class:`InvalidProof` if that node set is not the one the
        blob names (its content does not hash to the id): an RPC node serving another is lying."""
        if node_set_id_of(node_set) != blob.node_set_id:
            raise InvalidProof(f"the node set served for id 0x{blob.node_set_id.hex()} hashes to another id")
        shared = {field.name: getattr(blob, field.name) for field in fields(cls) if hasattr(blob, field.name)
                  and field.name != "node_set"}
        return cls(**shared, node_set=tuple(node_set.members), stakes=tuple(node_set.stakes),
                   replication=node_set.replication)


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
    blob: BlobRecord
    nodes: tuple[DaNodeView, ...]

    def columns_of(self, position: int) -> tuple[int, ...]:
        blob = self.blob
        return custody_columns(position, blob.stakes, blob.custody_seed, replication=blob.replication)

    def custodians_of(self, column: int) -> tuple[DaNodeView, ...]:
        blob = self.blob
        return tuple(self.nodes[i] for i in custodians(column, blob.stakes, blob.custody_seed, blob.replication))

    def position_of(self, account: bytes) -> int | None:
        return next((node.position for node in self.nodes if node.account == account), None)


def member_columns(blob: BlobRecord, account: bytes) -> tuple[int, ...] | None:
    """The columns ``account`` keeps of ``blob`` (``None`` if it is not in the blob's node set)."""
    if account not in blob.node_set:
        return None
    return custody_columns(blob.node_set.index(account), blob.stakes, blob.custody_seed,
                           replication=blob.replication)


async def read_blob(client: AsyncClient, blob_id: bytes, *, verified: bool = False,
                    at: bytes | None = None) -> BlobRecord | None:
    """The blob's record and node set at block ``at`` (proven: against the header of ``at``, or of the head the
    node calls finalized, whose justification this does not check: :func:`read_final_blob` does; else the best
    block), or ``None`` if the chain has none (never submitted, or pruned).

    Read without ``at``, the two reads may see two blocks; a node set never changes under its id (the hash of
    its content, checked here), so the second can only find it gone, when the blob was pruned in between."""
    read = client.verified_query if verified else client.query
    blob: Blob | None = await read(PALLET, "Blobs", [blob_id], block_hash=at)
    if blob is None:
        return None
    node_set: NodeSet | None = await read(PALLET, "NodeSets", [blob.node_set_id], block_hash=at)
    return None if node_set is None else BlobRecord.of(blob, node_set)


async def read_final_blob(client: AsyncClient, finality: FinalityProver, blob_id: bytes, *,
                          timeout: float) -> tuple[BlobRecord, bytes] | None:
    """The blob's record proven against a header that ``finality`` proved final, and that header's hash;
    ``None`` if the chain has no such blob. A blob the best chain has but finality has not reached yet is
    waited for, ``timeout`` seconds at most (then ``None``). A node that cannot prove what it calls final
    raises :class:`sdk.chain.finality.FinalityUnproven`."""
    finalized = (await finality.finalized_head()).hash
    record = await read_blob(client, blob_id, verified=True, at=finalized)
    if record is not None:
        return record, finalized
    if await read_blob(client, blob_id) is None:
        return None
    with anyio.move_on_after(timeout):
        async with client.subscribe_finalized_heads() as heads:
            async for _ in heads:  # the node's finalized head carries a justification, each head it passed may not
                finalized = (await finality.finalized_head()).hash
                record = await read_blob(client, blob_id, verified=True, at=finalized)
                if record is not None:
                    return record, finalized
    return None


async def read_custody(client: AsyncClient, blob_id: bytes, blob: BlobRecord, *, proven_at: bytes | None = None,
                       at: bytes | None = None) -> Custody:
    """The custody of ``blob`` (read with :func:`read_blob`): its node set with their registrations at block ``at``
    (the best block if None).

    A light client reads the registrations ``proven_at`` the finalized block it read the blob at (one read
    proof for them all): every cell fetched is checked against the proven commitment, but an endpoint says
    whom to ask, and a lying RPC node pointing every custodian at a server of the submitter's would have
    sampling succeed for a blob its staked custodians were never given. Unproven otherwise."""
    accounts = [[account] for account in blob.node_set]
    if proven_at is not None:
        infos: list[DaNode | None] = await client.verified_query_many(PALLET, "Nodes", accounts, proven_at)
    else:
        infos = [None] * len(accounts)

        async def read(position: int) -> None:
            infos[position] = await client.query(PALLET, "Nodes", accounts[position], block_hash=at)

        await for_each(len(infos), len(infos), read)  # (a chain error raised as itself, not in an exception group)
    views = [DaNodeView(position, account, None if info is None else _endpoint(info.endpoint),
                        None if info is None else info.bls_public, 0 if info is None else info.stake)
             for position, (account, info) in enumerate(zip(blob.node_set, infos))]
    return Custody(blob_id, blob, tuple(views))


async def leaving_nodes(client: AsyncClient) -> dict[bytes, int]:
    """The DA nodes that left the node set and are still registered (their stake on hold, slashable), each with
    the block at which its stake is released."""
    return {account: block async for block, accounts in client.query_map(PALLET, "Unbonding") for account in accounts}


async def registered_nodes(client: AsyncClient) -> list[tuple[bytes, DaNode]]:
    """Every registered DA node (account, the pallet's ``DaNode``), in ``NodeSet`` order."""
    accounts = await client.query(PALLET, "NodeSet")
    found = []
    for account in accounts:
        info = await client.query(PALLET, "Nodes", [account])
        if info is not None:
            found.append((account, info))
    return found


def _endpoint(raw: bytes) -> str | None:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return None
