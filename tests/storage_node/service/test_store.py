"""The fragment store: crash-safe commits, the index rebuilt from the files, capacity enforced."""

from __future__ import annotations

import threading
import time

import pytest

from sdk import durable
from storage_node.service import store as store_module
from storage_node.service.body import BadPath, parse_fragment_path
from storage_node.service.replay import GuardFull, ReplayGuard, Replayed
from storage_node.service.store import FragmentKey, FragmentStore, StoreFull

FILE = bytes(range(32))
KEY = FragmentKey(FILE, 0, 1)


def test_commit_then_reopen_finds_everything(tmp_path):
    store = FragmentStore(tmp_path, capacity=1000)
    store.open()
    store.write(KEY, b"a" * 100)
    store.write(FragmentKey(FILE, 3, 0), b"b" * 50)
    assert store.used == 150 and store.fragment_count == 2
    reopened = FragmentStore(tmp_path, capacity=1000)
    reopened.open()
    assert reopened.keys() == [KEY, FragmentKey(FILE, 3, 0)]
    assert reopened.used == 150
    assert reopened.read(KEY) == b"a" * 100


def test_unfinished_uploads_are_deleted_at_open(tmp_path):
    store = FragmentStore(tmp_path, capacity=1000)
    store.open()
    store.temp_path().write_bytes(b"half an upload")
    reopened = FragmentStore(tmp_path, capacity=1000)
    reopened.open()
    assert list((tmp_path / "tmp").iterdir()) == []
    assert reopened.fragment_count == 0 and reopened.used == 0


def test_foreign_files_in_the_store_are_not_taken_for_fragments(tmp_path):
    store = FragmentStore(tmp_path, capacity=1000)
    store.open()
    store.write(KEY, b"x")
    (store.path(KEY).parent / "notes.txt").write_text("hello")
    (tmp_path / "fragments" / "not-a-file-id").mkdir()
    store.open()
    assert store.keys() == [KEY]


def test_capacity_is_enforced_and_the_reservation_released(tmp_path):
    store = FragmentStore(tmp_path, capacity=100)
    store.open()
    store.write(KEY, b"a" * 60)
    with pytest.raises(StoreFull):
        with store.reserve(41):
            pass
    with store.reserve(40):
        with pytest.raises(StoreFull):  # a concurrent upload sees the reservation
            with store.reserve(1):
                pass
    store.write(FragmentKey(FILE, 0, 2), b"b" * 40)
    assert store.used == 100


def test_a_fragment_rewritten_in_place_counts_only_what_it_adds(tmp_path):
    """A full node rebuilding its own damaged fragment needs no room beyond the copy it replaces."""
    store = FragmentStore(tmp_path, capacity=100)
    store.open()
    store.write(KEY, b"a" * 60)
    store.write(FragmentKey(FILE, 0, 2), b"b" * 40)
    store.write(KEY, b"c" * 60)
    assert (store.used, store.read(KEY)) == (100, b"c" * 60)
    with pytest.raises(StoreFull):
        store.write(KEY, b"d" * 61)  # one byte more than it replaces
    assert store.read(KEY) == b"c" * 60


def test_replacing_and_removing_keep_the_accounting(tmp_path):
    store = FragmentStore(tmp_path, capacity=1000)
    store.open()
    store.write(KEY, b"a" * 60)
    store.write(KEY, b"b" * 10)
    assert store.used == 10 and store.read(KEY) == b"b" * 10
    store.write(FragmentKey(FILE, 1, 0), b"c" * 5)
    assert store.remove_file(FILE) == 2
    assert store.used == 0 and not store.path(KEY).parent.exists()
    assert store.remove(KEY) is False


