"""`images: {..., stream: true}`: an image folder read lazily, batch by batch, trains as the folder loaded whole.

The same spec is trained twice, the folder loaded whole (Keras's image_dataset_from_directory,
as before) and streamed: the history, the adapted state, the evaluation and the trained
weights are the same. A validation folder of its own streams too, its classes mapped by name.
The generated script streams alike. Peak memory against the folder's size is measured by
bench/memory.py, not here.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

import specc
import specc.cli
from specc.data import load_arrays
from specc.data.stream import is_stream

import keras  # noqa: E402  (tests/conftest.py sets KERAS_BACKEND=tensorflow first)
from scripts import train_script

SPEC = textwrap.dedent("""\
    specc: 1
    name: photos
    seed: 3
    model:
      inputs: {image: {shape: [8, 8, 3]}}
      layers:
        - Normalization: {adapt: true, name: norm}
        - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
        - Flatten
        - Dense: {units: 3, activation: softmax}
    compile: {optimizer: adam, loss: categorical_crossentropy, metrics: [accuracy]}
    data:
      source: {images: {path: photos, image_size: [8, 8]STREAM}}
      features: [{rescale: 0.00392156862745098}]
      labels: [{one_hot: 3}]
      split: {validation: 0.2, test: 0.2}
    train: {epochs: 2, batch_size: 8, verbose: 0}
    """)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from PIL import Image

    root = tmp_path_factory.mktemp("stream")
    rng = np.random.default_rng(0)
    for name, count in (("cat", 23), ("dog", 17), ("emu", 9)):
        (root / "photos" / name).mkdir(parents=True)
        for i in range(count):
            size = (8, 8) if i % 3 else (11, 7)  # some resized
            Image.fromarray(rng.integers(0, 256, (*size, 3)).astype(np.uint8)).save(root / "photos" / name / f"{i}.png")
    (root / "other" / "emu").mkdir(parents=True)  # a validation folder of one of the three classes
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)).save(root / "other" / "emu" / f"{i}.jpg")
    (root / "whole.yaml").write_text(SPEC.replace("STREAM", ""))
    (root / "stream.yaml").write_text(SPEC.replace("STREAM", ", stream: true"))
    return root


@pytest.fixture(scope="module")
def both(folder):
    return (specc.train(folder / "whole.yaml", out=folder / "whole"),
            specc.train(folder / "stream.yaml", out=folder / "streamed"))


def test_a_streamed_folder_is_split_and_decoded_as_the_folder_loaded_whole(folder):
    whole, streamed = load_arrays(specc.load(folder / "whole.yaml")), load_arrays(specc.load(folder / "stream.yaml"))
    assert is_stream(streamed.train) and not is_stream(whole.train)
    assert [len(p) for p in (streamed.train, streamed.validation, streamed.test)] == [
        len(p) for p in (whole.train, whole.validation, whole.test)] == [29, 10, 10]
    assert streamed.classes == whole.classes == ["cat", "dog", "emu"]
    sample = streamed.train.sample()  # its first batch, decoded and transformed: what the checks read
    np.testing.assert_array_equal(sample.x["image"], whole.train.x["image"][:32])
    np.testing.assert_array_equal(sample.y["dense"], whole.train.y["dense"][:32])


def test_a_streamed_folder_trains_exactly_as_the_folder_loaded_whole(both):
    """The same batches in the same order; only Normalization's adapt, batch by batch instead of on the whole
    array, sums in another order (so: equal to float32 rounding, not bit for bit)."""
    whole, streamed = both
    assert streamed.history["epochs"] == whole.history["epochs"] == [0, 1]
    for key, values in whole.history.items():
        np.testing.assert_allclose(streamed.history[key], values, rtol=1e-5, err_msg=key)
    assert streamed.metrics == pytest.approx(whole.metrics, rel=1e-5) and streamed.evaluated_on == "test"
    ours = keras.saving.load_model(streamed.run_dir / "model.keras")
    theirs = keras.saving.load_model(whole.run_dir / "model.keras")
    np.testing.assert_allclose(ours.get_layer("norm").mean, theirs.get_layer("norm").mean, rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert json.loads((streamed.run_dir / "labels.json").read_text())["classes"] == ["cat", "dog", "emu"]


def test_a_streamed_validation_folder_takes_the_training_classes(folder):
    text = SPEC.replace("STREAM", ", stream: true").replace(
        "  split: {validation: 0.2, test: 0.2}\n", "  validation: {images: {path: other, image_size: [8, 8], stream: true}}\n")
    (folder / "other.yaml").write_text(text)
    splits = load_arrays(specc.load(folder / "other.yaml"))
    assert is_stream(splits.validation) and splits.validation.labels.tolist() == [2, 2, 2, 2]  # emu: class 2
    assert splits.validation.sample().y["dense"].tolist() == [[0, 0, 1]] * 4  # one-hot, after the mapping


def test_the_generated_script_streams_alike(folder, both, tmp_path):
    _, streamed = both
    script = folder / "stream_script.py"
    assert specc.cli.main(["codegen", str(folder / "stream.yaml"), "-o", str(script)]) == 0
    text = script.read_text()
    assert "def stream_dataset(" in text and "x, y, classes = list_images(folder=path)" in text
    history, metrics = train_script(script, tmp_path / "out")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history[key], streamed.history[key], rtol=1e-6, err_msg=key)
    assert metrics == pytest.approx(streamed.metrics, rel=1e-6)
