"""Load and validate bank files, with errors that point at file, line, question and field.

Every error reads ``<file>:<line>: question <id>: field <field>: <message>`` (bank-level
errors leave out the question). Line numbers come from a YAML loader that remembers where each
mapping and each key starts (:class:`LineDict`). All errors of a file are reported at once.

>>> banks = load_banks("quizzes/banks")          # doctest: +SKIP
>>> banks["attention"].questions[0].id           # doctest: +SKIP
'attention-scale-why'
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from quizzes.model import QUESTION_TYPES, AnyQuestion, Bank

DEFAULT_BANKS = Path(__file__).resolve().parent / "banks"
BANK_SUFFIXES = (".yaml", ".yml")


class BankError(Exception):
    """One or more problems in bank files; ``messages`` holds one line per problem."""

    def __init__(self, messages: Iterable[str]):
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


class LineDict(dict):
    """A YAML mapping that knows its own line (``start``) and each key's line (``lines``)."""

    start: int = 0
    lines: dict


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that builds :class:`LineDict` mappings and refuses duplicate keys (PyYAML
    silently keeps the last one, which would hide e.g. a second ``answer:``)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.start = node.start_mark.line + 1
    mapping.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file into LineDicts; syntax errors become :class:`BankError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BankError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise BankError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise BankError([f"{path}{line}: YAML syntax error: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise BankError([f"{path}: YAML error: {exc}"]) from None


def _field_name(parts: Iterable[Any]) -> str:
    """('choices', 1, 'feedback') -> 'choices[1].feedback'."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: Any, parts: list[Any]) -> int | None:
    """Line of the deepest node along ``parts`` that the YAML loader recorded (for a missing
    field: the line where its mapping starts)."""
    line = node.start if isinstance(node, LineDict) else None
    for part in parts:
        if isinstance(node, LineDict) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            if isinstance(node, LineDict):
                line = node.start
        else:
            break
    return line


# pydantic names the member of a union it tried in the error path: 'int', 'list[str]', ...
_UNION_MEMBER = re.compile(r"^(int|float|str|bool|none|[\w-]+\[.*\])$")


def _data_path(node: Any, parts: list[Any]) -> list[Any]:
    """``parts`` without union-member tags: keep a part only if the data can have it."""
    out = []
    for part in parts:
        if isinstance(part, str) and (
            not isinstance(node, dict) or (part not in node and _UNION_MEMBER.match(part))
        ):
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return out


def _question_label(raw: Any, index: int) -> str:
    qid = raw.get("id") if isinstance(raw, dict) else None
    return str(qid) if isinstance(qid, str) and qid else f"#{index + 1} (no id)"


def format_errors(path: Path | str, raw: Any, exc: ValidationError) -> list[str]:
    """Turn pydantic errors into ``file:line: question id: field f: message`` lines."""
    messages: dict[str, list[str]] = {}  # "file:line: question: field f" -> messages
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        ctx = err.get("ctx") or {}
        msg = err["msg"]
        if err["type"] == "quiz_rule":
            msg = ctx["message"]
            if "index" in ctx:
                loc = ["questions", ctx["index"]]
            loc = loc + [ctx["field"]]
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = loc + ["type"]
            msg = f"expected one of {', '.join(QUESTION_TYPES)}"
            if err["type"] == "union_tag_invalid":
                msg = f"unknown type {ctx.get('tag')!r}; {msg}"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field (see quizzes/BANK_FORMAT.md for the fields of each type)"
        if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
            index = loc[1]
            rest = loc[2:]
            if rest and rest[0] in QUESTION_TYPES:  # pydantic puts the union tag in the path
                rest = rest[1:]
            questions = raw.get("questions") if isinstance(raw, dict) else None
            q_raw = questions[index] if isinstance(questions, list) and index < len(questions) else None
            where = f"question {_question_label(q_raw, index)}: "
            rest = _data_path(q_raw, rest)
            line = _line_of(raw, ["questions", index] + rest)
        else:
            rest = _data_path(raw, loc)
            where = ""
            line = _line_of(raw, rest)
        field = _field_name(rest) or "(question)"
        if rest == [] and not where:
            field = "(bank)"
        prefix = f"{path}:{line}" if line else f"{path}"
        found = messages.setdefault(f"{prefix}: {where}field {field}", [])
        if msg not in found:
            found.append(msg)
    # A value that fits no member of a union gets one error per member: say them together.
    return [f"{head}: {' or '.join(msgs)}" for head, msgs in messages.items()]


def load_bank(path: Path | str) -> Bank:
    """Load and validate one bank file; raises :class:`BankError` listing every problem."""
    path = Path(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise BankError([f"{path}: expected a mapping with topic, title, description, questions"])
    try:
        bank = Bank.model_validate(raw, context={"stem": path.stem})
    except ValidationError as exc:
        raise BankError(format_errors(path, raw, exc)) from None
    bank._path = str(path)
    for question, q_raw in zip(bank.questions, raw["questions"], strict=True):
        question._line = q_raw.start if isinstance(q_raw, LineDict) else None
    return bank


_CACHE: dict[str, tuple[tuple, dict[str, Bank]]] = {}  # directory -> (file stamps, banks)


def bank_files(directory: Path | str) -> list[Path]:
    """The bank files in ``directory`` (``*.yaml``/``*.yml``), sorted by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BankError([f"{directory}: no such bank directory"])
    return sorted(p for p in directory.iterdir() if p.suffix in BANK_SUFFIXES and p.is_file())


def load_banks(directory: Path | str = DEFAULT_BANKS) -> dict[str, Bank]:
    """All banks of ``directory`` keyed by topic (sorted). Ids must be unique across banks.

    Cached on the files' names, sizes and modification times, so repeated calls (rendering
    many variants, a server handling requests) parse YAML once.
    """
    files = bank_files(directory)
    key = tuple((str(p.resolve()), st.st_mtime_ns, st.st_size) for p in files for st in [os.stat(p)])
    cache_key = str(Path(directory).resolve())
    cached = _CACHE.get(cache_key)
    if cached and cached[0] == key:
        return cached[1]
    banks: dict[str, Bank] = {}
    errors: list[str] = []
    first_seen: dict[str, str] = {}
    for path in files:
        try:
            bank = load_bank(path)
        except BankError as exc:
            errors.extend(exc.messages)
            continue
        for question in bank.questions:
            where = f"{path}:{question.line}" if question.line else str(path)
            if question.id in first_seen:
                errors.append(
                    f"{where}: question {question.id}: field id: duplicate id, "
                    f"first defined at {first_seen[question.id]}"
                )
            else:
                first_seen[question.id] = where
        banks[bank.topic] = bank
    if errors:
        raise BankError(errors)
    result = dict(sorted(banks.items()))
    _CACHE[cache_key] = (key, result)
    return result


def find_question(banks: dict[str, Bank], question_id: str) -> AnyQuestion:
    """The question with ``question_id`` in any bank; KeyError if none."""
    for bank in banks.values():
        for question in bank.questions:
            if question.id == question_id:
                return question
    raise KeyError(question_id)
