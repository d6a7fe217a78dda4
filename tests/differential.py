"""A differential test of specc's validator against Keras itself.

For every catalog class of the families below, a base argument set that Keras
takes is found (the required arguments from a small table of candidates, tried
against Keras with a few input shapes or tensors), then one argument at a time
is varied over probes chosen from its catalog type and default: the default,
typical values, boundaries (0, -1, 1, huge integers, 1e300, .nan, .inf), wrong
types, and, for nested objects, a good one, one with a bad argument and an
unknown name. Each case is a minimal spec, judged twice:

    specc   `specc.pipeline.check` on the spec (accept: no SpecError)
    Keras   the object made from the same (YAML-read) arguments and used as
            build and training would: a layer called on `keras.Input`s, an
            optimizer applying a gradient, a schedule called at step 1, a loss
            or metric on small tensors, an initializer for a shape, a
            regularizer or constraint on a tensor, a callback through one epoch

When specc accepts and Keras refuses, what the user would get from specc is found out: its real build
(`specc.build_model`, and for callbacks `place_callbacks` + `make_callbacks`, as `specc train` makes them)
on the spec, and when that is clean, `specc.train` on the same spec made trainable: a compile section for a
layer, a metric compiled with a loss taking the labels its base was found with, `train: {epochs: 1,
batch_size: 16}` (3 epochs for a callback, its own arguments kept) and a `data:` section reading a .npz of
64 samples shaped for the model's inputs and outputs (labels of the kind the loss or metric takes), a
quarter split off for validation.

The table, per family (each case in exactly one column):

    cases               the cases judged
    both accept         specc validate accepts, and Keras makes and uses the object
    both refuse         specc refuses (a located SpecError), and so does Keras
    specc accepts/Keras refuses: located
                        specc's build, or else its training, stops with a SpecError located at
                        file:line:col ("located at build [codes]" / "located at train [B109]" in --show)
    (traceback)         ... and the user gets a Python traceback instead: an exception other than
                        SpecError, a SpecError without a location, or a worker that died in the case
    (specc runs it)     ... and specc builds and trains it without an error: Keras refused it only in the
                        harness's own use of the object (a usage the spec's training does not make); no failure
    specc refuses/Keras accepts: deliberate
                        the value's YAML type is not its argument's catalog type, which specc refuses on
                        purpose where Keras's duck typing takes it (`deliberate_category`: boolean, integer,
                        string, list, null, int64; --show names each case's)
    (other)             ... any other refusal: a false rejection, a bug in specc's catalog or rules
    validator crash     specc validate raised something other than SpecError
    not probed          no base argument set Keras takes was found for the class, or specc refused the
                        harness's own training data for the case (a D code): nothing learnt of the case

tests/test_differential.py asserts, on the sample, zero (traceback), zero (other), zero validator
crashes and nothing not probed.

Cases run in worker processes (one crash or hang kills one case, not the
sweep); a class for which no base works is counted as "not probed".

    .venv/bin/python tests/differential.py                  # the CI sample (tests/test_differential.py)
    .venv/bin/python tests/differential.py --full           # every case (several minutes)
    .venv/bin/python tests/differential.py --full --family layer --family loss --show 5
    .venv/bin/python tests/differential.py --full --json results.json

Against a frozen copy of the committed specc (the "before" numbers), put that
copy first on the path; the first line printed names the specc imported:

    git clone -q /work/main /tmp/diff_base
    PYTHONPATH=/tmp/diff_base .venv/bin/python tests/differential.py --full
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FAMILIES = ("layer", "optimizer", "schedule", "loss", "metric", "callback", "initializer", "regularizer", "constraint")
NONSENSE = "zzqx_nonsense"
OBJECT_TYPES = ("activation", "initializer", "regularizer", "constraint", "learning_rate", "layer")

# ---------------------------------------------------------------------------------------------------------------
# Probes: what each argument is tried with, from its catalog type and default. Only values YAML can write.
# ---------------------------------------------------------------------------------------------------------------

WRONG_TYPES = ("zzqx_nonsense", [1, 2], True, None)
TYPE_PROBES: dict[str, tuple] = {
    "bool": (True, False, 1, 0, "true", None),
    "int": (1, 0, -1, 2, 10**20, 2**63, 2.0, 1.5, "2", [2], True, None),
    "float": (0, 1, 0.5, -1.0, 2, 1e300, math.nan, math.inf, -math.inf, "0.5", [0.5], True, None),
    "int_or_ints": (1, 2, 0, -1, [2], [2, 2], [2, 2, 2], [2, 2, 2, 2], [0, 2], [2, -1], 2.5, "2", True, 10**20, None),
    "shape": ([4], [2, 2], [], [0], [-1], [None, 4], 4, "4", None),
    "str": (NONSENSE, "", 1, ["x"], True, None),
    "any": (1, 0, -1, 0.5, NONSENSE, "", [1, 2], True, None),
}
NAME_PROBES: dict[str, tuple] = {
    "name": ("a/b", "ok_name", "", 3, None),
    "dtype": ("float32", "float64", "int32", "bfloat16", "mixed_float16", "FLOAT32", "nonsense", 3, None),
}
# Nested objects: one by name, one by class, a class with an argument Keras refuses, unknown names, a wrong type.
OBJECT_PROBES: dict[str, tuple] = {
    "activation": ("relu", "softmax", {"LeakyReLU": {"negative_slope": 0.2}}, {"ReLU": {"max_value": -1.0}},
                   NONSENSE, {"Zzqx": {}}, 3, None),
    "initializer": ("glorot_uniform", {"RandomNormal": {"stddev": 0.1}}, {"VarianceScaling": {"scale": -1.0}},
                    {"VarianceScaling": {"mode": NONSENSE}}, NONSENSE, {"Zzqx": {}}, "relu", 3, None),
    "regularizer": ("l2", {"L2": {"l2": 0.01}}, {"L2": {"l2": -1.0}}, {"L1L2": {"l1": NONSENSE}}, NONSENSE,
                    {"Zzqx": {}}, 3, None),
    "constraint": ("non_neg", {"MaxNorm": {"max_value": 2.0}}, {"MaxNorm": {"max_value": NONSENSE}},
                   {"UnitNorm": {"axis": 1.5}}, NONSENSE, {"Zzqx": {}}, 3, None),
    "learning_rate": (0.01, 0, -1.0, math.nan, math.inf, "0.01", True, None, NONSENSE,
                      {"ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9}},
                      {"ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 0, "decay_rate": 0.9}},
                      {"Zzqx": {}}),
    "layer": ({"LSTM": {"units": 4}}, {"Dense": {"units": 3}}, {"LSTM": {"units": 0}}, {"Zzqx": {}}, "LSTM", 3, None),
}

# Candidates for required arguments (and for arguments a class needs to be usable at all), first that works wins:
# per (class, argument), else per argument name, else per type.
CLASS_ARGUMENT_CANDIDATES: dict[tuple[str, str], list] = {
    ("Activation", "activation"): ["relu"],
    ("Reshape", "target_shape"): [[2, 4], [-1]],
    ("Permute", "dims"): [[2, 1], [1]],
    ("Dot", "axes"): [1, -1],
    ("EinsumDense", "equation"): ["ab,bc->ac", "abc,cd->abd"],
    ("EinsumDense", "output_shape"): [3, [6, 3]],
    ("RandomPosterization", "factor"): [4],
    ("ModelCheckpoint", "filepath"): ["checkpoint.keras"],  # not model.keras: specc train writes its own there
    ("BackupAndRestore", "backup_dir"): ["backup"],
    ("CSVLogger", "filename"): ["log.csv"],
    ("OrbaxCheckpoint", "directory"): ["orbax"],
    ("TFSMLayer", "filepath"): ["saved_model"],
    ("PiecewiseConstantDecay", "boundaries"): [[10, 20]],
    ("PiecewiseConstantDecay", "values"): [[0.1, 0.01, 0.001]],
    ("IoU", "target_class_ids"): [[0, 1]],
    ("OneHotIoU", "target_class_ids"): [[0, 1]],
    ("MaxNumBoundingBoxes", "max_number"): [3],
}
ARGUMENT_CANDIDATES: dict[str, list] = {
    "units": [3], "filters": [2], "kernel_size": [3, 1], "pool_size": [2], "output_size": [2], "rate": [0.5],
    "height": [4], "width": [4], "input_dim": [10], "output_dim": [3], "num_bins": [10], "n": [2], "scale": [0.5],
    "stddev": [0.1], "num_heads": [2], "key_dim": [2], "head_dim": [2], "num_query_heads": [2],
    "num_key_value_heads": [2], "factor": [0.1, [0.1, 0.2]], "height_factor": [0.1], "width_factor": [0.1],
    "layer": [{"LSTM": {"units": 4}}, {"Dense": {"units": 3}}], "initial_learning_rate": [0.1], "decay_steps": [10],
    "first_decay_steps": [10], "decay_rate": [0.9], "num_classes": [3], "recall": [0.5], "precision": [0.5],
    "specificity": [0.5], "sensitivity": [0.5], "cell": [{"LSTMCell": {"units": 3}}], "cells": [[{"LSTMCell": {"units": 3}}]],
}
TYPE_CANDIDATES: dict[str, list] = {
    "int": [2, 3, 1], "float": [0.5, 0.1], "int_or_ints": [2, 1], "str": ["a"], "shape": [[-1]], "bool": [True],
    "any": [2, 0.1, [2, 4], "relu"], "activation": ["relu"], "initializer": ["zeros"], "regularizer": ["l2"],
    "constraint": ["non_neg"], "learning_rate": [0.01], "layer": [{"Dense": {"units": 3}}],
}
# Arguments without which a class cannot be used (not required by its signature): tried as they are, then without.
USABLE_EXTRAS: dict[str, dict] = {
    "CategoryEncoding": {"num_tokens": 4},
    "Discretization": {"bin_boundaries": [0.0, 1.0]},
    "Normalization": {"mean": 0.0, "variance": 1.0},
    "IntegerLookup": {"vocabulary": [1, 2, 3]},
    "StringLookup": {"vocabulary": ["a", "b"]},
    "TextVectorization": {"vocabulary": ["a", "b"]},
}


@dataclass(frozen=True)
class Case:
    """One argument set for one class: the base (`arg` None) or the base with `arg` set to `value`."""

    family: str
    cls: str
    arg: str | None
    arg_type: str
    value: Any

    @property
    def id(self) -> str:
        return f"{self.family}/{self.cls}/{'<base>' if self.arg is None else self.arg + '=' + token(self.value)}"


def token(value: Any) -> str:
    """A canonical text for a value that tells 1, 1.0, true and "1" apart (and survives nan)."""
    return json.dumps(value, sort_keys=True)


def probes_for(info, arg) -> list:
    """The values one argument is tried with, without repeats, the default first."""
    values: list = []
    if not arg.required:
        values.append(arg.default)
    if arg.name in NAME_PROBES:
        values.extend(NAME_PROBES[arg.name])
    elif arg.type in OBJECT_PROBES:
        values.extend(OBJECT_PROBES[arg.type])
    else:
        if arg.type == "str" and isinstance(arg.default, str) and arg.default:
            values.append(arg.default.upper())
        values.extend(_rule_choices(info, arg))
        values.extend(TYPE_PROBES.get(arg.type, TYPE_PROBES["any"]))
    seen, unique = set(), []
    for value in values:
        if token(value) not in seen:
            seen.add(token(value))
            unique.append(value)
    return unique


def _rule_choices(info, arg) -> list:
    """Typical valid strings: the choices specc's rules list for the argument (all, and one upper-cased)."""
    from specc.catalog.check import rule_for

    choices = list(rule_for(info, arg.name).get("choices") or [])
    return choices + [choices[-1].upper()] if choices else []


