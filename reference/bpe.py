"""Byte-pair encoding (lab 2.3.4), reference solutions.

BPE starts from single symbols and repeatedly glues together the most frequent adjacent pair,
recording each glue step as a *merge*. Encoding replays the merges on new text.

Part A works on characters and reproduces Hugging Face ``tokenizers`` (``models.BPE`` trained
by ``trainers.BpeTrainer`` after the ``Whitespace`` pre-tokenizer): a character that never
occurred in training is unknown and maps to ``unk_token``.

Part B works on the UTF-8 bytes of the text (the GPT-2 / GPT-4 family): the 256 byte values
are the base vocabulary, so every string can be encoded and decoded back exactly.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from itertools import pairwise

PRETOKENIZE = re.compile(r"\w+|[^\w\s]+")


# ---------------------------------------------------------------------------------------------
# Part A: character-level BPE


def _check_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def pretokenize(text: str) -> list[str]:
    """Split text into words before BPE: runs of word characters, or runs of punctuation.

    Whitespace separates words and is dropped; merges never cross a word boundary.
    ``"Hi, you!" -> ["Hi", ",", "you", "!"]``.
    """
    return PRETOKENIZE.findall(_check_str(text, "text"))


def get_pair_counts(words: dict[tuple[str, ...], int]) -> dict[tuple[str, str], int]:
    """Count adjacent symbol pairs, each word weighted by its frequency.

    Every adjacent position counts, so ``('a', 'a', 'a')`` holds the pair ``('a', 'a')`` twice.
    """
    if not isinstance(words, dict):
        raise TypeError(f"words must be a dict {{symbols: count}}, got {type(words).__name__}")
    counts: Counter[tuple[str, str]] = Counter()
    for symbols, freq in words.items():
        for pair in pairwise(symbols):
            counts[pair] += freq
    return dict(counts)


def merge_pair(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    """Replace every occurrence of ``pair`` in ``symbols`` by the joined symbol.

    Scans left to right and never reuses a symbol: ``('a','a','a')`` with ``('a','a')`` gives
    ``('aa', 'a')``.
    """
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise ValueError(f"pair must be a tuple of two symbols, got {pair!r}")
    left, right = pair
    merged: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == left and symbols[i + 1] == right:
            merged.append(left + right)
            i += 2  # both symbols are used up
        else:
            merged.append(symbols[i])
            i += 1
    return tuple(merged)


def _word_counts(texts: Iterable[str]) -> Counter[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, got a single str")
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(pretokenize(text))
    return counts


def _initial_vocab(special_tokens: Iterable[str], words: Iterable[str]) -> dict[str, int]:
    """Special tokens in the given order, then every character seen, by code point."""
    vocab: dict[str, int] = {}
    for token in special_tokens:
        vocab.setdefault(_check_str(token, "special_tokens item"), len(vocab))
    alphabet = sorted({ch for word in words for ch in word})  # single characters: code point order
    for ch in alphabet:
        vocab.setdefault(ch, len(vocab))
    return vocab


def train_bpe(
    texts: Iterable[str],
    vocab_size: int,
    special_tokens: Iterable[str] = (),
    min_frequency: int = 0,
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Learn character-level BPE merges; returns ``(vocab, merges)`` like ``BpeTrainer``.

    The vocab starts as the special tokens, then the alphabet (every character of the
    pre-tokenized texts, sorted by code point; kept whole even when larger than
    ``vocab_size``). Then, while the vocab is smaller than ``vocab_size``: count the adjacent
    pairs over all words (weighted by word frequency), pick the highest count, breaking ties by
    the smallest ``(id(left), id(right))``, stop if that count is below ``min_frequency``,
    otherwise record the merge and give the joined symbol the next id (a joined string that is
    already in the vocab keeps its id).

    ``texts`` is a list (or any iterable) of strings; a bare str is refused with TypeError,
    since iterating it would train on its single characters.
    """
    _check_count(vocab_size, "vocab_size")
    _check_count(min_frequency, "min_frequency")
    if isinstance(special_tokens, str):
        raise TypeError("special_tokens must be a sequence of strings, got a single str")
    word_freqs = _word_counts(texts)
    vocab = _initial_vocab(special_tokens, word_freqs)
    words = {tuple(word): freq for word, freq in word_freqs.items()}  # word as symbol tuple
    merges: list[tuple[str, str]] = []
    while len(vocab) < vocab_size:
        counts = get_pair_counts(words)
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], vocab[p[0]], vocab[p[1]]))
        if counts[best] < min_frequency:
            break
        merges.append(best)
        vocab.setdefault(best[0] + best[1], len(vocab))
        words = {merge_pair(symbols, best): freq for symbols, freq in words.items()}
    return vocab, merges


