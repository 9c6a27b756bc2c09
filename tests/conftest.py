"""Shared fixtures for the project's own tests."""
import pytest
import torch

# Oracle tests run on every device this machine has: CPU always, CUDA when present.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    if request.param == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # exact float32 comparisons
        torch.backends.cudnn.allow_tf32 = False
    return torch.device(request.param)
