"""Backend 1, train: a spec's model trained on its data, into a run folder.

    import specc
    result = specc.train("specs/quickstart.yaml", overrides=["train.epochs=3"], out="runs/try")
    result.metrics["accuracy"], result.history["val_loss"], result.run_dir

`train` loads the spec, reads its `data:` section and checks the data against
the model's inputs (a located SpecError, before anything is written or
trained), builds the model (`specc.build`), feeds it through tf.data
(shuffled with the spec's seed, batched, prefetched), fits it with the
`train:` section, evaluates it on the test split and writes the run folder
(`specc.runs` describes it). A run stopped by Ctrl-C or a kill continues with
`resume=True` from its last completed epoch (Keras's BackupAndRestore): the
history stays continuous, each epoch recorded once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from specc.run import folder as runs
from specc.atomic import atomic_path, write_text
from specc.errors import Diagnostic, SpecError, dotted
from specc.ir import Spec
from specc.run.folder import RunFolderError

__all__ = ["RunFolderError", "TrainResult", "TrainingInterrupted", "train"]

# Callback arguments that name a file or folder: relative ones are taken relative to the run folder.
PATH_ARGUMENTS = {"ModelCheckpoint": "filepath", "CSVLogger": "filename", "TensorBoard": "log_dir",
                  "BackupAndRestore": "backup_dir"}
DEFAULT_PATHS = {"TensorBoard": "logs"}  # Keras's own default, which would land in the working folder


@dataclass
class TrainResult:
    """What a finished run gives back; the same is in the run folder."""

    history: dict[str, list]  # per epoch, keyed like Keras's History, plus `epochs` (0-based)
    metrics: dict[str, float]  # the evaluation on `evaluated_on`, e.g. {"loss": 0.09, "accuracy": 0.97}
    run_dir: Path
    evaluated_on: str = "test"  # "test", or "validation" / "train" when the data has no test split
    files: dict[str, Path] = field(default_factory=dict)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: every completed epoch is kept in `run_dir`; `resume=True` (`--resume`) continues it."""

    def __init__(self, run_dir: Path):
        super().__init__(str(run_dir))
        self.run_dir = run_dir


