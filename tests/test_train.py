"""`specc train` and `specc.train`: real training on the builtin digits.

The quickstart trains for real and must reach 95% test accuracy; the run
folder holds every file, and each reads back. Runs are reproducible. An
existing run folder is never written over. A run killed (SIGKILL) or
interrupted (SIGINT) mid-training resumes from its last completed epoch with
a continuous history, each epoch recorded once.

The subprocess tests run `python -m specc train` in a temporary working folder.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import specc
from specc.cli import main

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "specs" / "quickstart.yaml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RUN_FILES = ("spec.resolved.yaml", "model.keras", "history.json", "metrics.json", "curves.png")
# Many short epochs, quiet: long enough to stop mid-training, short enough to finish after resuming.
LONG_RUN = ["train.epochs=40", "train.verbose=0"]


def history_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "history.json").read_text())


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def specc_train(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-m", "specc", "train", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def wait_for_epochs(run_dir: Path, process: subprocess.Popen, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"training ended (exit {process.returncode}) before it could be stopped:\n{out}\n{err}")
        try:
            if len(history_of(run_dir)["epochs"]) >= count:
                return
        except (OSError, ValueError):  # not written yet (never half-written: the writes are atomic)
            pass
        time.sleep(0.02)
    process.kill()
    pytest.fail(f"no {count} epochs in {run_dir / 'history.json'} after {timeout} s")


def assert_continuous(history: dict, epochs: int) -> None:
    assert history["epochs"] == list(range(epochs))
    for key, values in history.items():
        assert len(values) == epochs, key
    assert all(math.isfinite(v) for v in history["loss"])


# -- the quickstart ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("quickstart") / "run"
    return specc.train(QUICKSTART, out=run_dir)


@pytest.mark.slow
def test_quickstart_reaches_95_percent_test_accuracy(quickstart):
    assert quickstart.evaluated_on == "test"
    assert quickstart.metrics["accuracy"] >= 0.95, quickstart.metrics
    epochs = specc.load(QUICKSTART).fit.epochs
    assert_continuous(quickstart.history, epochs)
    assert quickstart.history["val_accuracy"][-1] >= 0.9


@pytest.mark.slow
def test_run_folder_holds_every_file_and_each_reads_back(quickstart):
    run_dir = quickstart.run_dir
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(RUN_FILES)  # backup/ removed once finished

    resolved = specc.load(run_dir / "spec.resolved.yaml")
    assert resolved.sha256 == specc.load(QUICKSTART).sha256
    assert f"# sha256: {resolved.sha256}" in (run_dir / "spec.resolved.yaml").read_text()

    history = history_of(run_dir)
    assert history == quickstart.history
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics == {"split": "test", **quickstart.metrics}
    assert set(quickstart.metrics) == {"loss", "accuracy"}

    assert (run_dir / "curves.png").read_bytes().startswith(PNG_SIGNATURE)

    import keras

    from specc.data import load_arrays, to_dataset

    model = keras.saving.load_model(run_dir / "model.keras")
    test = load_arrays(specc.load(QUICKSTART)).test
    scores = model.evaluate(to_dataset(test, 32, shuffle=False, seed=None, shuffle_buffer=None), return_dict=True, verbose=0)
    assert scores["accuracy"] == pytest.approx(quickstart.metrics["accuracy"], abs=1e-6)


@pytest.mark.slow
def test_an_existing_run_folder_is_never_written_over(quickstart, capsys):
    before = snapshot(quickstart.run_dir)
    for extra in ([], ["--resume"]):
        assert main(["train", str(QUICKSTART), "--out", str(quickstart.run_dir), *extra]) == 2
        err = capsys.readouterr().err
        assert "holds a finished run" in err and "--out" in err
    assert snapshot(quickstart.run_dir) == before


# -- reproducibility -----------------------------------------------------------------------


@pytest.mark.slow
def test_the_same_spec_trains_to_the_same_history(tmp_path):
    first, second = (specc.train(QUICKSTART, overrides=["train.epochs=2", "train.verbose=0"], out=tmp_path / name)
                     for name in ("a", "b"))
    assert first.history.keys() == second.history.keys()
    for key in first.history:
        assert first.history[key] == pytest.approx(second.history[key], rel=0, abs=1e-6), key
    assert first.metrics == pytest.approx(second.metrics, abs=1e-6)


# -- the command line -----------------------------------------------------------------------


@pytest.mark.slow
def test_cli_trains_with_set_overrides(tmp_path):
    process = specc_train(str(QUICKSTART), "--set", "train.epochs=1", "--out", "run", cwd=tmp_path)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.splitlines()[-1].startswith("test: accuracy ")
    # Not a terminal: one line per epoch (Keras's verbose=2), 40 batches of 32, no progress bar drawn.
    assert "40/40" in out and "━" not in out and "\x08" not in out
    assert history_of(tmp_path / "run")["epochs"] == [0]
    assert "epochs: 1\n" in (tmp_path / "run" / "spec.resolved.yaml").read_text()
    assert all((tmp_path / "run" / name).is_file() for name in RUN_FILES)


def test_cli_reports_a_bad_override_located_on_the_command_line(tmp_path):
    process = specc_train(str(QUICKSTART), "--set", "train.epochs=0", cwd=tmp_path)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert out.strip() == "--set train.epochs=0:1:14: error: train: epochs: Input should be greater than 0 (received 0)"
    assert not (tmp_path / "runs").exists()


def test_refuses_a_folder_with_an_unfinished_run_or_other_files(tmp_path, monkeypatch, capsys):
    """Refusals come before any work: a folder with an unfinished run, or with other files."""
    monkeypatch.chdir(tmp_path)
    unfinished = tmp_path / "runs" / "quickstart"
    unfinished.mkdir(parents=True)
    (unfinished / "spec.resolved.yaml").write_text("# sha256: " + "0" * 64 + "\n")
    before = snapshot(unfinished)
    assert main(["train", str(QUICKSTART), "--out", "runs/quickstart"]) == 2
    assert "runs/quickstart holds an unfinished run: continue it with --resume" in capsys.readouterr().err
    assert main(["train", str(QUICKSTART), "--resume"]) == 2  # the newest unfinished run, by default
    assert "the spec changed since the run in runs/quickstart started" in capsys.readouterr().err
    assert snapshot(unfinished) == before

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["train", str(QUICKSTART), "--out", "mine"]) == 2
    assert "not a specc run" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


# -- errors before training ----------------------------------------------------------------


def test_a_spec_without_data_is_a_located_error(tmp_path):
    with pytest.raises(specc.SpecError) as err:
        specc.train(ROOT / "specs" / "mlp.yaml", out=tmp_path / "run")
    assert "data: train needs a data: section" in str(err.value)
    assert str(err.value).startswith(f"{ROOT / 'specs' / 'mlp.yaml'}:")
    assert not (tmp_path / "run").exists()


def test_data_that_does_not_fit_the_model_stops_before_training(tmp_path):
    with pytest.raises(specc.SpecError) as err:
        specc.train(QUICKSTART, overrides=["model.layers[0].Dense.input_shape=[32]"], out=tmp_path / "run")
    assert "the data's samples have shape [64]" in str(err.value)
    assert not (tmp_path / "run").exists()


def test_a_callback_may_not_write_over_the_run_files(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(QUICKSTART.read_text() + "  callbacks:\n    - ModelCheckpoint: {filepath: model.keras}\n")
    with pytest.raises(specc.SpecError) as err:
        specc.train(spec, out=tmp_path / "run")
    line = len(QUICKSTART.read_text().splitlines()) + 2
    assert f"{spec}:{line}:" in str(err.value)
    assert ("train.callbacks[0] (ModelCheckpoint): filepath: model.keras is where specc writes the run's own "
            "model.keras") in str(err.value)


# -- callbacks -------------------------------------------------------------------------------


@pytest.mark.slow
def test_callbacks_write_relative_paths_into_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(QUICKSTART.read_text() + textwrap.indent(textwrap.dedent("""\
        callbacks:
          - CSVLogger: {filename: log.csv}
          - ModelCheckpoint: {filepath: "checkpoints/epoch{epoch}.keras"}
          - EarlyStopping: {monitor: val_loss, patience: 5}
          - ReduceLROnPlateau: {monitor: val_loss, patience: 1}
        """), "  "))  # under train:, the quickstart's last section
    result = specc.train(spec, overrides=["train.epochs=2", "train.verbose=0"], out="run")
    run_dir = tmp_path / "run"
    assert result.run_dir == Path("run")
    rows = (run_dir / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) == 3
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["epoch1.keras", "epoch2.keras"]
    assert len(result.history["learning_rate"]) == 2  # ReduceLROnPlateau logs it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "spec.yaml"]  # nothing in the working folder


@pytest.mark.slow
def test_tensorboard_logs_land_in_the_run_folder(tmp_path):
    """TensorBoard's default log_dir, `logs`, is taken relative to the run folder too."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(QUICKSTART.read_text() + "  callbacks: [TensorBoard]\n")
    specc.train(spec, overrides=["train.epochs=1", "train.verbose=0"], out=tmp_path / "run")
    assert any((tmp_path / "run" / "logs").rglob("events.out.tfevents.*"))


