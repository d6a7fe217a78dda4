"""`train.distribution`: the spec's tf.distribute strategy, wired the way the tf.distribute guide says.

specc does not distribute anything itself. It creates the strategy (before any
other TensorFlow work, as MultiWorkerMirroredStrategy requires), builds and
compiles the model inside `strategy.scope()`, shards the input pipeline by data
(every source is in memory by then) and hands Keras the dataset distributed by
the strategy, with `batch_size` as the global batch. Each worker of a cluster
reads its role from TF_CONFIG; only the chief writes the run folder, the other
workers write to a folder of their own under the system's temporary folder.

One thing here is not plain tf.distribute: `repair_multi_worker_fit`, a narrow
workaround for Keras 3's Model.fit under MultiWorkerMirroredStrategy
(keras-team/keras#20585). Everything that touches Keras's internals is in it,
in specc.run.repair (which generated scripts contain as it is).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from specc.codes import Code
from specc.errors import Diagnostic, SpecError, dotted
from specc.ir import Call, Compile, Spec
from specc.run.repair import repair_multi_worker_fit  # noqa: F401 (specc.run.distribute's name too)

SECTION = ("train", "distribution")


@dataclass(frozen=True)
class Role:
    """This process's place in a TF_CONFIG cluster."""

    task_type: str  # "worker" or "chief"
    task_index: int
    workers: int  # tasks that train: chief and workers
    is_chief: bool  # the one that writes the run folder: the `chief` task, else worker 0


class ClusterError(Exception):
    """TF_CONFIG is malformed or does not fit the spec: a usage error, said in one line."""


def role(spec: Spec, environ=os.environ) -> Role | None:
    """The role TF_CONFIG gives this process, for multi_worker_mirrored; None when it trains alone."""
    section = spec.distribution
    if section is None or section.strategy != "multi_worker_mirrored" or not environ.get("TF_CONFIG"):
        return None
    try:
        config = json.loads(environ["TF_CONFIG"])
        cluster, task = config["cluster"], config["task"]
        task_type, index = str(task["type"]), int(task["index"])
        trainers = {kind: list(cluster.get(kind) or []) for kind in ("chief", "worker")}
    except (ValueError, KeyError, TypeError) as err:
        raise ClusterError(f"TF_CONFIG is not a tf.distribute cluster description ({err.__class__.__name__}: {err}); "
                           'expected {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}') from None
    if task_type not in trainers or not 0 <= index < len(trainers[task_type]):
        raise ClusterError(f"TF_CONFIG's task {task_type} #{index} is not in its cluster "
                           f"({', '.join(f'{len(v)} {k}' for k, v in trainers.items() if v) or 'no chief or worker'})")
    chief = (task_type == "chief") if trainers["chief"] else (task_type == "worker" and index == 0)
    return Role(task_type, index, len(trainers["chief"]) + len(trainers["worker"]), chief)


def worker_dir(run_dir: Path, who: Role) -> Path:
    """Where a worker that is not the chief writes: its own folder under the system's temporary folder.

    Named after the run folder and the task, so that a restarted worker finds the same place.
    """
    tag = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"specc-{tag}-{who.task_type}-{who.task_index}"


def fresh_worker_dir(run_dir: Path, who: Role) -> Path:
    """worker_dir, emptied: a worker's own files are never needed again (it restores from the chief's)."""
    folder = worker_dir(run_dir, who)
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def copy_backups(chief_dir: Path, own_dir: Path, folders: list[Path]) -> None:
    """The chief's BackupAndRestore folders into a worker's own folder, before training starts.

    A worker writes its backups to its own folder but must restore the chief's: a job
    whose workers resume from different epochs would wait forever on each other. Nothing
    writes them now: the chief writes a backup only at the end of an epoch, which needs
    this worker too.
    """
    for folder in folders:
        try:
            source = chief_dir / folder.relative_to(own_dir)
        except ValueError:  # outside the run folder: every worker names the same place already
            continue
        if source.is_dir():
            shutil.copytree(source, folder, dirs_exist_ok=True)


# -- the strategy ----------------------------------------------------------------------


def _error(code: Code, spec: Spec, path: tuple, message: str) -> SpecError:
    return SpecError([Diagnostic(code, message, spec.location(path), dotted(path))])


