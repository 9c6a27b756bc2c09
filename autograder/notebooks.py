"""Build the lab notebooks ``exercises/notebooks/lab-2.3.N-<slug>.ipynb`` from the stubs.

Run ``python -m autograder.notebooks`` after changing a stub, or ``--check`` to verify that the
committed notebooks are up to date. Each notebook is: a title and what the lab teaches, a setup
cell (imports and the self-check helper), then for every function a short note (the maths and
the classic pitfall), a code cell with the stub exactly as in ``exercises/<module>.py``
(signature, docstring, ``raise NotImplementedError``) and a self-check cell::

    check("masks.causal_mask", globals())

which prints ``masks.causal_mask: 10 checks passed``, ``... not implemented yet`` or
``... 2 of 10 checks failed: <first message>`` (see ``autograder.selfcheck``).

Output is deterministic (no outputs, no execution counts, cell ids derived from the content's
role, e.g. ``code-masks-causal_mask``), so a test can compare the committed files byte for byte.
Graders read a notebook's definitions only (``autograder.intake``): the setup cell's helper
import sits in a ``try`` block, which intake skips, so a notebook grades in the sandbox.
"""
from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
EXERCISES_DIR = ROOT / "exercises"
NOTEBOOKS_DIR = EXERCISES_DIR / "notebooks"


@dataclass(frozen=True)
class Section:
    """Functions of one exercise module in a lab (all public ones when `functions` is None)."""

    module: str
    functions: tuple[str, ...] | None = None
    carried_from: str | None = None  # the lab that teaches these; this lab only needs them
    intro: str | None = None  # Markdown heading and note; default: MODULE_INTROS[module]


@dataclass(frozen=True)
class Lab:
    number: str  # "2.3.1"
    slug: str  # "attention-from-scratch"
    title: str
    intro: str  # Markdown: what the lab teaches
    sections: tuple[Section, ...]

    @property
    def filename(self) -> str:
        return f"lab-{self.number}-{self.slug}.ipynb"


# The labs of the study guide that have graded functions; each exercise module's docstring
# names its lab(s). Transformer is split: the encoder block is lab 2.3.2, pooling lab 2.3.5.
LABS: tuple[Lab, ...] = (
    Lab("2.3.1", "attention-from-scratch", "Attention from Scratch",
        "Attention lets every position build its output as a weighted average of all the "
        "others, with weights it computes from the data itself. Here you write it in plain "
        "tensor operations: scaled dot-product attention, the reshapes behind multiple heads, "
        "full multi-head attention, and the masks that decide who may look at whom.",
        (Section("attention"), Section("masks"))),
    Lab("2.3.2", "transformer-block", "Transformer Block",
        "An encoder layer wraps attention and a small feed-forward network in residual "
        "connections and layer norms. You build each piece, then the whole block in both "
        "arrangements: Post-LN (the 2017 paper) and Pre-LN (most models since).",
        (Section("attention", carried_from="2.3.1"),
         Section("transformer", ("layer_norm", "gelu", "feed_forward", "encoder_block")))),
    Lab("2.3.3", "positional-encoding-study", "Positional Encoding Study",
        "Attention alone cannot tell word order: permute the tokens and the outputs are just "
        "permuted. You implement three ways of adding position: the fixed sinusoidal table, "
        "rotary embeddings (RoPE) and the ALiBi distance penalty.",
        (Section("positional"),)),
    Lab("2.3.4", "tokenizer-training", "Tokenizer Training",
        "Byte-pair encoding learns sub-word units from a corpus by repeatedly fusing the most "
        "frequent pair of neighbouring symbols. Part A is a character-level BPE that matches "
        "Hugging Face `tokenizers`; part B is the lossless byte-level BPE of the GPT family.",
        (Section("bpe"),)),
    Lab("2.3.5", "bert-fine-tuning", "BERT Fine-tuning",
        "A classifier on top of an encoder needs one vector per sequence, not one per token. "
        "You write the pooling step that feeds the classification head: the [CLS] vector, or "
        "the mean over real (non-padding) tokens.",
        (Section("transformer", ("pool_hidden_states",), intro=(
            "## Pooling\n\nThe encoder returns `hidden` of shape `(B, T, D)`; the tokenizer's "
            "`attention_mask` `(B, T)` is 1 at real tokens and 0 at padding.")),)),
    Lab("2.3.6", "gpt-text-generation", "GPT Text Generation",
        "A language model only scores the next token; the decoding strategy turns those "
        "scores into text. You write the logits processors (temperature, top-k, top-p, "
        "repetition penalty) and three decoding loops: greedy, sampling and beam search.",
        (Section("decoding"),)),
)

