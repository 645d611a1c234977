"""Public files kept on local disk by id, so that a reader who needs one again fetches nothing.

A file id is the hash of the file's manifest, which names every segment root and whether the file is
encrypted (:mod:`storage_node.manifest`). So the bytes behind an id never change, and a public file stays
public. A public file once downloaded, every fragment checked against the chain, can be read again from
disk with no chain read and no storage node asked. A compute provider whose jobs share a model or a dataset
downloads it once (:mod:`compute_pallet.service.jobs`).

**Private files are never kept.** Each read of one needs an access record on chain (the access log is
complete), and its plaintext must not outlive the download that was logged.

Each entry is one file named ``<file id hex>.<BLAKE3 of its bytes, hex>``. It is written under a
temporary name and renamed once complete, so a crash leaves no half entry under an entry's name (nor a
truncated one that passes: the name carries the digest). A hit hashes the entry again before its bytes are
used. A disk that flipped a bit costs a download, never a wrong input; a provider is slashed for a result
that differs from its peers'. Entries are evicted least recently used once their total passes
``max_bytes``; a file larger than that is not kept.

One process owns a folder at a time. Within it, downloads of the same id wait for each other, so that the
second one hits instead of fetching the file again.
"""

from __future__ import annotations

import logging
import os
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio
from blake3 import blake3

__all__ = ["PublicFileCache", "Filling"]

log = logging.getLogger(__name__)

COPY_CHUNK = 8 << 20
"""Bytes read from an entry at a time, to hash it and to copy it out."""
_ENTRY_NAME = re.compile(r"^([0-9a-f]{64})\.([0-9a-f]{64})$")
_PARTIAL_SUFFIX = ".part"


@dataclass(frozen=True)
class _Entry:
    path: Path
    size: int
    digest: bytes


