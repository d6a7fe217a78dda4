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
            if (array.dtype.kind == "U") != (node.dtype == "string"):  # text for a numeric input, or numbers for text
                problems.append(_dtype_mismatch(node, array, locate))
                break
            if len(got) == len(want) and all(w is None or w == g for w, g in zip(want, got, strict=True)):
                continue
            problems.append(_mismatch(node, got, want, section, len(spec.graph.inputs), locate))
            break
    if problems:
        raise SpecError(problems)


def _dtype_mismatch(node, array, locate: Locator) -> Diagnostic:
    text = array.dtype.kind == "U"
    where = node.path + ("dtype",) if node.path[:2] == ("model", "inputs") else node.path
    message = (f"the data gives model input '{node.name}' text, but it takes {node.dtype}: declare it with "
               "dtype: string" if text else f"the data gives model input '{node.name}' numbers ({array.dtype}), but it "
               "takes strings (dtype: string)")
    return Diagnostic(Code.DATA_SHAPE, message, locate.location(where), dotted(node.path[:3]))


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


# Every built-in Keras loss, by what it wants of the labels (written by hand from keras.losses, Keras 3:
# its functions and aliases in keras.src.losses.ALL_OBJECTS_DICT, and its Loss classes). Keys are what
# `Compile.loss_names` holds: an identifier or a class name, lower-case. tests/test_data_checks.py asserts that
# every loss in the catalog is here or in _UNCHECKED_LOSSES, so a loss a new Keras adds cannot slip by unchecked.
ONE_HOT, INDEX, ELEMENTWISE, BINARY = "one_hot", "index", "elementwise", "binary"
_FAMILIES = {
    ONE_HOT: ("categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge"),
    INDEX: ("sparse_categorical_crossentropy", "categorical_generalized_cross_entropy"),
    # Labels shaped like the output, compared value by value (a 1-unit output also takes one number per sample).
    ELEMENTWISE: ("mean_squared_error", "mse", "mean_absolute_error", "mae", "mean_absolute_percentage_error", "mape",
                  "mean_squared_logarithmic_error", "msle", "huber", "log_cosh", "poisson", "kl_divergence", "kld",
                  "cosine_similarity", "hinge", "squared_hinge", "dice", "tversky"),
    # Elementwise too, and the labels are probabilities: in [0, 1].
    BINARY: ("binary_crossentropy", "bce", "binary_focal_crossentropy"),
}
LOSS_FAMILIES = {spelling: family for family, names in _FAMILIES.items() for name in names
                 for spelling in (name, name.replace("_", ""))}  # the identifier, and its class name lower-cased
# Not checked, deliberately: Keras picks crossentropy/ce's kind from the shapes; ctc takes label sequences of
# their own length; circle takes a class id per sample against an embedding of any size.
UNCHECKED_LOSSES = {"crossentropy", "ce", "ctc", "circle"}


def check_labels(spec, splits: Splits, output_shapes: dict[str, tuple]) -> None:
    """The labels against the built model's outputs and the loss: a located SpecError before training.

    Only what is surely wrong, by the loss's family (LOSS_FAMILIES): class
    indices for a loss that wants one-hot labels (or the reverse), an index
    outside the output's classes, labels not shaped like the output for a loss
    that compares them value by value (class indices there are the classic
    mistake: mse against a softmax trains to nonsense without an error),
    labels outside [0, 1] for a binary loss. Keras would otherwise fail at the
    first batch, deep in a traceback, or not at all.
    """
    locate = Locator(spec)
    section = spec.data
    loss_names = spec.compile.loss_names if spec.compile is not None else {}
    problems = []
    for name, out in output_shapes.items():
        array = splits.train.y.get(name)
        if array is None:
            continue
        transforms = section.labels.get(name)
        at = transforms.path + (len(transforms.items) - 1,) if transforms is not None else DATA + ("source",)
        output = f"output '{name}'" if len(output_shapes) > 1 else "the model's output"
        message = _labels_problem(array, tuple(out), loss_names.get(name), output, _softmax(spec, name))
        if message:
            problems.append(Diagnostic(Code.LABELS, message, locate.location(at), dotted(at)))
    if problems:
        raise SpecError(problems)


