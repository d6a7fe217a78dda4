"""The Keras API catalog (schemas/keras_catalog.json): fresh, right on what users check, and true to Keras.

Three layers of checking:

* freshness: the committed file is exactly what `python -m specc.catalog.generate` writes;
* spot checks a Keras user would make, on the committed JSON (no Keras import);
* a cross-check against Keras itself: every class builds with the catalog's
  defaults and hidden arguments, and refuses an argument the catalog lacks.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import warnings
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CATALOG_PATH = ROOT / "schemas" / "keras_catalog.json"
REFRESH = "python -m specc.catalog.generate"

TYPES = {"int", "float", "bool", "str", "int_or_ints", "shape", "dtype", "activation", "initializer",
         "regularizer", "constraint", "layer", "layers", "learning_rate", "any"}
KINDS = {"layer", "application", "optimizer", "schedule", "loss", "metric", "callback",
         "initializer", "regularizer", "constraint", "activation"}
BASE_LAYER_ARGS = {"name", "dtype", "trainable", "autocast", "input_shape", "input_dim"}


@cache
def catalog() -> dict:
    return json.loads(CATALOG_PATH.read_text(encoding="utf-8"))


def classes(kind: str) -> dict:
    return catalog()["kinds"][kind]["classes"]


def identifiers(kind: str) -> dict:
    return catalog()["kinds"][kind]["identifiers"]


def args(kind: str, name: str) -> dict:
    return classes(kind)[name]["args"]


# --- freshness -----------------------------------------------------------------------


@pytest.mark.slow
def test_catalog_is_fresh():
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run(
        [sys.executable, "-m", "specc.catalog.generate", "--check"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, (
        f"schemas/keras_catalog.json is stale for the installed Keras: run `{REFRESH}` and commit it.\n"
        + result.stderr[-3000:]
    )


# --- shape of the file ----------------------------------------------------------------


def test_top_level_format():
    data = catalog()
    assert data["about"].startswith("DO NOT EDIT.") and REFRESH in data["about"]
    assert data["keras_version"] in data["about"]
    assert set(data["kinds"]) == KINDS
    assert set(data) == {"about", "keras_version", "kinds", "dtype_policies", "dtype_modes", "ops"}
    for kind, body in data["kinds"].items():
        assert set(body) == {"module", "classes", "identifiers"}, kind
        assert body["module"].startswith("keras."), kind
    assert classes("activation") == {}
    assert CATALOG_PATH.stat().st_size < 1_500_000


def test_every_argument_is_well_formed():
    for kind, body in catalog()["kinds"].items():
        for name, cls in body["classes"].items():
            assert cls["path"] == f"{body['module']}.{name}"
            assert cls["doc"], f"{kind} {name} has no summary"
            assert ("inputs" in cls) == (kind == "layer"), f"{kind} {name}"
            for arg, entry in cls["args"].items():
                where = f"{kind} {name}.{arg}"
                assert entry["type"] in TYPES, where
                assert isinstance(entry["doc"], str), where
                if entry.get("required") or entry.get("hidden"):
                    assert "default" not in entry and "nullable" not in entry, where
                    assert not (entry.get("required") and entry.get("hidden")), where
                else:
                    assert "default" in entry, where
                if "length" in entry:
                    assert entry["type"] == "int_or_ints" and entry["length"] in (1, 2, 3), where
                    default = entry.get("default")
                    assert not isinstance(default, list) or len(default) == entry["length"], where
                if entry.get("default", 0) is None:
                    assert entry.get("nullable") is True, where
                elif "default" in entry and not entry.get("default_repr"):
                    assert _fits(entry["default"], entry["type"]), f"{where}: default {entry['default']!r}"


def _fits(value, type_name: str) -> bool:
    """Whether a default has the catalog type it is listed with (the validator must take it)."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    checks = {
        "int": is_int,
        "float": is_int or isinstance(value, float),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "int_or_ints": is_int or (isinstance(value, list) and all(v is None or isinstance(v, int) for v in value)),
        "shape": isinstance(value, list),
        "learning_rate": is_int or isinstance(value, float),
    }
    return checks.get(type_name, True)


