"""The spec's `data:` section (specc.data): sources, transforms, splits, the tf.data pipeline,
and located errors for every mistake, including Keras's dataset cache without network.

Keras reads `KERAS_HOME` when it is imported, so the tests of its cache run in
a subprocess with `KERAS_HOME` set to a temporary folder; no test downloads anything.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import specc
from specc.data import Arrays, check_shapes, load_arrays, sources, to_dataset, transforms
from specc.schema.data import Pad

ROOT = Path(__file__).resolve().parent.parent

DIGITS_MODEL = """\
model:
  inputs:
    image: {shape: [8, 8, 1]}
  layers:
    - Flatten
    - Dense: {units: 10, activation: softmax}
"""

TWO_BY_TWO_MODEL = """\
model:
  inputs:
    image: {shape: [4]}
    meta: {shape: [2]}
  layers:
    - Concatenate: {name: joined, inputs: [image, meta]}
    - Dense: {name: cls, units: 3, activation: softmax}
    - Dense: {name: size, units: 1, inputs: joined}
  outputs: [cls, size]
"""


def write_spec(folder: Path, data: str, model: str = DIGITS_MODEL, *, seed: int | None = 7, name: str = "spec.yaml") -> Path:
    text = "specc: 1\nname: t\n" + (f"seed: {seed}\n" if seed is not None else "") + model + "data:\n" + textwrap.indent(
        textwrap.dedent(data), "  ")
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load(folder: Path, data: str, model: str = DIGITS_MODEL, **kwargs) -> specc.Spec:
    return specc.load(write_spec(folder, data, model, **kwargs))


def position(path: Path, needle: str, nth: int = 1) -> tuple[int, int]:
    """(line, column), 1-based, of the nth occurrence of `needle` in the file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    seen = 0
    for number, line in enumerate(lines, 1):
        start = 0
        while (found := line.find(needle, start)) >= 0:
            seen += 1
            if seen == nth:
                return number, found + 1
            start = found + 1
    raise AssertionError(f"{needle!r} not in {path}")


def one_error(spec_or_path, call=load_arrays) -> specc.Diagnostic:
    """The one diagnostic of loading a spec (a path: `specc.load` itself may find a structural mistake in `data:`)
    and then `call`ing on it."""
    with pytest.raises(specc.SpecError) as raised:
        spec = specc.load(spec_or_path) if isinstance(spec_or_path, Path) else spec_or_path
        result = call(spec)
        raise AssertionError(f"no error; returned {result}")
    [diagnostic] = raised.value.diagnostics
    return diagnostic


def assert_at(diagnostic: specc.Diagnostic, path: Path, needle: str, where: str, message_start: str, nth: int = 1) -> None:
    assert diagnostic.location is not None
    assert (Path(diagnostic.location.file), diagnostic.location.line, diagnostic.location.column) == (path, *position(path, needle, nth))
    assert diagnostic.where == where
    assert diagnostic.message.startswith(message_start), diagnostic.message


# -- builtin digits ---------------------------------------------------------------------


