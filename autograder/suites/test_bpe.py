"""Hidden suite for lab 2.3.4, byte-pair encoding (instructor only).

Random texts are drawn from ``rng`` (fresh every run) over small alphabets, so pair counts tie
often and the tie-break rules are exercised; fixed cases expose every known mistake on every
run. All comparisons are exact (vocab, merges, ids, strings).
"""
from __future__ import annotations

import copy

import pytest
import torch

from autograder.checking import assert_equal
from autograder.inputs import draw

# Characters the random texts are made of. No combining marks, zero-width joiners, variation
# selectors or superscripts: there Python's \w and the Rust regex of `tokenizers` disagree.
LETTERS = "abcdeéz東京ñ"
OTHERS = ",.!?-'🙂🚀€"
SPACES = "  \t\n"

PARAGRAPHS = [
    "The lighthouse keeper counted the ships every evening; fewer ships came each winter.",
    "Lower, lowest, newer, newest, wider, widest: the endings repeat, so BPE learns them.",
    "Le boulanger a préparé des croissants très dorés, et la crème brûlée était délicieuse.",
    "東京の朝は早い。電車は人でいっぱいです。 Rockets 🚀🚀 at dawn, cheers 🎉🎉🎉!",
    "aaaa aaa aa a bbbb abab baba abba -- snake_case_names and CamelCaseNames under_scores__",
]


def random_text(rng: torch.Generator, length: int, letters: str = LETTERS) -> str:
    """Mostly letters from `letters`, some punctuation/emoji and whitespace."""
    pool = letters * 4 + OTHERS + SPACES * 3
    picks = torch.randint(0, len(pool), (length,), generator=rng).tolist()
    return "".join(pool[i] for i in picks)


def random_letters(rng: torch.Generator, letters: str) -> str:
    """A random sub-alphabet of 2 to 5 letters: small alphabets make ties frequent."""
    order = torch.randperm(len(letters), generator=rng).tolist()
    return "".join(letters[i] for i in order[: draw(rng, 2, 5)])


# --- pretokenize -----------------------------------------------------------------------------


@pytest.mark.function("bpe.pretokenize")
@pytest.mark.parametrize("text_index", range(len(PARAGRAPHS)))
def test_pretokenize_paragraphs(judge, text_index):
    judge.compare("bpe.pretokenize", PARAGRAPHS[text_index])


@pytest.mark.function("bpe.pretokenize")
def test_pretokenize_random_text(judge, rng):
    judge.compare("bpe.pretokenize", random_text(rng, draw(rng, 0, 200)))


@pytest.mark.function("bpe.pretokenize")
def test_pretokenize_empty_and_blank(judge):
    judge.compare("bpe.pretokenize", "")
    judge.compare("bpe.pretokenize", " \t\n ")


# --- get_pair_counts -------------------------------------------------------------------------


@pytest.mark.function("bpe.get_pair_counts")
def test_get_pair_counts_fixed(judge):
    words = {("a", "a", "a"): 3, ("l", "o", "w"): 2, ("lo", "w"): 5, ("x",): 9}
    judge.compare("bpe.get_pair_counts", words)


@pytest.mark.function("bpe.get_pair_counts")
def test_get_pair_counts_random(judge, rng):
    symbols = ["a", "b", "ab", "ba", "é", "東"]
    words = {}
    for _ in range(draw(rng, 1, 30)):
        picks = torch.randint(0, len(symbols), (draw(rng, 1, 8),), generator=rng).tolist()
        words[tuple(symbols[i] for i in picks)] = draw(rng, 1, 50)
    judge.compare("bpe.get_pair_counts", words)


@pytest.mark.function("bpe.get_pair_counts")
def test_get_pair_counts_leaves_input_unchanged(impl):
    words = {("a", "b", "a", "b"): 2, ("b", "a"): 1}
    before = copy.deepcopy(words)
    impl.bpe.get_pair_counts(words)
    assert_equal(words, before, name="words after get_pair_counts (inputs must not be modified)")


# --- merge_pair ------------------------------------------------------------------------------


@pytest.mark.function("bpe.merge_pair")
@pytest.mark.parametrize(
    "symbols, pair",
    [
        (("a", "a", "a"), ("a", "a")),
        (("b", "a", "a", "a", "a", "a", "c"), ("a", "a")),
        (("l", "o", "w", "l", "o", "w"), ("o", "w")),
        (("ab", "c", "a", "bc"), ("ab", "c")),
        (("a", "b"), ("b", "a")),
    ],
    ids=["aaa", "run-of-five", "twice", "symbols", "absent"],
)
def test_merge_pair_fixed(judge, symbols, pair):
    judge.compare("bpe.merge_pair", symbols, pair)


