"""Fragment files written and read around the page cache (``O_DIRECT``), through reused aligned buffers.

Why: a node writes a fragment once and reads it rarely (a download, a repair), so caching its bytes buys
nothing and evicts what is worth keeping; MinIO writes and reads its erasure-coded shards the same way. It
also costs CPU: every page the cache takes is a page the kernel must find, zero-map and later reclaim, and
on a virtual machine that hands freed memory back to its host (as the project's test machines do) a page
the guest has not touched lately costs ~2.7 s of CPU per GiB to fault in. There, writing and fsyncing
fragments cost 2.97 s of CPU per GB through the cache and 0.34 s around it, and a devnet's 1 GiB upload
went from 1.4x to 2.1x Tahoe-LAFS's rate (``benchmarks/fragment_writes.py``, ``benchmarks/storage_transfer.py``;
``benchmarks/RESULTS.md``, 2026-12-04).

``O_DIRECT`` moves whole blocks between the device and a buffer whose address, length and file offset are
multiples of the device's logical block; :data:`ALIGNMENT` (4 KiB) covers the devices in use. A writer
copies what it is given into a page-aligned buffer and writes it out a buffer at a time; the last, partial
block goes out padded with zeros and the file is truncated to its exact length. The caller then fsyncs as
for any file (``sdk.durable.replace_durably``): ``O_DIRECT`` bypasses the cache, not the device's own write
cache. Buffers come from a :class:`BufferPool`, so a busy node reuses the same few pages for every upload.

Where the file system refuses ``O_DIRECT`` (tmpfs before Linux 6.6, some FUSE and network file systems) or
the platform has none, the same classes go through the page cache: slower on such a machine, never wrong. So
does a file whose direct transfers fail with ``EINVAL`` although it opened (a device with blocks larger than
:data:`ALIGNMENT`): the transfer is made again through the cache, and the rest of that file with it.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Self, TypeVar

__all__ = ["ALIGNMENT", "BUFFER_SIZE", "BufferPool", "DirectWriter", "DirectReader"]

ALIGNMENT = 4096
"""Block size every direct transfer is aligned to: the logical block of 512-byte and 4 KiB-sector devices."""
BUFFER_SIZE = 1 << 20
"""Bytes per buffer, and so per write or read call: 256 blocks, large enough that a call's cost is the copy."""

T = TypeVar("T")

_O_DIRECT = getattr(os, "O_DIRECT", 0)
_REFUSED = (errno.EINVAL, errno.EOPNOTSUPP)
"""What ``open`` answers for ``O_DIRECT`` on a file system without it."""


class BufferPool:
    """Page-aligned buffers of :data:`BUFFER_SIZE` bytes, taken and given back (thread-safe). Keeps up to
    ``keep`` buffers that were given back, for the next transfers; more at once (a burst of uploads) are unmapped
    when given back, so a burst's memory does not stay with the node."""

    def __init__(self, keep: int = 16) -> None:
        self.keep = keep
        self._free: list[mmap.mmap] = []
        self._lock = threading.Lock()

    def take(self) -> mmap.mmap:
        with self._lock:
            if self._free:
                return self._free.pop()
        return mmap.mmap(-1, BUFFER_SIZE)  # an anonymous map is page-aligned

    def give(self, buffer: mmap.mmap) -> None:
        with self._lock:
            if len(self._free) < self.keep:
                self._free.append(buffer)
                return
        buffer.close()


def _open(path: Path, flags: int, direct: bool) -> tuple[int, bool]:
    """``os.open`` with ``O_DIRECT`` if asked and the file system takes it: the descriptor, and whether it is
    direct."""
    if direct and _O_DIRECT:
        try:
            return os.open(path, flags | _O_DIRECT, 0o644), True
        except OSError as exc:
            if exc.errno not in _REFUSED:
                raise
    return os.open(path, flags, 0o644), False


class _PooledFile:
    """An open descriptor and a buffer of ``pool``'s, both given back by :meth:`close` (or leaving a ``with``)."""

    def __init__(self, path: Path, flags: int, pool: BufferPool, direct: bool) -> None:
        self._fd, self.direct = _open(path, flags, direct)
        self._pool = pool
        self._buffer = pool.take()
        self._view = memoryview(self._buffer)

    def close(self) -> None:
        if self._fd >= 0:
            self._view.release()
            self._pool.give(self._buffer)
            os.close(self._fd)
            self._fd = -1

    def _transfer(self, call: Callable[[], T]) -> T:
        """``call()``, one read or write of this file; if a direct one fails with ``EINVAL``, the file leaves
        ``O_DIRECT`` and the call is made again through the page cache."""
        try:
            return call()
        except OSError as exc:
            if not self.direct or exc.errno != errno.EINVAL:
                raise
        fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~_O_DIRECT)
        self.direct = False
        return call()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class DirectWriter(_PooledFile):
    """A new file (``path`` created or emptied) written front to back: :meth:`write` any pieces, then
    :meth:`finish`, which writes the rest and sets the file's exact length, then :meth:`close`. Blocking file
    I/O: a worker thread's. ``OSError`` as the disk reports it (a full disk too)."""

    def __init__(self, path: Path, pool: BufferPool, *, direct: bool = True) -> None:
        super().__init__(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, pool, direct)
        self._filled = 0
        self._length = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        while len(view):
            take = min(len(view), BUFFER_SIZE - self._filled)
            self._view[self._filled:self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == BUFFER_SIZE:
                self._flush(BUFFER_SIZE)

    def finish(self) -> None:
        """Write what is buffered (a direct writer pads it to whole blocks) and cut the file to the bytes written."""
        if self._filled:
            whole = -(-self._filled // ALIGNMENT) * ALIGNMENT if self.direct else self._filled
            self._view[self._filled:whole] = bytes(whole - self._filled)
            self._flush(whole)
        os.ftruncate(self._fd, self._length)

    def _flush(self, size: int) -> None:
        """Write the buffer's first ``size`` bytes: all of it, or the padded tail."""
        written = 0
        while written < size:  # a direct write of whole blocks is whole; a buffered one may come back short
            piece = self._view[written:size]
            written += self._transfer(lambda: os.pwrite(self._fd, piece, self._length + written))
        self._length += self._filled
        self._filled = 0


class DirectReader(_PooledFile):
    """A file read front to back in pieces of at most :data:`BUFFER_SIZE` bytes. Blocking: a worker thread's."""

    def __init__(self, path: Path, pool: BufferPool, *, direct: bool = True) -> None:
        super().__init__(path, os.O_RDONLY, pool, direct)
        self._offset = 0

    def read(self) -> bytes:
        """The next piece (a copy: the buffer is reused), ``b""`` at the end."""
        count = self._transfer(lambda: os.preadv(self._fd, [self._buffer], self._offset))
        self._offset += count
        return self._buffer[:count]
