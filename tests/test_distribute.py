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

import numpy as np
import pytest

import specc
from specc.run import distribute
from specc.cli import main
from specc.errors import SpecError
from scripts import train_script

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


def test_a_worker_refuses_what_its_chief_refuses(tmp_path, monkeypatch, capsys):
    """A worker must not wait forever on a chief that refused the run folder: it refuses it too, at once."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.resolved.yaml").write_text("# sha256: " + "0" * 64 + "\n")
    monkeypatch.setenv("TF_CONFIG", cluster(1)["TF_CONFIG"])
    assert main(["train", QUICKSTART, "--set", MULTI_WORKER, "--out", str(run), "--resume"]) == 2
    assert "the spec changed since the run in" in capsys.readouterr().err
    (run / "metrics.json").write_text("{}")
    assert main(["train", QUICKSTART, "--set", MULTI_WORKER, "--out", str(run), "--resume"]) == 2
    assert "holds a finished run" in capsys.readouterr().err


def test_workers_flag_needs_a_multi_worker_spec(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["train", "--workers", "2", QUICKSTART, "--out", str(tmp_path / "run")]) == 2
    assert "--workers runs a multi_worker_mirrored spec, and this one has no train.distribution" in capsys.readouterr().err
    assert main(["train", "--workers", "0", QUICKSTART, "--set", MULTI_WORKER]) == 2
    monkeypatch.setenv("TF_CONFIG", cluster(0)["TF_CONFIG"])
    assert main(["train", "--workers", "2", QUICKSTART, "--set", MULTI_WORKER]) == 2
    assert "TF_CONFIG is set" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def last_line(path: Path) -> int:
    """The line number of a file's last line: the one a test appended to an example spec."""
    return len(path.read_text(encoding="utf-8").splitlines())


def test_another_backend_is_refused_not_silently_run_on_one_device(tmp_path, monkeypatch):
    import keras

    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(Path(QUICKSTART).read_text() + "  distribution: {strategy: mirrored}\n")
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(SpecError) as raised:
        distribute.make_strategy(specc.load(spec_path))
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.where == "train.distribution" and diagnostic.location.line == last_line(spec_path)
    assert diagnostic.message.startswith("tf.distribute strategies run on the TensorFlow backend, and KERAS_BACKEND is jax")