@pytest.mark.function("bpe.merge_pair")
@pytest.mark.parametrize("draw_index", range(3))
def test_merge_pair_random(judge, rng, draw_index):
    symbols = ["a", "b", "ab"]
    picks = torch.randint(0, len(symbols), (draw(rng, 0, 20),), generator=rng).tolist()
    word = tuple(symbols[i] for i in picks)
    pair = (symbols[draw(rng, 0, 2)], symbols[draw(rng, 0, 2)])
    judge.compare("bpe.merge_pair", word, pair)


# --- train_bpe -------------------------------------------------------------------------------


@pytest.mark.function("bpe.train_bpe")
def test_train_bpe_ties_by_ids(judge):
    """('z','y') occurs first in the text, ('a','b') has the smaller ids: ids win."""
    judge.compare("bpe.train_bpe", ["zy zy ab ab", "yz"], 8)


@pytest.mark.function("bpe.train_bpe")
@pytest.mark.parametrize(
    "vocab_size, special_tokens, min_frequency",
    [
        (200, ["[UNK]", "[CLS]", "[SEP]"], 0),
        (90, [], 0),
        (10, ["[PAD]"], 0),
        (300, ["<s>", "é"], 2),
    ],
    ids=["bert-specials", "plain", "below-alphabet", "min-frequency"],
)
def test_train_bpe_paragraphs(judge, vocab_size, special_tokens, min_frequency):
    judge.compare("bpe.train_bpe", PARAGRAPHS, vocab_size, special_tokens=special_tokens,
                  min_frequency=min_frequency)


@pytest.mark.function("bpe.train_bpe")
@pytest.mark.parametrize("draw_index", range(4))
def test_train_bpe_random_corpus(judge, rng, draw_index):
    letters = random_letters(rng, LETTERS)
    texts = [random_text(rng, draw(rng, 5, 120), letters) for _ in range(draw(rng, 1, 4))]
    specials = [[], ["[UNK]"], ["[UNK]", "[PAD]"]][draw(rng, 0, 2)]
    judge.compare("bpe.train_bpe", texts, draw(rng, 5, 60), special_tokens=specials,
                  min_frequency=draw(rng, 0, 3))


@pytest.mark.function("bpe.train_bpe")
def test_train_bpe_leaves_input_unchanged(impl):
    texts, specials = ["ab ab cd", "cd"], ["[UNK]"]
    impl.bpe.train_bpe(texts, 8, special_tokens=specials)
    assert_equal(texts, ["ab ab cd", "cd"], name="texts after train_bpe")
    assert_equal(specials, ["[UNK]"], name="special_tokens after train_bpe")


# --- apply_merges and encode -----------------------------------------------------------------


@pytest.mark.function("bpe.apply_merges")
@pytest.mark.parametrize(
    "word, merges",
    [
        ("abc", [("b", "c"), ("a", "b")]),
        ("abcabc", [("c", "a"), ("b", "c"), ("a", "b"), ("ab", "ca")]),
        ("lowest", [("e", "s"), ("es", "t"), ("l", "o"), ("lo", "w"), ("w", "e")]),
        ("aaaaa", [("a", "a"), ("aa", "a")]),
        ("", [("a", "b")]),
    ],
    ids=["rank-first", "rank-first-twice", "lowest", "aaaaa", "empty"],
)
def test_apply_merges_fixed(judge, word, merges):
    judge.compare("bpe.apply_merges", word, merges)


@pytest.mark.function("bpe.apply_merges")
def test_apply_merges_trained_merges(judge, ref, rng):
    """Merges learned on a random corpus (by the reference: they are only inputs here), applied
    to its words and to unseen ones."""
    letters = random_letters(rng, LETTERS)
    corpus = [random_text(rng, 150, letters)]
    _, merges = ref.bpe.train_bpe(corpus, 60)
    words = ref.bpe.pretokenize(corpus[0])[:8] + ref.bpe.pretokenize(random_text(rng, 40))[:4]
    for word in words:
        judge.compare("bpe.apply_merges", word, merges)


@pytest.fixture
def paragraph_model(ref):
    """Vocab and merges trained on the paragraphs (inputs for encode)."""
    return ref.bpe.train_bpe(PARAGRAPHS, 250, special_tokens=["[UNK]", "[PAD]"])


@pytest.mark.function("bpe.encode")
def test_encode_unknown_characters(judge, paragraph_model):
    vocab, merges = paragraph_model
    judge.compare("bpe.encode", "Quixotic wizards: Żółć and 🦀 are new!", vocab, merges)


