"""The spec's `data:` section: read the source, transform, split, check against the model, feed through tf.data.

    splits = load_arrays(spec)        # numpy arrays, keyed by model input / output name
    check_shapes(spec, splits)        # before any training: a located SpecError on a mismatch
    train = to_dataset(splits.train, 32, shuffle=True, seed=spec.seed, shuffle_buffer=None)

It reads the IR's `spec.data` (sources with absolute paths, transforms matched
to the model's inputs and outputs). Every mistake found in the data (a missing
file, an unknown array or column, a transform that does not fit, data that
does not fit the model) is a `SpecError` located in the spec. Importing this
module imports neither NumPy nor TensorFlow nor Keras; reading data imports
NumPy, and `to_dataset` TensorFlow.

    arrays.py       Arrays and Splits
    sources.py      each kind of source to arrays
    stream.py       image folders read lazily (stream: true): file paths, decoded batch by batch
    records.py      TFRecord files (tfrecord:): records parsed batch by batch
    csv_stream.py   CSV files read line by line (csv: {stream: true})
    streaming.py    is_streamed: whether a split is one of those three
    transforms.py   rescale, reshape, cast, one_hot, pad (also the source of the generated script's copies)
    split.py        validation and test sets carved, seeded
    checks.py       the data against the model: input shapes, labels and the loss, class weights
    pipeline.py     the tf.data input pipeline
    keras_cache.py  keras.datasets through Keras's own loader and cache, offline-safe
    locate.py       located errors for problems found in the data
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specc.codes import Code
from specc.data.arrays import Arrays, Splits
from specc.data.checks import (check_before_build, check_class_weight, check_labels, check_labels_against_model,
                               check_shapes)
from specc.data.locate import Locator
from specc.data.pipeline import to_dataset
from specc.data.streaming import is_streamed
from specc.errors import SpecError, did_you_mean, dotted

if TYPE_CHECKING:
    import numpy as np  # imported where used: importing specc.data must stay light

__all__ = ["Arrays", "Locator", "Splits", "check_before_build", "check_class_weight", "check_labels",
           "check_labels_against_model", "check_shapes", "is_streamed", "load_arrays", "to_dataset"]

DATA = ("data",)


def load_arrays(spec) -> Splits:
    """Read `data.source`, apply `data.features` and `data.labels`, carve `data.split`; a located SpecError on any problem."""
    from specc.data import sources, split

    locate = Locator(spec)
    section = spec.data
    if section is None:
        raise locate.error(Code.NO_DATA, (), "the spec has no `data:` section to train on; add one, e.g. data: {source: {builtin: digits}}",
                           where="data")
    inputs, outputs = list(section.inputs), list(section.outputs)
    feature_plan, label_plan = section.features, section.labels

    raw = sources.read(section.source, locate)

    def prepared(x, y, name: str, base: tuple, source) -> Arrays:
        from specc.data.csv_stream import is_csv_rows
        from specc.data.records import is_records
        from specc.data.stream import is_stream

        if is_stream(x):  # a streamed image folder: transformed batch by batch; checked on its first batch
            return _prepared_stream(x, name, base, inputs, outputs, feature_plan, label_plan, locate)
        if is_records(x):  # TFRecord files, likewise
            return _prepared_records(x, source, name, base, inputs, outputs, feature_plan, label_plan, locate)
        if is_csv_rows(x):  # a streamed CSV, likewise
            return _prepared_stream(x, name, base, inputs, outputs, feature_plan, label_plan, locate)
        features = (_text_named(x, inputs, name, locate, base) if source.kind == "csv" and source.text else
                    _named(x, inputs, "x", "input", name, locate, base))
        arrays = Arrays(features, _named(y, outputs, "y", "output", name, locate, base))
        arrays = Arrays(_transformed(arrays.x, feature_plan, locate), _transformed(arrays.y, label_plan, locate))
        _check_arrays(arrays, name, feature_plan, label_plan, locate, base)
        return arrays

    train = prepared(raw.x, raw.y, raw.name, DATA + ("source",), section.source)
    own = {}  # data.validation, data.test: sources of their own, their classes the training source's
    for key, source in (("validation", section.validation_source), ("test", section.test_source)):
        if source is not None:
            read = sources.read_split(source, locate, DATA + (key,), raw.classes)
            own[key] = prepared(read.x, read.y, read.name, DATA + (key,), source)
    own_test = own["test"] if "test" in own else (
        prepared(*raw.test, raw.name, DATA + ("source",), section.source) if raw.test is not None else None)
    if section.source.kind == "tfrecord":  # streamed, not carved: its splits are sources of their own
        return Splits(train, own.get("validation"), own_test)
    splits = split.carve(train, own_test, section.validation, section.test, spec.seed, locate)
    if "validation" in own:
        splits.validation = own["validation"]
    splits.classes = raw.classes
    return splits


def _named(part: Any, names: list[str], key: str, what: str, source_name: str, locate: Locator,
           base: tuple = DATA + ("source",), kind: str = "npz") -> dict[str, np.ndarray]:
    """A source's x or y keyed by model input/output name; base: where the source is written."""
    at = base + (kind, key)
    if isinstance(part, dict):
        for name in part:
            if name not in names:
                raise locate.error(Code.UNKNOWN_REFERENCE, at + (name,), f"'{name}' is not a model {what} (the model's {what}s: {', '.join(names)})."
                                   + did_you_mean(name, names), at_key=True)
        missing = [n for n in names if n not in part]
        if missing:
            raise locate.error(Code.DATA_SHAPE, at, f"no array for model {what} {', '.join(repr(m) for m in missing)}: "
                               f"{key}: maps every model {what} to an array name")
        return {name: part[name] for name in names}
    if len(names) != 1:
        hint = (f"use an npz source with {key}: {{{names[0]}: ARRAY, ...}}, an array per {what}" if kind == "npz" else
                f"give {key}: {{{names[0]}: FEATURE, ...}}, a feature per {what}")
        raise locate.error(Code.DATA_SHAPE, base, f"the model has {len(names)} {what}s ({', '.join(names)}), but {source_name} "
                           f"gives one {'features' if key == 'x' else 'labels'} array: {hint}")
    return {names[0]: part}


