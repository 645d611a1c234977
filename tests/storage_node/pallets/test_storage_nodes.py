"""StorageNodes, FRAME-style: registration with stake, capacity and endpoint, updates, exits."""

from __future__ import annotations

from dataclasses import replace

import pytest

from runtime.frame.pallet import BadOrigin, Origin
from runtime.frame.due import DueQueue
from runtime.frame.testing import assert_last_event, assert_noop
from runtime.pallets.system import System
from runtime.pallets.balances import InsufficientBalance
from storage_node.pallets.file_bank import FileBank, FragmentReleased, RepairCompleted, RepairOrdered
from storage_node.pallets.nodes import (
    AlreadyRegistered,
    CapacityBelowUsed,
    InvalidEndpoint,
    HoldReason,
    NodeExited,
    NodeExiting,
    NodeRegistered,
    NodeUpdated,
    NotActive,
    NotRegistered,
    StakeTooLow,
    StorageNodes,
    TooManyNodes,
    ZeroCapacity,
)
from storage_node.pallets.types import FileStatus, NodeInfo, NodeStatus, RepairOrder, RepairReason

from .mock import (ALICE, CAPACITY, ENDOWMENT, NODES, STAKE, confirm_all, declare, free, held, new_ext, next_block,
                   run_to)


def register(ext, who, endpoint=b"http://127.0.0.1:7000", capacity=CAPACITY, stake=STAKE):
    ext.dispatch(Origin.signed(who), "StorageNodes", "register", endpoint=endpoint, capacity=capacity, stake=stake)


def test_register_holds_stake_and_records_the_node():
    ext = new_ext(nodes=0)
    with ext:
        register(ext, ALICE)
        assert ext.pallet(StorageNodes).nodes.get(ALICE) == NodeInfo(
            b"http://127.0.0.1:7000", CAPACITY, 0, STAKE, NodeStatus.Active, 0, 0, 0, 0, 1)
        assert held(ext, HoldReason.NodeStake, ALICE) == STAKE
        assert free(ext, ALICE) == ENDOWMENT - STAKE
        assert_last_event(ext, NodeRegistered(ALICE, b"http://127.0.0.1:7000", CAPACITY, STAKE))


@pytest.mark.parametrize("origin, args, error", [
    (Origin.none(), {}, BadOrigin),
    (Origin.signed(NODES[0]), {}, AlreadyRegistered),
    (Origin.signed(ALICE), {"stake": 999}, StakeTooLow),
    (Origin.signed(ALICE), {"stake": ENDOWMENT + 1}, InsufficientBalance),
    (Origin.signed(ALICE), {"endpoint": b"x" * 257}, InvalidEndpoint),
    (Origin.signed(ALICE), {"endpoint": b""}, InvalidEndpoint),
    (Origin.signed(ALICE), {"endpoint": b"http://node\x00"}, InvalidEndpoint),
    (Origin.signed(ALICE), {"endpoint": b"127.0.0.1:7000"}, InvalidEndpoint),  # no scheme
    (Origin.signed(ALICE), {"capacity": 0}, ZeroCapacity),
])
def test_register_refuses_bad_input_and_changes_nothing(origin, args, error):
    ext = new_ext(nodes=1)
    call = {"endpoint": b"http://a", "capacity": CAPACITY, "stake": STAKE, **args}
    with ext:
        assert_noop(ext, error, ext.dispatch, origin, "StorageNodes", "register", **call)


def test_register_refuses_past_max_nodes():
    ext = new_ext(nodes=2, params={"StorageNodes": {"max_nodes": 2}})
    with ext:
        assert_noop(ext, TooManyNodes, register, ext, ALICE)


def test_update_changes_endpoint_and_capacity_but_not_below_used():
    ext = new_ext(nodes=6)
    with ext:
        node = NODES[0]
        ext.dispatch(Origin.signed(node), "StorageNodes", "update", endpoint=b"http://moved", capacity=5000)
        assert_last_event(ext, NodeUpdated(node, b"http://moved", 5000))
        assert ext.pallet(StorageNodes).nodes.get(node).capacity == 5000
        declare(ext, ALICE, 3000, m=3)  # six fragments per segment: one on every node
        used = ext.pallet(StorageNodes).nodes.get(node).used
        assert used > 0
        assert_noop(ext, CapacityBelowUsed, ext.dispatch, Origin.signed(node), "StorageNodes", "update",
                    endpoint=b"http://moved", capacity=used - 1)
        assert_noop(ext, NotRegistered, ext.dispatch, Origin.signed(ALICE), "StorageNodes", "update",
                    endpoint=b"http://a", capacity=1)