def test_builtin_digits_is_the_real_dataset():
    raw = sources.builtin("digits")
    assert raw.x.shape == (1797, 64) and raw.x.dtype == np.uint8
    assert raw.x.min() == 0 and raw.x.max() == 16
    assert raw.y.shape == (1797,)
    assert sorted(np.unique(raw.y)) == list(range(10))
    assert np.bincount(raw.y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert raw.x[0, :16].tolist() == [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0]  # the first sample, a 0
    assert raw.test is None


def test_default_job_digits_transforms_in_order(tmp_path):
    spec = load(tmp_path, """\
        source: {builtin: digits}
        features:
          - rescale: 0.0625
          - reshape: [8, 8, 1]
          - cast: float16
        labels:
          - one_hot: 10
        """)
    splits = load_arrays(spec)
    raw = sources.builtin("digits")
    assert splits.validation is None and splits.test is None
    x, y = splits.train.x["image"], splits.train.y["dense"]
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float16
    np.testing.assert_array_equal(x.reshape(1797, 64), (raw.x * 0.0625).astype(np.float16))
    assert y.shape == (1797, 10) and y.dtype == np.float32
    np.testing.assert_array_equal(y.argmax(1), raw.y)
    assert (y.sum(1) == 1).all()
    check_shapes(spec, splits)


# -- transforms -------------------------------------------------------------------------


def test_transforms_one_by_one():
    x = np.arange(12, dtype=np.uint8).reshape(2, 6)
    scaled = transforms.rescale(x, 0.5)
    assert scaled.dtype == np.float32 and scaled[1, 5] == 5.5
    assert transforms.rescale(x.astype(np.float64), 2).dtype == np.float64
    assert transforms.reshape(x, [3, -1]).shape == (2, 3, 2)
    assert transforms.reshape(x, [6, 1]).shape == (2, 6, 1)
    assert transforms.cast(x, "int32").dtype == np.int32
    assert transforms.one_hot(np.array([[2], [0]]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]  # (n, 1) labels, as cifar10's
    assert transforms.one_hot(np.array([1.0, 0.0]), 2).tolist() == [[0, 1], [1, 0]]
    sequences = np.array([[1, 2, 3], [4], [5, 6, 7, 8, 9]], dtype=object)
    assert transforms.APPLY["pad"](sequences, Pad(length=3)).tolist() == [[1, 2, 3], [0, 0, 4], [7, 8, 9]]
    assert transforms.pad(sequences, length=4, padding="post", truncating="post", value=-1).tolist() == [
        [1, 2, 3, -1], [4, -1, -1, -1], [5, 6, 7, 8]]


@pytest.mark.parametrize("call, message", [
    (lambda: transforms.reshape(np.zeros((2, 6)), [4]), "cannot reshape samples of shape [6] (6 values) to [4] (4 values)"),
    (lambda: transforms.reshape(np.zeros((2, 6)), [4, -1]), "cannot reshape samples of shape [6] (6 values) to [4, -1]"),
    (lambda: transforms.one_hot(np.array([0, 3]), 3), "label 3 is outside 0..2 (one_hot: 3)"),
    (lambda: transforms.one_hot(np.array([0.5]), 3), "one_hot takes integer class labels"),
    (lambda: transforms.one_hot(np.zeros((2, 2)), 3), "one_hot takes one integer class label per sample"),
    (lambda: transforms.rescale(np.array([[1], [1, 2]], dtype=object), 2.0), "rescale needs fixed-size samples"),
])
def test_transform_errors_say_why(call, message):
    with pytest.raises(transforms.TransformError) as raised:
        call()
    assert str(raised.value).startswith(message)


def test_reshape_error_is_located_at_the_transform(tmp_path):
    path = write_spec(tmp_path, """\
        source: {builtin: digits}
        features:
          - rescale: 0.0625
          - reshape: [8, 8, 2]
        """)
    d = one_error(path)
    assert_at(d, path, "[8, 8, 2]", "data.features[1]",
              "reshape: cannot reshape samples of shape [64] (64 values) to [8, 8, 2] (128 values)")


def test_one_hot_error_is_located_in_labels(tmp_path):
    path = write_spec(tmp_path, "source: {builtin: digits}\nfeatures: [{reshape: [8, 8, 1]}]\nlabels: [{one_hot: 5}]\n")
    d = one_error(path)
    assert_at(d, path, "5}", "data.labels[0]", "one_hot: label 9 is outside 0..4 (one_hot: 5)")


# -- splits -----------------------------------------------------------------------------


def ids_npz(folder: Path, n: int) -> None:
    """x[i] = [i, i, i, i], y[i] = i % 3: each sample says which it is."""
    x = np.repeat(np.arange(n, dtype=np.float32)[:, None], 4, axis=1)
    np.savez(folder / "ids.npz", x=x, y=np.arange(n) % 3)


SIMPLE_MODEL = "model:\n  layers:\n    - Dense: {units: 3, input_shape: [4]}\n"


def test_split_fractions_partition_the_data_deterministically(tmp_path):
    ids_npz(tmp_path, 1000)
    data = "source: {npz: {path: ids.npz}}\nsplit: {validation: 0.1, test: 0.25}\n"
    splits = load_arrays(load(tmp_path, data, SIMPLE_MODEL, seed=5))
    sizes = [len(part) for part in (splits.train, splits.validation, splits.test)]
    assert sizes == [650, 100, 250]
    parts = [part.x["input"][:, 0].astype(int) for part in (splits.train, splits.validation, splits.test)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(1000))  # a partition: nothing lost, nothing twice
    for part in (splits.train, splits.validation, splits.test):
        assert (part.y["dense"] == part.x["input"][:, 0].astype(int) % 3).all()  # labels travel with their samples
    again = load_arrays(load(tmp_path, data, SIMPLE_MODEL, seed=5))
    other = load_arrays(load(tmp_path, data, SIMPLE_MODEL, seed=6))
    assert (again.test.x["input"] == splits.test.x["input"]).all()
    assert not np.array_equal(other.test.x["input"], splits.test.x["input"])


def test_split_errors_are_located(tmp_path):
    ids_npz(tmp_path, 5)
    path = write_spec(tmp_path, "source: {npz: {path: ids.npz}}\nsplit: {validation: 0.05}\n", SIMPLE_MODEL)
    assert_at(one_error(path), path, "0.05", "data.split", "0.05 of 5 samples is less than one sample")
    path = write_spec(tmp_path, "source: {npz: {path: ids.npz}}\nsplit: {validation: 0.5, test: 0.5}\n", SIMPLE_MODEL)
    assert_at(one_error(path), path, "{validation: 0.5", "data", "split: validation + test must leave data")


# -- npz, csv, images -------------------------------------------------------------------


def test_npz_single_and_mapping_forms(tmp_path):
    rng = np.random.default_rng(0)
    image, meta, cls, size = rng.random((20, 4)), rng.random((20, 2)), rng.integers(0, 3, 20), rng.random((20, 1))
    np.savez(tmp_path / "two.npz", img=image, m=meta, c=cls, s=size)
    data = """\
        source:
          npz: {path: two.npz, x: {image: img, meta: m}, y: {cls: c, size: s}}
        labels: {cls: [{one_hot: 3}]}
        """
    splits = load_arrays(load(tmp_path, data, TWO_BY_TWO_MODEL))
    assert set(splits.train.x) == {"image", "meta"} and set(splits.train.y) == {"cls", "size"}
    np.testing.assert_array_equal(splits.train.x["meta"], meta)
    np.testing.assert_array_equal(splits.train.y["cls"].argmax(1), cls)
    np.testing.assert_array_equal(splits.train.y["size"], size)


def test_npz_path_is_relative_to_the_spec_file(tmp_path, monkeypatch):
    (tmp_path / "specs").mkdir()
    ids_npz(tmp_path / "specs", 10)
    spec = load(tmp_path / "specs", "source: {npz: {path: ids.npz}}\n", SIMPLE_MODEL)
    monkeypatch.chdir(tmp_path)
    assert len(load_arrays(spec).train) == 10


def test_npz_errors_are_located(tmp_path):
    path = write_spec(tmp_path, "source: {npz: {path: nowhere.npz}}\n", SIMPLE_MODEL)
    assert_at(one_error(path), path, "nowhere.npz", "data.source.npz.path",
              f"no such file: nowhere.npz (looked at {tmp_path / 'nowhere.npz'})")

    np.savez(tmp_path / "d.npz", x=np.zeros((3, 4)), y=np.zeros(3))
    path = write_spec(tmp_path, "source: {npz: {path: d.npz, x: xx}}\n", SIMPLE_MODEL)
    d = one_error(path)
    assert_at(d, path, "xx", "data.source.npz", "no array 'xx' in d.npz (it has x, y). Did you mean 'x'?")

    np.savez(tmp_path / "obj.npz", x=np.array([[1], [1, 2], [3]], dtype=object), y=np.zeros(3))
    path = write_spec(tmp_path, "source: {npz: {path: obj.npz}}\n", SIMPLE_MODEL)
    assert "without unpickling Python objects" in one_error(path).message

    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    path = write_spec(tmp_path, "source: {npz: {path: junk.npz}}\n", SIMPLE_MODEL)
    assert one_error(path).message.startswith("cannot read junk.npz as a .npz file")

    np.savez(tmp_path / "short.npz", x=np.zeros((3, 4)), y=np.zeros(2))
    path = write_spec(tmp_path, "source: {npz: {path: short.npz}}\n", SIMPLE_MODEL)
    assert_at(one_error(path), path, "{npz:", "data.source",
              "short.npz has different numbers of samples (features 'input': 3, labels 'dense': 2)")


def test_npz_mapping_keys_must_be_model_inputs(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 4)), b=np.zeros((2, 2)), c=np.zeros(2), s=np.zeros(2))
    path = write_spec(tmp_path, "source:\n  npz: {path: two.npz, x: {imag: a, meta: b}, y: {cls: c, size: s}}\n", TWO_BY_TWO_MODEL)
    assert_at(one_error(path), path, "imag:", "data.source.npz.x",
              "'imag' is not a model input (the model's inputs: image, meta). Did you mean 'image'?")
    path = write_spec(tmp_path, "source:\n  npz: {path: two.npz, x: a, y: {cls: c, size: s}}\n", TWO_BY_TWO_MODEL)
    assert one_error(path).message.startswith("the model has 2 inputs (image, meta), but two.npz gives one features array")