@pytest.mark.parametrize("path", [
    "/v1/fragments/0x" + "ab" * 32 + "/0/01",            # leading zero
    "/v1/fragments/0x" + "ab" * 31 + "/0/1",             # short id
    "/v1/fragments/0x" + "ab" * 32 + "/../1",            # path characters
    "/v1/fragments/0x" + "ab" * 32 + "/0/1/",
    "/v1/fragments/0x" + "ab" * 32 + "%2F0/1",
    "/v1/fragments/" + "ab" * 32 + "/0/1",               # no 0x
    "/v1/fragments/0x" + "ab" * 32 + "/4294967296/1",    # segment past u32
    "/v1/fragments/0x" + "ab" * 32 + "/0/65536",         # fragment past u16
    "/v1/fragments/0x" + "zz" * 32 + "/0/1",
])
def test_bad_fragment_paths_are_refused(path):
    with pytest.raises(BadPath):
        parse_fragment_path(path)


def test_a_fragment_path_names_its_fragment():
    assert parse_fragment_path("/v1/fragments/0x" + FILE.hex() + "/7/3") == FragmentKey(FILE, 7, 3)


def test_replay_guard_refuses_a_signature_twice_inside_the_window_only():
    guard = ReplayGuard(window_ms=1000, max_entries=2)
    guard.accept(b"sig1", timestamp_ms=10_000, now_ms=10_000)
    with pytest.raises(Replayed):
        guard.accept(b"sig1", timestamp_ms=10_000, now_ms=10_500)
    guard.accept(b"sig2", timestamp_ms=10_100, now_ms=10_500)
    with pytest.raises(GuardFull):
        guard.accept(b"sig3", timestamp_ms=10_500, now_ms=10_600)
    guard.accept(b"sig3", timestamp_ms=10_500, now_ms=11_050)  # sig1 left the window: room again
    assert len(guard) == 2


def test_an_upload_s_signature_is_remembered_as_long_as_its_body_may_take_and_others_only_their_window():
    """An upload is accepted when its body ends, up to its body's deadline after its head: its signature must
    outlive that (a replay sent meanwhile is still found), while every other request's, a GET's, leaves at the
    window's end, so a flood of signed reads cannot keep the guard full for the longest body's time."""
    guard = ReplayGuard(window_ms=1000, max_entries=10)
    guard.accept(b"upload", timestamp_ms=10_000, now_ms=10_000, longer_ms=5_000)
    guard.accept(b"read", timestamp_ms=10_000, now_ms=10_000)
    guard.accept(b"later", timestamp_ms=12_000, now_ms=12_000)  # a request past the read's window forgets it
    assert len(guard) == 2
    with pytest.raises(Replayed):
        guard.accept(b"upload", timestamp_ms=10_000, now_ms=15_500)


def test_a_disk_with_less_free_space_than_required_is_full(tmp_path):
    store = FragmentStore(tmp_path, capacity=1000, min_free=1 << 62)
    store.open()
    with pytest.raises(StoreFull):
        with store.reserve(1):
            pass


def test_no_fragment_of_a_new_file_is_acknowledged_before_its_folder_is_durable(tmp_path, monkeypatch):
    """Uploads of one new file commit in several threads at once: none may return (the node's 201) before the
    file's folder entry is fsynced, or a power cut loses an acknowledged fragment. The folder's fsync is slowed
    here so that a commit that does not wait for it returns first."""
    store = FragmentStore(tmp_path, capacity=10_000)
    store.open()
    fragments_folder = store.path(KEY).parent.parent
    synced = threading.Event()

    def slow_fsync_dir(path) -> None:
        if path == fragments_folder:
            time.sleep(0.3)
            synced.set()
        durable.fsync_dir(path)

    monkeypatch.setattr(store_module, "fsync_dir", slow_fsync_dir)
    durable_when_done = []

    def write(segment: int) -> None:
        store.write(FragmentKey(FILE, segment, 0), b"x" * 100)
        durable_when_done.append(synced.is_set())

    writers = [threading.Thread(target=write, args=(segment,)) for segment in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert durable_when_done == [True] * 4 and store.fragment_count == 4
    for segment in range(4):  # the last one takes the folder; a later upload makes it (durably) again
        store.remove(FragmentKey(FILE, segment, 0))
    assert not store.path(KEY).parent.exists()
    synced.clear()
    store.write(KEY, b"y" * 10)
    assert synced.is_set() and store.read(KEY) == b"y" * 10
