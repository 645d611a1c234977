"""StorageAccess, FRAME-style: encryption keys, grants with sealed keys, revoke, and the access log."""

from __future__ import annotations

import pytest

from runtime.frame.pallet import BadOrigin, Origin
from runtime.frame.testing import assert_last_event, assert_noop
from runtime.pallets.system import System
from storage_node.pallets.access import (
    GrantsLocked,
    AccessGranted,
    AccessRecorded,
    AccessRevoked,
    BadSealedKey,
    KeyRegistered,
    NoGrant,
    NoKey,
    NotFileOwner,
    StorageAccess,
    UnknownFile,
)
from storage_node.pallets.file_bank import FileBank, FileExists

from .mock import ALICE, BOB, CHARLIE, NODES, declare, new_ext, next_block

SEALED = bytes(range(80))
KEY = b"\x42" * 32


def access(ext) -> StorageAccess:
    return ext.pallet(StorageAccess)


def shared_file(ext, call: str = "grant"):
    """ALICE's file, with BOB holding a grant made by ``call``."""
    stored = declare(ext, ALICE, 1000)
    ext.dispatch(Origin.signed(BOB), "StorageAccess", "register_key", key=KEY)
    ext.dispatch(Origin.signed(ALICE), "StorageAccess", call, file_id=stored.file_id, grantee=BOB, sealed_key=SEALED)
    return stored


def test_register_key_stores_and_replaces_the_key():
    ext = new_ext()
    with ext:
        ext.dispatch(Origin.signed(BOB), "StorageAccess", "register_key", key=KEY)
        assert access(ext).keys.get(BOB) == KEY
        ext.dispatch(Origin.signed(BOB), "StorageAccess", "register_key", key=b"\x43" * 32)
        assert access(ext).keys.get(BOB) == b"\x43" * 32
        assert_last_event(ext, KeyRegistered(BOB, b"\x43" * 32))
        assert_noop(ext, BadOrigin, ext.dispatch, Origin.none(), "StorageAccess", "register_key", key=KEY)


def test_grant_stores_the_sealed_key_for_the_grantee():
    ext = new_ext()
    with ext:
        stored = shared_file(ext)
        assert access(ext).grants.get(stored.file_id, BOB) == SEALED
        assert_last_event(ext, AccessGranted(stored.file_id, BOB))


@pytest.mark.parametrize("call", ["grant", "grant_and_record"])
@pytest.mark.parametrize("who, file_id, grantee, sealed, error", [
    (BOB, None, BOB, SEALED, NotFileOwner),  # a grantee cannot grant itself (nor record for itself this way)
    (CHARLIE, None, BOB, SEALED, NotFileOwner),
    (ALICE, b"\x01" * 32, BOB, SEALED, UnknownFile),
    (ALICE, None, BOB, SEALED[:79], BadSealedKey),
    (ALICE, None, BOB, SEALED + b"\x00", BadSealedKey),
    (ALICE, None, CHARLIE, SEALED, NoKey),
])
def test_grant_refuses_bad_input_and_changes_nothing(call, who, file_id, grantee, sealed, error):
    ext = new_ext()
    with ext:
        stored = declare(ext, ALICE, 1000)
        ext.dispatch(Origin.signed(BOB), "StorageAccess", "register_key", key=KEY)
        assert_noop(ext, error, ext.dispatch, Origin.signed(who), "StorageAccess", call,
                    file_id=file_id or stored.file_id, grantee=grantee, sealed_key=sealed)
        assert_noop(ext, BadOrigin, ext.dispatch, Origin.none(), "StorageAccess", call,
                    file_id=stored.file_id, grantee=BOB, sealed_key=SEALED)


def test_grant_and_record_grants_and_logs_the_read_as_recorded_by_the_owner():
    ext = new_ext()
    with ext:
        fid = shared_file(ext, "grant_and_record").file_id
        assert ext.events()[-2:] == [AccessGranted(fid, BOB), AccessRecorded(fid, BOB, 1, ALICE)]
        assert access(ext).grants.get(fid, BOB) == SEALED
        assert access(ext).access_log.get(fid, 0) == (BOB, 1, ALICE)
        assert access(ext).access_count.get(fid) == 1 and access(ext).last_access.get(fid, BOB) == (1, ALICE)
        next_block(ext)
        ext.dispatch(Origin.signed(BOB), "StorageAccess", "record_access", file_id=fid)  # a later read: its own
        assert access(ext).access_log.get(fid, 1) == (BOB, 2, BOB)
        assert access(ext).last_access.get(fid, BOB) == (2, BOB)