def _labels_problem(array, out: tuple, loss: str | None, output: str, softmax: bool) -> str | None:
    """What is wrong with these labels for this output and loss, as the message's text; None when nothing is."""
    labels = tuple(array.shape[1:])
    indices = labels in ((), (1,))
    classes = out[-1] if out and out[-1] is not None else None
    family = LOSS_FAMILIES.get(loss)
    if family == ONE_HOT and indices and classes and classes > 1:
        return (f"the labels are class indices (shape {list(labels)} per sample), but the loss {loss} takes one-hot "
                f"labels, shaped like {output} {list(out)}: add `- one_hot: {classes}` to data.labels, or use "
                "sparse_categorical_crossentropy")
    if family == INDEX:
        if not indices:
            return (f"the labels have shape {list(labels)} per sample, but the loss {loss} takes class indices "
                    "(one number per sample): drop one_hot from data.labels, or use categorical_crossentropy")
        values = _class_values(array)
        if values is not None and classes and (values[0] < 0 or values[-1] >= classes):
            return (f"the labels are class indices from {values[0]} to {values[-1]}, but {output} has {classes} "
                    f"classes (0 to {classes - 1}): give the output {values[-1] + 1} units, or renumber the labels")
        return None
    if family in (ELEMENTWISE, BINARY):
        if not _same_shape(labels, out):
            values = _class_values(array) if indices else None
            if values is not None and len(values) > 1 and classes and classes > 1:
                what = f"a {classes}-unit softmax" if softmax else f"{classes} values per sample"
                return (f"the labels are class indices ({_span(values)}, shape {list(labels)} per sample), but the loss "
                        f"{loss} compares them value by value with {output} {list(out)}, {what}: for classes, use "
                        f"loss: sparse_categorical_crossentropy, or add `- one_hot: {classes}` to data.labels")
            return (f"the loss {loss} compares the labels value by value with the output, and the labels have shape "
                    f"{list(labels)} per sample, but {output} produces {list(out)}")
        if family == BINARY:
            import numpy as np

            if array.size and np.issubdtype(array.dtype, np.number):
                low, high = array.min(), array.max()
                if low < 0 or high > 1:
                    values = _class_values(array)
                    hint = (" (these look like class indices: for classes, use sparse_categorical_crossentropy with a "
                            "softmax output of as many units as classes)" if values is not None and len(values) > 2
                            else "")
                    return (f"the labels range from {low:g} to {high:g}, but the loss {loss} takes labels in [0, 1] "
                            f"(0/1 or probabilities){hint}")
        return None
    if not indices and not _same_shape(labels, out):  # any other loss: what can never fit
        return f"the labels have shape {list(labels)} per sample, but {output} produces {list(out)}"
    return None


def _same_shape(labels: tuple, out: tuple) -> bool:
    """The labels' per-sample shape fits the output's, with the trailing 1 Keras squeezes when the ranks differ by one."""
    if len(labels) == len(out) + 1 and labels[-1:] == (1,):
        labels = labels[:-1]
    elif len(out) == len(labels) + 1 and out[-1:] == (1,):
        out = out[:-1]
    return len(labels) == len(out) and all(o is None or o == l for o, l in zip(out, labels, strict=True))


def _class_values(array) -> list[int] | None:
    """The distinct values of labels that are whole numbers (class indices, maybe), sorted; else None."""
    import numpy as np

    if not array.size or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        return None
    values = np.unique(array)
    if np.issubdtype(values.dtype, np.floating) and not (np.isfinite(values).all() and (values == np.round(values)).all()):
        return None
    return [int(v) for v in values]


def _span(values: list[int]) -> str:
    return f"{len(values)} distinct values, {values[0]} to {values[-1]}"


def _softmax(spec, output: str) -> bool:
    """The output's layer ends in a softmax: its activation, or a Softmax layer."""
    node = next((n for n in spec.graph.layers if n.name == output), None)
    return node is not None and (node.type == "Softmax" or node.kwargs.get("activation") == "softmax")


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


def check_before_build(spec, splits: Splits) -> None:
    """What can be checked of the data before the model exists: the inputs' shapes and the class weights."""
    check_shapes(spec, splits)
    check_class_weight(spec, splits)


def check_labels_against_model(spec, splits: Splits, model) -> None:
    """check_labels with the built model's output shapes (`specc train` and `specc check` alike)."""
    # A model without declared inputs gets its shapes from the first batch; a Model subclass made of parts has no
    # outputs of its own (its train_step says what the labels are for, if anything).
    outputs = getattr(model, "outputs", None)
    if model.built and outputs is not None:
        check_labels(spec, splits, {name: tuple(t.shape[1:]) for name, t in zip(spec.graph.outputs, outputs)})
