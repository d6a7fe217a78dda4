"""Backend 2, emit: a lowered spec as a standalone Keras script (Jinja templates in templates/).

Python prepares every line (`ScriptView`); the templates only lay them out.
Every value from a spec enters the code through `literal` (repr-based, so a
name with quotes, backslashes, newlines or `{{ }}` stays a string), every
variable name through `identifier`, and every Keras name from the catalog
(`specc.keras_objects.describe`): nothing a spec says can become code that
was not meant. The script builds exactly what `specc.build_model` builds,
in the same order, so the same seed gives the same weights.

Importing this module does not import Keras.
"""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from functools import cache
from typing import Any

from specc import __version__
from specc.build import describe_per_output
from specc.catalog import load_catalog
from specc.ir import LayerNode, Ref, Spec
from specc.keras_objects import Call, describe_args, describe_optimizer

LINE_LIMIT = 100
INDENT = "    "


# -- values and names ---------------------------------------------------------------


def literal(value: Any) -> str:
    """Python source for a plain value: repr for scalars (so any string is safe), recursion for containers."""
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else '-float("inf")'
        return repr(value)
    if isinstance(value, str):
        text = repr(str(value))  # str(): a str subclass must not choose its own repr
        if text.startswith("'") and "'" not in value and '"' not in value:
            text = '"' + text[1:-1] + '"'  # the quotes people write; nothing inside needs escaping
        return text
    if value is None or type(value) in (bool, int):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Python literal for {type(value).__name__}")


def identifier(name: str, taken: set[str]) -> str:
    """A valid, unused Python variable name for `name` (a layer or input name)."""
    base = re.sub(r"\W", "_", name, flags=re.ASCII) or "_"
    if base[0].isdigit():
        base = f"_{base}"
    if keyword.iskeyword(base) or base in RESERVED_NAMES:
        base = f"{base}_"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    taken.add(candidate)
    return candidate


RESERVED_NAMES = {"keras", "os", "model", "frozen", "build_model"}  # the script's own names


def source(value: Any, indent: str = "", room: int = 0) -> str:
    """Python source for a described value (see specc.keras_objects): Calls become constructor calls.

    `room`: columns taken on its first line before it (`key=`) and after it (`,`).
    """
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, Call):
        return call_source(value.path, value.kwargs, indent, room=room)
    if isinstance(value, list):
        return _wrapped("[", [source(v, indent + INDENT, 1) for v in value], "]", indent, room)
    if isinstance(value, dict) and any(isinstance(v, (Call, list, dict)) for v in value.values()):
        items = [f"{literal(k)}: {source(v, indent + INDENT, len(literal(k)) + 3)}" for k, v in value.items()]
        return _wrapped("{", items, "}", indent, room)
    return literal(value)


def call_source(function: str, kwargs: dict[str, Any], indent: str = "", room: int = 0) -> str:
    """`function(key=value, ...)`, on one line when it fits, else one argument per line."""
    arguments = [f"{key}={source(value, indent + INDENT, len(key) + 2)}" for key, value in kwargs.items()]
    return _wrapped(f"{function}(", arguments, ")", indent, room)


def _wrapped(opening: str, items: list[str], closing: str, indent: str, room: int = 0) -> str:
    one_line = opening + ", ".join(items) + closing
    if len(indent) + room + len(one_line) <= LINE_LIMIT and "\n" not in one_line:
        return one_line
    inner = indent + INDENT
    return opening + "\n" + "".join(f"{inner}{item},\n" for item in items) + indent + closing


# -- the model ---------------------------------------------------------------------------


@dataclass
class ModelCode:
    """The body of the generated build_model(): lines, indented one level."""

    lines: list[str] = field(default_factory=list)
    needs_frozen: bool = False  # the script defines frozen(model) for applications with trainable: false
    functions: list[str] = field(default_factory=list)  # one per block (specc.emit_blocks)


