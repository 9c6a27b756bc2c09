"""Decoding strategies for a causal language model (lab 2.3.6), reference solutions.

A ``model`` is any callable ``model(input_ids: LongTensor (B, T)) -> logits (B, T, V)``; only the
logits of the last position are used at each step. Two families of functions live here:

- logits processors, applied to one step's next-token logits ``(..., V)``:
  :func:`apply_repetition_penalty`, :func:`apply_temperature`, :func:`top_k_filter`,
  :func:`top_p_filter` (filtered tokens get ``-inf``, i.e. probability 0 after softmax);
- decoding loops: :func:`greedy_decode`, :func:`sample` and :func:`beam_search`, which call the
  model once per generated token on the whole sequence so far (no KV cache, for clarity).

Each function follows what Hugging Face ``transformers`` 5.x does (``generate`` and its logits
processors), so the outputs can be compared with it token for token.
"""
from __future__ import annotations

import math

import torch

# Hugging Face beam search marks impossible beams with this large negative score (not -inf, so
# that adding log-probabilities to it never produces NaN); mirrored here to rank like it does.
NOT_A_BEAM = -1.0e9


# -- argument checks ---------------------------------------------------------------------------


def _check_logits(logits: object, name: str = "logits") -> None:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {logits.dtype}")
    if logits.dim() < 1 or logits.shape[-1] == 0:
        raise ValueError(f"{name} must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return float(value)


def _check_token_id(value: object, name: str) -> int | None:
    if value is None:
        return None
    return _check_int(value, name, 0)


def _check_input_ids(input_ids: object) -> None:
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.Tensor, got {type(input_ids).__name__}")
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise TypeError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
    if input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise ValueError(f"input_ids must have shape (B, T) with T >= 1, got {tuple(input_ids.shape)}")


def _check_model(model: object) -> None:
    if not callable(model):
        raise TypeError(f"model must be callable as model(input_ids) -> logits, got {type(model).__name__}")


def _next_token_logits(model, sequences: torch.Tensor) -> torch.Tensor:
    """The model's float32 logits ``(B, V)`` for the token after each row of `sequences`."""
    logits = model(sequences)  # (B, T, V)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or logits.shape[:2] != sequences.shape:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"model must return logits of shape (B, T, V) = ({sequences.shape[0]}, "
                         f"{sequences.shape[1]}, V), got {shape}")
    return logits[:, -1, :].float()  # (B, V)


# -- logits processors -------------------------------------------------------------------------


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by `temperature`: ``softmax(logits / T)``.

    ``T < 1`` sharpens the distribution (towards greedy decoding), ``T > 1`` flattens it
    (towards uniform). ``T = 1`` leaves it unchanged. The limit ``T -> 0`` is the argmax, which
    is greedy decoding, not a division by zero: ``T <= 0`` is rejected.

    Args:
        logits: float tensor ``(..., V)``.
        temperature: a number > 0.

    Returns:
        A new tensor, same shape, dtype and device.
    """
    _check_logits(logits)
    temperature = _check_number(temperature, "temperature")
    if not temperature > 0 or math.isinf(temperature):
        raise ValueError(
            f"temperature must be a finite number > 0, got {temperature}; for temperature 0 "
            "(always the most likely token) use greedy decoding (greedy_decode) instead"
        )
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the logits ``>=`` the k-th largest along the last dim, set the others to ``-inf``.

    Every token tied with the k-th largest value is kept, so more than k tokens may survive
    (as ``transformers.TopKLogitsWarper`` does). ``k >= V`` keeps everything.

    Args:
        logits: float tensor ``(..., V)``.
        k: int >= 1.

    Returns:
        A new tensor, same shape, dtype and device.
    """
    _check_logits(logits)
    _check_int(k, "k", 1)
    if k >= logits.shape[-1]:
        return logits.clone()
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float, min_tokens_to_keep: int = 1) -> torch.Tensor:
    """Nucleus filtering: keep the most likely tokens until their mass reaches `p`.

    With the tokens sorted by probability (descending), token i is kept iff the mass of the
    tokens before it is ``< p``: the token that makes the mass cross `p` is kept, so the kept
    set is the smallest one whose mass is ``>= p``. The first `min_tokens_to_keep` tokens are
    always kept. Filtered logits become ``-inf``. Tied logits are ordered as the sort puts them.

    ``transformers.TopPLogitsWarper`` states the same rule from the other end: sorted
    ascending, it drops a token when the cumulative mass up to and including it is
    ``<= 1 - p``. Probabilities are computed in float32 for half-precision inputs (float64
    stays float64), so the decision does not suffer bfloat16's coarse cumulative sums.

    Args:
        logits: float tensor ``(..., V)``.
        p: float in ``(0, 1]``.
        min_tokens_to_keep: int >= 1.

    Returns:
        A new tensor, same shape, dtype and device.
    """
    _check_logits(logits)
    p = _check_number(p, "p")
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p}")
    _check_int(min_tokens_to_keep, "min_tokens_to_keep", 1)
    work = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
    sorted_logits, order = torch.sort(work, dim=-1, descending=True)  # (..., V) each
    sorted_probs = sorted_logits.softmax(dim=-1)  # (..., V)
    # mass of the tokens strictly before each one: an exclusive cumulative sum
    mass_before = sorted_probs.cumsum(dim=-1).roll(1, dims=-1)  # (..., V)
    mass_before[..., 0] = 0.0
    keep_sorted = mass_before < p  # (..., V)
    keep_sorted[..., :min_tokens_to_keep] = True
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)  # back to vocabulary order
    return logits.masked_fill(~keep, float("-inf"))


