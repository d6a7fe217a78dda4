"""`data.validation` and `data.test`: a split from a source of its own, its classes those of the training source.

The expected arrays are read here with the csv module and PIL, not through specc; the
generated script reading the same (tests/test_emit.py, csv_split_sources and
images_validation_folder) is checked against `specc.data.load_arrays` there.
"""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import numpy as np
import pytest

import specc
from specc.data import load_arrays

HEAD = textwrap.dedent("""\
    specc: 1
    name: splits
    seed: 1
    model:
      layers:
        - Dense: {units: 3, activation: softmax, input_shape: [2]}
    compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
    """)


def write_csv(path: Path, rows: list[tuple[float, float, str]]) -> None:
    path.write_text("a,b,kind\n" + "".join(f"{a},{b},{k}\n" for a, b, k in rows))


def read_back(path: Path) -> tuple[np.ndarray, list[str]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([[float(r["a"]), float(r["b"])] for r in rows], dtype=np.float32), [r["kind"] for r in rows]


@pytest.fixture
def folder(tmp_path) -> Path:
    rng = np.random.default_rng(4)
    kinds = ["owl", "cat", "emu"]
    write_csv(tmp_path / "train.csv", [(round(rng.random(), 3), i, kinds[i % 3]) for i in range(30)])
    write_csv(tmp_path / "val.csv", [(i, -i, ["emu", "cat"][i % 2]) for i in range(6)])  # no owl: a class fewer
    write_csv(tmp_path / "test.csv", [(i, i, ["owl", "emu", "cat"][i % 3]) for i in range(5)])
    return tmp_path


def spec_with(folder: Path, data: str) -> Path:
    path = folder / "spec.yaml"
    path.write_text(HEAD + textwrap.dedent(data))
    return path


def test_validation_and_test_sources_keep_the_training_class_indices(folder):
    spec = specc.load(spec_with(folder, """\
        data:
          source: {csv: {path: train.csv, label: kind}}
          validation: {csv: {path: val.csv, label: kind}}
          test: {csv: {path: test.csv, label: kind}}
          features: [{rescale: 2.0}]
        """))
    splits = load_arrays(spec)
    classes = sorted({"owl", "cat", "emu"})  # the training file's text labels, sorted: cat, emu, owl
    assert splits.classes == classes
    for part, name in ((splits.train, "train.csv"), (splits.validation, "val.csv"), (splits.test, "test.csv")):
        x, kinds = read_back(folder / name)
        np.testing.assert_array_equal(part.x["input"], x * 2.0)  # transformed like the training data
        assert part.y["dense"].tolist() == [classes.index(k) for k in kinds], name
    result = specc.train(folder / "spec.yaml", out=folder / "run", overrides=["train.verbose=0"])
    assert result.evaluated_on == "test"
    assert "val_loss" in result.history


def test_an_image_folder_of_fewer_classes_is_labelled_as_the_training_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for folder, classes in (("train", ("ant", "bee", "cow")), ("val", ("cow",))):
        for name in classes:
            (tmp_path / folder / name).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)).save(tmp_path / folder / name / f"{i}.png")
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD.replace("input_shape: [2]", "input_shape: [48]") + textwrap.dedent("""\
        data:
          source: {images: {path: train, image_size: [4, 4]}}
          validation: {images: {path: val, image_size: [4, 4]}}
          features: [{reshape: [48]}]
        """))
    splits = load_arrays(specc.load(path))
    assert splits.classes == ["ant", "bee", "cow"]
    assert splits.validation.y["dense"].tolist() == [2, 2]  # cow is the training folder's class 2, the folder's only one
    expected = np.stack([np.asarray(Image.open(tmp_path / "val" / "cow" / f"{i}.png"), dtype=np.float32) for i in range(2)])
    np.testing.assert_array_equal(splits.validation.x["input"], expected.reshape(2, 48))


@pytest.mark.parametrize("data, code, where, message", [
    ("""\
        data:
          source: {csv: {path: train.csv, label: kind}}
          validation: {csv: {path: odd.csv, label: kind}}
     """, "D109", "data.validation.csv", "odd.csv has labels the training data does not: 'yak' (its classes: cat, emu, owl)"),
    ("""\
        data:
          source: {csv: {path: train.csv, label: kind}}
          test: {npz: {path: numbers.npz}}
     """, "D109", "data.test.npz", "the labels of numbers.npz are numbers, but those of the training data are class names"),
    ("""\
        data:
          source: {csv: {path: train.csv, label: kind}}
          validation: {csv: {path: missing.csv, label: kind}}
     """, "D102", "data.validation.csv.path", "no such file: missing.csv"),
    ("""\
        data:
          source: {csv: {path: train.csv, label: kind}}
          validation: {csv: {path: val.csv, label: kind}}
          split: {validation: 0.2}
     """, "S105", "data", "data.validation is a source of its own, so split.validation: 0.2 would be a second"),
    ("""\
        data:
          source: {keras: mnist}
          test: {csv: {path: test.csv, label: kind}}
     """, "S105", "data", "data.test would be a second test set beside the keras dataset's own test set"),
    ("""\
        data:
          source: {csv: {path: train.csv, label: kind}}
          test: {keras: mnist}
     """, "S104", "data", "data.test is one set: a keras dataset, or an npz file's x_test, gives two"),
])
def test_a_split_source_mistake_is_located(folder, data, code, where, message):
    write_csv(folder / "odd.csv", [(1, 2, "yak"), (2, 3, "cat")])
    np.savez(folder / "numbers.npz", x=np.zeros((3, 2)), y=np.arange(3))
    path = spec_with(folder, data)
    with pytest.raises(specc.SpecError) as caught:
        load_arrays(specc.load(path))
    diagnostics = caught.value.diagnostics
    assert len(diagnostics) == 1, [d.format() for d in diagnostics]
    found = diagnostics[0]
    assert str(found.code) == code and f"error: {where}: " in found.format(), found.format()
    assert message in found.message
    assert found.location is not None and found.location.line > len(HEAD.splitlines())
