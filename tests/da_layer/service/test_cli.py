"""``cairn da-node`` refuses what it cannot run with one line: a key that is no key, a chain it cannot reach."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from da_layer.service.cli import ENDPOINTS_FILE, da_node
from tests.integration.nodes import free_port


def run(*args: str):
    return CliRunner().invoke(da_node, list(args))


def test_a_key_that_is_no_key_is_a_usage_error(tmp_path):
    result = run("--key", "not a uri", "--base-path", str(tmp_path))
    assert result.exit_code == 2 and "--key" in result.output


@pytest.mark.slow  # ~26 s: the node waits out the chain client's 30 s of reconnection attempts first
def test_an_unreachable_chain_ends_the_node_with_one_line(tmp_path):
    # its reconnection attempts are logged at INFO: quietened here, so that the one line is all there is
    result = run("--key", "//Bob", "--base-path", str(tmp_path), "--chain-rpc", f"ws://127.0.0.1:{free_port()}",
                 "--log-level", "warning")
    assert result.exit_code == 1 and result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert not (tmp_path / ENDPOINTS_FILE).exists()


def test_the_rpc_url_must_be_a_websocket(tmp_path):
    result = run("--key", "//Bob", "--base-path", str(tmp_path), "--chain-rpc", "http://127.0.0.1:9944")
    assert result.exit_code == 1 and "ws://" in result.output
