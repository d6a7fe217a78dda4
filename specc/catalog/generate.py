"""Generate `schemas/keras_catalog.json`, specc's catalog of the Keras API, by introspection.

    python -m specc.catalog.generate           # write the file
    python -m specc.catalog.generate --check   # exit 1 if the committed file is stale

The validator reads the catalog and never imports Keras. For each kind of
object a spec can name (layer, optimizer, loss, ...) the catalog lists the
public classes, their constructor arguments, and the strings Keras resolves
(`"adam"` -> `Adam`).

Rules:

* Arguments are the ones Keras really accepts. A class's `__init__`
  parameters come first. When it takes `**kwargs` and passes them on
  (`super().__init__(..., **kwargs)`), the parameters of the `__init__` it
  calls are added too, except those that call already fills (a user passing
  them gets "multiple values"). The walk stops at an `__init__` that does not
  pass `**kwargs` on (for layers, `Layer.__init__`, which raises on leftovers;
  `StringLookup`, which never reaches it). Keys an `__init__` on that path reads
  out of `**kwargs` by name (`kwargs.pop("input_dim")`, `"alpha" in kwargs`)
  are added with `"hidden": true`: accepted, though in no signature.
* `type` is one of: int, float, bool, str, int_or_ints, shape, dtype,
  activation, initializer, regularizer, constraint, layer, layers (a layer or a
  list of layers), learning_rate, any. It comes
  from the name (`kernel_initializer`), else the default (`True`), else the
  description ("Positive integer, ..."), else it is `any`. It is never
  stricter than Keras: a description naming alternatives ("Integer or
  list/tuple") widens it, and TYPE_OVERRIDES fixes defaults narrower than
  what Keras takes (`min_delta=0`). `nullable` is set when the default is None
  or the description lists None as a value.
* `doc` is the argument's entry in the `Args:` section of the class
  docstring, else of `__init__`'s, else of the class declaring the parameter
  (base `Layer` arguments), else of the shared optimizer template, else of
  any base class, else "". Entries are joined into one paragraph.
* Identifiers are the strings the kind's `keras.<module>.get()` resolves,
  checked by calling it, mapped to the name of the class or function they
  resolve to. Ones resolving to a class left out of the catalog (a base
  class) are dropped; `model.compile()`'s own shorthands are added.
* An int_or_ints argument of a spatial layer (`kernel_size` of Conv2D) gets
  `length`: how many integers Keras's `standardize_tuple` wants, the rank in
  the class's name (`Conv2D`: 2), else the length of its tuple default.
* Layers get `inputs`: how many tensors the layer is called on, and whether
  as a list; `tensors`: the names of `call()`'s tensor parameters, in order
  (`query`, `value`, `key`), by which a spec may pass them; and `call`: the
  other parameters of `call()` a spec may set (`initial_state`, `mask`,
  `use_causal_mask`, `training`), each `tensor` (takes tensors: default None)
  or `bool`, and `call_open` when `call()` takes `**kwargs`.
* Layers that learn state from data (`Normalization`, `StringLookup`, ...) get `adapt`.
* `ops` lists the functions of `keras.ops` a tensor expression may call, with
  their parameters in order (`required`, `keyword` for keyword-only,
  `variadic` for `*args`), leaving out those that take a Python function
  (`cond`, `scan`, ...), which an expression cannot write, and those that
  leave the graph (`convert_to_numpy`).
* `dtype_policies` lists every name `keras.dtype_policies.get` accepts (the
  dtypes, the mixed policies, the quantized `<mode>_from_<source>` ones),
  tried one by one; `dtype_modes` the quantization modes that also take
  parameters (`int4/128_from_float32`), which are checked by form.

The output is deterministic: sorted keys, no memory addresses.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import inspect
import json
import numbers
import os
import re
import sys
import textwrap
from pathlib import Path

from specc.catalog import docstrings

# Keras reads the backend when first imported, which happens only inside build_catalog().
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT = REPO_ROOT / "schemas" / "keras_catalog.json"
REFRESH_COMMAND = "python -m specc.catalog.generate"

# kind -> (public module, base class the members subclass, public names left out)
KINDS: dict[str, tuple[str, str | None, set[str]]] = {
    "layer": ("keras.layers", "keras.layers.Layer", {"Layer", "InputLayer"}),  # specs declare inputs apart
    "application": ("keras.applications", None, set()),
    # LossScaleOptimizer and MultiOptimizer wrap optimizer objects a spec cannot write as arguments.
    "optimizer": ("keras.optimizers", "keras.optimizers.Optimizer", {"Optimizer", "LossScaleOptimizer", "MultiOptimizer"}),
    "schedule": ("keras.optimizers.schedules", "keras.optimizers.schedules.LearningRateSchedule", {"LearningRateSchedule"}),
    "loss": ("keras.losses", "keras.losses.Loss", {"Loss", "LossFunctionWrapper"}),
    "metric": ("keras.metrics", "keras.metrics.Metric", {"Metric", "MeanMetricWrapper"}),
    "callback": ("keras.callbacks", "keras.callbacks.Callback", {"Callback", "CallbackList"}),
    "initializer": ("keras.initializers", "keras.initializers.Initializer", {"Initializer"}),
    "regularizer": ("keras.regularizers", "keras.regularizers.Regularizer", {"Regularizer"}),
    "constraint": ("keras.constraints", "keras.constraints.Constraint", {"Constraint"}),
    "activation": ("keras.activations", None, set()),
}
# Kinds whose `get()` resolves strings.
GETTABLE = {"optimizer", "loss", "metric", "initializer", "regularizer", "constraint", "activation"}

# Strings `model.compile()` resolves itself, choosing binary, categorical or
# sparse categorical from the shapes of targets and outputs
# (keras/src/trainers/compile_utils.py: `get_metric`, `get_loss`).
COMPILE_IDENTIFIERS = {
    "metric": {"accuracy": "accuracy", "acc": "accuracy"},
    "loss": {"crossentropy": "crossentropy", "ce": "crossentropy"},
}

# Optimizer docstrings paste this template in; Muon's does not, so it is a source of its own.
EXTRA_ARG_DOCS = {"optimizer": "keras.src.optimizers.base_optimizer.base_optimizer_keyword_args"}

# (implementing class, argument) -> type, where the default is narrower than what Keras takes.
TYPE_OVERRIDES = {
    ("EarlyStopping", "min_delta"): "float",  # default 0; any real threshold
    ("MaxNorm", "max_value"): "float",  # default 2; any positive norm
    ("TensorBoard", "profile_batch"): "any",  # an int, a pair of ints, or "start,stop"
    ("EarlyStopping", "baseline"): "float",  # default None; a value of the monitored quantity
    ("CSVLogger", "filename"): "str",  # a path (an integer would be a file descriptor: 0 is stdin)
    ("OrbaxCheckpoint", "directory"): "str",
    ("IntegerLookup", "dtype"): "any",  # the vocabulary's dtype, which these layers set themselves, not a policy
    ("StringLookup", "dtype"): "any",
    ("LSTM", "use_cudnn"): "any",  # "auto", True or False (keras_rules.yaml lists them)
    ("GRU", "use_cudnn"): "any",
    ("RNN", "cell"): "layers",  # a cell, or a list of cells stacked
    ("StackedRNNCells", "cells"): "layers",
    ("Pipeline", "layers"): "layers",
}

_NAME_TYPES = [  # (full match on the argument name, type); first match wins
    (r"(recurrent_|classifier_)?activation", "activation"),
    (r".*_initializer", "initializer"),
    (r".*_regularizer", "regularizer"),
    (r".*_constraint", "constraint"),
    (r"dtype", "dtype"),  # a dtype policy name, for layers, losses and metrics alike
    (r"(batch_)?input_shape|noise_shape", "shape"),  # noise_shape: [batch, 1, features], None for "as the input"
    (r"input_dim", "int"),  # Keras 2's `Dense(input_dim=...)`, which Layer still reads from **kwargs
    (r"ignore_class|top_k", "int"),  # a class index, a count (SparseCategoricalCrossentropy, MeanIoU, Precision)
]
_LAYER_ARGS = {"layer", "backward_layer", "cell"}  # for layers: a nested layer spec

# Optional `call()` parameters that take a tensor a graph can feed
# (`MultiHeadAttention(query, value, key=None)`); other optional ones are flags or masks.
OPTIONAL_TENSOR_PARAMS = {"key", "count_weights"}

# Layers called on a list whose length `call()`'s signature does not tell: (min, max).
LIST_INPUTS = {
    "Attention": (2, 3),  # [query, value] or [query, value, key]
    "AdditiveAttention": (2, 3),
    "HashedCrossing": (2, None),  # `_check_at_least_two_inputs`
    "Subtract": (2, 2),  # raises unless given exactly two
    "Dot": (2, 2),
    "Merge": (1, None),  # Add, Concatenate, ...: Keras 3 takes a list of one or more
}

# int_or_ints arguments that are one integer per spatial dimension (standardize_tuple(value, rank, name)).
SPATIAL_ARGS = {"kernel_size", "strides", "dilation_rate", "pool_size", "output_padding", "size", "output_size"}
_RANK_IN_NAME = re.compile(r"([123])D(?:Transpose)?$")

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def resolve(path: str):
    """The object at a dotted path such as `keras.layers.Layer`."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


