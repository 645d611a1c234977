"""An upload whose fragments no node ever confirms: the chain abandons the declaration after
``UploadTimeout`` blocks (``UploadAbandoned``), and ``client.storage.upload`` fails at once with the reason
instead of waiting out its own activation timeout. Real processes: a dev validator and five storage nodes,
killed once registered, so every fragment is placed on a node that never answers."""

from __future__ import annotations

import os
import re

import anyio
import pytest

from sdk.client import AsyncClient
from sdk.storage import FileNotFound, UploadFailed
from tests.sdk.storage.network import start_network

pytestmark = pytest.mark.long(0.5)  # minutes, about: started early (tests/conftest.py)

SEGMENT = 64 * 1024
TIMEOUT_BLOCKS = 4
"""Both the confirm deadline and the upload timeout: the first deadline abandons the upload."""


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    params = {"FileBank": {"segment_size": SEGMENT, "confirm_deadline": TIMEOUT_BLOCKS,
                           "upload_timeout": TIMEOUT_BLOCKS}}
    network = start_network(tmp_path_factory.mktemp("abandoned"), params, storage_nodes=5)
    for node in network.nodes:
        node.kill()  # still registered on chain: placements go to them
    yield network
    network.stop()


async def test_an_upload_nobody_confirms_is_abandoned_by_the_chain_and_fails_with_the_reason(network):
    async with AsyncClient(network.url, signer="//Alice") as alice:
        held_before = (await alice.query("System", "Account", [alice.signer.public])).data.reserved
        with anyio.fail_after(120):  # far less than the SDK's own activation timeout (600 s)
            with pytest.raises(UploadFailed, match="dropped file 0x[0-9a-f]{64}: no fragment of it was confirmed for "
                                                   "FileBank's UploadTimeout blocks") as failed:
                await alice.storage.upload(os.urandom(2 * SEGMENT), private=False)
        file_id = bytes.fromhex(re.search(r"0x([0-9a-f]{64})", str(failed.value))[1])
        with pytest.raises(FileNotFound):  # the declaration is gone, and its deposit is back
            await alice.storage.info(file_id)
        assert await alice.storage.ls() == []
        assert (await alice.query("System", "Account", [alice.signer.public])).data.reserved == held_before
