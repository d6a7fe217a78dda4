"""Reading Keras docstrings: summaries, `Args:` sections, and what an argument's text says about its type.

Keras documents constructor arguments in Google style, in the class docstring:

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation function to use.
            If you don't specify anything, no activation is applied.

An entry starts with `name:` at the section's indentation; deeper-indented lines
continue it. The section ends at the first non-blank line indented no deeper
than the `Args:` heading (the next heading, such as `Input shape:`), or at a
line at the entries' indentation that is not an entry. Only the first `Args:`
(or `Arguments:`) section counts: later ones (`Call arguments:`) describe
`call()`. Keras has a few indentation slips (an entry one space too deep, a
template pasted after another entry's text), so when the caller passes the
parameter names, a deeper line starting with one of them (`output_padding:`)
also starts an entry.

The type of an argument is read from the first sentence of its description,
where Keras states it: "Positive integer, ...", "Float between 0 and 1.",
"int or tuple/list of 2 integers, ...". A sentence naming alternatives
("Float or a tuple of two floats") states no single type.

This module needs no Keras: it works on strings only.
"""

from __future__ import annotations

import inspect
import re

_SECTION = re.compile(r"^(\s*)(Args|Arguments):\s*$")
# `name: text`, the name optionally in backticks.
_ENTRY = re.compile(r"^`?([A-Za-z_][A-Za-z0-9_]*)`?\s*(?:\([^)]*\))?\s*:(.*)$")


def clean(doc: str | None) -> str:
    """The docstring with its common indentation removed ("" for None)."""
    return inspect.cleandoc(doc) if doc else ""


def one_paragraph(lines: list[str]) -> str:
    """Lines joined into one line of text, whitespace collapsed."""
    return " ".join(" ".join(line.split()) for line in lines if line.strip()).strip()