# --- the arguments a constructor accepts -------------------------------------------


def _init_owner(mro: tuple[type, ...], start: int = 0) -> type | None:
    """The first class in `mro[start:]` defining `__init__` itself; None for `object`'s."""
    for klass in mro[start:]:
        if "__init__" in vars(klass):
            return None if klass is object else klass
    return None


def _function_ast(func) -> ast.FunctionDef | None:
    try:
        source = textwrap.dedent(inspect.getsource(inspect.unwrap(func)))
    except (OSError, TypeError):
        return None  # no Python source: nothing to read
    node = ast.parse(source).body[0]
    return node if isinstance(node, ast.FunctionDef) else None


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def hidden_keys(tree: ast.FunctionDef, var_kw: str) -> set[str]:
    """Keys the function reads out of its `**kwargs` by literal name."""
    keys = set()
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            # kwargs.pop("x", ...), kwargs.get("x"), kwargs.setdefault("x", ...)
            if _is_name(node.func.value, var_kw) and node.func.attr in ("pop", "get", "setdefault") and node.args:
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_name(node.value, var_kw):
            key = node.slice  # kwargs["x"]; a store (`kwargs["dtype"] = ...`) is no reading
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            key = node.left if _is_name(node.comparators[0], var_kw) else None  # "x" in kwargs
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            keys.add(key.value)
    return keys