def _layer_call(node: LayerNode, upstream: list[str] | None = None) -> tuple[str, bool]:
    """The constructor call of one node's layer, and whether it must be frozen (trainable: false)."""
    info = load_catalog()[node.kind].classes[node.type]
    kwargs = describe_args(info, node.args)
    frozen = False
    if node.kind == "application":
        frozen = kwargs.pop("trainable", True) is False
        if "input_shape" not in kwargs and upstream and len(upstream) == 1:
            kwargs["input_shape"] = _Raw(f"tuple({upstream[0]}.shape[1:])")  # as specc.build does
    return info.path, {"name": node.name, **kwargs} if node.kind == "application" else {**kwargs, "name": node.name}, frozen


class _Raw(str):
    """Generated code (never spec content): printed as is."""


def _constructor(node: LayerNode, indent: str, upstream: list[str] | None = None, room: int = 0) -> tuple[str, bool]:
    """The layer's constructor call; `room`: columns the rest of its line takes (`x = ` and `(y)`)."""
    path, kwargs, frozen = _layer_call(node, upstream)
    arguments = [f"{key}={source(value, indent + INDENT, len(key) + 2)}" for key, value in kwargs.items()]
    return _wrapped(f"{path}(", arguments, ")", indent, room), frozen


def _input_call(node) -> str:
    kwargs: dict[str, Any] = {"shape": tuple(node.shape)}
    if node.batch_size is not None:
        kwargs["batch_size"] = node.batch_size
    kwargs["dtype"] = node.dtype
    if node.sparse:
        kwargs["sparse"] = True
    if node.ragged:
        kwargs["ragged"] = True
    kwargs["name"] = node.name
    return call_source("keras.Input", kwargs, INDENT * 2)


def model_code(spec: Spec) -> ModelCode:
    from specc import emit_blocks

    graph = spec.graph
    code = ModelCode()
    functions, instances = emit_blocks.plan(spec)
    written: set[str] = set()
    for instance in instances.values():
        if instance.block not in written:
            written.add(instance.block)
            code.functions.append(emit_blocks.function_source(functions[instance.block], instance, graph.sequential))
    inside = {node.name for instance in instances.values() for node in instance.nodes[1:]}
    if graph.sequential:
        items = [_input_call(graph.inputs[0])] if graph.inputs else []
        for node in graph.layers:
            if node.name in instances:
                instance = instances[node.name]
                items.append("*" + emit_blocks.call_source(functions[instance.block], instance, None))
                continue
            if node.name in inside:
                continue
            text, frozen = _constructor(node, INDENT * 2)
            items.append(f"frozen({text})" if frozen else text)
            code.needs_frozen |= frozen
        code.lines.append("model = " + _wrapped("keras.Sequential(", [_wrapped("[", items, "]", INDENT), f"name={literal(spec.name)}"], ")", ""))
        return code

    taken: set[str] = set()
    tensors: dict[str, str] = {}
    for node in graph.inputs:
        tensors[node.name] = identifier(node.name, taken)
        code.lines.append(f"{tensors[node.name]} = {_input_call(node)}")
    layer_vars: dict[str, str] = {}
    shared = {node.shares for node in graph.layers if node.shares}
    takes = {name: info.inputs for name, info in load_catalog()["layer"].classes.items()}
    for node in graph.layers:
        if node.name in inside:
            continue
        args = [_ref_source(ref, tensors) for ref in node.inputs]
        if node.name in instances:
            instance = instances[node.name]
            last = instance.nodes[-1].name
            tensors[last] = identifier(last, taken)
            call = emit_blocks.call_source(functions[instance.block], instance, args[0] if args else "None")
            code.lines.append(f"{tensors[last]} = {call}")
            continue
        owner = node.shares or node.name
        if owner not in layer_vars:
            owner_node = next(n for n in graph.layers if n.name == owner)
            text, frozen = _constructor(owner_node, "", args)
            if owner in shared or frozen or node.kind == "application":
                layer_vars[owner] = identifier(f"{owner}_layer", taken)
                code.lines.append(f"{layer_vars[owner]} = {text}")
                if frozen:
                    code.lines.append(f"{layer_vars[owner]}.trainable = False")
            else:
                layer_vars[owner] = text  # created where it is called, as a person writes it
        low, high, takes_list = takes.get(node.type, (1, 1, False)) if node.kind == "layer" else (1, 1, False)
        call_args = f"[{', '.join(args)}]" if takes_list else ", ".join(args)
        tensors[node.name] = identifier(node.name, taken)
        layer = layer_vars[owner]
        room = len(INDENT) + len(tensors[node.name]) + 3 + len(call_args) + 2
        if layer.startswith("keras.") and len(INDENT) + room + len(layer) > LINE_LIMIT:  # made here: wrap it to fit
            layer = _constructor(owner_node, "", args, room=LINE_LIMIT)[0]
        code.lines.append(f"{tensors[node.name]} = {layer}({call_args})")
    inputs = [tensors[node.name] for node in graph.inputs]
    outputs = [tensors[name] for name in graph.outputs]
    code.lines.append("model = " + call_source("keras.Model", {
        "inputs": _Raw(inputs[0] if len(inputs) == 1 else "[" + ", ".join(inputs) + "]"),
        "outputs": _Raw(outputs[0] if len(outputs) == 1 else "[" + ", ".join(outputs) + "]"),
        "name": spec.name}, ""))
    return code


