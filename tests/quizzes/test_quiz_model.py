"""Bank validation: every error names the file, the line, the question id and the field."""
import pytest

from quizzes.loader import BankError, load_bank, load_banks

HEADER = """
topic: bad
title: A bad bank
description: Every question here breaks one rule.
questions:
"""


def errors_of(path) -> list[str]:
    with pytest.raises(BankError) as info:
        load_bank(path)
    return info.value.messages


def test_missing_choice_feedback_names_file_line_id_and_field(write_bank):
    path = write_bank(
        "bad",
        HEADER
        + """
  - id: bad-one
    type: single
    source: "FAQ.md#Q?"
    prompt: p
    explanation: e
    choices:
      - {text: a, correct: true, feedback: f}
      - {text: b}
""",
    )
    # Line 13 is "      - {text: b}" (line 1 is "topic: bad").
    assert errors_of(path) == [f"{path}:13: question bad-one: field choices[1].feedback: Field required"]


@pytest.mark.parametrize(
    "body, field, words",
    [
        (  # two correct answers in a single-choice question
            """
    type: single
    choices:
      - {text: a, correct: true, feedback: f}
      - {text: b, correct: true, feedback: f}
""",
            "choices",
            "exactly one correct",
        ),
        (
            """
    type: multiple
    choices:
      - {text: a, feedback: f}
      - {text: b, feedback: f}
""",
            "choices",
            "at least one correct",
        ),
        (
            """
    type: single
    choices:
      - {text: a, correct: true, feedback: f, credit: 0.5}
      - {text: b, feedback: f}
""",
            "choices",
            "credit is for wrong choices",
        ),
        ("\n    type: essay\n", "type", "unknown type 'essay'"),
        ("\n    type: truefalse\n    answer: true\n    feedback_true: y\n    feedback_false: n\n    explaination: x\n",
         "explaination", "unknown field"),
        ("\n    type: truefalse\n    answer: maybe\n    feedback_true: y\n    feedback_false: n\n",
         "answer", "boolean"),
        ("\n    type: numeric\n    answer: \"x / 3\"\n    rtol: 0.01\n", "answer", "x, which are not in params"),
        ("\n    type: numeric\n    answer: \"__import__('os')\"\n", "answer", "calls are limited"),
        # A union (number or formula string): one message for the field, not one per member.
        ("\n    type: numeric\n    answer: [1, 2]\n", "answer", "valid integer or Input should be a valid number or"),
        ("\n    type: numeric\n    params: {x: {values: [1, 2]}}\n    answer: \"x / 3\"\n", "rtol", "not an integer"),
        ("\n    type: numeric\n    params: {x: {values: [0, 2]}}\n    answer: \"1 / x\"\n    rtol: 0.1\n",
         "answer", "division by zero"),
        ("\n    type: numeric\n    params: {x: {min: 5, max: 1}}\n    answer: \"x\"\n", "params.x", "below min"),
        ("\n    type: text\n    accept: []\n", "accept", "at least 1 item"),
        ("\n    type: text\n    accept: [\"...\"]\n", "accept", "empty once normalised"),
        ("\n    type: ordering\n    items: [a, b, A]\n", "items", "appears twice"),
        ("\n    type: matching\n    pairs: [{left: a, right: x}, {left: b, right: y}]\n    distractors: [x]\n",
         "distractors", "also a right-hand answer"),
    ],
)
def test_rule_errors_name_the_field(write_bank, body, field, words):
    path = write_bank(
        "bad",
        HEADER + '  - id: bad-q\n    source: "FAQ.md#Q?"\n    prompt: p\n    explanation: e' + body,
    )
    [message] = errors_of(path)
    assert message.startswith(f"{path}:")
    assert f": question bad-q: field {field}: " in message
    assert words in message