def apply_repetition_penalty(
    logits: torch.Tensor, input_ids: torch.Tensor, penalty: float
) -> torch.Tensor:
    """Make tokens already in `input_ids` less likely (CTRL, Keskar et al. 2019).

    For every token id present in its row of `input_ids` (prompt included, once per id however
    often it occurs): a negative logit is multiplied by `penalty`, a non-negative one divided by
    it. Both moves lower the logit when ``penalty > 1``; dividing a negative logit would raise it.

    Args:
        logits: float tensor ``(B, V)`` (or ``(V,)``).
        input_ids: integer tensor ``(B, T)`` (or ``(T,)``) of ids in ``[0, V)``, same leading dims.
        penalty: a number > 0 (1.0 changes nothing).

    Returns:
        A new tensor, same shape, dtype and device as `logits`.
    """
    _check_logits(logits)
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.Tensor, got {type(input_ids).__name__}")
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise TypeError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
    if input_ids.dim() != logits.dim() or input_ids.shape[:-1] != logits.shape[:-1]:
        raise ValueError(f"input_ids {tuple(input_ids.shape)} must have the leading dims of logits "
                         f"{tuple(logits.shape)}: (B, T) for logits (B, V)")
    vocab_size = logits.shape[-1]
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= vocab_size):
        raise ValueError(f"input_ids must be token ids in [0, {vocab_size})")
    penalty = _check_number(penalty, "penalty")
    if not penalty > 0 or math.isinf(penalty):
        raise ValueError(f"penalty must be a finite number > 0, got {penalty}")
    seen = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
    seen = seen.scatter(-1, input_ids.long(), True)  # (B, V): True at ids present in the row
    penalised = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, penalised, logits)


# -- decoding loops ----------------------------------------------------------------------------


