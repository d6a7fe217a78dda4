"""Integers of any size, in the parts of a spec that are specc's own, end in success or a located error.

YAML integers have no size limit (specc reads up to 4,300 digits). Where Keras, TensorFlow or NumPy has
one (seeds in uint32, counts and sizes in int64, a shuffle buffer TensorFlow would reserve memory for,
device indices), the value is refused at validation, located, with exit code 1; never an
OverflowError, a traceback, a hang or a crash at run time. (Keras class arguments, `units: 10**20`,
are the catalog's: tests/test_cases.py.)

Most cases run `specc validate` in-process; a few run build, check, codegen and train in subprocesses.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from specc.cli import main

BIG = {"1e20": 10**20, "2**63": 2**63, "2**64": 2**64, "-2**63-1": -2**63 - 1, "10**400": 10**400}
ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}

SPEC = textwrap.dedent("""\
    specc: 1
    name: tiny
    seed: 1
    model:
      inputs:
        x: {shape: [4]}
      layers:
        - Dense: {name: h, units: 3, activation: relu, inputs: x}
        - Dense: {name: out, units: 2, activation: softmax}
    compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
    data:
      source: {npz: {path: d.npz, x: x, y: y}}
      split: {validation: 0.25}
    train: {epochs: 1, batch_size: 8, verbose: 0}
    """)

INT64 = "less than or equal to 9223372036854775807"
POSITIVE = "greater than 0"
# (--set KEY=VALUE with {} for the integer, the integers, the message's fragment; None: valid)
CASES = [
    ("seed={}", ["1e20", "2**63", "2**64", "10**400"], "seed: Input should be less than 4294967296"),
    ("seed={}", ["-2**63-1"], "seed: Input should be greater than or equal to 0"),
    ("train.epochs={}", ["2**63", "2**64", "1e20", "10**400"], f"train: epochs: Input should be {INT64}"),
    ("train.epochs={}", ["-2**63-1"], f"train: epochs: Input should be {POSITIVE}"),
    ("train.batch_size={}", ["2**63", "2**64", "1e20", "10**400"], f"train: batch_size: Input should be {INT64}"),
    ("train.steps_per_epoch={}", ["2**63", "10**400"], f"train: steps_per_epoch: Input should be {INT64}"),
    ("train.validation_freq={}", ["2**64"], f"train: validation_freq: Input should be {INT64}"),
    ("compile.steps_per_execution={}", ["2**63"], f"compile: steps_per_execution: Input should be {INT64}"),
    ("model.inputs.x.shape=[{}]", ["2**63", "1e20", "10**400"], f"model.inputs.x.shape[0]: Input should be {INT64}"),
    ("model.inputs.x.shape=[{}]", ["-2**63-1"], f"model.inputs.x.shape[0]: Input should be {POSITIVE}"),
    ("model.inputs.x.batch_size={}", ["2**64"], f"model.inputs.x: batch_size: Input should be {INT64}"),
    ("data.shuffle_buffer={}", ["2**63", "10**400"], f"data: shuffle_buffer: Input should be {INT64}"),
    ("data.split.validation={}", ["1e20", "2**64"], "data.split: validation: Input should be less than 1"),
    ("data.split.test={}", ["-2**63-1"], "data.split: test: Input should be greater than or equal to 0"),
    ("data.split.test={}", ["10**400"], "data.split: test: Input should be a valid number"),
    ("data.labels=[{{one_hot: {}}}]", ["2**63"], f"data.labels[0]: one_hot: Input should be {INT64}"),
    ("data.features=[{{reshape: [{}]}}]", ["2**63", "-2**63-1"], "reshape: expected positive sizes"),
    ("data.features=[{{pad: {{length: {}}}}}]", ["2**64"], f"data.features[0].pad: length: Input should be {INT64}"),
    ("data.features=[{{pad: {{length: 3, value: {}}}}}]", ["1e20"], "pad: value: Input should be less than 2147483648"),
    ("data.features=[{{rescale: {}}}]", ["10**400"], "rescale: Input should be a valid number"),
    ("compile.loss_weights=[{}]", ["10**400"], "compile.loss_weights[0]: Input should be a valid number"),
    ("train.class_weight={{0: {}}}", ["10**400"], "train.class_weight[0]: Input should be a valid number"),
    ("train.verbose={}", ["1e20", "-2**63-1"], "train: verbose:"),
    ('train.distribution={{strategy: one_device, device: "/cpu:{}"}}', ["1e20", "2**64"],
     "device: expected a device index of at most 1023"),
    ('model.layers[1].Dense.inputs="h[{}]"', ["-2**63-1"], "unknown input 'h[-9223372036854775809]'"),
    # valid at validation: the model or the data decides (see the build and train cases below)
    ('model.layers[1].Dense.inputs="h[{}]"', ["1e20", "10**400"], None),
    ("train.class_weight={{{}: 1.0}}", ["2**64"], None),
    ("data.features=[{{rescale: {}}}]", ["2**64", "-2**63-1"], None),
]
TABLE = [pytest.param(key.format(BIG[name]), expected, id=f"{key.partition('=')[0]}={name}")
         for key, names, expected in CASES for name in names]


@pytest.fixture
def spec(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(SPEC)
    return tmp_path / "spec.yaml"


def located(override: str, out: str, fragment: str) -> None:
    """Every line an error located on the --set text (line 1), and one of them with the fragment."""
    lines = out.strip().splitlines()
    assert lines and all(re.match(r".+:\d+:\d+: error: ", line) for line in lines), out
    assert any(line.startswith(f"--set {override}:1:") and fragment in line for line in lines), out


@pytest.mark.parametrize("override, expected", TABLE)
def test_validate_refuses_an_integer_past_a_limit_located(spec, capsys, override, expected):
    code = main(["validate", str(spec), "--set", override])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if expected is None:
        assert code == 0, out
    else:
        assert code == 1, out
        located(override, out, expected)


def test_huge_integers_written_in_the_file_are_located_in_it(spec, capsys):
    text = SPEC.replace("seed: 1", f"seed: {2**64}").replace("shape: [4]", f"shape: [{10**20}]")
    spec.write_text(text.replace("epochs: 1", f"epochs: {10**400}"))
    assert main(["validate", str(spec)]) == 1
    out = capsys.readouterr().out
    assert f"{spec}:3:7: error: seed: Input should be less than 4294967296" in out
    assert f"{spec}:6:17: error: model.inputs.x.shape[0]: Input should be {INT64}" in out
    assert re.search(rf"{re.escape(str(spec))}:14:\d+: error: train: epochs: Input should be {INT64}", out)


def test_a_param_carries_its_integer_to_where_it_is_used(spec, capsys):
    sets = ["--set", f"params={{e: {2**63}}}", "--set", "train.epochs=${params.e}"]
    assert main(["validate", str(spec), *sets]) == 1
    out = capsys.readouterr().out
    assert f"error: train: epochs: Input should be {INT64}" in out and "Traceback" not in out


def test_the_largest_seed_and_int64_values_are_valid(spec, capsys):
    sets = [f"seed={2**32 - 1}", f"train.steps_per_epoch={2**63 - 1}", f"data.shuffle_buffer={2**63 - 1}",
            f"model.inputs.x.batch_size={2**63 - 1}", f"train.epochs={2**63 - 1}"]
    assert main(["validate", str(spec), *[w for s in sets for w in ("--set", s)]]) == 0, capsys.readouterr().out


def test_codegen_writes_a_script_with_huge_valid_integers(spec, capsys):
    sets = ["--set", f"train.epochs={2**63 - 1}"]
    assert main(["validate", str(spec), *sets]) == 0
    spec.write_text(SPEC.replace("epochs: 1", f"epochs: {2**63 - 1}"))
    assert main(["codegen", str(spec), "-o", "train.py"]) == 0
    assert f"{2**63 - 1}" in Path("train.py").read_text()
    spec.write_text(SPEC.replace("seed: 1", f"seed: {10**400}"))
    assert main(["codegen", str(spec), "-o", "train.py"]) == 1
    assert "seed: Input should be less than 4294967296" in capsys.readouterr().out


# -- build, check and train: the model and the data decide -------------------------------------------


def specc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "specc", *args], cwd=cwd, env=ENV, text=True, capture_output=True,
                          timeout=120)


def write_data(folder: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(folder / "d.npz", x=rng.random((32, 4)).astype("float32"), y=(rng.random(32) * 2).astype("int64"))


@pytest.mark.slow
def test_build_and_check_locate_what_keras_cannot_make(spec):
    """An index past a layer's outputs, and an input too large for a weight, are located in the spec."""
    write_data(spec.parent)
    index = specc("check", "spec.yaml", "--set", f'model.layers[1].Dense.inputs="h[{10**20}]"', cwd=spec.parent)
    assert index.returncode == 1 and "Traceback" not in index.stderr, index.stderr
    assert f"'h' has one output, so 'h[{10**20}]' does not exist" in index.stdout
    assert index.stdout.startswith("--set model.layers[1].Dense.inputs=")
    wide = specc("build", "spec.yaml", "-o", "m.keras", "--set", f"model.inputs.x.shape=[{2**63 - 1}]", cwd=spec.parent)
    assert wide.returncode == 1 and "Traceback" not in wide.stderr, wide.stderr
    assert wide.stdout.startswith("spec.yaml:8:") and "model.layers[0] (Dense): cannot be applied" in wide.stdout
    assert not (spec.parent / "m.keras").exists()