def _forwarding_calls(tree: ast.FunctionDef, var_kw: str) -> list[ast.Call]:
    """The `<something>.__init__(..., **kwargs)` calls passing the function's kwargs on, in the source's order."""
    return [node for node in ast.walk(tree)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__"
                and any(k.arg is None and _is_name(k.value, var_kw) for k in node.keywords))]


def _lookup(node: ast.AST, namespace: dict):
    """The object a name or dotted name (`base_conv.BaseConv`) in the source refers to."""
    if isinstance(node, ast.Attribute):
        return getattr(_lookup(node.value, namespace), node.attr)
    if isinstance(node, ast.Name):
        return namespace[node.id]
    raise ValueError(f"cannot resolve {ast.unparse(node)!r}")


def _call_target(call: ast.Call, cls: type, owner: type, func) -> tuple[type | None, bool]:
    """The class whose `__init__` the call runs, and whether the call passes `self` itself."""
    target = call.func.value
    if isinstance(target, ast.Call) and _is_name(target.func, "super"):
        # super().__init__ or super(X, self).__init__: the next __init__ in the instance's MRO.
        after = _lookup(target.args[0], func.__globals__) if target.args else owner
        return _init_owner(cls.__mro__, cls.__mro__.index(after) + 1), False
    base = _lookup(target, func.__globals__)  # Base.__init__(self, ...)
    return _init_owner(base.__mro__), True


