"""The spec's `data:` section: read the source, transform, split, check against the model, feed through tf.data.

    splits = load_arrays(spec)        # numpy arrays, keyed by model input / output name
    check_shapes(spec, splits)        # before any training: a located SpecError on a mismatch
    train = to_dataset(splits.train, 32, shuffle=True, seed=spec.seed, shuffle_buffer=None)

Every mistake (a missing file, an unknown array or column, a transform that
does not fit, data that does not fit the model) is a `SpecError` located in
the spec. Importing this module imports neither NumPy nor TensorFlow nor Keras (`specc validate`
imports it through specc.schema); reading data imports NumPy, and `to_dataset` TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# specc.schema first: it imports specc.data.schema (for SpecDocument.data), which needs specc.schema's base
# classes, so importing specc.data (or specc.data.schema) first must start with it to break the cycle.
import specc.schema  # noqa: F401  isort: skip
from specc.data.locate import Locator
from specc.schema.data import DataSection
from specc.errors import Diagnostic, SpecError, did_you_mean, dotted, split_where
from specc.ir import IMPLICIT_INPUT

if TYPE_CHECKING:
    import numpy as np  # imported where used: `specc validate` imports this module and never needs NumPy

__all__ = ["Arrays", "DataSection", "Splits", "check_labels", "check_shapes", "data_section", "load_arrays", "to_dataset"]

DATA = ("data",)


@dataclass
class Arrays:
    """NumPy data after transforms, before tf.data (first axis = samples)."""

    x: dict[str, np.ndarray]  # model input name -> array
    y: dict[str, np.ndarray]  # model output name -> array

    def __len__(self) -> int:
        return len(next(iter(self.x.values())))

    def take(self, index: np.ndarray) -> Arrays:
        return Arrays({k: v[index] for k, v in self.x.items()}, {k: v[index] for k, v in self.y.items()})


@dataclass
class Splits:
    train: Arrays
    validation: Arrays | None
    test: Arrays | None


def data_section(spec) -> DataSection:
    """The spec's `data:` section as a DataSection, validated here when `specc.load` left it a plain mapping."""
    section = getattr(spec.document, "data", None)
    if isinstance(section, DataSection):
        return section
    locate = Locator(spec)
    raw = spec.resolved.get("data")
    if raw is None:
        raise locate.error((), "the spec has no `data:` section to train on; add one, e.g. data: {source: {builtin: digits}}",
                           where="data")
    from pydantic import ValidationError

    from specc.validate.structure import sorted_unique, structure_diagnostics

    try:
        return DataSection.model_validate(raw)
    except ValidationError as err:
        errors = [{**e, "loc": DATA + tuple(e["loc"])} for e in err.errors()]
        raise SpecError(sorted_unique([Diagnostic(message, locate.location(path, at_key=at_key), where)
                                       for path, where, message, at_key in structure_diagnostics(errors, spec.resolved)])) from None


def input_names(spec) -> list[str]:
    return [node.name for node in spec.graph.inputs] or [IMPLICIT_INPUT]


def load_arrays(spec) -> Splits:
    """Read `data.source`, apply `data.features` and `data.labels`, carve `data.split`; a located SpecError on any problem."""
    from specc.data import sources, split

    locate = Locator(spec)
    section = data_section(spec)
    inputs, outputs = input_names(spec), list(spec.graph.outputs)
    feature_plan = _plan(section.features, inputs, "features", "input", locate)
    label_plan = _plan(section.labels, outputs, "labels", "output", locate)

    raw = sources.read(section.source, locate)
    parts = [(raw.x, raw.y)] + ([raw.test] if raw.test is not None else [])
    named = []
    for x, y in parts:
        arrays = Arrays(_named(x, inputs, "x", "input", raw.name, locate), _named(y, outputs, "y", "output", raw.name, locate))
        arrays = Arrays(_transformed(arrays.x, feature_plan, locate), _transformed(arrays.y, label_plan, locate))
        _check_arrays(arrays, raw.name, feature_plan, label_plan, locate)
        named.append(arrays)
    own_test = named[1] if len(named) > 1 else None
    return split.carve(named[0], own_test, section.split, spec.seed, locate)


def _plan(transforms: Any, names: list[str], key: str, what: str, locate: Locator) -> dict[str, tuple[list, tuple]]:
    """{model input/output name: (transforms, their path in the spec)} from the list or the mapping form."""
    path = DATA + (key,)
    if isinstance(transforms, list):
        if not transforms:
            return {}
        if len(names) != 1:
            raise locate.error(path, f"a list of transforms is for a model with one {what}; this model has {len(names)} "
                               f"({', '.join(names)}): write {key}: {{{names[0]}: [...], ...}}")
        return {names[0]: (transforms, path)}
    for name in transforms:
        if name not in names:
            raise locate.error(path + (name,), f"'{name}' is not a model {what} (the model's {what}s: {', '.join(names)})."
                               + did_you_mean(name, names), at_key=True)
    return {name: (items, path + (name,)) for name, items in transforms.items()}


