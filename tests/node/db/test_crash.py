"""Crash safety for real: a writer process is SIGKILLed at random moments, again and again, and the
database must reopen consistent every time, with everything it had reported finalized and the voter
state it had reported saved. Then the write-ahead log is cut at random byte offsets (a torn write at
power loss): still consistent."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from node.consensus.voter_state import VoterState
from node.db import ChainStore

from .chain import dev_chain
from .integrity import check_database, is_empty

REPO = Path(__file__).resolve().parents[3]
ROUNDS = 6
READY_TIMEOUT_S = 30


def run_and_kill(path: Path, seed: int, delay_s: float) -> tuple[int, int, int]:
    """Run the writer for ``delay_s`` after its first update, SIGKILL it; the last (best, finalized, voter
    round) it printed. The delay counts from a first update, not from ``ready``: under a loaded machine's
    scheduling a writer could otherwise be killed before its first update, a round that tests nothing."""
    writer = subprocess.Popen([sys.executable, "-m", "tests.node.db.crash_writer", str(path), str(seed)],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    first_update = ""
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while writer.stdout.readline().strip() != "ready":
            assert writer.poll() is None and time.monotonic() < deadline, "the writer did not start"
        first_update = writer.stdout.readline()
        time.sleep(delay_s)
    finally:
        writer.send_signal(signal.SIGKILL)
        output = first_update + writer.communicate()[0]
    assert writer.returncode == -signal.SIGKILL, "the writer stopped by itself"
    complete_lines = output.split("\n")[:-1]  # the kill may cut the last line short
    reports = [tuple(map(int, line.split())) for line in complete_lines]
    assert reports, "the writer made no progress"
    return reports[-1]


def test_sigkill_at_random_moments(tmp_path):
    _, genesis, genesis_state = dev_chain()
    rng = random.Random(2024)
    path = tmp_path / "db"
    reported_finalized = 0
    for seed in range(ROUNDS):
        _, finalized, voter_round = run_and_kill(path, seed, rng.uniform(0.05, 0.8))
        reported_finalized = max(reported_finalized, finalized)
        summary = check_database(path, genesis, genesis_state, sample_states=20)
        assert summary.finalized >= reported_finalized, "a finalized block was lost"
        with ChainStore.open(path, genesis, genesis_state) as store:
            saved = store.load_voter_state()
        assert saved is not None and VoterState.decode(saved).round >= voter_round, "a saved voter state was lost"
    assert reported_finalized > 10


def test_torn_write_ahead_log(tmp_path):
    """Cutting the log anywhere keeps a prefix of whole batches (what a power cut may do to writes
    that were not synced)."""
    _, genesis, genesis_state = dev_chain()
    original = tmp_path / "db"
    run_and_kill(original, seed=99, delay_s=0.3)
    log = max(p.name for p in original.glob("*.log"))  # the newest write-ahead log file
    size = (original / log).stat().st_size
    rng = random.Random(7)
    for cut in [100] + sorted(rng.sample(range(size), 4)):  # 100: inside the first batch
        copy = tmp_path / f"cut-{cut}"
        shutil.copytree(original, copy)
        with open(copy / log, "r+b") as wal:
            wal.truncate(cut)
        if is_empty(copy):
            # The cut fell inside the first batch, the genesis one (always at 100; by chance elsewhere
            # when a loaded machine let the writer write little): an empty prefix, as if the database had
            # never been created. The store must create it afresh, not fail on it.
            ChainStore.open(copy, genesis, genesis_state).close()
        check_database(copy, genesis, genesis_state, sample_states=5)