def generate_cases(families=FAMILIES) -> list[Case]:
    """Every case of the families, in catalog order: deterministic for one catalog."""
    from specc.catalog import load_catalog

    catalog = load_catalog()
    cases = []
    for family in families:
        for name, info in catalog[family].classes.items():
            cases.append(Case(family, name, None, "", None))
            for arg in info.args.values():
                cases.extend(Case(family, name, arg.name, arg.type, value) for value in probes_for(info, arg))
    return cases


# ---------------------------------------------------------------------------------------------------------------
# Specs: the object in a minimal spec, the way a user writes it.
# ---------------------------------------------------------------------------------------------------------------


def yaml_value(value: Any) -> str:
    """A YAML 1.2 flow rendering that specc's reader reads back as exactly `value`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a YAML double-quoted scalar
    if isinstance(value, list):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_value(k)}: {yaml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not a YAML value: {value!r}")


# Where each family's object sits in its spec (the path of its arguments mapping, the class name appended).
OBJECT_PATHS = {
    "layer": ("model", "layers", 0),
    "initializer": ("model", "layers", 0, "Dense", "kernel_initializer"),
    "regularizer": ("model", "layers", 0, "Dense", "kernel_regularizer"),
    "constraint": ("model", "layers", 0, "Dense", "kernel_constraint"),
    "optimizer": ("compile", "optimizer"),
    "schedule": ("compile", "optimizer", "SGD", "learning_rate"),
    "loss": ("compile", "loss"),
    "metric": ("compile", "metrics", 0),
    "callback": ("train", "callbacks", 0),
}


# The loss a metric's training spec compiles with: one that takes the labels the metric's base was found with.
PAIR_LOSSES = {"one_hot": "categorical_crossentropy", "sparse": "sparse_categorical_crossentropy",
               "sparse_column": "sparse_categorical_crossentropy", "binary": "binary_crossentropy"}
TRAIN_EPOCHS = {"callback": 3}  # patience, cooldown and the like need a few epochs to come into play; else 1
TRAIN_BATCH = 16


def spec_text(family: str, cls: str, args: dict, context: dict, training: bool = False) -> str:
    """The minimal spec holding the object `{cls: args}` of `family`.

    `training`: the same spec, made trainable for `specc train` (its `data:` section appended by the caller):
    a compile section for a layer's spec, a metric's spec compiled with a loss that takes the metric's labels,
    and a `train:` section of TRAIN_EPOCHS epochs of TRAIN_BATCH samples (a callback's kept in it)."""
    obj = {cls: args}
    head = "specc: 1\nname: diff\n"
    epochs = TRAIN_EPOCHS.get(family, 1)
    fit = f"train: {{epochs: {epochs}, batch_size: {TRAIN_BATCH}, verbose: 0}}\n" if training else ""
    if family == "layer":
        inputs = context["inputs"]
        names = [f"x{i}" for i in range(len(inputs))]
        declared = "".join(f"    {n}: {{shape: {yaml_value(s)}, dtype: {yaml_value(d)}}}\n" for n, (s, d) in zip(names, inputs))
        item = {cls: {**args, "inputs": names}} if len(names) > 1 else obj
        text = f"{head}model:\n  inputs:\n{declared}  layers:\n    - {yaml_value(item)}\n"
        return text + ("compile: {optimizer: sgd, loss: mse}\n" + fit if training else "")
    shape = context.get("shape", [4, 3])
    dense = {"units": shape[1]}
    if family in ("initializer", "regularizer", "constraint"):
        dense[OBJECT_PATHS[family][-1]] = obj
    model = f"model:\n  inputs:\n    x: {{shape: [{shape[0]}]}}\n  layers:\n    - {yaml_value({'Dense': dense})}\n"
    compile_ = {"optimizer": "sgd", "loss": "mse"}
    if family == "optimizer":
        compile_["optimizer"] = obj
    elif family == "schedule":
        compile_["optimizer"] = {"SGD": {"learning_rate": obj}}
    elif family == "loss":
        compile_["loss"] = obj
    elif family == "metric":
        compile_["metrics"] = [obj]
        if training:
            compile_["loss"] = PAIR_LOSSES.get(context.get("pair"), "mse")
    text = head + model + f"compile: {yaml_value(compile_)}\n"
    if family == "callback":
        more = f", batch_size: {TRAIN_BATCH}, verbose: 0" if training else ""
        return text + f"train: {{epochs: {epochs}{more}, callbacks: [{yaml_value(obj)}]}}\n"
    return text + fit


def read_back(family: str, cls: str, data: dict) -> dict:
    """The object's arguments as specc's YAML reader read them from the spec."""
    node: Any = data
    for key in OBJECT_PATHS[family]:
        node = node[key]
    args = dict(node[cls] or {})
    args.pop("inputs", None) if family == "layer" else None
    return args


def specc_verdict(path: str) -> tuple[str, str]:
    """('accept', ''), ('refuse', specc's messages) or ('crash', the exception) for `specc validate` on the spec."""
    from specc.errors import SpecError
    from specc.pipeline import check

    try:
        check(path)
    except SpecError as err:
        return "refuse", " | ".join(d.format() for d in err.diagnostics[:3])
    except Exception as err:  # a bug in specc: the user would see a traceback
        return "crash", f"{type(err).__name__}: {err}"[:400]
    return "accept", ""


# ---------------------------------------------------------------------------------------------------------------
# Keras's verdict (in a worker process: these import Keras).
# ---------------------------------------------------------------------------------------------------------------

# The Keras module in which a nested object of each argument type is written by class name.
NESTED_MODULES = {"initializer": "initializers", "regularizer": "regularizers", "constraint": "constraints",
                  "activation": "layers", "learning_rate": "optimizers.schedules", "layer": "layers"}
NESTED_KINDS = {"initializer": "initializer", "regularizer": "regularizer", "constraint": "constraint",
                "activation": "layer", "learning_rate": "schedule", "layer": "layer"}


def keras_object(keras, arg_type: str, value: Any) -> Any:
    """What a nested `{ClassName: {args}}` means to Keras: that class made with those arguments; else the value."""
    if arg_type not in NESTED_MODULES or not (isinstance(value, dict) and len(value) == 1):
        return value
    ((name, args),) = value.items()
    module = keras
    for part in NESTED_MODULES[arg_type].split("."):
        module = getattr(module, part)
    cls = getattr(module, name)  # an unknown class: AttributeError, Keras's refusal
    return cls(**keras_arguments(keras, NESTED_KINDS[arg_type], name, args if args is not None else {}))


def keras_arguments(keras, kind: str, cls: str, args: dict) -> dict:
    """The arguments of a catalog class with their nested objects made."""
    from specc.catalog import load_catalog

    known = load_catalog()[kind].classes.get(cls)
    types = {a.name: a.type for a in known.args.values()} if known else {}
    return {key: keras_object(keras, types.get(key, "any"), value) for key, value in args.items()}


class Usage:
    """Using each family's objects as build and training would, with Keras loaded once per worker."""

    def __init__(self):
        import warnings

        import keras
        import numpy as np

        warnings.simplefilter("ignore")
        self.keras, self.np = keras, np
        self.model = None
        self.pairs = self._tensor_pairs()

    def _tensor_pairs(self) -> dict:
        """(y_true, y_pred) pairs for losses and metrics, by the kind of labels they take."""
        np = self.np
        probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]], "float32")
        one_hot = np.eye(3, dtype="float32")[[0, 1, 2, 1]]
        ctc_pred = np.full((2, 6, 5), 0.2, "float32")
        return {
            "one_hot": (one_hot, probs),
            "sparse": (np.array([0, 1, 2, 1], "int32"), probs),
            "sparse_column": (np.array([[0], [1], [2], [1]], "int32"), probs),
            "binary": (np.array([[0.0], [1.0], [1.0], [0.0]], "float32"), probs[:, :1]),
            "positive": (one_hot + 0.5, probs),
            "ctc": (np.array([[1, 2, 0], [3, 1, 0]], "int32"), ctc_pred),
        }

    def clear(self) -> None:
        """Keras's global state reset: it grows with every layer made and every symbolic call."""
        self.keras.backend.clear_session()
        self.model = None

    def small_model(self):
        if self.model is None:
            keras = self.keras
            self.model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
            self.model.compile(optimizer="sgd", loss="mse")
        return self.model

    def use(self, family: str, cls: str, args: dict, context: dict) -> None:
        """Make the object and use it once; any exception is Keras's refusal."""
        keras = self.keras
        path = CLASS_PATHS[(family, cls)]
        module, _, attr = path.rpartition(".")
        maker = getattr(__import__(module, fromlist=[attr]), attr)
        made = maker(**keras_arguments(keras, family, cls, args))
        getattr(self, "use_" + family)(made, context)

    def use_layer(self, layer, context: dict) -> None:
        """Called on symbolic inputs, as build does, then on real zeros, as training does: some layers
        refuse an argument only when they compute (Resizing's and UpSampling2D's `interpolation`)."""
        tensors = [self.keras.Input(shape=tuple(shape), dtype=dtype) for shape, dtype in context["inputs"]]
        arrays = [self.np.zeros((2, *(d or 4 for d in shape)), dtype=dtype) if dtype != "string"
                  else self.np.full((2, *(d or 4 for d in shape)), "a", dtype=object) for shape, dtype in context["inputs"]]
        for given in (tensors, arrays):
            if context["takes_list"]:
                layer(given)
            else:
                layer(*given)

    def use_optimizer(self, optimizer, context: dict) -> None:
        ops = self.keras.ops
        variable = self.keras.Variable(self.np.ones((4, 3), "float32"))
        optimizer.apply_gradients([(ops.ones((4, 3)) * 0.1, variable)])
        ops.convert_to_numpy(variable)

    def use_schedule(self, schedule, context: dict) -> None:
        float(self.keras.ops.convert_to_numpy(schedule(1)))

    def use_loss(self, loss, context: dict) -> None:
        y_true, y_pred = self.pairs[context["pair"]]
        self.keras.ops.convert_to_numpy(loss(y_true, y_pred))

    def use_metric(self, metric, context: dict) -> None:
        y_true, y_pred = self.pairs[context["pair"]]
        metric.update_state(y_true, y_pred)
        self.keras.ops.convert_to_numpy(metric.result())

    def use_initializer(self, initializer, context: dict) -> None:
        self.keras.ops.convert_to_numpy(initializer(shape=tuple(context["shape"]), dtype="float32"))

    def use_regularizer(self, regularizer, context: dict) -> None:
        float(self.keras.ops.convert_to_numpy(regularizer(self.keras.ops.ones((4, 3)) * 0.5)))

    def use_constraint(self, constraint, context: dict) -> None:
        self.keras.ops.convert_to_numpy(constraint(self.keras.ops.ones((4, 3)) * 0.5))

    def use_callback(self, callback, context: dict) -> None:
        callback.set_model(self.small_model())
        callback.set_params({"epochs": 1, "steps": 1, "verbose": 0})
        callback.on_train_begin({})
        for epoch, loss in enumerate((1.0, 2.0, 3.0)):  # worse and worse: patience, cooldown and the like come into play
            logs = {"loss": loss, "val_loss": loss}
            callback.on_epoch_begin(epoch, {})
            callback.on_train_batch_begin(0, {})
            callback.on_train_batch_end(0, {"loss": loss})
            callback.on_epoch_end(epoch, logs)
        callback.on_train_end(logs)


