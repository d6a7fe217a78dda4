"""Training, around backend 1: a spec's model trained on its data, into a run folder.

    import specc
    result = specc.train("specs/quickstart.yaml", overrides=["train.epochs=3"], out="runs/try")
    result.metrics["accuracy"], result.history["val_loss"], result.run_dir

`train` loads the spec, reads its `data:` section and checks the data against
the model's inputs (a located SpecError, before anything is written or
trained), builds the model (`specc.build`), feeds it through tf.data
(shuffled with the spec's seed, batched, prefetched), fits it with the
`train:` section, evaluates it on the test split and writes the run folder
(`specc.run.folder` describes it). A run stopped by Ctrl-C or a kill continues with
`resume=True` from its last completed epoch (Keras's BackupAndRestore): the
history stays continuous, each epoch recorded once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from specc.atomic import atomic_path, write_text
from specc.codes import Code
from specc.errors import Diagnostic, SpecError
from specc.ir import Callback, Spec
from specc.lower.canonical import render_resolved
from specc.run import distribute
from specc.run import folder as runs
from specc.run.callbacks import backup_folders, make_callbacks, place_callbacks, quiet_numpy_copy_warning
from specc.run.folder import RunFolderError
from specc.run.phases import train_in_phases
from specc.speed import automatic_steps, steps_per_execution

__all__ = ["RunFolderError", "TrainResult", "TrainingInterrupted", "train"]


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
    the folder already holds a run (finished, or unfinished without `resume`), the spec
    changed since it started, another run is using it, or it cannot be written, and
    TrainingInterrupted on Ctrl-C.
    """
    from specc.pipeline import as_spec

    spec = as_spec(spec, overrides)
    _require_data(spec)
    run = _prepare_folder(spec, out, resume)  # located errors, and the run folder claimed, before anything runs
    with run:  # the folder held until the run ends, however it ends
        strategy = distribute.make_strategy(spec)  # before any other TensorFlow work
        if strategy is not None:
            print(f"specc: {distribute.summary(spec, strategy, spec.fit.batch_size)}", file=sys.stderr)
        splits = _checked_data(spec)
        from specc.build import import_keras
        from specc.data import check_labels_against_model

        keras = import_keras()
        with _dtype_policy(keras, spec.fit.mixed_precision):
            model = _model(keras, spec, run, strategy)
            if not run.fit_done:
                with _keras_refusing(spec, "adapt", runs.History()):
                    _adapt(model, spec, splits)
            check_labels_against_model(spec, splits, model)
            resumed = run.state == runs.RESUME
            history = runs.History.read(run.dir / runs.HISTORY) if resumed else runs.History()
            callbacks = None if spec.fit.phases else make_callbacks(keras, spec, run.callbacks, run.dir, history,
                                                                    resume=resumed)
            if run.state == runs.NEW:  # the first file: from here on the folder holds this (unfinished) run
                write_text(run.dir / runs.RESOLVED, render_resolved(spec))
            with _keeping_what_is_done(run, history):
                if not run.fit_done:
                    with _keras_refusing(spec, "train", history):
                        if spec.fit.phases:
                            _fit_phases(keras, model, spec, run, splits, strategy, history)
                        else:
                            _fit(model, spec, _datasets(spec, splits, strategy), callbacks)
                    _save_model(model, run.dir / runs.MODEL)
                    runs.write_json(run.dir / runs.HISTORY, history.data)
                with _keras_refusing(spec, "evaluate", history):
                    evaluated_on, metrics = _evaluate(model, spec, splits, strategy)
                _write_labels(spec, run, splits)
                _finish(spec, run, history, evaluated_on, metrics)
        return _result(run, history, metrics, evaluated_on)


