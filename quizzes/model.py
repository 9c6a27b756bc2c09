"""Pydantic models of a quiz bank (format: ``quizzes/BANK_FORMAT.md``).

A bank is one YAML file; each question is one of seven types, picked by its ``type`` field
(a discriminated union, so an error talks about the fields of *that* type only). Unknown fields
are refused: a typo such as ``explaination`` must not silently drop an explanation.

Rules that span fields (exactly one correct choice, formula names bound to params, ...) raise
:func:`rule_error`, which records the field they are about, so the loader can still say
"question <id>: field <field>" for them.
"""
from __future__ import annotations

import itertools
import keyword
import math
import random
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import jinja2
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from quizzes import formula
from quizzes.normalise import normalise_label, normalise_text
from quizzes.sandbox import prompt_variables

QUESTION_TYPES = ("single", "multiple", "truefalse", "numeric", "text", "ordering", "matching")
SCHEMES = ("all_or_nothing", "net_correct", "coverage")
SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
SOURCE = re.compile(r"^[^#\s]+\.md#\S.*$")
_STATED_DIGITS = re.compile(r"(\d+) significant digits?")
MAX_PARAM_CHECKS = 1000  # param combinations tried when validating a numeric answer


def rule_error(field: str, message: str, index: int | None = None) -> PydanticCustomError:
    """A validation error about ``field`` (of question ``index`` when raised on a bank)."""
    ctx: dict[str, Any] = {"field": field, "message": message}
    if index is not None:
        ctx["index"] = index
    return PydanticCustomError("quiz_rule", "{message}", ctx)


def _nonblank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


Text = Annotated[str, AfterValidator(_nonblank)]


def _source(value: str | list[str]) -> str | list[str]:
    for item in value if isinstance(value, list) else [value]:
        if not SOURCE.match(item.strip()):
            raise ValueError(f"{item!r} is not 'FILE.md#Heading' as tools/faq_sources.py prints it")
    if isinstance(value, list) and not value:
        raise ValueError("give at least one source")
    return value


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(StrictModel):
    """One option of a single/multiple question."""

    text: Text
    correct: StrictBool = False
    feedback: Text
    credit: float | None = Field(default=None, ge=0, lt=1)


class Param(StrictModel):
    """A numeric parameter: ``{values: [...]}`` or ``{min, max, step}`` (integers, inclusive)."""

    values: list[int | float] | None = Field(default=None, min_length=1)
    min: int | None = None
    max: int | None = None
    step: int = Field(default=1, gt=0)

    @model_validator(mode="after")
    def _one_form(self) -> Param:
        ranged = self.min is not None or self.max is not None
        if self.values is not None and ranged:
            raise ValueError("give either values or min/max, not both")
        if self.values is None:
            if self.min is None or self.max is None:
                raise ValueError("give values: [...] or both min and max")
            if self.max < self.min:
                raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self

    def options(self) -> Sequence[int | float]:
        """Every value this param can take, in order (a lazy ``range`` for a min/max param, so
        a wide range costs nothing)."""
        if self.values is not None:
            return list(self.values)
        return range(self.min, self.max + 1, self.step)


class QuestionBase(StrictModel):
    """Fields every question type has."""

    id: Annotated[str, Field(pattern=SLUG)]
    points: float = Field(default=1, gt=0)
    graded: StrictBool = False
    source: Annotated[str | list[str], AfterValidator(_source)]
    prompt: Text
    explanation: Text
    _line: int | None = PrivateAttr(default=None)
    @property
    def sources(self) -> list[str]:
        """``source`` as a list."""
        return list(self.source) if isinstance(self.source, list) else [self.source]

    @property
    def line(self) -> int | None:
        """Line of the question in its YAML file, when loaded from one."""
        return self._line


def _unique(texts: list[str], what: str) -> None:
    seen: set[str] = set()
    for text in texts:
        key = normalise_label(text)
        if key in seen:
            raise ValueError(f"{what} {text!r} appears twice")
        seen.add(key)


class _ChoiceQuestion(QuestionBase):
    choices: list[Choice] = Field(min_length=2)
    shuffle: StrictBool = True

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: list[Choice]) -> list[Choice]:
        _unique([c.text for c in choices], "choice")
        return choices


