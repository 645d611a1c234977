"""The prover's proofs and the repairer's rebuild, on fragments coded as an uploader codes them."""

from __future__ import annotations

import pytest

from storage_node.chunks import verify_chunk_proof
from storage_node.pallets.types import file_info_from
from sdk.storage.wire import check_fragment_body
from storage_node.service.chain import StoredFile
from storage_node.service.prover import build_proofs
from storage_node.service.repairer import _rebuild
from storage_node.service.store import FragmentKey
from tests.storage_node.service.coded import code_file

OWNER = bytes(32)
CHUNK = 1024


@pytest.fixture(scope="module")
def coded():
    return code_file(bytes(range(256)) * 200, OWNER, segment_size=20_000, k=3, m=2, chunk_size=CHUNK)


def stored_file(coded) -> StoredFile:
    return StoredFile(coded.file_id, file_info_from(coded.manifest, declared_at=1, deposit=0))


def test_proofs_from_a_stored_fragment_verify(coded):
    manifest = coded.manifest
    for segment in range(manifest.segment_count()):
        chunks = manifest.chunk_count(segment)
        indices = (0, chunks // 2, chunks - 1)
        for fragment in range(manifest.fragment_count):
            proofs = build_proofs(coded.bodies[(segment, fragment)], manifest.fragment_count, fragment, CHUNK, indices)
            assert [p.chunk_index for p in proofs] == list(indices)
            assert all(verify_chunk_proof(p, segment_root=manifest.segment_roots[segment], fragment_index=fragment,
                                          fragment_count=manifest.fragment_count, chunk_count=chunks) for p in proofs)


def test_proofs_from_a_corrupted_fragment_fail(coded):
    manifest = coded.manifest
    body = bytearray(coded.bodies[(0, 1)])
    body[-1] ^= 0xFF  # the last chunk's last byte
    chunks = manifest.chunk_count(0)
    proofs = build_proofs(bytes(body), manifest.fragment_count, 1, CHUNK, (0, chunks - 1))
    assert not any(verify_chunk_proof(p, segment_root=manifest.segment_roots[0], fragment_index=1,
                                      fragment_count=manifest.fragment_count, chunk_count=chunks) for p in proofs)


@pytest.mark.parametrize("lost", [0, 2, 4])
def test_rebuild_from_any_k_gives_the_lost_fragment_back(coded, lost):
    stored = stored_file(coded)
    last = coded.manifest.segment_count() - 1
    for segment in (0, last):
        survivors = [i for i in range(5) if i != lost][-3:]
        fetched = {i: check_fragment_body(coded.bodies[(segment, i)], fragment=i, fragment_count=5,
                                          fragment_size=stored.fragment_size(segment), chunk_size=CHUNK,
                                          expected_segment_root=coded.manifest.segment_roots[segment])
                   for i in survivors}
        assert _rebuild(stored, FragmentKey(coded.file_id, segment, lost), fetched) == coded.bodies[(segment, lost)]
