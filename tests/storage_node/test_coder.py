"""ErasureCoder: every backend gives the same fragments, any k decode, repair rebuilds exact fragments."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage_node.erasure import (
    DuplicateFragmentError,
    ErasureCoder,
    Fragment,
    FragmentLengthError,
    InvalidFragmentIndexError,
    InvalidParametersError,
    MismatchedFragmentError,
    NotEnoughFragmentsError,
    SegmentInfo,
    parse_fragment,
    serialize,
)
from storage_node.erasure.params import SHARD_ALIGNMENT, CodeParams

CODING = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

lengths = st.one_of(st.sampled_from([0, 1, 2, 63, 64, 65]), st.integers(0, 6000))


def payloads(fragments: list[Fragment]) -> list[bytes]:
    return [fragment.payload.tobytes() for fragment in fragments]


@CODING
@given(k=st.integers(1, 12), m=st.integers(1, 8), length=lengths, seed=st.integers(0, 2**32 - 1))
def test_backends_agree_and_any_k_decode_and_repair(all_backends, k, m, length, seed):
    rng = random.Random(seed)
    data = rng.randbytes(length)
    coders = [ErasureCoder(k, m, backend) for backend in all_backends]
    reference = coders[0].encode(data)
    assert [fragment.index for fragment in reference] == list(range(k + m))
    assert b"".join(payloads(reference[:k]))[:length] == data
    for coder in coders:
        fragments = coder.encode(data)
        assert payloads(fragments) == payloads(reference), coder.backend.name
        for lost_count in range(m + 1):                       # every erasure pattern size
            lost = rng.sample(range(k + m), lost_count)
            survivors = {f.index: f for f in fragments if f.index not in lost}
            assert coder.decode(survivors).tobytes() == data, (coder.backend.name, lost)
            rebuilt = coder.reconstruct(survivors, wanted=lost)
            assert payloads([rebuilt[index] for index in lost]) == payloads([reference[i] for i in lost])


def test_largest_codes_round_trip():
    for k, m in [(255, 1), (1, 255), (128, 128)]:
        coder = ErasureCoder(k, m, "isal")
        data = np.random.default_rng(k).integers(0, 256, 3 * k * SHARD_ALIGNMENT + 5, dtype=np.uint8)
        fragments = coder.encode(data)
        reference = ErasureCoder(k, m, "numpy").encode(data)
        assert payloads(fragments) == payloads(reference)
        survivors = {f.index: f for f in fragments[-k:]}
        assert np.array_equal(coder.decode(survivors), data)


def test_segment_batches_match_single_segments():
    coder = ErasureCoder(4, 2, "numpy")
    segments = [bytes([n]) * 1000 for n in range(3)] + [b"tail"]
    batch = coder.encode_batch(segments, first_segment_index=7)
    for number, (data, fragments) in enumerate(zip(segments, batch)):
        assert fragments[0].segment == SegmentInfo(coder.params, len(data), 7 + number, number == 3)
        assert payloads(fragments) == payloads(coder.encode(data))


@pytest.mark.parametrize("make", [
    bytes, bytearray, memoryview,
    lambda raw: np.frombuffer(raw, dtype=np.uint8),
    lambda raw: np.frombuffer(raw, dtype=np.float32).reshape(8, -1),   # any dtype and shape: its bytes
])
def test_input_kinds_give_same_fragments(make):
    raw = np.random.default_rng(1).integers(0, 256, 4 * 8 * 64, dtype=np.uint8).tobytes()
    coder = ErasureCoder(4, 2, "isal")
    assert payloads(coder.encode(make(raw))) == payloads(coder.encode(raw))


def test_data_shards_are_views_not_copies():
    data = np.zeros(10 * 4096, dtype=np.uint8)
    fragments = ErasureCoder(10, 4, "isal").encode(data)
    assert all(np.shares_memory(fragment.payload, data) for fragment in fragments[:10])


def test_padding_recorded_and_stripped():
    coder = ErasureCoder(3, 2, "isal")
    fragments = coder.encode(b"abcde")
    assert fragments[0].segment.segment_length == 5
    assert all(fragment.payload.size == SHARD_ALIGNMENT for fragment in fragments)
    assert coder.decode(fragments[2:]).tobytes() == b"abcde"


def test_coder_can_run_in_threads():
    coder = ErasureCoder(6, 3, "isal")
    data = [np.random.default_rng(seed).integers(0, 256, 1 << 20, dtype=np.uint8) for seed in range(4)]
    results: dict[int, bool] = {}

    def work(number: int) -> None:
        fragments = coder.encode(data[number])
        results[number] = np.array_equal(coder.decode(fragments[3:]), data[number])

    threads = [threading.Thread(target=work, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == {0: True, 1: True, 2: True, 3: True}


# -- bad input -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k, m", [(0, 1), (1, 0), (-1, 2), (200, 57), (256, 1), (True, 1), ("3", 1), (2.0, 1)])
def test_invalid_parameters_raise(k, m):
    with pytest.raises(InvalidParametersError):
        ErasureCoder(k, m, "numpy")


def test_unknown_backend_raises():
    with pytest.raises(InvalidParametersError, match="unknown backend"):
        ErasureCoder(2, 1, "fpga")


def test_too_few_fragments_raise():
    coder = ErasureCoder(4, 2, "numpy")
    fragments = coder.encode(b"x" * 500)
    with pytest.raises(NotEnoughFragmentsError) as raised:
        coder.decode(fragments[:3])
    assert (raised.value.usable, raised.value.needed) == (3, 4)
    with pytest.raises(NotEnoughFragmentsError):
        coder.decode({})


def test_index_out_of_range_raises():
    coder = ErasureCoder(4, 2, "numpy")
    fragments = coder.encode(b"x" * 500)
    with pytest.raises(InvalidFragmentIndexError):
        coder.decode({6: fragments[0], **{i: fragments[i] for i in range(4)}})
    with pytest.raises(InvalidFragmentIndexError):
        coder.reconstruct(fragments, wanted=[-1])


def test_duplicate_fragments_raise():
    coder = ErasureCoder(4, 2, "numpy")
    fragments = coder.encode(b"x" * 500)
    with pytest.raises(DuplicateFragmentError):
        coder.decode([*fragments[:4], fragments[2]])


def test_wrong_payload_length_raises_at_construction():
    segment = SegmentInfo(CodeParams(4, 2), 500)
    with pytest.raises(FragmentLengthError):
        Fragment(segment, 0, np.zeros(segment.shard_length + 1, dtype=np.uint8))
    with pytest.raises(InvalidFragmentIndexError):
        Fragment(segment, 6, np.zeros(segment.shard_length, dtype=np.uint8))


def test_fragment_under_wrong_key_or_code_is_treated_as_missing():
    coder = ErasureCoder(4, 2, "numpy")
    fragments = coder.encode(b"y" * 700)
    other_code = ErasureCoder(3, 3, "numpy").encode(b"y" * 700)
    given = {0: fragments[0], 1: fragments[1], 2: fragments[2], 3: fragments[4], 5: other_code[5]}
    with pytest.raises(NotEnoughFragmentsError) as raised:
        coder.decode(given)                       # fragment 4 under key 3, and an RS(3,3) fragment
    assert set(raised.value.rejected) == {3, 5}
    assert all(isinstance(error, MismatchedFragmentError) for error in raised.value.rejected.values())
    assert coder.decode({**given, 4: fragments[4]}).tobytes() == b"y" * 700


def test_fragments_of_another_segment_are_outvoted_and_ties_refused():
    coder = ErasureCoder(3, 3, "isal")
    ours = [parse_fragment(blob) for blob in serialize(coder.encode(b"a" * 300))]
    theirs = [parse_fragment(blob) for blob in serialize(coder.encode(b"b" * 300))]
    mixed = {0: ours[0], 1: theirs[1], 2: ours[2], 3: ours[3], 4: theirs[4]}
    assert coder.decode(mixed).tobytes() == b"a" * 300
    with pytest.raises(MismatchedFragmentError, match="equal numbers"):
        coder.decode({0: ours[0], 1: ours[1], 2: ours[2], 3: theirs[3], 4: theirs[4], 5: theirs[5]})