CLASS_PATHS: dict[tuple[str, str], str] = {}  # (family, class) -> the catalog's Keras path, filled by the worker


def describe_exception(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}"[:400]


def keras_verdict(usage: Usage, family: str, cls: str, args: dict, context: dict) -> str:
    """'' when Keras takes the arguments and the object works; else Keras's exception."""
    try:
        usage.use(family, cls, args, context)
    except Exception as err:  # Keras's refusal, whatever its type
        return describe_exception(err)
    return ""


# ---------------------------------------------------------------------------------------------------------------
# Bases: the required arguments and a usage context (input shapes, tensors) with which Keras takes the class.
# ---------------------------------------------------------------------------------------------------------------

SHAPES = ([8], [6, 8], [8, 8, 3], [16, 16, 3], [8, 8, 8, 3], [4, 8, 3], [4, 8, 8, 3], [4, 8, 8, 8, 3], [1024], [1024, 1])
STRING_LAYERS = ("StringLookup", "TextVectorization", "Hashing", "HashedCrossing")
MAX_BASE_TRIALS = 160


def preferred_shapes(cls: str) -> list:
    """The candidate input shapes, the likeliest for the class's name first (each trial costs a layer)."""
    first: list = []
    if cls.startswith("ConvLSTM"):
        first = {"1D": [[4, 8, 3]], "2D": [[4, 8, 8, 3]], "3D": [[4, 8, 8, 8, 3]]}.get(cls[-2:], [])
    elif cls.endswith(("1D", "1DTranspose")):
        first = [[6, 8]]
    elif cls.endswith(("2D", "2DTranspose")):
        first = [[8, 8, 3]]
    elif cls.endswith(("3D", "3DTranspose")):
        first = [[8, 8, 8, 3]]
    elif cls.startswith("Random") or cls in ("AugMix", "AutoContrast", "CutMix", "MixUp", "Equalization",
                                             "Solarization", "ContrastLimitedAdaptiveHistogramEqualization",
                                             "CenterCrop", "Resizing", "RandAugment"):
        first = [[16, 16, 3]]
    elif any(word in cls for word in ("RNN", "LSTM", "GRU", "Attention", "Bidirectional", "TimeDistributed")):
        first = [[6, 8]]
    elif "Spectrogram" in cls:
        first = [[1024], [1024, 1]]
    return first + [s for s in SHAPES if s not in first]


