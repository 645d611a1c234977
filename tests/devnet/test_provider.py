"""The devnet's provider role: three by default, provider 0 on storage node 0's account, the others endowed,
each following a validator; ``status`` says when a provider does not answer."""

from __future__ import annotations

from devnet.config import DevnetConfig
from devnet.launcher import _endow_role_accounts
from devnet.provider import PROVIDER
from devnet.registry import ROLES
from devnet.role import Launch, ProcessPaths
from devnet.state import ProcessRecord
from node.chain_spec import preset
from runtime.keyring import Keypair
from tests.integration.nodes import free_port


def test_three_providers_by_default_the_first_on_storage_node_0_s_account():
    config = DevnetConfig.parse({}, ROLES)
    assert config.roles["providers"].count == 3
    assert [PROVIDER.account(i) for i in range(3)] == ["//Storage0", "//Provider1", "//Provider2"]
    assert ROLES.index(PROVIDER) > [role.name for role in ROLES].index("storage")  # inputs live there
    spec = _endow_role_accounts(preset("local"), DevnetConfig.parse({"storage_nodes": {"count": 0}}, ROLES))
    endowed = {who for who, _ in spec.genesis["Balances"].balances}
    assert all(Keypair.from_uri(PROVIDER.account(i)).public in endowed for i in range(3))


def test_a_provider_follows_its_validator_then_the_others_and_binds_its_port(tmp_path):
    config = DevnetConfig.parse({}, ROLES)
    validators = tuple(ProcessRecord(f"validator-{i}", "validator", i, 1, 1, {"rpc": 9944 + i}, (), "v", "v.log")
                       for i in range(2))
    launch = Launch(config, preset("local"), tmp_path / "spec.json", validators)
    command = PROVIDER.command(launch, 1, {"http": 0}, ProcessPaths(tmp_path / "provider-1", tmp_path / "p.log"))
    assert command[1:3] == ["-m", "compute_pallet.service"]
    followed = [command[i + 1] for i, arg in enumerate(command) if arg == "--chain-rpc"]
    assert followed == ["ws://127.0.0.1:9945", "ws://127.0.0.1:9944"]  # its own validator first, then the others
    assert command[command.index("--key") + 1] == "//Provider1"
    assert command[command.index("--http-port") + 1] == "0"
    assert command[command.index("--base-path") + 1] == str(tmp_path / "provider-1")


def test_status_of_a_provider_that_does_not_answer(tmp_path):
    port = free_port()
    record = ProcessRecord("provider-0", "provider", 0, 1, 1, {"http": port}, (), str(tmp_path), "p.log")
    assert PROVIDER.status(record) == {"http": f"http://127.0.0.1:{port} (not answering)"}