MODULE_INTROS = {
    "attention": "## Attention\n\nShapes: `B` batch, `H` heads, `L` queries, `S` keys, `D` model "
                 "width, `d = D / H`. Masks are bool and **True means may attend**.",
    "masks": "## Masks\n\nEvery mask is bool with **True = may attend**; row `i` is a query, "
             "column `j` a key. Masks act on the scores *before* the softmax.",
    "transformer": "## The encoder block\n\nEach function takes its weights as plain tensors "
                   "in a dict (`nn.Linear` convention: `y = x @ w.T + b`).",
    "positional": "## Position information\n\nAll tables are float32 and stay on the device "
                  "you ask for; odd widths are rejected with a ValueError.",
    "bpe": "## Byte-pair encoding\n\nA *word* is a tuple of symbols; a *merge* glues one "
           "adjacent pair into a new symbol. Inputs are never modified.",
    "decoding": "## Decoding\n\nA `model` is any callable `model(input_ids (B, T)) -> logits "
                "(B, T, V)`; only the last position's logits matter at each step.",
}

CARRIED_INTRO = (
    "## Carried over from lab {lab}\n\n`encoder_block` calls `multi_head_attention`, so this "
    "notebook needs your attention functions. Paste your working versions from lab {lab} into "
    "the cells below (they are graded with this notebook too)."
)