def _filled_by_call(call: ast.Call, params: list[inspect.Parameter], passes_self: bool) -> set[str]:
    """The target's parameters the forwarding call fills itself, by keyword or by position."""
    names = {k.arg for k in call.keywords if k.arg}
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for name, arg in zip(positional, call.args[1:] if passes_self else call.args):
        if isinstance(arg, ast.Starred):
            break  # *args: the caller's positionals, not fixed ones
        names.add(name)
    return names


def _params(func, drop_self: bool) -> list[inspect.Parameter]:
    params = list(inspect.signature(func).parameters.values())
    return params[1:] if drop_self else params


def _named(params: list[inspect.Parameter]) -> list[inspect.Parameter]:
    return [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def accepted_args(obj) -> dict[str, tuple[inspect.Parameter | None, object]]:
    """{name: (its parameter, or None when hidden; the class or function declaring it)}."""
    if not inspect.isclass(obj):
        return {p.name: (p, obj) for p in _named(_params(obj, False))}
    found: dict[str, tuple[inspect.Parameter | None, object]] = {}
    hidden: dict[str, object] = {}
    filled: set[str] = set()  # filled by a forwarding call on the way: passing them collides
    owner = _init_owner(obj.__mro__)
    while owner is not None:
        func = vars(owner)["__init__"]
        params = _params(func, True)
        for p in _named(params):
            if p.name not in found and p.name not in filled:
                found[p.name] = (p, owner)
        var_kw = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
        tree = _function_ast(func) if var_kw else None
        if tree is None:
            break  # no **kwargs: anything else is a TypeError
        for key in hidden_keys(tree, var_kw) - filled:
            hidden.setdefault(key, owner)
        call, target = None, (None, False)
        for candidate in _forwarding_calls(tree, var_kw):
            try:  # keras.Model's first call is to a class it imports inside __init__ (Functional): then Layer's
                call, target = candidate, _call_target(candidate, obj, owner, func)
                break
            except (KeyError, AttributeError, ValueError):
                continue
        if target[0] is None:
            break  # kwargs stop here: read by name above, or swallowed
        filled |= _filled_by_call(call, _params(vars(target[0])["__init__"], True), target[1])
        owner = target[0]
    for key, declarer in hidden.items():
        found.setdefault(key, (None, declarer))
    return found


# --- one argument's entry ----------------------------------------------------------


def json_default(value) -> tuple[object, bool]:
    """(the default as JSON, False), or (a stable repr, True) when it has no JSON form."""
    if value is None or isinstance(value, (bool, str)):
        return value, False
    if isinstance(value, numbers.Integral):
        return int(value), False
    if isinstance(value, numbers.Real) and abs(float(value)) < float("inf"):
        return float(value), False  # NaN fails the comparison too
    if isinstance(value, (tuple, list)):
        items = [json_default(v) for v in value]
        if not any(is_repr for _, is_repr in items):
            return [v for v, _ in items], False
    return _ADDRESS.sub("", repr(value)), True


def _default_type(default) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, numbers.Integral):
        return "int"
    if isinstance(default, numbers.Real):
        return "float"
    if isinstance(default, str):
        return "str"
    if isinstance(default, (tuple, list)) and default and all(
        v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in default
    ):
        return "int_or_ints"  # Keras normalizes a plain int for strides, pool_size, ...
    return "any"  # nested tuples, floats pairs, objects


def infer_type(name: str, kind: str, default, doc: str) -> str:
    """The argument's type, by name, then default, then description (see the module docstring).

    `default` is `inspect.Parameter.empty` for required and hidden arguments.
    """
    for pattern, type_name in _NAME_TYPES:
        if re.fullmatch(pattern, name):
            return type_name
    if kind == "layer" and name in _LAYER_ARGS:
        return "any" if docstrings.widening(doc) else "layer"  # RNN's `cell` may be a list of cells
    if kind == "optimizer" and name == "learning_rate":
        return "learning_rate"
    stated = docstrings.type_from_doc(doc)
    if default is inspect.Parameter.empty or default is None:
        return stated or "any"
    by_default = _default_type(default)
    if by_default == "int" and stated == "float":
        return "float"  # `label_smoothing=0`, documented as a float
    widened = docstrings.widening(doc)
    if widened:  # "Integer or list/tuple", "`"epoch"` or integer"
        return "int_or_ints" if widened == "int_or_ints" and by_default in ("int", "int_or_ints") else "any"
    if by_default == "int_or_ints" and not re.search(r"\bint", doc, re.I):
        return "any"  # `value_range=(0, 255)` takes floats too
    return by_default


