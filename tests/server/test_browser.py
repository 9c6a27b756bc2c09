"""The course server in headless Chromium (Debian's /usr/bin/chromium, never `playwright install`):
the student journey (log in by URL, upload, the grade arrives without a reload, the report, a
quiz, the history) and the instructor journey (class table, drill-down, regrade, CSV download).

Screenshots go to the test's tmp dir and, when TEST_ARTIFACTS is set, are copied there.
Skipped only when Chromium or Playwright is missing on a developer machine; with CI set a
missing browser fails.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import pytest
from course_helpers import mistake_zip, reference_zip

from autograder.config import load_config

TOTAL = load_config().total_points



@pytest.fixture(scope="module")
def browser(chromium):
    return chromium  # tests/conftest.py


class Shots:
    """Screenshots in tmp_path, copied to $TEST_ARTIFACTS when it is set."""

    def __init__(self, folder: Path, prefix: str):
        self.folder, self.prefix = folder, prefix

    def take(self, page, name: str) -> Path:
        path = self.folder / f"{self.prefix}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        target = os.environ.get("TEST_ARTIFACTS")
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, Path(target) / path.name)
        return path


def _page(browser, base: str):
    context = browser.new_context(viewport={"width": 1000, "height": 1200}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, page, errors


def test_student_journey(browser, graded_course, tmp_path):
    shots = Shots(tmp_path, "student")
    upload = tmp_path / "lab.zip"
    upload.write_bytes(reference_zip(tmp_path))
    context, page, errors = _page(browser, graded_course.base)
    try:
        page.goto(f"{graded_course.base}/login?token={graded_course.tokens['alice']}")
        assert page.url == graded_course.base + "/"
        assert page.locator("#who").inner_text() == "alice"
        shots.take(page, "1-home")

        page.evaluate("window.__sameDocument = true")  # gone if the page reloads
        page.set_input_files("#upload input[type=file]", str(upload))
        page.click("#upload button[type=submit]")
        row = page.locator("#history tbody tr").first
        row.locator(".status", has_text="queued").or_(row.locator(".status", has_text="grading")) \
            .or_(row.locator(".status", has_text="graded")).wait_for()
        row.locator(".status", has_text="graded").wait_for(timeout=240_000)
        assert page.evaluate("window.__sameDocument") is True  # the grade came without a reload
        assert row.locator(".score").inner_text() == f"{TOTAL:g} / {TOTAL:g}"
        shots.take(page, "2-graded")

        row.locator("a", has_text="details").click()
        assert page.locator("#status").inner_text() == "graded"
        assert page.locator("#tests tbody tr").count() > 10
        shots.take(page, "3-submission")
        page.click("#report-link a")
        page.wait_for_url("**/report")  # the click only starts the navigation
        assert page.title() == "Feedback for alice"
        assert f"{TOTAL:g}" in page.locator("body").inner_text()
        shots.take(page, "4-report")

        page.goto(graded_course.base + "/quizzes")
        page.click("text=Tiny serve quiz")
        assert page.locator("section.question").count() == 7  # course mode serves the graded one too
        assert page.locator(".prompt math").count() >= 1  # $\sqrt{d_k}$ as MathML
        page.locator("section.question", has_text="256 byte values").locator("label", has_text="True") \
            .locator("input").check()
        page.locator("section.question", has_text="normalisation applied").locator("input").fill("layer norm")
        shots.take(page, "5-quiz")
        page.click("text=Submit answers")
        assert page.locator("#score").inner_text() == "2"  # true/false 1 + text 1, the rest blank
        assert page.locator("#max").inner_text() == "8"
        shots.take(page, "6-quiz-result")

        page.goto(graded_course.base + "/")
        assert page.locator("#quiz-attempts tbody tr").count() == 1
        assert "2 / 8" in page.locator("#quiz-attempts").inner_text()
        assert page.locator("#history tbody tr").count() == 1
        shots.take(page, "7-history")
        assert not errors, errors  # CSP violations and script errors surface here
    finally:
        context.close()


def test_instructor_journey(browser, graded_course, tmp_path):
    shots = Shots(tmp_path, "instructor")
    with graded_course.client("bob") as bob:  # something to look at: bob's graded mistake
        wrong = mistake_zip(tmp_path, "attention.no_scale")
        upload_id = bob.post("/api/submissions", files={"file": ("bob.zip", wrong)}).json()["id"]
    context, page, errors = _page(browser, graded_course.base)
    try:
        page.goto(f"{graded_course.base}/login?token={graded_course.tokens['instructor']}")
        assert page.url == graded_course.base + "/instructor"
        page.locator("#student-bob").wait_for()
        shots.take(page, "1-class")

        page.click("#student-bob a")
        assert page.url.endswith("/instructor/students/bob")
        row = page.locator("#uploads tbody tr", has_text="bob.zip")
        page.goto(f"{graded_course.base}/submissions/{upload_id}")
        page.locator("#status", has_text="graded").wait_for(timeout=240_000)  # live, no reload
        score = page.locator("#score").inner_text()
        assert score.endswith(f"/ {TOTAL:g}") and not score.startswith(f"{TOTAL:g}")
        page.click("#report-link a")
        page.wait_for_url(f"**/submissions/{upload_id}/report")  # the click only starts the navigation
        assert page.locator('img[src^="data:image/png"]').count() >= 1  # heatmaps, inline
        shots.take(page, "2-report-with-heatmaps")
        page.goto(f"{graded_course.base}/instructor/students/bob")
        shots.take(page, "3-drill-down")

        row.locator("button", has_text="regrade").click()
        assert page.url.endswith("/instructor")
        page.goto(f"{graded_course.base}/submissions/{upload_id}")
        page.locator("#status", has_text="graded").wait_for(timeout=240_000)
        assert page.locator("#score").inner_text() == score  # the same grade under the same grading.yaml

        page.goto(graded_course.base + "/instructor")
        with page.expect_download() as download:
            page.click("text=grades.csv")
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
        assert "bob" in {r["student"] for r in rows}
        shots.take(page, "4-after-regrade")
        assert not errors, errors
    finally:
        context.close()