def test_csv_source(tmp_path):
    (tmp_path / "iris.csv").write_text(
        "sepal_length,sepal_width,species,petal_length,petal_width\n"
        "5.1,3.5,setosa,1.4,0.2\n"
        "6.3,3.3,virginica,6.0,2.5\n"
        "\n"
        "7.0,3.2,versicolor,4.7,1.4\n", encoding="utf-8")
    model = "model:\n  layers:\n    - Dense: {units: 3, input_shape: [4]}\n"
    splits = load_arrays(load(tmp_path, "source: {csv: {path: iris.csv, label: species}}\nlabels: [{one_hot: 3}]\n", model))
    x = splits.train.x["input"]
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5], [7.0, 3.2, 4.7, 1.4]], rtol=1e-6)
    assert splits.train.y["dense"].argmax(1).tolist() == [0, 2, 1]  # setosa, versicolor, virginica: sorted

    (tmp_path / "numbers.csv").write_text("a,b,target\n1,2,0.5\n3,4,1.5\n", encoding="utf-8")
    model2 = "model:\n  layers:\n    - Dense: {units: 1, input_shape: [2]}\n"
    splits = load_arrays(load(tmp_path, "source: {csv: {path: numbers.csv, label: target}}\n", model2))
    assert splits.train.y["dense"].tolist() == [0.5, 1.5]


