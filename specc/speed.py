"""Batches per compiled call when the spec does not say (`compile.steps_per_execution` unset).

    if automatic_steps(spec):
        model.steps_per_execution = steps_per_execution(train_data, validation_data, epochs=5)

Running several batches in one compiled call saves Python's and TensorFlow's per-call cost,
which dominates small models on a CPU: on this machine the tutorial's MLP (batch 128) trains
78k samples/s with 1 batch per call, 145k with 8, 159k with 32, and no faster beyond
(bench/README.md). A fit of fewer than FEWEST_BATCHES batches keeps 1, as the longer tracing
of the calls would cost more than they save. The batches, their order and the arithmetic are
the same, so the weights after an epoch are identical (tests/test_speed.py); what changes is
how often batch-level callbacks run, so the choice is made only when every callback works per
epoch, and never above the number of batches a training or validation pass holds. Generated
scripts copy `steps_per_execution` and decide alike.
"""

from __future__ import annotations

MOST_STEPS_PER_EXECUTION = 32  # measured: 32 is 10 % faster than 8, and more gives nothing
# Measured: tracing the calls of several batches costs about 0.3 s more, once per fit, and saves 3 to 5 ms a
# batch; a fit of fewer batches than this (all its epochs together) runs one batch per call.
FEWEST_BATCHES = 128

# Callbacks that act once per epoch, given their arguments: with any other, the spec's own batch-level
# callbacks (or a class of the project's, which may be one) would run less often, so training keeps 1.
_PER_EPOCH = {"EarlyStopping": {}, "ReduceLROnPlateau": {}, "CSVLogger": {}, "LearningRateScheduler": {},
              "ModelCheckpoint": {"save_freq": "epoch"}, "BackupAndRestore": {"save_freq": "epoch"},
              "TensorBoard": {"update_freq": "epoch"}}


def automatic_steps(spec) -> bool:
    """Whether training chooses steps_per_execution: no compile section or phase sets it, one device (a strategy's
    fit is left as Keras runs it), and every callback works per epoch."""
    if spec.compile is None or spec.compile.steps_per_execution is not None or spec.distribution is not None:
        return False
    if any(phase.compile is not None and phase.compile.steps_per_execution is not None for phase in spec.fit.phases):
        return False
    callbacks = [*spec.fit.callbacks, *(c for phase in spec.fit.phases for c in phase.callbacks)]
    return all(_per_epoch(callback.type, callback.call.kwargs) for callback in callbacks)


def _per_epoch(kind: str, arguments) -> bool:
    if kind not in _PER_EPOCH:
        return False
    return all(arguments.get(key, value) == value for key, value in _PER_EPOCH[kind].items())


def steps_per_execution(train_data, validation_data=None, steps_per_epoch=None, epochs=1):
    """Batches per compiled call for a fit of `epochs`: 32, or fewer where a training epoch
    (steps_per_epoch, or the dataset's length) or a validation pass holds fewer; 1 where the
    epoch's length is not known, or the fit is too short to repay the longer tracing."""
    steps = steps_per_epoch or int(train_data.cardinality())  # -1: repeated forever; -2: unknown
    if steps <= 0 or steps * epochs < FEWEST_BATCHES:
        return 1
    counts = [steps]
    if validation_data is not None and int(validation_data.cardinality()) > 0:
        counts.append(int(validation_data.cardinality()))
    return max(1, min([MOST_STEPS_PER_EXECUTION, *counts]))
