"""The sandboxed worker configured from grading.yaml (kept light: imported before the suites)."""
from __future__ import annotations

from typing import Any

from autograder.config import GradingConfig


def worker_from_config(config: GradingConfig) -> Any:
    """A sandboxed worker with grading.yaml's limits and forbidden APIs (not started yet)."""
    from autograder.sandbox.client import Worker

    limits = config.limits
    return Worker(
        config.sandbox,
        timeout_s=limits.call_timeout_s,
        memory_bytes=limits.memory_mb << 20,
        cpu_s=limits.call_cpu_s,
        max_processes=limits.max_processes,
        max_open_files=limits.max_open_files,
        max_output_bytes=limits.max_output_kb << 10,
        forbidden={m: list(c.forbidden) for m, c in config.modules.items() if c.forbidden},
        gpu=config.device == "cuda" or (config.device == "auto" and _cuda_available()),
    )


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
