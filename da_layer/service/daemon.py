"""The DA node: keeps its custody cells of every blob, attests them, serves them, answers audits, recovers.

What it does, in the order a blob meets it:

1. *Registration* (at start, once): if the chain does not know the operator's account as a DA node, the node
   registers it with its stake, its BLS public key with a proof of possession and the key's signature over
   the registration message (:func:`da_layer.attestation.registration_message`: this chain, this account),
   and its HTTP endpoint; if it does, under another endpoint (the node's public URL changed), the node moves
   it (``update_endpoint``).
   The BLS key is derived from the operator's account secret by the IETF KeyGen (``bls.secret_from_seed``),
   whose own salt separates it from the account key, so the same ``--key`` always gives the same BLS key.
2. *Custody* (``PUT /v1/blobs/{blob_id}/cells``): the submitter sends the node exactly its custody columns
   of a blob the chain knows. The node checks, cheapest first: the body is a cell set, the blob is on chain
   and still wanted, this node is in the blob's node set, the cells are exactly its custody columns (all of
   them: a submitter that withholds some gets no signature), the cells that are the blob's own bytes are
   laid out as the SDK packs a blob of the recorded length (:func:`da_layer.blobs.check_cell_layout`: the fee
   is per recorded byte, so bytes past it are refused), and the cells verify against the on-chain commitment
   (one ``verify_cell_kzg_proof_batch`` in the process pool). Only then are they written
   (crash-safely, :mod:`da_layer.service.store`) and only after the write does it answer with its BLS
   signature over the attestation message. Nothing is stored for a refused upload.
3. *Serving* (``GET /v1/blobs/{blob_id}/cells/{index}``, ``GET /v1/blobs/{blob_id}/cells[?indices=3,17]``):
   cells with their proofs, to light clients, readers and recovering peers.
4. *Audits*: the node follows the chain's ``AuditStarted`` events, and each time it subscribes (at start,
   and again after a lost connection) it reads the chain's open ``Audits`` too, so that one opened while it
   was down or not following is answered as well. It answers each audit naming it with the cell and its proof
   in an ``answer_audit`` extrinsic, each answer on its own: one that fails is logged, and neither ends the
   node nor the other answers. The cell is checked against the audit's commitment before it is sent: one lost,
   or corrupt on disk, is recovered from peers first (or the recovery of its blob already under way is waited
   for). An answer refused or not sent is tried again while the audit is open, read afresh from the chain
   (a reorg can change what an audit id names).
5. *Maintenance* (at start, then every ``maintenance_interval``): for every blob on chain whose node set
   holds this node and that is available, custody cells missing from the store (a restart with an empty
   disk, a corrupt file) are recovered: the node fetches the cells its peers hold until it has verified at
   least half of the blob's cells, rebuilds all of them (``recover_cells_and_kzg_proofs``) and stores its
   own. A peer whose cells do not verify, for whatever reason, is passed over; a blob that cannot be
   recovered is logged and tried again at the next scan. A blob's cells are deleted when the chain prunes it
   (``BlobPruned``, or found gone at a scan).

*Withholding* (fault injection, ``cairn devnet withhold``): while a file named ``withhold`` exists in the
node's base path, the node serves no cells (``503 Withholding``) and answers no audits, but still accepts,
stores and signs: exactly the node that attests and then does not serve, which audits exist to catch.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import trio

from da_layer import bls
from da_layer.attestation import attestation_message, registration_message
from da_layer.blobs import MalformedBlobs, check_cell_layout
from da_layer.kzg import CELLS_PER_BLOB, CELLS_TO_RECOVER
from da_layer.pallet import AuditStarted, Blob, BlobPruned, BlobStatus, NodeEvicted, NodeSet
from da_layer.service.http import App, HttpError, Request, Response, Route, serve
from da_layer.service.metrics import CONTENT_TYPE, NodeMetrics
from da_layer.service.store import CellStore
from runtime.keyring import Keypair
from runtime.ss58 import ss58_encode
from sdk.account.api import chain_token, stake_shortfall
from sdk.chain import AsyncClient, ChainClientError
from sdk.da.chain import PALLET, BlobRecord, member_columns, read_blob, read_custody
from sdk.da.peers import DaPeers
from sdk.da.pool import KzgPool
from sdk.da.read import gather_cells
from sdk.da.wire import MAX_CELL_SET, Cell, MalformedCells, decode_cells, encode_cell, encode_cells, parse_blob_id

__all__ = ["DaNode", "DaNodeConfig", "RegistrationFailed", "WITHHOLD_FILE", "bls_secret_of"]

log = logging.getLogger("cairn.da_node")

WITHHOLD_FILE = "withhold"
"""While this file exists in the base path, the node serves no cells and answers no audits."""
SERVABLE = (BlobStatus.Pending, BlobStatus.Available)
"""Blob statuses for which the node takes custody cells."""
BLOB_PATH = r"/v1/blobs/([^/]+)/cells"
CHAIN_RETRY_S = 5.0
ANSWER_TRIES = 3
"""Answers the chain may refuse for one audit before the node gives up on it: a try refused because a reorg
changed the challenge, then one more. (An answer not sent, for a cell not recovered yet, is tried again while
the audit is open.)"""


class RegistrationFailed(Exception):
    """The chain refused the node's registration, or holds another BLS key for its account."""


