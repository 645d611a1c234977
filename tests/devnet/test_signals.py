"""``launcher.signals_interrupt``: SIGTERM and SIGINT unwind the block, so what a devnet's starter started is stopped.

A benchmark stopped by ``kill`` left its whole devnet running: Python's default SIGTERM ends a program without
running its ``finally``.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

PROGRAM = """
import signal, sys, time
from devnet.launcher import signals_interrupt
before = signal.getsignal(signal.SIGTERM)
try:
    with signals_interrupt():
        try:
            print("ready", flush=True)
            time.sleep(60)
        finally:
            print("stopped what it started", flush=True)
except KeyboardInterrupt:
    print("restored" if signal.getsignal(signal.SIGTERM) is before else "not restored", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_unwinds_the_block_and_the_handlers_come_back(signum):
    # SIGINT ignored, as a non-interactive shell starts `cmd &`: it must interrupt all the same
    process = subprocess.Popen([sys.executable, "-c", PROGRAM], stdout=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert output.splitlines() == ["stopped what it started", "restored"]
    assert process.returncode == 0
