"""Training in phases (`train.phases`): one `Model.fit` per phase, the epochs counting on.

    train_in_phases(model, spec, backup, resume=False, strategy=None, callbacks_for=..., fit=...)

Each phase starts by making layers trainable or not (`apply_changes`, freezes
first) and, where it says so, compiling the model again: a new optimizer, as
Keras's transfer-learning guide does. Its fit starts at the epoch after the
last one run and gives it `epochs` more; a callback that stops a phase early
(EarlyStopping) ends that phase, and the next starts at the next epoch.

The run's backup folder holds what `--resume` needs to go on in the right phase:

    backup/phase.json                {"phase": i, "initial_epoch": e}: the phase running (0-based), its first epoch
    backup/phase-N/start.weights.h5  the model's weights, its optimizer's too, when phase N started (N > 1)
    backup/phase-N/                  BackupAndRestore's state within phase N

Each file is written whole (`specc.atomic`), the weights before phase.json,
so a kill at any point resumes either the phase before (whose own backup
says how far it got) or the new one from its start.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from specc.atomic import atomic_path, write_text
from specc.build import compile_model
from specc.codes import Code
from specc.errors import Diagnostic, SpecError, dotted
from specc.ir import Phase, Spec, Trainable
from specc.run import distribute
from specc.run.callbacks import phase_folder, quiet_numpy_copy_warning

STATE = "phase.json"
START_WEIGHTS = "start.weights.h5"


@dataclass(frozen=True)
class Start:
    """Where training goes on: the phase (0-based) and the epoch it started at."""

    phase: int = 0
    initial_epoch: int = 0


def read_start(backup: Path) -> Start:
    """The phase a resumed run was in, from backup/phase.json; the first phase when there is none."""
    try:
        data = json.loads((backup / STATE).read_text(encoding="utf-8"))
        return Start(int(data["phase"]), int(data["initial_epoch"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Start()


def train_in_phases(model, spec: Spec, backup: Path, *, resume: bool, strategy, history_epochs: Callable[[], list[int]],
                    callbacks_for: Callable[[int, bool], list], fit: Callable[[list, int, int], None]) -> None:
    """Every phase of spec.fit.phases, from where a resumed run stopped.

    callbacks_for(index, resumed): the callbacks of phase `index`; fit(callbacks, initial_epoch, epochs): one
    Model.fit; history_epochs(): the epochs recorded so far.
    """
    phases = spec.fit.phases
    for phase in phases:  # a `top` past its model's layers, found before any phase trains
        for change in phase.changes:
            if change.top is not None:
                _check_top(model.get_layer(change.layers[0]), change, spec)
    start = read_start(backup) if resume else Start()
    start = start if start.phase < len(phases) else Start()
    for phase in phases[:start.phase + 1]:  # the trainable flags as they were when that phase started
        apply_changes(model, spec, phase)
    compiled = next((p for p in reversed(phases[:start.phase + 1]) if p.compile is not None), None)
    if compiled is not None:  # what the model was compiled with when that phase started
        _compile(model, spec, compiled, strategy)
    if start.phase > 0:  # its weights and optimizer state when it started; its own backup takes over after an epoch
        _build_optimizer(model, strategy)
        with quiet_numpy_copy_warning():
            model.load_weights(str(phase_folder(backup, start.phase) / START_WEIGHTS))
    initial_epoch = start.initial_epoch
    for index in range(start.phase, len(phases)):
        phase = phases[index]
        if index > start.phase:
            apply_changes(model, spec, phase)
            if phase.compile is not None:
                _compile(model, spec, phase, strategy)
            _save_start(model, backup, index, initial_epoch, strategy)
        fit(callbacks_for(index, resume and index == start.phase), initial_epoch, initial_epoch + phase.epochs)
        recorded = history_epochs()
        initial_epoch = max(recorded) + 1 if recorded else initial_epoch


def apply_changes(model, spec: Spec, phase: Phase) -> None:
    """A phase's freezes and unfreezes, in the order the spec gives them (freezes first)."""
    for change in phase.changes:
        for name in change.layers:
            _set_trainable(model.get_layer(name), change, spec)


def _set_trainable(layer, change: Trainable, spec: Spec) -> None:
    _check_top(layer, change, spec)
    set_trainable(layer, change.trainable, change.top)


def _check_top(layer, change: Trainable, spec: Spec) -> None:
    count = len([sub for sub in getattr(layer, "layers", ()) if type(sub).__name__ != "InputLayer"])
    if change.top is not None and change.top > count:
        raise SpecError([Diagnostic(Code.PHASE_TARGET, f"top: {change.top} is past the {count} layers of "
                                    f"'{change.target}'", spec.location(change.path + ("top",)), dotted(change.path))])


def set_trainable(layer, trainable, top=None):
    """`layer.trainable = trainable`; with `top`, that of a nested model's last `top` layers only
    (its InputLayer aside). Unfreezing them is what Keras's fine-tuning guide does: the model
    trainable, the layers before them frozen. (specc train and the scripts it writes run this.)"""
    if top is None:
        layer.trainable = trainable
        return
    inner = [sub for sub in layer.layers if type(sub).__name__ != "InputLayer"]
    if top > len(inner):
        raise ValueError(f"top: {top} is past the {len(inner)} layers of {layer.name!r}")
    if trainable:
        layer.trainable = True
        for sub in inner[:-top]:
            sub.trainable = False
    for sub in inner[-top:]:
        sub.trainable = trainable


def _compile(model, spec: Spec, phase: Phase, strategy) -> None:
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        compile_model(model, spec, phase.compile, phase.path + ("compile",))
    if strategy is not None:
        distribute.scale_learning_rate(spec, model, strategy, phase.compile)


def _build_optimizer(model, strategy) -> None:
    """The optimizer's variables made, for the trainable weights of now, so that they can be saved or loaded."""
    if model.optimizer is not None and not model.optimizer.built:
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            model.optimizer.build(model.trainable_variables)


def _save_start(model, backup: Path, index: int, initial_epoch: int, strategy) -> None:
    """Phase `index` starting: its weights first, then phase.json, which makes them the ones a resume uses."""
    _build_optimizer(model, strategy)
    folder = phase_folder(backup, index)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / START_WEIGHTS, suffix=".weights.h5") as partial, quiet_numpy_copy_warning():
        model.save_weights(str(partial), overwrite=True)
    write_text(backup / STATE, json.dumps({"phase": index, "initial_epoch": initial_epoch}))