def test_left_out_classes():
    assert not {"Layer", "InputLayer"} & set(classes("layer"))
    assert not {"Optimizer", "LossScaleOptimizer", "MultiOptimizer"} & set(classes("optimizer"))
    assert "LearningRateSchedule" not in classes("schedule")
    assert not {"Loss", "LossFunctionWrapper"} & set(classes("loss"))
    assert not {"Metric", "MeanMetricWrapper"} & set(classes("metric"))
    assert not {"Callback", "CallbackList"} & set(classes("callback"))
    assert "Initializer" not in classes("initializer")
    for kind in ("initializer", "regularizer", "constraint", "optimizer", "loss", "metric"):
        assert not {"initializer", "regularizer", "constraint", "optimizer", "Loss", "loss", "Metric", "metric"} & set(
            identifiers(kind)
        ), kind  # base classes resolve in get() but build nothing useful


# --- what a Keras user would check ---------------------------------------------------------


def test_dense():
    dense = classes("layer")["Dense"]
    assert dense["path"] == "keras.layers.Dense"
    assert dense["doc"] == "Just your regular densely-connected NN layer."
    assert dense["args"]["units"] == {
        "required": True, "type": "int", "doc": "Positive integer, dimensionality of the output space."
    }
    assert dense["args"]["activation"]["type"] == "activation"
    assert dense["args"]["activation"]["default"] is None and dense["args"]["activation"]["nullable"]
    assert dense["args"]["use_bias"]["default"] is True and dense["args"]["use_bias"]["type"] == "bool"
    assert dense["args"]["kernel_initializer"] == {
        "default": "glorot_uniform", "type": "initializer", "doc": "Initializer for the `kernel` weights matrix."
    }
    assert dense["args"]["kernel_regularizer"]["type"] == "regularizer"
    assert dense["args"]["bias_constraint"]["type"] == "constraint"
    assert dense["inputs"] == {"min": 1, "max": 1}


def test_conv2d_normalizes_ints():
    conv = args("layer", "Conv2D")
    assert conv["filters"]["required"] and conv["filters"]["type"] == "int"
    assert conv["kernel_size"]["required"] and conv["kernel_size"]["type"] == "int_or_ints"
    assert conv["strides"] == {**conv["strides"], "default": [1, 1], "type": "int_or_ints"}
    assert conv["padding"]["default"] == "valid" and conv["padding"]["type"] == "str"
    assert "rank" not in conv  # Conv2D passes rank=2 to BaseConv itself
    assert conv["kernel_size"]["length"] == conv["strides"]["length"] == conv["dilation_rate"]["length"] == 2
    assert args("layer", "Conv1DTranspose")["output_padding"]["length"] == 1
    assert args("layer", "MaxPooling3D")["pool_size"]["length"] == 3
    assert "length" not in args("layer", "LayerNormalization")["axis"]  # any number of axes
    assert args("layer", "Convolution2D") == conv  # an alias has the same arguments
    assert classes("layer")["Convolution2D"]["path"] == "keras.layers.Convolution2D"


@pytest.mark.parametrize(
    "layer, arg",
    [("Embedding", "input_length"), ("LeakyReLU", "alpha"), ("LSTM", "implementation"), ("GRU", "implementation"),
     ("LSTMCell", "implementation"), ("LayerNormalization", "rms_scaling"), ("Dense", "input_shape"),
     ("Dense", "input_dim"), ("TextVectorization", "vocabulary_size")],
)
def test_hidden_arguments(layer, arg):
    entry = args("layer", layer)[arg]
    assert entry["hidden"] is True
    assert "default" not in entry and "required" not in entry


def test_optimizer_hidden_decay():
    assert args("optimizer", "Adam")["decay"]["hidden"] is True


