"""The fault soak with real processes (``-m slow``): a full default devnet (what ``./run-devnet`` starts),
``cairn devnet chaos`` against it for a few minutes, every invariant judged at the end.

Faults and load are drawn from a fixed seed, so a failure can be replayed with the same schedule
(``cairn devnet chaos --seed 13``). The parts that need no devnet are tested in ``tests/devnet/test_chaos.py``.
"""

from __future__ import annotations

import pytest

from tests.integration.test_devnet import cli, devnet  # noqa: F401 (devnet: the module's own default devnet)

pytestmark = pytest.mark.slow

DURATION = "3m"
SEED = "13"


def test_every_invariant_holds_after_faults_in_every_role_under_load(devnet):
    base, _ = devnet
    result = cli("chaos", "--duration", DURATION, "--seed", SEED, "--base-path", str(base))
    print(result.output)
    assert result.exit_code == 0, result.output
    table = result.output
    for invariant in ("no finalized block reverted", "no acknowledged file lost or changed",
                      "every available blob reconstructs", "every paid job's result verifies",
                      "issuance = Σ free + reserved", "escrow = paid + refunded + held"):
        assert f"| {invariant} |" in table and "VIOLATED" not in table and "NOT JUDGED" not in table
    for fault in ("validator killed", "storage node killed", "DA node", "provider"):  # the seed reaches each role
        assert f"| {fault}" in table
    for operation in ("storage.upload", "storage.download", "da.submit", "da.get", "compute.job"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {operation} |"))
        assert int(row.split("|")[3]) > 0, row  # some succeeded despite the faults