def make_strategy(spec: Spec):
    """The spec's tf.distribute strategy, or None without `train.distribution`.

    Call it before any other TensorFlow work: splitting the CPU into logical devices and
    MultiWorkerMirroredStrategy's collectives both have to be set up before TensorFlow starts.
    """
    section = spec.distribution
    if section is None:
        return None
    from specc.build.keras import import_keras

    keras = import_keras()
    if keras.backend.backend() != "tensorflow":
        raise _error(Code.STRATEGY_UNAVAILABLE, spec, SECTION, f"tf.distribute strategies run on the TensorFlow backend, and KERAS_BACKEND is "
                     f"{keras.backend.backend()}: set KERAS_BACKEND=tensorflow (specc does not map them to "
                     "keras.distribution, which the other backends use)")
    import tensorflow as tf

    if section.strategy == "one_device":
        device = section.device or ("/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0")
        _make_devices_exist(spec, tf, [device], [SECTION + ("device",)])
        return tf.distribute.OneDeviceStrategy(device)
    if section.strategy == "mirrored":
        if section.devices is not None:
            _make_devices_exist(spec, tf, section.devices, [SECTION + ("devices", i) for i in range(len(section.devices))])
        ops = section.cross_device_ops
        return tf.distribute.MirroredStrategy(
            list(section.devices) if section.devices else None,
            cross_device_ops=getattr(tf.distribute, ops)() if ops else None)
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=getattr(tf.distribute.experimental.CommunicationImplementation, section.communication))
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def _make_devices_exist(spec: Spec, tf, devices: list[str], paths: list[tuple]) -> None:
    """CPU devices beyond /cpu:0 split the CPU into logical devices; any other missing device is an error."""
    wanted = spec.distribution.logical_cpus
    physical = tf.config.list_physical_devices("CPU")
    if wanted > 1 and len(physical) == 1:
        try:
            tf.config.set_logical_device_configuration(physical[0], [tf.config.LogicalDeviceConfiguration()] * wanted)
        except RuntimeError:  # TensorFlow already started: fine if it has the devices
            pass
    known = {d.name.lower() for d in tf.config.list_logical_devices()}
    for device, path in zip(devices, paths):
        name = tf.DeviceSpec.from_string(device)
        full = f"/device:{(name.device_type or '').lower()}:{name.device_index or 0}"
        if not any(k.endswith(full) for k in known):
            have = ", ".join(sorted(k.replace("/device:", "/") for k in known))
            raise _error(Code.DEVICE, spec, path, f"no device {device} here (this process has {have})")


# -- inside the strategy ---------------------------------------------------------------


def scale_learning_rate(spec: Spec, model, strategy, compiled: Compile | None = None) -> None:
    """`scale_learning_rate: linear`: the optimizer's learning rate times the number of replicas.

    compiled: what the model was compiled with, when not the spec's compile section (a phase's)."""
    section = spec.distribution
    if section is None or section.scale_learning_rate is None or model.optimizer is None:
        return
    compiled = compiled or spec.compile
    optimizer = compiled.optimizer if compiled is not None else None
    if optimizer is not None and isinstance(optimizer.kwargs.get("learning_rate"), Call):
        raise _error(Code.SCALE_SCHEDULE, spec, SECTION + ("scale_learning_rate",), "cannot scale a learning-rate schedule: scale its "
                     "initial_learning_rate in compile.optimizer instead")
    import numpy as np

    rate = model.optimizer.learning_rate
    rate.assign(np.asarray(rate.numpy() if hasattr(rate, "numpy") else rate) * strategy.num_replicas_in_sync)


def distribute_dataset(strategy, dataset, by_file: bool = False):
    """The dataset sharded by data (sources in memory, image folders) or, `by_file`, by file (TFRecord files: each
    worker reads its own), and split by the strategy.

    Each batch of the dataset is a global batch; the strategy gives each replica its share.
    """
    import tensorflow as tf

    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy
    options.experimental_distribute.auto_shard_policy = policy.FILE if by_file else policy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def summary(spec: Spec, strategy, batch_size: int) -> str:
    """One line for the log: which strategy, how many replicas, and how the global batch splits."""
    replicas = int(strategy.num_replicas_in_sync)
    share = f"{batch_size // replicas}" + ("" if batch_size % replicas == 0 else " or so")
    return (f"{spec.distribution.strategy_class} with {replicas} replica{'s' if replicas != 1 else ''}: "
            f"each global batch of {batch_size} is {share} per replica")