class SingleQuestion(_ChoiceQuestion):
    type: Literal["single"]

    @field_validator("choices")
    @classmethod
    def _one_correct(cls, choices: list[Choice]) -> list[Choice]:
        n = sum(c.correct for c in choices)
        if n != 1:
            raise ValueError(f"a single-choice question needs exactly one correct choice, found {n}")
        if any(c.correct and c.credit is not None for c in choices):
            raise ValueError("credit is for wrong choices; the correct choice scores full marks")
        return choices


class MultipleQuestion(_ChoiceQuestion):
    type: Literal["multiple"]
    scheme: Literal["all_or_nothing", "net_correct", "coverage"] = "all_or_nothing"

    @field_validator("choices")
    @classmethod
    def _some_correct(cls, choices: list[Choice]) -> list[Choice]:
        if not any(c.correct for c in choices):
            raise ValueError("a multiple-select question needs at least one correct choice")
        if any(c.credit is not None for c in choices):
            raise ValueError("credit is only for single-choice questions; use scheme instead")
        return choices


class TrueFalseQuestion(QuestionBase):
    type: Literal["truefalse"]
    answer: StrictBool
    feedback_true: Text
    feedback_false: Text


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number or a formula string, got a boolean")  # noqa: TRY004 - pydantic reports only ValueError as a field error
    return value


class NumericQuestion(QuestionBase):
    type: Literal["numeric"]
    params: dict[str, Param] = Field(default_factory=dict)
    answer: Annotated[int | float | str, Field(union_mode="left_to_right")]
    rtol: float = Field(default=0, ge=0)
    atol: float = Field(default=0, ge=0)
    digits: int | None = Field(default=None, ge=1, le=15)  # significant digits the prompt asks for
    unit: str | None = None

    @field_validator("answer", mode="before")
    @classmethod
    def _answer_not_bool(cls, value: Any) -> Any:
        return _not_bool(value)

    @field_validator("params")
    @classmethod
    def _param_names(cls, params: dict[str, Param]) -> dict[str, Param]:
        for name in params:
            if not name.isidentifier() or keyword.iskeyword(name) or name in formula.FUNCTIONS:
                raise ValueError(f"param name {name!r} must be an identifier that is not a function name")
        return params

    @model_validator(mode="after")
    def _answer_evaluates(self) -> NumericQuestion:
        if isinstance(self.answer, str):
            try:
                parsed = formula.parse(self.answer)
            except formula.FormulaError as exc:
                raise rule_error("answer", str(exc)) from None
            unbound = sorted(parsed.names - set(self.params))
            if unbound:
                raise rule_error("answer", f"formula uses {', '.join(unbound)}, which are not in params")
        for combo in self.param_combinations():
            try:
                value = formula.evaluate(self.answer, combo)
            except formula.FormulaError as exc:
                raise rule_error("answer", f"{exc} (with {combo})") from None
            if self.rtol == 0 and self.atol == 0 and not self.digits and not float(value).is_integer():
                raise rule_error(
                    "rtol", f"answer {value} (with {combo}) is not an integer, so set digits, rtol or atol > 0"
                )
        stated = _STATED_DIGITS.search(self.prompt)
        if stated and self.digits is None:
            raise rule_error("digits", f"the prompt asks for {stated.group(0)!r}: set digits so answers "
                                       "rounded to it are accepted")
        if self.digits is not None and not (stated and int(stated.group(1)) == self.digits):
            raise rule_error("digits", f"the prompt must say '{self.digits} significant digits'")
        if self.params:
            # Only parameterised prompts are Jinja templates (see quizzes/sandbox.py).
            for field in ("prompt", "explanation"):
                try:
                    used = prompt_variables(getattr(self, field))
                except jinja2.TemplateSyntaxError as exc:
                    raise rule_error(field, f"template line {exc.lineno}: {exc.message}") from None
                unknown = sorted(used - set(self.params))
                if unknown:
                    raise rule_error(field, f"uses {', '.join(unknown)}, which are not in params")
        return self

    def param_combinations(self) -> list[dict[str, int | float]]:
        """Every combination of params (a fixed sample if there are very many)."""
        names = list(self.params)
        options = [self.params[n].options() for n in names]
        if math.prod(len(o) for o in options) <= MAX_PARAM_CHECKS:
            return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*options)]
        rng = random.Random(0)  # fixed: validation must be reproducible
        corners = [dict(zip(names, c, strict=True)) for c in itertools.product(*[(o[0], o[-1]) for o in options])]
        sample = [{n: rng.choice(o) for n, o in zip(names, options, strict=True)} for _ in range(MAX_PARAM_CHECKS)]
        return (corners + sample)[:MAX_PARAM_CHECKS]