def test_a_revoked_grantee_recorded_by_the_owner_loses_its_access_record():
    ext = new_ext()
    with ext:
        fid = shared_file(ext, "grant_and_record").file_id
        ext.dispatch(Origin.signed(ALICE), "StorageAccess", "revoke", file_id=fid, grantee=BOB)
        assert access(ext).last_access.get(fid, BOB) is None and access(ext).grants.get(fid, BOB) is None
        assert_noop(ext, NoGrant, ext.dispatch, Origin.signed(BOB), "StorageAccess", "record_access", file_id=fid)
        ext.dispatch(Origin.signed(ALICE), "StorageAccess", "grant", file_id=fid, grantee=BOB, sealed_key=SEALED)
        assert access(ext).last_access.get(fid, BOB) is None  # granted again, but no read recorded since


def test_a_locked_files_grants_stand():
    """A verified job's output is locked: its owner (the provider) may not take the submitter's grant back."""
    ext = new_ext()
    with ext:
        fid = shared_file(ext).file_id
        ext.pallet(FileBank).lock(fid)
        assert_noop(ext, GrantsLocked, ext.dispatch, Origin.signed(ALICE), "StorageAccess", "revoke", file_id=fid,
                    grantee=BOB)
        for call in ("grant", "grant_and_record"):  # nor overwritten with a key BOB cannot open
            assert_noop(ext, GrantsLocked, ext.dispatch, Origin.signed(ALICE), "StorageAccess", call, file_id=fid,
                        grantee=BOB, sealed_key=bytes(len(SEALED)))
        assert access(ext).grants.get(fid, BOB) == SEALED
        ext.dispatch(Origin.signed(ALICE), "StorageAccess", "grant", file_id=fid, grantee=BOB, sealed_key=SEALED)


def test_the_access_log_records_every_access_in_order():
    ext = new_ext()
    with ext:
        stored = shared_file(ext)
        fid = stored.file_id
        ext.dispatch(Origin.signed(ALICE), "StorageAccess", "register_key", key=KEY)
        ext.dispatch(Origin.signed(ALICE), "StorageAccess", "grant", file_id=fid, grantee=ALICE, sealed_key=SEALED)
        ext.dispatch(Origin.signed(BOB), "StorageAccess", "record_access", file_id=fid)
        assert_last_event(ext, AccessRecorded(fid, BOB, 1, BOB))
        next_block(ext)
        ext.dispatch(Origin.signed(ALICE), "StorageAccess", "record_access", file_id=fid)
        ext.dispatch(Origin.signed(BOB), "StorageAccess", "record_access", file_id=fid)
        assert_last_event(ext, AccessRecorded(fid, BOB, 2, BOB))
        assert access(ext).access_count.get(fid) == 3
        assert [access(ext).access_log.get(fid, i) for i in range(3)] == [(BOB, 1, BOB), (ALICE, 2, ALICE),
                                                                         (BOB, 2, BOB)]
        assert access(ext).last_access.get(fid, BOB) == (2, BOB)


def test_record_access_needs_a_grant_and_a_file():
    ext = new_ext()
    with ext:
        stored = shared_file(ext)
        assert_noop(ext, NoGrant, ext.dispatch, Origin.signed(CHARLIE), "StorageAccess", "record_access",
                    file_id=stored.file_id)
        assert_noop(ext, UnknownFile, ext.dispatch, Origin.signed(BOB), "StorageAccess", "record_access",
                    file_id=b"\x01" * 32)
        assert_noop(ext, BadOrigin, ext.dispatch, Origin.none(), "StorageAccess", "record_access",
                    file_id=stored.file_id)


