"""A kill during a write loses nothing: real specc processes SIGKILLed in the middle of writing a file.

A deterministic trigger, not a sleep: the specc process runs under a small launcher (FAULT below) that
patches one step of writing a named file, the temporary file's creation, the write itself (half written,
flushed), a Keras zip or HDF5 save cut short, or the rename, to say so on stderr and stop itself there;
the test then kills it with SIGKILL. What a user would check comes after: the file is the old content or
the complete new one, never partial or missing; every file in a run folder is absent or whole and loads;
`specc train --resume` completes the run, with a continuous history; a leftover temporary file is hidden,
named as specc.atomic's (`is_temporary`), and trips up no later run.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import specc
from specc.atomic import is_temporary
from specc.cli import main

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "specs" / "quickstart.yaml"
ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
EPOCHS = 4
SHORT = [f"train.epochs={EPOCHS}", "train.verbose=0"]
STOPPED = "@@specc-fault"

# SPECC_FAULT=STEP:NAME:N stops the process at the N-th STEP of writing a file named NAME.
FAULT = textwrap.dedent(f"""\
    import os, pathlib, signal, sys, tempfile
    step, name, nth = os.environ["SPECC_FAULT"].split(":")
    count = [0]

    def ours(path):
        return os.path.basename(str(path)).startswith("." + name + ".specc-")

    def due(path):  # whether this step, on a temporary file of NAME, is the N-th
        if ours(path):
            count[0] += 1
            return count[0] == int(nth)
        return False

    def stop(what, path):
        sys.__stderr__.write("{STOPPED} " + what + " " + str(path) + "\\n")
        sys.__stderr__.flush()
        os.kill(os.getpid(), signal.SIGSTOP)

    if step == "create":
        mkstemp = tempfile.mkstemp
        def patched(*args, **kwargs):
            fd, path = mkstemp(*args, **kwargs)
            if due(path):
                stop("created", path)
            return fd, path
        tempfile.mkstemp = patched
    elif step == "write":
        for method, mode in (("write_text", "w"), ("write_bytes", "wb")):
            def patched(self, data, *args, _original=getattr(pathlib.Path, method), _mode=mode, **kwargs):
                if not due(self):
                    return _original(self, data, *args, **kwargs)
                with open(self, _mode) as handle:
                    handle.write(data[: len(data) // 2])
                stop("half-written", self)
            setattr(pathlib.Path, method, patched)
    elif step == "replace":
        replace = os.replace
        def patched(src, dst, *args, **kwargs):
            if os.path.basename(str(dst)) == name and due(src):
                stop("complete, not renamed", src)
            return replace(src, dst, *args, **kwargs)
        os.replace = patched
    elif step == "zip":  # a .keras file: a zip, cut short after its N-th member
        import zipfile
        writestr = zipfile.ZipFile.writestr
        def patched(self, *args, **kwargs):
            result = writestr(self, *args, **kwargs)
            if due(getattr(self.fp, "name", "")):
                self.fp.flush()
                stop("zip member written", self.fp.name)
            return result
        zipfile.ZipFile.writestr = patched
    elif step == "h5":  # a .weights.h5 file, stopped before h5py closes it
        import h5py
        close = h5py.File.close
        def patched(self):
            if due(self.filename):
                stop("h5 not closed", self.filename)
            return close(self)
        h5py.File.close = patched
    from specc.cli import main
    sys.exit(main(sys.argv[1:]))
    """)


def killed_at(fault: str, args: list[str], cwd: Path, timeout: float = 120) -> str:
    """`specc ARGS` run until the fault's step, then SIGKILLed; the line it said. Fails if it never got there."""
    process = subprocess.Popen([sys.executable, "-c", FAULT, *args], cwd=cwd, env={**ENV, "SPECC_FAULT": fault},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline, seen = time.monotonic() + timeout, []
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stderr], [], [], 0.5)
            line = process.stderr.readline() if ready else ""
            if line.startswith(STOPPED):
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
                assert process.returncode == -signal.SIGKILL
                return line
            seen.append(line)
            if not line and process.poll() is not None:
                break
        pytest.fail(f"specc {' '.join(args)} ended (exit {process.poll()}) before {fault}:\n{''.join(seen)[-3000:]}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stderr.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if is_temporary(p.name))


# -- codegen over an existing script -----------------------------------------------------------------


@pytest.fixture
def two_specs(tmp_path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(QUICKSTART.read_text())
    new.write_text(QUICKSTART.read_text().replace("epochs: 20", "epochs: 21").replace("units: 64", "units: 48"))
    return old, new


@pytest.mark.parametrize("fault", ["create:train.py:1", "write:train.py:1", "replace:train.py:1"])
def test_codegen_killed_mid_write_keeps_the_old_script_whole(two_specs, tmp_path, capsys, fault):
    old, new = two_specs
    assert main(["codegen", str(old), "-o", str(tmp_path / "train.py")]) == 0
    before = (tmp_path / "train.py").read_text()
    killed_at(fault, ["codegen", "new.yaml", "-o", "train.py"], tmp_path)
    assert (tmp_path / "train.py").read_text() == before  # the old script, whole
    # A leftover is hidden, no .py (no linter or test runner picks it up), and no later run minds it.
    assert all(name.startswith(".train.py.specc-") and name.endswith(".tmp") for name in leftovers(tmp_path))
    assert sorted(p.name for p in tmp_path.glob("*.py") if not p.name.startswith(".")) == ["train.py"]
    assert main(["codegen", str(new), "-o", str(tmp_path / "train.py")]) == 0
    assert main(["codegen", str(new), "-o", str(tmp_path / "train.py"), "--check"]) == 0
    capsys.readouterr()
    compile((tmp_path / "train.py").read_text(), "train.py", "exec")


def test_codegen_killed_at_a_spread_of_moments_leaves_old_or_new_never_partial(two_specs, tmp_path, capsys, monkeypatch):
    """Without a trigger: kills after a spread of delays, from before the write to after it."""
    monkeypatch.chdir(tmp_path)  # the script names its spec as the command line does
    target = tmp_path / "train.py"
    main(["codegen", "new.yaml", "-o", "train.py"])
    complete = target.read_text()
    main(["codegen", "old.yaml", "-o", "train.py"])
    before = target.read_text()
    capsys.readouterr()
    outcomes = set()
    for delay in (0.02, 0.2, 0.35, 0.5, 0.7, 1.0, 3.0):
        process = subprocess.Popen([sys.executable, "-m", "specc", "codegen", "new.yaml", "-o", "train.py"], cwd=tmp_path,
                                   env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        text = target.read_text()
        assert text in (before, complete), f"partial train.py after {delay} s"
        outcomes.add(text == complete)
        if text == complete:
            target.write_text(before)
    assert outcomes == {False, True}, "no kill came before the write, or none after it"
    assert all(is_temporary(name) for name in leftovers(tmp_path))


# -- build over an existing model file ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["zip:model.keras:1"])
def test_build_killed_mid_save_keeps_the_old_model_loadable(two_specs, tmp_path, capsys, fault):
    import keras

    old, new = two_specs
    assert main(["build", str(old), "-o", str(tmp_path / "model.keras")]) == 0
    before = (tmp_path / "model.keras").read_bytes()
    killed_at(fault, ["build", "new.yaml", "-o", "model.keras"], tmp_path)
    assert (tmp_path / "model.keras").read_bytes() == before
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert model.layers[0].units == 64  # the old model's, not the new one's 48
    assert all(name.startswith(".model.keras.specc-") for name in leftovers(tmp_path))


# -- train: every file of the run folder whole, and --resume completes the run ------------------------


def assert_whole(run_dir: Path) -> None:
    """Each file of the run folder absent, or complete and loadable; the backup's weights load into the model."""
    import keras

    spec = specc.load(QUICKSTART, SHORT)
    if (run_dir / "spec.resolved.yaml").exists():
        assert specc.load(run_dir / "spec.resolved.yaml").sha256 == spec.sha256
    history = json.loads((run_dir / "history.json").read_text()) if (run_dir / "history.json").exists() else None
    if history is not None:
        assert all(len(values) == len(history["epochs"]) for values in history.values())
    if (run_dir / "model.keras").exists():
        keras.saving.load_model(run_dir / "model.keras")
    backup = run_dir / "backup"
    if (backup / "training_metadata.json").exists():
        json.loads((backup / "training_metadata.json").read_text())
    if (backup / "latest.weights.h5").exists():
        from specc.build import build_model

        build_model(spec).load_weights(backup / "latest.weights.h5")
    assert not (run_dir / "metrics.json").exists()  # killed: unfinished


# (the step, its file, which write of it; what the run had done)
TRAIN_FAULTS = [
    pytest.param("create:spec.resolved.yaml:1", id="first-file"),
    pytest.param("write:history.json:2", id="history"),
    pytest.param("h5:latest.weights.h5:2", id="backup-weights"),
    pytest.param("zip:model.keras:1", id="model"),
]


@pytest.mark.slow
@pytest.mark.parametrize("fault", TRAIN_FAULTS)
def test_train_killed_mid_write_leaves_whole_files_and_resumes(tmp_path, capsys, fault):
    run_dir = tmp_path / "run"
    sets = [w for s in SHORT for w in ("--set", s)]
    killed_at(fault, ["train", str(QUICKSTART), *sets, "--out", "run"], tmp_path)
    assert leftovers(run_dir) or leftovers(run_dir / "backup")  # what the kill cut short
    assert_whole(run_dir)
    # the first file cut short: the folder holds no run yet, and a plain `specc train` takes it (no --resume)
    again = [] if fault.startswith("create:spec.resolved") else ["--resume"]
    code = main(["train", str(QUICKSTART), *sets, "--out", str(run_dir), *again])
    assert code == 0, capsys.readouterr()
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epochs"] == list(range(EPOCHS))
    assert all(len(values) == EPOCHS for values in history.values())
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == sorted(["spec.resolved.yaml", "history.json", "model.keras", "curves.png", "metrics.json"]), names