def test_csv_errors_are_located(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,species\n1,2,x\n3,oops,y\n", encoding="utf-8")
    model = "model:\n  layers:\n    - Dense: {units: 1, input_shape: [2]}\n"
    path = write_spec(tmp_path, "source: {csv: {path: d.csv, label: specie}}\n", model)
    assert_at(one_error(path), path, "specie}", "data.source.csv",
              "no column 'specie' in d.csv (its columns: a, b, species). Did you mean 'species'?")
    path = write_spec(tmp_path, "source: {csv: {path: d.csv, label: species}}\n", model)
    assert_at(one_error(path), path, "d.csv", "data.source.csv.path",
              "d.csv, line 3, column 'b': 'oops' is not a number")


def write_png_folders(folder: Path, sizes: dict[str, list[tuple[int, int]]]) -> dict[str, list[np.ndarray]]:
    import keras

    written: dict[str, list[np.ndarray]] = {}
    rng = np.random.default_rng(1)
    for cls, shapes in sizes.items():
        (folder / cls).mkdir(parents=True)
        for i, (h, w) in enumerate(shapes):
            pixels = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
            keras.utils.save_img(folder / cls / f"{i}.png", pixels, scale=False)
            written.setdefault(cls, []).append(pixels)
    return written


def test_images_source(tmp_path):
    written = write_png_folders(tmp_path / "photos", {"cat": [(6, 6), (6, 6)], "dog": [(6, 6), (9, 7), (6, 6)]})
    model = "model:\n  inputs:\n    image: {shape: [6, 6, 3]}\n  layers:\n    - Flatten\n    - Dense: {units: 2}\n"
    spec = load(tmp_path, "source: {images: {path: photos, image_size: [6, 6]}}\n", model)
    splits = load_arrays(spec)
    check_shapes(spec, splits)
    x, y = splits.train.x["image"], splits.train.y["dense"]
    assert x.shape == (5, 6, 6, 3) and x.dtype == np.float32
    assert sorted(y.tolist()) == [0, 0, 1, 1, 1]  # cat, dog: folders in sorted order
    first_cat = x[y == 0][0]
    assert any(np.array_equal(first_cat, image.astype(np.float32)) for image in written["cat"])  # 6x6 needs no resizing

    gray = load(tmp_path, "source: {images: {path: photos, image_size: [4, 4], color_mode: grayscale}}\n",
                model.replace("[6, 6, 3]", "[4, 4, 1]"))
    assert load_arrays(gray).train.x["image"].shape == (5, 4, 4, 1)

    (tmp_path / "flat").mkdir()
    path = write_spec(tmp_path, "source: {images: {path: flat, image_size: [6, 6]}}\n", model)
    assert one_error(path).message.startswith("flat has no sub-folders")


def test_paths_in_a_base_spec_are_relative_to_the_base(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "runs").mkdir()
    ids_npz(tmp_path / "base", 6)
    write_spec(tmp_path / "base", "source: {npz: {path: ids.npz}}\n", SIMPLE_MODEL, name="base.yaml")
    (tmp_path / "runs" / "child.yaml").write_text("extends: ../base/base.yaml\nname: child\n", encoding="utf-8")
    assert len(load_arrays(specc.load(tmp_path / "runs" / "child.yaml")).train) == 6


@pytest.mark.parametrize("modules, heavy", [
    ("specc.schema.data", ("numpy", "keras", "tensorflow")),  # what `specc validate` imports: no NumPy either
    ("specc.data", ("numpy", "keras", "tensorflow")),
    ("specc.data.sources, specc.data.transforms, specc.data.split, specc.data.keras_cache", ("keras", "tensorflow")),
])
def test_importing_the_data_modules_stays_light(modules, heavy):
    code = f"import sys, {modules}; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


# -- the input pipeline ----------------------------------------------------------------


def epochs(dataset, n: int) -> list[list[int]]:
    return [np.concatenate([x.numpy()[:, 0] for x, _ in dataset]).astype(int).tolist() for _ in range(n)]


def test_to_dataset_batches_prefetches_and_reshuffles_each_epoch(monkeypatch):
    import tensorflow as tf

    prefetched = []  # (buffer size, the dataset prefetch returned), through tf.data's public method
    prefetch = tf.data.Dataset.prefetch

    def spy(self, buffer_size, *args, **kwargs):
        result = prefetch(self, buffer_size, *args, **kwargs)
        prefetched.append((buffer_size, result))
        return result

    monkeypatch.setattr(tf.data.Dataset, "prefetch", spy)
    n = 100
    arrays = Arrays({"input": np.repeat(np.arange(n, dtype=np.float32)[:, None], 3, 1)}, {"out": np.arange(n) % 2})
    dataset = to_dataset(arrays, 32, shuffle=True, seed=3, shuffle_buffer=None)
    x_spec, y_spec = dataset.element_spec
    assert x_spec.shape.as_list() == [None, 3] and x_spec.dtype == tf.float32 and y_spec.shape.as_list() == [None]
    [(buffer_size, last)] = prefetched
    assert buffer_size == tf.data.AUTOTUNE and last is dataset  # prefetching, tuned by tf.data, is the last step
    first, second = epochs(dataset, 2)
    assert [len(x) for x, _ in dataset] == [32, 32, 32, 4]
    assert sorted(first) == list(range(n)) and first != list(range(n)) and first != second  # a new order each epoch
    assert epochs(to_dataset(arrays, 32, shuffle=True, seed=3, shuffle_buffer=None), 2) == [first, second]  # same seed: same orders
    assert epochs(to_dataset(arrays, 32, shuffle=False, seed=None, shuffle_buffer=None), 1) == [list(range(n))]
    for x, y in dataset.take(1):
        assert (y.numpy() == x.numpy()[:, 0].astype(int) % 2).all()  # pairs stay together


def test_to_dataset_uses_dicts_for_several_inputs_and_outputs(tmp_path):
    import tensorflow as tf

    arrays = Arrays({"image": np.zeros((10, 4), np.float32), "meta": np.ones((10, 2), np.float32)},
                    {"cls": np.zeros((10, 3), np.float32), "size": np.zeros((10, 1), np.float32)})
    x_spec, y_spec = to_dataset(arrays, 4, shuffle=True, seed=None, shuffle_buffer=5).element_spec
    assert set(x_spec) == {"image", "meta"} and set(y_spec) == {"cls", "size"}
    assert x_spec["meta"] == tf.TensorSpec((None, 2), tf.float32)


# -- the data against the model ---------------------------------------------------------------


def test_data_shape_mismatch_is_located_before_training(tmp_path):
    # The tutorial mistake: a model for 28x28 grayscale digits fed 32x32 colour images.
    np.savez(tmp_path / "cifar.npz", x=np.zeros((4, 32, 32, 3), np.uint8), y=np.zeros(4, np.uint8))
    model = "model:\n  inputs:\n    image: {shape: [28, 28, 1]}\n  layers:\n    - Flatten\n    - Dense: {units: 10}\n"
    path = write_spec(tmp_path, "source: {npz: {path: cifar.npz}}\nfeatures: [{rescale: 0.00392156862745098}]\n", model)
    spec = specc.load(path)
    splits = load_arrays(spec)
    d = one_error(spec, lambda s: check_shapes(s, splits))
    line, column = position(path, "[28, 28, 1]")
    assert_at(d, path, "{rescale", "data.features[0]",
              f"the data's samples have shape [32, 32, 3], but model input 'image' takes [28, 28, 1] "
              f"(model.inputs.image, {path}:{line}:{column}). Fix the model's input shape")

    # Same number of values: the message says which reshape would feed them.
    path = write_spec(tmp_path, "source: {builtin: digits}\n")
    spec = specc.load(path)
    d = one_error(spec, lambda s: check_shapes(s, load_arrays(s)))
    assert_at(d, path, "{builtin", "data.source", "the data's samples have shape [64], but model input 'image' takes [8, 8, 1]")
    assert d.message.endswith("add `- reshape: [8, 8, 1]` to data.features.")

    # A plain chain's input, declared by `input_shape` on its first layer (the Keras MLP tutorial's [784]).
    model = "model:\n  layers:\n    - Dense: {units: 10, input_shape: [784]}\n"
    path = write_spec(tmp_path, "source: {builtin: digits}\n", model)
    d = one_error(path, lambda s: check_shapes(s, load_arrays(s)))
    line, column = position(path, "[784]")
    assert d.message.startswith(f"the data's samples have shape [64], but the model's input takes [784] "
                                f"(model.layers[0] (Dense) input_shape, {path}:{line}:{column}).")


def test_transform_mapping_keys_must_be_model_inputs_and_outputs(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 4)), b=np.zeros((2, 2)), c=np.zeros(2), s=np.zeros(2))
    source = "source:\n  npz: {path: two.npz, x: {image: a, meta: b}, y: {cls: c, size: s}}\n"
    path = write_spec(tmp_path, source + "features: {imgae: [{rescale: 2}]}\n", TWO_BY_TWO_MODEL)
    assert_at(one_error(path), path, "imgae", "data.features",
              "'imgae' is not a model input (the model's inputs: image, meta). Did you mean 'image'?")
    path = write_spec(tmp_path, source + "labels: {clss: [{one_hot: 3}]}\n", TWO_BY_TWO_MODEL)
    assert_at(one_error(path), path, "clss", "data.labels",
              "'clss' is not a model output (the model's outputs: cls, size). Did you mean 'cls'?")
    path = write_spec(tmp_path, source + "features: [{rescale: 2}]\n", TWO_BY_TWO_MODEL)
    assert_at(one_error(path), path, "[{rescale", "data.features",
              "a list of transforms is for a model with one input; this model has 2 (image, meta)")