def train(spec: Spec | str | os.PathLike, *, overrides: Sequence[str] = (), out: str | os.PathLike | None = None,
          resume: bool = False) -> TrainResult:
    """Train the spec's model on its data and write the run folder (default: runs/<spec name>).

    Raises SpecError (located) for a problem in the spec or its data, RunFolderError when
    the folder already holds a run (finished, or unfinished without `resume`) or the spec
    changed since it started, and TrainingInterrupted on Ctrl-C.
    """
    from specc.pipeline import as_spec

    spec = as_spec(spec, overrides)
    from specc.lower.canonical import content_hash, render_resolved
    from specc.schema import TrainSection

    section = spec.document.train or TrainSection()
    if spec.resolved.get("data") is None:
        location = spec.positions.value(()) if spec.positions is not None else None
        raise SpecError([Diagnostic("train needs a data: section saying what to train on, e.g. "
                                    "data: {source: {builtin: digits}}", location, "data")])
    from specc.run import distribute

    run_dir, chief_dir = _run_folders(spec, out, resume)
    callback_specs = _callback_specs(spec, run_dir)  # located errors before anything runs
    if chief_dir is None:
        state = runs.check_run_dir(run_dir, content_hash(spec), resume)
    else:  # every worker restores the chief's backup: all must start from the same epoch and weights
        state = runs.NEW
        backups = [Path(c.args["backup_dir"]) for c in callback_specs if c.name == "BackupAndRestore" and "backup_dir" in c.args]
        distribute.copy_backups(chief_dir, run_dir, [run_dir / runs.BACKUP, *backups])
    folder_existed = run_dir.exists()
    strategy = distribute.make_strategy(spec)  # before any other TensorFlow work
    if strategy is not None:
        print(f"specc: {distribute.summary(spec, strategy, section.batch_size)}", file=sys.stderr)

    from specc.data import check_labels, check_shapes, data_section, load_arrays, to_dataset

    splits = load_arrays(spec)
    check_shapes(spec, splits)
    _check_class_weight(spec, section, splits)
    data = data_section(spec)

    from specc.build import build_model, import_keras

    keras = import_keras()
    policy = keras.mixed_precision.global_policy()
    if section.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        # Killed after fit, before the end. A worker follows the chief's folder, so all skip fit together.
        fit_done = (chief_dir / runs.MODEL).is_file() if chief_dir is not None else (
            state == runs.RESUME and (run_dir / runs.MODEL).is_file())
        with strategy.scope() if strategy is not None else contextlib.nullcontext():  # model, optimizer, metrics
            model = keras.saving.load_model((chief_dir or run_dir) / runs.MODEL) if fit_done else build_model(spec)
            if strategy is not None and not fit_done:
                distribute.scale_learning_rate(spec, model, strategy)
        if strategy is not None:
            distribute.repair_multi_worker_fit(model, strategy)
        if model.built:  # a model without declared inputs gets its shapes from the first batch
            check_labels(spec, splits, {name: tuple(t.shape[1:]) for name, t in zip(spec.graph.outputs, model.outputs)})
        history = runs.History.read(run_dir / runs.HISTORY) if state == runs.RESUME else runs.History()
        callbacks = _callbacks(keras, spec, callback_specs, run_dir, history, resume=state == runs.RESUME)
        if state == runs.NEW:  # the first file: from here on the folder holds this (unfinished) run
            write_text(run_dir / runs.RESOLVED, render_resolved(spec))

        def feed(dataset):
            return distribute.distribute_dataset(strategy, dataset) if strategy is not None else dataset
        try:
            if not fit_done:
                train_data = to_dataset(splits.train, section.batch_size, shuffle=section.shuffle, seed=spec.seed,
                                        shuffle_buffer=data.shuffle_buffer)
                if section.steps_per_epoch is not None:
                    train_data = train_data.repeat()  # steps_per_epoch counts batches across epochs, not per pass
                train_data = feed(train_data)
                validation = (feed(to_dataset(splits.validation, section.batch_size, shuffle=False, seed=spec.seed,
                                              shuffle_buffer=None)) if splits.validation is not None else None)
                model.fit(train_data, validation_data=validation, epochs=section.epochs, callbacks=callbacks,
                          shuffle=False,  # Keras cannot shuffle a dataset (and warns); to_dataset shuffled it
                          class_weight=section.class_weight, steps_per_epoch=section.steps_per_epoch,
                          validation_freq=section.validation_freq, verbose=section.verbose)
                _save_model(model, run_dir / runs.MODEL)
                runs.write_json(run_dir / runs.HISTORY, history.data)
            evaluated_on, arrays = next((name, a) for name, a in (("test", splits.test), ("validation", splits.validation),
                                                                  ("train", splits.train)) if a is not None)
            scores = model.evaluate(feed(to_dataset(arrays, section.batch_size, shuffle=False, seed=spec.seed,
                                                    shuffle_buffer=None)), return_dict=True, verbose=0)
            metrics = {name: float(value) for name, value in scores.items()}
            runs.plot_curves(history.data, run_dir / runs.CURVES, title=spec.name)
            report: dict[str, Any] = {"split": evaluated_on, **metrics}
            if evaluated_on != "test":
                report["note"] = (f"the data has no test split: evaluated on the {evaluated_on} split "
                                  "(give data.split.test for a held-out evaluation)")
            runs.write_json(run_dir / runs.METRICS, report)  # last: it marks the run finished
            runs.remove_backup(run_dir)
        except KeyboardInterrupt:
            raise TrainingInterrupted(run_dir) from None
        except Exception:
            if state == runs.NEW and not history.epochs:  # Keras failed before the first epoch: nothing to resume
                runs.discard_new_run(run_dir, remove_folder=not folder_existed)
            raise
    finally:
        keras.mixed_precision.set_global_policy(policy)
    if chief_dir is not None:  # a worker's own copies: the chief's folder holds the run
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir = chief_dir
    files = {name: run_dir / name for name in runs.OWN_FILES}
    return TrainResult(history.data, metrics, run_dir, evaluated_on, files)


