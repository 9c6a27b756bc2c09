"""The course server under a class's load on 127.0.0.1: 40 students upload at once, then 200
quiz posts arrive at once while those uploads are being graded.

Starts a real `autograder serve` (its own process, `--jobs` grading processes), issues tokens
with `autograder tokens`, waits until /healthz says the grading processes are warm, and checks
that none is lost and none duplicated: 40 uploads graded into 40 gradebook rows, 200 quiz
attempts answered and recorded once each. Prints p50/p95 of upload-to-grade and of quiz post
latency, and the ratio of the upload-to-grade p95 to one warm `autograder grade` of the same
submission (the median of three runs after a first), measured in this run.
Target on 2 cores: p95 upload-to-grade <= 3x the warm single grade, every quiz post answered.

    python benchmarks/serve.py [--students 40] [--quiz-posts 200] [--jobs 2]
"""
from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_RATIO = 3.0
TOPIC = "attention"
START_TIMEOUT_S, GRADE_TIMEOUT_S = 120, 900

from autograder.demo import write_reference_submission  # noqa: E402
from autograder.gradebook import Gradebook  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def warm_grade_s(submission: Path, scratch: Path, runs: int = 3) -> float:
    """Median wall time of `runs` `autograder grade` runs of `submission` after a first one
    that warms the OS's caches (one run alone varies by 20% on a shared machine)."""
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(submission),
                               "--results", str(scratch / "results.json"), "--quiet"],
                              capture_output=True, text=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            sys.exit(f"autograder grade failed ({proc.returncode}):\n{proc.stderr}")
    return statistics.median(times[1:])


def cpu_seconds(root: int) -> dict[str, float]:
    """CPU seconds (user + system, and that of exited children) of the server process `root`
    and of everything below it, from /proc (Linux): where the class's load went."""
    tick = os.sysconf("SC_CLK_TCK")
    parents, used = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue  # not a process, or gone
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = sum(int(f) for f in fields[11:15]) / tick

    def below_root(pid: int) -> bool:
        while pid in parents and pid != root:
            pid = parents[pid]
        return pid == root

    below = sum(seconds for pid, seconds in used.items() if pid != root and below_root(pid))
    return {"server": used.get(root, 0.0), "grading": below}


def zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, path.name)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(scratch: Path, students: list[str], jobs: int) -> tuple[subprocess.Popen, str, dict[str, str]]:
    roster, db, course = scratch / "roster.csv", scratch / "grades.sqlite", scratch / "course.yaml"
    roster.write_text("student\n" + "\n".join(students) + "\n", encoding="utf-8")
    # limits out of the way: this measures the server, not its flood protection
    course.write_text("limits:\n  uploads_per_minute: 1000\n  queued_per_student: 10\n"
                      "  quiz_posts_per_minute: 1000\n", encoding="utf-8")
    issued = subprocess.run([sys.executable, "-m", "autograder.cli", "tokens", "--roster", str(roster),
                             "--gradebook", str(db)], capture_output=True, text=True, cwd=ROOT, check=True)
    tokens = dict(line.split(",")[:2] for line in issued.stdout.splitlines()[1:])
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "autograder.cli", "serve", "--roster", str(roster), "--gradebook", str(db),
         "--course", str(course), "--port", str(port), "--jobs", str(jobs), "--quiet"],
        cwd=ROOT, stdout=(scratch / "serve.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"autograder serve exited:\n{(scratch / 'serve.log').read_text()}")
        try:  # up, and its grading processes warm (a class's server has been up for hours)
            if httpx.get(base + "/healthz", timeout=2).json()["grading"] == "ready":
                return server, base, tokens
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    os.killpg(server.pid, signal.SIGKILL)
    sys.exit(f"autograder serve was not up and warm within {START_TIMEOUT_S} s")


async def upload_and_wait(client: httpx.AsyncClient, token: str, data: bytes) -> tuple[int, float]:
    """(upload id, seconds from sending the upload to seeing it graded); long-polls the status
    (`?wait=30`: the server answers the moment it changes), as the upload page does."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    answer = await client.post("/api/submissions", files={"file": ("lab.zip", data)}, headers=headers)
    if answer.status_code != 202:
        raise RuntimeError(f"upload refused: {answer.status_code} {answer.text}")
    upload_id = answer.json()["id"]
    deadline = time.monotonic() + GRADE_TIMEOUT_S
    while time.monotonic() < deadline:
        status = (await client.get(f"/api/submissions/{upload_id}?wait=30", headers=headers)).json()
        if status["status"] in ("graded", "error"):
            if status["status"] != "graded":
                raise RuntimeError(f"upload {upload_id}: {status['error']}")
            return upload_id, time.perf_counter() - started
    raise RuntimeError(f"upload {upload_id} not graded within {GRADE_TIMEOUT_S} s")


async def quiz_post(client: httpx.AsyncClient, token: str) -> tuple[int, float]:
    started = time.perf_counter()
    answer = await client.post(f"/api/quizzes/{TOPIC}", json={"answers": {"q1": "A", "q2": "B"}},
                               headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, time.perf_counter() - started


async def load(base: str, tokens: dict[str, str], data: bytes, quiz_posts: int):
    limits = httpx.Limits(max_connections=quiz_posts + len(tokens), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=GRADE_TIMEOUT_S, limits=limits) as client:
        uploads = [asyncio.create_task(upload_and_wait(client, t, data)) for t in tokens.values()]
        await asyncio.sleep(0.5)  # the uploads are in and grading when the quiz burst comes
        students = list(tokens.values())
        quizzes = await asyncio.gather(*(quiz_post(client, students[n % len(students)])
                                         for n in range(quiz_posts)))
        return await asyncio.gather(*uploads), quizzes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--quiz-posts", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as name:
        scratch = Path(name)
        folder = write_reference_submission(scratch / "reference")
        single = warm_grade_s(folder, scratch)
        print(f"one warm `autograder grade` of the submission: {single:.2f} s (median of 3)")
        students = [f"s{n:03d}" for n in range(args.students)]
        server, base, tokens = start_server(scratch, students, args.jobs)
        try:
            at_ready = cpu_seconds(server.pid)  # start-up and warm-up: not the class's load
            started, client_started = time.perf_counter(), time.process_time()
            uploads, quizzes = asyncio.run(load(base, tokens, zipped(folder), args.quiz_posts))
            wall, client_cpu = time.perf_counter() - started, time.process_time() - client_started
            cpu = cpu_seconds(server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            finally:
                try:
                    os.killpg(server.pid, signal.SIGKILL)  # any pool process left behind
                except ProcessLookupError:
                    pass
        with Gradebook(scratch / "grades.sqlite") as book:
            rows = book.query(sa.text("SELECT student, submission_sha256 FROM submissions"))
            states = book.query(sa.text("SELECT status, COUNT(*) FROM uploads GROUP BY status"))
            attempts = book.query(sa.text("SELECT COUNT(*) FROM quiz_attempts"))[0][0]

    grade_s = [s for _, s in uploads]
    answered = [s for code, s in quizzes if code == 200]
    lost = args.students - len({i for i, _ in uploads})
    print(f"{args.students} concurrent uploads, --jobs {args.jobs}: all graded in {wall:.1f} s; "
          f"uploads by status {dict(states)}; {len(rows)} gradebook rows "
          f"({len(set(rows))} distinct), lost {lost}")
    print(f"upload to grade: p50 {percentile(grade_s, 0.5):.2f} s, p95 {percentile(grade_s, 0.95):.2f} s, "
          f"max {max(grade_s):.2f} s")
    ratio = percentile(grade_s, 0.95) / single
    print(f"p95 / one warm grade = {ratio:.2f}x ({'meets' if ratio <= TARGET_RATIO else 'MISSES'} "
          f"the <= {TARGET_RATIO:g}x target)")
    load_cpu = {part: cpu[part] - at_ready[part] for part in cpu}
    print(f"CPU during the load: server process {load_cpu['server']:.1f} s, grading processes and "
          f"their sandboxes {load_cpu['grading']:.1f} s ({load_cpu['grading'] / args.students:.2f} s "
          f"per upload), this load generator {client_cpu:.1f} s; the cores were busy "
          f"{(sum(load_cpu.values()) + client_cpu) / (wall * (os.cpu_count() or 1)):.0%} of the time; "
          f"start-up and warm-up before it: {at_ready['server']:.1f} s and "
          f"{at_ready['grading']:.1f} s")
    codes = sorted({code for code, _ in quizzes})
    print(f"{args.quiz_posts} simultaneous quiz posts: {len(answered)} answered 200 (status codes {codes}), "
          f"{attempts} attempts recorded; latency p50 {percentile(answered, 0.5) * 1000:.0f} ms, "
          f"p95 {percentile(answered, 0.95) * 1000:.0f} ms, max {max(s for _, s in quizzes) * 1000:.0f} ms"
          if quizzes else f"{args.quiz_posts} quiz posts")
    ok = (lost == 0 and len(rows) == len(set(rows)) == args.students and len(answered) == args.quiz_posts
          and attempts == args.quiz_posts)
    print("none lost, none duplicated" if ok else "LOST OR DUPLICATED: see the counts above")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
