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


# -- whole specs with arbitrary strings where a spec allows free text -------------------------------

import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

import specc  # noqa: E402
from specc.emit import render_script  # noqa: E402

FREE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/"), max_size=30)
LAYER_NAME = FREE_TEXT.filter(lambda name: name not in ("", "x", "out"))  # not empty, not the spec's other names


class QuotedStrings(yaml.SafeDumper):
    """Every string double-quoted: a string like 1e100 stays a string in specc's YAML 1.2 (plain, it is a float)."""


QuotedStrings.add_representer(str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"'))


@given(description=FREE_TEXT, layer_name=LAYER_NAME, metric_name=FREE_TEXT.filter(bool))
def test_generated_scripts_parse_and_their_module_level_only_defines(description, layer_name, metric_name):
    # Every example is a valid spec, so each one reaches the code generator: none can pass unexercised.
    spec = {"specc": 1, "name": "fuzz", "description": description,
            "model": {"inputs": {"x": {"shape": [3]}},
                      "layers": [{"Dense": {"units": 2, "name": layer_name}}, {"Dense": {"units": 1, "name": "out"}}]},
            "compile": {"loss": "mse", "metrics": [{"MeanSquaredError": {"name": metric_name}}]}}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yaml"
        path.write_text(yaml.dump(spec, Dumper=QuotedStrings, allow_unicode=True), encoding="utf-8")
        loaded = specc.load(path)
        assert (loaded.description, loaded.graph.layers[0].name) == (description, layer_name)
        tree = ast.parse(render_script(loaded, str(path)))
    # Importing the script can only import, assign constants and define functions.
    for node in tree.body:
        if isinstance(node, ast.Expr):
            assert ast.unparse(node) == "os.environ.setdefault('KERAS_BACKEND', 'tensorflow')"
        else:
            assert isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign, ast.FunctionDef, ast.If)), ast.unparse(node)
        if isinstance(node, ast.Assign):
            assert isinstance(node.value, ast.Constant)
        if isinstance(node, ast.If):
            assert ast.unparse(node.test) == "__name__ == '__main__'"
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert layer_name in strings and metric_name in strings