def arg_entry(name: str, param: inspect.Parameter | None, kind: str, doc: str, owner: str) -> dict:
    """The catalog entry of one argument; `owner` names the implementing class."""
    entry: dict[str, object] = {"doc": doc}
    default = inspect.Parameter.empty if param is None else param.default
    if param is None:
        entry["hidden"] = True
    elif default is inspect.Parameter.empty:
        entry["required"] = True
    else:
        entry["default"], is_repr = json_default(default)
        if is_repr:
            entry["default_repr"] = True
        if default is None or docstrings.admits_none(doc, name):
            entry["nullable"] = True
    entry["type"] = TYPE_OVERRIDES.get((owner, name)) or infer_type(name, kind, default, doc)
    length = tuple_length(owner, name, default) if entry["type"] == "int_or_ints" else None
    if length:
        entry["length"] = length
    return entry


def tuple_length(owner: str, name: str, default) -> int | None:
    """How many integers a spatial int_or_ints argument takes (see the module docstring); None: any."""
    rank = _RANK_IN_NAME.search(owner)
    if name in SPATIAL_ARGS and rank:
        return int(rank.group(1))
    if isinstance(default, (tuple, list)) and name in SPATIAL_ARGS:
        return len(default)
    return None


def _arg_sections(obj, kind: str, declarers: list, names: set[str]) -> list[dict[str, str]]:
    """The `Args:` sections to look arguments up in, best first."""
    sources = [obj.__doc__]
    if inspect.isclass(obj):
        sources.append(getattr(obj.__init__, "__doc__", None))
    for declarer in declarers:
        sources += [declarer.__doc__, getattr(declarer, "__init__", None).__doc__]
    if kind in EXTRA_ARG_DOCS:
        # The template's first entry is unindented, the rest 8 spaces deep, as pasted into a docstring.
        sources.append(f"Base arguments.\n    Args:\n        {resolve(EXTRA_ARG_DOCS[kind])}")
    if inspect.isclass(obj):
        sources += [klass.__doc__ for klass in obj.__mro__[1:]]  # `name` of StringLookup: Layer's
    return [docstrings.args_section(s, names) for s in sources if s]


def describe(obj, kind: str, public_path: str) -> dict:
    """The catalog entry of a class or an application function."""
    accepted = accepted_args(obj)
    declarers = []
    for _, declarer in accepted.values():
        if declarer is not obj and declarer not in declarers:
            declarers.append(declarer)
    sections = _arg_sections(obj, kind, declarers, set(accepted))
    args = {}
    for name, (param, _) in accepted.items():
        doc = next((s[name] for s in sections if s.get(name)), "")
        args[name] = arg_entry(name, param, kind, doc, obj.__name__)
    entry = {"path": public_path, "doc": docstrings.summary(obj.__doc__), "args": args}
    if kind == "layer":
        entry["inputs"] = layer_inputs(obj)
        entry.update(layer_call(obj))
        if callable(getattr(obj, "adapt", None)):  # a preprocessing layer that learns its state from data
            entry["adapt"] = True
    elif kind == "application":  # a functional model: called on one tensor, `training` as Model.call takes it
        entry["call"] = {"training": {"type": "bool", "default": None}}
    return entry


# --- layer inputs ------------------------------------------------------------------


