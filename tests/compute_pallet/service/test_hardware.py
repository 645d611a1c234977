"""What a provider registers as its hardware: the OS's figures or the operator's, and a GPU only where CuPy
sees one (a missing CuPy or device is no GPU, never a failed start)."""

from __future__ import annotations

import importlib.util
import os

import pytest

from compute_pallet.pallets.types import Hardware
from compute_pallet.service.hardware import detect, detect_gpu, model_name

HAS_CUPY = importlib.util.find_spec("cupy") is not None


def test_the_operator_s_figures_replace_the_os_s():
    assert detect(cores=3, memory_mib=100) == Hardware(3, 100, None)
    found = detect()
    assert found.cpu_cores == os.cpu_count() and found.memory_mib > 0 and found.gpu is None


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed here")
def test_no_cupy_means_no_gpu():
    assert detect_gpu() is None and detect(gpu=True).gpu is None


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUPY, reason="needs CuPy and a CUDA device")
def test_a_cuda_device_is_offered_with_its_name_and_memory():
    gpu = detect_gpu()
    assert gpu is not None and gpu.model and gpu.memory_mib > 1024


@pytest.mark.parametrize("raw, name", [
    (b"NVIDIA H100 80GB HBM3\x00\x00", b"NVIDIA H100 80GB HBM3"),  # padding
    ("NVIDIA H200\x1b[0m\u00a0", b"NVIDIA H200[0m"),  # what the chain would refuse is dropped
    (b"X" * 300, b"X" * 64),
    (b"\x00\xff", b"GPU"),
])
def test_a_device_name_is_made_one_the_chain_takes(raw, name):
    assert model_name(raw) == name
