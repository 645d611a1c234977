"""House rule 1: the runtime is pure. Importing it (and building its metadata) must not pull in any
networking, async framework, database or clock-driven randomness."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("socket", "ssl", "trio", "asyncio", "http", "urllib.request", "requests", "selectors", "sqlite3",
             "rocksdict", "lmdb", "random", "secrets", "subprocess", "multiprocessing")

PROBE = """
import pkgutil, importlib, sys
import runtime
for module in pkgutil.walk_packages(runtime.__path__, "runtime."):
    importlib.import_module(module.name)
from runtime.cairn import CairnRuntime
CairnRuntime().metadata
print("\\n".join(sorted(sys.modules)))
"""


def test_runtime_imports_nothing_with_io():
    loaded = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True).stdout.split()
    offending = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert offending == []