@dataclass
class _Run:
    """Where a run writes, and how far it got before."""

    dir: Path
    chief_dir: Path | None  # a worker that is not the chief: the chief's run folder
    state: str  # runs.NEW or runs.RESUME
    callbacks: list[Callback]  # the spec's, file arguments placed in `dir`
    folder_existed: bool
    claim: runs.Claim | None = None  # the run folder's lock, held by a lone run or the chief (None for other workers)
    phase_callbacks: list[list[Callback]] = field(default_factory=list)  # each phase's own, placed likewise

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.claim is not None:  # the lock let go; the folder removed if this run made it and left it empty
            self.claim.release()

    @property
    def fit_done(self) -> bool:
        """Killed after fit, before the end. A worker follows the chief's folder, so all skip fit together."""
        if self.chief_dir is not None:
            return (self.chief_dir / runs.MODEL).is_file()
        return self.state == runs.RESUME and (self.dir / runs.MODEL).is_file()


def _require_data(spec: Spec) -> None:
    if spec.data is None:
        raise SpecError([Diagnostic(Code.NO_DATA, "train needs a data: section saying what to train on, e.g. "
                                    "data: {source: {builtin: digits}}", spec.location(()), "data")])


def _prepare_folder(spec: Spec, out: str | os.PathLike | None, resume: bool) -> _Run:
    claim, run_dir, chief_dir = _run_folders(spec, out, resume)
    try:
        placed = place_callbacks(spec, run_dir)
        per_phase = [place_callbacks(spec, run_dir, phase.callbacks) for phase in spec.fit.phases]
    except BaseException:
        if claim is not None:
            claim.release()
        raise
    if claim is not None:
        return _Run(run_dir, None, claim.state, placed, not claim.made, claim, per_phase)
    # every worker restores the chief's backup: all must start from the same epoch and weights
    distribute.copy_backups(chief_dir, run_dir, backup_folders([*placed, *(c for p in per_phase for c in p)], run_dir))
    return _Run(run_dir, chief_dir, runs.NEW, placed, run_dir.exists(), phase_callbacks=per_phase)


def _checked_data(spec: Spec):
    """The data, read and split, checked against the model's inputs and the class weights."""
    from specc.data import check_before_build, load_arrays

    splits = load_arrays(spec)
    check_before_build(spec, splits)
    return splits


@contextlib.contextmanager
def _dtype_policy(keras, mixed_precision: bool):
    """The mixed_float16 policy while the model is made and trained, when the spec asks; the global one restored after."""
    policy = keras.mixed_precision.global_policy()
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _model(keras, spec: Spec, run: _Run, strategy):
    """The model, built (or loaded, when fit already finished) inside the strategy's scope, with its optimizer."""
    from specc.build import build_model

    with strategy.scope() if strategy is not None else contextlib.nullcontext():  # model, optimizer, metrics
        model = keras.saving.load_model((run.chief_dir or run.dir) / runs.MODEL) if run.fit_done else build_model(spec)
        if strategy is not None and not run.fit_done:
            distribute.scale_learning_rate(spec, model, strategy)
    if strategy is not None:
        distribute.repair_multi_worker_fit(model, strategy)
    return model


def _adapt(model, spec: Spec, splits) -> None:
    """`adapt: true` layers learn their state from the training split of their input (never validation or test)."""
    from specc.data import is_streamed

    for node in spec.graph.layers:
        if node.adapt:
            if is_streamed(splits.train):  # read batch by batch, as training reads it
                features = splits.train.dataset(spec.fit.batch_size, shuffle=False, seed=None, shuffle_buffer=None)
                model.get_layer(node.name).adapt(features.map(lambda x, y: x))
            else:
                model.get_layer(node.name).adapt(splits.train.x[node.inputs[0].name])


def _feed(strategy, dataset, by_file: bool = False):
    """The dataset as the strategy takes it; by_file: read from files (TFRecord), which each worker takes its own of."""
    return distribute.distribute_dataset(strategy, dataset, by_file) if strategy is not None else dataset


