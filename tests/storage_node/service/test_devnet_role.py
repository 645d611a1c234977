"""The devnet's storage role: its command line, its accounts endowed, and ``corrupt`` on a stored fragment."""

from __future__ import annotations

import pytest

from devnet.config import DevnetConfig
from devnet.launcher import _endow_role_accounts
from devnet.registry import ROLES
from devnet.role import Launch, ProcessPaths
from devnet.state import DevnetError, ProcessRecord
from devnet.storage import STORAGE, corrupt_fragment
from node.chain_spec import preset
from runtime.keyring import Keypair
from sdk.storage.wire import encode_body_prefix
from storage_node.service.store import FragmentKey, FragmentStore


def record(role: str, data) -> ProcessRecord:
    return ProcessRecord(f"{role}-3", role, 3, 1, 1, {"http": 1234}, (), str(data), str(data) + ".log")


def test_six_storage_nodes_by_default_each_endowed_in_the_spec(tmp_path):
    config = DevnetConfig.parse({}, ROLES)
    assert config.roles["storage_nodes"].count == 6
    spec = _endow_role_accounts(preset("local"), config)
    endowed = {who for who, _ in spec.genesis["Balances"].balances}
    assert all(Keypair.from_uri(f"//Storage{i}").public in endowed for i in range(6))


def test_storage_node_follows_a_validator_and_binds_its_port(tmp_path):
    config = DevnetConfig.parse({}, ROLES)
    validator = ProcessRecord("validator-0", "validator", 0, 1, 1, {"rpc": 9944}, (), "v", "v.log")
    launch = Launch(config, preset("local"), tmp_path / "spec.json", (validator,))
    command = STORAGE.command(launch, 4, {"http": 0}, ProcessPaths(tmp_path / "storage-4", tmp_path / "s.log"))
    assert command[command.index("--chain-rpc") + 1] == "ws://127.0.0.1:9944"
    assert command[command.index("--key") + 1] == "//Storage4"
    assert command[command.index("--http-port") + 1] == "0"


def test_corrupt_flips_the_bytes_of_one_fragment_and_keeps_its_roots(tmp_path):
    store = FragmentStore(tmp_path / "store", capacity=1 << 20)
    store.open()
    body = encode_body_prefix([bytes([i]) * 32 for i in range(5)]) + b"fragment bytes"
    temp = store.temp_path()
    temp.write_bytes(body)
    key = FragmentKey(bytes(32), 0, 2)
    store.commit(temp, key)
    assert corrupt_fragment(record("storage", tmp_path)) == store.path(key)
    corrupted = store.read(key)
    assert corrupted[:2 + 5 * 32] == body[:2 + 5 * 32]
    assert all(a ^ b == 0xFF for a, b in zip(corrupted[2 + 5 * 32:], b"fragment bytes"))


def test_corrupt_refuses_other_roles_and_empty_nodes(tmp_path):
    with pytest.raises(DevnetError, match="not a storage node"):
        corrupt_fragment(record("validator", tmp_path))
    with pytest.raises(DevnetError, match="no fragment yet"):
        corrupt_fragment(record("storage", tmp_path))