def test_structure_errors_in_the_data_section_are_located(tmp_path):
    path = write_spec(tmp_path, "source: {builtin: digits, keras: mnist}\n")
    assert_at(one_error(path), path, "{builtin", "data", "source: expected exactly one source")
    path = write_spec(tmp_path, "source: {keras: mnst}\n")
    assert "Did you mean 'mnist'?" in one_error(path).message
    path = write_spec(tmp_path, "source: {builtin: digits}\nfeatures: [{rescale: 2, cast: float32}]\n")
    assert "expected exactly one transform" in one_error(path).message
    (tmp_path / "bare.yaml").write_text("specc: 1\nname: t\n" + DIGITS_MODEL, encoding="utf-8")
    assert one_error(tmp_path / "bare.yaml").message.startswith("the spec has no `data:` section")


# -- keras.datasets through Keras's own loader and cache ----------------------------------------


def idx_gz(path: Path, array: np.ndarray) -> None:
    """An IDX file (the MNIST format), gzipped: magic, sizes, then the uint8 values."""
    magic = 0x800 + array.ndim
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


KERAS_SCRIPT = r"""
import json, os, socket, sys
import numpy as np
import specc
from specc.data import load_arrays

def no_network(*args, **kwargs):  # as on a machine without network, whatever this one has
    raise socket.gaierror(-3, "Temporary failure in name resolution")
socket.getaddrinfo = no_network

results = {}
def run(label, spec_path):
    start = __import__("time").perf_counter()
    try:
        splits = load_arrays(specc.load(spec_path))
    except specc.SpecError as err:
        results[label] = {"error": [d.as_json() for d in err.diagnostics]}
    else:
        np.savez(os.path.join(sys.argv[1], label + ".npz"), x_train=splits.train.x["image"], y_train=splits.train.y["dense"],
                 x_val=splits.validation.x["image"], x_test=splits.test.x["image"], y_test=splits.test.y["dense"])
        results[label] = {"ok": True}
    results[label]["seconds"] = __import__("time").perf_counter() - start

for label in sys.argv[2:]:
    if label == "mnist_bad_hash":
        with open(os.path.join(os.environ["KERAS_HOME"], "datasets", "mnist.npz"), "wb") as f:
            f.write(b"my own bytes, not Keras's mnist.npz")
    if label == "fashion_damaged":
        with open(os.path.join(os.environ["KERAS_HOME"], "datasets", "fashion-mnist", "t10k-images-idx3-ubyte.gz"), "wb") as f:
            f.write(b"not gzip")
    run(label, os.path.join(sys.argv[1], label.split("_")[0] + ".yaml"))
print(json.dumps(results))
"""

