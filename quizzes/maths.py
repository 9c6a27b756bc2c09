r"""LaTeX maths in bank text (``$...$`` inline, ``$$...$$`` display), rendered for each place a
question is shown. The one home of the maths rules; every renderer and exporter calls it.

- browser (``quiz render --html``, ``quiz serve``): MathML from latex2mathml, no script or CDN;
- terminal (``quiz render``, ``quiz take``): Unicode, e.g. ``\sqrt{d_k}`` -> ``√dₖ``, from the
  small converter below (the constructs the banks use: fractions, roots, sub/superscripts,
  Greek letters, operators, ``\text``/``\mathrm``, ``\left``/``\right``, spacing);
- Moodle and Canvas exports: the MathJax delimiters their filters look for, ``\(...\)`` inline
  and ``\[...\]`` display (the GIFT exporter then GIFT-escapes the backslashes and braces);
- Markdown and notebooks keep ``$...$``: Jupyter and most Markdown viewers render it.

Code spans and fenced blocks are never read as maths (a ``$`` in shell code stays a ``$``).

>>> to_unicode(r"\frac{1}{\sqrt{d_k}}")
'1/√dₖ'
>>> replace_math(r"scale by $\sqrt{d_k}$, not `$HOME`", to_mathjax)
'scale by \\(\\sqrt{d_k}\\), not `$HOME`'
"""
from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import lru_cache

import latex2mathml.converter

# Code first so a "$" inside code is left alone; then display and inline maths. Inline maths
# may wrap onto the next line, as in TeX, but a blank line (a new paragraph) ends it.
CODE_OR_MATH = re.compile(r"(```.*?```|`[^`\n]*`)|(\$\$.+?\$\$|\$(?:[^$\n]|\n(?![ \t]*\n))+?\$)", re.S)

MathRenderer = Callable[[str, bool], str]  # (LaTeX without delimiters, display?) -> output


def math_spans(text: str) -> list[str]:
    """The ``$...$`` / ``$$...$$`` spans of ``text`` outside code, delimiters included."""
    return [m.group(2) for m in CODE_OR_MATH.finditer(text) if m.group(2)]


def _split_delimiters(span: str) -> tuple[str, bool]:
    """``$$x$$`` -> (``x``, True); ``$x$`` -> (``x``, False)."""
    if span.startswith("$$"):
        return span[2:-2].strip(), True
    return span[1:-1].strip(), False


def replace_math(text: str, renderer: MathRenderer) -> str:
    """``text`` with every maths span replaced by ``renderer(latex, display)``; code untouched."""

    def swap(m: re.Match) -> str:
        if m.group(1):
            return m.group(1)
        return renderer(*_split_delimiters(m.group(2)))

    return CODE_OR_MATH.sub(swap, text)


# --------------------------------------------------------------------------- MathML / MathJax


@lru_cache(maxsize=4096)
def to_mathml(latex: str, display: bool = False) -> str:
    """``<math>`` element for ``latex`` (a browser draws it natively). LaTeX latex2mathml
    cannot read falls back to the escaped source in a ``<code>`` span, never an exception."""
    try:
        mathml = latex2mathml.converter.convert(latex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - latex2mathml raises many types on malformed input
        mathml = ""
    return mathml if _safe_mathml(mathml) else f'<code class="math">{html.escape(latex)}</code>'


MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"
MATHML_TAGS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msqrt", "mroot", "mfrac", "msup",
    "msub", "msubsup", "munder", "mover", "munderover", "mtable", "mtr", "mtd", "mstyle",
    "mpadded", "mphantom", "menclose", "merror", "mmultiscripts", "mprescripts", "none",
}


def _safe_mathml(mathml: str) -> bool:
    """Well-formed MathML made of MathML elements only. latex2mathml copies ``\text{...}``
    verbatim, so ``\text{<script>}`` would otherwise reach the page as markup."""
    try:
        root = ET.fromstring(mathml)
    except ET.ParseError:
        return False
    return all(
        el.tag.startswith(MATHML_NS) and el.tag[len(MATHML_NS):] in MATHML_TAGS
        and not any(name.lower().startswith("on") or "href" in name.lower() for name in el.attrib)
        for el in root.iter()
    )


