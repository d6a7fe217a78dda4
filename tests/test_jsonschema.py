"""The JSON Schema for editors: current, valid, and as helpful as an editor needs."""

import json
from pathlib import Path

import jsonschema
import pytest

from specc.schema.jsonschema import render_schema
from specc.source.yaml_reader import read_yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schemas" / "specc.schema.json"
EXAMPLES = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "cases" / "valid").glob("*.yaml"))


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema) -> jsonschema.Draft7Validator:
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def read(path: Path):
    # Editors read YAML 1.2, as specc does (PyYAML's safe_load would read 1e-3 as a string).
    return read_yaml(path.read_bytes(), str(path)).data


def test_committed_schema_is_current():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "schemas/specc.schema.json is stale: run `specc schema` (or `make generated`) and commit it"
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_valid_spec_satisfies_the_schema(validator, path):
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(read(path))]
    assert errors == []


def test_unknown_keys_are_flagged(validator):
    spec = read(ROOT / "specs" / "mlp.yaml")
    spec["trian"] = {"epochs": 1}
    spec["model"]["layers"][1] = {"Dense": {"units": 64, "activaton": "relu"}}
    flagged = {tuple(e.absolute_path) for e in validator.iter_errors(spec)}
    assert () in flagged  # the misspelt section
    assert ("model", "layers", 1) in flagged  # the misspelt argument


def test_wrong_argument_types_are_flagged(validator):
    spec = read(ROOT / "specs" / "mlp.yaml")
    spec["model"]["layers"][1] = {"Dense": {"units": "many"}}
    assert [e for e in validator.iter_errors(spec) if tuple(e.absolute_path) == ("model", "layers", 1)]
    spec["model"]["layers"][1] = {"Dense": {"units": "${params.width}"}}  # a reference is fine anywhere
    assert list(validator.iter_errors(spec)) == []


def test_layer_and_argument_names_are_there_to_complete(schema):
    # One mapping of every class, so an editor offers each once (tests/test_editor_lsp.py asks the real server).
    calls = schema["$defs"]["layer_or_application_call"]
    assert {"Dense", "Conv2D", "MobileNetV2", "Input", "Shared"} <= set(calls["properties"])
    assert calls["additionalProperties"] is False and calls["maxProperties"] == 1
    dense = schema["$defs"]["layer.Dense"]
    assert {"units", "activation", "kernel_regularizer", "name", "inputs"} <= set(dense["properties"])
    assert dense["required"] == ["units"]


def test_hover_shows_keras_docstrings(schema):
    dense = schema["$defs"]["layer.Dense"]
    assert dense["title"] == "Dense"
    assert dense["description"].startswith("keras.layers.Dense: Just your regular densely-connected NN layer.")
    assert dense["properties"]["units"]["title"] == "units (Dense)"
    assert "dimensionality of the output space" in dense["properties"]["units"]["description"]
    adam = schema["$defs"]["optimizer.Adam"]
    assert "learning rate" in adam["properties"]["learning_rate"]["description"].lower()


def test_every_section_key_and_argument_is_documented(schema):
    undocumented = [f"{name}.{key}" for name, definition in schema["$defs"].items()
                    for key, value in definition.get("properties", {}).items()
                    if "$ref" not in definition and not value.get("description") and "_call" not in name]
    undocumented += [key for key, value in schema["properties"].items() if not value.get("description")]
    assert undocumented == []


def test_unknown_layers_are_flagged_unless_the_spec_can_have_blocks(validator):
    spec = read(ROOT / "specs" / "mlp.yaml")
    spec["model"]["layers"][1] = {"Dense2": {"units": 3}}
    assert [e for e in validator.iter_errors(spec) if tuple(e.absolute_path) == ("model", "layers", 1)]
    spec["model"]["blocks"] = {"Dense2": {"layers": [{"Dense": {"units": 3}}]}}
    assert list(validator.iter_errors(spec)) == []  # now it may be the block's instance


def test_class_names_complete_as_keys_only(schema):
    # An enum value `Flatten` beside the key `Flatten` makes yaml-language-server insert `Flatten: Flatten`.
    for name in ("layer_item", "keras_layer_item", "optimizer", "loss", "metric", "initializer"):
        enums = [value for option in schema["$defs"][name]["anyOf"] for value in option.get("enum", [])
                 if "not" not in option]
        assert not {"Flatten", "Adam", "MeanSquaredError", "Accuracy", "GlorotUniform"} & set(enums), name


def test_distribution_in_both_forms_and_its_mistakes(validator):
    spec = read(ROOT / "specs" / "quickstart.yaml")
    for good in ("mirrored", {"strategy": "mirrored", "devices": ["/cpu:0", "/cpu:1"]},
                 {"strategy": "multi_worker_mirrored", "communication": "ring", "scale_learning_rate": "linear"}):
        spec["train"]["distribution"] = good
        assert list(validator.iter_errors(spec)) == [], good
    for bad in ("mirored", {"strategy": "mirrored", "device": "/cpu:0"}, {"strategy": "one_device", "devices": []},
                {"strategy": "mirrored", "devices": ["gpu0"]}):
        spec["train"]["distribution"] = bad
        assert list(validator.iter_errors(spec)), bad