def contexts_for(family: str, info) -> list[dict]:
    """The usage contexts to try, in order."""
    if family == "layer":
        low, high, takes_list = info.inputs
        counts = sorted({low, *(n for n in (2, 3) if n >= low and (high is None or n <= high))})
        dtypes = ["string", "float32", "int32"] if info.name in STRING_LAYERS else ["float32", "int32", "string"]
        return [{"inputs": [[shape, dtype]] * count, "takes_list": takes_list}
                for dtype in dtypes for count in counts for shape in preferred_shapes(info.name)]
    if family in ("loss", "metric"):
        return [{"pair": pair} for pair in ("one_hot", "sparse", "sparse_column", "binary", "positive", "ctc")]
    if family == "initializer":
        return [{"shape": [4, 3]}, {"shape": [3, 3]}]
    return [{}]


def base_candidates(info) -> list[dict]:
    """Argument sets for the class's required arguments (first candidates first), with and without usable extras."""
    options = []
    for arg in info.args.values():
        if arg.required:
            options.append([(arg.name, v) for v in CLASS_ARGUMENT_CANDIDATES.get(
                (info.name, arg.name), ARGUMENT_CANDIDATES.get(arg.name, TYPE_CANDIDATES.get(arg.type, [2])))])
    combos = [dict(c) for c in itertools.islice(itertools.product(*options), 12)]
    extras = {k: v for k, v in USABLE_EXTRAS.get(info.name, {}).items() if k in info.args}
    return [{**c, **extras} for c in combos] + ([c for c in combos] if extras else [])


