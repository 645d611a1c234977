"""The fragment store: fragments as files, written crash-safely, with the node's capacity accounting.

Layout under the store's root (the file layout is the index: a restart rebuilds it by listing the folders)::

    fragments/<file id, 64 hex>/<segment>.<fragment>   one stored fragment (the bytes a GET serves)
    tmp/<random>.part                                  uploads being received; deleted at every start

A stored fragment is kept in the HTTP API's body layout (``u16 LE count ++ count × 32-byte fragment roots of
its segment ++ the fragment's bytes``, :mod:`storage_node.service.body`), so a read serves the file as it is
and a proof finds the segment's roots next to the bytes it proves.

Fragments are written and read around the page cache, in reused aligned buffers (:meth:`FragmentStore.writer`,
:meth:`FragmentStore.reader`, :mod:`storage_node.service.direct_io` says why).

Crash safety: an upload is streamed to a temporary file, checked, fsynced, renamed to its final name and the
folder fsynced (:meth:`FragmentStore.commit`, with :func:`sdk.durable.replace_durably`) before the node
acknowledges it, so an acknowledged fragment survives a power cut, and a crash before the rename leaves only
a temporary file that the next start deletes: nothing partial is ever found under ``fragments/``.

Capacity: the node serves at most ``capacity`` bytes (what it registered on chain) and keeps ``min_free``
bytes of its disk free (the disk may be shared). A write first reserves its size
(:meth:`FragmentStore.reserve`); past either bound it raises :class:`StoreFull` (HTTP 507), as it does when
the disk fills up anyway (``ENOSPC``/``EDQUOT`` while writing). Every method here is blocking file I/O: the
daemon calls them through ``trio.to_thread.run_sync``, several at once (one commit per upload): the index
and the reservations change under one lock, a file's folder is made (and its entry fsynced) under another.
"""

from __future__ import annotations

import errno
import re
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sdk.durable import fsync_dir, replace_durably
from storage_node.service.direct_io import BufferPool, DirectReader, DirectWriter

__all__ = ["FragmentKey", "FragmentStore", "StoreFull", "StoreError", "disk_error"]

FRAGMENTS_DIR = "fragments"
TMP_DIR = "tmp"
_FILE_DIR = re.compile(r"[0-9a-f]{64}")
_FRAGMENT_FILE = re.compile(r"(0|[1-9][0-9]{0,9})\.(0|[1-9][0-9]{0,4})")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class StoreError(Exception):
    """The store cannot do what was asked (an I/O error other than a full disk)."""


class StoreFull(StoreError):
    """The write would exceed the node's capacity, or the disk is full."""


@dataclass(frozen=True, order=True)
class FragmentKey:
    """Which fragment: a file's segment's fragment index."""

    file_id: bytes
    """32 bytes: the hash of the file's manifest."""
    segment: int
    fragment: int

    def __str__(self) -> str:
        return f"0x{self.file_id.hex()}/{self.segment}/{self.fragment}"