def test_exit_of_an_empty_node_releases_its_stake_at_once():
    ext = new_ext(nodes=1)
    with ext:
        ext.dispatch(Origin.signed(NODES[0]), "StorageNodes", "exit")
        assert ext.pallet(StorageNodes).nodes.get(NODES[0]) is None
        assert held(ext, HoldReason.NodeStake, NODES[0]) == 0
        assert free(ext, NODES[0]) == ENDOWMENT
        events = ext.events()
        assert events.index(NodeExiting(NODES[0])) < events.index(NodeExited(NODES[0], STAKE))
        assert_noop(ext, NotRegistered, ext.dispatch, Origin.signed(NODES[0]), "StorageNodes", "exit")


def test_a_node_registered_again_keeps_its_audit_history():
    """A new node starts at the best reputation: leaving must not wash a record back to it."""
    ext = new_ext(nodes=1)
    with ext:
        nodes = ext.pallet(StorageNodes)
        nodes.record_pass(NODES[0])
        nodes.record_miss(NODES[0])
        nodes.record_repair(NODES[0])
        before = nodes.nodes.get(NODES[0])
        assert before.reputation_permill() < 1000
        ext.dispatch(Origin.signed(NODES[0]), "StorageNodes", "exit")
        assert nodes.past_records.get(NODES[0]) == before.history()
        register(ext, NODES[0])
        again = nodes.nodes.get(NODES[0])
        assert again.history() == before.history() and again.reputation_permill() == before.reputation_permill()
        assert again.consecutive_misses == 0 and nodes.past_records.get(NODES[0]) is None


def test_a_node_forced_out_by_missed_audits_keeps_its_record_when_it_registers_again():
    ext = new_ext(nodes=1)
    with ext:
        nodes = ext.pallet(StorageNodes)
        nodes.assign(NODES[0], 100)  # a fragment it failed the audits of
        for _ in range(nodes.config.max_consecutive_misses):
            nodes.record_miss(NODES[0])
        assert nodes.nodes.get(NODES[0]).status is NodeStatus.ForcedOut
        nodes.unassign(NODES[0], 100)  # rebuilt elsewhere: its last fragment, so it is gone
        assert nodes.nodes.get(NODES[0]) is None
        assert nodes.past_records.get(NODES[0]).audits_missed == nodes.config.max_consecutive_misses
        register(ext, NODES[0], stake=STAKE)
        again = nodes.nodes.get(NODES[0])
        assert again.audits_missed == nodes.config.max_consecutive_misses and again.consecutive_misses == 0
        assert again.reputation_permill() == 1000 // (nodes.config.max_consecutive_misses + 1)


def test_exit_orders_every_fragment_repaired_and_releases_the_stake_once_they_moved():
    ext = new_ext(nodes=6)
    with ext:
        stored = declare(ext, ALICE, 3000)
        confirm_all(ext, stored)
        bank, registry = ext.pallet(FileBank), ext.pallet(StorageNodes)
        leaver = bank.placements.get(stored.file_id, 0)[0]
        held_fragments = bank.fragment_count.get(leaver)
        ext.dispatch(Origin.signed(leaver), "StorageNodes", "exit")
        assert registry.nodes.get(leaver).status is NodeStatus.Exiting
        assert_noop(ext, NotActive, ext.dispatch, Origin.signed(leaver), "StorageNodes", "exit")
        next_block(ext)
        orders = [e for e in ext.events() if isinstance(e, RepairOrdered)]
        assert len(orders) == held_fragments
        assert all(e.reason is RepairReason.NodeExit and e.repairer not in (None, leaver) for e in orders)
        for order in orders:
            ext.dispatch(Origin.signed(order.repairer), "FileBank", "confirm_repair", file_id=order.file_id,
                         segment=order.segment, fragment=order.fragment)
        assert registry.nodes.get(leaver) is None
        assert NodeExited(leaver, STAKE) in ext.events()
        assert free(ext, leaver) == ENDOWMENT
        assert bank.fragment_count.get(leaver) == 0


NO_AUDITS = {"FileBank": {"audit_period": 1_000}}
"""(Audits would challenge the leaving node, which these tests do not run.)"""


def wide_file(ext, size: int):
    """An active file as wide as the network of 5 (k + m = 5: no spare node), its FileBank and the node of its
    segment 0's fragment 0."""
    stored = declare(ext, ALICE, size)
    confirm_all(ext, stored)
    bank = ext.pallet(FileBank)
    return stored, bank, bank.placements.get(stored.file_id, 0)[0]


