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

import numpy as np
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


# -- load_data(), make_dataset(), train() ---------------------------------------------------

SAME_DATA = textwrap.dedent("""\
    import importlib.util, json, sys
    import numpy as np
    import specc
    from specc.data import load_arrays

    def same(a, b):
        return (a is None and b is None) or (a is not None and b is not None and set(a) == set(b) and all(
            np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a))

    results = {}
    for spec_path, script in json.loads(sys.argv[1]).items():
        module_spec = importlib.util.spec_from_file_location("generated", script)
        generated = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(generated)
        theirs, ours = generated.load_data(), load_arrays(specc.load(spec_path))
        problems = []
        for part in ("train", "validation", "test"):
            arrays = getattr(ours, part)
            got = theirs[part] or (None, None)
            if not (same(got[0], arrays and arrays.x) and same(got[1], arrays and arrays.y)):
                problems.append(part)
        results[spec_path] = problems
    print(json.dumps(results))
""")

MODEL_4_TO_3 = "model:\n  layers:\n    - Dense: {units: 3, input_shape: [4]}\n"
MODEL_TWO_BY_TWO = textwrap.dedent("""\
    model:
      inputs:
        image: {shape: [2, 2]}
        meta: {shape: [2]}
      layers:
        - Flatten: {name: flat, inputs: image}
        - Concatenate: {name: joined, inputs: [flat, meta]}
        - Dense: {name: cls, units: 3, activation: softmax}
        - Dense: {name: size, units: 1, inputs: joined}
      outputs: [cls, size]
    """)


def write_pngs(folder: Path) -> None:
    """Two class folders of small RGB PNGs, of two sizes (so that image_size resizes some)."""
    from PIL import Image

    rng = np.random.default_rng(2)
    for cls, count in (("cat", 7), ("dog", 9)):
        (folder / cls).mkdir(parents=True)
        for i in range(count):
            size = (6, 6) if i % 3 else (9, 7)
            Image.fromarray(rng.integers(0, 256, (*size, 3)).astype(np.uint8)).save(folder / cls / f"{i}.png")


