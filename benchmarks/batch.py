"""Batch throughput: `autograder batch` vs a naive fresh `python -m pytest` per submission.

    python benchmarks/batch.py [--n 60] [--baseline-n 6] [--jobs 2] [--group 1] [--otter-n 2]

Builds a class of N full-module submissions (the reference and its mistake variants, written
as students hand them in), then measures in this one run:

- ours: `autograder batch` (warm sandboxed workers, reference outputs cached, --jobs grading
  processes, --group submissions per suite run);
- naive: a fresh `python -m pytest autograder/suites --impl path:<submission>` process per
  submission, `--jobs` at a time (the same suites, student code in-process, no sandbox), on the
  first --baseline-n submissions, reported per submission;
- otter-grader's `otter run`, when an `otter` executable is found, on the lab 2.3.1 notebook
  exported by `autograder export-otter`.

It prints submissions per minute, the ratio to the naive baseline and the peak memory (RSS) of
the largest process the batch started.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.demo import write_mistake_submission, write_reference_submission  # noqa: E402
from reference.mistakes import MISTAKES  # noqa: E402


def build_class(folder: Path, n: int) -> list[Path]:
    ids = sorted(MISTAKES)
    paths = []
    for index in range(n):
        path = folder / f"student{index:03d}"
        if index % 3 == 0:
            write_reference_submission(path)
        else:
            write_mistake_submission(path, ids[index % len(ids)])
        paths.append(path)
    return paths


def timed(command: list[str], **kwargs) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - started


def naive(paths: list[Path], jobs: int) -> float:
    def one(path: Path) -> None:
        # exit status 1 (some tests fail) is expected for mistake submissions
        subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "autograder" / "suites"), "-q",
                        "-p", "no:cacheprovider", "--impl", f"path:{path}", "--seed", "1"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)

    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - started


def otter_executable() -> str | None:
    for candidate in (os.environ.get("OTTER_EXECUTABLE"), shutil.which("otter"), "/tmp/otter-venv/bin/otter"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def otter(scratch: Path, k: int) -> float | None:
    """Seconds per notebook for `otter run` on the exported lab 2.3.1 (solved notebooks)."""
    executable = otter_executable()
    if executable is None:
        return None
    export = scratch / "otter"
    subprocess.run([sys.executable, "-m", "autograder.cli", "export-otter", str(export), "--lab", "lab_2_3_1",
                    "--solutions"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    lab = export / "lab_2_3_1"
    notebook = next((lab / "solutions").glob("*.ipynb"))
    started = time.perf_counter()
    for index in range(k):
        out = scratch / f"otter-out-{index}"
        out.mkdir()
        subprocess.run([executable, "run", "-a", str(lab / "autograder.zip"), "-o", str(out), str(notebook)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return (time.perf_counter() - started) / k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="submissions in the batch")
    parser.add_argument("--baseline-n", type=int, default=6, help="submissions for the naive baseline")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--otter-n", type=int, default=2, help="notebooks for otter run (0: skip)")
    parser.add_argument("--group", type=int, default=1, help="submissions per suite run (autograder batch --group)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        paths = build_class(scratch / "class", args.n)
        ours = timed([sys.executable, "-m", "autograder.cli", "batch", str(scratch / "class"), "--gradebook",
                      str(scratch / "grades.sqlite"), "--jobs", str(args.jobs), "--group", str(args.group),
                      "--seed", "1"], cwd=scratch)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        ours_per_min = args.n / ours * 60
        baseline = naive(paths[: args.baseline_n], args.jobs)
        naive_per_min = args.baseline_n / baseline * 60
        print(f"machine: {os.cpu_count()} CPUs; --jobs {args.jobs}")
        print(f"ours:   {args.n} submissions in {ours:.1f} s = {ours_per_min:.1f} submissions/min "
              f"(includes starting {args.jobs} warm workers)")
        print(f"naive:  {args.baseline_n} submissions in {baseline:.1f} s = {naive_per_min:.1f} submissions/min "
              f"(fresh python -m pytest per submission, {args.jobs} at a time)")
        print(f"ratio:  {ours_per_min / naive_per_min:.1f}x the naive baseline")
        print(f"peak memory of the largest batch process: {peak_mb:.0f} MiB RSS")
        per_otter = otter(scratch, args.otter_n) if args.otter_n else None
        if per_otter is None:
            print("otter:  not measured (no otter executable; see .ci/run for the venv)")
        else:
            print(f"otter:  {per_otter:.1f} s per notebook for lab 2.3.1 alone = {60 / per_otter:.1f} notebooks/min; "
                  f"ours is {ours_per_min / (60 / per_otter):.1f}x faster for the whole module")
        print(f"targets: >= 60 submissions/min -> {'met' if ours_per_min >= 60 else 'NOT met'}; "
              f">= 5x naive -> {'met' if ours_per_min >= 5 * naive_per_min else 'NOT met'}")


if __name__ == "__main__":
    main()