MNIST_LIKE_MODEL = "model:\n  inputs:\n    image: {shape: [28, 28, 1]}\n  layers:\n    - Flatten\n    - Dense: {units: 10}\n"
MNIST_LIKE_DATA = """\
source: {keras: %s}
features: [{rescale: 0.00392156862745098}, {reshape: [28, 28, 1]}]
labels: [{one_hot: 10}]
split: {validation: 0.25, test: 0.5}
"""


@pytest.fixture(scope="module")
def keras_cache_runs(tmp_path_factory):
    """One subprocess (KERAS_HOME set before Keras is imported) loads fashion_mnist from files written
    into the cache, then mnist not cached, then mnist cached with a wrong hash; all without network."""
    home, work = tmp_path_factory.mktemp("keras_home"), tmp_path_factory.mktemp("specs")
    rng = np.random.default_rng(2)
    written = {"x_train": rng.integers(0, 256, (12, 28, 28)), "y_train": np.arange(12) % 10,
               "x_test": rng.integers(0, 256, (5, 28, 28)), "y_test": np.arange(5)}
    fashion = home / "datasets" / "fashion-mnist"
    fashion.mkdir(parents=True)
    for name, key in (("train-labels-idx1-ubyte.gz", "y_train"), ("train-images-idx3-ubyte.gz", "x_train"),
                      ("t10k-labels-idx1-ubyte.gz", "y_test"), ("t10k-images-idx3-ubyte.gz", "x_test")):
        idx_gz(fashion / name, written[key])
    for name in ("fashion", "mnist"):
        write_spec(work, MNIST_LIKE_DATA % {"fashion": "fashion_mnist", "mnist": "mnist"}[name], MNIST_LIKE_MODEL, name=f"{name}.yaml")
    env = {**os.environ, "KERAS_HOME": str(home), "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", KERAS_SCRIPT, str(work), "fashion", "mnist", "mnist_bad_hash",
                           "fashion_damaged"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), written, home, work