class PublicFileCache:
    """Public files by id under ``folder`` (created if missing), at most ``max_bytes`` of them in all."""

    def __init__(self, folder: str | os.PathLike[str], max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.hits = 0
        """Reads served from disk."""
        self.misses = 0
        """Reads that had to fetch the file (none kept, or the kept copy failed its check)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._entries = self._scan()
        """Least recently used first; changed only on the event loop's thread."""
        self._size = sum(entry.size for entry in self._entries.values())
        self._locks: dict[bytes, tuple[anyio.Lock, int]] = {}

    @property
    def size(self) -> int:
        """Bytes kept."""
        return self._size

    def __contains__(self, file_id: bytes) -> bool:
        return file_id in self._entries

    def _scan(self) -> OrderedDict[bytes, _Entry]:
        """The entries found on disk, oldest use first; temporaries of an interrupted fill are removed, files
        this cache did not name are left alone."""
        found: list[tuple[float, bytes, _Entry]] = []
        for path in self.folder.iterdir():
            if path.name.endswith(_PARTIAL_SUFFIX) and _ENTRY_NAME.match(path.name[:-len(_PARTIAL_SUFFIX)]):
                path.unlink(missing_ok=True)
            elif (match := _ENTRY_NAME.match(path.name)) and path.is_file():
                stat = path.stat()
                file_id = bytes.fromhex(match[1])
                found.append((stat.st_mtime, file_id, _Entry(path, stat.st_size, bytes.fromhex(match[2]))))
        found.sort(key=lambda item: item[0])
        return OrderedDict((file_id, entry) for _, file_id, entry in found)

    @asynccontextmanager
    async def claim(self, file_id: bytes) -> AsyncIterator[None]:
        """Held while one download of ``file_id`` reads or fills its entry: the next waits, then hits."""
        lock, users = self._locks.get(file_id) or (anyio.Lock(), 0)
        self._locks[file_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[file_id]
            if users == 1:
                del self._locks[file_id]
            else:
                self._locks[file_id] = (lock, users - 1)

    async def read(self, file_id: bytes, write: Callable[[bytes], object]) -> int | None:
        """Pass the kept file's bytes to ``write`` (called in a worker thread) and return their count, once its
        digest checked out; ``None`` (a miss: nothing was written) if nothing is kept or the kept copy is
        damaged, which is then dropped."""
        entry = self._entries.get(file_id)
        if entry is None:
            self.misses += 1
            return None
        try:
            intact = await anyio.to_thread.run_sync(_read_checked, entry, write)
            problem = "does not match its digest"
        except _Unreadable as exc:
            intact, problem = False, f"is unreadable ({exc.__cause__})"
        if not intact:
            log.warning("cached file 0x%s %s: fetching it again", file_id.hex(), problem)
            if self._entries.get(file_id) is entry:
                self._drop(file_id)
            self.misses += 1
            return None
        if self._entries.get(file_id) is entry:  # not evicted meanwhile by another file's admission
            self._entries.move_to_end(file_id)
            with suppress(OSError):
                os.utime(entry.path)  # the use order survives a restart
        self.hits += 1
        return entry.size

    def filling(self, file_id: bytes, size: int) -> Filling | None:
        """Somewhere to write public file ``file_id``'s ``size`` bytes as they are downloaded, kept once
        :meth:`Filling.keep` is called; ``None`` if the file is too large to keep or the folder refuses it."""
        if size > self.max_bytes:
            return None
        try:
            return Filling(self, file_id)
        except OSError as exc:
            log.warning("cannot keep file 0x%s (%s): downloading it without keeping it", file_id.hex(), exc)
            return None

    def _admit(self, file_id: bytes, partial: Path, digest: bytes) -> None:
        self._drop(file_id)
        path = self.folder / f"{file_id.hex()}.{digest.hex()}"
        partial.replace(path)
        entry = self._entries[file_id] = _Entry(path, path.stat().st_size, digest)
        self._size += entry.size
        while self._size > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, file_id: bytes) -> None:
        entry = self._entries.pop(file_id, None)
        if entry is not None:
            self._size -= entry.size
            entry.path.unlink(missing_ok=True)


class Filling:
    """One file on its way into the cache: :meth:`write` its bytes in order (from any one thread at a time),
    then :meth:`keep` it on the event loop's thread (or :meth:`discard` it, as a failed download does).

    The cache is a convenience: a disk that fills up or a folder removed meanwhile costs the entry, with a
    warning, never the download."""

    def __init__(self, cache: PublicFileCache, file_id: bytes) -> None:
        self.cache, self.file_id = cache, file_id
        self.partial = cache.folder / f"{file_id.hex()}.{'0' * 64}{_PARTIAL_SUFFIX}"
        self._sink: BinaryIO | None = open(self.partial, "wb")
        self._hash = blake3()

    def write(self, data: bytes) -> None:
        if self._sink is None:
            return
        try:
            self._sink.write(data)
        except OSError as exc:
            self._give_up(exc)
            return
        self._hash.update(data)

    def keep(self) -> None:
        if self._sink is None:
            return
        try:
            self._sink.close()
            self._sink = None
            self.cache._admit(self.file_id, self.partial, self._hash.digest())
        except OSError as exc:
            self._give_up(exc)

    def discard(self) -> None:
        sink, self._sink = self._sink, None
        with suppress(OSError):  # a full disk fails the close too; a folder removed, the unlink
            if sink is not None:
                sink.close()
        with suppress(OSError):
            self.partial.unlink(missing_ok=True)

    def _give_up(self, exc: OSError) -> None:
        log.warning("cannot keep file 0x%s (%s): downloading it without keeping it", self.file_id.hex(), exc)
        self.discard()


class _Unreadable(Exception):
    """The entry could not be opened or read while its digest was checked (raised from the ``OSError``)."""


def _read_checked(entry: _Entry, write: Callable[[bytes], object]) -> bool:
    """Hash the entry through one open file and, if it matches, read it again into ``write``: a damaged entry
    writes nothing, and one evicted meanwhile is still read whole (the open file outlives its name)."""
    try:
        source = open(entry.path, "rb")
    except OSError as exc:
        raise _Unreadable() from exc
    with source:
        digest = blake3(max_threads=blake3.AUTO)
        try:
            while chunk := source.read(COPY_CHUNK):
                digest.update(chunk)
        except OSError as exc:
            raise _Unreadable() from exc
        if digest.digest() != entry.digest:
            return False
        source.seek(0)
        while chunk := source.read(COPY_CHUNK):
            write(chunk)
    return True