def to_mathjax(latex: str, display: bool = False) -> str:
    r"""``\(latex\)`` or ``\[latex\]``: what the MathJax filters of Moodle and Canvas read."""
    return f"\\[{latex}\\]" if display else f"\\({latex}\\)"


# --------------------------------------------------------------------------- Unicode

GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ",
    "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "ϕ",
    "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ",
    "Theta": "Θ", "Lambda": "Λ", "Pi": "Π", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
SYMBOLS = {
    "cdot": "·", "times": "×", "div": "÷", "pm": "±", "mp": "∓", "dots": "…", "ldots": "…",
    "cdots": "⋯", "infty": "∞", "partial": "∂", "nabla": "∇", "odot": "⊙", "otimes": "⊗",
    "oplus": "⊕", "top": "⊤", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠",
    "neq": "≠", "approx": "≈", "sim": "∼", "equiv": "≡", "propto": "∝", "to": "→",
    "rightarrow": "→", "leftarrow": "←", "Rightarrow": "⇒", "mapsto": "↦", "in": "∈",
    "notin": "∉", "subset": "⊂", "cup": "∪", "cap": "∩", "forall": "∀", "exists": "∃",
    "sum": "∑", "prod": "∏", "int": "∫", "ell": "ℓ", "circ": "∘", "star": "⋆", "ast": "∗",
    "langle": "⟨", "rangle": "⟩", "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉",
    "mid": "|", "vert": "|", "Vert": "‖", "prime": "′", "lbrace": "{", "rbrace": "}",
    "{": "{", "}": "}", "%": "%", "_": "_", "$": "$", "#": "#", "&": "&", "|": "‖",
    ",": " ", ":": " ", ";": " ", " ": " ", "quad": "  ", "qquad": "    ", "!": "",
}
FUNCTIONS = {"log", "ln", "exp", "sin", "cos", "tan", "tanh", "max", "min", "argmax", "argmin",
             "softmax", "det", "lim", "sup", "inf", "arg"}
TEXT_COMMANDS = {"text", "mathrm", "textrm", "mathit", "mathbf", "textbf", "boldsymbol",
                 "operatorname", "mathsf", "mathtt", "texttt", "mathcal", "mathbb"}
SIZE_COMMANDS = {"left", "right", "big", "Big", "bigl", "bigr", "Bigl", "Bigr", "middle"}
# Characters that have a Unicode script form (Unicode has no subscript d, q or capitals).
SUPERSCRIPT = dict(zip("0123456789+-−=()abcdefghijklmnoprstuvwxyz⊤T ",
                       "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᵀᵀ ", strict=True))