def test_fashion_mnist_from_the_keras_cache_offline(keras_cache_runs):
    results, written, _, work = keras_cache_runs
    assert results["fashion"].get("ok"), results["fashion"]
    got = np.load(work / "fashion.npz")
    # The source's own test set stays; validation is carved from its 12 training samples.
    assert got["x_train"].shape == (9, 28, 28, 1) and got["x_val"].shape == (3, 28, 28, 1)
    np.testing.assert_allclose(got["x_test"][..., 0], written["x_test"] / 255, rtol=1e-6)
    assert got["y_test"].argmax(1).tolist() == written["y_test"].tolist()
    train_rows = {tuple(np.round(row.ravel() * 255).astype(int)) for row in np.concatenate([got["x_train"], got["x_val"]])}
    assert train_rows == {tuple(row.ravel()) for row in written["x_train"]}


def test_mnist_not_cached_is_a_clear_located_error(keras_cache_runs):
    results, _, home, work = keras_cache_runs
    [d] = results["mnist"]["error"]
    assert results["mnist"]["seconds"] < 10  # no hang
    assert (d["file"], d["line"], d["column"]) == (str(work / "mnist.yaml"), *position(work / "mnist.yaml", "mnist}"))
    assert d["where"] == "data.source.keras"
    assert d["message"].startswith("keras.datasets.mnist needs mnist.npz, which is not in Keras's cache, and downloading it failed")
    assert f"Keras looked for {home / 'datasets' / 'mnist.npz'}" in d["message"]
    origin = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
    assert f"download {origin} elsewhere and save it as that file" in d["message"]


def test_mnist_with_a_wrong_hash_is_reported_and_left_in_place(keras_cache_runs):
    results, _, home, _ = keras_cache_runs
    [d] = results["mnist_bad_hash"]["error"]
    cached = home / "datasets" / "mnist.npz"
    assert cached.read_bytes() == b"my own bytes, not Keras's mnist.npz"  # Keras would have deleted it
    assert d["message"].startswith(f"the cached file {cached} does not match the sha256 hash Keras expects for keras.datasets.mnist")
    assert "specc left it untouched" in d["message"]