def _named(part: Any, names: list[str], key: str, what: str, source_name: str, locate: Locator) -> dict[str, np.ndarray]:
    """A source's x or y keyed by model input/output name."""
    at = DATA + ("source", "npz", key)
    if isinstance(part, dict):
        for name in part:
            if name not in names:
                raise locate.error(at + (name,), f"'{name}' is not a model {what} (the model's {what}s: {', '.join(names)})."
                                   + did_you_mean(name, names), at_key=True)
        missing = [n for n in names if n not in part]
        if missing:
            raise locate.error(at, f"no array for model {what} {', '.join(repr(m) for m in missing)}: "
                               f"{key}: maps every model {what} to an array name")
        return {name: part[name] for name in names}
    if len(names) != 1:
        hint = f"use an npz source with {key}: {{{names[0]}: ARRAY, ...}}, an array per {what}"
        raise locate.error(DATA + ("source",), f"the model has {len(names)} {what}s ({', '.join(names)}), but {source_name} "
                           f"gives one {'features' if key == 'x' else 'labels'} array: {hint}")
    return {names[0]: part}


def _transformed(arrays: dict[str, np.ndarray], plan: dict, locate: Locator) -> dict[str, np.ndarray]:
    from specc.data import transforms

    out = {}
    for name, array in arrays.items():
        items, path = plan.get(name, ([], ()))

        def located(i: int, kind: str, message: str, path: tuple = path) -> SpecError:
            return locate.error(path + (i, kind), f"{kind}: {message}", where=dotted(path + (i,)))

        out[name] = transforms.apply(array, items, located)
    return out