def find_base(usage: Usage, family: str, info) -> tuple[dict, dict] | None:
    """The first (arguments, context) with which Keras makes and uses the class; None if none works."""
    trials = 0
    for context in contexts_for(family, info):
        for args in base_candidates(info):
            trials += 1
            if trials > MAX_BASE_TRIALS:
                return None
            if not keras_verdict(usage, family, info.name, args, context):
                return args, context
    return None


# ---------------------------------------------------------------------------------------------------------------
# specc's build, for the cases specc accepts and Keras refuses: a located error, or a traceback for the user?
# ---------------------------------------------------------------------------------------------------------------


TRAIN_SAMPLES = 64


def build_outcome(family: str, path: str, run_dir: Path, context: dict, training_text: str) -> str:
    """What the user gets from specc for a spec specc accepts and Keras refuses:

    'located: ...'   specc's build (with the callbacks made as `specc train` makes them), or else `specc.train`
                     on the spec made trainable (`training_text` and a small .npz, `training_data`), stops
                     with a SpecError located at file:line:col;
    'traceback: ...' either raises anything else (or a SpecError without a location);
    'runs: ...'      both go through: specc builds and trains it, and Keras's refusal came from the harness's
                     own use of the object, which this spec's training does not make;
    'harness: ...'   training stopped on the harness's own data (a D code: shapes, labels), which says
                     nothing of the case: the case is not probed."""
    import specc
    from specc.errors import SpecError

    try:
        model = specc.build_model(path)
        if family == "callback":
            _make_callbacks(path, run_dir)
    except SpecError as err:
        return _spec_error("build", err)
    except Exception as err:  # what the user would see as a Python traceback
        return "traceback: " + describe_exception(err)
    folder = run_dir.with_name(run_dir.name + "_train")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        data = training_data(specc.load(path), model, context, folder / "data.npz")
        (folder / "train.yaml").write_text(training_text + data, encoding="utf-8")
    except Exception as err:
        return "harness: cannot make the training data: " + describe_exception(err)
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            specc.train(folder / "train.yaml", out=folder / "run")
    except SpecError as err:
        if err.diagnostics and all(str(d.code).startswith("D") for d in err.diagnostics):
            return "harness: specc refused the harness's training data: " + str(err)[:400]
        return _spec_error("train", err)
    except Exception as err:  # the refusal escaped specc train: a traceback
        return "traceback: specc builds it; in training: " + describe_exception(err)
    return "runs: specc builds and trains it; Keras refused it only in the harness's own use"


def _spec_error(stage: str, err) -> str:
    located = bool(err.diagnostics) and all(d.location is not None for d in err.diagnostics)
    codes = ",".join(sorted({str(d.code) for d in err.diagnostics}))
    return (f"located at {stage} [{codes}]: " if located else f"traceback: unlocated SpecError at {stage}: ") + str(err)[:400]


def training_data(spec, model, context: dict, npz: Path) -> str:
    """A .npz of TRAIN_SAMPLES samples for the model's inputs and outputs, written to `npz`; its `data:` section.

    Features: values of each input's dtype (None dimensions as 4). Labels, per output shape: for a loss or
    metric the kind of labels its base was found with (`context["pair"]`: class indices, one-hot, 0/1,
    positive values), else floats in [0, 1) (the mse every other family compiles with). A quarter of the
    samples is split off for validation, so that callbacks see `val_loss`."""
    import numpy as np

    rng = np.random.default_rng(0)
    n = TRAIN_SAMPLES
    arrays, x, y = {}, {}, {}
    for index, (node, tensor) in enumerate(zip(spec.graph.inputs, model.inputs)):
        shape = (n, *(4 if d is None else d for d in tensor.shape[1:]))
        dtype = str(getattr(tensor.dtype, "name", tensor.dtype))
        if dtype == "string":
            array = rng.choice(np.array(["a", "b"]), size=shape)
        elif dtype == "bool":
            array = rng.integers(0, 2, shape).astype(bool)
        elif "int" in dtype:
            array = rng.integers(0, 3, shape).astype(dtype)
        else:
            array = rng.random(shape).astype(dtype if dtype in ("float16", "float32", "float64") else "float32")
        arrays[f"x{index}"], x[node.name] = array, f"x{index}"
    for index, (name, tensor) in enumerate(zip(spec.graph.outputs, model.outputs)):
        out = tuple(4 if d is None else d for d in tensor.shape[1:])
        arrays[f"y{index}"], y[name] = labels(context.get("pair"), out, n, rng), f"y{index}"
    np.savez(npz, **arrays)
    source = {"npz": {"path": npz.name, "x": x, "y": y}}
    return f"data: {yaml_value({'source': source, 'split': {'validation': 0.25}})}\n"