def test_prompt_may_only_use_declared_params(write_bank):
    path = write_bank(
        "bad",
        HEADER
        + """
  - id: bad-q
    type: numeric
    source: "FAQ.md#Q?"
    params: {d_k: {values: [4, 16]}}
    prompt: "For d_k = {{ d_k }} and h = {{ heads }}?"
    explanation: e
    answer: "d_k ** 0.5"
""",
    )
    [message] = errors_of(path)
    assert "question bad-q: field prompt: uses heads, which are not in params" in message


def test_bank_level_rules(write_bank):
    path = write_bank(
        "mismatch",
        """
topic: other
title: t
description: d
questions:
  - id: other-a
    type: truefalse
    source: "FAQ.md#Q?"
    prompt: p
    explanation: e
    answer: true
    feedback_true: y
    feedback_false: n
""",
    )
    assert errors_of(path) == [
        f"{path}:1: field topic: Value error, topic 'other' must equal the file name stem 'mismatch'"]


def test_id_must_start_with_topic_and_be_unique_in_bank(write_bank):
    question = """
  - id: {id}
    type: truefalse
    source: "FAQ.md#Q?"
    prompt: p
    explanation: e
    answer: true
    feedback_true: y
    feedback_false: n
"""
    path = write_bank("bad", HEADER + question.format(id="wrong-a"))
    [message] = errors_of(path)
    assert message == f"{path}:6: question wrong-a: field id: must start with the topic: bad-<slug>"
    path = write_bank("bad", HEADER + question.format(id="bad-a") + question.format(id="bad-a"))
    [message] = errors_of(path)
    assert message == f"{path}:15: question bad-a: field id: duplicate id (also question #1)"


def test_duplicate_ids_across_banks(write_bank, tmp_path):
    bank = """
topic: {topic}
title: t
description: d
questions:
  - id: {id}
    type: truefalse
    source: "FAQ.md#Q?"
    prompt: p
    explanation: e
    answer: true
    feedback_true: y
    feedback_false: n
"""
    # Topic "x" may hold "x-y-q", and so may topic "x-y": the only way two valid banks clash.
    write_bank("x", bank.format(topic="x", id="x-other"))
    write_bank("x-y", bank.format(topic="x-y", id="x-y-q"))
    assert sorted(load_banks(tmp_path)) == ["x", "x-y"]
    write_bank("x", bank.format(topic="x", id="x-y-q"))
    with pytest.raises(BankError) as info:
        load_banks(tmp_path)
    # x-y.yaml sorts before x.yaml ('-' < '.'), so the clash is reported in x.yaml.
    assert info.value.messages == [
        f"{tmp_path / 'x.yaml'}:5: question x-y-q: field id: duplicate id, first defined at {tmp_path / 'x-y.yaml'}:5"
    ]


def test_yaml_syntax_error_and_duplicate_keys(write_bank):
    path = write_bank("bad", "topic: bad\ntitle: [unclosed\n")
    [message] = errors_of(path)
    assert message.startswith(f"{path}:") and "YAML syntax error" in message
    path = write_bank("bad", "topic: bad\ntitle: a\ntitle: b\n")
    [message] = errors_of(path)
    assert message.startswith(f"{path}:3: YAML syntax error: duplicate key 'title'")


def test_every_error_of_a_file_is_reported(write_bank):
    path = write_bank(
        "bad",
        HEADER
        + """
  - id: bad-a
    type: text
    source: "not a source"
    prompt: p
    explanation: e
    accept: [x]
  - id: bad-b
    type: ordering
    source: "FAQ.md#Q?"
    prompt: ""
    explanation: e
    items: [a, b]
""",
    )
    messages = errors_of(path)
    assert len(messages) == 2
    assert messages[0].startswith(f"{path}:8: question bad-a: field source: ")
    assert messages[1] == f"{path}:15: question bad-b: field prompt: Value error, must not be empty"


def test_fixture_bank_loads_with_lines(demo_bank):
    assert [q.type for q in demo_bank.questions] == [
        "single", "multiple", "truefalse", "numeric", "text", "ordering", "matching"
    ]
    assert demo_bank.questions[0].line == 5
    assert demo_bank.total_points == 8
