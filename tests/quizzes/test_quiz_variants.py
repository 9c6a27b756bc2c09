"""Seeded variants: reproducible per (student, quiz), different across students."""
import hashlib
from itertools import permutations

from quizzes.variants import DigestRandom, letter, present, present_bank, seed_for


def test_seed_is_sha256_of_student_quiz_question():
    digest = hashlib.sha256(b"alice|demo|demo-single").digest()
    assert seed_for("alice", "demo", "demo-single") == int.from_bytes(digest[:8], "big")


def test_same_student_same_variant(demo_bank):
    first = present_bank(demo_bank, "alice")
    again = present_bank(demo_bank, "alice")
    assert [(p.options, p.params, p.prompt) for p in first] == [(p.options, p.params, p.prompt) for p in again]


def test_students_and_quizzes_get_different_variants(demo_bank):
    single = demo_bank.question("demo-single")
    orders = {tuple(o.text for o in present(single, f"s{i}", "demo").options) for i in range(200)}
    # 4 choices: all 24 orders should turn up among 200 students (P(miss one) < 1e-7).
    assert len(orders) == 24
    by_quiz = {tuple(o.text for o in present(single, "alice", f"quiz{i}").options) for i in range(20)}
    assert len(by_quiz) > 1


def test_params_drawn_from_declared_ranges_and_shown_in_prompt(demo_bank):
    numeric = demo_bank.question("demo-numeric")
    seen_d, seen_h = set(), set()
    for i in range(100):
        p = present(numeric, f"s{i}", "demo")
        seen_d.add(p.params["d_model"])
        seen_h.add(p.params["heads"])
        assert f"d_model = {p.params['d_model']} and {p.params['heads']} heads" in p.prompt
        d_model, heads = p.params["d_model"], p.params["heads"]
        assert p.explanation == f"{d_model} / {heads} = {d_model // heads}"
    assert seen_d == {64, 128, 256}
    assert seen_h == {2, 4, 6, 8}  # min 2, max 8, step 2, inclusive


def test_ordering_and_matching_never_shown_in_key_order(demo_bank):
    ordering = demo_bank.question("demo-ordering")
    matching = demo_bank.question("demo-matching")
    for i in range(300):
        p = present(ordering, f"s{i}", "demo")
        assert [o.text for o in p.options] != ordering.items
        assert sorted(o.text for o in p.options) == sorted(ordering.items)
        m = present(matching, f"s{i}", "demo")
        assert [o.text for o in m.options] != ["encoder-only", "decoder-only", "encoder-decoder", "state-space"]
        assert m.lefts == ("BERT", "GPT-2", "T5")  # lefts stay in written order


def test_letters_follow_display_order(demo_bank):
    p = present(demo_bank.question("demo-multiple"), "bob", "demo")
    assert [o.letter for o in p.options] == ["A", "B", "C", "D"]
    assert [letter(i) for i in (0, 25, 26, 27)] == ["A", "Z", "AA", "AB"]


def test_shuffle_false_keeps_written_order():
    from quiz_helpers import make_question

    q = make_question(
        id="t-q",
        type="single",
        shuffle=False,
        choices=[
            {"text": "one", "correct": True, "feedback": "f"},
            {"text": "two", "feedback": "f"},
            {"text": "all of the above", "feedback": "f"},
        ],
    )
    for i in range(20):
        assert [o.text for o in present(q, f"s{i}", "t").options] == ["one", "two", "all of the above"]


def test_digest_random_permutations_are_uniform_enough():
    counts = {perm: 0 for perm in permutations(range(3))}
    for i in range(6000):
        rng = DigestRandom(hashlib.sha256(str(i).encode()).digest())
        counts[tuple(rng.permutation(3))] += 1
    # Each of the 6 orders expects 1000; 5 standard deviations is about 150.
    assert all(850 < n < 1150 for n in counts.values()), counts


def test_digest_random_refills_for_long_draws():
    rng = DigestRandom(bytes(32))
    draws = [rng.below(1000) for _ in range(100)]  # 1,000 bits: needs several refills
    assert len(set(draws)) > 50