def _run_folders(spec: Spec, out: str | os.PathLike | None, resume: bool) -> tuple[Path, Path | None]:
    """(where this process writes, the chief's run folder when this process is a worker that is not the chief).

    Alone, or as the chief of a TF_CONFIG cluster, it writes the run folder. Every other
    worker writes to a fresh folder of its own, as the tf.distribute guide prescribes, after
    refusing what the chief refuses (so that it does not wait forever on a chief that stopped).
    """
    from specc.run import distribute
    from specc.lower.canonical import content_hash

    who = distribute.role(spec)  # None unless multi_worker_mirrored in a TF_CONFIG cluster
    if who is not None and out is None:
        raise distribute.ClusterError("in a multi-worker cluster every worker needs --out DIR, the chief's run folder "
                                      "(on storage all workers share)")
    if who is None or who.is_chief:
        return (Path(out) if out is not None else runs.default_run_dir(spec.name, resume)), None
    chief_dir = Path(out)
    if (chief_dir / runs.RESOLVED).is_file():  # read-only: a finished run, or a changed spec
        runs.check_run_dir(chief_dir, content_hash(spec), resume=True)
    return distribute.fresh_worker_dir(chief_dir, who), chief_dir


def resume_command(spec_path: str, overrides: Sequence[str], out: str | os.PathLike | None) -> str:
    """The command line that continues a run, for messages."""
    words = ["specc", "train", spec_path, *[w for o in overrides for w in ("--set", o)]]
    if out is not None:
        words += ["--out", str(out)]
    return shlex.join([*words, "--resume"])


def _check_class_weight(spec: Spec, section, splits) -> None:
    """Keras takes class_weight for one output, with a weight for every class 0..N-1; else it fails mid-fit."""
    if not section.class_weight:
        return
    import numpy as np

    def error(message: str) -> SpecError:
        location = spec.positions.value(("train", "class_weight")) if spec.positions is not None else None
        return SpecError([Diagnostic(message, location, "train.class_weight")])

    if len(splits.train.y) != 1:
        raise error(f"class_weight is for a model with one output; this one has {len(splits.train.y)} "
                    f"({', '.join(splits.train.y)})")
    y = next(iter(splits.train.y.values()))
    one_hot = y.ndim >= 2 and y.shape[-1] > 1
    classes = int(y.shape[-1]) if one_hot else int(np.max(y)) + 1 if y.size else 0
    keys = sorted(section.class_weight)
    if keys != list(range(len(keys))) or len(keys) < classes:
        given = ", ".join(map(str, keys))
        raise error(f"class_weight needs a weight for every class 0..{classes - 1} (the labels have {classes} classes); "
                    f"it gives {given}")


def _save_model(model, path: Path) -> None:
    with atomic_path(path) as tmp, _quiet_numpy_copy_warning():  # the temporary file keeps the .keras suffix Keras wants
        model.save(tmp)


