"""The run folder under concurrency and faults: each run claims its folder, and what it cannot use is refused early.

A run holds an exclusive lock on `.specc.lock` in its folder for as long as it
runs: a second run into that folder is refused, two runs started together
without --out get two folders, a lock left by a killed process blocks nothing,
and a folder that cannot be made or written is refused before any data is read.

The claims that race run in separate processes (`python -c`), started together
and held until the test lets them go, so that none can finish before another
starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import specc
from specc.cli import main
from specc.lower.canonical import render_resolved
from specc.run import folder as runs

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "specs" / "quickstart.yaml"
RUN_FILES = {"spec.resolved.yaml", "model.keras", "history.json", "metrics.json", "curves.png"}
SHORT = ["train.epochs=1", "train.verbose=0"]
ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}

# A process that waits for the file `go`, claims a run folder, says what it got, and holds it until its stdin closes.
CLAIMER = textwrap.dedent("""\
    import os, sys, time
    from pathlib import Path
    from specc.run import folder as runs

    how, where, spec_hash = sys.argv[1:4]
    while not os.path.exists("go"):
        time.sleep(0.001)
    try:
        if how == "out":
            claim = runs.claim_run_dir(Path(where), spec_hash, resume=False)
        else:
            claim = runs.claim_default_run_dir(where, spec_hash, resume=False)
    except runs.RunFolderError as err:
        print("refused:", err, flush=True)
        sys.exit(3)
    print("claimed:", claim.dir, flush=True)
    sys.stdin.read()
    claim.release()
""")


def claimers(cwd: Path, count: int, how: str, where: str, spec_hash: str = "0" * 64) -> list[subprocess.Popen]:
    processes = [subprocess.Popen([sys.executable, "-c", CLAIMER, how, where, spec_hash], cwd=cwd, env=ENV, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(count)]
    time.sleep(0.5)  # every one imported and waiting
    (cwd / "go").touch()
    return processes


def first_line(process: subprocess.Popen, timeout: float = 60) -> str:
    """What a claimer said: it speaks once, then holds its claim (or has exited, refused)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line:
            return line.strip()
        if process.poll() is not None:
            pytest.fail(f"the claimer exited ({process.returncode}) without a word: {process.stderr.read()}")
    pytest.fail("the claimer said nothing")


