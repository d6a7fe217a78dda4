"""The data against the model, before any training: a located SpecError for what would fail inside Keras."""

from __future__ import annotations

from specc.codes import Code
from specc.data.arrays import Splits
from specc.data.locate import Locator
from specc.errors import Diagnostic, SpecError, dotted, split_where
from specc.ir import IMPLICIT_INPUT, Data

DATA = ("data",)


def check_shapes(spec, splits: Splits) -> None:
    """Each model input's declared shape against the data's samples: a located SpecError listing every mismatch."""
    locate = Locator(spec)
    section = spec.data
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


def _mismatch(node, got: tuple, want: tuple, section: Data, n_inputs: int, locate: Locator) -> Diagnostic:
    import math
    if node.path[:2] == ("model", "inputs"):
        declared = f"{dotted(node.path[:3])}, {locate.location(node.path + ('shape',))}"
    else:  # a plain chain's input: `input_shape` on its first layer
        where, key = split_where(node.path)
        declared = f"{where} {key}, {locate.location(node.path)}"
    # Point at the last transform of this input, else at the source: where the data gets its shape.
    features = section.features.get(node.name)
    at = features.path + (len(features.items) - 1,) if features is not None else DATA + ("source",)

    def show(shape: tuple) -> str:
        return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"

    message = (f"the data's samples have shape {show(got)}, but model input '{node.name}' takes {show(want)} ({declared})."
               if n_inputs > 1 or node.name != IMPLICIT_INPUT else
               f"the data's samples have shape {show(got)}, but the model's input takes {show(want)} ({declared}).")
    if None not in want and math.prod(got) == math.prod(want):
        message += f" To feed them as they are, add `- reshape: {show(want)}` to data.features."
    else:
        message += " Fix the model's input shape or transform the data to fit."
    return Diagnostic(Code.DATA_SHAPE, message, locate.location(at), dotted(at))


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
    section = spec.data
    loss_names = spec.compile.loss_names if spec.compile is not None else {}
    problems = []
    for name, out in output_shapes.items():
        array = splits.train.y.get(name)
        if array is None:
            continue
        labels, loss = tuple(array.shape[1:]), loss_names.get(name)
        indices = labels in ((), (1,))
        classes = out[-1] if out and out[-1] is not None else None
        transforms = section.labels.get(name)
        at = transforms.path + (len(transforms.items) - 1,) if transforms is not None else DATA + ("source",)
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
            problems.append(Diagnostic(Code.LABELS, message, locate.location(at), dotted(at)))
    if problems:
        raise SpecError(problems)


def check_class_weight(spec, splits: Splits) -> None:
    """Keras takes class_weight for one output, with a weight for every class 0..N-1; else it fails mid-fit."""
    class_weight = spec.fit.class_weight
    if not class_weight:
        return
    import numpy as np

    def error(message: str) -> SpecError:
        return SpecError([Diagnostic(Code.CLASS_WEIGHT, message, spec.location(("train", "class_weight")), "train.class_weight")])

    if len(splits.train.y) != 1:
        raise error(f"class_weight is for a model with one output; this one has {len(splits.train.y)} "
                    f"({', '.join(splits.train.y)})")
    y = next(iter(splits.train.y.values()))
    one_hot = y.ndim >= 2 and y.shape[-1] > 1
    classes = int(y.shape[-1]) if one_hot else int(np.max(y)) + 1 if y.size else 0
    keys = sorted(class_weight)
    if keys != list(range(len(keys))) or len(keys) < classes:
        given = ", ".join(map(str, keys))
        raise error(f"class_weight needs a weight for every class 0..{classes - 1} (the labels have {classes} classes); "
                    f"it gives {given}")
