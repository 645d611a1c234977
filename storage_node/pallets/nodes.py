"""StorageNodes: who stores the network's fragments, what they staked, and how their audits went.

A storage node registers with an HTTP endpoint, the capacity it offers and a stake (held from its balance as
``NodeStake``, at least ``min_stake``). ``FileBank`` places fragments on active nodes, counts the bytes it
assigned (``used``), and reports every audit here: a pass raises the node's reputation; a miss or a failed
proof lowers it and slashes ``slash_fraction`` of the stake into the *slashed pool*, from which repairers are
paid; ``max_consecutive_misses`` in a row force the node out.

A node that exits (or is forced out) takes no new fragments. ``FileBank`` learns of it by draining
:meth:`StorageNodes.take_leaving` in its ``on_initialize`` and orders every fragment it holds repaired
elsewhere; each repair moves one fragment off it (or ``FileBank`` lets it go of one nobody could move within
its ``ExitPatience``, unless under a challenge or needed to rebuild its segment), and when the last one is gone (``used`` reaches 0) its stake is released and its
record removed (``NodeExited``). A node holding nothing leaves at once. Its audit
history is kept (``PastRecords``) and restored if the account registers a node again, so leaving, or being
forced out, and coming back does not wash a bad record into a new node's best reputation. (A record is three
counters per account that ever ran a node, kept for good: the cost of remembering who failed audits.)

``FileBank`` reaches this pallet only through its ``NodeRegistry`` protocol (house rule 2).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Protocol

from runtime.frame.composition import PalletDefinition
from runtime.frame.pallet import Constant, DispatchError, Origin, Pallet, call, ensure_signed
from runtime.frame.storage import StorageMap, StorageValue
from runtime.pallets.balances_types import HoldCurrency
from runtime.primitives import ACCOUNT_ID, AccountId, Balance, Bytes, is_http_endpoint
from runtime.scale import U32, U64, U128
from storage_node.pallets.rpc import NODES_RPC
from storage_node.pallets.types import ACCOUNTS, NodeHistory, NodeInfo, NodeStatus
from storage_node.pallets.weights import StorageNodesWeightInfo, StorageNodesWeights

__all__ = ["StorageNodes", "StorageNodesConfig", "StorageNodesParams", "HoldReason", "DEFINITION", "PERBILL",
           "StakeCurrency", "NodeRegistered", "NodeUpdated", "NodeExiting", "NodeSlashed", "NodeForcedOut",
           "NodeExited", "AlreadyRegistered", "NotRegistered", "StakeTooLow", "InvalidEndpoint", "ZeroCapacity",
           "CapacityBelowUsed", "NotActive", "TooManyNodes"]

PERBILL = 1_000_000_000
"""``slash_fraction`` is in parts per billion (Substrate's ``Perbill``)."""


class HoldReason(enum.IntEnum):
    """Why this pallet holds balance."""

    NodeStake = 0


class StakeCurrency(HoldCurrency, Protocol):
    """Holds for stakes, plus minting what the slashed pool pays out (Balances)."""

    def deposit(self, who: bytes, amount: int) -> None: ...


@dataclass(frozen=True)
class StorageNodesParams:
    min_stake: int = 100 * 10**12
    """100 tokens (12 decimals): enough that a slash of a few percent per missed audit costs more than the
    reward of storing a fragment for a period, small next to a dev account's 10^6 tokens."""
    max_endpoint_length: int = 256
    """Bytes of an endpoint URL: a host name (253 at most) with scheme and port fits."""
    max_nodes: int = 1_000
    """Registered nodes at most: placement and each audit round read every node once, so this bounds their
    weight (1,000 nodes ≈ 8 ms of reads)."""
    slash_fraction: int = 50_000_000
    """Perbill of the stake slashed per missed or failed audit: 5%. Three misses in a row (the forced exit)
    cost ~14% of the stake; one unlucky miss costs little."""
    max_consecutive_misses: int = 3
    """Missed or failed audits in a row that force a node out (CESS forces an exit after 3)."""


@dataclass(frozen=True)
class StorageNodesConfig:
    currency: StakeCurrency
    weights: StorageNodesWeightInfo
    min_stake: int
    max_endpoint_length: int
    max_nodes: int
    slash_fraction: int
    max_consecutive_misses: int


# --- events ---------------------------------------------------------------------------------------

Endpoint = Bytes
Capacity = Annotated[int, U64, "u64"]


@dataclass(frozen=True)
class NodeRegistered:
    """A storage node registered and put ``stake`` on hold."""

    node: AccountId
    endpoint: Endpoint
    capacity: Capacity
    stake: Balance


@dataclass(frozen=True)
class NodeUpdated:
    """A node changed its endpoint or capacity."""

    node: AccountId
    endpoint: Endpoint
    capacity: Capacity


@dataclass(frozen=True)
class NodeExiting:
    """A node asked to leave: its fragments are being repaired elsewhere."""

    node: AccountId


@dataclass(frozen=True)
class NodeSlashed:
    """A node missed or failed an audit and lost ``amount`` of its stake to the slashed pool."""

    node: AccountId
    amount: Balance


@dataclass(frozen=True)
class NodeForcedOut:
    """A node missed ``MaxConsecutiveMisses`` audits in a row: its fragments are being repaired elsewhere."""

    node: AccountId


@dataclass(frozen=True)
class NodeExited:
    """A leaving node holds nothing any more: ``released`` of its stake went back to it."""

    node: AccountId
    released: Balance


# --- errors ---------------------------------------------------------------------------------------


class AlreadyRegistered(DispatchError):
    """This account is already a storage node."""


class NotRegistered(DispatchError):
    """This account is not a storage node."""


class StakeTooLow(DispatchError):
    """The stake is below ``MinStake``."""


class InvalidEndpoint(DispatchError):
    """The endpoint is no ``http(s)://`` URL of printable ASCII, or longer than ``MaxEndpointLength`` bytes."""


class ZeroCapacity(DispatchError):
    """A node must offer some capacity."""


class CapacityBelowUsed(DispatchError):
    """The new capacity is less than what the node already stores."""


class NotActive(DispatchError):
    """The node is leaving (or was forced out)."""


class TooManyNodes(DispatchError):
    """``MaxNodes`` nodes are registered already."""


class StorageNodes(Pallet[StorageNodesConfig]):
    NAME = "StorageNodes"
    CRATE = "pallet_storage_nodes"
    HOLD_REASONS = HoldReason
    EVENTS = (NodeRegistered, NodeUpdated, NodeExiting, NodeSlashed, NodeForcedOut, NodeExited)
    ERRORS = (AlreadyRegistered, NotRegistered, StakeTooLow, InvalidEndpoint, ZeroCapacity, CapacityBelowUsed,
              NotActive, TooManyNodes)
    CONSTANTS = (
        Constant("MinStake", U128, lambda c: c.min_stake, "The least stake a node registers with."),
        Constant("MaxEndpointLength", U32, lambda c: c.max_endpoint_length, "Longest endpoint, in bytes."),
        Constant("MaxNodes", U32, lambda c: c.max_nodes, "Most registered nodes."),
        Constant("SlashFraction", U32, lambda c: c.slash_fraction, "Perbill of stake slashed per missed audit."),
        Constant("MaxConsecutiveMisses", U32, lambda c: c.max_consecutive_misses,
                 "Audits missed in a row that force a node out."),
    )

    nodes = StorageMap(ACCOUNT_ID, NodeInfo, docs="Every registered storage node.")
    node_count = StorageValue(U32, default=0, docs="How many nodes `Nodes` holds.")
    past_records = StorageMap(ACCOUNT_ID, NodeHistory, docs="The audit history of accounts whose node left: "
                              "restored when they register a node again.")
    leaving = StorageValue(ACCOUNTS, default=(), docs="Nodes that started leaving since FileBank last looked.")
    slashed_pool = StorageValue(U128, default=0, docs="Stake slashed and not yet paid to repairers.")

    # --- calls ----------------------------------------------------------------------------------

    @call(0, weight=lambda w, endpoint, capacity, stake: w.register())
    def register(self, origin: Origin, endpoint: Endpoint, capacity: Capacity, stake: Balance) -> None:
        """Register the signer as a storage node at ``endpoint`` offering ``capacity`` bytes, holding
        ``stake``, with the audit history it had if it ran a node before."""
        who = ensure_signed(origin)
        if self.nodes.contains(who):
            raise AlreadyRegistered()
        self._check_offer(endpoint, capacity)
        if stake < self.config.min_stake:
            raise StakeTooLow()
        if self.node_count.get() >= self.config.max_nodes:
            raise TooManyNodes()
        self.config.currency.hold(HoldReason.NodeStake, who, stake)
        past = self.past_records.take(who) or NodeHistory(0, 0, 0)
        self.nodes.insert(who, NodeInfo(endpoint, capacity, 0, stake, NodeStatus.Active, past.audits_passed,
                                        past.audits_missed, 0, past.repairs_done, self.block_number()))
        self.node_count.put(self.node_count.get() + 1)
        self.deposit_event(NodeRegistered(who, endpoint, capacity, stake))

    @call(1, weight=lambda w, endpoint, capacity: w.update())
    def update(self, origin: Origin, endpoint: Endpoint, capacity: Capacity) -> None:
        """Change the signer's endpoint and offered capacity (not below what it stores)."""
        who = ensure_signed(origin)
        node = self._active(who)
        self._check_offer(endpoint, capacity)
        if capacity < node.used:
            raise CapacityBelowUsed()
        self.nodes.insert(who, node.with_(endpoint=endpoint, capacity=capacity))
        self.deposit_event(NodeUpdated(who, endpoint, capacity))

    @call(2, weight=lambda w: w.exit())
    def exit(self, origin: Origin) -> None:
        """Leave: no new fragments; those held are repaired elsewhere, then the stake is released."""
        who = ensure_signed(origin)
        node = self._active(who)
        self.nodes.insert(who, node.with_(status=NodeStatus.Exiting))
        self.deposit_event(NodeExiting(who))
        if node.used == 0:
            self._finish_exit(who)
        else:
            self.leaving.put(self.leaving.get() + (who,))

    def _check_offer(self, endpoint: bytes, capacity: int) -> None:
        if not is_http_endpoint(endpoint, self.config.max_endpoint_length):
            raise InvalidEndpoint()
        if capacity == 0:
            raise ZeroCapacity()

    def _active(self, who: bytes) -> NodeInfo:
        node = self.nodes.get(who)
        if node is None:
            raise NotRegistered()
        if node.status is not NodeStatus.Active:
            raise NotActive()
        return node

    # --- NodeRegistry: what FileBank uses ---------------------------------------------------------

    def max_nodes(self) -> int:
        return self.config.max_nodes

    def node(self, who: bytes) -> NodeInfo | None:
        return self.nodes.get(who)

    def all_nodes(self) -> list[tuple[bytes, NodeInfo]]:
        """Every registered node, in storage order (at most ``max_nodes``)."""
        return list(self.nodes.items())

    def assign(self, who: bytes, size: int) -> None:
        """``size`` more bytes of fragments were placed on ``who``."""
        node = self.nodes.get(who)
        self.nodes.insert(who, node.with_(used=node.used + size))

    def unassign(self, who: bytes, size: int) -> None:
        """``size`` bytes of fragments left ``who``; a leaving node that now holds nothing is released."""
        node = self.nodes.get(who)
        if node is None:
            return
        node = node.with_(used=max(0, node.used - size))
        self.nodes.insert(who, node)
        if node.used == 0 and node.status is not NodeStatus.Active:
            self._finish_exit(who)

    def record_pass(self, who: bytes) -> None:
        node = self.nodes.get(who)
        self.nodes.insert(who, node.with_(audits_passed=node.audits_passed + 1, consecutive_misses=0))

    def record_miss(self, who: bytes) -> None:
        """Count a missed or failed audit, slash ``slash_fraction`` of the stake, and force the node out
        after ``max_consecutive_misses`` in a row."""
        node = self.nodes.get(who)
        slash = node.stake * self.config.slash_fraction // PERBILL
        unslashed = self.config.currency.slash_held(HoldReason.NodeStake, who, slash)
        slashed = slash - unslashed
        node = node.with_(stake=node.stake - slashed, audits_missed=node.audits_missed + 1,
                          consecutive_misses=node.consecutive_misses + 1)
        if slashed:
            self.slashed_pool.put(self.slashed_pool.get() + slashed)
            self.deposit_event(NodeSlashed(who, slashed))
        if node.consecutive_misses >= self.config.max_consecutive_misses and node.status is not NodeStatus.ForcedOut:
            if node.status is NodeStatus.Active:
                self.leaving.put(self.leaving.get() + (who,))
            node = node.with_(status=NodeStatus.ForcedOut)
            self.deposit_event(NodeForcedOut(who))
        self.nodes.insert(who, node)

    def record_repair(self, who: bytes) -> None:
        node = self.nodes.get(who)
        self.nodes.insert(who, node.with_(repairs_done=node.repairs_done + 1))

    def pay_from_slashed(self, who: bytes, amount: int) -> int:
        """Pay ``who`` up to ``amount`` out of the slashed pool; returns what was paid."""
        paid = min(amount, self.slashed_pool.get())
        if paid:
            self.config.currency.deposit(who, paid)
            self.slashed_pool.put(self.slashed_pool.get() - paid)
        return paid

    def take_leaving(self) -> tuple[bytes, ...]:
        """The nodes that started leaving since the last call (FileBank orders their fragments repaired)."""
        return self.leaving.take() or ()

    def _finish_exit(self, who: bytes) -> None:
        node = self.nodes.take(who)
        if node.history() != NodeHistory(0, 0, 0):
            self.past_records.insert(who, node.history())
        released = self.config.currency.release(HoldReason.NodeStake, who, node.stake, best_effort=True)
        self.node_count.put(self.node_count.get() - 1)
        self.deposit_event(NodeExited(who, released))

    def integrity_test(self) -> None:
        assert self.config.min_stake > 0, "a node must stake something: slashing is the audits' teeth"
        assert 0 < self.config.slash_fraction <= PERBILL, "slash_fraction is a Perbill in (0, 1]"
        assert self.config.max_consecutive_misses > 0
        assert self.config.max_nodes > 0


DEFINITION = PalletDefinition(pallet=StorageNodes, config=StorageNodesConfig, weights=StorageNodesWeights(),
                              params=StorageNodesParams, rpc=NODES_RPC)