def _ref_source(ref: Ref, tensors: dict[str, str]) -> str:
    return tensors[ref.name] if ref.index is None else f"{tensors[ref.name]}[{ref.index}]"


def compile_code(spec: Spec) -> list[str]:
    """model.compile(...) as build.compile_model calls it, Keras's defaults left out."""
    section = spec.document.compile
    if section is None:
        return []
    raw = spec.resolved.get("compile") or {}
    kwargs: dict[str, Any] = {"optimizer": describe_optimizer(raw.get("optimizer", "rmsprop"))}
    for key, kind in (("loss", "loss"), ("metrics", "metric"), ("weighted_metrics", "metric")):
        if raw.get(key) is not None:
            kwargs[key] = describe_per_output(raw[key], kind)
    if section.loss_weights is not None:
        kwargs["loss_weights"] = section.loss_weights
    defaults = {"run_eagerly": False, "steps_per_execution": 1, "jit_compile": "auto", "auto_scale_loss": True}
    for key, default in defaults.items():
        if getattr(section, key) != default:
            kwargs[key] = getattr(section, key)
    return (INDENT + call_source("model.compile", kwargs, INDENT)).splitlines()


# -- the script ---------------------------------------------------------------------------


@dataclass
class ScriptView:
    """Everything the template prints, prepared in Python."""

    spec_path: str  # as literals
    spec_sha256: str
    specc_version: str
    description: str
    seed: str | None
    model_lines: list[str]
    compile_lines: list[str]
    needs_frozen: bool
    functions: list[str]  # the blocks' functions, complete
    header_version: str  # for the comment lines at the top: literals, so nothing in them can end a comment
    header_source: str
    header_sha256: str
    imports: list[str] = field(default_factory=lambda: ["import os"])  # before os.environ is set
    keras_imports: list[str] = field(default_factory=lambda: ["import keras  # noqa: E402"])
    data: DataView | None = None  # load_data(), make_dataset(), train() and main(): specs with a `data:` section


@cache
def _environment():
    import jinja2

    from specc.resources import data_dir

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        undefined=jinja2.StrictUndefined,  # a missing view field is an error, not an empty string
        autoescape=False,  # Python, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def script_view(spec: Spec, spec_path: str) -> ScriptView:
    from specc.resolve import content_hash

    code = model_code(spec)
    indented = [INDENT + line for text in code.lines for line in text.splitlines()]
    view = ScriptView(
        spec_path=literal(spec_path),
        spec_sha256=literal(content_hash(spec)),
        specc_version=literal(__version__),
        description=literal(spec.description or spec.name),
        seed=literal(spec.seed) if spec.seed is not None else None,
        model_lines=indented,
        compile_lines=compile_code(spec),
        needs_frozen=code.needs_frozen,
        functions=code.functions,
        header_version=__version__,
        # The path as given, or its file name where the path would not fit in a line (SPEC holds it whole).
        header_source=literal(spec_path) if len(literal(spec_path)) <= 90 else literal(Path(spec_path).name),
        header_sha256=content_hash(spec),
    )
    if spec.resolved.get("data") is not None:
        view.data = data_view(spec)
        needs = set(view.data.helpers)
        view.imports = ["import argparse", *(["import csv"] if "read_csv" in needs else []),
                        *(["import gzip", "import importlib.util"] if "read_builtin" in needs else []),
                        "import json", *(["import math"] if "read_csv" in needs else []), "import os"]
        view.keras_imports += ["import numpy as np  # noqa: E402", "import tensorflow as tf  # noqa: E402"]
    return view


