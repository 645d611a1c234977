"""``cairn devnet up --detach`` / ``status`` / ``down`` with real processes."""

from __future__ import annotations

from click.testing import CliRunner

from devnet import launcher
from sdk.cli import main
from tests.integration.nodes import wait_until


def test_devnet_up_status_down(tmp_path):
    base = tmp_path / "devnet"
    runner = CliRunner()
    p2p = launcher.free_port_range(2)
    rpc = launcher.free_port_range(2, avoid={p2p, p2p + 1})
    metrics = launcher.free_port_range(2, avoid={p2p, p2p + 1, rpc, rpc + 1})
    ports = ["--rpc-port", str(rpc), "--p2p-port", str(p2p), "--prometheus-port", str(metrics)]
    result = runner.invoke(main, ["devnet", "up", "--validators", "2", "--base-path", str(base), "--detach", *ports])
    assert result.exit_code == 0, result.output
    assert "Alice" in result.output and "//Ferdie" in result.output
    network = launcher.Devnet.load(base)
    try:
        wait_until(lambda: all(r["finalized"] and r["finalized"] >= 2 for r in launcher.status(network)), 60,
                   "both validators finalize")
        result = runner.invoke(main, ["devnet", "status", "--base-path", str(base)])
        assert result.exit_code == 0 and result.output.count(" up ") == 2
        again = runner.invoke(main, ["devnet", "up", "--validators", "2", "--base-path", str(base), "--detach", *ports])
        assert again.exit_code != 0 and "already running" in again.output
    finally:
        result = runner.invoke(main, ["devnet", "down", "--base-path", str(base)])
    assert result.exit_code == 0
    assert not any(r["alive"] for r in launcher.status(network))
