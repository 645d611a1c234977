"""The custody store: what was put survives a reopen, a crash mid-write or a full disk leaves the previous
set, a corrupt file is moved aside (its blob counts as not held, so the node recovers it)."""

from __future__ import annotations

import errno
import os

import pytest

from da_layer.kzg import BYTES_PER_CELL, BYTES_PER_PROOF
from da_layer.service.store import CellStore
from sdk.da.wire import Cell

BLOB = bytes(range(32))
OTHER = bytes(32)


def cell(index: int, fill: int = 0) -> Cell:
    return Cell(index, bytes([index ^ fill]) * BYTES_PER_CELL, bytes([fill]) * BYTES_PER_PROOF)


def test_cells_survive_a_reopen(tmp_path):
    store = CellStore.open(tmp_path)
    store.put(BLOB, [cell(3), cell(70), cell(9)])
    store.put(OTHER, [cell(0)])
    reopened = CellStore.open(tmp_path)
    assert reopened.indices(BLOB) == {3, 9, 70}
    assert reopened.get(BLOB, 70) == cell(70)
    assert reopened.cells(BLOB) == [cell(3), cell(9), cell(70)] and reopened.cells(bytes(31) + b"x") == []
    assert reopened.get(BLOB, 4) is None
    assert reopened.get(bytes([9]) * 32, 0) is None
    assert sorted(reopened.blobs()) == sorted([BLOB, OTHER])
    assert reopened.cell_count() == 4


def test_a_later_put_adds_cells_and_replaces_same_index(tmp_path):
    store = CellStore.open(tmp_path)
    store.put(BLOB, [cell(1), cell(2)])
    store.put(BLOB, [cell(2, fill=7), cell(5)])
    assert store.indices(BLOB) == {1, 2, 5}
    assert store.get(BLOB, 2) == cell(2, fill=7)
    assert CellStore.open(tmp_path).get(BLOB, 1) == cell(1)


def test_a_write_cut_short_leaves_the_previous_set(tmp_path):
    store = CellStore.open(tmp_path)
    store.put(BLOB, [cell(1)])
    (tmp_path / (BLOB.hex() + ".cells.tmp")).write_bytes(b"\x05\x00half a write")  # the crash happened here
    reopened = CellStore.open(tmp_path)
    assert reopened.indices(BLOB) == {1}
    assert not list(tmp_path.glob("*.tmp"))


def test_a_corrupt_file_is_set_aside_and_its_blob_not_held(tmp_path):
    store = CellStore.open(tmp_path)
    store.put(BLOB, [cell(1), cell(2)])
    path = tmp_path / (BLOB.hex() + ".cells")
    path.write_bytes(path.read_bytes()[:-1])
    reopened = CellStore.open(tmp_path)
    assert reopened.corrupt_found == 1
    assert reopened.indices(BLOB) == frozenset()
    assert (tmp_path / (BLOB.hex() + ".cells.corrupt")).exists()


def test_delete_forgets_the_blob(tmp_path):
    store = CellStore.open(tmp_path)
    store.put(BLOB, [cell(1)])
    store.delete(BLOB)
    store.delete(BLOB)
    assert store.get(BLOB, 1) is None
    assert CellStore.open(tmp_path).blobs() == []


def test_discard_drops_only_the_named_cells_and_survives_a_reopen(tmp_path):
    store = CellStore.open(tmp_path)
    store.put(BLOB, [cell(1), cell(2), cell(9)])
    store.discard(BLOB, [2, 50])
    assert store.indices(BLOB) == {1, 9} and store.get(BLOB, 9) == cell(9)
    assert CellStore.open(tmp_path).indices(BLOB) == {1, 9}
    store.discard(BLOB, [1, 9])
    assert store.blobs() == [] and CellStore.open(tmp_path).blobs() == []
    store.discard(BLOB, [1])  # nothing held: nothing to do


def test_discard_drops_a_file_that_no_longer_decodes_whole(tmp_path):
    store = CellStore.open(tmp_path)
    store.put(BLOB, [cell(1), cell(2)])
    path = tmp_path / (BLOB.hex() + ".cells")
    path.write_bytes(path.read_bytes()[:-7])
    store.discard(BLOB, [2])
    assert store.blobs() == [] and not path.exists()


def test_unrelated_files_are_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "xyz.cells").write_text("not a blob id")
    assert CellStore.open(tmp_path).blobs() == []
    assert (tmp_path / "notes.txt").read_text() == "mine"



def test_a_full_disk_changes_nothing(tmp_path, monkeypatch):
    store = CellStore.open(tmp_path)
    store.put(BLOB, [cell(1)])

    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # the disk fills up during the next write
    with pytest.raises(OSError):
        store.put(BLOB, [cell(2)])
    monkeypatch.undo()
    assert store.indices(BLOB) == {1} and store.get(BLOB, 2) is None
    assert CellStore.open(tmp_path).cells(BLOB) == [cell(1)]
    assert not list(tmp_path.glob("*.tmp"))
