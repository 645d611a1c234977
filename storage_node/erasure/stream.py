"""Coding an object of any size segment by segment, so it is never held in memory whole.

:func:`encode_stream` reads ``segment_size`` bytes at a time (a batch of ``segments_per_batch``
segments per backend call: one GPU launch), codes them and appends each fragment, header then payload,
to the sink of its index. Memory stays at two batches of input plus their parity. The segment that
ends the input is flagged ``FINAL`` (an empty input still gives one empty final segment), so a reader can
tell a complete object from a truncated one without knowing its length in advance.

:func:`decode_stream` reads one fragment per segment from each source, in lockstep, learning k, m and
each source's index from the headers. A source whose fragment is truncated, fails its checksum or is out
of sequence is dropped for the rest of the object (its framing can no longer be trusted); every segment
is decoded from the fragments still standing, so any k healthy sources suffice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from storage_node.erasure.arrays import to_host
from storage_node.erasure.backends import Backend
from storage_node.erasure.coder import ErasureCoder
from storage_node.erasure.errors import (
    FragmentError,
    InvalidParametersError,
    MismatchedFragmentError,
    NotEnoughFragmentsError,
    TruncatedFragmentError,
    TruncatedStreamError,
)
from storage_node.erasure.fragment import HEADER_SIZE, Fragment, FragmentHeader, seal

DEFAULT_SEGMENT_SIZE = 8 << 20
"""8 MiB: large enough that per-call overheads vanish, small enough to stay in cache-friendly sizes."""


@dataclass
class StreamReport:
    """What a stream operation did."""

    segments: int = 0
    data_bytes: int = 0
    dropped_sources: dict[int, str] = field(default_factory=dict)
    """Decode only: sources set aside (by fragment index, or by position if the index is unknown) and why."""


def encode_stream(source: BinaryIO, sinks: Sequence[BinaryIO], coder: ErasureCoder, *,
                  segment_size: int = DEFAULT_SEGMENT_SIZE, segments_per_batch: int = 1) -> StreamReport:
    """Code everything readable from ``source`` into ``sinks[i]``, one per fragment index."""
    if len(sinks) != coder.params.n:
        raise InvalidParametersError(f"{coder.params} needs {coder.params.n} sinks, got {len(sinks)}")
    if segment_size < 1 or segments_per_batch < 1:
        raise InvalidParametersError("segment_size and segments_per_batch must be positive")
    current, spare = (np.empty(segment_size * segments_per_batch, dtype=np.uint8) for _ in range(2))
    report = StreamReport()
    batch = _read_batch(source, current, segment_size) or [current[:0]]
    while True:
        ended = len(batch) < segments_per_batch or batch[-1].size < segment_size
        following = [] if ended else _read_batch(source, spare, segment_size)
        final = not following
        for fragments in coder.encode_batch(batch, first_segment_index=report.segments, final=final):
            for header, fragment in zip(seal(fragments), fragments):
                sinks[fragment.index].write(header)
                sinks[fragment.index].write(to_host(fragment.payload))
            report.segments += 1
            report.data_bytes += fragments[0].segment.segment_length
        if final:
            return report
        batch, (current, spare) = following, (spare, current)


def _read_batch(source: BinaryIO, buffer: np.ndarray, segment_size: int) -> list[np.ndarray]:
    """Fill ``buffer`` segment by segment; the list stops at the first short (last) segment."""
    segments = []
    for start in range(0, buffer.size, segment_size):
        filled = _read_into(source, memoryview(buffer[start:start + segment_size]))
        if filled:
            segments.append(buffer[start:start + filled])
        if filled < segment_size:
            break
    return segments


def _read_into(source: BinaryIO, view: memoryview) -> int:
    """Read until ``view`` is full or the source ends; the number of bytes read."""
    filled = 0
    while filled < len(view):
        count = source.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled


def decode_stream(sources: Iterable[BinaryIO], sink: BinaryIO, *, backend: str | Backend = "auto") -> StreamReport:
    """Write the object coded in the fragment streams ``sources`` to ``sink``."""
    report = StreamReport()
    live: dict[int, BinaryIO] = {}
    pending: dict[int, Fragment] = {}
    for position, stream in enumerate(sources):
        try:
            fragment = _read_fragment(stream)
        except FragmentError as error:
            report.dropped_sources[position] = str(error)
            continue
        if fragment is None or fragment.index in live or fragment.segment.segment_index != 0:
            report.dropped_sources[position] = ("empty" if fragment is None else "same index as another source"
                                                if fragment.index in live else "does not start at segment 0")
            continue
        live[fragment.index] = stream
        pending[fragment.index] = fragment
    if not pending:
        raise NotEnoughFragmentsError("no readable fragment stream", usable=0, needed=1)
    params = next(iter(pending.values())).segment.params
    coder = ErasureCoder(params.k, params.m, backend)
    while True:
        segment, data = coder.decode_segment(pending)
        sink.write(to_host(data))
        report.segments += 1
        report.data_bytes += data.size
        if segment.final:
            return report
        pending = _next_fragments(live, report)
        if not pending:
            raise TruncatedStreamError(f"every fragment stream ended after segment {report.segments - 1}, "
                                       "before the final segment")


def _next_fragments(live: dict[int, BinaryIO], report: StreamReport) -> dict[int, Fragment]:
    """The next fragment of every live source; sources that fail or end are dropped."""
    fragments = {}
    for index, stream in list(live.items()):
        try:
            fragment = _read_fragment(stream)
            if fragment is None:
                raise TruncatedFragmentError(f"stream ended before segment {report.segments}")
            if fragment.index != index or fragment.segment.segment_index != report.segments:
                raise MismatchedFragmentError(f"expected fragment {index} of segment {report.segments}")
        except FragmentError as error:
            report.dropped_sources[index] = str(error)
            del live[index]
            continue
        fragments[index] = fragment
    return fragments


def _read_fragment(stream: BinaryIO) -> Fragment | None:
    """The next fragment in ``stream``, verified; ``None`` at a clean end of the stream."""
    header_bytes = stream.read(HEADER_SIZE)
    if not header_bytes:
        return None
    header = FragmentHeader.unpack(header_bytes)
    payload = np.empty(header.payload_length, dtype=np.uint8)
    if _read_into(stream, memoryview(payload)) < payload.size:
        raise TruncatedFragmentError(f"fragment {header.index}: stream ends inside the payload")
    return header.verify(payload)
