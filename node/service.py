"""The validator/full node: the composition root that builds the node's services on one chain and runs them.

    Node.run
     ├─ network (node.network)          peers, gossip topics, request/response
     ├─ sync (services.sync)            block announcements and range requests → block import
     ├─ admission (services.admission)  transactions: validation, pool, watchers, gossip
     ├─ finality (services.finality)    GRANDPA-style rounds, justifications, commits
     ├─ authorship (services.authorship) in our Aura slots (validators only)
     └─ rpc (node.rpc + node.api)       Substrate JSON-RPC, plus the namespaces the runtime's pallets add

The constructor takes the configuration and its collaborators and does no I/O (DESIGN.md rule 5); ``run``
opens the keystore and the database, builds the services and starts them in its nursery, and closes the
database however it ends. ``Node`` is also the :class:`~node.api.methods.NodeHandle` the RPC methods use: it
answers them by asking the services, and holds no chain logic of its own.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import trio

from node.api.errors import refusal_error, runtime_call_error, state_at
from node.api.explorer import explorer_module
from node.api.methods import build_module
from node.api.pallet_rpc import pallet_rpc_module
from node.blocktree import BlockTree
from node.broadcast import Broadcaster
from node.chain import Chain
from node.chain_spec import ChainSpec
from node.clock import SlotClock
from node.keystore import SESSION_KEY_TYPE, Keystore
from node.network import NetworkService
from node.network.peers import Direction
from node.rpc.registry import RpcModule
from node.rpc.subscriptions import Subscription
from node.services.admission import Admission
from node.services.authorship import Authorship
from node.services.block_import import BlockImport
from node.services.finality import Finality
from node.services.sync import Sync
from node.txpool import TxPool
from runtime.apis import RuntimeApi, RuntimeApiError
from runtime.cairn import CairnRuntime, RuntimeVersion
from runtime.primitives import Header

__all__ = ["Node", "NodeConfig"]

log = logging.getLogger("cairn.node")

class Service(Protocol):
    """A trio service (DESIGN.md rule 5)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None: ...


@dataclass(frozen=True)
class NodeConfig:
    spec: ChainSpec
    base_path: Path
    name: str = "cairn-node"
    validator: bool = False
    """Author blocks and vote on finality with whichever keystore key the current authority set names."""
    session_key_uri: str | None = None
    """A secret URI (``//Alice``, ``0x<seed>``) put into the keystore at start (``--key``)."""
    authoring_fraction: float = 0.5
    """Share of a slot the author may spend building its block (the rest carries it to peers)."""
    version: str = "0.1.0"


