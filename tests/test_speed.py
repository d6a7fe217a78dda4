"""Fast defaults: several batches per compiled call where the spec does not set steps_per_execution.

The speed-up is measured in bench/, never here; what is tested is that it changes nothing a
user sees: the weights after an epoch, the history and the evaluation are identical with and
without it, in specc train and in the generated script, and it is chosen only where it cannot
break a pass or a batch-level callback.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import specc
import specc.cli
from specc.speed import automatic_steps, steps_per_execution

import keras  # noqa: E402  (tests/conftest.py sets KERAS_BACKEND=tensorflow first)
import tensorflow as tf  # noqa: E402
from scripts import train_script  # noqa: E402

SPEC = textwrap.dedent("""\
    specc: 1
    name: speedy
    seed: 7
    model:
      layers:
        - Dense: {units: 16, activation: relu, input_shape: [12]}
        - Dropout: {rate: 0.2}
        - Dense: {units: 3, activation: softmax}
    compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
    train: {epochs: 3, batch_size: 8, verbose: 0}
    data:
      source: {npz: {path: data.npz}}
      split: {validation: 0.1, test: 0.1}
    """)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("speed")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 12)).astype("float32")
    np.savez(root / "data.npz", x=x, y=(x[:, 0] > 0).astype("int64") + (x[:, 1] > 1))
    (root / "speedy.yaml").write_text(SPEC)
    return root


def test_the_rule_never_passes_an_epoch_or_a_validation_pass_and_keeps_short_fits_as_they_are():
    batches = tf.data.Dataset.range(1600).batch(8)  # 200 batches
    assert steps_per_execution(batches) == 32
    assert steps_per_execution(batches, tf.data.Dataset.range(24).batch(8)) == 3  # a validation pass of 3
    assert steps_per_execution(tf.data.Dataset.range(40).batch(8), epochs=30) == 5  # an epoch of 5, 150 batches
    assert steps_per_execution(tf.data.Dataset.range(40).batch(8), epochs=3) == 1  # 15 batches: not worth tracing
    assert steps_per_execution(batches.repeat(), steps_per_epoch=12, epochs=20) == 12  # steps_per_epoch counts
    unknown = tf.data.Dataset.range(40).filter(lambda i: i > 3).batch(8)
    assert steps_per_execution(unknown, epochs=100) == 1  # no length known: one batch per call, as Keras's default


@pytest.mark.parametrize("override, chosen", [
    (None, True),
    ("compile.steps_per_execution=1", False),  # the spec says, even 1
    ("train.callbacks=[{TensorBoard: {update_freq: batch}}]", False),  # a batch-level callback
    ("train.callbacks=[{ModelCheckpoint: {filepath: m.keras, save_freq: 10}}]", False),
    ("train.callbacks=[{EarlyStopping: {patience: 2}}, {CSVLogger: {filename: log.csv}}]", True),
    ("train.callbacks=[TerminateOnNaN]", False),  # it checks every batch
    ("train.distribution={strategy: mirrored}", False),
])
def test_it_is_chosen_only_where_nothing_per_batch_would_change(folder, override, chosen):
    spec = specc.load(folder / "speedy.yaml", [override] if override else [])
    assert automatic_steps(spec) is chosen


def test_the_same_weights_history_and_evaluation_with_and_without_it(folder, tmp_path, monkeypatch):
    seen = []
    fit = keras.Model.fit

    def recording_fit(model, *args, **kwargs):
        seen.append(model.steps_per_execution)
        return fit(model, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    fast = specc.train(folder / "speedy.yaml", out=tmp_path / "fast")
    slow = specc.train(folder / "speedy.yaml", overrides=["compile.steps_per_execution=1"], out=tmp_path / "slow")
    assert seen == [7, 1]  # 400 training samples in batches of 8: 50 batches, 150 in 3 epochs; validation's 50: 7
    assert fast.history == slow.history and fast.metrics == slow.metrics
    ours = keras.saving.load_model(tmp_path / "fast" / "model.keras").get_weights()
    theirs = keras.saving.load_model(tmp_path / "slow" / "model.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_the_generated_script_chooses_alike_and_trains_the_same(folder, tmp_path):
    script = folder / "speedy_script.py"
    assert specc.cli.main(["codegen", str(folder / "speedy.yaml"), "-o", str(script)]) == 0
    text = script.read_text()
    assert "    model.steps_per_execution = steps_per_execution(train_data, validation_data, epochs=epochs)\n" in text
    assert "def steps_per_execution(train_data, validation_data=None, steps_per_epoch=None, epochs=1):" in text
    ours = specc.train(folder / "speedy.yaml", out=tmp_path / "ours")
    history, metrics = train_script(script, tmp_path / "out")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):  # another process: float32 sums may differ in
        np.testing.assert_allclose(history[key], ours.history[key], rtol=1e-6, err_msg=key)  # their last bit
    assert metrics == pytest.approx(ours.metrics, rel=1e-6)
