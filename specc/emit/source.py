"""Python source from values: the one leaf module every emitter writes code through.

`literal` turns a plain value into Python source (repr-based, so any string
stays a string; `nan`, `inf` and one-element tuples handled); `identifier`
makes a spec name into an unused Python name; `source` prints a described
value (`specc.ir.Call`) as a constructor call; `Raw` marks code that
specc itself wrote (never spec content); `wrapped` fits a bracketed list into
the line limit. Nothing a spec says can become code through these.
"""

from __future__ import annotations

import keyword
import math
import os
import re
from pathlib import Path
from typing import Any

from specc.ir import Call, File

LINE_LIMIT = 100
INDENT = "    "


def literal(value: Any) -> str:
    """Python source for a plain value: repr for scalars (so any string is safe), recursion for containers."""
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else '-float("inf")'
        return repr(value)
    if isinstance(value, str):
        text = repr(str(value))  # str(): a str subclass must not choose its own repr
        if text.startswith("'") and "'" not in value and '"' not in value:
            text = '"' + text[1:-1] + '"'  # the quotes people write; nothing inside needs escaping
        return text
    if value is None or type(value) in (bool, int):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Python literal for {type(value).__name__}")


def identifier(name: str, taken: set[str]) -> str:
    """A valid, unused Python variable name for `name` (a layer or input name)."""
    base = re.sub(r"\W", "_", name, flags=re.ASCII) or "_"
    if base[0].isdigit():
        base = f"_{base}"
    if keyword.iskeyword(base) or base in RESERVED_NAMES:
        base = f"{base}_"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    taken.add(candidate)
    return candidate


RESERVED_NAMES = {"keras", "os", "model", "frozen", "build_model"}  # the script's own names


def source(value: Any, indent: str = "", room: int = 0) -> str:
    """Python source for a described value (see specc.lower.values): Calls become constructor calls.

    `room`: columns taken on its first line before it (`key=`) and after it (`,`).
    """
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Call):
        return call_source(value.path, value.kwargs, indent, room=room)
    if isinstance(value, list):
        return wrapped("[", [source(v, indent + INDENT, 1) for v in value], "]", indent, room)
    if isinstance(value, dict) and any(isinstance(v, (Call, list, dict)) for v in value.values()):
        items = [f"{literal(k)}: {source(v, indent + INDENT, len(literal(k)) + 3)}" for k, v in value.items()]
        return wrapped("{", items, "}", indent, room)
    return literal(value)


def call_source(function: str, kwargs: dict[str, Any], indent: str = "", room: int = 0) -> str:
    """`function(key=value, ...)`, on one line when it fits, else one argument per line."""
    arguments = [f"{key}={source(value, indent + INDENT, len(key) + 2)}" for key, value in kwargs.items()]
    return wrapped(f"{function}(", arguments, ")", indent, room)


def wrapped(opening: str, items: list[str], closing: str, indent: str, room: int = 0) -> str:
    one_line = opening + ", ".join(items) + closing
    if len(indent) + room + len(one_line) <= LINE_LIMIT and "\n" not in one_line:
        return one_line
    inner = indent + INDENT
    return opening + "\n" + "".join(f"{inner}{item},\n" for item in items) + indent + closing


class Raw(str):
    """Generated code (never spec content): printed as is."""


def long_literal(value: str, indent: str, room: int) -> str:
    """A string literal that fits the line: adjacent literals in parentheses when one would be too long."""
    whole = literal(value)
    if room + len(whole) <= LINE_LIMIT:
        return whole
    width = max(20, LINE_LIMIT - len(indent) - len(INDENT) - 12)  # room for escapes to grow a piece
    pieces, start = [], 0
    while start < len(value):
        end = start + width
        while end < len(value) and len(literal(value[start:end])) > width + 8:
            end -= 1  # escapes made the piece longer
        pieces.append(literal(value[start:end]))
        start = end
    return "(\n" + "".join(f"{indent}{INDENT}{piece}\n" for piece in pieces) + f"{indent})"


SCRIPT_FOLDER = "os.path.dirname(os.path.abspath(__file__))"


def relative_to_script(file: File, script_dir: Path | None) -> str | None:
    """A file the spec wrote as a relative path, relative to the script's folder instead; None to keep it absolute.

    The path is rewritten from the spec's folder to `script_dir` (the folder the script is
    written to; None: the working folder, for a script printed to stdout), so the script and
    the files can move together. An absolute one (or one on another drive) stays absolute.
    """
    if not file.relative:
        return None
    try:
        return os.path.relpath(file.path, script_dir if script_dir is not None else os.curdir).replace(os.sep, "/")
    except ValueError:  # another drive
        return None


def file_expression(file: File, script_dir: Path | None, indent: str = "", room: int = 0) -> str:
    """The file as the script finds it: `os.path.join(<the script's folder>, "...")`, or its absolute path."""
    relative = relative_to_script(file, script_dir)
    if relative is None:
        return literal(file.path)
    return wrapped("os.path.join(", [SCRIPT_FOLDER, literal(relative)], ")", indent, room)
