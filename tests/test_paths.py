"""Relative paths in a spec are made absolute once, from the file that wrote them, for every backend.

An application's `weights:` file (a path relative to the spec) must be the
same file for `specc build` and for the generated script, run from any
working folder: the script finds it from its own folder, as it finds data files.
"""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest

import specc
from specc.cli import main
from scripts import import_script

SPEC = textwrap.dedent("""\
    specc: 1
    name: weights_from_a_file
    model:
      inputs:
        image: {shape: [32, 32, 3]}
      layers:
        - MobileNetV2: {include_top: false, weights: base.weights.h5, input_shape: [32, 32, 3], alpha: 0.35, name: base}
        - GlobalAveragePooling2D
        - Dense: {units: 2}
    """)


@pytest.mark.slow
def test_an_application_weights_file_is_found_from_the_spec_and_from_the_generated_script(tmp_path, monkeypatch):
    import keras

    specs, generated, elsewhere = tmp_path / "specs", tmp_path / "generated", tmp_path / "elsewhere"
    for folder in (specs, generated, elsewhere):
        folder.mkdir()
    keras.utils.set_random_seed(7)  # weights unlike the ones a seedless build would draw
    written = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35)
    written.save_weights(str(specs / "base.weights.h5"))
    (specs / "spec.yaml").write_text(SPEC, encoding="utf-8")
    assert main(["codegen", str(specs / "spec.yaml"), "-o", str(generated / "train_weights.py")]) == 0

    monkeypatch.chdir(elsewhere)  # neither the spec's folder nor the script's
    built = specc.build_model(specs / "spec.yaml").get_layer("base")
    script = import_script(generated / "train_weights.py", "generated_weights_script").build_model().get_layer("base")
    for expected, ours, theirs in zip(written.get_weights(), built.get_weights(), script.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, expected)
        np.testing.assert_array_equal(theirs, expected)


def test_the_generated_script_names_the_weights_file_relative_to_its_own_folder(tmp_path):
    specs, generated = tmp_path / "specs", tmp_path / "generated"
    specs.mkdir()
    (specs / "spec.yaml").write_text(SPEC, encoding="utf-8")
    assert main(["codegen", str(specs / "spec.yaml"), "-o", str(generated / "script.py")]) == 0
    text = (generated / "script.py").read_text(encoding="utf-8")
    assert 'os.path.join(os.path.dirname(os.path.abspath(__file__)), "../specs/base.weights.h5")' in text
    assert os.path.normpath(generated / "../specs/base.weights.h5") == os.path.normpath(specs / "base.weights.h5")