def layer_inputs(cls: type) -> dict:
    """How many tensors the layer is called on: {"min", "max"}, with "list" when given as one list."""
    for klass in cls.__mro__:
        if klass.__name__ in LIST_INPUTS and klass.__module__.startswith("keras."):
            low, high = LIST_INPUTS[klass.__name__]
            return {"min": low, "max": high, "list": True}
    low = high = 0
    for p in _params(cls.call, True):
        if p.name in ("training", "mask") or p.kind is p.VAR_KEYWORD:
            continue
        if p.kind is p.VAR_POSITIONAL:
            return {"min": max(low, 1), "max": None}  # call(*args): TorchModuleWrapper, Wrapper
        if p.default is inspect.Parameter.empty:
            low, high = low + 1, high + 1
        elif p.name in OPTIONAL_TENSOR_PARAMS:
            high += 1
    return {"min": max(low, 1), "max": max(high, 1)}


def layer_call(cls: type) -> dict:
    """`tensors` (the names of call()'s tensor parameters) and `call` (its other parameters; see the module docstring)."""
    tensors, options, open_call = [], {}, False
    if any(klass.__name__ in LIST_INPUTS for klass in cls.__mro__ if klass.__module__.startswith("keras.")):
        params = _params(cls.call, True)[1:]  # call(inputs, ...): one list of tensors first
    else:
        params = _params(cls.call, True)
        while params and params[0].name not in ("training", "mask") and params[0].kind is params[0].POSITIONAL_OR_KEYWORD and (
                params[0].default is inspect.Parameter.empty or params[0].name in OPTIONAL_TENSOR_PARAMS):
            tensors.append(params.pop(0).name)
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            open_call = True
        elif p.kind is not p.VAR_POSITIONAL:
            takes = "bool" if isinstance(p.default, bool) or p.name == "training" else "tensor"
            options[p.name] = {"type": takes, "default": json_default(p.default)[0] if p.default is not p.empty else None}
    entry = {"tensors": tensors, "call": options}
    if open_call:
        entry["call_open"] = True
    return entry


# --- keras.ops -----------------------------------------------------------------------

# Functions of keras.ops an expression cannot use: they take a Python function, or leave the graph.
_OPS_CALLABLE_PARAMS = {"f", "fn", "body", "cond", "branches", "true_fn", "false_fn", "body_fun", "function"}
_OPS_LEFT_OUT = {"convert_to_numpy"}


def ops_functions() -> dict:
    """{name: {"params": [...], "doc": summary}} for the functions of keras.ops an expression may call."""
    import keras

    found = {}
    for name in sorted(dir(keras.ops)):
        func = getattr(keras.ops, name)
        if name.startswith("_") or not inspect.isfunction(func) or name in _OPS_LEFT_OUT:
            continue
        params = list(inspect.signature(func).parameters.values())
        if any(p.name in _OPS_CALLABLE_PARAMS for p in params):
            continue
        entries = []
        for p in params:
            if p.kind is p.VAR_KEYWORD:
                entries.append({"name": p.name, "kwargs": True})
                continue
            item: dict[str, object] = {"name": p.name}
            if p.kind is p.VAR_POSITIONAL:
                item["variadic"] = True
            elif p.default is p.empty:
                item["required"] = True
            if p.kind is p.KEYWORD_ONLY:
                item["keyword"] = True
            entries.append(item)
        found[name] = {"params": entries, "doc": docstrings.summary(func.__doc__)}
    return found


# --- public objects and identifiers ------------------------------------------------


def public_members(kind: str) -> dict[str, object]:
    """{public name: class subclassing the kind's base}, or the public model functions of applications."""
    module_path, base_path, excluded = KINDS[kind]
    module = importlib.import_module(module_path)
    base = resolve(base_path) if base_path else None
    members = {}
    for name in dir(module):
        obj = getattr(module, name)
        if name.startswith("_") or name in excluded:
            continue
        if base is not None and inspect.isclass(obj) and issubclass(obj, base):
            members[name] = obj
        elif kind == "application" and inspect.isfunction(obj) and name[0].isupper():
            members[name] = obj
    return members


