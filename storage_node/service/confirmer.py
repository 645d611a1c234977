"""On-chain confirmations of stored fragments, batched: one ``FileBank.confirm`` per file per batch.

Uploads arrive a fragment at a time, often many of one file at once (a client pushes every segment in
parallel). The confirmer takes the stored fragments from a bounded channel and gathers more while they keep
coming, at most ``idle`` seconds apart, for up to ``delay`` seconds or ``batch`` fragments; then it submits
one ``confirm(file_id, [(segment, fragment), ...])`` per file. A transaction lands in the next block whenever
in the slot it is sent, so waiting is only worth it while more fragments are arriving: once a burst ends (an
upload's last fragments for this node) its confirmation goes at once and can still make the next block (an
upload's activation is a whole slot later when it does not).
A batch the chain refuses (it takes one whole or not at all: a fragment already confirmed, or placed
elsewhere meanwhile) is sent again a fragment at a time, so the stale one is refused alone, logged and
counted; a submission that does not reach the chain is retried with backoff. Nothing is lost if the node
dies meanwhile: on start the daemon confirms every stored fragment the chain still shows unconfirmed
(:meth:`StorageNode._reconcile`).
"""

from __future__ import annotations

import logging
from collections import defaultdict

import trio

from runtime.keyring import Keypair
from sdk.chain import AsyncClient, ChainClientError
from storage_node.service.metrics import NodeMetrics
from storage_node.service.store import FragmentKey

__all__ = ["Confirmer"]

log = logging.getLogger(__name__)

ATTEMPTS = 4
"""Submissions of one batch before it is left to the next start's reconciliation."""
BACKOFF_S = 2.0


class Confirmer:
    def __init__(self, client: AsyncClient, keypair: Keypair, queue: trio.MemoryReceiveChannel[FragmentKey],
                 metrics: NodeMetrics, *, batch: int = 64, delay: float = 1.0, idle: float = 0.05,
                 timeout: float = 60.0) -> None:
        self._client, self._keypair, self._queue, self._metrics = client, keypair, queue, metrics
        self._batch, self._delay, self._idle, self._timeout = batch, delay, idle, timeout

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with self._queue, trio.open_nursery() as nursery:
            task_status.started()
            async for first in self._queue:
                pending = {first}
                with trio.move_on_after(self._delay):
                    while len(pending) < self._batch:
                        with trio.move_on_after(self._idle) as gap:
                            pending.add(await self._queue.receive())
                        if gap.cancelled_caught:
                            break  # the burst is over
                by_file: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
                for key in sorted(pending):
                    by_file[key.file_id].append((key.segment, key.fragment))
                for file_id, fragments in by_file.items():
                    nursery.start_soon(self._confirm, file_id, fragments)

    async def _confirm(self, file_id: bytes, fragments: list[tuple[int, int]]) -> None:
        call = self._client.compose_call("FileBank", "confirm", {"file_id": file_id, "fragments": fragments})
        for attempt in range(ATTEMPTS):
            try:
                with trio.fail_after(self._timeout):
                    receipt = await self._client.sign_and_submit(call, self._keypair, wait_for_inclusion=True)
            except (ChainClientError, trio.TooSlowError) as exc:
                log.warning("confirming %d fragment(s) of 0x%s: %s (attempt %d)", len(fragments), file_id.hex(),
                            exc, attempt + 1)
                await trio.sleep(BACKOFF_S * 2**attempt)
                continue
            if not receipt.is_success and len(fragments) > 1:
                # the chain takes a batch whole or not at all: one stale fragment (confirmed already by a
                # retried upload's first copy, reassigned meanwhile) must not hold back the others
                log.info("the chain refused confirming %d fragments of 0x%s together (%s): confirming each alone",
                         len(fragments), file_id.hex(), receipt.error_message)
                async with trio.open_nursery() as singles:  # consecutive nonces: one block can take them all
                    for fragment in fragments:
                        singles.start_soon(self._confirm, file_id, [fragment])
                return
            outcome = "ok" if receipt.is_success else "refused"
            if not receipt.is_success:
                log.warning("the chain refused confirming 0x%s %s: %s", file_id.hex(), fragments,
                            receipt.error_message)
            self._metrics.confirmations[outcome] += len(fragments)
            return
        self._metrics.confirmations["failed"] += len(fragments)
