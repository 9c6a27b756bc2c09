"""Lab 2.3.4, tokenizer training (study guide: "Core Concepts / Tokenization (BPE)" and
"Lab-by-Lab Summary / Lab 2.3.4").

Byte-pair encoding learns a vocabulary of sub-words from data: start from single symbols,
count which two neighbours occur together most often, glue them into one new symbol (a
*merge*), and repeat. Frequent words end up as one token, rare words as a few pieces, and
the vocabulary size is yours to choose.

Part A builds a character-level BPE that gives exactly the same vocab, merges and ids as
Hugging Face ``tokenizers`` (``models.BPE`` + ``trainers.BpeTrainer`` + the ``Whitespace``
pre-tokenizer). Part B builds the byte-level BPE of the GPT-2/GPT-4 family, which can encode
any string and decode it back unchanged.

Conventions: invalid arguments raise ValueError (TypeError for a wrong type) naming the
argument; inputs are never modified. Check your work with
``pytest exercises/checks/test_bpe.py``.
"""
from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# Part A: character-level BPE


def pretokenize(text: str) -> list[str]:
    """Split text into words: ``re.findall(r"\\w+|[^\\w\\s]+", text)``.

    A word is a run of word characters (letters, digits, underscore, in any script) or a run of
    other non-space characters (punctuation, symbols, emoji). Whitespace only separates words.
    BPE merges never cross a word boundary.

    Errors: ``text`` not a str -> TypeError.

    Example: ``pretokenize("Hello, world!!")`` -> ``["Hello", ",", "world", "!!"]``.
    """
    raise NotImplementedError("bpe.pretokenize: not implemented yet")


def get_pair_counts(words: dict[tuple[str, ...], int]) -> dict[tuple[str, str], int]:
    """Count adjacent symbol pairs over all words, each word weighted by its frequency.

    ``words`` maps a word, written as a tuple of its current symbols, to how often it occurs.
    Every adjacent position counts: ``('a', 'a', 'a')`` contains ``('a', 'a')`` twice.
    Pairs that do not occur are not in the result.

    Example: ``{('l','o','w'): 2, ('l','o'): 1}`` -> ``{('l','o'): 3, ('o','w'): 2}``.
    """
    raise NotImplementedError("bpe.get_pair_counts: not implemented yet")


