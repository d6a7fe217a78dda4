"""`specc import` and `specc.importer.import_model`: an existing Keras model as a spec that builds it exactly.

Models written here by hand in Keras, the example specs built by specc, and
keras.applications models are imported; each spec is then built by specc in this test
and compared with the original by Keras's own get_config (the importer checks the same
itself; this is the independent check). What the language cannot express yet is refused,
naming the layer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import specc
import specc.cli
from specc.importer import ImportRefused, import_model

import keras  # noqa: E402  (tests/conftest.py sets KERAS_BACKEND=tensorflow first)
from keras import layers  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def rebuilt(text: str, tmp_path: Path):
    path = tmp_path / "imported.yaml"
    path.write_text(text)
    return specc.build_model(path)


def same_model(a, b) -> bool:
    """The same class and config; the model's own name aside, which is the spec's name (letters, digits, _ and -:
    mobilenetv2_1.00_224 becomes mobilenetv2_1_00_224)."""
    def as_json(model):
        return json.dumps({k: v for k, v in model.get_config().items() if k != "name"}, sort_keys=True, default=repr)

    return type(a) is type(b) and as_json(a) == as_json(b)


def test_a_sequential_model_becomes_a_chain_with_only_what_differs_from_keras_defaults(tmp_path):
    model = keras.Sequential([keras.Input((8,), name="pixels"), layers.Dense(16, activation="relu", name="hidden"),
                              layers.Dropout(0.25, name="drop"),
                              layers.Dense(3, activation="softmax", kernel_regularizer=keras.regularizers.L2(0.01))],
                             name="mlp")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    text = import_model(model)
    spec = yaml.safe_load(text)
    assert spec["model"]["inputs"] == {"pixels": {"shape": [8]}}
    assert spec["model"]["layers"] == [
        {"Dense": {"units": 16, "activation": "relu", "name": "hidden"}},
        {"Dropout": {"rate": 0.25, "name": "drop"}},
        {"Dense": {"units": 3, "activation": "softmax", "kernel_regularizer": {"L2": {"l2": 0.01}}, "name": "dense"}},
    ]
    assert spec["compile"]["optimizer"] == {"SGD": {"learning_rate": 0.05, "momentum": 0.9}}
    built = rebuilt(text, tmp_path)
    assert same_model(built, model)
    assert built.get_compile_config() == model.get_compile_config()


def test_a_functional_model_keeps_its_names_shared_layers_and_several_outputs(tmp_path):
    left, right = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    tower = layers.Dense(6, activation="tanh", name="tower")
    a, b = tower(left), tower(right)
    joined = layers.Concatenate(name="joined")([a, b])
    sequence = layers.Reshape((2, 6), name="as_sequence")(joined)
    encoded = layers.LSTM(5, return_state=True, name="encoder")(sequence)
    state = layers.Dense(2, name="state_head")(encoded[1])
    score = layers.Dense(1, activation="sigmoid", name="score")(joined)
    model = keras.Model([left, right], [score, state], name="pairs")
    text = import_model(model)
    items = yaml.safe_load(text)["model"]["layers"]
    assert {"Shared": {"layer": "tower", "name": "tower_call2", "inputs": "right"}} in items
    assert {"Dense": {"units": 2, "name": "state_head", "inputs": "encoder[1]"}} in items
    assert yaml.safe_load(text)["model"]["outputs"] == ["score", "state_head"]
    assert same_model(rebuilt(text, tmp_path), model)


def test_a_functional_chain_stays_functional(tmp_path):
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, layers.Dense(2, name="out")(layers.Dense(4, name="hidden")(inputs)), name="chain")
    text = import_model(model)
    assert yaml.safe_load(text)["model"]["functional"] is True
    built = rebuilt(text, tmp_path)
    assert not isinstance(built, keras.Sequential) and same_model(built, model)


@pytest.mark.parametrize("name", ["ResNet50", "MobileNetV2"])  # all 40: bench/imports.py
def test_keras_applications_import_exactly(name, tmp_path):
    model = getattr(keras.applications, name)(weights=None)
    text = import_model(model)
    assert same_model(rebuilt(text, tmp_path), model)


def test_what_the_language_cannot_express_yet_is_refused_naming_the_layer():
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.ops.sqrt(layers.Dense(2, name="d")(inputs)), name="with_ops")
    with pytest.raises(ImportRefused, match=r"layer 'sqrt' \(Sqrt\): only Keras's own layers are imported yet"):
        import_model(model)


EXAMPLES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES)
def test_importing_an_example_spec_s_model_builds_it_again(path, tmp_path):
    """import(build(spec)): the same graph (blocks come back as their layers); the examples with sub-models,
    expressions or applications are refused, naming the layer."""
    from specc.ir import APPLICATION, MODEL, OPS

    spec = specc.load(ROOT / path)
    model = specc.build_model(spec)
    if any(node.kind in (APPLICATION, MODEL, OPS) for node in spec.graph.layers):
        with pytest.raises(ImportRefused, match=r"layer '[^']+' \(\w+\): only Keras's own layers are imported yet"):
            import_model(model)
        return
    assert same_model(rebuilt(import_model(model), tmp_path), model)


def test_the_import_command_writes_a_spec_that_validates(tmp_path):
    done = subprocess.run([sys.executable, "-m", "specc", "import", "MobileNetV2", "--arg", "input_shape=[96,96,3]",
                           "--arg", "alpha=0.35", "-o", str(tmp_path / "mobile.yaml")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    spec = yaml.safe_load((tmp_path / "mobile.yaml").read_text())
    assert spec["model"]["inputs"] == {"input_layer": {"shape": [96, 96, 3]}}
    checked = subprocess.run([sys.executable, "-m", "specc", "validate", str(tmp_path / "mobile.yaml")],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert specc.cli.main(["import", "NoSuchNet"]) == 1


def test_a_function_of_the_users_own_and_a_keras_file_import_too(tmp_path):
    """`module:function` runs the user's code because the user named it on the command line; a .keras file loads."""
    (tmp_path / "mymodels.py").write_text(
        "import keras\n\ndef small(units=3):\n    inputs = keras.Input((5,), name='x')\n"
        "    return keras.Model(inputs, keras.layers.Dense(units, name='out')(inputs), name='small')\n")
    done = subprocess.run([sys.executable, "-m", "specc", "import", "mymodels:small", "--arg", "units=7"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    spec = yaml.safe_load(done.stdout)
    assert spec["model"]["layers"] == [{"Dense": {"units": 7, "name": "out"}}]
    model = keras.Sequential([keras.Input((3,), name="x"), layers.Dense(2, name="d")], name="saved")
    model.save(tmp_path / "saved.keras")
    assert specc.cli.main(["import", str(tmp_path / "saved.keras"), "-o", str(tmp_path / "saved.yaml")]) == 0
    text = (tmp_path / "saved.yaml").read_text()
    assert yaml.safe_load(text)["model"]["layers"] == [{"Dense": {"units": 2, "name": "d"}}]
    assert specc.import_model(model) == text
