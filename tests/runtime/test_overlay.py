"""The overlay: nested transactional layers roll back exactly what they wrote."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.frame.overlay import MAX_TRANSACTION_DEPTH, NoTransactionLayer, Overlay, TransactionLimitReached
from runtime.scale import Vec, BYTES
from runtime.trie import TrieState


def test_nested_rollback_restores_each_layer():
    overlay = Overlay(TrieState.from_items({b"a": b"1"}))
    overlay.start_transaction()
    overlay.set(b"a", b"2")
    overlay.start_transaction()
    overlay.set(b"a", b"3")
    overlay.delete(b"b")
    overlay.rollback_transaction()
    assert overlay.get(b"a") == b"2"
    overlay.commit_transaction()
    assert overlay.changes() == {b"a": b"2"}


def test_rollback_of_appends_keeps_earlier_items():
    overlay = Overlay(TrieState())
    overlay.append(b"e", BYTES.encode(b"x"))
    overlay.start_transaction()
    overlay.append(b"e", BYTES.encode(b"y"))
    overlay.rollback_transaction()
    overlay.append(b"e", BYTES.encode(b"z"))
    assert Vec(BYTES).decode(overlay.get(b"e")) == (b"x", b"z")


def test_append_extends_a_value_from_the_base_state():
    overlay = Overlay(TrieState.from_items({b"e": Vec(BYTES).encode([b"a"])}))
    overlay.append(b"e", BYTES.encode(b"b"))
    assert Vec(BYTES).decode(overlay.get(b"e")) == (b"a", b"b")


def test_layer_misuse_is_an_error():
    overlay = Overlay(TrieState())
    with pytest.raises(NoTransactionLayer):
        overlay.commit_transaction()
    for _ in range(MAX_TRANSACTION_DEPTH):
        overlay.start_transaction()
    with pytest.raises(TransactionLimitReached):
        overlay.start_transaction()


def test_items_merge_overlay_and_base_in_order():
    overlay = Overlay(TrieState.from_items({b"p1": b"a", b"p3": b"c", b"q": b"z"}))
    overlay.set(b"p2", b"b")
    overlay.delete(b"p3")
    overlay.set(b"p4", b"d")
    assert list(overlay.items(b"p")) == [(b"p1", b"a"), (b"p2", b"b"), (b"p4", b"d")]
    assert list(overlay.items(b"p", start_after=b"p1")) == [(b"p2", b"b"), (b"p4", b"d")]


ops = st.lists(st.tuples(st.sampled_from(["set", "delete", "begin", "commit", "rollback"]),
                         st.sampled_from([b"k1", b"k2", b"k3"]), st.binary(max_size=3)), max_size=40)


@given(ops)
def test_overlay_matches_a_stack_of_dict_copies(operations):
    overlay = Overlay(TrieState.from_items({b"k1": b"base"}))
    model = [{b"k1": b"base"}]
    for op, key, value in operations:
        if op == "set":
            overlay.set(key, value)
            model[-1][key] = value
        elif op == "delete":
            overlay.delete(key)
            model[-1].pop(key, None)
        elif op == "begin" and len(model) < 10:
            overlay.start_transaction()
            model.append(dict(model[-1]))
        elif op == "commit" and len(model) > 1:
            overlay.commit_transaction()
            top = model.pop()
            model[-1] = top
        elif op == "rollback" and len(model) > 1:
            overlay.rollback_transaction()
            model.pop()
        for k in (b"k1", b"k2", b"k3"):
            assert overlay.get(k) == model[-1].get(k)
