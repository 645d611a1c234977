"""Property: a storage call that fails leaves every storage item (events included) as it was, and no input makes
a call raise anything but a ``DispatchError`` (any other exception would reject the block: a bug)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.frame.pallet import DispatchError, Origin
from storage_node.pallets.file_bank import Challenged

from .mock import ALICE, BOB, NODES, CAPACITY, STAKE, confirm_all, declare, new_ext, run_to

EVE = bytes([0xEE]) * 32
ACCOUNTS = st.sampled_from([ALICE, BOB, EVE, *NODES[:7]])


def calls(file_id: bytes, manifest: bytes, challenge_ids: list[int]) -> st.SearchStrategy:
    """``(pallet, call, args)`` with arguments near the valid ones: real ids and accounts mixed with random ones."""
    file_ids = st.one_of(st.just(file_id), st.binary(min_size=32, max_size=32))
    flipped = st.integers(0, len(manifest) - 1).map(lambda i: manifest[:i] + bytes([manifest[i] ^ 1]) + manifest[i + 1:])
    small = st.integers(0, 6)
    return st.one_of(
        st.tuples(st.just("FileBank"), st.just("declare"),
                  st.fixed_dictionaries({"manifest": st.one_of(st.binary(max_size=200), flipped, st.just(manifest))})),
        st.tuples(st.just("FileBank"), st.just("confirm"), st.fixed_dictionaries({
            "file_id": file_ids, "fragments": st.lists(st.tuples(small, small), max_size=4).map(tuple)})),
        st.tuples(st.just("FileBank"), st.just("delete"), st.fixed_dictionaries({"file_id": file_ids})),
        st.tuples(st.just("FileBank"), st.just("renew"), st.fixed_dictionaries({
            "file_id": file_ids, "periods": st.one_of(small, st.integers(0, 2**32 - 1))})),
        st.tuples(st.just("FileBank"), st.just("submit_proof"), st.fixed_dictionaries({
            "challenge_id": st.one_of(st.sampled_from(challenge_ids), st.integers(0, 2**64 - 1)),
            "proofs": st.lists(st.binary(max_size=64), max_size=3).map(tuple)})),
        st.tuples(st.just("FileBank"), st.just("confirm_repair"), st.fixed_dictionaries({
            "file_id": file_ids, "segment": small, "fragment": small})),
        st.tuples(st.just("StorageNodes"), st.just("register"), st.fixed_dictionaries({
            "endpoint": st.binary(max_size=300), "capacity": st.integers(0, CAPACITY),
            "stake": st.integers(0, 2 * STAKE)})),
        st.tuples(st.just("StorageNodes"), st.just("update"), st.fixed_dictionaries({
            "endpoint": st.binary(max_size=300), "capacity": st.integers(0, CAPACITY)})),
        st.tuples(st.just("StorageAccess"), st.just("grant"), st.fixed_dictionaries({
            "file_id": file_ids, "grantee": ACCOUNTS, "sealed_key": st.binary(max_size=100)})),
        st.tuples(st.just("StorageAccess"), st.just("grant_and_record"), st.fixed_dictionaries({
            "file_id": file_ids, "grantee": ACCOUNTS, "sealed_key": st.binary(max_size=100)})),
        st.tuples(st.just("StorageAccess"), st.just("revoke"), st.fixed_dictionaries({
            "file_id": file_ids, "grantee": ACCOUNTS})),
        st.tuples(st.just("StorageAccess"), st.just("record_access"), st.fixed_dictionaries({"file_id": file_ids})),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_failed_storage_call_changes_nothing(data):
    ext = new_ext(nodes=6)
    with ext:
        stored = declare(ext, ALICE, 3000)
        confirm_all(ext, stored)
        run_to(ext, 10)  # an audit round: open challenges
        challenge_ids = [e.challenge_id for e in ext.events() if isinstance(e, Challenged)]
        pallet, name, args = data.draw(calls(stored.file_id, stored.manifest.encode(), challenge_ids))
        origin = data.draw(st.one_of(st.just(Origin.none()), ACCOUNTS.map(Origin.signed)))
        before = ext.changes()
        try:
            ext.dispatch(origin, pallet, name, **args)
        except DispatchError:
            assert ext.changes() == before
