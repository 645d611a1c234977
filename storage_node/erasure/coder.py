"""The erasure coder: k data + m parity fragments per segment, any k of them give the segment back.

``ErasureCoder(k, m, backend)`` holds the generator matrix and the backend's prepared parity rows; the
rows that rebuild lost fragments are derived per erasure pattern (which k fragments survive, which are
wanted) and kept in a small LRU cache, since a repair job tends to hit the same pattern many times.

Memory: data is never copied on the way in. Data shards are views of the caller's buffer, except the
last one or two that need zero padding; parity and rebuilt shards are new arrays in the same memory as
the input (host or GPU). Decoding assembles the segment in one new buffer, writing rebuilt data shards
straight into it. Every heavy step runs in C or on the GPU with the GIL released, so coders may be
called from worker threads (``trio.to_thread.run_sync``) to keep an event loop free.

Which fragments are used, when a decode or repair is given more or fewer than k:

1. A key outside ``0..k+m-1`` raises :class:`InvalidFragmentIndexError`; a fragment given twice in a
   sequence raises :class:`DuplicateFragmentError`.
2. A serialised fragment that fails to parse or verify, a fragment of another code, or one whose own
   index differs from its key is set aside (treated as missing).
3. The rest are grouped by segment (index, length, final flag and segment id); the largest group is
   the segment being decoded and the others are set aside as mismatched. Two largest groups of equal
   size make the input ambiguous: :class:`MismatchedFragmentError`.
4. Fewer than k left: :class:`NotEnoughFragmentsError`, listing why each set-aside fragment was unusable.
   Otherwise the k lowest indices (data fragments first) are used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Union

import numpy as np

from storage_node.erasure import matrix
from storage_node.erasure.arrays import Array, array_module, as_byte_vector
from storage_node.erasure.backends import Backend, get_backend
from storage_node.erasure.errors import (
    DuplicateFragmentError,
    InvalidParametersError,
    FragmentError,
    MismatchedFragmentError,
    NotEnoughFragmentsError,
)
from storage_node.erasure.fragment import Fragment, SegmentInfo, parse_fragment
from storage_node.erasure.params import CodeParams

RECOVERY_CACHE_SIZE = 128
"""Erasure patterns whose recovery rows are kept prepared."""

FragmentInput = Union[Fragment, bytes, bytearray, memoryview, np.ndarray]
"""A :class:`Fragment`, or a fragment serialised in the wire format (header and payload)."""

FragmentsInput = Union[Mapping[int, FragmentInput], Iterable[Fragment]]
"""Fragments keyed by index, or a collection of :class:`Fragment` objects that carry their index."""


class ErasureCoder:
    """Systematic Reed-Solomon RS(k, m) over GF(2^8) (see :mod:`storage_node.erasure`).

    ``backend`` is ``"auto"``, ``"isal"``, ``"cupy"``, ``"numpy"`` or a :class:`Backend` instance.
    Raises :class:`InvalidParametersError` for k < 1, m < 1 or k + m > 256.
    """

    def __init__(self, k: int, m: int, backend: str | Backend = "auto") -> None:
        self.params = CodeParams(k, m)
        self.backend = backend if isinstance(backend, Backend) else get_backend(backend)
        self.generator = self.backend.generator(self.params)
        self._parity_rows = self.backend.prepare(self.generator[k:])
        self._recovery_rows = lru_cache(maxsize=RECOVERY_CACHE_SIZE)(self._prepare_recovery)

    def __repr__(self) -> str:
        return f"ErasureCoder(k={self.params.k}, m={self.params.m}, backend={self.backend.name!r})"

    # -- encoding ---------------------------------------------------------------------------------------

    def encode(self, data: object, *, segment_index: int = 0, final: bool = True,
               parity_out: Sequence[Array] | None = None) -> list[Fragment]:
        """The k+m fragments of ``data`` (``bytes``-like, NumPy or CuPy), in index order.

        ``parity_out``: m arrays of ``params.shard_length(len(data))`` bytes to write the parity into,
        e.g. buffers reused from segment to segment (fresh large arrays cost page faults every call).
        """
        return self.encode_batch([data], first_segment_index=segment_index, final=final,
                                 parity_out=None if parity_out is None else [parity_out])[0]

    def encode_batch(self, segments: Sequence[object], *, first_segment_index: int = 0, final: bool = True,
                     parity_out: Sequence[Sequence[Array]] | None = None) -> list[list[Fragment]]:
        """Fragments of several consecutive segments of one object, coded together where possible.

        Segment ``i`` gets index ``first_segment_index + i``; only the last is flagged final, and only if
        ``final``. Segments of equal shard length go to the backend as one batch (one GPU launch).
        ``parity_out``, if given, holds the parity arrays of each segment (see :meth:`encode`).
        """
        vectors = [self.backend.accept(as_byte_vector(data)) for data in segments]
        infos = [SegmentInfo(self.params, int(vector.size), first_segment_index + number,
                             final and number == len(vectors) - 1) for number, vector in enumerate(vectors)]
        data_shards = [self._split(vector, info.shard_length) for vector, info in zip(vectors, infos)]
        outputs = parity_out if parity_out is not None else [None] * len(vectors)
        if len(outputs) != len(vectors):
            raise InvalidParametersError(f"parity_out has {len(outputs)} entries for {len(vectors)} segments")
        parity = [_output_shards(array_module(vector), self.params.m, info.shard_length, given)
                  for vector, info, given in zip(vectors, infos, outputs)]
        for shard_length, members in _group_by(range(len(vectors)), lambda s: infos[s].shard_length).items():
            if shard_length:
                self.backend.apply(self._parity_rows, [data_shards[s] for s in members],
                                   [parity[s] for s in members])
        return [[Fragment(info, index, shard) for index, shard in enumerate([*shards, *rows])]
                for info, shards, rows in zip(infos, data_shards, parity)]

    def _split(self, vector: Array, shard_length: int) -> list[Array]:
        """k shards of ``shard_length`` bytes: views of ``vector``, then zero-padded copies of the rest."""
        k = self.params.k
        whole = vector.size // shard_length if shard_length else k
        shards = [vector[i * shard_length:(i + 1) * shard_length] for i in range(whole)]
        padded = array_module(vector).empty((k - whole, shard_length), dtype=np.uint8)
        remainder = vector[whole * shard_length:]
        padded.reshape(-1)[: remainder.size] = remainder
        padded.reshape(-1)[remainder.size:] = 0
        return shards + list(padded)

    # -- decoding and repair ----------------------------------------------------------------------------

    def decode(self, fragments: FragmentsInput) -> Array:
        """The segment's data from any k of its fragments: a new 1-D ``uint8`` NumPy (or CuPy) array."""
        return self.decode_segment(fragments)[1]

    def decode_segment(self, fragments: FragmentsInput) -> tuple[SegmentInfo, Array]:
        """Like :meth:`decode`, also returning which segment was decoded (index, length, final flag)."""
        segment, payloads, _ = self._select(fragments)
        k, shard_length = self.params.k, segment.shard_length
        output = array_module(next(iter(payloads.values()))).empty(k * shard_length, dtype=np.uint8)
        shards = output.reshape(k, shard_length)
        for index in range(k):
            if index in payloads:
                shards[index] = payloads[index]
        missing = [index for index in range(k) if index not in payloads]
        self._rebuild(payloads, missing, [shards[index] for index in missing])
        return segment, output[: segment.segment_length]

    def reconstruct(self, fragments: FragmentsInput, wanted: Iterable[int], *,
                    out: Mapping[int, Array] | None = None) -> dict[int, Fragment]:
        """The fragments at indices ``wanted``, rebuilding only those not among the usable inputs.

        Rebuilt fragments carry the segment id of the inputs, so sealed inputs give sealed outputs.
        ``out`` may map wanted indices to arrays to rebuild into (every rebuilt index needs one).
        """
        wanted = list(dict.fromkeys(self.params.check_index(index) for index in wanted))
        segment, payloads, identity = self._select(fragments)
        missing = [index for index in wanted if index not in payloads]
        if out is not None and not set(missing) <= set(out):
            raise InvalidParametersError(f"out has no array for fragment(s) {sorted(set(missing) - set(out))}")
        rebuilt = _output_shards(array_module(next(iter(payloads.values()))), len(missing), segment.shard_length,
                                 None if out is None else [out[index] for index in missing])
        self._rebuild(payloads, missing, rebuilt)
        fresh = {index: Fragment(segment, index, shard, identity) for index, shard in zip(missing, rebuilt)}
        return {index: fresh[index] if index in fresh else Fragment(segment, index, payloads[index], identity)
                for index in wanted}

    def _rebuild(self, payloads: Mapping[int, Array], wanted: Sequence[int], targets: Sequence[Array]) -> None:
        """Write fragments ``wanted`` into ``targets`` from the payloads at the k lowest indices."""
        if not wanted or not targets[0].size:
            return
        survivors = tuple(sorted(payloads)[: self.params.k])
        sources = [payloads[index] for index in survivors]
        self.backend.apply(self._recovery_rows(survivors, tuple(wanted)), [sources], [targets])

    def _prepare_recovery(self, survivors: tuple[int, ...], wanted: tuple[int, ...]) -> Any:
        rows = matrix.recovery_rows(self.generator, survivors, wanted, self.backend.invert)
        return self.backend.prepare(rows)

    def _select(self, fragments: FragmentsInput) -> tuple[SegmentInfo, dict[int, Array], bytes | None]:
        """The segment, its usable payloads (by index, in backend memory) and its segment id.

        Applies the rules of the module docstring.
        """
        rejected: dict[int, FragmentError] = {}
        candidates: dict[int, Fragment] = {}
        for index, given in self._keyed(fragments):
            try:
                candidates[index] = self._check(index, given)
            except FragmentError as error:
                rejected[index] = error
        groups = _group_by(candidates, lambda index: (candidates[index].segment, candidates[index].segment_id))
        sizes = Counter({key: len(members) for key, members in groups.items()})
        ranked = sizes.most_common(2)
        if len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
            raise MismatchedFragmentError(
                f"fragments of different segments in equal numbers ({ranked[0][1]} each): cannot tell which "
                "segment is meant")
        (segment, identity), _ = ranked[0] if ranked else ((None, None), 0)
        for key, members in groups.items():
            if key != (segment, identity):
                for index in members:
                    rejected[index] = MismatchedFragmentError(
                        f"fragment {index} belongs to another segment ({key[0]}) than the majority ({segment})")
        usable = {index: self.backend.accept(candidates[index].payload)
                  for index in sorted(groups.get((segment, identity), []))}
        if len(usable) < self.params.k:
            raise NotEnoughFragmentsError(
                f"{self.params} needs {self.params.k} fragments, {len(usable)} usable",
                usable=len(usable), needed=self.params.k, rejected=rejected)
        return segment, usable, identity

    def _keyed(self, fragments: FragmentsInput) -> list[tuple[int, FragmentInput]]:
        if isinstance(fragments, Mapping):
            return [(self.params.check_index(index), given) for index, given in fragments.items()]
        keyed: dict[int, Fragment] = {}
        for fragment in fragments:
            index = self.params.check_index(fragment.index)
            if index in keyed:
                raise DuplicateFragmentError(f"fragment {index} given twice")
            keyed[index] = fragment
        return list(keyed.items())

    def _check(self, index: int, given: FragmentInput) -> Fragment:
        fragment = given if isinstance(given, Fragment) else parse_fragment(given)
        if fragment.segment.params != self.params:
            raise MismatchedFragmentError(
                f"fragment {index} is coded {fragment.segment.params}, this coder is {self.params}")
        if fragment.index != index:
            raise MismatchedFragmentError(f"fragment given as index {index} says it is index {fragment.index}")
        return fragment


def _output_shards(xp: Any, count: int, shard_length: int, given: Sequence[Array] | None) -> list[Array]:
    """``given`` checked to be ``count`` writable shards of ``shard_length`` bytes, or new shards."""
    if given is None:
        return list(xp.empty((count, shard_length), dtype=np.uint8))
    shards = [as_byte_vector(shard) for shard in given]
    if len(shards) != count or any(shard.size != shard_length for shard in shards):
        raise InvalidParametersError(f"output needs {count} shards of {shard_length} bytes")
    if any(array_module(shard) is not xp or not getattr(shard.flags, "writeable", True) for shard in shards):
        raise InvalidParametersError("output shards must be writable and in the same memory as the input")
    return shards


def _group_by(items: Iterable[Any], key: Any) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups
