"""A light client follows the authority set from genesis through its hand-overs before it trusts a finalized
header (``sdk.chain.finality``), on a real node whose sessions last two blocks, so that the set changes
every few seconds; a node that hides the justification of a hand-over block stops it with a typed error.

Slow: it waits for several sessions to pass (~20 s at 2 s slots).
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from runtime.justification import AuthoritySet
from runtime.keyring import Keypair
from runtime.primitives import SignatureScheme
from sdk.chain import AsyncClient
from sdk.chain.finality import FinalityProver, MissingJustification
from tests.integration.nodes import wait_until
from tests.sdk.lying_node import LyingNode, with_justification
from tests.storage_node.service.chain import start_storage_chain, ws_url

pytestmark = pytest.mark.slow

SESSION_LENGTH = 2
ALICE = Keypair.from_uri("//Alice", SignatureScheme.Ed25519).public


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = start_storage_chain(tmp_path_factory.mktemp("da-finality"),
                               {"ValidatorSet": {"session_length": SESSION_LENGTH}})
    try:
        wait_until(lambda: node.finalized() >= 4 * SESSION_LENGTH + 1, 90, "four sessions finalized")
        yield node
    finally:
        node.stop()


async def test_the_finalized_head_is_proven_through_every_set_hand_over(node):
    async with AsyncClient(ws_url(node)) as client:
        prover = FinalityProver(client)
        with trio.fail_after(60):
            header = await prover.finalized_head()
            block = await client.get_block(header.hash)
        set_id = (header.number - 1) // SESSION_LENGTH  # the session of its parent
        assert set_id >= 4 and block.justification is not None
        for followed in range(set_id + 1):
            assert await prover.authority_set(followed) == AuthoritySet(followed, (ALICE,))


async def test_a_node_hiding_a_hand_over_justification_stops_the_client(node):
    async def hide_hand_overs(client: AsyncClient, params: list, result: Any) -> Any:
        number = int(result["block"]["header"]["number"], 16)
        return with_justification(result, None) if number % SESSION_LENGTH == 0 else result

    async with LyingNode(ws_url(node), {"chain_getBlock": hide_hand_overs}) as client:
        with trio.fail_after(60), pytest.raises(MissingJustification, match="no justification"):
            await FinalityProver(client).authority_set(2)