def test_a_leaving_node_whose_fragments_nobody_can_rebuild_is_let_go_of_them_after_its_patience():
    """A file as wide as the network leaves no spare node for a leaving node's fragments (and a segment below
    k, or one whose fragments do not decode as one code, cannot be rebuilt by anyone): its exit waited for
    ever, its stake held, while anyone renewed the file. ``exit_patience`` after its orders the node is let go
    of the fragments and exits; they stay ordered and unhealthy, and a node that joins later rebuilds them."""
    ext = new_ext(nodes=5, params=NO_AUDITS)
    with ext:
        stored, bank, leaver = wide_file(ext, 3000)
        registry = ext.pallet(StorageNodes)
        ext.dispatch(Origin.signed(leaver), "StorageNodes", "exit")
        ordered_at = next_block(ext)
        orders = [e for e in ext.events() if isinstance(e, RepairOrdered)]
        assert len(orders) == 2 and {e.repairer for e in orders} == {None}
        run_to(ext, ordered_at + 12)
        assert registry.nodes.get(leaver).status is NodeStatus.Exiting  # patience not spent yet
        events = []
        while ext.pallet(System).number.get() < ordered_at + 22:
            next_block(ext)
            events += ext.events()
        released = {(e.segment, e.fragment) for e in events if isinstance(e, FragmentReleased)}
        assert released == {(e.segment, e.fragment) for e in orders}
        assert registry.nodes.get(leaver) is None and NodeExited(leaver, STAKE) in events
        assert free(ext, leaver) == ENDOWMENT and bank.fragment_count.get(leaver) == 0
        assert all(bank.repair_orders.contains(stored.file_id, key) for key in released)
        assert bank.files.get(stored.file_id).status is FileStatus.Degraded

        ext.dispatch(Origin.signed(NODES[5]), "StorageNodes", "register", endpoint=b"http://node-5",
                     capacity=CAPACITY, stake=STAKE)
        run_to(ext, max(bank.repair_orders.get(stored.file_id, key).deadline for key in released) + 1)
        for segment, fragment in released:
            assert bank.repair_orders.get(stored.file_id, (segment, fragment)).repairer == NODES[5]
            ext.dispatch(Origin.signed(NODES[5]), "FileBank", "confirm_repair", file_id=stored.file_id,
                         segment=segment, fragment=fragment)
            assert RepairCompleted(stored.file_id, segment, fragment, NODES[5], 0) in ext.events()
            assert bank.placements.get(stored.file_id, segment)[fragment] == NODES[5]
        assert bank.files.get(stored.file_id).status is FileStatus.Active
        info = bank.files.get(stored.file_id)
        assert registry.nodes.get(NODES[5]).used == sum(info.fragment_size_of(segment) for segment, _ in released)


def released(ext, stored, leaver) -> tuple[int, set[tuple[int, int]]]:
    """``leaver`` exits a file as wide as the network (nothing can take its fragments) and is let go of them;
    (the block its orders were made at, the (segment, fragment) pairs released)."""
    ext.dispatch(Origin.signed(leaver), "StorageNodes", "exit")
    ordered_at = next_block(ext)
    events = []
    while ext.pallet(System).number.get() < ordered_at + 22:
        next_block(ext)
        events += ext.events()
    return ordered_at, {(e.segment, e.fragment) for e in events if isinstance(e, FragmentReleased)}


def test_a_node_registered_again_after_its_fragments_were_released_rebuilds_them_as_any_repairer():
    """The placement still names the departed account: registered again, it was taken for the fragment's own
    node, its repair confirmed without indexing the fragment on it, and the file counted a fragment healthy
    that no node held or was audited on. It is a repairer like any other now, paid and indexed."""
    ext = new_ext(nodes=5, params=NO_AUDITS)
    with ext:
        stored, bank, leaver = wide_file(ext, 3000)
        _, gone = released(ext, stored, leaver)
        assert len(gone) == 2 and ext.pallet(StorageNodes).nodes.get(leaver) is None
        ext.dispatch(Origin.signed(leaver), "StorageNodes", "register", endpoint=b"http://node-0", capacity=CAPACITY,
                     stake=STAKE)
        run_to(ext, max(bank.repair_orders.get(stored.file_id, key).deadline for key in gone) + 1)
        for segment, fragment in gone:
            assert bank.repair_orders.get(stored.file_id, (segment, fragment)).repairer == leaver
            ext.dispatch(Origin.signed(leaver), "FileBank", "confirm_repair", file_id=stored.file_id,
                         segment=segment, fragment=fragment)
            assert bank.fragments_of.contains(leaver, (stored.file_id, segment, fragment))
        info = bank.files.get(stored.file_id)
        assert info.status is FileStatus.Active and bank.fragment_count.get(leaver) == 2
        assert ext.pallet(StorageNodes).nodes.get(leaver).used == sum(info.fragment_size_of(s) for s, _ in gone)


