"""`${...}` interpolation.

`${params.width}` reads the spec's `params`; inside a block, `${filters}`
reads the block's parameters. Between the braces there may also be constant
arithmetic over numbers and such names (`${params.filters * 4}`, `${1 / 255}`:
specc.lower.arithmetic). A reference that is the whole scalar keeps the
type of its value (`units: "${params.classes}"` is the integer 10); one inside
a longer string is formatted into it. `$${` writes a literal `${`; a `${`
without its `}` is an error.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from specc.codes import Code
from specc.lower.arithmetic import BadExpression, evaluate

# `$${` (an escaped literal), `${expr}` (a reference), or a stray `${` (an error).
_TOKEN = re.compile(r"\$\$\{|\$\{([^{}]*)\}|\$\{")


class Unresolved(Exception):
    """A reference that cannot be resolved; the message says why, `code` what kind of mistake it is."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code


class Deferred(str):
    """A string whose `${...}` was not resolved, and whose problem is already reported.

    Later checks skip it rather than report the same mistake again as a type error.
    """


Resolver = Callable[[str], Any]
ErrorSink = Callable[[Code, tuple, str], None]  # (code, path, message)


def substitute(text: str, resolve: Resolver) -> Any:
    """Resolve every reference in one string (raises Unresolved)."""
    match = _TOKEN.fullmatch(text)
    if match and match.group(1) is not None:
        return _evaluated(match.group(1).strip(), resolve)

    def replace(m: re.Match) -> str:
        if m.group(0) == "$${":
            return "${"
        if m.group(1) is None:
            raise Unresolved(Code.BAD_INTERPOLATION, f"'${{' without a closing '}}' in {text!r} (write '$${{' for a literal '${{')")
        value = _evaluated(m.group(1).strip(), resolve)
        if isinstance(value, (dict, list)):
            raise Unresolved(Code.BAD_INTERPOLATION, f"${{{m.group(1)}}} is a {'mapping' if isinstance(value, dict) else 'list'} "
                             "and cannot be part of a string")
        return _format(value)

    return _TOKEN.sub(replace, text)


def _evaluated(expr: str, resolve: Resolver) -> Any:
    try:
        return evaluate(expr, resolve)
    except BadExpression as err:
        raise Unresolved(Code.BAD_INTERPOLATION, str(err)) from None


def _format(value: Any) -> str:
    # YAML spellings, so "${params.flag}" inside a string reads as it was written.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def interpolate(data: Any, resolve: Resolver, on_error: ErrorSink, path: tuple = (),
                skip: Callable[[tuple], bool] = lambda p: False) -> Any:
    """A copy of `data` with references resolved; subtrees where `skip(path)` holds are kept as they are.

    Unresolvable references are reported through `on_error(code, path, message)` and
    left in place as `Deferred`, so every problem in a file is reported once, in one pass.
    """
    if isinstance(data, str):
        if "${" not in data:
            return data
        try:
            return substitute(data, resolve)
        except Unresolved as err:
            on_error(err.code, path, str(err))
            return Deferred(data)
    if isinstance(data, dict):
        if skip(path):
            return data
        return {k: interpolate(v, resolve, on_error, path + (k,), skip) for k, v in data.items()}
    if isinstance(data, list):
        if skip(path):
            return data
        return [interpolate(v, resolve, on_error, path + (i,), skip) for i, v in enumerate(data)]
    return data


def dotted_lookup(root: dict, dotted: str, what: str) -> Any:
    """`root['a']['b']` for 'a.b'; Unresolved naming the missing part.

    `what` names `root` in messages, and prefixes the reference: ${params.a.b}.
    """
    from specc.errors import did_you_mean

    node: Any = root
    walked = []
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            here = ".".join([what, *walked])
            choices = node.keys() if isinstance(node, dict) else ()
            hint = did_you_mean(part, [str(c) for c in choices])
            raise Unresolved(Code.UNDEFINED_REFERENCE, f"undefined ${{{what}.{dotted}}}: {here} has no '{part}'." + hint)
        node = node[part]
        walked.append(part)
    return node
