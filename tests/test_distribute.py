"""`train.distribution`: tf.distribute strategies from the spec, on this machine's CPU.

Mirrored training runs over two logical CPU devices (specc splits the CPU when
the spec names /cpu:1); multi-worker training runs as two local worker
processes on loopback (`specc train --workers 2`), each with its TF_CONFIG.
TensorFlow fixes its devices when it starts, so everything that trains runs
in a fresh process.
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
from specc import distribute
from specc.cli import main
from specc.errors import SpecError

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = str(ROOT / "specs" / "quickstart.yaml")
MIRRORED = "train.distribution={strategy: mirrored, devices: [/cpu:0, /cpu:1]}"
MULTI_WORKER = "train.distribution=multi_worker_mirrored"
RUN_FILES = {"spec.resolved.yaml", "model.keras", "history.json", "metrics.json", "curves.png"}
ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}


def cluster(index: int, workers: int = 2, chief: bool = False) -> dict:
    config = {"cluster": {"worker": [f"127.0.0.1:{2000 + i}" for i in range(workers)]}, "task": {"type": "worker", "index": index}}
    if chief:
        config["cluster"]["chief"] = ["127.0.0.1:1999"]
    return {"TF_CONFIG": json.dumps(config)}


def specc_train(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "specc", "train", *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=600)


def history_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "history.json").read_text())


# -- roles and refusals ------------------------------------------------------------------


def test_each_worker_reads_its_role_from_tf_config():
    spec = specc.load(QUICKSTART, [MULTI_WORKER])
    assert distribute.role(spec, {}) is None  # no cluster: it trains alone
    assert distribute.role(spec, cluster(0)) == distribute.Role("worker", 0, 2, True)  # worker 0 is the chief...
    assert distribute.role(spec, cluster(1)) == distribute.Role("worker", 1, 2, False)
    assert distribute.role(spec, cluster(0, chief=True)) == distribute.Role("worker", 0, 3, False)  # ...unless there is one
    chief = {"TF_CONFIG": json.dumps({**json.loads(cluster(0, chief=True)["TF_CONFIG"]), "task": {"type": "chief", "index": 0}})}
    assert distribute.role(spec, chief) == distribute.Role("chief", 0, 3, True)
    assert distribute.role(specc.load(QUICKSTART, [MIRRORED]), cluster(1)) is None  # TF_CONFIG is for multi-worker only
    with pytest.raises(distribute.ClusterError, match="not a tf.distribute cluster description"):
        distribute.role(spec, {"TF_CONFIG": "{not json"})
    with pytest.raises(distribute.ClusterError, match=r"task worker #2 is not in its cluster \(2 worker\)"):
        distribute.role(spec, cluster(2))


def test_workers_write_outside_the_chiefs_run_folder(tmp_path):
    run = tmp_path / "run"
    own = distribute.worker_dir(run, distribute.Role("worker", 1, 2, False))
    assert not own.is_relative_to(run) and own == distribute.worker_dir(tmp_path / "." / "run", distribute.Role("worker", 1, 2, False))
    assert own != distribute.worker_dir(run, distribute.Role("worker", 2, 3, False))


def test_a_worker_needs_the_run_folder_named(monkeypatch, capsys):
    monkeypatch.setenv("TF_CONFIG", cluster(1)["TF_CONFIG"])
    assert main(["train", QUICKSTART, "--set", MULTI_WORKER]) == 2
    assert "every worker needs --out DIR, the chief's run folder" in capsys.readouterr().err


def test_workers_flag_needs_a_multi_worker_spec(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["train", "--workers", "2", QUICKSTART, "--out", str(tmp_path / "run")]) == 2
    assert "--workers runs a multi_worker_mirrored spec, and this one has no train.distribution" in capsys.readouterr().err
    assert main(["train", "--workers", "0", QUICKSTART, "--set", MULTI_WORKER]) == 2
    monkeypatch.setenv("TF_CONFIG", cluster(0)["TF_CONFIG"])
    assert main(["train", "--workers", "2", QUICKSTART, "--set", MULTI_WORKER]) == 2
    assert "TF_CONFIG is set" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_another_backend_is_refused_not_silently_run_on_one_device(tmp_path, monkeypatch):
    import keras

    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(Path(QUICKSTART).read_text() + "  distribution: {strategy: mirrored}\n")
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(SpecError) as raised:
        distribute.make_strategy(specc.load(spec_path))
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.where == "train.distribution" and diagnostic.location.line == 25
    assert diagnostic.message.startswith("tf.distribute strategies run on the TensorFlow backend, and KERAS_BACKEND is jax")


def test_a_device_the_machine_lacks_is_located(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(Path(QUICKSTART).read_text() + "  distribution: {strategy: mirrored, devices: [/cpu:0, /gpu:7]}\n")
    with pytest.raises(SpecError) as raised:
        distribute.make_strategy(specc.load(spec_path))
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.where == "train.distribution.devices[1]" and diagnostic.location.line == 25
    assert diagnostic.message.startswith("no device /gpu:7 here (this process has /cpu:0")


# -- mirrored over two logical CPUs ------------------------------------------------------

INSIDE_THE_STRATEGY = textwrap.dedent("""\
    import json, sys
    import specc
    from specc import distribute
    from specc.data import load_arrays, to_dataset

    spec = specc.load(sys.argv[1], sys.argv[2:])
    strategy = distribute.make_strategy(spec)
    arrays = load_arrays(spec)
    dataset = distribute.distribute_dataset(strategy, to_dataset(arrays.train, 64, shuffle=True, seed=1, shuffle_buffer=None))
    x, y = next(iter(dataset))
    with strategy.scope():
        model = specc.build_model(spec)
        distribute.scale_learning_rate(spec, model, strategy)
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "x": [[list(t.shape), t.device] for t in strategy.experimental_local_results(x)],
        "y": [list(t.shape) for t in strategy.experimental_local_results(y)],
        "learning_rate": float(model.optimizer.learning_rate.numpy()),
        "variables": sorted({type(v.value).__name__ for v in model.weights + model.optimizer.variables}),
    }))
