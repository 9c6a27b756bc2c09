"""The cue audit (quizzes/cue_audit.py), the ordering presentation and the tick-all rule.

Expected figures are worked by hand from the small banks written here; the last tests run the
audit on every shipped bank.
"""
from __future__ import annotations

import itertools

import pytest
from click.testing import CliRunner
from quiz_helpers import make_question

from quizzes.cli import main
from quizzes.cue_audit import audit_bank, audit_banks, content_words, ordering_chance, page_leaks
from quizzes.loader import DEFAULT_BANKS, load_banks
from quizzes.scoring import score_presented
from quizzes.variants import _block_order, longest_increasing, monotone_bound, present, present_bank

HEAD = """
topic: {topic}
title: {title}
description: A bank written for the cue audit tests.
questions:
"""

LONGEST_KEY = """
  - id: cues-q{n}
    type: single
    source: "FAQ.md#Q?"
    prompt: Pick one for case {n}.
    explanation: Only the key is right.
    choices:
      - {{text: "the right answer, which is by far the longest option of all", correct: true, feedback: "Yes."}}
      - {{text: "short one", feedback: "No."}}
      - {{text: "short two", feedback: "No."}}
"""


def _bank(write_bank, body: str, topic: str = "cues", title: str = "Cue tests"):
    path = write_bank(topic, HEAD.format(topic=topic, title=title) + body)
    return load_banks(path.parent)[topic]


def test_longest_option_strategy_is_caught(write_bank):
    # Four questions whose key is always the longest of three options: the strategy scores
    # 4/4 = 1.0 against a chance of 1/3, far above 1/3 + max(0.10, 1/4).
    bank = _bank(write_bank, "".join(LONGEST_KEY.format(n=n) for n in range(4)))
    audit = audit_bank(bank, students=6)
    figure = audit.figures["longest"]
    assert figure.score == pytest.approx(1.0)
    assert figure.chance == pytest.approx(1 / 3)
    assert figure.bound == pytest.approx(1 / 3 + 0.25)
    assert not figure.ok and not audit.ok
    assert any("longest option" in line for line in audit.problems)
    # "first option shown" follows the shuffle: over many students it stays near 1/3.
    assert audit_bank(bank, students=60).figures["first"].ok


def test_prompt_word_overlap_strategy_is_caught(write_bank):
    body = """
  - id: cues-overlap
    type: single
    source: "FAQ.md#Q?"
    prompt: Which layer normalises each token over its features?
    explanation: LayerNorm works per token.
    choices:
      - {text: "LayerNorm normalises each token over its features", correct: true, feedback: "Yes."}
      - {text: "BatchNorm averages across the batch dimension instead", feedback: "No."}
      - {text: "Dropout zeroes random activations during training runs", feedback: "No."}
"""
    audit = audit_bank(_bank(write_bank, body), students=4)
    # key shares normalise, token, feature with the prompt; the others share nothing.
    assert audit.figures["overlap"].score == pytest.approx(1.0)
    assert audit.figures["underlap"].score == 0.0  # "fewest shared words" picks a distractor
    # longest: the third option (54 characters) beats the key (49): the strategy scores 0.
    assert audit.figures["longest"].score == 0.0


def test_content_words_by_hand():
    assert content_words("The Heads of a model") == {"head", "model"}
    assert content_words("width k, O(n/k)") == {"width", "k", "o", "n"}


def test_tick_all_earns_zero_only_with_enough_wrong_options(write_bank):
    body = """
  - id: cues-three-of-five
    type: multiple
    scheme: net_correct
    source: "FAQ.md#Q?"
    prompt: Pick the true ones.
    explanation: Three are true.
    choices:
      - {text: "t1", correct: true, feedback: "Yes."}
      - {text: "t2", correct: true, feedback: "Yes."}
      - {text: "t3", correct: true, feedback: "Yes."}
      - {text: "f1", feedback: "No."}
      - {text: "f2", feedback: "No."}
  - id: cues-two-of-four
    type: multiple
    scheme: net_correct
    source: "FAQ.md#Q?"
    prompt: Pick the true ones again.
    explanation: Two are true.
    choices:
      - {text: "t1", correct: true, feedback: "Yes."}
      - {text: "t2", correct: true, feedback: "Yes."}
      - {text: "f1", feedback: "No."}
      - {text: "f2", feedback: "No."}
"""
    audit = audit_bank(_bank(write_bank, body), students=3)
    # net_correct = max(0, (cp - wp) / C): 3 of 5 ticked all -> (3 - 2) / 3; 2 of 4 -> (2 - 2) / 2 = 0.
    assert audit.per_question["tick_all"]["cues-three-of-five"][0] == pytest.approx(1 / 3)
    assert audit.per_question["tick_all"]["cues-two-of-four"][0] == 0.0
    assert audit.figures["tick_all"].bound == 0.0
    assert [line.split(":")[0] for line in audit.problems if "ticking" in line] == ["cues-three-of-five"]


