"""Lab 2.3.6, GPT text generation: greedy decoding, sampling (temperature, top-k, top-p,
repetition penalty) and beam search.

Study guide, module 2.3, "Lab 2.3.6: GPT Text Generation" (key skills: greedy decoding, beam
search, top-k and top-p sampling, temperature effects). A language model only gives a
distribution over the next token; a decoding strategy turns it into text. Greedy decoding takes
the most likely token, sampling draws from a reshaped distribution, beam search keeps several
candidate continuations and ranks them by their length-normalised log-probability.

Two kinds of functions:

- logits processors change one step's next-token logits ``(..., V)``: a filtered token gets
  the logit ``-inf``, so its probability after softmax is exactly 0;
- decoding loops call a ``model``, any callable ``model(input_ids (B, T)) -> logits (B, T, V)``
  (only the last position's logits matter), once per new token, on the whole sequence so far.

Everything follows Hugging Face ``transformers`` (``model.generate`` and its logits
processors), so your outputs can be compared with it token for token. Inputs are never modified
in place; outputs stay on the inputs' device, and processed logits keep their dtype.

Check your work with ``pytest exercises/checks/test_decoding.py``.
"""
from __future__ import annotations

import torch


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Temperature scaling: ``logits / temperature``.

    Sampling from ``softmax(logits / T)``: ``T < 1`` sharpens the distribution (towards greedy
    decoding), ``T > 1`` flattens it (towards uniform), ``T = 1`` changes nothing.

    Args:
        logits: float tensor ``(..., V)``.
        temperature: a number > 0.

    Returns:
        A new tensor with the shape, dtype and device of `logits`.

    Raises:
        TypeError: logits is not a floating tensor, or temperature is not a number.
        ValueError: ``temperature <= 0``; the message must point to greedy decoding, which is
            what "temperature 0" means (always take the most likely token).

    Example::

        apply_temperature(torch.tensor([2.0, -1.0, 0.5]), 0.5) = [4.0, -2.0, 1.0]
    """
    raise NotImplementedError("decoding.apply_temperature: not implemented yet")


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k filtering: keep the k largest logits, set the others to ``-inf``.

    Precisely: keep every logit ``>=`` the k-th largest value along the last dim. Tokens tied
    with the k-th largest value are all kept, so more than k tokens may survive (this is what
    ``transformers.TopKLogitsWarper`` does). ``k >= V`` leaves the logits unchanged.

    Args:
        logits: float tensor ``(..., V)``.
        k: an int >= 1.

    Returns:
        A new tensor with the shape, dtype and device of `logits`.

    Raises:
        TypeError: k is not an int.
        ValueError: ``k < 1``.

    Example::

        top_k_filter(torch.tensor([1.0, 3.0, 2.0, 2.0, 0.5]), k=2)
            = [-inf, 3.0, 2.0, 2.0, -inf]        (the 2nd largest value, 2.0, appears twice)
    """
    raise NotImplementedError("decoding.top_k_filter: not implemented yet")


def top_p_filter(logits: torch.Tensor, p: float, min_tokens_to_keep: int = 1) -> torch.Tensor:
    """Nucleus (top-p) filtering: keep the most likely tokens until their mass reaches p.

    Sort the tokens by probability ``softmax(logits)``, most likely first. Token i is kept iff
    the probability mass of the tokens strictly more likely than it is ``< p``. So the token
    whose probability makes the running total cross p is kept: the kept set is the smallest
    one whose mass is ``>= p``. The `min_tokens_to_keep` most likely tokens are always kept.
    Filtered tokens get ``-inf``. (With tied logits, which tied token counts as "more likely"
    depends on the sort; graders use tie-free logits.)

    Args:
        logits: float tensor ``(..., V)``.
        p: a float in ``(0, 1]``.
        min_tokens_to_keep: an int >= 1.

    Returns:
        A new tensor with the shape, dtype and device of `logits`.

    Raises:
        ValueError: p outside ``(0, 1]``, or ``min_tokens_to_keep < 1``.

    Example::

        probabilities [0.5, 0.3, 0.15, 0.05], logits = their logs, p = 0.6:
        mass of the more likely tokens = [0.0, 0.5, 0.8, 0.95] -> keep tokens 0 and 1
        top_p_filter(logits, 0.6) = [log 0.5, log 0.3, -inf, -inf]
        (0.5 alone is below 0.6, so token 1, which crosses 0.6, is kept)
    """
    raise NotImplementedError("decoding.top_p_filter: not implemented yet")


