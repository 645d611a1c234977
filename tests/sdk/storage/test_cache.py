"""The public-file cache on its own: entries kept, checked, evicted and found again after a restart.

Downloads through it, against real storage nodes, are in ``test_storage_client.py``."""

from __future__ import annotations

import io
import os
import shutil

import anyio
import pytest
from blake3 import blake3

from sdk.storage.cache import PublicFileCache


def fid(n: int) -> bytes:
    return bytes([n]) * 32


def keep(cache: PublicFileCache, file_id: bytes, data: bytes) -> None:
    filling = cache.filling(file_id, len(data))
    assert filling is not None
    for start in range(0, len(data), 1000):  # written in pieces, as segments arrive
        filling.write(data[start:start + 1000])
    filling.keep()


async def read(cache: PublicFileCache, file_id: bytes) -> bytes | None:
    out = io.BytesIO()
    size = await cache.read(file_id, out.write)
    assert size is None or size == len(out.getvalue())
    return None if size is None else out.getvalue()


async def test_a_kept_file_is_read_back_and_named_by_its_digest(tmp_path):
    cache = PublicFileCache(tmp_path, 1 << 20)
    data = os.urandom(5000)
    assert await read(cache, fid(1)) is None
    keep(cache, fid(1), data)
    assert await read(cache, fid(1)) == data
    assert [p.name for p in tmp_path.iterdir()] == [f"{fid(1).hex()}.{blake3(data).hexdigest()}"]
    assert (cache.hits, cache.misses, cache.size) == (1, 1, 5000)
    keep(cache, fid(2), b"")
    assert await read(cache, fid(2)) == b""


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "removed"])
async def test_a_damaged_entry_is_a_miss_and_is_dropped(tmp_path, damage):
    cache = PublicFileCache(tmp_path, 1 << 20)
    data = os.urandom(5000)
    keep(cache, fid(1), data)
    (entry,) = tmp_path.iterdir()
    if damage == "flipped byte":
        body = bytearray(entry.read_bytes())
        body[1234] ^= 1
        entry.write_bytes(bytes(body))
    elif damage == "truncated":
        entry.write_bytes(data[:-1])
    else:
        entry.unlink()
    written: list[bytes] = []
    assert await cache.read(fid(1), written.append) is None
    assert written == []  # nothing of a damaged entry reaches the reader
    assert fid(1) not in cache and list(tmp_path.iterdir()) == []
    assert cache.misses == 1


async def test_the_least_recently_used_entries_go_first_and_a_file_too_large_is_not_kept(tmp_path):
    cache = PublicFileCache(tmp_path, 3000)
    for n in (1, 2, 3):
        keep(cache, fid(n), bytes([n]) * 1000)
    assert await read(cache, fid(1)) == bytes([1]) * 1000  # 2 is now the least recently used
    keep(cache, fid(4), bytes([4]) * 1000)
    assert [n for n in (1, 2, 3, 4) if fid(n) in cache] == [1, 3, 4]
    keep(cache, fid(5), bytes([5]) * 2500)
    assert [n for n in (1, 2, 3, 4, 5) if fid(n) in cache] == [5]
    assert cache.size == 2500
    assert cache.filling(fid(6), 3001) is None


def test_a_restart_finds_the_entries_in_their_use_order_and_removes_what_a_crash_left(tmp_path):
    cache = PublicFileCache(tmp_path, 3000)
    for n in (1, 2, 3):
        keep(cache, fid(n), bytes([n]) * 1000)
        os.utime(next(tmp_path.glob(f"{fid(n).hex()}.*")), (1000 + n, 1000 + n))
    os.utime(next(tmp_path.glob(f"{fid(1).hex()}.*")), (2000, 2000))  # 1 used last
    interrupted = cache.filling(fid(7), 100)
    interrupted.write(b"x" * 50)  # the process dies here
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not the cache's")

    again = PublicFileCache(tmp_path, 3000)
    assert again.size == 3000 and fid(7) not in again
    assert not list(tmp_path.glob("*.part"))
    assert foreign.exists()
    keep(again, fid(4), bytes([4]) * 1000)
    assert [n for n in (1, 2, 3, 4) if fid(n) in again] == [1, 3, 4]


def test_a_discarded_filling_leaves_nothing(tmp_path):
    cache = PublicFileCache(tmp_path, 1000)
    filling = cache.filling(fid(1), 10)
    filling.write(b"0123456789")
    filling.discard()
    assert fid(1) not in cache and list(tmp_path.iterdir()) == []


async def test_claims_on_one_id_wait_for_each_other_and_others_do_not(tmp_path):
    cache = PublicFileCache(tmp_path, 1000)
    order: list[str] = []

    async def hold(name: str, file_id: bytes, seconds: float) -> None:
        async with cache.claim(file_id):
            order.append(f"{name} in")
            await anyio.sleep(seconds)
            order.append(f"{name} out")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(hold, "a", fid(1), 0.2)
            await anyio.sleep(0.05)
            group.start_soon(hold, "b", fid(1), 0)
            group.start_soon(hold, "c", fid(2), 0)
    assert order.index("c in") < order.index("a out") < order.index("b in")
    assert cache._locks == {}


def test_a_negative_size_is_refused(tmp_path):
    with pytest.raises(ValueError):
        PublicFileCache(tmp_path, -1)


def test_a_full_disk_or_a_vanished_folder_costs_the_entry_not_the_download(tmp_path):
    cache = PublicFileCache(tmp_path / "cache", 1 << 20)
    (cache.folder / f"{fid(1).hex()}.{'0' * 64}.part").symlink_to("/dev/full")  # every write: ENOSPC
    full = cache.filling(fid(1), 10_000)
    for _ in range(10):
        full.write(bytes(1000))  # raises nothing: the caller's download goes on
    full.keep()
    assert fid(1) not in cache and list(cache.folder.iterdir()) == []

    gone = cache.filling(fid(2), 100)
    gone.write(bytes(100))
    shutil.rmtree(cache.folder)
    gone.keep()
    assert fid(2) not in cache and cache.size == 0
    assert cache.filling(fid(3), 100) is None


async def test_a_reader_that_cannot_write_gets_its_error_and_the_entry_stays(tmp_path):
    """Bytes already written cannot be taken back, so a failing sink is the reader's error, not a miss that
    would fetch the file again into the same sink."""
    cache = PublicFileCache(tmp_path, 1 << 20)
    keep(cache, fid(1), os.urandom(5000))

    def full(_: bytes) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        await cache.read(fid(1), full)
    assert fid(1) in cache and cache.misses == 0