def test_base_layer_arguments():
    # Layer.__init__ takes name, dtype, trainable, autocast, activity_regularizer and
    # reads input_shape / input_dim out of **kwargs. These layers never pass the
    # caller's keyword arguments all the way there: they have no **kwargs, swallow
    # them, or pass on only some; Keras raises for the rest.
    unreached = {"trainable", "autocast", "activity_regularizer", "input_shape", "input_dim"}
    narrow = {
        "ActivityRegularization": {"activity_regularizer"},  # passes its own to Layer
        "Discretization": unreached,
        "HashedCrossing": unreached,
        "SpatialDropout1D": unreached,
        "SpatialDropout2D": unreached,
        "SpatialDropout3D": unreached,
        "Pipeline": unreached | {"dtype"},
        "IntegerLookup": unreached - {"trainable"},  # popped and ignored
        "StringLookup": unreached - {"trainable"},
        "TFSMLayer": unreached - {"trainable"},
    }
    every = BASE_LAYER_ARGS | {"activity_regularizer"}
    missing = {name: every - set(cls["args"]) for name, cls in classes("layer").items()}
    assert {name: lacking for name, lacking in missing.items() if lacking} == narrow
    assert args("layer", "Dense")["trainable"] == {
        "default": True, "type": "bool", "doc": "Boolean, whether the layer's variables should be trainable."
    }
    assert args("layer", "Dense")["name"]["type"] == "str"
    assert args("layer", "Dense")["input_shape"]["type"] == "shape"


def test_layer_input_arity():
    layers = classes("layer")
    for merge in ("Add", "Average", "Concatenate", "Maximum", "Minimum", "Multiply"):
        assert layers[merge]["inputs"] == {"min": 1, "max": None, "list": True}, merge
    for pair in ("Subtract", "Dot"):
        assert layers[pair]["inputs"] == {"min": 2, "max": 2, "list": True}, pair
    for attention in ("Attention", "AdditiveAttention"):
        assert layers[attention]["inputs"] == {"min": 2, "max": 3, "list": True}, attention
    assert layers["MultiHeadAttention"]["inputs"] == {"min": 2, "max": 3}
    assert layers["GroupQueryAttention"]["inputs"] == {"min": 2, "max": 3}
    assert layers["HashedCrossing"]["inputs"] == {"min": 2, "max": None, "list": True}
    assert layers["LSTMCell"]["inputs"] == {"min": 2, "max": 2}  # (inputs, states)
    for single in ("LSTM", "Bidirectional", "TimeDistributed", "BatchNormalization", "Reshape"):
        assert layers[single]["inputs"] == {"min": 1, "max": 1}, single


def test_wrappers_take_layers():
    assert args("layer", "Bidirectional")["layer"]["type"] == "layer"
    assert args("layer", "Bidirectional")["backward_layer"]["type"] == "layer"
    assert args("layer", "TimeDistributed")["layer"]["type"] == "layer"
    assert args("layer", "RNN")["cell"]["type"] == "layers"  # a cell or a list of cells
    assert args("layer", "StackedRNNCells")["cells"]["type"] == "layers"


def test_dtype_policies():
    """The names a `dtype` argument takes are the ones Keras's dtype_policies.get accepts, read from Keras."""
    data = catalog()
    policies = set(data["dtype_policies"])
    assert {"float32", "float16", "bfloat16", "float64", "int32", "mixed_float16", "mixed_bfloat16",
            "int8_from_float32", "string"} <= policies
    assert not {"FLOAT32", "float", "int8", "float8_e4m3fn"} & policies  # Keras refuses these, by case and by form
    assert data["dtype_modes"] == ["int4", "gptq", "awq"]
    for kind in ("layer", "loss", "metric"):
        assert args(kind, {"layer": "Dense", "loss": "MeanSquaredError", "metric": "Mean"}[kind])["dtype"]["type"] == "dtype"


