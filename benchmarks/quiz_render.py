"""Benchmark: render 1,000 personalised variants of one quiz to HTML and Markdown.

Usage: python benchmarks/quiz_render.py [TOPIC] [--students N]

Uses the real banks (quizzes/banks) when there are any, else the test fixture bank. Prints
the wall time and the target (< 1 s for 1,000 students, both formats). A script, not a test:
wall-clock asserts in tests are flaky on shared machines.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from quizzes.loader import DEFAULT_BANKS, bank_files, load_banks
from quizzes.render import render_html, render_markdown
from quizzes.variants import present_bank

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "quiz_fixtures"
TARGET_S = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topic", nargs="?", help="bank topic (default: the largest bank)")
    parser.add_argument("--students", type=int, default=1000)
    args = parser.parse_args()

    directory = DEFAULT_BANKS if bank_files(DEFAULT_BANKS) else FIXTURES
    t0 = time.perf_counter()
    banks = load_banks(directory)
    load_s = time.perf_counter() - t0
    topic = args.topic or max(banks, key=lambda t: len(banks[t].questions))
    bank = banks[topic]
    students = [f"student-{i:04d}" for i in range(args.students)]

    # Warm-up: compile templates and fill the Markdown cache once, as a long-lived process would.
    render_html(bank, present_bank(bank, "warm-up"))
    render_markdown(bank, present_bank(bank, "warm-up"))

    t0, c0 = time.perf_counter(), time.process_time()
    size = 0
    for student in students:
        presented = present_bank(bank, student)
        size += len(render_html(bank, presented)) + len(render_markdown(bank, presented))
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0  # less sensitive than wall time to other load on the machine

    budget = TARGET_S * args.students / 1000
    verdict = "OK" if elapsed < budget else "SLOWER THAN TARGET"
    if elapsed >= budget > cpu:
        verdict += " on wall time, OK on CPU time (the machine is busy with other work)"
    print(f"banks: {directory} ({len(banks)} banks, loaded in {load_s * 1000:.0f} ms)")
    print(f"quiz: {topic} ({len(bank.questions)} questions)")
    print(
        f"rendered {args.students} students x (HTML + Markdown) in {elapsed:.3f} s "
        f"(CPU {cpu:.3f} s; {elapsed / args.students * 1000:.2f} ms per student, {size / 1e6:.1f} MB); "
        f"target < {TARGET_S:g} s per 1,000 students: {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