@pytest.mark.slow
def test_train_with_huge_sizes_ends_in_success_or_a_located_error(spec):
    """A shuffle buffer past the data (TensorFlow would reserve memory for all of it, and crash), a fixed input
    batch size and a class past the labels; one_hot past memory."""
    write_data(spec.parent)
    sets = ["--set", f"data.shuffle_buffer={2**62}", "--set", f"model.inputs.x.batch_size={2**62}"]
    ok = specc("train", "spec.yaml", *sets, "--out", "run", cwd=spec.parent)
    assert ok.returncode == 0 and "Traceback" not in ok.stderr, ok.stderr
    assert (spec.parent / "run" / "metrics.json").is_file()
    for override, fragment in ((f"data.labels=[{{one_hot: {2**40}}}]", "one_hot: its result does not fit in memory"),
                               (f"train.class_weight={{{10**20}: 1.0}}", "class_weight needs a weight for every class")):
        bad = specc("train", "spec.yaml", "--set", override, "--out", "bad", cwd=spec.parent)
        assert bad.returncode == 1 and "Traceback" not in bad.stderr, bad.stderr
        assert bad.stdout.startswith(f"--set {override}:1:") and fragment in bad.stdout, bad.stdout
        assert not (spec.parent / "bad").exists()


@pytest.mark.parametrize("workers", [str(10**20), str(2**63), "0", str(-2**63 - 1)])
def test_train_workers_past_a_local_machine_is_a_usage_error(spec, capsys, workers):
    sets = ["--set", "train.distribution=multi_worker_mirrored"]
    assert main(["train", str(spec), "--workers", workers, *sets, "--out", "run"]) == 2
    err = capsys.readouterr().err
    assert f"--workers takes a number of workers, 1 to 64 (received {workers})" in err and "Traceback" not in err
    assert not Path("run").exists()
