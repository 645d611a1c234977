"""The unmodified ``@polkadot/api`` (from npm) against a real dev node, and its ``@polkadot/types`` decoding
state a runtime test wrote; skipped without node and npm."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from runtime.extrinsic import SIGNED_EXTENSIONS
from runtime.frame.metadata import build_metadata
from runtime.primitives import ACCOUNT_LOOKUP, MULTI_SIGNATURE
from tests.integration.nodes import NodeProcess, wait_until
from tests.runtime.escrow_mock import DEPOSIT_ID, STAKE_ID, new_ext, set_aside_one_of_each
from tests.runtime.frame_helpers import ALICE

POLKADOT_API = "@polkadot/api@16.5.6"  # 17.0.1's pinned dependencies are not published; 16.5.x is the same API
CACHE = Path.home() / ".cache" / "cairn" / "polkadot-api-16.5.6"
SCRIPT = Path(__file__).with_name("polkadot_client.mjs")
DECODE_SCRIPT = Path(__file__).with_name("polkadot_decode.mjs")

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="node and npm are needed for the @polkadot/api test")


@pytest.fixture(scope="module")
def polkadot_api() -> Path:
    if not (CACHE / "node_modules" / "@polkadot" / "api").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", POLKADOT_API],
                                cwd=CACHE, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            pytest.skip(f"npm could not install {POLKADOT_API}: {result.stderr[-500:]}")
    for script in (SCRIPT, DECODE_SCRIPT):
        shutil.copy(script, CACHE / script.name)
    return CACHE


def test_polkadot_js_creates_queries_signs_looks_up_errors_and_shows_node_and_balance_views(polkadot_api, tmp_path):
    node = NodeProcess(["--dev"], tmp_path / "data", 0, 0, tmp_path / "node.log").start()
    try:
        wait_until(lambda: node.best() >= 1, 60, "first block")
        result = subprocess.run(["node", SCRIPT.name, f"ws://127.0.0.1:{node.rpc_port}"], cwd=polkadot_api,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        seen = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        node.stop()
    assert seen["chain"] == "Cairn Development"
    assert int(seen["partialFee"]) > 0 and int(seen["received"]) == 10**12
    assert seen["ok"]["statuses"][0] == "Ready" and seen["ok"]["statuses"][-1] == "Finalized"
    assert seen["ok"]["error"] is None and "balances.Transfer" in seen["ok"]["events"]
    assert seen["failed"]["error"] == "balances.InsufficientBalance"
    assert "system.ExtrinsicFailed" in seen["failed"]["events"]

    info = seen["nodeInfo"]  # the node-info view
    assert info["roles"] == ["Authority"]
    assert info["listenAddresses"] == [f"/ip4/127.0.0.1/tcp/{node.p2p_port}/p2p/{info['peerId']}"]
    assert info["health"] == {"peers": 0, "isSyncing": False, "shouldHavePeers": False} and info["peers"] == []
    for method in ("system_nodeRoles", "system_localListenAddresses", "system_dryRun", "payment_queryFeeDetails",
                   "state_getPairs"):
        assert method in info["methods"]

    balance = seen["balance"]  # the account-balance view: decodable, and zero where nothing is set aside yet
    assert int(balance["free"]) > 0 and balance["reserved"] == "0" and balance["locked"] == "0"
    assert int(balance["transferable"]) > 0
    assert balance["namedReserves"] == [[]] and balance["lockedBreakdown"] == []
    assert balance["items"] == {"locks": [], "reserves": [], "holds": [], "freezes": []}
    assert balance["holdTypeName"] == "Vec<FrameSupportTokensMiscIdAmountRuntimeHoldReason>"  # as on Polkadot


def test_polkadot_js_decodes_holds_reserves_locks_and_freezes_written_by_the_runtime(polkadot_api, tmp_path):
    """No extrinsic sets balance aside yet (the layers' pallets will), so a runtime test writes each kind of
    entry, and polkadot.js decodes them from that runtime's metadata, reasons by pallet and name."""
    ext = new_ext()
    values = {name: "0x" + raw.hex() for name, raw in set_aside_one_of_each(ext, ALICE).items()}
    metadata = build_metadata(ext.runtime, ACCOUNT_LOOKUP, MULTI_SIGNATURE, SIGNED_EXTENSIONS)
    job = tmp_path / "storage.json"
    job.write_text(json.dumps({"metadata": "0x" + metadata.hex(), "pallet": "Balances", "values": values}))
    result = subprocess.run(["node", DECODE_SCRIPT.name, str(job)], cwd=polkadot_api, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    decoded = json.loads(result.stdout.strip().splitlines()[-1])
    assert decoded["Holds"] == [{"id": {"escrow": "ProviderStake"}, "amount": 30}]
    assert decoded["Freezes"] == [{"id": {"escrow": "Voting"}, "amount": 5}]
    assert decoded["Reserves"] == [{"id": "0x" + STAKE_ID.hex(), "amount": 10}]
    assert decoded["Locks"] == [{"id": "0x" + DEPOSIT_ID.hex(), "amount": 20, "reasons": "Misc"}]
    assert decoded["_types"]["Holds"] == "Vec<FrameSupportTokensMiscIdAmountRuntimeHoldReason>"
