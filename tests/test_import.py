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
from scripts import import_script  # noqa: E402

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
    keras.backend.clear_session()  # the unnamed Dense is `dense`, as in a new process, whatever ran here before
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


def test_a_compiled_model_imports_whatever_optimizers_the_process_made_before():
    keras.backend.clear_session()
    keras.optimizers.SGD(), keras.optimizers.SGD()  # Keras names the next SGD `sgd_2`; the spec leaves names out
    model = keras.Sequential([keras.Input((4,), name="features"), layers.Dense(2, name="out")], name="tiny")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    assert model.optimizer.name == "sgd_2"
    spec = yaml.safe_load(import_model(model))
    assert spec["compile"]["optimizer"] == {"SGD": {"learning_rate": 0.1}}


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


def test_resnet50_reads_as_its_stem_a_projection_block_and_an_identity_block(tmp_path):
    """Keras's ResNet50: stages of 3, 4, 6 and 3 blocks of 64, 128, 256, 512 filters, each stage's first block with
    a projection shortcut (strides 2, but 1 in the first stage), its layers named conv<stage>_block<i>_<layer>."""
    model = keras.applications.ResNet50(weights=None)
    text = import_model(model)
    spec = yaml.safe_load(text)["model"]
    projection, identity = spec["blocks"]
    assert spec["blocks"][projection]["params"] == {"filters": "???", "strides": [2, 2]}
    assert spec["blocks"][identity]["params"] == {"filters": "???"}
    identity_layers = [next(iter(item.values()))["name"] for item in spec["blocks"][identity]["layers"]]
    assert identity_layers == ["1_conv", "1_bn", "1_relu", "2_conv", "2_bn", "2_relu", "3_conv", "3_bn", "add", "out"]
    expected = []
    for stage, count in ((2, 3), (3, 4), (4, 6), (5, 3)):
        filters = 64 * 2 ** (stage - 2)
        expected.append({projection: {"filters": filters, **({"strides": [1, 1]} if stage == 2 else {}),
                                      "name": f"conv{stage}_block1"}})
        expected += [{identity: {"filters": filters, "name": f"conv{stage}_block{i}"}} for i in range(2, count + 1)]
    instances = [item for item in spec["layers"] if next(iter(item)) in spec["blocks"]]
    assert instances == expected
    assert len(spec["layers"]) == 6 + 16 + 2  # the stem, the blocks, the pooling and the classifier
    assert len(text.splitlines()) < 80  # against 177 layers
    assert same_model(rebuilt(text, tmp_path), model)
    # The generated script writes each block as a function, and builds the same model.
    (tmp_path / "resnet50.yaml").write_text(text)
    assert specc.cli.main(["codegen", str(tmp_path / "resnet50.yaml"), "-o", str(tmp_path / "resnet50.py")]) == 0
    script = (tmp_path / "resnet50.py").read_text()
    assert f"def {identity}_block(x, name, filters):" in script and "filters=filters * 4," in script
    assert len(script.splitlines()) < 250
    assert same_model(import_script(tmp_path / "resnet50.py").build_model(), model)


