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

from dataclasses import dataclass, field
from pathlib import Path
from functools import cache
from typing import Any

from specc import __version__
from specc.catalog import load_catalog
from specc.ir import LayerNode, Ref, Spec
from specc.emit.source import INDENT, LINE_LIMIT, Raw, call_source, identifier, literal, long_literal, source, wrapped
from specc.lower.values import describe_args, describe_optimizer, describe_per_output

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
            kwargs["input_shape"] = Raw(f"tuple({upstream[0]}.shape[1:])")  # as specc.build does
    return info.path, {"name": node.name, **kwargs} if node.kind == "application" else {**kwargs, "name": node.name}, frozen


def _constructor(node: LayerNode, indent: str, upstream: list[str] | None = None, room: int = 0) -> tuple[str, bool]:
    """The layer's constructor call; `room`: columns the rest of its line takes (`x = ` and `(y)`)."""
    path, kwargs, frozen = _layer_call(node, upstream)
    arguments = [f"{key}={source(value, indent + INDENT, len(key) + 2)}" for key, value in kwargs.items()]
    return wrapped(f"{path}(", arguments, ")", indent, room), frozen


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
    from specc.emit import blocks as emit_blocks

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
        code.lines.append("model = " + wrapped("keras.Sequential(", [wrapped("[", items, "]", INDENT), f"name={literal(spec.name)}"], ")", ""))
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
        "inputs": Raw(inputs[0] if len(inputs) == 1 else "[" + ", ".join(inputs) + "]"),
        "outputs": Raw(outputs[0] if len(outputs) == 1 else "[" + ", ".join(outputs) + "]"),
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
    data: Any = None  # specc.emit_data.DataView: load_data(), make_dataset(), train(), main(), for specs with `data:`


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


def script_view(spec: Spec, spec_path: str, script_dir: Path | None = None) -> ScriptView:
    from specc.lower.canonical import content_hash

    code = model_code(spec)
    indented = [INDENT + line for text in code.lines for line in text.splitlines()]
    sha256 = content_hash(spec)
    view = ScriptView(
        spec_path=long_literal(spec_path, "", len("SPEC = ")),
        spec_sha256=literal(sha256),
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
        header_sha256=sha256,
    )
    if spec.resolved.get("data") is not None:
        from specc.emit.data import data_view  # the data and training parts, for specs with data

        view.data = data_view(spec, script_dir)
        needs = set(view.data.helpers)
        multi_worker = view.data.distribution is not None and view.data.distribution.multi_worker
        modules = {"argparse", "json", "os", *(["csv", "math"] if "read_csv" in needs else []),
                   *(["gzip", "importlib.util"] if "read_builtin" in needs else []),
                   *(["hashlib", "shutil", "tempfile", "types"] if multi_worker else [])}
        view.imports = [f"import {name}" for name in sorted(modules)]
        view.keras_imports += ["import numpy as np  # noqa: E402", "import tensorflow as tf  # noqa: E402"]
    return view


def render_script(spec: Spec, spec_path: str | None = None, script_path: str | Path | None = None) -> str:
    """The standalone Python script for a spec (deterministic: same spec, same bytes).

    script_path: where the script will be written, so that it finds the spec's data files from
    its own folder; None for a script printed to stdout (then: from the working folder).
    """
    script_dir = Path(script_path).parent if script_path is not None else None
    view = script_view(spec, spec_path or spec.path, script_dir)
    return _environment().get_template("script.py.j2").render(view=view)