def render_script(spec: Spec, spec_path: str | None = None) -> str:
    """The standalone Python script for a spec (deterministic: same spec, same bytes)."""
    view = script_view(spec, spec_path or spec.path)
    return _environment().get_template("script.py.j2").render(view=view)


# -- data and training ---------------------------------------------------------------------
# The script's load_data() reads the source and applies the transforms and the split with the
# same NumPy calls as specc.data (fixed helper functions in templates/data.py.j2); train()
# feeds tf.data as specc.data.to_dataset does and fits as specc.train does. Only the lines that
# carry spec values are prepared here.

FILES_COMMENT = "# The spec's data file, relative to the folder `specc codegen` ran in."
TRANSFORMS = ("rescale", "reshape", "cast", "one_hot", "pad")


@dataclass
class DataView:
    """What templates/data.py.j2 and train.py.j2 print; empty when the spec has no `data:` section."""

    helpers: list[str] = field(default_factory=list)  # fixed helper functions the script needs, in order
    transform_lines: list[str] = field(default_factory=list)  # body of transformed(x, y)
    load_lines: list[str] = field(default_factory=list)  # body of load_data()
    train_lines: list[str] = field(default_factory=list)  # body of train()
    parser_lines: list[str] = field(default_factory=list)  # main()'s argparse.ArgumentParser


def _body(text: str) -> list[str]:
    """Code made at one indent level (a function body) as lines relative to that level."""
    return [line[len(INDENT):] if i and line.startswith(INDENT) else line for i, line in enumerate(text.splitlines())]


def _transform_lines(part: str, plan: dict[str, list]) -> list[str]:
    """`x["input"] = rescale(x["input"], 0.0625)`: each transform, in order, as specc.data.transforms applies it."""
    lines = []
    for name, items in plan.items():
        target = f"{part}[{literal(name)}]"
        for item in items:
            if item.kind == "pad":
                pad = item.argument
                call = call_source("pad", {"x": _Raw(target), "length": pad.length, "padding": pad.padding,
                                           "truncating": pad.truncating, "value": pad.value}, INDENT,
                                   len(target) + 3)
            else:
                call = f"{item.kind}({target}, {literal(item.argument)})"
            lines.extend(_body(f"{target} = {call}"))
    return lines


def _plan(transforms: Any, names: list[str]) -> dict[str, list]:
    if isinstance(transforms, list):
        return {names[0]: transforms} if transforms else {}
    return {name: items for name, items in transforms.items() if items}


def _named(part: Any, names: list[str], wrap: str, indent: str) -> str:
    """`{model name: array}` source for a source's x or y (one array, or npz names per model input/output)."""
    if isinstance(part, dict):
        return _wrapped("{", [f"{literal(n)}: archive[{literal(part[n])}]" for n in names], "}", indent, 1)
    return _wrapped("{", [f"{literal(names[0])}: {wrap}"], "}", indent, 1)


def _transformed(target: str, x: tuple, y: tuple, indent: str = INDENT) -> list[str]:
    """`x, y = transformed({...}, {...})`, wrapped to fit; x and y: _named's (part, names, wrap)."""
    items = [_named(*x, indent + INDENT), _named(*y, indent + INDENT)]
    return _body(f"{target} = " + _wrapped("transformed(", items, ")", indent, len(target) + 3))


def _data_file(locate, path: tuple, value: str) -> str:
    """A data file's path as the script opens it: relative to the working folder codegen ran in, when it can."""
    import os

    target = locate.base_dir(path) / value
    try:
        return os.path.relpath(target).replace(os.sep, "/")
    except ValueError:  # another drive
        return str(target.resolve())


