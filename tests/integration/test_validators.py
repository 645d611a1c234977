"""Four validator processes on loopback: blocks, finality, agreement, and what faults do to them."""

from __future__ import annotations

import pytest

from node.chain_spec import preset
from node.network.identity import NodeKey
from tests.integration.nodes import NodeProcess, wait_until

pytestmark = pytest.mark.long(1.8)  # minutes, about: started early (tests/conftest.py)


def start_network(tmp_path, count: int = 4, *, extra_args: tuple[str, ...] = ()) -> list[NodeProcess]:
    """``count`` validators in a full mesh, each started with ``extra_args`` too. Each takes ports 0 and is
    started once the ones before it listen, with their reported p2p ports as its bootnodes (a port picked free
    first and bound later may be taken meanwhile by a process of another test); a restart keeps its ports."""
    spec = preset("local", validators=count)
    spec_path = tmp_path / "spec.json"
    spec.save(spec_path)
    nodes: list[NodeProcess] = []
    bootnodes: list[str] = []
    try:
        for authority in spec.authorities:
            base = tmp_path / authority.name
            key = NodeKey.load_or_create(base / "network" / "secret_ed25519")
            args = ["--chain", str(spec_path), "--validator", "--key", f"//{authority.name}", "--name",
                    authority.name, *extra_args]
            for b in bootnodes:
                args += ["--bootnodes", b]
            node = NodeProcess(args, base, 0, 0, tmp_path / f"{authority.name}.log")
            nodes.append(node)
            node.start()
            bootnodes = bootnodes + [f"/ip4/127.0.0.1/tcp/{node.p2p_port}/p2p/{key.peer_id}"]  # a full mesh
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


@pytest.fixture
def network(tmp_path):
    nodes = start_network(tmp_path)
    yield nodes
    for node in nodes:
        node.stop()


def wait_for_network(nodes: list[NodeProcess], predicate, timeout: float, what: str) -> None:
    """``wait_until`` that, on a timeout, says where each node stood and what its log said last, so a failure
    seen once under load can be explained afterwards."""
    try:
        wait_until(predicate, timeout, what)
    except TimeoutError as exc:
        report = [str(exc)]
        for node in nodes:
            try:
                heights = f"best {node.best()}, finalized {node.finalized()}"
            except (OSError, RuntimeError) as err:
                heights = f"not answering ({err})"
            tail = node.log_path.read_text(errors="replace").splitlines()[-15:]
            report += [f"--- {node.log_path.name}: {heights}", *tail]
        raise TimeoutError("\n".join(report)) from None


def agree(nodes: list[NodeProcess], number: int) -> bool:
    hashes = {node.hash_at(number) for node in nodes}
    return len(hashes) == 1 and None not in hashes


def test_four_validators_produce_and_finalize_one_chain(network):
    wait_until(lambda: min(n.finalized() for n in network) >= 4, 60, "four nodes finalize block 4")
    assert agree(network, 4)
    lag = max(n.best() - n.finalized() for n in network)
    assert lag <= 3


def test_one_validator_down_blocks_and_finality_continue(network):
    wait_until(lambda: min(n.finalized() for n in network) >= 2, 60, "initial finality")
    network[3].kill()
    alive = network[:3]
    target = max(n.finalized() for n in alive) + 3
    wait_until(lambda: min(n.finalized() for n in alive) >= target, 60, "finality with three of four")
    assert agree(alive, target)


def test_two_down_stops_finality_without_reverting_then_recovers(network):
    wait_until(lambda: min(n.finalized() for n in network) >= 2, 60, "initial finality")
    network[2].kill()
    network[3].kill()
    alive = network[:2]
    # votes the killed nodes sent before dying may still finalize a block or two: read where finality stopped
    # once blocks made after the kills are there, then see it stay there while more blocks come
    killed_at = max(n.best() for n in alive)
    wait_until(lambda: max(n.best() for n in alive) >= killed_at + 2, 60, "blocks continue with two of four")
    stalled_at = max(n.finalized() for n in alive)
    final_hash = alive[0].hash_at(stalled_at)
    best_before = max(n.best() for n in alive)
    wait_until(lambda: max(n.best() for n in alive) >= best_before + 3, 60, "more blocks with two of four")
    assert max(n.finalized() for n in alive) == stalled_at  # no supermajority: finality stops
    for node in network[2:]:
        node.start()  # empty in-memory state: they resync from the others
    target = stalled_at + 3
    wait_for_network(network, lambda: min(n.finalized() for n in network) >= target, 90,
                     "finality resumes after restart")
    assert agree(network, target)
    assert all(n.hash_at(stalled_at) == final_hash for n in network)  # nothing finalized was reverted


def test_kill9_and_restart_keeps_finality_and_a_wiped_node_resyncs(network):
    import shutil

    wait_until(lambda: min(n.finalized() for n in network) >= 3, 60, "initial finality")
    victim, wiped = network[1], network[2]
    finalized_before = victim.finalized()
    hash_before = victim.hash_at(finalized_before)
    victim.kill()
    wiped.kill()
    shutil.rmtree(wiped.base_path / "db")
    victim.start()
    assert victim.finalized() >= finalized_before  # from its database, before any peer answered
    assert victim.hash_at(finalized_before) == hash_before
    wiped.start()
    target = max(n.finalized() for n in (network[0], network[3])) + 2
    wait_for_network(network, lambda: min(n.finalized() for n in network) >= target, 90, "restarted nodes catch up")
    assert agree(network, target)


def test_the_first_validator_down_does_not_split_the_others(network):
    wait_until(lambda: min(n.finalized() for n in network) >= 2, 60, "initial finality")
    network[0].kill()  # every other node had it as a bootnode
    alive = network[1:]
    target = max(n.finalized() for n in alive) + 3
    wait_until(lambda: min(n.finalized() for n in alive) >= target, 60, "finality without the first node")
    assert agree(alive, target)
