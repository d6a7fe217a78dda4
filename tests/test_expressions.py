"""Tensor expressions (`ops:` items): refused when hostile, computed alike by both backends, saved and loaded safely.

* Hostile expressions (attribute access, `__import__`, lambdas, comprehensions,
  calls of anything but a keras.ops function, very deep or very long text)
  are located errors in `validate`, `build` and `codegen` alike, and never
  run: each tries to create a file, and no file appears.
* Random expression trees go through both backends: `specc.build_model` and
  the generated script's `build_model()` give the same config and the same
  outputs, and both agree with NumPy computing the same text (the test's own
  oracle, evaluated here with NumPy's functions of the same names).
* Models with expressions, call arguments and sub-models saved by `specc
  build` load with `keras.saving.load_model` in its default safe mode, in a
  process that never imports specc, and compute what specc's model computes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import specc
from specc.cli import main
from specc.emit import render_script

import keras  # noqa: E402  (tests/conftest.py sets KERAS_BACKEND=tensorflow first)

ROOT = Path(__file__).resolve().parent.parent


def spec_with(tmp_path: Path, expr: str, name: str = "expr") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        specc: 1
        name: {name}
        seed: 1
        model:
          inputs:
            a: {{shape: [4]}}
            b: {{shape: [4]}}
          layers:
            - ops: {{name: result, expr: {json.dumps(expr)}}}
        """), encoding="utf-8")
    return path


# -- hostile expressions -------------------------------------------------------------

SENTINEL = "specc-expression-ran"
HOSTILE = [
    f"__import__('pathlib').Path('{SENTINEL}').touch()",
    f"open('{SENTINEL}', 'w')",
    f"a.__class__.__init__.__globals__['os'].system('touch {SENTINEL}')",
    f"(lambda: open('{SENTINEL}', 'w'))()",
    f"[open('{SENTINEL}', 'w') for t in a]",
    f"exec(\"open('{SENTINEL}', 'w')\")",
    f"eval(\"open('{SENTINEL}', 'w')\")",
    f"keras.ops.sqrt(a) + __import__('os').system('touch {SENTINEL}')",
    f"sqrt(a) if open('{SENTINEL}', 'w') else a",
    f"(sentinel := open('{SENTINEL}', 'w'))",
    f"getattr(a, '__class__')",
    "a.__class__",
    "sqrt(*a)",
    "sum(a, **{'axis': 0})",
    "{a: b}",
    "-" * 60 + "a",  # nested past the depth limit
    "(" * 300 + "a" + ")" * 300,  # past Python's own parser limit
    "a" + " + a" * 1000,  # past the length limit
]