def _fit_phases(keras, model, spec: Spec, run: _Run, splits, strategy, history: runs.History) -> None:
    """train.phases, one fit each (specc.run.phases), each with train.callbacks and its own, made afresh;
    the datasets made once, so that epochs shuffle as in one long fit."""
    datasets = _datasets(spec, splits, strategy)

    def callbacks_for(index: int, resumed: bool) -> list:
        return make_callbacks(keras, spec, [*run.callbacks, *run.phase_callbacks[index]], run.dir, history,
                              resume=resumed, phase=spec.fit.phases[index], phase_index=index)

    def fit(callbacks: list, initial_epoch: int, epochs: int) -> None:
        _fit(model, spec, datasets, callbacks, initial_epoch, epochs)

    train_in_phases(model, spec, run.dir / runs.BACKUP, resume=run.state == runs.RESUME, strategy=strategy,
                    history_epochs=lambda: history.epochs, callbacks_for=callbacks_for, fit=fit)


def _datasets(spec: Spec, splits, strategy) -> tuple:
    """(training, validation or None) as tf.data, batched, the training data shuffled with the spec's seed."""
    from specc.data import to_dataset
    from specc.data.records import is_records

    fit = spec.fit
    train_data = to_dataset(splits.train, fit.batch_size, shuffle=fit.shuffle, seed=spec.seed,
                            shuffle_buffer=spec.data.shuffle_buffer)
    if fit.steps_per_epoch is not None:
        train_data = train_data.repeat()  # steps_per_epoch counts batches across epochs, not per pass
    validation = (_feed(strategy, to_dataset(splits.validation, fit.batch_size, shuffle=False, seed=spec.seed,
                                             shuffle_buffer=None), is_records(splits.validation))
                  if splits.validation is not None else None)
    return _feed(strategy, train_data, is_records(splits.train)), validation


def _fit(model, spec: Spec, datasets: tuple, callbacks: list, initial_epoch: int = 0, epochs: int | None = None) -> None:
    """One Model.fit on the training split; epochs initial_epoch..epochs - 1 (default: all of train.epochs)."""
    fit = spec.fit
    # Keras's `auto` is a progress bar, whose \b and \r fill a log file or a pipe: one line per epoch there
    # (a notebook, as Keras's progress bar itself reckons, draws the bar).
    live = getattr(sys.stdout, "isatty", bool)() or "ipykernel" in sys.modules
    verbose = (1 if live else 2) if fit.verbose == "auto" else fit.verbose
    train_data, validation = datasets
    epochs = fit.epochs if epochs is None else epochs
    if automatic_steps(spec):  # several batches per compiled call: the same epochs, faster (specc.speed)
        model.steps_per_execution = steps_per_execution(train_data, validation, fit.steps_per_epoch,
                                                        epochs - initial_epoch)
    model.fit(train_data, validation_data=validation, epochs=epochs,
              initial_epoch=initial_epoch, callbacks=callbacks,
              shuffle=False,  # Keras cannot shuffle a dataset (and warns); to_dataset shuffled it
              class_weight=dict(fit.class_weight) if fit.class_weight else None, steps_per_epoch=fit.steps_per_epoch,
              validation_freq=fit.validation_freq, verbose=verbose)


def _evaluate(model, spec: Spec, splits, strategy) -> tuple[str, dict[str, float]]:
    """The evaluation on the test split, else validation, else train: (which, the scores)."""
    from specc.data import to_dataset

    evaluated_on, arrays = next((name, a) for name, a in (("test", splits.test), ("validation", splits.validation),
                                                          ("train", splits.train)) if a is not None)
    from specc.data.records import is_records

    scores = model.evaluate(_feed(strategy, to_dataset(arrays, spec.fit.batch_size, shuffle=False, seed=spec.seed,
                                                       shuffle_buffer=None), is_records(arrays)),
                            return_dict=True, verbose=0)
    return evaluated_on, {name: float(value) for name, value in scores.items()}


def _write_labels(spec: Spec, run: _Run, splits) -> None:
    """labels.json: the class each label index stands for, where the source names them (a CSV's text labels,
    image folders' sub-folders), so that a prediction's index can be read back as a class."""
    if splits.classes is not None:
        runs.write_json(run.dir / runs.LABELS, {"source": spec.data.source.file.written, "classes": splits.classes})


