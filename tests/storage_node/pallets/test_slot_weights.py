"""The audits' Fenwick tree of fragment sizes (``storage_node.pallets.slot_weights``), against a plain list: the
same swap-with-last removals FileBank makes, and every byte offset found in the slot that holds it."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from storage_node.pallets.file_bank import FileBank
from storage_node.pallets.slot_weights import SlotWeights

from .mock import NODES, new_ext

NODE = NODES[7]
OPERATIONS = st.lists(st.one_of(st.tuples(st.just("add"), st.integers(1, 5_000)),
                                st.tuples(st.just("remove"), st.integers(0, 10**6))), max_size=60)


@settings(max_examples=60, deadline=None)
@given(OPERATIONS)
def test_the_tree_keeps_every_slots_size_and_finds_each_byte_in_its_slot(operations):
    ext = new_ext(nodes=0)
    with ext:
        weights, sizes = SlotWeights(ext.pallet(FileBank).slot_weights), []
        for operation, value in operations:
            if operation == "add":
                weights.append(NODE, len(sizes), value)
                sizes.append(value)
            elif sizes:  # as FileBank removes a fragment: the last slot's moves into the freed one
                slot, last = value % len(sizes), len(sizes) - 1
                if slot != last:
                    weights.set(NODE, slot, weights.size(NODE, last), len(sizes))
                    sizes[slot] = sizes[last]
                weights.pop(NODE, len(sizes))
                sizes.pop()
            assert [weights.size(NODE, slot) for slot in range(len(sizes))] == sizes
            assert weights.total(NODE, len(sizes)) == sum(sizes)
        starts = [0, *itertools.accumulate(sizes)]
        for slot, size in enumerate(sizes):
            for offset in {starts[slot], starts[slot] + size // 2, starts[slot] + size - 1}:
                assert weights.find(NODE, len(sizes), offset) == slot
        assert len(list(ext.pallet(FileBank).slot_weights.iter_prefix(NODE))) == len(sizes)  # nothing left over
