"""Public checks for lab 2.3.4, byte-pair encoding (`pytest exercises/checks/test_bpe.py`).

Every expected value here is a small example worked out by hand (the docstrings of
``exercises/bpe.py`` walk through several of them) or a property every correct answer has
(round trips, inputs left unchanged).
"""
from __future__ import annotations

import copy

import pytest

from autograder.checking import CheckFailure, assert_equal


def assert_raises(error: type[Exception], call, *args, what: str, **kwargs) -> None:
    """Fail with a friendly message unless ``call(*args, **kwargs)`` raises ``error``."""
    try:
        call(*args, **kwargs)
    except error:
        return
    except Exception as exc:  # noqa: BLE001 - any other exception is the wrong answer
        got = f"{type(exc).__name__}({exc})"
        raise CheckFailure(f"{what}: got {got}, expected {error.__name__}") from None
    raise CheckFailure(f"{what}: got no error, expected {error.__name__}")


# --- pretokenize ---------------------------------------------------------------------------------


@pytest.mark.function("bpe.pretokenize")
@pytest.mark.parametrize(
    "text, words",
    [
        ("Hello, world!!", ["Hello", ",", "world", "!!"]),
        ("don't stop...now", ["don", "'", "t", "stop", "...", "now"]),
        ("naïve café, 東京 🙂🙂 snake_case 42",
         ["naïve", "café", ",", "東京", "🙂🙂", "snake_case", "42"]),
        ("  spaces\tand\nnewlines  ", ["spaces", "and", "newlines"]),
        ("", []),
    ],
    ids=["punctuation", "apostrophe", "non-ASCII", "whitespace", "empty"],
)
def test_pretokenize_examples(impl, text, words):
    assert_equal(impl.bpe.pretokenize(text), words, name=f"pretokenize({text!r})")


# --- get_pair_counts -----------------------------------------------------------------------------


@pytest.mark.function("bpe.get_pair_counts")
def test_get_pair_counts_weights_by_frequency(impl):
    words = {("l", "o", "w"): 2, ("l", "o"): 1}
    before = copy.deepcopy(words)
    got = impl.bpe.get_pair_counts(words)
    assert_equal(got, {("l", "o"): 3, ("o", "w"): 2}, name="get_pair_counts({low: 2, lo: 1})")
    assert_equal(words, before, name="words after get_pair_counts (inputs must not be modified)")


@pytest.mark.function("bpe.get_pair_counts")
def test_get_pair_counts_counts_every_position(impl):
    """'aaa' holds ('a', 'a') at positions 0 and 1; single-symbol words hold no pair."""
    got = impl.bpe.get_pair_counts({("a", "a", "a"): 5, ("b",): 7, ("ab", "a"): 1})
    expected = {("a", "a"): 10, ("ab", "a"): 1}
    assert_equal(got, expected, name="get_pair_counts({aaa: 5, b: 7, ab a: 1})")


# --- merge_pair ----------------------------------------------------------------------------------


@pytest.mark.function("bpe.merge_pair")
@pytest.mark.parametrize(
    "symbols, pair, expected",
    [
        (("l", "o", "w"), ("o", "w"), ("l", "ow")),
        (("a", "b", "a", "b", "c"), ("a", "b"), ("ab", "ab", "c")),
        (("a", "a", "a"), ("a", "a"), ("aa", "a")),
        (("a", "a", "a", "a", "a"), ("a", "a"), ("aa", "aa", "a")),
        (("x", "a", "a", "a", "b"), ("a", "a"), ("x", "aa", "a", "b")),
        (("a", "b"), ("b", "a"), ("a", "b")),
    ],
    ids=["end", "twice", "aaa", "aaaaa", "inside", "absent"],
)
def test_merge_pair_examples(impl, symbols, pair, expected):
    got = impl.bpe.merge_pair(symbols, pair)
    assert_equal(got, expected, name=f"merge_pair({symbols}, {pair})")


