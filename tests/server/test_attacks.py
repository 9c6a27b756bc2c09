"""Bad input and attacks: malformed and oversized uploads, path traversal, a zip bomb, HTML in
names, answers and printed output (escaped), CSRF on form posts, brute-forced tokens, a student
flooding uploads (rate limit, queue fairness), huge or slow quiz answers. Each is one JSON error
with its status code, and costs nothing to anyone else."""
from __future__ import annotations

import io
import re
import time
import zipfile

import httpx
import pytest
import sqlalchemy as sa
from course_helpers import folder_zip, reference_zip, start_course, stop_course, wait_graded

from autograder.demo import write_reference_submission
from autograder.gradebook import Gradebook
from autograder.server import store
from autograder.server.api import safe_filename
from autograder.server.course import Course, Limits

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def shared_quiet_course(tmp_path_factory):
    """A never-grading server whose rate limits stay out of the way of these tests."""
    limits = Limits(uploads_per_minute=1000, queued_per_student=1000, quiz_posts_per_minute=1000)
    course, server = start_course(tmp_path_factory.mktemp("quiet") / "grades.sqlite",
                                  course=Course(limits=limits), grading=False)
    yield course
    stop_course(course, server)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _post(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return client.post("/api/submissions", files={"file": (name, data)})


@pytest.mark.parametrize(("name", "data", "status", "says"), [
    ("notes.txt", b"hello", 400, "upload a .py, .zip or .ipynb"),
    ("lab.zip", b"PK\x03\x04 not really a zip", 400, "not a readable zip archive"),
    ("lab.ipynb", b"{not json", 400, "lab.ipynb"),
    ("attention.py", b"def f(:\n    pass\n", 400, "attention.py:1"),
    ("attention.py", b"\xff\xfe\x00bad", 400, "UTF-8"),
    ("bomb.zip", _zip({"attention.py": b"0" * (100 * 2**20)}), 400, "MiB uncompressed"),
    ("up.zip", _zip({"../../attention.py": b"x = 1\n"}), 400, ""),
])
def test_malformed_uploads_are_one_json_error(shared_quiet_course, name, data, status, says):
    with shared_quiet_course.client("alice") as alice:
        before = len(alice.get("/api/submissions").json())
        answer = _post(alice, name, data)
        assert answer.status_code == status, answer.text
        body = answer.json()
        assert body["status"] == status and says in body["error"] and "Traceback" not in body["error"]
        assert "/tmp" not in body["error"]  # the server's scratch folder is not the student's business
        assert len(alice.get("/api/submissions").json()) == before


def test_requests_that_are_not_uploads(shared_quiet_course):
    with shared_quiet_course.client("alice") as alice:
        not_multipart = alice.post("/api/submissions", content=b"x = 1", headers={"content-type": "text/plain"})
        assert not_multipart.status_code == 400 and "multipart" in not_multipart.json()["error"]
        no_file = alice.post("/api/submissions", files={"other": ("a.py", b"x = 1")})
        assert no_file.status_code == 400 and "`file`" in no_file.json()["error"]
        wrong_method = alice.delete("/api/submissions")
        assert wrong_method.status_code == 405 and wrong_method.json()["status"] == 405
        missing = alice.get("/api/submissions/999999")
        assert missing.status_code == 404 and missing.json()["error"] == "no submission 999999"


@pytest.mark.parametrize(("given", "stored"), [
    ("../../etc/passwd.py", "passwd.py"), ("..\\..\\windows\\x.py", "x.py"), ("/abs/attention.py", "attention.py"),
    ("<script>alert(1)</script>.py", "script.py"), ("....py", "submission.py"),
])
def test_file_names_lose_directories_and_markup(given, stored):
    assert safe_filename(given) == stored


def test_a_traversing_name_is_stored_without_its_path(shared_quiet_course):
    with shared_quiet_course.client("alice") as alice:
        answer = _post(alice, "../../../../tmp/attention.py", b"x = 1\n")
        assert answer.status_code == 202
        assert alice.get(f"/api/submissions/{answer.json()['id']}").json()["filename"] == "attention.py"
        page = alice.get(f"/submissions/{answer.json()['id']}")  # a queued upload's page renders
        assert page.status_code == 200 and 'id="status">queued<' in page.text


def test_markup_in_paths_and_answers_is_escaped(shared_quiet_course):
    course = shared_quiet_course
    with httpx.Client(base_url=course.base) as browser:
        browser.get("/login", params={"token": course.tokens["bob"]})
        missing = browser.get("/" + HOSTILE)
        assert missing.status_code == 404 and HOSTILE not in missing.text and "&lt;img" in missing.text
        page = browser.get("/quiz/tiny").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        result = browser.post("/quiz/tiny", data={"quiz": "tiny", "csrf": csrf, "q5": HOSTILE})
        assert result.status_code == 200 and HOSTILE not in result.text and "&lt;img src=x" in result.text


def _csrf_of(browser: httpx.Client, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', browser.get(path).text).group(1)


def test_form_posts_need_the_sessions_csrf_token(shared_quiet_course):
    course = shared_quiet_course
    with httpx.Client(base_url=course.base, follow_redirects=False) as browser:
        assert browser.get("/login", params={"token": course.tokens["alice"]}).status_code == 303
        token = _csrf_of(browser, "/")
        upload = {"file": ("attention.py", b"x = 1\n")}
        for sent in (None, "forged-token"):
            data = {} if sent is None else {"csrf": sent}
            answer = browser.post("/submit", files=upload, data=data)
            assert answer.status_code == 403 and "CSRF" in answer.text
            assert browser.post("/api/submissions", files=upload).status_code == 403
            assert browser.post("/quiz/tiny", data={"quiz": "tiny", **data}).status_code == 403
            assert browser.post("/api/quizzes/tiny", json={"answers": {}}).status_code == 403
        assert browser.post("/submit", files=upload, data={"csrf": token}).status_code == 303
        api = browser.post("/api/submissions", files=upload, headers={"x-csrf-token": token})
        assert api.status_code == 202
    with httpx.Client(base_url=course.base, follow_redirects=False) as teacher:
        teacher.get("/login", params={"token": course.tokens["instructor"]})
        assert teacher.post("/instructor/regrade", data={}).status_code == 403
        assert teacher.post("/instructor/regrade", data={"csrf": _csrf_of(teacher, "/instructor")}).status_code == 303


def test_brute_forced_tokens_are_rate_limited(tmp_path):
    course, server = start_course(tmp_path / "grades.sqlite", course=Course(limits=Limits(logins_per_minute=5)),
                                  grading=False)
    try:
        with httpx.Client(base_url=course.base) as guesser:
            codes = [guesser.get("/api/submissions", headers={"Authorization": f"Bearer guess{n}"}).status_code
                     for n in range(5)]
            assert codes == [401] * 5
            blocked = guesser.get("/api/submissions", headers={"Authorization": "Bearer guess5"})
            assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
            assert "too many failed logins" in blocked.json()["error"]
            # blocked before the lookup: even a right token learns nothing from this address now
            right = guesser.get("/api/submissions", headers={"Authorization": f"Bearer {course.tokens['alice']}"})
            assert right.status_code == 429
            assert guesser.get("/login", params={"token": course.tokens["alice"]}).status_code == 429
    finally:
        stop_course(course, server)


def test_a_students_flood_is_limited_and_others_still_upload(tmp_path):
    limits = Limits(uploads_per_minute=3, queued_per_student=2)
    course, server = start_course(tmp_path / "grades.sqlite", course=Course(limits=limits), grading=False)
    try:
        with course.client("alice") as alice, course.client("bob") as bob:
            codes = [_post(alice, "attention.py", b"x = 1\n").status_code for _ in range(3)]
            assert codes == [202, 202, 429]  # the third: two are still waiting to be graded
            flood = _post(alice, "attention.py", b"x = 1\n")
            assert flood.status_code == 429 and int(flood.headers["retry-after"]) > 0  # 3 a minute
            assert "too many uploads" in flood.json()["error"]
            assert _post(bob, "attention.py", b"x = 1\n").status_code == 202
    finally:
        stop_course(course, server)


def test_the_queue_is_fair_across_students(tmp_path):
    """claim_next takes turns: alice's ten uploads came first, yet bob's is claimed second, both
    while hers is grading and after it is done; alone, alice is not starved either."""
    with Gradebook(tmp_path / "grades.sqlite") as book:
        alice = [store.add_upload(book, "alice", "default", "a.py", b"x", "s", False) for _ in range(10)]
        bob = store.add_upload(book, "bob", "default", "b.py", b"x", "s", False)
        assert [store.claim_next(book).id, store.claim_next(book).id] == [alice[0], bob]
        store.finish(book, alice[0], "graded", None)
        assert store.claim_next(book).id == alice[1]  # bob's is grading: alice's next
        store.finish(book, alice[1], "graded", None)
        store.finish(book, bob, "graded", None)
        later = store.add_upload(book, "bob", "default", "b.py", b"x", "s", False)
        with book.transaction() as conn:  # alice was served after bob: bob's turn
            conn.execute(sa.text("UPDATE uploads SET started_at = '2000-01-01T00:00:00+00:00' WHERE id = :b"),
                         {"b": bob})
        assert store.claim_next(book).id == later
        assert store.claim_next(book).id == alice[2]  # only alice waits now


@pytest.fixture(scope="module")
def grading_course(tmp_path_factory):
    course, server = start_course(tmp_path_factory.mktemp("attacks") / "grades.sqlite",
                                  course=Course(limits=Limits(uploads_per_minute=30)))
    yield course
    stop_course(course, server)


def test_a_flood_does_not_starve_another_student(grading_course, tmp_path):
    """One grading process: alice's two uploads are in before bob's, yet bob's is graded second."""
    full = reference_zip(tmp_path)
    with grading_course.client("alice") as alice, grading_course.client("bob") as bob:
        posted = [_post(alice, "lab.zip", full), _post(alice, "lab.zip", full), _post(bob, "lab.zip", full)]
        assert [p.status_code for p in posted] == [202] * 3, [p.text for p in posted]
        first, second, bobs = (p.json()["id"] for p in posted)
        for client, upload_id in [(alice, first), (alice, second), (bob, bobs)]:
            assert wait_graded(client, upload_id)["status"] == "graded"
    finished = dict(grading_course.book.query(sa.text(
        "SELECT id, finished_at FROM uploads WHERE id IN (:a, :b, :c)"), {"a": first, "b": second, "c": bobs}))
    assert finished[first] <= finished[bobs] <= finished[second]


def test_printed_output_and_errors_are_escaped_on_every_page(grading_course, tmp_path):
    folder = write_reference_submission(tmp_path / "hostile")
    source = (folder / "attention.py").read_text(encoding="utf-8")
    source += (f"\n\ndef scaled_dot_product_attention(*args, **kwargs):\n"
               f"    print({HOSTILE!r})\n    raise ValueError({HOSTILE!r})\n")
    (folder / "attention.py").write_text(source, encoding="utf-8")
    with grading_course.client("alice") as alice:
        upload_id = _post(alice, "lab.zip", folder_zip(folder)).json()["id"]
        graded = wait_graded(alice, upload_id)
        assert graded["status"] == "graded"
        assert any(HOSTILE in t["output"] for t in graded["tests"])  # the JSON carries it raw
        for path in (f"/submissions/{upload_id}", f"/submissions/{upload_id}/report"):
            page = alice.get(path)
            assert page.status_code == 200 and HOSTILE not in page.text, path
            assert "&lt;img src=x onerror=alert(1)&gt;" in page.text or "&lt;img src=x onerror=alert(1)>" in page.text
    with grading_course.client("instructor") as teacher:
        assert HOSTILE not in teacher.get("/instructor/students/alice").text


@pytest.mark.parametrize(("answers", "status", "says"), [
    ({"q5": "x" * 3000}, 400, "longer than"),
    ({"q99": "A"}, 400, "no question named q99"),
    ({"q1": {"deep": ["nested"]}}, 400, "answers are text"),
    ("not a mapping", 400, "send {\"answers\""),
])
def test_bad_quiz_answers_are_refused(shared_quiet_course, answers, status, says):
    with shared_quiet_course.client("bob") as bob:
        answer = bob.post("/api/quizzes/tiny", json={"answers": answers})
        assert answer.status_code == status and says in answer.json()["error"], answer.text


def test_huge_bodies_and_slow_formulas_are_bounded(shared_quiet_course):
    with shared_quiet_course.client("bob") as bob:
        huge = bob.post("/api/quizzes/tiny", content=b'{"answers": {"q5": "' + b"x" * 70_000 + b'"}}',
                        headers={"content-type": "application/json"})
        assert huge.status_code == 413 and huge.json()["status"] == 413
        not_json = bob.post("/api/quizzes/tiny", content=b"{nope", headers={"content-type": "application/json"})
        assert not_json.status_code == 400 and not_json.json()["error"] == "the body is not JSON"
        start = time.monotonic()
        slow = bob.post("/api/quizzes/tiny", json={"answers": {"q4": "9**9**9**9**9"}})
        assert time.monotonic() - start < 5
        assert slow.status_code == 200, slow.text
        numeric = next(q for q in slow.json()["questions"] if q["name"] == "q4")
        assert numeric["score"] == 0 and numeric["error"]
