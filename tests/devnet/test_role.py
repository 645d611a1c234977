"""How ``cairn devnet status`` prints what a process reports: numbers stay numbers (``status --json``), the
text adds their units."""

from __future__ import annotations

import pytest

from devnet.role import shown


@pytest.mark.parametrize("column, value, text", [
    ("best", 12, "#12"), ("finalized", 0, "#0"), ("used", 4096, "4096 B"), ("reputation", 1000, "1000‰"),
    ("stake", 2 * 10**15, "2000 CAIRN"), ("stake", 15 * 10**11, "1.5 CAIRN"),
    ("peers", 3, "3"), ("rpc", "ws://127.0.0.1:9944", "ws://127.0.0.1:9944"), ("market", "left", "left"),
])
def test_a_reading_is_shown_with_its_unit(column, value, text):
    assert shown(column, value) == text
