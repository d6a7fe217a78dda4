"""The generated build_model(): the graph as a keras.Sequential list or as functional code, and model.compile.

The functional writer dispatches on each node's kind, as the builder does
(`specc.build.model`): a `layer` is created where it is called, as a person
writes it; an `application` gets a variable (and `trainable = False` when
frozen); a `shared` node calls the variable of the layer it shares. Block
instances become calls of their block's function (`specc.emit.blocks`).
Layers are created and called in the IR's order, so the same seed gives the
same weights as `specc.build_model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specc.emit import blocks as emit_blocks
from specc.emit.expressions import expression_source
from specc.emit.source import INDENT, LINE_LIMIT, Raw, call_source, file_expression, identifier, literal, source, wrapped
from specc.ir import APPLICATION, LAYER, MODEL, OPS, SHARED, File, Graph, InputNode, LayerNode, ModelClass, Ref, Spec


@dataclass
class ModelCode:
    """The body of the generated build_model(): lines, indented one level."""

    lines: list[str] = field(default_factory=list)
    needs_frozen: bool = False  # the script defines frozen(model) for applications with trainable: false
    functions: list[str] = field(default_factory=list)  # one per block (specc.emit.blocks)


def model_code(spec: Spec, script_dir: Path | None = None) -> ModelCode:
    """build_model()'s body; `script_dir`: where the script goes, to find files the spec names from there."""
    graph = spec.graph
    plan = emit_blocks.plan(graph)
    code = ModelCode(functions=[emit_blocks.function_source(function, instance, graph.sequential, plan.layers_of(instance), plan)
                                for function, instance in plan.first_instances()])
    writer = _Writer(graph, plan, code, script_dir)
    if graph.sequential:
        writer.sequential(spec.name)
    else:
        writer.functional(spec.name, subclass=spec.model_class)
    if spec.weights is not None:
        load = "model.load_weights("
        code.lines.append(load + file_expression(spec.weights, script_dir, "", len(INDENT) + len(load)) + ")")
    return code


