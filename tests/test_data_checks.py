"""The labels against the loss and the output, by loss family; and `specc check` on the data, offline."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import specc
from specc.catalog import load_catalog
from specc.data import check_labels, load_arrays
from specc.data.checks import BINARY, ELEMENTWISE, INDEX, LOSS_FAMILIES, ONE_HOT, UNCHECKED_LOSSES

ROOT = Path(__file__).resolve().parents[1]


def spec_file(folder: Path, loss: str, y: np.ndarray, units: int = 10, activation: str = "softmax",
              labels: str = "", x: np.ndarray | None = None, shape: tuple = (4,)) -> Path:
    """A one-input model (Dense of `units`) compiled with `loss`, on an npz of `x` (random) and `y`."""
    x = np.random.default_rng(0).random((len(y), *shape)) if x is None else x
    np.savez(folder / "d.npz", x=x, y=y)
    text = textwrap.dedent(f"""\
        specc: 1
        name: t
        seed: 1
        model:
          inputs:
            features: {{shape: {list(shape)}}}
          layers:
            - Dense: {{name: out, units: {units}, activation: {activation}}}
        compile:
          optimizer: adam
          loss: {loss}
        data:
          source: {{npz: {{path: d.npz, x: x, y: y}}}}
        """) + (f"  labels: {labels}\n" if labels else "")
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problem(path: Path, outputs: dict | None = None) -> specc.Diagnostic | None:
    """The one labels diagnostic of the spec at `path`, against a Dense output of its units (None when fine)."""
    spec = specc.load(path)
    units = spec.graph.layers[-1].kwargs["units"]
    try:
        check_labels(spec, load_arrays(spec), outputs or {"out": (units,)})
    except specc.SpecError as err:
        [diagnostic] = err.diagnostics
        assert diagnostic.code == "D109"
        assert diagnostic.location is not None and Path(diagnostic.location.file) == path
        return diagnostic
    return None


CLASSES = np.arange(40) % 10  # class indices 0..9


# -- the family table -----------------------------------------------------------------------------


def test_every_keras_loss_is_in_the_family_table_or_deliberately_unchecked():
    kind = load_catalog()["loss"]
    names = {name.lower() for name in (*kind.classes, *kind.identifiers)}
    assert names, "the catalog lists no losses"
    forgotten = sorted(n for n in names if n not in LOSS_FAMILIES and n not in UNCHECKED_LOSSES)
    assert not forgotten, f"losses in the catalog with no family in specc.data.checks: {forgotten}"
    assert LOSS_FAMILIES["mse"] == LOSS_FAMILIES["meansquarederror"] == ELEMENTWISE
    assert LOSS_FAMILIES["bce"] == LOSS_FAMILIES["binarycrossentropy"] == BINARY
    assert LOSS_FAMILIES["categoricalcrossentropy"] == ONE_HOT and LOSS_FAMILIES["sparsecategoricalcrossentropy"] == INDEX


# -- elementwise losses ---------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["mse", "mean_absolute_error", "MeanSquaredError", "huber", "log_cosh", "poisson",
                                  "kl_divergence", "cosine_similarity", "hinge", "squared_hinge"])
def test_an_elementwise_loss_takes_labels_shaped_like_the_output(tmp_path, loss):
    good = np.random.default_rng(1).random((40, 3))
    assert problem(spec_file(tmp_path, loss, good, units=3, activation="linear")) is None
    bad = problem(spec_file(tmp_path, loss, np.random.default_rng(1).random((40, 5)), units=3, activation="linear"))
    assert bad.message == (f"the loss {loss.lower()} compares the labels value by value with the output, and the labels "
                           "have shape [5] per sample, but the model's output produces [3]")


@pytest.mark.parametrize("y", [np.random.default_rng(1).random(40), np.random.default_rng(1).random((40, 1))])
def test_a_one_unit_output_takes_one_number_per_sample_either_way(tmp_path, y):
    assert problem(spec_file(tmp_path, "mse", y, units=1, activation="linear")) is None


@pytest.mark.parametrize("y", [CLASSES, CLASSES.reshape(-1, 1)])
def test_class_indices_under_a_regression_loss_is_the_detection_mistake(tmp_path, y):
    bad = problem(spec_file(tmp_path, "mse", y))
    assert bad.message.startswith("the labels are class indices (10 distinct values, 0 to 9, shape ")
    assert "but the loss mse compares them value by value with the model's output [10], a 10-unit softmax: " in bad.message
    assert "use loss: sparse_categorical_crossentropy, or add `- one_hot: 10` to data.labels" in bad.message
    assert bad.where == "data.source"


def test_one_hot_labels_fit_a_regression_loss(tmp_path):
    assert problem(spec_file(tmp_path, "mse", CLASSES, labels="[{one_hot: 10}]")) is None


def test_the_error_is_at_the_last_label_transform(tmp_path):
    bad = problem(spec_file(tmp_path, "mae", CLASSES, units=3, labels="[{one_hot: 10}]"))
    assert bad.where == "data.labels[0]"
    assert bad.message.endswith("the labels have shape [10] per sample, but the model's output produces [3]")


# -- binary losses --------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["binary_crossentropy", "bce", "BinaryFocalCrossentropy"])
def test_a_binary_loss_takes_labels_in_0_1(tmp_path, loss):
    assert problem(spec_file(tmp_path, loss, np.arange(40) % 2, units=1, activation="sigmoid")) is None
    assert problem(spec_file(tmp_path, loss, np.linspace(0, 1, 40), units=1, activation="sigmoid")) is None
    bad = problem(spec_file(tmp_path, loss, np.linspace(-1, 1, 40), units=1, activation="sigmoid"))
    assert bad.message == (f"the labels range from -1 to 1, but the loss {loss.lower()} takes labels in [0, 1] "
                           "(0/1 or probabilities)")


def test_class_indices_under_a_binary_loss(tmp_path):
    bad = problem(spec_file(tmp_path, "binary_crossentropy", CLASSES, units=1, activation="sigmoid"))
    assert bad.message.startswith("the labels range from 0 to 9, but the loss binary_crossentropy takes labels in [0, 1]")
    assert "use sparse_categorical_crossentropy" in bad.message
    bad = problem(spec_file(tmp_path, "binary_crossentropy", CLASSES))
    assert bad.message.startswith("the labels are class indices (10 distinct values, 0 to 9")


# -- categorical and sparse losses ----------------------------------------------------------------


def test_categorical_losses(tmp_path):
    assert problem(spec_file(tmp_path, "categorical_crossentropy", CLASSES, labels="[{one_hot: 10}]")) is None
    bad = problem(spec_file(tmp_path, "categorical_crossentropy", CLASSES))
    assert bad.message.startswith("the labels are class indices (shape [] per sample), but the loss "
                                  "categorical_crossentropy takes one-hot labels")
    assert problem(spec_file(tmp_path, "sparse_categorical_crossentropy", CLASSES)) is None
    bad = problem(spec_file(tmp_path, "sparse_categorical_crossentropy", CLASSES, labels="[{one_hot: 10}]"))
    assert "takes class indices (one number per sample)" in bad.message
    bad = problem(spec_file(tmp_path, "sparse_categorical_crossentropy", CLASSES, units=5))
    assert bad.message == ("the labels are class indices from 0 to 9, but the model's output has 5 classes (0 to 4): "
                           "give the output 10 units, or renumber the labels")


def test_an_unchecked_loss_still_gets_the_shape_check(tmp_path):
    assert problem(spec_file(tmp_path, "ctc", CLASSES)) is None


# -- specc check on the data ----------------------------------------------------------------------


def check(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "specc", "check", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_check_reports_data_that_does_not_fit_the_model(tmp_path):
    path = spec_file(tmp_path, "categorical_crossentropy", CLASSES, labels="[{one_hot: 10}]",
                     x=np.zeros((40, 32, 32, 3)), shape=(784,))
    done = check(str(path))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert f"{path}:" in done.stdout and "error:" in done.stdout
    assert "error: data.source: the data's samples have shape [32, 32, 3], but model input 'features' takes [784]" \
        in done.stdout, done.stdout


def test_check_reports_labels_that_do_not_fit_the_loss(tmp_path):
    done = check(str(spec_file(tmp_path, "mse", CLASSES)))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "error: data.source: the labels are class indices" in done.stdout, done.stdout


def test_check_reports_a_missing_data_file(tmp_path):
    path = spec_file(tmp_path, "mse", CLASSES)
    (tmp_path / "d.npz").unlink()
    done = check(str(path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{path}:" in done.stdout and "error: data.source.npz.path: no such file: d.npz" in done.stdout, done.stdout


def test_check_skips_a_keras_dataset_not_in_the_cache_and_downloads_nothing(tmp_path):
    home = tmp_path / "keras_home"
    home.mkdir()
    path = tmp_path / "mnist.yaml"
    path.write_text(textwrap.dedent("""\
        specc: 1
        name: t
        model:
          inputs:
            image: {shape: [28, 28, 1]}
          layers:
            - Flatten
            - Dense: {units: 10, activation: softmax}
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
        data:
          source: {keras: mnist}
          features: [{reshape: [28, 28, 1]}]
        """), encoding="utf-8")
    start = time.perf_counter()
    done = check(str(path), env={"KERAS_HOME": str(home)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.perf_counter() - start < 120
    assert "data not checked: keras.datasets.mnist" in done.stderr
    assert not (home / "datasets").exists() or not any((home / "datasets").iterdir())
    assert {p.name for p in home.iterdir()} <= {"keras.json"}  # Keras writes its config; nothing else


@pytest.mark.slow
def test_check_builds_an_application_without_its_imagenet_weights(tmp_path):
    home = tmp_path / "keras_home"
    home.mkdir()
    path = tmp_path / "app.yaml"
    path.write_text(textwrap.dedent("""\
        specc: 1
        name: t
        model:
          inputs:
            image: {shape: [96, 96, 3]}
          layers:
            - MobileNetV2: {include_top: false, weights: imagenet, input_shape: [96, 96, 3], trainable: false}
            - GlobalAveragePooling2D
            - Dense: {units: 5, activation: softmax}
        """), encoding="utf-8")
    done = check(str(path), env={"KERAS_HOME": str(home)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert {p.name for p in home.iterdir()} <= {"keras.json"}