def summary(doc: str | None) -> str:
    """The first paragraph of a docstring, as one line."""
    lines: list[str] = []
    for line in clean(doc).splitlines():
        if not line.strip():
            if lines:
                break
            continue
        lines.append(line)
    return one_paragraph(lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def args_section(doc: str | None, names: set[str] = frozenset()) -> dict[str, str]:
    """{argument name: its description as one paragraph} from the first `Args:` section.

    `names`, the parameters the caller looks for, lets a misindented entry still start one.
    """
    lines = clean(doc).splitlines()
    start = next((i for i, line in enumerate(lines) if _SECTION.match(line)), None)
    if start is None:
        return {}
    heading_indent = _indent(lines[start])
    entries: dict[str, list[str]] = {}
    entry_indent: int | None = None
    current: list[str] | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue  # blank lines may separate entries; the next line decides
        indent = _indent(line)
        if indent <= heading_indent:
            break  # the next heading
        if entry_indent is None:
            entry_indent = indent
        if indent < entry_indent:
            break
        match = _ENTRY.match(line.strip())
        if indent == entry_indent or (match and match.group(1) in names and match.group(1) not in entries):
            if not match:
                break
            current = entries.setdefault(match.group(1), [])
            current.append(match.group(2))
        elif current is not None:
            current.append(line)
    return {name: one_paragraph(text) for name, text in entries.items()}


# --- types stated in a description -------------------------------------------------

_QUALIFIERS = re.compile(
    r"^(?:\(optional\)\s*|optional[.,]?\s+|an?\s+|positive\s+|non-negative\s+|strictly\s+positive\s+"
    r"|python\s+|single\s+)*",
    re.I,
)
_TYPE_WORDS = [  # (type, words that state it), tried in order
    ("int", r"int|integer"),
    ("float", r"float|floating[- ]point(?:\s+value)?"),
    ("bool", r"bool|boolean"),
    ("str", r"str|string"),
]
_INTS = re.compile(
    r"^(?:int|integer)s?,?\s+(?:or\s+)?(?:an?\s+)?(?:int(?:eger)?\s+)?(?:tuple|list)(?:/(?:tuple|list))?"
    r"\s+of\s+(?:\S+\s+)?int(?:eger)?s?\b",
    re.I,
)
_CONTAINER = re.compile(r"\s+(?:matrix|tensor|array|vector|list|tuple|numpy)\b", re.I)
_OR_NONE = re.compile(r",?\s*\bor\s+None\b", re.I)
_OTHER_TYPE = re.compile(
    r"\b(?:tuples?|lists?|dict|dictionary|array|arrays|array_like|sequence)\b"
    r"|\bor\s+(?:an?\s+)?(?:int|integer|float|str|string|bool|boolean|True|False|path)\b",
    re.I,
)
# Words that take a description beyond "an int or ints".
_NOT_INTS = re.compile(
    r"\b(?:floats?|strings?|tuples|dict\w*|array\w*|True|False|bool\w*)\b|\bor\s+(?:an?\s+)?(?:float|str|string|path)\b",
    re.I,
)


def first_sentence(text: str) -> str:
    """The text up to its first full stop, backticks removed."""
    return re.split(r"\.(?:\s|$)", text.replace("`", "").strip(), maxsplit=1)[0]


def type_from_doc(text: str) -> str | None:
    """The one type an argument's description states in its first sentence, or None."""
    sentence = _QUALIFIERS.sub("", first_sentence(text))
    ints = _INTS.match(sentence)
    if ints:
        rest = _OR_NONE.sub("", sentence[ints.end():])
        return None if _OTHER_TYPE.search(rest) else "int_or_ints"
    for type_name, words in _TYPE_WORDS:
        match = re.match(rf"(?:{words})\b", sentence, re.I)
        if match:
            rest = _OR_NONE.sub("", sentence[match.end():])
            if _OTHER_TYPE.search(rest) or _CONTAINER.match(rest):
                return None  # "Float or a tuple of two floats", "floating-point matrix"
            return type_name
    if re.match(r"^(?:\(optional\)\s*)?an?\s+(?:python\s+)?(?:number|scalar)\b", first_sentence(text), re.I):
        return "float"  # "A Python number." / "A Python scalar."
    head = text.replace("`", "")[:200]  # "Target shape. Tuple of integers, ..."
    if re.search(r"\btuple of (?:\w+ )?integers\b", head, re.I) and re.search(r"\bshape\b", head, re.I):
        return "shape"
    return None


def widening(text: str) -> str | None:
    """What the first sentence admits besides a single value: "int_or_ints", "any", or None.

    "Integer or list/tuple." admits int_or_ints; "Float or a tuple of two floats",
    "`"epoch"` or integer" and "Int, or tuple of 2 tuples of 2 ints" admit more.
    Tensors and callables do not count: a YAML spec cannot write them.
    """
    sentence = _OR_NONE.sub("", first_sentence(text))
    if not _OTHER_TYPE.search(sentence):
        return None
    if re.search(r"\bint", sentence, re.I) and not _NOT_INTS.search(sentence):
        return "int_or_ints"
    return "any"


_NONE_VALUE = [
    r"\bNone\s*(?:\(|:)",  # "`None` (random initialization)", "- `None`: No splitting."
    r"\bor\s+None\b",  # "Float or `None`", "..., or None."
    r"[{,]\s*None\s*}",  # {"sum", "mul", None}
    r"\bone of\s+None\b",
    r"\bIf (?:you pass |set to )?None\s*[,:]",  # "If `None`, no activation is applied"
    r"\bNone\s+(?:means|for no|to disable)\b",
    r"\bSet to None\b",
]


def admits_none(text: str, name: str) -> bool:
    """True when the description lists None as a value of the argument."""
    plain = text.replace("`", "")
    own = re.escape(name)
    patterns = _NONE_VALUE + [rf"\b{own}\s*=\s*None\b", rf"\bIf {own} is None\b"]
    return any(re.search(p, plain) for p in patterns)