def apply_repetition_penalty(
    logits: torch.Tensor, input_ids: torch.Tensor, penalty: float
) -> torch.Tensor:
    """Repetition penalty (CTRL): make the tokens already in the sequence less likely.

    For every token id present in its row of `input_ids` (the prompt included; an id counts
    once however often it occurs): a negative logit is multiplied by `penalty`, a non-negative
    logit divided by it. With ``penalty > 1`` both make the token less likely. Other logits are
    unchanged. Oracle: ``transformers.RepetitionPenaltyLogitsProcessor``.

    Args:
        logits: float tensor ``(B, V)``, one step's next-token logits.
        input_ids: integer tensor ``(B, T)`` of token ids in ``[0, V)``.
        penalty: a number > 0 (1.0 changes nothing).

    Returns:
        A new tensor with the shape, dtype and device of `logits`.

    Raises:
        ValueError: ``penalty <= 0``, or ids outside ``[0, V)``.

    Example::

        logits = [[2.0, -1.0, 0.5, -3.0]], input_ids = [[1, 0, 1]], penalty = 2.0
        -> [[1.0, -2.0, 0.5, -3.0]]      (token 0: 2.0 / 2; token 1: -1.0 * 2)
    """
    raise NotImplementedError("decoding.apply_repetition_penalty: not implemented yet")


def greedy_decode(
    model,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
) -> torch.LongTensor:
    """Greedy decoding: append the argmax of the last position's logits, step after step.

    Each step calls ``model(sequences)`` on the whole ``(B, T_so_far)`` batch and appends, to
    every row, the token with the largest logit. A row that has produced `eos_token_id` is
    finished: at every later step it gets `pad_token_id` (default: the EOS id) instead of the
    argmax. Stop after `max_new_tokens` steps, or earlier as soon as every row has finished.
    With ``eos_token_id=None`` nothing finishes early. Oracle:
    ``model.generate(do_sample=False)``.

    Args:
        model: callable ``model(input_ids (B, T)) -> logits (B, T, V)``.
        input_ids: integer tensor ``(B, T)``, one prompt per row (no padding).
        max_new_tokens: an int >= 1.
        eos_token_id: the end-of-sequence id, or None.
        pad_token_id: the id written after EOS, or None for the EOS id itself.

    Returns:
        LongTensor ``(B, T + n)``: the prompts followed by the ``n <= max_new_tokens`` new
        tokens, on the device of `input_ids`.

    Raises:
        ValueError: ``max_new_tokens < 1``.

    Example::

        a model that always predicts (last token + 1) % 6, input_ids = [[1], [3]],
        max_new_tokens = 5, eos_token_id = 4, pad_token_id = 0:
        step 1: [2, 4]   row 1 finishes
        step 2: [3, 0]   row 1 is padded
        step 3: [4, 0]   row 0 finishes too: stop
        -> [[1, 2, 3, 4],
            [3, 4, 0, 0]]
    """
    raise NotImplementedError("decoding.greedy_decode: not implemented yet")


