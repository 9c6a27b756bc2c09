"""Proof that public checks and hidden suites agree with the reference and catch every mistake.

- every public check passes on `reference/`, and reports "not implemented" on the stubs;
- every mistake of `reference.mistakes` fails a public check of its own function (or is listed
  in HIDDEN_ONLY with the reason), and nothing else;
- every hidden suite passes on `reference/`; every mistake fails hidden cases of its own
  function only, and the failures are diagnosed with its id.

Suites run in-process through the same collector the grader uses, with the outer run's seed,
so each CI run draws fresh inputs.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from autograder.contract import contract
from autograder.grading import SUITES_DIR, run_suites
from autograder.impl import load_implementation
from reference.mistakes import MISTAKES

CHECKS_DIR = Path(__file__).resolve().parent.parent / "exercises" / "checks"

# Mistakes the public checks cannot catch without a reference, and why.
HIDDEN_ONLY: dict[str, str] = {}


def run(spec: str, directory: Path, seed: int, modules: list[str] | None = None):
    cases, errors = run_suites(load_implementation(spec), seed=seed, device="cpu",
                               suites_dir=directory, modules=modules)
    assert not errors, f"collection errors: {errors}"
    assert cases, f"no case ran in {directory}"
    return cases


def by_function(cases):
    grouped: dict[str, list] = {}
    for case in cases:
        grouped.setdefault(case.qualname, []).append(case)
    return grouped


CONTRACT = contract()
ALL_FUNCTIONS = sorted(f"{m}.{f}" for m, fs in CONTRACT.items() for f in fs)


def test_every_contract_mistake_is_registered():
    expected = {
        "attention.softmax_dim", "attention.no_scale", "attention.scale_by_dk",
        "attention.mask_inverted", "attention.mask_after_softmax", "attention.nan_rows",
        "attention.heads_no_transpose", "attention.merge_order", "masks.causal_diagonal",
        "masks.causal_transposed", "masks.causal_top_left", "masks.padding_inverted",
        "positional.sin_cos_swapped", "positional.halves", "positional.rope_interleaved",
        "positional.rope_wrong_base", "positional.alibi_pow2_only", "bpe.tie_first_seen",
        "bpe.overlapping_merge", "bpe.apply_ignores_rank", "bpe.unk_keyerror",
        "decoding.temperature_multiply", "decoding.top_k_strict", "decoding.top_p_drops_crossing",
        "decoding.repetition_sign", "decoding.greedy_no_pad", "decoding.beam_no_length_penalty",
        "transformer.post_ln_as_pre_ln", "transformer.variance_unbiased", "transformer.gelu_tanh",
    }
    assert set(MISTAKES) == expected
    for mistake in MISTAKES.values():
        assert mistake.function in CONTRACT[mistake.module], mistake.id
        assert len(mistake.hint) > 40, f"{mistake.id}: the hint is too thin to help"


# --- public checks --------------------------------------------------------------------------


def test_public_checks_pass_on_reference(seed):
    cases = run("reference", CHECKS_DIR, seed)
    failed = [f"{c.qualname}: {c.case}: {c.message}" for c in cases if c.status != "passed"]
    assert not failed, "\n".join(failed)
    assert sorted(by_function(cases)) == ALL_FUNCTIONS, "every function needs public checks"


def test_public_checks_report_stubs_as_not_implemented(seed):
    cases = run("exercises", CHECKS_DIR, seed)
    wrong = [f"{c.qualname}: {c.case}: {c.status}" for c in cases if c.status != "not implemented"]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("mistake_id", sorted(MISTAKES))
def test_public_checks_catch_mistake(mistake_id, seed):
    mistake = MISTAKES[mistake_id]
    cases = by_function(run(f"mistake:{mistake_id}", CHECKS_DIR, seed, [mistake.module]))
    target = f"{mistake.module}.{mistake.function}"
    others = [f"{c.qualname}: {c.case}" for q, cs in cases.items() if q != target
              for c in cs if c.status != "passed"]
    assert not others, f"{mistake_id} must fail only {target}; also failed: {others}"
    caught = any(c.status == "failed" for c in cases[target])
    if mistake_id in HIDDEN_ONLY:
        assert not caught, f"{mistake_id} is caught after all: remove it from HIDDEN_ONLY"
    else:
        assert caught, f"no public check of {target} fails on {mistake_id}"


# --- hidden suites ---------------------------------------------------------------------------


def test_hidden_suites_pass_on_reference(seed):
    cases = run("reference", SUITES_DIR, seed)
    failed = [f"{c.qualname}: {c.case}: {c.message}" for c in cases if c.status != "passed"]
    assert not failed, "\n".join(failed)
    assert sorted(by_function(cases)) == ALL_FUNCTIONS, "every function needs hidden cases"


@pytest.mark.parametrize("mistake_id", sorted(MISTAKES))
def test_hidden_suite_diagnoses_mistake(mistake_id, seed):
    mistake = MISTAKES[mistake_id]
    cases = by_function(run(f"mistake:{mistake_id}", SUITES_DIR, seed, [mistake.module]))
    target = f"{mistake.module}.{mistake.function}"
    others = [f"{c.qualname}: {c.case}" for q, cs in cases.items() if q != target
              for c in cs if c.status != "passed"]
    assert not others, f"{mistake_id} must lose points only in {target}; also failed: {others}"
    failed = [c for c in cases[target] if c.status == "failed"]
    assert failed, f"no hidden case of {target} fails on {mistake_id}"
    diagnosed = {c.mistake for c in failed}
    assert mistake_id in diagnosed, f"failures of {target} diagnosed as {diagnosed}, not {mistake_id}"
    assert diagnosed <= {mistake_id, None}, f"{mistake_id} also diagnosed as {diagnosed}"
