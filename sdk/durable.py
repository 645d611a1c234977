"""Durable file writes, as Cairn's daemons keep what they acknowledged: a temporary name, fsync, rename, fsync.

A file that must survive a power cut once the daemon has answered for it (a storage node's fragment, a DA
node's custody cells) is written under a temporary name, fsynced, renamed over its final name and its folder
fsynced: after a crash at any moment the final name holds either the previous file or the new one, never a
mix, and the temporary file is what the daemon deletes at its next start. In the SDK package because both
daemons share it without one layer depending on the other. Every function blocks on the disk: call it from a
worker thread.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_file", "fsync_dir", "replace_durably", "write_durably"]


def fsync_file(path: Path) -> None:
    """Flush ``path``'s bytes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush the folder ``path``'s entries (a rename or an unlink in it) to the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(temp: Path, final: Path, *, sync_folder: bool = True) -> None:
    """Make the fully written ``temp`` the file ``final`` (replacing any older one): fsync ``temp``, rename
    it, fsync ``final``'s folder. An ``OSError`` before the rename leaves ``final`` as it was. Without
    ``sync_folder`` a power cut may undo the rename, leaving the previous file, never an empty one (the data is
    on disk before the rename, which some file systems, XFS say, may write first)."""
    fsync_file(temp)
    os.replace(temp, final)
    if sync_folder:
        fsync_dir(final.parent)


def write_durably(path: Path, data: bytes, temp: Path, *, sync_folder: bool = True) -> None:
    """Write ``data`` as ``path`` through the temporary file ``temp`` (same folder; see :func:`replace_durably`).
    Raises ``OSError`` (a full disk) having left ``path`` as it was and no ``temp``."""
    try:
        temp.write_bytes(data)
        replace_durably(temp, path, sync_folder=sync_folder)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
