"""Custody: every column has min(R, n) distinct custodians, load is even, and all of it is deterministic."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from da_layer.custody import custodians, custody_columns, node_order
from da_layer.kzg import CELLS_PER_BLOB


@settings(max_examples=40, deadline=None)
@given(node_count=st.integers(1, 40), replication=st.integers(1, 6), seed=st.binary(min_size=32, max_size=32))
def test_every_column_has_enough_distinct_custodians_and_load_is_even(node_count, replication, seed):
    held = {i: custody_columns(i, node_count, seed, replication=replication) for i in range(node_count)}
    for column in range(CELLS_PER_BLOB):
        keepers = custodians(column, node_count, seed, replication)
        assert len(set(keepers)) == len(keepers) == min(replication, node_count)
        assert sorted(keepers) == [i for i in range(node_count) if column in held[i]]
    loads = [len(columns) for columns in held.values()]
    assert max(loads) - min(loads) <= 1
    assert sorted(node_order(node_count, seed)) == list(range(node_count))


def test_assignment_is_a_function_of_its_inputs():
    seed_a, seed_b = b"\x01" * 32, b"\x02" * 32
    assert custody_columns(3, 10, seed_a, replication=2) == custody_columns(3, 10, bytes(seed_a), replication=2)
    assert node_order(10, seed_a) != node_order(10, seed_b)
    node_order.cache_clear()
    assert custodians(5, 10, seed_a, 3) == custodians(5, 10, seed_a, 3)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        custodians(0, 0, b"\x00" * 32, 2)
    with pytest.raises(ValueError):
        custodians(0, 4, b"\x00" * 31, 2)
    with pytest.raises(ValueError):
        custodians(0, 4, b"\x00" * 32, 0)
    with pytest.raises(ValueError):
        custody_columns(4, 4, b"\x00" * 32, replication=2)