def test_optimizers():
    ids = identifiers("optimizer")
    assert ids["adam"] == "Adam" and ids["sgd"] == "SGD" and ids["rmsprop"] == "RMSprop" and ids["adamw"] == "AdamW"
    adam = args("optimizer", "Adam")
    assert adam["learning_rate"]["type"] == "learning_rate" and adam["learning_rate"]["default"] == 0.001
    assert adam["beta_1"] == {**adam["beta_1"], "default": 0.9, "type": "float"}
    for base in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
                 "loss_scale_factor", "gradient_accumulation_steps", "name"):
        assert base in adam, base
    assert args("optimizer", "Muon")["clipnorm"]["doc"]  # documented by the shared template


def test_schedules():
    decay = args("schedule", "ExponentialDecay")
    assert decay["initial_learning_rate"] == {**decay["initial_learning_rate"], "required": True, "type": "float"}
    assert decay["decay_steps"] == {**decay["decay_steps"], "required": True, "type": "int"}
    assert decay["decay_rate"]["required"] and decay["decay_rate"]["type"] == "float"
    assert decay["staircase"]["default"] is False and decay["staircase"]["type"] == "bool"
    assert set(decay) == {"initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name"}
    assert classes("schedule")["ExponentialDecay"]["path"] == "keras.optimizers.schedules.ExponentialDecay"


def test_losses():
    ids = identifiers("loss")
    assert ids["categorical_crossentropy"] == "categorical_crossentropy"
    assert ids["mse"] == "mean_squared_error" and ids["mae"] == "mean_absolute_error"
    assert ids["MSE"] == "mean_squared_error"
    assert ids["ce"] == ids["crossentropy"] == "crossentropy"  # model.compile's shorthand
    bce = args("loss", "BinaryCrossentropy")
    assert bce["from_logits"]["default"] is False and bce["label_smoothing"]["type"] == "float"


def test_metrics():
    ids = identifiers("metric")
    assert ids["accuracy"] == ids["acc"] == "accuracy"  # model.compile picks the accuracy to use
    assert ids["auc"] == "AUC" and ids["mae"] == "MeanAbsoluteError"
    assert "crossentropy" not in ids  # compile special-cases it for losses only
    assert args("metric", "MeanIoU")["num_classes"]["required"] is True


def test_callbacks():
    early = args("callback", "EarlyStopping")
    assert early["monitor"] == {**early["monitor"], "default": "val_loss", "type": "str"}
    assert early["patience"] == {**early["patience"], "default": 0, "type": "int"}
    assert early["min_delta"]["type"] == "float"  # default 0, but any threshold works
    assert early["mode"]["default"] == "auto"
    assert early["restore_best_weights"]["type"] == "bool"
    assert early["baseline"]["nullable"] is True
    assert set(early) == {"monitor", "min_delta", "patience", "verbose", "mode", "baseline",
                          "restore_best_weights", "start_from_epoch"}
    assert args("callback", "ModelCheckpoint")["filepath"]["required"] is True
    assert args("callback", "ModelCheckpoint")["save_freq"]["type"] == "any"  # "epoch" or an int
    assert identifiers("callback") == {}


def test_initializers_regularizers_constraints_activations():
    assert identifiers("initializer")["glorot_uniform"] == "GlorotUniform"
    assert identifiers("initializer")["he_normal"] == "HeNormal"
    assert "constant" not in identifiers("initializer")  # Constant() needs `value`
    assert identifiers("regularizer")["l2"] == "L2" and identifiers("regularizer")["l1l2"] == "L1L2"
    assert identifiers("constraint")["max_norm"] == "MaxNorm"
    assert args("regularizer", "L2")["l2"] == {**args("regularizer", "L2")["l2"], "default": 0.01, "type": "float"}
    activations = identifiers("activation")
    assert activations["relu"] == "relu" and activations["linear"] == "linear"
    assert activations["swish"] == "silu"
    for kind in ("optimizer", "initializer", "regularizer", "constraint"):
        for key, target in identifiers(kind).items():
            assert target in classes(kind), f"{kind} {key!r} -> {target!r} is no catalog class"


