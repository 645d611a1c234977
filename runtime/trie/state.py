"""``TrieState``: the persistent (path-copying) trie, its batch update, iteration and proofs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from runtime.hashing import blake2_256

from .codec import (
    _HEX,
    _NIB,
    EMPTY_ROOT,
    HASHED_VALUE_THRESHOLD,
    MAX_KEY_LENGTH,
    IncompleteDatabase,
    InvalidNode,
    _as_bytes,
    _encode,
    _Node,
    _ref,
    decode_node,
)

# -- building and updating -----------------------------------------------------------------------


def _build(keys: list[str], vals: list, lo: int, hi: int, pos: int, gen: int) -> _Node:
    """A fresh subtree for the sorted, distinct hex keys ``keys[lo:hi]`` (all sharing ``pos`` nibbles)."""
    if hi - lo == 1:
        return _Node(keys[lo][pos:], vals[lo], None, 0, gen)
    first, last = keys[lo], keys[hi - 1]
    end = min(len(first), len(last))
    e = pos
    while e < end and first[e] == last[e]:
        e += 1
    value = None
    if len(first) == e:  # the shortest key ends here: it is this branch's value
        value = vals[lo]
        lo += 1
    children: list = [None] * 16
    bitmap = 0
    i = lo
    while i < hi:
        c = keys[i][e]
        j = i + 1
        while j < hi and keys[j][e] == c:
            j += 1
        idx = _NIB[c]
        children[idx] = _build(keys, vals, i, j, e + 1, gen)
        bitmap |= 1 << idx
        i = j
    return _Node(first[pos:e], value, children, bitmap, gen)


class _Batch:
    """One ``apply``: sorted distinct hex keys, their new values (None = delete), bookkeeping."""

    __slots__ = ("keys", "vals", "gen", "delta")

    def __init__(self, keys: list[str], vals: list, gen: int) -> None:
        self.keys, self.vals, self.gen, self.delta = keys, vals, gen, 0


def _insert_fresh(b: _Batch, lo: int, hi: int, pos: int) -> _Node | None:
    keys, vals = b.keys, b.vals
    if hi - lo == 1:
        if vals[lo] is None:
            return None
        b.delta += 1
        return _Node(keys[lo][pos:], vals[lo], None, 0, b.gen)
    if None in vals[lo:hi]:
        keep = [i for i in range(lo, hi) if vals[i] is not None]
        if not keep:
            return None
        keys, vals, lo, hi = [keys[i] for i in keep], [vals[i] for i in keep], 0, len(keep)
    b.delta += hi - lo
    return _build(keys, vals, lo, hi, pos, b.gen)


def _apply(node: _Node | None, b: _Batch, lo: int, hi: int, pos: int) -> _Node | None:
    """The subtree ``node`` (whose path is the first ``pos`` nibbles shared by ``b.keys[lo:hi]``)
    with those changes applied. Returns ``node`` itself when nothing changed."""
    if node is None:
        return _insert_fresh(b, lo, hi, pos)
    keys, vals, gen = b.keys, b.vals, b.gen
    p = node.partial
    ch = node.children
    if ch is None:  # leaf: rebuild the (small) subtree from its one key plus the changes
        leaf_key = keys[lo][:pos] + p
        merged = {leaf_key: node.value}
        for i in range(lo, hi):
            if vals[i] is None:
                merged.pop(keys[i], None)
            else:
                merged[keys[i]] = vals[i]
        b.delta += len(merged) - 1
        if not merged:
            return None
        if len(merged) == 1 and merged.get(leaf_key) == node.value:
            return node
        ks = sorted(merged)
        return _build(ks, [merged[k] for k in ks], 0, len(ks), pos, gen)
    if not (keys[lo].startswith(p, pos) and keys[hi - 1].startswith(p, pos)):
        # Some keys leave the path inside this node's partial key.
        first = stop = split_at = None
        for i in range(lo, hi):
            k = keys[i]
            if k.startswith(p, pos):
                if first is None:
                    first = i
                stop = i + 1
            elif vals[i] is not None:
                d, m = 0, min(len(p), len(k) - pos)
                while d < m and k[pos + d] == p[d]:
                    d += 1
                if split_at is None or d < split_at:
                    split_at = d
        if split_at is None:  # only deletions of absent keys leave the path
            if first is None:
                return node
            lo, hi = first, stop
        else:  # an insertion leaves the path: split the partial key there
            lower = _Node(p[split_at + 1 :], node.value, ch, node.bitmap, gen)
            kids: list = [None] * 16
            idx = _NIB[p[split_at]]
            kids[idx] = lower
            return _apply(_Node(p[:split_at], None, kids, 1 << idx, gen), b, lo, hi, pos)
    q = pos + len(p)
    value = node.value
    i = lo
    if len(keys[i]) == q:  # sorted: a key ending at this branch comes first
        v = vals[i]
        if v is None:
            if value is not None:
                b.delta -= 1
                value = None
        elif value is None:
            b.delta += 1
            value = v
        elif v != value:
            value = v
        i += 1
    new_ch = None
    bitmap = node.bitmap
    while i < hi:
        c = keys[i][q]
        j = i + 1
        while j < hi and keys[j][q] == c:
            j += 1
        idx = _NIB[c]
        old = ch[idx]
        if j - i == 1 and old is not None and old.children is None:
            # the hot case, inlined: one change landing on a leaf
            k, lp = keys[i], old.partial
            if len(k) == q + 1 + len(lp) and k.endswith(lp):
                v = vals[i]
                if v is None:
                    b.delta -= 1
                    new = None
                else:
                    new = old if v == old.value else _Node(lp, v, None, 0, gen)
            else:
                new = _apply(old, b, i, j, q + 1)
        else:
            new = _apply(old, b, i, j, q + 1)
        if new is not old:
            if new_ch is None:
                new_ch = ch.copy()
            new_ch[idx] = new
            if new is None:
                bitmap &= ~(1 << idx)
            else:
                bitmap |= 1 << idx
        i = j
    if new_ch is None:
        if value is node.value:
            return node
        new_ch = ch
    if not bitmap:
        return None if value is None else _Node(p, value, None, 0, gen)
    if value is None and not bitmap & (bitmap - 1):  # a lone child merges into this node
        idx = bitmap.bit_length() - 1
        child = new_ch[idx]
        return _Node(p + _HEX[idx] + child.partial, child.value, child.children, child.bitmap, gen)
    return _Node(p, value, new_ch, bitmap, gen)


Changes = Mapping[bytes, bytes | None] | Iterable[tuple[bytes, bytes | None]]
"""What ``apply`` takes: new values by key, None to delete (a mapping, or pairs; the last pair wins)."""


def _prepare(changes: Changes) -> tuple[list, list]:
    pairs = changes.items() if isinstance(changes, Mapping) else changes
    d: dict[str, bytes | None] = {}
    for k, v in pairs:
        if type(k) is not bytes:
            k = _as_bytes(k, "key")
        if v is not None and type(v) is not bytes:
            v = _as_bytes(v, "value")
        if len(k) > MAX_KEY_LENGTH:
            raise ValueError(f"key longer than {MAX_KEY_LENGTH} bytes")
        d[k.hex()] = v
    keys = sorted(d)
    return keys, [d[k] for k in keys]


# -- the state -----------------------------------------------------------------------------------


class TrieState:
    """An immutable snapshot of the state: a map ``bytes -> bytes`` and its Merkle root.

    ``TrieState()`` is the empty V1 state; ``TrieState(version=0)`` uses ``LayoutV0`` (no value
    nodes). A state and every state derived from it by ``apply`` share one layout.
    """

    __slots__ = ("_node", "_len", "_version", "_threshold", "_gen")

    def __init__(self, *, version: int = 1) -> None:
        if version not in (0, 1):
            raise ValueError("state version must be 0 or 1")
        self._node: _Node | None = None
        self._len = 0
        self._version = version
        self._threshold = HASHED_VALUE_THRESHOLD if version == 1 else None
        self._gen = 0

    def _derive(self, node: _Node | None, length: int, gen: int) -> TrieState:
        s = object.__new__(TrieState)
        s._node, s._len, s._version, s._threshold, s._gen = node, length, self._version, self._threshold, gen
        return s

    @classmethod
    def from_items(
        cls, items: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes]], *, version: int = 1
    ) -> TrieState:
        """Build a state in one pass (genesis). None values are skipped; later duplicates win."""
        empty = cls(version=version)
        keys, vals = _prepare(items)
        if None in vals:
            keep = [i for i, v in enumerate(vals) if v is not None]
            keys, vals = [keys[i] for i in keep], [vals[i] for i in keep]
        if not keys:
            return empty
        return empty._derive(_build(keys, vals, 0, len(keys), 0, 0), len(keys), 0)

    @classmethod
    def from_nodes(
        cls, root: bytes, lookup: Callable[[bytes], bytes | None], *, version: int = 1
    ) -> TrieState:
        """Rebuild the state with the given root from stored nodes (``lookup(hash) -> encoding``,
        value nodes included), e.g. a database filled from ``iter_nodes`` / ``new_nodes``.
        Raises ``IncompleteDatabase`` for a missing node and ``InvalidNode`` for bad data."""
        empty = cls(version=version)
        if root == EMPTY_ROOT:
            return empty
        count = 0

        def fetch(h: bytes) -> bytes:
            data = lookup(h)
            if data is None:
                raise IncompleteDatabase(h)
            return bytes(data)

        def load(enc: bytes) -> _Node:
            nonlocal count
            d = decode_node(enc)
            if d.kind == "empty":
                raise InvalidNode("empty node inside a trie")
            value = fetch(d.value_hash) if d.value_hash is not None else d.value
            count += value is not None
            if d.children is None:
                return _Node(d.partial, value, None, 0, 0)
            kids: list = [None] * 16
            bitmap = 0
            for i, r in enumerate(d.children):
                if r is not None:  # a 32-byte reference is a hash, a shorter one the node itself
                    kids[i] = load(fetch(r) if len(r) == 32 else r)
                    bitmap |= 1 << i
            return _Node(d.partial, value, kids, bitmap, 0)

        state = empty._derive(load(fetch(root)), 0, 0)
        state._len = count
        if state.root != root:
            raise InvalidNode("stored nodes do not hash to the requested root")
        return state

    # -- reading --

    @property
    def version(self) -> int:
        """The state version (trie layout): 1 (hashed values) or 0."""
        return self._version

    @property
    def root(self) -> bytes:
        """The 32-byte Merkle root (computed on first use, then cached on the nodes)."""
        node = self._node
        if node is None:
            return EMPTY_ROOT
        r = node.ref or _ref(node, self._threshold)
        return r[1:] if len(r) == 33 else blake2_256(r[1:])

    def __len__(self) -> int:
        return self._len

    def __contains__(self, key: bytes) -> bool:
        return self.get(key) is not None

    def __repr__(self) -> str:
        return f"TrieState(version={self._version}, len={self._len}, root=0x{self.root.hex()})"

    def get(self, key: bytes) -> bytes | None:
        """The value stored at ``key``, or None."""
        node = self._node
        h = key.hex()
        n = len(h)
        pos = 0
        while node is not None:
            p = node.partial
            if not h.startswith(p, pos):
                return None
            pos += len(p)
            if pos == n:
                return node.value
            ch = node.children
            if ch is None:
                return None
            node = ch[_NIB[h[pos]]]
            pos += 1
        return None

    def items(self, prefix: bytes = b"", start_after: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """``(key, value)`` for keys starting with ``prefix`` and greater than ``start_after``, in
        lexicographic order (what ``state_getKeysPaged`` and ``query_map`` page through)."""
        ph = prefix.hex()
        node, pos = self._node, 0
        while node is not None:  # descend to the subtree holding the prefix
            if pos == len(ph):
                break
            p = node.partial
            if ph.startswith(p, pos):
                pos += len(p)
                if pos == len(ph):
                    pos -= len(p)
                    break
                if node.children is None:
                    return
                node = node.children[_NIB[ph[pos]]]
                pos += 1
            elif p.startswith(ph[pos:]):
                break
            else:
                return
        if node is None:
            return
        sa = None if start_after is None else start_after.hex()
        stack = [(node, ph[:pos])]
        while stack:
            node, base = stack.pop()
            path = base + node.partial
            if sa is not None:
                head = sa[: len(path)]
                if path < head:
                    continue  # the whole subtree sorts before start_after
                if path > head:
                    sa = None  # in-order walk: everything from here on sorts after it
            if node.value is not None and sa is None:
                yield bytes.fromhex(path), node.value
            ch = node.children
            if ch is not None:
                for i in range(15, -1, -1):
                    c = ch[i]
                    if c is not None:
                        stack.append((c, path + _HEX[i]))

    def keys(self, prefix: bytes = b"", start_after: bytes | None = None) -> Iterator[bytes]:
        """The keys of ``items(prefix, start_after)``."""
        return (k for k, _ in self.items(prefix, start_after))

    # -- writing --

    def apply(self, changes: Changes) -> TrieState:
        """A new snapshot with ``changes`` applied (None deletes a key); this one is unchanged."""
        keys, vals = _prepare(changes)
        gen = self._gen + 1
        if not keys:
            return self._derive(self._node, self._len, gen)
        b = _Batch(keys, vals, gen)
        node = _apply(self._node, b, 0, len(keys), 0)
        return self._derive(node, self._len + b.delta, gen)

    # -- proofs and persistence --

    def read_proof(self, keys: Iterable[bytes]) -> list[bytes]:
        """The proof ``state_getReadProof`` returns: every node stored by hash on the lookup paths of
        ``keys`` (the root always, inline children as part of their parents) plus the value nodes of
        found V1 hashed values; deduplicated and sorted bytewise (as Substrate's ``BTreeSet``)."""
        root = self._node
        if root is None:
            return []
        thr = self._threshold
        self.root  # noqa: B018 - fills the reference caches
        out: set[bytes] = set()
        seen: set[int] = set()
        for key in keys:
            h = _as_bytes(key, "key").hex()
            node, pos = root, 0
            while node is not None:
                if id(node) not in seen and (node is root or len(node.ref) == 33):
                    seen.add(id(node))
                    out.add(_encode(node, thr))
                p = node.partial
                if not h.startswith(p, pos):
                    break
                pos += len(p)
                if pos == len(h):
                    v = node.value
                    if v is not None and thr is not None and len(v) >= thr:
                        out.add(v)
                    break
                if node.children is None:
                    break
                node = node.children[_NIB[h[pos]]]
                pos += 1
        return sorted(out)

    def iter_nodes(self) -> Iterator[tuple[bytes, bytes]]:
        """``(hash, encoding)`` for every node a database must store to serve this state: nodes
        referenced by hash, the root, and V1 value nodes (``(blake2_256(value), value)``)."""
        return self._nodes(None)

    def new_nodes(self) -> Iterator[tuple[bytes, bytes]]:
        """Like ``iter_nodes`` but only the nodes created by the ``apply`` (or build) that produced
        this snapshot: storing these after each block keeps a database complete."""
        return self._nodes(self._gen)

    def _nodes(self, gen: int | None) -> Iterator[tuple[bytes, bytes]]:
        root = self._node
        if root is None:
            return
        thr = self._threshold
        self.root  # noqa: B018
        stack = [root]
        while stack:
            node = stack.pop()
            if gen is not None and node.gen != gen:
                continue  # path copying: an old node's whole subtree is old
            if node is root or len(node.ref) == 33:
                enc = _encode(node, thr)
                yield (node.ref[1:] if len(node.ref) == 33 else blake2_256(enc)), enc
            v = node.value
            if v is not None and thr is not None and len(v) >= thr:
                yield blake2_256(v), v
            if node.children is not None:
                stack.extend(c for c in node.children if c is not None)
