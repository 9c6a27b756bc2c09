"""`quiz serve` over real HTTP (stdlib client): the page sent before submission holds no
answers, feedback or explanations, for every bank; the POST scores server-side."""
from __future__ import annotations

import html
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from quizzes.loader import DEFAULT_BANKS, load_banks
from quizzes.render import markdown_html, markdown_inline_html
from quizzes.scoring import answer_key, correct_answer
from quizzes.server import ServeConfig, make_server, serve_in_thread
from quizzes.variants import present

FIXTURES = Path(__file__).resolve().parents[1] / "quiz_fixtures"
BANK_DIRS = [FIXTURES, FIXTURES / "serve", DEFAULT_BANKS]
STUDENTS = ["alice", "bob.42"]


@pytest.fixture(scope="module")
def servers():
    """One server per bank directory, on free ports, stopped after the module."""
    running = {}
    for d in BANK_DIRS:
        server = make_server("127.0.0.1", 0, ServeConfig(banks_dir=d), verbose=False)
        serve_in_thread(server)
        running[d] = (server, f"http://127.0.0.1:{server.server_address[1]}")
    yield {d: base for d, (_, base) in running.items()}
    for server, _ in running.values():
        server.shutdown()
        server.server_close()


def get(url: str, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


def post(url: str, fields: list[tuple[str, str]], headers: dict | None = None) -> tuple[int, str]:
    data = urllib.parse.urlencode(fields).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    req = urllib.request.Request(url, data=data, headers=form)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


def visible(page: str) -> str:
    """The page as text: tags dropped, entities decoded (a leak could hide in either form)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def secrets_of(question, presented) -> list[str]:
    """Strings that only a key, feedback or explanation would contain."""
    # The id too: bank ids are written for instructors ("generation-nucleus-name").
    out = [question.id, presented.explanation, str(markdown_html(presented.explanation))]
    for attr in ("feedback_true", "feedback_false"):
        if getattr(question, attr, None):
            out.append(getattr(question, attr))
    for choice in getattr(question, "choices", []):
        out.append(choice.feedback)
    if question.type == "text":
        out += question.accept
    if question.type in ("numeric", "ordering", "matching", "multiple", "single"):
        out.append(answer_key(presented))  # e.g. "64 dimensions (rtol 0.01)", "A. x; C. y"
    return [s.strip() for s in out if s and s.strip()]


def bank_cases():
    cases = []
    for d in BANK_DIRS:
        for topic in load_banks(d):
            cases.append(pytest.param(d, topic, id=f"{d.name}/{topic}"))
    return cases


@pytest.mark.parametrize("bank_dir,topic", bank_cases())
@pytest.mark.parametrize("student", STUDENTS)
def test_quiz_page_has_prompts_but_no_answers(servers, bank_dir, topic, student):
    bank = load_banks(bank_dir)[topic]
    status, page = get(f"{servers[bank_dir]}/quiz/{topic}?student={urllib.parse.quote(student)}")
    assert status == 200, page
    text = visible(page)
    served = [q for q in bank.questions if not q.graded]
    assert served, "fixture banks have practice questions"
    allowed = []  # what the page must show: prompts (params filled in) and options as presented
    for q in served:
        p = present(q, student, topic)
        assert str(markdown_html(p.prompt)) in page, f"{q.id}: prompt missing"
        for o in p.options:
            # Choices and items are rendered Markdown; matching's right column is plain <option> text.
            shown = o.text in text if q.type == "matching" else str(markdown_inline_html(o.text)) in page
            assert shown and f"{o.letter}." in text, f"{q.id}: option {o.letter} missing"
        for left in p.lefts:
            assert str(markdown_inline_html(left)) in page, f"{q.id}: left item missing"
        allowed += [p.prompt, *[o.text for o in p.options], *p.lefts, bank.title, bank.description]
    allowed_text = "\n".join(allowed + [visible(str(markdown_html(a))) for a in allowed])
    body = re.sub(r"<style>.*?</style>", "", page, flags=re.S)  # CSS class names are not content
    for q in served:
        p = present(q, student, topic)
        for secret in secrets_of(q, p):
            if secret in allowed_text or visible(secret).strip() in allowed_text:
                continue  # e.g. a feedback that only repeats the prompt: showing it leaks nothing
            assert secret not in body and visible(secret).strip() not in visible(body), f"{q.id}: page leaks {secret!r}"
    for q in bank.questions:
        if q.graded:
            assert q.id not in page and str(markdown_html(q.prompt)) not in page, f"graded {q.id} was served"
    # Nothing pre-selected, no correct flags, and the only hidden fields are student and quiz.
    assert not re.search(r"\b(checked|selected)\b", page)
    assert not re.search(r"data-(correct|credit|key|answer)", page)
    hidden = re.findall(r'<input type="hidden" name="([^"]+)"', page)
    assert sorted(hidden) == ["quiz", "student"]


def test_graded_questions_are_not_served_or_scored(servers):
    base = servers[FIXTURES / "serve"]
    status, page = get(f"{base}/quiz/tiny?student=alice")
    assert status == 200 and "Exam-only" not in page
    status, result = post(f"{base}/quiz/tiny", [("student", "alice"), ("quiz", "tiny"), ("q7", "A")])
    assert status == 200 and "Exam-only" not in result
    assert re.search(r'<span id="max">7</span>', result)  # 8 points in the bank, 1 of them graded


def full_marks_form(bank, student):
    """Form fields answering every practice question correctly, as the page's inputs would
    (fields named q1, q2, ... in bank order, graded questions left out)."""
    fields = [("student", student), ("quiz", bank.topic)]
    for n, q in enumerate([q for q in bank.questions if not q.graded], 1):
        name = f"q{n}"
        p = present(q, student, bank.topic)
        answer = correct_answer(p)
        if q.type == "multiple":
            fields += [(name, letter) for letter in answer]
        elif q.type == "matching":
            letters = {o.text: o.letter for o in p.options}
            fields += [(f"{name}:{k}", letters[pair.right]) for k, pair in enumerate(q.pairs, 1)]
        elif q.type == "ordering":
            fields += [(f"{name}:{k}", letter) for k, letter in enumerate(answer, 1)]
        else:
            fields.append((name, str(answer).lower() if isinstance(answer, bool) else str(answer)))
    return fields


@pytest.mark.parametrize("bank_dir,topic", bank_cases())
def test_full_marks_post_and_feedback(servers, bank_dir, topic):
    bank = load_banks(bank_dir)[topic]
    status, page = post(f"{servers[bank_dir]}/quiz/{topic}", full_marks_form(bank, "carol"))
    assert status == 200, page
    total = sum(q.points for q in bank.questions if not q.graded)
    score = re.search(r'<span id="score">([^<]+)</span> / <span id="max">([^<]+)</span>', page)
    assert float(score.group(1)) == pytest.approx(total) and float(score.group(2)) == pytest.approx(total)
    # After submission: explanations and sources are shown.
    for q in bank.questions:
        if not q.graded:
            assert str(markdown_html(present(q, "carol", topic).explanation)) in page
            for source in q.sources:
                assert source in visible(page)


def test_empty_submission_scores_zero(servers):
    status, page = post(f"{servers[FIXTURES / 'serve']}/quiz/tiny", [("student", "dave"), ("quiz", "tiny")])
    assert status == 200 and '<span id="score">0</span>' in page and "No answer given." in page


def test_errors(servers):
    base = servers[FIXTURES / "serve"]
    assert get(f"{base}/quiz/nope?student=a")[0] == 404
    assert get(f"{base}/nothing")[0] == 404
    assert get(f"{base}/quiz/tiny")[0] == 400  # no student id
    status, page = get(f"{base}/quiz/tiny?student=%3Cscript%3E")
    assert status == 400 and "<script>" not in page
    assert post(f"{base}/quiz/tiny", [("student", "a"), ("quiz", "other")])[0] == 400
    req = urllib.request.Request(f"{base}/quiz/tiny", data=b"{}", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 415


def test_student_header_mode():
    server = make_server("127.0.0.1", 0, ServeConfig(banks_dir=FIXTURES / "serve", student_header="X-Remote-User"),
                         verbose=False)
    serve_in_thread(server)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert get(f"{base}/quiz/tiny")[0] == 401
        status, page = get(f"{base}/quiz/tiny?student=mallory", {"X-Remote-User": "erin"})
        assert status == 200 and 'name="student" value="erin"' in page  # the header wins
        # Scored as erin's variant whatever the form claims: erin's right answers get full marks.
        fields = [(k, "mallory" if k == "student" else v)
                  for k, v in full_marks_form(load_banks(FIXTURES / "serve")["tiny"], "erin")]
        status, result = post(f"{base}/quiz/tiny", fields, {"X-Remote-User": "erin"})
        assert status == 200 and "<code>erin</code>" in result
        assert '<span id="score">7</span> / <span id="max">7</span>' in result
    finally:
        server.shutdown()
        server.server_close()
