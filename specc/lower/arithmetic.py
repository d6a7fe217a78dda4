"""Constant arithmetic inside `${...}`: `${params.filters * 4}`, `${1 / 255}`, `${size // 2}`.

The text between the braces is parsed with `ast` as one Python expression and
evaluated here, node by node, over numbers only: number literals, references
(a name or a dotted name, `params.filters`, looked up by the caller's
resolver, which reads mappings and never Python attributes), parentheses,
unary `+` and `-`, and `+ - * / // % **`. Every other node (a call, an
attribute of anything else, a subscript, a string, a lambda, a comprehension)
is an error naming it; nothing is passed to `eval`, `exec` or `compile`.
Integers stay integers (`7 * 7 * 64` is 3136); `/` gives a float, as in
Python. A plain reference returns its value as it is, whatever its type.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from typing import Any, Callable



class BadExpression(ValueError):
    """An expression this module refuses; the message says why (interpolate reports it, located)."""

MAX_LENGTH = 200  # characters between the braces: a longer expression is surely a mistake
MAX_BITS = 256  # an integer result past this is refused (a shape or a count is far smaller)
MAX_EXPONENT = 64

_REFERENCE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def is_reference(expr: str) -> bool:
    """Whether `expr` is a plain (dotted) name, the `${params.x}` every spec had before arithmetic."""
    return _REFERENCE.fullmatch(expr) is not None


def evaluate(expr: str, resolve: Callable[[str], Any]) -> Any:
    """The value of the expression between `${` and `}`.

    Raises BadExpression naming what is wrong; the resolver's own exceptions (an undefined name) pass through.
    """
    if is_reference(expr):
        return resolve(expr)
    if len(expr) > MAX_LENGTH:
        raise _bad(expr, f"longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise _bad(expr, "not an arithmetic expression of numbers and names") from None
    return _value(tree.body, expr, resolve)


def _value(node: ast.AST, expr: str, resolve: Callable[[str], Any]) -> Any:
    if isinstance(node, ast.Constant):
        if type(node.value) in (int, float):
            return node.value
        raise _bad(expr, f"{node.value!r} is not a number")
    if isinstance(node, (ast.Name, ast.Attribute)):
        return _number(_referenced(node, expr, resolve), ast.unparse(node), expr)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand, expr, resolve))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _value(node.left, expr, resolve), _value(node.right, expr, resolve)
        return _apply(type(node.op), left, right, expr)
    raise _bad(expr, f"{_describe(node)} is not allowed (only numbers, names, parentheses and + - * / // % **)")


def _referenced(node: ast.AST, expr: str, resolve: Callable[[str], Any]) -> Any:
    """A name or dotted name, looked up by the resolver (a mapping lookup: `params.__class__` is just a missing key)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise _bad(expr, f"{_describe(node)} is not allowed (only numbers, names, parentheses and + - * / // % **)")
    return resolve(".".join([node.id, *reversed(parts)]))


def _number(value: Any, name: str, expr: str) -> int | float:
    if type(value) in (int, float):
        return value
    kinds = {bool: "a boolean", str: "a string", list: "a list", dict: "a mapping", type(None): "null"}
    kind = kinds.get(type(value), f"a {type(value).__name__}")
    raise _bad(expr, f"{name} is {kind}, not a number")


def _apply(op: type, left, right, expr: str) -> int | float:
    if op is ast.Pow and isinstance(right, int) and abs(right) > MAX_EXPONENT:
        raise _bad(expr, f"an exponent of {right} is past {MAX_EXPONENT}")
    try:
        result = _OPERATORS[op](left, right)
    except ZeroDivisionError:
        raise _bad(expr, "division by zero") from None
    except OverflowError:
        raise _bad(expr, "the result is too large for a number") from None
    if isinstance(result, float) and not math.isfinite(result):  # 1e300 * 1e300 is inf, without an error
        raise _bad(expr, "the result is too large for a number")
    if isinstance(result, complex):
        raise _bad(expr, "a negative number to a fractional power is not a real number")
    if isinstance(result, int) and result.bit_length() > MAX_BITS:
        raise _bad(expr, f"the result has more than {MAX_BITS} bits")
    return result


def _describe(node: ast.AST) -> str:
    names = {ast.Call: "a call", ast.Subscript: "a subscript", ast.Lambda: "a lambda", ast.Compare: "a comparison",
             ast.BoolOp: "and/or", ast.IfExp: "if/else", ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a mapping"}
    return names.get(type(node), f"'{ast.unparse(node)}'")


def _bad(expr: str, why: str) -> BadExpression:
    return BadExpression(f"${{{expr}}}: {why}")
