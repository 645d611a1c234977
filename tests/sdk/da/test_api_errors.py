"""``client.da`` refuses what it cannot do with a typed error, before anything reaches a DA node: an empty or
oversized payload, no signer, unknown blobs, impossible sample counts, malformed blob references. Runs
against the package's real dev node, which has no DA node registered."""

from __future__ import annotations

import os

import pytest

from da_layer.blobs import USABLE_BYTES_PER_BLOB
from sdk.client import AsyncClient
from sdk.da.api import DaApi
from sdk.da.config import DaConfig
from sdk.da.errors import EmptyPayload, NoSigner, PayloadTooLarge, SubmissionRefused, UnknownBlob
from sdk.da.types import BlobRef

UNKNOWN = "0x" + "ab" * 32


@pytest.fixture
async def da(url):
    async with AsyncClient(url, signer="//Alice") as client:
        yield client.da


async def test_empty_and_oversized_payloads_are_refused(url):
    async with AsyncClient(url, signer="//Alice") as client:
        api = DaApi(client, client.signer, DaConfig(max_blobs=1))
        try:
            with pytest.raises(EmptyPayload):
                await api.submit(b"")
            with pytest.raises(PayloadTooLarge):
                await api.submit(bytes(USABLE_BYTES_PER_BLOB + 1))
        finally:
            await api.aclose()


async def test_submitting_needs_a_signer(url):
    async with AsyncClient(url) as client:
        with pytest.raises(NoSigner):
            await client.da.submit(b"data")


async def test_a_chain_without_da_nodes_refuses_the_blob(da):
    with pytest.raises(SubmissionRefused, match="NoDaNodes"):
        await da.submit(os.urandom(1000))


@pytest.mark.parametrize("operation", ["status", "sample", "get"])
async def test_unknown_blobs_are_typed_errors(da, operation):
    with pytest.raises(UnknownBlob):
        await getattr(da, operation)(UNKNOWN)


@pytest.mark.parametrize("samples", [0, 129])
async def test_sample_counts_stay_within_one_blob(da, samples):
    with pytest.raises(ValueError):
        await da.sample(UNKNOWN, samples)


async def test_sample_takes_a_count_or_a_confidence_not_both(da):
    with pytest.raises(ValueError):
        await da.sample(UNKNOWN, 10, 0.9)


@pytest.mark.parametrize("ref", ["", "0x1234", "ab" * 32, b"short", 42])
def test_malformed_blob_references(ref):
    with pytest.raises((ValueError, TypeError)):
        BlobRef.parse(ref)


def test_blob_references_print_as_their_id():
    ref = BlobRef.parse(UNKNOWN)
    assert str(ref) == UNKNOWN and BlobRef.parse(bytes.fromhex(UNKNOWN[2:])) == ref == BlobRef.parse(ref)
