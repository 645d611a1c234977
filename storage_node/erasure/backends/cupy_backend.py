"""The GPU backend: the kernel in ``gf_kernel.cu`` launched through CuPy (``cupy.RawKernel``).

Device-resident shards (CuPy arrays, e.g. a model checkpoint already on the GPU) are coded in place: one
launch codes a whole batch of segments, reading and writing the callers' arrays through tables of
addresses, with no trip through host memory. Results stay on the GPU.

Host shards (NumPy) are streamed through the GPU in slices of at most :data:`STAGING_BYTES` (all
shards of a slice together). Two slots, each with pinned host buffers, device buffers and its own CUDA
stream, alternate: while one slot's upload, kernel and download run on the GPU, the CPU copies the next
slice into the other slot's pinned buffer and the previous results out of it. Results land in the
callers' NumPy arrays.

CuPy is imported only when this backend is constructed; without CuPy or a CUDA device the constructor
raises :class:`BackendUnavailableError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from storage_node.erasure.arrays import Array, is_device_array
from storage_node.erasure.backends.base import Backend, Batch
from storage_node.erasure.backends.gpu_kernel import (
    COLUMN_BYTES,
    KERNEL_NAME,
    KernelLaunch,
    kernel_source,
    plan_launches,
)
from storage_node.erasure.errors import BackendUnavailableError
from storage_node.erasure.params import SHARD_ALIGNMENT

STAGING_BYTES = 64 << 20
"""Bytes of all shards of one slice staged at once, per slot, for host input."""

_HOST_TO_DEVICE, _DEVICE_TO_HOST = 1, 2     # cudaMemcpyKind


@dataclass(frozen=True)
class DeviceRows:
    """A coefficient matrix on the GPU."""

    rows: int
    k: int
    device: Any


@dataclass(frozen=True)
class _Slice:
    segment: int
    offset: int
    width: int


@dataclass
class _Slot:
    """One half of the double buffer for host input: pinned and device buffers plus a stream."""

    stream: Any
    pinned_sources: np.ndarray
    pinned_targets: np.ndarray
    device_sources: Any
    device_targets: Any
    pending: _Slice | None = None
    launches: dict[int, KernelLaunch] = field(default_factory=dict)


def _device_address(vector: Any) -> int:
    return int(vector.data.ptr)


class CupyBackend(Backend):
    """GF(2^8) coding on a CUDA device."""

    name = "cupy"

    def __init__(self) -> None:
        try:
            import cupy
        except ImportError as error:
            raise BackendUnavailableError("CuPy is not installed (pip install 'cairn-chain[gpu]')") from error
        try:
            devices = cupy.cuda.runtime.getDeviceCount()
        except cupy.cuda.runtime.CUDARuntimeError as error:
            raise BackendUnavailableError(f"no usable CUDA device: {error}") from error
        if devices == 0:
            raise BackendUnavailableError("no CUDA device")
        self.cupy = cupy
        self.kernel = cupy.RawKernel(kernel_source(), KERNEL_NAME)

    def accept(self, vector: Array) -> Array:
        if is_device_array(vector) and _device_address(vector) % COLUMN_BYTES:
            return vector.copy()        # the kernel loads 16-byte words: realign an odd view once
        return vector

    def prepare(self, rows: np.ndarray) -> DeviceRows:
        count, k = rows.shape
        return DeviceRows(count, k, self.cupy.asarray(np.ascontiguousarray(rows, dtype=np.uint8)))

    def apply(self, prepared: DeviceRows, sources: Batch, targets: Batch) -> None:
        if is_device_array(targets[0][0]):
            self._launch_all(prepared, plan_launches(sources, targets, _device_address))
        else:
            self._apply_from_host(prepared, sources, targets)

    def _launch(self, prepared: DeviceRows, launch: KernelLaunch) -> None:
        cp = self.cupy
        self.kernel(launch.grid, launch.block, (
            cp.asarray(launch.source_table), cp.asarray(launch.target_table), prepared.device,
            np.int32(launch.k), np.int32(launch.rows), np.int64(launch.columns)))

    def _launch_all(self, prepared: DeviceRows, launches: Sequence[KernelLaunch]) -> None:
        for launch in launches:
            self._launch(prepared, launch)

    def _apply_from_host(self, prepared: DeviceRows, sources: Batch, targets: Batch) -> None:
        k, rows = prepared.k, prepared.rows
        length = targets[0][0].size
        width = max(SHARD_ALIGNMENT, STAGING_BYTES // (k + rows) // SHARD_ALIGNMENT * SHARD_ALIGNMENT)
        width = min(width, length)
        slices = [_Slice(segment, offset, min(width, length - offset))
                  for segment in range(len(sources)) for offset in range(0, length, width)]
        slots = [self._new_slot(k, rows, width) for _ in range(2)]
        for number, work in enumerate(slices):
            slot = slots[number % 2]
            self._finish(slot, rows, targets)
            self._start(prepared, slot, work, sources[work.segment])
        for slot in slots:
            self._finish(slot, rows, targets)

    def _new_slot(self, k: int, rows: int, width: int) -> _Slot:
        cp = self.cupy

        def pinned(size: int) -> np.ndarray:
            return np.frombuffer(cp.cuda.alloc_pinned_memory(size), dtype=np.uint8, count=size)

        return _Slot(cp.cuda.Stream(non_blocking=True), pinned(k * width), pinned(rows * width),
                     cp.empty(k * width, dtype=cp.uint8), cp.empty(rows * width, dtype=cp.uint8))

    def _start(self, prepared: DeviceRows, slot: _Slot, work: _Slice, sources: Sequence[np.ndarray]) -> None:
        """Stage one slice and queue its upload, kernel and download on the slot's stream."""
        k, rows, width = prepared.k, prepared.rows, work.width
        staged = slot.pinned_sources[: k * width].reshape(k, width)
        for j, source in enumerate(sources):
            staged[j] = source[work.offset: work.offset + width]
        launch = slot.launches.get(width)
        if launch is None:
            device_sources = [slot.device_sources[j * width: (j + 1) * width] for j in range(k)]
            device_targets = [slot.device_targets[r * width: (r + 1) * width] for r in range(rows)]
            launch = slot.launches[width] = plan_launches([device_sources], [device_targets], _device_address)[0]
        runtime = self.cupy.cuda.runtime
        with slot.stream:
            runtime.memcpyAsync(_device_address(slot.device_sources), staged.ctypes.data, k * width,
                                _HOST_TO_DEVICE, slot.stream.ptr)
            self._launch(prepared, launch)
            runtime.memcpyAsync(slot.pinned_targets.ctypes.data, _device_address(slot.device_targets),
                                rows * width, _DEVICE_TO_HOST, slot.stream.ptr)
        slot.pending = work

    @staticmethod
    def _finish(slot: _Slot, rows: int, targets: Batch) -> None:
        """Wait for the slot's queued slice, then copy its results into the callers' arrays."""
        work = slot.pending
        if work is None:
            return
        slot.stream.synchronize()
        results = slot.pinned_targets[: rows * work.width].reshape(rows, work.width)
        for r, target in enumerate(targets[work.segment]):
            target[work.offset: work.offset + work.width] = results[r]
        slot.pending = None
