"""The overlay: a block's pending state changes, with nested transactional layers.

Execution reads through the overlay to an immutable base state (a trie snapshot) and writes only to the
overlay. A block's changes are applied to the base after the block is finalized; a rejected block's overlay
is simply dropped, so the base never sees them.

Rollback uses a journal rather than copying layers: ``_values`` always holds the current view, and each
open transaction records, the first time it touches a key, the value that key had before. Reads are then a
single dict lookup on the hot path, and rolling back a layer costs only the keys it touched.

``append`` implements Substrate's storage append for ``Vec`` values (``System.Events``): items are kept as
encoded chunks and only joined when read, so depositing the n-th event does not re-encode the first n-1.
"""

from __future__ import annotations

from typing import Iterator, Protocol

from runtime.scale import decode_compact, encode_compact

__all__ = ["StateReader", "Overlay", "TransactionLimitReached", "NoTransactionLayer"]

MAX_TRANSACTION_DEPTH = 255
_MISSING = object()


class StateReader(Protocol):
    """What the overlay needs of the base state (a trie snapshot or a plain mapping in tests)."""

    def get(self, key: bytes) -> bytes | None: ...

    def items(self, prefix: bytes = b"", start_after: bytes | None = None) -> Iterator[tuple[bytes, bytes]]: ...


class TransactionLimitReached(Exception):
    """More than ``MAX_TRANSACTION_DEPTH`` nested transactional layers."""


class NoTransactionLayer(Exception):
    """Commit or rollback without an open transactional layer."""


class _Appended:
    """An appendable SCALE ``Vec``: ``count`` items whose encodings are ``chunks`` concatenated."""

    __slots__ = ("count", "chunks")

    def __init__(self, count: int, chunks: list[bytes]) -> None:
        self.count = count
        self.chunks = chunks

    def encode(self) -> bytes:
        return encode_compact(self.count) + b"".join(self.chunks)


class _Truncate:
    """Journal entry for an append: undo by cutting the list back to its earlier size."""

    __slots__ = ("target", "count", "n_chunks")

    def __init__(self, target: _Appended) -> None:
        self.target, self.count, self.n_chunks = target, target.count, len(target.chunks)


class Overlay:
    """Pending changes over ``base``. Values are SCALE bytes; ``None`` marks a deletion."""

    def __init__(self, base: StateReader) -> None:
        self.base = base
        self._values: dict[bytes, object] = {}
        self._journals: list[dict[bytes, object]] = []
        self.decoded: dict[bytes, tuple[bytes, object]] = {}
        """Storage handles' memo of ``key -> (bytes, decoded value)``. Values are immutable and an entry
        is used only while ``get`` returns that very bytes object, so it needs no invalidation."""

    # --- reads ----------------------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        value = self._values.get(key, _MISSING)
        if value is _MISSING:
            return self.base.get(key)
        if type(value) is _Appended:
            return value.encode()
        return value  # type: ignore[return-value]

    def contains(self, key: bytes) -> bool:
        return self.get(key) is not None

    def keys(self, prefix: bytes, start_after: bytes | None = None) -> Iterator[bytes]:
        """Keys under ``prefix`` in order, merging the overlay over the base."""
        for key, _ in self.items(prefix, start_after):
            yield key

    def items(self, prefix: bytes = b"", start_after: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        touched = sorted(
            k for k in self._values if k.startswith(prefix) and (start_after is None or k > start_after)
        )
        base_iter = self.base.items(prefix, start_after)
        base_next = next(base_iter, None)
        i = 0
        while base_next is not None or i < len(touched):
            if i < len(touched) and (base_next is None or touched[i] <= base_next[0]):
                key = touched[i]
                i += 1
                if base_next is not None and base_next[0] == key:
                    base_next = next(base_iter, None)
                value = self.get(key)
                if value is not None:
                    yield key, value
            else:
                assert base_next is not None
                yield base_next
                base_next = next(base_iter, None)

    # --- writes ---------------------------------------------------------------------------------

    def _journal(self, key: bytes) -> None:
        if self._journals:
            journal = self._journals[-1]
            if key not in journal:
                previous = self._values.get(key, _MISSING)
                journal[key] = _Truncate(previous) if type(previous) is _Appended else previous

    def set(self, key: bytes, value: bytes) -> None:
        self._journal(key)
        self._values[key] = value

    def delete(self, key: bytes) -> None:
        self._journal(key)
        self._values[key] = None

    def append(self, key: bytes, item: bytes) -> None:
        """Append one encoded item to the SCALE ``Vec`` stored at ``key`` (absent = empty)."""
        current = self._values.get(key, _MISSING)
        if type(current) is not _Appended:
            existing = self.base.get(key) if current is _MISSING else current
            self._journal(key)
            if existing:
                count, offset = decode_compact(existing)
                current = _Appended(count, [existing[offset:]])
            else:
                current = _Appended(0, [])
            self._values[key] = current
        else:
            self._journal(key)
        current.count += 1  # type: ignore[union-attr]
        current.chunks.append(item)  # type: ignore[union-attr]

    def clear_prefix(self, prefix: bytes) -> int:
        """Delete every key under ``prefix``; returns how many existed."""
        keys = list(self.keys(prefix))
        for key in keys:
            self.delete(key)
        return len(keys)

    # --- transactional layers -------------------------------------------------------------------

    @property
    def transaction_depth(self) -> int:
        return len(self._journals)

    def start_transaction(self) -> None:
        if len(self._journals) >= MAX_TRANSACTION_DEPTH:
            raise TransactionLimitReached()
        self._journals.append({})

    def commit_transaction(self) -> None:
        if not self._journals:
            raise NoTransactionLayer()
        journal = self._journals.pop()
        if self._journals:
            parent = self._journals[-1]
            for key, previous in journal.items():
                parent.setdefault(key, previous)

    def rollback_transaction(self) -> None:
        if not self._journals:
            raise NoTransactionLayer()
        journal = self._journals.pop()
        for key, previous in journal.items():
            if previous is _MISSING:
                del self._values[key]
            elif type(previous) is _Truncate:
                target = previous.target
                del target.chunks[previous.n_chunks :]
                target.count = previous.count
                self._values[key] = target
            else:
                self._values[key] = previous

    # --- results --------------------------------------------------------------------------------

    def changes(self) -> dict[bytes, bytes | None]:
        """Every key written since the overlay was created, with its final value (``None`` = deleted)."""
        if self._journals:
            raise RuntimeError("changes() read while a transaction is still open")
        return {k: (v.encode() if type(v) is _Appended else v) for k, v in self._values.items()}  # type: ignore[misc]
