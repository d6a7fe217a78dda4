"""Diagnostic codes: one table in specc/codes.py, the same table in README.md, and a code on every problem.

The codes expected below are written by hand, from the table's meanings: a code is a
promise to the people and tools that match on it, so a change here is a change they see.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path

import pytest

import specc
from specc.cli import main
from specc.codes import Code
from specc.errors import Diagnostic, Location
from specc.validate.structure import CUSTOM_ERROR_CODES

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases"
README_ROW = re.compile(r"^\| `(?P<code>[^`]*)` \| (?P<meaning>.*) \|$")
WELL_FORMED = re.compile(r"^[A-Z][0-9]{3}$")
LETTERS = "YFSPKGBDR"  # in the order of the pipeline, as specc/codes.py and the README list them


@pytest.fixture(autouse=True)
def from_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def readme_table() -> list[tuple[str, str]]:
    """The rows of the code table in README.md's "Errors" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    return [(m["code"], m["meaning"]) for line in section.splitlines() if (m := README_ROW.match(line))]


def codes_of(path: Path | str, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(specc.SpecError) as raised:
        specc.load(path, overrides)
    return [d.code for d in raised.value.diagnostics]


def invalid_cases() -> list[Path]:
    return sorted(p.relative_to(ROOT) for p in (CASES / "invalid").rglob("*.yaml") if "_support" not in p.parts)


# -- the table ---------------------------------------------------------------------


def test_readme_lists_every_code_with_its_meaning_in_order():
    assert readme_table() == [(code.value, code.meaning) for code in Code], (
        "README.md's code table (section Errors) and specc/codes.py differ: make them the same")


def test_codes_are_well_formed_unique_and_grouped_by_stage():
    values = [code.value for code in Code]
    assert all(WELL_FORMED.match(v) for v in values), [v for v in values if not WELL_FORMED.match(v)]
    assert len(set(values)) == len(values)
    assert len({code.meaning for code in Code}) == len(values), "two codes with one meaning: one kind of mistake, one code"
    assert all(code.meaning and "|" not in code.meaning and "\n" not in code.meaning for code in Code)
    letters = [v[0] for v in values]
    assert set(letters) <= set(LETTERS)
    assert letters == sorted(letters, key=LETTERS.index), "codes are listed stage by stage"
    for letter in set(letters):
        numbers = [int(v[1:]) for v in values if v[0] == letter]
        assert numbers == list(range(101, 101 + len(numbers))), f"{letter} codes are numbered from {letter}101, in order"


def test_a_code_is_its_string():
    assert Code.UNKNOWN_ARGUMENT == "K102"
    assert str(Code.UNKNOWN_ARGUMENT) == f"{Code.UNKNOWN_ARGUMENT}" == "K102"
    assert json.dumps(Code.UNKNOWN_ARGUMENT) == '"K102"'
    assert Code("K102") is Code.UNKNOWN_ARGUMENT


def test_a_diagnostic_cannot_be_made_without_a_known_code():
    with pytest.raises(TypeError):
        Diagnostic(message="no code")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        Diagnostic("X999", "a code the table does not have")
    located = Diagnostic(Code.CYCLE, "cycle: a -> a", Location("s.yaml", 3, 4), "model.layers[0] (Dense)")
    assert located.format() == "s.yaml:3:4: error: model.layers[0] (Dense): cycle: a -> a"  # the text leaves the code out
    assert located.as_json()["code"] == "G103"


def test_every_custom_pydantic_error_type_has_a_code():
    """Each PydanticCustomError that specc.schema raises maps to its code in specc.validate.structure."""
    raised = set()
    for path in (ROOT / "specc" / "schema").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "PydanticCustomError":
                raised.add(node.args[0].value)
    assert raised, "found no PydanticCustomError in specc/schema: the search is broken"
    assert sorted(raised - set(CUSTOM_ERROR_CODES)) == []


# -- codes on what specc reports -----------------------------------------------------------


@pytest.mark.parametrize("case", invalid_cases(), ids=lambda p: p.stem)
def test_every_invalid_case_reports_codes_from_the_table(case: Path):
    codes = codes_of(case)
    assert codes and all(isinstance(code, Code) for code in codes), codes


# Representative cases, one kind of mistake each (several for the grab-bag ones), and the codes they must report.
EXPECTED = {
    "unknown_argument": ["K104", "K102", "K102"],  # a missing `units`, then two misspelt arguments
    "unknown_layer": ["K101"],
    "bad_values": ["K103", "K103", "K103", "K103", "K101", "K103"],  # the activation is an unknown name
    "cycle": ["G103"],
    "duplicate_names": ["G102", "G102"],
    "merge_arity": ["G104", "G104"],
    "dead_end": ["G106", "G106"],
    "unknown_references": ["G101", "G101", "G101"],  # the misspelt references, without their echoes (G106)
    "several_inputs_no_inputs": ["G106", "G106", "G105"],
    "block_params": ["P101", "G107", "G107", "K103", "S104"],
    "block_named_like_keras": ["G108"],
    "undefined_params": ["P101", "P101", "P101"],
    "duplicate_keys": ["Y106", "Y106"],
    "section_keys": ["S104", "S104", "S101", "S101", "S103"],
    "layer_item_shape": ["S103", "S103", "S103"],
    "empty": ["S103"],
    "extends_missing": ["F102"],
    "extends_cycle": ["F103"],
    "distribution_parameter_server": ["R103"],
    "distribution_arguments": ["S101", "R104", "S104", "S104"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_representative_cases_report_their_codes(name: str):
    assert codes_of(CASES / "invalid" / f"{name}.yaml") == EXPECTED[name]


@pytest.mark.parametrize(("text", "code"), [
    ("specc: 1\nname: [unclosed\n", "Y101"),  # a syntax error
    ("specc: 1\nname: !!python/object x\n", "Y104"),  # a tag specc does not read
    ("specc: 1\nname: *nowhere\n", "Y105"),
    ("specc: 1\n---\nspecc: 1\n", "Y108"),
])
def test_yaml_mistakes_have_y_codes(tmp_path, text: str, code: str):
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    assert codes_of(path) == [code]


def test_reading_files_and_overrides_have_their_codes(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"specc: 1\nname: \xff\n")
    assert codes_of(binary) == ["Y102"]
    assert codes_of(tmp_path / "missing.yaml") == ["F101"]
    spec = ROOT / "specs" / "mlp.yaml"
    assert codes_of(spec, ("no equals sign",)) == ["F104"]
    assert codes_of(spec, ("model.layers[99].Dense.units=3",)) == ["F105"]
    assert codes_of(spec, ("train.epochs=[1",)) == ["Y101"]  # a --set value keeps the code of its YAML mistake


def test_a_data_problem_has_its_code(tmp_path):
    from specc.data import load_arrays

    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent("""\
        specc: 1
        name: csv
        model:
          layers:
            - Dense: {units: 2, input_shape: [3]}
        data:
          source: {csv: {path: no_such.csv, label: y}}
        """), encoding="utf-8")
    with pytest.raises(specc.SpecError) as raised:
        load_arrays(specc.load(path))
    assert [d.code for d in raised.value.diagnostics] == ["D102"]


@pytest.mark.parametrize(("name", "code"), [
    ("forgot_flatten", "B105"), ("shared_shapes", "B103"), ("index_single", "B106"), ("reshape_size", "B102"),
    ("input_shape_conflict", "B104"),
])
def test_build_errors_have_b_codes(name: str, code: str):
    import keras

    spec = specc.load(CASES / "build_errors" / f"{name}.yaml")
    keras.backend.clear_session()
    with pytest.raises(specc.SpecError) as raised:
        specc.build_model(spec)
    assert [d.code for d in raised.value.diagnostics] == [code]


def test_validate_json_gives_each_error_its_code(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(textwrap.dedent("""\
        specc: 1
        name: bad
        model:
          layers:
            - Dense: {units: 0, input_shape: [4]}
            - Dense: {units: 2, activaton: relu}
        """), encoding="utf-8")
    assert main(["validate", "--format", "json", "bad.yaml"]) == 1
    (entry,) = json.loads(capsys.readouterr().out)
    assert [(e["code"], e["where"]) for e in entry["errors"]] == [
        ("K103", "model.layers[0] (Dense)"), ("K102", "model.layers[1] (Dense)")]