class FragmentStore:
    """The fragments this node holds, under ``root``, at most ``capacity`` bytes of them."""

    def __init__(self, root: Path, capacity: int, *, min_free: int = 0, direct_io: bool = True) -> None:
        if capacity < 0 or min_free < 0:
            raise ValueError("capacity and min_free must not be negative")
        self.root = root
        self.capacity = capacity
        self.min_free = min_free
        """Bytes the disk must keep free after a write (other programs share it; a full disk is the node's
        fault to avoid, not the chain's to know)."""
        self.direct_io = direct_io
        """Whether fragments bypass the page cache (``O_DIRECT``, where the file system has it)."""
        self._buffers = BufferPool()
        self._sizes: dict[FragmentKey, int] = {}
        self._used = 0
        self._reserved = 0
        """Capacity held by fragments being written (beyond the copies they replace)."""
        self._writing = 0
        """Bytes of temporary files being written: disk space they take until renamed."""
        self._lock = threading.Lock()  # reservations are taken from the event loop and released from threads
        self._folders_lock = threading.Lock()
        self._durable_folders: set[Path] = set()
        """Files' folders whose entries this process made durable (or found there: they survived a restart)."""
        self.drops = 0
        """How many times the node was told to drop fragments (:meth:`remove`, :meth:`remove_file`), whether or
        not it held them: an upload that saw this change while its body came re-checks its placement, since
        the drop may have been meant for the fragment it was about to store."""

    # --- opening --------------------------------------------------------------------------------------

    def open(self) -> None:
        """Create the folders, delete unfinished uploads, and rebuild the index from the files."""
        (self.root / FRAGMENTS_DIR).mkdir(parents=True, exist_ok=True)
        tmp = self.root / TMP_DIR
        tmp.mkdir(exist_ok=True)
        for leftover in tmp.iterdir():
            leftover.unlink()
        sizes: dict[FragmentKey, int] = {}
        for folder in (self.root / FRAGMENTS_DIR).iterdir():
            if not _FILE_DIR.fullmatch(folder.name) or not folder.is_dir():
                continue
            file_id = bytes.fromhex(folder.name)
            for entry in folder.iterdir():
                match = _FRAGMENT_FILE.fullmatch(entry.name)
                if match is not None:
                    sizes[FragmentKey(file_id, int(match[1]), int(match[2]))] = entry.stat().st_size
        self._sizes = sizes
        self._used = sum(sizes.values())

    # --- reading --------------------------------------------------------------------------------------

    @property
    def used(self) -> int:
        """Bytes of stored fragments."""
        return self._used

    @property
    def fragment_count(self) -> int:
        return len(self._sizes)

    def keys(self) -> list[FragmentKey]:
        with self._lock:
            return sorted(self._sizes)

    def has(self, key: FragmentKey) -> bool:
        return key in self._sizes

    def size(self, key: FragmentKey) -> int | None:
        return self._sizes.get(key)

    def stored_at_ms(self, key: FragmentKey) -> int | None:
        """When the fragment was stored (its file's modification time, milliseconds since the epoch); None if
        it is not stored."""
        try:
            return self.path(key).stat().st_mtime_ns // 1_000_000
        except OSError:
            return None

    def path(self, key: FragmentKey) -> Path:
        return self.root / FRAGMENTS_DIR / key.file_id.hex() / f"{key.segment}.{key.fragment}"

    def reader(self, key: FragmentKey) -> DirectReader:
        """The stored body of a fragment, to read piece by piece (``OSError`` if it is not stored)."""
        return DirectReader(self.path(key), self._buffers, direct=self.direct_io)

    def read(self, key: FragmentKey) -> bytes:
        """The stored body of a fragment (a few MiB at most); ``StoreError`` if it is not stored."""
        try:
            with self.reader(key) as reader:
                return b"".join(iter(reader.read, b""))
        except OSError as exc:
            raise StoreError(f"fragment {key}: {exc.strerror or exc}") from None

    # --- writing --------------------------------------------------------------------------------------

    def temp_path(self) -> Path:
        """A fresh name for an upload in progress (created by the caller)."""
        return self.root / TMP_DIR / f"{secrets.token_hex(16)}.part"

    def writer(self, temp: Path) -> DirectWriter:
        """A writer of the new temporary file ``temp``; :meth:`commit` it once finished."""
        return DirectWriter(temp, self._buffers, direct=self.direct_io)

    @contextmanager
    def reserve(self, size: int, key: FragmentKey | None = None) -> Iterator[None]:
        """Hold ``size`` bytes of the capacity while a fragment is written; ``StoreFull`` past it. Writing
        fragment ``key`` again (a node rebuilding its own fragment in place) counts against the capacity only
        what it adds to the copy it replaces; the disk still needs room for both until the rename."""
        with self._lock:
            growth = max(0, size - (self._sizes.get(key, 0) if key is not None else 0))
            if self._used + self._reserved + growth > self.capacity:
                raise StoreFull(f"{growth} more bytes would exceed the capacity ({self._used} of {self.capacity} "
                                f"bytes used, {self._reserved} reserved)")
            free = shutil.disk_usage(self.root).free - self._writing
            if free - size < self.min_free:
                raise StoreFull(f"{size} more bytes would leave {free - size} bytes free on the disk; "
                                f"{self.min_free} must stay free")
            self._reserved += growth
            self._writing += size
        try:
            yield
        finally:
            with self._lock:
                self._reserved -= growth
                self._writing -= size

    def commit(self, temp: Path, key: FragmentKey) -> None:
        """Make the fully written ``temp`` the stored fragment ``key`` (replacing an older copy): fsync the file,
        rename it, fsync the folder. Raises ``StoreFull`` if the disk is full, ``StoreError`` otherwise; either
        way ``temp`` is gone and nothing of it is stored."""
        final = self.path(key)
        try:
            size = temp.stat().st_size
            for attempt in range(2):
                self._durable_folder(final.parent)
                try:
                    replace_durably(temp, final)
                    break
                except FileNotFoundError:  # the last fragment of the file removed meanwhile took its folder
                    if attempt or final.parent.exists() or not temp.exists():
                        raise
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise disk_error(exc, f"storing fragment {key}") from None
        with self._lock:
            self._used += size - self._sizes.get(key, 0)
            self._sizes[key] = size

    def _durable_folder(self, folder: Path) -> None:
        """Make a file's folder, its entry in ``fragments/`` durable before any fragment in it is acknowledged:
        one commit at a time does it (a second upload of the same new file once found the folder made and
        answered 201 before the first had fsynced its entry, and a power cut then lost an acknowledged
        fragment)."""
        with self._folders_lock:
            if folder not in self._durable_folders:
                folder.mkdir(exist_ok=True)
                fsync_dir(folder.parent)
                self._durable_folders.add(folder)

    def write(self, key: FragmentKey, data: bytes) -> None:
        """Store ``data`` as fragment ``key`` crash-safely (a temporary file, then :meth:`commit`), within the
        capacity (``StoreFull``)."""
        temp = self.temp_path()
        try:
            with self.reserve(len(data), key):
                try:
                    with self.writer(temp) as writer:
                        writer.write(data)
                        writer.finish()
                except OSError as exc:
                    raise disk_error(exc, f"writing fragment {key}") from None
                self.commit(temp, key)
        finally:
            temp.unlink(missing_ok=True)

    def remove(self, key: FragmentKey) -> bool:
        """Delete a stored fragment; whether it was stored."""
        with self._lock:
            self.drops += 1
            size = self._sizes.pop(key, None)
            if size is None:
                return False
            self._used -= size
            last_of_file = not any(k.file_id == key.file_id for k in self._sizes)
        self.path(key).unlink(missing_ok=True)
        if last_of_file:
            with self._folders_lock:
                if _remove_empty(self.path(key).parent):
                    self._durable_folders.discard(self.path(key).parent)
        return True

    def remove_file(self, file_id: bytes) -> int:
        """Delete every stored fragment of a file; how many there were."""
        with self._lock:
            self.drops += 1
            doomed = [key for key in self._sizes if key.file_id == file_id]
        return sum(self.remove(key) for key in doomed)


def disk_error(exc: OSError, what: str) -> StoreError:
    """The typed error for an ``OSError`` met writing a fragment (``StoreFull`` for a full disk)."""
    if exc.errno in _DISK_FULL:
        return StoreFull(f"{what}: the disk is full ({exc.strerror})")
    return StoreError(f"{what}: {exc.strerror or exc}")


def _remove_empty(folder: Path) -> bool:
    """Remove the folder if it is empty; whether it is gone."""
    try:
        folder.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False  # not empty: an upload committed meanwhile
    return True
