"""The callbacks of a run: the spec's (files placed in the run folder), the history writer, and the backup.

    placed = place_callbacks(spec, run_dir)      # located errors before any work
    callbacks = make_callbacks(keras, spec, placed, run_dir, history, resume=False)
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import warnings
from pathlib import Path
from typing import Sequence

from specc.atomic import atomic_path, write_text
from specc.build import keras_message, realize
from specc.codes import Code
from specc.errors import Diagnostic, SpecError, dotted
from specc.ir import Call, Callback, Phase, Spec
from specc.run import folder as runs


def place_callbacks(spec: Spec, run_dir: Path, callbacks: Sequence[Callback] | None = None) -> list[Callback]:
    """The spec's callbacks (default: train.callbacks; a phase's own), a relative file argument placed in the run
    folder; located errors for clashes.

    Checked before any work: a callback writing over the run's own files, and TensorBoard without
    the tensorboard package (tensorflow-cpu 2.21 does not bring it; Keras would fail after the first epoch).
    """
    own = {(run_dir / name).resolve() for name in runs.OWN_FILES}
    placed = []
    for callback in spec.fit.callbacks if callbacks is None else callbacks:
        name, key = callback.type, callback.file_argument
        if name == "TensorBoard" and importlib.util.find_spec("tensorboard") is None:
            raise SpecError([Diagnostic(Code.MISSING_PACKAGE, "TensorBoard needs the tensorboard package, which is not installed: "
                                        "pip install tensorboard", spec.location(callback.path),
                                        f"{dotted(callback.path)} (TensorBoard)")])
        if callback.file is None:
            placed.append(callback)
            continue
        path = Path(callback.file).expanduser()
        path = path if path.is_absolute() else run_dir / path
        if path.resolve() in own or (name != "BackupAndRestore" and path.resolve() == (run_dir / runs.BACKUP).resolve()):
            where = callback.path + (name,) + ((key,) if key in callback.call.kwargs else ())
            raise SpecError([Diagnostic(Code.RUN_FILE, f"{key}: {callback.file} is where specc writes the run's own {path.name}: "
                                        "choose another name", spec.location(where), f"{dotted(callback.path)} ({name})")])
        call = Call(callback.call.path, {**callback.call.kwargs, key: str(path)})
        placed.append(dataclasses.replace(callback, call=call, file=str(path)))
    return placed


def make_callbacks(keras, spec: Spec, placed: list[Callback], run_dir: Path, history: runs.History, *,
                   resume: bool, phase: Phase | None = None, phase_index: int = 0) -> list:
    """The spec's callbacks, then the history writer, then the backup: new objects for each fit.

    The writer comes after the spec's callbacks, so it records what they add to the logs (ReduceLROnPlateau's
    learning_rate), and before the backup, so history.json is never behind it: a kill between the two
    repeats that epoch on resume, and the repeat replaces its entry.

    For a phase of train.phases (`placed`: train.callbacks' and the phase's own) the writer records the
    phase's name with each epoch, CSVLogger appends after the first phase, and the backup lives in a
    folder of the phase's own (`phase-N/` in the backup folder), so that no phase restores another's optimizer.

    A callback Keras refuses to create is a SpecError located at its entry in `train.callbacks`.
    """

    class WriteHistory(keras.callbacks.Callback):
        """history.json rewritten, atomically, after every epoch."""

        def on_epoch_end(self, epoch, logs=None):
            history.record(epoch, logs or {}, phase.name if phase is not None else None)
            runs.write_json(run_dir / runs.HISTORY, history.data)

    made, backup = [], None
    for callback in placed:
        kwargs = dict(callback.call.kwargs)
        if callback.type == "CSVLogger" and (resume or phase_index > 0):
            kwargs.setdefault("append", True)  # keep the rows of the epochs before (the interruption, the phase)
        try:
            if callback.type == "BackupAndRestore":
                if phase is not None:
                    kwargs["backup_dir"] = str(phase_folder(Path(callback.file), phase_index))
                backup = atomic_backup(keras)(**realize(kwargs))
            else:
                made.append(realize(Call(callback.call.path, kwargs)))
        except Exception as err:  # Keras raises ValueError, TypeError, ... for arguments it refuses
            raise SpecError([Diagnostic(Code.KERAS_REFUSED, f"Keras cannot create it: {keras_message(err)}", spec.location(callback.path),
                                        f"{dotted(callback.path)} ({callback.type})")]) from None
    if backup is None:  # the run's own; removed once the run is finished (after model.keras and metrics.json)
        folder = run_dir / runs.BACKUP
        backup = atomic_backup(keras)(backup_dir=str(phase_folder(folder, phase_index) if phase is not None else folder),
                                      delete_checkpoint=False)
    return [*made, WriteHistory(), backup]


def phase_folder(backup_dir: Path, index: int) -> Path:
    """Where BackupAndRestore keeps phase `index`'s state (0-based): backup_dir/phase-1, phase-2, ..."""
    return backup_dir / f"phase-{index + 1}"


def backup_folders(placed: list[Callback], run_dir: Path) -> list[Path]:
    """The folders BackupAndRestore writes to: the run's own and any the spec names."""
    return [run_dir / runs.BACKUP, *(Path(c.file) for c in placed if c.type == "BackupAndRestore" and c.file)]


def atomic_backup(keras):
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
            # save_weights wants the .weights.h5 suffix; a killed save's leftover is removed when a run claims the folder
            with atomic_path(self._weights_path, suffix=".weights.h5") as partial, quiet_numpy_copy_warning():
                self.model.save_weights(str(partial), overwrite=True)
            write_text(self._training_metadata_path, json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))

        def on_train_end(self, logs=None):
            super().on_train_end(logs)
            # Keras 3.15 keeps the epoch it restored on the model, where the next fit (a later phase) would start
            # from it again, whatever its initial_epoch: it is this fit's alone.
            self.model._initial_epoch = None

    return AtomicBackupAndRestore


@contextlib.contextmanager
def quiet_numpy_copy_warning():
    """Keras 3.15 saving TensorFlow variables with NumPy 2 warns, once per variable, of a NumPy API change it
    has not caught up with (`__array__ ... copy keyword`); nothing a user can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
        yield
