"""Wall time of `autograder grade` on a complete, correct submission (target: < 10 s).

Runs the real CLI in a fresh process (interpreter start, torch import, sandbox start, hidden
suites) a few times on a copy of the reference solutions, and prints each wall time and its
ratio to the 10 s target, all measured in this one run.

    python benchmarks/grade.py [--runs 3]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_S = 10.0

from autograder.demo import write_reference_submission  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        # the reference written as a student hands it in (imports exercises.*, not reference.*)
        submission = write_reference_submission(Path(scratch) / "correct_student")
        results = Path(scratch) / "results.json"
        times = []
        for run in range(args.runs):
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "autograder.cli", "grade", str(submission),
                 "--results", str(results), "--quiet"],
                capture_output=True, text=True,
            )
            elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                sys.exit(f"grade failed ({proc.returncode}):\n{proc.stderr}")
            import json

            data = json.loads(results.read_text())
            score, max_score = data["score"], data["extra_data"]["max_score"]
            times.append(elapsed)
            print(f"run {run + 1}: {elapsed:5.2f} s wall, score {score:g}/{max_score:g}, "
                  f"{elapsed / TARGET_S:.2f} x the {TARGET_S:g} s target")
        median = statistics.median(times)
        print(f"median {median:.2f} s = {median / TARGET_S:.2f} x target "
              f"({'meets' if median < TARGET_S else 'MISSES'} the < {TARGET_S:g} s target)")


if __name__ == "__main__":
    main()