@pytest.mark.parametrize("expr", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_expressions_are_located_errors_and_never_run(tmp_path, monkeypatch, capsys, expr):
    monkeypatch.chdir(tmp_path)
    path = spec_with(tmp_path, expr)
    for command in (["validate", str(path)], ["codegen", str(path), "-o", str(tmp_path / "script.py")],
                    ["build", str(path), "-o", str(tmp_path / "model.keras")]):
        assert main(command) != 0, command
        captured = capsys.readouterr()
        report = captured.out + captured.err
        assert f"{path}:9:" in report and "model.layers[0] (ops): expr:" in report, report  # located at the expression
        assert report.count("error:") == 1 and "Traceback" not in report, report
    assert not (tmp_path / SENTINEL).exists()
    assert not (tmp_path / "script.py").exists() and not (tmp_path / "model.keras").exists()


def test_the_refusal_names_what_is_not_allowed(tmp_path):
    cases = {
        "a.__class__": "an attribute at column 1 is not allowed",
        "__import__('os')": "'__import__' at column 1 is not a function of keras.ops",
        "(lambda: a)()": "a call of a lambda ('lambda: a') at column 1",
        "[t for t in a]": "a comprehension at column 1",
        "ops.sqrt(a)": "by their bare name: sqrt(x), not ops.sqrt(x)",
        "sqrt(a, axis=1)": "sqrt() at column 1 has no argument 'axis' (it takes x)",
        "sum(a, 1, True, 3)": "sum() at column 1 takes at most 3 positional arguments; received 4",
        "sum(a, 1, axis=1)": "'axis' is given twice",
        "-" * 60 + "a": "nested more than 40 deep",
        "a" + " + a" * 1000: "longer than 2000 characters",
    }
    for expr, expected in cases.items():
        with pytest.raises(specc.SpecError) as caught:
            specc.load(spec_with(tmp_path, expr))
        assert expected in str(caught.value), (expr, str(caught.value))
        assert [d.code for d in caught.value.diagnostics] == ["G110"], expr


# -- random expression trees through both backends, against NumPy -------------------------

UNARY = ["square", "abs", "tanh", "negative", "exp", "sin"]
BINARY_CALLS = ["maximum", "minimum", "add", "multiply"]
OPERATORS = ["+", "-", "*"]


def random_expression(rng: random.Random, depth: int) -> str:
    """An expression over a and b (batch, 4), from a grammar keras.ops and NumPy share."""
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(["a", "b", "a", "b", f"{rng.choice([0.5, 2.0, 3])}"]) if depth else rng.choice(["a", "b"])
    choice = rng.randrange(7)
    inner = lambda: random_expression(rng, depth - 1)  # noqa: E731
    if choice == 0:
        return f"{rng.choice(UNARY)}({inner()})"
    if choice == 1:
        return f"{rng.choice(BINARY_CALLS)}({inner()}, {inner()})"
    if choice == 2:
        return f"({inner()} {rng.choice(OPERATORS)} {inner()})"
    if choice == 3:
        return f"-({inner()})"
    if choice == 4:
        return f"where({inner()} > {inner()}, {inner()}, {inner()})"
    if choice == 5:
        return f"({inner()} - mean({inner()}, axis=-1, keepdims=True))"
    return f"concatenate([{inner()}[:, :2], {inner()}[:, 2:]], axis=-1)"


def numpy_value(expr: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The test's oracle: the same text, with NumPy's functions of the same names (test code: its own strings)."""
    namespace = {name: getattr(np, name) for name in [*UNARY, *BINARY_CALLS, "where", "mean", "concatenate"]}
    return eval(expr, {"__builtins__": {}}, {**namespace, "a": a, "b": b})  # noqa: S307


def load_generated(script: Path):
    module_spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_random_expressions_give_the_same_model_in_both_backends_and_numpys_values(tmp_path):
    rng = random.Random(20261202)
    inputs = [np.random.default_rng(0).uniform(-1, 1, (3, 4)).astype("float32") for _ in range(2)]
    checked = 0
    for k in range(40):
        expr = random_expression(rng, depth=rng.randint(1, 4))
        if not (re.search(r"\ba\b", expr) and re.search(r"\bb\b", expr)):
            continue  # the model uses both inputs
        path = spec_with(tmp_path, expr, name=f"expr{k}")
        keras.backend.clear_session()
        ours = specc.build_model(path)
        script = tmp_path / f"expr{k}.py"
        script.write_text(render_script(specc.load(path), str(path)), encoding="utf-8")
        keras.backend.clear_session()
        theirs = load_generated(script).build_model()
        assert ours.get_config() == theirs.get_config(), expr
        ours_out, theirs_out = ours.predict(inputs, verbose=0), theirs.predict(inputs, verbose=0)
        np.testing.assert_array_equal(ours_out, theirs_out, err_msg=expr)
        np.testing.assert_allclose(ours_out, numpy_value(expr, *inputs), rtol=1e-4, atol=1e-5, err_msg=expr)
        checked += 1
    assert checked >= 20


# -- saved models load in safe mode, without specc ------------------------------------------

LOAD = textwrap.dedent("""\
    import sys
    import numpy as np
    import keras
    model = keras.saving.load_model(sys.argv[1])  # safe_mode=True, Keras's default
    inputs = dict(np.load(sys.argv[2]))
    np.save(sys.argv[3], np.concatenate([np.ravel(o) for o in keras.tree.flatten(
        model.predict([inputs[t.name] for t in model.inputs], verbose=0))]))
    assert "specc" not in sys.modules
""")

SAVED = ["tests/cases/valid/expressions.yaml", "tests/cases/valid/call_arguments.yaml",
         "specs/siamese.yaml", "specs/unet.yaml"]


@pytest.mark.parametrize("case", SAVED, ids=lambda p: Path(p).stem)
def test_models_of_the_new_language_load_in_safe_mode_in_a_process_without_specc(tmp_path, monkeypatch, case):
    """Expressions, call arguments, sub-models: `specc build`'s model.keras is plain Keras, safe to load."""
    monkeypatch.chdir(ROOT)
    saved = tmp_path / "model.keras"
    assert main(["build", case, "-o", str(saved)]) == 0
    model = specc.build_model(case)
    rng = np.random.default_rng(1)
    inputs = {t.name: rng.normal(size=(2, *(d or 3 for d in t.shape[1:]))).astype(t.dtype) for t in model.inputs}
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore", "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", LOAD, str(saved), str(tmp_path / "inputs.npz"), str(tmp_path / "out.npy")],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = model.predict([inputs[t.name] for t in model.inputs], verbose=0)
    expected = np.concatenate([np.ravel(o) for o in keras.tree.flatten(expected)])
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-6)
