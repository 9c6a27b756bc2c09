"""Normalisation: the disguises a student uses leave the tokens unchanged; real changes do not."""
from __future__ import annotations

import textwrap

from autograder.similarity.prints import submission_prints


def tokens(source: str, function: str = "gelu") -> list[str]:
    """Normalised tokens of transformer.<function> in a one-module submission."""
    prints = submission_prints({"transformer": textwrap.dedent(source)})
    unit = prints.functions[f"transformer.{function}"]
    from autograder.similarity.prints import _unit_tokens

    units, _ = _unit_tokens({"transformer": textwrap.dedent(source)})
    assert unit.text  # the unit keeps the code as written, for the report
    return next(t for q, _, t in units if q == f"transformer.{function}")


def names(source: str, function: str = "gelu") -> list[str]:
    return [t for t, _ in tokens(source, function)]


PLAIN = """
import math
import torch

def gelu(x):
    cdf = 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
    return x * cdf
"""


def test_renaming_reformatting_comments_and_docstrings_do_not_change_tokens():
    disguised = """
    import math
    import torch
    def gelu(inp):   # my own version
        '''Exact GELU, written by me.'''
        phi = 0.5*(1.0+torch.erf(inp/math.sqrt(2.0)))  # normal cdf
        return (inp
                * phi)
    """
    assert names(disguised) == names(PLAIN)


def test_literals_are_abstracted_but_operators_and_library_calls_count():
    other_literals = PLAIN.replace("0.5", "0.25").replace("2.0", "3.0")
    assert names(other_literals) == names(PLAIN)
    tanh = PLAIN.replace("torch.erf", "torch.tanh")
    assert names(tanh) != names(PLAIN)
    minus = PLAIN.replace("1.0 +", "1.0 -")
    assert names(minus) != names(PLAIN)


def test_dead_code_is_pruned():
    padded = """
    import math
    import torch

    def gelu(x):
        unused = len(str(x))
        if False:
            print(x)
        cdf = 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
        scratch = [i for i in range(3)]
        return x * cdf
        print("never")
    """
    assert names(padded) == names(PLAIN)


def test_import_aliases_resolve_to_the_library_name():
    aliased = """
    import math as m
    import torch as T

    def gelu(x):
        cdf = 0.5 * (1.0 + T.erf(x / m.sqrt(2.0)))
        return x * cdf
    """
    from_import = """
    from math import sqrt
    from torch import erf

    def gelu(x):
        cdf = 0.5 * (1.0 + erf(x / sqrt(2.0)))
        return x * cdf
    """
    expected = names(PLAIN)
    assert "torch.erf" in expected and "math.sqrt" in expected
    assert names(aliased) == expected
    assert names(from_import) == expected


def test_one_expression_helpers_are_inlined_so_extracting_one_changes_nothing():
    extracted = """
    import math
    import torch

    def _phi(t):
        \"\"\"Normal CDF.\"\"\"
        return 0.5 * (1.0 + torch.erf(t / math.sqrt(2.0)))

    def gelu(x):
        cdf = _phi(x)
        return x * cdf
    """
    assert names(extracted) == names(PLAIN)


def test_helpers_are_followed_whatever_their_order_in_the_file():
    before = """
    import torch

    def _scale(v):
        total = v.sum()
        return v / total

    def gelu(x):
        y = x * 2
        return _scale(y)
    """
    after = """
    import torch

    def gelu(x):
        y = x * 2
        return _scale(y)

    def _scale(v):
        total = v.sum()
        return v / total
    """
    got = names(before)
    assert names(after) == got
    assert ".sum" in got  # the helper's body is part of the function's unit


LOOP = """
def gelu(xs):
    out = []
    for item in xs:
        out.append(item * 2)
    return out
"""
COMPREHENSION = """
def gelu(xs):
    out = [item * 2 for item in xs]
    return out
"""


def test_a_comprehension_and_its_append_loop_give_the_same_tokens():
    assert names(LOOP) == names(COMPREHENSION)


def test_token_lines_point_into_the_unit_text():
    prints = submission_prints({"transformer": textwrap.dedent(PLAIN)})
    unit = prints.functions["transformer.gelu"]
    lines = unit.text.splitlines()
    assert lines[unit.token_lines[0]].startswith("def gelu")
    assert "return x * cdf" in lines[max(unit.token_lines)]
