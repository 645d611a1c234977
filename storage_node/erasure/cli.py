"""``cairn ec``: erasure-code a file into fragment files, decode it back, measure this machine.

::

    cairn ec encode FILE [-k 10] [-m 4] [-o DIR] [--segment-size 8MiB] [--backend auto]
    cairn ec decode FRAGMENT... -o OUTPUT [--backend auto]
    cairn ec bench [--size 64MiB] [-k 10] [-m 4] [--repeats 5] [--backend NAME ...]

``encode`` writes ``DIR/FILE.NNN.frag`` for every fragment index ``NNN`` (the streaming format of
:mod:`storage_node.erasure.stream`). ``decode`` takes any of those files, in any order, and needs k
healthy ones; the output is written to a temporary file beside ``OUTPUT`` and renamed into place only
once decoding succeeded.

``decode`` names every file it sets aside and why, whether decoding then succeeds or not. Before decoding
it reads each file's first fragment: a file that is unreadable, damaged, a second copy of an index, or from
another object (its first segment's id differs from the one most files share) is set aside there, by name.
A file that goes bad further in is named from the decoder's report, or, when too few files were left to
finish, by reading the remaining files through to find the first unsound fragment of each.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import click
import numpy as np

from storage_node.erasure.backends import BACKEND_NAMES, available_backends
from storage_node.erasure.bench import measure
from storage_node.erasure.coder import ErasureCoder
from storage_node.erasure.errors import ErasureCodingError, FragmentError, TruncatedFragmentError
from storage_node.erasure.fragment import HEADER_SIZE, FragmentHeader, SegmentInfo
from storage_node.erasure.stream import DEFAULT_SEGMENT_SIZE, decode_stream, encode_stream

FRAGMENT_SUFFIX = ".frag"
_UNITS = {"": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 10**6, "mb": 10**6, "mib": 1 << 20,
          "g": 10**9, "gb": 10**9, "gib": 1 << 30}


class ByteSize(click.ParamType):
    """A byte count such as ``4096``, ``8MiB`` or ``1.5GB``."""

    name = "size"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            self.fail(f"{value!r} is not a size like 4096, 8MiB or 1GB", param, ctx)
        return int(float(match.group(1)) * _UNITS[unit])


backend_option = click.option("--backend", type=click.Choice(BACKEND_NAMES), default="auto", show_default=True,
                              help="Coding backend.")


@click.group()
def ec() -> None:
    """Erasure-code files: Reed-Solomon over GF(2^8), any k of k+m fragments recover the file."""


@ec.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-k", type=click.IntRange(1, 255), default=10, show_default=True, help="Data fragments.")
@click.option("-m", type=click.IntRange(1, 255), default=4, show_default=True, help="Parity fragments.")
@click.option("-o", "--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the fragment files [default: beside FILE].")
@click.option("--segment-size", type=ByteSize(), default=DEFAULT_SEGMENT_SIZE, show_default=True,
              help="Bytes coded at a time.")
@backend_option
def encode(file: Path, k: int, m: int, out_dir: Path | None, segment_size: int, backend: str) -> None:
    """Write FILE as k+m fragment files."""
    out_dir = out_dir or file.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{file.name}.{index:03d}{FRAGMENT_SUFFIX}" for index in range(k + m)]
    try:
        coder = ErasureCoder(k, m, backend)
        with ExitStack() as stack:
            source = stack.enter_context(file.open("rb"))
            sinks = [stack.enter_context(path.open("wb")) for path in paths]
            report = encode_stream(source, sinks, coder, segment_size=segment_size)
    except ErasureCodingError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{file}: {report.data_bytes} bytes in {report.segments} segment(s) -> {k + m} fragments "
               f"({coder.params}, backend {coder.backend.name}), any {k} recover it")
    for path in paths:
        click.echo(f"  {path}")


@ec.command()
@click.argument("fragments", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the decoded file.")
@backend_option
def decode(fragments: tuple[Path, ...], output: Path, backend: str) -> None:
    """Rebuild a file from any k of its fragment files."""
    firsts, set_aside = _survey(fragments)
    by_index = {header.index: path for path, header in firsts.items()}
    partial = output.with_name(output.name + ".partial")
    try:
        with ExitStack() as stack:
            sources = [stack.enter_context(path.open("rb")) for path in firsts]
            with partial.open("wb") as sink:
                report = decode_stream(sources, sink, backend=backend)
    except ErasureCodingError as error:
        partial.unlink(missing_ok=True)
        for path, header in firsts.items():
            problem = _later_problem(path, header)
            if problem is not None:
                set_aside[path] = problem
        _echo_set_aside(set_aside)
        raise click.ClickException(str(error)) from error
    partial.replace(output)
    # Every file decoded from has a sound first fragment of its own index, so the report names them by index.
    set_aside.update({by_index[index]: reason for index, reason in report.dropped_sources.items()})
    _echo_set_aside(set_aside)
    click.echo(f"{output}: {report.data_bytes} bytes from {report.segments} segment(s)")


def _survey(paths: Sequence[Path]) -> tuple[dict[Path, FragmentHeader], dict[Path, str]]:
    """The files to decode from, each with its first fragment's header (one file per fragment index, all from
    the object most files belong to), and why each other file is set aside."""
    set_aside: dict[Path, str] = {}
    firsts: dict[Path, FragmentHeader] = {}
    for path in paths:
        try:
            first = next(_sound_fragments(path), None)
        except FragmentError as error:
            set_aside[path] = str(error)
            continue
        if first is None:
            set_aside[path] = "empty file"
        elif first.segment.segment_index != 0:
            set_aside[path] = f"starts at segment {first.segment.segment_index}, not 0"
        else:
            firsts[path] = first
    objects = Counter((header.segment, header.segment_id) for header in firsts.values()).most_common()
    if len(objects) > 1 and objects[0][1] == objects[1][1]:
        for path, header in firsts.items():
            set_aside[path] = (f"fragment {header.index} of object {header.segment_id.hex()[:12]}…: the files hold "
                               f"as many fragments of another object; cannot tell which one is meant")
        return {}, set_aside
    usable: dict[Path, FragmentHeader] = {}
    seen: dict[int, Path] = {}
    for path, header in firsts.items():
        if (header.segment, header.segment_id) != objects[0][0]:
            (segment, identity), count = objects[0]
            set_aside[path] = _other_object(header, segment, identity, count)
        elif header.index in seen:
            set_aside[path] = f"fragment {header.index} again (also in {seen[header.index]})"
        else:
            seen[header.index] = path
            usable[path] = header
    return usable, set_aside


def _other_object(header: FragmentHeader, segment: SegmentInfo, identity: bytes, count: int) -> str:
    """Why ``header``'s file is not of the object (first ``segment``, segment id ``identity``) that ``count``
    other files hold, in the terms that differ."""
    others = f"the other {count} file(s)"
    if header.segment.params != segment.params:
        return f"fragment {header.index} of a file coded {header.segment.params}; {others} are {segment.params}"
    if header.segment.segment_length != segment.segment_length:
        return (f"fragment {header.index} of another object: its first segment holds "
                f"{header.segment.segment_length} bytes, that of {others} {segment.segment_length}")
    return (f"fragment {header.index} of another object: its first segment's id is {header.segment_id.hex()[:12]}…, "
            f"that of {others} {identity.hex()[:12]}…")


def _later_problem(path: Path, first: FragmentHeader) -> str | None:
    """Why a file whose first fragment is sound cannot carry its index to the object's end (None: it can)."""
    expected = 0
    try:
        for header in _sound_fragments(path):
            if header.index != first.index or header.segment.segment_index != expected:
                return f"segment {expected}: holds fragment {header.index} of segment {header.segment.segment_index}"
            if header.segment.final:
                return None
            expected += 1
    except FragmentError as error:
        return f"segment {expected}: {error}"
    return f"ends after segment {expected - 1}, before the object's final segment"