def labels(pair: str | None, out: tuple, n: int, rng):
    """Labels for an output of per-sample shape `out`, of the kind `pair` names (Usage's tensor pairs)."""
    import numpy as np

    classes = max(int(out[-1]), 1) if out else 1
    if pair in ("sparse", "sparse_column"):
        array = rng.integers(0, classes, (n, *out[:-1]))
        return array[..., None].astype("int32") if pair == "sparse_column" else array.astype("int32")
    if pair == "one_hot":
        return np.eye(classes, dtype="float32")[rng.integers(0, classes, (n, *out[:-1]))]
    if pair == "binary":
        return rng.integers(0, 2, (n, *out)).astype("float32")
    if pair == "positive":
        return (rng.random((n, *out)) + 0.5).astype("float32")
    if pair == "ctc":
        return rng.integers(1, max(classes, 2), (n, *out)).astype("int32")
    return rng.random((n, *out)).astype("float32")


def _make_callbacks(path: str, run_dir: Path) -> None:
    """What `specc train` does with the callbacks before fit: placed in the run folder, then made."""
    import specc
    from specc.build import import_keras
    from specc.run.callbacks import make_callbacks, place_callbacks
    from specc.run.folder import History

    spec = specc.load(path)
    run_dir.mkdir(parents=True, exist_ok=True)
    placed = place_callbacks(spec, run_dir)
    make_callbacks(import_keras(), spec, placed, run_dir, History(), resume=False)


# ---------------------------------------------------------------------------------------------------------------
# Workers: one class at a time (its base found once), one result per case, so a crash costs one case.
# ---------------------------------------------------------------------------------------------------------------


def judge_case(usage: Usage | None, case: Case, base: dict, context: dict, folder: Path, number: int,
               death: str = "") -> dict:
    """Both verdicts for one case (and specc's build when they disagree that way).

    Without `usage`, the worker died of the case (`death` says how): Keras's verdict is that refusal."""
    args = dict(base)
    if case.arg is not None:
        args[case.arg] = case.value
    path = folder / f"case_{number}.yaml"
    path.write_text(spec_text(case.family, case.cls, args, context), encoding="utf-8")
    specc, specc_message = specc_verdict(str(path))
    result = {"id": case.id, "family": case.family, "cls": case.cls, "arg": case.arg, "arg_type": case.arg_type,
              "value": token(case.value), "specc": specc, "specc_message": specc_message, "keras": "", "build": ""}
    if usage is None:  # the worker died on this case: Keras crashed or hung
        result["keras"] = f"the worker process {death} on this case"
    else:
        from specc.source import load_source

        read = read_back(case.family, case.cls, load_source(str(path)).data)
        result["keras"] = keras_verdict(usage, case.family, case.cls, read, context)
    if specc == "accept" and result["keras"]:
        result["build"] = (build_outcome(case.family, str(path), folder / f"run_{number}", context,
                                         spec_text(case.family, case.cls, args, context, training=True))
                           if usage else "traceback: crash")
    return result


def worker_main(connection, specc_path: list) -> None:
    """Receives (family, class, [case dicts]); answers ('base', ok) then ('result', index, result) per case."""
    sys.path[:0] = [p for p in specc_path if p not in sys.path]
    folder = Path(tempfile.mkdtemp(prefix="specc_diff_"))
    os.chdir(folder)  # callbacks write their files (relative paths) here
    from specc.catalog import load_catalog

    catalog = load_catalog()
    for family in FAMILIES:
        CLASS_PATHS.update({(family, n): c.path for n, c in catalog[family].classes.items()})
    usage = Usage()
    done = 0
    while True:
        job = connection.recv()
        if job is None:
            return
        family, cls, cases = job
        found = find_base(usage, family, catalog[family].classes[cls])
        connection.send(("base", found))
        for index, raw in enumerate(cases):
            connection.send(("start", index))
            result = judge_case(usage, Case(**raw), *found, folder, done) if found else None
            connection.send(("result", index, result))
            done += 1
            if done % 150 == 0:
                usage.clear()
        usage.clear()


# A worker over this is stopped: some arguments make Keras build Python lists without end
# (`num_thresholds: 100000000000000000000`), which would take the machine's memory before the timeout.
MEMORY_LIMIT = 4 << 30