def test_applications():
    mobilenet = classes("application")["MobileNetV2"]
    assert mobilenet["path"] == "keras.applications.MobileNetV2"
    assert "inputs" not in mobilenet
    assert mobilenet["args"]["input_shape"]["type"] == "shape"
    assert mobilenet["args"]["weights"] == {**mobilenet["args"]["weights"], "default": "imagenet", "nullable": True}
    assert mobilenet["args"]["include_top"]["type"] == "bool"
    assert mobilenet["args"]["classifier_activation"]["type"] == "activation"
    assert {"ResNet50", "EfficientNetB0", "VGG16"} <= set(classes("application"))


# --- true to Keras --------------------------------------------------------------------


# Classes that need objects a generic test cannot make, or optional packages.
NOT_BUILDABLE = {"FlaxLayer", "JaxLayer", "TorchModuleWrapper", "TFSMLayer"}
# Classes whose **kwargs swallow anything: HashedCrossing and ReduceLROnPlateau ignore them,
# LambdaCallback stores them as callback methods. The catalog still lists only real arguments.
TAKES_ANY_KWARGS = {"HashedCrossing", "ReduceLROnPlateau", "LambdaCallback"}
# A plausible value for each hidden argument; a new one must be added here, after reading Keras.
HIDDEN_VALUES = {"input_shape": (4,), "input_dim": 4, "input_length": 5, "alpha": 0.2, "implementation": 2,
                 "rms_scaling": False, "vocabulary_size": 10, "has_input_vocabulary": False, "trainable": False,
                 "dtype": None, "decay": None}


def _required_values(keras) -> tuple[dict, dict, dict]:
    by_name = {
        "layer": lambda: keras.layers.Dense(2), "cell": lambda: keras.layers.LSTMCell(2),
        "cells": lambda: [keras.layers.LSTMCell(2)], "layers": lambda: [], "function": lambda: (lambda x: x),
        "equation": "ab,bc->ac", "output_shape": 4, "target_shape": (2, 2), "dims": (1,), "axes": 1,
        "activation": "relu", "num_classes": 3, "target_class_ids": (0,), "boundaries": [10],
        "values": [0.1, 0.01], "schedule": lambda: (lambda epoch, lr: lr), "filename": "log.csv",
        "filepath": "model.keras", "backup_dir": "backup", "directory": "orbax", "value": 0.0,
        "factor": 0.2, "height_factor": 0.2, "width_factor": 0.2,
    }
    by_type = {"int": 2, "float": 0.5, "int_or_ints": 2, "shape": (2, 2), "bool": True, "str": "x", "any": 2}
    per_class = {
        ("Bidirectional", "layer"): lambda: keras.layers.LSTM(2),
        ("RandomPosterization", "factor"): 4,
        # Optional in the signature, yet one of them is needed to build.
        ("CategoryEncoding", None): {"num_tokens": 4},
        ("Discretization", None): {"num_bins": 4},
    }
    return by_name, by_type, per_class


