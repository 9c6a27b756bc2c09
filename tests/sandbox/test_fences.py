"""The worker's fences as computations: the CUDA memory cap (no GPU needed) and its wiring."""
from types import SimpleNamespace

import pytest
import torch

from autograder.sandbox import Worker
from autograder.sandbox.fences import cuda_memory_fraction, limit_cuda_memory


def test_cuda_memory_fraction_is_the_limit_over_the_device_memory():
    assert cuda_memory_fraction(2 << 30, 140 << 30) == pytest.approx(2 / 140)  # by hand
    assert cuda_memory_fraction(2 << 30, 1 << 30) == 1.0   # a limit above the device: no cap
    assert cuda_memory_fraction(0, 1 << 30) == 1.0         # no limit configured
    assert cuda_memory_fraction(1 << 30, 0) == 1.0         # a device that reports nothing


def test_limit_cuda_memory_sets_each_device_fraction(monkeypatch):
    calls = []
    totals = {0: 80 << 30, 1: 40 << 30}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: SimpleNamespace(total_memory=totals[i]))
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction",
                        lambda fraction, device: calls.append((device, fraction)))
    note = limit_cuda_memory(4 << 30)
    assert calls == [(0, pytest.approx(4 / 80)), (1, pytest.approx(4 / 40))]
    assert note == "CUDA memory 4096 MiB per device (fraction 0.0500)"


def test_no_cuda_device_no_cap(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert limit_cuda_memory(1 << 30) is None


def test_gpu_worker_moves_the_memory_limit_from_rlimit_to_cuda():
    gpu = Worker("rlimits", memory_bytes=3 << 30, gpu=True)
    assert gpu.memory_bytes is None and gpu.cuda_memory_bytes == 3 << 30
    cpu = Worker("rlimits", memory_bytes=3 << 30)
    assert cpu.memory_bytes == 3 << 30 and cpu.cuda_memory_bytes is None
