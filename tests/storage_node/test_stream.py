"""Streaming segment by segment, and the ``cairn ec`` command."""

from __future__ import annotations

import io

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from storage_node.erasure import (
    ErasureCoder,
    NotEnoughFragmentsError,
    TruncatedStreamError,
    decode_stream,
    encode_stream,
)
from storage_node.erasure.cli import ec
from storage_node.erasure.fragment import HEADER_SIZE


def encode_to_buffers(data: bytes, coder: ErasureCoder, **options) -> list[bytes]:
    sinks = [io.BytesIO() for _ in range(coder.params.n)]
    report = encode_stream(io.BytesIO(data), sinks, coder, **options)
    assert report.data_bytes == len(data)
    return [sink.getvalue() for sink in sinks]


def decode_from_buffers(streams: list[bytes]) -> bytes:
    sink = io.BytesIO()
    decode_stream([io.BytesIO(stream) for stream in streams], sink, backend="numpy")
    return sink.getvalue()


@settings(max_examples=25, deadline=None)
@given(length=st.sampled_from([0, 1, 999, 1000, 1001, 5000]), segment_size=st.sampled_from([1, 333, 1000]),
       batch=st.integers(1, 3), seed=st.integers(0, 1000))
def test_stream_round_trip_from_any_k(length, segment_size, batch, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    coder = ErasureCoder(3, 2, "isal")
    streams = encode_to_buffers(data, coder, segment_size=segment_size, segments_per_batch=batch)
    kept = sorted(rng.choice(5, size=3, replace=False))
    assert decode_from_buffers([streams[i] for i in kept]) == data


def test_damaged_sources_are_dropped_and_reported():
    data = np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes()
    streams = encode_to_buffers(data, ErasureCoder(3, 2, "isal"), segment_size=4000)
    corrupted = bytearray(streams[0])
    corrupted[-5] ^= 1                                          # last segment's payload
    sink = io.BytesIO()
    report = decode_stream([io.BytesIO(bytes(corrupted)), io.BytesIO(streams[1][:-10]),
                            *map(io.BytesIO, streams[2:])], sink)
    assert sink.getvalue() == data
    assert set(report.dropped_sources) == {0, 1}


def test_too_few_sources_raise():
    streams = encode_to_buffers(b"z" * 1000, ErasureCoder(3, 2, "isal"), segment_size=300)
    with pytest.raises(NotEnoughFragmentsError):
        decode_from_buffers(streams[:2])
    with pytest.raises(NotEnoughFragmentsError):
        decode_from_buffers([b"", b"junk"])


def test_missing_final_segment_is_detected():
    streams = encode_to_buffers(b"z" * 1000, ErasureCoder(3, 2, "isal"), segment_size=300)
    last_fragment = HEADER_SIZE + 64                     # the 100-byte final segment: 64-byte shards
    with pytest.raises(TruncatedStreamError):
        decode_from_buffers([stream[:-last_fragment] for stream in streams])


def test_cli_encode_decode_and_bench(tmp_path):
    original = tmp_path / "model.bin"
    original.write_bytes(np.random.default_rng(3).integers(0, 256, 300_001, dtype=np.uint8).tobytes())
    runner = CliRunner()
    result = runner.invoke(ec, ["encode", str(original), "-k", "4", "-m", "2", "-o", str(tmp_path / "frags"),
                                "--segment-size", "100KiB"])
    assert result.exit_code == 0, result.output
    fragments = sorted((tmp_path / "frags").glob("model.bin.*.frag"))
    assert len(fragments) == 6
    restored = tmp_path / "restored.bin"
    result = runner.invoke(ec, ["decode", *map(str, fragments[2:]), "-o", str(restored)])
    assert result.exit_code == 0, result.output
    assert restored.read_bytes() == original.read_bytes()

    result = runner.invoke(ec, ["decode", *map(str, fragments[3:]), "-o", str(tmp_path / "nope.bin")])
    assert result.exit_code != 0 and "needs 4 fragments" in result.output
    assert not (tmp_path / "nope.bin").exists() and not (tmp_path / "nope.bin.partial").exists()

    result = runner.invoke(ec, ["bench", "--size", "64KiB", "--repeats", "1", "--backend", "numpy"])
    assert result.exit_code == 0, result.output
    assert "numpy" in result.output

    result = runner.invoke(ec, ["bench", "--size", "lots"])
    assert result.exit_code != 0 and "not a size" in result.output
