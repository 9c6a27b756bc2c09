"""Oracle tests: reference/bpe.py equals Hugging Face ``tokenizers`` and ``tiktoken``.

- pretokenize: ``pre_tokenizers.Whitespace``;
- train_bpe: ``models.BPE`` trained by ``trainers.BpeTrainer`` (no normalizer): vocab and merges;
- apply_merges, encode: a fresh ``Tokenizer(models.BPE(vocab, merges, unk_token=...))`` with the
  ``Whitespace`` pre-tokenizer;
- train_byte_bpe, encode_bytes, decode_bytes: ``tiktoken.Encoding`` whose ranks are the merged
  tokens' bytes -> their ids (plus the 256 single bytes), splitting nothing (``[\\s\\S]+``).

The corpora avoid combining marks, zero-width joiners, variation selectors and superscripts,
where Python's ``\\w`` and the Rust regex behind ``Whitespace`` disagree (see the contract).
"""
from __future__ import annotations

import json
import random
from itertools import pairwise

import pytest
import tiktoken
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from reference import bpe as R

CORPUS = [
    "The lighthouse keeper counted the ships every evening. Fewer ships came each winter, "
    "and the keeper counted them more slowly, as if counting could make them stay longer.",
    "Tokenizers cut text into pieces: whole words, sub-words, and sometimes single letters. "
    "Lower, lowest, newer, newest, wider, widest -- the endings repeat, so BPE learns them.",
    "Le boulanger a préparé des croissants très dorés; la crème brûlée était délicieuse. "
    "Où est passée la clé du garçon? À côté de la fenêtre, sous le cahier.",
    "Die Straße war nass, und die Fußgänger eilten über die Brücke. Größere Häuser, "
    "schöne Gärten: Mädchen und Jungen spielten draußen bis zum Abend.",
    "El niño encontró una piñata en la montaña; ¿dónde está el señor Muñoz? ¡Qué sorpresa!",
    "東京の朝は早い。電車は人でいっぱいで、駅のホームには長い列ができる。京都は静かな町です。",
    "Rockets 🚀🚀 launched at dawn 🌅, the crowd cheered 🎉🎉🎉 and somebody waved a flag 🏁.",
    "Version 3.14 shipped on 2024-05-01 with 1,000,000 downloads; see docs_v2/README_final.",
    "aaaa aaa aa a bbbb abab baba abba -- snake_case_names and CamelCaseNames under_scores__",
]

UNSEEN_TEXT = [
    "Quixotic zebras vex jumping wizards! Żółć, ħ, þorn and ð are new letters.",
    "Новые слова на кириллице, 한국어 문장, and a crab 🦀 with a 🧪 flask.",
    "[UNK] <s> and </s> are ordinary text here, as is [CLS].",
    "",
    "   spaced    out\ttabs\nand newlines   ",
]


