"""The server parses with `ast` one thread at a time (grader.AST_LOCK; CPython 3.11's ast can
raise a spurious SystemError when two threads build trees at once): an intake waits while
the lock is held, and quiz scoring takes the same lock."""
from __future__ import annotations

import threading

from autograder.server.grader import AST_LOCK, read_upload


def test_an_intake_waits_for_the_ast_lock(tmp_path):
    done = threading.Event()

    def intake() -> None:
        read_upload(tmp_path / "u1", "attention.py", b"def f():\n    return 1\n")
        done.set()

    with AST_LOCK:
        worker = threading.Thread(target=intake, daemon=True)
        worker.start()
        assert not done.wait(0.5)  # blocked while another parse holds the lock
    assert done.wait(10)
    worker.join(10)


def test_quiz_scoring_waits_for_the_ast_lock(shared_quiet_course):
    answers: list[int] = []

    def post() -> None:
        with shared_quiet_course.client("bob") as bob:
            answers.append(bob.post("/api/quizzes/tiny", json={"answers": {"q4": "d_model / 4"}}).status_code)

    with AST_LOCK:
        worker = threading.Thread(target=post, daemon=True)
        worker.start()
        worker.join(0.7)
        assert answers == []  # scoring waits for the lock
    worker.join(10)
    assert answers == [200]