def sample(
    model,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.LongTensor:
    """Sampling: draw each next token from the processed next-token distribution.

    Each step, in this order:

    1. the last position's logits ``(B, V)``, converted to float32;
    2. :func:`apply_repetition_penalty` over the whole sequence so far (prompt included);
    3. :func:`apply_temperature`;
    4. :func:`top_k_filter` (``top_k=None`` or ``0``: skip);
    5. :func:`top_p_filter` (``top_p=None`` or ``1.0``: skip);
    6. ``softmax``, then ONE call ``torch.multinomial(probs, 1, generator=generator)`` on the
       ``(B, V)`` probabilities: one draw per row, rows in order, every row (finished rows
       too, their draw is then replaced by the pad id).

    EOS, padding and early stopping work as in :func:`greedy_decode`. Following this order and
    this single draw per step makes your output equal to
    ``model.generate(do_sample=True, top_k=top_k or 0, top_p=..., temperature=...,
    repetition_penalty=...)`` when both start from the same random state.

    Args:
        model: callable ``model(input_ids (B, T)) -> logits (B, T, V)``.
        input_ids: integer tensor ``(B, T)``.
        max_new_tokens: an int >= 1.
        temperature: a number > 0.
        top_k: None or an int >= 0.
        top_p: None or a float in ``(0, 1]``.
        repetition_penalty: a number > 0 (1.0: no penalty).
        eos_token_id, pad_token_id: as in :func:`greedy_decode`.
        generator: the ``torch.Generator`` to draw from (None: torch's global generator).

    Returns:
        LongTensor ``(B, T + n)`` with ``n <= max_new_tokens``.

    Raises:
        ValueError: ``max_new_tokens < 1``, ``temperature <= 0``, top_p outside ``(0, 1]``.

    Example::

        with top_k=1 only the most likely token survives, so
        sample(model, ids, 4, top_k=1, generator=g) == greedy_decode(model, ids, 4)
    """
    raise NotImplementedError("decoding.sample: not implemented yet")


def beam_search(
    model,
    input_ids: torch.Tensor,
    num_beams: int,
    max_new_tokens: int,
    length_penalty: float = 1.0,
    eos_token_id: int | None = None,
    early_stopping: bool = False,
    num_return_sequences: int = 1,
) -> tuple[torch.LongTensor, torch.Tensor]:
    """Beam search, with the rules of ``transformers`` 5.x ``generate(num_beams=...)``.

    State: `num_beams` running beams, each a token sequence with the sum of the log-
    probabilities of its generated tokens, and a pool of at most `num_beams` finished
    hypotheses. At the start the beams are `num_beams` copies of the prompt, but only the first
    is live: the others get the score ``-1e9``, so step 1 does not pick one token num_beams
    times. Each step:

    1. ``log_softmax`` of each beam's float32 last-position logits, added to the beam's score:
       ``num_beams * V`` candidates;
    2. rank the best ``2 * num_beams`` candidates (``torch.topk`` over all of them at once);
    3. a candidate ending in EOS, or reaching ``max_new_tokens`` new tokens, is finished. It
       enters the pool only if its rank is below `num_beams`, with the score
       ``sum_logprobs / generated_len ** length_penalty`` (generated tokens including the EOS,
       not the prompt). The pool keeps its `num_beams` best scores;
    4. the best `num_beams` unfinished candidates become the running beams.

    Stop after the step that reaches ``max_new_tokens``, or earlier once the pool holds
    `num_beams` hypotheses and: ``early_stopping=True``, or ``early_stopping=False`` and the
    best running beam's score divided by ``current_generated_len ** length_penalty`` is not
    greater than the worst pooled score.

    Args:
        model: callable ``model(input_ids (B, T)) -> logits (B, T, V)``.
        input_ids: integer tensor ``(1, T)``: a single prompt.
        num_beams: an int >= 1.
        max_new_tokens: an int >= 1.
        length_penalty: the exponent of the length normalisation (> 0 favours longer
            hypotheses, 0 compares raw sums).
        eos_token_id: the end-of-sequence id, or None.
        early_stopping: a bool, see above.
        num_return_sequences: an int in ``[1, num_beams]``.

    Returns:
        ``(sequences, scores)``: LongTensor ``(num_return_sequences, T + n)``, best first, where
        n is the length of the longest returned hypothesis (shorter ones are padded with the
        EOS id), and their float32 scores ``(num_return_sequences,)``.

    Raises:
        ValueError: ``num_beams < 1``, ``num_return_sequences > num_beams``, a batch of more
            than one prompt.

    Example::

        prompt [3], V = 4, EOS = 0, num_beams = 2, max_new_tokens = 2, length_penalty = 1:
        step 1: P(1) = 0.5, P(2) = 0.4, ... -> beams [3, 1] and [3, 2]
        step 2: after 1: P(0) = 0.4, P(1) = 0.3 ...; after 2: P(1) = 0.8 ...
                candidates: [3, 2, 1] 0.32, [3, 1, 0] 0.2, [3, 1, 1] 0.15, ...
                last step: ranks 0 and 1 are finished: [3, 2, 1] and [3, 1, 0]
        -> sequences [[3, 2, 1], [3, 1, 0]], scores [log(0.32) / 2, log(0.2) / 2]
        Greedy decoding would have returned [3, 1, 0] (0.5 > 0.4 at step 1).
    """
    raise NotImplementedError("decoding.beam_search: not implemented yet")
