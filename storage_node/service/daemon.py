"""The storage node daemon: HTTP API, registration, and following the chain's finalized events.

``StorageNode(client, keypair, config).run()`` does, in order:

1. opens the fragment store (deleting unfinished uploads, rebuilding the index from the files);
2. serves the HTTP API (:mod:`storage_node.service.api`) with hypercorn's trio worker (:mod:`sdk.serving`);
3. registers the node on chain (stake, capacity, endpoint) if it is not registered, or updates a changed
   endpoint or capacity; a node that is leaving (``cairn storage leave``) or was forced out takes no update
   and is told so: it serves and answers audits until the chain has rebuilt its fragments elsewhere;
4. follows finalized blocks (below), then reconciles the store with the chain
   (:meth:`StorageNode._reconcile`): fragments of files deleted or placed elsewhere by the finalized chain,
   once it is past their arrival (not an RPC node's older view), are dropped, stored
   fragments the chain shows unconfirmed are confirmed, open challenges and repair orders for this node are
   answered: a restart loses nothing it acknowledged, and nothing finalized meanwhile is missed (a challenge
   or repair seen both ways is worked on once: the prover and the repairer skip what they are already doing,
   and a challenge answered meanwhile is no longer on chain);
5. reports ready (``task_status.started(port)``). Following finalized blocks: ``Challenged`` for this node →
   the prover; ``RepairOrdered`` for this node → the repairer; ``FileDeleted`` and ``FragmentReassigned`` away
   from this node, ``RepairCompleted`` by another node (this node's copy was the lost one) → the fragments are
   dropped; ``StorageNodes``' exit events for this node → a line for its operator.

The chain connection may fail at any time: the client reconnects, and a follower that loses its subscription
starts again after a pause. A bad request, a bad peer or a failed transaction is logged and counted, never
fatal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

import trio

from runtime.keyring import Keypair
from sdk.account.api import chain_token, stake_shortfall
from sdk.chain import AsyncClient, ChainClientError, ChainEvent
from sdk.serving import serve
from storage_node.pallets.types import NodeStatus
from storage_node.service.api import ApiLimits, FragmentApi
from storage_node.service.chain import ChainView
from storage_node.service.confirmer import Confirmer
from storage_node.service.metrics import NodeMetrics
from storage_node.service.prover import Prover
from storage_node.service.repairer import Repairer
from storage_node.service.replay import ReplayGuard
from storage_node.service.store import FragmentKey, FragmentStore

__all__ = ["NodeConfig", "RegistrationFailed", "StorageNode"]

log = logging.getLogger(__name__)

CONFIRM_QUEUE = 1024
"""Stored fragments waiting for their confirmation batch; a full queue holds back uploads' answers."""
RESUBSCRIBE_S = 2.0
RECONCILE_MARGIN_MS = 60_000
"""How far past a fragment's arrival the finalized chain must be for a start's reconciliation to drop it: the
node's clock and the block authors' may disagree by this much."""
READ_TIMEOUT_S = 60
"""Seconds an HTTP connection may stay silent (a stalled upload is dropped, its temporary file removed)."""
MAX_TASKS = 16
"""Proofs run at once, and repairs run at once (each holds a fragment or k of them in memory). Each has its own
limit: a burst of repairs (a node left, each taking up to minutes) queued ahead of a challenge would have
made its proof miss its deadline."""

_LEAVING = {
    "NodeExiting": "this storage node is leaving: it gets no new fragments; the ones it holds are being rebuilt on "
                   "other nodes (keep it running: it is still audited), then its stake is released",
    "NodeForcedOut": "this storage node was forced out for missing audits in a row: it gets no new fragments; the "
                     "ones it holds are being rebuilt on other nodes, then its stake left is released",
    "NodeExited": "this storage node has left: {released} of its stake was released; it holds and gets nothing "
                  "(started again, it registers anew)",
}
"""What the operator is told when the chain moves this node out, by event."""


class RegistrationFailed(Exception):
    """The chain refused this node's registration (too little stake or balance, a bad endpoint...)."""


@dataclass(frozen=True)
class NodeConfig:
    base_path: Path
    capacity: int
    """Bytes this node offers (registered on chain, enforced by the store)."""
    stake: int
    """Held on registration."""
    http_host: str = "127.0.0.1"
    http_port: int = 0
    """0: any free port (reported by ``run``)."""
    public_url: str | None = None
    """The endpoint registered on chain; ``http://<host>:<port>`` when None."""
    min_free_disk: int = 256 << 20
    """Bytes of the disk that must stay free: uploads past it are refused with 507."""
    max_fragment_size: int = 64 << 20
    max_reads: int = ApiLimits.max_reads
    """Fragment reads served at once (:class:`~storage_node.service.api.ApiLimits`)."""
    confirm_batch: int = 64
    confirm_delay: float = 0.5
    """Seconds a confirmation waits at most for more of its file's fragments to share its transaction."""
    confirm_idle: float = 0.05
    """Seconds without a new fragment after which a confirmation stops waiting for more."""