def let_go(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.communicate(timeout=30)


def holder(cwd: Path, where: str, spec_hash: str = "0" * 64) -> subprocess.Popen:
    """One process that holds the run folder `where` (relative to cwd) until let go of, or killed."""
    (process,) = claimers(cwd, 1, "out", where, spec_hash)
    assert first_line(process) == f"claimed: {where}"
    return process


def spec_hash(overrides=SHORT) -> str:
    return specc.load(QUICKSTART, overrides).sha256


# -- two runs, one folder --------------------------------------------------------------


def test_two_claims_of_one_folder_at_once_give_it_to_exactly_one(tmp_path):
    processes = claimers(tmp_path, 4, "out", "run")
    said = sorted(first_line(p) for p in processes)
    let_go(processes)
    assert said[0] == "claimed: run", said
    # The holder writes its pid just after it takes the lock: a claimer that comes in between is refused
    # without the pid in its message.
    assert all(line.startswith("refused: run is in use by another specc train") for line in said[1:]), said
    assert sorted(p.returncode for p in processes) == [0, 3, 3, 3]
    # The winner removes the folder when it made it and wrote nothing. When a refused claimer made it an
    # instant before the winner took it, the winner cannot tell it from a folder the user gave, and leaves
    # it: then empty (see Claim.release in specc/run/folder.py).
    assert not (tmp_path / "run").exists() or os.listdir(tmp_path / "run") == []


def test_a_second_specc_train_into_a_folder_in_use_is_refused(tmp_path):
    process = holder(tmp_path, "run")
    try:
        refused = subprocess.run([sys.executable, "-m", "specc", "train", str(QUICKSTART), "--out", "run"], cwd=tmp_path,
                                 env=ENV, capture_output=True, text=True, timeout=120, check=False)
        assert refused.returncode == 2
        assert refused.stderr.strip() == (f"specc: error: run is in use by another specc train (pid {process.pid}): "
                                          "wait for it to end, or choose another folder with --out DIR")
        assert "Traceback" not in refused.stderr
        assert os.listdir(tmp_path / "run") == [runs.LOCK]  # the holder's folder as it was
        assert (tmp_path / "run" / runs.LOCK).read_text() == f"{process.pid}\n"
    finally:
        let_go([process])


def test_workers_refuse_a_folder_in_use_before_any_worker_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    process = holder(tmp_path, "run")
    try:
        assert main(["train", "--workers", "2", str(QUICKSTART), "--set", "train.distribution=multi_worker_mirrored",
                     "--out", "run"]) == 2
        assert f"run is in use by another specc train (pid {process.pid})" in capsys.readouterr().err
    finally:
        let_go([process])


def test_a_worker_that_is_not_the_chief_takes_no_lock(tmp_path, monkeypatch):
    """The chief holds the run folder; every other worker writes a folder of its own, and must not be refused."""
    from specc.run.train import _prepare_folder

    spec = specc.load(QUICKSTART, ["train.distribution=multi_worker_mirrored"])
    chief = runs.claim_run_dir(tmp_path / "run", spec.sha256, resume=False)  # as the chief holds it
    cluster = {"cluster": {"worker": ["127.0.0.1:2000", "127.0.0.1:2001"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    try:
        run = _prepare_folder(spec, tmp_path / "run", resume=True)
        assert run.claim is None and run.chief_dir == tmp_path / "run" and not run.dir.is_relative_to(tmp_path)
    finally:
        chief.release()


# -- default folders -------------------------------------------------------------------


def test_default_folders_claimed_at_once_are_all_different(tmp_path):
    processes = claimers(tmp_path, 4, "default", "quickstart")
    said = sorted(first_line(p) for p in processes)
    try:
        assert said == ["claimed: runs/quickstart", "claimed: runs/quickstart-2", "claimed: runs/quickstart-3",
                        "claimed: runs/quickstart-4"]
        assert runs.default_run_dir("quickstart") == Path("runs/quickstart")  # a look, not a claim: they hold nothing yet
    finally:
        let_go(processes)


@pytest.mark.slow
def test_two_specc_trains_started_together_without_out_get_two_folders(tmp_path):
    command = [sys.executable, "-m", "specc", "train", str(QUICKSTART), *[w for s in SHORT for w in ("--set", s)]]
    processes = [subprocess.Popen(command, cwd=tmp_path, env=ENV, text=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
    assert sorted(os.listdir(tmp_path / "runs")) == ["quickstart", "quickstart-2"]
    for name in ("quickstart", "quickstart-2"):
        assert set(os.listdir(tmp_path / "runs" / name)) == RUN_FILES  # each finished, and its lock file gone


def test_a_default_folder_in_use_is_passed_over_and_an_earlier_run_untouched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    finished = tmp_path / "runs" / "quickstart"
    finished.mkdir(parents=True)
    (finished / "metrics.json").write_text("{}")
    (finished / "spec.resolved.yaml").write_text("# sha256: " + "0" * 64 + "\n")
    process = holder(tmp_path, "runs/quickstart-2")  # a run loading its data: nothing written yet
    try:
        claim = runs.claim_default_run_dir("quickstart", "0" * 64, resume=False)
        assert claim.dir == Path("runs/quickstart-3") and claim.state == runs.NEW and claim.made
        claim.release()
        assert not claim.dir.exists()
        assert sorted(os.listdir(finished)) == ["metrics.json", "spec.resolved.yaml"]  # no lock taken in it
    finally:
        let_go([process])


# -- a killed run's lock ---------------------------------------------------------------


def killed_holder(tmp_path: Path, where: str, spec_hash: str = "0" * 64) -> None:
    process = holder(tmp_path, where, spec_hash)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert (tmp_path / where / runs.LOCK).is_file()  # left behind, and locked by nobody


def test_a_killed_runs_lock_does_not_block_a_new_run(tmp_path):
    killed_holder(tmp_path, "run")
    claim = runs.claim_run_dir(tmp_path / "run", spec_hash(), resume=False)
    assert claim.state == runs.NEW
    assert (tmp_path / "run" / runs.LOCK).read_text() == f"{os.getpid()}\n"
    claim.release()
    assert os.listdir(tmp_path / "run") == []  # the folder existed before this claim: kept, empty


def test_a_killed_runs_lock_does_not_block_resume(tmp_path):
    spec = specc.load(QUICKSTART, SHORT)
    killed_holder(tmp_path, "run", spec.sha256)
    (tmp_path / "run" / "spec.resolved.yaml").write_text(render_resolved(spec))  # killed after its first file
    with pytest.raises(runs.RunFolderError, match="holds an unfinished run: continue it with --resume"):
        specc.train(QUICKSTART, overrides=SHORT, out=tmp_path / "run")  # the lock file is not what makes it a run
    result = specc.train(QUICKSTART, overrides=SHORT, out=tmp_path / "run", resume=True)
    assert result.history["epochs"] == [0]
    assert set(os.listdir(tmp_path / "run")) == RUN_FILES  # finished: no lock file left


def test_a_folder_with_only_a_killed_runs_lock_is_a_free_default_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    killed_holder(tmp_path, "runs/quickstart")
    assert runs.default_run_dir("quickstart") == Path("runs/quickstart")
    claim = runs.claim_default_run_dir("quickstart", "0" * 64, resume=False)
    assert claim.dir == Path("runs/quickstart")
    claim.release()


# -- a folder that cannot be written ---------------------------------------------------


def refused_before_any_data(monkeypatch, capsys, out: Path, reason: str) -> None:
    import specc.data

    def no_data(*args, **kwargs):
        raise AssertionError("the data was read before the run folder was refused")

    monkeypatch.setattr(specc.data, "load_arrays", no_data)
    assert main(["train", str(QUICKSTART), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"specc: error: cannot write the run folder {out}: {reason}: choose another folder with --out DIR"
    assert not os.path.lexists(out)


def test_an_out_under_a_regular_file_is_refused_before_any_data(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    refused_before_any_data(monkeypatch, capsys, tmp_path / "notes.txt" / "run", "Not a directory")
    assert (tmp_path / "notes.txt").read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_out_in_a_read_only_folder_is_refused_before_any_data(tmp_path, monkeypatch, capsys):
    parent = tmp_path / "read-only"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        refused_before_any_data(monkeypatch, capsys, parent / "run", "Permission denied")
        refused_before_any_data(monkeypatch, capsys, parent / "deeper" / "run", "Permission denied")
    finally:
        parent.chmod(0o700)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_finished_run_says_it_is_finished(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.resolved.yaml").write_text("# sha256: " + "0" * 64 + "\n")
    (run / "metrics.json").write_text("{}")
    run.chmod(0o500)
    try:
        assert main(["train", str(QUICKSTART), "--out", str(run)]) == 2
        assert "holds a finished run" in capsys.readouterr().err
    finally:
        run.chmod(0o700)


# -- what a failed run leaves ----------------------------------------------------------


def test_a_new_run_that_fails_leaves_a_given_empty_folder_empty(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(specc.SpecError, match="the data's samples have shape"):
        specc.train(QUICKSTART, overrides=["model.layers[0].Dense.input_shape=[32]"], out=tmp_path / "run")
    assert os.listdir(tmp_path / "run") == []  # its lock file removed with the rest; the folder was not its own


def test_a_callback_error_releases_the_folder(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(QUICKSTART.read_text() + "  callbacks:\n    - ModelCheckpoint: {filepath: model.keras}\n")
    with pytest.raises(specc.SpecError, match="is where specc writes the run's own model.keras"):
        specc.train(spec, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    runs.claim_run_dir(tmp_path / "run", "0" * 64, resume=False).release()  # free again
