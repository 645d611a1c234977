"""Finality recovers on real validator processes (issue 15): ``kill -9`` and restarts, one at a time and two
at once, and a validator paused (SIGSTOP) for a minute.

Each test ends by taking another validator down: finality must still go on with the three left, which it
can only if the validator that was restarted or paused votes again in the others' round (one left behind
still gets finality from the others' commits, so finalized heights alone would not show it)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.integration.nodes import NodeProcess, wait_until
from tests.integration.test_validators import agree, start_network

pytestmark = pytest.mark.slow

RECOVERY_S = 120
"""Generous for a loaded two-core machine: resync, neighbor exchange, catch-up, and a few rounds."""


@pytest.fixture
def network(tmp_path):
    nodes = start_network(tmp_path)
    yield nodes
    for node in nodes:
        if node.process is not None and node.process.poll() is None:
            os.killpg(node.process.pid, signal.SIGCONT)  # a paused node must be able to stop
        node.stop()


def lowest_finalized(nodes: list[NodeProcess]) -> int:
    return min(n.finalized() for n in nodes)


def finality_goes_on(nodes: list[NodeProcess], blocks: int, timeout: float, what: str) -> None:
    target = max(n.best() for n in nodes) + blocks
    wait_until(lambda: lowest_finalized(nodes) >= target, timeout, what)
    assert agree(nodes, target)


def test_kill9_one_then_another_then_two_at_once(network):
    finality_goes_on(network, 1, 60, "initial finality")
    for victim in network[0], network[1]:
        victim.kill()
        time.sleep(10)
        victim.start()
    finality_goes_on(network, 2, RECOVERY_S, "finality after two restarts")
    network[2].kill()
    network[3].kill()
    time.sleep(20)
    network[2].start()
    network[3].start()
    finality_goes_on(network, 3, RECOVERY_S, "finality after two validators restarted at once")
    network[0].kill()  # every restarted voter must be voting again
    finality_goes_on(network[1:], 3, RECOVERY_S, "finality with the restarted validators and one more")


def test_a_validator_paused_for_a_minute_votes_again(network):
    finality_goes_on(network, 1, 60, "initial finality")
    paused, others = network[2], [network[0], network[1], network[3]]
    os.killpg(paused.process.pid, signal.SIGSTOP)
    paused_at = time.monotonic()
    try:
        finality_goes_on(others, 3, 60, "finality with three of four while one is paused")
        time.sleep(max(0.0, 60 - (time.monotonic() - paused_at)))
    finally:
        os.killpg(paused.process.pid, signal.SIGCONT)
    finality_goes_on(network, 3, RECOVERY_S, "the paused validator catches up")
    network[0].kill()
    finality_goes_on(network[1:], 3, RECOVERY_S, "finality with the paused validator voting again")
