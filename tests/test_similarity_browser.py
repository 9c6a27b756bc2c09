"""The HTML similarity report in headless Chromium (Debian's /usr/bin/chromium, never
`playwright install`): it opens, ranks the flagged pair, lists the cluster and shows the
copied functions side by side with the matched lines highlighted on both sides.

Skipped only when Chromium or Playwright is missing on a developer machine; in CI (``CI`` set)
a missing browser is a failure.
"""
from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from autograder.cli import main

ROOT = Path(__file__).resolve().parent.parent
AUTHORS = ROOT / "benchmarks" / "similarity_authors"
MODULES = ("masks", "attention", "transformer")



@pytest.fixture
def report(tmp_path) -> Path:
    """ann (loops) and ben (ann's code, every identifier renamed), cy (helpers) written alone."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from similarity_disguises import rename

    folder = tmp_path / "class"
    shutil.copytree(AUTHORS / "loops", folder / "ann", ignore=shutil.ignore_patterns("*.md"))
    shutil.copytree(AUTHORS / "helpers", folder / "cy", ignore=shutil.ignore_patterns("*.md"))
    (folder / "ben").mkdir()
    for module in MODULES:
        source = (AUTHORS / "loops" / f"{module}.py").read_text()
        (folder / "ben" / f"{module}.py").write_text(rename(source, random.Random(1)))
    path = tmp_path / "similarity.html"
    result = CliRunner().invoke(main, ["similarity", str(folder), "--report", str(path), "--no-cache"])
    assert result.exit_code == 0, result.output
    return path


def test_the_report_opens_with_the_pair_list_and_a_side_by_side_view(report, chromium):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.set_default_timeout(15_000)
        page.goto(report.as_uri())
        assert page.title() == "Similarity"
        rows = page.locator("#pairs tbody tr")
        assert rows.count() == 1  # only ann and ben: cy wrote its own
        cells = rows.first.locator("td").all_inner_texts()
        assert cells[1:3] == ["ann", "ben"] and float(cells[3]) >= 0.5
        assert page.locator("#clusters tbody tr").first.locator("td").first.inner_text() == "ann, ben"
        pair = page.locator("section.pair").first
        assert "ann ↔ ben" in pair.locator("h2").inner_text()
        function = pair.locator("h3", has_text="attention.scaled_dot_product_attention")
        assert function.count() == 1
        sides = function.locator("xpath=following-sibling::div[1]").locator("pre")
        assert sides.count() == 2
        left, right = sides.nth(0), sides.nth(1)
        assert left.bounding_box()["x"] < right.bounding_box()["x"]  # side by side, not stacked
        assert "def scaled_dot_product_attention" in left.inner_text()
        assert "def scaled_dot_product_attention" in right.inner_text()
        for side in (left, right):  # matched lines are highlighted, visibly, on both sides
            highlighted = side.locator("span.match")
            assert highlighted.count() >= 3
            colour = highlighted.first.evaluate("e => getComputedStyle(e).backgroundColor")
            plain = side.locator("span:not(.match)")
            assert plain.count() == 0 or colour != plain.first.evaluate(
                "e => getComputedStyle(e).backgroundColor")
    finally:
        page.close()
