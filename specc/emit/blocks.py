"""Blocks as Python functions in generated scripts: a ResNet spec reads like a hand-written ResNet.

Each block becomes one function, called once per instance (and per `repeat`
copy): for a functional model `def residual(x, name, filters): ...; return y`,
for a Sequential one `def conv_bn(name, filters): return [layers...]`. A block
parameter used as a whole argument (`filters: "${filters}"`) becomes the
function's parameter; everything else must be the same in every instance.
Where a block does not fit that shape (a parameter inside a nested value or a
longer string, a layer outside the block using one of its inner layers, an
application inside it), its instances are written out layer by layer instead.
Either way the script creates and calls the layers in the IR's order, so the
model is the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from specc.catalog import load_catalog
from specc.ir import LayerNode, Spec
from specc.lower.values import describe_args
from specc.catalog.check import split_object

_WHOLE = re.compile(r"\$\{\s*(\w+)\s*\}")


@dataclass
class Instance:
    """One copy of a block in the graph: its nodes, consecutive in the IR."""

    block: str
    name: str  # the instance name: its layers are named NAME_inner
    nodes: list[LayerNode]
    values: dict[str, Any]  # block parameter -> this instance's value


@dataclass
class BlockFunction:
    block: str
    params: list[str]  # in the block's order
    variable_args: dict[int, dict[str, str]]  # item index -> {argument: parameter}


def plan(spec: Spec) -> tuple[dict[str, BlockFunction], dict[str, Instance]]:
    """The blocks that become functions, and each instance by its first node's name."""
    graph = spec.graph
    blocks = spec.document.model.blocks
    runs: dict[str, list[LayerNode]] = {}
    order: list[str] = []
    for node in graph.layers:
        if node.block is None:
            continue
        if node.block in runs and order[-1] != node.block:
            return {}, {}  # an instance's nodes are not consecutive: write everything out
        if node.block not in runs:
            runs[node.block] = []
            order.append(node.block)
        runs[node.block].append(node)
    functions: dict[str, BlockFunction] = {}
    instances: dict[str, Instance] = {}
    rejected: set[str] = set()
    users: dict[str, set[str | None]] = {}  # node name -> the block instances (None: none) of nodes using it
    for node in graph.layers:
        for ref in node.inputs:
            users.setdefault(ref.name, set()).add(node.block)
    for instance_name in order:
        nodes = runs[instance_name]
        block_name = nodes[0].path[2]
        block = blocks[block_name]
        function = functions.get(block_name) or _function(block_name, block)
        values = _instance_values(function, block, nodes) if function else None
        outside_use = any(users.get(n.name, set()) - {instance_name} for n in nodes[:-1])
        if function is None or values is None or outside_use or len(nodes) != len(block.layers) \
                or any(n.kind != "layer" for n in nodes):
            rejected.add(block_name)
            continue
        functions[block_name] = function
        instances[nodes[0].name] = Instance(block_name, instance_name, nodes, values)
    for name in list(instances):
        if instances[name].block in rejected:
            del instances[name]
    return {b: f for b, f in functions.items() if b not in rejected}, instances


def _function(block_name: str, block) -> BlockFunction | None:
    variable_args: dict[int, dict[str, str]] = {}
    for index, item in enumerate(block.layers):
        parts = split_object(item)
        if parts is None:
            return None
        _, args = parts
        for key, value in (args or {}).items():
            if key in ("name", "inputs"):
                if isinstance(value, str) and "${" in value:
                    return None
                continue
            whole = _WHOLE.fullmatch(value) if isinstance(value, str) else None
            if whole and whole.group(1) in block.params:
                variable_args.setdefault(index, {})[key] = whole.group(1)
            elif _mentions_parameter(value, block.params):
                return None  # a parameter inside a nested value or a longer string
    return BlockFunction(block_name, list(block.params), variable_args)


def _mentions_parameter(value: Any, params: dict) -> bool:
    if isinstance(value, str):
        return any(m.group(1) in params for m in re.finditer(r"\$\{\s*([\w.]+)\s*\}", value))
    if isinstance(value, dict):
        return any(_mentions_parameter(v, params) for v in value.values())
    if isinstance(value, list):
        return any(_mentions_parameter(v, params) for v in value)
    return False


