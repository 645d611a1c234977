"""What an upload reads from: a path, bytes, or a file-like object, read one segment at a time.

An upload reads its source twice (:mod:`sdk.storage.upload` says why), so a source must be readable at
any offset: a path to a regular file is opened and read with ``os.pread`` (no shared file position, so
worker threads read different segments at once); bytes are sliced without a copy; a seekable file-like
object is read under a lock; anything else (a pipe, a socket, a path naming one: ``/dev/stdin``, a shell's
``<(…)``, or a file whose size reads 0, as ``/proc``'s do) is first spooled to an anonymous temporary file,
which costs one copy on disk and no memory, up to ``limit`` bytes (the most the chain stores in a file: a
stream without end, ``/dev/zero``, must not fill the disk first).

Reads are blocking: the async layer calls :meth:`Source.read` from worker threads.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO

from sdk.chain.errors import BadArgument

__all__ = ["Source", "UploadSource"]

UploadSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO
"""What ``upload`` takes: a path, the bytes themselves, or a binary file-like object (read from its
current position to its end)."""

_SPOOL_CHUNK = 1 << 20


class Source:
    """Random access to an upload's bytes. Use as a context manager: it closes what it opened."""

    def __init__(self, source: UploadSource, limit: int | None = None) -> None:
        self._lock = threading.Lock()
        self._owned: BinaryIO | None = None
        self._bytes: memoryview | None = None
        self._fd: int | None = None
        self._file: BinaryIO | None = None
        self._start = 0
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._bytes = memoryview(source).cast("B")
            self.size = len(self._bytes)
        elif isinstance(source, (str, os.PathLike)):
            opened = open(Path(source), "rb")  # noqa: SIM115 - closed by close()
            found = os.fstat(opened.fileno())
            if stat.S_ISREG(found.st_mode) and found.st_size:
                self._owned, self._fd, self.size = opened, opened.fileno(), found.st_size
            else:
                with opened:
                    self._spool(opened, limit)
        elif not hasattr(source, "read"):
            raise BadArgument("an upload reads a path, bytes or a binary file-like object, "
                              f"not {type(source).__name__}")
        elif _seekable(source) and _believable_size(source):
            self._file = source
            self._start = source.tell()
            self.size = source.seek(0, io.SEEK_END) - self._start
        else:
            self._spool(source, limit)

    def _spool(self, stream: BinaryIO, limit: int | None) -> None:
        """Copy a stream read once to its end into an anonymous temporary file, read from there; refused
        (``BadArgument``) past ``limit`` bytes."""
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        copied = 0
        try:
            while chunk := stream.read(_SPOOL_CHUNK):
                copied += len(chunk)
                if limit is not None and copied > limit:
                    raise BadArgument(f"the source holds more than {limit} bytes, the most the chain stores in a "
                                      "file; split it")
                spool.write(chunk)
            spool.flush()  # the tail of the copy may still be in the file object's buffer, not in the file
        except BaseException:
            spool.close()
            raise
        self._owned, self._fd, self.size = spool, spool.fileno(), copied

    def read(self, offset: int, length: int) -> bytes | memoryview:
        """``length`` bytes at ``offset`` (fewer only if the source shrank since it was opened)."""
        if self._bytes is not None:
            view = self._bytes[offset:offset + length]
            # a buffer its owner may still change (a bytearray, even behind a read-only view) is read as a copy:
            # the upload checks a segment against its first pass's digest, then seals it, and a change in
            # between would seal two plaintexts under one key and nonce
            return view if isinstance(self._bytes.obj, bytes) else bytes(view)
        if self._fd is not None:
            return _pread_exactly(self._fd, offset, length)
        assert self._file is not None
        with self._lock:
            self._file.seek(self._start + offset)
            return self._file.read(length)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _believable_size(stream: BinaryIO) -> bool:
    """Whether a seekable stream's end is its size: one on no descriptor (an in-memory buffer), or on a regular
    file that reports a size. Standard input redirected from ``/dev/zero`` or a ``/proc`` file seeks, and its
    end reads 0."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # (io.UnsupportedOperation is an OSError)
        return True
    found = os.fstat(fd)
    return stat.S_ISREG(found.st_mode) and found.st_size > 0


def _seekable(stream: BinaryIO) -> bool:
    try:
        return stream.seekable()
    except (AttributeError, ValueError, OSError):
        return False


def _pread_exactly(fd: int, offset: int, length: int) -> bytes:
    parts = []
    while length:
        part = os.pread(fd, length, offset)
        if not part:
            break
        parts.append(part)
        offset += len(part)
        length -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)
