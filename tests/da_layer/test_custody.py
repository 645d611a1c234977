"""Custody: columns dealt by stake, each to one to R distinct custodians, deterministically; no set of nodes
with more than a third of the stake keeps too few columns to rebuild a blob, whoever picks it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from da_layer.custody import assignment, columns_kept, custodians, custody_columns, failure_bound_bits
from da_layer.kzg import CELLS_PER_BLOB, CELLS_TO_RECOVER
from da_layer.pallet import DataAvailabilityParams

REPLICATION = DataAvailabilityParams().custody_replication
SEED = bytes(range(32))


@settings(max_examples=40, deadline=None)
@given(stakes=st.lists(st.integers(1, 10**6), min_size=1, max_size=40), replication=st.integers(1, 10),
       seed=st.binary(min_size=32, max_size=32))
def test_every_column_has_one_to_r_distinct_custodians_and_each_node_its_columns(stakes, replication, seed):
    held = {i: custody_columns(i, stakes, seed, replication=replication) for i in range(len(stakes))}
    for column in range(CELLS_PER_BLOB):
        keepers = custodians(column, stakes, seed, replication)
        assert 1 <= len(keepers) <= min(replication, len(stakes))
        assert list(keepers) == sorted(set(keepers)) == [i for i in range(len(stakes)) if column in held[i]]
    assert columns_kept(range(len(stakes)), stakes, seed, replication) == CELLS_PER_BLOB


def test_many_minimum_stake_nodes_cannot_refuse_a_blob_that_a_stake_quorum_attests():
    # three operators with 70 % of the stake and 40 minimum-stake nodes: dealt per node (one share each), the
    # three kept ~3/43 of the columns, so the small nodes' refusal left any quorum short of half of them;
    # dealt by stake, the three keep almost every column and each of them far more than a small node
    stakes = [800] * 3 + [25] * 40
    assert columns_kept(range(3), stakes, SEED, REPLICATION) >= CELLS_PER_BLOB - 2
    big = [len(custody_columns(i, stakes, SEED, replication=REPLICATION)) for i in range(3)]
    small = [len(custody_columns(i, stakes, SEED, replication=REPLICATION)) for i in range(3, 43)]
    assert min(big) > 5 * max(small)


@pytest.mark.parametrize("nodes", [4, 9, 30, 128])
def test_every_set_with_over_a_third_of_the_stake_keeps_enough_columns_to_rebuild_the_blob(nodes):
    """The attack the quorum must survive: a coalition under a third of the stake signs without keeping
    anything, and a colluding submitter hands cells only to the honest nodes keeping the fewest columns. The
    worst such honest set, sought greedily (drop the node whose loss costs the fewest columns while the rest
    keep over a third of the stake), still keeps the half of the columns that rebuilds the blob."""
    stakes = [1 + (7 * i) % 5 for i in range(nodes)]  # unequal stakes, 1 .. 5
    total = sum(stakes)
    for seed in (bytes([s]) * 32 for s in range(8)):
        kept = set(range(nodes))
        while True:
            candidates = [i for i in kept if 3 * (sum(stakes[j] for j in kept) - stakes[i]) > total]
            if not candidates:
                break
            kept.remove(min(candidates, key=lambda i: columns_kept(kept - {i}, stakes, seed, REPLICATION)))
        assert columns_kept(kept, stakes, seed, REPLICATION) >= CELLS_TO_RECOVER


def test_the_presets_bound_the_chance_of_a_third_of_the_stake_keeping_too_few_columns_below_2_to_the_minus_40():
    """The Chernoff and union bound of ``da_layer.custody`` at the preset's draws per column and node-set size
    (2^-47 at 8 draws and 128 nodes; 7 draws would leave 2^-11)."""
    params = DataAvailabilityParams()
    assert failure_bound_bits(params.custody_replication, params.max_nodes) >= 40
    assert failure_bound_bits(params.custody_replication - 1, params.max_nodes) < 40
    assert failure_bound_bits(2, 4) < 0 and failure_bound_bits(1, 4) == -float("inf")  # no guarantee at all


def test_a_node_without_stake_keeps_nothing():
    dealt = assignment((5, 0, 3), SEED, REPLICATION)
    assert all(1 not in keepers for keepers in dealt) and custody_columns(1, (5, 0, 3), SEED, replication=2) == ()


def test_assignment_is_a_function_of_its_inputs():
    stakes = [5, 1, 3, 3, 8, 2, 2, 9, 4, 1]
    assert custody_columns(3, stakes, SEED, replication=2) == custody_columns(3, tuple(stakes), bytes(SEED),
                                                                              replication=2)
    assert assignment(tuple(stakes), SEED, 3) != assignment(tuple(stakes), bytes(32), 3)
    assert assignment(tuple(stakes), SEED, 3) != assignment(tuple(stakes[:-1]) + (2,), SEED, 3)
    assignment.cache_clear()
    assert custodians(5, stakes, SEED, 3) == custodians(5, stakes, SEED, 3)


def test_one_node_keeps_every_column():
    assert custody_columns(0, [7], SEED, replication=REPLICATION) == tuple(range(CELLS_PER_BLOB))


@pytest.mark.parametrize("call", [
    lambda: custodians(0, [], SEED, 2),                     # no node
    lambda: custodians(0, [0, 0], SEED, 2),                 # no stake at all
    lambda: custodians(0, [4, -1], SEED, 2),                # a negative stake
    lambda: custodians(0, [4], SEED[:31], 2),               # a short seed
    lambda: custodians(0, [4], SEED, 0),                    # no custodian
    lambda: custodians(0, [4], SEED, 256),                  # more draws than a column's u8 index names
    lambda: custodians(CELLS_PER_BLOB, [4], SEED, 2),       # no such column
    lambda: custody_columns(4, [1, 1, 1, 1], SEED, replication=2),  # no such node
])
def test_bad_arguments_are_refused(call):
    with pytest.raises(ValueError):
        call()
