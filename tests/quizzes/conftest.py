"""Shared fixtures for the quiz engine tests."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from quizzes.loader import load_banks

FIXTURES = Path(__file__).resolve().parent.parent / "quiz_fixtures"


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    """tests/quiz_fixtures: the `demo` bank, one hand-checkable question of every type."""
    return FIXTURES


@pytest.fixture(scope="session")
def demo_bank(fixture_dir):
    return load_banks(fixture_dir)["demo"]


@pytest.fixture
def write_bank(tmp_path):
    """write_bank(name, yaml_text) -> path of a bank file in a fresh directory."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write

