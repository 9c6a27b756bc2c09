"""Fixtures of the course server tests (helpers in course_helpers.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # course_helpers, whatever the rootdir

from course_helpers import start_course, stop_course  # noqa: E402


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A server that grades (one warm pool process): shared by a module's tests."""
    course, server = start_course(tmp_path_factory.mktemp("course") / "grades.sqlite")
    yield course
    stop_course(course, server)


@pytest.fixture(scope="module")
def shared_quiet_course(tmp_path_factory):
    """A never-grading server shared by a module's tests (each test uses its own data)."""
    course, server = start_course(tmp_path_factory.mktemp("quiet") / "grades.sqlite", grading=False)
    yield course
    stop_course(course, server)


@pytest.fixture
def quiet_course(tmp_path):
    """A server whose uploads are never graded (access and bad-input tests: no grading cost)."""
    course, server = start_course(tmp_path / "grades.sqlite", grading=False)
    yield course
    stop_course(course, server)
