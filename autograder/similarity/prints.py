"""Per-function fingerprints of one submission (what the class comparison and the cache hold)."""
from __future__ import annotations

import ast
import textwrap
from dataclasses import asdict, dataclass, field

from autograder.similarity.extract import (
    CONTRACT_NAMES,
    parse_modules,
    resolve,
    submission_units,
)
from autograder.similarity.fingerprint import K, fingerprints, kgram_hashes, token_ids
from autograder.similarity.normalise import inlinable, prune, tokenise


@dataclass
class FunctionPrint:
    """One contract function of one submission: the code shown in the report and its prints."""

    text: str  # the function and the helpers it reaches, as written
    token_lines: list[int]  # line of `text` (0-based) of each normalised token
    prints: list[tuple[int, int]]  # (hash, index of the k-gram's first token)

    def lines_of(self, hashes: set[int], k: int = K) -> set[int]:
        """Lines of `text` covered by the k-grams of these fingerprints."""
        lines: set[int] = set()
        for value, start in self.prints:
            if value in hashes:
                lines.update(self.token_lines[start:start + k])
        return lines


@dataclass
class SubmissionPrints:
    functions: dict[str, FunctionPrint] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> SubmissionPrints:
        functions = {
            name: FunctionPrint(f["text"], f["token_lines"], [tuple(p) for p in f["prints"]])
            for name, f in data["functions"].items()
        }
        return cls(functions, list(data["notes"]))


def _unit_tokens(modules: dict[str, str]):
    """(qualname, display text, tokens with text lines) for every contract function defined."""
    parsed, notes = parse_modules(modules)
    units = submission_units(parsed)
    out, cache = [], {}

    pruned_cache: dict[int, ast.AST] = {}

    def pruned(module: str, node: ast.AST) -> ast.AST:
        """A definition as normalised (dead code gone), so a padded helper still inlines."""
        if id(node) not in pruned_cache:
            lines = parsed[module].lines[node.lineno - 1:node.end_lineno]
            pruned_cache[id(node)] = prune(ast.parse(textwrap.dedent("\n".join(lines))).body[0])
        return pruned_cache[id(node)]

    def lookup(module: str, name: str):
        if name in CONTRACT_NAMES:
            return module, None
        found = resolve(parsed, module, name)
        return (found[0], pruned(*found)) if found else None

    def libraries_of(module: str) -> dict[str, str]:
        return parsed[module].libraries

    for qualname, pieces in units.items():
        texts, tokens, offset = [], [], 0
        for index, piece in enumerate(pieces):
            header = f"# {piece.module}.py\n" if len(pieces) > 1 else ""
            block = header + piece.source
            start = offset + header.count("\n")
            texts.append(block)
            offset += block.count("\n") + 2  # pieces are joined by one blank line
            if index and inlinable(pruned(piece.module, piece.node)) is not None:
                continue  # its expression is already inlined where it is called
            key = (id(parsed[piece.module].source), piece.node.lineno)
            if key not in cache:  # a helper shared by several functions is tokenised once
                cache[key] = tokenise(piece.source, piece.module, lookup, libraries_of)
            tokens += [(t, start + line) for t, line in cache[key]]
        out.append((qualname, "\n\n".join(texts), tokens))
    return out, notes


def submission_prints(modules: dict[str, str]) -> SubmissionPrints:
    """Fingerprint every contract function of a submission."""
    units, notes = _unit_tokens(modules)
    result = SubmissionPrints(notes=notes)
    for qualname, text, tokens in units:
        names = [t for t, _ in tokens]
        result.functions[qualname] = FunctionPrint(text, [line for _, line in tokens], fingerprints(names))
    return result


def starter_hashes(modules: dict[str, str]) -> set[int]:
    """Every k-gram hash of the starter code: none of it is evidence of copying."""
    units, _ = _unit_tokens(modules)
    hashes: set[int] = set()
    for _, _, tokens in units:
        hashes.update(kgram_hashes(token_ids(t for t, _ in tokens)))
    return hashes