def resident_bytes(pid: int) -> int:
    """The resident memory of a process (Linux); 0 where /proc cannot say."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class Slot:
    """One worker process and the class it is working on."""

    process: Any
    connection: Any
    unit: tuple | None = None  # (family, class, [Case])
    found: tuple | None = None  # the base (arguments, context), once the worker found it
    current: int = -1
    deadline: float = math.inf


def start_worker() -> Slot:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of TensorFlow shared
    ours, theirs = context.Pipe()
    process = context.Process(target=worker_main, args=(theirs, list(sys.path)), daemon=True)
    process.start()
    theirs.close()
    return Slot(process, ours)


def group_by_class(cases: list[Case]) -> list[tuple]:
    units: dict[tuple, list] = {}
    for case in cases:
        units.setdefault((case.family, case.cls), []).append(case)
    return [(family, cls, group) for (family, cls), group in units.items()]


def not_probed(case: Case) -> dict:
    return {"id": case.id, "family": case.family, "cls": case.cls, "arg": case.arg, "arg_type": case.arg_type,
            "value": token(case.value), "not_probed": True}


class Sweep:
    """The cases run on `workers` processes; a worker that dies or hangs is replaced, its case judged here."""

    def __init__(self, cases: list[Case], workers: int, case_timeout: float, base_timeout: float, progress=None):
        self.queue = group_by_class(cases)
        self.results: dict[str, dict] = {}
        self.case_timeout, self.base_timeout = case_timeout, base_timeout
        self.progress, self.total = progress, len(cases)
        self.slots = [start_worker() for _ in range(min(workers, len(self.queue)) or 1)]
        self.folder = Path(tempfile.mkdtemp(prefix="specc_diff_parent_"))

    def run(self) -> list[dict]:
        try:
            while self.queue or any(slot.unit for slot in self.slots):
                for slot in self.slots:
                    if slot.unit is None and self.queue:
                        self.assign(slot, self.queue.pop(0))
                busy = [slot for slot in self.slots if slot.unit]
                timeout = min(1.0, max(0.0, min(slot.deadline for slot in busy) - time.monotonic()))
                ready = wait([slot.connection for slot in busy], timeout=timeout)
                for slot in busy:
                    if slot.connection in ready:
                        self.receive(slot)
                    elif time.monotonic() > slot.deadline:
                        self.replace(slot, f"timed out ({self.case_timeout:.0f} s)")
                    elif resident_bytes(slot.process.pid) > MEMORY_LIMIT:
                        self.replace(slot, f"used more than {MEMORY_LIMIT >> 30} GiB")
        finally:
            for slot in self.slots:
                slot.process.kill()
        return list(self.results.values())

    def assign(self, slot: Slot, unit: tuple) -> None:
        family, cls, cases = unit
        slot.unit, slot.found, slot.current = unit, None, -1
        slot.deadline = time.monotonic() + self.base_timeout
        slot.connection.send((family, cls, [asdict(case) for case in cases]))

    def receive(self, slot: Slot) -> None:
        try:
            message = slot.connection.recv()
        except (EOFError, OSError):  # the worker died
            self.replace(slot, "died")
            return
        cases = slot.unit[2]
        if message[0] == "base":
            slot.found = message[1]
        elif message[0] == "start":
            slot.current, slot.deadline = message[1], time.monotonic() + self.case_timeout
        else:
            index, result = message[1], message[2]
            self.record(result if result is not None else not_probed(cases[index]))
            if index == len(cases) - 1:
                slot.unit, slot.deadline = None, math.inf

    def record(self, result: dict) -> None:
        self.results[result["id"]] = result
        if self.progress and len(self.results) % 500 == 0:
            self.progress(f"{len(self.results)} of {self.total} cases")

    def replace(self, slot: Slot, death: str) -> None:
        """The worker crashed or hung: its case is Keras's refusal (judged by specc here), the rest go on."""
        slot.process.kill()
        slot.process.join()
        family, cls, cases = slot.unit
        if slot.found is None:  # while finding the base: the class cannot be probed
            for case in cases:
                self.record(not_probed(case))
        else:
            current = max(slot.current, 0)  # died between finding the base and starting the first case: that one
            self.record(judge_case(None, cases[current], *slot.found, self.folder, len(self.results), death))
            if current + 1 < len(cases):
                self.queue.insert(0, (family, cls, cases[current + 1:]))
        fresh = start_worker()
        slot.process, slot.connection, slot.unit, slot.deadline = fresh.process, fresh.connection, None, math.inf


# ---------------------------------------------------------------------------------------------------------------
# Counting, the CI sample, the command line.
# ---------------------------------------------------------------------------------------------------------------

CATEGORIES = ("both_accept", "both_refuse", "located", "traceback", "specc_runs", "deliberate", "other",
              "validator_crash", "not_probed")
HEADINGS = ("cases", "both accept", "both refuse", "specc accepts/Keras refuses: located", "(traceback)",
            "(specc runs it)", "specc refuses/Keras accepts: deliberate", "(other)", "validator crash", "not probed")


def category(result: dict) -> str:
    """Which of the table's columns a result falls in."""
    if result.get("not_probed"):
        return "not_probed"
    if result["specc"] == "crash":
        return "validator_crash"
    specc_accepts, keras_accepts = result["specc"] == "accept", not result["keras"]
    if specc_accepts and keras_accepts:
        return "both_accept"
    if not specc_accepts and not keras_accepts:
        return "both_refuse"
    if specc_accepts:
        build = result["build"]
        if build.startswith("harness"):  # the harness's training data was refused: nothing learnt of the case
            return "not_probed"
        return "located" if build.startswith("located") else "specc_runs" if build.startswith("runs") else "traceback"
    return "deliberate" if deliberate_category(result) else "other"


# ---------------------------------------------------------------------------------------------------------------
# The deliberate refusals: specc refuses, on purpose (the README says so), a value whose YAML type is not the
# catalog type of its argument, where Keras's duck typing happens to take it (`1` for a boolean, `true` or `2.0`
# for an integer, `"0.5"` for a float, `null` where the argument takes no None). Which one a case is, from its
# value and its argument's catalog entry; None for anything else specc refuses and Keras takes: a false rejection.
# ---------------------------------------------------------------------------------------------------------------

# Besides the types, three more on purpose: a finite number past float32's range (Keras computes in float32
# and turns it into inf), .nan where specc checks a range (Keras's `x < 0` lets NaN through), and the names of
# Keras objects Keras takes and then ignores (SimpleRNN drops its activity_regularizer: specc checks it anyway).
DELIBERATE = ("boolean", "integer", "string", "list", "null", "int64", "float32", "nan", "ignored")
IGNORED_BY_KERAS = {("SimpleRNN", "activity_regularizer")}
FLOAT32_MAX = 3.4028234663852886e38
SCALAR_TYPES = ("int", "float", "bool", "str")  # a list or mapping for one of these: "list"
NUMBER_TYPES = ("int", "float", "int_or_ints")  # a string for one of these (or for a bool): "string"
INTEGER_TYPES = ("int", "int_or_ints", "shape")  # a float for one of these: "integer"; a boolean: "boolean"
INT64 = (-(2**63), 2**63 - 1)  # an integer outside: "int64", in every family but callback (Python ints there)


def deliberate_category(result: dict) -> str | None:
    """The deliberate refusal a case of specc's refusal is, one of DELIBERATE; None where it is none."""
    if result.get("arg") is None:
        return None
    if (result["cls"], result["arg"]) in IGNORED_BY_KERAS:
        return "ignored"
    info = _catalog_arg(result["family"], result["cls"], result["arg"])
    if info is None:
        return None
    return type_category(result["family"], info.type, info.nullable, json.loads(result["value"]))


def _catalog_arg(kind: str, cls: str, arg: str):
    from specc.catalog import load_catalog  # cached by specc

    known = load_catalog()[kind].classes.get(cls)
    return known.args.get(arg) if known else None