def test_a_damaged_cached_file_is_named(keras_cache_runs):
    results, _, home, _ = keras_cache_runs
    [d] = results["fashion_damaged"]["error"]
    assert d["message"].startswith("keras.datasets.fashion_mnist.load_data failed: BadGzipFile")
    assert str(home / "datasets" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz") in d["message"]


def test_mnist_through_a_patched_get_file(tmp_path, monkeypatch):
    import keras.src.backend.config
    import keras.src.datasets.mnist

    rng = np.random.default_rng(3)
    arrays = {"x_train": rng.integers(0, 256, (8, 28, 28), dtype=np.uint8), "y_train": np.arange(8, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), "y_test": np.arange(4, dtype=np.uint8)}
    np.savez(tmp_path / "small_mnist.npz", **arrays)
    calls = []

    def fake_get_file(fname=None, origin=None, **kwargs):
        calls.append((fname, origin))
        return str(tmp_path / "small_mnist.npz")

    monkeypatch.setattr(keras.src.datasets.mnist, "get_file", fake_get_file)
    monkeypatch.setattr(keras.src.backend.config, "_KERAS_DIR", str(tmp_path / "keras_home"))  # not the user's ~/.keras
    data = MNIST_LIKE_DATA % "mnist"
    splits = load_arrays(load(tmp_path, data.replace("test: 0.5", "test: 0.0"), MNIST_LIKE_MODEL))
    assert calls == [("mnist.npz", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz")]
    assert len(splits.train) == 6 and len(splits.validation) == 2
    np.testing.assert_allclose(splits.test.x["image"][..., 0], arrays["x_test"] / 255, rtol=1e-6)
    assert keras.src.datasets.mnist.get_file is fake_get_file  # restored after the load


def test_keras_load_data_arguments_are_checked(tmp_path):
    path = write_spec(tmp_path, "source: {keras: {name: mnist, pth: x.npz}}\n", MNIST_LIKE_MODEL)
    assert_at(one_error(path), path, "pth", "data.source.keras (mnist)",
              "unknown argument 'pth' for keras.datasets.mnist.load_data (it takes path). Did you mean 'path'?")


# -- labels against the model's outputs and the loss (checked by `specc train` once the model is built) -------


QUICKSTART_SPEC = Path(__file__).resolve().parent.parent / "specs" / "quickstart.yaml"


def label_problems(overrides: list[str], output_shape: tuple = (10,)) -> list[str]:
    from specc.data import check_labels

    spec = specc.load(QUICKSTART_SPEC, overrides)
    try:
        check_labels(spec, load_arrays(spec), {spec.graph.outputs[0]: output_shape})
    except specc.SpecError as err:
        return [d.format() for d in err.diagnostics]
    return []


def test_labels_that_fit_the_output_and_loss_pass():
    assert label_problems([]) == []
    assert label_problems(["data.labels=[]", "compile.loss=sparse_categorical_crossentropy"]) == []


def test_class_indices_for_a_one_hot_loss_are_located():
    (problem,) = label_problems(["data.labels=[]"])
    assert problem.endswith("error: data.source: the labels are class indices (shape [] per sample), but the loss "
                            "categorical_crossentropy takes one-hot labels, shaped like the model's output [10]: add "
                            "`- one_hot: 10` to data.labels, or use sparse_categorical_crossentropy")
    line, column = position(QUICKSTART_SPEC, "{builtin: digits}")  # data.source
    assert problem.startswith(f"{QUICKSTART_SPEC}:{line}:{column}: ")


def test_one_hot_labels_for_a_sparse_loss_are_located():
    (problem,) = label_problems(["compile.loss=sparse_categorical_crossentropy"])
    line, column = position(QUICKSTART_SPEC, "{one_hot: 10}")  # data.labels[0]
    assert f"{QUICKSTART_SPEC}:{line}:{column}: error: data.labels[0]: the labels have shape [10] per sample, but " \
           "the loss sparse_categorical_crossentropy takes class indices" in problem


def test_labels_of_another_width_than_the_output_are_located():
    (problem,) = label_problems(["compile.loss=mse"], output_shape=(5,))
    assert problem.endswith("the labels have shape [10] per sample, but the model's output produces [5]")


def own_test_spec(tmp_path: Path, split: str) -> Path:
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "d.npz", x=rng.random((20, 3)), y=rng.integers(0, 2, 20), x_test=rng.random((7, 3)),
             y_test=rng.integers(0, 2, 7))
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(f"""\
        specc: 1
        name: own_test
        seed: 1
        model:
          layers: [{{Dense: {{units: 1, input_shape: [3]}}}}]
        data:
          source: {{npz: {{path: d.npz, x_test: x_test, y_test: y_test}}}}
          features: [{{rescale: 10}}]
          split: {split}
        """))
    return path


def test_an_npz_file_s_own_test_arrays_are_the_test_set(tmp_path):
    splits = load_arrays(specc.load(own_test_spec(tmp_path, "{validation: 0.25}")))
    with np.load(tmp_path / "d.npz") as archive:
        np.testing.assert_allclose(splits.test.x["input"], archive["x_test"] * 10, rtol=1e-6)  # transformed like x
        np.testing.assert_array_equal(splits.test.y["dense"], archive["y_test"])
    assert len(splits.train) == 15 and len(splits.validation) == 5  # carved from x and y only


def test_an_npz_test_set_and_a_test_fraction_are_refused_together(tmp_path):
    with pytest.raises(specc.SpecError, match=r"the npz source gives its own test set \(x_test, y_test\), so split.test"):
        specc.load(own_test_spec(tmp_path, "{test: 0.2}"))
    path = own_test_spec(tmp_path, "{}")
    path.write_text(path.read_text().replace(", y_test: y_test", ""))
    with pytest.raises(specc.SpecError, match="x_test needs y_test too"):
        specc.load(path)