""")


def test_mirrored_splits_each_global_batch_across_two_cpu_replicas():
    result = subprocess.run([sys.executable, "-c", INSIDE_THE_STRATEGY, QUICKSTART, MIRRORED, "train.batch_size=64",
                             "train.distribution.scale_learning_rate=linear"], env=ENV, capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["replicas"] == 2
    assert [shape for shape, _ in seen["x"]] == [[32, 64], [32, 64]] and seen["y"] == [[32, 10], [32, 10]]
    assert [device.rsplit("/", 1)[-1] for _, device in seen["x"]] == ["device:CPU:0", "device:CPU:1"]
    assert seen["learning_rate"] == pytest.approx(0.003 * 2)  # the spec's 0.003, scaled for 2 replicas
    assert seen["variables"] == ["MirroredVariable"]  # model and optimizer were made inside the scope


@pytest.mark.slow
def test_mirrored_trains_the_quickstart_as_well_as_one_device(tmp_path):
    result = specc_train(QUICKSTART, "--set", MIRRORED, "--set", "train.verbose=0", "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "specc: MirroredStrategy with 2 replicas: each global batch of 32 is 16 per replica" in result.stderr
    assert {p.name for p in (tmp_path / "run").iterdir()} == RUN_FILES
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.95  # one device reaches 0.975 (tests/test_train.py asserts 0.95 too)


# -- two workers on loopback ---------------------------------------------------------------


def worker_pids(launcher: subprocess.Popen) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()]


@pytest.mark.slow
def test_two_local_workers_train_and_only_the_chief_writes_the_run_folder(tmp_path):
    run = tmp_path / "run"
    result = specc_train("--workers", "2", QUICKSTART, "--set", MULTI_WORKER, "--set", "train.epochs=5", "--set",
                         "train.verbose=0", "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "specc: MultiWorkerMirroredStrategy with 2 replicas: each global batch of 32 is 16 per replica" in result.stderr
    assert {p.name for p in run.iterdir()} == RUN_FILES  # complete, and nothing of the other worker's
    assert history_of(run)["epochs"] == [0, 1, 2, 3, 4]
    assert json.loads((run / "metrics.json").read_text())["accuracy"] >= 0.9
    worker = distribute.worker_dir(run, distribute.Role("worker", 1, 2, False))
    assert not worker.exists() and not worker.with_suffix(".log").exists()  # its own folder, removed at the end


@pytest.mark.slow
def test_a_killed_worker_resumes_the_job_from_the_chiefs_backup(tmp_path):
    run = tmp_path / "run"
    args = ["--workers", "2", QUICKSTART, "--set", MULTI_WORKER, "--set", "train.epochs=12", "--out", "run"]
    launcher = subprocess.Popen([sys.executable, "-m", "specc", "train", *args], cwd=tmp_path, env=ENV, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and launcher.poll() is None:
        try:
            if len(history_of(run)["epochs"]) >= 3:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    assert launcher.poll() is None, launcher.communicate()
    _, other = worker_pids(launcher)
    os.kill(other, signal.SIGKILL)
    before = history_of(run)
    _, err = launcher.communicate(timeout=120)
    assert launcher.returncode == 1
    assert "specc: worker 1 was killed by SIGKILL; stopped the other workers." in err
    assert f"Continue with --resume:\n  specc train --workers 2 {QUICKSTART} --set {MULTI_WORKER} " in err
    worker = distribute.worker_dir(run, distribute.Role("worker", 1, 2, False))
    assert (worker / "backup" / "latest.weights.h5").is_file()  # the worker backed up, to its own folder
    saved = json.loads((run / "backup" / "training_metadata.json").read_text())["epoch"]

    resumed = specc_train(*args, "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    first_epoch = next(line for line in resumed.stdout.splitlines() if line.startswith("Epoch "))
    assert first_epoch == f"Epoch {saved + 1}/12"  # from the last completed epoch, not from the start
    after = history_of(run)
    assert after["epochs"] == list(range(12))
    assert after["loss"][:saved] == before["loss"][:saved]  # the backed-up epochs are kept, not redone
    assert {p.name for p in run.iterdir()} == RUN_FILES
    assert not worker.exists()
