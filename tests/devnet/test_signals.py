"""``launcher.signals_interrupt``: SIGTERM, SIGHUP and SIGINT unwind the block, so what a devnet's starter started is stopped;
inside ``trio.run``, through trio's own Ctrl-C handling (a handler of ours raised anywhere in its scheduler).

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


IN_TRIO = """
import signal, sys, trio
from devnet.launcher import signals_interrupt

async def main():
    try:
        print("ready", flush=True)
        await trio.sleep(60)
    finally:
        print("stopped what it started", flush=True)  # async cleanup: trio delivered the interrupt at a safe point

before = signal.getsignal(signal.SIGTERM)
try:
    with signals_interrupt():
        trio.run(main)
except KeyboardInterrupt:
    print("restored" if signal.getsignal(signal.SIGTERM) is before else "not restored", flush=True)
"""


@pytest.mark.parametrize("program", [PROGRAM, IN_TRIO], ids=["plain", "trio"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])  # (SIGHUP: a closed terminal)
def test_a_signal_unwinds_the_block_and_the_handlers_come_back(signum, program):
    # SIGINT ignored, as a non-interactive shell starts `cmd &`: it must interrupt all the same
    process = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True,
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