def _warm_up(runtime: CairnRuntime) -> None:
    """The runtime's one-time preparations, in a thread of its own at the lowest CPU priority (Linux gives a
    thread its own nice value), so they use what block production leaves idle."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (OSError, AttributeError):
        pass  # another OS: at normal priority
    runtime.warm_up()


class Node:
    def __init__(self, config: NodeConfig, network: NetworkService,
                 rpc_factory: Callable[[RpcModule], Service] | None = None) -> None:
        """``rpc_factory(module)`` builds the RPC server for the method module (``None``: no RPC). The module
        holds Substrate's methods and every namespace the runtime's pallets add (``PalletDefinition.rpc``)."""
        self.config = config
        self.network = network
        self.clock = SlotClock(config.spec.slot_duration_ms)
        self._rpc_factory = rpc_factory
        self._started: _Services | None = None
        spec = config.spec
        self.chain_name, self.chain_type, self.properties = spec.name, spec.chain_type, spec.properties
        self.node_name, self.node_version = config.name, config.version

    # --- lifecycle ------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        keystore = Keystore(config.base_path / "keystore")
        if config.session_key_uri is not None:
            keystore.insert(SESSION_KEY_TYPE, config.session_key_uri)
        chain = Chain.open(config.spec, config.base_path / "db")
        threading.Thread(target=_warm_up, args=(chain.runtime,), name="runtime-warm-up", daemon=True).start()
        try:
            services = self._started = self._build(chain, keystore)
            async with trio.open_nursery() as nursery:
                await nursery.start(self.network.run)
                for service in services.in_start_order():
                    await nursery.start(service.run)
                if self._rpc_factory is not None:
                    await nursery.start(self._rpc_factory(self._rpc_module()).run)
                tree = chain.tree
                log.info("node %s up: chain %s, genesis 0x%s, best #%d, finalized #%d", self.node_name,
                         self.chain_name, tree.genesis_hash.hex(), tree.best.number, tree.finalized.number)
                if config.validator and keystore.key_for(chain.authority_set(tree.best.state).authorities) is None:
                    log.warning("validator without a key of the current authority set: it will author and vote "
                                "once one is inserted (author_insertKey) or rotated in (author_rotateKeys)")
                task_status.started()
        finally:
            chain.close()

    def _build(self, chain: Chain, keystore: Keystore) -> "_Services":
        config, network = self.config, self.network
        block_lane = trio.CapacityLimiter(1)  # one block executes at a time: ours or a peer's
        block_import = BlockImport(chain, self.clock, block_lane)
        finality = Finality(chain, keystore, network, self.clock, validator=config.validator)
        sync = Sync(chain, block_import, finality, network, expect_peers=len(config.spec.authorities) > 1)
        admission = Admission(chain, network)
        authorship = (Authorship(chain, admission.pool, keystore, self.clock, sync, network, block_lane,
                                 authoring_fraction=config.authoring_fraction) if config.validator else None)
        return _Services(chain, keystore, RuntimeApi(chain.runtime), sync, admission, finality, authorship)

    def _rpc_module(self) -> RpcModule:
        module = build_module(self)
        module.merge(pallet_rpc_module(self.services.chain))
        module.merge(explorer_module(self.services.chain))
        return module

    @property
    def services(self) -> "_Services":
        if self._started is None:
            raise RuntimeError("the node has not started")
        return self._started

    # --- NodeHandle: what the RPC methods read ------------------------------------------------------

    @property
    def tree(self) -> BlockTree:
        return self.services.chain.tree

    @property
    def pool(self) -> TxPool:
        return self.services.admission.pool

    @property
    def keystore(self) -> Keystore:
        return self.services.keystore

    @property
    def runtime_version(self) -> RuntimeVersion:
        return self.services.chain.runtime.VERSION

    @property
    def metadata(self) -> bytes:
        return self.services.chain.runtime.metadata

    @property
    def new_heads(self) -> Broadcaster[Header]:
        return self.services.chain.new_heads

    @property
    def finalized_heads(self) -> Broadcaster[Header]:
        return self.services.chain.finalized_heads

    @property
    def imported_heads(self) -> Broadcaster[Header]:
        return self.services.chain.imported_heads

    async def runtime_call(self, method: str, params: bytes, at: bytes) -> bytes:
        services = self.services
        state = await state_at(services.chain.tree, at, services.runtime_calls)
        try:
            return await trio.to_thread.run_sync(services.runtime_api.call, method, params, state, at,
                                                 limiter=services.runtime_calls)
        except RuntimeApiError as exc:
            raise runtime_call_error(exc) from None

    async def submit_extrinsic(self, raw: bytes, *, watch: Subscription | None = None) -> bytes:
        (outcome,) = await self.services.admission.submit([raw], watch=watch)
        if not isinstance(outcome, bytes):
            raise refusal_error(outcome)
        return outcome

    def account_next_index(self, who: bytes) -> int:
        return self.services.admission.next_nonce(who)

    def health(self) -> dict:
        return {"peers": len(self.network.peers()), "isSyncing": self.services.sync.is_syncing,
                "shouldHavePeers": len(self.config.spec.authorities) > 1}

    def peers(self) -> list[dict]:
        statuses = self.services.sync.peer_status
        genesis = self.tree.genesis_hash
        out = []
        for info in self.network.peers():
            status = statuses.get(info.peer_id)
            out.append({"peerId": str(info.peer_id), "roles": "AUTHORITY",
                        "bestHash": "0x" + (status.best_hash if status else genesis).hex(),
                        "bestNumber": status.best_number if status else 0})
        return out

    def sync_state(self) -> dict:
        return {"startingBlock": 0, "currentBlock": self.tree.best.number,
                "highestBlock": self.services.sync.highest_known()}

    def round_state(self) -> dict:
        return self.services.finality.round_state()

    def local_peer_id(self) -> str:
        return str(self.network.local_peer_id)

    def local_listen_addresses(self) -> list[str]:
        return [str(self.network.listen_address)]

    def node_roles(self) -> list[str]:
        return ["Authority"] if self.config.validator else ["Full"]

    def network_state(self) -> dict:
        network = self.network
        return {
            "peerId": str(network.local_peer_id),
            "listenedAddresses": self.local_listen_addresses(),
            "connectedPeers": {str(info.peer_id): {
                "endpoint": {"dialing" if info.direction is Direction.OUTBOUND else "listening": str(info.address)},
                "reputation": info.reputation, "connectedSince": info.connected_since,
                "latestPingTime": info.round_trip_time} for info in network.peers()},
            "bannedPeers": sorted(str(p) for p in network.reputations() if network.is_banned(p)),
            "statistics": dataclasses.asdict(network.statistics()),
        }


@dataclass(frozen=True)
class _Services:
    """What ``Node.run`` built: the chain and the services on it."""

    chain: Chain
    keystore: Keystore
    runtime_api: RuntimeApi
    sync: Sync
    admission: Admission
    finality: Finality
    authorship: Authorship | None
    runtime_calls: trio.CapacityLimiter = field(default_factory=lambda: trio.CapacityLimiter(1))
    """``state_call`` runs in a worker, one at a time, so a flood of them never takes the block lane."""

    def in_start_order(self) -> list[Service]:
        """Followers of the chain first, the author last (it waits for sync anyway)."""
        return [s for s in (self.admission, self.finality, self.sync, self.authorship) if s is not None]