@pytest.mark.function("bpe.encode")
def test_encode_known_paragraph(judge, paragraph_model):
    vocab, merges = paragraph_model
    judge.compare("bpe.encode", PARAGRAPHS[1] + " [UNK] [PAD]", vocab, merges)


@pytest.mark.function("bpe.encode")
def test_encode_random_text(judge, paragraph_model, rng):
    vocab, merges = paragraph_model
    judge.compare("bpe.encode", random_text(rng, draw(rng, 0, 120)), vocab, merges)


@pytest.mark.function("bpe.encode")
def test_encode_custom_unk_token(judge, ref):
    vocab, merges = ref.bpe.train_bpe(PARAGRAPHS[:2], 100, special_tokens=["<pad>", "<unk>"])
    judge.compare("bpe.encode", "Crème brûlée für 東京", vocab, merges, unk_token="<unk>")


@pytest.mark.function("bpe.encode")
def test_encode_missing_unk_token_raises(judge, ref):
    vocab, merges = ref.bpe.train_bpe(PARAGRAPHS[:1], 60)
    judge.raises("bpe.encode", ValueError, "The keeper 🦀", vocab, merges)


# --- byte-level BPE --------------------------------------------------------------------------

BYTE_TRAINING = "\n".join(PARAGRAPHS)


@pytest.mark.function("bpe.train_byte_bpe")
@pytest.mark.parametrize(
    "text, num_merges",
    [("aaabdaaabac", 3), ("abab abab", 10), (BYTE_TRAINING, 120), ("", 5), ("x", 5), ("hello", 0)],
    ids=["wikipedia", "stops-early", "paragraphs", "empty", "one-byte", "zero-merges"],
)
def test_train_byte_bpe_fixed(judge, text, num_merges):
    judge.compare("bpe.train_byte_bpe", text, num_merges)


@pytest.mark.function("bpe.train_byte_bpe")
@pytest.mark.parametrize("draw_index", range(3))
def test_train_byte_bpe_random(judge, rng, draw_index):
    letters = random_letters(rng, LETTERS)
    text = random_text(rng, draw(rng, 20, 300), letters)
    judge.compare("bpe.train_byte_bpe", text, draw(rng, 1, 40))


@pytest.fixture
def byte_merges(ref):
    return ref.bpe.train_byte_bpe(BYTE_TRAINING, 150)


@pytest.mark.function("bpe.encode_bytes")
@pytest.mark.parametrize("text_index", range(len(PARAGRAPHS)))
def test_encode_bytes_paragraphs(judge, byte_merges, text_index):
    judge.compare("bpe.encode_bytes", PARAGRAPHS[text_index], byte_merges)


@pytest.mark.function("bpe.encode_bytes")
def test_encode_bytes_random_text(judge, byte_merges, rng):
    judge.compare("bpe.encode_bytes", random_text(rng, draw(rng, 0, 150)), byte_merges)


@pytest.mark.function("bpe.encode_bytes")
def test_encode_bytes_lowest_id_first(judge):
    judge.compare("bpe.encode_bytes", "abcabc", {(98, 99): 256, (97, 98): 257, (97, 256): 258})
    judge.compare("bpe.encode_bytes", "aaaaaaa", {(97, 97): 256, (256, 97): 257, (256, 256): 258})


@pytest.mark.function("bpe.decode_bytes")
@pytest.mark.parametrize("text_index", range(len(PARAGRAPHS)))
def test_decode_bytes_round_trip(judge, ref, byte_merges, text_index):
    ids = ref.bpe.encode_bytes(PARAGRAPHS[text_index], byte_merges)
    judge.compare("bpe.decode_bytes", ids, byte_merges)


@pytest.mark.function("bpe.decode_bytes")
def test_decode_bytes_random_ids(judge, byte_merges, rng):
    """Arbitrary ids: most cuts through multi-byte characters, which decode to U+FFFD."""
    ids = torch.randint(0, 256 + len(byte_merges), (draw(rng, 0, 60),), generator=rng).tolist()
    judge.compare("bpe.decode_bytes", ids, byte_merges)


@pytest.mark.function("bpe.decode_bytes")
def test_decode_bytes_cut_emoji(judge, ref, byte_merges):
    ids = ref.bpe.encode_bytes("🚀 东 €", byte_merges)
    for cut in range(len(ids) + 1):
        judge.compare("bpe.decode_bytes", ids[:cut], byte_merges)


@pytest.mark.function("bpe.decode_bytes")
def test_decode_bytes_unknown_id_raises(judge, byte_merges):
    judge.raises("bpe.decode_bytes", ValueError, [97, 256 + len(byte_merges)], byte_merges)