# --- train_bpe -----------------------------------------------------------------------------------


@pytest.mark.function("bpe.train_bpe")
def test_train_bpe_small_example(impl):
    """('a','b') occurs twice, ('c','d') once; the alphabet a, b, c, d takes ids 0..3."""
    got = impl.bpe.train_bpe(["ab ab cd"], 6)
    expected = ({"a": 0, "b": 1, "c": 2, "d": 3, "ab": 4, "cd": 5}, [("a", "b"), ("c", "d")])
    assert_equal(got, expected, name="train_bpe(['ab ab cd'], 6)")


@pytest.mark.function("bpe.train_bpe")
def test_train_bpe_ties_go_to_smallest_ids(impl):
    """('z','y') and ('a','b') both occur twice; ('z','y') is seen first in the text, but
    ('a','b') has the smaller ids (a = 0, b = 1 vs z = 3, y = 2), so it is merged first."""
    vocab, merges = impl.bpe.train_bpe(["zy zy ab ab"], 6)
    assert_equal(merges, [("a", "b"), ("z", "y")], name="merges of train_bpe(['zy zy ab ab'], 6)")
    assert_equal(vocab, {"a": 0, "b": 1, "y": 2, "z": 3, "ab": 4, "zy": 5},
                 name="vocab of train_bpe(['zy zy ab ab'], 6)")


@pytest.mark.function("bpe.train_bpe")
def test_train_bpe_counts_overlapping_pairs(impl):
    """'aaaa' holds ('a','a') 3 times: merge it ('aa','aa'), then ('aa','aa') -> 'aaaa'."""
    got = impl.bpe.train_bpe(["aaaa"], 10)
    expected = ({"a": 0, "aa": 1, "aaaa": 2}, [("a", "a"), ("aa", "aa")])
    assert_equal(got, expected, name="train_bpe(['aaaa'], 10)")


@pytest.mark.function("bpe.train_bpe")
def test_train_bpe_special_tokens_come_first(impl):
    vocab, merges = impl.bpe.train_bpe(["ab ab cd"], 7, special_tokens=["[UNK]", "[PAD]"])
    assert_equal(vocab, {"[UNK]": 0, "[PAD]": 1, "a": 2, "b": 3, "c": 4, "d": 5, "ab": 6},
                 name="vocab of train_bpe(['ab ab cd'], 7, special_tokens=['[UNK]', '[PAD]'])")
    assert_equal(merges, [("a", "b")], name="merges")


@pytest.mark.function("bpe.train_bpe")
def test_train_bpe_keeps_whole_alphabet(impl):
    """vocab_size 2 is smaller than the alphabet {e, h, l, o}: keep it all, merge nothing."""
    got = impl.bpe.train_bpe(["hello"], 2)
    assert_equal(got, ({"e": 0, "h": 1, "l": 2, "o": 3}, []), name="train_bpe(['hello'], 2)")


@pytest.mark.function("bpe.train_bpe")
def test_train_bpe_min_frequency(impl):
    """After ('a','b') (count 2) the best pair ('c','d') has count 1 < 2: training stops."""
    got = impl.bpe.train_bpe(["ab ab cd"], 10, min_frequency=2)
    expected = ({"a": 0, "b": 1, "c": 2, "d": 3, "ab": 4}, [("a", "b")])
    assert_equal(got, expected, name="train_bpe(['ab ab cd'], 10, min_frequency=2)")


@pytest.mark.function("bpe.train_bpe")
def test_train_bpe_stops_when_words_are_whole(impl):
    """Merges never cross words: 'ab' and 'c' cannot join, so one merge is all there is."""
    got = impl.bpe.train_bpe(["ab, c", "c ab"], 100)
    expected = ({",": 0, "a": 1, "b": 2, "c": 3, "ab": 4}, [("a", "b")])
    assert_equal(got, expected, name="train_bpe(['ab, c', 'c ab'], 100)")


# --- apply_merges --------------------------------------------------------------------------------


