"""`tfrecord:` sources: tf.train.Example records streamed from files, never loaded whole.

The records are written here with tf.train.Example from NumPy arrays also saved as an npz:
unshuffled, the TFRecord files train exactly as the npz does (the same losses and weights);
shuffled, every record comes once an epoch, in another order each epoch; under a
multi-worker strategy the dataset is sharded by file. The generated script trains alike.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import specc
import specc.cli
from specc.data import load_arrays, to_dataset
from specc.data.records import is_records

import keras  # noqa: E402  (tests/conftest.py sets KERAS_BACKEND=tensorflow first)
import tensorflow as tf  # noqa: E402
from scripts import train_script

HEAD = textwrap.dedent("""\
    specc: 1
    name: records
    seed: 1
    model:
      layers:
        - Dense: {units: 3, activation: softmax, input_shape: [4]}
    compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
    train: {epochs: 3, batch_size: 8, shuffle: false, verbose: 0}
    """)
FEATURES = "features: {pixels: {shape: [4], dtype: float32}, label: {dtype: int64}}"


def write_records(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for row, label in zip(x, y):
            example = tf.train.Example(features=tf.train.Features(feature={
                "pixels": tf.train.Feature(float_list=tf.train.FloatList(value=row)),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))}))
            writer.write(example.SerializeToString())


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("records")
    rng = np.random.default_rng(0)
    x, y = rng.random((60, 4), dtype=np.float32), rng.integers(0, 3, 60)
    (root / "shards").mkdir()
    for k in range(3):  # 20 records a file
        write_records(root / "shards" / f"train-{k}.tfrecord", x[k * 20:(k + 1) * 20], y[k * 20:(k + 1) * 20])
    xv, yv = rng.random((10, 4), dtype=np.float32), rng.integers(0, 3, 10)
    write_records(root / "val.tfrecord", xv, yv)
    np.savez(root / "same.npz", x=x, y=y, xv=xv, yv=yv)
    (root / "records.yaml").write_text(HEAD + textwrap.dedent(f"""\
        data:
          source: {{tfrecord: {{files: "shards/train-*.tfrecord", {FEATURES}, x: pixels, y: label}}}}
          validation: {{tfrecord: {{files: val.tfrecord, {FEATURES}, x: pixels, y: label}}}}
          features: [{{rescale: 2.0}}]
        """))
    (root / "npz.yaml").write_text(HEAD + textwrap.dedent("""\
        data:
          source: {npz: {path: same.npz}}
          validation: {npz: {path: same.npz, x: xv, y: yv}}
          features: [{rescale: 2.0}]
        """))
    return root


@pytest.fixture(scope="module")
def both(folder):
    return specc.train(folder / "records.yaml", out=folder / "run_records"), specc.train(folder / "npz.yaml",
                                                                                        out=folder / "run_npz")


def test_unshuffled_records_train_exactly_as_the_same_arrays_in_memory(both):
    records, arrays = both
    assert records.history == arrays.history and records.metrics == arrays.metrics
    assert records.evaluated_on == "validation"
    ours = keras.saving.load_model(records.run_dir / "model.keras").get_weights()
    theirs = keras.saving.load_model(arrays.run_dir / "model.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_shuffled_records_give_each_record_once_an_epoch_in_a_new_order(folder):
    splits = load_arrays(specc.load(folder / "records.yaml"))
    assert is_records(splits.train) and len(splits.train) == 60
    np.testing.assert_array_equal(splits.train.x["input"][:32], np.load(folder / "same.npz")["x"][:32] * 2.0)
    dataset = to_dataset(splits.train, 8, shuffle=True, seed=4, shuffle_buffer=16)
    epochs = [np.concatenate([np.asarray(x) for x, _ in dataset]) for _ in range(2)]
    expected = sorted(map(tuple, np.load(folder / "same.npz")["x"] * 2.0))
    assert all(sorted(map(tuple, epoch)) == expected for epoch in epochs)  # every record, once
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled each epoch


def test_records_are_sharded_by_file_under_a_strategy(folder):
    """The dataset a strategy gets has AutoShardPolicy.FILE: each worker reads its own files."""
    from specc.run import distribute

    class Capture:
        def experimental_distribute_dataset(self, dataset):
            return dataset

    splits = load_arrays(specc.load(folder / "records.yaml"))
    dataset = distribute.distribute_dataset(Capture(), to_dataset(splits.train, 8, shuffle=False, seed=1,
                                                                  shuffle_buffer=None), by_file=True)
    assert dataset.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.FILE
    script = folder / "dist.py"
    text = (folder / "records.yaml").read_text().replace("train: {", "train: {distribution: multi_worker_mirrored, ")
    (folder / "dist.yaml").write_text(text)
    assert specc.cli.main(["codegen", str(folder / "dist.yaml"), "-o", str(script)]) == 0
    assert "auto_shard_policy = tf.data.experimental.AutoShardPolicy.FILE" in script.read_text()


@pytest.mark.parametrize("source, code, where, message", [
    ('{tfrecord: {files: "nothing-*.tfrecord", FEATURES, x: pixels, y: label}}', "D102", "data.source.tfrecord.files",
     "no files match nothing-*.tfrecord"),
    ('{tfrecord: {files: "shards/*.tfrecord", FEATURES, x: pixel, y: label}}', "D103", "data.source",
     "x: 'pixel' is not among the features (pixels, label). Did you mean 'pixels'?"),
    ('{tfrecord: {files: "shards/*.tfrecord", features: {pixels: {shape: [5], dtype: float32}, label: {dtype: int64}}, '
     'x: pixels, y: label}}', "D104", "data.source.tfrecord", "cannot read the records of shards/*.tfrecord with these features"),
])
def test_a_records_mistake_is_located(folder, source, code, where, message):
    path = folder / "bad.yaml"
    path.write_text(HEAD + "data:\n  source: " + source.replace("FEATURES", FEATURES) + "\n")
    with pytest.raises(specc.SpecError) as caught:
        load_arrays(specc.load(path))
    found = caught.value.diagnostics[0]
    assert str(found.code) == code and f"error: {where}: " in found.format(), found.format()
    assert message in found.message


def test_records_are_not_carved(folder):
    path = folder / "carved.yaml"
    path.write_text(HEAD + f'data:\n  source: {{tfrecord: {{files: "shards/*.tfrecord", {FEATURES}, x: pixels, '
                           'y: label}}\n  split: {validation: 0.2}\n')
    with pytest.raises(specc.SpecError, match="TFRecord files are streamed, not carved: give data.validation"):
        specc.load(path)


def test_the_generated_script_streams_the_records_alike(folder, both, tmp_path):
    records, _ = both
    script = folder / "records_script.py"
    assert specc.cli.main(["codegen", str(folder / "records.yaml"), "-o", str(script)]) == 0
    history, metrics = train_script(script, tmp_path / "out")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert history[key] == records.history[key], key
    assert metrics == records.metrics
