"""End to end in headless Chromium (Debian's /usr/bin/chromium, never `playwright install`):
pick the quiz, answer some questions right and some wrong, submit, read the score.

Skipped only when Chromium or Playwright is missing on a developer machine; in CI (``CI`` set)
a missing browser is a failure, so the test cannot silently stop running there.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from quizzes.server import ServeConfig, make_server, serve_in_thread

BANKS = Path(__file__).resolve().parents[1] / "quiz_fixtures" / "serve"
SCREENSHOT = Path("/tmp/quiz_serve_result.png")



@pytest.fixture
def base_url():
    server = make_server("127.0.0.1", 0, ServeConfig(banks_dir=BANKS), verbose=False)
    serve_in_thread(server)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_take_tiny_quiz_in_chromium(base_url, chromium):
    page = chromium.new_page(viewport={"width": 900, "height": 1400})
    try:
        page.set_default_timeout(15_000)
        page.goto(base_url + "/")
        page.fill("input[name=student]", "alice")
        page.click("text=Continue")
        page.click("text=Tiny serve quiz")
        assert page.locator("section.question").count() == 6  # the graded 7th is not served

        def section(prompt_part: str):
            return page.locator("section.question", has_text=prompt_part)

        # tiny-single, 2 points: right                                           -> 2
        section("divided by").locator("label", has_text="variance near one").locator("input").check()
        # tiny-multiple, net_correct, C = 2: one right + one wrong -> max(0, (1-1)/2) -> 0
        multiple = section("decoder-only?")
        multiple.locator("label", has_text="GPT-2").locator("input").check()
        multiple.locator("label", has_text="BERT").locator("input").check()
        # tiny-truefalse: wrong (the statement is true)                           -> 0
        section("256 byte values").locator("label", has_text="False").locator("input").check()
        # tiny-numeric: right, from the parameters drawn into this page's prompt  -> 1
        numeric = section("size of one head")
        words = numeric.locator(".prompt").inner_text().replace(".", " ").split()
        d_model, heads = int(words[words.index("d_model") + 2]), int(words[words.index("heads") - 1])
        numeric.locator("input").fill(str(d_model // heads))
        # tiny-text: right, in another case and spacing                           -> 1
        section("normalisation applied").locator("input").fill("  Layer   NORM ")
        # tiny-matching: BERT right, T5 wrong                          -> 1/2 of 1 -> 0.5
        matching = section("Match each model")
        selects = matching.locator("select")

        def pick(select, text):
            value = select.locator("option", has_text=text).get_attribute("value")
            select.select_option(value)

        pick(selects.nth(0), "encoder-only")
        pick(selects.nth(1), "state-space")
        page.click("text=Submit answers")
        page.wait_for_url(base_url + "/quiz/tiny")

        assert page.locator("#score").inner_text() == "4.5"  # 2 + 0 + 0 + 1 + 1 + 0.5
        assert page.locator("#max").inner_text() == "7"  # 2 + 1 + 1 + 1 + 1 + 1
        per_question = {
            qid: page.locator(f"#result-{qid}").get_attribute("data-score")
            for qid in ("tiny-single", "tiny-multiple", "tiny-truefalse", "tiny-numeric", "tiny-text",
                        "tiny-matching")
        }
        assert per_question == {"tiny-single": "2", "tiny-multiple": "0", "tiny-truefalse": "0",
                                "tiny-numeric": "1", "tiny-text": "1", "tiny-matching": "0.5"}
        # feedback, explanation and source appear only now
        assert page.get_by_text("No: it does start from bytes.").is_visible()
        assert page.get_by_text("BERT encodes, T5 encodes and decodes.").is_visible()
        assert page.locator("#result-tiny-single cite").inner_text().startswith("FAQ.md#")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        page.close()