def test_answer_in_header_or_other_prompt_is_a_leak(write_bank):
    body = """
  - id: cues-name
    type: single
    source: "FAQ.md#Q?"
    prompt: Which bias adds a linear distance penalty to the scores?
    explanation: ALiBi.
    choices:
      - {text: "ALiBi", correct: true, feedback: "Yes."}
      - {text: "RoPE", feedback: "No."}
  - id: cues-other
    type: text
    source: "FAQ.md#Q?"
    prompt: ALiBi slopes form a geometric sequence; what does a rotary embedding rotate?
    explanation: Queries and keys.
    accept: ["queries and keys"]
"""
    bank = _bank(write_bank, body, title="Position tricks")
    leaks = page_leaks(bank, present_bank(bank, "s"))
    assert leaks == ["cues-name: answer 'ALiBi' appears in the prompt of cues-other"]
    # The same word inside a longer word is no leak; the header counts as part of the page.
    bank2 = _bank(write_bank, body.replace("ALiBi slopes", "ALiBish slopes"), title="ALiBi and friends")
    assert page_leaks(bank2, present_bank(bank2, "s")) == ["cues-name: answer 'ALiBi' appears in the quiz header"]
    # A page naming a wrong option (RoPE) too does not say which one is the key.
    bank3 = _bank(write_bank, body, title="RoPE and friends")
    assert page_leaks(bank3, present_bank(bank3, "s")) == []
    # A text answer is given away wherever it appears.
    bank4 = _bank(write_bank, body, title="Rotating queries and keys")
    leaks4 = page_leaks(bank4, present_bank(bank4, "s"))
    assert "cues-other: answer 'queries and keys' appears in the quiz header" in leaks4


def test_matching_by_repeated_words_is_caught(write_bank):
    body = """
  - id: cues-echo
    type: matching
    source: "FAQ.md#Q?"
    prompt: Match each mask to its use.
    explanation: The words give it away here.
    pairs:
      - {left: "Padding mask", right: "hides padding tokens"}
      - {left: "Causal mask", right: "causal decoding"}
      - {left: "Window mask", right: "a local window"}
"""
    audit = audit_bank(_bank(write_bank, body), students=5)
    # every left shares a word with its own right only: 3/3 pairs, chance 1/3 per pair.
    assert audit.per_question["word_match"]["cues-echo"] == (pytest.approx(1.0), pytest.approx(1 / 3))
    assert any(line.startswith("cues-echo: pairing repeated words") for line in audit.problems)


def test_ordering_chance_by_enumeration():
    # n = 3: LIS over the six orders is 3, 2, 2, 2, 2, 1 -> 12 / 18.
    assert ordering_chance(3) == pytest.approx(2 / 3)
    # n = 4: LIS counts 1: 1, 2: 13, 3: 9, 4: 1 -> (1 + 26 + 27 + 4) / 96.
    assert ordering_chance(4) == pytest.approx(58 / 96)


def test_monotone_bound_and_block_order_by_hand():
    assert [monotone_bound(n) for n in range(2, 11)] == [2, 2, 2, 3, 3, 3, 3, 3, 4]
    assert _block_order(5, 3) == [3, 4, 0, 1, 2]
    assert _block_order(7, 3) == [6, 3, 4, 5, 0, 1, 2]
    assert longest_increasing([3, 4, 0, 1, 2]) == 3
    assert longest_increasing([2, 1, 0]) == 1


def test_orderings_are_shown_far_from_the_key_both_ways():
    for n in range(3, 8):
        items = [f"step {i}" for i in range(n)]
        q = make_question(id=f"t-order-{n}", type="ordering", items=items)
        shown = set()
        for s in range(150):
            p = present(q, f"student{s}", "t")
            order = tuple(o.index for o in p.options)
            shown.add(order)
            letters = [o.letter for o in p.options]
            # Submitting the shown order or its reverse earns at most ceil(sqrt(n)) / n.
            assert score_presented(p, letters).fraction <= monotone_bound(n) / n + 1e-6
            assert score_presented(p, letters[::-1]).fraction <= monotone_bound(n) / n + 1e-6
        if n == 4:
            # By hand, the orders of 4 with no run of 3 either way: 1032, 1302, 2031, 2301.
            assert shown == {(1, 0, 3, 2), (1, 3, 0, 2), (2, 0, 3, 1), (2, 3, 0, 1)}
        assert len(shown) > 3  # still a spread of orders, not one fixed pattern