def test_a_device_the_machine_lacks_is_located(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(Path(QUICKSTART).read_text() + "  distribution: {strategy: mirrored, devices: [/cpu:0, /gpu:7]}\n")
    with pytest.raises(SpecError) as raised:
        distribute.make_strategy(specc.load(spec_path))
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.where == "train.distribution.devices[1]" and diagnostic.location.line == last_line(spec_path)
    assert diagnostic.message.startswith("no device /gpu:7 here (this process has /cpu:0")


# -- mirrored over two logical CPUs ------------------------------------------------------

INSIDE_THE_STRATEGY = textwrap.dedent("""\
    import json, sys
    import specc
    from specc.run import distribute
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


# -- two workers on loopback ---------------------------------------------------------------


def worker_pids(launcher: subprocess.Popen) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()]


@pytest.mark.slow
def test_a_killed_worker_resumes_the_job_from_the_chiefs_backup(tmp_path):
    """Two local workers; one is killed; the resumed job completes, and only the chief wrote the run folder."""
    run = tmp_path / "run"
    args = ["--workers", "2", QUICKSTART, "--set", MULTI_WORKER, "--set", "train.epochs=8", "--out", "run"]
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
    assert "specc: MultiWorkerMirroredStrategy with 2 replicas: each global batch of 32 is 16 per replica" in \
        resumed.stderr
    first_epoch = next(line for line in resumed.stdout.splitlines() if line.startswith("Epoch "))
    assert first_epoch == f"Epoch {saved + 1}/8"  # from the last completed epoch, not from the start
    after = history_of(run)
    assert after["epochs"] == list(range(8))
    assert after["loss"][:saved] == before["loss"][:saved]  # the backed-up epochs are kept, not redone
    assert json.loads((run / "metrics.json").read_text())["accuracy"] >= 0.9
    assert {p.name for p in run.iterdir()} == RUN_FILES  # complete, and nothing of the other worker's
    assert not worker.exists() and not worker.with_suffix(".log").exists()  # its own folder, removed at the end


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_says_how_to_resume_the_job(tmp_path):
    run = tmp_path / "run"
    args = ["--workers", "2", QUICKSTART, "--set", MULTI_WORKER, "--set", "train.epochs=40", "--out", "run"]
    launcher = subprocess.Popen([sys.executable, "-m", "specc", "train", *args], cwd=tmp_path, env=ENV, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and launcher.poll() is None:
        try:
            if len(history_of(run)["epochs"]) >= 2:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    workers = worker_pids(launcher)
    os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
    _, err = launcher.communicate(timeout=120)
    assert launcher.returncode == 130, err[-3000:]
    assert err.count("Continue with --resume:") == 1  # the chief's, naming the whole job's command
    assert f"  specc train --workers 2 {QUICKSTART} --set {MULTI_WORKER} --set train.epochs=40 --out run --resume" in err
    assert "Traceback" not in err
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert (run / "spec.resolved.yaml").is_file() and not (run / "metrics.json").exists()


# -- the generated script, with the same semantics ------------------------------------------


def generated(tmp_path: Path, *overrides: str) -> Path:
    """The quickstart's script with `overrides` applied, written as `specc codegen -o` writes it."""
    from specc.emit import render_script

    script = tmp_path / "gen.py"
    script.write_text(render_script(specc.load(QUICKSTART, list(overrides)), QUICKSTART, script), encoding="utf-8")
    return script


def run_script_workers(script: Path, count: int, *args: str) -> list[subprocess.Popen]:
    """`count` processes of the script, each with its TF_CONFIG: a cluster as a cluster manager starts it."""
    from specc.run.workers import free_ports, tf_config

    addresses = [f"127.0.0.1:{port}" for port in free_ports(count)]
    return [subprocess.Popen([sys.executable, str(script), *args], cwd=script.parent, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env={**ENV, "TF_CONFIG": tf_config(addresses, index)})
            for index in range(count)]


SCRIPT_INSIDE_THE_STRATEGY = textwrap.dedent("""\
    import json, sys
    sys.path.insert(0, ".")
    import gen

    strategy = gen.make_strategy()
    data = gen.load_data()
    x, y = next(iter(gen.distribute_dataset(strategy, gen.make_dataset(*data["train"], 64, True, 1))))
    with strategy.scope():
        model = gen.build_model()
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "x": [list(t.shape) for t in strategy.experimental_local_results(x)],
        "variables": sorted({type(v.value).__name__ for v in model.weights}),
    }))
""")


@pytest.mark.slow
def test_mirrored_trains_as_well_as_one_device_and_the_generated_script_alike(tmp_path):
    """specc train on two CPU replicas reaches one device's accuracy; the script splits its batches alike and its
    first epochs are specc's."""
    linear = "train.distribution.scale_learning_rate=linear"
    result = specc_train(QUICKSTART, "--set", MIRRORED, "--set", linear, "--set", "train.verbose=0", "--out", "run",
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "specc: MirroredStrategy with 2 replicas: each global batch of 32 is 16 per replica" in result.stderr
    assert {p.name for p in (tmp_path / "run").iterdir()} == RUN_FILES
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.95  # one device reaches 0.975 (tests/test_train.py asserts 0.95 too)

    script = generated(tmp_path, MIRRORED, linear)
    text = script.read_text(encoding="utf-8")
    assert "import specc" not in text and "from specc" not in text
    assert "        rate.assign(rate.numpy() * strategy.num_replicas_in_sync)\n" in text  # inside the scope
    inside = subprocess.run([sys.executable, "-c", SCRIPT_INSIDE_THE_STRATEGY], cwd=tmp_path, env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert inside.returncode == 0, inside.stderr[-3000:]
    seen = json.loads(inside.stdout.strip().splitlines()[-1])
    assert seen == {"replicas": 2, "x": [[32, 64], [32, 64]], "variables": ["MirroredVariable"]}
    history, _ = train_script(script, tmp_path / "out", epochs=2)
    ours = history_of(tmp_path / "run")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history[key], ours[key][:2], rtol=1e-5, err_msg=key)
    assert (tmp_path / "out" / "model.keras").is_file()


@pytest.mark.slow
def test_generated_script_on_two_workers_matches_specc_train_workers(tmp_path):
    """Two processes of the script, as on a cluster, train exactly as `specc train --workers 2` does."""
    overrides = [MULTI_WORKER, "train.epochs=3", "train.verbose=0"]
    ours = specc_train("--workers", "2", QUICKSTART, *[w for o in overrides for w in ("--set", o)], "--out", "run",
                       cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr[-3000:]
    script = generated(tmp_path, *overrides)
    workers = run_script_workers(script, 2, "--out", "out")
    outputs = [worker.communicate(timeout=600) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs[1][1][-3000:]
    theirs = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert theirs[0] == theirs[1]  # one model, synchronised
    expected = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert theirs[0]["accuracy"] == pytest.approx(expected["accuracy"], rel=1e-5)
    assert theirs[0]["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["model.keras"]  # the chief's; its backup removed at the end
    assert not distribute.worker_dir(tmp_path / "out", distribute.Role("worker", 1, 2, False)).exists()


@pytest.mark.slow
def test_generated_script_workers_restarted_after_a_kill_resume_from_the_backup(tmp_path):
    script = generated(tmp_path, MULTI_WORKER, "train.epochs=8", "train.verbose=2")
    metadata = tmp_path / "out" / "backup" / "training_metadata.json"
    workers = run_script_workers(script, 2, "--out", "out")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and all(w.poll() is None for w in workers):
        try:
            if json.loads(metadata.read_text())["epoch"] >= 3:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
    workers[1].kill()  # a worker dies; its cluster manager restarts the job: every worker, the chief too
    workers[0].kill()
    for worker in workers:
        worker.communicate()
    saved = json.loads(metadata.read_text())["epoch"]
    worker_backup = distribute.worker_dir(tmp_path / "out", distribute.Role("worker", 1, 2, False)) / "backup"
    assert (worker_backup / "latest.weights.h5").is_file()  # the other worker backed up to its own folder

    restarted = run_script_workers(script, 2, "--out", "out")
    outputs = [worker.communicate(timeout=600) for worker in restarted]
    assert [worker.returncode for worker in restarted] == [0, 0], outputs[0][1][-3000:]
    for out, _ in outputs:
        epochs = [line for line in out.splitlines() if line.startswith("Epoch ")]
        assert epochs[0] == f"Epoch {saved + 1}/8" and epochs[-1] == "Epoch 8/8"  # resumed, not restarted
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["model.keras"]
