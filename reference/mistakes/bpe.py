"""Known-wrong variants of the BPE functions (lab 2.3.4).

Each variant is the reference function with exactly one mistake from the contract's table.
"""
from __future__ import annotations

from itertools import pairwise

from reference import bpe as ref
from reference.mistakes import mistake


@mistake(
    "bpe.overlapping_merge",
    function="merge_pair",
    hint="Your merge reuses a symbol twice: ('a', 'a', 'a') merged with ('a', 'a') must give "
    "('aa', 'a'), because the middle 'a' is used up by the first match. Scan left to right "
    "and, after a match at position i, continue at i + 2, not i + 1.",
)
def merge_pair_overlapping(symbols, pair):
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise ValueError(f"pair must be a tuple of two symbols, got {pair!r}")
    left, right = pair
    starts = [i for i in range(len(symbols) - 1) if (symbols[i], symbols[i + 1]) == (left, right)]
    covered = {i for start in starts for i in (start, start + 1)}
    merged: list[str] = []
    for i, symbol in enumerate(symbols):
        if i in starts:
            merged.append(left + right)  # every match, even one sharing a symbol with the last
        elif i not in covered:
            merged.append(symbol)
    return tuple(merged)


@mistake(
    "bpe.tie_first_seen",
    function="train_bpe",
    hint="When two pairs have the same count you keep the one seen first in the text (what "
    "max() over a dict gives). BpeTrainer breaks ties by token ids: the pair whose left "
    "symbol has the smaller id wins, then the smaller right id. Make the tie-break explicit: "
    "among the pairs with the highest count, pick the one with the smallest (left id, right "
    "id), looking the ids up in the vocab you are building.",
)
def train_bpe_tie_first_seen(texts, vocab_size, special_tokens=(), min_frequency=0):
    ref._check_count(vocab_size, "vocab_size")
    ref._check_count(min_frequency, "min_frequency")
    if isinstance(special_tokens, str):
        raise TypeError("special_tokens must be a sequence of strings, got a single str")
    word_freqs = ref._word_counts(texts)  # words in order of first occurrence
    vocab = ref._initial_vocab(special_tokens, word_freqs)
    words = {tuple(word): freq for word, freq in word_freqs.items()}
    merges: list[tuple[str, str]] = []
    while len(vocab) < vocab_size:
        counts = ref.get_pair_counts(words)  # pairs in order of first occurrence
        if not counts:
            break
        best = max(counts, key=counts.__getitem__)  # ties: the pair seen first
        if counts[best] < min_frequency:
            break
        merges.append(best)
        vocab.setdefault(best[0] + best[1], len(vocab))
        words = {ref.merge_pair(symbols, best): freq for symbols, freq in words.items()}
    return vocab, merges


@mistake(
    "bpe.apply_ignores_rank",
    function="apply_merges",
    hint="You merge the leftmost pair that has a merge, whatever its rank. The merge learned "
    "earliest (lowest index in merges) must be applied first, wherever it is in the word: "
    "with merges [('b','c'), ('a','b')] the word 'abc' becomes ['a', 'bc'], not ['ab', 'c']. "
    "Simplest correct way: apply each merge of the list, in order, to the whole word.",
)
def apply_merges_leftmost(word, merges):
    ref._check_str(word, "word")
    known = {tuple(pair) for pair in merges}
    symbols = list(word)
    while True:
        pairs = list(pairwise(symbols))
        i = next((i for i, pair in enumerate(pairs) if pair in known), None)  # leftmost, any rank
        if i is None:
            return symbols
        symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]


@mistake(
    "bpe.unk_keyerror",
    function="encode",
    hint="A character that never appeared in training has no id, and looking it up directly "
    "raises KeyError. Map every symbol that is not in vocab to the id of unk_token instead "
    "(vocab.get(symbol, unk_id)), one unknown id per unknown character.",
)
def encode_unk_keyerror(text, vocab, merges, unk_token="[UNK]"):
    ref._check_str(text, "text")
    if unk_token not in vocab:
        raise ValueError(f"unk_token {unk_token!r} is not in vocab; add it as a special token")
    ranks = ref._merge_ranks(merges)
    return [
        vocab[symbol]  # KeyError on a character never seen in training
        for word in ref.pretokenize(text)
        for symbol in ref._apply_ranks(word, ranks)
    ]
