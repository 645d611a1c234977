"""Fragment files around the page cache: exact bytes and lengths whatever the sizes, buffers reused, the same
results through the page cache where ``O_DIRECT`` is not used."""

from __future__ import annotations

import fcntl
import os

import pytest

from storage_node.service.direct_io import ALIGNMENT, BUFFER_SIZE, BufferPool, DirectReader, DirectWriter
from storage_node.service.store import FragmentKey, FragmentStore

SIZES = [0, 1, ALIGNMENT - 1, ALIGNMENT, ALIGNMENT + 1, BUFFER_SIZE - 1, BUFFER_SIZE, BUFFER_SIZE + 1,
         2 * BUFFER_SIZE + ALIGNMENT + 7, 2_796_386]
"""Empty, around a block, around a buffer, and a fragment body of RS(3, 2) over 8 MiB segments."""


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "page-cache"])
@pytest.mark.parametrize("size", SIZES)
def test_what_is_written_in_any_pieces_reads_back_exactly(tmp_path, size, direct):
    data = os.urandom(size)
    path = tmp_path / "fragment"
    pool = BufferPool()
    with DirectWriter(path, pool, direct=direct) as writer:
        for start in range(0, size, 70_001):  # pieces that fit no block or buffer boundary
            writer.write(data[start:start + 70_001])
        writer.finish()
    assert path.stat().st_size == size  # the padded tail block is cut off again
    assert path.read_bytes() == data
    pieces = []
    with DirectReader(path, pool, direct=direct) as reader:
        while piece := reader.read():
            assert len(piece) <= BUFFER_SIZE
            pieces.append(piece)
    assert b"".join(pieces) == data


def test_a_file_is_emptied_before_it_is_written_again(tmp_path):
    path = tmp_path / "fragment"
    pool = BufferPool()
    for data in (b"a" * (BUFFER_SIZE + 5), b"b" * 10):
        with DirectWriter(path, pool) as writer:
            writer.write(data)
            writer.finish()
    assert path.read_bytes() == b"b" * 10


def test_one_buffer_serves_transfers_one_after_another_and_each_concurrent_one_gets_its_own(tmp_path):
    pool = BufferPool()
    for index in range(5):
        with DirectWriter(tmp_path / f"f{index}", pool) as writer:
            writer.write(b"x" * 100)
            writer.finish()
    assert len(pool._free) == 1
    first, second = DirectWriter(tmp_path / "a", pool), DirectWriter(tmp_path / "b", pool)
    second.write(b"2" * 9)
    first.write(b"1" * 9)
    for writer in (first, second):
        writer.finish()
        writer.close()
        writer.close()  # closing twice gives the buffer back once
    assert len(pool._free) == 2
    assert (tmp_path / "a").read_bytes() == b"1" * 9 and (tmp_path / "b").read_bytes() == b"2" * 9


def test_a_missing_file_is_an_os_error_and_keeps_no_buffer(tmp_path):
    pool = BufferPool()
    with pytest.raises(FileNotFoundError):
        DirectReader(tmp_path / "absent", pool)
    assert pool._free == []


@pytest.mark.parametrize("direct_io", [True, False], ids=["direct", "page-cache"])
def test_the_store_keeps_fragments_either_way(tmp_path, direct_io):
    key = FragmentKey(bytes(range(32)), 0, 1)
    store = FragmentStore(tmp_path, capacity=1 << 24, direct_io=direct_io)
    store.open()
    body = os.urandom(BUFFER_SIZE + 3)
    store.write(key, body)
    assert store.used == len(body) and store.read(key) == body
    with store.reader(key) as reader:
        assert reader.read() + reader.read() + reader.read() == body


def test_a_file_system_that_refuses_o_direct_is_written_through_the_page_cache(tmp_path, monkeypatch):
    """As tmpfs before Linux 6.6 and some FUSE file systems answer: EINVAL for ``O_DIRECT`` at open."""
    real_open = os.open

    def refusing_open(path, flags, *args):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(22, "Invalid argument", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    data = os.urandom(ALIGNMENT + 3)
    with DirectWriter(tmp_path / "fragment", BufferPool()) as writer:
        writer.write(data)
        writer.finish()
    assert writer.direct is False and (tmp_path / "fragment").read_bytes() == data


def test_a_file_whose_direct_transfers_fail_after_opening_goes_through_the_page_cache(tmp_path, monkeypatch):
    """As a device with blocks larger than 4 KiB answers: the open succeeds, every direct read or write is EINVAL."""
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT on this platform")
    real_pwrite, real_preadv = os.pwrite, os.preadv

    def refuse_if_direct(fd):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "pwrite", lambda fd, *args: refuse_if_direct(fd) or real_pwrite(fd, *args))
    monkeypatch.setattr(os, "preadv", lambda fd, *args: refuse_if_direct(fd) or real_preadv(fd, *args))
    data = os.urandom(BUFFER_SIZE + ALIGNMENT + 3)
    pool = BufferPool()
    with DirectWriter(tmp_path / "fragment", pool) as writer:
        writer.write(data)
        writer.finish()
    with DirectReader(tmp_path / "fragment", pool) as reader:
        read = reader.read() + reader.read() + reader.read()
    assert writer.direct is False and reader.direct is False
    assert read == data and (tmp_path / "fragment").read_bytes() == data


def test_the_pool_keeps_a_bounded_number_of_idle_buffers(tmp_path):
    pool = BufferPool(keep=2)
    writers = [DirectWriter(tmp_path / f"f{index}", pool) for index in range(5)]  # a burst of five uploads
    for writer in writers:
        writer.finish()
        writer.close()
    assert len(pool._free) == 2  # the other three were unmapped
    with DirectWriter(tmp_path / "again", pool) as writer:  # and the kept ones serve the next transfers
        writer.write(b"x" * 10)
        writer.finish()
    assert len(pool._free) == 2 and (tmp_path / "again").read_bytes() == b"x" * 10