@contextlib.contextmanager
def _quiet_numpy_copy_warning():
    """Keras 3.15 saving TensorFlow variables with NumPy 2 warns, once per variable, of a NumPy API change it
    has not caught up with (`__array__ ... copy keyword`); nothing a user can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
        yield


# -- callbacks -------------------------------------------------------------------------


@dataclass
class _CallbackSpec:
    name: str
    args: dict[str, Any]
    value: Any  # the spec's form, for instantiate


def _callback_specs(spec: Spec, run_dir: Path) -> list[_CallbackSpec]:
    """The spec's callbacks, file arguments resolved against the run folder; located errors for clashes.

    Checked before any work: a callback writing over the run's own files, and TensorBoard without
    the tensorboard package (tensorflow-cpu 2.21 does not bring it; Keras would fail after the first epoch).
    """
    import importlib.util

    from specc.catalog.check import split_object

    found = []
    raw = (spec.resolved.get("train") or {}).get("callbacks") or []
    own = {(run_dir / name).resolve() for name in runs.OWN_FILES}
    for i, value in enumerate(raw):
        name, args = split_object(value)
        args = dict(args or {})
        if name == "TensorBoard" and importlib.util.find_spec("tensorboard") is None:
            where = ("train", "callbacks", i)
            location = spec.positions.value(where) if spec.positions is not None else None
            raise SpecError([Diagnostic("TensorBoard needs the tensorboard package, which is not installed: "
                                        "pip install tensorboard", location, f"{dotted(where)} (TensorBoard)")])
        key = PATH_ARGUMENTS.get(name)
        given = args.get(key, DEFAULT_PATHS.get(name)) if key else None
        if isinstance(given, (str, os.PathLike)):
            path = Path(given).expanduser()
            path = path if path.is_absolute() else run_dir / path
            where = ("train", "callbacks", i, name) + ((key,) if key in args else ())
            if path.resolve() in own or (name != "BackupAndRestore" and path.resolve() == (run_dir / runs.BACKUP).resolve()):
                location = spec.positions.value(where) if spec.positions is not None else None
                raise SpecError([Diagnostic(f"{key}: {given} is where specc writes the run's own {path.name}: choose another "
                                            "name", location, f"{dotted(where[:3])} ({name})")])
            args[key] = str(path)
        found.append(_CallbackSpec(name, args, {name: args} if args else value))
    return found


def _callbacks(keras, spec: Spec, specs: list[_CallbackSpec], run_dir: Path, history: runs.History, *, resume: bool) -> list:
    """The spec's callbacks, then the history writer, then the backup.

    The writer comes after the spec's callbacks, so it records what they add to the logs (ReduceLROnPlateau's
    learning_rate), and before the backup, so history.json is never behind it: a kill between the two
    repeats that epoch on resume, and the repeat replaces its entry.

    A callback Keras refuses to create is a SpecError located at its entry in `train.callbacks`.
    """
    from specc.build.keras import instantiate

    class WriteHistory(keras.callbacks.Callback):
        """history.json rewritten, atomically, after every epoch."""

        def on_epoch_end(self, epoch, logs=None):
            history.record(epoch, logs or {})
            runs.write_json(run_dir / runs.HISTORY, history.data)

    made, backup = [], None
    for i, item in enumerate(specs):
        args = dict(item.args)
        if item.name == "CSVLogger" and resume:
            args.setdefault("append", True)  # keep the rows of the epochs before the interruption
        try:
            if item.name == "BackupAndRestore":
                backup = _atomic_backup(keras)(**args)
            else:
                made.append(instantiate("callback", {item.name: args} if args else item.value))
        except Exception as err:  # Keras raises ValueError, TypeError, ... for arguments it refuses
            from specc.build import keras_message

            where = ("train", "callbacks", i)
            location = spec.positions.value(where) if spec.positions is not None else None
            raise SpecError([Diagnostic(f"Keras cannot create it: {keras_message(err)}", location,
                                        f"{dotted(where)} ({item.name})")]) from None
    if backup is None:  # the run's own; removed once the run is finished (after model.keras and metrics.json)
        backup = _atomic_backup(keras)(backup_dir=str(run_dir / runs.BACKUP), delete_checkpoint=False)
    return [*made, WriteHistory(), backup]


def _atomic_backup(keras):
    """Keras's BackupAndRestore, saving each file through a temporary file and a rename.

    Keras writes the weights in place, so a kill mid-write would leave a damaged
    backup. Weights go first, then the epoch: a kill between the two repeats
    one epoch on resume, never skips one.
    """

    class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
        def _save_model(self):
            folder = Path(self.backup_dir)
            folder.mkdir(parents=True, exist_ok=True)
            if self.double_checkpoint:
                for source, target in ((self._weights_path, self._prev_weights_path),
                                       (self._training_metadata_path, self._prev_training_metadata_path)):
                    if os.path.exists(source):
                        with atomic_path(target) as tmp, open(source, "rb") as handle:
                            tmp.write_bytes(handle.read())
            partial = folder / f".saving-{os.getpid()}.weights.h5"  # save_weights wants the .weights.h5 suffix
            try:
                with _quiet_numpy_copy_warning():
                    self.model.save_weights(str(partial), overwrite=True)
                os.replace(partial, self._weights_path)
            finally:
                partial.unlink(missing_ok=True)
            write_text(self._training_metadata_path, json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))

    return AtomicBackupAndRestore
