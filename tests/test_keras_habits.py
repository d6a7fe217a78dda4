"""Keras habits that a spec may keep: a chain that starts with `InputLayer` or `Input`, as Keras 3's
own Sequential guide writes it, builds the very model its plain Keras twin builds; Keras 2 argument
names and class names where Keras wants an identifier get a hint at the name Keras 3 uses.

The hints themselves are spec cases (tests/cases/invalid/keras2_habits.yaml, keras_input_*.yaml);
here are the models, and the codes of those cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import specc
from specc.build import build_model

import keras  # tests/conftest.py sets KERAS_BACKEND=tensorflow first
from keras import layers

ROOT = Path(__file__).resolve().parent.parent
VALID = ROOT / "tests" / "cases" / "valid"
INVALID = ROOT / "tests" / "cases" / "invalid"


def built_fresh(spec) -> keras.Model:
    """build_model as in a new process: Keras's automatic names start afresh."""
    keras.backend.clear_session()
    return build_model(spec)


def assert_same(built: keras.Model, expected: keras.Model) -> None:
    assert type(built) is type(expected)
    assert built.get_config() == expected.get_config()
    assert [layer.name for layer in built.layers] == [layer.name for layer in expected.layers]
    assert [w.path for w in built.weights] == [w.path for w in expected.weights]
    for a, b in zip(built.get_weights(), expected.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_chain_starting_with_input_layer_is_the_hand_written_sequential_model():
    built = built_fresh(specc.load(VALID / "keras_input_layer.yaml"))
    keras.backend.clear_session()
    keras.utils.set_random_seed(7)
    expected = keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name="keras_input_layer")
    expected.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="categorical_crossentropy",
                     metrics=["accuracy"])
    assert_same(built, expected)
    assert built.layers[0].name == "dense" and built.inputs[0].name == "input_layer"  # Keras's own default names
    assert built.get_compile_config() == expected.get_compile_config()


def test_input_with_its_arguments_and_a_name():
    built = built_fresh(specc.load(VALID / "keras_input.yaml"))
    keras.backend.clear_session()
    keras.utils.set_random_seed(7)
    expected = keras.Sequential([
        keras.Input(shape=(28, 28), batch_size=16, dtype="float32", name="pixels"),
        layers.Flatten(),
        layers.Dense(32, activation="relu", name="hidden"),
        layers.Dense(10, activation="softmax"),
    ], name="keras_input")
    assert_same(built, expected)
    assert tuple(built.inputs[0].shape) == (16, 28, 28)


@pytest.mark.parametrize("item", ["InputLayer", "Input"])
def test_input_item_and_input_shape_build_the_same_layers(item: str, tmp_path):
    """The two ways of declaring a chain's input differ only in the input's name."""
    def spec(name: str, layers_yaml: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"specc: 1\nname: chain\nseed: 3\nmodel:\n  layers:\n{layers_yaml}", encoding="utf-8")
        return path

    by_item = built_fresh(specc.load(spec("item", f"    - {item}: {{shape: [5]}}\n    - Dense: {{units: 4}}\n")))
    by_shape = built_fresh(specc.load(spec("shape", "    - Dense: {units: 4, input_shape: [5]}\n")))
    assert [layer.get_config() for layer in by_item.layers] == [layer.get_config() for layer in by_shape.layers]
    assert (by_item.inputs[0].name, by_shape.inputs[0].name) == ("input_layer", "input")
    for a, b in zip(by_item.get_weights(), by_shape.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case, codes", [
    ("keras_input_misplaced", ["G109", "G109"]),
    ("keras_input_beside_model_inputs", ["G109"]),
    ("keras_input_arguments", ["K104", "K102", "K102", "K103"]),
    ("keras_input_shape", ["K103", "K103"]),
    ("keras2_habits", ["K104", "K102", "K102", "K104", "K102", "K102", "K101", "K104", "K102", "K101", "K102", "K102"]),
])
def test_the_codes_of_the_habit_cases(case: str, codes: list[str]):
    with pytest.raises(specc.SpecError) as raised:
        specc.load(INVALID / f"{case}.yaml")
    assert [d.code for d in raised.value.diagnostics] == codes
