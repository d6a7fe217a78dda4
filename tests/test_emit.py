"""`specc codegen`: the generated build_model() is exactly what `specc.build_model` builds.

Every spec in specs/ and every valid case is rendered, imported in a fresh
process (no specc on its import path beyond what the script itself uses:
keras), and compared with specc's own model: layer classes, names and
configs, the whole model config, initial weights (element-wise) and the
compile configuration. Golden files pin the exact bytes; refresh them with
`specc codegen --out-dir tests/golden` (`make golden`).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import specc
from specc.cli import main
from specc.emit import literal, render_script

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "specs").glob("*.yaml"))
VALID = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests" / "cases" / "valid").glob("*.yaml"))
GOLDEN = ROOT / "tests" / "golden"


@pytest.fixture(autouse=True)
def from_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)


COMPARE = textwrap.dedent("""\
    import importlib.util, json, sys
    import numpy as np
    import keras
    import specc

    results = {}
    for spec_path, script in json.loads(sys.argv[1]).items():
        module_spec = importlib.util.spec_from_file_location("generated", script)
        generated = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(generated)
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)  # for specs without a seed: both sides start alike
        theirs = generated.build_model()
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        ours = specc.build_model(spec_path)
        problems = []
        if type(theirs) is not type(ours):
            problems.append(f"class {type(theirs).__name__} vs {type(ours).__name__}")
        if theirs.get_config() != ours.get_config():
            problems.append("model configs differ")
        weights_a, weights_b = theirs.get_weights(), ours.get_weights()
        if len(weights_a) != len(weights_b) or any(not np.array_equal(a, b) for a, b in zip(weights_a, weights_b)):
            problems.append("initial weights differ")
        if ours.compiled and theirs.get_compile_config() != ours.get_compile_config():
            problems.append("compile configs differ")
        results[spec_path] = problems
    print(json.dumps(results))
""")


def test_generated_build_model_is_exactly_specc_build_model(tmp_path):
    scripts = {}
    for path in EXAMPLES + VALID:
        script = tmp_path / f"{Path(path).stem}.py"
        script.write_text(render_script(specc.load(path), path), encoding="utf-8")
        scripts[path] = str(script)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-c", COMPARE, json.dumps(scripts)], capture_output=True, text=True,
                            cwd=ROOT, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    problems = json.loads(result.stdout.strip().splitlines()[-1])
    assert problems == {path: [] for path in scripts}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: Path(p).stem)
def test_golden_files_are_current(path):
    golden = GOLDEN / f"{Path(path).stem}.py"
    assert golden.is_file(), f"no golden file for {path}: run `make golden` and commit tests/golden/"
    assert golden.read_text(encoding="utf-8") == render_script(specc.load(path), path), (
        f"{golden.relative_to(ROOT)} is out of date: run `make golden` (specc codegen --out-dir tests/golden) "
        "and review the difference")


@pytest.mark.parametrize("path", EXAMPLES + VALID, ids=lambda p: Path(p).stem)
def test_generated_code_is_deterministic_parses_and_fits_in_100_columns(path):
    first = render_script(specc.load(path), path)
    assert render_script(specc.load(path), path) == first
    ast.parse(first)
    assert max(len(line) for line in first.splitlines()) <= 100
    assert "specc" not in "".join(line for line in first.splitlines() if line.startswith(("import", "from")))


Q, QQ, BS = "'", '"', "\\"  # quote, double quote, backslash
HOSTILE = [
    f"quote {QQ} and {Q} and {QQ * 3}",
    f"back{BS}slash {BS}n",
    "new\nline",
    "{{ jinja }} {% if %}",
    "# not a comment",
    "unicode: \u00e9 \u00fc \u65e5\u672c \U0001f680",
    "\x00\t",
    f"{Q}); import os; os.system({Q}echo pwned{Q}); ({Q}",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_literal_reproduces_any_string(text):
    assert ast.literal_eval(literal(text)) == text
    assert ast.literal_eval(literal([text, {text: (1.5, None, True)}])) == [text, {text: (1.5, None, True)}]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_strings_in_a_spec_stay_strings(tmp_path, text):
    spec_path = tmp_path / "hostile.yaml"
    spec_path.write_text(textwrap.dedent(f"""\
        specc: 1
        name: hostile
        description: {json.dumps(text, ensure_ascii=False)}
        model:
          inputs:
            x: {{shape: [4]}}
          layers:
            - Dense: {{units: 2, name: {json.dumps(text.replace("/", "_"), ensure_ascii=False)}}}
        compile:
          loss: mse
          metrics: [{{MeanSquaredError: {{name: {json.dumps(text, ensure_ascii=False)}}}}}]
        """), encoding="utf-8")
    source = render_script(specc.load(spec_path), str(spec_path))
    tree = ast.parse(source)
    assert ast.literal_eval(tree.body[-1].body[0].value) == text  # the docstring: the description, exactly
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert text in strings and text.replace("/", "_") in strings
    calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert calls <= {"os.environ.setdefault", "keras.utils.set_random_seed", "keras.Input", "keras.layers.Dense",
                     "keras.Model", "keras.Sequential", "model.compile", "keras.optimizers.RMSprop",
                     "keras.metrics.MeanSquaredError"} | {c for c in calls if c.startswith("x")}


def test_codegen_check_lists_stale_files_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "generated"
    assert main(["codegen", "specs", "--out-dir", str(out)]) == 0
    assert sorted(p.stem for p in out.glob("*.py")) == sorted(Path(p).stem for p in EXAMPLES)
    assert main(["codegen", "specs", "--out-dir", str(out), "--check"]) == 0
    (out / "mlp.py").write_text("# edited by hand\n")
    capsys.readouterr()
    assert main(["codegen", "specs", "--out-dir", str(out), "--check"]) == 1
    assert capsys.readouterr().out.strip() == f"out of date: {out / 'mlp.py'}"
    assert (out / "mlp.py").read_text() == "# edited by hand\n"


def test_codegen_does_not_import_tensorflow(tmp_path):
    code = ("import sys; from specc.cli import main; "
            f"main(['codegen', 'specs', '--out-dir', {str(tmp_path)!r}]); "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
