"""`model.class`: the project's own keras.Model subclass (its train_step), and the example projects that use one.

specs/vae/ is a project of its own (pyproject.toml declaring vae_parts.py): a VAE whose
encoder and decoder are `model: true` blocks, made into vae_parts>VAE with `parts`. It is
checked, in a copy of the folder and in processes of their own (as a user runs specc in
the project's folder), against the same VAE written by hand in Keras: architecture,
weights, compile; the generated script builds it alike and trains to the same first-epoch
losses as `specc train`; the saved model loads without specc. specs/siamese_contrastive/
(a loss of the project's own) has its hand-written twin too. A subclass without parts is
made as Keras makes a Functional subclass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VAE_PROJECT = ROOT / "specs" / "vae"
SIAMESE_PROJECT = ROOT / "specs" / "siamese_contrastive"


def run(folder: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(folder)}
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "specc", *args]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def vae_project(tmp_path) -> Path:
    folder = tmp_path / "vae"
    shutil.copytree(VAE_PROJECT, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_the_example_projects_extensions_are_current(tmp_path):
    """Their .specc/plugins.json are committed, so that `specc validate` works in a fresh checkout; here they
    validate without `specc plugins`, and `specc plugins` writes them again byte for byte."""
    for project in (VAE_PROJECT, SIAMESE_PROJECT):
        spec = next(p.name for p in project.glob("*.yaml"))
        validated = run(project, "validate", spec)
        assert validated.returncode == 0, validated.stdout + validated.stderr
        copy = tmp_path / project.name
        shutil.copytree(project, copy, ignore=shutil.ignore_patterns("__pycache__", ".specc"))
        assert run(copy, "plugins").returncode == 0
        written = (copy / ".specc" / "plugins.json").read_text()
        assert written == (project / ".specc" / "plugins.json").read_text(), f"run `specc plugins` in {project}"


VAE_BY_HAND = textwrap.dedent("""\
    import json, sys
    import numpy as np
    import keras
    from keras import layers
    import vae_parts
    import specc

    def vae_by_hand():
        keras.utils.set_random_seed(5)
        image = keras.Input(shape=(8, 8, 1), name="image")
        inputs = keras.Input(shape=(8, 8, 1), name="input")
        x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv")(inputs)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(16, activation="relu", name="hidden")(x)
        z_mean = layers.Dense(2, name="z_mean")(x)
        z_log_var = layers.Dense(2, name="z_log_var")(x)
        z = vae_parts.Sampling(name="z")(z_mean, z_log_var)
        encoder = keras.Model(inputs, [z_mean, z_log_var, z], name="encoder")
        latent = keras.Input(shape=(2,), name="input")
        x = layers.Dense(64, activation="relu", name="hidden")(latent)
        x = layers.Reshape((4, 4, 4), name="grid")(x)
        x = layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu", name="deconv")(x)
        decoder = keras.Model(latent, layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="pixels")(x),
                              name="decoder")
        vae = vae_parts.VAE(encoder, decoder, kl_weight=1.0, name="vae")
        vae(image)
        vae.compile(optimizer=keras.optimizers.Adam())
        return vae

    def problems(a, b):
        found = []
        if type(a) is not type(b):
            found.append(f"class {type(a).__name__} vs {type(b).__name__}")
        if json.dumps(a.get_config(), sort_keys=True) != json.dumps(b.get_config(), sort_keys=True):
            found.append("configs differ")
        if [w.path for w in a.weights] != [w.path for w in b.weights]:
            found.append("weight paths differ")
        if any(not np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights())):
            found.append("initial weights differ")
        if a.get_compile_config() != b.get_compile_config():
            found.append("compile configs differ")
        return found

    ours = specc.build_model("vae.yaml")
    keras.backend.clear_session()
    by_hand = vae_by_hand()
    keras.backend.clear_session()
    import importlib.util
    module_spec = importlib.util.spec_from_file_location("script", "vae_script.py")
    script = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(script)
    generated = script.build_model()
    report = {"by hand": problems(ours, by_hand), "script": problems(ours, generated),
              "trainable weights": len(ours.trainable_weights)}

    keras.backend.clear_session()
    result = specc.train("vae.yaml", overrides=["train.epochs=2", "train.verbose=0"], out="run")
    keras.backend.clear_session()
    history, metrics = script.train(epochs=2, out="script_run")
    report["specc"] = result.history
    report["script history"] = history
    images = np.linspace(0, 1, 2 * 64, dtype="float32").reshape(2, 8, 8, 1)
    trained = keras.saving.load_model("run/model.keras")
    np.save("means.npy", np.asarray(trained.encoder(images)[0]))
    print(json.dumps(report))