# -- interrupted runs ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_epoch(tmp_path, capsys):
    run_dir = tmp_path / "run"
    sets = [w for s in LONG_RUN for w in ("--set", s)]
    process = specc_train(str(QUICKSTART), *sets, "--out", "run", cwd=tmp_path)
    wait_for_epochs(run_dir, process, 2)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL

    before = history_of(run_dir)
    done = json.loads((run_dir / "backup" / "training_metadata.json").read_text())["epoch"]
    # history.json is written before the backup after each epoch: never behind it, at most one epoch ahead.
    assert len(before["epochs"]) - 1 <= done <= len(before["epochs"])
    assert not (run_dir / "metrics.json").exists()

    assert main(["train", str(QUICKSTART), *sets, "--out", str(run_dir)]) == 2  # unfinished: needs --resume
    assert "--resume" in capsys.readouterr().err
    assert main(["train", str(QUICKSTART), *sets, "--out", str(run_dir), "--resume"]) == 0

    after = history_of(run_dir)
    assert_continuous(after, 40)
    assert after["loss"][:done] == before["loss"][:done]  # the epochs before the kill are kept as they were
    assert all((run_dir / name).is_file() for name in RUN_FILES)
    assert not (run_dir / "backup").exists()
    assert json.loads((run_dir / "metrics.json").read_text())["accuracy"] >= 0.95


