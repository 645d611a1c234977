"""The DA node's custody store: the verified cells it holds, one file per blob, crash-safe.

Layout under the node's base path::

    cells/<blob id hex>.cells        the blob's custody cells as a cell set (sdk.da.wire), indices rising
    cells/<blob id hex>.cells.tmp    a write in progress; deleted at the next start

A blob's file is only ever replaced whole: written under the temporary name, fsynced, renamed over the old
one, and the folder fsynced (:func:`sdk.durable.write_durably`), so after a crash at any moment the file is
either the old set or the new one, never a mix (the node signed an attestation only after the write
returned). The index (blob → the cell indices held) is rebuilt from the files at :meth:`CellStore.open`; a
file that does not decode as a cell set (a disk fault, a hand edit) is moved aside as ``.corrupt`` and its
blob counts as not held, so the node recovers it from its peers. Methods block on the disk: the daemon calls them from a worker thread, and a
lock keeps the index consistent between threads.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterable

from sdk.da.wire import CELL_RECORD, Cell, MalformedCells, decode_cell, decode_cells, encode_cells
from sdk.durable import fsync_dir, write_durably

__all__ = ["CellStore"]

SUFFIX = ".cells"
PARTIAL = ".tmp"
CORRUPT = ".corrupt"


class CellStore:
    """Use :meth:`open`; every method is safe to call from several threads."""

    def __init__(self, folder: Path, index: dict[bytes, tuple[int, ...]], corrupt: int) -> None:
        self.folder = folder
        self._index = index
        self._lock = threading.Lock()
        self.corrupt_found = corrupt
        """Files found undecodable at :meth:`open` (moved aside)."""

    @classmethod
    def open(cls, folder: Path) -> "CellStore":
        folder.mkdir(parents=True, exist_ok=True)
        index: dict[bytes, tuple[int, ...]] = {}
        corrupt = 0
        for path in folder.iterdir():
            if path.name.endswith(PARTIAL):
                path.unlink()  # a write that never completed: its blob keeps its previous file, if any
                continue
            blob_id = _blob_id(path)
            if blob_id is None:
                continue
            try:
                index[blob_id] = tuple(decode_cells(path.read_bytes()))
            except MalformedCells:
                path.replace(path.with_name(path.name + CORRUPT))
                corrupt += 1
        return cls(folder, index, corrupt)

    def put(self, blob_id: bytes, cells: Iterable[Cell]) -> None:
        """Hold ``cells`` of the blob, with any it held already (a new cell replaces an old one of its index).
        Raises ``OSError`` (a full disk) having changed nothing."""
        with self._lock:
            merged = {cell.index: cell for cell in self._read_all(blob_id)}
            merged.update((cell.index, cell) for cell in cells)
            path = self._path(blob_id)
            # a full disk raises here: the previous set, if any, stays as it was
            write_durably(path, encode_cells(merged.values()), path.with_name(path.name + PARTIAL))
            self._index[blob_id] = tuple(sorted(merged))

    def get(self, blob_id: bytes, index: int) -> Cell | None:
        """Cell ``index`` of the blob, if held."""
        with self._lock:
            held = self._index.get(blob_id, ())
            try:
                position = held.index(index)
            except ValueError:
                return None
            with self._path(blob_id).open("rb") as file:
                file.seek(2 + position * CELL_RECORD)
                record = file.read(CELL_RECORD)
        if len(record) != CELL_RECORD or int.from_bytes(record[:2], "little") != index:
            raise MalformedCells(f"{self._path(blob_id)}: cell {index} is not where the index says")
        return decode_cell(index, record[2:])

    def cells(self, blob_id: bytes) -> list[Cell]:
        """Every cell of the blob held, by index (one read of its file)."""
        with self._lock:
            return self._read_all(blob_id)

    def indices(self, blob_id: bytes) -> frozenset[int]:
        with self._lock:
            return frozenset(self._index.get(blob_id, ()))

    def blobs(self) -> list[bytes]:
        with self._lock:
            return list(self._index)

    def cell_count(self) -> int:
        with self._lock:
            return sum(len(held) for held in self._index.values())

    def discard(self, blob_id: bytes, indices: Iterable[int]) -> None:
        """Stop holding cells ``indices`` of the blob (found bad: the node recovers them from its peers). A file
        that no longer decodes is dropped whole."""
        with self._lock:
            dropped = set(indices)
            try:
                kept = [cell for cell in self._read_all(blob_id) if cell.index not in dropped]
            except MalformedCells:
                kept = []
            if len(kept) == len(self._index.get(blob_id, ())):
                return
            if not kept:
                self._delete(blob_id)
                return
            path = self._path(blob_id)
            write_durably(path, encode_cells(kept), path.with_name(path.name + PARTIAL))
            self._index[blob_id] = tuple(cell.index for cell in kept)

    def delete(self, blob_id: bytes) -> None:
        """Drop the blob's cells (its retention ended); nothing if none are held."""
        with self._lock:
            self._delete(blob_id)

    def _delete(self, blob_id: bytes) -> None:
        if self._index.pop(blob_id, None) is not None:
            self._path(blob_id).unlink(missing_ok=True)
            fsync_dir(self.folder)

    def _read_all(self, blob_id: bytes) -> list[Cell]:
        if blob_id not in self._index:
            return []
        return list(decode_cells(self._path(blob_id).read_bytes()).values())

    def _path(self, blob_id: bytes) -> Path:
        return self.folder / (blob_id.hex() + SUFFIX)


def _blob_id(path: Path) -> bytes | None:
    name = path.name
    if not name.endswith(SUFFIX) or len(name) != 64 + len(SUFFIX):
        return None
    try:
        return bytes.fromhex(name[:64])
    except ValueError:
        return None