class _Writer:
    def __init__(self, graph: Graph, plan: emit_blocks.Plan, code: ModelCode, script_dir: Path | None):
        self.graph, self.plan, self.code, self.script_dir = graph, plan, code, script_dir
        self.by_name = {node.name: node for node in graph.layers}
        self.shared = {node.shares for node in graph.layers if node.kind == SHARED}
        self.taken: set[str] = set()
        self.tensors: dict[str, str] = {}  # node name -> its variable
        self.layer_vars: dict[str, str] = {}  # node name -> the variable holding its layer, when it has one

    # -- a node's constructor --------------------------------------------------------------

    def constructor(self, node: LayerNode, indent: str, upstream: list[str] | None = None, room: int = 0) -> str:
        """The layer's constructor call; `room`: columns the rest of its line takes (`x = ` and `(y)`)."""
        if node.kind == MODEL:  # a block made one keras.Model: its function, given tensors like its inputs
            return f"{self.submodel_function(node)}({', '.join(upstream or [])})"
        kwargs = {key: self.value(value) for key, value in node.kwargs.items()}
        if node.kind == APPLICATION:
            if node.shape_from_input and upstream:  # a functional model: the shape of its input, as specc.build does
                kwargs["input_shape"] = Raw(f"tuple({upstream[0]}.shape[1:])")
            kwargs = {"name": node.name, **kwargs}
        else:
            kwargs["name"] = node.name
        arguments = [f"{key}={source(value, indent + INDENT, len(key) + 2)}" for key, value in kwargs.items()]
        return wrapped(f"{node.keras_path}(", arguments, ")", indent, room)

    def value(self, value: Any) -> Any:
        return Raw(file_expression(value, self.script_dir)) if isinstance(value, File) else value

    # -- Sequential ------------------------------------------------------------------------

    def sequential(self, name: str) -> None:
        items = [input_call(self.graph.inputs[0])] if self.graph.inputs else []
        for node in self.graph.layers:
            instance = self.plan.starting_at(node.name)
            if instance is not None:
                items.append("*" + emit_blocks.call_source(self.plan.function(instance), instance, None))
            elif not self.plan.inside(node.name):
                frozen = node.kind == APPLICATION and not node.trainable
                text = self.constructor(node, INDENT * 2)
                items.append(f"frozen({text})" if frozen else text)
                self.code.needs_frozen |= frozen
        self.code.lines.append("model = " + wrapped(
            "keras.Sequential(", [wrapped("[", items, "]", INDENT), f"name={literal(name)}"], ")", ""))

    # -- functional, by node kind ------------------------------------------------------------

    def functional(self, name: str, like: list[str] | None = None, subclass: ModelClass | None = None) -> None:
        """The functional model's code; `like`: a sub-model's parameters, tensors its inputs take the shape of,
        and the code then returns the model; `subclass`: the spec's model.class, made as specc.build makes it."""
        for k, node in enumerate(self.graph.inputs):
            # A block's default input, `input`, is Python's input(): `inputs`, as Keras's guides write it.
            self.tensors[node.name] = identifier("inputs" if like and node.name == "input" else node.name, self.taken)
            made = input_call(node) if like is None else call_source("keras.Input", {
                "shape": Raw(f"{like[k]}.shape[1:]"), "dtype": Raw(f"{like[k]}.dtype"), "name": node.name}, INDENT)
            self.code.lines.append(f"{self.tensors[node.name]} = {made}")
        write = {LAYER: self.layer, APPLICATION: self.application, SHARED: self.shared_layer, OPS: self.expression,
                 MODEL: self.application}
        for node in self.graph.layers:
            if self.plan.inside(node.name):
                continue  # made by its block's function
            # An expression names its tensors as they are: `enc[1]` is a subscript in it.
            args = [self.tensors[ref.name] if node.kind == OPS else ref_source(ref, self.tensors) for ref in node.inputs]
            instance = self.plan.starting_at(node.name)
            if instance is not None:
                self.block_call(instance, args)
            else:
                write[node.kind](node, args)
        inputs = [self.tensors[node.name] for node in self.graph.inputs]
        outputs = [ref_source(ref, self.tensors) for ref in self.graph.output_references]
        inputs_source = Raw(inputs[0] if len(inputs) == 1 else "[" + ", ".join(inputs) + "]")
        room = len(INDENT) + len("model = ")
        if subclass is not None and subclass.parts:  # made of the sub-models, then called once to build it
            kwargs = {**{argument: Raw(self.layer_vars[node]) for argument, node in subclass.parts.items()},
                      **{key: self.value(value) for key, value in subclass.kwargs.items()}, "name": name}
            self.code.lines.append("model = " + call_source(subclass.path, kwargs, "", room=room))
            self.code.lines.append(f"model({inputs_source})  # built on the model's inputs, as specc build does")
            return
        kwargs = {"inputs": inputs_source, "outputs": Raw(outputs[0] if len(outputs) == 1 else "[" + ", ".join(outputs) + "]"),
                  "name": name, **({key: self.value(value) for key, value in subclass.kwargs.items()} if subclass else {})}
        self.code.lines.append(("model = " if like is None else "return ") + call_source(
            subclass.path if subclass is not None else "keras.Model", kwargs, "", room=room))

    def block_call(self, instance, args: list[str]) -> None:
        """`y = block(x, ..., "name", param=value)`, or `a, b = ...` for a block of several outputs."""
        tensors = [ref_source(ref, self.tensors) for ref in instance.sources]
        variables = []
        for ref in instance.outputs:
            self.tensors[ref.name] = identifier(ref.name, self.taken)
            variables.append(self.tensors[ref.name])
        target = ", ".join(variables)
        call = emit_blocks.call_source(self.plan.function(instance), instance, tensors, len(INDENT) + len(target) + 3)
        self.code.lines.append(f"{target} = {call}")

    def submodel_function(self, node: LayerNode) -> str:
        """`def NAME_model(input_like, ...)`: the block instance's keras.Model, written once, returning the model."""
        function = identifier(f"{node.name}_model", self.taken)
        taken: set[str] = set()
        like = [identifier(f"{declared.name}_like", taken) for declared in node.submodel.inputs]
        code = ModelCode()
        writer = _Writer(node.submodel, emit_blocks.plan(node.submodel), code, self.script_dir)
        writer.taken |= taken
        writer.functional(node.name, like)
        doc = literal(f"The spec's block {node.type} as one Keras model, for inputs like {', '.join(like)}.")
        body = [INDENT + doc] + [INDENT + line for text in code.lines for line in text.splitlines()]
        self.code.functions.extend(code.functions)
        self.code.functions.append("\n".join([f"def {function}({', '.join(like)}):", *body]))
        self.code.needs_frozen |= code.needs_frozen
        return function

    def expression(self, node: LayerNode, args: list[str]) -> None:
        """An `ops` node: its expression as keras.ops code, assigned to the node's variable."""
        variable = self.tensors[node.name] = identifier(node.name, self.taken)
        code = expression_source(node.expression, args, "", len(INDENT) + len(variable) + 3)
        self.code.lines.extend(f"{variable} = {code}".splitlines())

    def layer(self, node: LayerNode, args: list[str]) -> None:
        """A plain layer: created where it is called, unless a shared node calls it again."""
        if node.name in self.shared:
            self.call(node, self.layer_variable(node, args), args)
        else:
            self.call(node, self.constructor(node, "", args), args, inline=True)

    def application(self, node: LayerNode, args: list[str]) -> None:
        self.call(node, self.layer_variable(node, args), args)

    def shared_layer(self, node: LayerNode, args: list[str]) -> None:
        owner = self.by_name[node.shares]
        self.call(owner, self.layer_variable(owner, args), args, target=node)

    def layer_variable(self, owner: LayerNode, args: list[str]) -> str:
        """The variable holding `owner`'s layer, assigned on its first use."""
        if owner.name not in self.layer_vars:
            variable = self.layer_vars[owner.name] = identifier(f"{owner.name}_layer", self.taken)
            self.code.lines.append(f"{variable} = {self.constructor(owner, '', args)}")
            if owner.kind == APPLICATION and not owner.trainable:
                self.code.lines.append(f"{variable}.trainable = False")
        return self.layer_vars[owner.name]

    def call(self, owner: LayerNode, layer: str, args: list[str], *, target: LayerNode | None = None,
             inline: bool = False) -> None:
        """`x = layer(inputs)` for `target` (default: the owner itself), wrapped to fit the line."""
        target = target or owner
        if target.input_names:
            args = [f"{key}={arg}" for key, arg in zip(target.input_names, args)]
        call_args = f"[{', '.join(args)}]" if owner.takes_list and not target.input_names else ", ".join(args)
        keywords = emit_blocks.call_arguments(target, lambda ref: ref_source(ref, self.tensors))
        call_args = ", ".join(filter(None, [call_args, *keywords]))
        variable = self.tensors[target.name] = identifier(target.name, self.taken)
        room = len(INDENT) + len(variable) + 3 + len(call_args) + 2
        if inline and len(INDENT) + room + len(layer) > LINE_LIMIT:  # made here: wrap it to fit
            layer = self.constructor(owner, "", args, room=LINE_LIMIT)
        self.code.lines.append(f"{variable} = {layer}({call_args})")



def input_call(node: InputNode) -> str:
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


def ref_source(ref: Ref, tensors: dict[str, str]) -> str:
    return tensors[ref.name] if ref.index is None else f"{tensors[ref.name]}[{ref.index}]"


def compile_code(spec: Spec) -> list[str]:
    """model.compile(...) as build.compile_model calls it, Keras's defaults left out."""
    if spec.compile is None:
        return []
    return (INDENT + compile_call(spec.compile, INDENT)).splitlines()


def compile_call(section: Compile, indent: str) -> str:
    """`model.compile(...)` for a compile section, Keras's defaults left out, wrapped for a line at `indent`."""
    kwargs: dict[str, Any] = {"optimizer": section.optimizer}
    for key in ("loss", "metrics", "weighted_metrics", "loss_weights"):
        if getattr(section, key) is not None:
            kwargs[key] = getattr(section, key)
    defaults = {"run_eagerly": False, "steps_per_execution": 1, "jit_compile": "auto", "auto_scale_loss": True}
    for key, default in defaults.items():
        if getattr(section, key) not in (default, None):  # steps_per_execution None: train() chooses
            kwargs[key] = getattr(section, key)
    return call_source("model.compile", kwargs, indent)