def _build_errors(kind: str) -> tuple[list[str], list[str], int]:
    """(problems, skipped classes, classes checked) for one kind."""
    keras = pytest.importorskip("keras")
    module = importlib.import_module(catalog()["kinds"][kind]["module"])
    by_name, by_type, per_class = _required_values(keras)

    def value(cls_name, arg, entry):
        if (cls_name, arg) in per_class:
            v = per_class[cls_name, arg]
        else:
            v = by_name[arg] if arg in by_name else by_type[entry["type"]]
        return v() if callable(v) else v

    problems, skipped, checked = [], [], 0
    for name, cls in classes(kind).items():
        if name in NOT_BUILDABLE:
            skipped.append(name)
            continue
        build = getattr(module, name)
        needed = {a: value(name, a, e) for a, e in cls["args"].items() if e.get("required")}
        needed.update(per_class.get((name, None), {}))
        try:
            build(**needed)
        except ImportError:  # scipy, orbax: optional dependencies of Keras
            skipped.append(name)
            continue
        checked += 1
        try:
            build(**needed, specc_no_such_argument=1)
            if name not in TAKES_ANY_KWARGS:
                problems.append(f"{name}: accepts an argument the catalog does not list")
        except (TypeError, ValueError):
            if name in TAKES_ANY_KWARGS:
                problems.append(f"{name}: now refuses unknown arguments; update TAKES_ANY_KWARGS")
        defaults = {a: e["default"] for a, e in cls["args"].items() if "default" in e and not e.get("default_repr")}
        try:
            build(**{**defaults, **needed})
        except Exception as error:  # noqa: BLE001 - reported, with the argument at fault
            bad = [a for a, v in defaults.items() if not _builds(build, {**needed, a: v})]
            problems.append(f"{name}: refuses catalog defaults {bad or list(defaults)}: {error}")
        for arg, entry in cls["args"].items():
            if entry.get("nullable") and entry.get("default") is not None and not _builds(build, {**needed, arg: None}):
                problems.append(f"{name}.{arg}: listed as nullable (from its description), but Keras refuses None")
            if entry.get("hidden"):
                if arg not in HIDDEN_VALUES:
                    problems.append(f"{name}.{arg}: new hidden argument; read Keras and add it to HIDDEN_VALUES")
                elif not _builds(build, {**needed, arg: HIDDEN_VALUES[arg]}):
                    problems.append(f"{name}.{arg}: hidden argument refused by Keras")
    return problems, skipped, checked


def _builds(build, kwargs) -> bool:
    try:
        build(**kwargs)
    except Exception:  # noqa: BLE001 - any refusal counts
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind", ["layer", "optimizer", "schedule", "loss", "metric", "callback", "initializer", "regularizer", "constraint"]
)
def test_catalog_matches_keras(kind, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # callbacks given file names write nothing, but keep it contained
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # input_shape on a layer, decay on an optimizer
        problems, skipped, checked = _build_errors(kind)
    assert not problems, "\n".join(problems)
    assert len(skipped) <= max(1, checked // 10), f"too many {kind} classes skipped: {skipped}"


def test_ops_lists_keras_ops_functions_with_their_parameters():
    """What an expression may call: keras.ops's functions, as a user reads them in Keras's API docs."""
    ops = catalog()["ops"]
    assert [p["name"] for p in ops["sum"]["params"]] == ["x", "axis", "keepdims"]
    assert ops["sum"]["params"][0].get("required") and not ops["sum"]["params"][1].get("required")
    assert ops["einsum"]["params"][1].get("variadic")
    for name in ("sqrt", "square", "matmul", "cumsum", "ones_like", "arange", "shape", "cast", "where", "softmax"):
        assert name in ops, name
    # An expression cannot write a Python function, so what needs one is not offered; nor what leaves the graph.
    for name in ("cond", "scan", "while_loop", "fori_loop", "map", "vectorized_map", "custom_gradient", "convert_to_numpy"):
        assert name not in ops, name


def test_layers_record_their_call_signature():
    """call()'s tensors (by name) and its other arguments, as `inputs: {query: ...}` and `call:` take them."""
    layers = classes("layer")
    assert layers["MultiHeadAttention"]["tensors"] == ["query", "value", "key"]
    assert layers["MultiHeadAttention"]["call"]["use_causal_mask"]["type"] == "bool"
    assert layers["MultiHeadAttention"]["call"]["attention_mask"]["type"] == "tensor"
    assert layers["LSTM"]["call"]["initial_state"]["type"] == "tensor"
    assert layers["Dropout"]["call"]["training"]["type"] == "bool"
    assert layers["Add"]["tensors"] == []  # called on one list of tensors
    assert layers["Attention"]["call"]["use_causal_mask"]["type"] == "bool"