def type_category(family: str, arg_type: str, nullable: bool, value: Any) -> str | None:
    """The deliberate refusal `value` is for an argument of catalog type `arg_type` (None where it is none).

    Checked in this order, so that a value fitting two names gets the first: null, list, string, boolean,
    integer, int64. A list for an int_or_ints or shape argument is judged by its items (None allowed as a
    shape's dimension); a nested object (`{UnitNorm: {axis: 1.5}}` for a constraint) by its own arguments,
    against its class's catalog entry."""
    if value is None:
        return None if nullable else "null"
    if isinstance(value, (list, dict)) and arg_type in SCALAR_TYPES:
        return "list"
    if isinstance(value, str):
        return "string" if arg_type in NUMBER_TYPES or arg_type in ("bool", "shape") else None
    if arg_type == "str":  # a number, a boolean
        return "string"
    if isinstance(value, bool):
        return "boolean" if arg_type in INTEGER_TYPES or arg_type == "float" else None
    if arg_type == "bool":  # a number
        return "boolean"
    if isinstance(value, float):
        if arg_type in INTEGER_TYPES:
            return "integer"
        if math.isnan(value):
            return "nan"
        return "float32" if math.isfinite(value) and abs(value) > FLOAT32_MAX else None
    if arg_type == "shape" and not isinstance(value, list):  # one number where a list of dimensions goes
        return "list"
    if isinstance(value, int):
        return "int64" if family != "callback" and not INT64[0] <= value <= INT64[1] else None
    if isinstance(value, list) and arg_type in ("int_or_ints", "shape"):
        found = (type_category(family, "int", arg_type == "shape", item) for item in value)
        return next((name for name in found if name), None)
    if isinstance(value, dict) and arg_type in NESTED_KINDS and len(value) == 1:
        ((name, args),) = value.items()
        if not isinstance(args, dict):
            return None
        found = (type_category(family, info.type, info.nullable, item) for info, item in
                 ((_catalog_arg(NESTED_KINDS[arg_type], name, key), item) for key, item in args.items()) if info)
        return next((name for name in found if name), None)
    return None


def table(results: list[dict]) -> str:
    counts = {family: dict.fromkeys(CATEGORIES, 0) for family in FAMILIES}
    for result in results:
        counts[result["family"]][category(result)] += 1
    rows = [("family", *HEADINGS)]
    for family, row in counts.items():
        if sum(row.values()):
            rows.append((family, str(sum(row.values())), *(str(row[c]) for c in CATEGORIES)))
    rows.append(("total", *(str(sum(int(r[i]) for r in rows[1:])) for i in range(1, len(HEADINGS) + 1))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    return "\n".join(lines)


def examples(results: list[dict], count: int) -> str:
    """`count` cases of each disagreement, with specc's and Keras's words."""
    out = []
    for name in ("located", "traceback", "specc_runs", "deliberate", "other", "validator_crash", "not_probed"):
        chosen = [r for r in results if category(r) == name][:count]
        if chosen:
            out.append(f"\n== {name} ({sum(1 for r in results if category(r) == name)} cases)")
        for r in chosen:
            deliberate = f" [deliberate: {deliberate_category(r)}]" if name == "deliberate" else ""
            if r.get("not_probed"):
                out.append(f"- {r['id']}\n    the harness found no base Keras takes for the class")
                continue
            out.append(f"- {r['id']}{deliberate}\n    specc: {r['specc_message'] or 'accepts'}\n"
                       f"    keras: {r['keras'] or 'accepts'}" + (f"\n    build: {r['build']}" if r["build"] else ""))
    return "\n".join(out)


# The CI sample: these classes (chosen to cover the rules specc applies), a fixed share of each one's cases,
# picked by a hash of the case's id, so the sample does not shift when cases of other classes come and go.
SAMPLE_CLASSES = {
    "layer": ["Dense", "Conv2D", "Conv1D", "Dropout", "Embedding", "MaxPooling2D", "BatchNormalization",
              "GroupNormalization", "Reshape", "Concatenate", "RandomRotation", "UpSampling2D", "ZeroPadding2D",
              "SimpleRNN"],
    "optimizer": ["Adam", "SGD", "RMSprop", "AdamW"],
    "schedule": ["ExponentialDecay", "CosineDecay", "PiecewiseConstantDecay", "PolynomialDecay"],
    "loss": ["CategoricalCrossentropy", "Huber", "SparseCategoricalCrossentropy", "BinaryFocalCrossentropy"],
    "metric": ["AUC", "Precision", "MeanIoU", "TopKCategoricalAccuracy", "F1Score"],
    "callback": ["EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint", "CSVLogger"],
    "initializer": ["RandomNormal", "VarianceScaling", "Constant", "Orthogonal"],
    "regularizer": ["L1L2", "L2", "OrthogonalRegularizer"],
    "constraint": ["MaxNorm", "MinMaxNorm", "UnitNorm"],
}
SAMPLE_SHARES = {"layer": 0.06, "optimizer": 0.06}  # of each sampled class's cases (else 0.2), its base always in


def in_sample(case: Case) -> bool:
    if case.cls not in SAMPLE_CLASSES.get(case.family, ()):
        return False
    digest = int(hashlib.sha256(case.id.encode()).hexdigest()[:8], 16)
    return case.arg is None or digest < SAMPLE_SHARES.get(case.family, 0.2) * 2**32


def sample_cases(families=FAMILIES) -> list[Case]:
    return [case for case in generate_cases(families) if in_sample(case)]


def run(cases: list[Case], workers: int = 2, case_timeout: float = 60, base_timeout: float = 180,
        progress=None) -> list[dict]:
    """Every case judged; results in the order of `cases`."""
    by_id = {r["id"]: r for r in Sweep(cases, workers, case_timeout, base_timeout, progress).run()}
    return [by_id[case.id] for case in cases]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", action="append", choices=FAMILIES, help="only these families (repeatable)")
    parser.add_argument("--full", action="store_true", help="every case, not the CI sample")
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print N cases of each disagreement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60, help="seconds one case may take (default 60)")
    parser.add_argument("--json", metavar="FILE", help="write every result to FILE")
    args = parser.parse_args(argv)
    import specc

    print(f"specc from {Path(specc.__file__).parent}", flush=True)
    families = tuple(args.family or FAMILIES)
    cases = generate_cases(families) if args.full else sample_cases(families)
    print(f"{len(cases)} cases", flush=True)
    started = time.monotonic()
    results = run(cases, args.workers, args.timeout, progress=lambda text: print(text, flush=True))
    print(f"{time.monotonic() - started:.0f} s\n")
    print(table(results))
    if args.show:
        print(examples(results, args.show))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
