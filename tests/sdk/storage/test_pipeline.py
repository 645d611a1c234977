"""The upload and download pipelines' pure parts: a segment's way to fragments and roots and back, the
fragment body's checks, and the sources an upload reads from."""

from __future__ import annotations

import io
import os
import threading

import anyio
import pytest

from runtime.keyring import Keypair
from runtime.primitives import PhaseKind
from sdk.chain import ChainEvent, ExtrinsicReceipt
from sdk.chain.errors import BadArgument
from sdk.storage.ledger import Ledger, what_declaring_did
from sdk.storage.segments import InconsistentSegment, SegmentCodec
from storage_node.chunks import fragment_root, segment_root
from sdk.storage.source import Source
from sdk.storage.transfer import TransferConfig, no_progress
from sdk.storage.upload import _Upload
from sdk.storage.wire import BadFragment, check_fragment_body, encode_body_prefix
from storage_node.crypto import DecryptionError, new_data_key
from storage_node.manifest import Manifest
from storage_node.pallets.file_bank import FileActivated, FileDeclared, FragmentsAssigned

SEGMENT = 10_000
CHUNK = 256


def manifest_for(data: bytes, codec: SegmentCodec, *, encrypted: bool) -> Manifest:
    roots = tuple(codec.encode(i, data[i * SEGMENT:(i + 1) * SEGMENT]).root
                  for i in range(-(-len(data) // SEGMENT)))
    return Manifest(1, bytes(32), codec.salt, len(data), SEGMENT, codec.coder.params.k, codec.coder.params.m,
                    CHUNK, encrypted, roots)


def bodies(codec: SegmentCodec, index: int, plaintext: bytes) -> list[bytes]:
    coded = codec.encode(index, plaintext)
    prefix = encode_body_prefix(coded.roots)
    return [prefix + payload.tobytes() for payload in coded.fragments]


def check(manifest: Manifest, index: int, fragment: int, body: bytes):
    return check_fragment_body(body, fragment=fragment, fragment_count=manifest.fragment_count,
                               fragment_size=manifest.fragment_size(index), chunk_size=manifest.chunk_size,
                               expected_segment_root=manifest.segment_roots[index])


@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("length", [1, SEGMENT - 1, SEGMENT, 3 * SEGMENT + 17])
def test_any_k_checked_fragments_give_each_segment_back(encrypted, length):
    data = os.urandom(length)
    codec = SegmentCodec(k=3, m=2, chunk_size=CHUNK, salt=os.urandom(16), data_key=new_data_key() if encrypted else None)
    manifest = manifest_for(data, codec, encrypted=encrypted)
    out = b""
    for index in range(manifest.segment_count()):
        plaintext = data[index * SEGMENT:(index + 1) * SEGMENT]
        checked = {j: check(manifest, index, j, body).fragment for j, body in enumerate(bodies(codec, index, plaintext))}
        survivors = {j: checked[j] for j in (1, 3, 4)}  # two data fragments lost: parity rebuilds them
        out += codec.decode(manifest, index, survivors, codec.encode(index, plaintext).roots)
    assert out == data


@pytest.mark.parametrize("encrypted", [False, True])
def test_a_segment_that_is_no_single_codeword_is_refused_when_parity_rebuilds_it(encrypted):
    """Data fragments of one plaintext, parity of another, each matching its root: read from its data
    fragments it is the first plaintext; from others it would be other bytes, for the same file id. A private
    file's owner holds the key: with as many parity fragments as data ones, its parity alone decrypts well
    to the second plaintext."""
    k, m, other = (2, 2, (2, 3)) if encrypted else (3, 2, (0, 3, 4))
    codec = SegmentCodec(k=k, m=m, chunk_size=CHUNK, salt=os.urandom(16),
                         data_key=new_data_key() if encrypted else None)
    first, second = os.urandom(SEGMENT), os.urandom(SEGMENT)
    mixed = codec.encode(0, first).fragments[:k] + codec.encode(0, second).fragments[k:]
    roots = tuple(fragment_root(memoryview(payload), CHUNK) for payload in mixed)
    manifest = Manifest(1, bytes(32), codec.salt, SEGMENT, SEGMENT, k, m, CHUNK, encrypted, (segment_root(roots),))
    prefix = encode_body_prefix(roots)
    checked = {j: check(manifest, 0, j, prefix + payload.tobytes()).fragment for j, payload in enumerate(mixed)}
    assert codec.decode(manifest, 0, {j: checked[j] for j in range(k)}, roots) == first
    assert codec.decode(manifest, 0, {j: checked[j] for j in other}) != first  # unchecked: other bytes
    with pytest.raises(InconsistentSegment):
        codec.decode(manifest, 0, {j: checked[j] for j in other}, roots)


def test_encoding_twice_gives_the_same_fragments():
    """The upload's two passes rely on it: encryption is deterministic per (key, salt, segment)."""
    codec = SegmentCodec(k=3, m=2, chunk_size=CHUNK, salt=os.urandom(16), data_key=new_data_key())
    data = os.urandom(SEGMENT)
    assert codec.encode(4, data).roots == codec.encode(4, data).roots
    assert codec.encode(4, data).roots != codec.encode(5, data).roots


def test_fragment_checks_reject_every_lie():
    codec = SegmentCodec(k=2, m=1, chunk_size=CHUNK, salt=os.urandom(16), data_key=None)
    data = os.urandom(SEGMENT)
    manifest = manifest_for(data, codec, encrypted=False)
    good = bodies(codec, 0, data)
    flipped = bytearray(good[1])
    flipped[-1] ^= 1
    cases = {
        "flipped byte": bytes(flipped),
        "another fragment's bytes": good[0],
        "truncated": good[1][:-1],
        "one byte more": good[1] + b"\0",
        "wrong count": (2).to_bytes(2, "little") + good[1][2 + 32:] + bytes(32),
        "roots of another segment": encode_body_prefix(codec.encode(0, os.urandom(SEGMENT)).roots) + good[1][2 + 3 * 32:],
    }
    for name, body in cases.items():
        with pytest.raises(BadFragment):
            check(manifest, 0, 1, body)
            pytest.fail(f"accepted: {name}")
    assert bytes(check(manifest, 0, 1, good[1]).fragment) == good[1][2 + 3 * 32:]


def test_known_roots_must_match_the_bodys():
    codec = SegmentCodec(k=2, m=1, chunk_size=CHUNK, salt=os.urandom(16), data_key=None)
    data = os.urandom(SEGMENT)
    manifest = manifest_for(data, codec, encrypted=False)
    body = bodies(codec, 0, data)[2]
    roots = check(manifest, 0, 2, body).roots
    assert check_fragment_body(body, fragment=2, fragment_count=3, fragment_size=manifest.fragment_size(0),
                               chunk_size=CHUNK, expected_segment_root=bytes(32), known_roots=roots).roots == roots
    with pytest.raises(BadFragment):
        check_fragment_body(body, fragment=2, fragment_count=3, fragment_size=manifest.fragment_size(0),
                            chunk_size=CHUNK, expected_segment_root=manifest.segment_roots[0],
                            known_roots=(bytes(32),) * 3)


def test_a_wrong_data_key_does_not_decrypt():
    salt = os.urandom(16)
    writer = SegmentCodec(k=2, m=1, chunk_size=CHUNK, salt=salt, data_key=new_data_key())
    reader = SegmentCodec(k=2, m=1, chunk_size=CHUNK, salt=salt, data_key=new_data_key())
    data = os.urandom(100)
    manifest = manifest_for(data, writer, encrypted=True)
    fragments = {j: check(manifest, 0, j, body).fragment for j, body in enumerate(bodies(writer, 0, data))}
    with pytest.raises(DecryptionError):
        reader.decode(manifest, 0, fragments)


class Pipe(io.RawIOBase):
    """A stream that cannot seek, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("size", [6, 50_000, (1 << 20) + 100])
def test_a_pipe_is_read_to_its_last_byte(size):
    """A pipe is spooled to a temporary file; a tail shorter than that file's buffer once stayed in the buffer,
    and ``echo hello | cairn storage put -`` stored 0 bytes."""
    data = os.urandom(size)
    with Source(io.BufferedReader(Pipe(data))) as source:
        assert source.size == size
        assert bytes(source.read(0, size)) == data


@pytest.mark.parametrize("kind", ["fifo", "/dev/fd"])
def test_a_path_naming_a_pipe_is_read_to_its_last_byte(tmp_path, kind):
    """``cairn storage put /dev/stdin`` or ``put <(gunzip -c x.gz)``: a path whose size reads 0, which once
    stored an empty file and printed its id as a success."""
    data = os.urandom(300_000)
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
        writer = threading.Thread(target=path.write_bytes, args=(data,))
    else:
        read_end, write_end = os.pipe()
        path = f"/dev/fd/{read_end}"

        def write() -> None:
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(data)
        writer = threading.Thread(target=write)
    writer.start()
    try:
        with Source(path) as source:
            assert source.size == len(data)
            assert bytes(source.read(0, len(data))) == data
    finally:
        # a writer still alive is blocked on a full pipe: the source stopped reading early, so drain it, or the
        # writer waits for ever (not once it closed its end: opening a FIFO to read then waits for a new writer)
        writer.join(timeout=5)
        if writer.is_alive():  # (opened without blocking: a writer that has just left leaves none to wait for)
            rest = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            os.set_blocking(rest, True)
            with os.fdopen(rest, "rb") as drain:
                drain.read()
            writer.join()
        if kind != "fifo":
            os.close(read_end)


def test_a_buffer_its_owner_may_change_is_read_as_a_snapshot():
    """A segment read from a bytearray was a live view: changed by its owner between the digest check and the
    sealing, two plaintexts went out under one key and nonce. Immutable bytes are still read without a copy."""
    for wrap in (lambda buffer: buffer, lambda buffer: memoryview(buffer).toreadonly()):
        buffer = bytearray(b"segment")
        with Source(wrap(buffer)) as source:
            read = source.read(0, 7)
            buffer[0:1] = b"S"
            assert bytes(read) == b"segment"
    with Source(b"segment") as source:
        assert isinstance(source.read(0, 7), memoryview)


def test_a_file_whose_size_reads_zero_is_read_for_what_it_holds():
    """``/proc`` files report size 0 and hold bytes: they are read, not stored empty."""
    with open("/proc/self/cmdline", "rb") as file:
        expected = file.read()
    with Source("/proc/self/cmdline") as source:
        assert source.size == len(expected) > 0 and bytes(source.read(0, source.size)) == expected


def test_a_stream_past_the_largest_file_is_refused_without_spooling_it_all():
    """``cairn storage put /dev/zero`` would otherwise fill the disk before the chain could refuse it."""
    with pytest.raises(BadArgument, match="more than 3000000 bytes"):
        Source(io.BufferedReader(Pipe(bytes(3_000_001))), limit=3_000_000)
    with pytest.raises(BadArgument, match="more than 5000 bytes"):
        Source("/dev/zero", limit=5000)
    with Source(Pipe(bytes(3_000_000)), limit=3_000_000) as source:
        assert source.size == 3_000_000
    with open("/dev/zero", "rb") as zeros, pytest.raises(BadArgument):  # `put - < /dev/zero`: it seeks, to 0
        Source(zeros, limit=5000)
    with open("/proc/self/cmdline", "rb") as proc, Source(proc) as source:  # `put - < /proc/…`
        assert source.size > 0


def test_sources_read_any_segment(tmp_path):
    data = os.urandom(50_000)
    path = tmp_path / "file"
    path.write_bytes(data)
    seekable = io.BytesIO(b"skip" + data)
    seekable.read(4)  # a file-like object is read from its position on
    for given in (data, bytearray(data), str(path), path, seekable, Pipe(data)):
        with Source(given) as source:
            assert source.size == len(data)
            assert bytes(source.read(12_345, 10_000)) == data[12_345:22_345]
            assert bytes(source.read(45_000, 10_000)) == data[45_000:]
            assert bytes(source.read(0, 0)) == b""


def _event(event: object) -> ChainEvent:
    return ChainEvent("FileBank", type(event).__name__, event, PhaseKind.ApplyExtrinsic(1))


def test_a_declarations_events_give_its_placements_only_when_they_name_every_segment():
    """What an upload takes from its declaration's receipt instead of reading the chain: each segment's nodes, from
    events about this file only; a declaration whose events miss a segment gives none (the upload reads them)."""
    mine, other = bytes([1]) * 32, bytes([2]) * 32
    nodes = [tuple(bytes([16 + 5 * segment + j]) * 32 for j in range(5)) for segment in range(2)]
    events = [_event(FileDeclared(mine, mine, 3000)), _event(FragmentsAssigned(other, 0, nodes[1])),
              _event(FragmentsAssigned(mine, 1, nodes[1])), _event(FragmentsAssigned(mine, 0, nodes[0]))]
    declared = what_declaring_did(events, mine, 2)
    assert declared.placements == [list(nodes[0]), list(nodes[1])] and not declared.activated
    assert what_declaring_did(events[:3], mine, 2).placements == []  # segment 0's event missing
    assert what_declaring_did(events, mine, 3).placements == []  # the manifest says 3 segments
    empty = what_declaring_did([_event(FileDeclared(mine, mine, 0)), _event(FileActivated(mine))], mine, 0)
    assert empty.placements == [] and empty.activated
    assert not what_declaring_did([_event(FileActivated(other))], mine, 0).activated


class _BatchAcrossBlocks:
    """What an upload's declaration needs of a :class:`Ledger`, whose batch lands one extrinsic a block: each
    receipt its own block, only the declaration's carrying the file's events."""

    grant_call = staticmethod(Ledger.grant_call)

    def __init__(self, events: list[ChainEvent]) -> None:
        self.signer = Keypair.from_uri("//Alice")
        self.events = events
        self.submitted: list[str] = []

    async def key_registration(self) -> list[tuple[str, str, dict]]:
        return [("StorageAccess", "register_key", {"key": bytes(32)})]

    async def submit(self, calls: list[tuple[str, str, dict]]) -> list[ExtrinsicReceipt]:
        self.submitted = [name for _, name, _ in calls]
        return [ExtrinsicReceipt(bytes([i]) * 32, bytes([0xB0 + i]) * 32, 10 + i, 0, False,
                                 tuple(self.events) if pallet == "FileBank" else (), True)
                for i, (pallet, _, _) in enumerate(calls)]


@pytest.mark.parametrize("size", [3000, 0])
def test_a_declaration_batched_with_a_key_and_a_grant_reads_its_own_receipt(size):
    """A signer's first private upload sends its key registration, the declaration and its own grant together;
    they need not land in one block. The upload's placements, activation and the block it reads the file at are
    the declaration's, not the first or last receipt's."""
    signer = Keypair.from_uri("//Alice").public
    draft = Manifest(1, signer, bytes(16), size, 2048, 3, 2, 256, True, ())
    file_id, segments = draft.file_id(), draft.segment_count()
    nodes = [tuple(bytes([16 + 5 * segment + j]) * 32 for j in range(5)) for segment in range(segments)]
    events = [_event(FileDeclared(file_id, signer, size)),
              *(_event(FragmentsAssigned(file_id, segment, nodes[segment])) for segment in range(segments)),
              *([_event(FileActivated(file_id))] if size == 0 else [])]
    ledger = _BatchAcrossBlocks(events)
    upload = _Upload(ledger, Source(b""), draft, new_data_key(), TransferConfig(),  # type: ignore[arg-type]
                     no_progress)

    block = anyio.run(upload._declare, new_data_key(), (), False)
    assert ledger.submitted == ["register_key", "declare", "grant"]
    assert block == bytes([0xB1]) * 32
    assert upload.placements == [list(n) for n in nodes] and upload.activated.is_set() == (size == 0)