def _merge_ranks(merges: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Pair -> its index in the merge list (the first one if a pair is listed twice)."""
    ranks: dict[tuple[str, str], int] = {}
    for rank, pair in enumerate(merges):
        ranks.setdefault(tuple(pair), rank)
    return ranks


def _apply_ranks(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    symbols = list(word)
    while len(symbols) > 1:
        candidates = [
            (ranks[pair], i) for i, pair in enumerate(pairwise(symbols)) if pair in ranks
        ]
        if not candidates:
            break
        _, i = min(candidates)  # lowest rank; among equal ranks the leftmost
        symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]
    return symbols


def apply_merges(word: str, merges: list[tuple[str, str]]) -> list[str]:
    """Split one pre-tokenized word into BPE symbols.

    Start from its characters; repeatedly merge the adjacent pair whose merge was learned
    earliest (lowest index in ``merges``), the leftmost one if it occurs several times, until
    no adjacent pair has a merge. Equivalent to applying each merge of the list in order to the
    whole word.
    """
    return _apply_ranks(_check_str(word, "word"), _merge_ranks(merges))


def encode(
    text: str, vocab: dict[str, int], merges: list[tuple[str, str]], unk_token: str = "[UNK]"
) -> list[int]:
    """Token ids of ``text``: pre-tokenize, apply the merges to each word, look up each symbol.

    A symbol that is not in ``vocab`` (a character never seen in training) becomes the id of
    ``unk_token``, one per unknown character. Special-token strings in the text are ordinary
    text here. Raises ValueError when ``unk_token`` is not in ``vocab``.
    """
    _check_str(text, "text")
    if unk_token not in vocab:
        raise ValueError(f"unk_token {unk_token!r} is not in vocab; add it as a special token")
    unk_id = vocab[unk_token]
    ranks = _merge_ranks(merges)
    return [
        vocab.get(symbol, unk_id)
        for word in pretokenize(text)
        for symbol in _apply_ranks(word, ranks)
    ]


# ---------------------------------------------------------------------------------------------
# Part B: byte-level BPE


def _byte_pair_counts(ids: list[int]) -> dict[tuple[int, int], int]:
    """Adjacent pair counts; the dict keeps pairs in order of first occurrence."""
    counts: dict[tuple[int, int], int] = {}
    for pair in pairwise(ids):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def _merge_ids(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each occurrence of ``pair`` (left to right, non-overlapping) by ``new_id``."""
    merged: list[int] = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


def train_byte_bpe(text: str, num_merges: int) -> dict[tuple[int, int], int]:
    """Learn ``num_merges`` merges on the UTF-8 bytes of ``text``: ``{(left, right): new_id}``.

    Ids 0..255 are the bytes. Merge i creates id ``256 + i`` from the most frequent adjacent
    pair of the current sequence (every adjacent position counts); ties go to the pair that
    occurs first in the sequence. Stops early when fewer than two ids are left.
    """
    _check_str(text, "text")
    _check_count(num_merges, "num_merges")
    ids = list(text.encode("utf-8"))
    merges: dict[tuple[int, int], int] = {}
    for new_id in range(256, 256 + num_merges):
        counts = _byte_pair_counts(ids)
        if not counts:
            break
        best = max(counts, key=counts.__getitem__)  # max keeps the first of equal counts
        merges[best] = new_id
        ids = _merge_ids(ids, best, new_id)
    return merges


def encode_bytes(text: str, merges: dict[tuple[int, int], int]) -> list[int]:
    """Token ids of ``text``: start from its UTF-8 bytes and replay the merges.

    Each round finds, among the adjacent pairs present, the one whose merge has the lowest new
    id, and replaces every occurrence of it (left to right); stops when no pair has a merge.
    """
    _check_str(text, "text")
    if not isinstance(merges, dict):
        raise TypeError(f"merges must be a dict {{pair: new_id}}, got {type(merges).__name__}")
    ids = list(text.encode("utf-8"))
    while len(ids) > 1:
        present = {pair for pair in pairwise(ids) if pair in merges}
        if not present:
            break
        pair = min(present, key=merges.__getitem__)
        ids = _merge_ids(ids, pair, merges[pair])
    return ids


def _token_bytes(merges: dict[tuple[int, int], int]) -> dict[int, bytes]:
    """id -> the bytes it stands for: 0..255 themselves, merged ids in creation order."""
    table = {i: bytes([i]) for i in range(256)}
    for (left, right), new_id in sorted(merges.items(), key=lambda item: item[1]):
        if left not in table or right not in table:
            raise ValueError(f"merges: ({left}, {right}) -> {new_id} uses an id defined after it")
        table[new_id] = table[left] + table[right]
    return table


def decode_bytes(ids: list[int], merges: dict[tuple[int, int], int]) -> str:
    """Text of ``ids``: expand every id to its bytes, then decode UTF-8 with ``errors="replace"``.

    Round trip: ``decode_bytes(encode_bytes(t, m), m) == t``. A cut through a multi-byte
    character (e.g. only the first id of an emoji) decodes to U+FFFD. Unknown id -> ValueError.
    """
    if not isinstance(merges, dict):
        raise TypeError(f"merges must be a dict {{pair: new_id}}, got {type(merges).__name__}")
    table = _token_bytes(merges)
    pieces = []
    for token in ids:
        if isinstance(token, bool) or not isinstance(token, int):
            raise TypeError(f"ids must hold ints, got a {type(token).__name__}")
        if token not in table:
            raise ValueError(f"ids: unknown token id {token} (known: 0..255 and the merges' ids)")
        pieces.append(table[token])
    return b"".join(pieces).decode("utf-8", errors="replace")