def data_view(spec: Spec) -> DataView:
    from specc.data import Locator, data_section, input_names
    from specc.data.schema import KERAS_DATASETS, KerasDataset

    section = data_section(spec)
    locate = Locator(spec)
    inputs, outputs = input_names(spec), list(spec.graph.outputs)
    view = DataView(parser_lines=_body("parser = " + call_source(
        "argparse.ArgumentParser", {"description": f"Train {spec.name} (generated by specc)."}, INDENT, 9)))
    helpers: set[str] = set()

    # transformed(x, y)
    features, labels = _plan(section.features, inputs), _plan(section.labels, outputs)
    helpers.update(item.kind for items in (*features.values(), *labels.values()) for item in items)
    view.transform_lines = _transform_lines("x", features) + _transform_lines("y", labels)

    # the source
    source, lines, own_test = section.source, view.load_lines, False
    if source.builtin is not None:
        helpers.add("read_builtin")
        lines.append(f"x, y = read_builtin({literal(source.builtin)})")
        lines.extend(_transformed("x, y", (None, inputs, "x"), (None, outputs, "y")))
    elif source.keras is not None:
        given = source.keras
        name, kwargs = (given.name, dict(given.model_extra or {})) if isinstance(given, KerasDataset) else (given, {})
        assert name in KERAS_DATASETS  # a module name from specc's own list, never spec text
        own_test = True
        lines.extend(_body("(x, y), (x_test, y_test) = " + call_source(f"keras.datasets.{name}.load_data", kwargs,
                                                                         INDENT, room=28)))
        for suffix, target in (("", "x, y"), ("_test", "test")):
            lines.extend(_transformed(target, (None, inputs, f"np.asarray(x{suffix})"),
                                      (None, outputs, f"np.asarray(y{suffix})")))
    elif source.npz is not None:
        path = _data_file(locate, ("data", "source", "npz", "path"), source.npz.path)
        lines.append(FILES_COMMENT)
        lines.extend(_body("with " + _wrapped("np.load(", [literal(path), "allow_pickle=False"], ")", INDENT, 16)
                           + " as archive:"))
        inside = _transformed("x, y", (source.npz.x, inputs, f"archive[{literal(source.npz.x)}]"),
                              (source.npz.y, outputs, f"archive[{literal(source.npz.y)}]"), INDENT * 2)
        lines.extend([INDENT + inside[0], *inside[1:]])  # in the `with` block
    elif source.csv is not None:
        helpers.add("read_csv")
        path = _data_file(locate, ("data", "source", "csv", "path"), source.csv.path)
        lines.append(FILES_COMMENT)
        lines.extend(_body("x, y = " + _wrapped("read_csv(", [literal(path), literal(source.csv.label)], ")", INDENT, 7)))
        lines.extend(_transformed("x, y", (None, inputs, "x"), (None, outputs, "y")))
    else:
        view.load_lines = ["raise NotImplementedError(",
                           INDENT + '"this spec\'s data source (a folder of images) is read by specc only: "',
                           INDENT + '"run `specc train` on the spec, or write load_data() for it"',
                           ")"]
        lines = None
    if lines is not None:
        _split_lines(lines, section.split, spec.seed, inputs[0], own_test, helpers)

    order = ["read_builtin", "read_csv", *TRANSFORMS]
    view.helpers = [h for h in order if h in helpers] + (["take"] if "take" in helpers else [])
    view.train_lines = _train_lines(spec, section, own_test or section.split.test > 0, section.split.validation > 0)
    return view