""")

LOAD_WITHOUT_SPECC = textwrap.dedent("""\
    import sys
    import numpy as np
    import keras
    import vae_parts
    model = keras.saving.load_model("run/model.keras")
    assert "specc" not in sys.modules
    assert type(model) is vae_parts.VAE and model.kl_weight == 1.0
    images = np.linspace(0, 1, 2 * 64, dtype="float32").reshape(2, 8, 8, 1)
    np.testing.assert_allclose(np.asarray(model.encoder(images)[0]), np.load("means.npy"), rtol=1e-6)
    reconstruction = model.decoder(model.encoder(images)[0])
    assert reconstruction.shape == (2, 8, 8, 1)
    print("loaded")
""")


@pytest.mark.slow
def test_the_vae_is_keras_by_hand_and_the_script_trains_it_alike(vae_project):
    generated = run(vae_project, "codegen", "vae.yaml", "-o", "vae_script.py")
    assert generated.returncode == 0, generated.stderr
    script = (vae_project / "vae_script.py").read_text()
    assert "import vae_parts  # noqa: E402  (the project's own Keras classes" in script
    assert 'model = vae_parts.VAE(encoder=encoder_layer, decoder=decoder_layer, kl_weight=1.0, name="vae")' in script

    done = run(vae_project, code=VAE_BY_HAND)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["by hand"] == [] and report["script"] == []
    assert report["trainable weights"] == 14  # the 4 + 3 layers with a kernel and a bias: the parts' weights are the model's
    ours, theirs = report["specc"], report["script history"]
    for key in ("loss", "reconstruction_loss", "kl_loss", "val_loss"):  # the VAE's own train_step and test_step
        assert len(ours[key]) == 2
        assert ours[key] == pytest.approx(theirs[key], rel=1e-5), key
    assert ours["loss"][1] < ours["loss"][0]

    loaded = run(vae_project, code=LOAD_WITHOUT_SPECC)
    assert loaded.returncode == 0 and "loaded" in loaded.stdout, loaded.stderr[-3000:]


@pytest.mark.parametrize("model, code, message", [
    ("class: vae_parts>VAEE\n  parts: {encoder: encoder, decoder: decoder}", "K101",
     "model.class: 'vae_parts>VAEE' is no keras.Model subclass of a declared plugin. Did you mean 'vae_parts>VAE'?"),
    ("class: other>VAE", "K101", "declare its module in pyproject.toml's [tool.specc] plugins"),
    ("parts: {encoder: encoder}", "S102", "model.parts: parts are the constructor arguments of model.class"),
    ("class: vae_parts>VAE\n  parts: {encoder: encoder, decoder: decodr}", "G101",
     "'decodr' is no `model: true` block instance of the layers (they are: encoder, decoder). Did you mean 'decoder'?"),
    ("class: vae_parts>VAE\n  parts: {encoder: encoder, decodr: decoder}", "K102", "vae_parts>VAE takes no argument 'decodr'"),
    ("class: vae_parts>VAE\n  parts: {encoder: encoder, decoder: decoder}\n  arguments: {kl_wieght: 2}", "K102",
     "unknown argument 'kl_wieght' for vae_parts.VAE. Did you mean 'kl_weight'?"),
    ("class: vae_parts>VAE\n  parts: {encoder: encoder}", "K104", "missing required argument decoder"),
])
def test_a_model_class_mistake_is_located(vae_project, model, code, message):
    text = (vae_project / "vae.yaml").read_text()
    start, end = text.index("  class: vae_parts>VAE"), text.index("  inputs:\n")
    (vae_project / "bad.yaml").write_text(text[:start] + "  " + model + "\n" + text[end:])
    result = run(vae_project, "validate", "bad.yaml", "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    diagnostics = json.loads(result.stdout)[0]["errors"]
    found = [(d["code"], f"{d['where']}: {d['message']}") for d in diagnostics]
    assert any(c == code and message in m for c, m in found), found


FUNCTIONAL_SUBCLASS = '''\
import keras


@keras.saving.register_keras_serializable(package="mine")
class Counting(keras.Model):
    """A model that counts its training steps, in its own train_step.

    Args:
        start: where the count starts.
    """

    def __init__(self, *args, start=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.start = start
        self.steps = keras.Variable(start, dtype="int64", trainable=False, name="steps")

    def train_step(self, data):
        self.steps.assign_add(1)
        return super().train_step(data)
'''

FUNCTIONAL_SPEC = """\
specc: 1
name: counting
seed: 3
model:
  class: mine>Counting
  arguments: {start: 10}
  inputs: {x: {shape: [4]}}
  layers:
    - Dense: {units: 3, name: hidden}
    - Dense: {units: 1, name: out}