@pytest.mark.slow
def test_ctrl_c_stops_a_run_that_resume_continues(tmp_path):
    run_dir = tmp_path / "run"
    process = specc_train(str(QUICKSTART), *[w for s in LONG_RUN for w in ("--set", s)], "--out", "run", cwd=tmp_path)
    wait_for_epochs(run_dir, process, 2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "specc: interrupted; run keeps every completed epoch" in err
    assert "--set train.epochs=40 --set train.verbose=0 --out run --resume" in err

    stopped = len(history_of(run_dir)["epochs"])
    assert 2 <= stopped < 40
    result = specc.train(QUICKSTART, overrides=LONG_RUN, out=run_dir, resume=True)
    assert_continuous(result.history, 40)
    assert result.metrics["accuracy"] >= 0.95


@pytest.mark.slow
def test_a_run_killed_after_training_finishes_without_training_again(quickstart, tmp_path):
    """model.keras is written when fit ends, metrics.json last: resuming in between only evaluates and writes the rest."""
    run_dir = tmp_path / "run"
    shutil.copytree(quickstart.run_dir, run_dir)
    (run_dir / "metrics.json").unlink()
    (run_dir / "curves.png").unlink()
    model = (run_dir / "model.keras").read_bytes()
    result = specc.train(QUICKSTART, out=run_dir, resume=True)
    assert result.history == quickstart.history
    assert result.metrics == pytest.approx(quickstart.metrics, abs=1e-6)
    assert (run_dir / "model.keras").read_bytes() == model
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(RUN_FILES)


def test_a_run_that_fails_before_its_first_epoch_leaves_nothing_behind(tmp_path):
    """Labels that do not fit the loss are a located spec error, found before the first epoch: the next try needs
    no --resume."""
    with pytest.raises(specc.SpecError, match="the labels are class indices"):
        specc.train(QUICKSTART, overrides=["data.labels=[]", "train.verbose=0"], out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_default_run_folders_are_numbered(tmp_path, monkeypatch):
    """Training again needs no --out and never touches the earlier run; --resume finds the newest unfinished one."""
    from specc.run.folder import RunFolderError, default_run_dir

    monkeypatch.chdir(tmp_path)
    assert default_run_dir("quickstart") == Path("runs/quickstart")
    with pytest.raises(RunFolderError, match="no unfinished run of quickstart under runs/"):
        default_run_dir("quickstart", resume=True)
    first = specc.train(QUICKSTART, overrides=["train.epochs=1"])
    second = specc.train(QUICKSTART, overrides=["train.epochs=1"])
    assert (first.run_dir, second.run_dir) == (Path("runs/quickstart"), Path("runs/quickstart-2"))
    assert (first.run_dir / "metrics.json").is_file() and (second.run_dir / "metrics.json").is_file()
    unfinished = tmp_path / "runs" / "quickstart-3"
    unfinished.mkdir()
    (unfinished / "spec.resolved.yaml").write_text("# sha256: " + "0" * 64 + "\n")
    assert default_run_dir("quickstart", resume=True) == Path("runs/quickstart-3")
    assert default_run_dir("quickstart") == Path("runs/quickstart-4")


# -- labels.json ----------------------------------------------------------------------------


@pytest.mark.slow
def test_text_labels_and_image_folders_record_their_classes_in_labels_json(tmp_path):
    rows = ["a,b,kind"] + [f"{i},{i % 3},{'dog cat emu'.split()[i % 3]}" for i in range(12)]
    (tmp_path / "pets.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    import numpy as np
    from PIL import Image

    for cls in ("dog", "cat"):  # class indices in sorted folder order: cat 0, dog 1
        (tmp_path / "photos" / cls).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((4, 4, 3), 40 * i, np.uint8)).save(tmp_path / "photos" / cls / f"{i}.png")
    head = "specc: 1\nname: t\nseed: 1\n"
    fit = "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\ntrain: {epochs: 1, batch_size: 4, verbose: 0}\n"
    specs = {
        "pets.csv": (head + "model:\n  layers:\n    - Dense: {units: 3, activation: softmax, input_shape: [2]}\n"
                     + "data:\n  source: {csv: {path: pets.csv, label: kind}}\n" + fit, ["cat", "dog", "emu"]),
        "photos": (head + "model:\n  layers:\n    - Flatten: {input_shape: [4, 4, 3]}\n"
                   + "    - Dense: {units: 2, activation: softmax}\n"
                   + "data:\n  source: {images: {path: photos, image_size: [4, 4]}}\n" + fit, ["cat", "dog"]),
    }
    for source, (text, classes) in specs.items():
        spec = tmp_path / f"{source}.yaml"
        spec.write_text(text, encoding="utf-8")
        result = specc.train(spec, out=tmp_path / "runs" / source)
        assert json.loads((result.run_dir / "labels.json").read_text()) == {"source": source, "classes": classes}
        assert result.files["labels.json"] == result.run_dir / "labels.json"


def test_an_object_keras_refuses_only_on_the_real_tensors_is_a_located_error(tmp_path, capsys):
    """A constraint's axis past the kernel's rank passes validation and build (no shapes there); Keras
    refuses it at the first training step. The user gets a located error (B109), no traceback, no run left."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent("""\
        specc: 1
        name: constraint_axis
        data:
          source: {builtin: digits}
          labels: [{one_hot: 10}]
        model:
          layers:
            - Dense: {units: 10, activation: softmax, input_shape: [64], kernel_constraint: {MinMaxNorm: {axis: 2}}}
        compile: {optimizer: adam, loss: categorical_crossentropy}
        train: {epochs: 2, batch_size: 64, verbose: 0}
        """), encoding="utf-8")
    assert main(["train", str(spec), "--out", str(tmp_path / "run")]) == 1
    printed = capsys.readouterr()
    err = printed.out + printed.err
    assert f"{spec}:10:8: error: train: Keras cannot train the model in epoch 1: ValueError: Invalid reduction dimension 2" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing to resume: the run that made the folder took it away
    with pytest.raises(specc.SpecError) as raised:
        specc.train(spec, out=tmp_path / "run")
    assert [d.code.value for d in raised.value.diagnostics] == ["B109"]