def _finish(spec: Spec, run: _Run, history: runs.History, evaluated_on: str, metrics: dict[str, float]) -> None:
    runs.plot_curves(history.data, run.dir / runs.CURVES, title=spec.name)
    report: dict[str, Any] = {"split": evaluated_on, **metrics}
    if evaluated_on != "test":
        report["note"] = (f"the data has no test split: evaluated on the {evaluated_on} split "
                          "(give data.split.test for a held-out evaluation)")
    runs.write_json(run.dir / runs.METRICS, report)  # last: it marks the run finished
    runs.remove_backup(run.dir)


@contextlib.contextmanager
def _keras_refusing(spec: Spec, action: str, history: runs.History):
    """What Keras raises while training or evaluating a model that built, as a located SpecError (B109).

    Validation and build check what they can see; an object can still fail on the real tensors (a
    metric's `axis` past their rank, a callback's `baseline` of the wrong kind). specc's own errors
    and Ctrl-C pass through.
    """
    try:
        yield
    except Exception as err:
        if type(err).__module__.split(".")[0] == "specc":
            raise
        from specc.build import keras_message

        epoch = f" in epoch {len(history.epochs) + 1}" if action == "train" else ""
        where = "train" if spec.location(("train",)) is not None else "model"
        message = (f"Keras cannot {action} the model{epoch}: {type(err).__name__}: {keras_message(err)}"
                   " (an object of the model, compile or train section that fails on the real data)")
        raise SpecError([Diagnostic(Code.TRAINING_REFUSED, message, spec.location((where,)), where)]) from None


@contextlib.contextmanager
def _keeping_what_is_done(run: _Run, history: runs.History):
    """Ctrl-C becomes TrainingInterrupted (every completed epoch is kept); a new run that fails before its
    first epoch leaves nothing behind, as there is nothing to resume."""
    try:
        yield
    except KeyboardInterrupt:
        raise TrainingInterrupted(run.dir) from None
    except Exception:
        if run.state == runs.NEW and not history.epochs:
            runs.discard_new_run(run.dir, remove_folder=not run.folder_existed)
        raise


def _result(run: _Run, history: runs.History, metrics: dict[str, float], evaluated_on: str) -> TrainResult:
    run_dir = run.dir
    if run.chief_dir is not None:  # a worker's own copies: the chief's folder holds the run
        shutil.rmtree(run.dir, ignore_errors=True)
        run_dir = run.chief_dir
    files = {name: run_dir / name for name in runs.OWN_FILES if (run_dir / name).exists()}  # labels.json: not always
    return TrainResult(history.data, metrics, run_dir, evaluated_on, files)


def _run_folders(spec: Spec, out: str | os.PathLike | None,
                 resume: bool) -> tuple[runs.Claim | None, Path, Path | None]:
    """(the run folder's claim, where this process writes, the chief's run folder when this process is a worker
    that is not the chief).

    Alone, or as the chief of a TF_CONFIG cluster, it claims the run folder and writes it. Every
    other worker writes to a fresh folder of its own, as the tf.distribute guide prescribes, after
    refusing what the chief refuses (so that it does not wait forever on a chief that stopped);
    it takes no lock, since the chief holds the run folder's.
    """
    who = distribute.role(spec)  # None unless multi_worker_mirrored in a TF_CONFIG cluster
    if who is not None and out is None:
        raise distribute.ClusterError("in a multi-worker cluster every worker needs --out DIR, the chief's run folder "
                                      "(on storage all workers share)")
    if who is None or who.is_chief:
        claim = (runs.claim_run_dir(Path(out), spec.sha256, resume) if out is not None
                 else runs.claim_default_run_dir(spec.name, spec.sha256, resume))
        return claim, claim.dir, None
    chief_dir = Path(out)
    if (chief_dir / runs.RESOLVED).is_file():  # read-only: a finished run, or a changed spec
        runs.check_run_dir(chief_dir, spec.sha256, resume=True)
    return None, distribute.fresh_worker_dir(chief_dir, who), chief_dir


def _save_model(model, path: Path) -> None:
    with atomic_path(path) as tmp, quiet_numpy_copy_warning():  # the temporary file keeps the .keras suffix Keras wants
        model.save(tmp)
