"""A process pool for the DA layer's KZG work: cells and proofs, batch verification, recovery.

``ckzg`` holds the GIL for the whole of each call, so threads give no parallelism (2 threads ≈ 1x, 2
processes 1.78x) and one call on the event loop's thread stalls it (~226 ms for one blob's cells). The work
therefore goes to worker processes, started with ``spawn`` (the caller's threads and event loop are not
forked along), each loading the trusted setup once, when it starts, so jobs never pay for it, at the
precomputation level the pool was made for. A worker dies with the process that made the pool
(:func:`sdk.children.die_with_parent`).

Arguments and results are plain bytes pickled across the pipe (one blob in: 128 KiB; its cells and proofs
out: 262 KiB). Awaiting a job parks one ``anyio`` worker thread on its future, so the pool serves trio and
asyncio callers alike; a cancelled wait cancels the job if it has not started and abandons it otherwise.
The SDK's submitter and light client and the DA node daemon all use it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import TracebackType
from typing import Callable, Sequence, TypeVar

import anyio

from da_layer import kzg
from sdk.children import die_with_parent
from sdk.da.errors import WorkersDied
from sdk.da.lanes import both
from sdk.da.wire import Cell

__all__ = ["KzgPool", "EncodedBlob"]

T = TypeVar("T")


@dataclass(frozen=True)
class EncodedBlob:
    """A blob's commitment and all its cells with their proofs."""

    commitment: bytes
    cells: tuple[Cell, ...]
    """Every cell of the extended blob, in index order."""


class KzgPool:
    """``with KzgPool() as pool: ok = await pool.verify(commitment, cells)``. Workers start on first use
    (or :meth:`warm`) and stop when the ``with`` block ends. A pool that computes cells (:meth:`encode`)
    should load the setup with ``precompute=kzg.PRECOMPUTE_COMPUTE`` (faster cells, ~96 MiB more per
    worker); verifying and recovering need no precomputation (the default)."""

    def __init__(self, workers: int | None = None, *, precompute: int = kzg.PRECOMPUTE_VERIFY) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.precompute = precompute
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> "KzgPool":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (idempotent); jobs not started are cancelled."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def warm(self) -> None:
        """Start every worker and wait until each has loaded the trusted setup."""
        with self._workers() as executor:
            futures = [executor.submit(_loaded) for _ in range(self.workers)]
            for future in futures:
                await _wait(future)

    async def encode(self, blob: bytes) -> EncodedBlob:
        """The blob's commitment, cells and proofs (raises :class:`da_layer.kzg.KzgError` for a malformed blob),
        as two jobs that run side by side when two workers are free."""
        commitment, cells = await both(lambda: self.commitment(blob), lambda: self.cells(blob))
        return EncodedBlob(commitment, cells)

    async def commitment(self, blob: bytes) -> bytes:
        """The blob's KZG commitment (``blob_to_kzg_commitment``, ~55 ms)."""
        return await self._run(kzg.commitment, blob)

    async def cells(self, blob: bytes) -> tuple[Cell, ...]:
        """Every cell of the extended blob with its proof, in index order (~226 ms at precompute 8)."""
        cells, proofs = await self._run(_cells, blob)
        return tuple(Cell(i, c, p) for i, (c, p) in enumerate(zip(cells, proofs)))

    async def verify(self, commitment: bytes, cells: Sequence[Cell]) -> bool:
        """Whether every cell is the commitment's cell at its index (one batch verification). Cells come from
        peers: one whose bytes are not field elements, or whose proof is not a point of G1, is no more the
        commitment's cell than one with a wrong proof, so it makes the answer ``False`` too, never an error
        that would end the caller."""
        if not cells:
            return True
        return await self._run(_verify, commitment, [c.index for c in cells], [c.data for c in cells],
                               [c.proof for c in cells])

    async def recover(self, cells: Sequence[Cell]) -> tuple[Cell, ...]:
        """Every cell of a blob, with proofs, from at least half of them (checked ones: recovery trusts them)."""
        ordered = sorted(cells, key=lambda cell: cell.index)  # ckzg takes the indices ascending only
        data, proofs = await self._run(_recover, [c.index for c in ordered], [c.data for c in ordered])
        return tuple(Cell(i, c, p) for i, (c, p) in enumerate(zip(data, proofs)))

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        with self._workers() as executor:
            return await _wait(executor.submit(function, *args))

    @contextmanager
    def _workers(self) -> Iterator[ProcessPoolExecutor]:
        """The executor, for jobs submitted and awaited in the block; if its workers died meanwhile, the next
        block starts fresh ones (a DA node outlives an OOM kill of a worker) and this one raises
        :class:`WorkersDied`."""
        executor = self._pool()
        try:
            yield executor
        except BrokenProcessPool:
            if self._executor is executor:
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            raise WorkersDied("the KZG worker processes ended abruptly: killed (out of memory?), unable to start, "
                              "or failing in the main module of a script without an `if __name__ == "
                              "\"__main__\":` guard (workers are started with spawn, which runs it again)") from None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_start_worker, initargs=(os.getpid(), self.precompute))
        return self._executor


async def _wait(future: Future[T]) -> T:
    try:
        return await anyio.to_thread.run_sync(future.result, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        future.cancel()
        raise


# --- jobs (run in the workers) ----------------------------------------------------------------------------

def _start_worker(parent_pid: int, precompute: int) -> None:
    """Die with the pool's process (a DA node killed with SIGKILL leaves no worker behind, each holding the
    trusted setup), then load the setup. Ctrl-C in a terminal reaches the whole process group: the workers leave
    it to their parent, which stops them (each printed a KeyboardInterrupt traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)
    kzg.load_trusted_setup(precompute)


def _loaded() -> None:
    kzg.trusted_setup()


def _cells(blob: bytes) -> tuple[list[bytes], list[bytes]]:
    cells, proofs = kzg.cells_and_proofs(blob)
    return list(cells), list(proofs)


def _verify(commitment: bytes, indices: list[int], cells: list[bytes], proofs: list[bytes]) -> bool:
    try:
        return kzg.verify_cells([commitment] * len(indices), indices, cells, proofs)
    except kzg.KzgError:
        return False


def _recover(indices: list[int], cells: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    data, proofs = kzg.recover(indices, cells)
    return list(data), list(proofs)