def _instance_values(function: BlockFunction, block, nodes: list[LayerNode]) -> dict[str, Any] | None:
    """The instance's parameter values, read back from its nodes (None when a parameter is unused or odd)."""
    values: dict[str, Any] = {}
    for index, mapping in function.variable_args.items():
        for key, param in mapping.items():
            value = nodes[index].args.get(key)
            if param in values and values[param] != value:
                return None
            if isinstance(value, dict):
                return None  # a Keras object as a parameter value: keep to plain values
            values[param] = value
    for param in function.params:
        if param not in values:
            default = block.params[param]
            values[param] = default  # unused in whole-argument position: pass the default through
    return values


def constant_args(function: BlockFunction, index: int, node: LayerNode) -> dict[str, Any]:
    """A block layer's arguments as the function writes them: parameters by name, the rest described."""
    info = load_catalog()[node.kind].classes[node.type]
    variable = function.variable_args.get(index, {})
    described = describe_args(info, {k: v for k, v in node.args.items() if k not in variable})
    return {key: (Parameter(variable[key]) if key in variable else described[key]) for key in node.args}


class Parameter(str):
    """A block function's parameter, used as an argument value."""


def function_name(block: str) -> str:
    """residual -> residual_block (never one of the script's own names); dense_block stays dense_block."""
    base = re.sub(r"\W", "_", block, flags=re.ASCII)
    return base if base.endswith("block") else f"{base}_block"


def function_source(function: BlockFunction, instance: Instance, sequential: bool) -> str:
    """The block's function, written from one of its instances (every instance has the same shape)."""
    from specc.emit.source import INDENT, Raw, wrapped, identifier, literal, source

    takes = {name: info.inputs for name, info in load_catalog()["layer"].classes.items()}
    prefix = len(instance.name) + 1
    params = ", ".join(function.params)
    head = f"def {function_name(function.block)}({'' if sequential else 'x, '}name{', ' + params if params else ''}):"
    doc = literal(f"The spec's block {function.block}: one copy, its layers named NAME_<layer>.")
    lines = [head, INDENT + doc]
    taken = {"x", "name", *function.params}
    local: dict[str, str] = {}
    constructors = []
    for index, node in enumerate(instance.nodes):
        kwargs = {key: Raw(value) if isinstance(value, Parameter) else value
                  for key, value in constant_args(function, index, node).items()}
        kwargs["name"] = Raw(f"name + {literal('_' + node.name[prefix:])}")
        info = load_catalog()["layer"].classes[node.type]
        indent = INDENT * 2
        arguments = [f"{key}={source(value, indent + INDENT, len(key) + 2)}" for key, value in kwargs.items()]
        if sequential:
            constructors.append(wrapped(f"{info.path}(", arguments, ")", indent))
            continue
        refs = [local.get(ref.name, "x") + (f"[{ref.index}]" if ref.index is not None else "") for ref in node.inputs]
        _, _, takes_list = takes.get(node.type, (1, 1, False))
        call_args = f"[{', '.join(refs)}]" if takes_list else ", ".join(refs)
        variable = identifier(node.name[prefix:], taken)
        room = len(INDENT) + len(variable) + 3 + len(call_args) + 2
        constructor = wrapped(f"{info.path}(", arguments, ")", INDENT, room)
        lines.extend((INDENT + f"{variable} = {constructor}({call_args})").splitlines())
        local[node.name] = variable
    if sequential:
        lines.extend((INDENT + "return " + wrapped("[", constructors, "]", INDENT, 7)).splitlines())
    else:
        lines.append(INDENT + f"return {local[instance.nodes[-1].name]}")
    return "\n".join(lines)


def call_source(function: BlockFunction, instance: Instance, source_tensor: str | None) -> str:
    """The call of the block's function for one instance."""
    from specc.emit.source import literal, wrapped

    arguments = ([source_tensor] if source_tensor is not None else []) + [literal(instance.name)]
    arguments += [f"{param}={literal(instance.values[param])}" for param in function.params]
    return wrapped(f"{function_name(function.block)}(", arguments, ")", "    ")
