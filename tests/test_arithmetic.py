"""Constant arithmetic in ${...} (specc.lower.arithmetic): Python's own results, and nothing but arithmetic."""

import ast
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from specc.lower.arithmetic import MAX_LENGTH, BadExpression, evaluate

ROOT = Path(__file__).resolve().parent.parent
PARAMS = {"params": {"filters": 8, "rate": 0.25, "flag": True, "name": "cnn"}}


def resolve(name: str):
    node = PARAMS
    for part in name.split("."):
        node = node[part]  # a KeyError here would fail the test: every name used below exists
    return node


@pytest.mark.parametrize("expr, value", [
    ("params.filters * 4", 32), ("7 * 7 * 64", 3136), ("1 / 255", 1 / 255), ("params.filters // 3", 2),
    ("params.filters % 3", 2), ("2 ** 10", 1024), ("-(1 + 0.5) * 2", -3.0), ("params.rate * 4", 1.0),
    ("+params.filters", 8), ("params.filters", 8), ("params.name", "cnn"), ("params.flag", True),
    ("2 ** -1", 0.5), ("(((3)))", 3),
])
def test_the_value_is_pythons(expr, value):
    result = evaluate(expr, resolve)
    assert result == value and type(result) is type(value)  # integers stay integers


@pytest.mark.parametrize("expr, why", [
    ("__import__('os').system('true')", "a call is not allowed"),
    ("(lambda: 1)()", "a call is not allowed"),
    ("[x for x in params]", "is not allowed"),
    ("params['filters']", "a subscript is not allowed"),
    ("params.filters if 1 else 2", "if/else is not allowed"),
    ("1 < 2", "a comparison is not allowed"),
    ("params.filters and 1", "and/or is not allowed"),
    ("'a' * 3", "'a' is not a number"),
    ("True + 1", "True is not a number"),
    ("params.flag * 2", "params.flag is a boolean, not a number"),
    ("params.name + 1", "params.name is a string, not a number"),
    ("1 / 0", "division by zero"),
    ("2 ** 65", "an exponent of 65 is past 64"),
    ("(2 ** 64) ** 5", "more than 256 bits"),
    ("(1e10) ** 64", "too large"),
    ("1e300 * 1e300", "too large"),
    ("(-8) ** 0.5", "not a real number"),
    ("1 +", "not an arithmetic expression"),
    ("(" * 300 + "1" + ")" * 300, f"longer than {MAX_LENGTH} characters"),
    ("().__class__.__bases__[0].__subclasses__()", "a call is not allowed"),
])
def test_anything_but_arithmetic_is_refused_with_a_reason(expr, why):
    with pytest.raises(BadExpression) as refused:
        evaluate(expr, resolve)
    assert why in str(refused.value)


def test_a_dotted_name_is_a_lookup_never_a_python_attribute():
    looked_up = []
    evaluate("params.__class__.__name__ * 1", lambda name: looked_up.append(name) or 1)
    assert looked_up == ["params.__class__.__name__"]  # one key path handed to the spec's resolver


def test_the_module_never_runs_code():
    tree = ast.parse((ROOT / "specc" / "lower" / "arithmetic.py").read_text(encoding="utf-8"))
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__", "getattr"}


_LEAVES = st.one_of(st.integers(-1000, 1000).map(str), st.sampled_from(["params.filters", "params.rate", "0.5"]))
_OPERATORS = st.sampled_from(["+", "-", "*", "/", "//", "%"])


@st.composite
def expressions(draw, depth=0):
    if depth > 3 or draw(st.booleans()):
        return draw(_LEAVES)
    return f"({draw(expressions(depth + 1))} {draw(_OPERATORS)} {draw(expressions(depth + 1))})"


@given(expressions())
def test_random_arithmetic_agrees_with_python(expr):
    try:
        expected = eval(expr, {"__builtins__": {}}, {"params": type("P", (), PARAMS["params"])})  # the oracle: Python
    except ZeroDivisionError:
        with pytest.raises(BadExpression, match="division by zero"):
            evaluate(expr, resolve)
        return
    result = evaluate(expr, resolve)
    assert result == expected and type(result) is type(expected)