def test_a_node_registered_again_is_not_ordered_to_rebuild_another_fragment_of_a_segment_that_still_names_it():
    """Named by the placement of the fragment it was let go of, it may rebuild that one only: ordered another
    fragment of the segment, its confirmation would be refused (a node holds one fragment of a segment)."""
    ext = new_ext(nodes=5, params=NO_AUDITS)
    with ext:
        stored, bank, leaver = wide_file(ext, 1000)  # one segment
        _, gone = released(ext, stored, leaver)
        assert gone == {(0, 0)}
        ext.dispatch(Origin.signed(leaver), "StorageNodes", "register", endpoint=b"http://node-0", capacity=CAPACITY,
                     stake=STAKE)
        other = bank.placements.get(stored.file_id, 0)[1]  # leaves too: its fragment is ordered
        ext.dispatch(Origin.signed(other), "StorageNodes", "exit")
        next_block(ext)
        assert bank.repair_orders.get(stored.file_id, (0, 1)).repairer != leaver


@pytest.mark.parametrize("hold", ["challenged", "the copy the segment needs", "active"])
def test_a_fragment_is_not_released_while_challenged_needed_to_rebuild_its_segment_or_its_node_is_active(hold):
    ext = new_ext(nodes=5, params=NO_AUDITS)
    with ext:
        stored, bank, leaver = wide_file(ext, 1000)  # one segment
        key = (stored.file_id, (0, 0))
        if hold == "challenged":
            bank.challenged.insert(*key, 1)
        elif hold == "the copy the segment needs":  # two others lost: with the leaver's copy it has k = 3
            for fragment in (1, 2):
                bank.confirmed.mutate(stored.file_id, 0, lambda flags, f=fragment: flags[:f] + (False,) + flags[f + 1:])
        if hold == "active":  # an active node's fragment under an order nobody completes (its own node rebuilds)
            n = ext.pallet(System).number.get()
            bank.repair_orders.insert(*key, RepairOrder(leaver, n, n + 5, RepairReason.AuditMissed))
            bank.confirmed.mutate(stored.file_id, 0, lambda flags: (False,) + flags[1:])
            DueQueue(bank.repair_expiries, bank.repair_expiries_cursor).push(n + 6, (stored.file_id, 0, 0))
        else:
            ext.dispatch(Origin.signed(leaver), "StorageNodes", "exit")
        ordered_at = next_block(ext)
        run_to(ext, ordered_at + 30)
        assert bank.fragments_of.contains(leaver, (stored.file_id, 0, 0))
        if hold == "challenged":
            bank.challenged.remove(*key)
            run_to(ext, ordered_at + 40)
            assert not bank.fragments_of.contains(leaver, (stored.file_id, 0, 0))


@pytest.mark.parametrize("lost, failed, kept", [
    ((2, 3), (), 2),      # with either copy alone the segment is below k = 3, with both it is rebuilt: both kept
    ((2,), (), 1),        # the healthy two and either copy make k: one is let go of, the other kept
    ((2, 3, 4), (), 0),   # even with both it is below k: both let go of
    ((2, 3), (1,), 0),    # one copy failed an audit: it may not be there, and the other alone is too few
])
def test_leaving_nodes_are_let_go_of_every_copy_but_those_the_segment_needs_to_keep_k(lost, failed, kept):
    """Two leaving nodes of a one-segment file as wide as the network (no spare node) wait out their patience.
    Each counted only its own copy: two whose copies together made k were both let go of, and the segment was
    lost. The copies counted are those confirmed and under an exit's order, not one that failed an audit."""
    ext = new_ext(nodes=5, params=NO_AUDITS)
    with ext:
        stored, bank, _ = wide_file(ext, 1000)
        holders = bank.placements.get(stored.file_id, 0)
        for fragment in lost:
            bank.confirmed.mutate(stored.file_id, 0, lambda flags, f=fragment: flags[:f] + (False,) + flags[f + 1:])
        for leaver in holders[:2]:
            ext.dispatch(Origin.signed(leaver), "StorageNodes", "exit")
        next_block(ext)
        for fragment in failed:  # as _punish leaves an exit's order after a failed audit
            order = bank.repair_orders.get(stored.file_id, (0, fragment))
            assert order.reason is RepairReason.NodeExit
            bank.repair_orders.insert(stored.file_id, (0, fragment), replace(order, reason=RepairReason.AuditFailed))
        run_to(ext, ext.pallet(System).number.get() + 30)
        held = [bank.fragments_of.contains(holders[f], (stored.file_id, 0, f)) for f in (0, 1)]
        assert sum(held) == kept, held
