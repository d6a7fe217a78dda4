"""A project's own Keras classes: declared in pyproject.toml, introspected by `specc plugins`, used by name.

A small project is written in a temporary folder: pyproject.toml with
`[tool.specc] plugins = ["myproject.parts"]`, a module registering a layer and
a loss with `keras.saving.register_keras_serializable(package="myproject")`,
and a spec naming them `myproject>Scale` and `myproject>ContrastiveLoss`. Each
step runs the CLI in its own process, in the project's folder, as a user does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

MODULE = '''\
"""The project's own Keras objects."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="myproject")
class Scale(keras.layers.Layer):
    """Multiplies its input by one learned number.

    Args:
        initial: the number it starts at.
    """

    def __init__(self, initial=1.0, **kwargs):
        super().__init__(**kwargs)
        self.initial = initial

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.initial), name="scale")

    def call(self, inputs):
        return inputs * self.scale

    def get_config(self):
        return {**super().get_config(), "initial": self.initial}


@keras.saving.register_keras_serializable(package="myproject")
class ContrastiveLoss(keras.losses.Loss):
    """The contrastive loss of a siamese network."""

    def __init__(self, margin=1.0, name="contrastive_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = margin

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        return ops.mean((1 - y_true) * ops.square(y_pred) + y_true * ops.square(ops.maximum(self.margin - y_pred, 0)))

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
'''

SPEC = """\
specc: 1
name: custom
seed: 1
model:
  inputs: {x: {shape: [4]}}
  layers:
    - Dense: {units: 3, name: hidden}
    - myproject>Scale: {initial: 0.5, name: scale}
    - Dense: {units: 1, name: distance}
compile: {optimizer: adam, loss: {myproject>ContrastiveLoss: {margin: 2.0}}}
"""


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "myproject"\n\n[tool.specc]\nplugins = ["myproject.parts"]\n')
    (tmp_path / "myproject").mkdir()
    (tmp_path / "myproject" / "__init__.py").write_text("")
    (tmp_path / "myproject" / "parts.py").write_text(MODULE)
    (tmp_path / "spec.yaml").write_text(SPEC)
    return tmp_path


def run(project: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "specc", *args]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)


NO_KERAS = """\
import sys
from specc.cli import main
code = main(sys.argv[1:])
assert "keras" not in sys.modules and "myproject" not in sys.modules, "validation imported Keras or the plugin"
sys.exit(code)
"""


def test_the_project_s_own_classes_validate_build_save_and_generate(project):
    before = run(project, "validate", "spec.yaml")
    assert before.returncode == 2 and "myproject.parts are declared but not introspected: run `specc plugins`" in before.stderr

    introspected = run(project, "plugins")
    assert introspected.returncode == 0, introspected.stderr
    assert "myproject>Scale (layer), myproject>ContrastiveLoss (loss)" in introspected.stdout
    extension = json.loads((project / ".specc" / "plugins.json").read_text())
    assert extension["kinds"]["layer"]["myproject>Scale"]["args"]["initial"]["default"] == 1.0  # from its signature
    assert "one learned number" in extension["kinds"]["layer"]["myproject>Scale"]["doc"]

    validated = run(project, "validate", "spec.yaml", code=NO_KERAS)
    assert validated.returncode == 0, validated.stdout + validated.stderr

    (project / "bad.yaml").write_text(SPEC.replace("initial: 0.5", "initail: 0.5"))
    bad = run(project, "validate", "bad.yaml")
    assert bad.returncode == 1 and "bad.yaml:8:" in bad.stdout and "Did you mean 'initial'?" in bad.stdout, bad.stdout

    built = run(project, "build", "spec.yaml", "-o", "model.keras")
    assert built.returncode == 0, built.stdout + built.stderr
    generated = run(project, "codegen", "spec.yaml", "-o", "train_custom.py")
    assert generated.returncode == 0, generated.stderr
    script = (project / "train_custom.py").read_text()
    assert "import myproject.parts" in script and "myproject.parts.Scale(" in script
    assert "myproject.parts.ContrastiveLoss(" in script

    # The saved model loads where the module is imported (Keras's registration), without specc; the
    # generated script builds the same model.
    compare = textwrap.dedent("""\
        import importlib.util, json, sys
        import numpy as np
        import keras
        import myproject.parts
        loaded = keras.saving.load_model("model.keras")
        spec = importlib.util.spec_from_file_location("script", "train_custom.py")
        script = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(script)
        keras.backend.clear_session()
        generated = script.build_model()
        assert "specc" not in sys.modules
        as_json = lambda model: json.dumps(model.get_config(), sort_keys=True)  # loading gives lists for tuples
        assert as_json(loaded) == as_json(generated)
        x = np.ones((2, 4), "float32")
        np.testing.assert_allclose(loaded.predict(x, verbose=0), generated.predict(x, verbose=0), rtol=1e-6)
        assert loaded.loss.margin == 2.0 and type(loaded.loss).__name__ == "ContrastiveLoss"
        print("same")
    """)
    same = run(project, code=compare)
    assert same.returncode == 0 and "same" in same.stdout, same.stderr[-3000:]


def test_a_changed_plugin_makes_validation_say_the_extension_is_stale(project):
    assert run(project, "plugins").returncode == 0
    with open(project / "myproject" / "parts.py", "a") as handle:
        handle.write("\n# changed\n")
    stale = run(project, "validate", "spec.yaml")
    assert stale.returncode == 2 and "myproject.parts changed since `specc plugins` last ran" in stale.stderr


def test_a_spec_cannot_name_a_module_or_an_undeclared_class(project):
    assert run(project, "plugins").returncode == 0
    (project / "evil.yaml").write_text(SPEC.replace("myproject>Scale", "os.system").replace(
        "{myproject>ContrastiveLoss: {margin: 2.0}}", "{myproject>Missing: {}}"))
    result = run(project, "validate", "evil.yaml")
    assert result.returncode == 1
    assert "unknown layer 'os.system'" in result.stdout and "myproject>Missing" in result.stdout, result.stdout


def test_plugin_given_on_the_command_line(project):
    (project / "pyproject.toml").write_text('[project]\nname = "myproject"\n')
    assert run(project, "plugins", "--plugin", "myproject.parts").returncode == 0
    assert run(project, "validate", "spec.yaml", "--plugin", "myproject.parts").returncode == 0
    missing = run(project, "plugins", "--plugin", "myproject.nothing")
    assert missing.returncode == 2 and "plugin module 'myproject.nothing' cannot be imported" in missing.stderr
