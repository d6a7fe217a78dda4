"""No traceback after validation: every Keras object made at build and compile time is made under a guard.

What Keras refuses (an input, a layer or an object among its arguments, the model, compile's
optimizer, losses and metrics, `model.compile` itself, the seed) is a located SpecError. The
cases in tests/cases/build_errors/ state the messages; these tests hold the command line to
them, and reach the guards that a validated spec cannot.
"""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

import specc
from specc.codes import Code

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases" / "build_errors"
CHECKED = ["optimizer_refused", "schedule_refused", "metric_refused", "regularizer_refused", "input_dtype",
           "model_only_equalization"]


def expected_lines(name: str) -> list[str]:
    text = (CASES / f"{name}.yaml").read_text(encoding="utf-8")
    path = f"tests/cases/build_errors/{name}.yaml"
    return [f"{path}:{line.split('# expect: ', 1)[1].replace(': ', ': error: ', 1)}"
            for line in text.splitlines() if line.startswith("# expect: ")]


def test_check_reports_keras_refusals_located_without_a_traceback():
    specs = [f"tests/cases/build_errors/{name}.yaml" for name in CHECKED]
    result = subprocess.run([sys.executable, "-m", "specc", "check", *specs], capture_output=True, text=True, cwd=ROOT,
                            check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    printed = result.stdout.splitlines()
    for name in CHECKED:
        assert expected_lines(name), f"{name}.yaml has no # expect: line"
        for line in expected_lines(name):
            assert line in printed, f"{line!r} not printed:\n{result.stdout}"


# -- guards that a validated spec does not reach -------------------------------------------


def spec_of(tmp_path: Path, text: str) -> specc.Spec:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return specc.load(path)


def build_error(spec: specc.Spec) -> specc.Diagnostic:
    import keras

    keras.backend.clear_session()
    with pytest.raises(specc.SpecError) as raised:
        specc.build_model(spec)
    (diagnostic,) = raised.value.diagnostics
    return diagnostic


CHAIN = """\
specc: 1
name: chain
seed: 7
model:
  layers:
    - Dense: {units: 2, input_shape: [4]}
compile:
  optimizer: adam
  loss: mse
"""


def test_validation_refuses_a_seed_numpy_cannot_take(tmp_path):
    with pytest.raises(specc.SpecError) as raised:
        spec_of(tmp_path, CHAIN.replace("seed: 7", "seed: 4294967296"))
    assert [d.format().split(": error: ")[1] for d in raised.value.diagnostics] == [
        "seed: Input should be less than 4294967296 (received 4294967296)"]


def test_a_seed_keras_refuses_is_located_at_seed(tmp_path):
    spec = dataclasses.replace(spec_of(tmp_path, CHAIN), seed=2**32)
    diagnostic = build_error(spec)
    assert diagnostic.code == Code.BAD_VALUE
    assert (diagnostic.location.line, diagnostic.location.column, diagnostic.where) == (3, 7, "seed")
    assert diagnostic.message.startswith("Keras cannot seed with it: Seed must be between 0 and 2**32 - 1")


def test_an_implicit_input_keras_refuses_is_located_at_input_shape(tmp_path):
    spec = spec_of(tmp_path, CHAIN)
    graph = spec.graph
    bad = dataclasses.replace(graph, inputs=(dataclasses.replace(graph.inputs[0], dtype="bogus"),))
    diagnostic = build_error(dataclasses.replace(spec, graph=bad))
    assert diagnostic.code == Code.KERAS_REFUSED
    assert (diagnostic.location.line, diagnostic.location.column) == (6, 38)  # the value of input_shape
    assert diagnostic.where == "model.layers[0] (Dense)"
    assert diagnostic.message == "input_shape: Keras cannot create the model's input from it: Invalid dtype: bogus"


def test_model_compile_refusing_its_arguments_is_located_at_compile(tmp_path, monkeypatch):
    import keras

    def refuse(self, **kwargs):
        raise ValueError("Expected `metrics` argument to be a list, tuple, or dict.")

    monkeypatch.setattr(keras.Model, "compile", refuse)
    diagnostic = build_error(spec_of(tmp_path, CHAIN))
    assert diagnostic.code == Code.MODEL_REFUSED
    assert (diagnostic.location.line, diagnostic.where) == (8, "compile")  # where the section starts
    assert diagnostic.message == ("Keras cannot compile the model with these arguments: "
                                  "Expected `metrics` argument to be a list, tuple, or dict.")


@pytest.mark.parametrize(("name", "code"), [
    ("optimizer_refused", Code.KERAS_REFUSED), ("loss_refused", Code.KERAS_REFUSED),
    ("input_sparse_ragged", Code.KERAS_REFUSED), ("model_only_equalization", Code.MODEL_REFUSED),
])
def test_refusals_have_their_codes(name: str, code: Code):
    assert build_error(specc.load(CASES / f"{name}.yaml")).code == code
