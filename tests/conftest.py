"""Suite-wide collection order: the test files marked ``long(minutes)`` (each starts a devnet or a network of
nodes and waits a minute or more for blocks, jobs and repairs) are handed out first, the longest first.

``./run-tests`` spreads files over three xdist workers in collection order (``--no-loadscope-reorder``); one of
these long files starting last would leave the others idle while it runs alone, adding its whole length to the
suite's wall time. The minutes are measured ones (``--durations``, or the run's JUnit XML summed per file).

Also the one fixture tests of every package share: ``listening``, a port already taken; and Hypothesis' profile:
no per-example deadline (tests never assert timings, and on a busy two-core machine one example of a codec
round trip took 550 ms against the default 200 ms, failing the suite).
"""

from __future__ import annotations

import socket

import pytest
from hypothesis import settings

settings.register_profile("cairn", deadline=None)
settings.load_profile("cairn")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def minutes(item: pytest.Item) -> float:
        marker = item.get_closest_marker("long")
        return 0.0 if marker is None else marker.args[0]

    items.sort(key=minutes, reverse=True)  # stable: each file's tests, and the unmarked files, keep their order


@pytest.fixture
def listening():
    """A loopback port something already listens on (for the commands that must refuse it)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]