def test_repeated_structure_becomes_a_block_only_where_its_insides_stay_inside(tmp_path):
    """Copies that differ in values get parameters (a whole multiple written from its base); a copy whose inner
    layer the rest of the model uses stays layers, as a block gives only its last layer's output."""
    inputs = keras.Input((8, 8, 4), name="image")
    x = inputs
    for name, filters in (("stage1", 2), ("stage2", 3), ("stage3", 2), ("stage4", 4)):
        y = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv")(x)
        y = layers.Conv2D(filters * 2, 1, name=f"{name}_wide")(y)
        y = layers.Conv2D(4, 1, name=f"{name}_back")(y)
        x = layers.Add(name=f"{name}_add")([x, y])
    side = layers.GlobalAveragePooling2D(name="side")(keras.Model(inputs, x).get_layer("stage4_wide").output)
    outputs = [layers.GlobalAveragePooling2D(name="pooled")(x), side]
    model = keras.Model(inputs, outputs, name="stages")
    text = import_model(model)
    spec = yaml.safe_load(text)["model"]
    assert list(spec["blocks"]) == ["stage"]
    assert spec["blocks"]["stage"]["params"] == {"filters": 2}  # what most copies have: the default
    assert spec["blocks"]["stage"]["layers"] == [
        {"Conv2D": {"filters": "${filters}", "kernel_size": [3, 3], "padding": "same", "activation": "relu",
                    "name": "conv"}},
        {"Conv2D": {"filters": "${filters * 2}", "kernel_size": [1, 1], "name": "wide"}},
        {"Conv2D": {"filters": 4, "kernel_size": [1, 1], "name": "back"}},
        {"Add": {"name": "add", "inputs": ["input", "back"]}},
    ]
    assert spec["layers"][:3] == [{"stage": {"name": "stage1"}}, {"stage": {"filters": 3, "name": "stage2"}},
                                  {"stage": {"name": "stage3"}}]
    names = [next(iter(item.values()))["name"] for item in spec["layers"]]
    assert "stage4_wide" in names  # stage4's inside is used by `side`: its layers stay layers
    assert same_model(rebuilt(text, tmp_path), model)
    assert "blocks" not in yaml.safe_load(import_model(model, blocks=False))["model"]


def test_weights_carried_over_give_identical_outputs_in_specc_and_in_the_generated_script(tmp_path):
    """`specc import model.keras --weights`: the spec names its weights file, and both backends load it."""
    import numpy as np

    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35)
    rng = np.random.default_rng(3)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in model.get_weights()])  # trained
    model.save(tmp_path / "mobile.keras")
    spec_path = tmp_path / "specs" / "mobile.yaml"
    spec_path.parent.mkdir()
    assert specc.cli.main(["import", str(tmp_path / "mobile.keras"), "-o", str(spec_path), "--weights"]) == 0
    assert yaml.safe_load(spec_path.read_text())["model"]["weights"] == "mobile.weights.h5"
    assert sorted(p.name for p in spec_path.parent.iterdir()) == ["mobile.weights.h5", "mobile.yaml"]
    x = rng.normal(size=(4, 32, 32, 3)).astype("float32")
    expected = np.asarray(model(x))
    built = specc.build_model(spec_path)
    assert same_model(built, model)  # the architecture (all 40 applications: bench/imports.py)
    np.testing.assert_array_equal(np.asarray(built(x)), expected)
    script = tmp_path / "elsewhere" / "mobile.py"  # it finds the weights from its own folder
    assert specc.cli.main(["codegen", str(spec_path), "-o", str(script)]) == 0
    np.testing.assert_array_equal(np.asarray(import_script(script, "mobile_script").build_model()(x)), expected)
    assert specc.cli.main(["import", "MobileNetV2", "--weights"]) == 2  # beside what? -o is needed


def test_a_weights_file_missing_or_of_another_model_is_a_located_error(tmp_path, capsys):
    keras.Sequential([keras.Input((3,)), layers.Dense(5, name="d")]).save_weights(tmp_path / "other.weights.h5")
    for weights, message in (("missing.weights.h5", "no such weights file: missing.weights.h5"),
                             ("other.weights.h5", "Keras cannot load other.weights.h5 into this model")):
        path = tmp_path / "spec.yaml"
        path.write_text(f"specc: 1\nname: s\nmodel:\n  inputs: {{x: {{shape: [4]}}}}\n  weights: {weights}\n"
                        "  layers:\n    - Dense: {units: 2}\n")
        assert specc.cli.main(["check", str(path)]) == 1
        out = "".join(capsys.readouterr())
        assert f"spec.yaml:5:12: error: model.weights: {message}" in out, out


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
    text = import_model(model)
    assert same_model(rebuilt(text, tmp_path), model)
    if path == "specs/unet.yaml":  # its conv_pair block comes back, five instances (down and up give inner outputs)
        blocks = yaml.safe_load(text)["model"]["blocks"]
        assert [[next(iter(item.values()))["name"] for item in block["layers"]] for block in blocks.values()] == [["a", "b"]]
        assert sum(1 for item in yaml.safe_load(text)["model"]["layers"] if next(iter(item)) in blocks) == 5


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