def _check_arrays(arrays: Arrays, source_name: str, feature_plan: dict, label_plan: dict, locate: Locator) -> None:
    """Every array has the same number of samples and a dtype tf.data can take."""
    import numpy as np
    counts = {f"{kind} '{name}'": len(a) for kind, part in (("features", arrays.x), ("labels", arrays.y)) for name, a in part.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{k}: {v}" for k, v in counts.items())
        raise locate.error(DATA + ("source",), f"{source_name} has different numbers of samples ({listed}); "
                           "features and labels need one entry per sample")
    if not min(counts.values()):
        raise locate.error(DATA + ("source",), f"{source_name} has no samples")
    for part, plan, key in ((arrays.x, feature_plan, "features"), (arrays.y, label_plan, "labels")):
        for name, array in part.items():
            if array.dtype == object:
                raise locate.error(plan.get(name, (None, DATA + (key,)))[1],
                                   f"the {key} of {source_name} are variable-length sequences (for '{name}'): "
                                   "pad them to one length, e.g. - pad: {length: 200}")
            if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
                raise locate.error(DATA + ("source",), f"the {key} of {source_name} for '{name}' are {array.dtype}, not numbers")


def check_shapes(spec, splits: Splits) -> None:
    """Each model input's declared shape against the data's samples: a located SpecError listing every mismatch."""
    locate = Locator(spec)
    section = data_section(spec)
    problems = []
    for node in spec.graph.inputs:
        if node.sparse or node.ragged:
            continue
        for arrays in (splits.train, splits.validation, splits.test):
            array = arrays.x.get(node.name) if arrays is not None else None
            if array is None:
                continue
            got, want = tuple(array.shape[1:]), tuple(node.shape)
            if len(got) == len(want) and all(w is None or w == g for w, g in zip(want, got, strict=True)):
                continue
            problems.append(_mismatch(node, got, want, section, len(spec.graph.inputs), locate))
            break
    if problems:
        raise SpecError(problems)


def _mismatch(node, got: tuple, want: tuple, section: DataSection, n_inputs: int, locate: Locator) -> Diagnostic:
    import math
    if node.path[:2] == ("model", "inputs"):
        declared = f"{dotted(node.path[:3])}, {locate.location(node.path + ('shape',))}"
    else:  # a plain chain's input: `input_shape` on its first layer
        where, key = split_where(node.path)
        declared = f"{where} {key}, {locate.location(node.path)}"
    # Point at the last transform of this input, else at the source: where the data gets its shape.
    features = section.features
    items, path = (features, DATA + ("features",)) if isinstance(features, list) else (
        features.get(node.name, []), DATA + ("features", node.name))
    at = path + (len(items) - 1,) if items else DATA + ("source",)

    def show(shape: tuple) -> str:
        return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"

    message = (f"the data's samples have shape {show(got)}, but model input '{node.name}' takes {show(want)} ({declared})."
               if n_inputs > 1 or node.name != IMPLICIT_INPUT else
               f"the data's samples have shape {show(got)}, but the model's input takes {show(want)} ({declared}).")
    if None not in want and math.prod(got) == math.prod(want):
        message += f" To feed them as they are, add `- reshape: {show(want)}` to data.features."
    else:
        message += " Fix the model's input shape or transform the data to fit."
    return Diagnostic(message, locate.location(at), dotted(at))


# Losses that take one-hot labels, and their twins that take class indices.
_ONE_HOT_LOSSES = {"categorical_crossentropy", "categoricalcrossentropy", "categorical_focal_crossentropy",
                   "categoricalfocalcrossentropy", "categorical_hinge", "categoricalhinge"}
_INDEX_LOSSES = {"sparse_categorical_crossentropy", "sparsecategoricalcrossentropy"}


def check_labels(spec, splits: Splits, output_shapes: dict[str, tuple]) -> None:
    """The labels against the built model's outputs and the loss: a located SpecError before training.

    Only what is surely wrong: class indices for a loss that wants one-hot
    labels (or the reverse), or labels whose per-sample shape cannot match
    the output. Keras would otherwise fail at the first batch, deep in a traceback.
    """
    locate = Locator(spec)
    section = data_section(spec)
    problems = []
    for name, out in output_shapes.items():
        array = splits.train.y.get(name)
        if array is None:
            continue
        labels, loss = tuple(array.shape[1:]), _loss_name(spec, name)
        indices = labels in ((), (1,))
        classes = out[-1] if out and out[-1] is not None else None
        items, path = _transforms_of(section.labels, name, DATA + ("labels",))
        at = path + (len(items) - 1,) if items else DATA + ("source",)
        output = f"output '{name}'" if len(output_shapes) > 1 else "the model's output"
        message = None
        if loss in _ONE_HOT_LOSSES and indices and classes and classes > 1:
            message = (f"the labels are class indices (shape {list(labels)} per sample), but the loss {loss} takes one-hot "
                       f"labels, shaped like {output} {list(out)}: add `- one_hot: {classes}` to data.labels, or use "
                       "sparse_categorical_crossentropy")
        elif loss in _INDEX_LOSSES and not indices:
            message = (f"the labels have shape {list(labels)} per sample, but the loss {loss} takes class indices "
                       "(one number per sample): drop one_hot from data.labels, or use categorical_crossentropy")
        elif not indices and (len(labels) != len(out) or any(o is not None and o != l for o, l in zip(out, labels))):
            message = f"the labels have shape {list(labels)} per sample, but {output} produces {list(out)}"
        if message:
            problems.append(Diagnostic(message, locate.location(at), dotted(at)))
    if problems:
        raise SpecError(problems)


def _transforms_of(transforms, name: str, path: tuple) -> tuple[list, tuple]:
    if isinstance(transforms, dict):
        return transforms.get(name, []), path + (name,)
    return transforms or [], path


def _loss_name(spec, output: str) -> str | None:
    """The loss of one output, as a lower-case identifier or class name (None when absent or unusual)."""
    loss = (spec.resolved.get("compile") or {}).get("loss")
    if isinstance(loss, dict) and output in loss:
        loss = loss[output]
    if isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss))
    return loss.lower() if isinstance(loss, str) else None


def to_dataset(arrays: Arrays, batch_size: int, *, shuffle: bool, seed: int | None, shuffle_buffer: int | None):
    """A batched, prefetched tf.data.Dataset of (x, y), shuffled afresh each epoch when `shuffle`.

    x and y are plain tensors when the model has one input / one output, dicts keyed by name otherwise.
    (Keras ignores `fit(shuffle=True)` for datasets, so the shuffling happens here.)
    """
    import tensorflow as tf

    x = next(iter(arrays.x.values())) if len(arrays.x) == 1 else dict(arrays.x)
    y = next(iter(arrays.y.values())) if len(arrays.y) == 1 else dict(arrays.y)
    data = tf.nest.map_structure(tf.convert_to_tensor, (x, y))
    # Shuffle and batch sample *indices*, then gather each batch in one op: slicing the arrays
    # sample by sample (from_tensor_slices -> shuffle -> batch) made small models slower to train
    # than Keras's own fit(numpy_arrays), which gathers whole batches too.
    indices = tf.data.Dataset.range(len(arrays))
    if shuffle:
        indices = indices.shuffle(shuffle_buffer or len(arrays), seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).map(
        lambda index: tf.nest.map_structure(lambda tensor: tf.gather(tensor, index), data),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return batches.prefetch(tf.data.AUTOTUNE)