SUBSCRIPT = dict(zip("0123456789+-−=()aehijklmnoprstuvx ", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ ", strict=True))
_TOKEN = re.compile(r"\\([A-Za-z]+|.)|(\s+)|(.)", re.S)
_SIMPLE = re.compile(r"[^\s+\-−/·×=<>≤≥,;]+")


def _tokens(latex: str) -> list[str]:
    """``\\name`` commands, one-character commands (``\\,``), single spaces and characters."""
    out = []
    for m in _TOKEN.finditer(latex):
        out.append("\\" + m.group(1) if m.group(1) is not None else (" " if m.group(2) else m.group(3)))
    return out


class _UnicodeReader:
    """A recursive reader over LaTeX tokens; each method returns Unicode text."""

    def __init__(self, latex: str):
        self.tokens = _tokens(latex)
        self.pos = 0

    def _next(self) -> str | None:
        if self.pos >= len(self.tokens):
            return None
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _skip_spaces(self) -> None:
        while self.pos < len(self.tokens) and self.tokens[self.pos] == " ":
            self.pos += 1

    def sequence(self, until: str | None = None) -> str:
        """Atoms up to the closing ``until`` token (consumed) or the end."""
        parts: list[str] = []
        while self.pos < len(self.tokens):
            if self.tokens[self.pos] == until:
                self.pos += 1
                break
            token = self.tokens[self.pos]
            if token in ("^", "_"):
                self.pos += 1
                parts.append(_script(self.argument(), SUPERSCRIPT if token == "^" else SUBSCRIPT, token))
            else:
                parts.append(self.atom())
        return "".join(parts)

    def argument(self) -> str:
        """One argument: a braced group or a single atom (spaces before it skipped)."""
        self._skip_spaces()
        return self.atom()

    def _raw_group(self) -> str:
        """The literal text of a braced group (for ``\\text{...}``)."""
        self._skip_spaces()
        if self._next() != "{":
            return ""
        depth, out = 1, []
        while (token := self._next()) is not None:
            depth += token == "{"
            depth -= token == "}"
            if depth == 0:
                break
            out.append(token[1:] if token.startswith("\\") and len(token) == 2 else token)
        return "".join(out)

    def atom(self) -> str:
        token = self._next()
        if token is None:
            return ""
        if token == "{":
            return self.sequence(until="}")
        if token == "-":
            return "−"
        if not token.startswith("\\") or len(token) == 1:
            return token
        name = token[1:]
        if name == "frac":
            numerator, denominator = self.argument(), self.argument()
            return f"{_wrap(numerator)}/{_wrap(denominator)}"
        if name == "sqrt":
            self._skip_spaces()
            if self.pos < len(self.tokens) and self.tokens[self.pos] == "[":
                self.pos += 1
                index = self.sequence(until="]")
                return _script(index, SUPERSCRIPT, "") + "√" + _wrap(self.argument())
            return "√" + _wrap(self.argument())
        if name in TEXT_COMMANDS:
            return self._raw_group()
        if name in SIZE_COMMANDS:
            delimiter = self.argument()
            return "" if delimiter == "." else delimiter
        if name in GREEK:
            return GREEK[name]
        if name in SYMBOLS:
            return SYMBOLS[name]
        if name in FUNCTIONS:
            return name
        return token  # unknown command: shown as written rather than dropped


def _wrap(text: str) -> str:
    """``text`` as an operand: bare when it is one token, else in parentheses."""
    text = text.strip()
    return text if _SIMPLE.fullmatch(text) or _one_group(text) else f"({text})"


def _one_group(text: str) -> bool:
    """True for ``(a + b)`` or ``√(a + b)``: one parenthesised group, closing at the end."""
    start = text.find("(")
    if start < 0 or not text.endswith(")") or not _SIMPLE.fullmatch(text[:start] or "x"):
        return False
    depth = 0
    for i, c in enumerate(text[start:], start):
        depth += (c == "(") - (c == ")")
        if depth == 0:
            return i == len(text) - 1
    return False


def _script(text: str, table: dict[str, str], mark: str) -> str:
    """Superscript/subscript ``text``: Unicode script letters when every character has one,
    else ``mark`` + the operand (``x^(2i/d)``, ``d_model``)."""
    text = text.strip()
    if text and all(c in table for c in text):
        return "".join(table[c] for c in text)
    if mark == "_":
        return "_" + (text if _SIMPLE.fullmatch(text) else f"({text})")
    return mark + _wrap(text)


@lru_cache(maxsize=4096)
def to_unicode(latex: str, display: bool = False) -> str:
    """Plain Unicode for ``latex``: ``\\sigma^2 + \\varepsilon`` -> ``σ² + ε``."""
    try:
        text = _UnicodeReader(latex).sequence()
    except RecursionError:  # braces nested hundreds deep: show the source rather than fail
        return latex
    return re.sub(r" {2,}", " ", text).strip()


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def unicode_markdown(text: str) -> str:
    """Markdown ``text`` with its maths as Unicode, the Markdown characters of the Unicode
    escaped (``d_model`` must not open an emphasis when rich renders the Markdown)."""
    return replace_math(text, lambda latex, display: _MARKDOWN_SPECIAL.sub(r"\\\1", to_unicode(latex, display)))


def unicode_text(text: str) -> str:
    """Plain ``text`` (feedback lines, explanations printed as text) with maths as Unicode."""
    return replace_math(text, to_unicode)
