"""Per-grade cost of the forbidden-API checks (static check + ATen operator fence).

Grades the reference solutions (written as a student hands them in) with two warm workers,
alternating: one with grading.yaml's forbidden APIs (static check on the trusted side, named
guards and the ATen operator fence in the worker), one with no forbidden APIs at all.
Prints the median wall time of each and the difference, all measured in this one run.

    python benchmarks/forbidden_fence.py [--runs 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.config import load_config  # noqa: E402
from autograder.demo import write_reference_submission  # noqa: E402
from autograder.grading import grade_submission  # noqa: E402
from autograder.workers import worker_from_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    fenced_config = load_config(ROOT / "grading.yaml")
    open_config = fenced_config.model_copy(update={"modules": {
        name: module.model_copy(update={"forbidden": []})
        for name, module in fenced_config.modules.items()}})
    with tempfile.TemporaryDirectory() as scratch:
        submission = write_reference_submission(Path(scratch) / "correct_student")
        workers = {"fenced": worker_from_config(fenced_config).start(),
                   "unfenced": worker_from_config(open_config).start()}
        configs = {"fenced": fenced_config, "unfenced": open_config}
        times: dict[str, list[float]] = {"fenced": [], "unfenced": []}
        try:
            for name in ("fenced", "unfenced"):  # warm both (first suite run imports pytest)
                grade_submission(submission, configs[name], seed=1, worker=workers[name])
            for _ in range(args.runs):
                for name in ("fenced", "unfenced"):
                    started = time.perf_counter()
                    result = grade_submission(submission, configs[name], seed=1,
                                              worker=workers[name])
                    times[name].append(time.perf_counter() - started)
                    score = sum(f.score for f in result.functions)
                    top = sum(f.points for f in result.functions)
                    assert score == top, f"{name}: the reference scored {score}/{top}"
        finally:
            for worker in workers.values():
                worker.close()
    fenced, unfenced = (statistics.median(times[n]) for n in ("fenced", "unfenced"))
    print(f"reference at full marks both ways; {args.runs} grades each, warm workers")
    print(f"with forbidden-API checks: median {fenced:.2f} s; without: {unfenced:.2f} s; "
          f"cost {fenced - unfenced:+.2f} s per grade ({(fenced / unfenced - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
