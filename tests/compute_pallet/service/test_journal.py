"""The job journal: records round-trip, a writer killed at any moment leaves the previous record or the new
one (never a mix), and a record that does not decode is a typed error, not a crash."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time

import pytest
import trio

from compute_pallet.service.journal import JOURNAL_FILE, JobRecord, Journal, JournalError, Phase, Progress

RECORD = JobRecord(7, Phase.COMMITTING, b"\x01" * 32, b"\x02" * 32, ("model.safetensors", "result.json"), (5, 9),
                   {"model.safetensors": b"\x03" * 32}, b"\x04" * 32)

WRITER = """
import sys
from pathlib import Path
from compute_pallet.service.journal import JobRecord, Journal, Phase
journal = Journal(Path(sys.argv[1]))
n = 0
while True:
    n += 1
    journal.save(JobRecord(1, Phase.RAN, n.to_bytes(32, "little"), bytes(32), ("x" * (n % 5000),), (n,)))
"""


def test_a_record_round_trips_and_a_dropped_job_is_gone(tmp_path):
    journal = Journal(tmp_path / "jobs")
    assert journal.job_ids() == [] and journal.load(7) is None
    journal.save(RECORD)
    journal.save(RECORD.with_(phase=Phase.COMMITTED))
    assert journal.load(7) == RECORD.with_(phase=Phase.COMMITTED) and journal.job_ids() == [7]
    journal.save(RECORD.with_(seal=None))  # a public job's
    assert journal.load(7) == RECORD.with_(seal=None)
    assert journal.drop(7) and not journal.drop(7)
    assert journal.load(7) is None and journal.job_ids() == []


async def test_progress_keeps_every_concurrent_change(tmp_path):
    journal = Journal(tmp_path)
    progress = Progress(journal, RECORD.with_(files={}))
    names = [f"output-{i}" for i in range(8)]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(progress.update, phase=Phase.COMMITTED))
        for i, name in enumerate(names):
            nursery.start_soon(progress.uploaded, name, bytes([i]) * 32)
    expected = RECORD.with_(phase=Phase.COMMITTED, files={name: bytes([i]) * 32 for i, name in enumerate(names)})
    assert progress.record == expected and journal.load(7) == expected


def test_a_writer_killed_mid_write_leaves_a_whole_record(tmp_path):
    journal = Journal(tmp_path)
    for _ in range(3):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
        deadline = time.monotonic() + 30
        while journal.load(1) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # many writes in, killed in the middle of one
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        record = journal.load(1)
        n = int.from_bytes(record.salt, "little")
        assert n > 0 and record.outputs == ("x" * (n % 5000),) and record.scores == (n,)


@pytest.mark.parametrize("content, message", [
    (b"", "not a job record"),
    (b'{"job_id": 7, "phase": "ran"', "not a job record"),
    (RECORD.encode().replace(b'"committing"', b'"done"'), "not a job record"),
    (RECORD.encode().replace(b"01" * 32, b"01" * 31), "wrong length"),
    (RECORD.encode().replace(b"04" * 32, b"04" * 31), "wrong length"),
    (RECORD.encode().replace(b'"seal"', b'"sealed"'), "not a job record"),
    (RECORD.with_(job_id=8).encode(), "holds the record of job 8"),
    (b" " * (2 << 20), "larger than any record"),
])
def test_a_record_that_does_not_decode_is_a_journal_error(tmp_path, content, message):
    journal = Journal(tmp_path)
    (journal.workdir(7) / JOURNAL_FILE).write_bytes(content)
    with pytest.raises(JournalError, match=message):
        journal.load(7)
