"""The worker's retries: what fails for a moment is tried again, what fails for good gives up at once."""

from __future__ import annotations

import pytest

from compute_pallet.service.jobs import GaveUp, JobWorker
from compute_pallet.service.journal import Journal
from compute_pallet.service.metrics import ProviderMetrics
from sdk.chain import BadArgument


async def test_an_error_no_retry_changes_gives_up_at_once(tmp_path):
    """An output the storage network cannot take was uploaded again and again until the job's deadline, long
    after the reveal it held back was due (the chain and the timing are never reached: it gives up first)."""
    worker = JobWorker(None, None, Journal(tmp_path), ProviderMetrics(), None)  # type: ignore[arg-type]
    attempts = []

    async def upload() -> bytes:
        attempts.append(upload)
        raise BadArgument("this file cannot be stored with these parameters: 1100 segments exceed 1024")

    with pytest.raises(GaveUp, match="upload predictions.npz: this file cannot be stored"):
        await worker._retry(7, "upload predictions.npz", upload, until=100)
    assert len(attempts) == 1
