"""`train.phases`: training in stages (freeze, unfreeze, recompile), as Keras's transfer-learning guide does.

Validation locates every mistake. Training is checked against the same phases written
by hand in plain Keras (trainable flags, recompile, epochs counting on), and against the
generated script. A run interrupted at a phase's start, in the middle of a phase, or
killed in phase 2 resumes in the right phase: the history holds each epoch once, with
its phase, and the weights are those of a run never interrupted.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import specc
from specc.cli import main
from specc.data import load_arrays
from specc.run.train import TrainingInterrupted

import keras  # noqa: E402  (tests/conftest.py sets KERAS_BACKEND=tensorflow first)
from scripts import train_script

HEAD = textwrap.dedent("""\
    specc: 1
    name: phased
    seed: 7
    model:
      inputs: {pixels: {shape: [64]}}
      blocks:
        features:
          model: true
          layers:
            - Dense: {units: 16, activation: relu, name: one}
            - Dense: {units: 16, activation: relu, name: two}
            - Dense: {units: 8, activation: relu, name: three}
      layers:
        - features: {name: base}
        - Dense: {units: 10, activation: softmax, name: head}
    compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
    data:
      source: {builtin: digits}
      features: [{rescale: 0.0625}]
      split: {validation: 0.2}
    """)
PHASES = textwrap.dedent("""\
    train:
      batch_size: 64
      shuffle: false
      verbose: 0
      phases:
        - {name: head, epochs: 2, freeze: [base]}
        - name: fine_tune
          epochs: 3
          unfreeze: [{layer: base, top: 1}]
          compile: {optimizer: {Adam: {learning_rate: 1.0e-3}}}
    """)


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def errors_of(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(specc.SpecError) as caught:
        specc.load(path)
    return [(str(d.code), d.format()) for d in caught.value.diagnostics]


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize("phase, code, message, line", [
    ("{epochs: 1, freeze: [bsae]}", "G101", "train.phases[0].freeze[0]: 'bsae' is no layer, block instance, application "
                                            "or sub-model of the model. Did you mean 'base'?", 3),
    ("{epochs: 1, unfreeze: [pixels]}", "R106", "'pixels' is a model input: it has no weights to unfreeze", 3),
    ("{epochs: 1, freeze: [{layer: head, top: 2}]}", "R106", "top: 2 needs a nested model (a keras.applications model "
                                                             "or a `model: true` block instance) with layers of its own; "
                                                             "'head' is a Dense layer", 3),
    ("{epochs: 1, compile: {optimizer: adamm}}", "K101", "train.phases[0].compile.optimizer", 3),
    ("{epochs: 1, callbacks: [{EarlyStoping: {patience: 1}}]}", "K101", "train.phases[0].callbacks[0]", 3),
    ("{epochs: 0}", "S104", "train.phases[0]: epochs: Input should be greater than 0", 3),
    ("{freeze: [base]}", "S102", "epochs", 3),
])
def test_a_phase_mistake_is_located(tmp_path, phase, code, message, line):
    path = write(tmp_path, HEAD + f"train:\n  phases:\n    - {phase}\n")
    errors = errors_of(path)
    assert len(errors) == 1, errors
    assert errors[0][0] == code
    assert message in errors[0][1]
    assert errors[0][1].startswith(f"{path}:{len(HEAD.splitlines()) + line}:")


def test_epochs_beside_phases_and_two_phases_of_one_name_are_refused(tmp_path):
    path = write(tmp_path, HEAD + "train:\n  epochs: 3\n  phases: [{epochs: 1}]\n")
    assert [(code, "give epochs or phases, not both" in text) for code, text in errors_of(path)] == [("S105", True)]
    path = write(tmp_path, HEAD + "train:\n  phases: [{name: a, epochs: 1}, {name: a, epochs: 2}]\n")
    assert [(code, "a names more than one" in text) for code, text in errors_of(path)] == [("S104", True)]


def test_a_block_instance_stands_for_its_layers_and_a_shared_layer_for_the_one_it_applies(tmp_path):
    text = textwrap.dedent("""\
        specc: 1
        name: targets
        model:
          inputs: {x: {shape: [4]}}
          blocks:
            pair:
              layers:
                - Dense: {units: 4, name: a}
                - ops: {name: doubled, expr: "a * 2.0"}
                - Dense: {units: 4, name: b}
          layers:
            - pair: {name: first}
            - Dense: {units: 4, name: last}
            - Shared: {layer: last, name: again}
        train:
          phases:
            - {epochs: 1, freeze: [first, again]}
            - {epochs: 1, unfreeze: [first_a]}
        """)
    spec = specc.load(write(tmp_path, text))
    first, second = spec.fit.phases
    assert [(c.target, c.layers, c.trainable) for c in first.changes] == [("first", ("first_a", "first_b"), False),
                                                                           ("again", ("last",), False)]
    assert (first.name, second.name, spec.fit.epochs) == ("phase-1", "phase-2", 2)
    # the second phase freezes nothing more, but changes trainable flags: compiled again (with what holds: none here)
    assert first.compile is None and second.compile is not None


def test_a_phase_compile_replaces_only_what_it_gives(tmp_path):
    spec = specc.load(write(tmp_path, HEAD + PHASES))
    head, fine_tune = spec.fit.phases
    assert head.compile is None  # the first phase trains as the model was compiled
    assert fine_tune.compile.optimizer.kwargs["learning_rate"] == 1e-3
    assert fine_tune.compile.loss == spec.compile.loss and fine_tune.compile.metrics == spec.compile.metrics


# -- training against Keras by hand ------------------------------------------------------------


def by_hand(spec, phases: list[tuple[int, callable, float | None]]):
    """The spec's model, then the phases in plain Keras: (epochs, change the model, learning rate to recompile with)."""
    splits = load_arrays(spec)
    x, y = splits.train.x["pixels"], splits.train.y["head"]
    validation = (splits.validation.x["pixels"], splits.validation.y["head"])
    model = specc.build_model(spec)
    history, epoch = {}, 0
    for epochs, change, rate in phases:
        change(model)
        if rate is not None:
            model.compile(optimizer=keras.optimizers.Adam(learning_rate=rate), loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
        fitted = model.fit(x, y, batch_size=64, epochs=epoch + epochs, initial_epoch=epoch, shuffle=False,
                           validation_data=validation, verbose=0)
        for key, values in fitted.history.items():
            history.setdefault(key, []).extend(values)
        epoch += epochs
    return model, history


def freeze_base(model):
    model.get_layer("base").trainable = False


def unfreeze_top_one(model):
    base = model.get_layer("base")
    base.trainable = True
    for layer in base.layers[1:-1]:  # InputLayer, one, two: frozen again; three trains
        layer.trainable = False


@pytest.fixture(scope="module")
def phased_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phases")
    spec_path = write(folder, HEAD + PHASES)
    result = specc.train(spec_path, out=folder / "run")
    return spec_path, result


def test_phases_train_as_keras_by_hand(phased_run):
    spec_path, result = phased_run
    spec = specc.load(spec_path)
    model, history = by_hand(spec, [(2, freeze_base, None), (3, unfreeze_top_one, 1e-3)])
    assert result.history["epochs"] == [0, 1, 2, 3, 4]
    assert result.history["phase"] == ["head", "head", "fine_tune", "fine_tune", "fine_tune"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(result.history[key], history[key], rtol=1e-5, err_msg=key)
    trained = keras.saving.load_model(result.run_dir / "model.keras")
    for ours, theirs in zip(trained.get_weights(), model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)
    base = trained.get_layer("base")
    assert [layer.trainable for layer in base.layers[1:]] == [False, False, True]  # kept in model.keras
    assert float(trained.optimizer.learning_rate.numpy()) == pytest.approx(1e-3)
    assert not (result.run_dir / "backup").exists()


def test_the_frozen_phase_leaves_the_frozen_weights_alone(tmp_path):
    spec_path = write(tmp_path, HEAD + PHASES.replace("epochs: 3", "epochs: 1").replace(
        "unfreeze: [{layer: base, top: 1}]", "unfreeze: []"))
    initial = specc.build_model(spec_path).get_layer("base").get_weights()
    result = specc.train(spec_path, out=tmp_path / "run")
    trained = keras.saving.load_model(result.run_dir / "model.keras").get_layer("base").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(initial, trained))


def test_a_callback_that_stops_a_phase_starts_the_next_at_the_next_epoch(tmp_path):
    """EarlyStopping waiting for the loss to grow stops the first phase after its second epoch (Keras never stops
    after the first), as the loss falls; the second phase's epochs follow on, and CSVLogger keeps the rows of both."""
    phases = PHASES.replace("{name: head, epochs: 2, freeze: [base]}",
                            "{name: head, epochs: 6, freeze: [base], callbacks: [{EarlyStopping: {monitor: loss, "
                            "mode: max, patience: 0}}]}")
    spec_path = write(tmp_path, HEAD + phases.replace("  verbose: 0\n", "  verbose: 0\n  callbacks: [{CSVLogger: {filename: log.csv}}]\n"))
    result = specc.train(spec_path, out=tmp_path / "run")
    assert result.history["epochs"] == [0, 1, 2, 3, 4]
    assert result.history["phase"] == ["head", "head", "fine_tune", "fine_tune", "fine_tune"]
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["epoch", "0", "1", "2", "3", "4"]


def test_top_past_the_models_layers_is_a_located_error(tmp_path):
    spec_path = write(tmp_path, HEAD + PHASES.replace("top: 1", "top: 4"))
    with pytest.raises(specc.SpecError) as caught:
        specc.train(spec_path, out=tmp_path / "run")
    message = caught.value.diagnostics[0].format()
    assert "R106" in str(caught.value.diagnostics[0].code)
    assert "top: 4 is past the 3 layers of 'base'" in message
    line = len(HEAD.splitlines()) + PHASES.splitlines().index("      unfreeze: [{layer: base, top: 1}]") + 1
    assert message.startswith(f"{spec_path}:{line}:")
    assert not (tmp_path / "run").exists()  # found before the first phase trains


# -- interrupted and resumed -------------------------------------------------------------------


class Interrupt(Exception):
    pass


def interrupted(monkeypatch, spec_path: Path, out: Path, *, after_epoch: int | None = None, at_phase_start: int | None = None):
    """A run stopped by Ctrl-C after epoch `after_epoch` ends (its backup written), or just as phase
    `at_phase_start` (0-based) has saved where it starts."""
    import specc.run.callbacks as callbacks_module
    import specc.run.phases as phases_module

    make = callbacks_module.make_callbacks
    save = phases_module._save_start

    def make_then_stop(*args, **kwargs):
        made = make(*args, **kwargs)

        class Stop(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == after_epoch:
                    raise KeyboardInterrupt

        return [*made, Stop()]

    def save_then_stop(model, backup, index, *args):
        save(model, backup, index, *args)
        if index == at_phase_start:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(importlib.import_module("specc.run.train"), "make_callbacks", make_then_stop)
        patch.setattr(phases_module, "_save_start", save_then_stop)
        with pytest.raises(TrainingInterrupted):
            specc.train(spec_path, out=out)


@pytest.mark.parametrize("stop", [{"at_phase_start": 1}, {"after_epoch": 3}, {"after_epoch": 1}])
def test_an_interrupted_run_resumes_in_its_phase_as_if_never_stopped(monkeypatch, tmp_path, phased_run, stop):
    spec_path, uninterrupted = phased_run
    run_dir = tmp_path / "run"
    interrupted(monkeypatch, spec_path, run_dir, **stop)
    state = json.loads((run_dir / "backup" / "phase.json").read_text()) if (run_dir / "backup" / "phase.json").exists() else None
    assert state == ({"phase": 1, "initial_epoch": 2} if stop != {"after_epoch": 1} else None)
    result = specc.train(spec_path, out=run_dir, resume=True)
    assert result.history["epochs"] == [0, 1, 2, 3, 4]
    assert result.history["phase"] == uninterrupted.history["phase"]
    np.testing.assert_allclose(result.history["loss"], uninterrupted.history["loss"], rtol=1e-6)
    ours = keras.saving.load_model(run_dir / "model.keras")
    theirs = keras.saving.load_model(uninterrupted.run_dir / "model.keras")
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert [layer.trainable for layer in ours.get_layer("base").layers[1:]] == [False, False, True]


@pytest.mark.slow
def test_a_run_killed_in_phase_two_resumes_there(tmp_path):
    """SIGKILL during the second phase; --resume goes on in it: every epoch once, each with its phase."""
    phases = PHASES.replace("epochs: 3", "epochs: 40")
    spec_path = write(tmp_path, HEAD + phases)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen([sys.executable, "-m", "specc", "train", str(spec_path), "--out", "run"], cwd=tmp_path,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    history_file = tmp_path / "run" / "history.json"
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if json.loads(history_file.read_text()).get("phase", []).count("fine_tune") >= 2:
                break
        except (OSError, ValueError):
            pass
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    before = json.loads(history_file.read_text())
    assert 4 <= len(before["epochs"]) < 42
    assert json.loads((tmp_path / "run" / "backup" / "phase.json").read_text()) == {"phase": 1, "initial_epoch": 2}

    result = specc.train(spec_path, out=tmp_path / "run", resume=True)
    assert result.history["epochs"] == list(range(42))
    assert result.history["phase"] == ["head"] * 2 + ["fine_tune"] * 40
    kept = len(before["epochs"]) - 1  # the last one may be repeated (history.json is written before the backup)
    assert result.history["loss"][:kept] == before["loss"][:kept]
    assert result.history["loss"][-1] < result.history["loss"][1]  # the second phase went on training
    assert (tmp_path / "run" / "metrics.json").is_file() and not (tmp_path / "run" / "backup").exists()


# -- the generated script ------------------------------------------------------------------------


def test_the_generated_script_trains_the_same_phases(tmp_path, phased_run):
    spec_path, result = phased_run
    script = tmp_path / f"{spec_path.stem}.py"
    assert main(["codegen", str(spec_path), "--out-dir", str(tmp_path)]) == 0
    text = script.read_text()
    assert "# Phase 2 of 2, fine_tune: 3 epochs; unfreeze the top 1 layers of base; compile again" in text
    assert "--epochs" not in text  # the phases give the epochs
    theirs, _ = train_script(script, tmp_path / "out")
    assert theirs["epochs"] == result.history["epochs"] and theirs["phase"] == result.history["phase"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(theirs[key], result.history[key], rtol=1e-5, err_msg=key)
    trained = keras.saving.load_model(tmp_path / "out" / "model.keras")
    assert [layer.trainable for layer in trained.get_layer("base").layers[1:]] == [False, False, True]