class StorageNode:
    """Start with ``port = await nursery.start(node.run)``; cancel the nursery to stop it."""

    def __init__(self, client: AsyncClient, keypair: Keypair, config: NodeConfig) -> None:
        self.client, self.keypair, self.config = client, keypair, config
        self.account = keypair.public
        self.store = FragmentStore(config.base_path / "store", config.capacity, min_free=config.min_free_disk)
        self.chain = ChainView(client, self.account)
        self.metrics = NodeMetrics()
        self.prover = Prover(client, keypair, self.chain, self.store, self.metrics)
        self.repairer = Repairer(client, keypair, self.chain, self.store, self.metrics)
        self._reconciling = False
        self._proving = trio.CapacityLimiter(MAX_TASKS)
        self._repairing = trio.CapacityLimiter(MAX_TASKS)
        self._confirm_send, self._confirm_receive = trio.open_memory_channel[FragmentKey](CONFIRM_QUEUE)

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        await trio.to_thread.run_sync(self.store.open)
        limits = ApiLimits(self.config.max_fragment_size, max_reads=self.config.max_reads)
        api = FragmentApi(self.store, self.chain, ReplayGuard(limits.auth_window_ms), self.metrics,
                          self._confirm_send.clone(), limits=limits)
        async with trio.open_nursery() as nursery:
            port = await nursery.start(self._serve, api)
            await self._register(self.config.public_url or f"http://{self.config.http_host}:{port}")
            await nursery.start(Confirmer(self.client, self.keypair, self._confirm_receive, self.metrics,
                                          batch=self.config.confirm_batch, delay=self.config.confirm_delay,
                                          idle=self.config.confirm_idle).run)
            await nursery.start(self._follow, nursery)  # following first: nothing finalized meanwhile is missed
            await self._reconcile(nursery)
            log.info("storage node 0x%s serving on port %d, %d fragment(s) stored", self.account.hex(), port,
                     self.store.fragment_count)
            task_status.started(port)

    async def _serve(self, api: FragmentApi, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        await serve(api, self.config.http_host, self.config.http_port, read_timeout=READ_TIMEOUT_S,
                    task_status=task_status)

    # --- registration ---------------------------------------------------------------------------------

    async def _register(self, endpoint: str) -> None:
        info = await self.chain.registered()
        if info is not None and info.status is not NodeStatus.Active:  # the chain takes no update from it
            moved = bytes(info.endpoint) != endpoint.encode()
            log.warning("this storage node is %s on chain: it gets no new fragments; the ones it holds are being "
                        "rebuilt on other nodes, and its stake left is released once they are (it is still "
                        "audited until then; started again after that, it registers anew)%s", info.status.name,
                        f"; readers still find it at {bytes(info.endpoint).decode(errors='replace')}, not here"
                        if moved else "")
            return
        if info is None:
            call = self.client.compose_call("StorageNodes", "register", {
                "endpoint": endpoint.encode(), "capacity": self.config.capacity, "stake": self.config.stake})
            shortfall = await stake_shortfall(self.client, self.keypair.public, self.config.stake,
                                              self.client.get_constant("StorageNodes", "MinStake"), call)
            if shortfall is not None:
                raise RegistrationFailed(f"not registering this storage node: {shortfall}")
        elif bytes(info.endpoint) != endpoint.encode() or info.capacity != self.config.capacity:
            call = self.client.compose_call("StorageNodes", "update", {
                "endpoint": endpoint.encode(), "capacity": self.config.capacity})
        else:
            return
        receipt = await self.client.sign_and_submit(call, self.keypair, wait_for_inclusion=True)
        if not receipt.is_success:
            raise RegistrationFailed(f"the chain refused registering this storage node: {receipt.error_message}")
        log.info("registered as a storage node at %s (capacity %d bytes)", endpoint, self.config.capacity)

    # --- reconciliation -------------------------------------------------------------------------------

    async def _reconcile(self, nursery: trio.Nursery) -> None:
        """Bring the store in line with the chain after a start (see the module docstring, step 4)."""
        # challenges and repair orders first: they have deadlines, and a large store takes a while to go through
        for challenge_id in await self.chain.open_challenges():
            nursery.start_soon(self._limited, self._proving, self.prover.answer, challenge_id)
        for file_id, segment, fragment in await self.chain.repair_orders_for_me():
            nursery.start_soon(self._limited, self._repairing, self.repairer.repair,
                               FragmentKey(file_id, segment, fragment))
        final, final_ms = await self.chain.finalized_time()
        for key in self.store.keys():
            if await self._not_mine(key, final, final_ms):
                await self._drop(key)
            elif (await self.chain.assigned_to_me(key.file_id, key.segment, key.fragment)
                  and not await self.chain.confirmed(key.file_id, key.segment, key.fragment)):
                await self._confirm_send.send(key)

    async def _not_mine(self, key: FragmentKey, final: bytes, final_ms: int) -> bool:
        """Whether the chain, as finalized after the fragment arrived, has deleted its file or placed it on
        another node (with no repair of this node's rebuilding it open): only then is it dropped. An RPC node
        behind (a start against a lagging one, a failover) shows an older chain, where a file declared, or a
        fragment moved here, since is not yet, and acknowledged fragments were lost to it: its word is taken
        only once its finalized time is past the fragment's arrival (by a margin for clocks that disagree)."""
        arrived = self.store.stored_at_ms(key)
        if arrived is None or final_ms < arrived + RECONCILE_MARGIN_MS:
            return False
        stored = await self.chain.file_at(key.file_id, final)
        if stored is None:
            return True
        if await self.chain.assigned_to_me(key.file_id, key.segment, key.fragment, at=final):
            return False
        # the repairer of an open order of the segment keeps it (a repair it was too late for: the order stays)
        return not await self.chain.repairer_of_segment(key.file_id, key.segment, self.account,
                                                        stored.fragment_count, at=final)

    async def _reconcile_again(self, nursery: trio.Nursery) -> None:
        """Reconcile after a resubscription; a chain lost again meanwhile is a warning (the next subscription
        reconciles again), anything else a bug to log. The caller set ``_reconciling``; this clears it."""
        try:
            await self._reconcile(nursery)
        except ChainClientError as exc:
            log.warning("reconciling with the chain: %s", exc)
        except Exception:
            log.exception("reconciling failed")
        finally:
            self._reconciling = False

    # --- following the chain --------------------------------------------------------------------------

    async def _follow(self, nursery: trio.Nursery, *,
                      task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Act on each finalized block's storage events; ``started`` once the first subscription is open. A new
        subscription starts at the chain's head, so after a lost one the node reconciles with the chain as at a
        start: a challenge, a repair order or a deletion in the blocks between is found in the chain's state."""
        waiting: trio.TaskStatus[None] | None = task_status
        while True:
            try:
                async with self.client.subscribe_events(("FileBank", "StorageNodes"), finalized=True) as blocks:
                    if waiting is not None:
                        waiting.started()
                        waiting = None
                    elif not self._reconciling:  # one at a time: a flapping subscription does not stack scans
                        self._reconciling = True
                        nursery.start_soon(self._reconcile_again, nursery)
                    async for block in blocks:
                        self.metrics.event_block = block.block_number
                        for event in block.events:
                            await self._guarded(self._on_event(event, nursery), f"event {event.name}")
            except ChainClientError as exc:
                log.warning("following finalized events: %s; subscribing again in %.0f s", exc, RESUBSCRIBE_S)
            await trio.sleep(RESUBSCRIBE_S)

    async def _on_event(self, event: ChainEvent, nursery: trio.Nursery) -> None:
        fields: dict[str, Any] = event.attributes
        me = self.account
        if event.name == "Challenged" and fields.get("node") == me:
            nursery.start_soon(self._limited, self._proving, self.prover.answer, fields["challenge_id"])
        elif event.name == "RepairOrdered" and fields.get("repairer") == me:
            key = FragmentKey(fields["file_id"], fields["segment"], fields["fragment"])
            nursery.start_soon(self._limited, self._repairing, self.repairer.repair, key)
        elif event.name == "FragmentReassigned" and fields.get("from") == me:
            await self._drop(FragmentKey(fields["file_id"], fields["segment"], fields["fragment"]))
        elif event.name == "RepairCompleted" and fields.get("repairer") != me:
            await self._drop(FragmentKey(fields["file_id"], fields["segment"], fields["fragment"]))
        elif event.name == "FileDeleted":
            self.chain.forget_file(fields["file_id"])
            dropped = await trio.to_thread.run_sync(self.store.remove_file, fields["file_id"])
            self.metrics.dropped += dropped
        elif event.name in _LEAVING and fields.get("node") == me:
            released = fields.get("released")  # NodeExited's, in units: the operator reads tokens
            shown = {} if released is None else {"released": (await chain_token(self.client)).format(released)}
            log.warning("%s", _LEAVING[event.name].format(**{**fields, **shown}))

    async def _drop(self, key: FragmentKey) -> None:
        if await trio.to_thread.run_sync(self.store.remove, key):
            self.metrics.dropped += 1
            log.info("dropped fragment %s (no longer placed here)", key)

    async def _limited(self, limiter: trio.CapacityLimiter, job: Callable[[Any], Awaitable[None]],
                       argument: object) -> None:
        async with limiter:
            await self._guarded(job(argument), f"{job.__name__}({argument})")

    @staticmethod
    async def _guarded(work: Awaitable[None], what: str) -> None:
        """Run ``work``; an unexpected error is a bug to log, never the end of the daemon (the jobs catch and
        count the failures they expect)."""
        try:
            await work
        except Exception:
            log.exception("%s failed", what)