@pytest.mark.function("bpe.apply_merges")
@pytest.mark.parametrize(
    "word, merges, expected",
    [
        ("abc", [("b", "c"), ("a", "b")], ["a", "bc"]),
        ("abc", [("a", "b"), ("b", "c")], ["ab", "c"]),
        ("abcd", [("c", "d"), ("b", "c"), ("a", "b"), ("ab", "cd")], ["abcd"]),
        ("lower", [("e", "r"), ("l", "o"), ("lo", "w"), ("low", "er")], ["lower"]),
        ("lowest", [("e", "r"), ("l", "o"), ("lo", "w")], ["low", "e", "s", "t"]),
        ("aaa", [("a", "a")], ["aa", "a"]),
        ("xyz", [("a", "b")], ["x", "y", "z"]),
        ("", [("a", "b")], []),
    ],
    ids=["rank-first", "rank-first-2", "chain", "lower", "lowest", "aaa", "no-merge", "empty"],
)
def test_apply_merges_examples(impl, word, merges, expected):
    got = impl.bpe.apply_merges(word, merges)
    assert_equal(got, expected, name=f"apply_merges({word!r}, {merges})")


# --- encode --------------------------------------------------------------------------------------

def encode_explaining_keyerror(impl, text, vocab, merges, **kwargs):
    """impl.bpe.encode, with a KeyError turned into feedback that says what to do instead."""
    try:
        return impl.bpe.encode(text, vocab, merges, **kwargs)
    except KeyError as exc:
        raise CheckFailure(
            f"encode({text!r}): got KeyError({exc}), expected a list of ids: map every symbol "
            "that is not in vocab to the id of unk_token"
        ) from None


VOCAB = {"[UNK]": 0, "a": 1, "b": 2, "c": 3, "!": 4, "ab": 5, "abc": 6}
MERGES = [("a", "b"), ("ab", "c")]


@pytest.mark.function("bpe.encode")
def test_encode_known_text(impl):
    got = impl.bpe.encode("abc ab! cab", VOCAB, MERGES)
    assert_equal(got, [6, 5, 4, 3, 5], name="encode('abc ab! cab')")


@pytest.mark.function("bpe.encode")
def test_encode_unknown_characters_map_to_unk(impl):
    """'x' and 'é' never occurred in training: each becomes [UNK] (id 0), no KeyError."""
    got = encode_explaining_keyerror(impl, "abx éc", VOCAB, MERGES)
    assert_equal(got, [5, 0, 0, 3], name="encode('abx éc')")


@pytest.mark.function("bpe.encode")
def test_encode_custom_unk_token(impl):
    vocab = {"<unk>": 7, "a": 0, "b": 1}
    got = encode_explaining_keyerror(impl, "ab z", vocab, [], unk_token="<unk>")
    assert_equal(got, [0, 1, 7], name="encode('ab z', unk_token='<unk>')")


@pytest.mark.function("bpe.encode")
def test_encode_special_token_text_is_plain_text(impl):
    """'[UNK]' inside the text is not the special token: '[' and ']' are unknown, 'UNK' too."""
    vocab = {"[UNK]": 0, "U": 1, "N": 2, "K": 3, "UN": 4}
    got = encode_explaining_keyerror(impl, "[UNK]", vocab, [("U", "N")])
    assert_equal(got, [0, 4, 3, 0], name="encode('[UNK]')")


@pytest.mark.function("bpe.encode")
def test_encode_missing_unk_token_raises(impl):
    vocab = {"a": 0, "b": 1}
    assert_raises(ValueError, impl.bpe.encode, "ab x", vocab, [],
                  what="encode with no '[UNK]' in vocab")


# --- byte-level BPE ------------------------------------------------------------------------------

# train_byte_bpe("aaabdaaabac", 3), worked out in the docstring of exercises/bpe.py
AAAB_MERGES = {(97, 97): 256, (256, 97): 257, (257, 98): 258}


