"""`adapt: true`: preprocessing layers learn their state from the training split, before training.

The state is checked against NumPy computing it from the training split's own rows
(never the validation or test rows), and read back from the run's model.keras.
The generated script adapting the same way is checked by tests/test_emit.py
(the same first-epoch loss as `specc train`).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import specc
from specc.data import load_arrays

import keras  # noqa: E402  (tests/conftest.py sets KERAS_BACKEND=tensorflow first)


def test_normalization_adapts_to_the_training_split_only_and_is_saved(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(5.0, 2.0, (60, 3)).astype("float32")
    np.savez(tmp_path / "data.npz", x=x, y=rng.integers(0, 2, 60))
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(textwrap.dedent("""\
        specc: 1
        name: adapting
        seed: 4
        model:
          inputs: {features: {shape: [3]}}
          layers:
            - Normalization: {adapt: true, name: norm}
            - Dense: {units: 1, activation: sigmoid}
        data:
          source: {npz: {path: data.npz}}
          split: {validation: 0.25, test: 0.25}
        compile: {optimizer: adam, loss: binary_crossentropy}
        train: {epochs: 1, batch_size: 16}
        """))
    spec = specc.load(spec_path)
    train_rows = load_arrays(spec).train.x["features"]
    assert len(train_rows) == 30
    specc.train(spec, out=tmp_path / "run")
    norm = keras.saving.load_model(tmp_path / "run" / "model.keras").get_layer("norm")
    np.testing.assert_allclose(np.ravel(norm.mean), train_rows.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(np.ravel(norm.variance), train_rows.var(axis=0), rtol=1e-4)
    assert not np.allclose(np.ravel(norm.mean), x.mean(axis=0), rtol=1e-5)  # not adapted on every row


@pytest.mark.parametrize("layers, message", [
    ("- Dense: {units: 2, adapt: true}", "Dense has no adapt(): it learns nothing from data (the layers that do: "
                                         "Discretization, IntegerLookup, Normalization, StringLookup, TextVectorization)"),
    ("- Dense: {units: 3}\n    - Normalization: {adapt: true}", "adapt: learns from the training data of a model input, "
                                                               "so the layer must be applied to one (it is applied to dense)"),
    ("- Normalization: {adapt: yes}", "adapt: expected true or false; received 'yes'"),
])
def test_adapt_is_checked_at_validation(tmp_path, layers, message):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text("specc: 1\nname: x\nmodel:\n  inputs: {f: {shape: [3]}}\n  layers:\n    " + layers + "\n")
    with pytest.raises(specc.SpecError) as caught:
        specc.load(spec_path)
    assert message in str(caught.value)
