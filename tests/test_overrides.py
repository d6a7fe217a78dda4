"""Tests for specc.source.overrides: `--set` changes the one place it names, and nothing it shares with."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import pytest

import specc
from specc.errors import SpecError
from specc.source import apply_overrides, deep_merge, load_source

# Layers 0 and 1 are both `*dense`: the YAML reader gives them one dict object.
ALIAS = """\
    specc: 1
    name: alias
    params:
      dense: &dense {Dense: {units: 4, activation: relu}}
    model:
      inputs:
        x: {shape: [3]}
      layers:
        - *dense
        - *dense
    """

# Each layer is its own mapping, but `<<: *hidden` puts the same `kernel_initializer` dict in both.
MERGE_KEY = """\
    specc: 1
    name: merge_key
    params:
      hidden: &hidden {units: 4, kernel_initializer: {GlorotUniform: {seed: 1}}}
    model:
      inputs:
        x: {shape: [3]}
      layers:
        - Dense: {<<: *hidden}
        - Dense: {<<: *hidden, units: 8}
    """

UNITS_OF_LAYER_0 = "model.layers[0].Dense.units=5"
SEED_OF_LAYER_0 = "model.layers[0].Dense.kernel_initializer.GlorotUniform.seed=2"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def test_set_through_an_alias_changes_only_the_addressed_layer(tmp_path):
    source = load_source(write(tmp_path, "alias.yaml", ALIAS))
    layers = source.data["model"]["layers"]
    assert layers[0] is layers[1]  # what makes the case: one object in two places
    original = copy.deepcopy(source.data)

    data = apply_overrides(source, [UNITS_OF_LAYER_0]).data

    assert data["model"]["layers"][0] == {"Dense": {"units": 5, "activation": "relu"}}
    assert data["model"]["layers"][1] == {"Dense": {"units": 4, "activation": "relu"}}
    assert data["params"]["dense"] == {"Dense": {"units": 4, "activation": "relu"}}
    assert source.data == original


def test_set_through_a_merge_key_changes_only_the_addressed_layer(tmp_path):
    source = load_source(write(tmp_path, "merge_key.yaml", MERGE_KEY))
    layers = source.data["model"]["layers"]
    assert layers[0]["Dense"]["kernel_initializer"] is layers[1]["Dense"]["kernel_initializer"]
    original = copy.deepcopy(source.data)

    data = apply_overrides(source, [SEED_OF_LAYER_0]).data

    assert data["model"]["layers"][0]["Dense"] == {"units": 4, "kernel_initializer": {"GlorotUniform": {"seed": 2}}}
    assert data["model"]["layers"][1]["Dense"] == {"units": 8, "kernel_initializer": {"GlorotUniform": {"seed": 1}}}
    assert data["params"]["hidden"]["kernel_initializer"] == {"GlorotUniform": {"seed": 1}}
    assert source.data == original


def test_set_into_what_a_spec_extends_changes_neither_the_base_nor_its_aliases(tmp_path):
    # The child's layers are the base's list object, reached through deep_merge's result.
    write(tmp_path, "base.yaml", ALIAS)
    source = load_source(write(tmp_path, "child.yaml", "extends: base.yaml\nname: child\n"))
    original = copy.deepcopy(source.data)

    data = apply_overrides(source, [UNITS_OF_LAYER_0]).data

    assert data["name"] == "child"
    assert [layer["Dense"]["units"] for layer in data["model"]["layers"]] == [5, 4]
    assert source.data == original


def test_set_creates_missing_mappings_without_touching_the_original(tmp_path):
    source = load_source(write(tmp_path, "alias.yaml", ALIAS))
    original = copy.deepcopy(source.data)

    data = apply_overrides(source, ["train.epochs=3", "train.batch_size=8"]).data

    assert data["train"] == {"epochs": 3, "batch_size": 8}
    assert source.data == original


def test_deep_merge_builds_new_mappings_and_leaves_both_inputs_alone():
    shared = {"units": 4}
    base = {"a": shared, "b": shared, "c": {"d": 1}}
    override = {"a": {"units": 5}, "c": {"e": 2}}
    before = copy.deepcopy((base, override))

    merged = deep_merge(base, override)

    assert merged == {"a": {"units": 5}, "b": {"units": 4}, "c": {"d": 1, "e": 2}}
    assert (base, override) == before
    assert shared == {"units": 4}


@pytest.mark.parametrize("override, message", [
    ("model.layers[5].Dense.units=1", "model.layers has 2 items; there is no [5]"),
    ("model.layers[2]=Flatten", "model.layers has 2 items; there is no [2]"),
    ("name.first=x", "name is not a mapping or list, so it has no 'first'"),
    ("model[0]=x", "model is a mapping; index it by key"),
])
def test_set_refuses_a_path_the_spec_does_not_have(tmp_path, override, message):
    source = load_source(write(tmp_path, "alias.yaml", ALIAS))
    original = copy.deepcopy(source.data)
    with pytest.raises(SpecError) as caught:
        apply_overrides(source, ["train.epochs=3", override])
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.message, diagnostic.location.file) == (message, f"--set {override}")
    assert source.data == original


# End to end, through the whole pipeline: what a user of `specc --set` sees.


@pytest.mark.parametrize("text, override, expected", [
    (ALIAS, UNITS_OF_LAYER_0, [{"Dense": {"units": 5, "activation": "relu"}},
                               {"Dense": {"units": 4, "activation": "relu"}}]),
    (MERGE_KEY, SEED_OF_LAYER_0, [{"Dense": {"units": 4, "kernel_initializer": {"GlorotUniform": {"seed": 2}}}},
                                  {"Dense": {"units": 8, "kernel_initializer": {"GlorotUniform": {"seed": 1}}}}]),
], ids=["alias", "merge_key"])
def test_load_with_set_through_shared_yaml(tmp_path, text, override, expected):
    spec = specc.load(write(tmp_path, "spec.yaml", text), [override])
    assert list(spec.canonical["model"]["layers"]) == expected