def hf_train(texts, vocab_size, special_tokens=(), min_frequency=0):
    """Oracle: BpeTrainer on a BPE model behind the Whitespace pre-tokenizer, no normalizer."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        min_frequency=min_frequency,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    return model["vocab"], [tuple(pair) for pair in model["merges"]]


def hf_encoder(vocab, merges, unk_token="[UNK]") -> Tokenizer:
    """Oracle: a fresh BPE tokenizer from vocab and merges (no added special tokens)."""
    tokenizer = Tokenizer(models.BPE(vocab, merges, unk_token=unk_token))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer


def random_texts(seed: int) -> list[str]:
    """Short texts over tiny alphabets: many equal pair counts, so the tie-break matters."""
    rnd = random.Random(seed)
    alphabet = rnd.choice(["ab", "abc", "abcd", "aé東🙂b", "xyz,.!", "ab c", "zyxa"])
    return [
        " ".join(
            "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 7)))
            for _ in range(rnd.randint(1, 15))
        )
        for _ in range(rnd.randint(1, 4))
    ]


# --- pretokenize -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", CORPUS + UNSEEN_TEXT)
def test_pretokenize_matches_whitespace(text):
    """Oracle: pre_tokenizers.Whitespace().pre_tokenize_str."""
    expected = [word for word, _ in pre_tokenizers.Whitespace().pre_tokenize_str(text)]
    assert R.pretokenize(text) == expected


def test_pretokenize_rejects_non_strings():
    """Contract: a wrong type raises TypeError naming the argument."""
    with pytest.raises(TypeError, match="text"):
        R.pretokenize(["not", "a", "string"])


# --- get_pair_counts and merge_pair (hand-worked; no library exposes them) -----------------


def test_get_pair_counts_hand_examples():
    """Hand-worked counts; 'aaaa' holds ('a', 'a') at three positions; input unchanged."""
    assert R.get_pair_counts({("l", "o", "w"): 2, ("l", "o"): 1}) == {("l", "o"): 3, ("o", "w"): 2}
    assert R.get_pair_counts({("a", "a", "a", "a"): 1}) == {("a", "a"): 3}
    assert R.get_pair_counts({("x",): 4}) == {}
    assert R.get_pair_counts({}) == {}
    words = {("ab", "c"): 2}
    R.get_pair_counts(words)
    assert words == {("ab", "c"): 2}


@pytest.mark.parametrize(
    "symbols, pair, expected",
    [
        (("a", "a", "a"), ("a", "a"), ("aa", "a")),
        (("a", "a", "a", "a"), ("a", "a"), ("aa", "aa")),
        (("b", "a", "a", "a", "b"), ("a", "a"), ("b", "aa", "a", "b")),
        (("l", "o", "w", "l", "o"), ("l", "o"), ("lo", "w", "lo")),
        (("ab", "c"), ("a", "bc"), ("ab", "c")),  # symbols, not characters, must match
        ((), ("a", "b"), ()),
    ],
)
def test_merge_pair_hand_examples(symbols, pair, expected):
    """Hand-worked, left to right without overlap (BpeTrainer's Word::merge does the same)."""
    assert R.merge_pair(symbols, pair) == expected


def test_merge_pair_rejects_bad_pair():
    """Contract: invalid arguments raise ValueError naming the argument."""
    with pytest.raises(ValueError, match="pair"):
        R.merge_pair(("a", "b"), ("a", "b", "c"))


# --- train_bpe -------------------------------------------------------------------------------


# the corpus has 110 distinct characters: sizes below, at and just above the alphabet
@pytest.mark.parametrize("vocab_size", [0, 20, 110, 111, 114, 150, 250, 400, 2000])
@pytest.mark.parametrize(
    "special_tokens",
    [(), ("[UNK]", "[CLS]", "[SEP]"), ("é", "<s>", "ab")],
    ids=["none", "bert", "overlap"],
)
@pytest.mark.parametrize("min_frequency", [0, 2, 5])
def test_train_bpe_matches_bpe_trainer(vocab_size, special_tokens, min_frequency):
    """Oracle: BpeTrainer(vocab_size, special_tokens, min_frequency): vocab and merges equal.

    vocab_size 20 is far below the alphabet (kept whole); ("é", "<s>", "ab") holds an alphabet
    character and a string a merge creates, which keep the special token's id.
    """
    expected_vocab, expected_merges = hf_train(CORPUS, vocab_size, special_tokens, min_frequency)
    vocab, merges = R.train_bpe(CORPUS, vocab_size, special_tokens, min_frequency)
    assert merges == expected_merges
    assert vocab == expected_vocab
    assert all(type(pair) is tuple for pair in merges)


@pytest.mark.parametrize("seed", range(60))
def test_train_bpe_matches_bpe_trainer_on_tie_heavy_corpora(seed):
    """Oracle: BpeTrainer on random texts over 2-6 symbols, where counts tie all the time."""
    rnd = random.Random(1000 + seed)
    texts = random_texts(seed)
    vocab_size = rnd.randint(0, 60)
    special = rnd.choice([(), ("[UNK]",), ("ab",), ("b", "a")])
    min_frequency = rnd.choice([0, 1, 2, 3])
    expected = hf_train(texts, vocab_size, special, min_frequency)
    assert R.train_bpe(texts, vocab_size, special, min_frequency) == expected


def test_train_bpe_hand_example_ties_by_id():
    """Hand-worked: ('z','y') is seen first but ('a','b') has the smaller ids."""
    vocab, merges = R.train_bpe(["zy zy ab ab"], 6)
    assert merges == [("a", "b"), ("z", "y")]
    assert vocab == {"a": 0, "b": 1, "y": 2, "z": 3, "ab": 4, "zy": 5}


@pytest.mark.parametrize(
    "args, error, name",
    [
        (("just one string", 10), TypeError, "texts"),
        (([42], 10), TypeError, "text"),
        ((["ok"], -1), ValueError, "vocab_size"),
        ((["ok"], 10.5), TypeError, "vocab_size"),
        ((["ok"], 10, "[UNK]"), TypeError, "special_tokens"),
        ((["ok"], 10, (), -2), ValueError, "min_frequency"),
    ],
)
def test_train_bpe_invalid_arguments(args, error, name):
    """Contract: invalid arguments raise ValueError/TypeError naming the argument."""
    with pytest.raises(error, match=name):
        R.train_bpe(*args)


# --- apply_merges and encode -----------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    """Vocab and merges learned by BpeTrainer on the corpus (special token [UNK])."""
    return hf_train(CORPUS, 300, ("[UNK]",))


@pytest.mark.parametrize("text", CORPUS + UNSEEN_TEXT[:2])
def test_apply_merges_matches_bpe_model(trained, text):
    """Oracle: models.BPE(vocab, merges).tokenize(word): the symbols of each word."""
    vocab, merges = trained
    model = models.BPE(vocab, merges, unk_token="[UNK]")
    for word in R.pretokenize(text):
        expected = [token.value for token in model.tokenize(word)]
        got = R.apply_merges(word, merges)
        known = [symbol if symbol in vocab else "[UNK]" for symbol in got]  # the model says [UNK]
        assert known == expected, word


def test_apply_merges_hand_examples():
    """Hand-worked: the lowest-rank merge goes first wherever it is in the word."""
    assert R.apply_merges("abc", [("b", "c"), ("a", "b")]) == ["a", "bc"]
    assert R.apply_merges("abc", [("a", "b"), ("b", "c")]) == ["ab", "c"]
    assert R.apply_merges("aaaa", [("a", "a"), ("aa", "aa")]) == ["aaaa"]
    assert R.apply_merges("", [("a", "b")]) == []


@pytest.mark.parametrize("text", CORPUS + UNSEEN_TEXT)
def test_encode_matches_fresh_tokenizer(trained, text):
    """Oracle: Tokenizer(models.BPE(vocab, merges, unk_token="[UNK]")) + Whitespace; unseen
    characters (Cyrillic, Hangul, new emoji) become [UNK]; "[UNK]" in the text is plain text."""
    vocab, merges = trained
    assert R.encode(text, vocab, merges) == hf_encoder(vocab, merges).encode(text).ids


def test_encode_with_custom_unk_token():
    """Oracle: the fresh tokenizer with unk_token "<unk>" on a model trained without accents."""
    vocab, merges = hf_train(CORPUS[:2], 120, ("<pad>", "<unk>"))
    for text in CORPUS[2:]:
        expected = hf_encoder(vocab, merges, "<unk>").encode(text).ids
        assert R.encode(text, vocab, merges, unk_token="<unk>") == expected


@pytest.mark.parametrize("seed", range(20))
def test_encode_matches_fresh_tokenizer_on_tie_heavy_corpora(seed):
    """Oracle: the fresh BPE tokenizer, vocab and merges from BpeTrainer on random texts; the
    probe text mixes seen words with words from another random alphabet (unknown characters)."""
    texts = random_texts(seed)
    vocab, merges = hf_train(texts, 40, ("[UNK]",))
    probe = " ".join(texts) + " " + " ".join(random_texts(seed + 500))
    assert R.encode(probe, vocab, merges) == hf_encoder(vocab, merges).encode(probe).ids


def test_encode_missing_unk_token_raises():
    """Contract: unk_token missing from vocab -> ValueError (HF fails on the first unknown)."""
    vocab, merges = hf_train(CORPUS[:1], 80)
    with pytest.raises(ValueError, match="unk_token"):
        R.encode("The lighthouse 🦀", vocab, merges)


# --- byte-level BPE --------------------------------------------------------------------------

BYTE_TEXT = "\n".join(CORPUS)


def tiktoken_encoding(merges: dict[tuple[int, int], int]) -> tiktoken.Encoding:
    """Oracle: tiktoken with ranks = bytes of each token -> its id, one piece per text."""
    token_bytes = {i: bytes([i]) for i in range(256)}
    for (left, right), new_id in sorted(merges.items(), key=lambda item: item[1]):
        token_bytes[new_id] = token_bytes[left] + token_bytes[right]
    ranks = {b: i for i, b in token_bytes.items()}
    assert len(ranks) == len(token_bytes), "two merges made the same bytes"
    return tiktoken.Encoding(
        name="oracle", pat_str=r"[\s\S]+", mergeable_ranks=ranks, special_tokens={}
    )


@pytest.fixture(scope="module")
def byte_merges():
    return R.train_byte_bpe(BYTE_TEXT, 300)


def test_train_byte_bpe_hand_example():
    """Hand-worked (the Wikipedia example): after (a, a) -> 256, the pairs (256, a) and (a, b)
    both occur twice; (256, a) occurs first and wins the tie."""
    assert R.train_byte_bpe("aaabdaaabac", 3) == {(97, 97): 256, (256, 97): 257, (257, 98): 258}
    assert R.train_byte_bpe("aaabdaaabac", 0) == {}
    assert R.train_byte_bpe("ab", 10) == {(97, 98): 256}  # one id left: stop early
    assert R.train_byte_bpe("", 10) == {}


@pytest.mark.parametrize("num_merges", [1, 17, 300])
def test_train_byte_bpe_follows_its_definition(num_merges):
    """Oracle: replay the training with collections.Counter over the byte sequence and check
    every recorded merge was the most frequent pair, ties to the earliest first occurrence."""
    from collections import Counter

    merges = R.train_byte_bpe(BYTE_TEXT, num_merges)
    assert sorted(merges.values()) == list(range(256, 256 + num_merges))
    ids = list(BYTE_TEXT.encode("utf-8"))
    for pair, new_id in sorted(merges.items(), key=lambda item: item[1]):
        counts = Counter(pairwise(ids))
        best = max(counts.values())
        first_seen = next(p for p in pairwise(ids) if counts[p] == best)
        assert pair == first_seen, f"merge {new_id}"
        merged, i = [], 0
        while i < len(ids):
            if ids[i : i + 2] == list(pair):
                merged.append(new_id)
                i += 2
            else:
                merged.append(ids[i])
                i += 1
        ids = merged


@pytest.mark.parametrize("text", CORPUS + UNSEEN_TEXT + [BYTE_TEXT])
def test_encode_bytes_matches_tiktoken(byte_merges, text):
    """Oracle: tiktoken.Encoding(...).encode_ordinary with the same merges."""
    assert R.encode_bytes(text, byte_merges) == tiktoken_encoding(byte_merges).encode_ordinary(text)


@pytest.mark.parametrize("num_merges", [0, 1, 5, 50])
def test_encode_bytes_matches_tiktoken_few_merges(num_merges):
    """Oracle: tiktoken with 0, 1, 5 and 50 merges (0: plain UTF-8 bytes)."""
    merges = R.train_byte_bpe(BYTE_TEXT, num_merges)
    encoding = tiktoken_encoding(merges)
    for text in CORPUS + UNSEEN_TEXT:
        assert R.encode_bytes(text, merges) == encoding.encode_ordinary(text)


@pytest.mark.parametrize("seed", range(30))
def test_encode_bytes_matches_tiktoken_on_tie_heavy_texts(seed):
    """Oracle: tiktoken, merges trained on random texts over 2-6 characters (many ties)."""
    rnd = random.Random(seed)
    alphabet = rnd.choice(["ab", "abc", "aé東🙂b", "xyz,. !"])
    training = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 200)))
    merges = R.train_byte_bpe(training, rnd.randint(0, 40))
    probe = "".join(rnd.choice(alphabet) for _ in range(60))
    encoding = tiktoken_encoding(merges)
    assert R.encode_bytes(training, merges) == encoding.encode_ordinary(training)
    assert R.encode_bytes(probe, merges) == encoding.encode_ordinary(probe)


