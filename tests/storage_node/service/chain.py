"""A real chain for the storage node's tests: a dev node whose spec endows the storage nodes' accounts.

``start_storage_chain(folder, params)`` writes the ``dev`` preset with ``//Storage0`` .. ``//Storage7``
endowed (and any runtime parameter overrides, e.g. a short audit period, and another slot length) and starts
one validator on it, returning once a block is finalized. ``declare`` puts a coded file on chain as an uploader does.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from devnet.launcher import endow_accounts
from node.chain_spec import preset
from runtime.cairn import runtime_params
from runtime.keyring import Keypair
from sdk.chain import AsyncClient
from tests.integration.nodes import NodeProcess, wait_until

STORAGE_ACCOUNTS = tuple(f"//Storage{i}" for i in range(8))


def start_storage_chain(folder: Path, params: Mapping[str, Mapping[str, Any]] | None = None, *,
                        slot_duration_ms: int | None = None, accounts: Iterable[str] = ()) -> NodeProcess:
    """The chain; ``accounts``: secret URIs to endow besides the storage nodes' (e.g. compute providers')."""
    spec = endow_accounts(preset("dev"), (Keypair.from_uri(uri).public for uri in (*STORAGE_ACCOUNTS, *accounts)))
    if params:
        spec = replace(spec, runtime=runtime_params(params))
    if slot_duration_ms is not None:
        spec = replace(spec, slot_duration_ms=slot_duration_ms)
    spec_path = folder / "spec.json"
    spec.save(spec_path)
    node = NodeProcess(["--chain", str(spec_path), "--validator", "--key", "//Alice"], folder / "data",
                       0, 0, folder / "node.log").start()  # ports 0: start() reads back the ones it got
    wait_until(lambda: node.finalized() >= 1, 60, "first finalized block")
    return node


def ws_url(node: NodeProcess) -> str:
    return f"ws://127.0.0.1:{node.rpc_port}"


async def declare(client: AsyncClient, owner: Keypair, manifest_bytes: bytes, *, embargoed: bool = False) -> None:
    name = "declare_embargoed" if embargoed else "declare"
    call = client.compose_call("FileBank", name, {"manifest": manifest_bytes})
    receipt = await client.sign_and_submit(call, owner, wait_for_inclusion=True)
    assert receipt.is_success, receipt.error_message