def merge_pair(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    """Replace every occurrence of ``pair`` in ``symbols`` by the joined string; return a tuple.

    Scan left to right; a symbol used by one match cannot be used by the next (no overlap).
    Errors: ``pair`` is not a tuple of two symbols -> ValueError.

    Examples::

        merge_pair(('a', 'a', 'a', 'b'), ('a', 'a')) -> ('aa', 'a', 'b')
        merge_pair(('l', 'o', 'w'), ('o', 'w'))      -> ('l', 'ow')
    """
    raise NotImplementedError("bpe.merge_pair: not implemented yet")


def train_bpe(
    texts: list[str],
    vocab_size: int,
    special_tokens: tuple[str, ...] | list[str] = (),
    min_frequency: int = 0,
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a character-level BPE; return ``(vocab, merges)``.

    1. Pre-tokenize every text and count each distinct word.
    2. Ids: the special tokens first, in the given order; then the alphabet (every character
       of the words) sorted by code point; a character equal to a special token keeps the
       special token's id. The whole alphabet is always kept, even when it is larger than
       ``vocab_size``.
    3. While ``len(vocab) < vocab_size``: count the pairs (``get_pair_counts``), take the one
       with the highest count; on a tie, the pair with the smallest ``(vocab[left],
       vocab[right])``. Stop when no pair is left or when that count is below
       ``min_frequency``. Otherwise append the pair to ``merges`` (a list of tuples), give
       ``left + right`` the next id (unless that string is already in the vocab) and merge the
       pair in every word.

    Errors: negative ``vocab_size`` or ``min_frequency`` -> ValueError; ``texts`` given as a
    single str instead of a list of strings -> TypeError.

    Example::

        >>> train_bpe(["ab ab cd"], 6)
        ({'a': 0, 'b': 1, 'c': 2, 'd': 3, 'ab': 4, 'cd': 5}, [('a', 'b'), ('c', 'd')])

    ('a','b') occurs twice, ('c','d') once. With ``special_tokens=["[UNK]"]`` the ids shift by
    one and only the first merge fits in 6 entries.
    """
    raise NotImplementedError("bpe.train_bpe: not implemented yet")


def apply_merges(word: str, merges: list[tuple[str, str]]) -> list[str]:
    """Split one pre-tokenized word into BPE symbols.

    Start from its characters. Repeatedly find the adjacent pair whose merge comes earliest in
    ``merges`` (lowest rank; the leftmost occurrence when it appears several times), merge it,
    and continue until no adjacent pair is in ``merges``. (Applying each merge of the list, in
    order, to the whole word gives the same result.) Errors: ``word`` not a str -> TypeError.

    Example: ``apply_merges("abc", [("b", "c"), ("a", "b")])`` -> ``["a", "bc"]``: ('b','c') has
    rank 0 and goes first, after which ('a','b') no longer exists.
    """
    raise NotImplementedError("bpe.apply_merges: not implemented yet")


def encode(
    text: str, vocab: dict[str, int], merges: list[tuple[str, str]], unk_token: str = "[UNK]"
) -> list[int]:
    """Token ids of ``text``: pre-tokenize, ``apply_merges`` to each word, look up each symbol.

    A symbol missing from ``vocab`` (a character never seen in training) maps to
    ``vocab[unk_token]``, one id per unknown character. Special-token strings inside the text
    are ordinary text. Errors: ``unk_token`` not in ``vocab`` -> ValueError.

    Example: ``encode("ab ax", {"[UNK]": 0, "a": 1, "b": 2, "ab": 3}, [("a", "b")])`` ->
    ``[3, 1, 0]`` ("ab" is one token, "x" is unknown).
    """
    raise NotImplementedError("bpe.encode: not implemented yet")


# ---------------------------------------------------------------------------------------------
# Part B: byte-level BPE


def train_byte_bpe(text: str, num_merges: int) -> dict[tuple[int, int], int]:
    """Learn merges on the UTF-8 bytes of ``text``; return ``{(left_id, right_id): new_id}``.

    Ids 0..255 are the byte values. Merge i (counting from 0) creates id ``256 + i``: count the
    adjacent pairs of the current id sequence (every position counts), take the most frequent
    one (a tie goes to the pair whose first occurrence comes earliest in the sequence), and
    replace its occurrences left to right without overlap. Stop early if fewer than two ids
    are left. Errors: ``num_merges < 0`` -> ValueError.

    Example (a = 97, b = 98)::

        >>> train_byte_bpe("aaabdaaabac", 3)
        {(97, 97): 256, (256, 97): 257, (257, 98): 258}

    After the first merge the sequence is [256, a, b, d, 256, a, b, a, c]: (256, a) and (a, b)
    both occur twice, and (256, a) occurs first.
    """
    raise NotImplementedError("bpe.train_byte_bpe: not implemented yet")


def encode_bytes(text: str, merges: dict[tuple[int, int], int]) -> list[int]:
    """Token ids of ``text`` under byte-level merges.

    Start from the UTF-8 bytes. Among the adjacent pairs that have a merge, pick the one with
    the lowest new id and replace every occurrence of it (left to right); repeat until no
    adjacent pair has a merge.

    Example with the merges above: ``encode_bytes("aaab aa", merges)`` -> ``[258, 32, 256]``.
    """
    raise NotImplementedError("bpe.encode_bytes: not implemented yet")


def decode_bytes(ids: list[int], merges: dict[tuple[int, int], int]) -> str:
    """Text of a list of ids: expand each id to its bytes, join, decode UTF-8 with
    ``errors="replace"``.

    ``decode_bytes(encode_bytes(t, merges), merges) == t`` for every string t. Ids that cut
    a multi-byte character decode to U+FFFD: ``decode_bytes([0xE2], {})`` -> ``"\\ufffd"``
    (0xE2 is the first of the three bytes of "€"). Errors: an id that is neither a byte nor
    created by a merge -> ValueError.

    Example with the merges above: ``decode_bytes([258, 32, 256], merges)`` -> ``"aaab aa"``.
    """
    raise NotImplementedError("bpe.decode_bytes: not implemented yet")