@pytest.mark.parametrize("text", CORPUS + UNSEEN_TEXT)
def test_decode_bytes_round_trip_and_tiktoken(byte_merges, text):
    """Round trip for every text; oracle for the decoding: tiktoken.decode (errors="replace"),
    also on every prefix of the ids, which cuts multi-byte characters (emoji, CJK, accents)."""
    ids = R.encode_bytes(text, byte_merges)
    assert R.decode_bytes(ids, byte_merges) == text
    encoding = tiktoken_encoding(byte_merges)
    for cut in range(len(ids)):
        assert R.decode_bytes(ids[:cut], byte_merges) == encoding.decode(ids[:cut])


def test_decode_bytes_invalid_utf8_is_replaced():
    """Hand-worked with UTF-8's replacement rule: the first byte of '€' (E2 82 AC) alone, a
    lone continuation byte, and two of the four bytes of an emoji."""
    assert R.decode_bytes([0xE2], {}) == "\ufffd"
    assert R.decode_bytes([104, 0x82, 105], {}) == "h\ufffdi"
    emoji = list("🚀".encode())
    assert R.decode_bytes(emoji[:2] + [33], {}) == "\ufffd!"


@pytest.mark.parametrize(
    "ids, error", [([97, 256], ValueError), ([-1], ValueError), ([97.0], TypeError)]
)
def test_decode_bytes_unknown_id_raises(ids, error):
    """Contract: an id that is neither a byte nor a merge's id -> ValueError."""
    with pytest.raises(error, match="ids"):
        R.decode_bytes(ids, {})


def test_byte_level_invalid_arguments():
    """Contract: invalid arguments raise ValueError/TypeError naming the argument."""
    with pytest.raises(ValueError, match="num_merges"):
        R.train_byte_bpe("abc", -1)
    with pytest.raises(TypeError, match="text"):
        R.train_byte_bpe(b"abc", 3)
    with pytest.raises(TypeError, match="merges"):
        R.encode_bytes("abc", [((97, 98), 256)])