class TextQuestion(QuestionBase):
    type: Literal["text"]
    accept: list[Text] = Field(min_length=1)

    @field_validator("accept")
    @classmethod
    def _normalisable(cls, accept: list[str]) -> list[str]:
        for text in accept:
            if not normalise_text(text):
                raise ValueError(f"{text!r} is empty once normalised (punctuation is dropped)")
        return accept


class OrderingQuestion(QuestionBase):
    type: Literal["ordering"]
    items: list[Text] = Field(min_length=2)

    @field_validator("items")
    @classmethod
    def _distinct(cls, items: list[str]) -> list[str]:
        _unique(items, "item")
        return items


class Pair(StrictModel):
    left: Text
    right: Text


class MatchingQuestion(QuestionBase):
    type: Literal["matching"]
    pairs: list[Pair] = Field(min_length=2)
    distractors: list[Text] = Field(default_factory=list)
    _rights: list[str] | None = PrivateAttr(default=None)

    @field_validator("pairs")
    @classmethod
    def _distinct_lefts(cls, pairs: list[Pair]) -> list[Pair]:
        _unique([p.left for p in pairs], "left item")
        return pairs

    @model_validator(mode="after")
    def _distractors_match_nothing(self) -> MatchingQuestion:
        rights = {normalise_label(p.right) for p in self.pairs}
        for extra in self.distractors:
            if normalise_label(extra) in rights:
                raise rule_error("distractors", f"{extra!r} is also a right-hand answer")
        try:
            _unique(self.distractors, "distractor")
        except ValueError as exc:
            raise rule_error("distractors", str(exc)) from None
        return self

    def right_options(self) -> list[str]:
        """Distinct right-hand texts (two lefts may share one) followed by the distractors."""
        if self._rights is None:  # computed once: present() asks for every student
            seen: dict[str, str] = {}
            for text in [p.right for p in self.pairs] + list(self.distractors):
                seen.setdefault(normalise_label(text), text)
            self._rights = list(seen.values())
        return list(self._rights)


Question = Annotated[
    SingleQuestion | MultipleQuestion | TrueFalseQuestion | NumericQuestion | TextQuestion | OrderingQuestion
    | MatchingQuestion,
    Field(discriminator="type"),
]
AnyQuestion = (
    SingleQuestion | MultipleQuestion | TrueFalseQuestion | NumericQuestion | TextQuestion | OrderingQuestion
    | MatchingQuestion
)


class Bank(StrictModel):
    """One topic's questions. Validate with ``context={"stem": file stem}`` to check topic."""

    topic: Annotated[str, Field(pattern=SLUG)]
    title: Text
    description: Text
    questions: list[Question] = Field(min_length=1)
    _path: str | None = PrivateAttr(default=None)

    @field_validator("topic")
    @classmethod
    def _topic_is_stem(cls, topic: str, info: ValidationInfo) -> str:
        stem = (info.context or {}).get("stem")
        if stem is not None and topic != stem:
            raise ValueError(f"topic {topic!r} must equal the file name stem {stem!r}")
        return topic

    @model_validator(mode="after")
    def _ids(self) -> Bank:
        seen: dict[str, int] = {}
        for i, question in enumerate(self.questions):
            if not question.id.startswith(self.topic + "-"):
                raise rule_error("id", f"must start with the topic: {self.topic}-<slug>", index=i)
            if question.id in seen:
                raise rule_error("id", f"duplicate id (also question #{seen[question.id] + 1})", index=i)
            seen[question.id] = i
        return self

    @property
    def path(self) -> str | None:
        """The YAML file this bank came from, when loaded from one."""
        return self._path

    @property
    def total_points(self) -> float:
        return sum(q.points for q in self.questions)

    def question(self, question_id: str) -> AnyQuestion:
        """The question with this id; KeyError if there is none."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)
