"""Quizzes in course mode: the student's seeded variant without answers, scoring on the server
(hand-worked), each attempt in the gradebook's quiz tables, `quiz stats` on those rows, the
attempt limit and best/last, graded questions' keys hidden until the quiz closes, and maths
rendered as MathML on the server (by the quiz engine's quizzes/maths.py, the one home of the
maths rules; its escaping and fallbacks are tested in tests/quizzes/test_maths.py)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from click.testing import CliRunner
from course_helpers import start_course, stop_course

from autograder.server import store
from autograder.server.course import Course, QuizPolicy
from quizzes.cli import main as quiz_main

TOPIC = "tiny"
# tiny.yaml's points: 2 + 1 + 1 + 1 + 1 + 1, and the graded exam question's 1
MAX_SCORE = 8


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    policy = QuizPolicy(max_attempts=2, recorded="best")
    started, server = start_course(tmp_path_factory.mktemp("quiz") / "grades.sqlite",
                                   course=Course(quizzes=policy), grading=False)
    yield started
    stop_course(started, server)


def _letter(question: dict, text: str) -> str:
    return next(o["letter"] for o in question["options"] if o["text"] == text)


def hand_worked_answers(variant: dict) -> tuple[dict, float]:
    """Answers to the student's variant, and their score worked out by hand (see the comments)."""
    q = {item["name"]: item for item in variant["questions"]}
    words = q["q4"]["prompt"].replace(".", " ").split()
    d_model, heads = int(words[words.index("d_model") + 2]), int(words[words.index("heads") - 1])
    answers = {
        "q1": _letter(q["q1"], "To keep their variance near one"),            # right: 2
        "q2": [_letter(q["q2"], "GPT-2"), _letter(q["q2"], "BERT")],          # net_correct (1-1)/2: 0
        "q3": "false",                                                          # wrong: 0
        "q4": str(d_model // heads),                                            # right: 1
        "q5": "  Layer   NORM ",                                                # right: 1
        "q6": {"1": _letter(q["q6"], "encoder-only"), "2": _letter(q["q6"], "state-space")},  # 1/2
        "q7": _letter(q["q7"], "Exam-only wrong answer"),                      # wrong: 0
    }
    return answers, 4.5


def test_the_variant_is_the_students_own_and_holds_no_answers(course):
    with course.client("alice") as alice, course.client("bob") as bob:
        first, again = alice.get(f"/api/quizzes/{TOPIC}"), alice.get(f"/api/quizzes/{TOPIC}")
        other = bob.get(f"/api/quizzes/{TOPIC}")
    assert first.status_code == 200 and first.json() == again.json()
    assert [q["name"] for q in first.json()["questions"]] == [f"q{n}" for n in range(1, 8)]
    assert first.json()["questions"] != other.json()["questions"]  # choice order / parameters differ
    for answer in (first, other):
        text = answer.text.lower()
        for secret in ("correct", "feedback", "explanation", "tiny-", "exam-only feedback"):
            assert secret not in text, secret


def test_server_side_scoring_is_recorded_with_answers_and_limited(course):
    with course.client("alice") as alice:
        variant = alice.get(f"/api/quizzes/{TOPIC}").json()
        answers, expected = hand_worked_answers(variant)
        scored = alice.post(f"/api/quizzes/{TOPIC}", json={"answers": answers})
        assert scored.status_code == 200, scored.text
        body = scored.json()
        assert (body["score"], body["max_score"]) == (expected, MAX_SCORE)
        per = {item["name"]: item["score"] for item in body["questions"]}
        assert per == {"q1": 2, "q2": 0, "q3": 0, "q4": 1, "q5": 1, "q6": 0.5, "q7": 0}
        # the graded question's key and feedback stay hidden (the quiz has not closed)
        exam = next(i for i in body["questions"] if i["name"] == "q7")
        assert not {"key", "feedback", "explanation"} & set(exam)
        assert "feedback" in body["questions"][0]
        assert "Exam-only" not in scored.text

        blank = alice.post(f"/api/quizzes/{TOPIC}", json={"answers": {}})
        assert blank.status_code == 200 and blank.json()["score"] == 0  # an all-blank attempt
        third = alice.post(f"/api/quizzes/{TOPIC}", json={"answers": {}})
        assert third.status_code == 403 and "all 2 attempts used" in third.json()["error"]
        assert alice.get(f"/api/quizzes/{TOPIC}").json()["attempts_left"] == 0

    rows = store.attempts(course.book, "alice", TOPIC)
    assert [r["score"] for r in rows] == [4.5, 0]
    assert rows[0]["answers"]["tiny-text"] == "  Layer   NORM " and rows[0]["answers"]["tiny-exam"]
    counted = {(q.student, q.quiz): q.score for q in course.book.quiz_scores()}
    assert counted[("alice", TOPIC)] == 4.5  # best of 4.5 and 0


def test_quiz_stats_runs_on_the_recorded_attempts(course, tmp_path):
    with course.client("bob") as bob:
        answers, expected = hand_worked_answers(bob.get(f"/api/quizzes/{TOPIC}").json())
        assert bob.post(f"/api/quizzes/{TOPIC}", json={"answers": answers}).json()["score"] == expected
    with course.client("alice") as alice:  # alice's attempts come from the test above, or now
        if not store.attempts(course.book, "alice", TOPIC):
            alice.post(f"/api/quizzes/{TOPIC}", json={"answers": {}})
    with course.client("instructor") as teacher:
        download = teacher.get(f"/instructor/quizzes/{TOPIC}/responses.json")
    assert download.status_code == 200
    records = download.json()
    assert {r["student"] for r in records} == {"alice", "bob"}
    path = tmp_path / "responses.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    result = CliRunner().invoke(quiz_main, ["stats", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "tiny-single" in result.output and "tiny-exam" in result.output


def test_the_result_page_hides_graded_keys_until_the_quiz_closes(tmp_path):
    closed = Course(quizzes=QuizPolicy(closes=datetime.now(timezone.utc) - timedelta(hours=1)))
    for policy, shown in [(Course(), False), (closed, True)]:
        started, server = start_course(tmp_path / f"{shown}.sqlite", course=policy, grading=False)
        try:
            with httpx.Client(base_url=started.base) as browser:
                browser.get("/login", params={"token": started.tokens["alice"]})
                page = browser.get(f"/quiz/{TOPIC}").text
                csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
                result = browser.post(f"/quiz/{TOPIC}", data={"quiz": TOPIC, "csrf": csrf, "q7": "A"})
                assert result.status_code == 200, result.text
                assert ("Exam-only explanation" in result.text) is shown
                assert ("Exam-only feedback" in result.text) is shown
                assert "Byte-level BPE" in result.text and "no token is ever unknown" in result.text  # ungraded: shown
        finally:
            stop_course(started, server)


def test_maths_in_prompts_is_mathml_rendered_on_the_server(course):
    with httpx.Client(base_url=course.base) as browser:
        browser.get("/login", params={"token": course.tokens["bob"]})
        page = browser.get(f"/quiz/{TOPIC}").text
    assert "<math" in page and "<msqrt>" in page and "<msub>" in page
    assert r"$\sqrt{d_k}$" not in page and "cdn" not in page.lower()


def test_a_bank_edited_on_disk_is_served_after_the_recheck_interval(tmp_path):
    """The server looks at the bank files at most once per BANKS_RECHECK_S, not on every
    request; an instructor's edit is served once that has passed."""
    import shutil
    import time

    from course_helpers import BANKS

    from autograder.server.quiz_routes import BANKS_RECHECK_S

    banks = tmp_path / "banks"
    shutil.copytree(BANKS, banks)
    started, server = start_course(tmp_path / "grades.sqlite", course=Course(), grading=False, banks=banks)
    try:
        with started.client("alice") as alice:
            assert alice.get(f"/api/quizzes/{TOPIC}").json()["title"] == "Tiny serve quiz"
            bank = banks / "tiny.yaml"
            bank.write_text(bank.read_text(encoding="utf-8").replace(
                "title: Tiny serve quiz", "title: Tiny quiz, edited"), encoding="utf-8")
            time.sleep(BANKS_RECHECK_S + 0.2)
            assert alice.get(f"/api/quizzes/{TOPIC}").json()["title"] == "Tiny quiz, edited"
    finally:
        stop_course(started, server)
