"""Known-wrong variants of `reference.decoding` (one per mistake id of lab 2.3.6).

Each variant is the reference function with exactly one mistake; argument checks and every
other behaviour stay as in the reference.
"""
from __future__ import annotations

import math

import torch

from reference.decoding import (
    _check_input_ids,
    _check_int,
    _check_logits,
    _check_model,
    _check_number,
    _check_token_id,
    _next_token_logits,
    beam_search,
)
from reference.mistakes import mistake


@mistake(
    "decoding.temperature_multiply",
    function="apply_temperature",
    hint="You multiplied the logits by the temperature. Temperature divides them: "
    "softmax(logits / T). A small T (e.g. 0.5) must make the distribution sharper, closer to "
    "greedy decoding, and a large T flatter; multiplying does the opposite.",
)
def apply_temperature_multiplies(logits, temperature):
    _check_logits(logits)
    temperature = _check_number(temperature, "temperature")
    if not temperature > 0 or math.isinf(temperature):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}; for "
                         "temperature 0 use greedy decoding (greedy_decode) instead")
    return logits * temperature


@mistake(
    "decoding.top_k_strict",
    function="top_k_filter",
    hint="You kept exactly k tokens, so tokens tied with the k-th largest logit were dropped "
    "(or kept arbitrarily). Keep every logit that is >= the k-th largest value: find that value "
    "(e.g. the last of torch.topk's values) and filter by comparing with it, instead of "
    "scattering the k top indices.",
)
def top_k_keeps_exactly_k(logits, k):
    _check_logits(logits)
    _check_int(k, "k", 1)
    if k >= logits.shape[-1]:
        return logits.clone()
    top_indices = torch.topk(logits, k, dim=-1).indices  # (..., k)
    keep = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
    keep = keep.scatter(-1, top_indices, True)
    return logits.masked_fill(~keep, float("-inf"))


@mistake(
    "decoding.top_p_drops_crossing",
    function="top_p_filter",
    hint="You removed the token whose probability makes the cumulative mass cross p, so the "
    "kept tokens hold less than p of the mass. Keep a token when the mass of the tokens BEFORE "
    "it (sorted by probability, descending) is still below p: shift the cumulative sum by one "
    "position (or subtract each token's own probability) before comparing with p.",
)
def top_p_drops_crossing_token(logits, p, min_tokens_to_keep=1):
    _check_logits(logits)
    p = _check_number(p, "p")
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p}")
    _check_int(min_tokens_to_keep, "min_tokens_to_keep", 1)
    work = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
    sorted_logits, order = torch.sort(work, dim=-1, descending=True)
    mass_through = sorted_logits.softmax(dim=-1).cumsum(dim=-1)  # includes the token itself
    keep_sorted = mass_through <= p
    keep_sorted[..., :min_tokens_to_keep] = True
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return logits.masked_fill(~keep, float("-inf"))


@mistake(
    "decoding.repetition_sign",
    function="apply_repetition_penalty",
    hint="You divided every repeated token's logit by the penalty. For a negative logit, "
    "dividing by a penalty > 1 moves it towards 0, which makes the token MORE likely. Divide "
    "positive logits and multiply negative ones by the penalty, so both become less likely.",
)
def repetition_penalty_divides_all(logits, input_ids, penalty):
    _check_logits(logits)
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.Tensor, got {type(input_ids).__name__}")
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise TypeError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
    if input_ids.dim() != logits.dim() or input_ids.shape[:-1] != logits.shape[:-1]:
        raise ValueError("input_ids must have the leading dims of logits")
    vocab_size = logits.shape[-1]
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= vocab_size):
        raise ValueError(f"input_ids must be token ids in [0, {vocab_size})")
    penalty = _check_number(penalty, "penalty")
    if not penalty > 0 or math.isinf(penalty):
        raise ValueError(f"penalty must be a finite number > 0, got {penalty}")
    seen = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
    seen = seen.scatter(-1, input_ids.long(), True)
    return torch.where(seen, logits / penalty, logits)


@mistake(
    "decoding.greedy_no_pad",
    function="greedy_decode",
    hint="A row that has produced EOS kept generating tokens. Track which rows are finished and "
    "write pad_token_id (the EOS id when no pad id is given) into them at every later step; stop "
    "the loop early only when every row has finished.",
)
def greedy_decode_without_padding(model, input_ids, max_new_tokens, eos_token_id=None,
                                  pad_token_id=None):
    _check_model(model)
    _check_input_ids(input_ids)
    _check_int(max_new_tokens, "max_new_tokens", 1)
    eos = _check_token_id(eos_token_id, "eos_token_id")
    _check_token_id(pad_token_id, "pad_token_id")
    sequences = input_ids.long()
    finished = torch.zeros(sequences.shape[0], dtype=torch.bool, device=sequences.device)
    for _ in range(max_new_tokens):
        next_tokens = _next_token_logits(model, sequences).argmax(dim=-1)
        if eos is not None:
            finished = finished | (next_tokens == eos)  # finished rows are tracked, never padded
        sequences = torch.cat([sequences, next_tokens[:, None]], dim=1)
        if eos is not None and bool(finished.all()):
            break
    return sequences


@mistake(
    "decoding.beam_no_length_penalty",
    function="beam_search",
    hint="Your finished hypotheses are ranked (and scored) by their raw sum of log-probabilities, "
    "which always favours short ones. Divide each finished hypothesis's sum by "
    "generated_length ** length_penalty (generated tokens including EOS, not the prompt), both "
    "when ranking and in the scores you return, and in the early-stopping comparison.",
)
def beam_search_without_length_penalty(model, input_ids, num_beams, max_new_tokens,
                                       length_penalty=1.0, eos_token_id=None, early_stopping=False,
                                       num_return_sequences=1):
    _check_number(length_penalty, "length_penalty")
    return beam_search(model, input_ids, num_beams, max_new_tokens, length_penalty=0.0,
                       eos_token_id=eos_token_id, early_stopping=early_stopping,
                       num_return_sequences=num_return_sequences)