def _prepared_stream(stream, name: str, base: tuple, inputs: list[str], outputs: list[str], feature_plan: dict,
                     label_plan: dict, locate: Locator):
    """A streamed folder or CSV for the model's one input and output, its transforms applied to each batch as it is
    read."""
    import dataclasses

    _named(None, inputs, "x", "input", name, locate, base)  # one input, one output: as an image folder in memory
    _named(None, outputs, "y", "output", name, locate, base)

    def transform(x: dict, y: dict) -> tuple[dict, dict]:
        return _transformed(x, feature_plan, locate), _transformed(y, label_plan, locate)

    stream = dataclasses.replace(stream, input_name=inputs[0], output_name=outputs[0], transform=transform, _sample=None)
    _check_arrays(stream.sample(), name, feature_plan, label_plan, locate, base)
    return stream


def _prepared_records(records, source, name: str, base: tuple, inputs: list[str], outputs: list[str], feature_plan: dict,
                      label_plan: dict, locate: Locator):
    """TFRecord files, their features named for the model's inputs and outputs, transformed batch by batch."""
    import dataclasses

    x = _named(source.x, inputs, "x", "input", name, locate, base, kind="tfrecord")
    y = _named(source.y, outputs, "y", "output", name, locate, base, kind="tfrecord")

    def transform(x: dict, y: dict) -> tuple[dict, dict]:
        return _transformed(x, feature_plan, locate), _transformed(y, label_plan, locate)

    records = dataclasses.replace(records, x_features=x, y_features=y, transform=transform, _sample=None)
    try:
        sample = records.sample()
    except Exception as err:  # tf.errors: not TFRecord files, records without these features, another compression
        raise locate.error(Code.DATA_CONTENT, base + ("tfrecord",), f"cannot read the records of {name} with these "
                           f"features: {type(err).__name__}: {getattr(err, 'message', err)}") from None
    _check_arrays(sample, name, feature_plan, label_plan, locate, base)
    return records


def _text_named(part: dict, names: list[str], source_name: str, locate: Locator, base: tuple) -> dict[str, np.ndarray]:
    """A CSV's features with text columns: each text column for the model input of its name, the numeric columns
    (if any) for the model's one other input."""
    from specc.data.sources import NUMERIC

    at = base + ("csv", "text")
    text = [name for name in part if name != NUMERIC]
    for k, column in enumerate(text):
        if column not in names:
            raise locate.error(Code.DATA_SHAPE, at + (k,), f"'{column}' is not a model input (the model's inputs: "
                               f"{', '.join(names)}): a text column feeds the model input of its name."
                               + did_you_mean(column, names), where=dotted(base + ("csv",)))
    rest = [name for name in names if name not in text]
    named = {name: part[name] for name in text}
    if NUMERIC in part:
        if len(rest) != 1:
            raise locate.error(Code.DATA_SHAPE, at, f"the numeric columns of {source_name} feed the model's one input "
                               f"not named after a text column; it has {len(rest)} ({', '.join(rest) or 'none'})",
                               where=dotted(base + ("csv",)))
        named[rest[0]] = part[NUMERIC]
    elif rest:
        raise locate.error(Code.DATA_SHAPE, at, f"{source_name} has no data for model input{'s' if len(rest) > 1 else ''} "
                           f"{', '.join(rest)}: every column but the label is one of the text columns",
                           where=dotted(base + ("csv",)))
    return {name: named[name] for name in names}


def _transformed(arrays: dict[str, np.ndarray], plan: dict, locate: Locator) -> dict[str, np.ndarray]:
    from specc.data import transforms

    out = {}
    for name, array in arrays.items():
        planned = plan.get(name)
        items, path = (planned.items, planned.path) if planned is not None else ((), ())

        def located(i: int, kind: str, message: str, path: tuple = path) -> SpecError:
            return locate.error(Code.TRANSFORM, path + (i, kind), f"{kind}: {message}", where=dotted(path + (i,)))

        out[name] = transforms.apply(array, items, located)
    return out


def _check_arrays(arrays: Arrays, source_name: str, feature_plan: dict, label_plan: dict, locate: Locator,
                  base: tuple = DATA + ("source",)) -> None:
    """Every array has the same number of samples and a dtype tf.data can take."""
    import numpy as np
    counts = {f"{kind} '{name}'": len(a) for kind, part in (("features", arrays.x), ("labels", arrays.y)) for name, a in part.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{k}: {v}" for k, v in counts.items())
        raise locate.error(Code.DATA_CONTENT, base, f"{source_name} has different numbers of samples ({listed}); "
                           "features and labels need one entry per sample")
    if not min(counts.values()):
        raise locate.error(Code.DATA_CONTENT, base, f"{source_name} has no samples")
    for part, plan, key in ((arrays.x, feature_plan, "features"), (arrays.y, label_plan, "labels")):
        for name, array in part.items():
            if array.dtype == object:
                raise locate.error(Code.DATA_CONTENT, plan[name].path if name in plan else DATA + (key,),
                                   f"the {key} of {source_name} are variable-length sequences (for '{name}'): "
                                   "pad them to one length, e.g. - pad: {length: 200}")
            if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_ or array.dtype.kind == "U"):
                raise locate.error(Code.DATA_CONTENT, base, f"the {key} of {source_name} for '{name}' are {array.dtype}, not numbers")
