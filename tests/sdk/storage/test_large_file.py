"""A 1 GiB private file up and down through six storage nodes at the chain's default 8 MiB segments (slow;
blocking client: its waits are bounded by the transfer config's timeouts)."""

from __future__ import annotations

import os

import pytest
from blake3 import blake3

from sdk.client import Client
from tests.sdk.storage.network import start_network

SIZE = 1 << 30


@pytest.mark.slow
@pytest.mark.timeout(3600)  # (its client waits up to 30 minutes for an upload's blocks)
def test_a_1_gib_private_file_round_trips(tmp_path):
    source = tmp_path / "large.bin"
    expected = blake3()
    with open(source, "wb") as f:
        for _ in range(SIZE >> 24):
            block = os.urandom(1 << 24)
            expected.update(block)
            f.write(block)
    network = start_network(tmp_path / "network")
    try:
        with Client(network.url, signer="//Alice", watch_timeout=1800) as alice:
            file_id = alice.storage.upload(source)
            alice.storage.download(file_id, tmp_path / "copy.bin")
        got = blake3()
        with open(tmp_path / "copy.bin", "rb") as f:
            while block := f.read(1 << 24):
                got.update(block)
        assert got.digest() == expected.digest()
    finally:
        network.stop()
