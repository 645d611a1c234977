"""What this machine offers to jobs, as the provider registers it: CPU cores, memory, a GPU or none.

Cores and memory come from the operating system unless the operator gives smaller figures (a machine
shared with other work). A GPU is looked for only with ``--gpu auto``, through CuPy (the kinds' GPU path): a
missing CuPy, no CUDA device or a driver error all mean no GPU, never a failed start.
"""

from __future__ import annotations

import logging
import os

from compute_pallet.pallets.types import Gpu, Hardware

__all__ = ["detect", "detect_gpu", "model_name"]

log = logging.getLogger(__name__)


def detect_gpu() -> Gpu | None:
    """The first CUDA device CuPy sees (its name and memory), or None."""
    try:
        import cupy  # type: ignore[import-not-found]

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        props = cupy.cuda.runtime.getDeviceProperties(0)
    except Exception as exc:  # ImportError, CUDARuntimeError, a driver mismatch: no usable GPU
        log.info("no GPU offered (%s: %s)", type(exc).__name__, exc)
        return None
    return Gpu(model_name(props["name"]), int(props["totalGlobalMem"]) >> 20)


def model_name(raw: bytes | str) -> bytes:
    """The device name as the chain takes it: printable ASCII (anything else and padding dropped), at most the
    preset's 64 bytes (``ComputeProviders.max_gpu_model_length``)."""
    text = raw.decode("ascii", errors="ignore") if isinstance(raw, bytes) else str(raw)
    return "".join(char for char in text if " " <= char <= "~").strip()[:64].encode() or b"GPU"


def detect(*, cores: int | None = None, memory_mib: int | None = None, gpu: bool = False) -> Hardware:
    """This machine's hardware; ``cores`` / ``memory_mib`` override what the OS reports, ``gpu`` looks for one."""
    physical_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") >> 20
    return Hardware(cores or os.cpu_count() or 1, memory_mib or physical_mib, detect_gpu() if gpu else None)