def greedy_decode(
    model,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
) -> torch.LongTensor:
    """Append the most likely next token (argmax of the logits), `max_new_tokens` times at most.

    A row that has produced `eos_token_id` is finished: from the next step on it gets
    `pad_token_id` (default: the EOS id) instead of the argmax. The loop stops early once every
    row is finished, so the output may be shorter than ``T + max_new_tokens``. With
    ``eos_token_id=None`` nothing finishes early. Ties go to the lowest token id.

    Args:
        model: ``model(input_ids (B, T)) -> logits (B, T, V)``.
        input_ids: integer tensor ``(B, T)``, the prompts (no padding).
        max_new_tokens: int >= 1.
        eos_token_id, pad_token_id: token ids or None.

    Returns:
        LongTensor ``(B, T + n)``, prompts followed by the ``n <= max_new_tokens`` new tokens.
    """
    _check_model(model)
    _check_input_ids(input_ids)
    _check_int(max_new_tokens, "max_new_tokens", 1)
    eos = _check_token_id(eos_token_id, "eos_token_id")
    pad = _check_token_id(pad_token_id, "pad_token_id")
    pad = eos if pad is None else pad

    sequences = input_ids.long()
    finished = torch.zeros(sequences.shape[0], dtype=torch.bool, device=sequences.device)
    for _ in range(max_new_tokens):
        next_tokens = _next_token_logits(model, sequences).argmax(dim=-1)  # (B,)
        if eos is not None:
            next_tokens = next_tokens.masked_fill(finished, pad)
            finished = finished | (next_tokens == eos)
        sequences = torch.cat([sequences, next_tokens[:, None]], dim=1)  # (B, T + 1)
        if eos is not None and bool(finished.all()):
            break
    return sequences


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
    """Ancestral sampling: draw each next token from the processed next-token distribution.

    Each step: the last position's logits in float32, then repetition penalty (over the whole
    sequence so far, prompt included), temperature, top-k, top-p, softmax, and one draw per row
    with ``torch.multinomial(probs, 1, generator=generator)`` on the ``(B, V)`` probabilities.
    ``top_k=None``/``0`` and ``top_p=None``/``1.0`` mean no filtering. EOS, padding and early
    stopping work as in :func:`greedy_decode`; finished rows still take part in the draw, so the
    random stream is consumed exactly as ``transformers``' ``generate(do_sample=True)`` does.

    Args:
        model: ``model(input_ids (B, T)) -> logits (B, T, V)``.
        input_ids: integer tensor ``(B, T)``.
        max_new_tokens: int >= 1.
        temperature: number > 0; top_k: None or int >= 0; top_p: None or float in (0, 1];
        repetition_penalty: number > 0; eos_token_id, pad_token_id: token ids or None.
        generator: the torch.Generator to draw from (None: torch's default generator); it must
            live on the device of `input_ids`.

    Returns:
        LongTensor ``(B, T + n)`` with ``n <= max_new_tokens``.
    """
    _check_model(model)
    _check_input_ids(input_ids)
    _check_int(max_new_tokens, "max_new_tokens", 1)
    temperature = _check_number(temperature, "temperature")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}; for temperature 0 use "
                         "greedy decoding (greedy_decode) instead")
    if top_k is not None:
        _check_int(top_k, "top_k", 0)
    if top_p is not None:
        top_p = _check_number(top_p, "top_p")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    repetition_penalty = _check_number(repetition_penalty, "repetition_penalty")
    if not repetition_penalty > 0:
        raise ValueError(f"repetition_penalty must be > 0, got {repetition_penalty}")
    eos = _check_token_id(eos_token_id, "eos_token_id")
    pad = _check_token_id(pad_token_id, "pad_token_id")
    pad = eos if pad is None else pad
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")

    sequences = input_ids.long()
    finished = torch.zeros(sequences.shape[0], dtype=torch.bool, device=sequences.device)
    for _ in range(max_new_tokens):
        logits = _next_token_logits(model, sequences)  # (B, V) float32
        if repetition_penalty != 1.0:
            logits = apply_repetition_penalty(logits, sequences, repetition_penalty)
        logits = apply_temperature(logits, temperature)
        if top_k:  # None and 0 both mean "no top-k"
            logits = top_k_filter(logits, top_k)
        if top_p is not None and top_p < 1.0:
            logits = top_p_filter(logits, top_p)
        probs = logits.softmax(dim=-1)  # (B, V)
        next_tokens = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B, 1) -> (B,)
        if eos is not None:
            next_tokens = next_tokens.masked_fill(finished, pad)
            finished = finished | (next_tokens == eos)
        sequences = torch.cat([sequences, next_tokens[:, None]], dim=1)  # (B, T + 1)
        if eos is not None and bool(finished.all()):
            break
    return sequences


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
    """Beam search with the semantics of ``transformers`` 5.x ``generate(num_beams=...)``.

    The state is `num_beams` running beams (token sequences with the sum of their tokens'
    log-probabilities) and a pool of at most `num_beams` finished hypotheses. Each step:

    1. every running beam scores every next token: ``beam score + log_softmax(logits)``, in
       float32 (``num_beams * V`` candidates);
    2. the best ``2 * num_beams`` candidates are ranked; a candidate that ends in EOS, or that
       reaches ``max_new_tokens``, is finished. A finished candidate enters the pool only if its
       rank is below `num_beams`, with the length-normalised score
       ``sum_logprobs / generated_len ** length_penalty`` (generated tokens including EOS,
       excluding the prompt); the pool keeps its `num_beams` best scores;
    3. the best `num_beams` unfinished candidates become the running beams.

    At the start the beams are copies of the prompt, only the first one live (the others score
    ``-1e9``) so that step 1 does not pick the same token `num_beams` times. Stop rules, checked
    after each step once the pool holds `num_beams` hypotheses: ``early_stopping=True`` stops
    at once; ``early_stopping=False`` stops when the best running beam, normalised by its
    current length, cannot beat the worst pooled score. The last step always stops.

    ``length_penalty > 0`` favours longer hypotheses (their negative sums are divided by a
    larger number); ``0`` compares raw sums, which favours short ones.

    Args:
        model: ``model(input_ids (B, T)) -> logits (B, T, V)``.
        input_ids: integer tensor ``(1, T)``: one prompt (batch size 1).
        num_beams: int >= 1 (1 is plain beam search with one beam, not greedy decoding).
        max_new_tokens: int >= 1.
        length_penalty: exponent of the length normalisation.
        eos_token_id: token id or None (then every hypothesis has `max_new_tokens` tokens).
        early_stopping: bool, see above.
        num_return_sequences: int in ``[1, num_beams]``.

    Returns:
        ``(sequences, scores)``: LongTensor ``(num_return_sequences, T + n)`` best first, where n
        is the longest returned hypothesis (shorter ones padded with EOS), and float32 scores
        ``(num_return_sequences,)``.
    """
    _check_model(model)
    _check_input_ids(input_ids)
    if input_ids.shape[0] != 1:
        raise ValueError(f"input_ids must hold one prompt (batch size 1), got {tuple(input_ids.shape)}")
    _check_int(num_beams, "num_beams", 1)
    _check_int(max_new_tokens, "max_new_tokens", 1)
    length_penalty = _check_number(length_penalty, "length_penalty")
    eos = _check_token_id(eos_token_id, "eos_token_id")
    if not isinstance(early_stopping, bool):
        raise TypeError(f"early_stopping must be a bool, got {type(early_stopping).__name__}")
    _check_int(num_return_sequences, "num_return_sequences", 1)
    if num_return_sequences > num_beams:
        raise ValueError(f"num_return_sequences ({num_return_sequences}) must be <= num_beams ({num_beams})")

    device = input_ids.device
    prompt_len = input_ids.shape[1]
    beams = input_ids.long().expand(num_beams, prompt_len)  # (1, T) -> (num_beams, T)
    beam_scores = torch.full((num_beams,), NOT_A_BEAM, dtype=torch.float32, device=device)
    beam_scores[0] = 0.0
    pool: list[tuple[torch.Tensor, torch.Tensor]] = []  # (score 0-dim, generated tokens), best first

    for step in range(max_new_tokens):
        generated_len = step + 1
        log_probs = _next_token_logits(model, beams).log_softmax(dim=-1)  # (num_beams, V)
        vocab_size = log_probs.shape[-1]
        candidate_scores = (log_probs + beam_scores[:, None]).reshape(-1)  # (num_beams * V,)
        top_scores, top_index = torch.topk(candidate_scores, 2 * num_beams)  # (2 * num_beams,) each
        parent, token = top_index // vocab_size, top_index % vocab_size
        candidates = torch.cat([beams[parent], token[:, None]], dim=1)  # (2 * num_beams, T + step + 1)

        at_length_limit = generated_len == max_new_tokens
        ends = torch.full_like(token, at_length_limit, dtype=torch.bool)
        if eos is not None:
            ends = ends | (token == eos)

        # only candidates ranked in the top num_beams may become finished hypotheses
        normalised = top_scores / (generated_len**length_penalty)
        for rank in range(num_beams):
            if ends[rank]:
                pool.append((normalised[rank], candidates[rank, prompt_len:]))
        pool = _best_hypotheses(pool, num_beams)

        # the best num_beams candidates that did not end keep running
        running_scores = top_scores + ends.float() * NOT_A_BEAM
        keep_scores, keep = torch.topk(running_scores, num_beams)  # (num_beams,) each
        beams, beam_scores = candidates[keep], keep_scores

        if at_length_limit:
            break
        if len(pool) == num_beams:
            if early_stopping:
                break
            best_possible = beam_scores[0] / (generated_len**length_penalty)
            worst_pooled = pool[-1][0]
            if not bool(best_possible > worst_pooled):
                break

    returned = pool[:num_return_sequences]
    longest = max(tokens.shape[0] for _, tokens in returned)
    fill = eos if eos is not None else 0  # without EOS all hypotheses have the same length
    sequences = torch.full((num_return_sequences, prompt_len + longest), fill, dtype=torch.long,
                           device=device)
    sequences[:, :prompt_len] = input_ids[0]
    for row, (_, tokens) in enumerate(returned):
        sequences[row, prompt_len:prompt_len + tokens.shape[0]] = tokens
    scores = torch.stack([score for score, _ in returned])  # (num_return_sequences,)
    return sequences, scores


def _best_hypotheses(pool: list, size: int) -> list:
    """The `size` best (score, tokens) pairs, best first (ties keep the earlier entry)."""
    if not pool:
        return pool
    scores = torch.stack([score for score, _ in pool])  # (len(pool),)
    order = torch.sort(scores, descending=True, stable=True).indices[:size]
    return [pool[i] for i in order.tolist()]