@pytest.mark.function("bpe.train_byte_bpe")
def test_train_byte_bpe_example(impl):
    got = impl.bpe.train_byte_bpe("aaabdaaabac", 3)
    assert_equal(got, AAAB_MERGES, name="train_byte_bpe('aaabdaaabac', 3)")


@pytest.mark.function("bpe.train_byte_bpe")
def test_train_byte_bpe_works_on_utf8_bytes(impl):
    """'é' is the two bytes 0xC3 0xA9: 'éé' -> merge (195, 169), then (256, 256)."""
    got = impl.bpe.train_byte_bpe("éé", 5)
    assert_equal(got, {(195, 169): 256, (256, 256): 257}, name="train_byte_bpe('éé', 5)")


@pytest.mark.function("bpe.train_byte_bpe")
def test_train_byte_bpe_zero_merges(impl):
    assert_equal(impl.bpe.train_byte_bpe("hello", 0), {}, name="train_byte_bpe('hello', 0)")


@pytest.mark.function("bpe.encode_bytes")
@pytest.mark.parametrize(
    "text, ids",
    [
        ("aaab aa", [258, 32, 256]),
        ("aaaa", [256, 256]),
        ("aaa", [257]),
        ("ba", [98, 97]),
        ("é", [195, 169]),
        ("", []),
    ],
    ids=["aaab aa", "aaaa", "aaa", "ba", "e-acute", "empty"],
)
def test_encode_bytes_examples(impl, text, ids):
    got = impl.bpe.encode_bytes(text, AAAB_MERGES)
    assert_equal(got, ids, name=f"encode_bytes({text!r})")


@pytest.mark.function("bpe.encode_bytes")
def test_encode_bytes_lowest_new_id_first(impl):
    """(98, 99) -> 256 is older than (97, 98) -> 257, so 'abc' becomes [a, 256], not [257, c]."""
    merges = {(98, 99): 256, (97, 98): 257}
    assert_equal(impl.bpe.encode_bytes("abc", merges), [97, 256], name="encode_bytes('abc')")


@pytest.mark.function("bpe.decode_bytes")
def test_decode_bytes_example(impl):
    got = impl.bpe.decode_bytes([258, 32, 256], AAAB_MERGES)
    assert_equal(got, "aaab aa", name="decode_bytes([258, 32, 256])")


@pytest.mark.function("bpe.decode_bytes")
@pytest.mark.parametrize(
    "text",
    ["aaabdaaabac", "Grüße aus Köln", "東京 🙂🚀!", "tabs\tand\nnewlines", ""],
    ids=["ascii", "accents", "cjk-emoji", "whitespace", "empty"],
)
def test_decode_bytes_round_trip(impl, text):
    merges = impl.bpe.train_byte_bpe("aaabdaaabac Grüße 東京 🙂🙂🙂 aaab", 12)
    ids = impl.bpe.encode_bytes(text, merges)
    got = impl.bpe.decode_bytes(ids, merges)
    assert_equal(got, text, name=f"decode_bytes(encode_bytes({text!r}))")


@pytest.mark.function("bpe.decode_bytes")
def test_decode_bytes_cut_character_is_replaced(impl):
    """The euro sign is the bytes E2 82 AC: a cut after two bytes decodes to one U+FFFD."""
    got = impl.bpe.decode_bytes([0xE2, 0x82], {})
    assert_equal(got, "\ufffd", name="decode_bytes([0xE2, 0x82])")
    got = impl.bpe.decode_bytes([104, 0xE2, 105], {})
    assert_equal(got, "h\ufffdi", name="decode_bytes([104, 0xE2, 105])")


@pytest.mark.function("bpe.decode_bytes")
def test_decode_bytes_unknown_id_raises(impl):
    assert_raises(ValueError, impl.bpe.decode_bytes, [97, 300], AAAB_MERGES,
                  what="decode_bytes with id 300 (only 0..258 exist)")