# One short note per function: the idea or the maths, then the mistake people make most.
NOTES = {
    "attention.scaled_dot_product_attention":
        "Scores `q @ kᵀ / √d_k`, one row per query. Exclude masked scores *before* the softmax, "
        "and take the softmax over the keys (the last dim) so each row of weights sums to 1.\n\n"
        "**Pitfalls:** softmax over dim -2; dividing by `d_k` instead of `√d_k`; masking the "
        "weights after the softmax; NaN in a row whose keys are all masked (give it zero "
        "weights instead).",
    "attention.split_heads":
        "`(B, T, D)` → `(B, T, H, d)` → transpose → `(B, H, T, d)`.\n\n**Pitfall:** a single "
        "`view(B, H, T, d)` has the right shape but cuts the wrong numbers into each head.",
    "attention.merge_heads":
        "The inverse of `split_heads`: transpose back to `(B, T, H, d)`, then flatten the last "
        "two dims. Check `merge_heads(split_heads(x, H))` gives back `x`.",
    "attention.multi_head_attention":
        "Project queries from `x_q` and keys/values from `x_kv`, split into heads, attend, merge, "
        "and apply the output projection. Print the shape after every step the first time.",
    "masks.causal_mask":
        "`mask[i, j] = j <= i + (k_len - q_len)`: the lower triangle, diagonal included; with "
        "more keys than queries (KV cache) the triangle moves to the bottom-right corner.\n\n"
        "**Pitfalls:** `j < i` hides each token from itself; an upper triangle shows the future.",
    "masks.padding_mask":
        "True at real tokens, shape `(B, 1, 1, S)` so it broadcasts over heads and queries.\n\n"
        "**Pitfall:** marking the pad positions True inverts the meaning.",
    "masks.causal_padding_mask":
        "A query may attend to a key when the key is not in the future *and* not padding: the "
        "logical AND of the two masks above, shape `(B, 1, S, S)`.",
    "masks.sliding_window_mask":
        "Each query sees itself and the `window - 1` positions before it: `i - window < j <= i`.",
    "masks.additive_mask":
        "The same information as numbers to add to the scores: `0.0` where allowed, `-inf` "
        "where blocked, so the softmax gives blocked keys exactly zero weight.",
    "transformer.layer_norm":
        "Normalise each vector over its last dim: `(x - mean) / √(var + eps) * w + b`.\n\n"
        "**Pitfall:** `torch.var` divides by `D - 1` by default; layer norm uses the biased "
        "variance (divide by `D`).",
    "transformer.gelu":
        "The exact form `x · Φ(x) = 0.5 · x · (1 + erf(x / √2))`. The tanh approximation is "
        "close but not equal, and the checks notice.",
    "transformer.feed_forward":
        "Expand, activate, contract: `gelu(x @ w1ᵀ + b1) @ w2ᵀ + b2`, the same for every position.",
    "transformer.encoder_block":
        "Pre-LN: `h = x + attn(ln1(x))`, `out = h + ffn(ln2(h))`. Post-LN: `h = ln1(x + attn(x))`, "
        "`out = ln2(h + ffn(h))`.\n\n**Pitfall:** swapping the two arrangements: Pre-LN "
        "normalises the *input* of each sub-layer, Post-LN the *sum* after the residual.",
    "transformer.pool_hidden_states":
        "`\"cls\"` takes position 0 (BERT's [CLS]); `\"mean\"` averages the positions whose "
        "attention mask is 1. A row with no real token must give zeros, not NaN.\n\n"
        "**Pitfall:** averaging over padding dilutes the vector with pad embeddings.",
    "positional.sinusoidal_encoding":
        "`PE[pos, 2i] = sin(pos / base^(2i/d))`, `PE[pos, 2i+1] = cos(...)`: sine and cosine "
        "*interleaved*, one frequency per pair of columns.\n\n**Pitfalls:** cosine on the even "
        "columns; all sines in the first half and cosines in the second.",
    "positional.rope_inv_freq":
        "One frequency per pair of dimensions: `1 / base^(2i / head_dim)` for `i = 0 .. d/2 - 1`, "
        "in float32.",
    "positional.apply_rope":
        "Rotate pairs `(x[..., i], x[..., i + d/2])` by `pos · inv_freq[i]`: "
        "`x · cos + rotate_half(x) · sin` (the Llama convention). Queries and keys rotated this "
        "way have dot products that depend only on their distance.\n\n**Pitfall:** pairing "
        "neighbouring dims `(2i, 2i+1)` is GPT-J's layout, not this one.",
    "positional.alibi_slopes":
        "For a power of two `n`, slopes `2^(-8(h+1)/n)`. Otherwise take the slopes of the "
        "largest power of two below `n` and fill up with every other slope of twice that.\n\n"
        "**Pitfall:** code that works for 8 heads but not for 12.",
    "positional.alibi_bias":
        "`bias[h, i, j] = -slope[h] · |i - j|`: a penalty that grows with distance, added to "
        "the scores instead of adding anything to the embeddings.",
    "bpe.pretokenize":
        "Split text into words and runs of punctuation with `\\w+|[^\\w\\s]+`; whitespace "
        "separates and disappears.",
    "bpe.get_pair_counts":
        "Count adjacent symbol pairs inside each word, weighted by how often the word occurs.",
    "bpe.merge_pair":
        "Scan left to right and fuse every non-overlapping occurrence of the pair.\n\n"
        "**Pitfall:** `('a','a','a')` with `('a','a')` becomes `('aa','a')`, not `('aa','aa')`.",
    "bpe.train_bpe":
        "Special tokens first, then the alphabet by code point; then merge the most frequent "
        "pair until the vocabulary is full. Ties go to the pair with the smallest ids.\n\n"
        "**Pitfall:** breaking ties by which pair you saw first gives a different vocabulary.",
    "bpe.apply_merges":
        "Apply the learned merges to a new word, always the lowest-rank mergeable pair first "
        "(applying the list in order over the whole word is equivalent).\n\n**Pitfall:** "
        "merging the leftmost mergeable pair whatever its rank.",
    "bpe.encode":
        "Pre-tokenize, split each word with `apply_merges`, look every symbol up.\n\n"
        "**Pitfall:** a character never seen in training must map to the unknown token, not "
        "raise `KeyError`.",
    "bpe.train_byte_bpe":
        "Start from the UTF-8 bytes (ids 0-255); merge `i` creates id `256 + i`. Ties go to "
        "the pair that occurs first in the current sequence.",
    "bpe.encode_bytes":
        "From the bytes, repeatedly merge the pair with the lowest new id until none is left.",
    "bpe.decode_bytes":
        "Expand ids back to bytes and decode UTF-8 with `errors=\"replace\"`: "
        "`decode_bytes(encode_bytes(t, m), m) == t` for every string.",
    "decoding.apply_temperature":
        "Divide the logits by the temperature: below 1 sharpens, above 1 flattens.\n\n"
        "**Pitfalls:** multiplying instead of dividing; temperature 0 is not allowed (that is "
        "greedy decoding: use it instead).",
    "decoding.top_k_filter":
        "Keep every logit at least as large as the k-th largest, set the rest to `-inf`.\n\n"
        "**Pitfall:** dropping tokens tied with the k-th value.",
    "decoding.top_p_filter":
        "Keep the smallest set of most likely tokens whose mass reaches `p`, *including* the "
        "token that crosses `p`.\n\n**Pitfall:** removing the crossing token.",
    "decoding.apply_repetition_penalty":
        "Make tokens already in the sequence less likely: divide their positive logits by the "
        "penalty, multiply the negative ones.\n\n**Pitfall:** dividing a negative logit moves "
        "it *up*.",
    "decoding.greedy_decode":
        "Append the argmax token each step; a sequence that produced EOS gets padding from then "
        "on, and the loop stops when every sequence has finished.",
    "decoding.sample":
        "Each step: repetition penalty, temperature, top-k, top-p, softmax, one draw per row "
        "from `generator`. The order matters for reproducing Hugging Face token for token.",
    "decoding.beam_search":
        "Keep `num_beams` running hypotheses; rank `2 × num_beams` candidates per step; finished "
        "ones are scored `sum_logprobs / length ** length_penalty`.\n\n**Pitfall:** forgetting "
        "the length penalty favours short hypotheses.",
}