@dataclass(frozen=True)
class DaNodeConfig:
    base_path: Path
    stake: int
    """What the node stakes when it registers."""
    host: str = "127.0.0.1"
    http_port: int = 0
    """0: any free port (the bound one is what :meth:`DaNode.run` reports and registers)."""
    public_host: str | None = None
    """The host in the registered endpoint (default: ``host``)."""
    maintenance_interval: float = 60.0
    """Seconds between scans for lost custody cells and pruned blobs (also done at start)."""
    peer_timeout: float = 10.0
    """Seconds one request to a peer may take while recovering."""


def bls_secret_of(account: Keypair) -> bytes:
    """The node's BLS secret key, derived from its account's secret (IETF KeyGen, its own salt)."""
    return bls.secret_from_seed(account.secret)


class DaNode:
    """Start with ``port = await nursery.start(node.run)``: it returns once the node listens and is registered."""

    def __init__(self, client: AsyncClient, account: Keypair, store: CellStore, pool: KzgPool,
                 config: DaNodeConfig) -> None:
        self._client = client
        self._account = account
        self._store = store
        self._pool = pool
        self._config = config
        self._bls_secret = bls_secret_of(account)
        self.bls_public = bls.public_key(self._bls_secret)
        self._withhold_path = config.base_path / WITHHOLD_FILE
        self.metrics = NodeMetrics({
            "cairn_da_blobs_held": ("Blobs with custody cells in the store", lambda: len(store.blobs())),
            "cairn_da_cells_held": ("Custody cells in the store", store.cell_count),
            "cairn_da_withholding": ("1 while the node withholds cells (fault injection)",
                                     lambda: float(self.withholding)),
        })
        self._peers = DaPeers(timeout=config.peer_timeout)
        self._recovering: dict[bytes, trio.Event] = {}
        """The blobs being recovered, each with the event set when its recovery ends."""
        self._answering: set[int] = set()
        """The audits being answered (one both read from the chain and heard of is answered once)."""
        self._columns: dict[bytes, tuple[tuple[bytes, bytes], tuple[int, ...] | None]] = {}
        """The columns this node keeps of each blob, with what they were dealt from (:meth:`_my_columns`)."""
        self.port: int | None = None

    @property
    def withholding(self) -> bool:
        return self._withhold_path.exists()

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        async with self._peers, trio.open_nursery() as nursery:
            app = App(self._routes(), on_error=self.metrics.refused)
            self.port = await nursery.start(serve, app, self._config.host, self._config.http_port)
            await self._register(f"http://{self._config.public_host or self._config.host}:{self.port}")
            nursery.start_soon(self._follow_chain, nursery)
            nursery.start_soon(self._maintain)
            log.info("DA node %s serving on port %d", self._account.ss58_address(), self.port)
            task_status.started(self.port)

    # --- registration ----------------------------------------------------------------------------------

    async def _register(self, endpoint: str) -> None:
        account = self._account.public
        known = await self._client.query(PALLET, "Nodes", [account])
        if known is not None:
            if known.bls_public != self.bls_public:
                raise RegistrationFailed(f"{self._account.ss58_address()} is registered with another BLS key")
            if known.endpoint != endpoint.encode():
                await self._submit("update_endpoint", {"endpoint": endpoint.encode()})
                log.info("moved the registered endpoint from %s to %s", known.endpoint.decode(errors="replace"),
                         endpoint)
            if account not in await self._client.query(PALLET, "NodeSet"):
                log.warning("this DA node is leaving (`cairn da leave`): blobs submitted now do not name it; it keeps "
                            "the custody of those that do, still audited, until their retention ends and its stake "
                            "is released (started again after that, it registers anew)")
            return
        message = registration_message(self._client.genesis_hash, account, self.bls_public)
        registration = {
            "bls_public": self.bls_public, "proof_of_possession": bls.pop_prove(self._bls_secret),
            "registration_signature": bls.sign(self._bls_secret, message), "endpoint": endpoint.encode(),
            "stake": self._config.stake}
        shortfall = await stake_shortfall(self._client, account, self._config.stake,
                                          self._client.get_constant(PALLET, "MinStake"),
                                          self._client.compose_call(PALLET, "register", registration))
        if shortfall is not None:
            raise RegistrationFailed(f"not registering this DA node: {shortfall}")
        await self._submit("register", registration)
        log.info("registered as a DA node at %s with stake %s", endpoint,
                 (await chain_token(self._client)).format(self._config.stake))

    async def _submit(self, name: str, params: dict[str, object]) -> None:
        receipt = await self._client.sign_and_submit(self._client.compose_call(PALLET, name, params), self._account,
                                                     wait_for_inclusion=True)
        if not receipt.is_success:
            raise RegistrationFailed(f"{name}: {receipt.error_message}")

    # --- HTTP ------------------------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        return [
            Route("PUT", BLOB_PATH, self._put_cells, max_body=MAX_CELL_SET),
            Route("GET", BLOB_PATH, self._get_cells),
            Route("GET", BLOB_PATH + r"/([^/]+)", self._get_cell),
            Route("GET", "/v1/health", self._health),
            Route("GET", "/metrics", self._render_metrics),
        ]

    async def _put_cells(self, request: Request, blob_hex: str) -> Response:
        blob_id = _blob_id(blob_hex)
        try:
            cells = decode_cells(request.body)
        except MalformedCells as exc:
            raise HttpError("Malformed", str(exc)) from None
        blob = await self._chain_blob(blob_id)
        if blob is None:
            raise HttpError("UnknownBlob", f"the chain knows no blob {blob_hex}")
        if blob.status not in SERVABLE:
            raise HttpError("BlobNotPending", f"blob {blob_hex} is {blob.status.name}")
        mine = self._my_columns(blob_id, blob)
        if mine is None:
            raise HttpError("NotAssigned", f"this node is not in the node set of blob {blob_hex}")
        expected = set(mine)
        if set(cells) - expected:
            raise HttpError("NotAssigned", f"cells {sorted(set(cells) - expected)[:8]} are not this node's custody")
        if expected - set(cells):
            raise HttpError("IncompleteCustody", f"{len(expected - set(cells))} of this node's {len(expected)} "
                                                 "custody cells are missing: it attests all of them or none")
        try:
            for cell in cells.values():
                check_cell_layout(cell.index, cell.data, blob.length)
        except MalformedBlobs as exc:
            raise HttpError("BadLayout", f"cell {cell.index}: {exc}: nothing signed") from None
        if not await self._pool.verify(blob.commitment, list(cells.values())):
            raise HttpError("InvalidProof", "a cell does not verify against the blob's commitment: nothing signed")
        try:
            if cells:  # (a node keeping none of the blob's columns signs its empty share and stores nothing)
                await trio.to_thread.run_sync(self._store.put, blob_id, cells.values())
        except OSError as exc:
            log.error("blob %s: custody cells not stored: %s", blob_hex, exc)
            raise HttpError("StoreFailed", f"this node cannot store the cells now ({exc.strerror or exc})") from None
        self.metrics.inc("cairn_da_cells_received_total", len(cells))
        message = attestation_message(self._client.genesis_hash, blob_id, blob.commitment)
        signature = bls.sign(self._bls_secret, message)
        self.metrics.inc("cairn_da_attestations_total")
        return Response.json({"signature": "0x" + signature.hex()})

    async def _get_cell(self, request: Request, blob_hex: str, index_text: str) -> Response:
        blob_id = _blob_id(blob_hex)
        if not _is_index(index_text):
            raise HttpError("Malformed", f"a cell index is a number from 0 to {CELLS_PER_BLOB - 1}, "
                                         f"not {index_text[:40]!r}")
        self._refuse_if_withholding()
        cell = await trio.to_thread.run_sync(self._store.get, blob_id, int(index_text))
        if cell is None:
            if not self._store.indices(blob_id):
                raise HttpError("UnknownBlob", f"this node holds no cells of blob {blob_hex}")
            raise HttpError("NotCustodied", f"this node does not hold cell {index_text} of blob {blob_hex}")
        self.metrics.inc("cairn_da_cells_served_total")
        return Response(200, encode_cell(cell))

    async def _get_cells(self, request: Request, blob_hex: str) -> Response:
        blob_id = _blob_id(blob_hex)
        wanted = _wanted_indices(request.query)
        self._refuse_if_withholding()
        cells = await trio.to_thread.run_sync(self._store.cells, blob_id)
        if not cells:
            raise HttpError("UnknownBlob", f"this node holds no cells of blob {blob_hex}")
        if wanted is not None:
            cells = [cell for cell in cells if cell.index in wanted]
        self.metrics.inc("cairn_da_cells_served_total", len(cells))
        return Response(200, encode_cells(cells))

    async def _health(self, request: Request) -> Response:
        return Response.json({"account": self._account.ss58_address(), "bls_public": "0x" + self.bls_public.hex(),
                              "blobs": len(self._store.blobs()), "cells": self._store.cell_count(),
                              "withholding": self.withholding})

    async def _render_metrics(self, request: Request) -> Response:
        return Response(200, self.metrics.render().encode(), CONTENT_TYPE)

    def _refuse_if_withholding(self) -> None:
        if self.withholding:
            raise HttpError("Withholding", "this node is withholding its cells")

    async def _chain_blob(self, blob_id: bytes) -> BlobRecord | None:
        try:
            return await read_blob(self._client, blob_id)
        except ChainClientError as exc:
            raise HttpError("ChainUnavailable", f"cannot read the chain: {exc}") from None

    # --- audits ----------------------------------------------------------------------------------------

    async def _follow_chain(self, nursery: trio.Nursery) -> None:
        """Answer the audits addressed to this node (in ``nursery``, so that losing the subscription cancels
        none); drop the cells of blobs the chain prunes. A lost connection to the chain is waited out (the
        client reconnects), never the end of the node."""
        me = self._account.public
        while True:
            try:
                async with self._client.subscribe_events(PALLET) as blocks:
                    # read once subscribed: an audit opened after the block read here comes as an event
                    async for audit_id, audit in self._client.query_map(PALLET, "Audits"):
                        if audit.node == me:
                            self._answer_soon(nursery, audit_id)
                    async for block in blocks:
                        for record in block.events:
                            if isinstance(record.event, AuditStarted) and record.event.node == me:
                                self._answer_soon(nursery, record.event.audit_id)
                            elif isinstance(record.event, BlobPruned):
                                await self._drop(record.event.blob_id)
                            elif isinstance(record.event, NodeEvicted) and record.event.who == me:
                                log.warning("evicted from the full DA node set by %s, which staked more: blobs "
                                            "submitted now do not name this node; it keeps the custody of those "
                                            "that do until its stake is released at block %d (`cairn da bond` "
                                            "raises a stake before it comes to this)",
                                            ss58_encode(record.event.by), record.event.unbonds_at)
            except ChainClientError as exc:
                log.warning("following the chain: %s; following again in %.0f s", exc, CHAIN_RETRY_S)
            await trio.sleep(CHAIN_RETRY_S)

    def _answer_soon(self, nursery: trio.Nursery, audit_id: int) -> None:
        if audit_id not in self._answering:
            self._answering.add(audit_id)
            nursery.start_soon(self._answer, audit_id)

    async def _answer(self, audit_id: int) -> None:
        try:
            await _guarded(self._answer_audit(audit_id), f"audit {audit_id}")
        finally:
            self._answering.discard(audit_id)

    def _my_columns(self, blob_id: bytes, blob: BlobRecord) -> tuple[int, ...] | None:
        """The columns this node keeps of the blob (``None``: not in its node set), dealt once a blob (~2 ms)
        rather than at every maintenance scan. Remembered with what they were dealt from (its custody seed and
        node set's id: after a reorg the same blob id may stand for another submission); forgotten when the
        blob is pruned, or found gone by a scan."""
        dealt_from = (blob.custody_seed, blob.node_set_id)
        known = self._columns.get(blob_id)
        if known is None or known[0] != dealt_from:
            known = self._columns[blob_id] = (dealt_from, member_columns(blob, self._account.public))
        return known[1]

    async def _drop(self, blob_id: bytes) -> None:
        self._columns.pop(blob_id, None)
        if blob_id in self._store.blobs():  # (an empty share, as an older daemon stored, included)
            await trio.to_thread.run_sync(self._store.delete, blob_id)
            self.metrics.inc("cairn_da_blobs_pruned_total")

    async def _answer_audit(self, audit_id: int) -> None:
        """Answer the audit as the chain states it now, until it is answered or closed. Each try reads the open
        audit first: after a reorg the same id can name another blob or cell (drawn from another parent block),
        so an answer not sent (a cell its peers could not give back yet, a chain error) is tried again a block
        later for as long as the audit is open, and one the chain refused :data:`ANSWER_TRIES` times at most
        (each refused answer costs its fee)."""
        me = self._account.public
        refused = 0
        for attempt in itertools.count():
            if attempt:
                await trio.sleep(self._client.block_time_ms() / 1000)
            try:
                audit = await self._client.query(PALLET, "Audits", [audit_id])
                if audit is None or audit.node != me:
                    return  # answered (a try whose receipt was lost), closed, or not this node's after a reorg
                blob_id, index = audit.blob_id, audit.cell_index
                if self.withholding:
                    log.info("audit %d (blob 0x%s, cell %d): withholding, not answered", audit_id, blob_id.hex(),
                             index)
                    return
                cell = await self._custody_cell(blob_id, index, audit.commitment)
                if cell is None:
                    log.warning("audit %d: cell %d of blob 0x%s is lost and could not be recovered yet: trying "
                                "again while the audit is open", audit_id, index, blob_id.hex())
                    continue
                call = self._client.compose_call(PALLET, "answer_audit",
                                                 {"audit_id": audit_id, "cell": cell.data, "proof": cell.proof})
                receipt = await self._client.sign_and_submit(call, self._account, wait_for_inclusion=True)
            except ChainClientError as exc:
                log.warning("audit %d: answer not submitted: %s", audit_id, exc)
                continue
            if receipt.is_success:
                self.metrics.inc("cairn_da_audits_answered_total")
                log.info("audit %d answered (blob 0x%s, cell %d)", audit_id, blob_id.hex(), index)
                return
            log.warning("audit %d: answer refused: %s", audit_id, receipt.error_message)
            refused += 1
            if refused == ANSWER_TRIES:
                return

    async def _custody_cell(self, blob_id: bytes, index: int, commitment: bytes) -> Cell | None:
        """Cell ``index`` of the blob from the store, checked against ``commitment`` first (one cell proof, a few
        ms): a stored cell that does not verify (a disk fault the file format cannot see) would fail its audit
        again at every draw, so it is dropped and, as a lost one is, recovered from the peers."""
        try:
            cell = await trio.to_thread.run_sync(self._store.get, blob_id, index)
        except MalformedCells:
            cell, corrupt = None, True
        else:
            corrupt = cell is not None and not await self._pool.verify(commitment, [cell])
        if corrupt:
            log.warning("blob 0x%s: stored cell %d does not verify (a disk fault): recovering it from peers",
                        blob_id.hex(), index)
            await trio.to_thread.run_sync(self._store.discard, blob_id, [index])
            self.metrics.inc("cairn_da_cells_corrupt_total")
            cell = None
        if cell is None:
            await self._recover_blob(blob_id)
            cell = await trio.to_thread.run_sync(self._store.get, blob_id, index)
        return cell

    # --- maintenance: recovery and pruning -------------------------------------------------------------

    async def _maintain(self) -> None:
        while True:
            await _guarded(self.maintain_once(), "maintenance")
            await trio.sleep(self._config.maintenance_interval)

    async def maintain_once(self) -> None:
        """Recover missing custody cells of every available blob of this node; drop pruned blobs. A blob that
        cannot be recovered now is logged and left for the next scan; the others are still recovered. Only blobs
        held before the scan read the chain can be found pruned by it: a blob submitted since, whose cells
        arrived during the scan, is not in what the scan read, and is still this node's to keep."""
        held_before = set(self._store.blobs()) | set(self._columns)
        on_chain: set[bytes] = set()
        node_sets: dict[bytes, NodeSet | None] = {}  # most retained blobs name one of a few node sets
        async for blob_id, blob in self._client.query_map(PALLET, "Blobs"):
            on_chain.add(blob_id)
            if blob.status is not BlobStatus.Available:
                continue
            if blob.node_set_id not in node_sets:
                node_sets[blob.node_set_id] = await self._client.query(PALLET, "NodeSets", [blob.node_set_id])
            node_set = node_sets[blob.node_set_id]
            if node_set is not None and self._account.public in node_set.members:  # (None: pruned since)
                await _guarded(self._recover_record(blob_id, blob, node_set), f"recovering blob 0x{blob_id.hex()}")
        for blob_id in held_before - on_chain:  # pruned while this node was down, or its event missed
            await self._drop(blob_id)

    async def _recover_record(self, blob_id: bytes, blob: Blob, node_set: NodeSet) -> None:
        """:meth:`_recover_blob` of the chain's record with its node set (checked against the blob's id of it:
        a node set an RPC node made up fails this blob's recovery alone)."""
        await self._recover_blob(blob_id, BlobRecord.of(blob, node_set))

    async def _recover_blob(self, blob_id: bytes, blob: BlobRecord | None = None) -> None:
        """Fetch what peers hold of the blob and rebuild this node's missing custody cells. One recovery of a
        blob runs at a time: a caller that finds one under way (an audit while maintenance recovers the blob,
        or the other way round) waits for it to end, then rebuilds what it left missing (usually nothing)."""
        while (running := self._recovering.get(blob_id)) is not None:
            await running.wait()
        done = self._recovering[blob_id] = trio.Event()
        try:
            blob = blob if blob is not None else await read_blob(self._client, blob_id)
            mine = None if blob is None else self._my_columns(blob_id, blob)
            missing = set(mine or ()) - self._store.indices(blob_id)
            if not missing:
                return
            custody = await read_custody(self._client, blob_id, blob)
            cells = await gather_cells(self._peers, self._pool, custody, blob.commitment, skip=self._account.public,
                                       enough=lambda held: len(held) >= CELLS_TO_RECOVER)
            if len(cells) < CELLS_TO_RECOVER:
                log.warning("blob 0x%s: only %d verified cells among peers, %d needed to recover %d of mine",
                            blob_id.hex(), len(cells), CELLS_TO_RECOVER, len(missing))
                return
            rebuilt = await self._pool.recover(list(cells.values()))
            await trio.to_thread.run_sync(self._store.put, blob_id, [rebuilt[i] for i in sorted(missing)])
            self.metrics.inc("cairn_da_cells_recovered_total", len(missing))
            log.info("blob 0x%s: recovered %d custody cells from peers", blob_id.hex(), len(missing))
        finally:
            del self._recovering[blob_id]
            done.set()


