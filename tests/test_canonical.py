"""Tests for specc.lower.canonical: the versioned canonical form and the content hash that names a spec."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Union

import pytest
from pydantic import StrictInt

import specc
from specc.lower.canonical import CANONICAL_VERSION, canonical_form, content_hash
from specc.schema import SpecDocument, TrainSection
from specc.schema.base import Section, Since
from specc.source import load_source

ROOT = Path(__file__).resolve().parents[1]
LATER = Since(CANONICAL_VERSION + 1)  # a field the next version of the form adds


def golden_hashes() -> list[tuple[str, str]]:
    """(spec path, SPEC_SHA256) of every golden script: hashes written by an earlier specc, not computed here."""
    found = []
    for script in sorted((ROOT / "tests" / "golden").glob("*.py")):
        text = script.read_text(encoding="utf-8")
        spec = re.search(r'^SPEC = "([^"]+)"$', text, re.M)
        sha256 = re.search(r'^SPEC_SHA256 = "([0-9a-f]{64})"$', text, re.M)
        assert spec and sha256, f"{script.name} names no SPEC and SPEC_SHA256"
        found.append((spec.group(1), sha256.group(1)))
    return found


GOLDEN = golden_hashes()
# Specs whose merged source is already resolved (no ${...} to interpolate): their hash needs no lowering.
PLAIN = [(spec, sha256) for spec, sha256 in GOLDEN if "${" not in (ROOT / spec).read_text(encoding="utf-8")]


def document(data: dict, model: type = SpecDocument):
    return model.model_validate(data)


def spec_data(**sections) -> dict:
    return {"specc": 1, "name": "t", "model": {"layers": [{"Dense": {"units": 1, "input_shape": [2]}}]}, **sections}


def test_the_golden_scripts_cover_specs_with_and_without_a_distribution():
    assert len(PLAIN) >= 2
    assert any("distribution:" in (ROOT / spec).read_text(encoding="utf-8") for spec, _ in PLAIN)


@pytest.mark.parametrize("spec, sha256", PLAIN, ids=[Path(spec).stem for spec, _ in PLAIN])
def test_hash_of_an_example_spec_is_the_one_its_golden_script_records(spec, sha256):
    assert content_hash(canonical_form(document(load_source(ROOT / spec).data))) == sha256


@pytest.mark.parametrize("spec, sha256", GOLDEN, ids=[Path(spec).stem for spec, _ in GOLDEN])
def test_load_gives_every_example_spec_the_hash_its_golden_script_records(spec, sha256):
    loaded = specc.load(ROOT / spec)
    assert loaded.sha256 == sha256
    assert content_hash(dict(loaded.canonical)) == sha256


def test_absent_distribution_is_left_out_and_a_given_one_kept():
    assert TrainSection.model_fields["distribution"].metadata == [Since(2)]
    absent = canonical_form(document(spec_data(train={"epochs": 2})))
    given = canonical_form(document(spec_data(train={"epochs": 2, "distribution": "mirrored"})))
    assert "distribution" not in absent["train"]
    assert given["train"]["distribution"]["strategy"] == "mirrored"


class TrainWithLater(TrainSection):
    later: Annotated[Union[StrictInt, None], LATER] = None


class TrainWithUnmarked(TrainSection):
    unmarked: Union[StrictInt, None] = None


def with_train(section: type) -> type:
    """SpecDocument with `section` as its train section."""
    return type(f"DocumentWith{section.__name__}", (SpecDocument,), {"__annotations__": {"train": Union[section, None]},
                                                                       "train": None})


@pytest.mark.parametrize("train", [{"epochs": 2}, {"epochs": 2, "distribution": {"strategy": "one_device"}}])
def test_a_later_field_changes_no_hash_while_absent_and_the_hash_when_set(train):
    before = content_hash(canonical_form(document(spec_data(train=train))))

    absent = canonical_form(document(spec_data(train=train), with_train(TrainWithLater)))
    assert "later" not in absent["train"]
    assert content_hash(absent) == before

    given = canonical_form(document(spec_data(train={**train, "later": 3}), with_train(TrainWithLater)))
    assert given["train"]["later"] == 3
    assert content_hash(given) != before


def test_an_unmarked_new_field_holding_none_is_in_the_form_and_changes_the_hash():
    data = spec_data(train={"epochs": 2})
    form = canonical_form(document(data, with_train(TrainWithUnmarked)))
    assert "unmarked" in form["train"] and form["train"]["unmarked"] is None
    assert content_hash(form) != content_hash(canonical_form(document(data)))


def test_an_unmarked_field_holding_none_stays_in_the_form():
    form = canonical_form(document(spec_data(train={"epochs": 2})))
    assert "steps_per_epoch" in form["train"] and form["train"]["steps_per_epoch"] is None
    assert "outputs" in form["model"] and form["model"]["outputs"] is None
    assert "compile" not in form and "extends" not in form  # absent sections, and extends, as in version 1


class Item(Section):
    units: StrictInt = 1
    later: Annotated[Union[StrictInt, None], LATER] = None


class Holder(Section):
    one: Item = Item()
    listed: list[Item] = []
    named: dict[str, Item] = {}
    nested: list[dict[str, Item]] = []


def test_later_fields_are_left_out_inside_lists_and_mappings_of_models():
    holder = Holder(one=Item(later=1), listed=[Item(), Item(later=2)], named={"a": Item(), "b": Item(later=3)},
                    nested=[{"c": Item()}])
    assert canonical_form(holder) == {
        "one": {"units": 1, "later": 1},
        "listed": [{"units": 1}, {"units": 1, "later": 2}],
        "named": {"a": {"units": 1}, "b": {"units": 1, "later": 3}},
        "nested": [{"c": {"units": 1}}],
    }


def test_since_is_no_part_of_the_json_schema():
    class Marked(Section):
        value: Annotated[Union[StrictInt, None], Since(2)] = None

    class Plain(Section):
        value: Union[StrictInt, None] = None

    marked, plain = Marked.model_json_schema(), Plain.model_json_schema()
    assert {**marked, "title": "Plain"} == plain


@pytest.mark.parametrize("version", [1, 0, "2", 2.0])
def test_since_takes_the_version_that_adds_the_field(version):
    with pytest.raises(ValueError, match=f"Received: version={version!r}"):
        Since(version)