def test_revoke_stops_record_access_and_clears_the_last_access():
    ext = new_ext()
    with ext:
        stored = shared_file(ext)
        fid = stored.file_id
        ext.dispatch(Origin.signed(BOB), "StorageAccess", "record_access", file_id=fid)
        assert_noop(ext, NotFileOwner, ext.dispatch, Origin.signed(BOB), "StorageAccess", "revoke", file_id=fid,
                    grantee=BOB)
        ext.dispatch(Origin.signed(ALICE), "StorageAccess", "revoke", file_id=fid, grantee=BOB)
        assert_last_event(ext, AccessRevoked(fid, BOB))
        assert access(ext).grants.get(fid, BOB) is None
        assert access(ext).last_access.get(fid, BOB) is None
        assert_noop(ext, NoGrant, ext.dispatch, Origin.signed(BOB), "StorageAccess", "record_access", file_id=fid)
        assert_noop(ext, NoGrant, ext.dispatch, Origin.signed(ALICE), "StorageAccess", "revoke", file_id=fid,
                    grantee=BOB)
        assert access(ext).access_log.get(fid, 0) == (BOB, ext.pallet(System).number.get(), BOB)  # history stays


def _entries(ext, fid: bytes) -> tuple[int, int]:
    return len(list(access(ext).grants.iter_prefix(fid))), len(list(access(ext).last_access.iter_prefix(fid)))


def test_a_deleted_files_grants_and_last_access_go_a_bounded_number_per_block_and_its_log_stays():
    ext = new_ext(params={"StorageAccess": {"max_forgotten_per_block": 3}})
    with ext:
        fid = shared_file(ext).file_id  # BOB's grant, and three more grantees, two of them reading
        for grantee in NODES[:3]:
            ext.dispatch(Origin.signed(grantee), "StorageAccess", "register_key", key=KEY)
            ext.dispatch(Origin.signed(ALICE), "StorageAccess", "grant", file_id=fid, grantee=grantee,
                         sealed_key=SEALED)
        for reader in (BOB, NODES[0]):
            ext.dispatch(Origin.signed(reader), "StorageAccess", "record_access", file_id=fid)
        log = [access(ext).access_log.get(fid, i) for i in range(2)]
        assert _entries(ext, fid) == (4, 2)

        ext.dispatch(Origin.signed(ALICE), "FileBank", "delete", file_id=fid)
        assert _entries(ext, fid) == (4, 2)  # nothing removed inside the deleting transaction
        left = [sum(_entries(ext, fid)) for _ in range(2) if next_block(ext)]
        assert left == [3, 0] and access(ext).forgetting.contains(fid)  # three a block: the mark is the third's
        next_block(ext)
        assert not access(ext).forgetting.contains(fid)
        assert [access(ext).access_log.get(fid, i) for i in range(2)] == log and access(ext).access_count.get(fid) == 2
        assert ext.pallet(FileBank).deleted.get() == ()  # every deleted id handed over once


@pytest.mark.parametrize("size", [0, 1000], ids=["empty file", "one segment"])
def test_a_deleted_id_cannot_be_declared_again_until_its_grants_are_gone(size):
    """Whoever reads ``Grants`` (a node serving a private file, a compute job checking its readers) must never
    see an old grant on a new file of the same id: the owner's same manifest is refused until they are gone."""
    ext = new_ext(params={"StorageAccess": {"max_forgotten_per_block": 1}})
    with ext:
        stored = declare(ext, ALICE, size)
        fid = stored.file_id
        for grantee in (BOB, CHARLIE):
            ext.dispatch(Origin.signed(grantee), "StorageAccess", "register_key", key=KEY)
            ext.dispatch(Origin.signed(ALICE), "StorageAccess", "grant_and_record", file_id=fid, grantee=grantee,
                         sealed_key=SEALED)
        ext.dispatch(Origin.signed(ALICE), "FileBank", "delete", file_id=fid)
        declare_again = lambda: ext.dispatch(  # noqa: E731
            Origin.signed(ALICE), "FileBank", "declare", manifest=stored.manifest.encode())
        blocks = 0
        while sum(_entries(ext, fid)) or access(ext).forgetting.contains(fid) or blocks == 0:
            assert_noop(ext, FileExists, declare_again)  # the same block too, before StorageAccess looked
            next_block(ext)
            blocks += 1
        assert blocks == 5  # four entries and the mark, one a block
        declare_again()
        assert _entries(ext, fid) == (0, 0)
        assert_noop(ext, NoGrant, ext.dispatch, Origin.signed(BOB), "StorageAccess", "record_access", file_id=fid)
        ext.dispatch(Origin.signed(ALICE), "StorageAccess", "grant", file_id=fid, grantee=CHARLIE, sealed_key=SEALED)
        assert_last_event(ext, AccessGranted(fid, CHARLIE))
        assert not ext.pallet(FileBank).retired.contains(fid)
