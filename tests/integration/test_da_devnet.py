"""The devnet's DA role: ``cairn devnet up`` starts DA nodes that register and attest, ``status`` shows what they
hold, and ``cairn devnet withhold da-2`` makes one stop serving (``--off``: serve again)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from devnet import launcher
from devnet.config import DevnetConfig
from devnet.registry import ROLES
from sdk.client import Client

pytestmark = pytest.mark.long(1)  # minutes, about: started early (tests/conftest.py)

CAIRN = str(Path(sys.executable).parent / "cairn")


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    config = DevnetConfig.parse({"validators": {"count": 1}, "storage_nodes": {"count": 0}}, ROLES)
    config = replace(config, base_path=tmp_path_factory.mktemp("da-devnet"))
    state = launcher.up(config)
    yield state
    launcher.down(config.base_path)


def devnet_command(devnet, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CAIRN, "devnet", *args, "--base-path", devnet.base_path], capture_output=True, text=True,
                          timeout=120)


def test_four_da_nodes_attest_and_withhold_on_command(devnet):
    da_nodes = [record for record in devnet.processes if record.role == "da"]
    assert [record.name for record in da_nodes] == ["da-0", "da-1", "da-2", "da-3"]
    with Client(devnet.process("validator-0").url("rpc", "ws"), signer="//Alice") as client:
        assert len(client.da.nodes()) == 4
        refs = client.da.submit(b"a devnet blob")
        assert client.da.status(refs[0]).status == "Available"
    cells = f"{devnet.process('da-2').url('http')}/v1/blobs/{refs[0]}/cells"
    assert httpx.get(cells).status_code == 200

    withheld = devnet_command(devnet, "withhold", "da-2")
    assert withheld.returncode == 0, withheld.stderr
    answer = httpx.get(cells)
    assert answer.status_code == 503 and answer.json()["error"] == "Withholding"
    assert "withholding" in devnet_command(devnet, "status").stdout

    served = devnet_command(devnet, "withhold", "da-2", "--off")
    assert served.returncode == 0, served.stderr
    assert httpx.get(cells).status_code == 200


@pytest.mark.parametrize("name, message", [("validator-0", "not a DA node"), ("da-9", "da-9")])
def test_withhold_names_what_it_cannot_do(devnet, name, message):
    result = devnet_command(devnet, "withhold", name)
    assert result.returncode != 0 and message in result.stderr