HOW_TO = (
    "**How to work:** write each function in its cell, run the cell, then run the self-check "
    "below it. A self-check prints `N checks passed`, `not implemented yet`, or the first "
    "failing check with what it got and what it expected.\n\n"
    "**How it is graded:** the grader reads only your definitions (imports, functions, "
    "constants) and runs hidden tests on them. Keep the function names and signatures; extra "
    "demo cells are fine and are not run."
)

SETUP_TAIL = '''
try:  # the self-check helper beside this notebook (the grader skips this block)
    from labcheck import check
except ImportError as error:  # opened outside exercises/notebooks/
    print(f"self-checks unavailable: {error}")

    def check(qualname, namespace):
        print(f"{qualname}: self-check unavailable")'''


def _stub_module(module: str) -> tuple[ast.Module, str]:
    source = (EXERCISES_DIR / f"{module}.py").read_text(encoding="utf-8")
    return ast.parse(source), source


def public_functions(module: str) -> list[str]:
    """The public top-level functions of exercises/<module>.py, in file order."""
    tree, _ = _stub_module(module)
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]


def stub_source(module: str, function: str) -> str:
    """The stub of one function exactly as written in exercises/<module>.py."""
    tree, source = _stub_module(module)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            return "\n".join(source.splitlines()[start - 1:node.end_lineno])
    raise KeyError(f"exercises/{module}.py has no function {function}")


def _imports(module: str) -> list[str]:
    """The module's own imports (not __future__), as written."""
    tree, source = _stub_module(module)
    return [ast.get_source_segment(source, n) for n in tree.body
            if isinstance(n, (ast.Import, ast.ImportFrom)) and getattr(n, "module", None) != "__future__"]


def section_functions(section: Section) -> tuple[str, ...]:
    return section.functions if section.functions is not None else tuple(public_functions(section.module))


def lab_functions(lab: Lab) -> list[str]:
    """Every `<module>.<function>` that has a stub cell in the lab's notebook."""
    return [f"{s.module}.{f}" for s in lab.sections for f in section_functions(s)]


def build_notebook(lab: Lab) -> nbformat.NotebookNode:
    """The lab's notebook, without outputs (deterministic)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    cells = nb.cells

    def markdown(cell_id: str, text: str) -> None:
        cells.append(nbformat.v4.new_markdown_cell(text, id=cell_id))

    def code(cell_id: str, text: str) -> None:
        cells.append(nbformat.v4.new_code_cell(text, id=cell_id))

    markdown("title", f"# Lab {lab.number}: {lab.title}\n\n{lab.intro}")
    markdown("how-to", HOW_TO)
    imports: list[str] = []
    for section in lab.sections:
        imports += [i for i in _imports(section.module) if i not in imports]
    code("setup", "from __future__ import annotations\n\n" + "\n".join(imports) + "\n" + SETUP_TAIL)
    for section in lab.sections:
        if section.carried_from:
            markdown(f"intro-{section.module}", CARRIED_INTRO.format(lab=section.carried_from))
        else:
            markdown(f"intro-{section.module}", section.intro or MODULE_INTROS[section.module])
        for function in section_functions(section):
            qualname = f"{section.module}.{function}"
            if not section.carried_from:
                markdown(f"note-{section.module}-{function}", f"### `{function}`\n\n{NOTES[qualname]}")
            code(f"code-{section.module}-{function}", stub_source(section.module, function))
            code(f"check-{section.module}-{function}", f'check("{qualname}", globals())')
    markdown("submit", "## Done?\n\nWhen every self-check passes, save the notebook and hand it "
             "in as it is: the whole notebook is one submission.")
    return nb


def render(lab: Lab) -> str:
    """The notebook file's exact text."""
    return nbformat.writes(build_notebook(lab)) + "\n"


def write_all(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for lab in LABS:
        path = folder / lab.filename
        path.write_text(render(lab), encoding="utf-8")
        paths.append(path)
    return paths


def stale(folder: Path = NOTEBOOKS_DIR) -> list[str]:
    """Names of notebooks in `folder` that differ from what the generator produces."""
    out = []
    for lab in LABS:
        path = folder / lab.filename
        if not path.is_file() or path.read_text(encoding="utf-8") != render(lab):
            out.append(lab.filename)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.notebooks",
        description="Write the lab notebooks exercises/notebooks/lab-2.3.N-*.ipynb from the stubs "
                    "in exercises/*.py (or, with --check, verify that they are up to date).",
    )
    parser.add_argument("--out", type=Path, default=NOTEBOOKS_DIR, help="folder (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and name the notebooks that are out of date")
    args = parser.parse_args(argv)
    if args.check:
        names = stale(args.out)
        for name in names:
            print(f"out of date: {args.out / name} (run python -m autograder.notebooks)", file=sys.stderr)
        return 1 if names else 0
    for path in write_all(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