def _split_lines(lines: list[str], split, seed: int | None, first_input: str, own_test: bool, helpers: set) -> None:
    """specc.data.split.carve: the same counts (Python's round) and the same permutation of the same seed."""
    has_test = own_test or split.test > 0
    has_val = split.validation > 0
    test = "test" if own_test else None
    if not has_val and not (split.test > 0 and not own_test):
        lines.append(f'return {{"train": (x, y), "validation": None, "test": {test or "None"}}}')
        return
    helpers.add("take")
    lines.append(f"n = len(x[{literal(first_input)}])")
    lines.append("n_test = 0  # the source has its own test set" if own_test else f"n_test = round(n * {literal(split.test)})")
    lines.append(f"n_val = round(n * {literal(split.validation)})")
    lines.append(f"order = np.random.default_rng({literal(seed)}).permutation(n)")
    parts = ['"train": take(x, y, order[n_test + n_val:])',
             '"validation": ' + ("take(x, y, order[n_test:n_test + n_val])" if has_val else "None"),
             '"test": ' + (test or ("take(x, y, order[:n_test])" if has_test else "None"))]
    lines.extend(_body("return " + _wrapped("{", parts, "}", INDENT, 7)))


def _callbacks_source(spec: Spec) -> list[str]:
    """The spec's callbacks as constructor calls; relative file arguments under `out`, as specc.train puts them in the run folder."""
    import os

    from specc.keras_objects import describe
    from specc.objects import split_object
    from specc.train import DEFAULT_PATHS, PATH_ARGUMENTS

    made = []
    for value in (spec.resolved.get("train") or {}).get("callbacks") or []:
        name, args = split_object(value)
        call = describe("callback", value)
        key = PATH_ARGUMENTS.get(name)
        given = dict(args or {}).get(key, DEFAULT_PATHS.get(name)) if key else None
        if isinstance(given, str):
            expanded = os.path.expanduser(given)
            path = (_Raw(f"os.path.expanduser({literal(given)})") if expanded != given else given) if os.path.isabs(
                expanded) else _Raw(f"os.path.join(out, {literal(given)})")
            call = Call(call.path, {**call.kwargs, key: path})
        made.append(call)
    return made


def _train_lines(spec: Spec, data, has_test: bool, has_val: bool) -> list[str]:
    from specc.schema import TrainSection

    section = spec.document.train or TrainSection()
    seed = literal(spec.seed)
    lines = [f"epochs = {literal(section.epochs)} if epochs is None else epochs",
             f"batch_size = {literal(section.batch_size)} if batch_size is None else batch_size",
             "data = load_data()"]
    if section.mixed_precision:
        lines.append('keras.mixed_precision.set_global_policy("mixed_float16")  # train.mixed_precision')
    lines += ["model = build_model()", "os.makedirs(out, exist_ok=True)"]
    lines += _body("callbacks = " + source(_callbacks_source(spec), INDENT, 12))
    buffer = f", shuffle_buffer={literal(data.shuffle_buffer)}" if data.shuffle_buffer is not None else ""
    lines.append(f'train_data = make_dataset(*data["train"], batch_size, shuffle={literal(section.shuffle)}, '
                 f"seed={seed}{buffer})")
    if section.steps_per_epoch is not None:
        lines.append("train_data = train_data.repeat()  # steps_per_epoch counts batches across epochs")
    fit: dict[str, Any] = {}
    if has_val:
        fit["validation_data"] = _Raw(f'make_dataset(*data["validation"], batch_size, shuffle=False, seed={seed})')
    fit.update(epochs=_Raw("epochs"), callbacks=_Raw("callbacks"), shuffle=False)
    for key, default in (("class_weight", None), ("steps_per_epoch", None), ("validation_freq", 1), ("verbose", "auto")):
        if getattr(section, key) != default:
            fit[key] = getattr(section, key)
    arguments = ["train_data"] + [f"{key}={source(value, INDENT * 2, len(key) + 2)}" for key, value in fit.items()]
    lines += _body("history = " + _wrapped("model.fit(", arguments, ")", INDENT, 10))
    evaluated = "test" if has_test else "validation" if has_val else "train"
    lines += [f'evaluation = make_dataset(*data[{literal(evaluated)}], batch_size, shuffle=False, seed={seed})',
              "scores = model.evaluate(evaluation, return_dict=True, verbose=0)",
              'model.save(os.path.join(out, "model.keras"))',
              "return history.history, {name: float(value) for name, value in scores.items()}"]
    return lines
