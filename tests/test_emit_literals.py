"""Property tests for the code generator's one way of writing values: `specc.emit.literal`.

Whatever a spec holds (any string, number, list or mapping YAML can express),
its literal parses back to exactly that value and, inside a generated file,
can only ever be a value: never a statement, a call or a name.
"""

import ast
import math

from hypothesis import given
from hypothesis import strategies as st

from specc.emit import identifier, literal

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text())
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=20)


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def evaluate(text: str):
    """Evaluate a literal with no names but the two float() spellings literal uses for nan and inf."""
    tree = ast.parse(text, mode="eval")
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert all(ast.unparse(call) in ("float('nan')", "float('inf')") for call in calls), text  # unparse: ' quotes
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert names <= {"float"}, text
    return eval(compile(tree, "<literal>", "eval"), {"__builtins__": {}, "float": float})


@given(VALUES)
def test_any_spec_value_round_trips_through_its_literal(value):
    assert same(evaluate(literal(value)), value)


@given(st.text(min_size=1))
def test_identifiers_are_valid_and_distinct(name):
    taken: set[str] = set()
    first, second = identifier(name, taken), identifier(name, taken)
    assert first.isidentifier() and second.isidentifier() and first != second
    ast.parse(f"{first} = 1")