async def _guarded(work: Awaitable[None], what: str) -> None:
    """Run ``work`` (one recovery, one audit answer, one maintenance scan); its failure is logged and ends
    nothing else. A chain that cannot be read now is a warning; any other error is a bug, logged with its
    traceback (the work catches and logs the failures it expects: peers that do not serve, a refused answer)."""
    try:
        await work
    except ChainClientError as exc:
        log.warning("%s: %s", what, exc)
    except Exception:
        log.exception("%s failed", what)


def _wanted_indices(query: str) -> frozenset[int] | None:
    """The cells ``?indices=3,17,90`` asks for (``None``: no query, every cell held)."""
    if not query:
        return None
    name, _, listed = query.partition("=")
    parts = listed.split(",")
    if name != "indices" or len(parts) > CELLS_PER_BLOB or not all(_is_index(part) for part in parts):
        raise HttpError("Malformed", f"the query is indices=<cell indices below {CELLS_PER_BLOB}, comma-separated>, "
                                     f"not {query[:80]!r}")
    return frozenset(int(part) for part in parts)


def _is_index(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 3 and int(text) < CELLS_PER_BLOB


def _blob_id(text: str) -> bytes:
    try:
        return parse_blob_id(text)
    except ValueError as exc:
        raise HttpError("Malformed", str(exc)) from None


