"""The unmodified ``@polkadot/api`` (from npm) against a real dev node; skipped without node and npm."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.nodes import NodeProcess, free_port, wait_until

POLKADOT_API = "@polkadot/api@16.5.6"  # 17.0.1's pinned dependencies are not published; 16.5.x is the same API
CACHE = Path.home() / ".cache" / "cairn" / "polkadot-api-16.5.6"
SCRIPT = Path(__file__).with_name("polkadot_client.mjs")

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
    shutil.copy(SCRIPT, CACHE / SCRIPT.name)
    return CACHE


def test_polkadot_js_creates_queries_signs_and_looks_up_errors(polkadot_api, tmp_path):
    node = NodeProcess(["--dev"], tmp_path / "data", free_port(), free_port(), tmp_path / "node.log").start()
    try:
        wait_until(lambda: node.best() >= 1, 20, "first block")
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
