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

from specc.atomic import atomic_path, write_text
from specc.build import keras_message, realize
from specc.codes import Code
from specc.errors import Diagnostic, SpecError, dotted
from specc.ir import Call, Callback, Spec
from specc.run import folder as runs


def place_callbacks(spec: Spec, run_dir: Path) -> list[Callback]:
    """The spec's callbacks, a relative file argument placed in the run folder; located errors for clashes.

    Checked before any work: a callback writing over the run's own files, and TensorBoard without
    the tensorboard package (tensorflow-cpu 2.21 does not bring it; Keras would fail after the first epoch).
    """
    own = {(run_dir / name).resolve() for name in runs.OWN_FILES}
    placed = []
    for callback in spec.fit.callbacks:
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
                   resume: bool) -> list:
    """The spec's callbacks, then the history writer, then the backup.

    The writer comes after the spec's callbacks, so it records what they add to the logs (ReduceLROnPlateau's
    learning_rate), and before the backup, so history.json is never behind it: a kill between the two
    repeats that epoch on resume, and the repeat replaces its entry.

    A callback Keras refuses to create is a SpecError located at its entry in `train.callbacks`.
    """

    class WriteHistory(keras.callbacks.Callback):
        """history.json rewritten, atomically, after every epoch."""

        def on_epoch_end(self, epoch, logs=None):
            history.record(epoch, logs or {})
            runs.write_json(run_dir / runs.HISTORY, history.data)

    made, backup = [], None
    for callback in placed:
        kwargs = dict(callback.call.kwargs)
        if callback.type == "CSVLogger" and resume:
            kwargs.setdefault("append", True)  # keep the rows of the epochs before the interruption
        try:
            if callback.type == "BackupAndRestore":
                backup = atomic_backup(keras)(**realize(kwargs))
            else:
                made.append(realize(Call(callback.call.path, kwargs)))
        except Exception as err:  # Keras raises ValueError, TypeError, ... for arguments it refuses
            raise SpecError([Diagnostic(Code.KERAS_REFUSED, f"Keras cannot create it: {keras_message(err)}", spec.location(callback.path),
                                        f"{dotted(callback.path)} ({callback.type})")]) from None
    if backup is None:  # the run's own; removed once the run is finished (after model.keras and metrics.json)
        backup = atomic_backup(keras)(backup_dir=str(run_dir / runs.BACKUP), delete_checkpoint=False)
    return [*made, WriteHistory(), backup]


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

    return AtomicBackupAndRestore


@contextlib.contextmanager
def quiet_numpy_copy_warning():
    """Keras 3.15 saving TensorFlow variables with NumPy 2 warns, once per variable, of a NumPy API change it
    has not caught up with (`__array__ ... copy keyword`); nothing a user can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
        yield
