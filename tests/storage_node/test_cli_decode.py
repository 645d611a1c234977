"""``cairn ec decode`` names every fragment file it sets aside, and why, whether decoding succeeds or not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from storage_node.erasure.cli import ec

K, M = 4, 2


def encode(tmp_path: Path, name: str, seed: int) -> tuple[bytes, list[Path]]:
    """A 3-segment file coded RS(4,2); its bytes and its six fragment files."""
    source = tmp_path / name
    data = np.random.default_rng(seed).integers(0, 256, 25_000, dtype=np.uint8).tobytes()
    source.write_bytes(data)
    result = CliRunner().invoke(ec, ["encode", str(source), "-k", str(K), "-m", str(M), "-o",
                                     str(tmp_path / f"{name}-frags"), "--segment-size", "10000"])
    assert result.exit_code == 0, result.output
    return data, sorted((tmp_path / f"{name}-frags").glob("*.frag"))


def flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 1
    path.write_bytes(bytes(raw))


def decode(tmp_path: Path, files: list[Path]):
    return CliRunner().invoke(ec, ["decode", *map(str, files), "-o", str(tmp_path / "out.bin"), "--backend", "numpy"])


@pytest.fixture
def coded(tmp_path):
    return encode(tmp_path, "model.bin", seed=1)


def test_one_corrupted_fragment_among_exactly_k_is_named(tmp_path, coded):
    _, files = coded
    flip(files[1], 200)                                          # first segment's payload
    result = decode(tmp_path, files[:K])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"set aside {files[1]}: fragment 1: checksum mismatch",
                                          "Error: RS(4,2) needs 4 fragments, 3 usable"]
    assert not (tmp_path / "out.bin").exists() and not (tmp_path / "out.bin.partial").exists()


def test_a_fragment_corrupted_further_in_is_named_with_its_segment(tmp_path, coded):
    _, files = coded
    flip(files[2], -20)                                          # the last segment's payload
    result = decode(tmp_path, files[:K])
    assert result.exit_code == 1
    assert f"set aside {files[2]}: segment 2: fragment 2: checksum mismatch" in result.stderr.splitlines()


def test_a_fragment_of_another_file_says_so(tmp_path, coded):
    data, files = coded
    _, others = encode(tmp_path, "other.bin", seed=2)
    result = decode(tmp_path, [*files[:K - 1], others[K - 1], files[K]])
    assert result.exit_code == 0, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"set aside {others[K - 1]}: fragment {K - 1} of another object: its first segment's id is ")
    assert "that of the other 4 file(s)" in line
    assert (tmp_path / "out.bin").read_bytes() == data


def test_every_kind_of_bad_file_is_named_and_decoding_still_succeeds(tmp_path, coded):
    data, files = coded
    empty, junk, copy, coded_otherwise = (tmp_path / "empty.frag", tmp_path / "junk.frag", tmp_path / "copy.frag",
                                          tmp_path / "rs22")
    empty.write_bytes(b"")
    junk.write_bytes(b"not a fragment" * 10)
    copy.write_bytes(files[0].read_bytes())
    CliRunner().invoke(ec, ["encode", str(tmp_path / "model.bin"), "-k", "2", "-m", "2", "-o", str(coded_otherwise)])
    stranger = sorted(coded_otherwise.glob("*.frag"))[0]
    flip(files[5], -20)
    result = decode(tmp_path, [empty, junk, stranger, *files, copy])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out.bin").read_bytes() == data
    reasons = dict(line.removeprefix("set aside ").split(": ", 1) for line in result.stderr.splitlines())
    assert reasons == {
        str(empty): "empty file",
        str(junk): "bad magic b'not ', expected b'CRNF'",
        str(stranger): "fragment 0 of a file coded RS(2,2); the other 7 file(s) are RS(4,2)",
        str(copy): f"fragment 0 again (also in {files[0]})",
        str(files[5]): "fragment 5: checksum mismatch",
    }


def test_files_of_two_objects_in_equal_numbers_are_all_set_aside(tmp_path, coded):
    _, files = coded
    _, others = encode(tmp_path, "other.bin", seed=2)
    result = decode(tmp_path, [*files[:2], *others[2:4]])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 5 and all("cannot tell which one is meant" in line for line in lines[:4])
    assert lines[-1] == "Error: no readable fragment stream"