def test_two_item_ordering_is_swapped():
    q = make_question(id="t-order-2", type="ordering", items=["a", "b"])
    assert [o.text for o in present(q, "x", "t").options] == ["b", "a"]


SECOND_LONGEST_KEY = """
  - id: cues-r{n}
    type: single
    source: "FAQ.md#Q?"
    prompt: Pick one for case {n}.
    explanation: Only the key is right.
    choices:
      - {{text: "a distractor made much longer than the key on purpose", feedback: "No."}}
      - {{text: "the key, second longest", correct: true, feedback: "Yes."}}
      - {{text: "short one", feedback: "No."}}
      - {{text: "tiny", feedback: "No."}}
"""


def test_key_moved_to_another_length_rank_is_caught(write_bank):
    # Lengthening one distractor past the key only moves the cue: with the key second longest
    # in all four questions, "2nd longest" scores 4/4 and the other ranks 0 (chance 1/4).
    bank = _bank(write_bank, "".join(SECOND_LONGEST_KEY.format(n=n) for n in range(4)))
    figures = audit_bank(bank, students=5).figures
    scores = {name: figures[name].score for name in ("longest", "second_longest", "second_shortest", "shortest")}
    assert scores == {"longest": 0.0, "second_longest": 1.0, "second_shortest": 0.0, "shortest": 0.0}
    assert not figures["second_longest"].ok and figures["longest"].ok


@pytest.fixture(scope="module")
def shipped_audit():
    return audit_banks(load_banks(DEFAULT_BANKS))


@pytest.mark.parametrize("topic", sorted(p.stem for p in DEFAULT_BANKS.glob("*.yaml")))
def test_shipped_bank_has_no_cues(shipped_audit, topic):
    audits, _ = shipped_audit
    audit = next(a for a in audits if a.topic == topic)
    assert audit.problems == []


def test_shipped_banks_pooled_at_chance(shipped_audit):
    _, overall = shipped_audit
    assert {name: f.ok for name, f in overall.items()} == dict.fromkeys(overall, True)


def test_tick_all_scores_zero_on_every_shipped_multiple_select():
    # Straight from the scorer, without the audit: right ticks minus wrong ticks, floored at 0.
    multiples = [(b.topic, q) for b in load_banks(DEFAULT_BANKS).values() for q in b.questions
                 if q.type == "multiple"]
    assert len(multiples) == 14
    for topic, q in multiples:
        for student in ("ann", "bo", "cy"):
            p = present(q, student, topic)
            assert score_presented(p, [o.letter for o in p.options]).score == 0.0, q.id
            key = [o.letter for o in p.options if q.choices[o.index].correct]
            assert score_presented(p, key).fraction == 1.0, q.id


def test_quiz_audit_command(write_bank):
    path = write_bank("cues", HEAD.format(topic="cues", title="Cue tests")
                      + "".join(LONGEST_KEY.format(n=n) for n in range(4)))
    result = CliRunner().invoke(main, ["--banks", str(path.parent), "audit", "--students", "4"])
    assert result.exit_code == 2
    assert "longest option" in result.output and "cues" in result.output
    assert "Traceback" not in result.output
    clean = CliRunner().invoke(main, ["audit", "masking", "--students", "8"])  # a shipped bank
    assert clean.exit_code == 0, clean.output
    assert "masking" in clean.output and "shortest option" in clean.output and "no cues found" in clean.output
    unknown = CliRunner().invoke(main, ["--banks", str(path.parent), "audit", "nope"])
    assert unknown.exit_code == 2 and "unknown topic 'nope'" in unknown.output


def test_every_permutation_check_is_honest():
    # The hand set of n = 4 above, recomputed from the definition by brute force.
    far = {p for p in itertools.permutations(range(4))
           if longest_increasing(list(p)) <= 2 and longest_increasing(list(p)[::-1]) <= 2}
    assert far == {(1, 0, 3, 2), (1, 3, 0, 2), (2, 0, 3, 1), (2, 3, 0, 1)}
