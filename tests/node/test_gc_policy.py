"""The node's garbage-collector policy: start-up garbage collected, the survivors frozen, thresholds raised.

The check runs in a fresh interpreter: :func:`node.gc_policy.settle` changes the whole process's collector.
That ``cairn node`` settles once started is checked through its metrics (``tests/node/test_cli.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from node import gc_policy

REPO = Path(__file__).resolve().parents[2]

SETTLE_AFTER_CYCLES = """
import gc, json, weakref
from node import gc_policy

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)

gc.disable()  # the garbage must still be there when settle() runs
refs = [cycle() for _ in range(1000)]
gc.enable()
gc_policy.settle()
print(json.dumps({"alive": sum(r() is not None for r in refs), "frozen": gc.get_freeze_count(),
                  "threshold": gc.get_threshold()}))
"""


def test_settle_collects_start_up_cycles_freezes_the_rest_and_raises_the_thresholds():
    out = subprocess.run([sys.executable, "-c", SETTLE_AFTER_CYCLES], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    report = json.loads(out)
    assert report["alive"] == 0, "garbage in cycles from before settle() was not collected"
    assert report["frozen"] > 1000, "what survived start-up was not frozen"
    assert tuple(report["threshold"]) == (gc_policy.YOUNG_THRESHOLD, gc_policy.MIDDLE_THRESHOLD,
                                          gc_policy.OLD_THRESHOLD)
    assert gc_policy.YOUNG_THRESHOLD > 700  # CPython's default, which the policy exists to raise
