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
from dataclasses import dataclass, field
from typing import Any

from specc.emit.source import INDENT, Raw, identifier, literal, source, wrapped
from specc.ir import LAYER, BlockDef, BlockInstance, Graph, LayerNode


@dataclass
class Plan:
    """The blocks written as functions, and their instances in the graph (each by its first node's name)."""

    blocks: dict[str, BlockDef] = field(default_factory=dict)
    instances: dict[str, BlockInstance] = field(default_factory=dict)
    nodes: dict[str, LayerNode] = field(default_factory=dict)
    _inside: set[str] = field(default_factory=set)  # nodes of instances, but their first

    def __post_init__(self) -> None:
        self._inside = {name for instance in self.instances.values() for name in instance.nodes[1:]}

    def starting_at(self, node: str) -> BlockInstance | None:
        """The instance whose first node this is: the script calls its function here."""
        return self.instances.get(node)

    def inside(self, node: str) -> bool:
        """A node its instance's function makes."""
        return node in self._inside

    def function(self, instance: BlockInstance) -> BlockDef:
        return self.blocks[instance.block]

    def first_instances(self) -> list[tuple[BlockDef, BlockInstance]]:
        """Each block once, with the instance its function is written from, in the graph's order."""
        seen: dict[str, BlockInstance] = {}
        for instance in self.instances.values():
            seen.setdefault(instance.block, instance)
        return [(self.blocks[name], instance) for name, instance in seen.items()]

    def layers_of(self, instance: BlockInstance) -> list[LayerNode]:
        return [self.nodes[name] for name in instance.nodes]


def plan(graph: Graph) -> Plan:
    """Which block instances become function calls: those whose block passes its parameters whole,
    whose nodes are consecutive plain layers, and whose inner layers nothing outside uses."""
    nodes = {node.name: node for node in graph.layers}
    position = {node.name: i for i, node in enumerate(graph.layers)}
    users: dict[str, set[str | None]] = {}  # node name -> the block instances (None: none) of nodes using it
    for node in graph.layers:
        for ref in node.inputs:
            users.setdefault(ref.name, set()).add(node.block)
    blocks = {block.name: block for block in graph.blocks}
    # A function of one tensor returning its last layer's: blocks of several inputs or outputs are written out.
    rejected = {name for name, block in blocks.items() if not block.whole_arguments or len(block.inputs) != 1 or block.outputs}
    for instance in graph.instances:
        layers = [nodes[name] for name in instance.nodes]
        first = position[instance.nodes[0]] if instance.nodes else 0
        consecutive = [position[name] for name in instance.nodes] == list(range(first, first + len(instance.nodes)))
        outside_use = any(users.get(name, set()) - {instance.name} for name in instance.nodes[:-1])
        if (not layers or not consecutive or outside_use or len(layers) != len(blocks[instance.block].items)
                or any(node.kind != LAYER or node.call or node.input_names for node in layers)
                or any(isinstance(v, dict) for v in instance.values.values())):
            rejected.add(instance.block)  # written out layer by layer instead
    instances = {instance.nodes[0]: instance for instance in graph.instances if instance.block not in rejected}
    return Plan({name: block for name, block in blocks.items() if name not in rejected}, instances, nodes)


def constant_args(block: BlockDef, index: int, node: LayerNode) -> dict[str, Any]:
    """A block layer's arguments as the function writes them: parameters by name, the rest as described."""
    bound = block.items[index].bound
    return {key: (Parameter(bound[key]) if key in bound else value) for key, value in node.kwargs.items()}


def passed_value(block: BlockDef, instance: BlockInstance, param: str) -> Any:
    """The value an instance passes for a parameter: its own where the block uses it whole, else the default."""
    used = any(param in item.bound.values() for item in block.items)
    return instance.values[param] if used else block.defaults[param]


class Parameter(str):
    """A block function's parameter, used as an argument value."""


def function_name(block: str) -> str:
    """residual -> residual_block (never one of the script's own names); dense_block stays dense_block."""
    base = re.sub(r"\W", "_", block, flags=re.ASCII)
    return base if base.endswith("block") else f"{base}_block"


def function_source(function: BlockDef, instance: BlockInstance, sequential: bool, nodes: list[LayerNode]) -> str:
    """The block's function, written from one of its instances (every instance has the same shape)."""
    prefix = len(instance.name) + 1
    params = ", ".join(function.params)
    head = f"def {function_name(function.name)}({'' if sequential else 'x, '}name{', ' + params if params else ''}):"
    doc = literal(f"The spec's block {function.name}: one copy, its layers named NAME_<layer>.")
    lines = [head, INDENT + doc]
    taken = {"x", "name", *function.params}
    local: dict[str, str] = {}
    constructors = []
    for index, node in enumerate(nodes):
        kwargs = {key: Raw(value) if isinstance(value, Parameter) else value
                  for key, value in constant_args(function, index, node).items()}
        kwargs["name"] = Raw(f"name + {literal('_' + node.name[prefix:])}")
        indent = INDENT * 2
        arguments = [f"{key}={source(value, indent + INDENT, len(key) + 2)}" for key, value in kwargs.items()]
        if sequential:
            constructors.append(wrapped(f"{node.keras_path}(", arguments, ")", indent))
            continue
        refs = [local.get(ref.name, "x") + (f"[{ref.index}]" if ref.index is not None else "") for ref in node.inputs]
        call_args = f"[{', '.join(refs)}]" if node.takes_list else ", ".join(refs)
        variable = identifier(node.name[prefix:], taken)
        room = len(INDENT) + len(variable) + 3 + len(call_args) + 2
        constructor = wrapped(f"{node.keras_path}(", arguments, ")", INDENT, room)
        lines.extend((INDENT + f"{variable} = {constructor}({call_args})").splitlines())
        local[node.name] = variable
    if sequential:
        lines.extend((INDENT + "return " + wrapped("[", constructors, "]", INDENT, 7)).splitlines())
    else:
        lines.append(INDENT + f"return {local[nodes[-1].name]}")
    return "\n".join(lines)


def call_source(function: BlockDef, instance: BlockInstance, source_tensor: str | None) -> str:
    """The call of the block's function for one instance."""
    arguments = ([source_tensor] if source_tensor is not None else []) + [literal(instance.name)]
    arguments += [f"{param}={literal(passed_value(function, instance, param))}" for param in function.params]
    return wrapped(f"{function_name(function.name)}(", arguments, ")", INDENT)