def _resolved_name(get, key: str, objects: dict) -> str | None:
    """The name of what `get(key)` returns, or None when Keras refuses the key."""
    try:
        obj = get(key)
    except ImportError:
        obj = objects.get(key)  # an optional dependency (scipy for "stft") is missing, not the name
    except Exception:  # ValueError for unknown names, TypeError/KeyError for classes needing arguments
        return None
    if obj is None:
        return None
    if not inspect.isclass(obj) and not inspect.isfunction(obj):
        obj = type(obj)  # get() instantiated the class
    return obj.__name__


def identifiers(kind: str, class_names: set[str]) -> dict[str, str]:
    """{string: name of the class or function it resolves to} for the strings `get()` accepts."""
    if kind not in GETTABLE:
        return {}
    module_path = KINDS[kind][0]
    public = importlib.import_module(module_path)
    objects = importlib.import_module(module_path.replace("keras.", "keras.src.", 1)).ALL_OBJECTS_DICT
    candidates = set(objects) | {n for n in dir(public) if not n.startswith("_")}
    found = {}
    for key in sorted(candidates):
        name = _resolved_name(public.get, key, objects)
        resolved = objects.get(key, getattr(public, key, None))
        if name is None or (inspect.isclass(resolved) and name not in class_names):
            continue  # refused, or a base class left out of the catalog ("Loss", "initializer")
        found[key] = name
    found.update(COMPILE_IDENTIFIERS.get(kind, {}))
    return found


def dtype_policies() -> tuple[list[str], list[str]]:
    """(every dtype policy name `keras.dtype_policies.get` accepts, the modes that take parameters)."""
    from keras.src.backend.common import dtypes
    from keras.src.dtype_policies import dtype_policy

    import keras

    plain = [*dtypes.ALLOWED_DTYPES, *(k for k in dtypes.PYTHON_DTYPES_MAP if isinstance(k, str)),
             "mixed_float16", "mixed_bfloat16"]
    quantized = [f"{mode}_from_{source}" for mode in dtype_policy.QUANTIZATION_MODES for source in plain]
    accepted = []
    for name in sorted(set(plain + quantized)):
        try:
            keras.dtype_policies.get(name)
        except Exception:  # ValueError, TypeError, NotImplementedError: refused
            continue
        accepted.append(name)
    # int4/128_from_float32, gptq/4/128_from_float32: parameters between the mode and "_from_".
    with_parameters = [m for m in dtype_policy.QUANTIZATION_MODES if m in ("int4", "gptq", "awq")]
    return accepted, with_parameters


def build_catalog() -> dict:
    """Introspect the installed Keras into the catalog."""
    import keras

    kinds = {}
    for kind, (module_path, _, _) in KINDS.items():
        members = public_members(kind) if kind != "activation" else {}
        classes = {name: describe(obj, kind, f"{module_path}.{name}") for name, obj in members.items()}
        class_names = {obj.__name__ for obj in members.values()}
        kinds[kind] = {"module": module_path, "classes": classes, "identifiers": identifiers(kind, class_names)}
    policies, modes = dtype_policies()
    return {
        "about": f"DO NOT EDIT. This file was autogenerated by `{REFRESH_COMMAND}` from keras {keras.__version__}.",
        "keras_version": keras.__version__,
        "kinds": kinds,
        "dtype_policies": policies,
        "dtype_modes": modes,
        "ops": ops_functions(),
    }


def render(catalog: dict) -> str:
    """The exact text of the catalog file."""
    return json.dumps(catalog, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REFRESH_COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed catalog is not current")
    check = parser.parse_args(argv).check
    text = render(build_catalog())
    relative = OUTPUT.relative_to(REPO_ROOT)
    if not check:
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        OUTPUT.write_text(text, encoding="utf-8")
        print(f"wrote {relative} ({len(text):,} bytes)")
        return 0
    old = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    if old == text:
        return 0
    diff = list(difflib.unified_diff(old.splitlines(), text.splitlines(), "committed", "generated", lineterm="", n=0))
    shown = diff[:30] + ([f"... and {len(diff) - 30} more diff lines"] if len(diff) > 30 else [])
    print(f"{relative} is out of date; run `{REFRESH_COMMAND}`.", *shown, sep="\n", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