compile: {optimizer: adam, loss: mse}
data:
  source: {npz: {path: data.npz}}
train: {epochs: 2, batch_size: 8, verbose: 0}
"""


def test_a_model_class_without_parts_is_a_functional_subclass_of_the_graph(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n\n[tool.specc]\nplugins = ["mine"]\n')
    (tmp_path / "mine.py").write_text(FUNCTIONAL_SUBCLASS)
    (tmp_path / "spec.yaml").write_text(FUNCTIONAL_SPEC)
    code = textwrap.dedent("""\
        import numpy as np
        rng = np.random.default_rng(0)
        np.savez("data.npz", x=rng.random((32, 4), dtype=np.float32), y=rng.random((32, 1), dtype=np.float32))
        import keras, specc, mine
        model = specc.build_model("spec.yaml")
        assert type(model) is mine.Counting and isinstance(model, keras.src.models.functional.Functional), type(model)
        assert [layer.name for layer in model.layers] == ["x", "hidden", "out"]
        result = specc.train("spec.yaml", out="run")
        trained = keras.saving.load_model("run/model.keras")
        assert type(trained) is mine.Counting and int(trained.steps.numpy()) == 10 + 2 * 4, int(trained.steps.numpy())
        from specc.cli import main
        assert main(["codegen", "spec.yaml", "-o", "script.py"]) == 0
        print("counted")
    """)
    assert run(tmp_path, "plugins").returncode == 0
    done = run(tmp_path, code=code)
    assert done.returncode == 0 and "counted" in done.stdout, done.stderr[-3000:]
    assert "model = mine.Counting(inputs=x, outputs=out, name=\"counting\", start=10)" in (tmp_path / "script.py").read_text()


SIAMESE_BY_HAND = textwrap.dedent("""\
    import json
    import numpy as np
    import keras
    from keras import layers
    import siamese_parts
    import specc

    keras.utils.set_random_seed(2)
    left = keras.Input(shape=(8, 8, 1), name="left")
    right = keras.Input(shape=(8, 8, 1), name="right")
    inputs = keras.Input(shape=(8, 8, 1), name="input")
    x = layers.Conv2D(8, 3, activation="tanh", name="conv")(inputs)
    x = layers.AveragePooling2D(2, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.BatchNormalization(name="norm")(x)
    tower = keras.Model(inputs, layers.Dense(10, activation="tanh", name="embedding")(x), name="tower")
    embedded_left, embedded_right = tower(left), tower(right)
    distance = keras.ops.sqrt(keras.ops.maximum(
        keras.ops.sum(keras.ops.square(embedded_left - embedded_right), axis=1, keepdims=True), 1e-7))
    x = layers.BatchNormalization(name="distance_norm")(distance)
    same = layers.Dense(1, activation="sigmoid", name="same")(x)
    by_hand = keras.Model(inputs=[left, right], outputs=same, name="siamese_contrastive")
    by_hand.compile(optimizer="rmsprop", loss=siamese_parts.ContrastiveLoss(margin=1.0), metrics=["accuracy"])
    keras.backend.clear_session()
    ours = specc.build_model("siamese_contrastive.yaml")
    assert json.dumps(ours.get_config(), sort_keys=True) == json.dumps(by_hand.get_config(), sort_keys=True)
    assert all(np.array_equal(a, b) for a, b in zip(ours.get_weights(), by_hand.get_weights()))
    assert ours.get_compile_config() == by_hand.get_compile_config()
    assert type(ours.loss) is siamese_parts.ContrastiveLoss and ours.loss.margin == 1.0
    print("same")
""")


def test_the_contrastive_siamese_is_keras_by_hand(tmp_path):
    folder = tmp_path / "specs" / "siamese_contrastive"
    shutil.copytree(SIAMESE_PROJECT, folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "specs" / "siamese.yaml", tmp_path / "specs")  # what it extends
    done = run(folder, code=SIAMESE_BY_HAND)
    assert done.returncode == 0 and "same" in done.stdout, done.stderr[-3000:]