def _sound_fragments(path: Path) -> Iterator[FragmentHeader]:
    """The header of each fragment in the file, once its payload matched its checksum; raises
    :class:`FragmentError` at the first fragment that does not (or cannot be read)."""
    try:
        with path.open("rb") as file:
            remaining = os.fstat(file.fileno()).st_size
            while remaining:
                header = FragmentHeader.unpack(file.read(HEADER_SIZE))
                remaining -= HEADER_SIZE
                if header.payload_length > remaining:
                    raise TruncatedFragmentError(f"fragment {header.index}: the file ends inside its payload")
                header.verify(np.frombuffer(file.read(header.payload_length), dtype=np.uint8))
                remaining -= header.payload_length
                yield header
    except OSError as error:
        raise FragmentError(f"cannot read it: {error.strerror or error}") from error


def _echo_set_aside(set_aside: dict[Path, str]) -> None:
    for path, reason in set_aside.items():
        click.echo(f"set aside {path}: {reason}", err=True)


@ec.command()
@click.option("--size", type=ByteSize(), default="64MiB", show_default=True, help="Random data per run.")
@click.option("-k", type=click.IntRange(1, 255), default=10, show_default=True)
@click.option("-m", type=click.IntRange(1, 255), default=4, show_default=True)
@click.option("--repeats", type=click.IntRange(1), default=5, show_default=True, help="Timed runs (median).")
@click.option("--backend", "backends", multiple=True, type=click.Choice(BACKEND_NAMES[1:]),
              help="Backend to measure (repeatable) [default: every available one].")
def bench(size: int, k: int, m: int, repeats: int, backends: tuple[str, ...]) -> None:
    """Measure encode / rebuild / decode MB/s of this machine's backends."""
    data = np.random.default_rng().integers(0, 256, size, dtype=np.uint8)
    click.echo(f"RS({k},{m}), {size} bytes, median of {repeats}; MB/s of original data")
    click.echo(f"{'backend':<8} {'encode':>10} {'rebuild':>10} {'decode':>10}")
    try:
        for name in backends or available_backends():
            result = measure(ErasureCoder(k, m, name), data, repeats=repeats)
            click.echo(f"{name:<8} {result.encode:>10,.0f} {result.rebuild:>10,.0f} {result.decode:>10,.0f}")
    except ErasureCodingError as error:
        raise click.ClickException(str(error)) from error
