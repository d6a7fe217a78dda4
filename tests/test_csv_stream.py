"""`csv: {..., stream: true}`: a CSV file read line by line while training, never loaded whole.

Unshuffled, the streamed file trains exactly as the same file loaded whole (the split carved
alike, text labels, transforms, a blank line); shuffled, every row comes once an epoch; a
validation file of its own maps its labels to the training classes; a bad row is a located
error before training. The generated script streams alike.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

import specc
import specc.cli
from specc.data import is_streamed, load_arrays, to_dataset

import keras  # noqa: E402  (tests/conftest.py sets KERAS_BACKEND=tensorflow first)
from scripts import train_script

HEAD = textwrap.dedent("""\
    specc: 1
    name: rows
    seed: 1
    model:
      layers:
        - Dense: {units: 3, activation: softmax, input_shape: [3]}
    compile: {optimizer: adam, loss: categorical_crossentropy, metrics: [accuracy]}
    train: {epochs: 3, batch_size: 8, shuffle: false, verbose: 0}
    """)
DATA = textwrap.dedent("""\
    data:
      source: {csv: {path: big.csv, label: kind, stream: true}}
      features: [{rescale: 0.5}]
      labels: [{one_hot: 3}]
      split: {validation: 0.2, test: 0.1}
    """)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rows")
    rng = np.random.default_rng(1)
    lines = ["a,b,c,kind"]
    for i in range(90):
        lines.append(f"{rng.random():.6f},{rng.normal():.5e},{i},{'xyz'[rng.integers(0, 3)]}")
        if i == 40:
            lines.append("")  # a blank line: no row, as in a file loaded whole
    (root / "big.csv").write_text("\n".join(lines) + "\n")
    (root / "val.csv").write_text("a,b,c,kind\n1,2,3,z\n4,5,6,y\n")
    (root / "stream.yaml").write_text(HEAD + DATA)
    (root / "whole.yaml").write_text(HEAD + DATA.replace(", stream: true", ""))
    return root


def test_a_streamed_csv_trains_exactly_as_the_file_loaded_whole(folder):
    streamed = specc.train(folder / "stream.yaml", out=folder / "run_stream")
    whole = specc.train(folder / "whole.yaml", out=folder / "run_whole")
    assert streamed.history == whole.history and streamed.metrics == whole.metrics
    ours = keras.saving.load_model(streamed.run_dir / "model.keras").get_weights()
    theirs = keras.saving.load_model(whole.run_dir / "model.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))
    assert json.loads((streamed.run_dir / "labels.json").read_text())["classes"] == ["x", "y", "z"]


def test_a_streamed_csv_is_split_as_the_file_loaded_whole_and_shuffles_every_row(folder):
    streamed, whole = load_arrays(specc.load(folder / "stream.yaml")), load_arrays(specc.load(folder / "whole.yaml"))
    assert is_streamed(streamed.train) and not is_streamed(whole.train)
    assert [len(p) for p in (streamed.train, streamed.validation, streamed.test)] == [63, 18, 9]
    np.testing.assert_array_equal(streamed.train.sample().x["input"], whole.train.x["input"][:32])
    dataset = to_dataset(streamed.train, 8, shuffle=True, seed=2, shuffle_buffer=20)
    epochs = [np.concatenate([np.asarray(x) for x, _ in dataset]) for _ in range(2)]
    expected = sorted(map(tuple, whole.train.x["input"]))
    assert all(sorted(map(tuple, epoch)) == expected for epoch in epochs)  # every row of the split, once
    assert not np.array_equal(epochs[0], epochs[1])


def test_a_streamed_validation_file_takes_the_training_classes(folder):
    path = folder / "val.yaml"
    path.write_text(HEAD + DATA.replace("  split: {validation: 0.2, test: 0.1}\n",
                                        "  validation: {csv: {path: val.csv, label: kind, stream: true}}\n"))
    splits = load_arrays(specc.load(path))
    assert splits.validation.sample().y["dense"].tolist() == [[0, 0, 1], [0, 1, 0]]  # z, y of x, y, z
    (folder / "odd.csv").write_text("a,b,c,kind\n1,2,3,w\n")
    path.write_text(path.read_text().replace("val.csv", "odd.csv"))
    with pytest.raises(specc.SpecError, match="odd.csv has labels the training data does not: 'w'"):
        load_arrays(specc.load(path))


@pytest.mark.parametrize("change, code, message", [
    (lambda text: text + "1,two,3,x\n", "D104", "big.csv, line 93, column 'b': 'two' is not a number"),
    (lambda text: text + "1,2,x\n", "D104", "big.csv, line 93: 3 values; the header has 4"),
])
def test_a_bad_row_is_located_before_training(folder, tmp_path, change, code, message):
    (tmp_path / "big.csv").write_text(change((folder / "big.csv").read_text()))
    (tmp_path / "stream.yaml").write_text(HEAD + DATA)
    with pytest.raises(specc.SpecError) as caught:
        specc.train(tmp_path / "stream.yaml", out=tmp_path / "run")
    found = caught.value.diagnostics[0]
    assert str(found.code) == code and message in found.message, found.format()
    assert not (tmp_path / "run").exists()


def test_text_columns_are_not_streamed(folder):
    path = folder / "text.yaml"
    path.write_text(HEAD + DATA.replace("stream: true", "stream: true, text: [a]"))
    with pytest.raises(specc.SpecError, match="a streamed CSV has numeric features only"):
        specc.load(path)


def test_the_generated_script_streams_the_file_alike(folder, tmp_path):
    ours = specc.train(folder / "stream.yaml", out=tmp_path / "ours")
    script = folder / "stream_script.py"
    assert specc.cli.main(["codegen", str(folder / "stream.yaml"), "-o", str(script)]) == 0
    history, metrics = train_script(script, tmp_path / "out")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert history[key] == ours.history[key], key
    assert metrics == ours.metrics


def test_a_split_is_read_as_the_training_data_is(folder):
    """A streamed training file with a validation file held in memory (or the reverse) is refused: one way of reading
    per run, as the generated script reads it."""
    path = folder / "mixed.yaml"
    path.write_text(HEAD + DATA.replace("  split: {validation: 0.2, test: 0.1}\n",
                                        "  validation: {csv: {path: val.csv, label: kind}}\n"))
    with pytest.raises(specc.SpecError, match="data.validation is held in memory, the training source a CSV file, "
                                              "streamed"):
        specc.load(path)