def data_specs(folder: Path) -> dict[str, str]:
    """Spec texts exercising every source, every transform and every split form; data files in folder/data."""
    rng = np.random.default_rng(0)
    (folder / "data").mkdir()
    np.savez(folder / "data" / "two.npz", img=rng.random((50, 4)), m=rng.random((50, 2)).astype(np.float64),
             c=rng.integers(0, 3, (50, 1)), s=rng.random(50))
    np.savez(folder / "data" / "seq.npz", x=rng.integers(1, 9, (40, 7)), y=rng.integers(0, 3, 40))
    np.savez(folder / "data" / "pairs.npz", a=rng.random((40, 4)), b=rng.random((40, 4)), y=rng.integers(0, 2, 40))
    np.savez(folder / "data" / "own_test.npz", x=rng.random((30, 4)), y=rng.integers(0, 3, 30),
             x_test=rng.random((12, 4)), y_test=rng.integers(0, 3, 12))
    np.savez(folder / "data" / "sequences.npz", source=rng.random((40, 5, 3)), target=rng.random((40, 4, 3)),
             next=rng.random((40, 4, 3)))
    rows = ["a,b,species,c,d"] + [f"{i * 0.5},{i % 7},{'xyz'[i % 3]},{-i},{i * i / 10}" for i in range(30)]
    (folder / "data" / "iris.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for name, count, kinds in (("iris_val.csv", 9, "zy"), ("iris_test.csv", 7, "yxz")):  # fewer classes; other order
        rows = ["a,b,species,c,d"] + [f"{i},{i % 5},{kinds[i % len(kinds)]},{i / 3},{-i}" for i in range(count)]
        (folder / "data" / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    words = ["fine", "dull", "great", "poor", "a film", "\u00e9t\u00e9, \"quoted\""]  # commas, quotes, accents
    rows = ["stars,review,sentiment,length"] + [f'{i % 5},"{words[i % 6]} {words[(i * 7) % 6]}",{"pn"[i % 2]},{i}'.replace(
        '"quoted"', '""quoted""') for i in range(24)]
    (folder / "data" / "reviews.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    write_pngs(folder / "data" / "photos")
    (folder / "data" / "photos_val" / "dog").mkdir(parents=True)  # one of the training folder's two classes
    from PIL import Image

    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)).save(folder / "data" / "photos_val" / "dog" / f"{i}.png")
    head = "specc: 1\nname: t\nseed: 3\n"
    return {
        "npz_mapping.yaml": head + MODEL_TWO_BY_TWO + textwrap.dedent("""\
            data:
              source: {npz: {path: data/two.npz, x: {image: img, meta: m}, y: {cls: c, size: s}}}
              features: {image: [{reshape: [2, -1]}, {cast: float16}], meta: [{rescale: 2}]}
              labels: {cls: [{one_hot: 3}]}
              split: {validation: 0.2, test: 0.1}
            compile:
              optimizer: {SGD: {learning_rate: 0.05, momentum: 0.9}}
              loss: {cls: categorical_crossentropy, size: mse}
              metrics: {cls: [accuracy]}
            train: {epochs: 1, batch_size: 8}
            """),
        "npz_pad.yaml": head + "model:\n  layers:\n    - Embedding: {input_dim: 10, output_dim: 2}\n" + textwrap.dedent("""\
            data:
              source: {npz: {path: data/seq.npz}}
              features: [{pad: {length: 5, padding: post, truncating: post, value: 9}}]
              split: {test: 0.25}
            """),
        "csv_text_labels.yaml": head + MODEL_4_TO_3 + textwrap.dedent("""\
            data:
              source: {csv: {path: data/iris.csv, label: species}}
              features: [{rescale: 0.5}]
              labels: [{one_hot: 3}]
            compile: {optimizer: rmsprop, loss: {CategoricalCrossentropy: {from_logits: true}}, metrics: [accuracy]}
            train: {epochs: 1, batch_size: 7, shuffle: false}
            """),
        "digits_validation_only.yaml": head + MODEL_4_TO_3.replace("[4]", "[64]") + textwrap.dedent("""\
            data:
              source: {builtin: digits}
              labels: [{cast: int32}]
              split: {validation: 0.15}
            """),
        "siamese_expression.yaml": head + textwrap.dedent("""\
            model:
              inputs: {left: {shape: [4]}, right: {shape: [4]}}
              blocks:
                tower: {model: true, layers: [{Dense: {units: 6, activation: tanh}}, {Dense: {units: 3, name: embedding}}]}
              layers:
                - tower: {name: tower, inputs: left}
                - Shared: {layer: tower, inputs: right, name: tower_right}
                - ops: {name: distance, expr: "sqrt(sum(square(tower - tower_right), axis=1, keepdims=True) + 1e-6)"}
                - Dropout: {rate: 0.5, call: {training: false}}
                - Dense: {units: 1, activation: sigmoid, name: same}
            data:
              source: {npz: {path: data/pairs.npz, x: {left: a, right: b}, y: y}}
            compile: {optimizer: adam, loss: binary_crossentropy, metrics: [accuracy]}
            train: {epochs: 1, batch_size: 8}
            """),
        "seq2seq_attention.yaml": head + textwrap.dedent("""\
            model:
              inputs: {source: {shape: [5, 3]}, target: {shape: [4, 3]}}
              layers:
                - LSTM: {units: 6, return_state: true, name: encoder, inputs: source}
                - LSTM: {units: 6, return_sequences: true, name: decoder, inputs: target,
                         call: {initial_state: ["encoder[1]", "encoder[2]"]}}
                - MultiHeadAttention: {num_heads: 2, key_dim: 3, inputs: {query: decoder, value: decoder},
                                       call: {use_causal_mask: true}, name: attention}
                - ops: "decoder + attention"
                - Dense: {units: 3, name: next}
            data:
              source: {npz: {path: data/sequences.npz, x: {source: source, target: target}, y: next}}
            compile: {optimizer: adam, loss: mse}
            train: {epochs: 1, batch_size: 8}
            """),
        "npz_adapt.yaml": head + textwrap.dedent("""\
            model:
              inputs: {image: {shape: [4]}}
              layers:
                - Normalization: {adapt: true, name: norm}
                - Dense: {units: 3, activation: softmax}
            data:
              source: {npz: {path: data/two.npz, x: {image: img}, y: c}}
              split: {validation: 0.2, test: 0.2}
            compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
            train: {epochs: 1, batch_size: 8}
            """),
        "npz_own_test.yaml": head + MODEL_4_TO_3 + textwrap.dedent("""\
            data:
              source: {npz: {path: data/own_test.npz, x_test: x_test, y_test: y_test}}
              features: [{rescale: 2}]
              split: {validation: 0.2}
            compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
            train: {epochs: 1, batch_size: 8}
            """),
        "csv_split_sources.yaml": head + MODEL_4_TO_3 + textwrap.dedent("""\
            data:
              source: {csv: {path: data/iris.csv, label: species}}
              validation: {csv: {path: data/iris_val.csv, label: species}}
              test: {csv: {path: data/iris_test.csv, label: species}}
              features: [{rescale: 0.5}]
              labels: [{one_hot: 3}]
            compile: {optimizer: adam, loss: categorical_crossentropy, metrics: [accuracy]}
            train: {epochs: 1, batch_size: 8}
            """),
        "csv_text_columns.yaml": head + textwrap.dedent("""\
            model:
              inputs: {review: {shape: [1], dtype: string}, numbers: {shape: [2]}}
              layers:
                - TextVectorization: {max_tokens: 20, output_sequence_length: 4, adapt: true, name: words, inputs: review}
                - Embedding: {input_dim: 20, output_dim: 3, name: embed}
                - GlobalAveragePooling1D: {name: pool}
                - Concatenate: {inputs: [pool, numbers], name: joined}
                - Dense: {units: 2, activation: softmax, name: sentiment}
            data:
              source: {csv: {path: data/reviews.csv, label: sentiment, text: [review]}}
              features: {numbers: [{rescale: 0.1}]}
              split: {validation: 0.25}
            compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
            train: {epochs: 1, batch_size: 8}
            """),
        "images_validation_folder.yaml": head + textwrap.dedent("""\
            model:
              inputs: {image: {shape: [5, 5, 3]}}
              layers:
                - Flatten
                - Dense: {units: 2, activation: softmax}
            data:
              source: {images: {path: data/photos, image_size: [5, 5]}}
              validation: {images: {path: data/photos_val, image_size: [5, 5]}}
              features: [{rescale: 0.00392156862745098}]
            compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
            train: {epochs: 1, batch_size: 4}
            """),
        "images_mixed_precision.yaml": head + textwrap.dedent("""\
            model:
              inputs: {image: {shape: [5, 5, 3]}}
              layers:
                - Conv2D: {filters: 2, kernel_size: 3, activation: relu}
                - Flatten
                - Dense: {units: 2, activation: softmax, dtype: float32}
            data:
              source: {images: {path: data/photos, image_size: [5, 5]}}
              features: [{rescale: 0.00392156862745098}]
              split: {validation: 0.25}
            compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
            train: {epochs: 1, batch_size: 4, mixed_precision: true}
            """),
    }


def write_data_scripts(tmp_path: Path) -> dict[str, Path]:
    """The data specs in tmp_path/specs, their scripts in tmp_path/scripts (written as `specc codegen -o` writes them)."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "scripts").mkdir()
    scripts = {}
    for name, text in data_specs(tmp_path / "specs").items():
        spec_path = tmp_path / "specs" / name
        spec_path.write_text(text, encoding="utf-8")
        script = tmp_path / "scripts" / name.replace(".yaml", ".py")
        script.write_text(render_script(specc.load(spec_path), str(spec_path), script), encoding="utf-8")
        scripts[str(spec_path)] = script
    return scripts


def test_generated_load_data_gives_specc_load_arrays(tmp_path):
    scripts = write_data_scripts(tmp_path)  # run from the repository root: scripts find data from their own folder
    scripts[str(ROOT / "specs" / "quickstart.yaml")] = tmp_path / "scripts" / "quickstart.py"
    scripts[str(ROOT / "specs" / "quickstart.yaml")].write_text(
        render_script(specc.load("specs/quickstart.yaml"), "specs/quickstart.yaml"), encoding="utf-8")
    for script in scripts.values():
        assert max(len(line) for line in script.read_text(encoding="utf-8").splitlines()) <= 100
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-c", SAME_DATA, json.dumps({k: str(v) for k, v in scripts.items()})],
                            capture_output=True, check=False, text=True, cwd=ROOT, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {path: [] for path in scripts}


def test_generated_script_finds_data_from_its_own_folder(tmp_path, monkeypatch):
    (tmp_path / "project" / "data").mkdir(parents=True)
    np.savez(tmp_path / "project" / "data" / "d.npz", x=np.zeros((4, 4)), y=np.zeros(4))
    spec_path = tmp_path / "project" / "spec.yaml"
    spec_path.write_text("specc: 1\nname: t\n" + MODEL_4_TO_3 + "data:\n  source: {npz: {path: data/d.npz}}\n",
                         encoding="utf-8")
    spec = specc.load(spec_path)
    tree = ast.parse(render_script(spec, str(spec_path), tmp_path / "out" / "deep" / "gen.py"))
    load_data = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "load_data")
    assert "os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../project/data/d.npz')" in ast.unparse(load_data)
    # Printed to stdout, the script is taken to live in the working folder.
    monkeypatch.chdir(tmp_path / "project")
    assert 'os.path.abspath(__file__)), "data/d.npz")' in render_script(spec, str(spec_path))
    absolute = tmp_path / "project" / "abs.yaml"
    absolute.write_text(spec_path.read_text(encoding="utf-8").replace("data/d.npz", str(tmp_path / "project/data/d.npz")),
                        encoding="utf-8")
    assert f"path = {literal(str(tmp_path / 'project/data/d.npz'))}" in render_script(specc.load(absolute), str(absolute))


def test_a_long_spec_path_keeps_lines_within_100_columns(tmp_path):
    folder = tmp_path.joinpath(*["a-rather-long-folder-name"] * 6, 'with "quotes" and \\ in it')
    folder.mkdir(parents=True)
    spec_path = folder / "spec.yaml"
    spec_path.write_text("specc: 1\nname: t\n" + MODEL_4_TO_3, encoding="utf-8")
    text = render_script(specc.load(spec_path), str(spec_path))
    assert max(len(line) for line in text.splitlines()) <= 100
    namespace: dict = {}
    exec(compile(ast.Module([n for n in ast.parse(text).body if isinstance(n, ast.Assign)], []), "gen", "exec"),
         namespace)
    assert namespace["SPEC"] == str(spec_path)


SAME_TRAINING = textwrap.dedent("""\
    import importlib.util, json, sys
    import specc

    results = {}
    for spec_path, script, out in json.loads(sys.argv[1]):
        module_spec = importlib.util.spec_from_file_location("generated", script)
        generated = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(generated)
        history, metrics = generated.train(epochs=1, out=out + "/theirs")
        ours = specc.train(spec_path, overrides=["train.epochs=1"], out=out + "/ours")
        results[spec_path] = [history["loss"], ours.history["loss"], metrics, ours.metrics]
    print(json.dumps(results))
""")


def test_generated_train_trains_as_specc_train(tmp_path):
    """One epoch of the generated train() and of `specc train`: the same loss and metrics, for every source."""
    scripts = write_data_scripts(tmp_path)
    del scripts[str(tmp_path / "specs" / "npz_pad.yaml")]  # no compile section: nothing to train
    del scripts[str(tmp_path / "specs" / "digits_validation_only.yaml")]
    scripts["specs/quickstart.yaml"] = tmp_path / "scripts" / "quickstart.py"
    scripts["specs/quickstart.yaml"].write_text(
        render_script(specc.load("specs/quickstart.yaml"), "specs/quickstart.yaml"), encoding="utf-8")
    jobs = [(spec, str(script), str(tmp_path / "runs" / script.stem)) for spec, script in scripts.items()]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-c", SAME_TRAINING, json.dumps(jobs)], capture_output=True, check=False,
                            text=True, cwd=ROOT, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(results) == set(scripts)
    for spec_path, (theirs, ours, their_metrics, our_metrics) in results.items():
        assert len(theirs) == len(ours) == 1 and np.isfinite(ours[0]) and np.isclose(theirs[0], ours[0], rtol=1e-5), spec_path
        assert set(their_metrics) == set(our_metrics) and all(
            np.isclose(their_metrics[k], our_metrics[k], rtol=1e-5) for k in our_metrics), spec_path
    assert (tmp_path / "runs" / "quickstart" / "theirs" / "model.keras").is_file()


def test_importing_the_generated_script_runs_nothing(tmp_path):
    script = tmp_path / "gen.py"
    script.write_text(render_script(specc.load("specs/quickstart.yaml"), "specs/quickstart.yaml"), encoding="utf-8")
    code = ("import gen, os; model = gen.build_model(); "
            "print(sorted(os.listdir('.')), model.name, model.count_params())")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, text=True, cwd=tmp_path, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines() == ["['gen.py'] quickstart 4810"]  # no run/, no training output


def test_generated_load_data_without_specc_is_a_clear_exit(tmp_path):
    script = tmp_path / "gen.py"
    script.write_text(render_script(specc.load("specs/quickstart.yaml"), "specs/quickstart.yaml"), encoding="utf-8")
    code = ("import importlib.util, gen; importlib.util.find_spec = lambda name, *a: None; gen.load_data()")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, text=True, cwd=tmp_path, env=env,
                            timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert ("load_data reads digits.csv.gz, which `specc codegen -o` writes beside this script: "
            "copy it here, or pip install specc-keras") in " ".join(result.stderr.split())


def test_codegen_writes_the_builtin_data_beside_the_script_which_then_needs_no_specc(tmp_path):
    script = tmp_path / "out" / "quickstart.py"
    assert main(["codegen", str(ROOT / "specs" / "quickstart.yaml"), "-o", str(script)]) == 0
    shipped = tmp_path / "out" / "digits.csv.gz"
    assert shipped.read_bytes() == (ROOT / "specc" / "data" / "builtin" / "digits.csv.gz").read_bytes()
    before = shipped.stat().st_mtime_ns
    assert main(["codegen", str(ROOT / "specs" / "quickstart.yaml"), "-o", str(script)]) == 0
    assert shipped.stat().st_mtime_ns == before  # an identical copy is left alone
    # With specc out of reach (as where only keras, tensorflow and numpy are installed), the copy is read.
    code = ("import importlib.util, quickstart; importlib.util.find_spec = lambda name, *a: None; "
            "x, y = quickstart.read_builtin('digits'); print(x.shape, y.shape)")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, text=True,
                            cwd=script.parent, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "(1797, 64) (1797,)"


@pytest.mark.slow
def test_generated_quickstart_script_trains_end_to_end(tmp_path):
    script = tmp_path / "quickstart.py"
    script.write_text(render_script(specc.load("specs/quickstart.yaml"), "specs/quickstart.yaml"), encoding="utf-8")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore"}
    # Run as `python quickstart.py ...`, then report whether anything imported specc (it may only find its data file).
    wrapper = ("import runpy, sys; sys.argv = ['quickstart.py', '--epochs', '20', '--out', 'out']; "
               "runpy.run_path('quickstart.py', run_name='__main__'); "
               "print('specc imported:', any(m == 'specc' or m.startswith('specc.') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, check=False,
                            text=True, cwd=tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    *_, metrics_line, imported = result.stdout.strip().splitlines()
    assert imported == "specc imported: False"
    metrics = json.loads(metrics_line)
    assert metrics["accuracy"] >= 0.95, metrics
    assert (tmp_path / "out" / "model.keras").is_file()


# -- one source: the script's transforms and repair are specc's own code ----------------------


def test_the_scripts_transforms_and_repair_are_specc_runtime_code(tmp_path):
    import inspect

    from specc.data import transforms
    from specc.run.distribute import repair_multi_worker_fit

    scripts = write_data_scripts(tmp_path)  # together they use every transform
    texts = "\n".join(script.read_text(encoding="utf-8") for script in scripts.values())
    for function in (transforms.TransformError, transforms.check_numeric, transforms.rescale, transforms.reshape,
                     transforms.cast, transforms.one_hot, transforms.pad):
        assert inspect.getsource(function) in texts, function.__name__
    assert "def apply(" not in texts and "APPLY" not in texts  # specc's own dispatch stays in specc
    cluster = render_script(specc.load("specs/quickstart_cluster.yaml"), "specs/quickstart_cluster.yaml")
    assert inspect.getsource(repair_multi_worker_fit) in cluster
    assert "def repair_multi_worker_fit" not in render_script(specc.load("specs/quickstart.yaml"), "specs/quickstart.yaml")


def test_runtime_source_takes_what_a_function_uses_and_refuses_imports_the_script_lacks():
    from specc.emit.runtime import runtime_source

    text = runtime_source("specc.data.transforms", ["cast"])
    assert [line for line in text.splitlines() if line.startswith(("def ", "class "))] == [
        "class TransformError(ValueError):", "def check_numeric(x: np.ndarray, kind: str) -> None:",
        "def cast(x: np.ndarray, dtype: str) -> np.ndarray:"]  # in the file's order
    with pytest.raises(ValueError, match="needs `import numpy as np`, which the script does not have"):
        runtime_source("specc.data.transforms", ["cast"], imports=())
    with pytest.raises(ValueError, match="has no top-level 'apply_all'"):
        runtime_source("specc.data.transforms", ["apply_all"])


def test_a_script_with_tensorboard_exits_clearly_without_the_tensorboard_package(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text((ROOT / "specs" / "quickstart.yaml").read_text() + "  callbacks: [TensorBoard]\n", encoding="utf-8")
    script = tmp_path / "gen.py"
    script.write_text(render_script(specc.load(spec_path), str(spec_path), script), encoding="utf-8")
    code = "import sys; sys.modules['tensorboard'] = None; sys.argv = ['gen.py', '--epochs', '1']; import gen; gen.main()"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, text=True, cwd=tmp_path, env=env,
                            timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert ("train.callbacks[0] (TensorBoard) needs the tensorboard package, which is not installed: pip install tensorboard"
            in result.stderr)
    assert not (tmp_path / "run").exists()  # checked before anything ran
