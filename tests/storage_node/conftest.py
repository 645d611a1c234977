"""Shared fixtures for the erasure-coding tests.

``CpuKernelBackend`` runs the CUDA kernel (``gf_kernel.cu``) compiled as C++ with g++ and a tiny shim
(``kernel_shim/``), launched exactly as the CuPy backend plans it, so CI checks the kernel's arithmetic
without a GPU. It joins the backends compared byte for byte whenever g++ is available.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from storage_node.erasure.backends import Backend, available_backends, get_backend
from storage_node.erasure.backends.gpu_kernel import COLUMN_BYTES, plan_launches

SHIM = Path(__file__).parent / "kernel_shim"


class CpuKernelBackend(Backend):
    """The GPU kernel's source, compiled for and run on the CPU (slow: one call per GPU thread)."""

    name = "cpu-kernel"

    def __init__(self, library: ctypes.CDLL) -> None:
        self.launch = library.launch_gf_apply_matrix
        self.launch.restype = None
        self.launch.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_longlong]

    def accept(self, vector: np.ndarray) -> np.ndarray:
        return vector.copy() if vector.ctypes.data % COLUMN_BYTES else vector     # as the CuPy backend does

    def prepare(self, rows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(rows, dtype=np.uint8)

    def apply(self, prepared, sources, targets) -> None:
        for launch in plan_launches(sources, targets, lambda vector: vector.ctypes.data):
            self.launch(*launch.grid, *launch.block, launch.source_table.ctypes.data,
                        launch.target_table.ctypes.data, prepared.ctypes.data, launch.k, launch.rows,
                        launch.columns)


def compile_cpu_kernel(folder: Path) -> CpuKernelBackend | None:
    """The kernel built with g++ into ``folder``; ``None`` where g++ is missing."""
    compiler = shutil.which("g++")
    if compiler is None:
        return None
    kernel_folder = resources.files("storage_node.erasure.backends")
    library = folder / "libgf_kernel_cpu.so"
    subprocess.run([compiler, "-O2", "-std=c++14", "-shared", "-fPIC", "-fno-strict-aliasing",
                    f"-I{SHIM}", f"-I{kernel_folder}", str(SHIM / "launch.cpp"), "-o", str(library)],
                   check=True, capture_output=True)
    return CpuKernelBackend(ctypes.CDLL(str(library)))


@pytest.fixture(scope="session")
def optional_cpu_kernel(tmp_path_factory: pytest.TempPathFactory) -> CpuKernelBackend | None:
    return compile_cpu_kernel(tmp_path_factory.mktemp("kernel"))


@pytest.fixture(scope="session")
def cpu_kernel_backend(optional_cpu_kernel: CpuKernelBackend | None) -> CpuKernelBackend:
    if optional_cpu_kernel is None:
        pytest.skip("g++ not available to compile the GPU kernel for the CPU")
    return optional_cpu_kernel


@pytest.fixture(scope="session")
def all_backends(optional_cpu_kernel: CpuKernelBackend | None) -> list[Backend]:
    """Every backend that runs here, plus the GPU kernel run on the CPU where g++ can build it."""
    backends = [get_backend(name) for name in available_backends()]
    return backends + ([optional_cpu_kernel] if optional_cpu_kernel is not None else [])
