"""course.yaml: assignments (deadline, late policy, attempt limit, which grade counts), quiz
attempt policy and the server's limits, validated like grading.yaml (file:line errors).

Example::

    assignments:
      lab1:
        title: Attention and masks
        deadline: 2026-02-01T23:59:00+00:00
        late: penalty          # accept | penalty | reject
        late_penalty: 0.2      # fraction of the score taken off a late upload
        max_attempts: 10
        recorded: best         # best | last: which graded upload is the recorded grade
    quizzes:
      max_attempts: 2
      recorded: best
      closes: 2026-03-01T00:00:00+00:00   # keys of graded questions shown after this
    limits:
      upload_mb: 16
      zip_members: 200
      uploads_per_minute: 6    # per student
      queued_per_student: 2    # uploads waiting or grading at once, per student
      logins_per_minute: 20    # failed token logins per client address
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from autograder.yamlsource import YamlError, format_validation_error, load_with_lines

DEFAULT_ASSIGNMENT = "default"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Assignment(_Strict):
    title: str = "Course exercises"
    deadline: datetime | None = None
    late: Literal["accept", "penalty", "reject"] = "accept"
    late_penalty: float = Field(0.0, ge=0.0, le=1.0)
    max_attempts: int | None = Field(None, ge=1)
    recorded: Literal["best", "last"] = "best"

    @field_validator("deadline")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the deadline with a time zone, e.g. 2026-02-01T23:59:00+00:00")
        return value

    def is_late(self, when: datetime) -> bool:
        return self.deadline is not None and when > self.deadline

    def recorded_score(self, score: float, late: bool) -> float:
        """The score a (late) upload counts for under this assignment's late policy."""
        return score * (1.0 - self.late_penalty) if late and self.late == "penalty" else score


class QuizPolicy(_Strict):
    max_attempts: int | None = Field(None, ge=1)
    recorded: Literal["best", "last"] = "best"
    closes: datetime | None = None  # graded questions' keys and feedback are shown after this

    _aware = field_validator("closes")(Assignment._aware.__func__)


class Limits(_Strict):
    upload_mb: float = Field(16, gt=0, le=256)
    zip_members: int = Field(200, ge=1, le=10_000)
    uploads_per_minute: int = Field(6, ge=1)
    queued_per_student: int = Field(2, ge=1)
    logins_per_minute: int = Field(20, ge=1)
    quiz_posts_per_minute: int = Field(30, ge=1)
    quiz_body_kb: int = Field(64, ge=1, le=4096)

    @property
    def upload_bytes(self) -> int:
        return int(self.upload_mb * 2**20)


class Course(_Strict):
    assignments: dict[str, Assignment] = Field(default_factory=lambda: {DEFAULT_ASSIGNMENT: Assignment()})
    quizzes: QuizPolicy = Field(default_factory=QuizPolicy)
    limits: Limits = Field(default_factory=Limits)

    @field_validator("assignments")
    @classmethod
    def _named(cls, value: dict[str, Assignment]) -> dict[str, Assignment]:
        if not value:
            raise ValueError("list at least one assignment")
        for name in value:
            if not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"assignment name {name!r}: letters, digits, - and _ only")
        return value

    def assignment(self, name: str | None) -> tuple[str, Assignment]:
        name = name or next(iter(self.assignments))
        if name not in self.assignments:
            raise KeyError(name)
        return name, self.assignments[name]


def load_course(path: Path | None) -> Course:
    """course.yaml at `path` (None: the defaults). Raises YamlError naming file:line."""
    if path is None:
        return Course()
    data, node = load_with_lines(path)
    try:
        return Course.model_validate(data or {})
    except ValidationError as exc:
        raise YamlError(format_validation_error(path, node, exc)) from None


def now() -> datetime:
    return datetime.now(timezone.utc)
